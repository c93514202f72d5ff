#!/usr/bin/env bash
# run.sh — build the libFuzzer harness and run it over the seed corpus.
#
# Usage: tests/fuzz/run.sh [libFuzzer flags...]      (default: -runs=100000)
#   e.g. tests/fuzz/run.sh -runs=1000000
#        tests/fuzz/run.sh -max_total_time=600
#        tests/fuzz/run.sh --replay [FILE...]   replay inputs (default: every file in
#                          tests/fuzz/regressions/) one by one and print each one's
#                          sanitizer report with its stack; exit 1 if any still fails
# Environment:
#   BUILD    build directory (default: <repo>/build-fuzz)
#   FUZZER   harness name    (default: fuzz_reader)
#   NOBUILD  set to 1 to use the existing binary as is
#   SEEDS    seed folder (default: tests/fuzz/seeds for fuzz_reader, none for others;
#            other harnesses run in tests/fuzz/corpus-run/<harness>/)
#
# The seeds (tests/fuzz/seeds/*.seed, made by make_seeds.py) are copied into
# tests/fuzz/corpus-run/corpus/ (git-ignored), which libFuzzer grows as it
# finds new coverage; a later run continues from there. Crash, timeout and
# out-of-memory inputs land in tests/fuzz/corpus-run/artifacts/. Keep each one
# as a regression under tests/fuzz/regressions/ (named <what>-<sha1>.bin: the
# .gitignore hides crash-*), where tests/tools/fuzz_seeds.sh replays them.
#
# FCS_FUZZ=ON compiles the whole library with coverage counters and ASan/UBSan
# (CMakeLists.txt), so libFuzzer sees the parser and overflows become crashes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=${BUILD:-$src/build-fuzz}
fuzzer=${FUZZER:-fuzz_reader}

if [ "${NOBUILD:-0}" != 1 ]; then
    cmake -S "$src" -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DFCS_FUZZ=ON -DFCS_BENCH=OFF -DBUILD_TESTING=OFF >/dev/null
    cmake --build "$build" -j2 --target "$fuzzer"
fi

export UBSAN_OPTIONS=${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1
if [ "${1:-}" = --replay ]; then
    shift
    [ $# -gt 0 ] || set -- "$here"/regressions/*.bin
    status=0
    for f in "$@"; do
        [ -e "$f" ] || continue
        if out=$("$build/$fuzzer" -timeout=10 -rss_limit_mb=2048 "$f" 2>&1); then
            echo "== $f: ok"
        else
            status=1
            echo "== $f: FAILS"
            printf '%s\n' "$out" | grep -E -e 'ERROR|runtime error|contract broken|^ +#[0-9]+ ' \
                | grep -v -e 'in fuzzer::' -e 'in main ' -e 'libc' -e '_start' | head -n 40
        fi
    done
    exit $status
fi

# The seeds are FCS images for fuzz_reader; another harness gets its own
# corpus folder and the seeds named by SEEDS (a folder), if any.
if [ "$fuzzer" = fuzz_reader ]; then
    run_dir=$here/corpus-run
    seeds=${SEEDS:-$here/seeds}
else
    run_dir=$here/corpus-run/$fuzzer
    seeds=${SEEDS:-}
fi
mkdir -p "$run_dir/corpus" "$run_dir/artifacts"
if [ -n "$seeds" ]; then
    cp -n "$seeds"/* "$run_dir/corpus/"
fi
[ $# -gt 0 ] || set -- -runs=100000
# One job on one core: the machine is shared. Sizes: FCS seeds are tiny, but
# 64 KiB lets the fuzzer grow multi-data-set and supplemental-TEXT inputs.
exec "$build/$fuzzer" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$run_dir/artifacts/" -print_final_stats=1 "$@" "$run_dir/corpus"
