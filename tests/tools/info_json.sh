#!/usr/bin/env bash
# info_json.sh — fcs-info against files built here byte by byte (and, when present,
# a few corpus files):
#   * --json layout of docs/cli.md: every field, numbers (integral -> integer),
#     parameters, keywords in file order, spillover, warnings, data sets;
#   * string escaping: ", \, control bytes, valid UTF-8 kept, invalid bytes as the
#     Latin-1 code point; the output is valid UTF-8 JSON, one line per file;
#   * several files (one line each), a bad file among good ones, gzip on stdin;
#   * text mode shows control bytes as \xHH;
#   * --strict refuses a repairable file, --metadata-only reads a header-only stub;
#   * a truncated DATA segment is an error (exit 1) from a file, a pipe and gzip alike:
#     a stream is read through (constant memory, also for a $TOT of 10^11).
# Env (set by CTest): FCS_BIN, FCS_TMP, FCS_CORPUS (optional).
set -euo pipefail
: "${FCS_BIN:?}"
INFO="$FCS_BIN/fcs-info"
[ -x "$INFO" ] || { echo "SKIP: $INFO not built"; exit 77; }
mkdir -p "${FCS_TMP:-/tmp}"
W=$(mktemp -d "${FCS_TMP:-/tmp}/info_json.XXXXXX")
trap 'rm -rf "$W"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# ---- the test files ---------------------------------------------------------------------
python3 - "$W" <<'EOF'
import struct, sys
w = sys.argv[1]
def text(kw, d=b"/"):
    out = d
    for k, v in kw:
        k = k if isinstance(k, bytes) else str(k).encode()
        v = v if isinstance(v, bytes) else str(v).encode()
        out += k.replace(d, d + d) + d + v.replace(d, d + d) + d
    return out
def dataset(kw, data, next_offset=0, end_extra=0):
    """FCS3.0 data set; kw without the offset keywords; returns (bytes, begin, end)."""
    kw = [(b"$NEXTDATA", next_offset)] + kw
    db = de = 0
    for _ in range(4):
        t = text([(b"$BEGINANALYSIS", 0), (b"$ENDANALYSIS", 0), (b"$BEGINSTEXT", 0),
                  (b"$ENDSTEXT", 0), (b"$BEGINDATA", db), (b"$ENDDATA", de)] + kw)
        db = 58 + len(t)
        de = db + len(data) - 1 + end_extra
    h = b"FCS3.0    " + b"".join(b"%8d" % v for v in (58, 58 + len(t) - 1, db, de, 0, 0))
    return h + t + data + b"00000000", db, de
params = [(b"$BYTEORD", "1,2,3,4"), (b"$DATATYPE", "I"), (b"$MODE", "L"), (b"$PAR", 3),
          (b"$TOT", 2),
          (b"$P1N", "FL1-H"), (b"$P1S", b"CD3 caf\xc3\xa9"), (b"$P1B", 16), (b"$P1R", 1000),
          (b"$P1E", "4,1"),
          (b"$P2N", "FL2-H"), (b"$P2B", 16), (b"$P2R", 1024), (b"$P2E", "0,0"), (b"$P2G", 2),
          (b"$P3N", "Time"), (b"$P3B", 16), (b"$P3R", 65536), (b"$P3E", "0,0"),
          (b"$TIMESTEP", "0.01"),
          (b"$SPILLOVER", "2,FL1-H,FL2-H,1,0.1,0.05,1"),
          (b"WEIRD", b'a"b\\c\x01d\xe9f\x7fg'),
          (b"UTF8", b"caf\xc3\xa9 \xf0\x9f\x98\x80"),
          (b"BROKEN", b"\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80\xe2\x82"),
          (b"LINES", b"x\ty\nz\r")]
data = struct.pack("<6H", 1, 2, 3, 4, 5, 6)
ds0, b0, e0 = dataset(params, data)
nxt = 0
for _ in range(4):
    d0, _, _ = dataset(params, data, next_offset=nxt)
    nxt = len(d0)
second = [(b"$BYTEORD", "4,3,2,1"), (b"$DATATYPE", "F"), (b"$MODE", "L"), (b"$PAR", 1),
          (b"$TOT", 3), (b"$P1N", "X"), (b"$P1B", 32), (b"$P1R", 262144), (b"$P1E", "0,0")]
d1, b1, e1 = dataset(second, struct.pack(">3f", 0.5, 1.5, 2.5))
open(w + "/one.fcs", "wb").write(ds0)
open(w + "/two.fcs", "wb").write(d0 + d1)
open(w + "/offsets", "w").write("%d %d %d %d %d\n" % (b0, e0, len(d0), b1 + len(d0), e1 + len(d0)))
# $ENDDATA one byte too far (HEADER and TEXT): repaired with a warning, refused by --strict
obo, _, _ = dataset(second, struct.pack(">3f", 0.5, 1.5, 2.5), end_extra=1)
open(w + "/offbyone.fcs", "wb").write(obo)
# header-only stub: HEADER + TEXT of a file whose DATA is not there
stub, sb, _ = dataset(second, b"\0" * 400000)
open(w + "/stub.fcs", "wb").write(stub[:sb])
EOF
read -r B0 E0 LEN0 B1 E1 <"$W/offsets"

# ---- --json: layout and values -------------------------------------------------------------
"$INFO" --json "$W/one.fcs" >"$W/one.json"
python3 - "$W/one.json" "$W/one.fcs" "$B0" "$E0" <<'EOF' || bad "fcs-info --json of one.fcs"
import json, sys
raw = open(sys.argv[1], "rb").read()
assert raw.endswith(b"\n") and raw.count(b"\n") == 1, "not one line"
line = raw.decode("utf-8")  # strict: the output must be valid UTF-8
assert not any(ord(c) < 0x20 for c in line[:-1]), "raw control character in the JSON"
assert "\\u0001" in line and "\\u00e9" in line and "\\u007f" in line, "escapes \\u00XX"
assert "\U0001F600" in line, "valid UTF-8 must be copied, not escaped"
o = json.loads(line)
assert list(o) == ["file", "fcs_version", "n_datasets", "datasets"], list(o)
assert o["file"] == sys.argv[2] and o["fcs_version"] == "FCS3.0" and o["n_datasets"] == 1
d = o["datasets"][0]
assert list(d) == ["index", "offset", "tot", "par", "datatype", "byteord", "mode", "data_segment",
                   "timestep", "parameters", "keywords", "spillover", "warnings"], list(d)
assert (d["index"], d["offset"], d["tot"], d["par"]) == (0, 0, 2, 3)
assert (d["datatype"], d["byteord"], d["mode"]) == ("I", "1,2,3,4", "L")
assert d["data_segment"] == {"begin": int(sys.argv[3]), "end": int(sys.argv[4]), "from": "HEADER"}, d["data_segment"]
assert d["timestep"] == 0.01
p = d["parameters"]
keys = ["index", "name", "label", "bits", "range", "gain", "log_decades", "log_offset", "datatype", "mask"]
assert all(list(x) == keys for x in p), list(p[0])
assert p[0] == {"index": 1, "name": "FL1-H", "label": "CD3 caf\u00e9", "bits": 16, "range": 1000,
                "gain": 1, "log_decades": 4, "log_offset": 1, "datatype": "I", "mask": 1023}, p[0]
assert p[1]["gain"] == 2 and p[1]["label"] is None and p[1]["mask"] == 1023, p[1]
assert p[2]["name"] == "Time" and p[2]["range"] == 65536 and p[2]["mask"] is None, p[2]
# integral numbers are JSON integers
assert all(isinstance(x[k], int) for x in p for k in ("bits", "range", "gain", "log_decades", "log_offset"))
k = d["keywords"]
names = list(k)
assert names[:6] == ["$BEGINANALYSIS", "$ENDANALYSIS", "$BEGINSTEXT", "$ENDSTEXT", "$BEGINDATA",
                     "$ENDDATA"], names[:6]
assert names.index("$P1N") < names.index("$P2N") < names.index("WEIRD") < names.index("LINES")
assert k["WEIRD"] == 'a"b\\c\x01d\u00e9f\x7fg', repr(k["WEIRD"])
assert k["UTF8"] == "caf\u00e9 \U0001F600", repr(k["UTF8"])
assert k["BROKEN"] == b"\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80\xe2\x82".decode("latin-1"), repr(k["BROKEN"])
assert k["LINES"] == "x\ty\nz\r", repr(k["LINES"])
assert k["$TOT"] == "2" and k["$P1S"] == "CD3 caf\u00e9"
s = d["spillover"]
assert s == {"keyword": "$SPILLOVER", "names": ["FL1-H", "FL2-H"], "matrix": [[1, 0.1], [0.05, 1]]}, s
assert d["warnings"] == [], d["warnings"]
EOF

# two data sets
"$INFO" --json "$W/two.fcs" >"$W/two.json"
python3 - "$W/two.json" "$LEN0" "$B1" "$E1" <<'EOF' || bad "fcs-info --json of two data sets"
import json, sys
o = json.loads(open(sys.argv[1]).read())
assert o["n_datasets"] == 2 and len(o["datasets"]) == 2, o["n_datasets"]
d = o["datasets"][1]
assert (d["index"], d["offset"], d["tot"], d["par"], d["datatype"], d["byteord"]) == \
    (1, int(sys.argv[2]), 3, 1, "F", "4,3,2,1"), d
assert d["data_segment"]["begin"] == int(sys.argv[3]) and d["data_segment"]["end"] == int(sys.argv[4])
assert d["timestep"] is None and d["spillover"] is None
assert d["parameters"][0]["mask"] is None and d["parameters"][0]["datatype"] == "F"
assert "WEIRD" not in d["keywords"], "keywords of data set 0 leaked into data set 1"
assert o["datasets"][0]["keywords"]["$NEXTDATA"] == sys.argv[2]
EOF

# ---- several files, a bad one among them, stdin, gzip ----------------------------------------
printf 'FCS3.0    garbage that is not a HEADER at all.................................\n' >"$W/bad.fcs"
RC=0
"$INFO" --json "$W/one.fcs" "$W/bad.fcs" "$W/two.fcs" >"$W/many.json" 2>"$W/err" || RC=$?
[ "$RC" = 1 ] || bad "good+bad+good: exit $RC, want 1"
[ "$(wc -l <"$W/many.json")" = 2 ] || bad "good+bad+good: $(wc -l <"$W/many.json") JSON lines, want 2"
[ "$(wc -l <"$W/err")" = 1 ] && grep -q "^fcs-info: $W/bad.fcs: " "$W/err" ||
    bad "good+bad+good: stderr: $(cat "$W/err")"
python3 - "$W/many.json" "$W" <<'EOF' || bad "good+bad+good: JSON lines"
import json, sys
objs = [json.loads(l) for l in open(sys.argv[1])]
assert [o["file"] for o in objs] == [sys.argv[2] + "/one.fcs", sys.argv[2] + "/two.fcs"]
EOF
gzip -c "$W/two.fcs" | "$INFO" --json - >"$W/gz.json"
"$INFO" --json - <"$W/two.fcs" >"$W/stdin.json"
python3 - "$W/two.json" "$W/gz.json" "$W/stdin.json" <<'EOF' || bad "gzip / stdin: other description"
import json, sys
a, b, c = (json.loads(open(p).read()) for p in sys.argv[1:4])
assert b["file"] == "-" and c["file"] == "-", (b["file"], c["file"])
for x in (b, c):
    x["file"] = a["file"]
assert a == b, "gzip -c | fcs-info --json - differs"
assert a == c, "fcs-info --json - < file differs"
EOF
"$INFO" --json "$W/one.fcs" "$W/two.fcs" "$W/one.fcs" | python3 -c '
import json, sys
lines = sys.stdin.read().split("\n")
assert lines[-1] == "" and len(lines) == 4, len(lines)
for l in lines[:-1]: json.loads(l)
' || bad "three files: not three JSON lines"

# ---- text mode -------------------------------------------------------------------------------
"$INFO" "$W/one.fcs" >"$W/one.txt"
python3 - "$W/one.txt" <<'EOF' || bad "text mode"
import sys
t = open(sys.argv[1], "rb").read()
assert not any(b < 0x20 and b not in (0x09, 0x0a) for b in t), "raw control byte on the terminal"
s = t.decode("latin-1")
for want in ("version: FCS3.0", "data sets: 1", "2 events x 3 parameters", "$DATATYPE I",
             "FL1-H\tCD3 caf", "log 4 decades, offset 1", "(time)", "spillover ($SPILLOVER): 2 x 2",
             'WEIRD = a"b\\c\\x01d', "\\x7fg", "LINES = x\\x09y\\x0az\\x0d", "$TIMESTEP 0.01"):
    assert want in s, "missing %r" % want
EOF

# ---- a truncated DATA segment: the same verdict from a file, a pipe and gzip ------------------
# (a file's sizes are checked at open; a pipe or gzip stream is read through to its end)
python3 - "$W" <<'EOF'
import struct, sys
w = sys.argv[1]
def fcs(tot, data):
    kw = [("$BYTEORD", "1,2,3,4"), ("$DATATYPE", "F"), ("$MODE", "L"), ("$NEXTDATA", "0"),
          ("$PAR", "2"), ("$TOT", str(tot)), ("$P1N", "A"), ("$P1B", "32"), ("$P1R", "1024"),
          ("$P1E", "0,0"), ("$P2N", "B"), ("$P2B", "32"), ("$P2R", "1024"), ("$P2E", "0,0")]
    db = de = 0
    for _ in range(4):
        t = ("/" + "".join("%s/%s/" % kv for kv in kw + [("$BEGINDATA", db), ("$ENDDATA", de)])).encode()
        db = 58 + len(t)
        de = db + 8 * tot - 1
    return b"FCS3.0    " + b"".join(b"%8d" % v for v in (58, 57 + len(t), 0, 0, 0, 0)) + t + data
full = fcs(50000, struct.pack("<100000f", *range(100000))) + b"00000000"
open(w + "/full.fcs", "wb").write(full)
open(w + "/cut.fcs", "wb").write(full[:len(full) // 2])        # half the events
# $TOT 10^11 (800 GB announced), 2 KB there: refused without an allocation of that size
open(w + "/bigtot.fcs", "wb").write(fcs(10 ** 11, b"\0" * 2048))
EOF
gzip -c "$W/cut.fcs" >"$W/cut.fcs.gz"
gzip -c "$W/full.fcs" >"$W/full.fcs.gz"
# truncated WHAT NAME CMD...: exit 1, one line "fcs-info: NAME: ...DATA...", nothing on stdout
truncated() {
    local what=$1 name=$2 rc=0
    shift 2
    "$@" >"$W/out" 2>"$W/err" || rc=$?
    [ "$rc" = 1 ] || bad "$what: exit $rc, want 1"
    [ "$(wc -l <"$W/err")" = 1 ] && grep -q "^fcs-info: $name: .*DATA" "$W/err" ||
        bad "$what: stderr: $(cat "$W/err")"
    [ -s "$W/out" ] && bad "$what: described it on stdout"
    return 0
}
truncated "truncated file" "$W/cut.fcs" "$INFO" --json "$W/cut.fcs"
truncated "truncated file, pipe" "<stdin>" sh -c 'cat "$1" | "$2" --json -' sh "$W/cut.fcs" "$INFO"
truncated "truncated file, text, pipe" "<stdin>" sh -c 'cat "$1" | "$2" -' sh "$W/cut.fcs" "$INFO"
truncated "truncated file, gzip" "$W/cut.fcs.gz" "$INFO" --json "$W/cut.fcs.gz"
truncated "truncated file, gzip pipe" "<stdin>" sh -c '"$2" - <"$1"' sh "$W/cut.fcs.gz" "$INFO"
truncated "header-only stub, pipe" "<stdin>" sh -c 'cat "$1" | "$2" --json -' sh "$W/stub.fcs" "$INFO"
if [ "${FCS_SANITIZE:-0}" = 1 ]; then # ASan reserves terabytes of address space
    truncated "\$TOT 1e11, pipe" "<stdin>" sh -c 'cat "$1" | "$2" -' sh "$W/bigtot.fcs" "$INFO"
else
    truncated "\$TOT 1e11, pipe, 200 MB of memory" "<stdin>" \
        sh -c 'ulimit -v 200000; cat "$1" | "$2" -' sh "$W/bigtot.fcs" "$INFO"
fi
# complete streams describe as the file does, and --metadata-only does not read DATA
"$INFO" --json "$W/full.fcs" >"$W/full.json"
for how in pipe gzip; do
    rc=0
    if [ $how = pipe ]; then "$INFO" --json - < <(cat "$W/full.fcs") >"$W/s.json" 2>"$W/err" || rc=$?
    else "$INFO" --json - <"$W/full.fcs.gz" >"$W/s.json" 2>"$W/err" || rc=$?; fi
    [ "$rc" = 0 ] && [ ! -s "$W/err" ] || bad "complete file, $how: exit $rc: $(cat "$W/err")"
    python3 -c '
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
a.pop("file"); b.pop("file")
assert a == b, "differs"' "$W/full.json" "$W/s.json" || bad "complete file, $how: other description"
done
"$INFO" --metadata-only - < <(cat "$W/cut.fcs") >/dev/null 2>"$W/err" ||
    bad "--metadata-only of a truncated pipe: $(cat "$W/err")"

# ---- --strict and --metadata-only ------------------------------------------------------------
"$INFO" --json "$W/offbyone.fcs" >"$W/obo.json"
python3 -c '
import json, sys
w = json.loads(open(sys.argv[1]).read())["datasets"][0]["warnings"]
assert any(x.startswith("data-end-off-by-one: ") for x in w), w
' "$W/obo.json" || bad "off-by-one \$ENDDATA: no data-end-off-by-one warning"
RC=0
"$INFO" --strict --json "$W/offbyone.fcs" >"$W/out" 2>"$W/err" || RC=$?
[ "$RC" = 1 ] && [ ! -s "$W/out" ] && [ "$(wc -l <"$W/err")" = 1 ] ||
    bad "--strict of a repairable file: exit $RC, $(wc -c <"$W/out") bytes out, err $(cat "$W/err")"
RC=0
"$INFO" --json "$W/stub.fcs" >"$W/out" 2>"$W/err" || RC=$?
[ "$RC" = 1 ] || bad "header-only stub without --metadata-only: exit $RC, want 1"
"$INFO" --json --metadata-only "$W/stub.fcs" >"$W/stub.json" || bad "--metadata-only of a stub failed"
python3 -c '
import json, sys
d = json.loads(open(sys.argv[1]).read())["datasets"][0]
assert d["tot"] == 3 and d["par"] == 1 and d["parameters"][0]["name"] == "X", d
assert any(x.startswith("data-truncated: ") for x in d["warnings"]), d["warnings"]
' "$W/stub.json" || bad "--metadata-only of a stub: description"

# ---- corpus (optional) ---------------------------------------------------------------------
C=${FCS_CORPUS:-}
if [ -n "$C" ] && [ -d "$C/files" ]; then
    python3 - "$INFO" "$C" <<'EOF' || bad "corpus files"
import json, os, subprocess, sys
info, c = sys.argv[1], sys.argv[2]
ok = True
for id_ in ("FlowKit__data__test_comp_example.fcs", "FlowKit__data__multi_dataset_fcs__coulter.lmd",
            "FlowIO__data__fcs_files__3FITC_4PE_004.fcs"):
    exp = json.load(open(os.path.join(c, "expected", id_ + ".json")))
    path = os.path.join(c, "files", exp["file"])
    p = subprocess.run([info, "--json", path], capture_output=True)
    if p.returncode != 0:
        print("  %s: exit %d %s" % (id_, p.returncode, p.stderr.decode(errors="replace")))
        ok = False
        continue
    o = json.loads(p.stdout)
    got = [(d["tot"], d["par"], [x["name"] for x in d["parameters"]]) for d in o["datasets"]]
    want = [(d["tot"], d["par"], d["names"]) for d in exp["datasets"]]
    if o["fcs_version"] != exp["fcs_version"] or got != want:
        print("  %s: %s / %s" % (id_, o["fcs_version"], got[0][:2]))
        ok = False
# malformed: one line naming the file, exit 1
for m in ("fcsparser/corrupted.fcs", "FCSFiles.jl/testFCS2.fcs"):
    path = os.path.join(c, "malformed", m)
    p = subprocess.run([info, "--json", path], capture_output=True)
    err = p.stderr.decode(errors="replace")
    if p.returncode != 1 or p.stdout or err.count("\n") != 1 or not err.startswith("fcs-info: %s: " % path):
        print("  %s: exit %d, stderr %r" % (m, p.returncode, err))
        ok = False
# the header-only stub of the corpus reads with --metadata-only
path = os.path.join(c, "malformed", "fcsparser", "sample_header.fcs")
p = subprocess.run([info, "--json", "--metadata-only", path], capture_output=True)
if p.returncode != 0 or json.loads(p.stdout)["datasets"][0]["tot"] != 20000:
    print("  sample_header.fcs --metadata-only: exit %d" % p.returncode)
    ok = False
sys.exit(0 if ok else 1)
EOF
else
    echo "note: corpus not found (FCS_CORPUS=${C:-unset}); corpus checks skipped"
fi

if [ "$fail" = 0 ]; then echo "info_json: all checks passed"; fi
exit "$fail"
