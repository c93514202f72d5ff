/* test_matrix.c — fcs_matrix object, $SPILLOVER/SPILL/$COMP/$DFCiTOj parsing.
 * Keyword strings marked "corpus" are the raw values of files in
 * ../shared/fcs-corpus; the expected matrices are those of the corpus'
 * expected JSON files (computed by an independent reader). */
#include "testutil.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fcs/matrix.h"
#include "internal.h"

/* ---- helpers ----------------------------------------------------------------- */

typedef struct kv {
    const char *key, *value;
} kv;

typedef struct kvset {
    const kv *items;
    size_t n;
    int lookups;
} kvset;

static const char *kv_lookup(void *ctx, const char *key)
{
    kvset *s = ctx;
    s->lookups++;
    for (size_t i = 0; i < s->n; i++)
        if (fcs_strcasecmp(s->items[i].key, key) == 0) return s->items[i].value;
    return NULL;
}

static void assert_matrix(const fcs_matrix *m, size_t n, const double *want,
                          const char *const *names)
{
    assert_non_null(m);
    assert_int_equal(fcs_matrix_rows(m), n);
    assert_int_equal(fcs_matrix_cols(m), n);
    for (size_t i = 0; i < n; i++) {
        if (names) assert_string_equal(fcs_matrix_name(m, i), names[i]);
        for (size_t j = 0; j < n; j++) {
            double got = fcs_matrix_get(m, i, j);
            if (got != want[i * n + j]) fail_msg("[%zu][%zu] = %.17g, want %.17g", i, j, got,
                                                 want[i * n + j]);
        }
    }
}

static void assert_close_matrix(const fcs_matrix *m, size_t n, const double *want, double tol)
{
    assert_non_null(m);
    assert_int_equal(fcs_matrix_rows(m), n);
    for (size_t i = 0; i < n * n; i++) assert_close(fcs_matrix_data(m)[i], want[i], tol);
}

/* ---- the object --------------------------------------------------------------- */

static void test_new_get_set(void **state)
{
    (void)state;
    fcs_matrix *m = fcs_matrix_new(2, 3);
    assert_non_null(m);
    assert_int_equal(fcs_matrix_rows(m), 2);
    assert_int_equal(fcs_matrix_cols(m), 3);
    for (size_t i = 0; i < 6; i++) assert_true(fcs_matrix_data(m)[i] == 0.0);
    fcs_matrix_set(m, 1, 2, 7.5);
    fcs_matrix_set(m, 0, 1, -1.25);
    assert_true(fcs_matrix_get(m, 1, 2) == 7.5);
    assert_true(fcs_matrix_data(m)[1 * 3 + 2] == 7.5); /* row-major */
    assert_true(fcs_matrix_data(m)[0 * 3 + 1] == -1.25);
    /* out of range: NAN on get, ignored on set */
    assert_true(isnan(fcs_matrix_get(m, 2, 0)));
    assert_true(isnan(fcs_matrix_get(m, 0, 3)));
    fcs_matrix_set(m, 2, 0, 1.0);
    fcs_matrix_set(m, 0, 3, 1.0);
    double sum = 0;
    for (size_t i = 0; i < 6; i++) sum += fcs_matrix_data(m)[i];
    assert_true(sum == 6.25);
    fcs_matrix_free(m);
}

static void test_names_and_copy(void **state)
{
    (void)state;
    fcs_matrix *m = fcs_matrix_new(2, 2);
    assert_string_equal(fcs_matrix_name(m, 0), "");
    assert_string_equal(fcs_matrix_name(m, 5), "");
    char buf[16];
    strcpy(buf, "FL1-A");
    assert_int_equal(fcs_matrix_set_name(m, 0, buf), FCS_OK);
    buf[0] = 'X'; /* copied, not referenced */
    assert_string_equal(fcs_matrix_name(m, 0), "FL1-A");
    assert_int_equal(fcs_matrix_set_name(m, 2, "x"), FCS_ERANGE);
    assert_int_equal(fcs_matrix_set_name(NULL, 0, "x"), FCS_EINVAL);
    assert_int_equal(fcs_matrix_set_name(m, 1, "PE-A"), FCS_OK);
    fcs_matrix_set(m, 0, 1, 0.25);

    fcs_matrix *c = fcs_matrix_copy(m);
    assert_non_null(c);
    fcs_matrix_set(m, 0, 1, 0.5);
    assert_int_equal(fcs_matrix_set_name(m, 1, NULL), FCS_OK);
    assert_string_equal(fcs_matrix_name(m, 1), "");
    assert_true(fcs_matrix_get(c, 0, 1) == 0.25);
    assert_string_equal(fcs_matrix_name(c, 0), "FL1-A");
    assert_string_equal(fcs_matrix_name(c, 1), "PE-A");
    fcs_matrix_free(c);
    fcs_matrix_free(m);
    fcs_matrix_free(NULL);
    assert_null(fcs_matrix_copy(NULL));
}

static void test_new_edge_sizes(void **state)
{
    (void)state;
    fcs_matrix *m = fcs_matrix_new(0, 0);
    assert_non_null(m);
    assert_int_equal(fcs_matrix_rows(m), 0);
    fcs_matrix *c = fcs_matrix_copy(m);
    assert_non_null(c);
    fcs_matrix_free(c);
    fcs_matrix_free(m);
    assert_null(fcs_matrix_new(SIZE_MAX / 2, 3)); /* overflow refused */
    assert_null(fcs_matrix_new(SIZE_MAX / 8 + 1, 1));
}

/* ---- $SPILLOVER / SPILL: corpus values ----------------------------------------------- */

/* corpus: fcsparser FlowCytometers/Fortessa, keyword SPILL */
static const char FORTESSA[] =
    "4,FITC-A,PerCP-Cy5-5-A,AmCyan-A,PE-Texas Red-A,1,0,0.15999999430400005,0,0,1,0,0,"
    "0.015000003206999964,0,1,0,0.0030000039808999713,0,0.014999998701599989,1";

static void test_corpus_fortessa(void **state)
{
    (void)state;
    static const double want[] = {1.0, 0.0, 0.15999999430400005, 0.0,
                                  0.0, 1.0, 0.0, 0.0,
                                  0.015000003206999964, 0.0, 1.0, 0.0,
                                  0.0030000039808999713, 0.0, 0.014999998701599989, 1.0};
    static const char *const names[] = {"FITC-A", "PerCP-Cy5-5-A", "AmCyan-A",
                                        "PE-Texas Red-A"};
    fcs_matrix *m = NULL;
    fcs_error err;
    assert_int_equal(fcs_matrix_parse_spillover(FORTESSA, NULL, 0, &m, &err), FCS_OK);
    assert_matrix(m, 4, want, names);
    fcs_matrix_free(m);
}

static void test_corpus_lsrii(void **state)
{
    (void)state;
    /* corpus: fcsparser FlowCytometers/HTS_BD_LSR-II, keyword SPILL */
    const char *v = "4,FITC-A,PerCP-Cy5-5-A,AmCyan-A,PE-TxRed YG-A,1,0,0.021999996191960042,0,"
                    "0,1,0,0,0.15999999857599995,0,1,0,0.03999999613600002,0,"
                    "0.019999999516400014,1";
    static const double want[] = {1.0, 0.0, 0.021999996191960042, 0.0,
                                  0.0, 1.0, 0.0, 0.0,
                                  0.15999999857599995, 0.0, 1.0, 0.0,
                                  0.03999999613600002, 0.0, 0.019999999516400014, 1.0};
    static const char *const names[] = {"FITC-A", "PerCP-Cy5-5-A", "AmCyan-A", "PE-TxRed YG-A"};
    fcs_matrix *m = NULL;
    assert_int_equal(fcs_matrix_parse_spillover(v, NULL, 0, &m, NULL), FCS_OK);
    assert_matrix(m, 4, want, names);
    fcs_matrix_free(m);
}

static void test_corpus_g11(void **state)
{
    (void)state;
    /* corpus: FlowIO G11.fcs (Attune), keyword $SPILLOVER */
    const char *v = "5,BL1-A,YL2-A,VL1-A,VL1-H,VL1-W,1.000000,0.000000,0.000000,0.000000,"
                    "0.000000,0.000000,1.000000,0.000000,0.000000,0.000000,0.000000,0.000000,"
                    "1.000000,0.000000,0.000000,0.000000,0.000000,0.000000,1.000000,0.000000,"
                    "0.000000,0.000000,0.000000,0.000000,1.000000";
    double want[25] = {0};
    for (int i = 0; i < 5; i++) want[i * 5 + i] = 1.0;
    static const char *const names[] = {"BL1-A", "YL2-A", "VL1-A", "VL1-H", "VL1-W"};
    fcs_matrix *m = NULL;
    assert_int_equal(fcs_matrix_parse_spillover(v, NULL, 0, &m, NULL), FCS_OK);
    assert_matrix(m, 5, want, names);
    fcs_matrix_free(m);
}

static void test_corpus_b01_8x8(void **state)
{
    (void)state;
    /* corpus: FlowIO "B01 KC-A-W---91-US.fcs", keyword $SPILLOVER (block diagonal) */
    const char *v =
        "8,FL1-A,FL2-A,FL3-A,FL4-A,FL1-H,FL2-H,FL3-H,FL4-H,"
        "1.0000,0.1203,0.0240,0.0001,0.0000,0.0000,0.0000,0.0000,"
        "0.0285,1.0000,0.2630,0.0028,0.0000,0.0000,0.0000,0.0000,"
        "0.0005,0.0015,1.0000,0.0838,0.0000,0.0000,0.0000,0.0000,"
        "0.0002,0.0000,0.0265,1.0000,0.0000,0.0000,0.0000,0.0000,"
        "0.0000,0.0000,0.0000,0.0000,1.0000,0.1203,0.0240,0.0001,"
        "0.0000,0.0000,0.0000,0.0000,0.0285,1.0000,0.2630,0.0028,"
        "0.0000,0.0000,0.0000,0.0000,0.0005,0.0015,1.0000,0.0838,"
        "0.0000,0.0000,0.0000,0.0000,0.0002,0.0000,0.0265,1.0000";
    static const double blk[] = {1.0, 0.1203, 0.024, 0.0001, 0.0285, 1.0, 0.263, 0.0028,
                                 0.0005, 0.0015, 1.0, 0.0838, 0.0002, 0.0, 0.0265, 1.0};
    double want[64] = {0};
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) want[i * 8 + j] = want[(i + 4) * 8 + j + 4] = blk[i * 4 + j];
    fcs_matrix *m = NULL;
    assert_int_equal(fcs_matrix_parse_spillover(v, NULL, 0, &m, NULL), FCS_OK);
    assert_matrix(m, 8, want, NULL);
    assert_string_equal(fcs_matrix_name(m, 4), "FL1-H");
    fcs_matrix_free(m);
}

static void test_corpus_gallios_channel_numbers(void **state)
{
    (void)state;
    /* corpus: cytoflow "Beckman Coulter - Gallios.LMD" data set 1, $SPILLOVER */
    const char *v = "2,3,4,1.000,0.000,0.000,1.000";
    const char *params[] = {"FS-A", "SS-A", "FL1-A", "FL2-A", "TIME"};
    static const double want[] = {1, 0, 0, 1};
    static const char *const names[] = {"FL1-A", "FL2-A"};
    static const char *const as_written[] = {"3", "4"};
    fcs_matrix *m = NULL;
    assert_int_equal(fcs_matrix_parse_spillover(v, params, 5, &m, NULL), FCS_OK);
    assert_matrix(m, 2, want, names);
    fcs_matrix_free(m);
    /* without param_names the numbers stay as written (the corpus JSON view) */
    assert_int_equal(fcs_matrix_parse_spillover(v, NULL, 0, &m, NULL), FCS_OK);
    assert_matrix(m, 2, want, as_written);
    fcs_matrix_free(m);
}

static void test_corpus_accuri_channel_numbers(void **state)
{
    (void)state;
    /* corpus: cytoflow "Accuri - C6.fcs", $SPILLOVER (identity over 3,4,5,6,9,10,11,12) */
    char v[512] = "8,3,4,5,6,9,10,11,12";
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 8; j++) strcat(v, i == j ? ",1.000" : ",0.000");
    const char *params[] = {"FSC-A", "SSC-A", "FL1-A", "FL2-A", "FL3-A", "FL4-A", "FSC-H",
                            "SSC-H", "FL1-H", "FL2-H", "FL3-H", "FL4-H", "Width", "Time"};
    static const char *const names[] = {"FL1-A", "FL2-A", "FL3-A", "FL4-A",
                                        "FL1-H", "FL2-H", "FL3-H", "FL4-H"};
    double want[64] = {0};
    for (int i = 0; i < 8; i++) want[i * 9] = 1;
    fcs_matrix *m = NULL;
    assert_int_equal(fcs_matrix_parse_spillover(v, params, 14, &m, NULL), FCS_OK);
    assert_matrix(m, 8, want, names);
    fcs_matrix_free(m);
}

static void test_corpus_macsquant_names_only(void **state)
{
    (void)state;
    /* corpus: fcsparser MiltenyiBiotec FCS3.1, $SPILLOVER with names and no numbers */
    fcs_matrix *m = (fcs_matrix *)&m; /* must be reset to NULL */
    fcs_error err;
    assert_int_equal(
        fcs_matrix_parse_spillover("6,FL2-A,FL2-H,FL4-A,FL4-H,FL7-A,FL7-H", NULL, 0, &m, &err),
        FCS_EFORMAT);
    assert_null(m);
    assert_int_equal(err.code, FCS_EFORMAT);
    assert_string_equal(err.msg,
                        "$SPILLOVER: declares 6 parameters but holds 6 name(s) and 0 of 36 values");
}

/* ---- $SPILLOVER: quirks and errors -------------------------------------------------- */

static void test_stray_spaces_and_trailing_comma(void **state)
{
    (void)state;
    static const double want[] = {1.0, 0.5, 0.0, 1.0};
    static const char *const names[] = {"A b", "C"};
    fcs_matrix *m = NULL;
    assert_int_equal(fcs_matrix_parse_spillover(" 2 , A b ,C,1 , 0.5,\t0 ,1 ", NULL, 0, &m, NULL),
                     FCS_OK);
    assert_matrix(m, 2, want, names);
    fcs_matrix_free(m);
    assert_int_equal(fcs_matrix_parse_spillover("2,A b,C,1,0.5,0,1,", NULL, 0, &m, NULL), FCS_OK);
    assert_matrix(m, 2, want, names);
    fcs_matrix_free(m);
}

static void test_decimal_commas(void **state)
{
    (void)state;
    /* European-locale writer: 1,0 | 0,05 | 0,1 | 1,0 -> 11 fields = 1+2+2*4 */
    static const double want[] = {1.0, 0.05, 0.1, 1.0};
    static const char *const names[] = {"FITC-A", "PE-A"};
    fcs_matrix *m = NULL;
    fcs_error err;
    assert_int_equal(fcs_matrix_parse_spillover("2,FITC-A,PE-A,1,0,0,05,0,1,1,0", NULL, 0, &m,
                                                &err),
                     FCS_OK);
    assert_matrix(m, 2, want, names);
    fcs_matrix_free(m);
    /* negative values and exponents in the fraction part */
    static const double want2[] = {1.0, -0.125, 0.0015, 1.0};
    assert_int_equal(fcs_matrix_parse_spillover("2,A,B,1,0,-0,125,1,5E-03,1,0", NULL, 0, &m,
                                                NULL),
                     FCS_OK);
    assert_matrix(m, 2, want2, NULL);
    fcs_matrix_free(m);
}

static void test_decimal_commas_ambiguous_refused(void **state)
{
    (void)state;
    fcs_matrix *m = NULL;
    fcs_error err;
    /* 10 fields: neither 1+2+4 nor 1+2+8: cannot tell which commas are decimal */
    assert_int_equal(fcs_matrix_parse_spillover("2,A,B,1,0,0,05,0,1,1", NULL, 0, &m, &err),
                     FCS_EFORMAT);
    assert_null(m);
    assert_non_null(strstr(err.msg, "$SPILLOVER:"));
    /* right count but a pair that is not <int>,<digits>: refused, not guessed */
    assert_int_equal(fcs_matrix_parse_spillover("2,A,B,1,0,0.5,0,0,1,1,0", NULL, 0, &m, &err),
                     FCS_EFORMAT);
    assert_non_null(strstr(err.msg, "decimal commas"));
    assert_int_equal(fcs_matrix_parse_spillover("2,A,B,1,0,0,-5,0,1,1,0", NULL, 0, &m, &err),
                     FCS_EFORMAT);
    assert_null(m);
}

static void test_channel_numbers_not_resolved(void **state)
{
    (void)state;
    fcs_matrix *m = NULL;
    const char *v = "2,2,3,1,0,0,1";
    /* parameter 2 has no $PnN: keep all names as written */
    const char *p1[] = {"FSC-A", NULL, "FL1-A"};
    assert_int_equal(fcs_matrix_parse_spillover(v, p1, 3, &m, NULL), FCS_OK);
    assert_string_equal(fcs_matrix_name(m, 0), "2");
    assert_string_equal(fcs_matrix_name(m, 1), "3");
    fcs_matrix_free(m);
    /* a parameter really named "3": names are names */
    const char *p2[] = {"FSC-A", "FL1-A", "3"};
    assert_int_equal(fcs_matrix_parse_spillover(v, p2, 3, &m, NULL), FCS_OK);
    assert_string_equal(fcs_matrix_name(m, 0), "2");
    fcs_matrix_free(m);
    /* out of range number */
    const char *p3[] = {"FSC-A", "FL1-A"};
    assert_int_equal(fcs_matrix_parse_spillover(v, p3, 2, &m, NULL), FCS_OK);
    assert_string_equal(fcs_matrix_name(m, 1), "3");
    fcs_matrix_free(m);
    /* mixed names and numbers: not channel numbers */
    const char *p4[] = {"FSC-A", "FL1-A", "FL2-A"};
    assert_int_equal(fcs_matrix_parse_spillover("2,FL1-A,3,1,0,0,1", p4, 3, &m, NULL), FCS_OK);
    assert_string_equal(fcs_matrix_name(m, 1), "3");
    fcs_matrix_free(m);
    /* all resolvable -> resolved (positive control for the cases above) */
    assert_int_equal(fcs_matrix_parse_spillover(v, p4, 3, &m, NULL), FCS_OK);
    assert_string_equal(fcs_matrix_name(m, 0), "FL1-A");
    assert_string_equal(fcs_matrix_name(m, 1), "FL2-A");
    fcs_matrix_free(m);
}

static void expect_bad(const char *v, const char *fragment)
{
    fcs_matrix *m = (fcs_matrix *)&m;
    fcs_error err;
    err.msg[0] = 0;
    int rc = fcs_matrix_parse_spillover(v, NULL, 0, &m, &err);
    if (rc != FCS_EFORMAT) fail_msg("'%s': rc %d, want FCS_EFORMAT", v, rc);
    assert_null(m);
    if (!strstr(err.msg, fragment)) fail_msg("'%s': message '%s' lacks '%s'", v, err.msg, fragment);
    assert_null(strchr(err.msg, '\n'));
}

static void test_spillover_errors(void **state)
{
    (void)state;
    expect_bad("", "empty value");
    expect_bad("   ", "empty value");
    expect_bad("x,A,1", "not a positive parameter count");
    expect_bad("0", "not a positive parameter count");
    expect_bad("-2,A,B,1,0,0,1", "not a positive parameter count");
    expect_bad("99999999999999,A,1", "declares 99999999999999 parameters");
    expect_bad("2,A,B,1,0,0", "3 value field(s) for a 2x2 matrix");
    expect_bad("2,A,,1,0,0,1", "name 2 of 2 is empty");
    expect_bad("2,A,B,1,zero,0,1", "value 2 (row 1, column 2) 'zero'");
    expect_bad("2,A,B,1,nan,0,1", "not a finite number");
    expect_bad("2,A,B,1,0,inf,1", "row 2, column 1");
    expect_bad("1", "holds only 0 field(s)");
    fcs_matrix *m;
    assert_int_equal(fcs_matrix_parse_spillover(NULL, NULL, 0, &m, NULL), FCS_EINVAL);
    assert_int_equal(fcs_matrix_parse_spillover("1,A,1", NULL, 0, NULL, NULL), FCS_EINVAL);
}

/* ---- fcs_matrix_from_keywords ----------------------------------------------------------- */

static void test_keyword_precedence(void **state)
{
    (void)state;
    const kv items[] = {{"SPILL", "1,B,1"},
                        {"$spillover", "1,A,1"},
                        {"$COMP", "1,1"},
                        {"$DFC1TO2", "5"}};
    kvset s = {items, 4, 0};
    fcs_matrix *m = NULL;
    const char *kw = NULL;
    assert_int_equal(fcs_matrix_from_keywords(kv_lookup, &s, NULL, 0, &m, &kw, NULL), FCS_OK);
    assert_string_equal(kw, "$SPILLOVER");
    assert_string_equal(fcs_matrix_name(m, 0), "A");
    fcs_matrix_free(m);

    /* blank $SPILLOVER: falls through to SPILL */
    const kv items2[] = {{"$SPILLOVER", " "}, {"SPILL", "1,B,1"}};
    kvset s2 = {items2, 2, 0};
    assert_int_equal(fcs_matrix_from_keywords(kv_lookup, &s2, NULL, 0, &m, &kw, NULL), FCS_OK);
    assert_string_equal(kw, "SPILL");
    assert_string_equal(fcs_matrix_name(m, 0), "B");
    fcs_matrix_free(m);
}

static void test_keyword_not_found_and_error(void **state)
{
    (void)state;
    const kv items[] = {{"$PAR", "3"}, {"$SPILLOVER", ""}};
    kvset s = {items, 2, 0};
    fcs_matrix *m = (fcs_matrix *)&m;
    const char *kw = "junk";
    fcs_error err;
    assert_int_equal(fcs_matrix_from_keywords(kv_lookup, &s, NULL, 3, &m, &kw, &err),
                     FCS_ENOTFOUND);
    assert_null(m);
    assert_null(kw);
    assert_int_equal(err.code, FCS_ENOTFOUND);

    /* SPILL present but bad: EFORMAT, keyword named, no fallback to $COMP */
    const kv bad[] = {{"SPILL", "2,A,B,1"}, {"$COMP", "1,1"}};
    kvset s2 = {bad, 2, 0};
    assert_int_equal(fcs_matrix_from_keywords(kv_lookup, &s2, NULL, 0, &m, &kw, &err),
                     FCS_EFORMAT);
    assert_null(m);
    assert_string_equal(kw, "SPILL");
    assert_memory_equal(err.msg, "SPILL: ", 7);

    assert_int_equal(fcs_matrix_from_keywords(NULL, &s2, NULL, 0, &m, &kw, NULL), FCS_EINVAL);
}

static void test_comp_inverted(void **state)
{
    (void)state;
    /* C = I + N with N = -0.1 at (1,2), -0.2 at (3,2); N*N = 0 (row 2 of N is
     * zero), so by hand C^-1 = I - N = [[1,0.1,0],[0,1,0],[0,0.2,1]]. */
    const kv items[] = {{"$COMP", "3,1,-0.1,0,0,1,0,0,-0.2,1"}};
    kvset s = {items, 1, 0};
    const char *params[] = {"FL1", NULL, "FL3", "TIME"};
    static const double want[] = {1, 0.1, 0, 0, 1, 0, 0, 0.2, 1};
    fcs_matrix *m = NULL;
    const char *kw = NULL;
    assert_int_equal(fcs_matrix_from_keywords(kv_lookup, &s, params, 4, &m, &kw, NULL), FCS_OK);
    assert_string_equal(kw, "$COMP");
    assert_close_matrix(m, 3, want, 1e-15);
    assert_string_equal(fcs_matrix_name(m, 0), "FL1");
    assert_string_equal(fcs_matrix_name(m, 1), "P2"); /* no $P2N */
    assert_string_equal(fcs_matrix_name(m, 2), "FL3");
    fcs_matrix_free(m);

    /* diagonal scaling: [[2,0],[0,4]] -> [[0.5,0],[0,0.25]] */
    const kv items2[] = {{"$COMP", "2,2,0,0,4"}};
    kvset s2 = {items2, 1, 0};
    static const double want2[] = {0.5, 0, 0, 0.25};
    assert_int_equal(fcs_matrix_from_keywords(kv_lookup, &s2, params, 4, &m, NULL, NULL), FCS_OK);
    assert_close_matrix(m, 2, want2, 1e-15);
    fcs_matrix_free(m);
}

static void test_comp_corpus_gallios(void **state)
{
    (void)state;
    /* corpus: Gallios.LMD data set 1 $COMP (TIME row/column all zero). $SPILLOVER
     * is also present there and wins; here only $COMP is offered. */
    const kv items[] = {{"$COMP", "5,1.0,0.0,0.0,0.0,0.0,0.0,1.0,0.0,0.0,0.0,0.0,0.0,1.0,0.0,"
                                  "0.0,0.0,0.0,0.0,1.0,0.0,0.0,0.0,0.0,0.0,0.0"}};
    kvset s = {items, 1, 0};
    const char *params[] = {"FS-A", "SS-A", "FL1-A", "FL2-A", "TIME"};
    double want[25] = {0};
    for (int i = 0; i < 5; i++) want[i * 6] = 1;
    static const char *const names[] = {"FS-A", "SS-A", "FL1-A", "FL2-A", "TIME"};
    fcs_matrix *m = NULL;
    assert_int_equal(fcs_matrix_from_keywords(kv_lookup, &s, params, 5, &m, NULL, NULL), FCS_OK);
    assert_matrix(m, 5, want, names);
    fcs_matrix_free(m);
}

static void test_comp_errors(void **state)
{
    (void)state;
    const char *params[] = {"A", "B"};
    fcs_matrix *m = NULL;
    fcs_error err;
    const kv big[] = {{"$COMP", "3,1,0,0,0,1,0,0,0,1"}};
    kvset s = {big, 1, 0};
    assert_int_equal(fcs_matrix_from_keywords(kv_lookup, &s, params, 2, &m, NULL, &err),
                     FCS_EFORMAT);
    assert_string_equal(err.msg, "$COMP: declares 3 parameters but the data set has only 2");
    const kv sing[] = {{"$COMP", "2,1,2,2,4"}};
    kvset s2 = {sing, 1, 0};
    assert_int_equal(fcs_matrix_from_keywords(kv_lookup, &s2, params, 2, &m, NULL, &err),
                     FCS_EFORMAT);
    assert_non_null(strstr(err.msg, "singular"));
    assert_null(m);
}

static void test_dfc_corpus_system2(void **state)
{
    (void)state;
    /* corpus: cytoflow "System II listmode ... .LMD": sparse $DFCiTOj (percent) */
    const kv items[] = {{"$DFC2TO1", "1.0"},  {"$DFC1TO2", "5.1"},  {"$DFC3TO2", "17.1"},
                        {"$DFC4TO2", "1.6"},  {"$DFC2TO3", "19.3"}, {"$DFC4TO3", "0.5"},
                        {"$DFC3TO4", "51.1"}, {"$PAR", "6"}};
    kvset s = {items, 8, 0};
    const char *params[] = {"FS", "SS", "FL1 LOG", "FL2 LOG", "FL3 LOG", "FL4 LOG"};
    static const double want[] = {1,     0.051, 0,     0,
                                  0.010, 1,     0.193, 0,
                                  0,     0.171, 1,     0.511,
                                  0,     0.016, 0.005, 1};
    static const char *const names[] = {"FL1 LOG", "FL2 LOG", "FL3 LOG", "FL4 LOG"};
    fcs_matrix *m = NULL;
    const char *kw = NULL;
    assert_int_equal(fcs_matrix_from_keywords(kv_lookup, &s, params, 6, &m, &kw, NULL), FCS_OK);
    assert_string_equal(kw, "$DFCiTOj");
    assert_close_matrix(m, 4, want, 1e-15);
    for (int i = 0; i < 4; i++) assert_string_equal(fcs_matrix_name(m, i), names[i]);
    fcs_matrix_free(m);
}

static void test_dfc_naming_and_detectors(void **state)
{
    (void)state;
    /* detectors 1 and 10 only; "FL10-H" must not name detector 1, the first
     * FL1 match wins over a later one, detector 10 has no parameter. */
    const kv items[] = {{"$DFC1TO10", "2,5"}, {"$DFC10TO10", "0.0"}};
    kvset s = {items, 2, 0};
    const char *params[] = {"FL10-H", NULL, "fl1 INT LOG", "FL1 INT LIN"};
    static const double want[] = {1, 0.025, 0, 1};
    fcs_matrix *m = NULL;
    assert_int_equal(fcs_matrix_from_keywords(kv_lookup, &s, params, 4, &m, NULL, NULL), FCS_OK);
    assert_close_matrix(m, 2, want, 1e-15);
    assert_string_equal(fcs_matrix_name(m, 0), "fl1 INT LOG");
    assert_string_equal(fcs_matrix_name(m, 1), "FL10-H");
    fcs_matrix_free(m);

    const char *params2[] = {"FSC", "SSC"};
    assert_int_equal(fcs_matrix_from_keywords(kv_lookup, &s, params2, 2, &m, NULL, NULL),
                     FCS_OK);
    assert_string_equal(fcs_matrix_name(m, 0), "FL1");
    assert_string_equal(fcs_matrix_name(m, 1), "FL10");
    fcs_matrix_free(m);

    const kv bad[] = {{"$DFC1TO2", "lots"}};
    kvset s2 = {bad, 1, 0};
    fcs_error err;
    assert_int_equal(fcs_matrix_from_keywords(kv_lookup, &s2, params2, 2, &m, NULL, &err),
                     FCS_EFORMAT);
    assert_string_equal(err.msg, "$DFC1TO2: value 'lots' is not a percentage");
}

static void test_row_names(void **state)
{
    (void)state;
    fcs_matrix *m = fcs_matrix_new(2, 3);
    assert_string_equal(fcs_matrix_row_name(m, 0), "");
    assert_int_equal(fcs_matrix_set_row_name(m, 1, "PE"), FCS_OK);
    assert_int_equal(fcs_matrix_set_row_name(m, 2, "x"), FCS_ERANGE); /* 2 rows */
    assert_int_equal(fcs_matrix_set_name(m, 2, "V3"), FCS_OK);        /* 3 columns */
    fcs_matrix *c = fcs_matrix_copy(m);
    assert_int_equal(fcs_matrix_set_row_name(m, 1, ""), FCS_OK);
    assert_string_equal(fcs_matrix_row_name(m, 1), "");
    assert_string_equal(fcs_matrix_row_name(c, 1), "PE");
    assert_string_equal(fcs_matrix_name(c, 2), "V3");
    assert_string_equal(fcs_matrix_row_name(c, 9), "");
    fcs_matrix_free(c);
    fcs_matrix_free(m);
}

static void test_to_spillover_roundtrip(void **state)
{
    (void)state;
    fcs_matrix *m = NULL;
    assert_int_equal(fcs_matrix_parse_spillover(FORTESSA, NULL, 0, &m, NULL), FCS_OK);
    char *s = fcs_matrix_to_spillover(m);
    assert_non_null(s);
    /* shortest round-trip decimals: 1 and 0 stay short, long values exact */
    assert_string_equal(s, FORTESSA);
    fcs_matrix *back = NULL;
    assert_int_equal(fcs_matrix_parse_spillover(s, NULL, 0, &back, NULL), FCS_OK);
    assert_memory_equal(fcs_matrix_data(back), fcs_matrix_data(m), 16 * sizeof(double));
    free(s);
    fcs_matrix_set(back, 0, 1, 0.1);
    fcs_matrix_set(back, 1, 0, -1e-300);
    s = fcs_matrix_to_spillover(back);
    assert_non_null(strstr(s, "PE-Texas Red-A,1,0.1,0.15999999430400005,0,-1e-300,1,"));
    free(s);
    /* refused: a name with a comma, an empty name, non-square, non-finite */
    fcs_matrix_set_name(back, 0, "a,b");
    assert_null(fcs_matrix_to_spillover(back));
    fcs_matrix_set_name(back, 0, NULL);
    assert_null(fcs_matrix_to_spillover(back));
    fcs_matrix_set_name(back, 0, "A");
    fcs_matrix_set(back, 2, 2, INFINITY);
    assert_null(fcs_matrix_to_spillover(back));
    fcs_matrix *r = fcs_matrix_new(1, 2);
    assert_null(fcs_matrix_to_spillover(r));
    assert_null(fcs_matrix_to_spillover(NULL));
    fcs_matrix_free(r);
    fcs_matrix_free(back);
    fcs_matrix_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_get_set),
        cmocka_unit_test(test_names_and_copy),
        cmocka_unit_test(test_new_edge_sizes),
        cmocka_unit_test(test_corpus_fortessa),
        cmocka_unit_test(test_corpus_lsrii),
        cmocka_unit_test(test_corpus_g11),
        cmocka_unit_test(test_corpus_b01_8x8),
        cmocka_unit_test(test_corpus_gallios_channel_numbers),
        cmocka_unit_test(test_corpus_accuri_channel_numbers),
        cmocka_unit_test(test_corpus_macsquant_names_only),
        cmocka_unit_test(test_stray_spaces_and_trailing_comma),
        cmocka_unit_test(test_decimal_commas),
        cmocka_unit_test(test_decimal_commas_ambiguous_refused),
        cmocka_unit_test(test_channel_numbers_not_resolved),
        cmocka_unit_test(test_spillover_errors),
        cmocka_unit_test(test_keyword_precedence),
        cmocka_unit_test(test_keyword_not_found_and_error),
        cmocka_unit_test(test_comp_inverted),
        cmocka_unit_test(test_comp_corpus_gallios),
        cmocka_unit_test(test_comp_errors),
        cmocka_unit_test(test_dfc_corpus_system2),
        cmocka_unit_test(test_dfc_naming_and_detectors),
        cmocka_unit_test(test_row_names),
        cmocka_unit_test(test_to_spillover_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
