#!/usr/bin/env bash
# fuzz_seeds.sh — regression run of the fuzz seeds and of every input that
# ever crashed the reader (tests/fuzz/regressions/).
#
# Each file is one option byte plus an FCS image (see tests/fuzz/fuzz_reader.c).
# When the harness is built (-DFCS_FUZZ=ON) it replays every file once. In any
# build, each image is also fed to fcs-info --json (bit 0 of the option byte
# adds --strict, bit 1 --metadata-only) and to fcs-export --raw: any exit code
# >= 128 (a signal) or a sanitizer report fails the test; exit 0 or 1 are both
# fine (rejecting garbage is correct).
# Env (from CTest): FCS_BIN, FCS_SRC, FCS_TMP. Exit 77 = skipped.
set -u
bin=${FCS_BIN:?FCS_BIN not set}
src=${FCS_SRC:?FCS_SRC not set}
tmp=${FCS_TMP:-/tmp}/fuzz_seeds.$$
info=$bin/fcs-info
export_=$bin/fcs-export
if [ ! -x "$info" ]; then
    echo "SKIP: $info not built"
    exit 77
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}abort_on_error=1
export UBSAN_OPTIONS=${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}halt_on_error=1:print_stacktrace=1
mkdir -p "$tmp" || exit 1
trap 'rm -rf "$tmp"' EXIT

shopt -s nullglob
files=("$src"/tests/fuzz/seeds/*.seed "$src"/tests/fuzz/regressions/*.bin)
if [ ${#files[@]} -eq 0 ]; then
    echo "FAIL: no seeds under $src/tests/fuzz/seeds (run tests/fuzz/make_seeds.py)"
    exit 1
fi
fail=0

# run LABEL CMD... : fail on signal or sanitizer report.
check() {
    local label=$1; shift
    "$@" >/dev/null 2>"$tmp/err"
    local rc=$?
    if [ $rc -ge 128 ] || grep -q -e 'Sanitizer' -e 'runtime error:' "$tmp/err"; then
        local why
        why=$(grep -m1 -e ERROR -e 'runtime error' "$tmp/err" || head -n1 "$tmp/err")
        echo "FAIL $label: exit $rc: $why"
        fail=1
    fi
}

if [ -x "$bin/fuzz_reader" ]; then
    check "fuzz_reader (${#files[@]} inputs)" "$bin/fuzz_reader" -runs=1 "${files[@]}"
fi

for f in "${files[@]}"; do
    name=${f#"$src"/tests/fuzz/}
    opt=$(od -An -tu1 -N1 "$f" | tr -d ' ')
    flags=()
    [ $((opt & 1)) -ne 0 ] && flags+=(--strict)
    [ $((opt & 2)) -ne 0 ] && flags+=(--metadata-only)
    tail -c +2 "$f" >"$tmp/image.fcs"
    check "fcs-info ${flags[*]} $name" "$info" --json "${flags[@]}" "$tmp/image.fcs"
    if [ -x "$export_" ]; then
        check "fcs-export --raw $name" "$export_" --raw "$tmp/image.fcs"
        # From a pipe as well: the sequential source is a separate code path.
        check "fcs-export - <$name" sh -c 'exec "$1" - <"$2"' sh "$export_" "$tmp/image.fcs"
    fi
done

if [ $fail -ne 0 ]; then
    echo "fuzz_seeds: FAILED"
    exit 1
fi
echo "fuzz_seeds: ${#files[@]} inputs, no crash"
exit 0
