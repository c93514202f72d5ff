#!/usr/bin/env bash
# output_safety.sh — how the tools end and what they leave behind (docs/cli.md):
#   * `| head`: a reader that goes away early ends the tool quietly, status 0;
#   * a full disk (/dev/full) is a failed write: status 1, one message naming <stdout>;
#   * -o FILE: a failing input (at open or halfway through the data) leaves no FILE
#     and no FILE.tmp.*, and an existing FILE keeps its bytes; success replaces it;
#   * SIGTERM while writing -o FILE removes the temporary file;
#   * -o onto an input (same file by another name, symlink, hard link, stdin
#     redirected from it, a matrix file of fcs-comp, the second of several inputs):
#     refused with one line, status 1, the input byte-identical, no temporary left;
#   * a reader that has already gone when the FCS header is written (`| true`),
#     and `fcs-info --json | head -c 10`: quiet, status 0;
#   * binary FCS is never written to a terminal (status 2), and a terminal on
#     stdin with no input file is a usage error (status 2); both via a pty.
# Env (set by CTest): FCS_BIN, FCS_TMP.
set -euo pipefail
: "${FCS_BIN:?}"
for t in fcs-info fcs-export fcs-cat fcs-synth fcs-comp fcs-xform; do
    [ -x "$FCS_BIN/$t" ] || { echo "SKIP: $FCS_BIN/$t not built"; exit 77; }
done
mkdir -p "${FCS_TMP:-/tmp}"
W=$(mktemp -d "${FCS_TMP:-/tmp}/output_safety.XXXXXX")
trap 'rm -rf "$W"' EXIT
SYNTH="$FCS_BIN/fcs-synth" CAT="$FCS_BIN/fcs-cat" EXPORT="$FCS_BIN/fcs-export" INFO="$FCS_BIN/fcs-info"
COMP="$FCS_BIN/fcs-comp" XFORM="$FCS_BIN/fcs-xform"
fail=0
bad() { echo "FAIL: $*"; fail=1; }
lines() { wc -l <"$1" | tr -d ' '; }
no_tmp() { # no_tmp PATH WHAT: no PATH.tmp.* left
    if compgen -G "$1.tmp.*" >/dev/null; then bad "$2: left $(compgen -G "$1.tmp.*")"; fi
}

"$SYNTH" -n 200000 --seed 2 --no-version -o "$W/big.fcs" # 6.4 MB, 30 MB as text
"$SYNTH" -n 20 --seed 2 --no-version -o "$W/small.fcs"

# ---- | head: quiet, status 0 --------------------------------------------------------------
# quiet_head WHAT HEAD_ARGS -- CMD...
quiet_head() {
    local what=$1 hargs=$2
    shift 3
    set +o pipefail
    "$@" 2>"$W/err" | head $hargs >"$W/head.out"
    local st=("${PIPESTATUS[@]}")
    set -o pipefail
    [ "${st[0]}" = 0 ] || bad "$what | head $hargs: tool exit ${st[0]}, want 0"
    [ -s "$W/err" ] && bad "$what | head $hargs: stderr: $(head -1 "$W/err")"
    [ -s "$W/head.out" ] || bad "$what | head $hargs: nothing came through"
}
quiet_head "fcs-export" -1 -- "$EXPORT" "$W/big.fcs"
[ "$(cat "$W/head.out")" = "$(printf 'FSC-A\tFSC-H\tSSC-A\tFITC-A\tPE-A\tAPC-A\tBV421-A\tTime')" ] ||
    bad "fcs-export | head -1: not the header line"
quiet_head "fcs-export -@ 1" -2 -- "$EXPORT" -@ 1 "$W/big.fcs"
quiet_head "fcs-export -f csv" -1 -- "$EXPORT" -f csv - <"$W/big.fcs"
quiet_head "fcs-cat" "-c 100" -- "$CAT" "$W/big.fcs"
quiet_head "fcs-cat (2 inputs)" "-c 100" -- "$CAT" "$W/big.fcs" "$W/big.fcs"
quiet_head "fcs-cat --subsample" "-c 100" -- "$CAT" --subsample 150000 "$W/big.fcs"
quiet_head "fcs-synth" "-c 100" -- "$SYNTH" -n 2000000
files=()
for i in $(seq 300); do files+=("$W/small.fcs"); done
quiet_head "fcs-info --json (300 files)" -1 -- "$INFO" --json "${files[@]}"
quiet_head "fcs-info (300 files)" -1 -- "$INFO" "${files[@]}"
# fcs-info reading a pipe, its text output cut by head (regression: the EPIPE of an
# earlier write was reported as "write error" with status 1)
set +o pipefail
for i in 1 2 3; do
    "$CAT" "$W/big.fcs" "$W/big.fcs" --subsample 1000 --seed 3 | "$INFO" - 2>"$W/err" | head -8 >/dev/null
    st=("${PIPESTATUS[@]}")
    [ "${st[1]}" = 0 ] || bad "fcs-cat | fcs-info - | head -8: fcs-info exit ${st[1]}, want 0"
    [ -s "$W/err" ] && bad "fcs-cat | fcs-info - | head -8: stderr: $(head -1 "$W/err")"
done
set -o pipefail
# the pipe reader goes away at once: the tool must still end 0
set +o pipefail
"$EXPORT" "$W/big.fcs" 2>"$W/err" | true
st=${PIPESTATUS[0]}
set -o pipefail
[ "$st" = 0 ] || bad "fcs-export | true: exit $st"

# the reader has gone before the tool writes anything (the FCS header is written by
# fcs_writer_begin: regression, that EPIPE was "broken pipe" with status 1)
set +o pipefail
quiet_gone() { # quiet_gone WHAT CMD...: CMD starts after `true` has closed the pipe
    local what=$1
    shift
    { sleep 0.3; "$@" 2>"$W/err"; } | true
    local st=${PIPESTATUS[0]}
    [ "$st" = 0 ] || bad "$what | true (reader gone first): exit $st, want 0"
    if [ -s "$W/err" ]; then bad "$what | true (reader gone first): stderr: $(head -1 "$W/err")"; fi
}
printf 'FITC-A,PE-A\n1,0.1\n0.05,1\n' >"$W/m2.csv"
quiet_gone fcs-cat "$CAT" "$W/small.fcs"
quiet_gone "fcs-cat (2 inputs)" "$CAT" "$W/small.fcs" "$W/small.fcs"
quiet_gone fcs-comp "$COMP" -m "$W/m2.csv" "$W/small.fcs"
quiet_gone fcs-xform "$XFORM" -t 'asinh(150):FITC-A' "$W/small.fcs"
quiet_gone "fcs-xform --auto" "$XFORM" --auto "$W/small.fcs"
quiet_gone fcs-synth "$SYNTH" -n 10
quiet_gone fcs-export "$EXPORT" "$W/small.fcs"
quiet_gone "fcs-info --json" "$INFO" --json "$W/small.fcs"
# one small file: its whole JSON line is in stdio's buffer, flushed at the end
# (regression: the EPIPE of that flush was reported as "write error: I/O error")
n_bad=0
for i in $(seq 20); do
    "$INFO" --json "$W/small.fcs" 2>"$W/err" | head -c 10 >/dev/null
    st=${PIPESTATUS[0]}
    if [ "$st" != 0 ] || [ -s "$W/err" ]; then n_bad=$((n_bad + 1)); msg=$(head -1 "$W/err"); fi
done
[ "$n_bad" = 0 ] || bad "fcs-info --json FILE | head -c 10: $n_bad of 20 runs not quiet: $msg"
set -o pipefail

# ---- full disk: status 1, one line ---------------------------------------------------------
if [ -w /dev/full ]; then
    # full_disk WHAT CMD...
    full_disk() {
        local what=$1 rc=0
        shift
        "$@" >/dev/full 2>"$W/err" || rc=$?
        [ "$rc" = 1 ] || bad "$what >/dev/full: exit $rc, want 1"
        [ "$(lines "$W/err")" = 1 ] || bad "$what >/dev/full: $(lines "$W/err") stderr lines"
        grep -q '<stdout>: .*\(write error\|no space\)' "$W/err" ||
            bad "$what >/dev/full: message: $(cat "$W/err")"
    }
    full_disk fcs-export "$EXPORT" "$W/big.fcs"
    full_disk "fcs-export (small)" "$EXPORT" "$W/small.fcs" # fails only at the final fclose
    full_disk fcs-info "$INFO" "$W/small.fcs"
    full_disk "fcs-info --json" "$INFO" --json "$W/small.fcs"
    full_disk fcs-cat "$CAT" "$W/big.fcs"
    full_disk fcs-synth "$SYNTH" -n 100
    full_disk "fcs-synth --version" "$SYNTH" --version
else
    echo "note: /dev/full not writable, full-disk checks skipped"
fi

# ---- -o FILE on failing input --------------------------------------------------------------
printf 'not FCS at all, just text that is long enough to pass a size check......\n' >"$W/bad.fcs"
# truncated gzip: HEADER and TEXT intact, DATA cut halfway
gzip -c "$W/big.fcs" >"$W/big.fcs.gz"
head -c 3000000 "$W/big.fcs.gz" >"$W/trunc.fcs.gz"
printf 'precious bytes\n' >"$W/keep.orig"
# o_fails WHAT OUT CMD...: exit 1, OUT absent or as before, no OUT.tmp.*
o_fails() {
    local what=$1 out=$2 rc=0
    shift 2
    "$@" 2>"$W/err" >/dev/null || rc=$?
    [ "$rc" = 1 ] || bad "$what: exit $rc, want 1"
    [ "$(lines "$W/err")" = 1 ] || bad "$what: $(lines "$W/err") stderr lines: $(head -3 "$W/err")"
    no_tmp "$out" "$what"
}
for t in cat export; do
    T="$FCS_BIN/fcs-$t"
    rm -f "$W/new.out"
    o_fails "fcs-$t bad input -o new" "$W/new.out" "$T" "$W/bad.fcs" -o "$W/new.out"
    [ -e "$W/new.out" ] && bad "fcs-$t bad input: created the output"
    o_fails "fcs-$t truncated gzip -o new" "$W/new.out" "$T" "$W/trunc.fcs.gz" -o "$W/new.out"
    [ -e "$W/new.out" ] && bad "fcs-$t truncated input: left a partial output"
    grep -q "fcs-$t: $W/trunc.fcs.gz: " "$W/err" || bad "fcs-$t truncated: message: $(cat "$W/err")"
    cp "$W/keep.orig" "$W/keep.out"
    o_fails "fcs-$t bad input -o existing" "$W/keep.out" "$T" "$W/bad.fcs" -o "$W/keep.out"
    cmp -s "$W/keep.orig" "$W/keep.out" || bad "fcs-$t bad input: damaged the existing output"
    o_fails "fcs-$t truncated -o existing" "$W/keep.out" "$T" "$W/trunc.fcs.gz" -o "$W/keep.out"
    cmp -s "$W/keep.orig" "$W/keep.out" || bad "fcs-$t truncated input: damaged the existing output"
done
# the second input fails after the first was written
cp "$W/keep.orig" "$W/keep.out"
o_fails "fcs-cat good + truncated" "$W/keep.out" "$CAT" "$W/big.fcs" "$W/trunc.fcs.gz" -o "$W/keep.out"
cmp -s "$W/keep.orig" "$W/keep.out" || bad "fcs-cat good + truncated: damaged the existing output"
cp "$W/keep.orig" "$W/keep.out"
o_fails "fcs-info bad input -o existing" "$W/keep.out" "$INFO" "$W/small.fcs" "$W/bad.fcs" -o "$W/keep.out"
[ -s "$W/keep.out" ] || bad "fcs-info: a failing file among good ones still writes the good ones"
# an output folder that does not exist: exit 1, message names the output
rc=0
"$CAT" "$W/small.fcs" -o "$W/no/such/dir/x.fcs" 2>"$W/err" || rc=$?
[ "$rc" = 1 ] || bad "fcs-cat -o into a missing folder: exit $rc"
grep -q "^fcs-cat: $W/no/such/dir/x.fcs" "$W/err" || bad "missing folder message: $(cat "$W/err")"
# success replaces an existing output, leaves no temporary
cp "$W/keep.orig" "$W/keep.out"
"$CAT" --no-version "$W/small.fcs" -o "$W/keep.out"
"$CAT" --no-version "$W/small.fcs" | cmp -s - "$W/keep.out" || bad "fcs-cat -o did not replace the file"
no_tmp "$W/keep.out" "fcs-cat -o success"
"$EXPORT" "$W/small.fcs" -o "$W/keep.out"
"$EXPORT" "$W/small.fcs" | cmp -s - "$W/keep.out" || bad "fcs-export -o did not write the table"
"$INFO" --json "$W/small.fcs" -o "$W/keep.out"
"$INFO" --json "$W/small.fcs" | cmp -s - "$W/keep.out" || bad "fcs-info -o did not write the JSON"

# ---- -o onto an input: refused, the input untouched ------------------------------------------
# same_file WHAT FILE CMD...: exit 1, one line naming FILE's twin, FILE unchanged, no temporary
same_file() {
    local what=$1 f=$2 rc=0
    shift 2
    cp "$f" "$W/before"
    "$@" >/dev/null 2>"$W/err" </dev/null || rc=$?
    [ "$rc" = 1 ] || bad "$what: exit $rc, want 1"
    [ "$(lines "$W/err")" = 1 ] || bad "$what: $(lines "$W/err") stderr lines: $(head -3 "$W/err")"
    grep -q ": output is the same file as input .*; nothing written$" "$W/err" ||
        bad "$what: message: $(head -1 "$W/err")"
    cmp -s "$W/before" "$f" || bad "$what: the input was changed"
    no_tmp "$f" "$what"
}
cp "$W/small.fcs" "$W/w.fcs"
ln -s w.fcs "$W/link.fcs"
ln "$W/w.fcs" "$W/hard.fcs"
same_file "fcs-export -o IN IN" "$W/w.fcs" "$EXPORT" -o "$W/w.fcs" "$W/w.fcs"
same_file "fcs-info -o IN IN" "$W/w.fcs" "$INFO" -o "$W/w.fcs" "$W/w.fcs"
same_file "fcs-info --json -o ./IN IN" "$W/w.fcs" "$INFO" --json -o "$W/./w.fcs" "$W/w.fcs"
same_file "fcs-info -o IN (second of two)" "$W/w.fcs" "$INFO" "$W/small.fcs" "$W/w.fcs" -o "$W/w.fcs"
same_file "fcs-cat -o IN IN" "$W/w.fcs" "$CAT" "$W/w.fcs" -o "$W/w.fcs"
same_file "fcs-cat -o IN (second of two)" "$W/w.fcs" "$CAT" "$W/small.fcs" "$W/w.fcs" -o "$W/w.fcs"
same_file "fcs-cat -o SYMLINK IN" "$W/w.fcs" "$CAT" "$W/w.fcs" -o "$W/link.fcs"
[ -L "$W/link.fcs" ] || bad "fcs-cat -o SYMLINK: the link was replaced"
same_file "fcs-cat -o IN HARDLINK" "$W/w.fcs" "$CAT" "$W/hard.fcs" -o "$W/w.fcs"
same_file "fcs-cat - -o IN <IN" "$W/w.fcs" sh -c '"$1" - -o "$2" <"$2"' sh "$CAT" "$W/w.fcs"
same_file "fcs-comp -o IN IN" "$W/w.fcs" "$COMP" -m "$W/m2.csv" -o "$W/w.fcs" "$W/w.fcs"
same_file "fcs-comp -m M -o M" "$W/m2.csv" "$COMP" -m "$W/m2.csv" "$W/small.fcs" -o "$W/m2.csv"
same_file "fcs-comp --spectral M -o M" "$W/m2.csv" "$COMP" --spectral "$W/m2.csv" "$W/small.fcs" -o "$W/m2.csv"
same_file "fcs-xform -o IN IN" "$W/w.fcs" "$XFORM" -t 'asinh(150):FITC-A' -o "$W/w.fcs" "$W/w.fcs"
same_file "fcs-xform --auto -o HARDLINK IN" "$W/w.fcs" "$XFORM" --auto -o "$W/hard.fcs" "$W/w.fcs"
# tools that do not note their inputs are covered by the check of open descriptors
if [ -x "$FCS_BIN/fcs-plot" ]; then
    same_file "fcs-plot -o IN IN" "$W/w.fcs" "$FCS_BIN/fcs-plot" -x FSC-A -o "$W/w.fcs" "$W/w.fcs"
fi
# a different file of the same content is no input
"$CAT" --no-version "$W/w.fcs" -o "$W/copy.fcs" && cmp -s "$W/copy.fcs" <("$CAT" --no-version "$W/w.fcs") ||
    bad "fcs-cat -o a new file next to the input failed"

# ---- SIGTERM while writing -o FILE ---------------------------------------------------------
for cmd in synth cat; do
    out="$W/killed.$cmd.fcs"
    if [ $cmd = synth ]; then
        "$SYNTH" -n 100000000 -o "$out" &
    else
        # an endless input: the writer is still busy when the signal comes
        "$SYNTH" -n 100000000 2>/dev/null | "$CAT" -o "$out" &
    fi
    pid=$! # for a pipeline: its last process, fcs-cat
    for _ in $(seq 100); do compgen -G "$out.tmp.*" >/dev/null && break; sleep 0.1; done
    compgen -G "$out.tmp.*" >/dev/null || bad "fcs-$cmd -o: no temporary file while writing"
    sleep 0.2
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
    [ -e "$out" ] && bad "fcs-$cmd killed by SIGTERM: left $out"
    no_tmp "$out" "fcs-$cmd killed by SIGTERM"
done

# ---- terminals (pty) -------------------------------------------------------------------------
python3 - "$FCS_BIN" "$W" <<'EOF' || bad "terminal checks"
import os, subprocess, sys
bin_, w = sys.argv[1], sys.argv[2]
ok = True
def on_tty(args, tty_stdout=True, tty_stdin=False):
    m, s = os.openpty()
    p = subprocess.run([os.path.join(bin_, args[0])] + args[1:],
                       stdin=s if tty_stdin else subprocess.DEVNULL,
                       stdout=s if tty_stdout else subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    os.close(s)
    os.set_blocking(m, False)
    try:
        shown = os.read(m, 65536)
    except OSError:
        shown = b""
    os.close(m)
    return p.returncode, p.stderr.decode(), shown
def check(cond, what):
    global ok
    if not cond:
        print("  " + what)
        ok = False
for args in (["fcs-synth", "-n", "10"], ["fcs-cat", w + "/small.fcs"]):
    rc, err, shown = on_tty(args)
    check(rc == 2, "%s to a terminal: exit %d, want 2" % (args[0], rc))
    check("refusing to write binary FCS to a terminal" in err and err.count("\n") == 1,
          "%s to a terminal: message %r" % (args[0], err))
    check(shown == b"", "%s wrote %d bytes to the terminal" % (args[0], len(shown)))
# -o FILE is fine with a terminal on stdout; text tools print to it
rc, err, _ = on_tty(["fcs-synth", "-n", "10", "-o", w + "/tty.fcs"])
check(rc == 0 and os.path.exists(w + "/tty.fcs"), "fcs-synth -o with a tty stdout: exit %d %s" % (rc, err))
rc, err, shown = on_tty(["fcs-export", w + "/small.fcs"])
check(rc == 0 and shown.startswith(b"FSC-A\t"), "fcs-export to a terminal: exit %d" % rc)
# no input file and a terminal on stdin: usage error
for t in ("fcs-info", "fcs-export", "fcs-cat"):
    rc, err, _ = on_tty([t], tty_stdout=False, tty_stdin=True)
    check(rc == 2 and "no input file" in err, "%s with a tty stdin: exit %d %r" % (t, rc, err))
sys.exit(0 if ok else 1)
EOF

if [ "$fail" = 0 ]; then echo "output_safety: all checks passed"; fi
exit "$fail"
