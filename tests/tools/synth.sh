#!/usr/bin/env bash
# synth.sh — fcs-synth end to end (the generator itself is tested in tests/unit/test_synth.c):
#   * --list-presets lists the seven presets with their event counts;
#   * every CAR-T preset: $TOT = the listed count, file < 2 MB, the truth file and the
#     TruePopulation parameter agree event by event, their per-population counts are
#     LIBFCS_SYNTH_COUNTS, the bead lot is in the keywords;
#   * reproducible: same command -> byte-identical (-o and stdout), another seed differs;
#   * -n scales keeping fractions, --population sets exact counts after -n;
#   * usage errors exit 2 with one line "fcs-synth: ...";
#   * sample_data/strategy.txt and strategy.gating.xml gate identically, and recover the
#     true populations (docs/synth.md gives the figures); sample_data/beads.txt with
#     fcs-stats gives the true cells/uL of T cells.
# Env (set by CTest): FCS_BIN, FCS_SRC, FCS_TMP, FCS_PYTHON.
set -euo pipefail
: "${FCS_BIN:?}" "${FCS_SRC:?}"
for t in fcs-synth fcs-export fcs-info; do
    [ -x "$FCS_BIN/$t" ] || { echo "SKIP: $FCS_BIN/$t not built"; exit 77; }
done
mkdir -p "${FCS_TMP:-/tmp}"
W=$(mktemp -d "${FCS_TMP:-/tmp}/synth.XXXXXX")
trap 'rm -rf "$W"' EXIT
SYNTH="$FCS_BIN/fcs-synth" EXPORT="$FCS_BIN/fcs-export" INFO="$FCS_BIN/fcs-info"
PY=${FCS_PYTHON:-python3}
fail=0
bad() { echo "FAIL: $*"; fail=1; }
kw() { "$INFO" "$1" | sed -n "s/^    $2 = //p"; }

# expect CODE MESSAGE-PART CMD...: exit code, and a single stderr line naming the tool
expect() {
    local code=$1 msg=$2 rc=0
    shift 2
    "$@" >"$W/out" 2>"$W/err" </dev/null || rc=$?
    [ "$rc" = "$code" ] || bad "exit $rc (want $code): $*"
    head -1 "$W/err" | grep -qF "fcs-synth: $msg" || bad "message '$msg' missing for: $* ($(head -1 "$W/err"))"
}

# ---- presets ---------------------------------------------------------------------------------
"$SYNTH" --list-presets >"$W/presets.tsv"
[ "$(head -1 "$W/presets.tsv")" = $'preset\tevents\tdescription' ] || bad "--list-presets header"
[ "$(cut -f1 "$W/presets.tsv" | tail -n +2 | tr '\n' ' ')" = "baseline day7 day14 day28 day90 healthy basic " ] ||
    bad "--list-presets names: $(cut -f1 "$W/presets.tsv" | tr '\n' ' ')"

seed=100
for p in baseline day7 day14 day28 day90 healthy; do
    seed=$((seed + 1))
    f="$W/$p.fcs"
    "$SYNTH" --preset "$p" --seed $seed --truth --truth-file "$W/$p.truth.tsv" --no-version -o "$f"
    n=$(awk -F'\t' -v p="$p" '$1==p {print $2}' "$W/presets.tsv")
    [ "$(kw "$f" '\$TOT')" = "$n" ] || bad "$p: \$TOT $(kw "$f" '\$TOT'), listed $n"
    [ "$(stat -c %s "$f")" -lt 2000000 ] || bad "$p: $(stat -c %s "$f") bytes, want < 2 MB"
    [ "$(kw "$f" LIBFCS_SYNTH_PRESET)" = "$p" ] || bad "$p: LIBFCS_SYNTH_PRESET"
    [ "$(kw "$f" LIBFCS_BEADS_PER_TEST)" = 51800 ] && [ "$(kw "$f" LIBFCS_VOLUME_UL)" = 50 ] ||
        bad "$p: bead keywords"
    [ -n "$(kw "$f" '\$SPILLOVER')" ] || bad "$p: no \$SPILLOVER"
    "$EXPORT" "$f" >"$W/$p.tsv"
    $PY - "$W/$p.tsv" "$W/$p.truth.tsv" "$(kw "$f" LIBFCS_SYNTH_COUNTS)" \
        "$(kw "$f" LIBFCS_SYNTH_POPULATIONS)" <<'EOF' || bad "$p: truth file / parameter / counts"
import sys
ev = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
tr = [l.rstrip("\n").split("\t") for l in open(sys.argv[2])]
assert tr[0] == ["event", "population", "name"], tr[0]
assert len(ev) == len(tr), (len(ev), len(tr))
col = ev[0].index("TruePopulation")
names = dict(e.split("=", 1) for e in sys.argv[4].split(","))
counts = {}
for i, (e, t) in enumerate(zip(ev[1:], tr[1:]), 1):
    assert t[0] == str(i) and e[col] == t[1] and names[t[1]] == t[2], (i, e[col], t)
    counts[t[1]] = counts.get(t[1], 0) + 1
want = dict(e.split("=") for e in sys.argv[3].split(","))
assert all(counts.get(k, 0) == int(v) for k, v in want.items()), (counts, want)
assert sum(counts.values()) == len(ev) - 1
EOF
done

# ---- reproducible ----------------------------------------------------------------------------
"$SYNTH" --preset day14 --seed 7 --no-version >"$W/r1.fcs"
"$SYNTH" --preset day14 --seed 7 --no-version -o "$W/r2.fcs"
cmp -s "$W/r1.fcs" "$W/r2.fcs" || bad "same seed, stdout vs -o: files differ"
"$SYNTH" --preset day14 --seed 8 --no-version -o "$W/r3.fcs"
cmp -s "$W/r1.fcs" "$W/r3.fcs" && bad "seeds 7 and 8 give the same file"
"$SYNTH" --preset DAY14 --seed 7 --no-version -o "$W/r4.fcs"
"$EXPORT" "$W/r1.fcs" | cmp -s - <("$EXPORT" "$W/r4.fcs") || bad "preset names are not case-insensitive"

# ---- -n and --population -------------------------------------------------------------------------
"$SYNTH" --preset healthy -n 1000 --truth --no-version -o "$W/n.fcs"
[ "$(kw "$W/n.fcs" '\$TOT')" = 1000 ] || bad "-n 1000: \$TOT $(kw "$W/n.fcs" '\$TOT')"
# healthy: beads 3500 of 25359 -> 138.02 -> 138 of 1000
case ",$(kw "$W/n.fcs" LIBFCS_SYNTH_COUNTS)," in *",13=138,"*) ;; *) bad "-n 1000: bead count: $(kw "$W/n.fcs" LIBFCS_SYNTH_COUNTS)";; esac
"$SYNTH" --preset healthy -n 1000 --population beads=7 --population b-cd20+=5 --no-version -o "$W/p.fcs"
case ",$(kw "$W/p.fcs" LIBFCS_SYNTH_COUNTS)," in *",11=5,"*",13=7,"*) ;; *) bad "--population: $(kw "$W/p.fcs" LIBFCS_SYNTH_COUNTS)";; esac
b20=$(kw "$W/n.fcs" LIBFCS_SYNTH_COUNTS | tr ',' '\n' | sed -n 's/^11=//p')
[ "$(kw "$W/p.fcs" '\$TOT')" = $((1000 - 138 + 7 - b20 + 5)) ] || bad "--population: \$TOT $(kw "$W/p.fcs" '\$TOT')"
# the default model is the basic 4-colour one, 10000 events
"$SYNTH" --no-version -o "$W/basic.fcs"
[ "$(kw "$W/basic.fcs" '\$TOT')" = 10000 ] && [ "$(kw "$W/basic.fcs" '\$PAR')" = 8 ] &&
    [ "$(kw "$W/basic.fcs" LIBFCS_SYNTH_MODEL)" = blood-basic-1 ] || bad "default model"
[ -z "$(kw "$W/basic.fcs" '\$SPILLOVER')" ] || bad "basic model has a \$SPILLOVER"
# the truth table may go to stdout while the FCS goes to a file
"$SYNTH" -n 10 --truth-file - --no-version -o "$W/t10.fcs" >"$W/t10.tsv"
[ "$(wc -l <"$W/t10.tsv")" = 11 ] || bad "--truth-file -: $(wc -l <"$W/t10.tsv") lines"

# ---- usage errors ------------------------------------------------------------------------------------
expect 2 "--preset: unknown preset 'day8' (known: baseline, day7" "$SYNTH" --preset day8 -o "$W/x.fcs"
expect 2 "--population: unknown population 'Tcells' (known: debris" "$SYNTH" --preset day7 --population Tcells=5 -o "$W/x.fcs"
expect 2 "--population: 'beads' is not NAME=COUNT" "$SYNTH" --population beads -o "$W/x.fcs"
expect 2 "--population: '-1' is not an integer" "$SYNTH" --preset day7 --population beads=-1 -o "$W/x.fcs"
expect 2 "--truth-file -: standard output already carries the FCS data" "$SYNTH" --truth-file -
[ -e "$W/x.fcs" ] && bad "a refused run wrote its output"

# ---- the default gating strategy against the truth -------------------------------------------------
if [ -x "$FCS_BIN/fcs-gate" ] && [ -f "$FCS_SRC/sample_data/strategy.txt" ]; then
    GATE="$FCS_BIN/fcs-gate"
    for p in baseline day7 day14 healthy; do
        "$SYNTH" --preset $p --seed 9 --truth --no-version -o "$W/g.fcs"
        "$GATE" --no-version -g "$FCS_SRC/sample_data/strategy.txt" "$W/g.fcs" | "$EXPORT" - >"$W/gt.tsv"
        "$GATE" --no-version -g "$FCS_SRC/sample_data/strategy.gating.xml" "$W/g.fcs" |
            "$EXPORT" - >"$W/gx.tsv"
        cmp -s "$W/gt.tsv" "$W/gx.tsv" || bad "$p: strategy.txt and strategy.gating.xml gate differently"
        $PY - "$W/gt.tsv" "$p" <<'EOF' || bad "$p: the default strategy misses the truth"
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
head, data = rows[0], rows[1:]
names = ("debris doublets dead granulocytes monocytes NK T-CD4 T-CD8 CAR-T-CD4 CAR-T-CD8 "
         "B-CD20+ B-CD20- beads").split()
lym = ["NK", "T-CD4", "T-CD8", "CAR-T-CD4", "CAR-T-CD8", "B-CD20+", "B-CD20-"]
want = {"Beads": ["beads"], "Granulocytes": ["granulocytes"], "Monocytes": ["monocytes"],
        "Lymphocytes": lym, "T": lym[1:5], "CD4": ["T-CD4", "CAR-T-CD4"],
        "CD8": ["T-CD8", "CAR-T-CD8"], "CAR+": ["CAR-T-CD4", "CAR-T-CD8"],
        "CAR+CD4": ["CAR-T-CD4"], "CAR+CD8": ["CAR-T-CD8"], "B": ["B-CD20+", "B-CD20-"],
        "CD20+": ["B-CD20+"], "NK": ["NK"]}
tp = head.index("TruePopulation")
col = {h.rsplit("/", 1)[-1]: i for i, h in enumerate(head) if h.startswith("POP:")}
ok = True
for gate, pops in want.items():
    ids = {str(names.index(x) + 1) for x in pops}
    truth = [r[tp] in ids for r in data]
    inside = [float(r[col[gate]]) >= 0.5 for r in data]
    fp = sum(g and not t for t, g in zip(truth, inside))
    fn = sum(t and not g for t, g in zip(truth, inside))
    # misclassified: at most 4% of the truth lost, 1% (+2 events) of the gate foreign
    if fn > 0.04 * sum(truth) + 1 or fp > 0.01 * sum(inside) + 2:
        print("  %s %s: true %d, gated %d, lost %d, foreign %d" %
              (sys.argv[2], gate, sum(truth), sum(inside), fn, fp))
        ok = False
sys.exit(0 if ok else 1)
EOF
    done
    if [ -x "$FCS_BIN/fcs-stats" ]; then
        # cells/uL of T cells from the gated stream and the bead lot = the truth (day14, seed 9)
        "$SYNTH" --preset day14 --seed 9 --no-version |
            "$GATE" --no-version -g "$FCS_SRC/sample_data/strategy.txt" - |
            "$FCS_BIN/fcs-stats" --beads /Time/Beads --bead-lot "$FCS_SRC/sample_data/beads.txt" \
                -s median -c CD3 - >"$W/st.tsv"
        got=$(awk -F'\t' '$2=="/Time/Singlets/Live/Leukocytes/Lymphocytes/T" && $4=="cells_per_ul" {print $8}' "$W/st.tsv")
        # true T cells of day14: 642+1014+186+389 = 2231 events x 51800/3500/50 = 660.376/uL
        awk -v g="$got" 'BEGIN {d = g - 660.376; if (d < 0) d = -d; exit !(g != "" && d < 0.01 * 660.376)}' ||
            bad "T cells/uL from beads.txt: '$got', true 660.376"
    fi
else
    echo "synth.sh: fcs-gate not built or sample_data/strategy.txt missing: strategy checks skipped"
fi

[ "$fail" = 0 ] && echo "ok: fcs-synth"
exit "$fail"
