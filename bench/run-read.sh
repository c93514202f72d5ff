#!/usr/bin/env bash
# run-read.sh — reading benchmark (issue 2): how close is the reader to `cat`?
#
#   bench/run-read.sh [BUILD_DIR]      (default: build-bench, Release)
#
# Generates bench/data/large.fcs (10M events x 20 float32 parameters, 800 MB,
# seed 1) when missing, warms the page cache with cat (nothing is dropped),
# then times `cat FILE > /dev/null` (best of 3) and bench_read (best of 3, with
# mmap and with read(2)) and prints the ratio reader time / cat time. The
# ratio uses the first f32 pass after fcs_open: what a tool reading the file
# once pays (including the page faults of the fresh mapping).
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build-bench}
DATA=${FCS_BENCH_FILE:-$SRC/bench/data/large.fcs}

if [ ! -x "$BUILD/bench_read" ] || [ ! -x "$BUILD/bench_gen_large" ]; then
    cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
    cmake --build "$BUILD" -j2 --target bench_gen_large bench_read >/dev/null
fi
if [ ! -f "$DATA" ]; then
    mkdir -p "$(dirname "$DATA")"
    "$BUILD/bench_gen_large" "$DATA"
fi

cat "$DATA" > /dev/null   # warm the page cache

now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }
best_cat=
for _ in 1 2 3; do
    t0=$(now); cat "$DATA" > /dev/null; t1=$(now)
    t=$(calc "$t1 - $t0")
    if [ -z "$best_cat" ] || [ "$(calc "$t < $best_cat")" != 0.000000 ]; then best_cat=$t; fi
done

echo "machine: $(nproc) cores, $(uname -m), $(awk '/MemTotal/ {printf "%.0f GB RAM", $2/1048576}' /proc/meminfo)"
echo "file: $DATA ($(stat -c %s "$DATA") bytes)"
printf 'cat > /dev/null   %8.3f s (best of 3)\n' "$best_cat"
for mode in "" --no-mmap; do
    out=$("$BUILD/bench_read" --repeat 3 $mode "$DATA")
    echo "$out"
    f32=$(echo "$out" | awk '$1 == "read_events_f32" {print $2}')
    f64=$(echo "$out" | awk '$1 == "read_events" {print $2}')
    opn=$(echo "$out" | awk '$1 == "open" {print $2}')
    printf 'ratio (open + read_events_f32) / cat: %.2f\n' "$(calc "($opn + $f32) / $best_cat")"
    printf 'ratio (open + read_events)     / cat: %.2f\n' "$(calc "($opn + $f64) / $best_cat")"
done
