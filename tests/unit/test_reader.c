/* test_reader.c — the FCS reader on hand-built byte images (every data type,
 * width and byte order, escapes, multi data set, gzip, stdin, quirks and their
 * warnings, strict mode, hostile sizes). Expected values are computed by hand. */
#include "testutil.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "fcs/reader.h"

/* ---- image builder ------------------------------------------------------------ */

enum {
    IMG_NO_CRC = 1,          /* no 8-byte CRC after DATA */
    IMG_HEADER_ZERO = 2,     /* HEADER DATA offsets written as 0 */
    IMG_NO_TEXT_OFFSETS = 4, /* no $BEGINDATA/$ENDDATA */
    IMG_END_PLUS1 = 8,       /* DATA end one byte too far (HEADER and TEXT) */
    IMG_NO_FINAL_DELIM = 16, /* TEXT without its last delimiter */
    IMG_TEXT_ZERO = 32,      /* $BEGINDATA/$ENDDATA written as 0 */
    IMG_HEADER_BLANK = 64    /* HEADER DATA offsets left blank */
};

typedef struct img {
    uint8_t *p;
    size_t n;
} img;

/* HEADER + TEXT (text: starts and ends with the delimiter; $BEGINDATA,
 * $ENDDATA and $NEXTDATA are appended, fixed width) + DATA + CRC. */
static img build(const char *ver, const char *text, const void *data, size_t dlen,
                 uint64_t nextdata, unsigned flags)
{
    char d = text[0];
    size_t tl = strlen(text);
    char *t = malloc(tl + 200);
    memcpy(t, text, tl);
    /* Offsets depend on the TEXT length, which is fixed by the fixed widths. */
    size_t off_kw_len = (flags & IMG_NO_TEXT_OFFSETS) ? 0 : strlen("$BEGINDATA") + 12 + 2 +
                                                               strlen("$ENDDATA") + 12 + 2;
    size_t next_len = strlen("$NEXTDATA") + 12 + 2;
    size_t text_len = tl + off_kw_len + next_len - ((flags & IMG_NO_FINAL_DELIM) ? 1 : 0);
    uint64_t tb = 58, te = 58 + text_len - 1;
    uint64_t db = te + 1, de = db + dlen - 1 + ((flags & IMG_END_PLUS1) ? 1 : 0);
    if (dlen == 0) db = de = 0;
    size_t k = tl;
    if (!(flags & IMG_NO_TEXT_OFFSETS)) {
        unsigned long long b = (flags & IMG_TEXT_ZERO) ? 0 : db, e = (flags & IMG_TEXT_ZERO) ? 0 : de;
        k += (size_t)sprintf(t + k, "$BEGINDATA%c%012llu%c$ENDDATA%c%012llu%c", d, b, d, d, e, d);
    }
    k += (size_t)sprintf(t + k, "$NEXTDATA%c%012llu%c", d, (unsigned long long)nextdata, d);
    if (flags & IMG_NO_FINAL_DELIM) k--;
    assert_int_equal(k, text_len);
    size_t n = 58 + text_len + dlen + ((flags & IMG_NO_CRC) ? 0 : 8);
    img im = {calloc(1, n + 1), n};
    char hdr[128];
    unsigned long long hb = db, he = de;
    if (flags & IMG_HEADER_ZERO) hb = he = 0;
    snprintf(hdr, sizeof hdr, "%-6s    %8llu%8llu%8llu%8llu%8llu%8llu", ver,
             (unsigned long long)tb, (unsigned long long)te, hb, he, 0ull, 0ull);
    if (flags & IMG_HEADER_BLANK) memset(hdr + 26, ' ', 16);
    memcpy(im.p, hdr, 58);
    memcpy(im.p + 58, t, text_len);
    if (dlen) memcpy(im.p + 58 + text_len, data, dlen);
    if (!(flags & IMG_NO_CRC)) memcpy(im.p + 58 + text_len + dlen, "00000000", 8);
    free(t);
    return im;
}

static void put16(uint8_t *p, unsigned v, int big)
{
    p[big ? 0 : 1] = (uint8_t)(v >> 8);
    p[big ? 1 : 0] = (uint8_t)v;
}
static void putn(uint8_t *p, uint64_t v, int w, int big)
{
    for (int k = 0; k < w; k++) p[big ? w - 1 - k : k] = (uint8_t)(v >> (8 * k));
}
static void putf(uint8_t *p, float f, int big)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    putn(p, u, 4, big);
}
static void putd(uint8_t *p, double f, int big)
{
    uint64_t u;
    memcpy(&u, &f, 8);
    putn(p, u, 8, big);
}

static fcs_reader *open_img(img im, const fcs_read_opts *o)
{
    fcs_reader *r = NULL;
    fcs_error e;
    int rc = fcs_open_mem(&r, im.p, im.n, "img.fcs", o, &e);
    if (rc) fprintf(stderr, "open failed: %s\n", e.msg);
    assert_int_equal(rc, FCS_OK);
    return r;
}

static int open_rc(img im, const fcs_read_opts *o, char *msg)
{
    fcs_reader *r = NULL;
    fcs_error e;
    int rc = fcs_open_mem(&r, im.p, im.n, "img.fcs", o, &e);
    if (msg) strcpy(msg, rc ? e.msg : "");
    if (rc) assert_null(r);
    fcs_close(r);
    return rc;
}

static int has_warning(const fcs_reader *r, const char *name)
{
    size_t l = strlen(name);
    for (size_t i = 0; i < fcs_n_warnings(r); i++)
        if (strncmp(fcs_warning(r, i), name, l) == 0 && fcs_warning(r, i)[l] == ':') return 1;
    return 0;
}

static fcs_read_opts strict_opts(void)
{
    fcs_read_opts o;
    fcs_read_opts_init(&o);
    o.strict = 1;
    return o;
}

/* 2-parameter integer header text with given widths/ranges/order. */
static void int_text(char *t, const char *ver_extra, int b1, int b2, const char *r1, const char *r2,
                     const char *order, int tot)
{
    sprintf(t, "/$PAR/2/$TOT/%d/$DATATYPE/I/$BYTEORD/%s/$MODE/L/$P1B/%d/$P1R/%s/$P1N/FSC/"
               "$P2B/%d/$P2R/%s/$P2N/SSC/%s",
            tot, order, b1, r1, b2, r2, ver_extra);
}

/* ---- integer data -------------------------------------------------------------- */

static void test_int16_both_orders(void **state)
{
    (void)state;
    for (int big = 0; big < 2; big++) {
        uint8_t d[12];
        unsigned v[6] = {1, 1023, 0xFC05, 2, 65535, 300};
        for (int i = 0; i < 6; i++) put16(d + 2 * i, v[i], big);
        char t[512];
        int_text(t, "", 16, 16, "1024", "65536", big ? "4,3,2,1" : "1,2,3,4", 3);
        img im = build("FCS3.0", t, d, sizeof d, 0, 0);
        fcs_reader *r = open_img(im, NULL);
        assert_int_equal(fcs_n_events(r), 3);
        assert_int_equal(fcs_n_params(r), 2);
        assert_int_equal(fcs_datatype(r), 'I');
        assert_string_equal(fcs_version(r), "FCS3.0");
        assert_int_equal(fcs_param_info(r, 0)->mask, 1023);
        assert_true(fcs_param_info(r, 1)->mask == UINT64_MAX); /* 65536 needs all 16 bits */
        double buf[6];
        assert_int_equal(fcs_read_events(r, buf, 3, FCS_VALUES_RAW), 3);
        /* 0xFC05 & 1023 = 5 */
        double want[6] = {1, 1023, 5, 2, 1023, 300};
        for (int i = 0; i < 6; i++) assert_true(buf[i] == want[i]);
        assert_int_equal(fcs_read_events(r, buf, 3, FCS_VALUES_RAW), 0);
        assert_int_equal(fcs_n_warnings(r), 0);
        fcs_close(r);
        free(im.p);
    }
}

/* Mask boundaries: b = bit_length(ceil($PnR) - 1), applied when b < width. */
static void test_mask_boundaries(void **state)
{
    (void)state;
    const char *ranges[6] = {"32768", "32769", "1", "1000.5", "0.3", "65536"};
    const uint64_t masks[6] = {32767, UINT64_MAX, 0, 1023, 0, UINT64_MAX};
    for (int k = 0; k < 6; k++) {
        char t[512];
        int_text(t, "", 16, 16, ranges[k], "1024", "1,2", 1);
        uint8_t d[4] = {0xFF, 0xFF, 0xFF, 0xFF};
        img im = build("FCS3.0", t, d, 4, 0, 0);
        fcs_reader *r = open_img(im, NULL);
        assert_true(fcs_param_info(r, 0)->mask == masks[k]);
        double v[2];
        assert_int_equal(fcs_read_events(r, v, 1, FCS_VALUES_RAW), 1);
        assert_true(v[0] == (double)(0xFFFF & masks[k]));
        assert_true(v[1] == 1023);
        fcs_close(r);
        free(im.p);
    }
}

static void test_int24_and_wide(void **state)
{
    (void)state;
    for (int big = 0; big < 2; big++) {
        /* widths 24 and 40 bits, 2 events */
        uint8_t d[16];
        putn(d, 0x123456, 3, big);
        putn(d + 3, 0x0102030405ull, 5, big);
        putn(d + 8, 0xFFFFFF, 3, big);
        putn(d + 11, 1, 5, big);
        char t[512];
        int_text(t, "", 24, 40, "16777216", "1099511627776", big ? "4,3,2,1" : "1,2,3,4", 2);
        img im = build("FCS3.1", t, d, sizeof d, 0, 0);
        fcs_reader *r = open_img(im, NULL);
        double buf[4];
        assert_int_equal(fcs_read_events(r, buf, 10, FCS_VALUES_RAW), 2);
        assert_true(buf[0] == 0x123456);
        assert_true(buf[1] == (double)0x0102030405ull);
        assert_true(buf[2] == 0xFFFFFF);
        assert_true(buf[3] == 1);
        fcs_close(r);
        free(im.p);
    }
}

static void test_int_mixed_widths(void **state)
{
    (void)state;
    /* 8, 16, 32 and 64 bits in one event, big-endian, with a 32-bit mask */
    const char *t = "/$PAR/4/$TOT/2/$DATATYPE/I/$BYTEORD/4,3,2,1/$MODE/L/"
                    "$P1B/8/$P1R/256/$P1N/A/$P2B/16/$P2R/1000/$P2N/B/"
                    "$P3B/32/$P3R/262144/$P3N/C/$P4B/64/$P4R/18446744073709551616/$P4N/D/";
    uint8_t d[30];
    uint8_t *e = d;
    for (int i = 0; i < 2; i++) {
        e[0] = (uint8_t)(200 + i);
        putn(e + 1, 0xFFFF, 2, 1);              /* & 1023 = 1023 */
        putn(e + 3, 0x00050000u + i, 4, 1);     /* & 262143 = 0x10000 + i */
        putn(e + 7, 1ull << 40 | (uint64_t)i, 8, 1);
        e += 15;
    }
    img im = build("FCS3.0", t, d, sizeof d, 0, 0);
    fcs_reader *r = open_img(im, NULL);
    assert_int_equal(fcs_param_info(r, 1)->mask, 1023);
    assert_int_equal(fcs_param_info(r, 2)->mask, 262143);
    double buf[8];
    assert_int_equal(fcs_read_events(r, buf, 2, FCS_VALUES_RAW), 2);
    assert_true(buf[0] == 200 && buf[4] == 201);
    assert_true(buf[1] == 1023 && buf[5] == 1023);
    assert_true(buf[2] == 65536 && buf[6] == 65537);
    assert_true(buf[3] == 1099511627776.0 && buf[7] == 1099511627777.0);
    /* columns: parameter j of event i at buf[j*max + i] */
    assert_int_equal(fcs_rewind(r), FCS_OK);
    double col[8];
    assert_int_equal(fcs_read_events(r, col, 2, FCS_VALUES_RAW | FCS_VALUES_COLUMNS), 2);
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++) assert_true(col[j * 2 + i] == buf[i * 4 + j]);
    float f[8];
    assert_int_equal(fcs_rewind(r), FCS_OK);
    assert_int_equal(fcs_read_events_f32(r, f, 2, FCS_VALUES_RAW), 2);
    assert_true(f[2] == 65536.0f && f[0] == 200.0f);
    fcs_close(r);
    free(im.p);
}

/* FC500: $PnB=10 stored in 16-bit words; the mask keeps 10 bits. */
static void test_int10_in_16bit_words(void **state)
{
    (void)state;
    uint8_t d[8];
    put16(d, 0x8000 | 411, 0);
    put16(d + 2, 273, 0);
    put16(d + 4, 1023, 0);
    put16(d + 6, 0xFC00 | 7, 0);
    char t[512];
    int_text(t, "", 10, 10, "1024", "1024", "1,2", 2);
    img im = build("FCS2.0", t, d, sizeof d, 0, 0);
    fcs_reader *r = open_img(im, NULL);
    assert_int_equal(fcs_param_info(r, 0)->bits, 10);
    double buf[4];
    assert_int_equal(fcs_read_events(r, buf, 2, FCS_VALUES_RAW), 2);
    assert_true(buf[0] == 411 && buf[1] == 273 && buf[2] == 1023 && buf[3] == 7);
    uint64_t b, e;
    const char *from;
    fcs_data_segment(r, &b, &e, &from);
    assert_int_equal(e - b + 1, 8); /* 2 events x 2 words x 2 bytes */
    fcs_close(r);
    free(im.p);
}

/* ---- floating point and ASCII ------------------------------------------------------ */

static void test_float_double_orders(void **state)
{
    (void)state;
    for (int big = 0; big < 2; big++) {
        for (int dbl = 0; dbl < 2; dbl++) {
            char t[512];
            sprintf(t, "/$PAR/3/$TOT/2/$DATATYPE/%c/$BYTEORD/%s/$MODE/L/$P1B/%d/$P1R/1024/$P1N/A/"
                       "$P2B/%d/$P2R/1024/$P2N/B/$P2G/2/$P3B/%d/$P3R/1024/$P3N/C/$P3E/4,1/",
                    dbl ? 'D' : 'F', big ? "4,3,2,1" : "1,2,3,4", dbl ? 64 : 32, dbl ? 64 : 32,
                    dbl ? 64 : 32);
            double vals[6] = {1.5, -2.25, 1e30, 0.1, 649.5, -4.5};
            uint8_t d[48];
            for (int i = 0; i < 6; i++) {
                if (dbl) putd(d + 8 * i, vals[i], big);
                else putf(d + 4 * i, (float)vals[i], big);
            }
            img im = build("FCS3.1", t, d, dbl ? 48 : 24, 0, 0);
            fcs_reader *r = open_img(im, NULL);
            double buf[6];
            assert_int_equal(fcs_read_events(r, buf, 2, FCS_VALUES_RAW), 2);
            for (int i = 0; i < 6; i++)
                assert_true(buf[i] == (dbl ? vals[i] : (double)(float)vals[i]));
            /* scaled: gain 2 divides; $PnE on float data is ignored */
            assert_int_equal(fcs_rewind(r), FCS_OK);
            assert_int_equal(fcs_read_events(r, buf, 2, FCS_VALUES_SCALED), 2);
            assert_true(buf[1] == (dbl ? -2.25 / 2 : (double)(float)-2.25 / 2));
            assert_true(buf[2] == (dbl ? 1e30 : (double)(float)1e30));
            float f[6];
            assert_int_equal(fcs_rewind(r), FCS_OK);
            assert_int_equal(fcs_read_events_f32(r, f, 2, FCS_VALUES_RAW | FCS_VALUES_COLUMNS), 2);
            assert_true(f[0] == 1.5f && f[1] == (float)0.1 && f[2] == -2.25f && f[5] == -4.5f);
            assert_int_equal(fcs_rewind(r), FCS_OK);
            assert_int_equal(fcs_read_events_f32(r, f, 2, FCS_VALUES_SCALED), 2);
            assert_true(f[1] == (float)(-2.25 / 2) && f[4] == (float)(649.5 / 2));
            fcs_close(r);
            free(im.p);
        }
    }
}

static void test_ascii_fixed_and_delimited(void **state)
{
    (void)state;
    const char *t = "/$PAR/2/$TOT/4/$DATATYPE/A/$MODE/L/$P1B/4/$P1R/1000/$P2B/4/$P2R/1000/";
    const char *d = " 100 200 100 200 300 400 300 400";
    img im = build("FCS3.0", t, d, strlen(d), 0, 0);
    fcs_reader *r = open_img(im, NULL);
    assert_string_equal(fcs_byteord(r), "");
    double buf[8];
    assert_int_equal(fcs_read_events(r, buf, 8, FCS_VALUES_RAW), 4);
    double want[8] = {100, 200, 100, 200, 300, 400, 300, 400};
    for (int i = 0; i < 8; i++) assert_true(buf[i] == want[i]);
    assert_true(has_warning(r, "missing-name"));
    fcs_close(r);
    free(im.p);

    const char *t2 = "/$PAR/2/$TOT/3/$DATATYPE/A/$MODE/L/$P1B/*/$P1R/1000/$P1N/X/$P2B/*/$P2R/1000/"
                     "$P2N/Y/$P2G/4/";
    const char *d2 = "1.5,2\r\n  -3e2\t40,\n7 8\n";
    im = build("FCS3.0", t2, d2, strlen(d2), 0, 0);
    r = open_img(im, NULL);
    assert_int_equal(fcs_param_info(r, 0)->bits, 0);
    assert_int_equal(fcs_read_events(r, buf, 2, FCS_VALUES_RAW), 2);
    assert_true(buf[0] == 1.5 && buf[1] == 2 && buf[2] == -300 && buf[3] == 40);
    assert_int_equal(fcs_read_events(r, buf, 2, FCS_VALUES_SCALED | FCS_VALUES_COLUMNS), 1);
    assert_true(buf[0] == 7 && buf[2] == 2); /* 8 / gain 4, column layout, ld 2 */
    assert_int_equal(fcs_read_events(r, buf, 2, FCS_VALUES_RAW), 0);
    fcs_close(r);
    free(im.p);

    /* too few values for $TOT x $PAR */
    im = build("FCS3.0", t2, "1 2 3", 5, 0, 0);
    r = open_img(im, NULL);
    assert_int_equal(fcs_read_events(r, buf, 3, FCS_VALUES_RAW), FCS_ETRUNCATED);
    fcs_close(r);
    free(im.p);
    /* a value that is not a number */
    im = build("FCS3.0", t, " 100 2x0 100 200 300 400 300 400", 32, 0, 0);
    r = open_img(im, NULL);
    assert_int_equal(fcs_read_events(r, buf, 4, FCS_VALUES_RAW), FCS_EFORMAT);
    assert_non_null(strstr(fcs_errmsg(r), "img.fcs"));
    fcs_close(r);
    free(im.p);
}

/* FCS 3.2: $PnDATATYPE overrides $DATATYPE per parameter. */
static void test_fcs32_per_param_type(void **state)
{
    (void)state;
    const char *t = "/$PAR/2/$TOT/2/$DATATYPE/I/$BYTEORD/1,2,3,4/$P1B/16/$P1R/1024/$P1N/I16/"
                    "$P2B/32/$P2R/1024/$P2N/F32/$P2DATATYPE/F/";
    uint8_t d[12];
    put16(d, 1000, 0);
    putf(d + 2, 2.5f, 0);
    put16(d + 6, 0xFFFF, 0);
    putf(d + 8, -1.0f, 0);
    img im = build("FCS3.2", t, d, sizeof d, 0, 0);
    fcs_reader *r = open_img(im, NULL);
    assert_int_equal(fcs_datatype(r), 'I');
    assert_int_equal(fcs_param_info(r, 0)->datatype, 'I');
    assert_int_equal(fcs_param_info(r, 1)->datatype, 'F');
    assert_int_equal(fcs_mode(r), 'L'); /* $MODE optional in 3.2 */
    assert_int_equal(fcs_n_warnings(r), 0);
    double buf[4];
    assert_int_equal(fcs_read_events(r, buf, 2, FCS_VALUES_RAW), 2);
    assert_true(buf[0] == 1000 && buf[1] == 2.5 && buf[2] == 1023 && buf[3] == -1.0);
    fcs_close(r);
    free(im.p);
}

/* ---- TEXT ------------------------------------------------------------------------- */

static void test_text_escapes_and_quirks(void **state)
{
    (void)state;
    /* '|' delimiter; escaped delimiter in a value; KEY||NEXT empty value;
     * blanks around a keyword; duplicate keyword (first kept); mixed case. */
    const char *t = "|$PAR|1|$TOT|1|  $DATATYPE  |I|$byteord|1,2|$MODE|L|$P1B|16|$P1R|1024|"
                    "$P1N|a||b|$P1S|CD3|EMPTY||$COM|x|$COM|y|";
    uint8_t d[2] = {7, 0};
    img im = build("FCS2.0", t, d, 2, 0, 0);
    fcs_reader *r = open_img(im, NULL);
    assert_string_equal(fcs_param_info(r, 0)->name, "a|b");
    assert_string_equal(fcs_param_info(r, 0)->label, "CD3");
    assert_string_equal(fcs_keyword(r, "empty"), "");
    assert_string_equal(fcs_keyword(r, "$COM"), "x");
    assert_string_equal(fcs_keyword(r, "$BYTEORD"), "1,2");
    assert_string_equal(fcs_keyword(r, "$DataType"), "I");
    assert_null(fcs_keyword(r, "$NOPE"));
    assert_string_equal(fcs_keyword_name(r, 2), "$DATATYPE");
    assert_string_equal(fcs_byteord(r), "1,2");
    assert_true(has_warning(r, "empty-keyword-value"));
    assert_true(has_warning(r, "keyword-blanks"));
    assert_true(has_warning(r, "duplicate-keyword"));
    /* keywords in file order, the duplicate kept once */
    size_t ncom = 0;
    for (size_t i = 0; i < fcs_n_keywords(r); i++)
        if (strcmp(fcs_keyword_name(r, i), "$COM") == 0) ncom++;
    assert_int_equal(ncom, 1);
    double v;
    assert_int_equal(fcs_read_events(r, &v, 1, FCS_VALUES_RAW), 1);
    assert_true(v == 7);
    fcs_close(r);
    fcs_read_opts so = strict_opts();
    char msg[FCS_ERRMSG_MAX];
    assert_int_equal(open_rc(im, &so, msg), FCS_ESTRICT);
    assert_non_null(strstr(msg, "img.fcs: "));
    free(im.p);

    /* missing final delimiter */
    const char *t2 = "/$PAR/1/$TOT/1/$DATATYPE/I/$BYTEORD/1,2/$MODE/L/$P1B/16/$P1R/1024/$P1N/X/";
    im = build("FCS3.1", t2, d, 2, 0, IMG_NO_FINAL_DELIM);
    r = open_img(im, NULL);
    assert_true(has_warning(r, "missing-final-delimiter"));
    assert_string_equal(fcs_keyword(r, "$NEXTDATA"), "000000000000");
    fcs_close(r);
    free(im.p);
}

static void test_supplemental_text(void **state)
{
    (void)state;
    /* Hand layout: HEADER, TEXT 58..., STEXT, DATA. */
    const char *stext = "/$P1N/FROMSTEXT/EXTRA/yes/$TOT/99/";
    uint8_t d[2] = {3, 0};
    char text[512];
    size_t sl = strlen(stext);
    /* TEXT length fixed: offsets written with 8 digits */
    for (int pass = 0; pass < 2; pass++) {
        static size_t tl;
        size_t tb = 58, te = tb + tl - 1, sb = te + 1, se = sb + sl - 1, db = se + 1, de = db + 1;
        int n = sprintf(text, "/$PAR/1/$TOT/1/$DATATYPE/I/$BYTEORD/1,2/$MODE/L/$P1B/16/$P1R/1024/"
                              "$BEGINSTEXT/%08zu/$ENDSTEXT/%08zu/$BEGINDATA/%08zu/$ENDDATA/%08zu/"
                              "$NEXTDATA/0/",
                        sb, se, db, de);
        tl = (size_t)n;
        if (pass == 0) continue;
        size_t total = db + 2 + 8;
        uint8_t *f = calloc(1, total);
        snprintf((char *)f, 59, "FCS3.1    %8zu%8zu%8zu%8zu%8d%8d", tb, te, db, de, 0, 0);
        memcpy(f + tb, text, tl);
        memcpy(f + sb, stext, sl);
        memcpy(f + db, d, 2);
        memcpy(f + db + 2, "00000000", 8);
        img im = {f, total};
        fcs_reader *r = open_img(im, NULL);
        assert_string_equal(fcs_param_info(r, 0)->name, "FROMSTEXT");
        assert_string_equal(fcs_keyword(r, "extra"), "yes");
        assert_string_equal(fcs_keyword(r, "$TOT"), "1"); /* primary TEXT wins */
        assert_int_equal(fcs_n_events(r), 1);
        assert_true(has_warning(r, "duplicate-keyword"));
        fcs_close(r);
        /* the STEXT must start with the TEXT delimiter */
        f[sb] = '|';
        r = open_img(im, NULL);
        assert_true(has_warning(r, "stext-invalid"));
        assert_null(fcs_param_info(r, 0)->name);
        fcs_close(r);
        free(f);
    }
}

/* ---- multiple data sets ---------------------------------------------------------------- */

static img multi3(void)
{
    char t[512];
    uint8_t d[3][4];
    img part[3];
    for (int k = 0; k < 3; k++) {
        put16(d[k], 10 * (unsigned)k + 1, 1);
        put16(d[k] + 2, 10 * (unsigned)k + 2, 1);
        int_text(t, "", 16, 16, "1024", "1024", "4,3,2,1", 1);
        part[k] = build("FCS3.0", t, d[k], 4, 0, 0);
    }
    /* $NEXTDATA is relative to the current data set's start */
    for (int k = 0; k < 2; k++) {
        free(part[k].p);
        int_text(t, "", 16, 16, "1024", "1024", "4,3,2,1", 1);
        part[k] = build("FCS3.0", t, d[k], 4, part[k].n, 0);
    }
    img all = {malloc(part[0].n * 3), part[0].n * 3};
    for (int k = 0; k < 3; k++) {
        memcpy(all.p + k * part[0].n, part[k].p, part[k].n);
        free(part[k].p);
    }
    return all;
}

static void test_multi_dataset(void **state)
{
    (void)state;
    img im = multi3();
    fcs_reader *r = open_img(im, NULL);
    assert_int_equal(fcs_n_datasets(r), 3);
    size_t each = im.n / 3;
    double v[2];
    for (size_t k = 3; k-- > 0;) {
        assert_int_equal(fcs_select_dataset(r, k), FCS_OK);
        assert_int_equal(fcs_dataset_index(r), k);
        assert_int_equal(fcs_dataset_offset(r), k * each);
        uint64_t b, e;
        fcs_data_segment(r, &b, &e, NULL);
        assert_true(b > k * each && e < (k + 1) * each);
        assert_int_equal(fcs_read_events(r, v, 1, FCS_VALUES_RAW), 1);
        assert_true(v[0] == 10.0 * (double)k + 1 && v[1] == 10.0 * (double)k + 2);
    }
    assert_int_equal(fcs_select_dataset(r, 3), FCS_ERANGE);
    fcs_close(r);

    /* a $NEXTDATA pointing back to the start is a loop */
    char t[512];
    int_text(t, "", 16, 16, "1024", "1024", "4,3,2,1", 1);
    img bad = build("FCS3.0", t, "\0\1\0\2", 4, 0, 0);
    memcpy(im.p + each, bad.p, bad.n); /* data set 1 without $NEXTDATA ... */
    char *nd = strstr((char *)im.p + each + 58, "$NEXTDATA/");
    assert_non_null(nd);
    /* ... becomes one whose $NEXTDATA (relative) points inside data set 1 */
    memcpy(nd + 10, "000000000010", 12);
    char msg[FCS_ERRMSG_MAX];
    assert_int_equal(open_rc(im, NULL, msg), FCS_EFORMAT);
    assert_non_null(strstr(msg, "data set 1: "));
    assert_non_null(strstr(msg, "loop"));
    /* past the end of the file */
    memcpy(nd + 10, "000099999999", 12);
    assert_int_equal(open_rc(im, NULL, msg), FCS_ETRUNCATED);
    free(bad.p);
    free(im.p);
}

/* ---- DATA segment arbitration ----------------------------------------------------------- */

static void test_data_offsets(void **state)
{
    (void)state;
    char t[512];
    uint8_t d[4];
    put16(d, 5, 1);
    put16(d + 2, 6, 1);
    int_text(t, "", 16, 16, "1024", "1024", "4,3,2,1", 1);
    fcs_read_opts so = strict_opts();
    uint64_t b, e;
    const char *from;

    /* FCS 3.x with HEADER offsets 0: the TEXT's are used (with a warning, since they fit) */
    img im = build("FCS3.0", t, d, 4, 0, IMG_HEADER_ZERO);
    fcs_reader *r = open_img(im, NULL);
    fcs_data_segment(r, &b, &e, &from);
    assert_string_equal(from, "TEXT");
    assert_true(has_warning(r, "header-offsets-zero"));
    fcs_close(r);
    assert_int_equal(open_rc(im, &so, NULL), FCS_ESTRICT);
    free(im.p);
    im = build("FCS3.0", t, d, 4, 0, IMG_HEADER_BLANK);
    r = open_img(im, NULL);
    fcs_data_segment(r, &b, &e, &from);
    assert_string_equal(from, "TEXT");
    fcs_close(r);
    free(im.p);

    /* TEXT offsets 0 as placeholders: HEADER used */
    im = build("FCS3.0", t, d, 4, 0, IMG_TEXT_ZERO);
    r = open_img(im, NULL);
    fcs_data_segment(r, &b, &e, &from);
    assert_string_equal(from, "HEADER");
    assert_true(has_warning(r, "placeholder-offsets"));
    fcs_close(r);
    free(im.p);

    /* off by one: accepted and noted; strict refuses */
    im = build("FCS3.0", t, d, 4, 0, IMG_END_PLUS1 | IMG_NO_CRC);
    r = open_img(im, NULL);
    assert_true(has_warning(r, "data-end-off-by-one"));
    assert_true(has_warning(r, "missing-crc"));
    double v[2];
    assert_int_equal(fcs_read_events(r, v, 1, FCS_VALUES_RAW), 1);
    assert_true(v[0] == 5 && v[1] == 6);
    fcs_close(r);
    assert_int_equal(open_rc(im, &so, NULL), FCS_ESTRICT);
    free(im.p);

    /* HEADER start inside TEXT (FlowKit data_start_offset_discrepancy) -> TEXT */
    im = build("FCS3.0", t, d, 4, 0, 0);
    memcpy(im.p + 26, "      60", 8);
    r = open_img(im, NULL);
    fcs_data_segment(r, &b, &e, &from);
    assert_string_equal(from, "TEXT");
    assert_true(has_warning(r, "offsets-header-text-disagree"));
    assert_int_equal(fcs_read_events(r, v, 1, FCS_VALUES_RAW), 1);
    assert_true(v[0] == 5 && v[1] == 6);
    fcs_close(r);
    assert_int_equal(open_rc(im, &so, NULL), FCS_ESTRICT);
    /* HEADER end past EOF -> TEXT */
    free(im.p);
    im = build("FCS3.0", t, d, 4, 0, 0);
    memcpy(im.p + 34, "   99999", 8);
    r = open_img(im, NULL);
    fcs_data_segment(r, &b, &e, &from);
    assert_string_equal(from, "TEXT");
    fcs_close(r);
    /* both wrong -> refused with a hint */
    char *bd = strstr((char *)im.p + 58, "$BEGINDATA/");
    memcpy(bd + 11, "000000000070", 12);
    char msg[FCS_ERRMSG_MAX];
    assert_int_equal(open_rc(im, NULL, msg), FCS_EFORMAT);
    assert_non_null(strstr(msg, "neither"));
    free(im.p);

    /* FCS 2.0 uses the HEADER, whatever the TEXT says */
    im = build("FCS2.0", t, d, 4, 0, 0);
    bd = strstr((char *)im.p + 58, "$BEGINDATA/");
    memcpy(bd + 11, "000000000070", 12);
    r = open_img(im, NULL);
    fcs_data_segment(r, &b, &e, &from);
    assert_string_equal(from, "HEADER");
    assert_int_equal(fcs_n_warnings(r), 0); /* and no CRC check in 2.0 */
    fcs_close(r);
    free(im.p);

    /* both pairs fit but differ (CyAn): HEADER wins */
    uint8_t d2[8] = {0, 5, 0, 6, 0, 7, 0, 8};
    int_text(t, "", 16, 16, "1024", "1024", "4,3,2,1", 1);
    im = build("FCS3.0", t, d2, 8, 0, 0);
    bd = strstr((char *)im.p + 58, "$BEGINDATA/");
    char num[16];
    uint64_t db = 58 + (uint64_t)(strstr((char *)im.p + 58, "$NEXTDATA/") + 23 - (char *)im.p - 58);
    snprintf(num, sizeof num, "%012llu", (unsigned long long)(db + 4));
    memcpy(bd + 11, num, 12);
    char *ed = strstr((char *)im.p + 58, "$ENDDATA/");
    snprintf(num, sizeof num, "%012llu", (unsigned long long)(db + 7));
    memcpy(ed + 9, num, 12);
    snprintf(num, sizeof num, "%8llu", (unsigned long long)(db + 3));
    memcpy(im.p + 34, num, 8); /* HEADER: first 4 bytes */
    r = open_img(im, NULL);
    fcs_data_segment(r, &b, &e, &from);
    assert_string_equal(from, "HEADER");
    assert_int_equal(b, db);
    assert_int_equal(fcs_read_events(r, v, 1, FCS_VALUES_RAW), 1);
    assert_true(v[0] == 5 && v[1] == 6);
    fcs_close(r);
    free(im.p);
}

static void test_tot_and_length(void **state)
{
    (void)state;
    char t[512];
    uint8_t d[12] = {0};
    /* DATA longer than $TOT needs: extra bytes ignored with a warning */
    int_text(t, "", 16, 16, "1024", "1024", "1,2", 1);
    img im = build("FCS3.0", t, d, 12, 0, 0);
    fcs_reader *r = open_img(im, NULL);
    assert_true(has_warning(r, "tot-mismatch"));
    fcs_close(r);
    free(im.p);
    /* DATA shorter than $TOT needs (inside the file): refused */
    int_text(t, "", 16, 16, "1024", "1024", "1,2", 5);
    im = build("FCS3.0", t, d, 12, 0, 0);
    char msg[FCS_ERRMSG_MAX];
    assert_int_equal(open_rc(im, NULL, msg), FCS_EFORMAT);
    assert_non_null(strstr(msg, "$TOT"));
    free(im.p);
    /* FCS 2.0 without $TOT: the count comes from the DATA length */
    const char *t2 = "/$PAR/2/$DATATYPE/I/$BYTEORD/1,2/$MODE/L/$P1B/16/$P1R/1024/$P2B/16/$P2R/1024/";
    im = build("FCS2.0", t2, d, 12, 0, 0);
    r = open_img(im, NULL);
    assert_int_equal(fcs_n_events(r), 3);
    assert_int_equal(fcs_n_warnings(r), 0);
    fcs_close(r);
    free(im.p);
    im = build("FCS3.0", t2, d, 12, 0, 0);
    r = open_img(im, NULL);
    assert_int_equal(fcs_n_events(r), 3);
    assert_true(has_warning(r, "missing-tot"));
    fcs_close(r);
    free(im.p);
    /* $TOT 0: no events, no data segment needed */
    int_text(t, "", 16, 16, "1024", "1024", "1,2", 0);
    im = build("FCS3.0", t, NULL, 0, 0, 0);
    r = open_img(im, NULL);
    double v[2];
    assert_int_equal(fcs_n_events(r), 0);
    assert_int_equal(fcs_read_events(r, v, 1, FCS_VALUES_RAW), 0);
    fcs_close(r);
    free(im.p);
    /* $TOT not a number names the file, the keyword and the data set */
    int_text(t, "", 16, 16, "1024", "1024", "1,2", 1);
    im = build("FCS3.0", t, d, 4, 0, 0);
    char *tot = strstr((char *)im.p + 58, "$TOT/1");
    tot[5] = 'x';
    assert_int_equal(open_rc(im, NULL, msg), FCS_EFORMAT);
    assert_string_equal(msg, "img.fcs: $TOT 'x' is not a number");
    free(im.p);
}

/* ---- refusals, truncation and hostile sizes -------------------------------------------- */

static void test_refusals(void **state)
{
    (void)state;
    char t[512], msg[FCS_ERRMSG_MAX];
    uint8_t d[4] = {0};
    int_text(t, "", 16, 16, "1024", "1024", "1,2", 1);
    img im = build("FCS3.0", t, d, 4, 0, 0);
    char *mode = strstr((char *)im.p + 58, "$MODE/L");
    mode[6] = 'U';
    assert_int_equal(open_rc(im, NULL, msg), FCS_EUNSUPPORTED);
    assert_non_null(strstr(msg, "$MODE U"));
    mode[6] = 'c';
    assert_int_equal(open_rc(im, NULL, msg), FCS_EUNSUPPORTED);
    free(im.p);

    int_text(t, "", 16, 16, "1024", "1024", "3,4,1,2", 1);
    im = build("FCS3.0", t, d, 4, 0, 0);
    assert_int_equal(open_rc(im, NULL, msg), FCS_EUNSUPPORTED);
    assert_non_null(strstr(msg, "$BYTEORD"));
    free(im.p);

    /* not FCS / too short / unsupported version */
    assert_int_equal(fcs_open_mem(&(fcs_reader *){NULL}, "oi21j08cn\n", 10, "c.fcs", NULL, NULL),
                     FCS_EFORMAT);
    assert_int_equal(fcs_open_mem(&(fcs_reader *){NULL}, "FCS3.0    58", 12, "c.fcs", NULL, NULL),
                     FCS_ETRUNCATED);
    int_text(t, "", 16, 16, "1024", "1024", "1,2", 1);
    im = build("FCS1.0", t, d, 4, 0, 0);
    assert_int_equal(open_rc(im, NULL, NULL), FCS_EUNSUPPORTED);
    free(im.p);
    fcs_reader *r = (fcs_reader *)1;
    fcs_error e;
    assert_int_equal(fcs_open(&r, "/nonexistent/x.fcs", NULL, &e), FCS_EIO);
    assert_null(r);
    assert_non_null(strstr(e.msg, "/nonexistent/x.fcs: "));
}

static void test_truncated_and_metadata_only(void **state)
{
    (void)state;
    char t[512], msg[FCS_ERRMSG_MAX];
    uint8_t d[400] = {0};
    int_text(t, "", 16, 16, "1024", "1024", "1,2", 100);
    img im = build("FCS3.1", t, d, 400, 0, 0);
    img cut = {im.p, im.n - 300};
    assert_int_equal(open_rc(cut, NULL, msg), FCS_ETRUNCATED);
    assert_non_null(strstr(msg, "beyond the end of the file"));
    fcs_read_opts o;
    fcs_read_opts_init(&o);
    o.metadata_only = 1;
    fcs_reader *r = open_img(cut, &o);
    assert_true(has_warning(r, "data-truncated"));
    assert_int_equal(fcs_n_events(r), 100);
    double v[2];
    assert_int_equal(fcs_read_events(r, v, 1, FCS_VALUES_RAW), FCS_ETRUNCATED);
    fcs_close(r);
    /* TEXT cut short */
    img cut2 = {im.p, 80};
    assert_int_equal(open_rc(cut2, &o, msg), FCS_ETRUNCATED);
    assert_non_null(strstr(msg, "TEXT"));
    free(im.p);
}

static void test_hostile_sizes(void **state)
{
    (void)state;
    char t[512], msg[FCS_ERRMSG_MAX];
    uint8_t d[4] = {0};
    /* $PAR far beyond what the TEXT describes: refused before any allocation */
    int_text(t, "", 16, 16, "1024", "1024", "1,2", 1);
    img im = build("FCS3.0", t, d, 4, 0, 0);
    char *par = strstr((char *)im.p + 58, "$PAR/2");
    par[5] = '9'; /* 9 parameters, keywords for 2 */
    assert_int_equal(open_rc(im, NULL, msg), FCS_EFORMAT);
    free(im.p);
    sprintf(t, "/$PAR/3/$TOT/1/$DATATYPE/I/$BYTEORD/1,2/$MODE/L/$P1B/16/$P2B/16/$X/1/$Y/2/");
    im = build("FCS3.0", t, d, 4, 0, 0);
    assert_int_equal(open_rc(im, NULL, msg), FCS_EFORMAT);
    assert_string_equal(msg, "img.fcs: $PAR is 3 but required keyword $P3B is missing");
    free(im.p);
    sprintf(t, "/$PAR/2000000000/$TOT/1/$DATATYPE/I/$BYTEORD/1,2/$MODE/L/$P1B/16/");
    im = build("FCS3.0", t, d, 4, 0, 0);
    assert_int_equal(open_rc(im, NULL, msg), FCS_EFORMAT);
    assert_non_null(strstr(msg, "$PAR"));
    free(im.p);
    /* huge $TOT: the segment would run past the file */
    int_text(t, "", 16, 16, "1024", "1024", "1,2", 1);
    im = build("FCS3.0", t, d, 4, 0, IMG_NO_TEXT_OFFSETS);
    char *tot = strstr((char *)im.p + 58, "$TOT/1/");
    memcpy(tot, "$TOT/9/", 7);
    assert_int_equal(open_rc(im, NULL, msg), FCS_EFORMAT); /* segment shorter than 9 events */
    free(im.p);
    sprintf(t, "/$PAR/2/$TOT/4611686018427387904/$DATATYPE/I/$BYTEORD/1,2/$MODE/L/$P1B/64/$P1R/2/"
               "$P2B/64/$P2R/2/");
    im = build("FCS3.0", t, d, 4, 0, 0);
    assert_int_equal(open_rc(im, NULL, msg), FCS_EFORMAT);
    assert_non_null(strstr(msg, "overflow"));
    free(im.p);
    /* absurd bit widths */
    int_text(t, "", 16, 99, "1024", "1024", "1,2", 1);
    im = build("FCS3.0", t, d, 4, 0, 0);
    assert_int_equal(open_rc(im, NULL, msg), FCS_EUNSUPPORTED);
    free(im.p);
    int_text(t, "", 16, 0, "1024", "1024", "1,2", 1);
    im = build("FCS3.0", t, d, 4, 0, 0);
    assert_int_equal(open_rc(im, NULL, msg), FCS_EFORMAT);
    assert_non_null(strstr(msg, "$P2B"));
    free(im.p);
    /* TEXT end in the HEADER beyond the file */
    int_text(t, "", 16, 16, "1024", "1024", "1,2", 1);
    im = build("FCS3.0", t, d, 4, 0, 0);
    memcpy(im.p + 18, "99999999", 8);
    assert_int_equal(open_rc(im, NULL, msg), FCS_ETRUNCATED);
    free(im.p);
}

/* ---- parameters, names, scaling ------------------------------------------------------------ */

static void test_names_and_lookup(void **state)
{
    (void)state;
    const char *t = "/$PAR/3/$TOT/1/$DATATYPE/F/$BYTEORD/1,2,3,4/$MODE/L/$P1B/32/$P1R/1/$P1N/FSC-A/"
                    "$P1S/ /$P2B/32/$P2R/1/$P2N/Time/$P3B/32/$P3R/1/$P3N/FL1-A/$P3S/CD19/";
    uint8_t d[12] = {0};
    img im = build("FCS3.1", t, d, 12, 0, 0);
    fcs_reader *r = open_img(im, NULL);
    assert_string_equal(fcs_param_info(r, 0)->label, " "); /* kept as stored */
    assert_true(fcs_param_info(r, 1)->is_time);
    assert_false(fcs_param_info(r, 0)->is_time);
    assert_int_equal(fcs_param_index(r, "FL1-A", 0), 2);
    assert_int_equal(fcs_param_index(r, "fl1-a", 0), 2);
    assert_int_equal(fcs_param_index(r, "CD19", 0), -1);
    assert_int_equal(fcs_param_index(r, "cd19", 1), 2);
    assert_null(fcs_param_info(r, 3));
    assert_true(fcs_param_info(r, 0)->gain == 1);
    fcs_close(r);
    free(im.p);

    /* duplicate $PnN: warning, strict refuses */
    const char *t2 = "/$PAR/2/$TOT/1/$DATATYPE/F/$BYTEORD/1,2,3,4/$MODE/L/$P1B/32/$P1R/1/$P1N/FCS/"
                     "$P2B/32/$P2R/1/$P2N/FCS/";
    im = build("FCS2.0", t2, d, 8, 0, 0);
    r = open_img(im, NULL);
    assert_true(has_warning(r, "duplicate-name"));
    fcs_close(r);
    fcs_read_opts so = strict_opts();
    assert_int_equal(open_rc(im, &so, NULL), FCS_ESTRICT);
    free(im.p);

    /* missing $PnN: fine in 2.0, a warning in 3.x; missing $PnR: a warning */
    const char *t3 = "/$PAR/1/$TOT/1/$DATATYPE/I/$BYTEORD/1,2/$MODE/L/$P1B/16/";
    im = build("FCS2.0", t3, d, 2, 0, 0);
    r = open_img(im, NULL);
    assert_false(has_warning(r, "missing-name"));
    assert_true(has_warning(r, "missing-range"));
    assert_true(fcs_param_info(r, 0)->mask == UINT64_MAX);
    fcs_close(r);
    free(im.p);
    im = build("FCS3.0", t3, d, 2, 0, 0);
    r = open_img(im, NULL);
    assert_true(has_warning(r, "missing-name"));
    fcs_close(r);
    free(im.p);

    /* per-parameter repairs are gathered: one line per repair name */
    const char *t4 = "/$PAR/3/$TOT/1/$DATATYPE/I/$BYTEORD/1,2/$MODE/L/$P1B/16/$P2B/16/$P3B/16/"
                     "$P1E/2,0/$P3E/3,0/";
    uint8_t d6[6] = {0};
    im = build("FCS3.0", t4, d6, 6, 0, 0);
    r = open_img(im, NULL);
    assert_int_equal(fcs_n_warnings(r), 3);
    assert_string_equal(fcs_warning(r, 0), "missing-range: $P1R absent; no range mask, no log "
                                           "scaling (and 2 more parameter(s))");
    assert_string_equal(fcs_warning(r, 1), "log-offset-zero: $P1E '2,0' has f1>0 and f2=0; read "
                                           "as 2,1 (and 1 more parameter(s))");
    assert_string_equal(fcs_warning(r, 2), "missing-name: $P1N absent (required by FCS 3.x) (and "
                                           "2 more parameter(s))");
    assert_null(fcs_warning(r, 3));
    assert_true(fcs_param_info(r, 2)->log_offset == 1);
    fcs_close(r);
    free(im.p);
}

static void test_scaling(void **state)
{
    (void)state;
    /* P1 log 4 decades R 1024: raw 512 -> 10^(4*512/1024) * 1 = 100
     * P2 gain 2: raw 300 -> 150; P3 "4,0" read as 4,1 (warning): raw 256 -> 10
     * P4 Time, gain 0.01, $TIMESTEP 0.5: scaled 7/0.01 = 700, seconds 7*0.5 */
    const char *t = "/$PAR/4/$TOT/1/$DATATYPE/I/$BYTEORD/4,3,2,1/$MODE/L/$TIMESTEP/0.5/"
                    "$P1B/16/$P1R/1024/$P1E/4,1/$P1N/FL1/$P2B/16/$P2R/1024/$P2G/2/$P2N/FSC/"
                    "$P3B/16/$P3R/1024/$P3E/4,0/$P3N/FL2/$P4B/16/$P4R/1024/$P4G/0.01/$P4N/Time/";
    uint8_t d[8];
    put16(d, 512, 1);
    put16(d + 2, 300, 1);
    put16(d + 4, 256, 1);
    put16(d + 6, 7, 1);
    img im = build("FCS3.0", t, d, 8, 0, 0);
    fcs_reader *r = open_img(im, NULL);
    assert_true(has_warning(r, "log-offset-zero"));
    assert_true(fcs_param_info(r, 2)->log_offset == 1);
    assert_true(fcs_param_info(r, 2)->log_decades == 4);
    assert_true(fcs_timestep(r) == 0.5);
    double v[4];
    assert_int_equal(fcs_read_events(r, v, 1, FCS_VALUES_SCALED), 1);
    assert_close(v[0], 100.0, 1e-12);
    assert_true(v[1] == 150);
    assert_close(v[2], 10.0, 1e-12);
    assert_true(v[3] == 7 / 0.01);
    assert_int_equal(fcs_rewind(r), FCS_OK);
    assert_int_equal(fcs_read_events(r, v, 1, FCS_VALUES_SCALED | FCS_VALUES_TIME_SECONDS), 1);
    assert_true(v[3] == 3.5);
    assert_close(v[0], 100.0, 1e-12);
    float f[4];
    assert_int_equal(fcs_rewind(r), FCS_OK);
    assert_int_equal(fcs_read_events_f32(r, f, 1, FCS_VALUES_SCALED | FCS_VALUES_COLUMNS), 1);
    assert_true(f[0] == 100.0f && f[1] == 150.0f && f[2] == 10.0f && f[3] == (float)(7 / 0.01));
    assert_int_equal(fcs_rewind(r), FCS_OK);
    assert_int_equal(fcs_read_events(r, v, 1, FCS_VALUES_RAW), 1);
    assert_true(v[0] == 512 && v[3] == 7);
    fcs_close(r);
    fcs_read_opts so = strict_opts();
    assert_int_equal(open_rc(im, &so, NULL), FCS_ESTRICT);
    free(im.p);
}

static void test_spillover(void **state)
{
    (void)state;
    const char *t = "/$PAR/2/$TOT/1/$DATATYPE/F/$BYTEORD/1,2,3,4/$MODE/L/$P1B/32/$P1R/1/$P1N/A/"
                    "$P2B/32/$P2R/1/$P2N/B/$SPILLOVER/2,A,B,1,0.1,0.2,1/";
    uint8_t d[8] = {0};
    img im = build("FCS3.1", t, d, 8, 0, 0);
    fcs_reader *r = open_img(im, NULL);
    const char *k = NULL;
    const fcs_matrix *m = fcs_spillover(r, &k);
    assert_non_null(m);
    assert_string_equal(k, "$SPILLOVER");
    assert_int_equal(fcs_matrix_rows(m), 2);
    assert_true(fcs_matrix_get(m, 0, 1) == 0.1 && fcs_matrix_get(m, 1, 0) == 0.2);
    assert_string_equal(fcs_matrix_name(m, 1), "B");
    fcs_close(r);
    free(im.p);
    /* MACSQuant: names and no values -> warning, treated as absent */
    const char *t2 = "/$PAR/2/$TOT/1/$DATATYPE/F/$BYTEORD/1,2,3,4/$MODE/L/$P1B/32/$P1R/1/$P1N/A/"
                     "$P2B/32/$P2R/1/$P2N/B/$SPILLOVER/2,A,B/";
    im = build("FCS3.1", t2, d, 8, 0, 0);
    r = open_img(im, NULL);
    assert_null(fcs_spillover(r, &k));
    assert_null(k);
    assert_true(has_warning(r, "spillover-unparseable"));
    fcs_close(r);
    free(im.p);
}

static void test_chunked_reads(void **state)
{
    (void)state;
    /* 1000 events x 3 uint32 big-endian read in odd chunk sizes */
    enum { N = 1000 };
    uint8_t *d = malloc(N * 12);
    for (uint32_t i = 0; i < N; i++)
        for (uint32_t j = 0; j < 3; j++) putn(d + 12 * i + 4 * j, i * 3 + j, 4, 1);
    const char *t = "/$PAR/3/$TOT/1000/$DATATYPE/I/$BYTEORD/4,3,2,1/$MODE/L/$P1B/32/$P1R/4294967296/"
                    "$P2B/32/$P2R/4294967296/$P3B/32/$P3R/4294967296/";
    img im = build("FCS3.0", t, d, N * 12, 0, 0);
    fcs_read_opts o;
    fcs_read_opts_init(&o);
    fcs_reader *r = open_img(im, &o);
    double buf[7 * 3];
    size_t seen = 0;
    int64_t n;
    while ((n = fcs_read_events(r, buf, 7, FCS_VALUES_RAW)) > 0) {
        for (int64_t i = 0; i < n; i++)
            for (int j = 0; j < 3; j++) assert_true(buf[i * 3 + j] == (double)((seen + i) * 3 + j));
        seen += (size_t)n;
    }
    assert_int_equal(n, 0);
    assert_int_equal(seen, N);
    assert_int_equal(fcs_read_events(r, NULL, 7, FCS_VALUES_RAW), 0);
    assert_int_equal(fcs_rewind(r), FCS_OK);
    assert_int_equal(fcs_read_events(r, NULL, 7, FCS_VALUES_RAW), FCS_EINVAL);
    fcs_close(r);
    free(im.p);
    free(d);
}

/* ---- gzip, files, stdin ----------------------------------------------------------------------- */

static img gzip_img(img in)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&z, in.n);
    img out = {malloc(cap), 0};
    z.next_in = in.p;
    z.avail_in = (uInt)in.n;
    z.next_out = out.p;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    out.n = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

static void read_all_f64(fcs_reader *r, double *out, size_t n_events)
{
    size_t np = fcs_n_params(r), got = 0;
    int64_t n;
    while ((n = fcs_read_events(r, out + got * np, n_events - got < 3 ? n_events - got : 3,
                                FCS_VALUES_RAW)) > 0)
        got += (size_t)n;
    assert_int_equal(n, 0);
    assert_int_equal(got, n_events);
}

static void test_gzip_and_files(void **state)
{
    (void)state;
    img im = multi3();
    img gz = gzip_img(im);
    fcs_reader *r = open_img(gz, NULL);
    assert_int_equal(fcs_n_datasets(r), 3); /* spilled for random access */
    assert_true(fcs_is_seekable(r));
    assert_int_equal(fcs_select_dataset(r, 2), FCS_OK);
    double v[2];
    assert_int_equal(fcs_read_events(r, v, 1, FCS_VALUES_RAW), 1);
    assert_true(v[0] == 21 && v[1] == 22);
    fcs_close(r);
    free(im.p);
    free(gz.p);

    /* single data set gzip: sequential, same values as the plain image */
    enum { N = 50 };
    uint8_t d[N * 4];
    for (int i = 0; i < N * 2; i++) put16(d + 2 * i, (unsigned)i, 0);
    char t[512];
    int_text(t, "", 16, 16, "65536", "65536", "1,2", N);
    im = build("FCS3.0", t, d, sizeof d, 0, 0);
    gz = gzip_img(im);
    r = open_img(gz, NULL);
    assert_false(fcs_is_seekable(r));
    double a[N * 2], b[N * 2];
    read_all_f64(r, a, N);
    assert_int_equal(fcs_rewind(r), FCS_EUNSUPPORTED);
    fcs_close(r);
    for (int i = 0; i < N * 2; i++) assert_true(a[i] == i);

    /* the same through files: plain (mmap and read(2)) and gzip */
    const char *plain = tu_tmp_path("reader_plain.fcs"), *gzp = tu_tmp_path("reader_gz.fcs");
    assert_int_equal(tu_write_file(plain, im.p, im.n), 0);
    assert_int_equal(tu_write_file(gzp, gz.p, gz.n), 0);
    for (int mode = 0; mode < 3; mode++) {
        fcs_read_opts o;
        fcs_read_opts_init(&o);
        o.no_mmap = mode == 1;
        fcs_error e;
        assert_int_equal(fcs_open(&r, mode == 2 ? gzp : plain, &o, &e), FCS_OK);
        assert_string_equal(fcs_name(r), mode == 2 ? gzp : plain);
        assert_int_equal(fcs_is_seekable(r), mode != 2);
        memset(b, 0, sizeof b);
        read_all_f64(r, b, N);
        assert_memory_equal(a, b, sizeof a);
        fcs_close(r);
    }
    /* truncated gzip: a clear error when the events run out */
    img cut = {gz.p, gz.n - 12}; /* the gzip trailer and the last deflate bytes */
    r = open_img(cut, NULL);
    int64_t n;
    while ((n = fcs_read_events(r, b, 3, FCS_VALUES_RAW)) > 0) {
    }
    assert_int_equal(n, FCS_ETRUNCATED);
    fcs_close(r);
    unlink(plain);
    unlink(gzp);
    free(im.p);
    free(gz.p);
}

/* Run fcs_open("-") with stdin connected to a pipe fed by a child process. */
static fcs_reader *open_stdin_pipe(img im, pid_t *child, int *saved)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        size_t done = 0;
        while (done < im.n) {
            ssize_t k = write(fds[1], im.p + done, im.n - done);
            if (k <= 0) _exit(1);
            done += (size_t)k;
        }
        _exit(0);
    }
    close(fds[1]);
    *saved = dup(STDIN_FILENO);
    dup2(fds[0], STDIN_FILENO);
    close(fds[0]);
    *child = pid;
    fcs_reader *r = NULL;
    fcs_error e;
    int rc = fcs_open(&r, "-", NULL, &e);
    if (rc) fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(rc, FCS_OK);
    return r;
}

static void close_stdin_pipe(fcs_reader *r, pid_t child, int saved)
{
    fcs_close(r);
    dup2(saved, STDIN_FILENO);
    close(saved);
    int st;
    waitpid(child, &st, 0);
}

static void test_stdin(void **state)
{
    (void)state;
    /* large enough to cross several source views and pipe buffers */
    enum { N = 300000, P = 8 };
    size_t dl = (size_t)N * P * 4;
    uint8_t *d = malloc(dl);
    for (size_t i = 0; i < (size_t)N * P; i++) putf(d + 4 * i, (float)i * 0.5f, 1);
    char t[1024];
    int k = sprintf(t, "/$PAR/%d/$TOT/%d/$DATATYPE/F/$BYTEORD/4,3,2,1/$MODE/L/", P, N);
    for (int j = 1; j <= P; j++) k += sprintf(t + k, "$P%dB/32/$P%dR/1024/$P%dN/C%d/", j, j, j, j);
    img im = build("FCS3.1", t, d, dl, 0, 0);
    pid_t child;
    int saved;
    fcs_reader *r = open_stdin_pipe(im, &child, &saved);
    assert_string_equal(fcs_name(r), "<stdin>");
    assert_false(fcs_is_seekable(r));
    float *buf = malloc(sizeof(float) * 4096 * P);
    size_t seen = 0;
    int64_t n;
    int ok = 1;
    while ((n = fcs_read_events_f32(r, buf, 4096, FCS_VALUES_RAW)) > 0) {
        for (size_t i = 0; i < (size_t)n * P; i++)
            if (buf[i] != (float)(seen * P + i) * 0.5f) ok = 0;
        seen += (size_t)n;
    }
    assert_int_equal(n, 0);
    assert_true(ok);
    assert_int_equal(seen, N);
    assert_int_equal(fcs_rewind(r), FCS_EUNSUPPORTED);
    assert_int_equal(fcs_n_warnings(r), 0); /* CRC present */
    close_stdin_pipe(r, child, saved);
    free(buf);
    free(im.p);
    free(d);

    /* multi data set through a pipe: spilled to a temporary file */
    im = multi3();
    r = open_stdin_pipe(im, &child, &saved);
    assert_int_equal(fcs_n_datasets(r), 3);
    assert_true(fcs_is_seekable(r));
    double v[2];
    assert_int_equal(fcs_select_dataset(r, 1), FCS_OK);
    assert_int_equal(fcs_read_events(r, v, 1, FCS_VALUES_RAW), 1);
    assert_true(v[0] == 11 && v[1] == 12);
    assert_int_equal(fcs_select_dataset(r, 0), FCS_OK);
    assert_int_equal(fcs_read_events(r, v, 1, FCS_VALUES_RAW), 1);
    assert_true(v[0] == 1);
    close_stdin_pipe(r, child, saved);
    free(im.p);

    /* a pipe that ends inside DATA: error when reading; missing CRC noted at the end */
    char t2[512];
    uint8_t d2[40] = {0};
    int_text(t2, "", 16, 16, "1024", "1024", "1,2", 10);
    im = build("FCS3.0", t2, d2, 40, 0, IMG_NO_CRC);
    r = open_stdin_pipe(im, &child, &saved);
    double b[20];
    assert_int_equal(fcs_read_events(r, b, 10, FCS_VALUES_RAW), 10);
    assert_int_equal(fcs_read_events(r, b, 10, FCS_VALUES_RAW), 0);
    assert_true(has_warning(r, "missing-crc"));
    close_stdin_pipe(r, child, saved);
    im.n -= 10;
    r = open_stdin_pipe(im, &child, &saved);
    assert_int_equal(fcs_read_events(r, b, 10, FCS_VALUES_RAW), FCS_ETRUNCATED);
    assert_non_null(strstr(fcs_errmsg(r), "<stdin>: "));
    close_stdin_pipe(r, child, saved);
    free(im.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int16_both_orders),
        cmocka_unit_test(test_mask_boundaries),
        cmocka_unit_test(test_int24_and_wide),
        cmocka_unit_test(test_int_mixed_widths),
        cmocka_unit_test(test_int10_in_16bit_words),
        cmocka_unit_test(test_float_double_orders),
        cmocka_unit_test(test_ascii_fixed_and_delimited),
        cmocka_unit_test(test_fcs32_per_param_type),
        cmocka_unit_test(test_text_escapes_and_quirks),
        cmocka_unit_test(test_supplemental_text),
        cmocka_unit_test(test_multi_dataset),
        cmocka_unit_test(test_data_offsets),
        cmocka_unit_test(test_tot_and_length),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_truncated_and_metadata_only),
        cmocka_unit_test(test_hostile_sizes),
        cmocka_unit_test(test_names_and_lookup),
        cmocka_unit_test(test_scaling),
        cmocka_unit_test(test_spillover),
        cmocka_unit_test(test_chunked_reads),
        cmocka_unit_test(test_gzip_and_files),
        cmocka_unit_test(test_stdin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
