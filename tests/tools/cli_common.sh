#!/usr/bin/env bash
# cli_common.sh — the conventions every tool shares (docs/cli.md):
#   --help/-h: usage on stdout, exit 0, nothing on stderr;
#   --version: 4 lines (tool + version, libfcs, zlib, HDF5), exit 0;
#   usage errors (unknown option, missing or bad option value, bad argument
#   combinations): exit 2, a message and a short usage on stderr, nothing on stdout;
#   unreadable input: exit 1 and exactly one line "TOOL: FILE: message" on stderr.
# Env (set by CTest): FCS_BIN, FCS_TMP.
set -euo pipefail
: "${FCS_BIN:?}"
TOOLS=(fcs-info fcs-export fcs-cat fcs-synth)
for t in "${TOOLS[@]}"; do
    [ -x "$FCS_BIN/$t" ] || { echo "SKIP: $FCS_BIN/$t not built"; exit 77; }
done
mkdir -p "${FCS_TMP:-/tmp}"
W=$(mktemp -d "${FCS_TMP:-/tmp}/cli_common.XXXXXX")
trap 'rm -rf "$W"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# run CMD...: exit status in RC, streams in $W/out and $W/err (stdin empty).
run() {
    RC=0
    "$@" </dev/null >"$W/out" 2>"$W/err" || RC=$?
}
lines() { wc -l <"$1" | tr -d ' '; }

# ---- --help, -h, --version --------------------------------------------------------
for t in "${TOOLS[@]}"; do
    T="$FCS_BIN/$t"
    for h in --help -h; do
        run "$T" "$h"
        [ "$RC" = 0 ] || bad "$t $h: exit $RC"
        head -1 "$W/out" | grep -q "^Usage: $t " || bad "$t $h: first line not 'Usage: $t ...'"
        [ "$(lines "$W/out")" -ge 3 ] || bad "$t $h: help too short"
        [ -s "$W/err" ] && bad "$t $h: wrote to stderr: $(head -1 "$W/err")"
    done
    run "$T" --version
    [ "$RC" = 0 ] || bad "$t --version: exit $RC"
    [ "$(lines "$W/out")" = 4 ] || bad "$t --version: $(lines "$W/out") lines, want 4"
    grep -Eq "^$t [0-9]+\.[0-9]+\.[0-9]+$" "$W/out" || bad "$t --version: no '$t X.Y.Z' line"
    grep -Eq '^libfcs [0-9]+\.[0-9]+\.[0-9]+$' "$W/out" || bad "$t --version: no libfcs line"
    grep -Eq '^zlib [0-9]' "$W/out" || bad "$t --version: no zlib line"
    grep -Eq '^HDF5 [0-9]+\.[0-9]+\.[0-9]+$' "$W/out" || bad "$t --version: no HDF5 line"
    [ -s "$W/err" ] && bad "$t --version: wrote to stderr"
    # help wins over the rest of the line, as it is handled when met
    run "$T" --help --bogus
    [ "$RC" = 0 ] || bad "$t --help --bogus: exit $RC, want 0"
done

# ---- usage errors: exit 2, message + usage on stderr, stdout empty --------------
# usage_error WANT_TEXT TOOL ARGS...
usage_error() {
    local want=$1 t=$2
    shift 2
    run "$FCS_BIN/$t" "$@"
    local what="$t $*"
    [ "$RC" = 2 ] || bad "$what: exit $RC, want 2 (stderr: $(head -1 "$W/err"))"
    [ -s "$W/out" ] && bad "$what: wrote to stdout"
    head -1 "$W/err" | grep -q "^$t: " || bad "$what: stderr does not start with '$t: '"
    grep -qF -- "$want" "$W/err" || bad "$what: stderr lacks '$want': $(head -1 "$W/err")"
    grep -q "^Usage: $t " "$W/err" || bad "$what: no short usage on stderr"
}
for t in "${TOOLS[@]}"; do
    usage_error "unknown option '--bogus'" "$t" --bogus
    usage_error "unknown option '-Z'" "$t" -Z
done
usage_error "option '-o' needs an argument" fcs-info -o
usage_error "option '-f' needs an argument" fcs-export -f
usage_error "option '--head' needs an argument" fcs-cat --head
usage_error "option '-n' needs an argument" fcs-synth -n
usage_error "-f: unknown format 'xml'" fcs-export -f xml x.fcs
usage_error "-d: 'one' is not an integer" fcs-export -d one x.fcs
usage_error "-d: '-1' is not an integer" fcs-cat -d -1 x.fcs
usage_error "-@: '1000' is not an integer" fcs-export -@ 1000 x.fcs
usage_error "cannot go with --raw" fcs-export --raw --time-seconds x.fcs
usage_error "one input file only" fcs-export a.fcs b.fcs
usage_error "--seed needs --subsample" fcs-cat --seed 3 x.fcs
usage_error "--subsample: '-5' is not an integer" fcs-cat --subsample -5 x.fcs
usage_error "--head: '10x' is not an integer" fcs-cat --head 10x x.fcs
usage_error "standard input ('-') can be read only once" fcs-cat - -
usage_error "-n: 'abc' is not an integer" fcs-synth -n abc
usage_error "-n: '-5' is not an integer" fcs-synth -n -5
usage_error "--seed: '-1' is not an unsigned integer" fcs-synth --seed -1
usage_error "--seed: '18446744073709551616' is not an unsigned" fcs-synth --seed 18446744073709551616
usage_error "unexpected argument 'extra'" fcs-synth extra

# ---- unreadable input: exit 1, one line naming the file ----------------------------
missing="$W/no such file.fcs"
for t in fcs-info fcs-export fcs-cat; do
    run "$FCS_BIN/$t" "$missing"
    [ "$RC" = 1 ] || bad "$t missing file: exit $RC, want 1"
    [ "$(lines "$W/err")" = 1 ] || bad "$t missing file: $(lines "$W/err") stderr lines, want 1"
    grep -qF "$t: $missing: " "$W/err" || bad "$t missing file: message does not name it: $(cat "$W/err")"
    [ -s "$W/out" ] && bad "$t missing file: wrote to stdout"
done
printf 'this is not an FCS file, only some text\n' >"$W/text.fcs"
for t in fcs-info fcs-export fcs-cat; do
    run "$FCS_BIN/$t" "$W/text.fcs"
    [ "$RC" = 1 ] || bad "$t text file: exit $RC, want 1"
    [ "$(lines "$W/err")" = 1 ] || bad "$t text file: $(lines "$W/err") stderr lines, want 1"
    grep -qF "$t: $W/text.fcs: " "$W/err" || bad "$t text file: message does not name it"
    # the library's message already names the file: it is not repeated
    [ "$(grep -oF "$W/text.fcs" "$W/err" | wc -l)" = 1 ] || bad "$t text file: file named twice: $(cat "$W/err")"
done
# a bad input in stdin is called <stdin>
RC=0
"$FCS_BIN/fcs-info" - <"$W/text.fcs" >"$W/out" 2>"$W/err" || RC=$?
[ "$RC" = 1 ] || bad "fcs-info - (text): exit $RC"
grep -q '^fcs-info: <stdin>: ' "$W/err" || bad "fcs-info - (text): stdin not called <stdin>: $(cat "$W/err")"

if [ "$fail" = 0 ]; then echo "cli_common: all checks passed"; fi
exit "$fail"
