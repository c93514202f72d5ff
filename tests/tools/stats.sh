#!/usr/bin/env bash
# stats.sh — fcs-stats and fcs-h5 end to end, through real pipes:
#   * fcs-synth --truth | fcs-stats --truth: counts per population equal the
#     TruePopulation counts awk computes from fcs-export; % of total likewise;
#   * the median printed equals the one computed by sort/awk from fcs-export;
#   * fcs-cat | fcs-stats -: the sample id comes from LIBFCS_SOURCES, the
#     SHA-256 is that of the bytes on stdin (sha256sum);
#   * -t TRANSFORM:CH equals fcs-xform | fcs-stats (same values, same unit);
#   * beads: --beads-per-test/--volume and --bead-lot give cells/uL by hand;
#   * summaries: append, duplicate refused (file unchanged), --replace,
#     fcs-h5 merge / ls / export; | head ends quietly;
#   * usage errors exit 2, input errors exit 1 with one line "fcs-xxx: FILE: ...";
#     foreign / truncated / non-HDF5 / temporary files refused by fcs-h5;
#   * fcs-gate FILE | fcs-stats -o S -: samples named after FILE, the strategy
#     text in the summary; a nameless pipe twice: hint --sample-id, not --replace;
#     warnings for an ungated stream and for zero bead events; --beads ID.
# Env (set by CTest): FCS_BIN, FCS_TMP, FCS_PYTHON.
set -euo pipefail
: "${FCS_BIN:?}"
for t in fcs-synth fcs-stats fcs-h5 fcs-export fcs-cat; do
    [ -x "$FCS_BIN/$t" ] || { echo "SKIP: $FCS_BIN/$t not built"; exit 77; }
done
mkdir -p "${FCS_TMP:-/tmp}"
W=$(mktemp -d "${FCS_TMP:-/tmp}/stats.XXXXXX")
trap 'rm -rf "$W"' EXIT
SYNTH="$FCS_BIN/fcs-synth" STATS="$FCS_BIN/fcs-stats" H5="$FCS_BIN/fcs-h5"
EXPORT="$FCS_BIN/fcs-export" CAT="$FCS_BIN/fcs-cat"
PY=${FCS_PYTHON:-python3}
fail=0
bad() { echo "FAIL: $*"; fail=1; }
# val FILE POP STAT CHANNEL: the value column of one tidy row
val() { awk -F'\t' -v p="$2" -v s="$3" -v c="$4" '$2==p && $4==s && $5==c {print $8}' "$1"; }

"$SYNTH" -n 5000 --seed 11 --truth --no-version -o "$W/a.fcs"
"$SYNTH" -n 3000 --seed 12 --truth --no-version -o "$W/b.fcs"

# ---- counts and medians against awk over fcs-export ----------------------------------------
"$STATS" --truth -s median,p90 "$W/a.fcs" >"$W/a.tsv"
head -1 "$W/a.tsv" | grep -qx $'sample\tpopulation\tparent\tstatistic\tchannel\tmarker\tunit\tvalue' ||
    bad "TSV header: $(head -1 "$W/a.tsv")"
"$EXPORT" "$W/a.fcs" >"$W/a.events"
col() { head -1 "$W/a.events" | tr '\t' '\n' | grep -nx "$1" | cut -d: -f1; }
tp=$(col TruePopulation) cd3=$(col FITC-A)
pops=$("$FCS_BIN/fcs-info" "$W/a.fcs" | sed -n 's/.*LIBFCS_SYNTH_POPULATIONS = //p')
IFS=, read -ra entries <<<"$pops"
[ ${#entries[@]} -ge 5 ] || bad "LIBFCS_SYNTH_POPULATIONS: $pops"
for e in "${entries[@]}"; do
    k=${e%%=*} name=${e#*=}
    want=$(awk -F'\t' -v c="$tp" -v k="$k" 'NR>1 && $c==k {n++} END {print n+0}' "$W/a.events")
    got=$(val "$W/a.tsv" "/$name" count NA)
    [ "$got" = "$want" ] || bad "count of /$name: fcs-stats $got, awk $want"
    pt=$(val "$W/a.tsv" "/$name" pct_total NA)
    awk -v a="$pt" -v b="$want" 'BEGIN {exit !(a - 100*b/5000 < 1e-9 && 100*b/5000 - a < 1e-9)}' ||
        bad "pct_total of /$name: $pt"
    # the median of CD3 (FITC-A) in the population: sort, then type 7
    med=$(awk -F'\t' -v c="$tp" -v k="$k" -v x="$cd3" 'NR>1 && $c==k {print $x}' "$W/a.events" |
        sort -g | awk '{v[NR]=$1} END {if (NR==0) print "NA"; else {h=(NR-1)*0.5; l=int(h);
        printf "%.17g\n", v[l+1] + (h-l)*(v[l+2]-v[l+1])}}')
    got=$(val "$W/a.tsv" "/$name" median FITC-A)
    # fcs-export prints the shortest decimal of each float32: within 2^-24 relative
    awk -v a="$got" -v b="$med" 'BEGIN {d=a-b; if (d<0) d=-d; exit !(d <= 2e-7*(b<0?-b:b) + 1e-12)}' ||
        bad "median CD3 of /$name: fcs-stats $got, sort/awk $med"
done
[ "$(val "$W/a.tsv" / count NA)" = 5000 ] || bad "count of /"
[ "$(val "$W/a.tsv" / pct_parent NA)" = "" ] || bad "/ has no pct_parent row"
grep -q $'\tTime\t' "$W/a.tsv" && bad "Time is not a default channel"
grep -q $'\tTruePopulation\t' "$W/a.tsv" && bad "TruePopulation is not a default channel"
grep -q $'\tFITC-A\tCD3\tlinear\t' "$W/a.tsv" || bad "channel FITC-A / CD3 / linear row missing"

# ---- stdin: sample id from LIBFCS_SOURCES, SHA-256 of the stream ----------------------------
"$CAT" --no-version "$W/a.fcs" >"$W/a_cat.fcs"
"$CAT" --no-version "$W/a.fcs" | "$STATS" --truth -o "$W/pipe.h5ad" - 2>"$W/err" || bad "pipe: $(cat "$W/err")"
"$H5" ls "$W/pipe.h5ad" >"$W/ls"
sha=$(sha256sum "$W/a_cat.fcs" | cut -d' ' -f1)
awk -F'\t' 'NR==2 {print $2, $3, $7}' "$W/ls" | grep -qx "a <stdin> $sha" ||
    bad "stdin sample: $(sed -n 2p "$W/ls") (want id a, file <stdin>, sha $sha)"

# ---- -t equals fcs-xform | fcs-stats --------------------------------------------------------
if [ -x "$FCS_BIN/fcs-xform" ]; then
    "$STATS" --truth -s mean,median -c CD3 -t 'asinh(150):CD3' "$W/a.fcs" >"$W/t1.tsv"
    "$FCS_BIN/fcs-xform" --no-version -t 'asinh(150):CD3' "$W/a.fcs" |
        "$STATS" --truth -s mean,median -c CD3 --sample-id a - >"$W/t2.tsv"
    cmp -s "$W/t1.tsv" "$W/t2.tsv" || bad "-t differs from fcs-xform | fcs-stats: $(diff "$W/t1.tsv" "$W/t2.tsv" | head -3)"
    grep -q $'\tasinh(cofactor=150)\t' "$W/t1.tsv" || bad "unit of a transformed channel: $(sed -n 4p "$W/t1.tsv")"
else
    echo "note: fcs-xform not built: -t not compared with it"
fi

# ---- beads ------------------------------------------------------------------------------------
"$STATS" --truth --beads /debris --beads-per-test 50000 --volume 50 -s mean "$W/a.fcs" >"$W/beads.tsv"
nd=$(val "$W/beads.tsv" /debris count NA) nt=$(val "$W/beads.tsv" "/T CD4+" count NA)
cu=$(val "$W/beads.tsv" "/T CD4+" cells_per_ul NA)
awk -v c="$cu" -v t="$nt" -v b="$nd" 'BEGIN {w=t/b*50000/50; d=c-w; if (d<0) d=-d; exit !(d <= 1e-9*w)}' ||
    bad "cells/uL $cu, by hand $nt/$nd*50000/50"
re=$(val "$W/beads.tsv" /debris bead_rel_error NA)
awk -v r="$re" -v b="$nd" 'BEGIN {d=r-1/sqrt(b); if (d<0) d=-d; exit !(d < 1e-12)}' || bad "bead_rel_error $re"
printf '# lot file\nlot = X-1\nbeads_per_test = 50000\nvolume_ul=50\n' >"$W/lot.txt"
"$STATS" --truth --beads /debris --bead-lot "$W/lot.txt" -s mean "$W/a.fcs" >"$W/beads2.tsv"
cmp -s "$W/beads.tsv" "$W/beads2.tsv" || bad "--bead-lot differs from --beads-per-test/--volume"
printf 'beads_per_test = many\nvolume_ul=50\n' >"$W/badlot.txt"
if "$STATS" --truth --beads /debris --bead-lot "$W/badlot.txt" "$W/a.fcs" >/dev/null 2>"$W/err"; then
    bad "bad bead lot accepted"
else
    grep -q "^fcs-stats: $W/badlot.txt: line 1: beads_per_test 'many'" "$W/err" || bad "bad lot message: $(cat "$W/err")"
fi

# ---- summaries: append, duplicates, replace, merge, ls, export --------------------------------
S="$W/cohort.h5ad"
"$STATS" --truth -o "$S" "$W/a.fcs"
"$STATS" --truth -o "$S" "$W/b.fcs"
cp "$S" "$W/saved.h5ad"
if "$STATS" --truth -o "$S" "$W/b.fcs" 2>"$W/err"; then bad "duplicate sample accepted"; fi
grep -q "already in the summary.*--replace" "$W/err" || bad "duplicate message: $(cat "$W/err")"
cmp -s "$S" "$W/saved.h5ad" || bad "a refused append changed the summary"
"$STATS" --truth --replace -o "$S" "$W/b.fcs" || bad "--replace failed"
[ "$("$H5" ls "$S" | wc -l)" = 3 ] || bad "ls after replace: $("$H5" ls "$S")"
compgen -G "$S.tmp.*" >/dev/null && bad "temporary files left: $(compgen -G "$S.tmp.*")"
"$STATS" --truth -o "$W/one_a.h5ad" "$W/a.fcs"
"$STATS" --truth -o "$W/one_b.h5ad" "$W/b.fcs"
"$H5" merge -o "$W/merged.h5ad" "$W/one_a.h5ad" "$W/one_b.h5ad"
"$H5" export "$W/merged.h5ad" >"$W/m.tsv"
"$H5" export "$S" >"$W/s.tsv"
cmp -s "$W/m.tsv" "$W/s.tsv" || bad "merge of per-sample files differs from appending"
"$H5" export -f csv -o "$W/m.csv" "$W/merged.h5ad"
[ "$(wc -l <"$W/m.csv")" = "$(wc -l <"$W/m.tsv")" ] || bad "CSV and TSV exports differ in rows"
head -1 "$W/m.csv" | grep -qx 'sample,population,parent,statistic,channel,marker,unit,value' || bad "CSV header"
"$H5" ls -p "$W/merged.h5ad" | awk -F'\t' 'NR>1 && $6 != 2 {bad=1} END {exit bad}' ||
    bad "ls -p: every population is in both samples"
set +o pipefail
"$H5" export "$W/merged.h5ad" 2>"$W/err" | head -1 >/dev/null
st=${PIPESTATUS[0]}
"$STATS" --truth "$W/a.fcs" 2>>"$W/err" | head -1 >/dev/null
st2=${PIPESTATUS[0]}
set -o pipefail
[ "$st" = 0 ] && [ "$st2" = 0 ] && [ ! -s "$W/err" ] || bad "| head: exit $st/$st2, stderr $(cat "$W/err")"

# ---- refusals: usage (2) and input (1) errors, one line each -----------------------------------
# expect STATUS PATTERN CMD...: exit status and a message matching PATTERN: one
# line for input errors (1); usage errors (2) add the short usage after it
expect() {
    local want=$1 pat=$2
    shift 2
    set +e
    "$@" >/dev/null 2>"$W/err"
    local st=$?
    set -e
    [ "$st" = "$want" ] || bad "$*: exit $st, want $want ($(head -1 "$W/err"))"
    head -1 "$W/err" | grep -q -- "$pat" || bad "$*: message $(head -1 "$W/err"), want /$pat/"
    [ "$want" = 2 ] || [ "$(wc -l <"$W/err")" = 1 ] || bad "$*: more than one line: $(cat "$W/err")"
}
expect 2 "fcs-stats: -s: statistic 'mode'" "$STATS" -s mode "$W/a.fcs"
expect 2 "fcs-stats: --beads-per-test" "$STATS" --beads-per-test 5 --volume 1 "$W/a.fcs"
expect 2 "not a number > 0" "$STATS" --beads /x --beads-per-test -5 --volume 1 "$W/a.fcs"
expect 2 "pipe" "$STATS" -o - "$W/a.fcs"
expect 2 "one input" "$STATS" "$W/a.fcs" "$W/b.fcs"
expect 2 "fcs-stats: -t" "$STATS" -t 'nosuch(3)' "$W/a.fcs"
expect 1 "fcs-stats: $W/none.fcs: " "$STATS" "$W/none.fcs"
expect 1 "fcs-stats: $W/lot.txt: " "$STATS" "$W/lot.txt"
expect 1 "--beads /Beads: no such population" "$STATS" --truth --beads /Beads --beads-per-test 1 --volume 1 "$W/a.fcs"
expect 1 "--beads: no bead numbers" "$STATS" --truth --beads /debris "$W/a.fcs"
expect 1 "-c NoSuch: no such channel" "$STATS" -c NoSuch "$W/a.fcs"
"$SYNTH" -n 50 --seed 13 --no-version -o "$W/plain.fcs"
expect 1 "fcs-stats: $W/plain.fcs: --truth needs" "$STATS" --truth "$W/plain.fcs"
# ---- regressions (review 2): sample names through fcs-gate, warnings, --beads ID ---------------
printf 'Cells: rectangle FSC-A [0, )\n  Z: rectangle FSC-A [-2, -1)\n' >"$W/st.txt"
# an ungated stream: computed, with a warning that there is nothing but "/"
"$STATS" -s mean --tsv "$W/plain.fcs" >/dev/null 2>"$W/err" || bad "ungated stream: exit $?"
grep -q "^fcs-stats: $W/plain.fcs: warning: no populations in the stream" "$W/err" ||
    bad "no warning for an ungated stream: $(cat "$W/err")"
"$STATS" --truth -s mean --tsv "$W/a.fcs" >/dev/null 2>"$W/err"
[ ! -s "$W/err" ] || bad "warning on a gated stream: $(cat "$W/err")"
# --beads takes an id as well as a /path; an empty bead population is a warning
"$STATS" -g "$W/st.txt" --beads /Cells/Z --beads-per-test 1000 --volume 50 -s mean --tsv "$W/a.fcs" \
    >"$W/bp.tsv" 2>"$W/err"
grep -q "warning: bead population /Cells/Z has no events: cells_per_ul is NA" "$W/err" ||
    bad "no warning for zero bead events: $(cat "$W/err")"
[ "$(val "$W/bp.tsv" /Cells cells_per_ul NA)" = NA ] || bad "cells_per_ul without bead events"
"$STATS" -g "$W/st.txt" --beads Z --beads-per-test 1000 --volume 50 -s mean --tsv "$W/a.fcs" \
    >"$W/bi.tsv" 2>/dev/null || bad "--beads ID: exit $?"
cmp -s "$W/bp.tsv" "$W/bi.tsv" || bad "--beads Z differs from --beads /Cells/Z"
expect 1 "--beads Nope: no such population" "$STATS" -g "$W/st.txt" --beads Nope --beads-per-test 1 --volume 1 "$W/a.fcs"
# fcs-gate FILE | fcs-stats -: the sample is named after FILE (LIBFCS_SOURCES), and the
# strategy text travels in the stream into the summary
if [ -x "$FCS_BIN/fcs-gate" ]; then
    GATE="$FCS_BIN/fcs-gate"
    rm -f "$W/p.h5ad"
    for f in a b; do
        "$GATE" -g "$W/st.txt" "$W/$f.fcs" | "$STATS" -o "$W/p.h5ad" - || bad "gate $f | stats: exit $?"
    done
    ids=$("$H5" ls "$W/p.h5ad" | awk -F'\t' 'NR > 1 {print $2}' | tr '\n' ' ')
    [ "$ids" = "a b " ] || bad "sample ids through fcs-gate: '$ids'"
    # without a name (stdin all the way): the id "stdin" is taken: the hint is --sample-id,
    # never --replace (which would replace the other sample)
    rm -f "$W/q.h5ad"
    "$GATE" -g "$W/st.txt" - <"$W/a.fcs" | "$STATS" -o "$W/q.h5ad" - 2>/dev/null
    cp "$W/q.h5ad" "$W/q_saved.h5ad"
    set +e
    "$GATE" -g "$W/st.txt" - <"$W/b.fcs" | "$STATS" -o "$W/q.h5ad" - 2>"$W/err"
    st=$?
    set -e
    [ "$st" = 1 ] && grep -q "sample id 'stdin' is already used.*(name this sample with --sample-id ID)" "$W/err" &&
        ! grep -q -- "--replace" "$W/err" || bad "nameless pipe twice: exit $st, $(cat "$W/err")"
    cmp -s "$W/q.h5ad" "$W/q_saved.h5ad" || bad "refused nameless sample changed the summary"
    if "$PY" -c 'import h5py' 2>/dev/null; then
        "$PY" -c '
import h5py, sys
t = h5py.File(sys.argv[1], "r")["uns/gating_strategy_text"].asstr()[()]
assert list(t) == [open(sys.argv[2]).read()], list(t)
' "$W/p.h5ad" "$W/st.txt" || bad "strategy text not in the summary"
    fi
fi

expect 2 "fcs-h5: unknown command" "$H5" frobnicate x
expect 2 "merge: -o OUT" "$H5" merge "$S"
expect 1 "fcs-h5: $W/a.fcs: not an HDF5 file" "$H5" ls "$W/a.fcs"
head -c 3000 "$S" >"$W/cut.h5ad"
expect 1 "fcs-h5: $W/cut.h5ad: truncated or damaged HDF5 file" "$H5" export "$W/cut.h5ad"
cp "$S" "$S.tmp.99999"
expect 1 "unfinished temporary file" "$H5" ls "$S.tmp.99999"
rm -f "$S.tmp.99999"
expect 1 "fcs-h5: $W/nothere.h5ad: cannot open" "$H5" ls "$W/nothere.h5ad"
if "$PY" -c 'import h5py' 2>/dev/null; then
    "$PY" -c 'import h5py, sys; f = h5py.File(sys.argv[1], "w"); f["X"] = [1, 2]' "$W/foreign.h5"
    expect 1 "fcs-h5: $W/foreign.h5: an HDF5 file but not a libfcs summary" "$H5" ls "$W/foreign.h5"
    cp "$W/foreign.h5" "$W/foreign_saved.h5"
    expect 1 "not a libfcs summary" "$STATS" --truth -o "$W/foreign.h5" "$W/a.fcs"
    cmp -s "$W/foreign.h5" "$W/foreign_saved.h5" || bad "fcs-stats changed a foreign HDF5 file"
else
    echo "note: h5py missing: foreign HDF5 file not tested here (test_h5_python does)"
fi
for t in "$STATS" "$H5"; do
    "$t" --help | grep -q "^Usage: $(basename "$t") " || bad "$t --help"
    "$t" --version | grep -q "HDF5" || bad "$t --version"
done

[ "$fail" = 0 ] && echo "ok: fcs-stats and fcs-h5"
exit "$fail"
