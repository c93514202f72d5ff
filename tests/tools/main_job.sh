#!/usr/bin/env bash
# main_job.sh — scripts/main-job and fcs-stats -g, end to end on files made here by fcs-synth:
#   * the main job's table (B cells/uL, CAR-T/uL, CAR-T % of T, CD4:CD8) equals awk's
#     arithmetic on `fcs-stats -g STRATEGY FILE` of the raw file (no fcs-comp/fcs-xform
#     stage: fcs-gate's own compensation and transform), and every population count of the
#     cohort equals it: the comp+xform stages change nothing but the scale;
#   * --no-comp / --no-xform: the same counts, statistics on linear values;
#   * --plan: which stages, for the default strategy, for a strategy that gates a channel
#     transformed and untransformed, for one that gates a spillover channel uncompensated,
#     and for a file without spillover; the chain then runs without any double application;
#   * population options (id, /path, none; an unknown one exits 2 naming the option),
#     --beads none, --table, a broken file among good ones (exit 1, the rest merged),
#     usage errors (exit 2);
#   * fcs-stats -g S FILE gives byte for byte the table of fcs-gate -g S FILE | fcs-stats -
#     (raw and compensated+transformed streams), text and Gating-ML strategies alike, the
#     same LIBFCS_GATING record; its errors; with the corpus, integer files gated through
#     the double-precision path match the Gating-ML 2.0 compliance counts.
# Env (set by CTest): FCS_BIN, FCS_SRC, FCS_TMP, FCS_CORPUS.
set -uo pipefail
: "${FCS_BIN:?}" "${FCS_SRC:?}"
for t in fcs-synth fcs-cat fcs-comp fcs-xform fcs-gate fcs-stats fcs-h5 fcs-info; do
    [ -x "$FCS_BIN/$t" ] || { echo "SKIP: $FCS_BIN/$t not built"; exit 77; }
done
mkdir -p "${FCS_TMP:-/tmp}"
W=$(mktemp -d "${FCS_TMP:-/tmp}/main_job.XXXXXX")
trap 'rm -rf "$W"' EXIT
B=$FCS_BIN S=$FCS_SRC/sample_data/strategy.txt X=$FCS_SRC/sample_data/strategy.gating.xml
LOT=$FCS_SRC/sample_data/beads.txt MJ=$FCS_SRC/scripts/main-job
P=/Time/Singlets/Live/Leukocytes/Lymphocytes
fail=0
bad() { echo "FAIL: $*"; fail=1; }
# expect CODE MESSAGE-PART CMD...: exit code and a line of stderr
expect() {
    local code=$1 msg=$2 rc
    shift 2
    "$@" >"$W/out" 2>"$W/err"
    rc=$?
    [ $rc -eq "$code" ] || bad "$* exited $rc, want $code: $(head -2 "$W/err")"
    grep -qF -- "$msg" "$W/err" || bad "$*: no '$msg' in: $(head -3 "$W/err")"
}
# val TSV POP STAT: the value of a population row of a tidy table
val() { awk -F'\t' -v p="$2" -v s="$3" '$2==p && $4==s && $5=="NA" {print $8}' "$1"; }
counts() { "$B/fcs-h5" export "$1" | awk -F'\t' '$4=="count"' | sort; }

mkdir -p "$W/d"
"$B/fcs-synth" --preset day14 -n 6000 --seed 3 --truth --no-version -o "$W/d/a-day14.fcs"
"$B/fcs-synth" --preset baseline -n 6000 --seed 4 --no-version -o "$W/d/b-baseline.fcs"
"$B/fcs-synth" --preset healthy -n 6000 --seed 5 --no-version -o "$W/d/c-healthy.fcs"
cp "$S" "$W/d/strategy.txt"
cp "$LOT" "$W/d/beads.txt"

# ---- the main job ------------------------------------------------------------------------------
bash "$MJ" -b "$B" -o "$W/c1/cohort.h5" "$W/d" >"$W/job.out" 2>"$W/job.err" ||
    bad "main-job failed: $(tail -3 "$W/job.out" "$W/job.err")"
[ -s "$W/c1/cohort.h5" ] || bad "no cohort.h5"
for n in a-day14 b-baseline c-healthy; do
    [ -s "$W/c1/main-job/$n.h5ad" ] && [ -s "$W/c1/main-job/$n.log" ] || bad "$n: no per-sample summary/log"
done
grep -q "chain: fcs-cat FILE | fcs-comp - | fcs-xform -t 'logicle(T=262144,W=0.5,M=4.5,A=0):" "$W/job.out" ||
    bad "the chain shown: $(grep chain "$W/job.out")"
# the table against awk on fcs-stats -g of the raw files
for n in a-day14 b-baseline c-healthy; do
    "$B/fcs-stats" -g "$S" --beads /Time/Beads --bead-lot "$LOT" -s mean --sample-id "$n" \
        "$W/d/$n.fcs" >"$W/$n.tsv" 2>"$W/err" || bad "fcs-stats -g $n: $(cat "$W/err")"
    want=$(awk -F'\t' -v n="$n" -v P="$P" '
        $5 != "NA" { next }
        { v[$2, $4] = $8 }
        function r(a, b, k) { return b + 0 == 0 ? "NA" : sprintf("%.2f", k * a / b) }
        END { printf "%s %d %d %.1f%% %.1f %.1f %s %s\n", n, v["/", "count"], v["/Time/Beads", "count"],
                     100 / sqrt(v["/Time/Beads", "count"]), v[P "/B", "cells_per_ul"],
                     v[P "/T/CAR+", "cells_per_ul"], r(v[P "/T/CAR+", "count"], v[P "/T", "count"], 100),
                     r(v[P "/T/CAR+/CAR+CD4", "count"], v[P "/T/CAR+/CAR+CD8", "count"], 1) }' "$W/$n.tsv")
    got=$(awk -v n="$n" '$1 == n' "$W/job.out" | tr -s ' ')
    [ "$got" = "$want" ] || bad "table row of $n: '$got', by hand '$want'"
    # every population count of the cohort = fcs-stats -g on the raw file
    diff <(counts "$W/c1/cohort.h5" | awk -F'\t' -v n="$n" '$1==n {print $2, $8}') \
        <(awk -F'\t' '$4=="count" {print $2, $8}' "$W/$n.tsv" | sort) >/dev/null ||
        bad "$n: cohort counts differ from fcs-stats -g on the raw file"
done
grep -q $'\tFITC-A\tCAR\tcompensated+logicle(T=262144,W=0.5,M=4.5,A=0)\t' <("$B/fcs-h5" export "$W/c1/cohort.h5") ||
    bad "the cohort's CAR channel is not compensated+logicle"
bash "$MJ" -b "$B" --table "$W/c1/cohort.h5" "$W/d" >"$W/table" 2>"$W/err" || bad "--table: $(cat "$W/err")"
grep -v '^$' "$W/job.out" | grep -A3 '^sample ' | cmp -s - "$W/table" || bad "--table differs from the job's table"
# the day14 sample: CAR-T present and CD8-dominant; healthy: no B-cell depletion
awk '$1=="a-day14" {exit !($6 > 50 && $8 < 1)} ' "$W/table" || bad "a-day14 row: $(grep a-day14 "$W/table")"
awk '$1=="c-healthy" {exit !($5 > 150)}' "$W/table" || bad "c-healthy row: $(grep c-healthy "$W/table")"

# ---- --no-comp / --no-xform: the same counts, linear statistics ----------------------------------
bash "$MJ" -b "$B" --no-comp --no-xform -o "$W/c2" "$W/d" >"$W/job2.out" 2>&1 || bad "--no-comp --no-xform: $(tail -3 "$W/job2.out")"
grep -q "chain: fcs-cat FILE | fcs-gate -g" "$W/job2.out" || bad "--no-comp --no-xform chain: $(grep chain "$W/job2.out")"
cmp -s <(counts "$W/c1/cohort.h5") <(counts "$W/c2/cohort.h5") || bad "--no-comp --no-xform changed counts"
grep -q $'\tFITC-A\tCAR\tlinear\t' <("$B/fcs-h5" export "$W/c2/cohort.h5") || bad "--no-comp: CAR not linear"
bash "$MJ" -b "$B" --no-xform -o "$W/c3" "$W/d" >"$W/job3.out" 2>&1 || bad "--no-xform: $(tail -3 "$W/job3.out")"
cmp -s <(counts "$W/c1/cohort.h5") <(counts "$W/c3/cohort.h5") || bad "--no-xform changed counts"
grep -q $'\tFITC-A\tCAR\tcompensated\t' <("$B/fcs-h5" export "$W/c3/cohort.h5") || bad "--no-xform: CAR not compensated"

# ---- --plan ---------------------------------------------------------------------------------------
bash "$MJ" -b "$B" --plan "$W/d/a-day14.fcs" "$W/d" >"$W/plan" || bad "--plan failed"
[ "$(sed -n 1p "$W/plan")" = $'comp\t1' ] || bad "--plan: $(cat "$W/plan")"
chans=$(awk -F'\t' '$1=="xform" {sub(/^[^:]*:/, "", $2); print $2}' "$W/plan" | tr , '\n' | sort | tr '\n' ' ')
[ "$chans" = "APC-A APC-H7-A BV421-A BV510-A BV605-A BV711-A FITC-A PE-A PE-Cy7-A PerCP-Cy5.5-A " ] ||
    bad "--plan transforms: '$chans'"
grep -qx $'stats\t--beads\t/Time/Beads\t--bead-lot\t'"$W/d/beads.txt" "$W/plan" || bad "--plan stats: $(grep stats "$W/plan")"
[ "$(bash "$MJ" -b "$B" --no-comp --plan "$W/d/a-day14.fcs" "$W/d" | grep -c -e '^xform' -e $'^comp\t1')" = 0 ] ||
    bad "--no-comp: compensated channels must not be transformed before fcs-gate compensates them"
# PE-A gated transformed and untransformed: never transformed in the stream; APC-A (in the
# spillover) gated uncompensated: no fcs-comp, and then no channel of the matrix may be
# transformed before fcs-gate compensates PE-A and APC-H7-A itself
cat >"$W/mixed.txt" <<'EOF'
transform L = logicle(T=262144, W=0.5, M=4.5, A=0)
Cells: rectangle FSC-A [30000, )
  PEpos: rectangle L(PE-A@FCS) [0.5, ), PE-A@FCS [, 200000)
  APCpos: rectangle L(APC-A) [0.45, )
  CD3pos: rectangle L(APC-H7-A@FCS) [0.45, )
EOF
# no compensation asked at all: APC-A is transformed in the stream
printf 'transform L = logicle(T=262144, W=0.5, M=4.5, A=0)\nCells: rectangle FSC-A [30000, )\n  APCpos: rectangle L(APC-A) [0.45, )\n' >"$W/unc.txt"
bash "$MJ" -b "$B" --strategy "$W/mixed.txt" --beads none --plan "$W/d/a-day14.fcs" >"$W/plan2" || bad "--plan mixed"
[ "$(cat "$W/plan2")" = $'comp\t0' ] || bad "--plan mixed: $(cat "$W/plan2")"
bash "$MJ" -b "$B" --strategy "$W/unc.txt" --beads none --plan "$W/d/a-day14.fcs" >"$W/plan3" || bad "--plan unc"
[ "$(cat "$W/plan3")" = $'comp\t0\nxform\tlogicle(T=262144,W=0.5,M=4.5,A=0):APC-A' ] || bad "--plan unc: $(cat "$W/plan3")"
for st in mixed unc; do
    bash "$MJ" -b "$B" --strategy "$W/$st.txt" --beads none --b-pop none --t-pop APCpos \
        --car-pop none --car-cd4-pop none --car-cd8-pop none -o "$W/c4$st" "$W/d" >"$W/job4.out" 2>&1 ||
        bad "main-job, $st strategy: $(tail -3 "$W/job4.out")"
    "$B/fcs-stats" -g "$W/$st.txt" -s mean --sample-id a-day14 "$W/d/a-day14.fcs" >"$W/m.tsv"
    diff <(counts "$W/c4$st/cohort.h5" | awk -F'\t' '$1=="a-day14" {print $2, $8}') \
        <(awk -F'\t' '$4=="count" {print $2, $8}' "$W/m.tsv" | sort) >/dev/null ||
        bad "$st strategy: the chain's counts differ from fcs-stats -g"
    awk '$1=="a-day14" {exit !($3 == "NA" && $5 == "NA" && $6 == "NA")}' "$W/job4.out" ||
        bad "--beads none / --b-pop none: $(grep a-day14 "$W/job4.out")"
done
# no spillover in the file (basic preset): no fcs-comp, and @FCS channels are left to fcs-gate
mkdir -p "$W/basic"
"$B/fcs-synth" -n 2000 --seed 6 --no-version -o "$W/basic/x.fcs"
printf 'T: rectangle logicle(FITC-A@FCS) [0.5, )\n  CD4: rectangle logicle(APC-A) [0.5, )\n' >"$W/basic/strategy.txt"
[ "$(bash "$MJ" -b "$B" --plan "$W/basic/x.fcs" "$W/basic" | tr '\t\n' ' ')" = "comp 0 xform logicle(T=262144,W=0.5,M=4.5,A=0):APC-A " ] ||
    bad "--plan without spillover: $(bash "$MJ" -b "$B" --plan "$W/basic/x.fcs" "$W/basic" 2>&1)"
bash "$MJ" -b "$B" --beads none --b-pop none --car-pop none --car-cd4-pop none --car-cd8-pop none -o "$W/c5" "$W/basic" \
    >"$W/job5.out" 2>&1 || bad "main-job without spillover: $(tail -3 "$W/job5.out")"

# ---- populations, errors ----------------------------------------------------------------------------
bash "$MJ" -b "$B" --b-pop CD20+ --car-pop "$P/T/CAR+" --table "$W/c1/cohort.h5" "$W/d" >"$W/t2" ||
    bad "--b-pop CD20+ --car-pop PATH"
want=$(val "$W/a-day14.tsv" "$P/B/CD20+" cells_per_ul | awk '{printf "%.1f", $1}')
[ "$(awk '$1=="a-day14" {print $5}' "$W/t2")" = "$want" ] || bad "--b-pop CD20+: $(grep a-day14 "$W/t2"), want $want"
expect 2 "--car-pop CART: no such population" bash "$MJ" -b "$B" --car-pop CART -o "$W/c6" "$W/d"
[ ! -e "$W/c6" ] || bad "an unknown population must stop before any work"
expect 2 "unknown option --frobnicate" bash "$MJ" -b "$B" --frobnicate "$W/d"
expect 2 "one folder at a time" bash "$MJ" -b "$B" "$W/d" "$W/basic"
expect 2 "-o needs a value" bash "$MJ" -b "$B" "$W/d" -o
expect 1 "no data folder" bash "$MJ" -b "$B" -o "$W/c7" "$W/nonexistent"
mkdir -p "$W/empty"
expect 1 "no *.fcs" bash "$MJ" -b "$B" --strategy "$S" -o "$W/c7" "$W/empty"
expect 1 "no such bead-lot file" bash "$MJ" -b "$B" --beads "$W/nolot.txt" -o "$W/c7" "$W/d"
# a broken file among good ones: exit 1, the others are merged and shown
cp -r "$W/d" "$W/d2"
head -c 3000 "$W/d/b-baseline.fcs" >"$W/d2/b-baseline.fcs"
bash "$MJ" -b "$B" -o "$W/c8" "$W/d2" >"$W/job8.out" 2>&1
[ $? -eq 1 ] || bad "a broken file: exit status, want 1"
grep -q "b-baseline: FAILED (exit statuses" "$W/job8.out" || bad "a broken file is not named: $(cat "$W/job8.out")"
[ "$("$B/fcs-h5" ls "$W/c8/cohort.h5" | awk -F'\t' 'NR>1 {print $2}' | tr '\n' ' ')" = "a-day14 c-healthy " ] ||
    bad "the good samples are not merged: $("$B/fcs-h5" ls "$W/c8/cohort.h5" 2>&1)"

# ---- fcs-stats -g ---------------------------------------------------------------------------------
f=$W/d/a-day14.fcs
"$B/fcs-gate" -g "$S" "$f" | "$B/fcs-stats" --beads /Time/Beads --bead-lot "$LOT" --sample-id s - >"$W/g1.tsv"
"$B/fcs-stats" -g "$S" --beads /Time/Beads --bead-lot "$LOT" --sample-id s "$f" >"$W/g2.tsv" || bad "fcs-stats -g"
[ "$(wc -l <"$W/g2.tsv")" -gt 100 ] && cmp -s "$W/g1.tsv" "$W/g2.tsv" || bad "fcs-stats -g differs from fcs-gate | fcs-stats"
L='logicle(T=262144,W=0.5,M=4.5,A=0)'
"$B/fcs-comp" "$f" | "$B/fcs-xform" -t "$L:FITC-A,PE-A,APC-H7-A" - >"$W/cx.fcs"
"$B/fcs-gate" -g "$S" "$W/cx.fcs" | "$B/fcs-stats" --sample-id s - >"$W/g3.tsv"
"$B/fcs-stats" -g "$S" --sample-id s - <"$W/cx.fcs" >"$W/g4.tsv" || bad "fcs-stats -g on a stream"
cmp -s "$W/g3.tsv" "$W/g4.tsv" || bad "fcs-stats -g on a compensated+transformed stream differs"
cmp -s <(awk -F'\t' '$4=="count"' "$W/g2.tsv") <(awk -F'\t' '$4=="count"' "$W/g4.tsv") ||
    bad "counts of the raw and the compensated+transformed stream differ"
"$B/fcs-stats" -g "$X" -s mean --sample-id s "$f" >"$W/g5.tsv" || bad "fcs-stats -g Gating-ML"
cmp -s <(awk -F'\t' '$4=="count"' "$W/g2.tsv") <(awk -F'\t' '$4=="count"' "$W/g5.tsv") ||
    bad "text and Gating-ML strategies count differently"
# an already gated stream: the strategy's populations, the same counts
"$B/fcs-gate" -g "$S" "$f" | "$B/fcs-stats" -g "$S" --sample-id s - >"$W/g6.tsv"
cmp -s <(awk -F'\t' '$4=="count"' "$W/g2.tsv") <(awk -F'\t' '$4=="count"' "$W/g6.tsv") ||
    bad "fcs-stats -g on a gated stream counts differently"
# the summary records the strategy as fcs-gate does
"$B/fcs-stats" -g "$S" -s mean -o "$W/s1.h5ad" "$f"
"$B/fcs-gate" -g "$S" "$f" | "$B/fcs-stats" -s mean --sample-id x -o "$W/s2.h5ad" -
g1=$("$B/fcs-h5" ls "$W/s1.h5ad" | awk -F'\t' 'NR==2 {print $8}')
g2=$("$B/fcs-h5" ls "$W/s2.h5ad" | awk -F'\t' 'NR==2 {print $8}')
sha=$(sha256sum "$S" | cut -d' ' -f1)
[ "$g1" = "$g2" ] && [ "$g1" = "source=file:$S;sha256=$sha;format=text" ] || bad "gating_strategy: '$g1' vs '$g2'"
# ... and the strategy's text (uns/gating_strategy_text), byte for byte, both ways
PY=${FCS_PYTHON:-python3}
if "$PY" -c 'import h5py' 2>/dev/null; then
    for h in s1 s2; do
        "$PY" - "$W/$h.h5ad" "$S" <<'EOF' || bad "$h.h5ad: the strategy text is not the strategy file"
import sys, h5py
t = h5py.File(sys.argv[1], "r")["uns/gating_strategy_text"][()]
t = t[0] if getattr(t, "shape", ()) else t
sys.exit(0 if (t if isinstance(t, bytes) else t.encode()) == open(sys.argv[2], "rb").read() else 1)
EOF
    done
else
    echo "main_job.sh: no h5py: the stored strategy text is not checked"
fi
expect 2 "-g and --truth" "$B/fcs-stats" -g "$S" --truth "$f"
printf '# a comment, no gate\n' >"$W/nogate.txt"
expect 1 "fcs-stats: $W/nogate.txt: no gates in the strategy" "$B/fcs-stats" -g "$W/nogate.txt" "$f"
expect 2 "can be read only once" "$B/fcs-stats" -g - -
printf 'A: rectangle NOPE [0, )\n' >"$W/nope.txt"
expect 1 "fcs-stats: $f: gate 'A': channel 'NOPE'" "$B/fcs-stats" -g "$W/nope.txt" "$f"
printf 'A: rectangle FSC-A [0, \n' >"$W/syntax.txt"
expect 1 "fcs-stats: $W/syntax.txt:1:" "$B/fcs-stats" -g "$W/syntax.txt" "$f"
expect 1 "fcs-stats: $W/none.txt: cannot open" "$B/fcs-stats" -g "$W/none.txt" "$f"
[ "$(wc -l <"$W/err")" -eq 1 ] || bad "errors are one line: $(cat "$W/err")"
# a doubly applied transform is refused, not computed
"$B/fcs-xform" -t "$L:FSC-A" "$f" >"$W/fx.fcs"
expect 1 "FSC-A" "$B/fcs-stats" -g "$S" "$W/fx.fcs"

# integer data (the double path), with the Gating-ML 2.0 compliance set
G2=${FCS_CORPUS:-}/gatingml2
if [ -f "$G2/cases.tsv" ] && [ -f "$G2/data1.fcs" ]; then
    n=0
    while IFS=$'\t' read -r fcs xml gate _ _ in_gate; do
        case "$xml" in gml/gml_rect*|gml/gml_poly*|gml/gml_ellipse*|gml/gml_and*) ;; *) continue ;; esac
        got=$("$B/fcs-stats" -g "$G2/$xml" -s mean "$G2/$fcs" 2>"$W/err" |
            awk -F'\t' -v g="$gate" '$4=="count" {k=split($2, p, "/"); if (p[k]==g) print $8}')
        [ "$got" = "$in_gate" ] || bad "gatingml2 $xml $gate: fcs-stats -g counts '$got', truth $in_gate $(head -1 "$W/err")"
        n=$((n + 1))
    done < <(tail -n +2 "$G2/cases.tsv")
    [ $n -ge 5 ] || bad "only $n Gating-ML cases checked"
else
    echo "main_job.sh: no corpus at ${FCS_CORPUS:-(unset)}: the integer-data (double path) check of fcs-stats -g is skipped"
fi

[ $fail -eq 0 ] && echo "ok: main-job, fcs-stats -g"
exit $fail
