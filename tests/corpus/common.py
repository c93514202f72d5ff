"""common.py - helpers shared by the corpus tests (tests/corpus/test_*.py).

The corpus tests drive the real tools (fcs-info, fcs-export) over the
third-party files in ../shared/fcs-corpus and compare what they print with the
independently computed expected values (README.md of the corpus describes the
expected JSON, the decoding rules and the tolerance guide).

Environment (set by CTest, see CMakeLists.txt):
  FCS_BIN     build directory holding the tools
  FCS_CORPUS  corpus root (may be absent: the tests then skip, exit 77)
  FCS_TMP     scratch directory

Nothing here copies corpus files anywhere: every tool reads them in place.
"""

import fcntl
import json
import math
import os
import re
import struct
import subprocess
import sys
import time

SKIP = 77
FAILURES_FILE = "/tmp/corpus-failures.txt"

# Relative tolerance of the corpus README for F/D raw sums and all scaled sums.
REL_TOL = 1e-9
# Half an ulp of float32, relative: the most one rounding to float32 can change a value.
F32_HALF_ULP = 2.0 ** -24

TOOL_TIMEOUT = 600  # seconds per tool run (sanitizer builds are slow)


# ---- environment -----------------------------------------------------------

class Env:
    """Paths the tests need, taken from the CTest environment."""

    def __init__(self):
        self.bin = os.environ.get("FCS_BIN", "")
        self.corpus = os.environ.get("FCS_CORPUS", "")
        self.tmp = os.environ.get("FCS_TMP", "/tmp")
        self.src = os.environ.get("FCS_SRC", "")

    def tool(self, name):
        return os.path.join(self.bin, name)


def skip(msg):
    print("SKIP: " + msg)
    sys.stdout.flush()
    sys.exit(SKIP)


def get_env(tools=("fcs-info", "fcs-export")):
    """Return an Env, or exit 77 (skip) with a message saying what is missing."""
    env = Env()
    if not env.corpus or not os.path.isdir(env.corpus):
        skip("corpus folder not found (FCS_CORPUS=%r); see ../shared/fcs-corpus" % env.corpus)
    for t in tools:
        p = env.tool(t)
        if not (os.path.isfile(p) and os.access(p, os.X_OK)):
            skip("%s not built (looked for %s)" % (t, p))
    return env


# ---- running tools ---------------------------------------------------------

class Result:
    def __init__(self, argv, rc, out, err, timed_out=False):
        self.argv = argv
        self.rc = rc        # exit status; 128+N when killed by signal N
        self.out = out      # stdout, bytes
        self.err = err      # stderr, str (decoded leniently)
        self.timed_out = timed_out

    def crashed(self):
        """True when the run died (signal, timeout) or a sanitizer complained.
        Sanitizers exit with status 1 by default, so their report is looked
        for in stderr too."""
        return (self.timed_out or self.rc >= 128 or "Sanitizer" in self.err
                or "runtime error:" in self.err)

    def err_lines(self):
        return [l for l in self.err.splitlines() if l.strip()]

    def first_err(self):
        lines = self.err_lines()
        return lines[0] if lines else ""

    def describe(self):
        if self.timed_out:
            return "timed out after %ds" % TOOL_TIMEOUT
        if self.rc >= 128:
            return "killed by signal %d (%s)" % (self.rc - 128, self.first_err()[:200])
        if "Sanitizer" in self.err or "runtime error:" in self.err:
            line = next((l for l in self.err_lines()
                         if "Sanitizer" in l or "runtime error" in l), "")
            return "sanitizer report: " + line[:200]
        return "exit %d: %s" % (self.rc, self.first_err()[:200])


def _sanitizer_env():
    """Make sanitizer findings fatal and visible even in a sanitizer build."""
    e = dict(os.environ)
    e["ASAN_OPTIONS"] = (e.get("ASAN_OPTIONS", "") + ":abort_on_error=1").lstrip(":")
    e["UBSAN_OPTIONS"] = (e.get("UBSAN_OPTIONS", "")
                          + ":print_stacktrace=1:halt_on_error=1").lstrip(":")
    return e


def run(argv, timeout=TOOL_TIMEOUT, stdin=None):
    try:
        p = subprocess.run(argv, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout, env=_sanitizer_env())
    except subprocess.TimeoutExpired as e:
        return Result(argv, 128 + 9, e.stdout or b"", (e.stderr or b"").decode("utf-8", "replace"),
                      timed_out=True)
    rc = p.returncode if p.returncode >= 0 else 128 - p.returncode
    return Result(argv, rc, p.stdout, p.stderr.decode("utf-8", "replace"))


# ---- numbers ---------------------------------------------------------------

def f32(x):
    """Round a float64 to the nearest float32 (ties to even), as float64."""
    if isinstance(x, int):
        x = float(x)
    if math.isnan(x) or math.isinf(x):
        return x
    try:
        return struct.unpack("<f", struct.pack("<f", x))[0]
    except OverflowError:
        return math.copysign(math.inf, x)


_INT_RE = re.compile(r"^[+-]?\d+$")
_FLOAT_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def parse_number(tok):
    """Parse one exported value. Integers come back as int, others as float.
    Returns None for text the export contract does not allow."""
    if _INT_RE.match(tok):
        return int(tok)
    if _FLOAT_RE.match(tok):
        return float(tok)
    if tok == "NaN":
        return math.nan
    if tok == "Inf":
        return math.inf
    if tok == "-Inf":
        return -math.inf
    return None


def same_value(a, b):
    """Exact equality of two numbers, NaN equal to NaN."""
    if a is None or b is None or isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def close(got, exp, rel=REL_TOL, abs_extra=0.0):
    if math.isnan(exp) or math.isinf(exp):
        return same_value(got, exp)
    return abs(got - exp) <= rel * max(abs(exp), abs(got)) + abs_extra


def short(v, n=160):
    s = json.dumps(v) if not isinstance(v, str) else v
    return s if len(s) <= n else s[:n] + "..."


# ---- differences -------------------------------------------------------------

class Diffs:
    """Differences found for one corpus entry: (field, expected, got)."""

    def __init__(self):
        self.items = []
        self.notes = []

    def add(self, field, expected, got):
        self.items.append((field, short(expected), short(got)))

    def note(self, text):
        self.notes.append(text)

    def __bool__(self):
        return bool(self.items)

    def first(self):
        f, e, g = self.items[0]
        more = len(self.items) - 1
        return "%s: expected %s, got %s%s" % (f, e, g, " (+%d more)" % more if more else "")


def write_failures(section, header, rows):
    """Replace this test's section of FAILURES_FILE (other tests keep theirs).

    rows: (file, field, expected, got). Tab-separated, one cause per line, so
    engineer "reader" can grep it. A lock keeps parallel CTest runs apart."""
    begin, end = "### begin %s" % section, "### end %s" % section
    fd = os.open(FAILURES_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    with os.fdopen(fd, "r+", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        old = fh.read()
        kept, skipping = [], False
        for line in old.splitlines():
            if line == begin:
                skipping = True
            elif line == end:
                skipping = False
            elif not skipping:
                kept.append(line)
        out = kept + [begin, "# %s (%s)" % (header, time.strftime("%Y-%m-%d %H:%M:%S")),
                      "# file\tfield\texpected\tgot"]
        out += ["\t".join(str(c).replace("\t", " ").replace("\n", " ") for c in r) for r in rows]
        out.append(end)
        fh.seek(0)
        fh.truncate()
        fh.write("\n".join(out) + "\n")
        fcntl.flock(fh, fcntl.LOCK_UN)


# ---- fcs-info ----------------------------------------------------------------

def run_info(env, path, *flags):
    """Run fcs-info --json; return (Result, parsed object or None, problem)."""
    res = run([env.tool("fcs-info"), "--json"] + list(flags) + [path])
    if res.crashed() or res.rc != 0:
        return res, None, "fcs-info " + res.describe()
    lines = [l for l in res.out.decode("utf-8", "replace").splitlines() if l.strip()]
    if len(lines) != 1:
        return res, None, "fcs-info --json printed %d lines for one file" % len(lines)
    try:
        obj = json.loads(lines[0])
    except ValueError as e:
        return res, None, "fcs-info --json output is not JSON (%s): %s" % (e, lines[0][:120])
    if not isinstance(obj, dict):
        return res, None, "fcs-info --json output is not an object"
    return res, obj, None


def expected_mask(bits, rng):
    """README masking rule: v & (2^b - 1), b = bit_length(ceil($PnR) - 1),
    applied only when b is smaller than the stored word width. Returns
    (mask or None when not applied, stored width)."""
    width = bits if bits % 8 == 0 else next((w for w in (8, 16, 32, 64) if w >= bits), bits)
    if not isinstance(rng, (int, float)) or rng <= 0 or math.isinf(rng):
        return None, width
    b = (math.ceil(rng) - 1).bit_length()
    return ((1 << b) - 1 if b < width else None), width


def _resolved_spill_name(exp_name, got_name, names):
    """Spillover names are kept as written in the expected JSON (Gallios writes
    parameter numbers). The reader may resolve a number to its $PnN
    (fcs_matrix_from_keywords documents that); accept that resolution."""
    if got_name == exp_name:
        return True
    if exp_name.isdigit() and 1 <= int(exp_name) <= len(names):
        return got_name == names[int(exp_name) - 1]
    return False


def compare_spillover(exp, got, warnings, names, d, p):
    if isinstance(exp, dict) and "error" in exp:
        # Present but unparseable: the tool must show null and warn.
        if got is not None:
            d.add(p + "spillover", None, got)
        if not any(w.startswith("spillover-unparseable: ") for w in warnings):
            d.add(p + "warnings", "a 'spillover-unparseable: ...' warning (%s)" % exp["error"],
                  warnings)
        return
    if exp is None:
        if got is None:
            return
        kw = got.get("keyword", "") if isinstance(got, dict) else ""
        if kw.upper().startswith("$COMP") or kw.upper().startswith("$DFC"):
            # The corpus does not parse $COMP/$DFCiTOj; our reader does (reader.h).
            d.note("spillover from %s not compared (corpus parses only $SPILLOVER/SPILL)" % kw)
            return
        d.add(p + "spillover", None, got)
        return
    if not isinstance(got, dict):
        d.add(p + "spillover", exp, got)
        return
    if got.get("keyword") != exp["keyword"]:
        d.add(p + "spillover.keyword", exp["keyword"], got.get("keyword"))
    gn = got.get("names")
    if not isinstance(gn, list) or len(gn) != len(exp["names"]):
        d.add(p + "spillover.names", exp["names"], gn)
    else:
        for k, (en, g) in enumerate(zip(exp["names"], gn)):
            if not _resolved_spill_name(en, g, names):
                d.add(p + "spillover.names[%d]" % k, en, g)
                break
    gm = got.get("matrix")
    em = exp["matrix"]
    if (not isinstance(gm, list) or len(gm) != len(em)
            or any(not isinstance(r, list) or len(r) != len(er) for r, er in zip(gm, em))):
        d.add(p + "spillover.matrix (shape)", "%dx%d" % (len(em), len(em[0]) if em else 0),
              short(gm))
        return
    for i, (er, gr) in enumerate(zip(em, gm)):
        for j, (ev, gv) in enumerate(zip(er, gr)):
            if not same_value(gv, ev):
                d.add(p + "spillover.matrix[%d][%d]" % (i, j), ev, gv)
                return


def compare_info_dataset(exp, got, d, p, fields=None):
    """Compare one data set of fcs-info --json with an expected-JSON data set.
    fields: subset of the checks to make (None = all)."""
    def want(f):
        return fields is None or f in fields

    for key in ("index", "offset", "tot", "par", "datatype", "byteord", "mode"):
        if want(key) and not same_value(got.get(key), exp[key]):
            d.add(p + key, exp[key], got.get(key))
    params = got.get("parameters")
    if not isinstance(params, list):
        d.add(p + "parameters", "list of %d" % exp["par"], params)
        params = []
    elif len(params) != exp["par"]:
        d.add(p + "parameters (count)", exp["par"], len(params))
    names_got = [q.get("name") for q in params]
    for j, q in enumerate(params[:exp["par"]]):
        pj = p + "P%d." % (j + 1)
        if want("names") and q.get("name") != exp["names"][j]:
            d.add(pj + "name", exp["names"][j], q.get("name"))
        if want("labels") and q.get("label") != exp["labels"][j]:
            d.add(pj + "label", exp["labels"][j], q.get("label"))
        if want("bits"):
            eb = exp["bits"][j] if isinstance(exp["bits"][j], int) else 0  # '*' -> 0
            if not (isinstance(q.get("bits"), int) and q.get("bits") == eb):
                d.add(pj + "bits", eb, q.get("bits"))
        if want("ranges"):
            er, gr = exp["ranges"][j], q.get("range")
            # The tool prints integral numbers as integers, so an int expected
            # value must come back as a JSON integer.
            if not same_value(gr, er) or (isinstance(er, int) and not isinstance(gr, int)):
                d.add(pj + "range", er, gr)
        if want("mask") and exp["datatype"] == "I" and isinstance(exp["bits"][j], int):
            m, width = expected_mask(exp["bits"][j], exp["ranges"][j])
            gm = q.get("mask")
            full = (1 << width) - 1
            if m is not None and gm != m:
                d.add(pj + "mask", m, gm)
            elif m is None and gm is not None and (not isinstance(gm, int) or gm & full != full):
                d.add(pj + "mask", "null or all %d bits" % width, gm)
    warnings = got.get("warnings") if isinstance(got.get("warnings"), list) else []
    if want("spillover"):
        compare_spillover(exp["spillover"], got.get("spillover"), warnings,
                          names_got or exp["names"], d, p)
    if want("data_segment"):
        gs = got.get("data_segment") or {}
        for k in ("begin", "end", "from"):
            if not same_value(gs.get(k), exp["data_segment"][k]):
                d.add(p + "data_segment." + k, exp["data_segment"][k], gs.get(k))
    if want("warnings"):
        for note in exp.get("notes", []):
            if "off by one" in note and not any(w.startswith("data-end-off-by-one: ")
                                                for w in warnings):
                d.add(p + "warnings", "a 'data-end-off-by-one: ...' warning (%s)" % note, warnings)


# ---- fcs-export --------------------------------------------------------------

def export_header(names):
    return [n if n is not None else "P%d" % (j + 1) for j, n in enumerate(names)]


def run_export(env, path, index, raw, *flags):
    """Run fcs-export; return (header, columns, problem). Columns hold parsed
    numbers (int or float), one list per parameter."""
    argv = [env.tool("fcs-export")] + (["--raw"] if raw else []) + ["-d", str(index)]
    argv += list(flags) + [path]
    res = run(argv)
    what = "fcs-export%s -d %d" % (" --raw" if raw else "", index)
    if res.crashed() or res.rc != 0:
        return None, None, "%s %s" % (what, res.describe())
    lines = res.out.decode("utf-8", "replace").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        return None, None, what + " printed nothing"
    header = lines[0].split("\t")
    cols = [[] for _ in header]
    for ln, line in enumerate(lines[1:], start=2):
        toks = line.split("\t")
        if len(toks) != len(header):
            return header, None, "%s line %d has %d fields, header has %d" % (
                what, ln, len(toks), len(header))
        for c, t in zip(cols, toks):
            v = parse_number(t)
            if v is None:
                return header, None, "%s line %d: value %r is not a number" % (what, ln, t)
            c.append(v)
    return header, cols, None


def _storage(datatype, v):
    """A printed value as the reader held it: F values round-trip in float32."""
    return f32(v) if datatype == "F" else v


def compare_raw_export(exp, header, cols, d, p):
    dt = exp["datatype"]
    want_header = export_header(exp["names"])
    if header != want_header:
        d.add(p + "export header", "\t".join(want_header), "\t".join(header))
    if cols is None:
        return
    n = len(cols[0]) if cols else 0
    if n != exp["tot"]:
        d.add(p + "export raw rows", exp["tot"], n)
    if len(cols) != exp["par"]:
        return
    if dt == "I":
        for j, c in enumerate(cols):
            bad = next((v for v in c if not isinstance(v, int)), None)
            if bad is not None:
                d.add(p + "export raw P%d (integer data)" % (j + 1), "integers", bad)
                return
    vals = [[_storage(dt, v) for v in c] for c in cols]
    for i, row in enumerate(exp["raw_first_rows"]):
        for j, ev in enumerate(row):
            gv = vals[j][i] if i < n else None
            if not same_value(gv, ev):
                d.add(p + "raw_first_rows[%d][%d]" % (i, j), ev, gv)
                break
    for j in range(exp["par"]):
        c = vals[j]
        if not c:
            break
        finite = [v for v in c if not math.isnan(v)]
        gmin, gmax = (min(finite), max(finite)) if finite else (math.nan, math.nan)
        if not same_value(gmin, exp["raw_col_min"][j]):
            d.add(p + "raw_col_min[%d]" % j, exp["raw_col_min"][j], gmin)
        if not same_value(gmax, exp["raw_col_max"][j]):
            d.add(p + "raw_col_max[%d]" % j, exp["raw_col_max"][j], gmax)
        s = math.fsum(c)
        es = exp["raw_col_sum"][j]
        ok = same_value(s, es) if dt == "I" else close(s, es)
        if not ok:
            d.add(p + "raw_col_sum[%d]" % j, es, s)


def compare_scaled_export(exp, cols, d, p):
    dt = exp["datatype"]
    n = len(cols[0]) if cols else 0
    if n != exp["tot"]:
        d.add(p + "export scaled rows", exp["tot"], n)
    if len(cols) != exp["par"]:
        d.add(p + "export scaled columns", exp["par"], len(cols))
        return
    rules = exp.get("scaled_rule") or ["?"] * exp["par"]
    for j, c in enumerate(cols):
        vals = [_storage(dt, v) for v in c]
        s = math.fsum(vals)
        es = exp["scaled_col_sum"][j]
        # Export prints F data in float32 precision, also after scaling: each
        # scaled value may then be rounded by half a float32 ulp. That bound
        # is added to the README's 1e-9 (it is 0 for unscaled columns).
        extra = 0.0
        if dt == "F" and rules[j] != "lin":
            extra = F32_HALF_ULP * math.fsum(abs(v) for v in vals)
        if not close(s, es, abs_extra=extra):
            d.add(p + "scaled_col_sum[%d] (%s)" % (j, rules[j]), es, s)


def compare_exports(env, path, exp, d, p):
    """Raw and scaled exports of one data set against the expected JSON."""
    header, cols, problem = run_export(env, path, exp["index"], True)
    if problem:
        d.add(p + "export raw", "exit 0 and %d rows" % exp["tot"], problem)
    else:
        compare_raw_export(exp, header, cols, d, p)
    _, cols, problem = run_export(env, path, exp["index"], False)
    if problem:
        d.add(p + "export scaled", "exit 0 and %d rows" % exp["tot"], problem)
    else:
        compare_scaled_export(exp, cols, d, p)


def load_json(path):
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)
