/*
 * test_gatefile.c — the libfcs gate file (fcs/gatefile.h): parsing every
 * statement into the model, the canonical text (an exact expected text),
 * errors with line and column, quoting of awkward names, round trips text ->
 * strategy -> Gating-ML -> strategy -> text with identical membership,
 * files (temporary name, nothing left behind), the population tree, and
 * fcs_strategy_for_stream (no double application) on streams written with
 * LIBFCS_COMP / LIBFCS_PnTRANSFORM. With the corpus present: every
 * Gating-ML 2.0 compliance file converted to text and back, with the same
 * membership as the original and the truth of every case.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fcs/comp.h"
#include "fcs/gatefile.h"
#include "fcs/reader.h"
#include "fcs/writer.h"
#include "testutil.h"

/* ---- helpers ------------------------------------------------------------------------- */

static fcs_strategy *parse_ok(const char *text)
{
    fcs_strategy *s = NULL;
    fcs_error err;
    int rc = fcs_gatefile_read_mem(&s, text, strlen(text), "t.gates", FCS_GATEFILE_AUTO, &err);
    if (rc != FCS_OK) print_error("unexpected error: %s\n", err.msg);
    assert_int_equal(rc, FCS_OK);
    assert_non_null(s);
    return s;
}

static char *text_of(const fcs_strategy *s)
{
    char *t = NULL;
    size_t len = 0;
    fcs_error err;
    int rc = fcs_gatefile_write_mem(s, FCS_GATEFILE_TEXT, &t, &len, &err);
    if (rc != FCS_OK) print_error("write: %s\n", err.msg);
    assert_int_equal(rc, FCS_OK);
    assert_int_equal(strlen(t), len);
    return t;
}

static fcs_gate_info gate_named(const fcs_strategy *s, const char *id)
{
    fcs_gate_info in;
    long g = fcs_strategy_find_gate(s, id);
    if (g < 0) print_error("no gate %s\n", id);
    assert_true(g >= 0);
    assert_int_equal(fcs_strategy_gate(s, (size_t)g, &in), FCS_OK);
    return in;
}

static void assert_dim(const fcs_gate_dim *d, const char *name, const char *ratio, const char *comp,
                       const char *xform)
{
    if (name)
        assert_string_equal(d->name, name);
    else
        assert_null(d->name);
    if (ratio)
        assert_string_equal(d->ratio, ratio);
    else
        assert_null(d->ratio);
    if (comp)
        assert_string_equal(d->compensation, comp);
    else
        assert_null(d->compensation);
    if (xform)
        assert_string_equal(d->transform, xform);
    else
        assert_null(d->transform);
}

static const char *transform_text(const fcs_strategy *s, const char *id)
{
    for (size_t i = 0; i < fcs_strategy_n_transforms(s); i++) {
        const char *tid;
        const fcs_transform *t;
        assert_int_equal(fcs_strategy_transform(s, i, &tid, &t, NULL, NULL), FCS_OK);
        if (strcmp(tid, id) == 0) return fcs_transform_string(t);
    }
    print_error("no transform %s\n", id);
    fail();
    return NULL;
}

/* Membership of every population of s over n events of the named columns. */
static uint8_t *gate_events(const fcs_strategy *s, const char *const *names, size_t nch,
                            const double *const *cols, size_t n, const fcs_matrix *spill)
{
    fcs_gating *g;
    fcs_error err;
    int rc = fcs_gating_new(&g, s, names, nch, spill, &err);
    if (rc != FCS_OK) print_error("bind: %s\n", err.msg);
    assert_int_equal(rc, FCS_OK);
    size_t np = fcs_strategy_n_populations(s);
    uint8_t *all = calloc(np ? np : 1, n ? n : 1);
    uint8_t **mem = calloc(np ? np : 1, sizeof *mem);
    for (size_t p = 0; p < np; p++) mem[p] = all + p * n;
    assert_int_equal(fcs_gating_run(g, cols, n, mem), FCS_OK);
    free(mem);
    fcs_gating_free(g);
    return all;
}

/* Deterministic pseudo-random values in [lo, hi). */
static double rnd(uint64_t *st, double lo, double hi)
{
    *st = *st * 6364136223846793005ULL + 1442695040888963407ULL;
    return lo + (hi - lo) * (double)(*st >> 11) / 9007199254740992.0;
}

/* ---- parsing ----------------------------------------------------------------------- */

/* Every statement, with comments, blank lines, CRLF, a byte order mark,
 * continuation inside brackets, quoted names and inline transforms. */
static const char EXAMPLE[] =
    "\xef\xbb\xbf# a strategy\r\n"
    "transform L = logicle(T=262144, W=0.5, M=4.5, A=0)   # the usual scale\r\n"
    "transform R = fratio(A=2, B=1, C=0) of FL1-H, \"FL2 H\"\n"
    "matrix M: FL1-H, FL2-H\n"
    "  FITC: 1, 0.1\n"
    "  PE:   0.05, 1\n"
    "matrix Inv inverted: FITC, PE\n"
    "  FL1-H: 1.5, -0.2\n"
    "  FL2-H: -0.1, 1.25\n"
    "\n"
    "Lymphocytes: polygon FSC-A, SSC-A [(20000, 5000), (150000, 5000),\n"
    "                                   (150000, 90000)]\n"
    "  T: rectangle L(FITC-A@FCS) [0.45, )\n"
    "    \"CD4 T\": range L(APC-A@FCS) [0.5, ), L(BV421-A@FCS) [, 0.4)\n"
    "    CD8: rectangle logicle(BV421-A@FCS) [0.5, 1e0)\n"
    "    Q: quadrant A = L(FITC@M) [0.5], B = asinh(cofactor=150)(PE@Inv) [1, 2]\n"
    "      Q1: A = 0.7, B = 0.2\n"
    "        deep: rectangle ratio(R)@FCS [1, 2)\n"
    "      Q2: A = 0.2, B = 3\n"
    "  E: ellipsoid FSC-A, SSC-A mean (1, -2.5) covariance [(2, 0.5), (0.5, 1)] distance2 4\n"
    "  both: and T, not E\n"
    "  any: or T, E, Q2\n"
    "  none: not not both\n"
    "Scaled: rectangle L(ratio(R)@M) [0.1, 0.2)\n";

static void test_parse_every_statement(void **state)
{
    (void)state;
    fcs_strategy *s = parse_ok(EXAMPLE);
    /* declarations: L, R, then the inline logicle reuses L, asinh is new */
    assert_int_equal(fcs_strategy_n_transforms(s), 3);
    assert_string_equal(transform_text(s, "L"), "logicle(T=262144,W=0.5,M=4.5,A=0)");
    assert_string_equal(transform_text(s, "R"), "fratio(A=2,B=1,C=0)");
    assert_string_equal(transform_text(s, "asinh"), "asinh(cofactor=150)");
    const char *num, *den;
    assert_int_equal(fcs_strategy_transform(s, 1, NULL, NULL, &num, &den), FCS_OK);
    assert_string_equal(num, "FL1-H");
    assert_string_equal(den, "FL2 H");
    assert_int_equal(fcs_strategy_n_matrices(s), 2);
    fcs_gate_matrix_info mi;
    assert_int_equal(fcs_strategy_matrix(s, 0, &mi), FCS_OK);
    assert_string_equal(mi.id, "M");
    assert_int_equal(mi.inverted, 0);
    assert_string_equal(mi.fluorochromes[1], "PE");
    assert_string_equal(mi.detectors[0], "FL1-H");
    assert_true(fcs_matrix_get(mi.matrix, 1, 0) == 0.05);
    assert_int_equal(fcs_strategy_matrix(s, 1, &mi), FCS_OK);
    assert_int_equal(mi.inverted, 1);
    assert_string_equal(mi.fluorochromes[0], "FITC");
    assert_string_equal(mi.detectors[1], "FL2-H");
    assert_true(fcs_matrix_get(mi.matrix, 1, 1) == 1.25);

    fcs_gate_info in = gate_named(s, "Lymphocytes");
    assert_int_equal(in.type, FCS_GATE_POLYGON);
    assert_null(in.parent);
    assert_int_equal(in.line, 11);
    assert_int_equal(in.n_vertices, 3);
    assert_true(in.vertices[4] == 150000 && in.vertices[5] == 90000);
    assert_dim(&in.dims[0], "FSC-A", NULL, NULL, NULL);
    in = gate_named(s, "T");
    assert_string_equal(in.parent, "Lymphocytes");
    assert_dim(&in.dims[0], "FITC-A", NULL, "FCS", "L");
    assert_true(in.min[0] == 0.45 && isnan(in.max[0]));
    in = gate_named(s, "CD4 T");
    assert_int_equal(in.type, FCS_GATE_RECTANGLE);
    assert_string_equal(in.parent, "T");
    assert_int_equal(in.n_dims, 2);
    assert_true(isnan(in.min[1]) && in.max[1] == 0.4);
    in = gate_named(s, "CD8");
    assert_dim(&in.dims[0], "BV421-A", NULL, "FCS", "L");
    assert_true(in.max[0] == 1);
    in = gate_named(s, "Q");
    assert_int_equal(in.type, FCS_GATE_QUADRANT);
    assert_string_equal(in.parent, "T");
    assert_int_equal(in.n_dividers, 2);
    assert_string_equal(in.dividers[1].id, "B");
    assert_dim(&in.dividers[1].dim, "PE", NULL, "Inv", "asinh");
    assert_int_equal(in.dividers[1].n_values, 2);
    assert_int_equal(in.n_quadrants, 2);
    assert_string_equal(in.quadrants[1].id, "Q2");
    assert_true(in.quadrants[1].locations[1] == 3);
    assert_string_equal(
        fcs_strategy_population_parent(s, (size_t)fcs_strategy_population_index(s, "Q1")), "T");
    in = gate_named(s, "deep");
    assert_string_equal(in.parent, "Q1");
    assert_dim(&in.dims[0], NULL, "R", "FCS", NULL);
    in = gate_named(s, "E");
    assert_int_equal(in.type, FCS_GATE_ELLIPSOID);
    assert_true(in.mean[1] == -2.5 && in.covariance[1] == 0.5 && in.distance_square == 4);
    in = gate_named(s, "both");
    assert_int_equal(in.op, FCS_GATE_AND);
    assert_int_equal(in.refs[1].complement, 1);
    assert_string_equal(in.refs[1].id, "E");
    in = gate_named(s, "any");
    assert_int_equal(in.op, FCS_GATE_OR);
    assert_int_equal(in.n_refs, 3);
    in = gate_named(s, "none");
    assert_int_equal(in.op, FCS_GATE_NOT);
    assert_int_equal(in.refs[0].complement, 1);
    in = gate_named(s, "Scaled");
    assert_null(in.parent);
    assert_dim(&in.dims[0], NULL, "R", "M", "L");
    fcs_strategy_free(s);
}

/* The canonical text of the example, exactly. */
static const char EXAMPLE_CANONICAL[] =
    "# libfcs gate file (docs/gate-file.md)\n"
    "matrix M: FL1-H, FL2-H\n"
    "  FITC: 1, 0.1\n"
    "  PE: 0.05, 1\n"
    "matrix Inv inverted: FITC, PE\n"
    "  FL1-H: 1.5, -0.2\n"
    "  FL2-H: -0.1, 1.25\n"
    "transform L = logicle(T=262144,W=0.5,M=4.5,A=0)\n"
    "transform R = fratio(A=2,B=1,C=0) of FL1-H, \"FL2 H\"\n"
    "transform asinh = asinh(cofactor=150)\n"
    "\n"
    "Lymphocytes: polygon FSC-A, SSC-A [(20000, 5000), (150000, 5000), (150000, 90000)]\n"
    "  T: rectangle L(FITC-A@FCS) [0.45, )\n"
    "    \"CD4 T\": rectangle L(APC-A@FCS) [0.5, ), L(BV421-A@FCS) [, 0.4)\n"
    "    CD8: rectangle L(BV421-A@FCS) [0.5, 1)\n"
    "    Q: quadrant A = L(FITC@M) [0.5], B = asinh(PE@Inv) [1, 2]\n"
    "      Q1: A = 0.7, B = 0.2\n"
    "        deep: rectangle ratio(R)@FCS [1, 2)\n"
    "      Q2: A = 0.2, B = 3\n"
    "  E: ellipsoid FSC-A, SSC-A mean (1, -2.5) covariance [(2, 0.5), (0.5, 1)] distance2 4\n"
    "  both: and T, not E\n"
    "  any: or T, E, Q2\n"
    "  none: not not both\n"
    "Scaled: rectangle L(ratio(R)@M) [0.1, 0.2)\n";

static void test_canonical_text(void **state)
{
    (void)state;
    fcs_strategy *s = parse_ok(EXAMPLE);
    char *t = text_of(s);
    assert_string_equal(t, EXAMPLE_CANONICAL);
    fcs_strategy *s2 = parse_ok(t); /* the canonical text reads back to itself */
    char *t2 = text_of(s2);
    assert_string_equal(t2, t);
    free(t), free(t2);
    fcs_strategy_free(s), fcs_strategy_free(s2);
}

static void test_inline_transform_ids(void **state)
{
    (void)state;
    fcs_strategy *s = parse_ok("A: rectangle logicle(X) [0, 1)\n"
                               "B: rectangle logicle(T=1000)(X) [0, 1)\n"
                               "C: rectangle logicle(T=262144,W=0.5)(Y) [0, 1)\n" /* = defaults */
                               "D: rectangle Logicle(T=1000)(Z) [0, 1)\n"
                               "E: rectangle flin(T=10)(Z) [0, 1)\n");
    assert_int_equal(fcs_strategy_n_transforms(s), 3);
    assert_string_equal(gate_named(s, "A").dims[0].transform, "logicle");
    assert_string_equal(gate_named(s, "B").dims[0].transform, "logicle_2");
    assert_string_equal(gate_named(s, "C").dims[0].transform, "logicle");
    assert_string_equal(gate_named(s, "D").dims[0].transform, "logicle_2");
    assert_string_equal(gate_named(s, "E").dims[0].transform, "flin");
    assert_string_equal(transform_text(s, "logicle_2"), "logicle(T=1000,W=0.5,M=4.5,A=0)");
    fcs_strategy_free(s);
    /* a declared id takes precedence over a kind name */
    s = parse_ok("transform logicle = flog(T=10, M=1)\nA: rectangle logicle(X) [0, 1)\n");
    assert_int_equal(fcs_strategy_n_transforms(s), 1);
    assert_string_equal(transform_text(s, "logicle"), "flog(T=10,M=1)");
    fcs_strategy_free(s);
}

/* A rectangle is [min, max); a polygon includes its edges. */
static void test_membership_semantics(void **state)
{
    (void)state;
    fcs_strategy *s = parse_ok("R: rectangle X [0, 10)\n"
                               "P: polygon X, Y [(0, 0), (10, 0), (0, 10)]\n"
                               "  In: range Y [1, )\n"
                               "Out: not R\n");
    const double x[6] = {-1, 0, 5, 10, 5, NAN}, y[6] = {0, 0, 5, 0, 5.0000001, 0};
    const double *cols[2] = {x, y};
    const char *names[2] = {"X", "Y"};
    uint8_t *m = gate_events(s, names, 2, cols, 6, NULL);
    const uint8_t r[6] = {0, 1, 1, 0, 1, 0}, p[6] = {0, 1, 1, 1, 0, 0}, in[6] = {0, 0, 1, 0, 0, 0},
                  out[6] = {1, 0, 0, 1, 0, 1};
    assert_memory_equal(m, r, 6);
    assert_memory_equal(m + 6, p, 6);
    assert_memory_equal(m + 12, in, 6);
    assert_memory_equal(m + 18, out, 6);
    free(m);
    fcs_strategy_free(s);
}

/* ---- errors --------------------------------------------------------------------------- */

typedef struct bad_case {
    const char *text;
    int code;
    const char *msg;
} bad_case;

static const bad_case BAD[] = {
    {"A: rectangle X [0, 1]\n", FCS_EFORMAT,
     "t.gates:1:21: a rectangle side is [min, max): close it with ')'"},
    {"A: rectangle X [0, 1)\n  B: rectangle Y [0, 1)\n C: rectangle Z [, 1)\n", FCS_EFORMAT,
     "t.gates:3:2: indentation does not match the lines above (2 blanks expected)"},
    {"  A: rectangle X [0, 1)\n", FCS_EFORMAT,
     "t.gates:1:3: unexpected indentation (a top-level statement starts in column 1)"},
    {"A: polygon X, Y [(0, 0), (1, 1)]\n", FCS_EINVAL,
     "t.gates:1:1: gate 'A': a polygon needs at least 3 vertices (got 2)"},
    {"# c\nA: polygon X, Y [(0, 0), (1, 1), (1, 0)\n", FCS_EFORMAT,
     "t.gates:2:17: bracket opened here is never closed"},
    {"A: polygon X, Y [(0, 0, 1), (1, 1), (1, 0)]\n", FCS_EFORMAT,
     "t.gates:1:18: a vertex has two coordinates (x, y)"},
    {"A: rectangle L(X) [0, 1)\n", FCS_ENOTFOUND,
     "t.gates:1:14: unknown transform 'L' (declare it first: transform L = ...)"},
    {"A: rectangle X [0, 1)\nA: rectangle X [0, 1)\n", FCS_EINVAL,
     "t.gates:2:1: gate 'A': id already used"},
    {"A: rectangle X [0, 1)\nB: and A, C\n", FCS_ENOTFOUND,
     "t.gates:2:1: gate 'B': operand 'C' not found"},
    {"A: rectangle X [0, 1)\n\tB: rectangle X [0, 1)\n", FCS_EFORMAT,
     "t.gates:2:1: tab in the indentation (indent with blanks)"},
    {"A/B: rectangle X [0, 1)\n", FCS_EFORMAT,
     "t.gates:1:1: population id 'A/B' contains '/' (it separates population paths)"},
    {"A: rectangle X [abc, 1)\n", FCS_EFORMAT,
     "t.gates:1:17: expected a minimum or ',', found 'abc'"},
    {"A: rectangle X@M [0, 1)\n", FCS_ENOTFOUND,
     "t.gates:1:16: unknown compensation 'M' (FCS, uncompensated, or a matrix declared above)"},
    {"transform L = logicle(T=-1)\n", FCS_EFORMAT,
     "t.gates:1:15: transform \"logicle(T=-1)\": logicle: T must be > 0 (got -1)"},
    {"transform R = fratio(A=1)\n", FCS_EFORMAT,
     "t.gates:1:26: expected 'of NUMERATOR, DENOMINATOR' (an fratio takes two channels), found "
     "the end of the line"},
    {"A: rectangle fratio(X) [0, 1)\n", FCS_EFORMAT,
     "t.gates:1:14: fratio takes two channels: declare it (transform R = fratio(...) of "
     "NUMERATOR, DENOMINATOR) and use ratio(R)"},
    {"A: rectangle \"X [0, 1)\n", FCS_EFORMAT, "t.gates:1:14: unterminated name (no closing '\"')"},
    {"A: blob X\n", FCS_EFORMAT,
     "t.gates:1:4: expected a gate type (rectangle, range, polygon, ellipsoid, quadrant, and, or, "
     "not), found 'blob'"},
    {"matrix M: a, b\n  r1: 1, 2, 3\n", FCS_EFORMAT,
     "t.gates:2:13: row 'r1' has more values than the 2 columns"},
    {"matrix M: a, b\n  r1: 1\n", FCS_EFORMAT, "t.gates:2:3: row 'r1' has 1 values for 2 columns"},
    {"matrix M: a, b\nA: rectangle X [0, 1)\n", FCS_EFORMAT,
     "t.gates:1:8: matrix 'M' has no rows (indent them below it: NAME: values)"},
    {"A: quadrant D = X [1]\n  Q1: E = 3\n", FCS_ENOTFOUND,
     "t.gates:2:3: quadrant 'Q1': gate 'A' has no divider 'E'"},
    {"A: quadrant D = X [1]\n", FCS_EFORMAT, "t.gates:1:1: quadrant gate 'A' has no quadrant"},
    {"A: rectangle X [0, 1) junk\n", FCS_EFORMAT,
     "t.gates:1:23: expected the end of the line after the gate, found 'junk'"},
    {"A: rectangle X [1e999, 1)\n", FCS_EFORMAT, "t.gates:1:17: number '1e999' is out of range"},
    {"A: rectangle X [0, 1)\n  transform L = logicle\n", FCS_EFORMAT,
     "t.gates:2:3: a transform declaration goes at the top level, not inside a gate"},
    {"A: rectangle X [0, 1)\x01\n", FCS_EFORMAT, "t.gates:1:22: control byte 0x01"},
    {"A: rectangle X\xff [0, 1)\n", FCS_EFORMAT,
     "t.gates:1:15: invalid UTF-8 byte 0xff (gate files are UTF-8)"},
    {"A: ellipsoid X, Y mean (1, 2) covariance [(1, 0), (0, 1), (1, 1)] distance2 1\n", FCS_EFORMAT,
     "t.gates:1:59: the covariance matrix is 2 x 2 (one row per dimension)"},
    {"A: ellipsoid X, Y mean (1) covariance [(1, 0), (0, 1)] distance2 1\n", FCS_EFORMAT,
     "t.gates:1:19: the mean needs 2 values, found 1"},
    {"A: not B\nB: not A\n", FCS_EFORMAT,
     "t.gates:1:1: gate 'A': its parents and operands form a cycle"},
    {"A: rectangle X [0, 1)\n  A1: rectangle L(Y)(Z) [0, 1)\n", FCS_ENOTFOUND,
     "t.gates:2:17: unknown transform 'L' (declare it first: transform L = ...)"},
    {"transform L = flin\nA: rectangle L(T=5)(X) [0, 1)\n", FCS_EFORMAT,
     "t.gates:2:14: 'L' is a declared transform: it takes no parameters here"},
    {"transform L = flin\nA: rectangle L(L(X)) [0, 1)\n", FCS_EFORMAT,
     "t.gates:2:17: one transform per dimension (declare a combined one if needed)"},
    {"A: rectangle X [0, 1))\n", FCS_EFORMAT, "t.gates:1:22: unmatched ')'"},
    {"A: rectangle \"a\\qb\" [0, 1)\n", FCS_EFORMAT,
     "t.gates:1:16: unknown escape '\\q' in a quoted name (use \\\" \\\\ \\n \\t \\r \\xHH)"},
    {"A rectangle X [0, 1)\n", FCS_EFORMAT,
     "t.gates:1:3: expected ':' after the gate id, found 'rectangle'"},
    {"A: rectangle X [0, 1)\n  Q: quadrant D = X [1]\n    Q1: D = 2\n    B: rectangle X [0, 1)\n",
     FCS_EFORMAT,
     "t.gates:4:5: only quadrants (ID: DIVIDER = LOCATION, ...) go directly below "
     "quadrant gate 'Q'; indent gates below one of its quadrants"},
    {"A: rectangle asinh(X) [0, 1)\n", FCS_EFORMAT,
     "t.gates:1:14: transform \"asinh\": missing parameter cofactor (e.g. asinh(150)) (give the "
     "parameters: asinh(...)(CHANNEL))"},
    {"A: and X\n", FCS_EINVAL, "t.gates:1:1: gate 'A': 'and' takes at least two operands (got 1)"},
    /* an interval that holds nothing (review 2, finding 11) */
    {"A: rectangle FSC-A [10, 0)\n", FCS_EFORMAT,
     "t.gates:1:20: gate 'A': the interval [10, 0) is empty (min must be below max)"},
    {"A: rectangle X [0, 1), Y [2.5, 2.5)\n", FCS_EFORMAT,
     "t.gates:1:26: gate 'A': the interval [2.5, 2.5) is empty (min must be below max)"},
    /* two quadrants of one cell (the same location, or two in one interval) */
    {"A: rectangle FSC-A [0, 10)\n  Q: quadrant X = FSC-A [5]\n    q1: X = 1\n    q2: X = 1\n",
     FCS_EFORMAT, "t.gates:4:5: quadrant 'q2' selects the same cell of 'Q' as quadrant 'q1'"},
    {"Q: quadrant X = FSC-A [5], Y = SSC-A [5]\n  q1: X = 1, Y = 7\n  q2: Y = 9, X = 2\n",
     FCS_EFORMAT, "t.gates:3:3: quadrant 'q2' selects the same cell of 'Q' as quadrant 'q1'"},
};

static void test_errors_name_line_and_column(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof BAD / sizeof *BAD; i++) {
        fcs_strategy *s = (fcs_strategy *)1;
        fcs_error err;
        int rc = fcs_gatefile_read_mem(&s, BAD[i].text, strlen(BAD[i].text), "t.gates",
                                       FCS_GATEFILE_TEXT, &err);
        if (rc != BAD[i].code || strcmp(err.msg, BAD[i].msg) != 0)
            print_error("case %zu: got %d '%s'\n  want %d '%s'\n", i, rc, err.msg, BAD[i].code,
                        BAD[i].msg);
        assert_int_equal(rc, BAD[i].code);
        assert_string_equal(err.msg, BAD[i].msg);
        assert_null(s);
    }
}

/* Arbitrary bytes: always an answer, never a crash (NUL inside, empty, huge). */
static void test_odd_inputs(void **state)
{
    (void)state;
    fcs_strategy *s;
    fcs_error err;
    const char nul[] = "A: rectangle X [0, 1)\n\0B";
    assert_int_equal(fcs_gatefile_read_mem(&s, nul, sizeof nul - 1, NULL, FCS_GATEFILE_AUTO, &err),
                     FCS_EFORMAT);
    assert_string_equal(err.msg, "<gates>:2:1: NUL byte");
    /* empty and comment-only inputs are an empty strategy */
    assert_int_equal(fcs_gatefile_read_mem(&s, "", 0, "e", FCS_GATEFILE_AUTO, &err), FCS_OK);
    assert_int_equal(fcs_strategy_n_gates(s), 0);
    char *t = text_of(s);
    assert_string_equal(t, "# libfcs gate file (docs/gate-file.md)\n");
    free(t);
    fcs_strategy_free(s);
    assert_int_equal(fcs_gatefile_read_mem(&s, "  # x\n\n\t\n", 9, "e", FCS_GATEFILE_AUTO, &err),
                     FCS_OK);
    fcs_strategy_free(s);
    assert_int_equal(
        fcs_gatefile_read_mem(&s, "x", FCS_GATEFILE_MAX + 1, "big", FCS_GATEFILE_AUTO, &err),
        FCS_EFORMAT);
    assert_string_equal(err.msg, "big: larger than 64 MiB: not a gate file");
    assert_int_equal(fcs_gatefile_read_mem(NULL, "", 0, "e", FCS_GATEFILE_AUTO, &err), FCS_EINVAL);
    /* forcing the text format on XML: a text error at 1:1 */
    const char *xml = "<?xml version=\"1.0\"?><x/>";
    assert_int_equal(fcs_gatefile_read_mem(&s, xml, strlen(xml), "x", FCS_GATEFILE_TEXT, &err),
                     FCS_EFORMAT);
    assert_string_equal(err.msg, "x:1:7: expected ':' after the gate id, found 'version'");
    /* libxml2 reports bad UTF-8 on two lines; the message is joined into one */
    const char *badxml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<a b\x82g=\"1\"/>\n";
    assert_int_equal(
        fcs_gatefile_read_mem(&s, badxml, strlen(badxml), "u.xml", FCS_GATEFILE_AUTO, &err),
        FCS_EFORMAT);
    assert_null(strchr(err.msg, '\n'));
    assert_non_null(strstr(err.msg, "u.xml:2: "));
    assert_true(strlen(err.msg) > 0 && err.msg[strlen(err.msg) - 1] != ' ');
}

static void test_detect(void **state)
{
    (void)state;
    assert_int_equal(fcs_gatefile_detect("<?xml", 5), FCS_GATEFILE_GATINGML);
    assert_int_equal(fcs_gatefile_detect(" \r\n\t<gating:Gating-ML>", 21), FCS_GATEFILE_GATINGML);
    assert_int_equal(fcs_gatefile_detect("\xef\xbb\xbf<a", 5), FCS_GATEFILE_GATINGML);
    assert_int_equal(fcs_gatefile_detect("A: rectangle X [0, 1)", 21), FCS_GATEFILE_TEXT);
    assert_int_equal(fcs_gatefile_detect("# <xml>", 7), FCS_GATEFILE_TEXT);
    assert_int_equal(fcs_gatefile_detect("", 0), FCS_GATEFILE_TEXT);
    /* a name that starts with '<' is quoted, so text never looks like XML */
    fcs_strategy *s = parse_ok("\"<FITC>\": rectangle \"<FITC-A>\" [0, 1)\n");
    char *t = text_of(s);
    assert_int_equal(fcs_gatefile_detect(t, strlen(t)), FCS_GATEFILE_TEXT);
    assert_non_null(strstr(t, "\n\"<FITC>\": rectangle \"<FITC-A>\" [0, 1)\n"));
    free(t);
    fcs_strategy_free(s);
}

/* ---- round trips ------------------------------------------------------------------------ */

/* Names that need quoting survive writer and parser byte for byte. */
static void test_quoting(void **state)
{
    (void)state;
    static const char *const names[] = {"CD3 FITC-A", "a\"b\\c",         "x\ny\tz\r", "rectangle",
                                        "<PE-A>",     "CD4+CD8-",        "Q1: x",     "é-Ä",
                                        "\x01\x7f",   "a,b(c)[d]=e@f#g", "ratio"};
    size_t n = sizeof names / sizeof *names;
    fcs_strategy *s = fcs_strategy_new();
    for (size_t i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof id, "g%zu", i);
        fcs_gate_dim d = {names[i], NULL, NULL, NULL};
        double lo = (double)i, hi = NAN;
        const char *gid = i == 6 ? names[i] : id; /* an id with ':' and blanks */
        assert_int_equal(fcs_strategy_add_rectangle(s, gid, NULL, 1, &d, &lo, &hi), FCS_OK);
    }
    char *t = text_of(s);
    fcs_strategy *b = parse_ok(t);
    for (size_t i = 0; i < n; i++) {
        fcs_gate_info x, y;
        assert_int_equal(fcs_strategy_gate(s, i, &x), FCS_OK);
        assert_int_equal(fcs_strategy_gate(b, i, &y), FCS_OK);
        assert_string_equal(x.id, y.id);
        assert_string_equal(x.dims[0].name, y.dims[0].name);
        assert_true(y.min[0] == (double)i);
    }
    char *t2 = text_of(b);
    assert_string_equal(t, t2);
    assert_non_null(strstr(t, "g2: rectangle \"x\\ny\\tz\\r\" [2, )\n"));
    assert_non_null(strstr(t, "g8: rectangle \"\\x01\\x7f\" [8, )\n"));
    assert_non_null(strstr(t, "g3: rectangle \"rectangle\" [3, )\n"));
    free(t), free(t2);
    fcs_strategy_free(s), fcs_strategy_free(b);
}

/* text -> strategy -> Gating-ML -> strategy -> text: identical text and,
 * on random events, identical membership. */
static void test_roundtrip_through_gatingml(void **state)
{
    (void)state;
    const char *src =
        "transform L = logicle(T=1000, W=0.5, M=4.5, A=0)\n"
        "transform H = hyperlog(T=1000, W=1, M=4, A=0)\n"
        "transform F = fasinh(T=1000, M=4, A=1)\n"
        "transform R = fratio(A=1.5, B=-2, C=3) of X, Y\n"
        "matrix M: X, Y\n  x: 1, 0.2\n  y: 0.1, 1\n"
        "P: polygon L(X), H(Y) [(0.1, 0.1), (0.9, 0.2), (0.8, 0.9), (0.2, 0.7), (0.5, 0.5)]\n"
        "  Rect: rectangle X@M [10, 800), F(Z) [, 0.7)\n"
        "    Rat: range ratio(R) [-1, 3)\n"
        "Ell: ellipsoid X, Y, Z mean (500, 500, 500) covariance [(40000, 100, 0), "
        "(100, 30000, 5), (0, 5, 20000)] distance2 2\n"
        "Quad: quadrant DX = x@M [300, 600], DY = L(Y) [0.5]\n"
        "  Lo: DX = 0, DY = 0\n"
        "    Inner: and not Ell, P\n"
        "  Mid: DX = 400, DY = 0.9\n"
        "  Hi: DX = 700\n"
        "Either: or Lo, Hi\n";
    fcs_strategy *a = parse_ok(src);
    char *ta = text_of(a), *xml;
    size_t len;
    fcs_error err;
    assert_int_equal(fcs_gatefile_write_mem(a, FCS_GATEFILE_GATINGML, &xml, &len, &err), FCS_OK);
    assert_int_equal(fcs_gatefile_detect(xml, len), FCS_GATEFILE_GATINGML);
    fcs_strategy *b;
    assert_int_equal(fcs_gatefile_read_mem(&b, xml, len, "export.xml", FCS_GATEFILE_AUTO, &err),
                     FCS_OK);
    char *tb = text_of(b);
    assert_string_equal(ta, tb);
    /* membership on 4000 random events, some of them NaN */
    enum { N = 4000 };
    static double x[N], y[N], z[N];
    uint64_t st = 42;
    for (size_t i = 0; i < N; i++) {
        x[i] = rnd(&st, -100, 1100), y[i] = rnd(&st, -100, 1100), z[i] = rnd(&st, -100, 1100);
        if (i % 97 == 0) y[i] = NAN;
    }
    const double *cols[3] = {x, y, z};
    const char *names[3] = {"X", "Y", "Z"};
    size_t np = fcs_strategy_n_populations(a);
    assert_int_equal(fcs_strategy_n_populations(b), np);
    uint8_t *ma = gate_events(a, names, 3, cols, N, NULL),
            *mb = gate_events(b, names, 3, cols, N, NULL);
    assert_memory_equal(ma, mb, np * N);
    for (size_t p = 0; p < np; p++) { /* every population is neither empty nor everything */
        size_t c = 0;
        for (size_t i = 0; i < N; i++) c += ma[p * N + i];
        if (c == 0 || c == N)
            print_error("population %s has %zu events\n", fcs_strategy_population_id(a, p), c);
        assert_true(c > 0 && c < N);
    }
    free(ma), free(mb), free(ta), free(tb), free(xml);
    fcs_strategy_free(a), fcs_strategy_free(b);
}

/* Transforms Gating-ML has no element for are text-only. */
static void test_text_only_transforms(void **state)
{
    (void)state;
    fcs_strategy *s = parse_ok("A: rectangle asinh(cofactor=5)(X) [0, 1)\n");
    char *xml;
    size_t len;
    fcs_error err;
    assert_int_equal(fcs_gatefile_write_mem(s, FCS_GATEFILE_GATINGML, &xml, &len, &err),
                     FCS_EUNSUPPORTED);
    assert_string_equal(err.msg, "transformation 'asinh': asinh has no Gating-ML 2.0 form");
    fcs_strategy_free(s);
}

/* Long polygons wrap at 100 columns inside the brackets; deep trees. */
static void test_long_and_deep(void **state)
{
    (void)state;
    fcs_strategy *s = fcs_strategy_new();
    enum { NV = 500, DEPTH = 3000 };
    static double xy[2 * NV];
    for (size_t i = 0; i < NV; i++) {
        double a = 2 * M_PI * (double)i / NV;
        xy[2 * i] = 1000 * cos(a) + 0.125, xy[2 * i + 1] = 1000 * sin(a);
    }
    fcs_gate_dim d[2] = {{"X", NULL, NULL, NULL}, {"Y", NULL, NULL, NULL}};
    assert_int_equal(fcs_strategy_add_polygon(s, "P", NULL, d, NV, xy), FCS_OK);
    char id[32], parent[32] = "P";
    for (size_t k = 0; k < DEPTH; k++) {
        double lo = -(double)k, hi = NAN;
        snprintf(id, sizeof id, "L%zu", k);
        assert_int_equal(fcs_strategy_add_rectangle(s, id, parent, 1, d, &lo, &hi), FCS_OK);
        strcpy(parent, id);
    }
    char *t = text_of(s);
    size_t col = 0, lines = 0;
    for (const char *p = t; *p; p++) {
        if (*p == '\n') {
            lines++;
            col = 0;
        } else if (++col > 100 && lines < 10) {
            fail_msg("line %zu is longer than 100 columns", lines + 1);
        }
    }
    fcs_strategy *b = parse_ok(t);
    fcs_gate_info in = gate_named(b, "P");
    assert_int_equal(in.n_vertices, NV);
    assert_memory_equal(in.vertices, xy, sizeof xy);
    in = gate_named(b, "L2999");
    assert_string_equal(in.parent, "L2998");
    char *t2 = text_of(b);
    assert_string_equal(t, t2);
    size_t order[DEPTH + 1], depth[DEPTH + 1];
    assert_int_equal(fcs_strategy_population_tree(b, order, depth), FCS_OK);
    assert_int_equal(depth[DEPTH], DEPTH);
    free(t), free(t2);
    fcs_strategy_free(s), fcs_strategy_free(b);
}

static void test_population_tree(void **state)
{
    (void)state;
    /* populations in strategy order: Q1 Q2 (quadrants of QG, child of B), A, B, C, D */
    fcs_strategy *s = fcs_strategy_new();
    fcs_gate_dim d = {"X", NULL, NULL, NULL};
    double lo = 0, hi = 1, v = 0.5;
    fcs_gate_divider dv = {"D", {"X", NULL, NULL, NULL}, 1, &v};
    const char *div = "D";
    double l1 = 0, l2 = 1;
    assert_int_equal(fcs_strategy_add_quadrant_gate(s, "QG", "B", 1, &dv), FCS_OK);
    assert_int_equal(fcs_strategy_add_quadrant(s, "QG", "Q1", 1, &div, &l1), FCS_OK);
    assert_int_equal(fcs_strategy_add_quadrant(s, "QG", "Q2", 1, &div, &l2), FCS_OK);
    assert_int_equal(fcs_strategy_add_rectangle(s, "A", NULL, 1, &d, &lo, &hi), FCS_OK);
    assert_int_equal(fcs_strategy_add_rectangle(s, "B", "A", 1, &d, &lo, &hi), FCS_OK);
    assert_int_equal(fcs_strategy_add_rectangle(s, "C", "Q2", 1, &d, &lo, &hi), FCS_OK);
    assert_int_equal(fcs_strategy_add_rectangle(s, "D", NULL, 1, &d, &lo, &hi), FCS_OK);
    size_t order[6], depth[6];
    assert_int_equal(fcs_strategy_population_tree(s, order, depth), FCS_OK);
    const char *want[6] = {"A", "B", "Q1", "Q2", "C", "D"};
    const size_t wdepth[6] = {0, 1, 2, 2, 3, 0};
    for (size_t k = 0; k < 6; k++) {
        assert_string_equal(fcs_strategy_population_id(s, order[k]), want[k]);
        assert_int_equal(depth[k], wdepth[k]);
    }
    char *t = text_of(s);
    assert_string_equal(t, "# libfcs gate file (docs/gate-file.md)\n"
                           "A: rectangle X [0, 1)\n"
                           "  B: rectangle X [0, 1)\n"
                           "    QG: quadrant D = X [0.5]\n"
                           "      Q1: D = 0\n"
                           "      Q2: D = 1\n"
                           "        C: rectangle X [0, 1)\n"
                           "D: rectangle X [0, 1)\n");
    free(t);
    /* an unresolved parent: refused, as by fcs_strategy_validate */
    assert_int_equal(fcs_strategy_add_rectangle(s, "E", "nowhere", 1, &d, &lo, &hi), FCS_OK);
    size_t o7[7];
    assert_int_equal(fcs_strategy_population_tree(s, o7, NULL), FCS_ENOTFOUND);
    char *doc;
    size_t len;
    fcs_error err;
    assert_int_equal(fcs_gatefile_write_mem(s, FCS_GATEFILE_TEXT, &doc, &len, &err), FCS_ENOTFOUND);
    assert_string_equal(err.msg, "gate 'E': parent 'nowhere' not found");
    fcs_strategy_free(s);
}

/* ---- files --------------------------------------------------------------------------------- */

static int tmp_leftovers(const char *path)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    const char *base = slash ? slash + 1 : path;
    char prefix[512];
    snprintf(prefix, sizeof prefix, "%s.tmp.", base);
    if (slash) *slash = '\0';
    DIR *d = opendir(slash ? dir : ".");
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) n++;
    if (d) closedir(d);
    return n;
}

static void test_files_and_convert(void **state)
{
    (void)state;
    const char *txt = tu_tmp_path("gf_a.gates"), *xml = tu_tmp_path("gf_a.xml");
    const char *back = tu_tmp_path("gf_b.gates");
    unlink(txt), unlink(xml), unlink(back);
    fcs_strategy *s = parse_ok("transform L = flog(T=100, M=2)\nA: rectangle L(X@FCS) [0.5, )\n");
    fcs_error err;
    assert_int_equal(fcs_gatefile_write(s, txt, FCS_GATEFILE_TEXT, &err), FCS_OK);
    assert_int_equal(tmp_leftovers(txt), 0);
    assert_int_equal(fcs_gatefile_convert(txt, xml, FCS_GATEFILE_GATINGML, &err), FCS_OK);
    assert_int_equal(fcs_gatefile_convert(xml, back, FCS_GATEFILE_TEXT, &err), FCS_OK);
    size_t la, lb;
    char *a = tu_read_file(txt, &la), *b = tu_read_file(back, &lb);
    assert_non_null(a);
    assert_non_null(b);
    assert_string_equal(a, b);
    char *canon = text_of(s);
    assert_string_equal(a, canon);
    fcs_strategy *r;
    assert_int_equal(fcs_gatefile_read(&r, xml, &err), FCS_OK); /* detected as Gating-ML */
    assert_int_equal(fcs_strategy_n_gates(r), 1);
    fcs_strategy_free(r);
    free(a), free(b), free(canon);
    /* errors name the file; nothing is left behind; an existing file stays */
    assert_int_equal(fcs_gatefile_write(s, "/nonexistent-dir/x.gates", FCS_GATEFILE_TEXT, &err),
                     FCS_EIO);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/x.gates.tmp."));
    assert_int_equal(fcs_gatefile_read(&r, "/nonexistent-dir/y.gates", &err), FCS_EIO);
    assert_string_equal(err.msg,
                        "/nonexistent-dir/y.gates: cannot open: No such file or directory");
    const char *bad = tu_tmp_path("gf_bad.gates");
    assert_int_equal(tu_write_file(bad, "A: rectangle X [0, 1)\nB: nonsense\n", 33), 0);
    assert_int_equal(fcs_gatefile_convert(bad, back, FCS_GATEFILE_GATINGML, &err), FCS_EFORMAT);
    char want[1200];
    snprintf(want, sizeof want,
             "%s:2:4: expected a gate type (rectangle, range, polygon, "
             "ellipsoid, quadrant, and, or, not), found 'nonsense'",
             bad);
    assert_string_equal(err.msg, want);
    b = tu_read_file(back, &lb); /* untouched */
    assert_non_null(b);
    assert_non_null(strstr(b, "A: rectangle L(X@FCS) [0.5, )"));
    free(b);
    /* text-only transform to Gating-ML: refused, the output untouched */
    fcs_strategy *t = parse_ok("A: rectangle asinh(cofactor=5)(X) [0, 1)\n");
    assert_int_equal(fcs_gatefile_write(t, xml, FCS_GATEFILE_GATINGML, &err), FCS_EUNSUPPORTED);
    assert_int_equal(tmp_leftovers(xml), 0);
    assert_int_equal(fcs_gatefile_read(&r, xml, &err), FCS_OK);
    fcs_strategy_free(r);
    fcs_strategy_free(t);
    fcs_strategy_free(s);
}

/* ---- no double application ------------------------------------------------------------------ */

enum { NEV = 3000 };

typedef struct kw {
    const char *name, *value;
} kw;

/* A float64 FCS file with channels A, B, C (values[j][i]) and keywords. */
static const char *write_stream(const char *file, const char *const *names, size_t np,
                                double *const *cols, const kw *kws, size_t nkw)
{
    const char *path = tu_tmp_path(file);
    fcs_writer *w;
    fcs_write_opts o;
    fcs_error err;
    fcs_write_opts_init(&o);
    o.datatype = 'D';
    assert_int_equal(fcs_writer_open(&w, path, np, &o, &err), FCS_OK);
    for (size_t j = 0; j < np; j++)
        assert_int_equal(fcs_writer_set_param(w, j, names[j], NULL, 1024), FCS_OK);
    for (size_t k = 0; k < nkw; k++)
        assert_int_equal(fcs_writer_set_keyword(w, kws[k].name, kws[k].value), FCS_OK);
    assert_int_equal(fcs_writer_begin(w, NEV), FCS_OK);
    double *row = malloc(np * sizeof *row);
    for (size_t i = 0; i < NEV; i++) {
        for (size_t j = 0; j < np; j++) row[j] = cols[j][i];
        assert_int_equal(fcs_writer_write(w, row, 1), FCS_OK);
    }
    free(row);
    assert_int_equal(fcs_writer_close(w, &err), FCS_OK);
    return path;
}

static fcs_reader *open_stream(const char *path)
{
    fcs_reader *r;
    fcs_error err;
    int rc = fcs_open(&r, path, NULL, &err);
    if (rc) print_error("%s\n", err.msg);
    assert_int_equal(rc, FCS_OK);
    return r;
}

/* Gate a stream file with s adapted to it (the way fcs-gate does). */
static uint8_t *gate_stream(const char *path, const fcs_strategy *s)
{
    fcs_reader *r = open_stream(path);
    fcs_strategy *a;
    fcs_error err;
    int rc = fcs_strategy_for_stream(s, r, &a, &err);
    if (rc) print_error("for_stream: %s\n", err.msg);
    assert_int_equal(rc, FCS_OK);
    size_t np = fcs_n_params(r);
    double *buf = malloc(np * NEV * sizeof *buf);
    assert_int_equal(fcs_read_events(r, buf, NEV, FCS_VALUES_SCALED | FCS_VALUES_COLUMNS), NEV);
    const char *names[8];
    const double *cols[8];
    for (size_t j = 0; j < np; j++) names[j] = fcs_param_info(r, j)->name, cols[j] = buf + j * NEV;
    uint8_t *m = gate_events(a, names, np, cols, NEV, fcs_spillover(r, NULL));
    free(buf);
    fcs_strategy_free(a);
    fcs_close(r);
    return m;
}

/* The refusal of fcs_strategy_for_stream for a stream, with a message part. */
static void expect_refusal(const char *path, const fcs_strategy *s, const char *part)
{
    fcs_reader *r = open_stream(path);
    fcs_strategy *a = (fcs_strategy *)1;
    fcs_error err;
    int rc = fcs_strategy_for_stream(s, r, &a, &err);
    if (rc != FCS_EFORMAT || !strstr(err.msg, part))
        print_error("got %d '%s', want part '%s'\n", rc, err.msg, part);
    assert_int_equal(rc, FCS_EFORMAT);
    assert_non_null(strstr(err.msg, part));
    assert_null(a);
    fcs_close(r);
}

typedef struct streams {
    double *raw[3], *comp[3], *both[3];
    fcs_matrix *spill;
} streams;

static const char *const ABC[3] = {"A", "B", "C"};
static const char *SPILL_KW = "2,A,B,1,0.25,0.125,1";
static const char *LOGICLE = "logicle(T=1024,W=0.5,M=4.5,A=0)";

/* Raw values; compensated with the spillover by fcs_comp_unmix (the call
 * gating makes) and then transformed, in double: what fcs-comp | fcs-xform
 * would store in a float64 stream. */
static void make_values(streams *v)
{
    fcs_error err;
    assert_int_equal(fcs_matrix_parse_spillover(SPILL_KW, NULL, 0, &v->spill, &err), FCS_OK);
    fcs_comp *c;
    assert_int_equal(fcs_comp_new(&c, v->spill, ABC, NULL, 3, NULL, &err), FCS_OK);
    fcs_transform *t;
    assert_int_equal(fcs_transform_parse(LOGICLE, &t, &err), FCS_OK);
    uint64_t st = 7;
    for (int j = 0; j < 3; j++) {
        v->raw[j] = malloc(NEV * sizeof(double));
        v->comp[j] = malloc(NEV * sizeof(double));
        v->both[j] = malloc(NEV * sizeof(double));
    }
    for (size_t i = 0; i < NEV; i++) {
        double ev[3], out[2];
        for (int j = 0; j < 3; j++) ev[j] = v->raw[j][i] = rnd(&st, -20, 1000);
        assert_int_equal(fcs_comp_unmix(c, ev, 1, out), FCS_OK);
        v->comp[0][i] = out[0], v->comp[1][i] = out[1], v->comp[2][i] = ev[2];
    }
    for (int j = 0; j < 3; j++) memcpy(v->both[j], v->comp[j], NEV * sizeof(double));
    assert_int_equal(fcs_transform_apply(t, v->both[0], NEV), FCS_OK);
    assert_int_equal(fcs_transform_apply(t, v->both[1], NEV), FCS_OK);
    fcs_transform_free(t);
    fcs_comp_free(c);
}

static void free_values(streams *v)
{
    for (int j = 0; j < 3; j++) free(v->raw[j]), free(v->comp[j]), free(v->both[j]);
    fcs_matrix_free(v->spill);
}

static const char STRATEGY[] =
    "transform L = logicle(T=1024, W=0.5, M=4.5, A=0)\n"
    "P: rectangle L(A@FCS) [0.3, 0.85), C [0, 700)\n"
    "  Q: polygon L(A@FCS), L(B@FCS) [(0.5, 0.5), (0.95, 0.55), (0.9, 0.95), (0.55, 0.9)]\n"
    "    S: rectangle C [100, )\n";

static void count_nontrivial(const uint8_t *m, size_t np)
{
    for (size_t p = 0; p < np; p++) {
        size_t c = 0;
        for (size_t i = 0; i < NEV; i++) c += m[p * NEV + i];
        if (!(c > 10 && c < NEV - 10)) print_error("population %zu: %zu events\n", p, c);
        assert_true(c > 10 && c < NEV - 10);
    }
}

/* Raw, compensated and compensated+transformed streams gate the same. */
static void test_stream_no_double_application(void **state)
{
    (void)state;
    streams v;
    make_values(&v);
    fcs_strategy *s = parse_ok(STRATEGY);
    char comp_rec[256];
    snprintf(comp_rec, sizeof comp_rec,
             "compensate;source=$SPILLOVER;channels=A,B;condition=1.7;spillover=%s", SPILL_KW);
    const kw raw_kw[] = {{"$SPILLOVER", SPILL_KW}};
    const kw comp_kw[] = {{"$SPILLOVER", SPILL_KW}, {"LIBFCS_COMP", comp_rec}};
    const kw both_kw[] = {{"$SPILLOVER", SPILL_KW},
                          {"LIBFCS_COMP", comp_rec},
                          {"LIBFCS_P1TRANSFORM", LOGICLE},
                          {"LIBFCS_P2TRANSFORM", LOGICLE}};
    const char *raw = write_stream("gf_raw.fcs", ABC, 3, v.raw, raw_kw, 1);
    const char *comp = write_stream("gf_comp.fcs", ABC, 3, v.comp, comp_kw, 2);
    const char *both = write_stream("gf_both.fcs", ABC, 3, v.both, both_kw, 4);
    size_t np = fcs_strategy_n_populations(s);
    uint8_t *m_raw = gate_stream(raw, s), *m_comp = gate_stream(comp, s),
            *m_both = gate_stream(both, s);
    count_nontrivial(m_raw, np);
    assert_memory_equal(m_raw, m_comp, np * NEV);
    assert_memory_equal(m_raw, m_both, np * NEV);
    /* the plain strategy on the processed stream would compensate (and
     * transform) a second time: different membership */
    fcs_reader *r = open_stream(both);
    double *buf = malloc(3 * NEV * sizeof *buf);
    assert_int_equal(fcs_read_events(r, buf, NEV, FCS_VALUES_SCALED | FCS_VALUES_COLUMNS), NEV);
    const double *cols[3] = {buf, buf + NEV, buf + 2 * NEV};
    uint8_t *twice = gate_events(s, ABC, 3, cols, NEV, fcs_spillover(r, NULL));
    assert_memory_not_equal(twice, m_raw, np * NEV);
    /* what the adapted strategy is: no comp or transform on A and B, C kept */
    fcs_strategy *a;
    fcs_error err;
    assert_int_equal(fcs_strategy_for_stream(s, r, &a, &err), FCS_OK);
    char *ta = text_of(a);
    assert_string_equal(ta,
                        "# libfcs gate file (docs/gate-file.md)\n"
                        "transform L = logicle(T=1024,W=0.5,M=4.5,A=0)\n\n"
                        "P: rectangle A [0.3, 0.85), C [0, 700)\n"
                        "  Q: polygon A, B [(0.5, 0.5), (0.95, 0.55), (0.9, 0.95), (0.55, 0.9)]\n"
                        "    S: rectangle C [100, )\n");
    assert_int_equal(gate_named(a, "Q").line, 3); /* source lines kept */
    free(ta), free(twice), free(buf);
    fcs_strategy_free(a);
    fcs_close(r);
    /* a raw stream: an exact copy */
    r = open_stream(raw);
    assert_int_equal(fcs_strategy_for_stream(s, r, &a, &err), FCS_OK);
    char *t0 = text_of(s), *t1 = text_of(a);
    assert_string_equal(t0, t1);
    free(t0), free(t1);
    fcs_strategy_free(a);
    fcs_close(r);
    free(m_raw), free(m_comp), free(m_both);
    fcs_strategy_free(s);
    free_values(&v);
}

/* A strategy matrix equal to the recorded one counts as the same. */
static void test_stream_matrix_match(void **state)
{
    (void)state;
    streams v;
    make_values(&v);
    char rec[256];
    snprintf(rec, sizeof rec,
             "compensate;source=file:m.csv;sha256=00;channels=A,B;condition=1.7;"
             "spillover=%s",
             SPILL_KW);
    const kw kws[] = {{"LIBFCS_COMP", rec}};
    const char *path = write_stream("gf_mat.fcs", ABC, 3, v.comp, kws, 1);
    /* rows in another order than the recorded matrix: the same matrix */
    fcs_strategy *same = parse_ok("matrix S: A, B\n  B: 0.125, 1\n  A: 1, 0.25\n"
                                  "P: rectangle A@S [100, 600), B@S [, 500)\n");
    fcs_strategy *other = parse_ok("matrix S: A, B\n  A: 1, 0.25\n  B: 0.126, 1\n"
                                   "P: rectangle A@S [100, 600)\n");
    fcs_strategy *fcs = parse_ok("P: rectangle A@FCS [100, 600)\n");
    uint8_t *m = gate_stream(path, same);
    size_t c = 0;
    for (size_t i = 0; i < NEV; i++) {
        int want = v.comp[0][i] >= 100 && v.comp[0][i] < 600 && v.comp[1][i] < 500;
        assert_int_equal(m[i], want);
        c += m[i];
    }
    assert_true(c > 100);
    free(m);
    expect_refusal(path, other,
                   "gate 'P': the dimension on A asks for compensation 'S', but the "
                   "stream's channel was compensated with file:m.csv (LIBFCS_COMP), "
                   "which is not shown to be the same: refusing to guess");
    expect_refusal(path, fcs, "compensated with file:m.csv (LIBFCS_COMP), which is not shown");
    fcs_strategy_free(same), fcs_strategy_free(other), fcs_strategy_free(fcs);
    free_values(&v);
}

static void test_stream_refusals(void **state)
{
    (void)state;
    streams v;
    make_values(&v);
    char rec[256], rec2[600];
    snprintf(rec, sizeof rec, "compensate;source=$SPILLOVER;channels=A,B;spillover=%s", SPILL_KW);
    snprintf(rec2, sizeof rec2, "%s|%s", rec, rec);
    fcs_strategy *s = parse_ok(STRATEGY);
    fcs_strategy *plain = parse_ok("P: rectangle A [0, 500)\n");
    fcs_strategy *ratio = parse_ok("transform R = fratio(A=1, B=0, C=0) of A, B\n"
                                   "P: rectangle ratio(R) [0, 1)\n");
    const char *path;
    { /* another transform than the one asked for */
        const kw k[] = {{"LIBFCS_COMP", rec}, {"LIBFCS_P1TRANSFORM", "asinh(cofactor=5)"}};
        path = write_stream("gf_r1.fcs", ABC, 3, v.both, k, 2);
        expect_refusal(path, s,
                       "gate 'P': the dimension on A asks for transform 'L' = "
                       "logicle(T=1024,W=0.5,M=4.5,A=0), but the stream carries "
                       "LIBFCS_P1TRANSFORM=asinh(cofactor=5): refusing to guess");
    }
    { /* a chain of two transforms is not the one transform asked for */
        const kw k[] = {{"LIBFCS_COMP", rec},
                        {"LIBFCS_P1TRANSFORM", "logicle(T=1024,W=0.5,M=4.5,A=0);linear"}};
        path = write_stream("gf_r2.fcs", ABC, 3, v.both, k, 2);
        expect_refusal(path, s,
                       "LIBFCS_P1TRANSFORM=logicle(T=1024,W=0.5,M=4.5,A=0);linear: refusing");
    }
    { /* uncompensated values asked of a compensated channel */
        const kw k[] = {{"LIBFCS_COMP", rec}};
        path = write_stream("gf_r3.fcs", ABC, 3, v.comp, k, 1);
        expect_refusal(path, plain,
                       "gate 'P': the dimension on A asks for uncompensated values, but "
                       "the stream's channel is compensated (LIBFCS_COMP: compensate "
                       "with $SPILLOVER)");
    }
    { /* compensated twice (fcs-comp --force) */
        const kw k[] = {{"LIBFCS_COMP", rec2}};
        path = write_stream("gf_r4.fcs", ABC, 3, v.comp, k, 1);
        expect_refusal(path, s, "gate 'P': channel A was compensated 2 times (LIBFCS_COMP)");
    }
    { /* transformed, not compensated: compensation needs linear values */
        const kw k[] = {{"$SPILLOVER", SPILL_KW}, {"LIBFCS_P1TRANSFORM", LOGICLE}};
        path = write_stream("gf_r5.fcs", ABC, 3, v.raw, k, 2);
        expect_refusal(path, s,
                       "gate 'P': A is transformed in the stream "
                       "(LIBFCS_P1TRANSFORM=logicle(T=1024,W=0.5,M=4.5,A=0)) but not "
                       "compensated, and compensation 'FCS' needs linear values");
    }
    { /* compensating A here would read B, which the stream transformed */
        const kw k[] = {{"$SPILLOVER", SPILL_KW}, {"LIBFCS_P2TRANSFORM", LOGICLE}};
        fcs_strategy *onlya = parse_ok("transform L = logicle(T=1024, W=0.5, M=4.5, A=0)\n"
                                       "P: rectangle L(A@FCS) [0.3, 0.85)\n");
        path = write_stream("gf_r6.fcs", ABC, 3, v.raw, k, 2);
        expect_refusal(path, onlya,
                       "gate 'P': compensation 'FCS' needs linear values of B, but the "
                       "stream carries LIBFCS_P2TRANSFORM=");
        fcs_strategy_free(onlya);
    }
    { /* untransformed values asked of a transformed channel */
        const kw k[] = {{"LIBFCS_P3TRANSFORM", LOGICLE}};
        fcs_strategy *c = parse_ok("P: rectangle C [0, 500)\n");
        path = write_stream("gf_r7.fcs", ABC, 3, v.raw, k, 1);
        expect_refusal(path, c,
                       "gate 'P': the dimension on C asks for untransformed values, but "
                       "the stream carries LIBFCS_P3TRANSFORM=logicle(T=1024,W=0.5,M=4.5,A=0) "
                       "(fcs-xform)");
        fcs_strategy_free(c);
    }
    { /* a record we do not know */
        const kw k[] = {{"LIBFCS_COMP", "rotate;angle=5"}};
        path = write_stream("gf_r8.fcs", ABC, 3, v.raw, k, 1);
        expect_refusal(path, plain,
                       "LIBFCS_COMP: record 'rotate' is neither 'compensate' nor 'unmix'");
    }
    { /* a ratio of transformed channels */
        const kw k[] = {{"LIBFCS_P2TRANSFORM", LOGICLE}};
        path = write_stream("gf_r9.fcs", ABC, 3, v.raw, k, 1);
        expect_refusal(path, ratio,
                       "gate 'P': ratio 'R' needs linear values of B, but the stream "
                       "carries LIBFCS_P2TRANSFORM=");
    }
    fcs_strategy_free(s), fcs_strategy_free(plain), fcs_strategy_free(ratio);
    free_values(&v);
}

/* Channels made by spectral unmixing have no raw form: used as they are
 * when the dimension asks for no compensation; a matrix cannot be checked. */
static void test_stream_unmixed(void **state)
{
    (void)state;
    streams v;
    make_values(&v);
    const char *names[3] = {"FITC", "PE", "C"};
    const kw k[] = {{"LIBFCS_COMP", "unmix;source=file:spec.csv;sha256=00;detectors=D1,D2,D3;"
                                    "fluorochromes=FITC,PE;condition=3"}};
    const char *path = write_stream("gf_unmix.fcs", names, 3, v.comp, k, 1);
    fcs_strategy *s = parse_ok("P: rectangle FITC [100, 600), PE@FCS [, 500)\n");
    uint8_t *m = gate_stream(path, s);
    for (size_t i = 0; i < NEV; i++)
        assert_int_equal(m[i], v.comp[0][i] >= 100 && v.comp[0][i] < 600 && v.comp[1][i] < 500);
    free(m);
    fcs_strategy *mat = parse_ok("matrix Spec: D1, D2, D3\n  FITC: 1, 0.2, 0\n  PE: 0, 1, 0.3\n"
                                 "P: rectangle FITC@Spec [100, 600)\n");
    expect_refusal(path, mat,
                   "gate 'P': channel FITC was made by spectral unmixing (LIBFCS_COMP: "
                   "unmix with file:spec.csv), which cannot be checked against "
                   "compensation 'Spec' of the strategy");
    fcs_strategy_free(s), fcs_strategy_free(mat);
    free_values(&v);
}

/* ---- the Gating-ML 2.0 compliance set, through the text format ---------------------------- */

typedef struct data1 {
    size_t n, np;
    double *buf;
    const char *names[64];
    const double *cols[64];
    fcs_reader *r;
} data1;

static int load_data1(const char *dir, data1 *d)
{
    char path[1024];
    fcs_error err;
    snprintf(path, sizeof path, "%s/gatingml2/data1.fcs", dir);
    if (fcs_open(&d->r, path, NULL, &err) != FCS_OK) return -1;
    d->np = fcs_n_params(d->r);
    d->n = (size_t)fcs_n_events(d->r);
    if (d->np > 64) return -1;
    d->buf = malloc(d->np * d->n * sizeof *d->buf);
    if (fcs_read_events(d->r, d->buf, d->n, FCS_VALUES_SCALED | FCS_VALUES_COLUMNS) !=
        (int64_t)d->n)
        return -1;
    for (size_t j = 0; j < d->np; j++) {
        d->names[j] = fcs_param_info(d->r, j)->name;
        d->cols[j] = d->buf + j * d->n;
    }
    return 0;
}

/* GML -> text -> strategy -> text (same) -> GML -> strategy -> text (same);
 * membership of every population the same as the original's. */
static int convert_one(const data1 *d, const char *xpath, fcs_strategy **via_text, char *msg,
                       size_t msz)
{
    fcs_strategy *g = NULL, *t = NULL, *g2 = NULL;
    char *t1 = NULL, *t2 = NULL, *t3 = NULL, *xml = NULL;
    size_t len;
    fcs_error err;
    int ok = 0;
    if (fcs_gatingml_read(&g, xpath, &err) != FCS_OK)
        snprintf(msg, msz, "read: %s", err.msg);
    else if (fcs_gatefile_write_mem(g, FCS_GATEFILE_TEXT, &t1, &len, &err) != FCS_OK)
        snprintf(msg, msz, "to text: %s", err.msg);
    else if (fcs_gatefile_read_mem(&t, t1, len, "text", FCS_GATEFILE_AUTO, &err) != FCS_OK)
        snprintf(msg, msz, "text back: %s", err.msg);
    else if (fcs_gatefile_write_mem(t, FCS_GATEFILE_TEXT, &t2, &len, &err) != FCS_OK ||
             strcmp(t1, t2) != 0)
        snprintf(msg, msz, "text changed after reading it back");
    else if (fcs_gatefile_write_mem(t, FCS_GATEFILE_GATINGML, &xml, &len, &err) != FCS_OK ||
             fcs_gatefile_read_mem(&g2, xml, len, "xml", FCS_GATEFILE_AUTO, &err) != FCS_OK ||
             fcs_gatefile_write_mem(g2, FCS_GATEFILE_TEXT, &t3, &len, &err) != FCS_OK)
        snprintf(msg, msz, "via Gating-ML: %s", err.msg);
    else if (strcmp(t1, t3) != 0)
        snprintf(msg, msz, "text -> Gating-ML -> text changed the text");
    else
        ok = 1;
    if (ok) {
        size_t np = fcs_strategy_n_populations(g);
        uint8_t *a = gate_events(g, d->names, d->np, d->cols, d->n, NULL);
        uint8_t *b = gate_events(t, d->names, d->np, d->cols, d->n, NULL);
        for (size_t p = 0; ok && p < np; p++) { /* the text lists populations as a tree: by id */
            long q = fcs_strategy_population_index(t, fcs_strategy_population_id(g, p));
            ok = q >= 0 && memcmp(a + p * d->n, b + (size_t)q * d->n, d->n) == 0;
            if (!ok)
                snprintf(msg, msz, "membership of %s differs", fcs_strategy_population_id(g, p));
        }
        free(a), free(b);
    }
    free(t1), free(t2), free(t3), free(xml);
    fcs_strategy_free(g), fcs_strategy_free(g2);
    if (ok)
        *via_text = t;
    else
        fcs_strategy_free(t);
    return ok;
}

static int check_truth(const char *path, const uint8_t *m, size_t n)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t bad = 0, i;
    for (i = 0; i < n; i++) {
        int v;
        if (fscanf(f, "%d", &v) != 1) break;
        bad += (v != 0) != (m[i] != 0);
    }
    fclose(f);
    return i == n && bad == 0;
}

static void test_compliance_set_through_text(void **state)
{
    (void)state;
    const char *dir = tu_corpus_dir();
    if (!dir) {
        skip();
        return;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/gatingml2/gml", dir);
    DIR *dd = opendir(path);
    data1 d;
    memset(&d, 0, sizeof d);
    if (!dd || load_data1(dir, &d) != 0) {
        printf("gatingml2/ not usable in %s: skipped\n", dir);
        if (dd) closedir(dd);
        skip();
        return;
    }
    int files = 0, converted = 0;
    struct dirent *e;
    while ((e = readdir(dd))) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 4, ".xml") != 0) continue;
        /* not Gating-ML (a <sample> wrapper): the Gating-ML reader refuses it */
        if (strcmp(e->d_name, "gml_range_gate_attr_testing.xml") == 0) continue;
        char xpath[1400], msg[FCS_ERRMSG_MAX + 64] = "";
        snprintf(xpath, sizeof xpath, "%s/%s", path, e->d_name);
        fcs_strategy *t = NULL;
        files++;
        if (convert_one(&d, xpath, &t, msg, sizeof msg))
            converted++;
        else
            printf("FAIL %s: %s\n", e->d_name, msg);
        fcs_strategy_free(t);
    }
    closedir(dd);
    /* every case of cases.tsv, gated with the strategy converted to text */
    snprintf(path, sizeof path, "%s/gatingml2/cases.tsv", dir);
    FILE *f = fopen(path, "r");
    int cases = 0, pass = 0;
    char line[2048];
    if (f && fgets(line, sizeof line, f)) {
        while (fgets(line, sizeof line, f)) {
            char fcs[256], xml[512], gid[256], truth[512], xpath[1400], tpath[1400],
                msg[FCS_ERRMSG_MAX + 64];
            if (sscanf(line, "%255s %511s %255s %511s", fcs, xml, gid, truth) != 4) continue;
            cases++;
            snprintf(xpath, sizeof xpath, "%s/gatingml2/%s", dir, xml);
            snprintf(tpath, sizeof tpath, "%s/gatingml2/%s", dir, truth);
            fcs_strategy *t = NULL;
            if (!convert_one(&d, xpath, &t, msg, sizeof msg)) continue;
            long p = fcs_strategy_population_index(t, gid);
            uint8_t *m = p < 0 ? NULL : gate_events(t, d.names, d.np, d.cols, d.n, NULL);
            if (m && check_truth(tpath, m + (size_t)p * d.n, d.n))
                pass++;
            else
                printf("FAIL case %s in %s\n", gid, xml);
            free(m);
            fcs_strategy_free(t);
        }
    }
    if (f) fclose(f);
    printf("Gating-ML compliance through the text format: %d/%d files round-trip, %d/%d cases "
           "match their truth\n",
           converted, files, pass, cases);
    free(d.buf);
    fcs_close(d.r);
    assert_int_equal(files, 46);
    assert_int_equal(converted, files);
    assert_int_equal(cases, 100);
    assert_int_equal(pass, cases);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_every_statement),
        cmocka_unit_test(test_canonical_text),
        cmocka_unit_test(test_inline_transform_ids),
        cmocka_unit_test(test_membership_semantics),
        cmocka_unit_test(test_errors_name_line_and_column),
        cmocka_unit_test(test_odd_inputs),
        cmocka_unit_test(test_detect),
        cmocka_unit_test(test_quoting),
        cmocka_unit_test(test_roundtrip_through_gatingml),
        cmocka_unit_test(test_text_only_transforms),
        cmocka_unit_test(test_long_and_deep),
        cmocka_unit_test(test_population_tree),
        cmocka_unit_test(test_files_and_convert),
        cmocka_unit_test(test_stream_no_double_application),
        cmocka_unit_test(test_stream_matrix_match),
        cmocka_unit_test(test_stream_refusals),
        cmocka_unit_test(test_stream_unmixed),
        cmocka_unit_test(test_compliance_set_through_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
