/* test_matrixfile.c — CSV/TSV matrix files: layouts, percent, errors with
 * line and column. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcs/comp.h"

static fcs_matrix *parse_ok(const char *text)
{
    fcs_matrix *m = NULL;
    fcs_error err = {0};
    int rc = fcs_matrix_parse_text(text, strlen(text), "t.csv", &m, &err);
    if (rc != FCS_OK) fail_msg("parse failed (%d): %s", rc, err.msg);
    return m;
}

static void parse_bad(const char *text, const char *want_msg)
{
    fcs_matrix *m = (fcs_matrix *)&m;
    fcs_error err = {0};
    int rc = fcs_matrix_parse_text(text, strlen(text), "t.csv", &m, &err);
    if (rc != FCS_EFORMAT) fail_msg("'%s': rc %d, want FCS_EFORMAT", text, rc);
    assert_null(m);
    if (strcmp(err.msg, want_msg) != 0) fail_msg("message '%s', want '%s'", err.msg, want_msg);
}

static void assert_values(const fcs_matrix *m, size_t r, size_t c, const double *v)
{
    assert_int_equal(fcs_matrix_rows(m), r);
    assert_int_equal(fcs_matrix_cols(m), c);
    for (size_t i = 0; i < r * c; i++)
        if (fcs_matrix_data(m)[i] != v[i])
            fail_msg("element %zu = %.17g, want %.17g", i, fcs_matrix_data(m)[i], v[i]);
}

static void assert_names(const fcs_matrix *m, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) assert_string_equal(fcs_matrix_name(m, i), names[i]);
}

/* ---- layouts -------------------------------------------------------------------- */

static void test_plain_csv(void **state)
{
    (void)state;
    /* the FlowKit layout: names, then rows in column order */
    fcs_matrix *m = parse_ok("FITC-A,PE-A,APC-A\n1,0.2986,0\n0.007,1,0.0726\n0,0.0005,1\n");
    static const double v[] = {1, 0.2986, 0, 0.007, 1, 0.0726, 0, 0.0005, 1};
    assert_values(m, 3, 3, v);
    assert_names(m, (const char *const[]){"FITC-A", "PE-A", "APC-A"}, 3);
    assert_string_equal(fcs_matrix_row_name(m, 0), "");
    fcs_matrix_free(m);
}

static void test_flowjo_percent_with_row_names(void **state)
{
    (void)state;
    /* FlowJo: corner cell, quoted names (one with a comma), row names, percent */
    fcs_matrix *m = parse_ok("\"\",\"FITC-A\",\"PE, Cy7-A\"\r\n"
                             "\"FITC-A\",100,12.5\r\n"
                             "\"PE, Cy7-A\",2,100\r\n");
    static const double v[] = {1, 0.125, 0.02, 1};
    assert_values(m, 2, 2, v);
    assert_names(m, (const char *const[]){"FITC-A", "PE, Cy7-A"}, 2);
    assert_string_equal(fcs_matrix_row_name(m, 1), "PE, Cy7-A");
    fcs_matrix_free(m);

    /* a diagonal of 100 except one: not percent, kept as written */
    m = parse_ok("A,B\n100,12.5\n2,1\n");
    assert_true(fcs_matrix_get(m, 0, 0) == 100 && fcs_matrix_get(m, 1, 1) == 1);
    fcs_matrix_free(m);
}

static void test_rows_reordered_by_name(void **state)
{
    (void)state;
    /* rows given in another order than the columns: put in column order */
    fcs_matrix *m = parse_ok("\tA\tB\tC\nC\t0\t0.3\t1\nA\t1\t0.1\t0\nB\t0.2\t1\t0\n");
    static const double v[] = {1, 0.1, 0, 0.2, 1, 0, 0, 0.3, 1};
    assert_values(m, 3, 3, v);
    assert_string_equal(fcs_matrix_row_name(m, 2), "C");
    fcs_matrix_free(m);
    /* no header at all: square with row names gives the names */
    m = parse_ok("A,1,0.5\nB,0.25,1\n");
    static const double v2[] = {1, 0.5, 0.25, 1};
    assert_values(m, 2, 2, v2);
    assert_names(m, (const char *const[]){"A", "B"}, 2);
    fcs_matrix_free(m);
}

static void test_blank_separated_quoted(void **state)
{
    (void)state;
    /* flowCore's compref layout: blanks, quoted names, row names, no corner */
    fcs_matrix *m = parse_ok("\"FL1-H\" \"FL2-H\"\n\"FL1-H\" 1 0.242022277630705\n"
                             "\"FL2-H\"   0.00772204774835748 1\n");
    static const double v[] = {1, 0.242022277630705, 0.00772204774835748, 1};
    assert_values(m, 2, 2, v);
    assert_names(m, (const char *const[]){"FL1-H", "FL2-H"}, 2);
    fcs_matrix_free(m);
}

static void test_old_flowjo_cr_preamble(void **state)
{
    (void)state;
    /* CR-only line ends, a matrix-name line and a "<>" marker before the header */
    fcs_matrix *m = parse_ok("Lipo088#2matrix\r<\t>\rFL1-H\tFL2-H\r1\t0.24\r7.77e-3\t1\r");
    static const double v[] = {1, 0.24, 7.77e-3, 1};
    assert_values(m, 2, 2, v);
    assert_names(m, (const char *const[]){"FL1-H", "FL2-H"}, 2);
    fcs_matrix_free(m);
}

static void test_semicolon_decimal_comma_bom_comments(void **state)
{
    (void)state;
    fcs_matrix *m = parse_ok("\xEF\xBB\xBF# exported by a spreadsheet\n\nA;B\n1;0,5\n  \n0,25;1;\n");
    static const double v[] = {1, 0.5, 0.25, 1};
    assert_values(m, 2, 2, v);
    assert_names(m, (const char *const[]){"A", "B"}, 2);
    fcs_matrix_free(m);
    /* trailing commas and spaces around fields */
    m = parse_ok(" A , B ,\n 1 , 0.5 ,\n0.25,1,\n");
    assert_values(m, 2, 2, v);
    assert_names(m, (const char *const[]){"A", "B"}, 2);
    fcs_matrix_free(m);
}

static void test_spectrum_matrix(void **state)
{
    (void)state;
    /* rows = fluorochromes (kept as row names), columns = detectors */
    fcs_matrix *m = parse_ok("fluor,V1,V2,V3\nBV421,1,0.3,0.01\nBV510,0.1,1,0.4\n");
    static const double v[] = {1, 0.3, 0.01, 0.1, 1, 0.4};
    assert_values(m, 2, 3, v);
    assert_names(m, (const char *const[]){"V1", "V2", "V3"}, 3);
    assert_string_equal(fcs_matrix_row_name(m, 0), "BV421");
    assert_string_equal(fcs_matrix_row_name(m, 1), "BV510");
    fcs_matrix_free(m);
}

/* ---- errors: file, line, column -------------------------------------------------------- */

static void test_errors(void **state)
{
    (void)state;
    parse_bad("A,B\n1,0.5\n0.2,abc\n", "t.csv: line 3, column 2: 'abc' is not a finite number");
    parse_bad("A,B\n1,x\n0,1\n", "t.csv: line 2, column 2: 'x' is not a finite number");
    parse_bad("A,B\n1,0\n0\n", "t.csv: line 3: 1 values, but line 2 has 2");
    parse_bad("A,B,C\n1,0\n0,1\n",
              "t.csv: line 1: 3 channel name(s) for 2 column(s) of numbers (line 2)");
    parse_bad("1,0\n0,1\n", "t.csv: line 1: no header line of channel names before the first "
                            "row of numbers");
    parse_bad("\"A,B\n1,0\n", "t.csv: line 1, column 1: unterminated quote");
    parse_bad("A,A\n1,0\n0,1\n", "t.csv: line 1, column 2: channel 'A' already named in column 1");
    parse_bad("A,\"\"\n1,0\n0,1\n", "t.csv: line 1, column 2: empty channel name");
    parse_bad("A,B\n1,0\n0,1\nnotes: none\n",
              "t.csv: line 4: unexpected text after the matrix (it ended at line 3)");
    parse_bad("A,B\n1,0\nX,0,1\n", "t.csv: line 3: starts with a row name, unlike line 2");
    parse_bad("A,B\n1,nan\n0,1\n", "t.csv: line 2, column 2: 'nan' is not a finite number");
    parse_bad("# only a comment\n\n", "t.csv: empty matrix file");
    parse_bad("", "t.csv: empty matrix file");
    parse_bad("just words\n", "t.csv: no row of numbers found");
    parse_bad("\"A\"x,B\n1,0\n", "t.csv: line 1, column 1: text after the closing quote");
    fcs_matrix *m;
    assert_int_equal(fcs_matrix_parse_text("A\n1\n", 4, NULL, NULL, NULL), FCS_EINVAL);
    assert_int_equal(fcs_matrix_parse_text(NULL, 3, NULL, &m, NULL), FCS_EINVAL);
    fcs_error err;
    assert_int_equal(fcs_matrix_parse_text("x", 1, NULL, &m, &err), FCS_EFORMAT);
    assert_memory_equal(err.msg, "<matrix>: ", 10);
}

static void test_text_not_nul_terminated(void **state)
{
    (void)state;
    /* len bounds the text: the bytes after it must not be read */
    const char text[] = "A,B\n1,0\n0,1\nGARBAGE";
    fcs_matrix *m = NULL;
    assert_int_equal(fcs_matrix_parse_text(text, strlen(text) - 7, "t", &m, NULL), FCS_OK);
    assert_int_equal(fcs_matrix_rows(m), 2);
    fcs_matrix_free(m);
}

/* ---- files -------------------------------------------------------------------------------- */

static void test_read_file(void **state)
{
    (void)state;
    const char *path = tu_tmp_path("matrixfile_test.tsv");
    const char *text = "A\tB\n1\t0.1\n0.2\t1\n";
    assert_int_equal(tu_write_file(path, text, strlen(text)), 0);
    fcs_matrix *m = NULL;
    fcs_error err;
    assert_int_equal(fcs_matrix_read_file(path, &m, &err), FCS_OK);
    assert_true(fcs_matrix_get(m, 1, 0) == 0.2);
    fcs_matrix_free(m);

    const char *bad = "A\tB\n1\t0.1\n0.2\tq\n";
    assert_int_equal(tu_write_file(path, bad, strlen(bad)), 0);
    assert_int_equal(fcs_matrix_read_file(path, &m, &err), FCS_EFORMAT);
    char want[1200];
    snprintf(want, sizeof want, "%s: line 3, column 2: 'q' is not a finite number", path);
    assert_string_equal(err.msg, want);
    remove(path);

    assert_int_equal(fcs_matrix_read_file(path, &m, &err), FCS_EIO);
    assert_non_null(strstr(err.msg, "cannot open"));
    assert_non_null(strstr(err.msg, path));
    assert_int_equal(fcs_matrix_read_file(NULL, &m, &err), FCS_EINVAL);
}

static void test_corpus_files(void **state)
{
    (void)state;
    const char *root = tu_corpus_dir();
    if (!root) skip();
    char path[1024];
    fcs_matrix *m = NULL;
    fcs_error err;
    /* flowCore compmatrix: old FlowJo export, CR line ends, TSV, preamble */
    snprintf(path, sizeof path, "%s/files/flowCore/inst/extdata/compdata/compmatrix", root);
    if (fcs_matrix_read_file(path, &m, &err) != FCS_OK) fail_msg("%s", err.msg);
    static const double cm[] = {1, 0.24, 0.032, 1.13e-3, 7.77e-3, 1, 0.14, 2.74e-3,
                                8.69e-3, 0.17, 1, 0.21, 7.95e-4, 9.95e-4, 3.23e-3, 1};
    assert_values(m, 4, 4, cm);
    assert_names(m, (const char *const[]){"FL1-H", "FL2-H", "FL3-H", "FL4-H"}, 4);
    fcs_matrix_free(m);
    /* flowCore compref: blank-separated, quoted names, row names */
    snprintf(path, sizeof path, "%s/files/flowCore/inst/extdata/compdata/compref", root);
    if (fcs_matrix_read_file(path, &m, &err) != FCS_OK) fail_msg("%s", err.msg);
    assert_int_equal(fcs_matrix_rows(m), 4);
    assert_true(fcs_matrix_get(m, 0, 1) == 0.242022277630705);
    assert_true(fcs_matrix_get(m, 3, 2) == 0.00321861379453393);
    assert_string_equal(fcs_matrix_name(m, 3), "FL4-H");
    fcs_matrix_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_csv),
        cmocka_unit_test(test_flowjo_percent_with_row_names),
        cmocka_unit_test(test_rows_reordered_by_name),
        cmocka_unit_test(test_blank_separated_quoted),
        cmocka_unit_test(test_old_flowjo_cr_preamble),
        cmocka_unit_test(test_semicolon_decimal_comma_bom_comments),
        cmocka_unit_test(test_spectrum_matrix),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_text_not_nul_terminated),
        cmocka_unit_test(test_read_file),
        cmocka_unit_test(test_corpus_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
