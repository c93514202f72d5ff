#!/usr/bin/env bash
# workflow.sh — the Snakemake workflow (workflow/Snakefile) on sample_data/, locally with
# `snakemake --cores 2`, in a temporary folder:
#   * it runs to the end: one plan, one summary per file, the merged cohort and the table;
#   * its cohort holds, value for value (fcs-h5 export), what scripts/main-job computes, and
#     its table is the main job's: the same per-file chain under a workflow engine;
#   * a second run has nothing to do; a changed strategy redoes every sample;
#   * the profiles: the Snakemake 7 ones use only options this Snakemake knows, the local
#     one runs, the Slurm one plans the same jobs in a dry run (grouped 50 files a job), and
#     every config.v8+.yaml is YAML naming its executor.
# Skipped (77) when snakemake is not installed (Debian package snakemake).
# Env (set by CTest): FCS_BIN, FCS_SRC, FCS_TMP, FCS_PYTHON.
set -uo pipefail
: "${FCS_BIN:?}" "${FCS_SRC:?}"
command -v snakemake >/dev/null 2>&1 || { echo "SKIP: snakemake not installed (apt-get install snakemake)"; exit 77; }
for t in fcs-cat fcs-comp fcs-xform fcs-gate fcs-stats fcs-h5 fcs-info; do
    [ -x "$FCS_BIN/$t" ] || { echo "SKIP: $FCS_BIN/$t not built"; exit 77; }
done
compgen -G "$FCS_SRC/sample_data/*.fcs" >/dev/null || { echo "FAIL: no FCS file in sample_data/"; exit 1; }
mkdir -p "${FCS_TMP:-/tmp}"
W=$(mktemp -d "${FCS_TMP:-/tmp}/workflow.XXXXXX")
trap 'rm -rf "$W"' EXIT
SNAKE=(snakemake -s "$FCS_SRC/workflow/Snakefile" --directory "$W/run")
B=$FCS_BIN
fail=0
bad() { echo "FAIL: $*"; fail=1; }
mkdir -p "$W/run"
n=$(ls "$FCS_SRC"/sample_data/*.fcs | wc -l)

# ---- the workflow, and the main job on the same folder --------------------------------------------
"${SNAKE[@]}" --cores 2 --config out="$W/out" bin="$B" data="$FCS_SRC/sample_data" >"$W/smk.log" 2>&1 ||
    { bad "snakemake failed:"; tail -30 "$W/smk.log"; exit 1; }
grep -q "$((2 * n + 3)) of $((2 * n + 3)) steps (100%) done" "$W/smk.log" ||
    bad "not $((2 * n + 3)) jobs: $(grep 'steps' "$W/smk.log" | tail -1)"
for f in "$FCS_SRC"/sample_data/*.fcs; do
    s=$(basename "$f" .fcs)
    [ -s "$W/out/samples/$s.h5ad" ] && [ -s "$W/out/plans/$s.plan" ] || bad "$s: no summary or plan"
done
bash "$FCS_SRC/scripts/main-job" -b "$B" -o "$W/mj/cohort.h5" >"$W/mj.out" 2>&1 ||
    { bad "main-job failed: $(tail -5 "$W/mj.out")"; exit 1; }
"$B/fcs-h5" export "$W/out/cohort.h5" >"$W/smk.tsv" || bad "fcs-h5 export of the workflow's cohort"
"$B/fcs-h5" export "$W/mj/cohort.h5" >"$W/mj.tsv"
[ "$(wc -l <"$W/smk.tsv")" -gt $((100 * n)) ] || bad "a small cohort: $(wc -l <"$W/smk.tsv") rows"
cmp -s "$W/smk.tsv" "$W/mj.tsv" || bad "the workflow's cohort differs from the main job's: $(diff "$W/smk.tsv" "$W/mj.tsv" | head -4)"
[ "$("$B/fcs-h5" ls "$W/out/cohort.h5" | tail -n +2 | wc -l)" -eq "$n" ] || bad "not $n samples in the cohort"
grep -v '^$' "$W/mj.out" | grep -A"$n" '^sample ' >"$W/mj.table"
cmp -s "$W/out/cohort.table.txt" "$W/mj.table" || bad "tables differ: $(diff "$W/out/cohort.table.txt" "$W/mj.table" | head -4)"

# ---- incremental: nothing to do; a new strategy redoes the samples ----------------------------------
"${SNAKE[@]}" --cores 2 --config out="$W/out" bin="$B" data="$FCS_SRC/sample_data" >"$W/smk2.log" 2>&1 ||
    bad "second run failed"
grep -q "Nothing to be done" "$W/smk2.log" || bad "a second run redid work: $(grep steps "$W/smk2.log" | tail -1)"
# (a copy of the strategy with its CAR threshold moved: every file is planned and gated again)
sed 's/CAR+: rectangle L(FITC-A@FCS) \[0.36, )/CAR+: rectangle L(FITC-A@FCS) [0.5, )/' \
    "$FCS_SRC/sample_data/strategy.txt" >"$W/strategy2.txt"
cmp -s "$W/strategy2.txt" "$FCS_SRC/sample_data/strategy.txt" && bad "could not change the strategy copy"
"${SNAKE[@]}" --cores 2 --config out="$W/out2" bin="$B" data="$FCS_SRC/sample_data" \
    strategy="$W/strategy2.txt" >"$W/smk3.log" 2>&1 || bad "run with another strategy failed"
car() { awk -F'\t' '$2 ~ /\/T\/CAR\+$/ && $4 == "count" {s += $8} END {print s + 0}' "$1"; }
"$B/fcs-h5" export "$W/out2/cohort.h5" >"$W/smk3.tsv"
[ "$(car "$W/smk3.tsv")" -le "$(car "$W/smk.tsv")" ] && ! cmp -s "$W/smk3.tsv" "$W/smk.tsv" ||
    bad "a stricter CAR gate did not change the cohort ($(car "$W/smk3.tsv") vs $(car "$W/smk.tsv") CAR+ events)"

# ---- profiles ---------------------------------------------------------------------------------------
opts=$(snakemake --help | grep -o -- '--[a-z][a-z0-9-]*' | sort -u)
for p in "$FCS_SRC"/workflow/profiles/*/; do
    name=$(basename "$p")
    [ -f "$p/config.yaml" ] && [ -f "$p/config.v8+.yaml" ] || { bad "profile $name: config.yaml and config.v8+.yaml"; continue; }
    # every key of the Snakemake 7 file is an option of this Snakemake
    for k in $(sed -n 's/^\([a-z][a-z0-9-]*\):.*/\1/p' "$p/config.yaml"); do
        grep -qx -- "--$k" <<<"$opts" || bad "profile $name/config.yaml: '$k' is not a snakemake $(snakemake --version) option"
    done
    "${FCS_PYTHON:-python3}" - "$p/config.yaml" "$p/config.v8+.yaml" <<'EOF' || bad "profile $name: not YAML"
import sys, yaml
v7, v8 = (yaml.safe_load(open(f)) for f in sys.argv[1:3])
assert isinstance(v7, dict) and isinstance(v8, dict)
assert "executor" in v8, "config.v8+.yaml names no executor"
EOF
done
"${SNAKE[@]}" --profile "$FCS_SRC/workflow/profiles/local" --config out="$W/out4" bin="$B" \
    data="$FCS_SRC/sample_data" >"$W/local.log" 2>&1 || bad "the local profile: $(tail -5 "$W/local.log")"
cmp -s <("$B/fcs-h5" export "$W/out4/cohort.h5") "$W/smk.tsv" || bad "the local profile's cohort differs"
"${SNAKE[@]}" --profile "$FCS_SRC/workflow/profiles/slurm" -n --config out="$W/out5" bin="$B" \
    data="$FCS_SRC/sample_data" >"$W/slurm.log" 2>&1 || bad "the Slurm profile, dry run: $(tail -5 "$W/slurm.log")"
grep -q "group job per_file" "$W/slurm.log" || bad "the Slurm profile does not group the per-file jobs"
grep -q "slurm_account=CHANGE_ME" "$W/slurm.log" || bad "the Slurm profile's resources are not used"
[ ! -e "$W/out5" ] || bad "a dry run wrote results"

[ $fail -eq 0 ] && echo "ok: Snakemake workflow ($n samples, the main job's numbers)"
exit $fail
