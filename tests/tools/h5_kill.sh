#!/usr/bin/env bash
# h5_kill.sh — kill -9 in the middle of writing a summary never damages it:
#   * a large append (fcs-stats -o BIG, read + write of ~300,000 rows) and a
#     large merge (fcs-h5 merge -o OLD OLD BIG) are killed with SIGKILL while
#     their NAME.tmp.<pid> is being written;
#   * the previous summary is then byte-identical and reads back (fcs-h5 ls,
#     export), and the left-over NAME.tmp.<pid> is refused by fcs-h5 (never
#     taken for a summary), and a later append succeeds beside it;
#   * SIGTERM removes the temporary file (fcs_cli_guard_output).
# A kill that comes too late (the tool finished) is retried; the test fails if
# no kill lands mid-write. Runs in a few seconds (< 20 s).
# Env (set by CTest): FCS_BIN, FCS_TMP.
set -euo pipefail
: "${FCS_BIN:?}"
for t in fcs-synth fcs-stats fcs-h5; do
    [ -x "$FCS_BIN/$t" ] || { echo "SKIP: $FCS_BIN/$t not built"; exit 77; }
done
mkdir -p "${FCS_TMP:-/tmp}"
W=$(mktemp -d "${FCS_TMP:-/tmp}/h5_kill.XXXXXX")
trap 'rm -rf "$W"' EXIT
SYNTH="$FCS_BIN/fcs-synth" STATS="$FCS_BIN/fcs-stats" H5="$FCS_BIN/fcs-h5"
fail=0
bad() { echo "FAIL: $*"; fail=1; }
start=$SECONDS

# ---- a large summary: 24 samples x 8 populations x 8 channels x 150 percentiles --------
P=$(awk 'BEGIN {for (i = 1; i <= 150; i++) printf "%sp%g", (i > 1 ? "," : ""), i * 0.6}')
for i in $(seq 1 24); do
    "$SYNTH" -n 1500 --seed "$i" --truth --no-version -o "$W/s$i.fcs"
    "$STATS" --truth -s "$P" -o "$W/s$i.h5ad" "$W/s$i.fcs"
done
"$H5" merge -o "$W/big.h5ad" "$W"/s*.h5ad
rows=$("$H5" export "$W/big.h5ad" | wc -l)
[ "$rows" -gt 150000 ] || bad "big summary has only $rows rows"
"$SYNTH" -n 1500 --seed 99 --truth --no-version -o "$W/new.fcs"
"$STATS" --truth -o "$W/old.h5ad" "$W/new.fcs"
echo "big summary: $rows rows, $(stat -c %s "$W/big.h5ad") bytes (built in $((SECONDS - start)) s)"

# kill_mid_write TARGET CMD...: run CMD in the background, SIGKILL it as soon as
# TARGET.tmp.<pid> has data; check TARGET is as before. 0 when the kill landed
# mid-write, 1 when the tool had finished first (TARGET restored for a retry).
kill_mid_write() {
    local target=$1
    shift
    cp "$target" "$W/before"
    "$@" 2>/dev/null &
    local pid=$! tmp="$target.tmp.$!" n=0
    while [ ! -s "$tmp" ] && kill -0 "$pid" 2>/dev/null && [ $n -lt 200000 ]; do n=$((n + 1)); done
    kill -9 "$pid" 2>/dev/null || true
    local st=0
    wait "$pid" 2>/dev/null || st=$?
    if [ "$st" != 137 ]; then # finished before the kill: put the old file back
        cp "$W/before" "$target"
        rm -f "$tmp"
        return 1
    fi
    cmp -s "$target" "$W/before" || bad "$*: killed mid-write, and $target changed"
    "$H5" ls "$target" >/dev/null 2>"$W/err" || bad "$target unreadable after the kill: $(cat "$W/err")"
    if [ -e "$tmp" ]; then
        if "$H5" ls "$tmp" >/dev/null 2>"$W/err"; then
            bad "the unfinished $tmp was read as a summary"
        else
            grep -q "unfinished temporary file" "$W/err" || bad "message for $tmp: $(cat "$W/err")"
        fi
    else
        bad "no temporary file after the kill (the write had not started?)"
    fi
    return 0
}

landed=0
for attempt in 1 2 3 4 5 6; do
    if kill_mid_write "$W/big.h5ad" "$STATS" --truth -o "$W/big.h5ad" "$W/new.fcs"; then
        landed=1
        echo "fcs-stats -o killed mid-write (attempt $attempt)"
        break
    fi
done
[ $landed = 1 ] || bad "fcs-stats -o: no kill landed during the write in 6 attempts"
landed=0
for attempt in 1 2 3 4 5 6; do
    if kill_mid_write "$W/old.h5ad" "$H5" merge -o "$W/old.h5ad" "$W/old.h5ad" "$W/big.h5ad"; then
        landed=1
        echo "fcs-h5 merge killed mid-write (attempt $attempt)"
        break
    fi
done
[ $landed = 1 ] || bad "fcs-h5 merge: no kill landed during the write in 6 attempts"

# the left-over temporary files do not get in the way of the next writer
"$STATS" --truth -o "$W/big.h5ad" "$W/new.fcs" || bad "append after a kill failed"
[ "$("$H5" ls "$W/big.h5ad" | wc -l)" = 26 ] || bad "append after a kill: $("$H5" ls "$W/big.h5ad" | wc -l) lines"
"$H5" merge -o "$W/old.h5ad" "$W/old.h5ad" "$W/big.h5ad" 2>"$W/err" && bad "merge of a duplicate accepted"
"$H5" merge --replace -o "$W/old.h5ad" "$W/old.h5ad" "$W/big.h5ad" || bad "merge after a kill failed"
[ "$("$H5" ls "$W/old.h5ad" | wc -l)" = 26 ] || bad "merged summary: $("$H5" ls "$W/old.h5ad" | wc -l) lines"

# SIGTERM: the temporary file is removed, the summary unchanged
cp "$W/old.h5ad" "$W/before"
"$H5" merge --replace -o "$W/old.h5ad" "$W/old.h5ad" "$W/big.h5ad" 2>/dev/null &
pid=$! n=0
while [ ! -s "$W/old.h5ad.tmp.$pid" ] && kill -0 "$pid" 2>/dev/null && [ $n -lt 200000 ]; do n=$((n + 1)); done
kill -TERM "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
[ -e "$W/old.h5ad.tmp.$pid" ] && bad "SIGTERM left $W/old.h5ad.tmp.$pid"
"$H5" ls "$W/old.h5ad" >/dev/null || bad "summary unreadable after SIGTERM"

# Time is reported, not asserted: a timed test fails on a loaded machine or under sanitizers.
echo "time: $((SECONDS - start)) s"
[ "$fail" = 0 ] && echo "ok: killed writers never damage a summary"
exit "$fail"
