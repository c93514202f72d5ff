#!/usr/bin/env bash
# install.sh — `cmake --install` into a temporary prefix gives a usable libfcs:
#   * library (shared + static), public headers (and no private one), tools, man pages,
#     pkg-config file, CMake package files, all where a user expects them;
#   * installed tools run from the prefix with its own libfcs.so (RUNPATH $ORIGIN/../lib);
#   * examples/read_events.c builds against the installed tree via
#       `pkg-config --cflags --libs libfcs`, via `pkg-config --static` with libfcs.a, and via
#       a CMake project using find_package(libfcs) (tests/install/CMakeLists.txt);
#   * the four programs print the same table on a file made by fcs-synth, and the means in it
#     equal those computed by an independent reader (tests/install/fcs_means.py).
# Exit 77 (skip) after the install and build checks when fcs-synth is not built yet.
# Env (set by CTest): FCS_BIN FCS_SRC FCS_TMP FCS_CC FCS_CMAKE FCS_PYTHON FCS_SANITIZE.
set -u
: "${FCS_BIN:?}" "${FCS_SRC:?}"
CC=${FCS_CC:-cc}
CMAKE=${FCS_CMAKE:-cmake}
PY=${FCS_PYTHON:-python3}
mkdir -p "${FCS_TMP:-/tmp}"
W=$(mktemp -d "${FCS_TMP:-/tmp}/install.XXXXXX")
trap 'rm -rf "$W"' EXIT
PREFIX="$W/prefix"
fail=0
bad() { echo "FAIL: $*"; fail=1; }
die() { echo "FAIL: $*"; exit 1; }
san=()
if [ "${FCS_SANITIZE:-0}" = 1 ]; then
    # shellcheck disable=SC2054  # the commas belong to the flag
    san=(-fsanitize=address,undefined -fno-omit-frame-pointer)
fi

# ---- install -------------------------------------------------------------------------
"$CMAKE" --install "$FCS_BIN" --prefix "$PREFIX" >"$W/install.log" 2>&1 ||
    { cat "$W/install.log"; die "cmake --install failed"; }
pc=$(find "$PREFIX" -name libfcs.pc -path '*/pkgconfig/*' | head -1)
[ -n "$pc" ] || die "no pkgconfig/libfcs.pc installed"
LIBDIR=$(readlink -f "$(dirname "$(dirname "$pc")")")
# Where a program loads libfcs.so from (canonical path), "" when not found.
libfcs_of() {
    local so
    so=$(env -u LD_LIBRARY_PATH ldd "$1" | awk '/libfcs\.so/ {print $3}')
    [ -n "$so" ] && [ -e "$so" ] && readlink -f "$so"
}
echo "installed into $PREFIX (libdir ${LIBDIR#"$PREFIX"/})"

# ---- what was installed ------------------------------------------------------------------
for f in libfcs.so libfcs.a cmake/libfcs/libfcsConfig.cmake cmake/libfcs/libfcsConfigVersion.cmake \
    cmake/libfcs/libfcsTargets.cmake cmake/libfcs/libfcsStaticTargets.cmake; do
    [ -e "$LIBDIR/$f" ] || bad "missing $LIBDIR/$f"
done
ls "$LIBDIR"/libfcs.so.* >/dev/null 2>&1 || bad "no versioned libfcs.so.N"
for h in "$FCS_SRC"/include/fcs/*.h; do
    [ -f "$PREFIX/include/fcs/$(basename "$h")" ] || bad "header $(basename "$h") not installed"
done
[ -f "$PREFIX/include/fcs/version.h" ] || bad "generated fcs/version.h not installed"
extra=$(cd "$PREFIX/include" && find . -type f ! -path './fcs/*.h' | sed 's|^\./||')
for h in "$PREFIX"/include/fcs/*.h; do
    n=$(basename "$h")
    [ -f "$FCS_SRC/include/fcs/$n" ] || [ "$n" = version.h ] || extra="$extra $n"
done
[ -z "$(echo $extra)" ] || bad "non-public files installed under include/: $(echo $extra)"
n_tools=0
for src in "$FCS_SRC"/tools/fcs-*.c; do
    [ -e "$src" ] || continue
    t=$(basename "$src" .c)
    n_tools=$((n_tools + 1))
    if [ ! -x "$PREFIX/bin/$t" ]; then
        bad "tool $t not installed"
        continue
    fi
    # The installed tool must load the installed library, not the build tree's.
    so=$(libfcs_of "$PREFIX/bin/$t")
    case "$so" in
    "$LIBDIR"/*) ;;
    *) bad "$PREFIX/bin/$t loads libfcs from '${so:-nowhere}', not from $LIBDIR" ;;
    esac
done
n_man=0
for md in "$FCS_SRC"/docs/*.1.md "$FCS_SRC"/docs/man/*.1; do
    [ -e "$md" ] || continue
    page=$(basename "$md" .md)
    n_man=$((n_man + 1))
    m="$PREFIX/share/man/man1/$page"
    if [ ! -f "$m" ]; then
        bad "man page $page not installed"
    elif ! grep -q '^\.TH ' "$m"; then
        bad "man page $page has no .TH line"
    elif command -v groff >/dev/null 2>&1 && ! groff -man -Tutf8 -ww -z "$m" 2>"$W/groff.err"; then
        bad "man page $page: groff warnings: $(head -3 "$W/groff.err")"
    elif command -v groff >/dev/null 2>&1 && [ -s "$W/groff.err" ]; then
        bad "man page $page: groff warnings: $(head -3 "$W/groff.err")"
    fi
done
echo "checked: library, headers, $n_tools tools, $n_man man pages, pkg-config, CMake package"

# ---- pkg-config ---------------------------------------------------------------------------
export PKG_CONFIG_PATH="$LIBDIR/pkgconfig"
ver=$(sed -n 's/^#define FCS_VERSION_STRING "\(.*\)"/\1/p' "$PREFIX/include/fcs/version.h")
pcver=$(pkg-config --modversion libfcs) || die "pkg-config cannot read $pc"
[ "$pcver" = "$ver" ] || bad "pkg-config version '$pcver' != fcs/version.h '$ver'"
pcinc=$(pkg-config --variable=includedir libfcs)
[ "$(cd "$pcinc" 2>/dev/null && pwd -P)" = "$(cd "$PREFIX/include" && pwd -P)" ] ||
    bad "pkg-config includedir '$pcinc' is not $PREFIX/include (not relocatable?)"

EX="$FCS_SRC/examples/read_events.c"
[ -f "$EX" ] || die "$EX missing"
# shellcheck disable=SC2046  # word splitting of pkg-config output is intended
"$CC" -std=c11 -Wall -Wextra -Werror "${san[@]}" "$EX" $(pkg-config --cflags --libs libfcs) \
    -Wl,-rpath,"$LIBDIR" -o "$W/re_pc" 2>"$W/cc.err" ||
    { cat "$W/cc.err"; die "examples/read_events.c does not build with pkg-config --cflags --libs"; }
# Static: libfcs.a plus what `pkg-config --static` says it needs.
# shellcheck disable=SC2046
"$CC" -std=c11 -Wall -Wextra -Werror "${san[@]}" "$EX" $(pkg-config --cflags libfcs) \
    "$LIBDIR/libfcs.a" $(pkg-config --static --libs libfcs | sed -E 's/(^| )-lfcs( |$)/ /') \
    -o "$W/re_pc_static" 2>"$W/cc.err" ||
    { cat "$W/cc.err"; die "read_events.c does not link with libfcs.a + pkg-config --static --libs"; }
if env -u LD_LIBRARY_PATH ldd "$W/re_pc_static" | grep -q 'libfcs\.so'; then
    bad "the static build still loads libfcs.so"
fi

# ---- CMake find_package --------------------------------------------------------------------
cmflags=()
if [ ${#san[@]} -gt 0 ]; then
    cmflags=(-DCMAKE_C_FLAGS="${san[*]}" -DCMAKE_EXE_LINKER_FLAGS="${san[*]}")
fi
"$CMAKE" -S "$FCS_SRC/tests/install" -B "$W/consumer" -DCMAKE_PREFIX_PATH="$PREFIX" \
    -DCMAKE_C_COMPILER="$CC" -DEXAMPLE="$EX" "${cmflags[@]}" >"$W/consumer.log" 2>&1 &&
    "$CMAKE" --build "$W/consumer" >>"$W/consumer.log" 2>&1 ||
    { cat "$W/consumer.log"; die "find_package(libfcs) consumer project failed"; }
grep -q "libfcs $ver from $LIBDIR/cmake/libfcs" "$W/consumer.log" ||
    bad "consumer found libfcs elsewhere: $(grep 'libfcs .* from' "$W/consumer.log")"
so=$(libfcs_of "$W/consumer/read_events_shared")
case "$so" in
"$LIBDIR"/*) ;;
*) bad "CMake-built example loads libfcs from '${so:-nowhere}', not $LIBDIR" ;;
esac
echo "built examples/read_events.c 4 ways: pkg-config shared/static, CMake libfcs::fcs/fcs_static"

# ---- usage and error paths (need no FCS file) ----------------------------------------------
"$W/re_pc" >/dev/null 2>&1
[ $? -eq 2 ] || bad "read_events without arguments should exit 2"
"$W/re_pc" "$W/no-such-file.fcs" >/dev/null 2>"$W/err"
rc=$?
[ $rc -eq 1 ] || bad "read_events on a missing file exited $rc, not 1"
grep -q "no-such-file.fcs" "$W/err" || bad "error message does not name the file: $(cat "$W/err")"

[ $fail -eq 0 ] || { echo "install.sh: FAILED"; exit 1; }

# ---- run on a file made by fcs-synth -------------------------------------------------------
if [ ! -x "$FCS_BIN/fcs-synth" ]; then
    echo "install.sh: install and builds OK; SKIP of the run: fcs-synth is not built yet"
    exit 77
fi
F="$W/synth.fcs"
"$FCS_BIN/fcs-synth" --seed 7 --events 2500 -o "$F" >"$W/synth.log" 2>&1 ||
    { cat "$W/synth.log"; die "fcs-synth failed"; }
for p in re_pc re_pc_static consumer/read_events_shared consumer/read_events_static; do
    "$W/$p" "$F" >"$W/out.$(basename "$p")" 2>"$W/err" ||
        { cat "$W/err"; bad "$p failed on $F"; continue; }
done
[ $fail -eq 0 ] || { echo "install.sh: FAILED"; exit 1; }
for p in re_pc_static read_events_shared read_events_static; do
    cmp -s "$W/out.re_pc" "$W/out.$p" || bad "$p output differs from the pkg-config build's"
done
"$W/re_pc" - <"$F" >"$W/out.stdin" 2>"$W/err" || bad "read_events - (stdin) failed: $(cat "$W/err")"
# Same table from stdin; only the "# file" line differs.
diff <(grep -v '^# file' "$W/out.re_pc") <(grep -v '^# file' "$W/out.stdin") >/dev/null ||
    bad "read_events on stdin gives another table than on the file"

# Independent means: same event count, same names, means equal within 1e-12 relative.
"$PY" "$FCS_SRC/tests/install/fcs_means.py" "$F" >"$W/expect" 2>"$W/err" ||
    { cat "$W/err"; die "fcs_means.py failed on $F"; }
"$PY" - "$W/out.re_pc" "$W/expect" <<'EOF' || fail=1
import math, sys
got = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
exp = [l.rstrip("\n").split("\t") for l in open(sys.argv[2])]
n_got = int([r for r in got if r[0] == "# events"][0][1])
n_exp = int(exp[0][1])
ok = True
if n_got != n_exp or n_exp == 0:
    print("FAIL: events: read_events says %d, fcs_means.py %d" % (n_got, n_exp)); ok = False
rows = [r for r in got if r[0].isdigit()]
if len(rows) != len(exp) - 1 or not rows:
    print("FAIL: %d parameter rows, expected %d" % (len(rows), len(exp) - 1)); ok = False
for r, e in zip(rows, exp[1:]):
    if r[0] != e[0] or r[1] != e[1]:
        print("FAIL: parameter %s: name %r, expected %r" % (e[0], r[1], e[1])); ok = False
        continue
    g, x = float(r[5]), float(e[2])
    if not (abs(g - x) <= 1e-12 * max(1.0, abs(x))):
        print("FAIL: %s mean %r, independent reader %r" % (e[1], g, x)); ok = False
if ok:
    print("means of %d channels over %d events agree with fcs_means.py" % (len(rows), n_exp))
sys.exit(0 if ok else 1)
EOF
[ $fail -eq 0 ] || { echo "install.sh: FAILED"; exit 1; }
echo "install.sh: OK"
