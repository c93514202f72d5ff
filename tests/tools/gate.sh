#!/usr/bin/env bash
# gate.sh — fcs-gate in real pipes, membership checked by an independent
# implementation (plain Python: rectangle, polygon by crossings, logicle by
# bisection on the Gating-ML 2.0 formula; nothing here uses libfcs):
#   1. fcs-synth | fcs-gate -g gates.txt: one POP:<path> parameter per
#      population with the Python membership (parents applied), the input's
#      parameters unchanged, LIBFCS_GATING (SHA-256 of the strategy file) and
#      LIBFCS_POPULATIONS / _PATH / _PARENT / _PAR; fcs-stats counts them;
#      gating the output again replaces the populations (no duplicates);
#   2. --keep POP (id or /path): the same events from a file (two passes)
#      and from a pipe (writer buffers, n_events -1); $TOT right;
#   3. --list: the tree (exact text), with counts from a FILE;
#   4. --convert text <-> gatingml: canonical text back, same membership;
#   5. no double application: a spilled stream with $SPILLOVER gated with a
#      compensating + logicle strategy, the same after fcs-comp, and after
#      fcs-comp | fcs-xform (float32 rounding of the stream aside: at most
#      a few events on a boundary); refusals of mismatched streams (exit 1);
#   6. errors: strategy syntax (FILE:LINE:COL), missing channel, unknown
#      population, usage (exit 2), -o leaves nothing behind; a broken pipe
#      ends quietly;
#   7. with the corpus: every Gating-ML 2.0 compliance case gated by
#      fcs-gate and read back with fcs-export equals its truth file;
#   8. regressions: -o onto the strategy refused (also --convert), `| true`
#      ends quietly, an empty strategy and too deep a tree are errors naming
#      the strategy, LIBFCS_GATING_TEXT and LIBFCS_SOURCES in the stream.
# Env (set by CTest): FCS_BIN, FCS_TMP, FCS_CORPUS.
set -euo pipefail
# logicle_ref.py (the shared independent logicle reference) sits beside this script.
export PYTHONPATH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
: "${FCS_BIN:?}"
for t in fcs-synth fcs-gate fcs-export fcs-info fcs-comp fcs-xform; do
    [ -x "$FCS_BIN/$t" ] || { echo "SKIP: $FCS_BIN/$t not built"; exit 77; }
done
command -v python3 >/dev/null || { echo "SKIP: python3 not found"; exit 77; }
command -v sha256sum >/dev/null || { echo "SKIP: sha256sum not found"; exit 77; }
mkdir -p "${FCS_TMP:-/tmp}"
W=$(mktemp -d "${FCS_TMP:-/tmp}/gate.XXXXXX")
trap 'rm -rf "$W"' EXIT
SYNTH="$FCS_BIN/fcs-synth" GATE="$FCS_BIN/fcs-gate" EXPORT="$FCS_BIN/fcs-export"
INFO="$FCS_BIN/fcs-info" COMP="$FCS_BIN/fcs-comp" XFORM="$FCS_BIN/fcs-xform"
fail=0
bad() { echo "FAIL: $*"; fail=1; }

cat >"$W/ref.py" <<'EOF'
"""Independent gate evaluation for gate.sh (plain Python)."""
import math, sys

from logicle_ref import Logicle  # tests/tools/logicle_ref.py


L = Logicle(262144, 0.5, 4.5, 0)

def inside_polygon(x, y, v):
    """Even-odd rule by ray crossings; points on an edge count as inside."""
    n, c = len(v), False
    for i in range(n):
        (ax, ay), (bx, by) = v[i], v[(i + 1) % n]
        if min(ax, bx) <= x <= max(ax, bx) and min(ay, by) <= y <= max(ay, by) and \
                (bx - ax) * (y - ay) == (x - ax) * (by - ay):
            return True
        if (ay > y) != (by > y) and x < ax + (y - ay) * (bx - ax) / (by - ay):
            c = not c
    return c

LYMPH = [(25000, 2000), (110000, 2000), (130000, 60000), (40000, 70000)]

def populations(e):
    """The strategy of gates.txt, population by population (parents applied)."""
    fsc, ssc = e["FSC-A"], e["SSC-A"]
    cd3, cd19, cd4, cd8 = (L(e[c]) for c in ("FITC-A", "PE-A", "APC-A", "BV421-A"))
    cells = fsc >= 20000 and ssc < 200000
    lym = cells and inside_polygon(fsc, ssc, LYMPH)
    t = lym and cd3 >= 0.55
    return {"/Cells": cells, "/Cells/Lymphocytes": lym, "/Cells/Lymphocytes/T": t,
            "/Cells/Lymphocytes/T/CD4": t and cd4 >= 0.55 and cd8 < 0.5,
            "/Cells/Lymphocytes/T/CD8": t and cd8 >= 0.55 and cd4 < 0.5,
            "/Cells/Lymphocytes/B": lym and cd19 >= 0.55 and cd3 < 0.5,
            "/Cells/Lymphocytes/NotT": lym and not t}

def read_tsv(path):
    with open(path) as f:
        head = f.readline().rstrip("\n").split("\t")
        rows = [dict(zip(head, map(float, l.rstrip("\n").split("\t")))) for l in f]
    return head, rows

def check_membership(path):
    """Every POP: column equals the Python membership; prints the counts."""
    head, rows = read_tsv(path)
    want = [populations(r) for r in rows]
    pops = [h[4:] for h in head if h.startswith("POP:")]
    if sorted(pops) != sorted(want[0].keys()):
        sys.exit("populations %s, expected %s" % (pops, sorted(want[0])))
    for p in pops:
        got = [r["POP:" + p] for r in rows]
        bad = [i for i, (g, w) in enumerate(zip(got, want)) if g != (1.0 if w[p] else 0.0)]
        if bad:
            sys.exit("%s: %d events differ (first: event %d)" % (p, len(bad), bad[0]))
        n = sum(1 for w in want if w[p])
        if not 0 < n < len(rows):
            sys.exit("%s: %d of %d events: the test would prove nothing" % (p, n, len(rows)))
        print("%s\t%d" % (p, n))

def same_columns(a, b, tol):
    """POP: columns of two exports: at most tol events differ per population."""
    ha, ra = read_tsv(a)
    hb, rb = read_tsv(b)
    pops = [h for h in ha if h.startswith("POP:")]
    if pops != [h for h in hb if h.startswith("POP:")] or len(ra) != len(rb):
        sys.exit("different populations or event counts")
    worst = 0
    for p in pops:
        d = sum(1 for x, y in zip(ra, rb) if x[p] != y[p])
        worst = max(worst, d)
        if d > tol:
            sys.exit("%s: %d events differ" % (p, d))
    print(worst)

def truth(export, column, path):
    """A POP: column of an fcs-export table against a truth file (one 0/1 per line)."""
    head, rows = read_tsv(export)
    want = [int(l) for l in open(path) if l.strip()]
    got = [int(r[column]) for r in rows]
    if got != want:
        sys.exit("%d of %d events differ" % (sum(1 for a, b in zip(got, want) if a != b), len(want)))

if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "check":
        check_membership(sys.argv[2])
    elif cmd == "same":
        same_columns(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif cmd == "truth":
        truth(sys.argv[2], sys.argv[3], sys.argv[4])
EOF

cat >"$W/gates.txt" <<'EOF'
# sample-like channels: scatter, CD3 FITC, CD19 PE, CD4 APC, CD8 BV421
transform L = logicle(T=262144, W=0.5, M=4.5, A=0)
Cells: rectangle FSC-A [20000, ), SSC-A [, 200000)
  Lymphocytes: polygon FSC-A, SSC-A [(25000, 2000), (110000, 2000), (130000, 60000),
                                     (40000, 70000)]
    T: rectangle L(FITC-A) [0.55, )
      CD4: range L(APC-A) [0.55, ), L(BV421-A) [, 0.5)
      CD8: rectangle L(BV421-A) [0.55, ), L(APC-A) [, 0.5)
    B: rectangle logicle(PE-A) [0.55, ), L(FITC-A) [, 0.5)
    NotT: not T
EOF
"$SYNTH" --seed 17 -n 20000 --truth --no-version -o "$W/s.fcs"

# ---- 1. annotation --------------------------------------------------------------------
"$SYNTH" --seed 17 -n 20000 --truth --no-version | "$GATE" -g "$W/gates.txt" --no-version >"$W/g.fcs"
"$EXPORT" "$W/g.fcs" >"$W/g.tsv"
python3 "$W/ref.py" check "$W/g.tsv" >"$W/counts.txt" || bad "membership differs from Python"
"$EXPORT" "$W/s.fcs" >"$W/s.tsv"
cut -f1-9 "$W/g.tsv" | cmp -s - "$W/s.tsv" || bad "input parameters changed by gating"
head -1 "$W/g.tsv" | tr '\t' '\n' | tail -n 7 | tr '\n' ' ' >"$W/pops"
[ "$(cat "$W/pops")" = "POP:/Cells POP:/Cells/Lymphocytes POP:/Cells/Lymphocytes/T POP:/Cells/Lymphocytes/T/CD4 POP:/Cells/Lymphocytes/T/CD8 POP:/Cells/Lymphocytes/B POP:/Cells/Lymphocytes/NotT " ] ||
    bad "population parameters: $(cat "$W/pops")"
"$INFO" --json "$W/g.fcs" >"$W/g.json"
sha=$(sha256sum "$W/gates.txt" | cut -d' ' -f1)
python3 - "$W/g.json" "$sha" "$W/gates.txt" <<'EOF' || bad "keywords of the annotated stream"
import json, sys
d = json.loads(open(sys.argv[1]).readline())["datasets"][0]
k = d["keywords"]
want = "source=file:%s;sha256=%s;format=text" % (sys.argv[3], sys.argv[2])
assert k["LIBFCS_GATING"] == want, k["LIBFCS_GATING"]
assert k["LIBFCS_POPULATIONS"] == "7"
assert k["LIBFCS_POP4_PATH"] == "/Cells/Lymphocytes/T/CD4", k["LIBFCS_POP4_PATH"]
assert k["LIBFCS_POP4_PARENT"] == "/Cells/Lymphocytes/T"
assert k["LIBFCS_POP1_PARENT"] == "/"
for i in range(1, 8):
    par = int(k["LIBFCS_POP%d_PAR" % i])
    p = d["parameters"][par - 1]
    assert p["name"] == "POP:" + k["LIBFCS_POP%d_PATH" % i], p
    assert p["range"] == 2 and p["label"] == k["LIBFCS_POP%d_PATH" % i].rsplit("/", 1)[1], p
assert "LIBFCS_TOOL" not in k
EOF
if [ -x "$FCS_BIN/fcs-stats" ]; then
    "$FCS_BIN/fcs-stats" --tsv "$W/g.fcs" 2>/dev/null | awk -F'\t' '$4 == "count" && $2 != "/" {print $2 "\t" $8}' \
        | sort >"$W/stats_counts.txt" || true
    sort "$W/counts.txt" | cmp -s - "$W/stats_counts.txt" || bad "fcs-stats counts differ: $(head -3 "$W/stats_counts.txt")"
fi
"$GATE" -g "$W/gates.txt" "$W/g.fcs" | "$EXPORT" - >"$W/gg.tsv"
[ "$(head -1 "$W/gg.tsv" | tr '\t' '\n' | grep -c '^POP:')" = 7 ] || bad "gating twice duplicated the populations"
cmp -s "$W/g.tsv" "$W/gg.tsv" || bad "gating twice changed the values"

# ---- 2. --keep ----------------------------------------------------------------------------
"$GATE" -g "$W/gates.txt" --keep CD4 "$W/s.fcs" >"$W/k1.fcs"
"$SYNTH" --seed 17 -n 20000 --truth --no-version | "$GATE" -g "$W/gates.txt" --keep /Cells/Lymphocytes/T/CD4 - >"$W/k2.fcs"
"$EXPORT" "$W/k1.fcs" >"$W/k1.tsv"
"$EXPORT" "$W/k2.fcs" >"$W/k2.tsv"
cmp -s "$W/k1.tsv" "$W/k2.tsv" || bad "--keep from a file and from a pipe differ"
n_cd4=$(awk -F'\t' '$1 == "/Cells/Lymphocytes/T/CD4" {print $2}' "$W/counts.txt")
[ "$(($(wc -l <"$W/k1.tsv") - 1))" = "$n_cd4" ] || bad "--keep kept $(($(wc -l <"$W/k1.tsv") - 1)) events, want $n_cd4"
col=$(head -1 "$W/g.tsv" | tr '\t' '\n' | grep -n '^POP:/Cells/Lymphocytes/T/CD4$' | cut -d: -f1)
awk -F'\t' -v c="$col" 'NR == 1 || $c == 1' "$W/g.tsv" | cut -f1-9 | cmp -s - "$W/k1.tsv" || bad "--keep kept other events"
"$INFO" "$W/k2.fcs" | grep -q "$n_cd4 events x 9 parameters" || bad "--keep on a pipe: \$TOT"
"$INFO" "$W/k2.fcs" | grep -q "LIBFCS_GATE_KEEP = /Cells/Lymphocytes/T/CD4" || bad "LIBFCS_GATE_KEEP"

# ---- 3. --list -------------------------------------------------------------------------------
"$GATE" --list -g "$W/gates.txt" >"$W/list.txt"
cat >"$W/list.want" <<'EOF'
Cells          rectangle FSC-A, SSC-A
  Lymphocytes  polygon FSC-A, SSC-A
    T          rectangle L(FITC-A)
      CD4      rectangle L(APC-A), L(BV421-A)
      CD8      rectangle L(BV421-A), L(APC-A)
    B          rectangle L(PE-A), L(FITC-A)
    NotT       not T
EOF
diff "$W/list.want" "$W/list.txt" >/dev/null || bad "--list: $(diff "$W/list.want" "$W/list.txt" | head -5)"
"$GATE" --list -g "$W/gates.txt" "$W/s.fcs" >"$W/listc.txt"
awk 'NR > 2 {print $2}' "$W/listc.txt" | tr '\n' ' ' >"$W/lc"
cut -f2 "$W/counts.txt" | tr '\n' ' ' >"$W/pc"
cmp -s "$W/lc" "$W/pc" || bad "--list counts $(cat "$W/lc") vs Python $(cat "$W/pc")"
grep -q '^/  *20000  *100.00  *100.00$' "$W/listc.txt" || bad "--list: total line"

# ---- 4. --convert --------------------------------------------------------------------------------
"$GATE" --convert gatingml -g "$W/gates.txt" -o "$W/gates.xml"
head -c 5 "$W/gates.xml" | grep -q '<?xml' || bad "--convert gatingml wrote no XML"
"$GATE" --convert text -g "$W/gates.xml" >"$W/back.txt"
"$GATE" --convert text -g "$W/gates.txt" >"$W/canon.txt"
cmp -s "$W/back.txt" "$W/canon.txt" || bad "text -> Gating-ML -> text is not the canonical text"
"$GATE" --convert text -g - <"$W/back.txt" | cmp -s - "$W/canon.txt" || bad "canonical text is not stable"
"$GATE" -g "$W/gates.xml" --no-version "$W/s.fcs" | "$EXPORT" - >"$W/gx.tsv"
python3 "$W/ref.py" same "$W/g.tsv" "$W/gx.tsv" 0 >/dev/null || bad "the Gating-ML strategy gates differently"

# ---- 5. no double application ------------------------------------------------------------------
printf 'FITC-A,PE-A,APC-A,BV421-A\n1,0.15,0.02,0\n0.05,1,0.1,0.01\n0,0.08,1,0.12\n0.03,0,0.06,1\n' >"$W/spill.csv"
"$COMP" --decompensate -m "$W/spill.csv" --no-version "$W/s.fcs" >"$W/raw.fcs" 2>/dev/null
sed -e 's/L(FITC-A)/L(FITC-A@FCS)/g; s/L(PE-A)/L(PE-A@FCS)/g; s/logicle(PE-A)/logicle(PE-A@FCS)/g' \
    -e 's/L(APC-A)/L(APC-A@FCS)/g; s/L(BV421-A)/L(BV421-A@FCS)/g' "$W/gates.txt" >"$W/gcomp.txt"
grep -q 'L(BV421-A@FCS) \[, 0.5)' "$W/gcomp.txt" || bad "test set-up: sed"
LGC='logicle(T=262144,W=0.5,M=4.5,A=0)'
"$GATE" -g "$W/gcomp.txt" "$W/raw.fcs" | "$EXPORT" - >"$W/n_raw.tsv"
"$COMP" "$W/raw.fcs" | "$GATE" -g "$W/gcomp.txt" - | "$EXPORT" - >"$W/n_comp.tsv"
"$COMP" "$W/raw.fcs" | "$XFORM" -t "$LGC:FITC-A,PE-A,APC-A,BV421-A" | "$GATE" -g "$W/gcomp.txt" - \
    | "$EXPORT" - >"$W/n_both.tsv"
# the stream stores float32: an event within rounding of a boundary may fall either way
python3 "$W/ref.py" same "$W/n_raw.tsv" "$W/n_comp.tsv" 3 >"$W/d1" || bad "compensated stream gated differently"
python3 "$W/ref.py" same "$W/n_raw.tsv" "$W/n_both.tsv" 3 >"$W/d2" || bad "compensated+transformed stream gated differently"
# the compensating strategy on the spilled data = the plain strategy on the original data
python3 "$W/ref.py" same "$W/n_raw.tsv" "$W/g.tsv" 3 >"$W/d3" || bad "compensation inside the strategy"
# refusals: another transform, or an uncompensated strategy on compensated channels
if "$COMP" "$W/raw.fcs" | "$XFORM" -t 'asinh(150):FITC-A' | "$GATE" -g "$W/gcomp.txt" - >/dev/null 2>"$W/err"; then
    bad "a different transform was accepted"
fi
grep -q "fcs-gate: <stdin>: gate 'T': the dimension on FITC-A asks for transform 'L' = $LGC, but the stream carries LIBFCS_P4TRANSFORM=asinh(cofactor=150): refusing to guess" "$W/err" ||
    bad "message: $(cat "$W/err")"
if "$COMP" "$W/raw.fcs" | "$GATE" -g "$W/gates.txt" - >/dev/null 2>"$W/err"; then
    bad "uncompensated gates on a compensated stream were accepted"
fi
grep -q "asks for uncompensated values, but the stream's channel is compensated (LIBFCS_COMP: compensate with \$SPILLOVER)" "$W/err" ||
    bad "message: $(cat "$W/err")"
if "$XFORM" -t "$LGC:FITC-A" "$W/raw.fcs" | "$GATE" -g "$W/gcomp.txt" - >/dev/null 2>"$W/err"; then
    bad "transformed-before-compensated stream was accepted"
fi
grep -q "not compensated, and compensation 'FCS' needs linear values" "$W/err" || bad "message: $(cat "$W/err")"

# ---- 6. errors ------------------------------------------------------------------------------------
expect() { # expect CODE MESSAGE-PART CMD...
    local code=$1 part=$2 rc=0
    shift 2
    "$@" >/dev/null 2>"$W/err" || rc=$?
    [ "$rc" = "$code" ] || bad "exit $rc (want $code): $* ($(cat "$W/err"))"
    grep -qF -- "$part" "$W/err" || bad "message of '$*': $(cat "$W/err") (want '$part')"
}
printf 'A: rectangle FSC-A [0, 1)\n  B: polygon FSC-A, SSC-A [(0, 0), (1, 1)\n' >"$W/bad.txt"
expect 1 "fcs-gate: $W/bad.txt:2:27: bracket opened here is never closed" "$GATE" -g "$W/bad.txt" "$W/s.fcs"
printf 'A: rectangle CD99 [0, 1)\n' >"$W/miss.txt"
expect 1 "fcs-gate: $W/s.fcs: gate 'A': channel 'CD99' is not in the data" "$GATE" -g "$W/miss.txt" "$W/s.fcs"
expect 1 "no population 'nope'" "$GATE" -g "$W/gates.txt" --keep nope "$W/s.fcs"
expect 1 "cannot open" "$GATE" -g "$W/nonexistent.txt" "$W/s.fcs"
expect 2 "no strategy" "$GATE" "$W/s.fcs"
expect 2 "--keep cannot go with --list" "$GATE" -g "$W/gates.txt" --keep T --list "$W/s.fcs"
expect 2 "--convert takes only -g and -o" "$GATE" --convert text -g "$W/gates.txt" "$W/s.fcs"
expect 2 "neither 'text' nor 'gatingml'" "$GATE" --convert yaml -g "$W/gates.txt"
expect 2 "can be read only once" "$GATE" -g - -
expect 2 "one input file at a time" "$GATE" -g "$W/gates.txt" "$W/s.fcs" "$W/s.fcs"
printf 'transform A = asinh(cofactor=5)\nX: rectangle A(FITC-A) [0, 1)\n' >"$W/asinh.txt"
expect 1 "asinh has no Gating-ML 2.0 form" "$GATE" --convert gatingml -g "$W/asinh.txt" -o "$W/asinh.xml"
[ ! -e "$W/asinh.xml" ] || bad "--convert left a file behind"
expect 1 "gate 'A': channel 'CD99'" "$GATE" -g "$W/miss.txt" -o "$W/out.fcs" "$W/s.fcs"
[ -z "$(ls "$W" | grep '^out.fcs')" ] || bad "-o left a file behind: $(ls "$W" | grep out.fcs)"
set +o pipefail
"$GATE" -g "$W/gates.txt" "$W/s.fcs" 2>"$W/err" | head -c 100 >/dev/null
rc=${PIPESTATUS[0]}
set -o pipefail
[ "$rc" = 0 ] && [ ! -s "$W/err" ] || bad "broken pipe: exit $rc, $(cat "$W/err")"

# ---- 8. regressions (review 2): inputs are never outputs, the strategy travels -------------
# -o onto the strategy (-g): refused, the strategy unchanged (also for --convert)
cp "$W/gates.txt" "$W/g8.txt"
rc=0; "$GATE" -g "$W/g8.txt" -o "$W/g8.txt" "$W/s.fcs" 2>"$W/err" || rc=$?
[ "$rc" = 1 ] && cmp -s "$W/gates.txt" "$W/g8.txt" && grep -q "same file as input" "$W/err" &&
    [ "$(wc -l <"$W/err")" = 1 ] || bad "-o onto -g: exit $rc, $(cat "$W/err")"
rc=0; "$GATE" --convert gatingml -g "$W/g8.txt" -o "$W/g8.txt" 2>"$W/err" || rc=$?
[ "$rc" = 1 ] && cmp -s "$W/gates.txt" "$W/g8.txt" || bad "--convert -o onto -g: exit $rc, $(cat "$W/err")"
# a reader that leaves before the header is written: a quiet end (exit 0)
set +o pipefail
"$GATE" -g "$W/gates.txt" "$W/s.fcs" 2>"$W/err" | true
rc=${PIPESTATUS[0]}
set -o pipefail
[ "$rc" = 0 ] && [ ! -s "$W/err" ] || bad "| true: exit $rc, $(cat "$W/err")"
# an empty or comments-only strategy is an error, not a stream without populations
: >"$W/empty.txt"
printf '# nothing here\n\n' >"$W/comments.txt"
for e in empty comments; do
    rc=0; "$GATE" -g "$W/$e.txt" "$W/s.fcs" >"$W/e.fcs" 2>"$W/err" || rc=$?
    [ "$rc" = 1 ] && grep -q "$e.txt: no gates in the strategy" "$W/err" ||
        bad "$e strategy: exit $rc, $(cat "$W/err")"
done
# population paths that do not fit the stream: the strategy file and the limit are named
python3 -c '
import sys
with open(sys.argv[1], "w") as f:
    f.write("G0: rectangle FSC-A [0, )\n")
    for i in range(1, 1200):
        f.write("  " * i + "G%d: rectangle FSC-A [0, )\n" % i)
' "$W/deep.txt"
rc=0; "$GATE" -g "$W/deep.txt" "$W/s.fcs" >"$W/e.fcs" 2>"$W/err" || rc=$?
[ "$rc" = 1 ] && grep -q "deep.txt: population path of 'G[0-9]*' is longer than 4095 bytes" "$W/err" ||
    bad "deep strategy: exit $rc, $(cat "$W/err")"
# the stream carries the strategy text (whose SHA-256 is the one in LIBFCS_GATING) and the
# name of the input file (LIBFCS_SOURCES), so that fcs-stats on the pipe names the sample
"$GATE" -g "$W/gates.txt" "$W/s.fcs" | "$INFO" --json - >"$W/g8.json"
"$GATE" -g "$W/gates.txt" - <"$W/s.fcs" | "$INFO" --json - >"$W/g8s.json"
python3 -c '
import hashlib, json, sys
k = json.loads(open(sys.argv[1]).readline())["datasets"][0]["keywords"]
text = open(sys.argv[3], encoding="utf-8").read()
assert k["LIBFCS_GATING_TEXT"] == text, k.get("LIBFCS_GATING_TEXT", "")[:80]
sha = hashlib.sha256(text.encode()).hexdigest()
assert ("sha256=%s;" % sha) in k["LIBFCS_GATING"], k["LIBFCS_GATING"]
assert k["LIBFCS_SOURCES"] == sys.argv[4], k.get("LIBFCS_SOURCES")
k2 = json.loads(open(sys.argv[2]).readline())["datasets"][0]["keywords"]
assert "LIBFCS_SOURCES" not in k2, k2.get("LIBFCS_SOURCES")
assert k2["LIBFCS_GATING_TEXT"] == text
' "$W/g8.json" "$W/g8s.json" "$W/gates.txt" "$W/s.fcs" || bad "LIBFCS_GATING_TEXT / LIBFCS_SOURCES"

# ---- 7. the Gating-ML 2.0 compliance set, end to end ----------------------------------------------
G=${FCS_CORPUS:-}/gatingml2
if [ -n "${FCS_CORPUS:-}" ] && [ -f "$G/cases.tsv" ]; then
    n=0 ok=0
    while IFS=$'\t' read -r fcs xml gid truth _; do
        [ "$fcs" = fcs ] && continue
        n=$((n + 1))
        out="$W/cc_$(basename "$xml" .xml).tsv"
        [ -e "$out" ] || "$GATE" -g "$G/$xml" "$G/$fcs" | "$EXPORT" - >"$out" || continue
        col=$(head -1 "$out" | tr '\t' '\n' | grep -E "^POP:(/[^/]+)*/$gid\$" | head -1)
        if [ -n "$col" ] && python3 "$W/ref.py" truth "$out" "$col" "$G/$truth" 2>"$W/err"; then
            ok=$((ok + 1))
        else
            echo "case $gid ($xml): $(cat "$W/err")"
        fi
    done <"$G/cases.tsv"
    echo "Gating-ML compliance through fcs-gate: $ok/$n cases"
    [ "$ok" = 100 ] && [ "$n" = 100 ] || bad "compliance: $ok/$n"
else
    echo "note: corpus not found (FCS_CORPUS=${FCS_CORPUS:-}): compliance part skipped"
fi

[ "$fail" = 0 ] && echo "gate.sh: all checks passed"
exit $fail
