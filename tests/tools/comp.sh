#!/usr/bin/env bash
# comp.sh — fcs-comp in real pipes, values checked by hand-computed numbers
# and by an independent implementation (plain Python, no numpy, no libfcs):
#   1. a hand-computed 2x2 case (file written by Python with its own
#      $SPILLOVER), value by value; the same matrix from -m CSV, from a
#      FlowJo-style CSV (row names, percent) and from a TSV gives the same;
#   2. fcs-synth | fcs-cat | fcs-comp --decompensate -m M | fcs-comp |
#      fcs-export: the spilled values are t x S (Python), the stream carries S
#      as $SPILLOVER, and compensating it back gives the original values to
#      1e-4 relative (float32); 40000 events = several chunks;
#   3. LIBFCS_COMP (source, SHA-256 of the file, channels, matrix); a second
#      compensation is refused (exit 1) unless --force, which chains records;
#      --decompensate undoes the last record, then the first;
#   4. a partial matrix leaves the other channels bit-identical; unmatched
#      channels: left out with a warning when decoupled, refused otherwise;
#      --by-label;
#   5. errors: bad matrix file (exit 1, line number), singular and
#      ill-conditioned matrices, no spillover, non-square -m, usage errors
#      (exit 2); -o leaves nothing behind on any failure, also mid-stream;
#   6. --spectral: least-squares abundances of a Python-made file, the
#      parameter layout ($PnN/$PnS/$PnR, other parameters' keywords kept).
# Env (set by CTest): FCS_BIN, FCS_TMP.
set -euo pipefail
: "${FCS_BIN:?}"
for t in fcs-synth fcs-cat fcs-comp fcs-export fcs-info; do
    [ -x "$FCS_BIN/$t" ] || { echo "SKIP: $FCS_BIN/$t not built"; exit 77; }
done
command -v python3 >/dev/null || { echo "SKIP: python3 not found"; exit 77; }
mkdir -p "${FCS_TMP:-/tmp}"
W=$(mktemp -d "${FCS_TMP:-/tmp}/comp.XXXXXX")
trap 'rm -rf "$W"' EXIT
SYNTH="$FCS_BIN/fcs-synth" CAT="$FCS_BIN/fcs-cat" COMP="$FCS_BIN/fcs-comp"
EXPORT="$FCS_BIN/fcs-export" INFO="$FCS_BIN/fcs-info"
fail=0
bad() { echo "FAIL: $*"; fail=1; }

cat >"$W/ref.py" <<'EOF'
"""Independent helpers for comp.sh: an FCS 3.1 float32 writer and checks on
fcs-export TSV output. Plain Python: nothing here uses libfcs."""
import json, math, struct, sys

def f32(v):
    return struct.unpack("<f", struct.pack("<f", v))[0]

def write_fcs(path, spec):
    """spec: {"params": [[name, label or null, range], ...], "events": [[...], ...],
    "keywords": [[k, v], ...]} -> FCS 3.1, float32 little-endian, delimiter '|'."""
    params, events = spec["params"], spec["events"]
    kw = [("$BYTEORD", "1,2,3,4"), ("$DATATYPE", "F"), ("$MODE", "L"),
          ("$NEXTDATA", "0"), ("$PAR", str(len(params))), ("$TOT", str(len(events)))]
    for i, (n, s, r) in enumerate(params, 1):
        kw += [("$P%dN" % i, n), ("$P%dB" % i, "32"), ("$P%dE" % i, "0,0"), ("$P%dR" % i, str(r))]
        if s is not None:
            kw.append(("$P%dS" % i, s))
    kw += [tuple(k) for k in spec.get("keywords", [])]
    data = b"".join(struct.pack("<%df" % len(params), *e) for e in events)
    def text(begin, end):
        body = kw + [("$BEGINANALYSIS", "0"), ("$ENDANALYSIS", "0"), ("$BEGINSTEXT", "0"),
                     ("$ENDSTEXT", "0"), ("$BEGINDATA", str(begin)), ("$ENDDATA", str(end))]
        esc = lambda x: str(x).replace("|", "||")  # a doubled delimiter is a literal one
        return ("|" + "".join("%s|%s|" % (k, esc(v)) for k, v in body)).encode("latin-1")
    begin = 58 + len(text(0, 0)) + 40   # room for the offsets' digits
    t = text(begin, begin + len(data) - 1)
    t += b" " * (begin - 58 - len(t))
    head = b"FCS3.1    " + b"".join(b"%8d" % v for v in (58, 58 + len(t) - 1, begin,
                                                          begin + len(data) - 1, 0, 0))
    with open(path, "wb") as f:
        f.write(head + t + data + b"00000000")

def num(s):
    return {"NaN": math.nan, "Inf": math.inf, "-Inf": -math.inf}.get(s) if s in ("NaN", "Inf", "-Inf") else float(s)

def read_tsv(path):
    with open(path) as f:
        head = f.readline().rstrip("\n").split("\t")
        rows = [[num(v) for v in line.rstrip("\n").split("\t")] for line in f]
    return head, rows

def read_raw(path):
    """The printed text of each value (for bit-identity checks)."""
    with open(path) as f:
        head = f.readline().rstrip("\n").split("\t")
        rows = [line.rstrip("\n").split("\t") for line in f]
    return head, rows

def matmul_rows(rows, idx, S):
    """o = t x S on columns idx of every row (double), the rest unchanged."""
    out = []
    for r in rows:
        t = [r[j] for j in idx]
        o = list(r)
        for c, j in enumerate(idx):
            o[j] = sum(t[i] * S[i][c] for i in range(len(idx)))
        out.append(o)
    return out

def compare(want_rows, got_rows, idx, rel, what, input_rows=None):
    """|got - want| <= rel * (largest |value| of the event's coupled channels):
    float32 rounding of a channel is relative to the channels it mixes (also
    those of the input, input_rows, whose float32 rounding S carries along)."""
    assert len(want_rows) == len(got_rows), (what, len(want_rows), len(got_rows))
    bad = 0
    for e, (w, g) in enumerate(zip(want_rows, got_rows)):
        scale = max([abs(w[j]) for j in idx] + [abs(g[j]) for j in idx] + [1.0] +
                    ([abs(input_rows[e][j]) for j in idx] if input_rows else []))
        for j in idx:
            if not abs(g[j] - w[j]) <= rel * scale:
                bad += 1
                if bad <= 5:
                    print("%s: event %d column %d: got %r want %r" % (what, e + 1, j + 1, g[j], w[j]))
    print("%s: %d events x %d channels compared, %d outside %g" % (what, len(want_rows), len(idx), bad, rel))
    return bad == 0

def cmd_write(path, spec_json):
    write_fcs(path, json.loads(spec_json))

def cmd_hand(tsv, want_json):
    """Value by value against hand-computed numbers (float32 of the exact value)."""
    head, rows = read_tsv(tsv)
    want = json.loads(want_json)
    ok = len(rows) == len(want)
    for e, (g, w) in enumerate(zip(rows, want)):
        scale = max(abs(v) for v in w) or 1.0
        for j, (gv, wv) in enumerate(zip(g, w)):
            # one float32 rounding of a double result: half an ulp of the
            # event's largest value, plus the double error (far smaller)
            if not abs(gv - f32(wv)) <= 2.0 ** -23 * scale:
                ok = False
                print("event %d %s: got %r, hand-computed %r" % (e + 1, head[j], gv, wv))
    sys.exit(0 if ok else 1)

def cmd_spilled(orig_tsv, spilled_tsv, matrix_json, cols):
    S = json.loads(matrix_json)
    h1, t = read_tsv(orig_tsv)
    h2, o = read_tsv(spilled_tsv)
    assert h1 == h2, (h1, h2)
    idx = [h1.index(c) for c in cols.split(",")]
    want = matmul_rows(t, idx, S)
    ok = compare(want, o, idx, 2.0 ** -22, "spilled = t x S", t)
    rest = [j for j in range(len(h1)) if j not in idx]
    ok = compare(t, o, rest, 0.0, "other channels unchanged") and ok
    sys.exit(0 if ok else 1)

def cmd_close(a_tsv, b_tsv, cols, rel):
    h1, a = read_tsv(a_tsv)
    h2, b = read_tsv(b_tsv)
    assert h1 == h2, (h1, h2)
    idx = [h1.index(c) for c in cols.split(",")] if cols else list(range(len(h1)))
    sys.exit(0 if compare(a, b, idx, float(rel), "round trip") else 1)

def cmd_same_text(a_tsv, b_tsv, cols):
    """Columns printed identically (bit-identical float32 values)."""
    h1, a = read_raw(a_tsv)
    h2, b = read_raw(b_tsv)
    idx = [h1.index(c) for c in cols.split(",")]
    diff = sum(1 for r, s in zip(a, b) for j in idx if r[j] != s[h2.index(h1[j])])
    if diff or len(a) != len(b):
        print("%d values differ in %s" % (diff, cols))
        sys.exit(1)

def cmd_unmix(orig_tsv, unmixed_tsv, ab_json, spec_json):
    """unmixed abundances vs the known ones; observed = a x A was written."""
    h, rows = read_tsv(unmixed_tsv)
    ab = json.loads(ab_json)
    names = json.loads(spec_json)
    idx = [h.index(n) for n in names]
    got = [[r[j] for j in idx] for r in rows]
    ok = compare(ab, got, list(range(len(names))), 1e-5, "unmixed abundances")
    sys.exit(0 if ok else 1)

def cmd_kw(info_json, key, index=0):
    d = json.loads(open(info_json).readline())
    print(d["datasets"][int(index)]["keywords"].get(key, "<absent>"))

def cmd_params(info_json):
    d = json.loads(open(info_json).readline())
    for p in d["datasets"][0]["parameters"]:
        print("%s|%s|%s" % (p["name"], p["label"], p["range"]))

def cmd_spill(info_json):
    d = json.loads(open(info_json).readline())
    s = d["datasets"][0]["spillover"]
    print("null" if s is None else json.dumps([s["keyword"], s["names"], s["matrix"]]))

if __name__ == "__main__":
    globals()["cmd_" + sys.argv[1]](*sys.argv[2:])
EOF
REF="python3 $W/ref.py"
kw() { $INFO --json "$1" >"$W/info.json" && $REF kw "$W/info.json" "$2"; }
expect() { # expected-exit message-part command...
    local want=$1 msg=$2; shift 2
    set +e; "$@" >"$W/out" 2>"$W/err"; local rc=$?; set -e
    [ $rc = "$want" ] || bad "exit $rc (want $want): $* ($(head -1 "$W/err"))"
    [ -z "$msg" ] || grep -qF -- "$msg" "$W/err" || bad "message '$msg' missing for: $* ($(head -1 "$W/err"))"
}

# ---- 1. hand-computed 2x2 -----------------------------------------------------------------
# S = [[1, 0.5], [0.5, 1]] (FITC-A spills half into PE-A and back), det 0.75,
# S^-1 = [[4/3, -2/3], [-2/3, 4/3]]; observed o -> true t = o x S^-1:
#   (150, 75) -> (150, 0)     (100, 200) -> (0, 200)    (50, 40) -> (40, 20)
#   (0, 0)    -> (0, 0)       (-30, 60)  -> (-80, 100)  SSC-A is not in S.
HAND_EVENTS='[[150,75,1000],[100,200,2000],[50,40,3000],[0,0,0],[-30,60,5]]'
HAND_WANT='[[150,0,1000],[0,200,2000],[40,20,3000],[0,0,0],[-80,100,5]]'
HAND_PARAMS='[["FITC-A","CD3",262144],["PE-A","CD19",262144],["SSC-A",null,262144]]'
$REF write "$W/h.fcs" '{"params":'"$HAND_PARAMS"',"events":'"$HAND_EVENTS"',
  "keywords":[["$SPILLOVER","2,FITC-A,PE-A,1,0.5,0.5,1"],["$CYT","handmade"]]}'
$COMP --no-version "$W/h.fcs" >"$W/hc.fcs" || bad "fcs-comp with the file's own \$SPILLOVER failed"
$EXPORT "$W/hc.fcs" >"$W/hc.tsv"
$REF hand "$W/hc.tsv" "$HAND_WANT" || bad "2x2 values differ from the hand-computed ones"
[ "$(kw "$W/hc.fcs" '$CYT')" = handmade ] || bad "input keywords not kept"
[ "$(kw "$W/hc.fcs" '$P1S')" = CD3 ] || bad "\$P1S lost"
rec=$(kw "$W/hc.fcs" LIBFCS_COMP)
[ "$rec" = 'compensate;source=$SPILLOVER;channels=FITC-A,PE-A;condition=3;spillover=2,FITC-A,PE-A,1,0.5,0.5,1' ] ||
    bad "LIBFCS_COMP from \$SPILLOVER: '$rec'"
# the same matrix from files: plain CSV, FlowJo layout (name line, row names in
# another order, percent), TSV with the channels in another order
printf 'FITC-A,PE-A\n1,0.5\n0.5,1\n' >"$W/m2.csv"
printf 'My matrix\n,FITC-A,PE-A\nPE-A,50,100\nFITC-A,100,50\n' >"$W/m2flowjo.csv"
printf 'PE-A\tFITC-A\n1\t0.5\n0.5\t1\n' >"$W/m2.tsv"
for m in m2.csv m2flowjo.csv m2.tsv; do
    $COMP --no-version -m "$W/$m" "$W/h.fcs" | $EXPORT - >"$W/hm.tsv" || bad "-m $m failed"
    $REF hand "$W/hm.tsv" "$HAND_WANT" || bad "-m $m: values differ from the hand-computed ones"
done
$COMP --no-version -m "$W/m2.csv" -o "$W/hm.fcs" "$W/h.fcs"
sha=$(sha256sum "$W/m2.csv" | cut -d' ' -f1)
rec=$(kw "$W/hm.fcs" LIBFCS_COMP)
[ "$rec" = "compensate;source=file:$W/m2.csv;sha256=$sha;channels=FITC-A,PE-A;condition=3;spillover=2,FITC-A,PE-A,1,0.5,0.5,1" ] ||
    bad "LIBFCS_COMP from -m: '$rec'"
# matrix from stdin
$COMP --no-version -m - "$W/h.fcs" <"$W/m2.csv" | $EXPORT - >"$W/hm.tsv" || bad "-m - failed"
$REF hand "$W/hm.tsv" "$HAND_WANT" || bad "-m -: wrong values"
[ "$($COMP -m - "$W/h.fcs" <"$W/m2.csv" | $INFO --json - | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["datasets"][0]["keywords"]["LIBFCS_COMP"].split(";")[1])')" = "source=file:<stdin>" ] ||
    bad "-m -: source not <stdin>"
# decompensating the result gives the observed values back
$COMP --no-version --decompensate "$W/hc.fcs" >"$W/hd.fcs" || bad "--decompensate failed"
$EXPORT "$W/hd.fcs" >"$W/hd.tsv"
$REF hand "$W/hd.tsv" "$HAND_EVENTS" || bad "--decompensate did not restore the observed values"
[ "$(kw "$W/hd.fcs" LIBFCS_COMP)" = "<absent>" ] || bad "--decompensate left LIBFCS_COMP"
[ "$(kw "$W/hd.fcs" '$SPILLOVER')" = "2,FITC-A,PE-A,1,0.5,0.5,1" ] || bad "\$SPILLOVER changed by the round trip"

# ---- 2. the pipe: synth | cat | decompensate -m | comp | export ----------------------------
M4='[[1,0.12,0.03,0.01],[0.08,1,0.15,0],[0,0.02,1,0.2],[0.04,0,0.05,1]]'
cat >"$W/m4.csv" <<'EOF'
# 4-colour panel
FITC-A,PE-A,APC-A,BV421-A
1,0.12,0.03,0.01
0.08,1,0.15,0
0,0.02,1,0.2
0.04,0,0.05,1
EOF
FL=FITC-A,PE-A,APC-A,BV421-A
$SYNTH -n 40000 --seed 11 --no-version | $CAT --no-version | tee "$W/t.fcs" |
    $COMP --no-version --decompensate -m "$W/m4.csv" | tee "$W/o.fcs" |
    $COMP --no-version | tee "$W/c.fcs" | $EXPORT - >"$W/c.tsv" ||
    bad "pipe synth | cat | comp --decompensate -m | comp | export failed"
$EXPORT "$W/t.fcs" >"$W/t.tsv"
$EXPORT "$W/o.fcs" >"$W/o.tsv"
$REF spilled "$W/t.tsv" "$W/o.tsv" "$M4" "$FL" || bad "decompensated values are not t x S"
$INFO --json "$W/o.fcs" >"$W/info.json"
[ "$($REF spill "$W/info.json")" = '["$SPILLOVER", ["FITC-A", "PE-A", "APC-A", "BV421-A"], [[1, 0.12, 0.03, 0.01], [0.08, 1, 0.15, 0], [0, 0.02, 1, 0.2], [0.04, 0, 0.05, 1]]]' ] ||
    bad "the spilled stream does not carry S as \$SPILLOVER: $($REF spill "$W/info.json")"
[ "$(kw "$W/o.fcs" LIBFCS_COMP)" = "<absent>" ] || bad "--decompensate -m wrote LIBFCS_COMP"
$REF close "$W/t.tsv" "$W/c.tsv" "" 1e-4 || bad "compensating the spilled stream does not give the original"
case "$(kw "$W/c.fcs" LIBFCS_COMP)" in
    'compensate;source=$SPILLOVER;channels=FITC-A,PE-A,APC-A,BV421-A;condition='*';spillover=4,FITC-A,PE-A,APC-A,BV421-A,1,0.12,0.03,0.01,0.08,1,0.15,0,0,0.02,1,0.2,0.04,0,0.05,1') ;;
    *) bad "LIBFCS_COMP of the pipe: $(kw "$W/c.fcs" LIBFCS_COMP)";;
esac
# provenance
$COMP -m "$W/m4.csv" "$W/t.fcs" >"$W/v.fcs"
case "$(kw "$W/v.fcs" LIBFCS_TOOL)" in "fcs-comp "*) ;; *) bad "LIBFCS_TOOL missing";; esac
case "$(kw "$W/v.fcs" LIBFCS_COMMAND)" in "fcs-comp -m "*) ;; *) bad "LIBFCS_COMMAND missing";; esac
[ "$(kw "$W/c.fcs" LIBFCS_TOOL)" = "<absent>" ] || bad "--no-version wrote LIBFCS_TOOL"

# --decompensate -m replaces every spillover keyword of the input (SPILL, $DFCiTOj)
$REF write "$W/dfc.fcs" '{"params":[["FL1-H",null,1024],["FL2-H",null,1024]],"events":[[100,50],[8,4]],
  "keywords":[["$DFC1TO2","10"],["$DFC2TO1","5"],["SPILL","2,FL1-H,FL2-H,1,0.2,0.1,1"]]}'
printf 'FL1-H,FL2-H\n1,0.5\n0.5,1\n' >"$W/mfl.csv"
expect 0 "warning: SPILL of the input is replaced by the matrix of $W/mfl.csv" \
    $COMP --no-version --decompensate -m "$W/mfl.csv" -o "$W/dfcd.fcs" "$W/dfc.fcs"
$INFO --json "$W/dfcd.fcs" >"$W/info.json"
[ "$($REF spill "$W/info.json")" = '["$SPILLOVER", ["FL1-H", "FL2-H"], [[1, 0.5], [0.5, 1]]]' ] ||
    bad "--decompensate -m: new \$SPILLOVER: $($REF spill "$W/info.json")"
for k in SPILL '$DFC1TO2' '$DFC2TO1'; do
    [ "$(kw "$W/dfcd.fcs" "$k")" = "<absent>" ] || bad "--decompensate -m kept $k"
done
$EXPORT "$W/dfcd.fcs" >"$W/dfcd.tsv"
$REF hand "$W/dfcd.tsv" '[[125,100],[10,8]]' || bad "--decompensate -m: values are not t x S"

# ---- 3. twice: refused; --force chains; --decompensate undoes one record at a time ----------
expect 1 "already compensated (LIBFCS_COMP: compensate with \$SPILLOVER); --force" $COMP "$W/c.fcs"
expect 1 "already compensated" $COMP -m "$W/m4.csv" "$W/c.fcs"
[ -s "$W/out" ] && bad "refused run wrote to stdout"
$COMP --no-version --force -m "$W/m2.csv" "$W/c.fcs" >"$W/cc.fcs" || bad "--force failed"
r1=$(kw "$W/c.fcs" LIBFCS_COMP)
rec=$(kw "$W/cc.fcs" LIBFCS_COMP)
[ "$rec" = "$r1|compensate;source=file:$W/m2.csv;sha256=$sha;channels=FITC-A,PE-A;condition=3;spillover=2,FITC-A,PE-A,1,0.5,0.5,1" ] ||
    bad "--force: LIBFCS_COMP not chained: '$rec'"
$EXPORT "$W/cc.fcs" >"$W/cc.tsv"
$REF spilled "$W/cc.tsv" "$W/c.tsv" '[[1,0.5],[0.5,1]]' FITC-A,PE-A >/dev/null ||
    bad "--force: second compensation is not c x S2^-1"
$COMP --no-version --decompensate "$W/cc.fcs" >"$W/ccd.fcs" || bad "first --decompensate failed"
[ "$(kw "$W/ccd.fcs" LIBFCS_COMP)" = "$r1" ] || bad "first --decompensate: LIBFCS_COMP '$(kw "$W/ccd.fcs" LIBFCS_COMP)'"
$EXPORT "$W/ccd.fcs" >"$W/ccd.tsv"
$REF close "$W/c.tsv" "$W/ccd.tsv" "" 1e-5 || bad "first --decompensate: values"
$COMP --no-version --decompensate "$W/ccd.fcs" | $EXPORT - >"$W/ccdd.tsv" || bad "second --decompensate failed"
$REF close "$W/o.tsv" "$W/ccdd.tsv" "" 1e-4 || bad "second --decompensate: values are not the spilled ones"
# names with the record's separators (; | \) are escaped and read back
$REF write "$W/esc.fcs" '{"params":[["A;1",null,1024],["B|2\\x",null,1024]],"events":[[150,75],[50,40]],
  "keywords":[["$SPILLOVER","2,A;1,B|2\\x,1,0.5,0.5,1"]]}'
$COMP --no-version "$W/esc.fcs" | $COMP --no-version --force >"$W/esc2.fcs" || bad "escaped names: comp failed"
r='compensate;source=$SPILLOVER;channels=A\;1,B\|2\\x;condition=3;spillover=2,A\;1,B\|2\\x,1,0.5,0.5,1'
[ "$(kw "$W/esc2.fcs" LIBFCS_COMP)" = "$r|$r" ] || bad "escaped LIBFCS_COMP: $(kw "$W/esc2.fcs" LIBFCS_COMP)"
$COMP --no-version --decompensate "$W/esc2.fcs" | tee "$W/esc1.fcs" | $EXPORT - >"$W/esc1.tsv"
$REF hand "$W/esc1.tsv" '[[150,0],[40,20]]' || bad "escaped names: first undo"
[ "$(kw "$W/esc1.fcs" LIBFCS_COMP)" = "$r" ] || bad "escaped names: record not dropped: $(kw "$W/esc1.fcs" LIBFCS_COMP)"
$COMP --no-version --decompensate "$W/esc1.fcs" | $EXPORT - >"$W/esc0.tsv"
$REF hand "$W/esc0.tsv" '[[150,75],[50,40]]' || bad "escaped names: second undo"
expect 1 "nothing to undo: no LIBFCS_COMP" $COMP --decompensate "$W/t.fcs"
expect 1 "leave out -m" $COMP --decompensate -m "$W/m4.csv" "$W/c.fcs"

# ---- 4. partial matrix, unmatched channels, --by-label ---------------------------------------
$COMP --no-version -m "$W/m2.csv" "$W/t.fcs" >"$W/p.fcs" || bad "partial matrix failed"
$EXPORT "$W/p.fcs" >"$W/p.tsv"
$REF same_text "$W/t.tsv" "$W/p.tsv" FSC-A,FSC-H,SSC-A,APC-A,BV421-A,Time ||
    bad "partial matrix changed channels it does not name"
$REF spilled "$W/p.tsv" "$W/t.tsv" '[[1,0.5],[0.5,1]]' FITC-A,PE-A >/dev/null ||
    bad "partial matrix: compensated channels wrong"
printf 'FITC-A,PE-A,CD99-X\n1,0.5,0\n0.5,1,0\n0,0,1\n' >"$W/m3dec.csv"
expect 0 "warning: comp-unmatched-channel: 'CD99-X' matches no parameter" $COMP -m "$W/m3dec.csv" "$W/t.fcs"
grep -q "^fcs-comp: $W/t.fcs: warning: " "$W/err" || bad "warning format: $(head -1 "$W/err")"
printf 'FITC-A,PE-A,CD99-X\n1,0.5,0\n0.5,1,0.1\n0,0,1\n' >"$W/m3cpl.csv"
expect 1 "channel 'CD99-X' matches no \$PnN of the data set and is coupled" $COMP -m "$W/m3cpl.csv" "$W/t.fcs"
printf 'CD3,CD19\n1,0.5\n0.5,1\n' >"$W/mlabel.csv"
expect 1 "channel 'CD3' matches no \$PnN" $COMP -m "$W/mlabel.csv" "$W/t.fcs"
$COMP --no-version --by-label -m "$W/mlabel.csv" "$W/t.fcs" >"$W/pl.fcs" || bad "--by-label failed"
$EXPORT "$W/pl.fcs" | cmp -s - "$W/p.tsv" || bad "--by-label values differ from the \$PnN matrix"
case "$(kw "$W/pl.fcs" LIBFCS_COMP)" in
    *";channels=FITC-A,PE-A;"*";spillover=2,FITC-A,PE-A,1,0.5,0.5,1") ;;
    *) bad "--by-label: LIBFCS_COMP should name \$PnN: $(kw "$W/pl.fcs" LIBFCS_COMP)";;
esac
# and it is undone by $PnN alone
$COMP --no-version --decompensate "$W/pl.fcs" | $EXPORT - >"$W/pld.tsv"
$REF close "$W/t.tsv" "$W/pld.tsv" "" 1e-5 || bad "--by-label: undo"

# ---- 5. errors --------------------------------------------------------------------------------
printf 'FITC-A,PE-A\n1,0.5\n0.5,x\n' >"$W/bad.csv"
expect 1 "fcs-comp: $W/bad.csv: line 3, column 2:" $COMP -m "$W/bad.csv" "$W/t.fcs"
[ "$(wc -l <"$W/err")" = 1 ] || bad "bad matrix: more than one line on stderr"
printf 'FITC-A,PE-A\n1,1\n1,1\n' >"$W/sing.csv"
expect 1 "singular" $COMP -m "$W/sing.csv" "$W/t.fcs"
printf 'FITC-A,PE-A\n1,0.9999999\n0.9999999,1\n' >"$W/ill.csv"
expect 1 "ill-conditioned (condition number" $COMP -m "$W/ill.csv" "$W/t.fcs"
grep -q -- "--max-condition raises the limit" "$W/err" || bad "ill-conditioned: no hint: $(cat "$W/err")"
grep -q "force to accept" "$W/err" && bad "ill-conditioned: library wording leaked: $(cat "$W/err")"
expect 0 "" $COMP --max-condition 1e9 -m "$W/ill.csv" "$W/t.fcs"
printf ',FITC-A,PE-A,APC-A\nF1,1,0.3,0.1\nF2,0.2,1,0.4\n' >"$W/spec.csv"
expect 1 "not square: a spectrum matrix (fluorochromes x detectors) is given with --spectral" \
    $COMP -m "$W/spec.csv" "$W/t.fcs"
printf ',FITC-A,PE-A\nX,1,0.5\nY,0.5,1\n' >"$W/rownames.csv"
expect 1 "row 1 is named 'X', column 1 'FITC-A': the rows of a spillover matrix must be its channels" \
    $COMP -m "$W/rownames.csv" "$W/t.fcs"
expect 1 "fcs-comp: $W/none.csv: cannot open" $COMP -m "$W/none.csv" "$W/t.fcs"
expect 1 "fcs-comp: $W/none.fcs:" $COMP -m "$W/m2.csv" "$W/none.fcs"
expect 1 "no spillover matrix (\$SPILLOVER, SPILL, \$COMP or \$DFCiTOj) in the data set; give one with -m" $COMP "$W/t.fcs"
$REF write "$W/u.fcs" '{"params":'"$HAND_PARAMS"',"events":'"$HAND_EVENTS"',
  "keywords":[["$SPILLOVER","2,FITC-A,PE-A"]]}'
expect 1 "no usable spillover matrix (spillover-unparseable:" $COMP "$W/u.fcs"
expect 1 "no data set 2" $COMP -d 2 -m "$W/m2.csv" "$W/t.fcs"
# transformed channels are not linear any more: refused
if [ -x "$FCS_BIN/fcs-xform" ]; then
    "$FCS_BIN/fcs-xform" --no-version -t 'asinh(150):CD3' "$W/t.fcs" >"$W/x.fcs"
    expect 1 "channel FITC-A is transformed (LIBFCS_P4TRANSFORM=asinh(cofactor=150)): compensation needs linear values" \
        $COMP -m "$W/m4.csv" "$W/x.fcs"
    printf 'APC-A,BV421-A\n1,0.1\n0.1,1\n' >"$W/mapc.csv" # channels that are still linear
    expect 0 "" $COMP -m "$W/mapc.csv" "$W/x.fcs"
else
    echo "note: fcs-xform not built, transformed-input check skipped"
fi
# usage errors: exit 2
expect 2 "-m cannot go with --spectral" $COMP -m "$W/m2.csv" --spectral "$W/spec.csv" "$W/t.fcs"
expect 2 "--decompensate cannot go with --spectral" $COMP --decompensate --spectral "$W/spec.csv" "$W/t.fcs"
expect 2 "--force cannot go with --decompensate" $COMP --force --decompensate "$W/t.fcs"
expect 2 "--max-condition: '0' is not a number >= 1" $COMP --max-condition 0 "$W/t.fcs"
expect 2 "one input file at a time" $COMP "$W/t.fcs" "$W/t.fcs"
expect 2 "unknown option" $COMP --frobnicate "$W/t.fcs"
expect 2 "option '-m' needs an argument" $COMP "$W/t.fcs" -m
expect 2 "standard input ('-') can be read only once" $COMP -m - -
$COMP --help | grep -q "^Usage: fcs-comp" || bad "--help"
[ "$($COMP --version | wc -l)" = 4 ] || bad "--version: not 4 lines"
# -o: nothing left behind on failure; an existing file is untouched
$COMP -m "$W/bad.csv" -o "$W/fail.fcs" "$W/t.fcs" 2>/dev/null && bad "bad matrix with -o succeeded"
[ ! -e "$W/fail.fcs" ] || bad "failed run (bad matrix) left its -o file"
cp "$W/t.fcs" "$W/keep.fcs"
$COMP "$W/t.fcs" -o "$W/keep.fcs" 2>/dev/null && bad "no-spillover run with -o succeeded"
cmp -s "$W/t.fcs" "$W/keep.fcs" || bad "failed run changed an existing -o file"
# failure in the middle of the stream: the input ends inside DATA
head -c 600000 "$W/t.fcs" >"$W/trunc.fcs"
set +e; $COMP -m "$W/m4.csv" -o "$W/keep.fcs" - <"$W/trunc.fcs" 2>"$W/err"; rc=$?; set -e
[ $rc = 1 ] || bad "truncated stream: exit $rc, want 1"
grep -q "^fcs-comp: <stdin>: " "$W/err" || bad "truncated stream: message: $(head -1 "$W/err")"
cmp -s "$W/t.fcs" "$W/keep.fcs" || bad "mid-stream failure changed the existing -o file"
ls "$W" | grep -q '\.tmp\.' && bad "temporary file left behind"
# downstream closes early: quiet
$SYNTH -n 200000 --no-version | $COMP -m "$W/m4.csv" | head -c 100 >/dev/null ||
    bad "broken pipe was not quiet"

# ---- 6. --spectral ----------------------------------------------------------------------------
# Two fluorochromes over three detectors; observed = a x A written by Python
# (float32), so the least-squares abundances are a up to float32 rounding.
python3 - "$W" <<'EOF'
import json, sys
sys.path.insert(0, sys.argv[1]); import ref
A = [[1.0, 0.3, 0.1], [0.2, 1.0, 0.4]]
ab = [[1000.0, 50.0], [0.0, 2000.0], [-30.0, 400.0], [12345.0, 6789.0], [0.0, 0.0]]
ev = []
for i, a in enumerate(ab):
    o = [ref.f32(sum(a[f] * A[f][d] for f in range(2))) for d in range(3)]
    ev.append([100.0 * (i + 1), o[0], 7.0, o[1], o[2], 0.5 * i])
params = [["FSC-A", "fsc", 262144], ["D1", "det one", 1000], ["SSC-A", None, 262144],
          ["D2", None, 5000], ["D3", None, 3000], ["Time", "time", 100]]
ref.write_fcs(sys.argv[1] + "/sp.fcs", {"params": params, "events": ev,
    "keywords": [["$P6V", "450"], ["$P4V", "600"], ["$SPILLOVER", "3,D1,D2,D3,1,0,0,0,1,0,0,0,1"]]})
json.dump(ab, open(sys.argv[1] + "/ab.json", "w"))
EOF
printf 'fluorochrome\tD1\tD2\tD3\nFITC\t1\t0.3\t0.1\nPE\t0.2\t1\t0.4\n' >"$W/spec3.tsv"
$COMP --no-version --spectral "$W/spec3.tsv" "$W/sp.fcs" >"$W/spu.fcs" || bad "--spectral failed"
$EXPORT "$W/spu.fcs" >"$W/spu.tsv"
[ "$(head -1 "$W/spu.tsv")" = "$(printf 'FSC-A\tFITC\tPE\tSSC-A\tTime')" ] ||
    bad "--spectral parameter order: $(head -1 "$W/spu.tsv")"
$REF unmix "$W/sp.fcs" "$W/spu.tsv" "$(cat "$W/ab.json")" '["FITC","PE"]' || bad "--spectral abundances"
$EXPORT "$W/sp.fcs" | cut -f1,3,6 >"$W/sp_keep.tsv"
cut -f1,4,5 "$W/spu.tsv" | cmp -s - "$W/sp_keep.tsv" || bad "--spectral changed the other parameters"
$INFO --json "$W/spu.fcs" >"$W/info.json"
[ "$($REF params "$W/info.json" | tr '\n' ' ')" = "FSC-A|fsc|262144 FITC|None|5000 PE|None|5000 SSC-A|None|262144 Time|time|100 " ] ||
    bad "--spectral \$PnN/\$PnS/\$PnR: $($REF params "$W/info.json" | tr '\n' ' ')"
[ "$(kw "$W/spu.fcs" '$P5V')" = 450 ] || bad "Time's \$PnV not renumbered (\$P6V -> \$P5V)"
[ "$(kw "$W/spu.fcs" '$P2V')" = "<absent>" ] || bad "a detector's \$PnV was carried over to a fluorochrome"
[ "$(kw "$W/spu.fcs" '$SPILLOVER')" = "<absent>" ] || bad "--spectral kept the detectors' \$SPILLOVER"
case "$(kw "$W/spu.fcs" LIBFCS_COMP)" in
    "unmix;source=file:$W/spec3.tsv;sha256=$(sha256sum "$W/spec3.tsv" | cut -d' ' -f1);detectors=D1,D2,D3;fluorochromes=FITC,PE;condition="*) ;;
    *) bad "--spectral LIBFCS_COMP: $(kw "$W/spu.fcs" LIBFCS_COMP)";;
esac
expect 1 "records a spectral unmixing, which cannot be undone" $COMP --decompensate "$W/spu.fcs"
expect 1 "already compensated (LIBFCS_COMP: unmix with file:" $COMP --spectral "$W/spec3.tsv" "$W/spu.fcs"
printf 'x\tD1\tD2\tD3\nSSC-A\t1\t0.3\t0.1\nPE\t0.2\t1\t0.4\n' >"$W/spec_clash.tsv"
expect 1 "fluorochrome 'SSC-A'" $COMP --spectral "$W/spec_clash.tsv" "$W/sp.fcs"
printf 'x\tD1\tD2\nA\t1\t0.3\nB\t0.2\t1\nC\t1\t1\n' >"$W/spec_many.tsv"
expect 1 "3 fluorochromes but only 2 matched detectors" $COMP --spectral "$W/spec_many.tsv" "$W/sp.fcs"
printf 'x\tD1\tD2\tD3\nA\t1\t0.5\t0.25\nB\t2\t1\t0.5\n' >"$W/spec_dep.tsv"
expect 1 "combination of the spectra before it" $COMP --spectral "$W/spec_dep.tsv" "$W/sp.fcs"

# A named input is recorded as LIBFCS_SOURCES, so fcs-stats reading the pipe names the sample.
"$SYNTH" --preset day14 -n 2000 --seed 9 --no-version -o "$W/src.fcs"
src=$("$COMP" "$W/src.fcs" | "$INFO" --json - | python3 -c \
    "import json,sys; print(json.loads(sys.stdin.readline())['datasets'][0]['keywords'].get('LIBFCS_SOURCES'))")
[ "$src" = "$W/src.fcs" ] || bad "fcs-comp FILE: LIBFCS_SOURCES is '$src', want $W/src.fcs"

[ $fail = 0 ] && echo "comp.sh: all checks passed"
exit $fail
