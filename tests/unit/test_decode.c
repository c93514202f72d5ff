/* test_decode.c — DATA decoding loops (libfcs/decode.c): every fast path
 * against hand-computed values, masks, both byte orders, both output layouts. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"

static void put(uint8_t *p, uint64_t v, int w, int big)
{
    for (int k = 0; k < w; k++) p[big ? w - 1 - k : k] = (uint8_t)(v >> (8 * k));
}

static fcs_layout layout(fcs_col *cols, size_t n)
{
    fcs_layout L = {n, cols, 0, 0, 0, 0};
    assert_int_equal(fcs_layout_finish(&L), 0);
    return L;
}

static void test_layout_finish(void **state)
{
    (void)state;
    fcs_col c[3] = {{FCS_COL_UINT, 2, 1, 0, UINT64_MAX},
                    {FCS_COL_UINT, 2, 1, 0, 1023},
                    {FCS_COL_UINT, 2, 1, 0, UINT64_MAX}};
    fcs_layout L = layout(c, 3);
    assert_int_equal(L.event_bytes, 6);
    assert_int_equal(L.uniform, FCS_UNI_U16);
    assert_true(L.any_mask);
    assert_int_equal(c[2].offset, 4);
    c[1].width = 4;
    L = layout(c, 3);
    assert_int_equal(L.uniform, FCS_UNI_NONE);
    assert_int_equal(L.event_bytes, 8);
    assert_int_equal(c[2].offset, 6);
    fcs_col f[2] = {{FCS_COL_F32, 4, 0, 0, 0}, {FCS_COL_F32, 4, 1, 0, 0}};
    L = layout(f, 2);
    assert_int_equal(L.uniform, FCS_UNI_NONE); /* mixed byte order */
    f[1].big = 0;
    L = layout(f, 2);
    assert_int_equal(L.uniform, FCS_UNI_F32);
    fcs_col a24[1] = {{FCS_COL_UINT, 3, 0, 0, UINT64_MAX}};
    L = layout(a24, 1);
    assert_int_equal(L.uniform, FCS_UNI_NONE); /* 24-bit takes the generic loop */
}

/* Uniform integer layouts, both orders, both output layouts, masked. */
static void test_uniform_ints(void **state)
{
    (void)state;
    const int widths[3] = {1, 2, 4};
    for (int wi = 0; wi < 3; wi++) {
        for (int big = 0; big < 2; big++) {
            int w = widths[wi];
            fcs_col c[3];
            for (int j = 0; j < 3; j++) c[j] = (fcs_col){FCS_COL_UINT, (uint8_t)w, (uint8_t)big, 0,
                                                         j == 1 ? 0x0F : UINT64_MAX};
            fcs_layout L = layout(c, 3);
            assert_int_not_equal(L.uniform, FCS_UNI_NONE);
            uint8_t src[4 * 3 * 4];
            uint64_t raw[12];
            for (int k = 0; k < 12; k++) {
                raw[k] = (uint64_t)(k * 37 + 200) & (w == 1 ? 0xFF : 0xFFFFFFFF);
                put(src + k * w, raw[k], w, big);
            }
            double rows[12], cols[3 * 6];
            float frows[12], fcols[3 * 6];
            size_t be, bc;
            assert_int_equal(fcs_decode_f64(&L, src, 4, rows, 0, 0, 0, &be, &bc), 0);
            assert_int_equal(fcs_decode_f32(&L, src, 4, frows, 0, 0, 0, &be, &bc), 0);
            /* columns at row 2 of a 6-row buffer */
            assert_int_equal(fcs_decode_f64(&L, src, 4, cols, 6, 1, 2, &be, &bc), 0);
            assert_int_equal(fcs_decode_f32(&L, src, 4, fcols, 6, 1, 2, &be, &bc), 0);
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 3; j++) {
                    double want = (double)(raw[i * 3 + j] & (j == 1 ? 0x0F : UINT64_MAX));
                    assert_true(rows[i * 3 + j] == want);
                    assert_true(frows[i * 3 + j] == (float)want);
                    assert_true(cols[j * 6 + 2 + i] == want);
                    assert_true(fcols[j * 6 + 2 + i] == (float)want);
                }
        }
    }
}

static void test_uniform_floats(void **state)
{
    (void)state;
    const float fv[6] = {1.5f, -0.0f, INFINITY, 3.25e-20f, -7.0f, 1e30f};
    const double dv[6] = {0.1, -2.5, 649.7900106, -4.5, 1e300, 5e-324};
    for (int big = 0; big < 2; big++) {
        fcs_col cf[2] = {{FCS_COL_F32, 4, (uint8_t)big, 0, 0}, {FCS_COL_F32, 4, (uint8_t)big, 0, 0}};
        fcs_col cd[2] = {{FCS_COL_F64, 8, (uint8_t)big, 0, 0}, {FCS_COL_F64, 8, (uint8_t)big, 0, 0}};
        fcs_layout LF = layout(cf, 2), LD = layout(cd, 2);
        uint8_t sf[24], sd[48];
        for (int k = 0; k < 6; k++) {
            uint32_t u;
            uint64_t v;
            memcpy(&u, &fv[k], 4);
            memcpy(&v, &dv[k], 8);
            put(sf + 4 * k, u, 4, big);
            put(sd + 8 * k, v, 8, big);
        }
        double r[6], c[6];
        float fr[6], fc[6];
        size_t be, bc;
        fcs_decode_f64(&LF, sf, 3, r, 0, 0, 0, &be, &bc);
        fcs_decode_f64(&LF, sf, 3, c, 3, 1, 0, &be, &bc);
        fcs_decode_f32(&LF, sf, 3, fr, 0, 0, 0, &be, &bc);
        fcs_decode_f32(&LF, sf, 3, fc, 3, 1, 0, &be, &bc);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 2; j++) {
                float want = fv[i * 2 + j];
                assert_memory_equal(&fr[i * 2 + j], &want, 4); /* bit exact, -0 included */
                assert_true(r[i * 2 + j] == (double)want && c[j * 3 + i] == (double)want);
                assert_true(fc[j * 3 + i] == want);
            }
        fcs_decode_f64(&LD, sd, 3, r, 0, 0, 0, &be, &bc);
        fcs_decode_f64(&LD, sd, 3, c, 3, 1, 0, &be, &bc);
        fcs_decode_f32(&LD, sd, 3, fr, 0, 0, 0, &be, &bc);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 2; j++) {
                assert_true(r[i * 2 + j] == dv[i * 2 + j]);
                assert_true(c[j * 3 + i] == dv[i * 2 + j]);
                assert_true(fr[i * 2 + j] == (float)dv[i * 2 + j]);
            }
    }
}

/* Mixed widths and types take the generic loop: 24-bit, 40-bit, 16-bit,
 * float and ASCII in one event. */
static void test_generic(void **state)
{
    (void)state;
    fcs_col c[5] = {{FCS_COL_UINT, 3, 1, 0, UINT64_MAX},
                    {FCS_COL_UINT, 5, 0, 0, 0xFFFFFFFFull},
                    {FCS_COL_UINT, 2, 1, 0, 1023},
                    {FCS_COL_F32, 4, 0, 0, 0},
                    {FCS_COL_ASCII, 5, 0, 0, 0}};
    fcs_layout L = layout(c, 5);
    assert_int_equal(L.uniform, FCS_UNI_NONE);
    assert_int_equal(L.event_bytes, 19);
    uint8_t e[2 * 19];
    for (int i = 0; i < 2; i++) {
        uint8_t *p = e + 19 * i;
        put(p, 0xABCDEF + (uint64_t)i, 3, 1);
        put(p + 3, 0x12FFFFFFFFull, 5, 0); /* masked to 32 bits */
        put(p + 8, 0xFFFF, 2, 1);
        float f = -1.25f * (float)(i + 1);
        uint32_t u;
        memcpy(&u, &f, 4);
        put(p + 10, u, 4, 0);
        memcpy(p + 14, i ? " 12.5" : "-3e+2", 5);
    }
    double r[10], col[10];
    float fr[10];
    size_t be = 99, bc = 99;
    assert_int_equal(fcs_decode_f64(&L, e, 2, r, 0, 0, 0, &be, &bc), 0);
    assert_int_equal(fcs_decode_f64(&L, e, 2, col, 2, 1, 0, &be, &bc), 0);
    assert_int_equal(fcs_decode_f32(&L, e, 2, fr, 0, 0, 0, &be, &bc), 0);
    const double want[10] = {0xABCDEF, 4294967295.0, 1023, -1.25, -300,
                             0xABCDF0, 4294967295.0, 1023, -2.5,  12.5};
    for (int k = 0; k < 10; k++) {
        assert_true(r[k] == want[k]);
        assert_true(fr[k] == (float)want[k]);
        assert_true(col[(k % 5) * 2 + k / 5] == want[k]);
    }
    memcpy(e + 19 + 14, " 1x.5", 5);
    assert_int_equal(fcs_decode_f64(&L, e, 2, r, 0, 0, 0, &be, &bc), -1);
    assert_int_equal(be, 1);
    assert_int_equal(bc, 4);
}

static void test_ascii_value(void **state)
{
    (void)state;
    double v;
    assert_int_equal(fcs_parse_ascii_value((const uint8_t *)"  42 ", 5, &v), 0);
    assert_true(v == 42);
    assert_int_equal(fcs_parse_ascii_value((const uint8_t *)"-1.5e3", 6, &v), 0);
    assert_true(v == -1500);
    assert_int_equal(fcs_parse_ascii_value((const uint8_t *)"    ", 4, &v), -1);
    assert_int_equal(fcs_parse_ascii_value((const uint8_t *)"12a", 3, &v), -1);
    assert_int_equal(fcs_parse_ascii_value((const uint8_t *)"1 2", 3, &v), -1);
}

static void test_scale(void **state)
{
    (void)state;
    fcs_scale sc[4] = {{FCS_SC_NONE, 0, 0},
                       {FCS_SC_DIV, 2, 0},
                       {FCS_SC_LOG, 4.0 / 1024, 1},
                       {FCS_SC_MUL, 0.5, 0}};
    double rows[8] = {1, 300, 512, 7, 2, 3, 1024, 8};
    fcs_scale_f64(sc, 4, rows, 2, 0, 0, 0);
    assert_true(rows[0] == 1 && rows[1] == 150 && rows[3] == 3.5);
    assert_close(rows[2], 100, 1e-12);
    assert_close(rows[6], 10000, 1e-12);
    assert_true(rows[5] == 1.5 && rows[7] == 4);
    /* columns, starting at row 1 of a 3-row buffer */
    double cols[12] = {0, 1, 2, 0, 300, 3, 0, 512, 1024, 0, 7, 8};
    fcs_scale_f64(sc, 4, cols, 2, 3, 1, 1);
    assert_true(cols[0] == 0 && cols[3] == 0 && cols[4] == 150 && cols[5] == 1.5);
    assert_close(cols[7], 100, 1e-12);
    assert_true(cols[6] == 0 && cols[10] == 3.5 && cols[11] == 4);
    /* rows of doubles to float, both layouts */
    float f[8];
    fcs_rows_to_f32(rows, 4, 2, f, 0, 0, 0);
    assert_true(f[1] == 150.0f && f[7] == 4.0f);
    float fc[8];
    fcs_rows_to_f32(rows, 4, 2, fc, 2, 1, 0);
    assert_true(fc[2] == 150.0f && fc[3] == 1.5f && fc[7] == 4.0f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_finish), cmocka_unit_test(test_uniform_ints),
        cmocka_unit_test(test_uniform_floats), cmocka_unit_test(test_generic),
        cmocka_unit_test(test_ascii_value),   cmocka_unit_test(test_scale),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
