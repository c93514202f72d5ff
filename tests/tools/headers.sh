#!/usr/bin/env bash
# headers.sh — the public/private line, checked automatically (as htslib's usepublic.cpp and
# export check):
#   1. every public header include/fcs/*.h compiles alone (included twice: guards), as C11
#      with -pedantic -Werror, and as C++ (g++ -x c++);
#   2. public headers include only standard C headers and other public fcs/ headers
#      (no hdf5.h, zlib.h, libxml, nor private libfcs/ headers);
#   3. every function declared FCS_EXPORT in include/fcs/*.h is exported by libfcs.so, and
#      libfcs.so exports nothing else: every dynamic symbol it defines starts with fcs_ and
#      is declared in a public header.
# Env (set by CTest): FCS_BIN (build dir), FCS_SRC (source dir), FCS_TMP, FCS_CC.
set -u
: "${FCS_BIN:?}" "${FCS_SRC:?}"
TMP=$(mktemp -d "${FCS_TMP:-/tmp}/headers.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
CC=${FCS_CC:-cc}
CXX=${CXX:-g++}
INC=(-I"$FCS_SRC/include" -I"$FCS_BIN/include")
fail=0
bad() { echo "FAIL: $*"; fail=1; }

headers=()
for h in "$FCS_SRC"/include/fcs/*.h; do headers+=("fcs/$(basename "$h")"); done
[ -f "$FCS_BIN/include/fcs/version.h" ] && headers+=("fcs/version.h")
[ ${#headers[@]} -gt 0 ] || { echo "FAIL: no public headers in $FCS_SRC/include/fcs"; exit 1; }

# ---- 1. each header alone, C11 pedantic, C++ --------------------------------------------
compilers=("$CC -x c -std=c11 -pedantic -Wall -Wextra -Werror")
if command -v "$CXX" >/dev/null 2>&1; then
    compilers+=("$CXX -x c++ -std=c++11 -pedantic -Wall -Wextra -Werror")
else
    echo "note: $CXX not found: C++ check skipped"
fi
for h in "${headers[@]}"; do
    printf '#include "%s"\n#include "%s"\nint fcs_headers_check_dummy;\n' "$h" "$h" >"$TMP/one.c"
    for cc in "${compilers[@]}"; do
        # shellcheck disable=SC2086  # $cc is a command line
        if ! out=$($cc "${INC[@]}" -fsyntax-only "$TMP/one.c" 2>&1); then
            bad "$h does not compile alone with: $cc"
            echo "$out" | head -20
        fi
    done
done
# All together from C++ (extern "C" linkage of everything, no clash between headers).
{
    for h in "${headers[@]}"; do printf '#include "%s"\n' "$h"; done
    printf 'int main() { return fcs_strerror(FCS_OK) == nullptr; }\n'
} >"$TMP/all.cpp"
if command -v "$CXX" >/dev/null 2>&1; then
    if ! out=$($CXX -std=c++11 -pedantic -Wall -Wextra -Werror "${INC[@]}" -c "$TMP/all.cpp" \
        -o "$TMP/all.o" 2>&1); then
        bad "the public headers together do not compile as C++"
        echo "$out" | head -20
    elif nm "$TMP/all.o" | grep -q ' U _Z.*fcs_strerror'; then
        bad "fcs_strerror has C++ linkage: a header lacks extern \"C\""
    fi
fi
echo "checked ${#headers[@]} public headers with ${#compilers[@]} compilers"

# ---- 2. what public headers include ------------------------------------------------------
std_headers=" $(echo assert.h complex.h ctype.h errno.h fenv.h float.h inttypes.h iso646.h \
    limits.h locale.h math.h setjmp.h signal.h stdalign.h stdarg.h stdatomic.h stdbool.h \
    stddef.h stdint.h stdio.h stdlib.h stdnoreturn.h string.h tgmath.h threads.h time.h \
    uchar.h wchar.h wctype.h) "
for h in "$FCS_SRC"/include/fcs/*.h; do
    while IFS= read -r inc; do
        name=$(echo "$inc" | sed -E 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]([^>"]*)[>"].*/\1/')
        case "$name" in
        fcs/*.h)
            [ -f "$FCS_SRC/include/$name" ] || [ "$name" = fcs/version.h ] ||
                bad "$(basename "$h") includes $name, which is not a public header" ;;
        *)
            case "$std_headers" in
            *" $name "*) ;;
            *) bad "$(basename "$h") includes <$name>: public headers may include only" \
                "standard C headers and fcs/*.h" ;;
            esac ;;
        esac
    done < <(grep -E '^[[:space:]]*#[[:space:]]*include' "$h")
done

# ---- 3. exported symbols ----------------------------------------------------------------
lib="$FCS_BIN/libfcs.so"
[ -f "$lib" ] || { echo "FAIL: $lib not built"; exit 1; }
# Declared: FCS_EXPORT <type> name( — comments stripped by the preprocessor, directives dropped.
for h in "$FCS_SRC"/include/fcs/*.h; do
    "$CC" -fpreprocessed -dD -E -P -x c "$h" 2>/dev/null | grep -v '^[[:space:]]*#' | tr '\n' ' ' |
        grep -oE 'FCS_EXPORT[^;{}()]*\(' | sed -E 's/[[:space:]]*\($//; s/.*[^A-Za-z0-9_]//'
done | sort -u >"$TMP/declared"
# Exported: defined dynamic symbols, minus what the linker and sanitizer runtimes add.
nm -D --defined-only "$lib" | awk '$2 ~ /^[A-Z]$/ {print $3}' | sed 's/@.*//' |
    grep -vE '^(_init|_fini|_edata|_end|__bss_start|_ITM_.*|__gmon_start__|__asan_.*|__ubsan_.*|__odr_asan.*|__sanitizer_.*)$' |
    sort -u >"$TMP/exported"
n_decl=$(wc -l <"$TMP/declared")
n_exp=$(wc -l <"$TMP/exported")
echo "declared FCS_EXPORT functions: $n_decl; exported by libfcs.so: $n_exp"
missing=$(comm -23 "$TMP/declared" "$TMP/exported")
if [ -n "$missing" ]; then
    bad "declared in include/fcs/*.h but not exported by libfcs.so (not implemented, or" \
        "defined without FCS_BUILDING/visibility): $(echo $missing)"
fi
unprefixed=$(grep -v '^fcs_' "$TMP/exported")
if [ -n "$unprefixed" ]; then
    bad "libfcs.so exports symbols without the fcs_ prefix: $(echo $unprefixed)"
fi
undeclared=$(comm -13 "$TMP/declared" "$TMP/exported" | grep '^fcs_')
if [ -n "$undeclared" ]; then
    bad "libfcs.so exports fcs_ symbols that no public header declares (make them hidden or" \
        "declare them in include/fcs/): $(echo $undeclared)"
fi

if [ $fail -ne 0 ]; then
    echo "headers.sh: FAILED"
    exit 1
fi
echo "headers.sh: all public headers self-contained; exports = declarations ($n_decl)"
