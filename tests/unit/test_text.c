/* test_text.c — HEADER and TEXT parsing (libfcs/text.c) on hand-written bytes. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

static const uint8_t *B(const char *s) { return (const uint8_t *)s; }

static void test_header_ok(void **state)
{
    (void)state;
    fcs_header h;
    fcs_error e;
    const char *hdr = "FCS3.1          58    2959    2960 3399976       0       0";
    assert_int_equal(fcs_header_parse(B(hdr), 58, &h, &e), FCS_OK);
    assert_string_equal(h.version, "FCS3.1");
    assert_int_equal(h.major, 3);
    assert_int_equal(h.minor, 1);
    assert_int_equal(h.text_begin, 58);
    assert_int_equal(h.text_end, 2959);
    assert_int_equal(h.data_begin, 2960);
    assert_int_equal(h.data_end, 3399976);
    assert_false(h.data_zero);
    /* blank DATA and ANALYSIS fields (Accuri) and left-justified numbers */
    const char *h2 = "FCS3.0    58      2959                                    ";
    assert_int_equal(fcs_header_parse(B(h2), 58, &h, &e), FCS_OK);
    assert_true(h.data_zero);
    assert_int_equal(h.text_begin, 58);
    assert_int_equal(h.text_end, 2959);
    const char *h3 = "FCS2.0          58    2959       0       0       0       0";
    assert_int_equal(fcs_header_parse(B(h3), 58, &h, &e), FCS_OK);
    assert_true(h.data_zero);
}

static void test_header_errors(void **state)
{
    (void)state;
    fcs_header h;
    fcs_error e;
    assert_int_equal(fcs_header_parse(B("<html>"), 6, &h, &e), FCS_EFORMAT);
    assert_non_null(strstr(e.msg, "not an FCS file"));
    assert_int_equal(fcs_header_parse(B("FCSX.0"), 6, &h, &e), FCS_EFORMAT);
    assert_int_equal(fcs_header_parse(B("FCS"), 3, &h, &e), FCS_EFORMAT);
    assert_int_equal(fcs_header_parse(B("FCS3.0    58"), 12, &h, &e), FCS_ETRUNCATED);
    assert_non_null(strstr(e.msg, "12 of 58"));
    const char *v1 = "FCS1.0          58    2959    2960 3399976       0       0";
    assert_int_equal(fcs_header_parse(B(v1), 58, &h, &e), FCS_EUNSUPPORTED);
    const char *v4 = "FCS4.0          58    2959    2960 3399976       0       0";
    assert_int_equal(fcs_header_parse(B(v4), 58, &h, &e), FCS_EUNSUPPORTED);
    const char *bad = "FCS3.0          58    29x9    2960 3399976       0       0";
    assert_int_equal(fcs_header_parse(B(bad), 58, &h, &e), FCS_EFORMAT);
    assert_non_null(strstr(e.msg, "TEXT end"));
    const char *neg = "FCS3.0          58      57    2960 3399976       0       0";
    assert_int_equal(fcs_header_parse(B(neg), 58, &h, &e), FCS_EFORMAT);
    const char *inside = "FCS3.0          10    2959    2960 3399976       0       0";
    assert_int_equal(fcs_header_parse(B(inside), 58, &h, &e), FCS_EFORMAT);
}

static int parse(const char *s, fcs_kwlist *kw, fcs_text_quirks *q)
{
    memset(kw, 0, sizeof *kw);
    memset(q, 0, sizeof *q);
    fcs_error e;
    return fcs_text_parse(B(s), strlen(s), kw, q, &e);
}

static void test_text_basic(void **state)
{
    (void)state;
    fcs_kwlist kw;
    fcs_text_quirks q;
    assert_int_equal(parse("/$PAR/2/$P1N/FSC-H/$p1s/ /", &kw, &q), FCS_OK);
    assert_int_equal(kw.n, 3);
    assert_string_equal(kw.items[0].name, "$PAR");
    assert_string_equal(kw.items[2].name, "$p1s"); /* name as stored */
    assert_string_equal(fcs_kwlist_get(&kw, "$P1S"), " "); /* value as stored */
    assert_string_equal(fcs_kwlist_get(&kw, "$par"), "2");
    assert_int_equal(fcs_kwlist_find(&kw, "$P1N"), 1);
    assert_int_equal(fcs_kwlist_find(&kw, "$P1"), -1);
    assert_int_equal(q.n_empty_values + q.n_blank_keys + q.n_duplicates, 0);
    assert_false(q.missing_final_delim);
    fcs_kwlist_free(&kw);
    /* any delimiter byte, e.g. form feed (BD DIVA) */
    assert_int_equal(parse("\f$TOT\f10\f$MODE\fL\f", &kw, &q), FCS_OK);
    assert_string_equal(fcs_kwlist_get(&kw, "$mode"), "L");
    fcs_kwlist_free(&kw);
    fcs_error e;
    assert_int_equal(fcs_text_parse(B("/"), 1, &kw, &q, &e), FCS_EFORMAT);
}

static void test_text_escapes(void **state)
{
    (void)state;
    fcs_kwlist kw;
    fcs_text_quirks q;
    /* doubled delimiter inside a value is an escaped delimiter */
    assert_int_equal(parse("/$FIL/a//b.fcs/$X/1////2/", &kw, &q), FCS_OK);
    assert_string_equal(fcs_kwlist_get(&kw, "$FIL"), "a/b.fcs");
    assert_string_equal(fcs_kwlist_get(&kw, "$X"), "1//2");
    assert_int_equal(q.n_empty_values, 0);
    fcs_kwlist_free(&kw);
    /* doubled delimiter while reading a keyword: empty value (CellQuest) */
    assert_int_equal(parse("/$COM//$SMNO//$P6N/FL1-A/", &kw, &q), FCS_OK);
    assert_int_equal(kw.n, 3);
    assert_string_equal(fcs_kwlist_get(&kw, "$COM"), "");
    assert_string_equal(fcs_kwlist_get(&kw, "$SMNO"), "");
    assert_string_equal(fcs_kwlist_get(&kw, "$P6N"), "FL1-A");
    assert_int_equal(q.n_empty_values, 2);
    assert_string_equal(q.first_empty, "$COM");
    fcs_kwlist_free(&kw);
    /* Accuri: the TEXT ends with a doubled delimiter */
    assert_int_equal(parse("/#P14MAX/1567//", &kw, &q), FCS_OK);
    assert_string_equal(fcs_kwlist_get(&kw, "#P14MAX"), "1567");
    assert_false(q.missing_final_delim);
    fcs_kwlist_free(&kw);
}

static void test_text_quirks(void **state)
{
    (void)state;
    fcs_kwlist kw;
    fcs_text_quirks q;
    /* blanks around keyword names (Partec) */
    assert_int_equal(parse("/   $DATATYPE /I/\t$PAR/1/", &kw, &q), FCS_OK);
    assert_string_equal(kw.items[0].name, "$DATATYPE");
    assert_string_equal(fcs_kwlist_get(&kw, "$DATATYPE"), "I");
    assert_int_equal(q.n_blank_keys, 2);
    assert_string_equal(q.first_blank, "$DATATYPE");
    fcs_kwlist_free(&kw);
    /* missing final delimiter (Cytek NL-2000) */
    assert_int_equal(parse("\f$A\f1\fCREATOR\fSpectroFlo 2.2.0", &kw, &q), FCS_OK);
    assert_string_equal(fcs_kwlist_get(&kw, "CREATOR"), "SpectroFlo 2.2.0");
    assert_true(q.missing_final_delim);
    fcs_kwlist_free(&kw);
    /* repeated keyword: first kept, counted, differing value noted */
    assert_int_equal(parse("/$VOL/10/$vol/10/$X/1/$X/2/", &kw, &q), FCS_OK);
    assert_int_equal(kw.n, 2);
    assert_string_equal(fcs_kwlist_get(&kw, "$X"), "1");
    assert_int_equal(q.n_duplicates, 2);
    assert_int_equal(q.n_dup_differ, 1);
    assert_string_equal(q.first_dup, "$vol");
    fcs_kwlist_free(&kw);
    /* trailing padding is ignored, a trailing keyword without value is noted */
    assert_int_equal(parse("/$A/1/         ", &kw, &q), FCS_OK);
    assert_int_equal(kw.n, 1);
    assert_int_equal(q.n_dangling, 0);
    fcs_kwlist_free(&kw);
    assert_int_equal(parse("/$A/1/$LOST", &kw, &q), FCS_OK);
    assert_int_equal(kw.n, 1);
    assert_int_equal(q.n_dangling, 1);
    assert_string_equal(q.first_dangling, "$LOST");
    fcs_kwlist_free(&kw);
    /* empty keyword names are skipped */
    assert_int_equal(parse("/ /x/$A/1/", &kw, &q), FCS_OK);
    assert_int_equal(kw.n, 1);
    fcs_kwlist_free(&kw);
}

static void test_kwlist_many(void **state)
{
    (void)state;
    /* grows past several rehashes; lookups stay exact and case-insensitive */
    size_t cap = 5000 * 24;
    char *s = malloc(cap), *p = s;
    *p++ = '|';
    for (int i = 0; i < 5000; i++) p += sprintf(p, "$P%dN|v%d|", i, i);
    fcs_kwlist kw;
    fcs_text_quirks q;
    assert_int_equal(parse(s, &kw, &q), FCS_OK);
    assert_int_equal(kw.n, 5000);
    char name[32], want[32];
    for (int i = 0; i < 5000; i += 7) {
        sprintf(name, "$p%dn", i);
        sprintf(want, "v%d", i);
        assert_string_equal(fcs_kwlist_get(&kw, name), want);
    }
    assert_null(fcs_kwlist_get(&kw, "$P5000N"));
    assert_int_equal(fcs_kwlist_add(&kw, "$P1N", 4, "dup", 3), 0);
    assert_int_equal(fcs_kwlist_add(&kw, "NEW", 3, "x\0y", 3), 1);
    assert_string_equal(fcs_kwlist_get(&kw, "new"), "x");
    fcs_kwlist_free(&kw);
    fcs_kwlist_free(&kw); /* idempotent */
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_ok),   cmocka_unit_test(test_header_errors),
        cmocka_unit_test(test_text_basic),  cmocka_unit_test(test_text_escapes),
        cmocka_unit_test(test_text_quirks), cmocka_unit_test(test_kwlist_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
