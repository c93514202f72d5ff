#!/usr/bin/env bash
# xform.sh — fcs-xform in real pipes, values checked by an independent
# implementation (a few lines of Python: logicle by bisection on the Gating-ML
# 2.0 formula, asinh and flog from the math module):
#   * fcs-synth | fcs-cat | fcs-xform -t ... | fcs-export: transformed channels
#     equal the Python values rounded to float32 (at most 1 ulp off, near ties),
#     untransformed channels unchanged;
#   * keywords: LIBFCS_PnTRANSFORM holds the canonical strings, $PnR the
#     transformed top of scale; the recorded string reproduces the output;
#   * a second transform of a channel is refused (exit 1) unless --force,
#     which chains the keyword and composes the values;
#   * --auto: W estimated from all events of a file, from the first 100000
#     events of a pipe, as the documented rule computed in Python; scatter,
#     Time and --exclude'd channels left alone;
#   * usage errors exit 2, input errors exit 1, -o FILE, explicit '-'.
# Env (set by CTest): FCS_BIN, FCS_TMP.
set -euo pipefail
# logicle_ref.py (the shared independent logicle reference) sits beside this script.
export PYTHONPATH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
: "${FCS_BIN:?}"
for t in fcs-synth fcs-cat fcs-xform fcs-export fcs-info; do
    [ -x "$FCS_BIN/$t" ] || { echo "SKIP: $FCS_BIN/$t not built"; exit 77; }
done
command -v python3 >/dev/null || { echo "SKIP: python3 not found"; exit 77; }
mkdir -p "${FCS_TMP:-/tmp}"
W=$(mktemp -d "${FCS_TMP:-/tmp}/xform.XXXXXX")
trap 'rm -rf "$W"' EXIT
SYNTH="$FCS_BIN/fcs-synth" CAT="$FCS_BIN/fcs-cat" XFORM="$FCS_BIN/fcs-xform"
EXPORT="$FCS_BIN/fcs-export" INFO="$FCS_BIN/fcs-info"
fail=0
bad() { echo "FAIL: $*"; fail=1; }

cat >"$W/ref.py" <<'EOF'
"""Independent reference transforms and checks for xform.sh."""
import json, math, struct, sys

from logicle_ref import Logicle  # tests/tools/logicle_ref.py

def f32(v):
    return struct.unpack("<f", struct.pack("<f", v))[0]

def ulp32(v):
    v = abs(f32(v))
    if v == 0 or math.isinf(v):
        return 1.5e-45
    bits = struct.unpack("<I", struct.pack("<f", v))[0]
    return struct.unpack("<f", struct.pack("<I", bits + 1))[0] - v

def parse_spec(s):
    name, args = s.split("(", 1)
    kv = dict(a.split("=") for a in args.rstrip(")").split(","))
    return name, {k: float(v) for k, v in kv.items()}

def make(spec):
    name, p = parse_spec(spec)
    if name == "logicle":
        lg = Logicle(p["T"], p["W"], p["M"], p["A"])
        return lg, lg.x1
    if name == "asinh":
        c = p["cofactor"]
        return (lambda x: math.asinh(x / c)), 0.0
    if name == "flog":
        T, M = p["T"], p["M"]
        return (lambda x: math.log10(x / T) / M + 1 if x > 0 else (float("-inf") if x == 0 else float("nan"))), 0.0
    raise SystemExit("ref.py: no reference for " + spec)

def read_tsv(path):
    with open(path) as f:
        head = f.readline().rstrip("\n").split("\t")
        rows = [line.rstrip("\n").split("\t") for line in f]
    return head, rows

def num(s):
    return {"NaN": float("nan"), "Inf": float("inf"), "-Inf": float("-inf")}.get(s) or float(s)

def check_values(raw_tsv, out_tsv, specs_json, limit):
    """specs: {channel: [transform strings applied in order]}"""
    specs = json.loads(specs_json)
    h1, raw = read_tsv(raw_tsv); h2, out = read_tsv(out_tsv)
    assert h1 == h2, (h1, h2)
    assert len(raw) == len(out), (len(raw), len(out))
    bad = 0; off = 0; n = 0
    fns = {ch: [make(s) for s in chain] for ch, chain in specs.items()}
    for r, o in list(zip(raw, out))[:limit]:
        for j, ch in enumerate(h1):
            if ch not in fns:
                if r[j] != o[j]:
                    bad += 1; print("changed %s: %s -> %s" % (ch, r[j], o[j]))
                continue
            v = f32(num(r[j])); x1 = 0.0  # export prints the float32 values
            for i, (fn, x1) in enumerate(fns[ch]):
                # a chain (--force) stores each intermediate result as float32
                v = fn(v if i == 0 else f32(v))
            got = f32(num(o[j])); n += 1
            if math.isnan(v):
                ok = math.isnan(got)
            elif math.isinf(v):
                ok = got == v
            else:
                want = f32(v)
                ok = abs(got - want) <= ulp32(max(abs(want), x1))
                off += got != want
            if not ok:
                bad += 1
                if bad < 10: print("%s: raw %s -> %r, reference %r" % (ch, r[j], got, v))
    print("checked %d transformed values: %d not exact (1 ulp, near ties), %d wrong" % (n, off, bad))
    if bad or off > n // 500:
        sys.exit(1)

def keywords(info_json):
    d = json.loads(open(info_json).readline())
    return d["datasets"][0]["keywords"]

def estimate_W(tsv, channel, first, T):
    """The documented --auto rule on the float32 values of the first `first` events."""
    h, rows = read_tsv(tsv)
    j = h.index(channel)
    neg = sorted(v for v in (f32(num(r[j])) for r in rows[:first]) if v < 0 and math.isfinite(v))
    if not neg:
        return 0.0
    r = neg[math.ceil(0.05 * len(neg)) - 1]
    W = (4.5 - math.log10(T / abs(r))) / 2
    return min(max(W, 0.0), 2.25)

if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "values":
        check_values(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    elif cmd == "kw":
        kw = keywords(sys.argv[2])
        print(kw.get(sys.argv[3], "<absent>"))
    elif cmd == "W":
        print(repr(estimate_W(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))))
    elif cmd == "specW":
        print(repr(parse_spec(sys.argv[2])[1]["W"]))
EOF
REF="python3 $W/ref.py"
kw() { $INFO --json "$1" >"$W/info.json" && $REF kw "$W/info.json" "$2"; }

# ---- 1. the pipe, values ------------------------------------------------------------
LG='logicle(T=262144,W=0.5,M=4.5,A=0)'
$SYNTH -n 3000 --seed 7 --no-version | $CAT --no-version >"$W/s.fcs"
$EXPORT "$W/s.fcs" >"$W/raw.tsv"
$SYNTH -n 3000 --seed 7 --no-version | $CAT --no-version |
    $XFORM --no-version -t "$LG:FITC-A,PE-A" -t 'asinh(150):CD8' -t 'flog(T=262144,M=4.5):FSC-A' |
    tee "$W/x.fcs" | $EXPORT - >"$W/x.tsv" || bad "pipe synth | cat | xform | export failed"
$REF values "$W/raw.tsv" "$W/x.tsv" \
    '{"FITC-A":["'"$LG"'"],"PE-A":["'"$LG"'"],"BV421-A":["asinh(cofactor=150)"],"FSC-A":["flog(T=262144,M=4.5)"]}' 3000 ||
    bad "transformed values differ from the reference"

# ---- 2. keywords ----------------------------------------------------------------------
[ "$(kw "$W/x.fcs" LIBFCS_P4TRANSFORM)" = "$LG" ] || bad "LIBFCS_P4TRANSFORM: $(kw "$W/x.fcs" LIBFCS_P4TRANSFORM)"
[ "$(kw "$W/x.fcs" LIBFCS_P5TRANSFORM)" = "$LG" ] || bad "LIBFCS_P5TRANSFORM"
[ "$(kw "$W/x.fcs" LIBFCS_P7TRANSFORM)" = "asinh(cofactor=150)" ] || bad "LIBFCS_P7TRANSFORM"
[ "$(kw "$W/x.fcs" LIBFCS_P1TRANSFORM)" = "flog(T=262144,M=4.5)" ] || bad "LIBFCS_P1TRANSFORM"
for n in 2 3 6 8; do
    [ "$(kw "$W/x.fcs" LIBFCS_P${n}TRANSFORM)" = "<absent>" ] || bad "P$n should not be transformed"
done
[ "$(kw "$W/x.fcs" '$P4R')" = "1" ] || bad "\$P4R after logicle: $(kw "$W/x.fcs" '$P4R')"
want_r=$(python3 -c 'import math; print(repr(math.asinh(262144/150)))')
[ "$(kw "$W/x.fcs" '$P7R')" = "$want_r" ] || bad "\$P7R after asinh: $(kw "$W/x.fcs" '$P7R') want $want_r"
[ "$(kw "$W/x.fcs" '$P6R')" = "262144" ] || bad "\$P6R changed"
[ "$(kw "$W/x.fcs" '$P4S')" = "CD3" ] || bad "\$P4S lost"
[ "$(kw "$W/x.fcs" LIBFCS_TOOL)" = "<absent>" ] || bad "--no-version still wrote LIBFCS_TOOL"
$XFORM -t "$LG:CD3" "$W/s.fcs" >"$W/v.fcs"
case "$(kw "$W/v.fcs" LIBFCS_TOOL)" in "fcs-xform "*) ;; *) bad "LIBFCS_TOOL missing";; esac
case "$(kw "$W/v.fcs" LIBFCS_COMMAND)" in *"fcs-xform -t"*) ;; *) bad "LIBFCS_COMMAND missing";; esac
# the channel can be named by $PnS, and the recorded string reproduces the output
[ "$(kw "$W/v.fcs" LIBFCS_P4TRANSFORM)" = "$LG" ] || bad "pattern on \$PnS (CD3) did not pick FITC-A"
rec=$(kw "$W/x.fcs" LIBFCS_P7TRANSFORM)
$XFORM --no-version -t "$rec:BV421-A" "$W/s.fcs" | $EXPORT - | cut -f7 >"$W/again.tsv"
cut -f7 "$W/x.tsv" | cmp -s - "$W/again.tsv" || bad "recorded transform does not reproduce the values"
# glob, case-insensitive; -o FILE; explicit '-'
$XFORM --no-version -t 'asinh(5):fitc*,pe-?' -o "$W/o.fcs" - <"$W/s.fcs" || bad "-o with stdin failed"
[ "$(kw "$W/o.fcs" LIBFCS_P5TRANSFORM)" = "asinh(cofactor=5)" ] || bad "glob 'pe-?' did not match PE-A"
[ "$(kw "$W/o.fcs" LIBFCS_P4TRANSFORM)" = "asinh(cofactor=5)" ] || bad "glob 'fitc*' did not match FITC-A"

# ---- 3. twice: refused, or chained with --force -----------------------------------------
if $XFORM -t 'asinh(5):FITC-A' "$W/x.fcs" >/dev/null 2>"$W/err"; then
    bad "second transform of FITC-A accepted"
else
    rc=$?; [ $rc = 1 ] || bad "second transform: exit $rc, want 1"
    grep -q "channel FITC-A is already transformed (LIBFCS_P4TRANSFORM=$LG); --force" "$W/err" ||
        bad "refusal message: $(cat "$W/err")"
fi
$XFORM --no-version --force -t 'asinh(5):FITC-A' "$W/x.fcs" >"$W/f.fcs" || bad "--force failed"
[ "$(kw "$W/f.fcs" LIBFCS_P4TRANSFORM)" = "$LG;asinh(cofactor=5)" ] || bad "--force chain: $(kw "$W/f.fcs" LIBFCS_P4TRANSFORM)"
$EXPORT "$W/f.fcs" >"$W/f.tsv"
$REF values "$W/raw.tsv" "$W/f.tsv" \
    '{"FITC-A":["'"$LG"'","asinh(cofactor=5)"],"PE-A":["'"$LG"'"],"BV421-A":["asinh(cofactor=150)"],"FSC-A":["flog(T=262144,M=4.5)"]}' 3000 ||
    bad "--force values are not the composition"

# ---- 4. --auto: estimate from a file (all events) and from a pipe (first 100000) -----------
$SYNTH -n 150000 --seed 3 --no-version -o "$W/big.fcs"
$EXPORT "$W/big.fcs" >"$W/big.tsv"
$XFORM --no-version --auto "$W/big.fcs" >"$W/auto_file.fcs" || bad "--auto on a file failed"
cat "$W/big.fcs" | $XFORM --no-version --auto - >"$W/auto_pipe.fcs" || bad "--auto on a pipe failed"
cat "$W/big.fcs" | $XFORM --no-version --auto --exclude CD8 >"$W/auto_excl.fcs" || bad "--auto --exclude failed"
for n in 4 5 6 7; do
    ch=$(sed -n 1p "$W/big.tsv" | cut -f$n)
    for mode in file pipe; do
        first=150000; [ $mode = pipe ] && first=100000
        spec=$(kw "$W/auto_$mode.fcs" LIBFCS_P${n}TRANSFORM)
        case "$spec" in "logicle(T=262144,W="*",M=4.5,A=0)") ;; *) bad "--auto $mode $ch: '$spec'"; continue;; esac
        got=$($REF specW "$spec")
        want=$($REF W "$W/big.tsv" "$ch" $first 262144)
        python3 -c "import sys; sys.exit(abs($got - $want) > 1e-12)" ||
            bad "--auto $mode $ch: W=$got, rule gives $want"
    done
done
[ "$(kw "$W/auto_file.fcs" LIBFCS_P4TRANSFORM)" != "$(kw "$W/auto_pipe.fcs" LIBFCS_P4TRANSFORM)" ] ||
    bad "file and pipe estimates should differ (all events vs the first 100000)"
for n in 1 2 3 8; do
    [ "$(kw "$W/auto_file.fcs" LIBFCS_P${n}TRANSFORM)" = "<absent>" ] || bad "--auto transformed scatter/time P$n"
done
[ "$(kw "$W/auto_excl.fcs" LIBFCS_P7TRANSFORM)" = "<absent>" ] || bad "--exclude CD8 ignored"
[ "$(kw "$W/auto_excl.fcs" LIBFCS_P6TRANSFORM)" != "<absent>" ] || bad "--exclude CD8 dropped CD4 too"
# the --auto values follow the recorded parameters (first 2000 events)
$EXPORT "$W/auto_pipe.fcs" >"$W/auto_pipe.tsv"
s4=$(kw "$W/auto_pipe.fcs" LIBFCS_P4TRANSFORM) s7=$(kw "$W/auto_pipe.fcs" LIBFCS_P7TRANSFORM)
s5=$(kw "$W/auto_pipe.fcs" LIBFCS_P5TRANSFORM) s6=$(kw "$W/auto_pipe.fcs" LIBFCS_P6TRANSFORM)
$REF values "$W/big.tsv" "$W/auto_pipe.tsv" \
    '{"FITC-A":["'"$s4"'"],"PE-A":["'"$s5"'"],"APC-A":["'"$s6"'"],"BV421-A":["'"$s7"'"]}' 2000 ||
    bad "--auto values differ from the recorded logicle"
# explicit -t wins over --auto and is not estimated
$XFORM --no-version --auto -t 'asinh(150):CD3' "$W/big.fcs" >"$W/mix.fcs"
[ "$(kw "$W/mix.fcs" LIBFCS_P4TRANSFORM)" = "asinh(cofactor=150)" ] || bad "-t with --auto"
# --auto leaves transformed channels alone (with a warning)
$XFORM --no-version --auto "$W/mix.fcs" >"$W/mix2.fcs" 2>"$W/err" || bad "--auto on a transformed stream failed"
grep -q "warning: --auto leaves FITC-A alone" "$W/err" || bad "no warning for skipped FITC-A: $(cat "$W/err")"

# ---- 5. errors ------------------------------------------------------------------------------
expect() { # expected-exit message-part command...
    local want=$1 msg=$2; shift 2
    set +e; "$@" >/dev/null 2>"$W/err"; local rc=$?; set -e
    [ $rc = "$want" ] || bad "exit $rc (want $want): $*"
    grep -qF -- "$msg" "$W/err" || bad "message '$msg' missing for: $* ($(head -1 "$W/err"))"
}
expect 2 "nothing to do: give -t or --auto" $XFORM "$W/s.fcs"
expect 2 "expected TRANSFORM:CHANNELS" $XFORM -t 'asinh(150)' "$W/s.fcs"
expect 2 'transform "asinh": missing parameter cofactor' $XFORM -t 'asinh:CD3' "$W/s.fcs"
expect 2 "logicle: W must be between 0 and M/2" $XFORM -t 'logicle(W=3):CD3' "$W/s.fcs"
expect 2 "unknown transform 'logical'" $XFORM -t 'logical:CD3' "$W/s.fcs"
expect 2 "fratio combines two channels" $XFORM -t 'fratio:CD3,CD4' "$W/s.fcs"
expect 2 "--exclude needs --auto" $XFORM --exclude CD3 -t 'asinh(5):CD4' "$W/s.fcs"
expect 2 "one input file at a time" $XFORM -t 'asinh(5):CD4' "$W/s.fcs" "$W/s.fcs"
expect 2 "unknown option" $XFORM --frobnicate -t 'asinh(5):CD4' "$W/s.fcs"
expect 1 "no channel matches 'CD99' (\$PnN or \$PnS)" $XFORM -t 'asinh(5):CD99' "$W/s.fcs"
expect 1 "channel FITC-A is matched by both" $XFORM -t 'asinh(5):CD3' -t 'asinh(6):FITC*' "$W/s.fcs"
expect 1 "fcs-xform: $W/none.fcs:" $XFORM -t 'asinh(5):CD3' "$W/none.fcs"
expect 1 "no data set 3" $XFORM -d 3 -t 'asinh(5):CD3' "$W/s.fcs"
$XFORM --help | grep -q "^Usage: fcs-xform" || bad "--help"
# fratio (two channels into a new parameter) is a library transform that -t cannot take:
# --help says so, as the man page does
$XFORM --help | tr '\n' ' ' | grep -q "fratio is not available in fcs-xform: it makes a new parameter from two channels" ||
    bad "--help does not say that fratio is not available"
if [ -n "${FCS_SRC:-}" ] && [ -f "$FCS_SRC/docs/man/fcs-xform.1" ]; then
    tr '\n' ' ' <"$FCS_SRC/docs/man/fcs-xform.1" | sed 's/\\-/-/g; s/\.B //g' |
        grep -q "fratio is not available in fcs-xform: it makes a new parameter from two channels" ||
        bad "fcs-xform.1 does not say that fratio is not available"
fi
$XFORM --version | grep -q "^fcs-xform " || bad "--version"
# a failed run leaves no output file
$XFORM -t 'asinh(5):CD99' -o "$W/none_out.fcs" "$W/s.fcs" 2>/dev/null || true
[ ! -e "$W/none_out.fcs" ] || bad "failed run left -o file"
ls "$W" | grep -q '\.tmp\.' && bad "temporary file left behind"
# downstream closes early: quiet
$SYNTH -n 200000 --no-version | $XFORM -t 'logicle:CD3' | head -c 100 >/dev/null ||
    bad "broken pipe was not quiet"

[ $fail = 0 ] && echo "xform.sh: all checks passed"
exit $fail
