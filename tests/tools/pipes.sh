#!/usr/bin/env bash
# pipes.sh — real pipes between the real binaries, with values checked by an
# independent decoder (a few lines of Python reading the FCS bytes):
#   * fcs-synth: reproducible (same seed -> byte-identical, stdout == -o), the
#     populations, markers, scatter ratio and Time as documented;
#   * fcs-synth | fcs-cat | fcs-export gives exactly the float32 values in the file,
#     each printed as the shortest decimal that reads back as that float32;
#   * fcs-cat: keywords kept + provenance, --head, --subsample (count, order,
#     reproducibility, uniformity), several inputs with SourceFile, mismatch
#     errors, stdin and gzip inputs, -d; inputs whose spillover, $TIMESTEP,
#     LIBFCS_PnTRANSFORM or compensation differ are refused (files compensated
#     each with its own matrix join as "per-input");
#   * a repeated $PnN: every tool writes the same unique names (NAME_2), with one
#     warning; errors about what an input holds name the input, not <stdout>;
#   * fcs-export: scaled vs raw (log $PnE, $PnG), --time-seconds, CSV quoting,
#     -d, -@ threads, double precision output, NaN/Inf.
# Env (set by CTest): FCS_BIN, FCS_TMP.
set -euo pipefail
: "${FCS_BIN:?}"
for t in fcs-info fcs-export fcs-cat fcs-synth fcs-comp fcs-xform; do
    [ -x "$FCS_BIN/$t" ] || { echo "SKIP: $FCS_BIN/$t not built"; exit 77; }
done
mkdir -p "${FCS_TMP:-/tmp}"
W=$(mktemp -d "${FCS_TMP:-/tmp}/pipes.XXXXXX")
trap 'rm -rf "$W"' EXIT
SYNTH="$FCS_BIN/fcs-synth" CAT="$FCS_BIN/fcs-cat" EXPORT="$FCS_BIN/fcs-export" INFO="$FCS_BIN/fcs-info"
COMP="$FCS_BIN/fcs-comp" XFORM="$FCS_BIN/fcs-xform"
fail=0
bad() { echo "FAIL: $*"; fail=1; }
PY=python3

# ---- an independent FCS writer/reader for the checks ----------------------------------
cat >"$W/fcsmini.py" <<'EOF'
"""Minimal FCS 3.0 builder and reader for the tool tests (no libfcs involved)."""
import struct

def _text(kw, delim=b"/"):
    out = delim
    for k, v in kw:
        k = k if isinstance(k, bytes) else str(k).encode("latin-1")
        v = v if isinstance(v, bytes) else str(v).encode("latin-1")
        out += k.replace(delim, delim * 2) + delim + v.replace(delim, delim * 2) + delim
    return out

def dataset(params, rows, datatype="F", byteord="1,2,3,4", extra=(), version=b"FCS3.0",
            next_offset=0, end_extra=0):
    """One data set: params = list of dicts (name, label, bits, range, gain, e)."""
    end = "<" if byteord.startswith("1") else ">"
    code = {"F": "f", "D": "d"}
    data = b""
    for r in rows:
        for p, v in zip(params, r):
            c = code.get(datatype) or {8: "B", 16: "H", 32: "I"}[p.get("bits", 16)]
            data += struct.pack(end + c, v)
    kw = [("$BYTEORD", byteord), ("$DATATYPE", datatype), ("$MODE", "L"),
          ("$NEXTDATA", next_offset), ("$PAR", len(params)), ("$TOT", len(rows))]
    for i, p in enumerate(params, 1):
        bits = {"F": 32, "D": 64}.get(datatype, p.get("bits", 16))
        if p.get("name") is not None:
            kw.append(("$P%dN" % i, p["name"]))
        if p.get("label") is not None:
            kw.append(("$P%dS" % i, p["label"]))
        kw += [("$P%dB" % i, bits), ("$P%dR" % i, p.get("range", 1024)),
               ("$P%dE" % i, p.get("e", "0,0"))]
        if "gain" in p:
            kw.append(("$P%dG" % i, p["gain"]))
    kw += list(extra)
    tb = 58
    db = de = 0
    for _ in range(4):  # offsets inside TEXT change its length: iterate to a fixed point
        text = _text([("$BEGINANALYSIS", 0), ("$ENDANALYSIS", 0), ("$BEGINSTEXT", 0),
                      ("$ENDSTEXT", 0), ("$BEGINDATA", db), ("$ENDDATA", de)] + kw)
        db = tb + len(text)
        de = db + len(data) - 1 + end_extra
    hdr = version + b"    " + b"".join(b"%8d" % v for v in (tb, tb + len(text) - 1, db, de, 0, 0))
    return hdr + text + data + b"00000000"

def write(path, *datasets):
    """Chain data sets with $NEXTDATA (each built with next_offset = its own length)."""
    with open(path, "wb") as f:
        f.write(b"".join(datasets))

def read(path):
    """(keywords dict in order, names, rows) of the first data set."""
    b = open(path, "rb").read()
    tb, te, db, de = (int(b[10 + 8 * i:18 + 8 * i].strip() or 0) for i in range(4))
    text = b[tb:te + 1]
    d = text[0:1]
    toks, cur, i = [], b"", 1
    while i < len(text):
        c = text[i:i + 1]
        if c == d and text[i + 1:i + 2] == d:
            cur += d
            i += 2
        elif c == d:
            toks.append(cur)
            cur = b""
            i += 1
        else:
            cur += c
            i += 1
    kw = {}
    for k, v in zip(toks[0::2], toks[1::2]):
        kw.setdefault(k.decode("latin-1").strip().upper(), v.decode("latin-1"))
    if db == 0:
        db, de = int(kw["$BEGINDATA"]), int(kw["$ENDDATA"])
    n, npar = int(kw["$TOT"]), int(kw["$PAR"])
    code, width = {"F": ("f", 4), "D": ("d", 8)}[kw["$DATATYPE"]]
    end = "<" if kw["$BYTEORD"].startswith("1") else ">"
    vals = struct.unpack(end + "%d%s" % (n * npar, code), b[db:db + width * n * npar])
    names = [kw.get("$P%dN" % (j + 1)) for j in range(npar)]
    return kw, names, [vals[i * npar:(i + 1) * npar] for i in range(n)]

def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]

def read_table(path, sep="\t"):
    lines = open(path).read().split("\n")
    assert lines[-1] == "", "table does not end with a newline"
    return lines[0].split(sep), [l.split(sep) for l in lines[1:-1]]

def shortest_f32(tok):
    """Whether tok reads back as a float32 and no shorter digit string does."""
    v = f32(float(tok))
    if "e" not in tok and "." not in tok:
        return True  # an integer prints all its digits
    mant = tok.split("e")[0].lstrip("-").replace(".", "").lstrip("0")
    for p in range(1, len(mant)):
        if f32(float("%.*g" % (p, v))) == v:
            return False
    return True
EOF
export PYTHONPATH="$W"

# ---- fcs-synth: reproducible, documented model ------------------------------------------
"$SYNTH" -n 5000 --seed 7 --truth --no-version -o "$W/a.fcs"
"$SYNTH" -n 5000 --seed 7 --truth --no-version >"$W/a2.fcs"
cmp -s "$W/a.fcs" "$W/a2.fcs" || bad "fcs-synth: same seed, -o vs stdout: files differ"
"$SYNTH" -n 5000 --seed 8 --truth --no-version -o "$W/b.fcs"
cmp -s "$W/a.fcs" "$W/b.fcs" && bad "fcs-synth: seeds 7 and 8 give the same file"
# with provenance the same command line is still byte-identical
(cd "$W" && "$SYNTH" -n 100 --seed 1 >p1.fcs && "$SYNTH" -n 100 --seed 1 >p2.fcs)
cmp -s "$W/p1.fcs" "$W/p2.fcs" || bad "fcs-synth: same command twice, files differ"
"$SYNTH" -n 5000 --seed 7 --no-version -o "$W/notruth.fcs"
# LIBFCS_COMMAND names the tool, not argv[0] (a short link name once overran its buffer);
# arguments that need it are quoted for a shell
ln -s "$SYNTH" "$W/s"
PATH="$W:$PATH" s -n 3 >"$W/l.fcs" # argv[0] = "s", few arguments
"$SYNTH" -n 3 --seed 1 -o "$W/it's here.fcs"
$PY - "$W/l.fcs" "$W/it's here.fcs" <<'EOF' || bad "LIBFCS_COMMAND of a linked tool / with a quoted argument"
import sys
from fcsmini import read
got = read(sys.argv[1])[0]["LIBFCS_COMMAND"]
assert got == "fcs-synth -n 3", got
path = sys.argv[2]
got = read(path)[0]["LIBFCS_COMMAND"]
want = "fcs-synth -n 3 --seed 1 -o '" + path.replace("'", "'\\''") + "'"
assert got == want, (got, want)
EOF

$PY - "$W/a.fcs" "$W/p1.fcs" <<'EOF' || bad "fcs-synth model checks"
import sys, statistics as st
from fcsmini import read
kw, names, rows = read(sys.argv[1])
ok = True
def check(cond, what):
    global ok
    if not cond:
        print("  fcs-synth:", what); ok = False
check(names == ["FSC-A", "FSC-H", "SSC-A", "FITC-A", "PE-A", "APC-A", "BV421-A", "Time",
                "TruePopulation"], "names %s" % names)
check([kw.get("$P%dS" % j) for j in range(4, 8)] == ["CD3", "CD19", "CD4", "CD8"], "markers in $PnS")
check(all(kw["$P%dR" % j] == "262144" for j in range(1, 9)), "$PnR 262144")
check(kw["$P9R"] == "8", "TruePopulation $PnR = populations + 1")
check(kw["$DATATYPE"] == "F" and kw["$TOT"] == "5000" and kw["$PAR"] == "9", "F, 5000 x 9")
check(kw["LIBFCS_SYNTH_SEED"] == "7", "seed keyword")
check(kw["LIBFCS_SYNTH_POPULATIONS"].startswith("1=debris,2=T CD4+,3=T CD8+,4=B cells"), "population names")
check("LIBFCS_TOOL" not in kw and "LIBFCS_COMMAND" not in kw, "--no-version leaves out provenance")
kw1, _, _ = read(sys.argv[2])
check(kw1.get("LIBFCS_TOOL", "").startswith("fcs-synth "), "LIBFCS_TOOL: %r" % kw1.get("LIBFCS_TOOL"))
check(kw1.get("LIBFCS_COMMAND") == "fcs-synth -n 100 --seed 1", "LIBFCS_COMMAND: %r" % kw1.get("LIBFCS_COMMAND"))
pop = [int(r[8]) for r in rows]
check(all(1 <= p <= 7 and r[8] == p for p, r in zip(pop, rows)), "TruePopulation integral in 1..7")
want = [0.08, 0.15, 0.08, 0.05, 0.04, 0.10, 0.50]
for k, w in enumerate(want, 1):
    f = pop.count(k) / len(pop)
    check(abs(f - w) < 0.03, "population %d share %.3f, want %.2f" % (k, f, w))
def med(k, j):
    return st.median(r[j] for r in rows if int(r[8]) == k)
# CD3 (col 3) on T cells, CD19 (4) on B, CD4 (5) on CD4 T and dim on monocytes, CD8 (6)
check(med(2, 3) > 3000 and med(3, 3) > 3000, "CD3 bright on T cells")
check(all(med(k, 3) < 400 for k in (1, 4, 5, 7)), "CD3 dim elsewhere")
check(med(4, 4) > 2500 and all(med(k, 4) < 400 for k in (2, 3, 6)), "CD19 on B cells only")
check(med(2, 5) > 3000 and 800 < med(6, 5) < 5000 and med(3, 5) < 400, "CD4: T CD4+ bright, monocytes dim")
check(med(3, 6) > 3000 and med(2, 6) < 400, "CD8 on T CD8+")
check(med(7, 2) > 80000 and med(2, 2) < 30000, "SSC: granulocytes high, lymphocytes low")
ratio = st.median(r[1] / r[0] for r in rows if r[0] > 1000)
check(0.79 < ratio < 0.85, "FSC-H/FSC-A ratio %.3f" % ratio)
t = [r[7] for r in rows]
check(all(b >= a for a, b in zip(t, t[1:])), "Time non-decreasing")
check(200 < t[-1] < 300, "Time after 5000 events %.1f (2000 events/s, 0.01 s units: ~250)" % t[-1])
check(all(0 <= r[j] < 262144 for r in rows for j in (0, 1, 2)), "scatter within [0, $PnR)")
check(any(r[j] < 0 for r in rows for j in (3, 4, 5, 6)), "noise gives some negative fluorescence")
sys.exit(0 if ok else 1)
EOF

# ---- fcs-synth | fcs-cat | fcs-export: exact values, shortest text ---------------------
"$SYNTH" -n 5000 --seed 7 --truth --no-version | "$CAT" | "$EXPORT" >"$W/pipe.tsv"
"$EXPORT" "$W/a.fcs" >"$W/direct.tsv"
cmp -s "$W/pipe.tsv" "$W/direct.tsv" || bad "synth|cat|export differs from export of the file"
$PY - "$W/a.fcs" "$W/pipe.tsv" <<'EOF' || bad "export values vs independent decoder"
import sys
from fcsmini import read, read_table, shortest_f32, f32
kw, names, rows = read(sys.argv[1])
head, got = read_table(sys.argv[2])
assert head == names, (head, names)
assert len(got) == len(rows), (len(got), len(rows))
for i, (g, r) in enumerate(zip(got, rows)):
    assert len(g) == len(r), "line %d: %d fields" % (i + 2, len(g))
    for tok, v in zip(g, r):
        assert f32(float(tok)) == v, "line %d: %s != %r" % (i + 2, tok, v)
        assert shortest_f32(tok), "line %d: %s is not the shortest text of %r" % (i + 2, tok, v)
for tok in (g[8] for g in got):
    assert tok.isdigit(), "integral TruePopulation printed as %r" % tok
EOF
# threads: same bytes
for th in 1 3; do
    "$EXPORT" -@ "$th" "$W/a.fcs" >"$W/t.tsv"
    cmp -s "$W/t.tsv" "$W/direct.tsv" || bad "fcs-export -@ $th differs from -@ 0"
done
"$EXPORT" -f csv "$W/a.fcs" | tr ',' '\t' | cmp -s - "$W/direct.tsv" || bad "CSV is not TSV with commas"

# ---- fcs-cat: keywords and provenance -------------------------------------------------------
"$CAT" "$W/a.fcs" -o "$W/c.fcs"
$PY - "$W/c.fcs" "$W/a.fcs" <<'EOF' || bad "fcs-cat keywords"
import sys
from fcsmini import read
kw, names, rows = read(sys.argv[1])
kw0, names0, rows0 = read(sys.argv[2])
assert rows == rows0 and names == names0, "events or names changed"
assert kw["LIBFCS_SYNTH_SEED"] == "7" and kw["$CYT"] == kw0["$CYT"], "input keywords lost"
assert kw["$P4S"] == "CD3" and kw["$TIMESTEP"] == "0.01", "parameter keywords lost"
assert kw["LIBFCS_TOOL"].startswith("fcs-cat "), kw.get("LIBFCS_TOOL")
assert kw["LIBFCS_COMMAND"].startswith("fcs-cat "), kw.get("LIBFCS_COMMAND")
assert kw["LIBFCS_SOURCES"] == sys.argv[2], kw.get("LIBFCS_SOURCES")
assert "LIBFCS_SUBSAMPLE" not in kw and "LIBFCS_HEAD" not in kw
assert kw["$DATATYPE"] == "F" and kw["$BYTEORD"] == "1,2,3,4" and kw["$MODE"] == "L"
EOF
# provenance inherited from fcs-synth is replaced, or removed with --no-version
"$SYNTH" -n 10 | "$CAT" --no-version >"$W/nv.fcs"
$PY -c "
import sys; from fcsmini import read
kw = read('$W/nv.fcs')[0]
assert 'LIBFCS_TOOL' not in kw and 'LIBFCS_COMMAND' not in kw, kw
" || bad "fcs-cat --no-version kept inherited provenance"

# ---- --head ------------------------------------------------------------------------------------
"$CAT" --head 10 "$W/a.fcs" | "$EXPORT" >"$W/h.tsv"
head -11 "$W/direct.tsv" | cmp -s - "$W/h.tsv" || bad "--head 10 is not the first 10 events"
"$CAT" --head 0 "$W/a.fcs" | "$EXPORT" >"$W/h0.tsv"
[ "$(wc -l <"$W/h0.tsv")" = 1 ] || bad "--head 0: want the header line only"
"$CAT" --head 99999 "$W/a.fcs" | "$EXPORT" | cmp -s - "$W/direct.tsv" || bad "--head beyond the end"

# ---- --subsample ----------------------------------------------------------------------------
"$CAT" --subsample 500 --seed 3 "$W/a.fcs" -o "$W/s1.fcs"
"$CAT" --subsample 500 --seed 3 "$W/a.fcs" >"$W/s2.fcs"
"$CAT" --subsample 500 --seed 4 "$W/a.fcs" -o "$W/s3.fcs"
"$CAT" --subsample 2500 --seed 11 "$W/a.fcs" -o "$W/half.fcs"
"$CAT" --head 1000 --subsample 100 --seed 5 "$W/a.fcs" -o "$W/hs.fcs"
"$CAT" --subsample 9999 "$W/a.fcs" -o "$W/all.fcs"
$PY - "$W" <<'EOF' || bad "fcs-cat --subsample"
import sys
from fcsmini import read
w = sys.argv[1]
_, _, full = read(w + "/a.fcs")
index = {r: i for i, r in enumerate(full)}
assert len(index) == len(full), "synthetic events not distinct"
def picks(name):
    kw, _, rows = read(w + "/" + name)
    idx = [index[r] for r in rows]  # KeyError: an event that is not in the input
    assert idx == sorted(idx) and len(set(idx)) == len(idx), name + ": order not kept or repeated"
    return kw, idx
kw, s1 = picks("s1.fcs")
assert len(s1) == 500 and kw["$TOT"] == "500", len(s1)
assert kw["LIBFCS_SUBSAMPLE"] == "500" and kw["LIBFCS_SEED"] == "3", kw
_, s3 = picks("s3.fcs")
assert s3 != s1, "seeds 3 and 4 pick the same events"
_, half = picks("half.fcs")
first = sum(1 for i in half if i < 2500)
# hypergeometric: sd ~ 17.7 events; 6 sd
assert abs(first - 1250) < 106, "2500 of 5000: %d in the first half (not uniform)" % first
tp = [0] * 8
for i in half:
    tp[int(full[i][8])] += 1
full_tp = [0] * 8
for r in full:
    full_tp[int(r[8])] += 1
for k in range(1, 8):
    assert abs(tp[k] - full_tp[k] / 2) < 6 * (full_tp[k] / 4) ** 0.5 + 1, "population %d" % k
kw, hs = picks("hs.fcs")
assert len(hs) == 100 and max(hs) < 1000, "--head 1000 --subsample 100"
assert kw["LIBFCS_HEAD"] == "1000"
_, al = picks("all.fcs")
assert al == list(range(5000)), "--subsample above the count keeps every event"
EOF
"$CAT" --no-version --subsample 500 --seed 3 "$W/a.fcs" -o "$W/n1.fcs"
"$CAT" --no-version --subsample 500 --seed 3 "$W/a.fcs" >"$W/n2.fcs"
cmp -s "$W/n1.fcs" "$W/n2.fcs" || bad "--no-version --subsample: same seed, files differ"

# ---- several inputs: SourceFile --------------------------------------------------------------
"$CAT" "$W/a.fcs" "$W/b.fcs" -o "$W/ab.fcs"
cat "$W/a.fcs" | "$CAT" - "$W/b.fcs" -o "$W/sb.fcs"
gzip -c "$W/b.fcs" >"$W/b.fcs.gz"
"$CAT" "$W/a.fcs" "$W/b.fcs.gz" -o "$W/abz.fcs"
$PY - "$W" <<'EOF' || bad "fcs-cat of two inputs"
import sys
from fcsmini import read
w = sys.argv[1]
_, na, ra = read(w + "/a.fcs")
_, nb, rb = read(w + "/b.fcs")
kw, n, r = read(w + "/ab.fcs")
assert n == na + ["SourceFile"], n
assert kw["$P10R"] == "3", "SourceFile $PnR = inputs + 1: %s" % kw["$P10R"]
assert [x[:9] for x in r] == ra + rb, "events are not a then b"
assert [x[9] for x in r] == [1.0] * len(ra) + [2.0] * len(rb), "SourceFile values"
assert kw["LIBFCS_SOURCES"] == w + "/a.fcs," + w + "/b.fcs", kw["LIBFCS_SOURCES"]
kw2, _, r2 = read(w + "/sb.fcs")
assert r2 == r and kw2["LIBFCS_SOURCES"] == "<stdin>," + w + "/b.fcs", kw2["LIBFCS_SOURCES"]
assert read(w + "/abz.fcs")[2] == r, "gzip second input"
EOF
"$CAT" --subsample 300 --seed 9 "$W/a.fcs" "$W/b.fcs" | "$EXPORT" >"$W/abs.tsv"
awk -F'\t' 'NR > 1 { n[$10]++ } END { exit !(n[1] + n[2] == 300 && n[1] > 100 && n[2] > 100) }' \
    "$W/abs.tsv" || bad "--subsample over two inputs does not draw from both"
# mismatching parameters: clear error naming the file, nothing written
RC=0
"$CAT" "$W/a.fcs" "$W/notruth.fcs" -o "$W/mm.fcs" 2>"$W/err" || RC=$?
[ "$RC" = 1 ] || bad "fcs-cat of 9 and 8 parameters: exit $RC"
grep -q "^fcs-cat: $W/notruth.fcs: has 8 parameters, $W/a.fcs has 9: cannot concatenate$" "$W/err" ||
    bad "mismatch message: $(cat "$W/err")"
[ -e "$W/mm.fcs" ] && bad "mismatch left an output file"
$PY - "$W" <<'EOF'
import sys, fcsmini
w = sys.argv[1]
p = [dict(name="FSC-H", range=1024), dict(name="SSC-H", range=1024)]
q = [dict(name="FSC-H", range=1024), dict(name="FL1-H", range=1024)]
fcsmini.write(w + "/p.fcs", fcsmini.dataset(p, [(1, 2)]))
fcsmini.write(w + "/q.fcs", fcsmini.dataset(q, [(3, 4)]))
EOF
RC=0
"$CAT" "$W/p.fcs" "$W/q.fcs" >"$W/mm.fcs" 2>"$W/err" || RC=$?
[ "$RC" = 1 ] || bad "fcs-cat of different names: exit $RC"
grep -q "^fcs-cat: $W/q.fcs: parameter 2 is 'FL1-H', in $W/p.fcs it is 'SSC-H': cannot concatenate" \
    "$W/err" || bad "name mismatch message: $(cat "$W/err")"

# ---- gzip and stdin inputs -------------------------------------------------------------------
gzip -c "$W/a.fcs" >"$W/a.fcs.gz"
"$EXPORT" "$W/a.fcs.gz" | cmp -s - "$W/direct.tsv" || bad "fcs-export FILE.gz"
gzip -c "$W/a.fcs" | "$EXPORT" - | cmp -s - "$W/direct.tsv" || bad "gzip -c | fcs-export -"
"$EXPORT" <"$W/a.fcs" | cmp -s - "$W/direct.tsv" || bad "fcs-export without FILE reads stdin"
gzip -c "$W/a.fcs" | "$CAT" --no-version --subsample 100 --seed 1 | "$EXPORT" >"$W/gz.tsv"
"$CAT" --no-version --subsample 100 --seed 1 "$W/a.fcs" | "$EXPORT" | cmp -s - "$W/gz.tsv" ||
    bad "subsample of a gzip pipe differs from the file's"

# ---- fcs-export: scaling, raw, time, CSV, data sets, doubles ----------------------------------
$PY - "$W" <<'EOF'
import sys, fcsmini
w = sys.argv[1]
# I data: log channel (4 decades), gain 2, a Time channel with $PnG 0.01 (DIVA style)
p = [dict(name="FL1-H", bits=16, range=1024, e="4,1"),
     dict(name="FSC,H", label="size", bits=16, range=1024, gain=2),
     dict(name="Time", bits=16, range=1024, gain=0.01),
     dict(name=None, bits=16, range=1024)]
rows = [(512, 100, 250, 7), (0, 1, 1, 0), (768, 1023, 1000, 1023)]
# two data sets: the second has other values; $NEXTDATA = length of the first
nxt = 0
for _ in range(4):
    d0 = fcsmini.dataset(p, rows, datatype="I", extra=[("$TIMESTEP", "0.01")], next_offset=nxt)
    nxt = len(d0)
d1 = fcsmini.dataset(p, [(256, 4, 10, 1)], datatype="I", extra=[("$TIMESTEP", "0.01")])
fcsmini.write(w + "/int.fcs", d0, d1)
# doubles and floats with special values
fcsmini.write(w + "/dbl.fcs", fcsmini.dataset([dict(name="x"), dict(name="y")],
    [(0.1, 1 / 3), (3.0, -2.25), (1e-05, 123456789012.5), (float("nan"), float("inf")),
     (float("-inf"), 2.0 ** 60), (-0.0, 1e300)], datatype="D"))
fcsmini.write(w + "/flt.fcs", fcsmini.dataset([dict(name="x"), dict(name="y")],
    [(0.1, 1 / 3), (3.0, -2.25), (1e-05, 16777216.0), (float("nan"), float("inf")),
     (float("-inf"), 0.5)], datatype="F", byteord="4,3,2,1"))
EOF
expect_table() { # expect_table WHAT FILE <<< expected
    if ! diff <(cat) "$2" >"$W/diff"; then bad "$1: $(head -5 "$W/diff" | tr '\n' '|')"; fi
}
"$EXPORT" "$W/int.fcs" >"$W/o.tsv"
expect_table "scaled I data (log, gain, time gain)" "$W/o.tsv" <<'EOF'
FL1-H	FSC,H	Time	P4
100	50	25000	7
1	0.5	100	0
1000	511.5	100000	1023
EOF
"$EXPORT" --raw "$W/int.fcs" >"$W/o.tsv"
expect_table "raw I data" "$W/o.tsv" <<'EOF'
FL1-H	FSC,H	Time	P4
512	100	250	7
0	1	1	0
768	1023	1000	1023
EOF
"$EXPORT" --time-seconds "$W/int.fcs" | cut -f3 >"$W/o.tsv"
expect_table "--time-seconds" "$W/o.tsv" <<'EOF'
Time
2.5
0.01
10
EOF
"$EXPORT" -f csv -d 1 "$W/int.fcs" >"$W/o.tsv"
expect_table "CSV of data set 1, quoted name" "$W/o.tsv" <<'EOF'
FL1-H,"FSC,H",Time,P4
10,2,1000,1
EOF
RC=0
"$EXPORT" -d 2 "$W/int.fcs" >"$W/o.tsv" 2>"$W/err" || RC=$?
[ "$RC" = 1 ] || bad "-d 2 of a 2-data-set file: exit $RC"
grep -q "^fcs-export: $W/int.fcs: no data set 2 (the file has 2, numbered from 0)$" "$W/err" ||
    bad "-d 2 message: $(cat "$W/err")"
"$EXPORT" "$W/dbl.fcs" >"$W/o.tsv"
expect_table "double values, shortest round trip" "$W/o.tsv" <<'EOF'
x	y
0.1	0.3333333333333333
3	-2.25
1e-05	123456789012.5
NaN	Inf
-Inf	1.152921504606847e+18
-0	1e+300
EOF
"$EXPORT" "$W/flt.fcs" >"$W/o.tsv"
expect_table "float32 values, shortest round trip" "$W/o.tsv" <<'EOF'
x	y
0.1	0.33333334
3	-2.25
1e-05	16777216
NaN	Inf
-Inf	0.5
EOF
# arbitrary bit patterns: each text is %.Pg (Python's, correctly rounded like C's) for the
# smallest P in 6..9 (float32) / 15..17 (double) that reads back; integers as digits
$PY - "$W" <<'EOF'
import math, random, struct, sys, fcsmini
w = sys.argv[1]
rnd = random.Random(5)
def pattern(code, bits):
    while True:
        v = struct.unpack("<" + code, struct.pack("<" + code.upper().replace("F", "I").replace("D", "Q"),
                                                  rnd.getrandbits(bits)))[0]
        if math.isfinite(v):
            return v
edges = [0.5, 1.5, 2.0 ** -126, 2.0 ** -149, 3.4028234663852886e38, 0.1, 1e-05, 9.999999e-05,
         0.99999988079071044921875, 117287.125, 2.0 ** 24 + 2, -0.0]
f = [(pattern("f", 32), pattern("f", 32)) for _ in range(4000)]
f += [(fcsmini.f32(e), fcsmini.f32(-e)) for e in edges]
f += [(fcsmini.f32(rnd.uniform(0, 262144)), fcsmini.f32(rnd.uniform(-1, 1))) for _ in range(2000)]
fcsmini.write(w + "/rf.fcs", fcsmini.dataset([dict(name="a"), dict(name="b")], f, datatype="F"))
d = [(pattern("d", 64), pattern("d", 64)) for _ in range(4000)]
d += [(e, -e) for e in edges + [2.0 ** -1074, 1.7976931348623157e308, 1 / 3, 2.0 ** 53 + 2, 1e15 + 0.5]]
d += [(10 ** rnd.uniform(0, 4), rnd.uniform(0, 1000)) for _ in range(2000)]
fcsmini.write(w + "/rd.fcs", fcsmini.dataset([dict(name="a"), dict(name="b")], d, datatype="D"))
EOF
"$EXPORT" --raw "$W/rf.fcs" >"$W/rf.tsv"
"$EXPORT" --raw -@ 1 "$W/rd.fcs" >"$W/rd.tsv"
$PY - "$W" <<'EOF' || bad "shortest text of random float32/double bit patterns"
import math, sys
from fcsmini import f32, read, read_table
w = sys.argv[1]
def check(name, pmin, pmax, rt):
    _, _, rows = read(w + "/" + name + ".fcs")
    _, toks = read_table(w + "/" + name + ".tsv")
    assert len(rows) == len(toks), name
    for r, t in zip(rows, toks):
        for v, tok in zip(r, t):
            if v == math.trunc(v) and abs(v) < 1e15:
                want = ("-" if math.copysign(1, v) < 0 else "") + str(int(abs(v)))
                assert tok == want, "%s: integral %r printed %r" % (name, v, tok)
                continue
            assert rt(float(tok)) == v, "%s: %r does not read back as %r" % (name, tok, v)
            ps = [p for p in range(pmin, pmax + 1) if "%.*g" % (p, v) == tok]
            assert ps, "%s: %r is no %%.Pg text of %r" % (name, tok, v)
            for p in range(pmin, ps[0]):
                assert rt(float("%.*g" % (p, v))) != v, "%s: %r, but %%.%dg reads back" % (name, tok, p)
check("rf", 6, 9, f32)
check("rd", 15, 17, lambda x: x)
EOF
# repaired input: the repair is reported once on stderr (after a successful read), --strict refuses
$PY - "$W" <<'EOF'
import sys, fcsmini
fcsmini.write(sys.argv[1] + "/obo.fcs", fcsmini.dataset([dict(name="x")], [(1.5,), (2.5,)], end_extra=1))
EOF
for t in export cat; do
    RC=0
    "$FCS_BIN/fcs-$t" "$W/obo.fcs" >"$W/obo.out" 2>"$W/err" || RC=$?
    [ "$RC" = 0 ] && [ -s "$W/obo.out" ] || bad "fcs-$t of a repairable file: exit $RC"
    [ "$(wc -l <"$W/err")" = 1 ] && grep -q "^fcs-$t: $W/obo.fcs: warning: data-end-off-by-one: " "$W/err" ||
        bad "fcs-$t of a repairable file: stderr: $(cat "$W/err")"
    RC=0
    "$FCS_BIN/fcs-$t" --strict "$W/obo.fcs" >"$W/obo.out" 2>"$W/err" || RC=$?
    [ "$RC" = 1 ] && [ "$(wc -l <"$W/err")" = 1 ] && grep -q "^fcs-$t: $W/obo.fcs: " "$W/err" ||
        bad "fcs-$t --strict of a repairable file: exit $RC, stderr: $(cat "$W/err")"
done
"$EXPORT" "$W/obo.fcs" 2>/dev/null | tail -n +2 | tr '\n' ' ' | grep -qx '1.5 2.5 ' || bad "repaired file: values"

# fcs-cat of the integer file: channel values, $PnR covering them, provenance of gain/log
"$CAT" "$W/int.fcs" | "$EXPORT" >"$W/o.tsv"
expect_table "fcs-cat | fcs-export of scaled I data (float32)" "$W/o.tsv" <<'EOF'
FL1-H	FSC,H	Time	P4
100	50	25000	7
1	0.5	100	0
1000	511.5	100000	1023
EOF
"$CAT" -d 1 "$W/int.fcs" | "$INFO" --json >"$W/o.json"
$PY - "$W/o.json" <<'EOF' || bad "fcs-cat of scaled I data: keywords"
import sys, json
d = json.loads(open(sys.argv[1]).read())["datasets"][0]
k, p = d["keywords"], d["parameters"]
assert d["tot"] == 1 and d["datatype"] == "F", d
assert [x["range"] for x in p] == [10000, 512, 102400, 1024], [x["range"] for x in p]
assert [x["gain"] for x in p] == [1, 1, 1, 1] and all(x["log_decades"] == 0 for x in p)
assert k.get("LIBFCS_P1E") == "4,1" and k.get("LIBFCS_P2G") == "2", k
assert k.get("LIBFCS_DATASET") == "1", k.get("LIBFCS_DATASET")
assert [x["name"] for x in p] == ["FL1-H", "FSC,H", "Time", "P4"]
assert p[1]["label"] == "size"
EOF

# ---- fcs-cat: the inputs must agree on what the values mean --------------------------------
$PY - "$W" <<'EOF'
import sys, fcsmini
w = sys.argv[1]
p = [dict(name="FL1-A", range=1024), dict(name="FL2-A", range=1024), dict(name="Time", range=1024)]
rows = [(100.0, 20.0, 1.0), (30.0, 400.0, 2.0)]
S1 = ("$SPILLOVER", "2,FL1-A,FL2-A,1,0.1,0.2,1")
S1b = ("SPILL", "2,FL1-A,FL2-A,1,0.1,0.2,1")   # the same matrix under another keyword
S2 = ("$SPILLOVER", "2,FL1-A,FL2-A,1,0.1,0.25,1")
T = ("$TIMESTEP", "0.01")
def mk(name, *extra):
    fcsmini.write(w + "/" + name, fcsmini.dataset(p, rows, extra=list(extra)))
mk("s1.fcs", S1, T); mk("s1b.fcs", S1b, T); mk("s2.fcs", S2, T); mk("nos.fcs", T)
mk("t10.fcs", S1, ("$TIMESTEP", "0.1")); mk("not.fcs", S1)
EOF
# cat_refused WHAT WANT_MESSAGE_REGEX INPUTS...: exit 1, that one line, no -o file left
cat_refused() {
    local what=$1 want=$2 rc=0
    shift 2
    rm -f "$W/cr.fcs"
    "$CAT" "$@" -o "$W/cr.fcs" 2>"$W/err" || rc=$?
    [ "$rc" = 1 ] || bad "fcs-cat $what: exit $rc, want 1"
    [ "$(wc -l <"$W/err")" = 1 ] && grep -Eq "$want" "$W/err" || bad "fcs-cat $what: stderr: $(cat "$W/err")"
    [ -e "$W/cr.fcs" ] && bad "fcs-cat $what: wrote an output"
    return 0
}
q() { printf '%s' "$1" | sed 's/[][\.*^$()+?{}|]/\\&/g'; } # a literal for grep -E
D='\$' # a literal $ for grep -E
"$CAT" --no-version "$W/s1.fcs" "$W/s1b.fcs" -o "$W/s11.fcs" 2>"$W/err" ||
    bad "fcs-cat of equal spillover matrices: $(cat "$W/err")"
"$INFO" --json "$W/s11.fcs" | $PY -c '
import json, sys
d = json.load(sys.stdin)["datasets"][0]
assert d["tot"] == 4 and d["spillover"]["matrix"] == [[1, 0.1], [0.2, 1]], d["spillover"]' ||
    bad "fcs-cat of equal spillover matrices: output"
cat_refused "of different spillover matrices" \
    "^fcs-cat: $(q "$W/s2.fcs"): spillover matrix \(${D}SPILLOVER\) differs from that of $(q "$W/s1.fcs") \(${D}SPILLOVER\): cannot concatenate uncompensated events with different matrices \(one would be applied to all\); compensate each file first \(fcs-comp\), then concatenate$" \
    "$W/s1.fcs" "$W/s2.fcs"
cat_refused "of a spillover matrix and none" \
    "$(q "$W/nos.fcs"): spillover matrix \(none\) differs from that of $(q "$W/s1.fcs") \(${D}SPILLOVER\)" \
    "$W/s1.fcs" "$W/nos.fcs"
cat_refused "(third input differs)" "$(q "$W/s2.fcs"): spillover matrix" "$W/s1.fcs" "$W/s1b.fcs" "$W/s2.fcs"
cat_refused "of different \$TIMESTEP" \
    "^fcs-cat: $(q "$W/t10.fcs"): ${D}TIMESTEP is 0\.1, in $(q "$W/s1.fcs") it is 0\.01: cannot concatenate" \
    "$W/s1.fcs" "$W/t10.fcs"
cat_refused "of \$TIMESTEP and none" "$(q "$W/not.fcs"): ${D}TIMESTEP is none, in .* it is 0\.01" \
    "$W/s1.fcs" "$W/not.fcs"
# transformed channels: the same transform is fine, another one or none is not
"$XFORM" -t 'asinh(150):FL1-A' "$W/s1.fcs" -o "$W/x150.fcs"
"$XFORM" -t 'asinh(5):FL1-A' "$W/s1.fcs" -o "$W/x5.fcs"
"$CAT" "$W/x150.fcs" "$W/x150.fcs" >/dev/null 2>"$W/err" ||
    bad "fcs-cat of equally transformed files: $(cat "$W/err")"
cat_refused "of different transforms" \
    "^fcs-cat: $(q "$W/x5.fcs"): LIBFCS_P1TRANSFORM is 'asinh\(cofactor=5\)', in $(q "$W/x150.fcs") it is 'asinh\(cofactor=150\)': cannot concatenate differently transformed values; concatenate first and then transform \(fcs-xform\)" \
    "$W/x150.fcs" "$W/x5.fcs"
cat_refused "of transformed and raw" "$(q "$W/s1.fcs"): LIBFCS_P1TRANSFORM is 'none'" "$W/x150.fcs" "$W/s1.fcs"
# compensation: compensated and not is refused; each compensated with its own matrix joins
"$COMP" "$W/s1.fcs" -o "$W/c1.fcs"
"$COMP" "$W/s2.fcs" -o "$W/c2.fcs"
cat_refused "of compensated and uncompensated" \
    "^fcs-cat: $(q "$W/s1.fcs"): not compensated, $(q "$W/c1.fcs") is \(LIBFCS_COMP\): cannot concatenate compensated and uncompensated events; compensate $(q "$W/s1.fcs") first \(fcs-comp\)$" \
    "$W/c1.fcs" "$W/s1.fcs"
cat_refused "of uncompensated and compensated" \
    "$(q "$W/c1.fcs"): compensated \(LIBFCS_COMP\), $(q "$W/s1.fcs") is not" "$W/s1.fcs" "$W/c1.fcs"
"$CAT" --no-version "$W/c1.fcs" "$W/c2.fcs" -o "$W/c12.fcs" 2>"$W/err" ||
    bad "fcs-cat of files compensated each: $(cat "$W/err")"
grep -q "^fcs-cat: warning: comp-per-input: " "$W/err" ||
    bad "fcs-cat of files compensated each: no warning: $(cat "$W/err")"
"$EXPORT" "$W/c1.fcs" >"$W/c1.tsv"
"$EXPORT" "$W/c2.fcs" | tail -n +2 >"$W/c2.tsv"
"$EXPORT" "$W/c12.fcs" | cut -f1-3 | cmp -s - <(cat "$W/c1.tsv" "$W/c2.tsv") ||
    bad "fcs-cat of compensated files: events are not c1's then c2's"
"$INFO" --json "$W/c12.fcs" | $PY -c '
import json, sys
d = json.load(sys.stdin)["datasets"][0]
k = d["keywords"]
assert k.get("LIBFCS_COMP") == "compensate;source=per-input;channels=FL1-A,FL2-A", k.get("LIBFCS_COMP")
assert d["spillover"] is None and "$SPILLOVER" not in k, "spillover keywords kept"' ||
    bad "fcs-cat of files compensated each: keywords"
RC=0
"$COMP" --decompensate "$W/c12.fcs" >/dev/null 2>"$W/err" || RC=$?
[ "$RC" = 1 ] && grep -q "compensated per input file with different matrices" "$W/err" ||
    bad "--decompensate of a per-input stream: exit $RC: $(cat "$W/err")"
# the same compensation twice keeps its record: it can still be undone
"$CAT" "$W/c1.fcs" "$W/c1.fcs" | "$COMP" --decompensate 2>/dev/null | "$EXPORT" | cut -f1-3 >"$W/d11.tsv"
"$EXPORT" "$W/s1.fcs" >"$W/s1.tsv"
$PY - "$W" <<'EOF' || bad "cat of two equally compensated files, decompensated"
import sys
from fcsmini import read_table
w = sys.argv[1]
h1, r1 = read_table(w + "/s1.tsv")
h2, r2 = read_table(w + "/d11.tsv")
assert h1 == h2 and len(r2) == 2 * len(r1), (h2, len(r2))
for a, b in zip(r1 + r1, r2):
    assert all(abs(float(x) - float(y)) <= 1e-4 * max(1, abs(float(x))) for x, y in zip(a, b)), (a, b)
EOF

# ---- a repeated $PnN: the same unique names everywhere ------------------------------------
$PY - "$W" <<'EOF'
import sys, fcsmini
w = sys.argv[1]
n = lambda *names: [dict(name=x, range=1024) for x in names]
fcsmini.write(w + "/dup.fcs", fcsmini.dataset(n("A", "A", "B", "C"), [(1, 2, 3, 4), (5, 6, 7, 8)]))
fcsmini.write(w + "/dup3.fcs", fcsmini.dataset(n("A", "A", "A_2"), [(1, 2, 3)]))
# $P1E 400 decades: the top of the scale is no number (10^400)
fcsmini.write(w + "/pe400.fcs", fcsmini.dataset([dict(name="A", bits=16, range=1024, e="400,1")],
                                                [(2,), (5,)], datatype="I"))
EOF
printf 'B,C\n1,0.1\n0,1\n' >"$W/bc.csv"
RC=0
"$EXPORT" "$W/dup.fcs" >"$W/dup.tsv" 2>"$W/err" || RC=$?
[ "$RC" = 0 ] && [ "$(head -1 "$W/dup.tsv")" = "$(printf 'A\tA_2\tB\tC')" ] ||
    bad "fcs-export of a repeated name: exit $RC, header $(head -1 "$W/dup.tsv")"
[ "$(cat "$W/err")" = "fcs-export: $W/dup.fcs: warning: duplicate-name: \$P2N 'A' repeats \$P1N: written as 'A_2'" ] ||
    bad "fcs-export of a repeated name: stderr: $(cat "$W/err")"
"$EXPORT" "$W/dup3.fcs" 2>/dev/null | head -1 | grep -qx "$(printf 'A\tA_3\tA_2')" ||
    bad "a rename that the file already uses: $("$EXPORT" "$W/dup3.fcs" 2>&1 | head -2)"
# pipe_names WHAT CMD...: CMD writes FCS of dup.fcs: exit 0, the warning, fcs-export's names
pipe_names() {
    local what=$1 rc=0
    shift
    "$@" >"$W/pn.fcs" 2>"$W/err" || rc=$?
    [ "$rc" = 0 ] || bad "$what of a repeated name: exit $rc: $(cat "$W/err")"
    # one line per input read (fcs-cat of the file twice: two)
    [ -s "$W/err" ] &&
        ! grep -vq ": $W/dup.fcs: warning: duplicate-name: \$P2N 'A' repeats \$P1N: written as 'A_2'$" "$W/err" ||
        bad "$what of a repeated name: stderr: $(cat "$W/err")"
    "$EXPORT" "$W/pn.fcs" 2>/dev/null | head -1 | cut -f1-4 | grep -qx "$(printf 'A\tA_2\tB\tC')" ||
        bad "$what of a repeated name: names $("$EXPORT" "$W/pn.fcs" 2>&1 | head -1)"
    return 0
}
pipe_names fcs-cat "$CAT" "$W/dup.fcs"
pipe_names "fcs-cat (2 inputs)" "$CAT" "$W/dup.fcs" "$W/dup.fcs"
pipe_names fcs-xform "$XFORM" -t 'asinh(150):B' "$W/dup.fcs"
pipe_names fcs-comp "$COMP" -m "$W/bc.csv" "$W/dup.fcs"
"$CAT" "$W/dup.fcs" 2>/dev/null | "$EXPORT" | cmp -s - "$W/dup.tsv" || bad "fcs-cat | fcs-export differs from fcs-export"
# a scale without a finite top ($PnE 400,1): fcs-xform writes the stored $PnR, as fcs-cat does
RC=0
"$XFORM" -t 'asinh(150):A' "$W/pe400.fcs" 2>"$W/err" >"$W/pe.fcs" || RC=$?
[ "$RC" = 0 ] && [ ! -s "$W/err" ] || bad "fcs-xform of \$PnE 400,1: exit $RC: $(cat "$W/err")"
# what the writer refuses about an input names that input, not <stdout>: here fcs-cat would
# add a second SourceFile to streams that have one
RC=0
"$CAT" "$W/ab.fcs" "$W/ab.fcs" >/dev/null 2>"$W/err" || RC=$?
[ "$RC" = 1 ] && grep -qx "fcs-cat: $W/ab.fcs: cannot be written as FCS: \$P10N and \$P11N are both 'SourceFile'" "$W/err" ||
    bad "writer refusal: exit $RC: $(cat "$W/err")"

if [ "$fail" = 0 ]; then echo "pipes: all checks passed"; fi
exit "$fail"
