/*
 * test_writer.c — the FCS 3.1 writer, checked against an independent tiny
 * parser of HEADER/TEXT/DATA written here (not the library's reader).
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fcs/writer.h"
#include "writer_internal.h"

/* ---- a tiny independent FCS parser ---------------------------------------- */

typedef struct parsed {
    uint64_t off[6]; /* HEADER: text b/e, data b/e, analysis b/e */
    char delim;
    size_t n_kw;
    char *names[4096];
    char *values[4096];
    const unsigned char *data; /* DATA segment (from HEADER or TEXT offsets) */
    uint64_t data_begin, data_end;
    uint64_t data_len;
    char crc[9];
    size_t text_len;
} parsed;

static uint64_t field8(const char *p)
{
    char f[9];
    memcpy(f, p, 8);
    f[8] = 0;
    return strtoull(f, NULL, 10);
}

static const char *pkw(const parsed *p, const char *name)
{
    for (size_t i = 0; i < p->n_kw; i++)
        if (strcmp(p->names[i], name) == 0) return p->values[i];
    return NULL;
}

static void parsed_free(parsed *p)
{
    for (size_t i = 0; i < p->n_kw; i++) {
        free(p->names[i]);
        free(p->values[i]);
    }
    p->n_kw = 0;
}

/* Read one delimited token starting at t[*i]. The writer never writes an
 * empty token nor one starting with the delimiter, so a doubled delimiter
 * is always an escaped one (FCS 3.1 section 3.2.7). */
static char *token(const char *t, size_t end, size_t *i, char d)
{
    char *out = malloc(end - *i + 2);
    size_t n = 0;
    while (*i <= end) {
        if (t[*i] == d) {
            if (*i + 1 <= end && t[*i + 1] == d) {
                out[n++] = d;
                *i += 2;
                continue;
            }
            break;
        }
        out[n++] = t[(*i)++];
    }
    out[n] = 0;
    (*i)++; /* skip the closing delimiter */
    return out;
}

static void parse_fcs(const unsigned char *buf, size_t len, parsed *p)
{
    memset(p, 0, sizeof *p);
    assert_true(len >= 58 + 8);
    assert_memory_equal(buf, "FCS3.1    ", 10);
    for (int k = 0; k < 6; k++) p->off[k] = field8((const char *)buf + 10 + 8 * k);
    assert_true(p->off[1] < len);
    const char *t = (const char *)buf;
    p->delim = t[p->off[0]];
    assert_int_equal(t[p->off[1]], p->delim); /* TEXT ends with the delimiter */
    p->text_len = (size_t)(p->off[1] - p->off[0] + 1);
    size_t i = (size_t)p->off[0] + 1, end = (size_t)p->off[1];
    while (i < end) {
        assert_true(p->n_kw < 4096);
        p->names[p->n_kw] = token(t, end, &i, p->delim);
        assert_true(i <= end + 1);
        p->values[p->n_kw] = token(t, end, &i, p->delim);
        assert_true(p->values[p->n_kw][0] != 0); /* FCS forbids empty values */
        p->n_kw++;
    }
    assert_int_equal(i, end + 1);
    p->data_begin = strtoull(pkw(p, "$BEGINDATA"), NULL, 10);
    p->data_end = strtoull(pkw(p, "$ENDDATA"), NULL, 10);
    if (p->off[2] || p->off[3]) {
        assert_int_equal(p->off[2], p->data_begin);
        assert_int_equal(p->off[3], p->data_end);
    }
    uint64_t crc_at = p->off[1] + 1;
    if (p->data_end) {
        assert_int_equal(p->data_begin, p->off[1] + 1);
        p->data = buf + p->data_begin;
        p->data_len = p->data_end - p->data_begin + 1;
        crc_at = p->data_end + 1;
    }
    assert_int_equal(crc_at + 8, len); /* nothing after the CRC field */
    memcpy(p->crc, buf + crc_at, 8);
    p->crc[8] = 0;
}

/* ---- helpers ------------------------------------------------------------- */

static fcs_writer *open_writer(const char *path, size_t np, const fcs_write_opts *o)
{
    fcs_writer *w = NULL;
    fcs_error err;
    assert_int_equal(fcs_writer_open(&w, path, np, o, &err), FCS_OK);
    for (size_t i = 0; i < np; i++) {
        char name[32];
        snprintf(name, sizeof name, "CH%zu", i + 1);
        assert_int_equal(fcs_writer_set_param(w, i, name, NULL, 1024), FCS_OK);
    }
    return w;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static const char *tmp_name_of(const char *path)
{
    static char buf[1200];
    snprintf(buf, sizeof buf, "%s.tmp.%ld", path, (long)getpid());
    return buf;
}

/* ---- HEADER formatting ---------------------------------------------------- */

static void test_header_format(void **state)
{
    (void)state;
    char h[59] = {0};
    assert_int_equal(fcs_writer_format_header(h, 58, 1000, 1001, 2000), 0);
    assert_string_equal(h, "FCS3.1          58    1000    1001    2000       0       0");
    /* Largest offset that fits: 99,999,999. */
    assert_int_equal(fcs_writer_format_header(h, 58, 1000, 1001, 99999999), 0);
    assert_string_equal(h, "FCS3.1          58    1000    100199999999       0       0");
    /* One more: both DATA fields become 0 (FCS 3.1: real values in TEXT). */
    assert_int_equal(fcs_writer_format_header(h, 58, 1000, 1001, 100000000), 0);
    assert_string_equal(h, "FCS3.1          58    1000       0       0       0       0");
    assert_int_equal(fcs_writer_format_header(h, 58, 1000, 100000000, 200000000), 0);
    assert_string_equal(h, "FCS3.1          58    1000       0       0       0       0");
    /* TEXT must fit in the HEADER. */
    assert_int_equal(fcs_writer_format_header(h, 58, 100000000, 0, 0), -1);
}

/* ---- delimiter choice ------------------------------------------------------ */

static void test_choose_delimiter(void **state)
{
    (void)state;
    const char *n1[] = {"A", "B"}, *v1[] = {"x", "y"};
    assert_int_equal(fcs_writer_choose_delimiter(n1, v1, 2), '/');
    const char *v2[] = {"x/y", "y"};
    assert_int_equal(fcs_writer_choose_delimiter(n1, v2, 2), '|');
    const char *n3[] = {"A|B", "C"};
    assert_int_equal(fcs_writer_choose_delimiter(n3, v2, 2), '\\');

    /* Every byte 1..126 occurs inside a value: '/' is used with doubling. */
    char all[200];
    size_t k = 0;
    all[k++] = 'a';
    for (int c = 1; c <= 126; c++) all[k++] = (char)c;
    all[k] = 0;
    const char *v4[] = {all, "y"};
    assert_int_equal(fcs_writer_choose_delimiter(n1, v4, 2), '/');
    /* ... unless a value starts with '/': then the next usable one. */
    const char *v5[] = {all, "/y"};
    assert_int_equal(fcs_writer_choose_delimiter(n1, v5, 2), '|');
    /* A name holding every byte leaves nothing. */
    const char *n6[] = {all + 1, "B"};
    assert_int_equal(fcs_writer_choose_delimiter(n6, v1, 2), -1);
}

/* ---- a complete small file -------------------------------------------------- */

static void test_float_file_layout(void **state)
{
    (void)state;
    const char *path = tu_tmp_path("float.fcs");
    unlink(path);
    fcs_writer *w = NULL;
    fcs_error err;
    assert_int_equal(fcs_writer_open(&w, path, 2, NULL, &err), FCS_OK);
    assert_int_equal(fcs_writer_set_param(w, 0, "FSC-A", NULL, 262144), FCS_OK);
    assert_int_equal(fcs_writer_set_param(w, 1, "FL1-A", "CD3", 262144.5), FCS_OK);
    assert_int_equal(fcs_writer_set_keyword(w, "$CYT", "Test cytometer"), FCS_OK);
    assert_int_equal(fcs_writer_begin(w, 3), FCS_OK);
    /* While writing, only the temporary file exists. */
    assert_true(file_exists(tmp_name_of(path)));
    assert_false(file_exists(path));
    double ev[6] = {1.5, -2.25, 1e30, 0.1, 3, 65504};
    assert_int_equal(fcs_writer_write(w, ev, 2), FCS_OK);
    assert_int_equal(fcs_writer_write(w, ev + 4, 1), FCS_OK);
    assert_int_equal(fcs_writer_close(w, &err), FCS_OK);
    assert_false(file_exists(tmp_name_of(path)));

    size_t len;
    unsigned char *buf = (unsigned char *)tu_read_file(path, &len);
    assert_non_null(buf);
    parsed p;
    parse_fcs(buf, len, &p);
    assert_int_equal(p.off[0], 58);
    assert_int_equal(p.delim, '/');
    assert_int_equal(p.off[2], p.off[1] + 1);
    assert_int_equal(p.off[3], p.off[2] + 24 - 1);
    assert_int_equal(p.off[4], 0);
    assert_int_equal(p.off[5], 0);
    assert_int_equal(len, 58 + p.text_len + 24 + 8);
    assert_string_equal(p.crc, "00000000");
    /* The required keywords, in the order the writer emits them. */
    static const char *const req[][2] = {
        {"$BEGINANALYSIS", "0"}, {"$ENDANALYSIS", "0"}, {"$BEGINSTEXT", "0"}, {"$ENDSTEXT", "0"},
        {"$BEGINDATA", NULL},    {"$ENDDATA", NULL},    {"$BYTEORD", "1,2,3,4"},
        {"$DATATYPE", "F"},      {"$MODE", "L"},        {"$NEXTDATA", "0"},
        {"$PAR", "2"},           {"$TOT", "3"},         {"$P1B", "32"},
        {"$P1E", "0,0"},         {"$P2B", "32"},        {"$P2E", "0,0"},
        {"$P1N", "FSC-A"},       {"$P1R", "262144"},    {"$P2N", "FL1-A"},
        {"$P2R", "262144.5"},    {"$P2S", "CD3"},       {"$CYT", "Test cytometer"}};
    assert_int_equal(p.n_kw, sizeof req / sizeof req[0]);
    for (size_t i = 0; i < p.n_kw; i++) {
        assert_string_equal(p.names[i], req[i][0]);
        if (req[i][1]) assert_string_equal(p.values[i], req[i][1]);
    }
    char num[32];
    snprintf(num, sizeof num, "%" PRIu64, p.off[2]);
    assert_string_equal(pkw(&p, "$BEGINDATA"), num);
    /* float32 little endian, exactly (float)value. */
    for (int i = 0; i < 6; i++) {
        float f;
        memcpy(&f, p.data + 4 * i, 4);
        assert_true(f == (float)ev[i]);
    }
    parsed_free(&p);
    free(buf);
    unlink(path);
}

/* ---- DATA encodings --------------------------------------------------------- */

static unsigned char *write_values(const char *name, size_t np, const fcs_write_opts *o,
                                   const double *ev, size_t n, size_t *len, parsed *p)
{
    const char *path = tu_tmp_path(name);
    fcs_writer *w = open_writer(path, np, o);
    fcs_error err;
    assert_int_equal(fcs_writer_begin(w, (int64_t)n), FCS_OK);
    assert_int_equal(fcs_writer_write(w, ev, n), FCS_OK);
    assert_int_equal(fcs_writer_close(w, &err), FCS_OK);
    unsigned char *buf = (unsigned char *)tu_read_file(path, len);
    assert_non_null(buf);
    unlink(path);
    parse_fcs(buf, *len, p);
    return buf;
}

static void test_double_data(void **state)
{
    (void)state;
    fcs_write_opts o;
    fcs_write_opts_init(&o);
    o.datatype = 'D';
    double ev[4] = {0.1, -1e300, 3.141592653589793, 5e-324};
    size_t len;
    parsed p;
    unsigned char *buf = write_values("d.fcs", 2, &o, ev, 2, &len, &p);
    assert_string_equal(pkw(&p, "$DATATYPE"), "D");
    assert_string_equal(pkw(&p, "$P1B"), "64");
    assert_int_equal(p.data_len, 32);
    for (int i = 0; i < 4; i++) {
        double d;
        memcpy(&d, p.data + 8 * i, 8);
        assert_true(d == ev[i]);
    }
    parsed_free(&p);
    free(buf);
}

static void test_int16_round_clamp(void **state)
{
    (void)state;
    fcs_write_opts o;
    fcs_write_opts_init(&o);
    o.datatype = 'I';
    o.int_bits = 16;
    /* $PnR 1024: values are rounded to nearest and clamped to [0, 1023]. */
    double ev[8] = {-3, 0.49999999999999994, 0.5, 1.5, 1023.4, 5000, NAN, 7};
    const uint16_t want[8] = {0, 0, 1, 2, 1023, 1023, 0, 7};
    size_t len;
    parsed p;
    unsigned char *buf = write_values("i16.fcs", 1, &o, ev, 8, &len, &p);
    assert_string_equal(pkw(&p, "$DATATYPE"), "I");
    assert_string_equal(pkw(&p, "$P1B"), "16");
    assert_int_equal(p.data_len, 16);
    for (int i = 0; i < 8; i++) {
        uint16_t v = (uint16_t)(p.data[2 * i] | p.data[2 * i + 1] << 8);
        assert_int_equal(v, want[i]);
    }
    parsed_free(&p);
    free(buf);
}

static void test_int8_and_int64(void **state)
{
    (void)state;
    fcs_write_opts o;
    fcs_write_opts_init(&o);
    o.datatype = 'I';
    o.int_bits = 8; /* $PnR 1024 > 2^8: clamp at 255 */
    double ev[3] = {254.6, 300, 12};
    size_t len;
    parsed p;
    unsigned char *buf = write_values("i8.fcs", 1, &o, ev, 3, &len, &p);
    assert_int_equal(p.data_len, 3);
    assert_int_equal(p.data[0], 255);
    assert_int_equal(p.data[1], 255);
    assert_int_equal(p.data[2], 12);
    parsed_free(&p);
    free(buf);

    /* 64 bits with a huge range: 2^60 + 2^40 survives exactly, and so does
     * an odd integer above 2^52 (where v + 0.5 would round to even). */
    const char *path = tu_tmp_path("i64.fcs");
    o.int_bits = 64;
    fcs_writer *w;
    fcs_error err;
    assert_int_equal(fcs_writer_open(&w, path, 1, &o, &err), FCS_OK);
    assert_int_equal(fcs_writer_set_param(w, 0, "Big", NULL, 18446744073709551616.0), FCS_OK);
    assert_int_equal(fcs_writer_begin(w, 3), FCS_OK);
    double big[3] = {ldexp(1, 60) + ldexp(1, 40), 1e30, 7706518548402237.0};
    assert_int_equal(fcs_writer_write(w, big, 3), FCS_OK);
    assert_int_equal(fcs_writer_close(w, &err), FCS_OK);
    buf = (unsigned char *)tu_read_file(path, &len);
    parse_fcs(buf, len, &p);
    assert_string_equal(pkw(&p, "$P1B"), "64");
    assert_string_equal(pkw(&p, "$P1R"), "18446744073709551616");
    uint64_t u;
    memcpy(&u, p.data, 8);
    assert_true(u == (UINT64_C(1) << 60) + (UINT64_C(1) << 40));
    memcpy(&u, p.data + 8, 8);
    assert_true(u == UINT64_C(18446744073709549568)); /* clamped to the largest double < 2^64 */
    memcpy(&u, p.data + 16, 8);
    assert_true(u == UINT64_C(7706518548402237));
    parsed_free(&p);
    free(buf);
    unlink(path);
}

static void test_big_endian(void **state)
{
    (void)state;
    fcs_write_opts o;
    fcs_write_opts_init(&o);
    o.big_endian = 1;
    double ev[2] = {1.0, -2.0};
    size_t len;
    parsed p;
    unsigned char *buf = write_values("be.fcs", 2, &o, ev, 1, &len, &p);
    assert_string_equal(pkw(&p, "$BYTEORD"), "4,3,2,1");
    /* 1.0f = 0x3f800000, -2.0f = 0xc0000000, most significant byte first */
    static const unsigned char want[8] = {0x3f, 0x80, 0, 0, 0xc0, 0, 0, 0};
    assert_memory_equal(p.data, want, 8);
    parsed_free(&p);
    free(buf);

    o.datatype = 'I';
    o.int_bits = 32;
    double iv[2] = {0x010203, 7};
    buf = write_values("bei.fcs", 2, &o, iv, 1, &len, &p);
    /* 0x10203 > $PnR - 1 = 1023: clamped to 0x000003ff */
    assert_int_equal(p.data[2], 0x03);
    assert_int_equal(p.data[3], 0xff); /* 1023 = 0x000003ff */
    assert_int_equal(p.data[7], 7);
    parsed_free(&p);
    free(buf);
}

static void test_f32_input_and_specials(void **state)
{
    (void)state;
    const char *path = tu_tmp_path("f32.fcs");
    fcs_writer *w = open_writer(path, 3, NULL);
    fcs_error err;
    assert_int_equal(fcs_writer_begin(w, 2), FCS_OK);
    float ev[6] = {NAN, INFINITY, -INFINITY, 1.17549435e-38f, 3.4028235e38f, -0.0f};
    assert_int_equal(fcs_writer_write_f32(w, ev, 2), FCS_OK);
    assert_int_equal(fcs_writer_close(w, &err), FCS_OK);
    size_t len;
    unsigned char *buf = (unsigned char *)tu_read_file(path, &len);
    parsed p;
    parse_fcs(buf, len, &p);
    assert_memory_equal(p.data, ev, sizeof ev); /* bit for bit */
    parsed_free(&p);
    free(buf);
    unlink(path);
}

/* ---- keywords ------------------------------------------------------------------ */

static void test_keywords_escape_roundtrip(void **state)
{
    (void)state;
    const char *path = tu_tmp_path("kw.fcs");
    fcs_writer *w = open_writer(path, 1, NULL);
    /* A value holding every byte 1..255 forces the delimiter to be doubled. */
    char all[300];
    size_t k = 0;
    all[k++] = 'v';
    for (int c = 1; c <= 255; c++) all[k++] = (char)c;
    all[k] = 0;
    assert_int_equal(fcs_writer_set_keyword(w, "ALL", all), FCS_OK);
    assert_int_equal(fcs_writer_set_keyword(w, "ENDS", "ends with /"), FCS_OK);
    assert_int_equal(fcs_writer_set_keyword(w, "TWO", "a//b"), FCS_OK);
    assert_int_equal(fcs_writer_set_keyword(w, "UTF8", "CD3 \xce\xbc\xe2\x80\x93 \xf0\x9f\x94\xac"),
                     FCS_OK);
    assert_int_equal(fcs_writer_set_keyword(w, "EMPTY", ""), FCS_OK);
    assert_int_equal(fcs_writer_set_keyword(w, "$TOT", "999"), FCS_OK); /* superseded */
    assert_int_equal(fcs_writer_set_keyword(w, "$P1B", "7"), FCS_OK);   /* superseded */
    assert_int_equal(fcs_writer_set_keyword(w, "Gone", "x"), FCS_OK);
    assert_int_equal(fcs_writer_set_keyword(w, "GONE", NULL), FCS_OK); /* case-insensitive */
    assert_int_equal(fcs_writer_set_keyword(w, "ends", "replaced /"), FCS_OK);
    fcs_error err;
    assert_int_equal(fcs_writer_begin(w, 0), FCS_OK);
    assert_int_equal(fcs_writer_close(w, &err), FCS_OK);

    size_t len;
    unsigned char *buf = (unsigned char *)tu_read_file(path, &len);
    parsed p;
    parse_fcs(buf, len, &p);
    assert_int_equal(p.delim, '/'); /* every byte is in ALL: '/' with doubling */
    assert_string_equal(pkw(&p, "ALL"), all);
    /* replaced in place, keeping the first spelling of the name */
    assert_string_equal(pkw(&p, "ENDS"), "replaced /");
    assert_null(pkw(&p, "ends"));
    assert_string_equal(pkw(&p, "TWO"), "a//b");
    assert_string_equal(pkw(&p, "UTF8"), "CD3 \xce\xbc\xe2\x80\x93 \xf0\x9f\x94\xac");
    assert_string_equal(pkw(&p, "EMPTY"), " ");
    assert_string_equal(pkw(&p, "$TOT"), "0");
    assert_string_equal(pkw(&p, "$P1B"), "32");
    assert_null(pkw(&p, "Gone"));
    assert_null(pkw(&p, "GONE"));
    /* Empty DATA: offsets 0/0, CRC right after the TEXT. */
    assert_string_equal(pkw(&p, "$BEGINDATA"), "0");
    assert_string_equal(pkw(&p, "$ENDDATA"), "0");
    assert_int_equal(len, 58 + p.text_len + 8);
    /* The raw TEXT shows the doubling: "ENDS/replaced ///" */
    assert_non_null(memmem(buf, len, "/ENDS/replaced ///", 18));
    parsed_free(&p);
    free(buf);
    unlink(path);
}

static void test_delimiter_avoids_values(void **state)
{
    (void)state;
    const char *path = tu_tmp_path("kw2.fcs");
    fcs_writer *w = open_writer(path, 1, NULL);
    assert_int_equal(fcs_writer_set_keyword(w, "PATH", "/data/run 1/a.fcs"), FCS_OK);
    assert_int_equal(fcs_writer_set_keyword(w, "PIPE", "a|b"), FCS_OK);
    fcs_error err;
    assert_int_equal(fcs_writer_begin(w, 0), FCS_OK);
    assert_int_equal(fcs_writer_close(w, &err), FCS_OK);
    size_t len;
    unsigned char *buf = (unsigned char *)tu_read_file(path, &len);
    parsed p;
    parse_fcs(buf, len, &p);
    assert_int_equal(p.delim, '\\'); /* '/' and '|' occur in values */
    assert_string_equal(pkw(&p, "PATH"), "/data/run 1/a.fcs");
    assert_string_equal(pkw(&p, "PIPE"), "a|b");
    parsed_free(&p);
    free(buf);
    unlink(path);
}

static void test_argument_errors(void **state)
{
    (void)state;
    fcs_writer *w = NULL;
    fcs_error err;
    fcs_write_opts o;
    fcs_write_opts_init(&o);
    o.datatype = 'X';
    assert_int_equal(fcs_writer_open(&w, tu_tmp_path("e.fcs"), 1, &o, &err), FCS_EINVAL);
    assert_null(w);
    o.datatype = 'I';
    o.int_bits = 12;
    assert_int_equal(fcs_writer_open(&w, tu_tmp_path("e.fcs"), 1, &o, &err), FCS_EINVAL);
    assert_non_null(strstr(err.msg, "12"));
    assert_int_equal(fcs_writer_open(&w, tu_tmp_path("e.fcs"), 0, NULL, &err), FCS_EINVAL);
    assert_int_equal(fcs_writer_open(&w, "/nonexistent-dir/x.fcs", 1, NULL, &err), FCS_EIO);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/x.fcs"));

    const char *path = tu_tmp_path("e.fcs");
    assert_int_equal(fcs_writer_open(&w, path, 2, NULL, &err), FCS_OK);
    assert_int_equal(fcs_writer_set_param(w, 2, "X", NULL, 1), FCS_ERANGE);
    assert_int_equal(fcs_writer_set_param(w, 0, "X", NULL, 0), FCS_EINVAL);
    assert_int_equal(fcs_writer_set_param(w, 0, "", NULL, 1), FCS_EINVAL);
    assert_int_equal(fcs_writer_set_keyword(w, "$P3N", "X"), FCS_ERANGE);
    assert_int_equal(fcs_writer_set_keyword(w, " A", "X"), FCS_EINVAL);
    assert_int_equal(fcs_writer_set_keyword(w, "", "X"), FCS_EINVAL);
    assert_int_equal(fcs_writer_set_keyword(w, "A\nB", "X"), FCS_EINVAL);
    /* begin checks $PnN presence, uniqueness and $PnR */
    assert_int_equal(fcs_writer_set_param(w, 0, "X", NULL, 1), FCS_OK);
    assert_int_equal(fcs_writer_begin(w, 1), FCS_EINVAL);
    assert_non_null(strstr(fcs_writer_errmsg(w), "$P2N"));
    assert_int_equal(fcs_writer_set_param(w, 1, "X", NULL, 1), FCS_OK);
    assert_int_equal(fcs_writer_begin(w, 1), FCS_EINVAL);
    assert_non_null(strstr(fcs_writer_errmsg(w), "both 'X'"));
    assert_int_equal(fcs_writer_set_keyword(w, "$P2N", "Y"), FCS_OK);
    assert_int_equal(fcs_writer_set_keyword(w, "$P2R", "abc"), FCS_OK);
    assert_int_equal(fcs_writer_begin(w, 1), FCS_EINVAL);
    assert_non_null(strstr(fcs_writer_errmsg(w), "$P2R"));
    assert_int_equal(fcs_writer_set_keyword(w, "$P2R", "8"), FCS_OK);
    assert_int_equal(fcs_writer_begin(w, 1), FCS_OK);
    /* after begin: no more keywords */
    assert_int_equal(fcs_writer_set_keyword(w, "A", "B"), FCS_EINVAL);
    assert_int_equal(fcs_writer_begin(w, 1), FCS_EINVAL);
    double ev[4] = {1, 2, 3, 4};
    /* more events than announced: refused, sticky */
    assert_int_equal(fcs_writer_write(w, ev, 2), FCS_ERANGE);
    assert_non_null(strstr(fcs_writer_errmsg(w), "announced"));
    assert_int_equal(fcs_writer_write(w, ev, 1), FCS_ERANGE);
    assert_int_equal(fcs_writer_close(w, &err), FCS_ERANGE);
    assert_false(file_exists(path));
    assert_false(file_exists(tmp_name_of(path)));
}

/* ---- safety of the output path ----------------------------------------------- */

static void test_existing_file_kept_on_failure(void **state)
{
    (void)state;
    const char *path = tu_tmp_path("keep.fcs");
    assert_int_equal(tu_write_file(path, "old", 3), 0);
    double ev[2] = {1, 2};
    fcs_error err;

    /* too few events */
    fcs_writer *w = open_writer(path, 2, NULL);
    assert_int_equal(fcs_writer_begin(w, 2), FCS_OK);
    assert_int_equal(fcs_writer_write(w, ev, 1), FCS_OK);
    assert_int_equal(fcs_writer_close(w, &err), FCS_ERANGE);
    assert_non_null(strstr(err.msg, "1 events written, 2 announced"));
    /* abort */
    w = open_writer(path, 2, NULL);
    assert_int_equal(fcs_writer_begin(w, 1), FCS_OK);
    assert_int_equal(fcs_writer_write(w, ev, 1), FCS_OK);
    fcs_writer_abort(w);
    /* close before begin */
    w = open_writer(path, 2, NULL);
    assert_int_equal(fcs_writer_close(w, &err), FCS_EINVAL);
    fcs_writer_abort(NULL);

    size_t len;
    char *s = tu_read_file(path, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(s, "old", 3);
    free(s);
    assert_false(file_exists(tmp_name_of(path)));

    /* success replaces it */
    w = open_writer(path, 2, NULL);
    assert_int_equal(fcs_writer_begin(w, 1), FCS_OK);
    assert_int_equal(fcs_writer_write(w, ev, 1), FCS_OK);
    assert_int_equal(fcs_writer_close(w, &err), FCS_OK);
    s = tu_read_file(path, &len);
    assert_memory_equal(s, "FCS3.1", 6);
    free(s);
    unlink(path);
}

static void test_stale_tmp_not_clobbered(void **state)
{
    (void)state;
    const char *path = tu_tmp_path("stale.fcs");
    char stale[1200];
    snprintf(stale, sizeof stale, "%s", tmp_name_of(path));
    assert_int_equal(tu_write_file(stale, "stale", 5), 0);
    fcs_writer *w = open_writer(path, 1, NULL);
    fcs_error err;
    double v = 1;
    assert_int_equal(fcs_writer_begin(w, 1), FCS_OK);
    assert_int_equal(fcs_writer_write(w, &v, 1), FCS_OK);
    assert_int_equal(fcs_writer_close(w, &err), FCS_OK);
    size_t len;
    char *s = tu_read_file(stale, &len);
    assert_int_equal(len, 5);
    free(s);
    assert_true(file_exists(path));
    unlink(stale);
    unlink(path);
}

/* ---- unknown event count --------------------------------------------------------- */

static void test_unknown_count(void **state)
{
    (void)state;
    const char *path = tu_tmp_path("unknown.fcs");
    fcs_writer *w = open_writer(path, 3, NULL);
    fcs_error err;
    assert_int_equal(fcs_writer_begin(w, -1), FCS_OK);
    /* 100,000 events: several buffer flushes into the spill file */
    enum { N = 100000 };
    double *ev = malloc(N * 3 * sizeof *ev);
    for (size_t i = 0; i < (size_t)N * 3; i++) ev[i] = (double)i * 0.5;
    assert_int_equal(fcs_writer_write(w, ev, 1), FCS_OK);
    assert_int_equal(fcs_writer_write(w, ev + 3, N - 1), FCS_OK);
    assert_int_equal(fcs_writer_close(w, &err), FCS_OK);
    size_t len;
    unsigned char *buf = (unsigned char *)tu_read_file(path, &len);
    parsed p;
    parse_fcs(buf, len, &p);
    assert_string_equal(pkw(&p, "$TOT"), "100000");
    assert_int_equal(p.data_len, (uint64_t)N * 3 * 4);
    for (size_t i = 0; i < (size_t)N * 3; i += 7919) {
        float f;
        memcpy(&f, p.data + 4 * i, 4);
        assert_true(f == (float)ev[i]);
    }
    float last;
    memcpy(&last, p.data + 4 * ((size_t)N * 3 - 1), 4);
    assert_true(last == (float)ev[(size_t)N * 3 - 1]);
    parsed_free(&p);
    free(buf);
    free(ev);
    unlink(path);

    /* unknown count, zero events */
    w = open_writer(path, 1, NULL);
    assert_int_equal(fcs_writer_begin(w, -1), FCS_OK);
    assert_int_equal(fcs_writer_close(w, &err), FCS_OK);
    buf = (unsigned char *)tu_read_file(path, &len);
    parse_fcs(buf, len, &p);
    assert_string_equal(pkw(&p, "$TOT"), "0");
    parsed_free(&p);
    free(buf);
    unlink(path);
}

/* ---- offsets above 99,999,999 ------------------------------------------------------ */

/* Render HEADER+TEXT for n events of np float parameters and parse them. */
static void render_big(size_t np, int64_t n, parsed *p, char **head, size_t *len, uint64_t *b,
                       uint64_t *e)
{
    const char *path = tu_tmp_path("big.fcs");
    fcs_writer *w = open_writer(path, np, NULL);
    assert_int_equal(fcs_writer_render_head(w, n, head, len, b, e), FCS_OK);
    fcs_writer_abort(w);
    memset(p, 0, sizeof *p);
    for (int k = 0; k < 6; k++) p->off[k] = field8(*head + 10 + 8 * k);
}

static void test_big_offsets_in_text(void **state)
{
    (void)state;
    parsed p;
    char *head;
    size_t len;
    uint64_t b, e;
    /* 2,000,000 events x 20 float parameters = 160,000,000 bytes of DATA. */
    render_big(20, 2000000, &p, &head, &len, &b, &e);
    assert_int_equal(p.off[0], 58);
    assert_int_equal(p.off[1], len - 1);
    assert_int_equal(p.off[2], 0);
    assert_int_equal(p.off[3], 0);
    assert_int_equal(b, len);
    assert_int_equal(e, len + UINT64_C(160000000) - 1);
    char want[64];
    snprintf(want, sizeof want, "/$BEGINDATA/%" PRIu64 "/$ENDDATA/%" PRIu64 "/", b, e);
    assert_non_null(memmem(head, len, want, strlen(want)));
    assert_non_null(memmem(head, len, "/$TOT/2000000/", 14));
    free(head);

    /* The boundary: one float parameter, DATA ending exactly at 99,999,999
     * stays in the HEADER; one event more moves it to the TEXT (and the
     * extra digit of $ENDDATA shifts $BEGINDATA by one). */
    int64_t n = 1000;
    for (int round = 0; round < 4; round++) { /* b depends on the digits of n */
        render_big(1, n, &p, &head, &len, &b, &e);
        free(head);
        n = (int64_t)((UINT64_C(99999999) + 1 - b) / 4);
    }
    render_big(1, n, &p, &head, &len, &b, &e);
    assert_true(e <= 99999999 && e + 4 > 99999999);
    assert_int_equal(p.off[2], b);
    assert_int_equal(p.off[3], e);
    free(head);
    uint64_t b_fit = b;
    render_big(1, n + 1, &p, &head, &len, &b, &e);
    assert_true(e > 99999999);
    assert_int_equal(p.off[2], 0);
    assert_int_equal(p.off[3], 0);
    assert_int_equal(b, len);
    assert_int_equal(e, b + 4 * (uint64_t)(n + 1) - 1);
    assert_true(b == b_fit + 1 || b == b_fit); /* $ENDDATA gained a digit */
    free(head);

    /* Overflowing event counts are refused. */
    const char *path = tu_tmp_path("big.fcs");
    fcs_writer *w = open_writer(path, 20, NULL);
    assert_int_equal(fcs_writer_render_head(w, INT64_MAX, &head, &len, &b, &e), FCS_ERANGE);
    assert_int_equal(fcs_writer_begin(w, INT64_MAX / 2), FCS_ERANGE);
    fcs_writer_abort(w);
}

/* ---- stdout, broken pipes, full disks (in child processes) ------------------------- */

/* Run fn in a child; return its exit status (or 100 + signal). */
static int in_child(int (*fn)(void *), void *arg)
{
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) _exit(fn(arg));
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
}

static int write_small_to_stdout(int64_t announce)
{
    fcs_writer *w;
    fcs_error err;
    if (fcs_writer_open(&w, "-", 2, NULL, &err)) return 10;
    if (fcs_writer_set_param(w, 0, "A", NULL, 1024) || fcs_writer_set_param(w, 1, "B", NULL, 1024))
        return 11;
    if (fcs_writer_begin(w, announce)) return 12;
    double ev[4] = {1, 2, 3, 4};
    if (fcs_writer_write(w, ev, 2)) return 13;
    return fcs_writer_close(w, &err) == FCS_OK ? 0 : 14;
}

static int child_stdout(void *arg)
{
    int *fds = arg;
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    int rc = write_small_to_stdout(fds[2]);
    close(1);
    return rc;
}

static void test_stdout_pipe(void **state)
{
    (void)state;
    for (int unknown = 0; unknown < 2; unknown++) {
        int fds[3];
        assert_int_equal(pipe(fds), 0);
        fds[2] = unknown ? -1 : 2;
        fflush(stdout);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) _exit(child_stdout(fds));
        close(fds[1]);
        unsigned char buf[65536];
        size_t len = 0;
        ssize_t k;
        while ((k = read(fds[0], buf + len, sizeof buf - len)) > 0) len += (size_t)k;
        close(fds[0]);
        int st;
        waitpid(pid, &st, 0);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
        parsed p;
        parse_fcs(buf, len, &p);
        assert_string_equal(pkw(&p, "$TOT"), "2");
        float f[4];
        memcpy(f, p.data, 16);
        assert_true(f[0] == 1 && f[3] == 4);
        parsed_free(&p);
    }
}

static int child_epipe(void *arg)
{
    (void)arg;
    signal(SIGPIPE, SIG_IGN);
    int fds[2];
    if (pipe(fds)) return 20;
    close(fds[0]);
    dup2(fds[1], 1);
    close(fds[1]);
    fcs_writer *w;
    fcs_error err;
    if (fcs_writer_open(&w, "-", 1, NULL, &err)) return 21;
    if (fcs_writer_set_param(w, 0, "A", NULL, 1)) return 22;
    int rc = fcs_writer_begin(w, 1);
    double v = 1;
    if (rc == FCS_OK) rc = fcs_writer_write(w, &v, 1);
    if (rc == FCS_OK) {
        rc = fcs_writer_close(w, &err);
    } else {
        /* the failure happened earlier: close reports it again, errno too */
        errno = 0;
        if (fcs_writer_close(w, &err) != rc) return 23;
    }
    if (rc != FCS_EIO) return 24;
    if (errno != EPIPE) return 25;
    if (!strstr(err.msg, "<stdout>: broken pipe")) return 26;
    return 0;
}

static void test_broken_pipe(void **state)
{
    (void)state;
    assert_int_equal(in_child(child_epipe, NULL), 0);
}

static int child_dev_full(void *arg)
{
    (void)arg;
    int fd = open("/dev/full", O_WRONLY);
    if (fd < 0) return 77;
    dup2(fd, 1);
    close(fd);
    fcs_writer *w;
    fcs_error err;
    if (fcs_writer_open(&w, "-", 1, NULL, &err)) return 31;
    if (fcs_writer_set_param(w, 0, "A", NULL, 1)) return 32;
    int rc = fcs_writer_begin(w, 1);
    double v = 1;
    if (rc == FCS_OK) rc = fcs_writer_write(w, &v, 1);
    int rc2 = fcs_writer_close(w, &err);
    if (rc != FCS_OK && rc2 != rc) return 33;
    if (rc2 != FCS_EIO) return 34;
    if (!strstr(err.msg, "no space left on device")) return 35;
    return 0;
}

static void test_disk_full_stdout(void **state)
{
    (void)state;
    int rc = in_child(child_dev_full, NULL);
    if (rc == 77) {
        printf("# /dev/full absent: skipped\n");
        return;
    }
    assert_int_equal(rc, 0);
}

struct fsize_arg {
    const char *path;
    int64_t announce;
};

/* A file-size limit makes write(2) fail with EFBIG, like a full disk. */
static int child_fsize(void *argp)
{
    struct fsize_arg *a = argp;
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {65536, 65536};
    if (setrlimit(RLIMIT_FSIZE, &rl)) return 40;
    fcs_writer *w;
    fcs_error err;
    if (fcs_writer_open(&w, a->path, 4, NULL, &err)) return 41;
    for (size_t i = 0; i < 4; i++) {
        char n[8];
        snprintf(n, sizeof n, "P%zu", i);
        if (fcs_writer_set_param(w, i, n, NULL, 1024)) return 42;
    }
    if (fcs_writer_begin(w, a->announce)) return 43;
    static double ev[4 * 1000];
    int rc = FCS_OK;
    for (int k = 0; k < 100 && rc == FCS_OK; k++) rc = fcs_writer_write(w, ev, 1000);
    int rc2 = fcs_writer_close(w, &err);
    if (rc2 != FCS_EIO) return 44;
    if (!strstr(err.msg, a->path)) return 45;
    return 0;
}

static void test_write_failure_removes_tmp(void **state)
{
    (void)state;
    const char *path = tu_tmp_path("full.fcs");
    assert_int_equal(tu_write_file(path, "old", 3), 0);
    struct fsize_arg a = {path, 100000};
    assert_int_equal(in_child(child_fsize, &a), 0);
    /* the child had another pid: look for any leftover of it */
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "ls %s.tmp.* >/dev/null 2>&1", path);
    assert_int_not_equal(system(cmd), 0);
    size_t len;
    char *s = tu_read_file(path, &len);
    assert_int_equal(len, 3);
    free(s);
    /* unknown count: the failure comes from the spill or the assembly */
    a.announce = -1;
    assert_int_equal(in_child(child_fsize, &a), 0);
    assert_int_not_equal(system(cmd), 0);
    s = tu_read_file(path, &len);
    assert_int_equal(len, 3);
    free(s);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_format),
        cmocka_unit_test(test_choose_delimiter),
        cmocka_unit_test(test_float_file_layout),
        cmocka_unit_test(test_double_data),
        cmocka_unit_test(test_int16_round_clamp),
        cmocka_unit_test(test_int8_and_int64),
        cmocka_unit_test(test_big_endian),
        cmocka_unit_test(test_f32_input_and_specials),
        cmocka_unit_test(test_keywords_escape_roundtrip),
        cmocka_unit_test(test_delimiter_avoids_values),
        cmocka_unit_test(test_argument_errors),
        cmocka_unit_test(test_existing_file_kept_on_failure),
        cmocka_unit_test(test_stale_tmp_not_clobbered),
        cmocka_unit_test(test_unknown_count),
        cmocka_unit_test(test_big_offsets_in_text),
        cmocka_unit_test(test_stdout_pipe),
        cmocka_unit_test(test_broken_pipe),
        cmocka_unit_test(test_disk_full_stdout),
        cmocka_unit_test(test_write_failure_removes_tmp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
