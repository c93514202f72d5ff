/*
 * test_plot.c — fcs/plot.h: the PNG encoder (decoded here by an independent
 * reader: chunk framing, CRCs, inflate, all five filters), the colour map
 * (endpoints, strictly rising CIELAB lightness), density levels, binning,
 * ticks on linear / log / logicle / asinh scales against hand-computed
 * cases (logicle and asinh positions from a Python bisection on the
 * Gating-ML formula, quoted below), gate outlines (ellipse contour points
 * solve the ellipse equation; polygons are densified under a foreign
 * transform), labels, SVG text escaping and the embedded density image.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "fcs/plot.h"
#include "testutil.h"

/* ---- an independent PNG reader ---------------------------------------------------- */

typedef struct png_info {
    uint32_t w, h;
    int depth, color;
    uint8_t plte[768];
    size_t n_plte;
    uint8_t trns[256];
    size_t n_trns;
    uint8_t *pixels;  /* unfiltered, rows top to bottom */
    int filters_used; /* bit f set when filter type f occurred */
    int n_idat, n_iend;
} png_info;

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int bpp_of(int color) { return color == 2 ? 3 : (color == 6 ? 4 : 1); }

static int paeth_pred(int a, int b, int c)
{
    int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    return (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c);
}

/* Parse a PNG file image; 0 on success. Every chunk's CRC is checked. */
static int png_read(const uint8_t *d, size_t len, png_info *pi)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', 13, 10, 26, 10};
    memset(pi, 0, sizeof *pi);
    if (len < 8 || memcmp(d, sig, 8)) return -1;
    uint8_t *z = NULL;
    size_t zlen = 0, at = 8;
    while (at + 12 <= len) {
        uint32_t n = be32(d + at);
        if (at + 12 + n > len) return -2;
        const uint8_t *type = d + at + 4, *data = d + at + 8;
        uLong crc = crc32(crc32(0, Z_NULL, 0), type, 4 + n);
        if (crc != be32(data + n)) return -3;
        if (!memcmp(type, "IHDR", 4)) {
            pi->w = be32(data), pi->h = be32(data + 4), pi->depth = data[8], pi->color = data[9];
            if (data[10] || data[11] || data[12]) return -4;
        } else if (!memcmp(type, "PLTE", 4)) {
            memcpy(pi->plte, data, n), pi->n_plte = n / 3;
        } else if (!memcmp(type, "tRNS", 4)) {
            memcpy(pi->trns, data, n), pi->n_trns = n;
        } else if (!memcmp(type, "IDAT", 4)) {
            z = realloc(z, zlen + n);
            memcpy(z + zlen, data, n);
            zlen += n;
            pi->n_idat++;
        } else if (!memcmp(type, "IEND", 4)) {
            pi->n_iend++;
            /* The CRC of an empty IEND is always AE 42 60 82. */
            if (n != 0 || be32(data) != 0xae426082u) return -5;
        }
        at += 12 + n;
    }
    if (at != len || pi->n_iend != 1) return -6;
    size_t bpp = (size_t)bpp_of(pi->color), row = pi->w * bpp;
    uLongf raw_len = (uLongf)((row + 1) * pi->h);
    uint8_t *raw = malloc(raw_len);
    int rc = uncompress(raw, &raw_len, z, zlen);
    free(z);
    if (rc != Z_OK || raw_len != (row + 1) * pi->h) {
        free(raw);
        return -7;
    }
    pi->pixels = calloc(row * pi->h, 1);
    for (uint32_t y = 0; y < pi->h; y++) {
        int f = raw[y * (row + 1)];
        const uint8_t *src = raw + y * (row + 1) + 1;
        uint8_t *cur = pi->pixels + y * row, *prev = y ? cur - row : NULL;
        pi->filters_used |= 1 << f;
        for (size_t i = 0; i < row; i++) {
            int a = i >= bpp ? cur[i - bpp] : 0, b = prev ? prev[i] : 0;
            int c = (prev && i >= bpp) ? prev[i - bpp] : 0, p;
            switch (f) {
            case 0: p = 0; break;
            case 1: p = a; break;
            case 2: p = b; break;
            case 3: p = (a + b) / 2; break;
            case 4: p = paeth_pred(a, b, c); break;
            default: free(raw); return -8;
            }
            cur[i] = (uint8_t)(src[i] + p);
        }
    }
    free(raw);
    return 0;
}

/* ---- PNG encoder ---------------------------------------------------------------- */

static void test_png_rgb_roundtrip(void **state)
{
    (void)state;
    /* 37 x 23 RGB: gradients (Sub/Up/Paeth win) and noise (None wins). */
    enum { W = 37, H = 23 };
    uint8_t px[W * H * 3];
    uint32_t seed = 12345;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint8_t *p = px + 3 * (y * W + x);
            seed = seed * 1103515245u + 12345u;
            p[0] = (uint8_t)(x * 7);
            p[1] = y < 12 ? (uint8_t)(y * 11 + x) : (uint8_t)(seed >> 16);
            p[2] = (uint8_t)(x * y);
        }
    fcs_png_image img = {W, H, FCS_PNG_RGB, px, 0, NULL, 0, NULL, 0};
    uint8_t *out;
    size_t len;
    fcs_error err;
    assert_int_equal(fcs_png_encode(&img, &out, &len, &err), FCS_OK);
    png_info pi;
    assert_int_equal(png_read(out, len, &pi), 0);
    assert_int_equal(pi.w, W);
    assert_int_equal(pi.h, H);
    assert_int_equal(pi.depth, 8);
    assert_int_equal(pi.color, 2);
    assert_int_equal(pi.n_idat, 1);
    assert_memory_equal(pi.pixels, px, sizeof px);
    /* The per-row choice used more than one filter type on this image. */
    assert_true(pi.filters_used & ~1);
    free(pi.pixels);
    /* A flipped bit anywhere in the IDAT data breaks its CRC. */
    out[8 + 25 + 8 + 3] ^= 0x10;
    assert_int_equal(png_read(out, len, &pi), -3);
    free(out);
}

static void test_png_palette_stride(void **state)
{
    (void)state;
    /* 5 x 3 palette image stored with a stride of 8 bytes per row. */
    uint8_t px[3 * 8] = {0, 1, 2, 1, 0, 9, 9, 9, 2, 2, 2, 2, 2, 9, 9, 9, 1, 0, 1, 0, 1, 9, 9, 9};
    uint8_t pal[9] = {255, 255, 255, 10, 20, 30, 200, 100, 50}, alpha[1] = {0};
    fcs_png_image img = {5, 3, FCS_PNG_PALETTE, px, 8, pal, 3, alpha, 1};
    uint8_t *out;
    size_t len;
    assert_int_equal(fcs_png_encode(&img, &out, &len, NULL), FCS_OK);
    png_info pi;
    assert_int_equal(png_read(out, len, &pi), 0);
    assert_int_equal(pi.color, 3);
    assert_int_equal(pi.n_plte, 3);
    assert_memory_equal(pi.plte, pal, 9);
    assert_int_equal(pi.n_trns, 1);
    assert_int_equal(pi.trns[0], 0);
    assert_int_equal(pi.filters_used, 1); /* palette rows: filter None only */
    for (int y = 0; y < 3; y++) assert_memory_equal(pi.pixels + 5 * y, px + 8 * y, 5);
    free(pi.pixels);
    free(out);
}

static void test_png_errors(void **state)
{
    (void)state;
    uint8_t px[16] = {0}, pal[3] = {0, 0, 0};
    uint8_t *out = (uint8_t *)1;
    size_t len = 7;
    fcs_error err;
    fcs_png_image img = {0, 1, FCS_PNG_RGB, px, 0, NULL, 0, NULL, 0};
    assert_int_equal(fcs_png_encode(&img, &out, &len, &err), FCS_EINVAL);
    assert_null(out);
    assert_non_null(strstr(err.msg, "size"));
    img = (fcs_png_image){2, 2, 5, px, 0, NULL, 0, NULL, 0};
    assert_int_equal(fcs_png_encode(&img, &out, &len, &err), FCS_EINVAL);
    img = (fcs_png_image){4, 2, FCS_PNG_RGB, px, 5, NULL, 0, NULL, 0}; /* stride < 12 */
    assert_int_equal(fcs_png_encode(&img, &out, &len, &err), FCS_EINVAL);
    assert_non_null(strstr(err.msg, "stride"));
    img = (fcs_png_image){2, 2, FCS_PNG_PALETTE, px, 0, pal, 0, NULL, 0};
    assert_int_equal(fcs_png_encode(&img, &out, &len, &err), FCS_EINVAL);
    img = (fcs_png_image){2, 2, FCS_PNG_PALETTE, px, 0, pal, 1, NULL, 2}; /* alpha > palette */
    assert_int_equal(fcs_png_encode(&img, &out, &len, &err), FCS_EINVAL);
    img = (fcs_png_image){2, 2, FCS_PNG_GRAY, NULL, 0, NULL, 0, NULL, 0};
    assert_int_equal(fcs_png_encode(&img, &out, &len, &err), FCS_EINVAL);
}

/* ---- colour map and levels ------------------------------------------------------- */

static double srgb_lin(double u)
{
    u /= 255;
    return u <= 0.04045 ? u / 12.92 : pow((u + 0.055) / 1.055, 2.4);
}

static double lightness(const uint8_t *c)
{
    double y = 0.2126 * srgb_lin(c[0]) + 0.7152 * srgb_lin(c[1]) + 0.0722 * srgb_lin(c[2]);
    return y > 216.0 / 24389 ? 116 * cbrt(y) - 16 : 24389.0 / 27 * y;
}

static void test_colormap(void **state)
{
    (void)state;
    const uint8_t *v = fcs_colormap_viridis();
    uint8_t first[3] = {0x44, 0x01, 0x54}, last[3] = {0xfd, 0xe7, 0x25},
            mid[3] = {0x21, 0x91, 0x8c};
    assert_memory_equal(v, first, 3);
    assert_memory_equal(v + 3 * 255, last, 3);
    /* viridis(0.5) = #21918c lies between entries 127 and 128; the table is
     * within 3 units of it (rounding and the lightness nudges). */
    for (int ch = 0; ch < 3; ch++) {
        assert_true(abs(v[3 * 127 + ch] - mid[ch]) <= 3);
        assert_true(abs(v[3 * 128 + ch] - mid[ch]) <= 3);
    }
    for (int i = 1; i < 256; i++) {
        double a = lightness(v + 3 * (i - 1)), b = lightness(v + 3 * i);
        if (!(b > a)) fprintf(stderr, "entry %d: L* %g after %g\n", i, b, a);
        assert_true(b > a);
    }
    assert_true(lightness(v) < 16 && lightness(v + 765) > 90);
}

static void test_density_levels(void **state)
{
    (void)state;
    assert_int_equal(fcs_density_level(0, 100, 0), 0);
    assert_int_equal(fcs_density_level(5, 0, 0), 0);
    assert_int_equal(fcs_density_level(1, 100, 0), 1);
    assert_int_equal(fcs_density_level(100, 100, 0), 255);
    assert_int_equal(fcs_density_level(10, 100, 0), 128); /* 1 + round(254 * 0.5) */
    assert_int_equal(fcs_density_level(10, 100, 1), 26);  /* 1 + round(25.4) */
    assert_int_equal(fcs_density_level(1, 100, 1), 4);    /* 1 + round(2.54) */
    assert_int_equal(fcs_density_level(1, 1, 0), 255);
    assert_int_equal(fcs_density_level(7, 3, 0), 255); /* above max: as max */
    const uint8_t *v = fcs_colormap_viridis();
    uint8_t rgb[3];
    fcs_density_color(1, rgb);
    assert_memory_equal(rgb, v, 3);
    fcs_density_color(255, rgb);
    assert_memory_equal(rgb, v + 765, 3);
    fcs_density_color(128, rgb); /* entry round(127 * 255 / 254) = round(127.5) = 128 */
    assert_memory_equal(rgb, v + 3 * 128, 3);
    fcs_density_color(2, rgb); /* entry round(255 / 254) = 1 */
    assert_memory_equal(rgb, v + 3, 3);
    fcs_density_color(0, rgb);
    assert_int_equal(rgb[0] & rgb[1] & rgb[2], 255);
}

/* ---- binning ---------------------------------------------------------------------- */

static void test_bin_rule(void **state)
{
    (void)state;
    assert_int_equal(fcs_hist_bin(0, 0, 10, 10, 1), 0);
    assert_int_equal(fcs_hist_bin(5, 0, 10, 10, 1), 5);
    assert_int_equal(fcs_hist_bin(9.999, 0, 10, 10, 1), 9);
    assert_int_equal(fcs_hist_bin(10, 0, 10, 10, 0), 9); /* hi itself: last bin, not off scale */
    assert_int_equal(fcs_hist_bin(10.5, 0, 10, 10, 1), 9);
    assert_int_equal(fcs_hist_bin(10.5, 0, 10, 10, 0), -1);
    assert_int_equal(fcs_hist_bin(-0.1, 0, 10, 10, 1), 0);
    assert_int_equal(fcs_hist_bin(-0.1, 0, 10, 10, 0), -1);
    assert_int_equal(fcs_hist_bin(-INFINITY, 0, 10, 10, 1), 0);
    assert_int_equal(fcs_hist_bin(INFINITY, 0, 10, 10, 1), 9);
    assert_int_equal(fcs_hist_bin(NAN, 0, 10, 10, 1), -1);
    assert_int_equal(fcs_hist_bin(2.5, 0, 10, 4, 1), 1); /* 2.5 / 10 * 4 = 1 exactly */
    assert_int_equal(fcs_hist_bin(2.4999, 0, 10, 4, 1), 0);
    assert_int_equal(fcs_hist_bin(-3, -4, -2, 2, 1), 1); /* (-3 + 4) / 2 * 2 = 1 */
    assert_int_equal(fcs_hist_bin(1, 1, 1, 4, 1), -1);   /* empty range */
}

static void test_hist_2d(void **state)
{
    (void)state;
    fcs_hist *h;
    fcs_error err;
    assert_int_equal(fcs_hist_new(&h, 0, 0, 1, 1, 0, 1, 1, &err), FCS_EINVAL);
    assert_int_equal(fcs_hist_new(&h, 2, 1, 1, 2, 0, 1, 1, &err), FCS_EINVAL);
    assert_int_equal(fcs_hist_new(&h, 2, 0, 2, 2, 0, 2, 1, &err), FCS_OK);
    double x[] = {0.5, 1.5, 1.5, 1.5, NAN, 3.0, 0.2, 1.0};
    double y[] = {0.5, 0.5, 1.5, 1.5, 1.0, 1.0, NAN, 2.0};
    assert_int_equal(fcs_hist_add(h, x, y, NULL, 8), FCS_OK);
    /* bins (ix, iy): (0,0) 1; (1,0) 1; (1,1) 2 + (3,1)->clamped (1,1) + (1,2)->(1,1) */
    const uint64_t *c = fcs_hist_counts(h);
    assert_int_equal(c[0], 1);
    assert_int_equal(c[1], 1);
    assert_int_equal(c[2], 0);
    assert_int_equal(c[3], 4);
    assert_int_equal(fcs_hist_max(h), 4);
    fcs_hist_tally t;
    fcs_hist_get_tally(h, &t);
    assert_int_equal(t.binned, 6);
    assert_int_equal(t.clamped, 1); /* 3.0; 1.0 and 2.0 are the upper bounds themselves */
    assert_int_equal(t.nan, 2);
    assert_int_equal(t.dropped, 0);
    uint8_t mask[] = {1, 0, 0, 0, 0, 0, 0, 0};
    assert_int_equal(fcs_hist_add(h, x, y, mask, 8), FCS_OK);
    assert_int_equal(fcs_hist_counts(h)[0], 2);
    assert_int_equal(fcs_hist_add(h, NULL, y, NULL, 1), FCS_EINVAL);
    fcs_hist_free(h);
    /* Dropping off-scale events. */
    assert_int_equal(fcs_hist_new(&h, 2, 0, 2, 2, 0, 2, 0, &err), FCS_OK);
    assert_int_equal(fcs_hist_add(h, x, y, NULL, 8), FCS_OK);
    fcs_hist_get_tally(h, &t);
    assert_int_equal(t.binned, 5);
    assert_int_equal(t.dropped, 1);
    assert_int_equal(fcs_hist_counts(h)[3], 3);
    fcs_hist_free(h);
}

static void test_hist_1d(void **state)
{
    (void)state;
    fcs_hist *h;
    assert_int_equal(fcs_hist_new(&h, 4, 0, 8, 1, NAN, NAN, 1, NULL), FCS_OK);
    double x[] = {0, 1.99, 2, 7.9, 8, -1, 100};
    assert_int_equal(fcs_hist_add(h, x, NULL, NULL, 7), FCS_OK);
    const uint64_t *c = fcs_hist_counts(h);
    assert_int_equal(fcs_hist_ny(h), 1);
    assert_int_equal(c[0], 3); /* 0, 1.99, -1 */
    assert_int_equal(c[1], 1);
    assert_int_equal(c[2], 0);
    assert_int_equal(c[3], 3); /* 7.9, 8, 100 */
    fcs_hist_free(h);
}

/* ---- ticks ------------------------------------------------------------------------- */

static size_t n_major(const fcs_plot_tick *t, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += t[i].major;
    return k;
}

/* The i-th major tick. */
static const fcs_plot_tick *major(const fcs_plot_tick *t, size_t n, size_t i)
{
    for (size_t j = 0; j < n; j++)
        if (t[j].major && i-- == 0) return &t[j];
    return NULL;
}

static void test_ticks_linear(void **state)
{
    (void)state;
    fcs_plot_tick t[256];
    size_t n;
    /* [0, 1000]: step >= 0.12 * 1000 -> 200; minors every 40. */
    assert_int_equal(fcs_plot_ticks(NULL, 0, 1000, 0.1, t, 256, &n), FCS_OK);
    assert_int_equal(n, 26);
    assert_int_equal(n_major(t, n), 6);
    static const char *lab[] = {"0", "200", "400", "600", "800", "1000"};
    for (int i = 0; i < 6; i++) {
        assert_string_equal(major(t, n, (size_t)i)->label, lab[i]);
        assert_true(major(t, n, (size_t)i)->pos == 200.0 * i);
    }
    assert_true(t[1].value == 40 && !t[1].major && t[1].label[0] == '\0');
    /* [0, 262144]: step 50000 (20000 < 31457), minors every 10000 up to 260000. */
    assert_int_equal(fcs_plot_ticks(NULL, 0, 262144, 0.1, t, 256, &n), FCS_OK);
    assert_int_equal(n, 27);
    assert_int_equal(n_major(t, n), 6);
    assert_string_equal(major(t, n, 5)->label, "250000");
    /* [-1, 1]: step 0.5, labels without binary noise. */
    assert_int_equal(fcs_plot_ticks(NULL, -1, 1, 0.1, t, 256, &n), FCS_OK);
    assert_int_equal(n, 21);
    static const char *lab2[] = {"-1", "-0.5", "0", "0.5", "1"};
    for (int i = 0; i < 5; i++) assert_string_equal(major(t, n, (size_t)i)->label, lab2[i]);
    assert_true(t[3].value == -0.7); /* 7/10, not 3 * 0.1 added up */
    /* A larger min_gap wins over the eighth of the axis: [0, 10], gap 0.3 -> step 5. */
    assert_int_equal(fcs_plot_ticks(NULL, 0, 10, 0.3, t, 256, &n), FCS_OK);
    assert_int_equal(n_major(t, n), 3);
    assert_string_equal(major(t, n, 2)->label, "10");
    /* A linear transform: positions 2v + 1, ticks still in data values. */
    fcs_transform *lin;
    assert_int_equal(fcs_transform_new_linear(2, 1, &lin, NULL), FCS_OK);
    fcs_plot_scale s = {NULL, lin};
    assert_int_equal(fcs_plot_ticks(&s, 1, 2001, 0.1, t, 256, &n), FCS_OK);
    assert_int_equal(n_major(t, n), 6);
    assert_string_equal(major(t, n, 1)->label, "200");
    assert_true(major(t, n, 1)->pos == 401);
    /* Too little room, bad arguments. */
    assert_int_equal(fcs_plot_ticks(NULL, 0, 1000, 0.1, t, 5, &n), FCS_ERANGE);
    assert_int_equal(n, 26);
    assert_int_equal(fcs_plot_ticks(NULL, 0, 1000, 0.001, t, 256, &n), FCS_EINVAL);
    assert_int_equal(fcs_plot_ticks(NULL, 5, 5, 0.1, t, 256, &n), FCS_EINVAL);
    assert_int_equal(fcs_plot_ticks(NULL, 0, INFINITY, 0.1, t, 256, &n), FCS_EINVAL);
    /* Huge values: labels in %g form, never truncated digits. */
    assert_int_equal(fcs_plot_ticks(NULL, 0, 4e15, 0.1, t, 256, &n), FCS_OK);
    assert_string_equal(major(t, n, 1)->label, "5e+14");
    fcs_transform_free(lin);
}

static void test_ticks_log(void **state)
{
    (void)state;
    fcs_transform *lg;
    assert_int_equal(fcs_transform_new_log(10, &lg, NULL), FCS_OK);
    fcs_plot_scale s = {NULL, lg};
    fcs_plot_tick t[256];
    size_t n;
    /* [0, 3] = 1 .. 1000: 4 decades labelled, 8 minors in each of 3 decades. */
    assert_int_equal(fcs_plot_ticks(&s, 0, 3, 0.1, t, 256, &n), FCS_OK);
    assert_int_equal(n, 28);
    assert_int_equal(n_major(t, n), 4);
    static const char *lab[] = {"10^0", "10^1", "10^2", "10^3"};
    for (int i = 0; i < 4; i++) {
        assert_string_equal(major(t, n, (size_t)i)->label, lab[i]);
        assert_close(major(t, n, (size_t)i)->pos, i, 1e-15);
    }
    assert_true(t[1].value == 2 && !t[1].major);
    assert_close(t[1].pos, 0.30102999566398120, 1e-15);
    assert_true(t[n - 2].value == 900);
    /* 30 decades on the axis (1/30 each, gap 0.09): every third labelled
     * from the top, no minors (decades shorter than 2 gaps). */
    assert_int_equal(fcs_plot_ticks(&s, 0, 30, 0.09, t, 256, &n), FCS_OK);
    assert_int_equal(n, 11);
    assert_string_equal(t[0].label, "10^0");
    assert_string_equal(t[1].label, "10^3");
    assert_string_equal(t[10].label, "10^30");
    /* Below one: negative exponents. */
    assert_int_equal(fcs_plot_ticks(&s, -2.5, 0, 0.1, t, 256, &n), FCS_OK);
    assert_string_equal(major(t, n, 0)->label, "10^-2");
    assert_true(major(t, n, 0)->value == 0.01);
    fcs_transform_free(lg);
}

static void test_ticks_logicle(void **state)
{
    (void)state;
    fcs_transform *t;
    fcs_logicle_params lp = {262144, 0.5, 4.5, 0};
    assert_int_equal(fcs_transform_new_logicle(&lp, &t, NULL), FCS_OK);
    fcs_plot_scale s = {NULL, t};
    fcs_plot_tick k[256];
    size_t n;
    /* Positions from a bisection on the Gating-ML 2.0 logicle (Python):
     *   0 -> 0.1111111111111111 (x1 = W/(M+A)), 10^2 -> 0.21318108753019682,
     *   10^3 -> 0.45433757617239867, 10^4 -> 0.6838326572265574,
     *   10^5 -> 0.9069275914814587, -10^2 -> 0.009041134692025402,
     *   10^1 -> 0.1223042756774482; y = 0 is data -110.87459125896834.
     * gap 0.1: 10^1 is 0.011 from zero (dropped, and every decade below);
     * 10^2 and -10^2 are 0.102 from it (kept). Minors: 2e5 (the top decade,
     * up to T), 2..9 x 10^4, 10^3, 10^2 (decades 0.22-0.24 long >= 0.2);
     * none in 10..100 (0.09 long) nor below -100 (off the axis). */
    assert_int_equal(fcs_plot_ticks(&s, 0, 1, 0.1, k, 256, &n), FCS_OK);
    assert_int_equal(n_major(k, n), 6);
    assert_int_equal(n, 6 + 1 + 8 + 8 + 8);
    static const char *lab[] = {"-10^2", "0", "10^2", "10^3", "10^4", "10^5"};
    static const double pos[] = {0.009041134692025402, 0.1111111111111111, 0.21318108753019682,
                                 0.45433757617239867,  0.6838326572265574, 0.9069275914814587};
    for (int i = 0; i < 6; i++) {
        assert_string_equal(major(k, n, (size_t)i)->label, lab[i]);
        assert_close(major(k, n, (size_t)i)->pos, pos[i], 1e-9);
    }
    assert_true(k[n - 1].value == 200000 && !k[n - 1].major);
    /* gap 0.11: 10^2 and -10^2 now crowd zero. */
    assert_int_equal(fcs_plot_ticks(&s, 0, 1, 0.11, k, 256, &n), FCS_OK);
    assert_int_equal(n_major(k, n), 4);
    assert_string_equal(major(k, n, 0)->label, "0");
    assert_string_equal(major(k, n, 1)->label, "10^3");
    /* The same scale as the stream's own transform (already applied). */
    fcs_plot_scale st = {t, NULL};
    assert_int_equal(fcs_plot_ticks(&st, 0, 1, 0.1, k, 256, &n), FCS_OK);
    assert_int_equal(n_major(k, n), 6);
    assert_int_equal(fcs_plot_scale_kind(&st), FCS_TRANSFORM_LOGICLE);
    fcs_transform_free(t);
}

static void test_ticks_asinh(void **state)
{
    (void)state;
    fcs_transform *t;
    assert_int_equal(fcs_transform_new_asinh(150, &t, NULL), FCS_OK);
    fcs_plot_scale s = {NULL, t};
    fcs_plot_tick k[256];
    size_t n;
    /* Axis [-2, asinh(262144/150) = 8.159161218397218], 10.16 long; gap 0.1.
     * asinh(10^k/150): 10^2 0.6251 (0.0615 of the axis from zero: dropped),
     * 10^3 2.5958, 10^4 4.8929, 10^5 7.1954; decades 0.226 long -> minors in
     * 10^3..10^5 and 2e5; -100 (-0.6251) also crowds zero. */
    assert_int_equal(fcs_plot_ticks(&s, -2, 8.159161218397218, 0.1, k, 256, &n), FCS_OK);
    assert_int_equal(n_major(k, n), 4);
    assert_int_equal(n, 4 + 1 + 8 + 8);
    assert_string_equal(major(k, n, 0)->label, "0");
    assert_string_equal(major(k, n, 1)->label, "10^3");
    assert_close(major(k, n, 1)->pos, 2.595845289149679, 1e-12);
    assert_close(major(k, n, 3)->pos, 7.195437913933444, 1e-12);
    assert_true(k[0].value == 0);
    fcs_transform_free(t);
}

/* ---- the picture ---------------------------------------------------------------------- */

/* The first occurrence of attribute name="..." at or after s, copied. */
static char *attr(const char *s, const char *name)
{
    char key[64];
    snprintf(key, sizeof key, " %s=\"", name);
    const char *a = strstr(s, key);
    if (!a) return NULL;
    a += strlen(key);
    const char *e = strchr(a, '"');
    return strndup(a, (size_t)(e - a));
}

static uint8_t *b64_decode(const char *s, size_t *len)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(s);
    uint8_t *out = malloc(n / 4 * 3 + 3);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n && s[i] != '='; i++) {
        const char *p = strchr(tab, s[i]);
        if (!p) continue;
        acc = acc << 6 | (uint32_t)(p - tab);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    *len = o;
    return out;
}

static fcs_plot *new_plot(double xlo, double xhi, double ylo, double yhi, int two_d,
                          const fcs_transform *ty)
{
    fcs_plot_axis ax = {"X <&> \xe9t\x01", {NULL, NULL}, xlo, xhi};
    fcs_plot_axis ay = {"Y", {NULL, ty}, ylo, yhi};
    fcs_plot_opts o;
    fcs_plot_opts_init(&o);
    o.bins = 4;
    o.title = "t";
    fcs_plot *p = NULL;
    assert_int_equal(fcs_plot_new(&p, &ax, two_d ? &ay : NULL, &o, NULL), FCS_OK);
    return p;
}

static void test_plot_density_svg(void **state)
{
    (void)state;
    fcs_plot *p = new_plot(0, 4, 0, 4, 1, NULL);
    /* bins of width 1: (0,0) x1, (1,0) x3, (3,3) x9 */
    double x[13] = {0.5, 1.5, 1.5, 1.5}, y[13] = {0.5, 0.5, 0.5, 0.5};
    for (int i = 4; i < 13; i++) x[i] = 3.5, y[i] = 3.9;
    assert_int_equal(fcs_plot_add_events(p, x, y, NULL, 13), FCS_OK);
    char lab[64];
    assert_int_equal(fcs_plot_gate_label(lab, sizeof lab, "R1", 9, 9 * 100.0 / 13), 12);
    assert_string_equal(lab, "R1 9 (69.2%)");
    assert_int_equal(fcs_plot_rectangle(p, NULL, NULL, 3, NAN, 3, 4, lab), FCS_OK);
    char *svg;
    size_t len;
    assert_int_equal(fcs_plot_svg(p, &svg, &len), FCS_OK);
    assert_int_equal(strlen(svg), len);
    assert_non_null(strstr(svg, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg "));
    assert_non_null(strstr(svg, ">R1 9 (69.2%)</text>"));
    /* Escaped markup, Latin-1 byte as UTF-8, control byte as U+FFFD. */
    assert_non_null(strstr(svg, ">X &lt;&amp;&gt; \xc3\xa9t\xef\xbf\xbd</text>"));
    /* The density image: 4 x 4 palette PNG, top row = highest y. */
    const char *img = strstr(svg, "class=\"density\"");
    assert_non_null(img);
    char *href = attr(img, "xlink:href");
    assert_non_null(href);
    assert_true(strncmp(href, "data:image/png;base64,", 22) == 0);
    size_t n;
    uint8_t *png = b64_decode(href + 22, &n);
    png_info pi;
    assert_int_equal(png_read(png, n, &pi), 0);
    assert_int_equal(pi.w, 4);
    assert_int_equal(pi.h, 4);
    assert_int_equal(pi.color, 3);
    assert_int_equal(pi.n_plte, 256);
    assert_int_equal(pi.n_trns, 1);
    assert_int_equal(pi.trns[0], 0); /* index 0: empty bins, transparent */
    uint8_t want[16] = {0};
    want[0 * 4 + 3] = 255;                                          /* (3,3): 9 = max */
    want[3 * 4 + 0] = 1;                                            /* (0,0): 1 */
    want[3 * 4 + 1] = (uint8_t)(1 + lround(254 * log(3) / log(9))); /* (1,0): 3 -> 128 */
    assert_memory_equal(pi.pixels, want, 16);
    uint8_t rgb[3];
    fcs_density_color(128, rgb);
    assert_memory_equal(pi.plte + 3 * 128, rgb, 3);
    free(pi.pixels);
    free(png);
    free(href);
    /* The rectangle: x from 3 to the open side, y 3..4 -> one closed path. */
    const char *g = strstr(svg, "class=\"gate\"");
    assert_non_null(g);
    free(svg);
    fcs_plot_free(p);
}

/* Points of the first path of class cls, as SVG coordinates. */
static size_t path_points(const char *svg, const char *cls, double *xy, size_t max)
{
    char key[64];
    snprintf(key, sizeof key, "class=\"%s\" d=\"", cls);
    const char *d = strstr(svg, key);
    if (!d) return 0;
    d += strlen(key);
    size_t n = 0;
    while (*d && *d != '"' && n < max) {
        if (*d == 'M' || *d == 'L') {
            double a, b;
            int used;
            if (sscanf(d + 1, "%lf %lf%n", &a, &b, &used) != 2) break;
            xy[2 * n] = a, xy[2 * n + 1] = b;
            n++;
            d += 1 + used;
        } else {
            d++;
        }
    }
    return n;
}

static void test_plot_ellipse_contour(void **state)
{
    (void)state;
    fcs_plot *p = new_plot(0, 10, 0, 10, 1, NULL);
    double m[2] = {5, 4}, c[4] = {4, 1, 1, 2}, d2 = 1.5;
    assert_int_equal(fcs_plot_ellipse(p, NULL, NULL, m, c, d2, "E 1 (1.0%)"), FCS_OK);
    double bad[4] = {1, 2, 2, 1}; /* indefinite */
    assert_int_equal(fcs_plot_ellipse(p, NULL, NULL, m, bad, 1, "x"), FCS_EINVAL);
    assert_non_null(strstr(fcs_plot_errmsg(p), "positive definite"));
    char *svg;
    size_t len;
    assert_int_equal(fcs_plot_svg(p, &svg, &len), FCS_OK);
    static double xy[2 * 1024];
    size_t n = path_points(svg, "gate", xy, 1024);
    assert_int_equal(n, 256);
    /* Plot area: x 80 .. 80 + 424, y 36 .. 36 + 446 (600 x 540, 2-D margins). */
    double ci[4] = {2 / 7.0, -1 / 7.0, -1 / 7.0, 4 / 7.0}; /* C^-1 */
    for (size_t i = 0; i < n; i++) {
        double gx = (xy[2 * i] - 80) / 424 * 10 - m[0];
        double gy = (36 + 446 - xy[2 * i + 1]) / 446 * 10 - m[1];
        double q = gx * (ci[0] * gx + ci[1] * gy) + gy * (ci[2] * gx + ci[3] * gy);
        assert_close(q, d2, 0.01); /* coordinates are printed to 0.01 unit */
    }
    free(svg);
    fcs_plot_free(p);
}

static void test_plot_polygon_transforms(void **state)
{
    (void)state;
    fcs_transform *lg;
    assert_int_equal(fcs_transform_new_log(10, &lg, NULL), FCS_OK);
    /* y displayed on log10, positions 0..4 (values 1..10^4). */
    fcs_plot *p = new_plot(0, 10, 0, 4, 1, lg);
    double tri[6] = {1, 10, 9, 10, 5, 1000};
    /* On the values (gy NULL): straight edges become curves on the log axis. */
    assert_int_equal(fcs_plot_polygon(p, NULL, NULL, 3, tri, "P"), FCS_OK);
    /* Already in log10 units (gy = the display transform): drawn as given. */
    double tri2[6] = {1, 1, 9, 1, 5, 3};
    assert_int_equal(fcs_plot_polygon(p, NULL, lg, 3, tri2, "Q"), FCS_OK);
    assert_int_equal(fcs_plot_polygon(p, NULL, NULL, 2, tri, "short"), FCS_EINVAL);
    double nan_tri[6] = {1, NAN, 2, 2, 3, 3};
    assert_int_equal(fcs_plot_polygon(p, NULL, NULL, 3, nan_tri, "n"), FCS_EINVAL);
    char *svg;
    size_t len;
    assert_int_equal(fcs_plot_svg(p, &svg, &len), FCS_OK);
    static double xy[2 * 1024];
    assert_int_equal(path_points(svg, "gate", xy, 1024), 3 * 64);
    /* The vertex (5, 1000) is at log10 3 either way. */
    int found = 0;
    for (size_t i = 0; i < 3 * 64; i++)
        found |= fabs(xy[2 * i] - (80 + 0.5 * 424)) < 0.01 &&
                 fabs(xy[2 * i + 1] - (36 + 446 * 0.25)) < 0.01;
    assert_true(found);
    const char *second = strstr(strstr(svg, "class=\"gate\"") + 1, "class=\"gate\"");
    assert_non_null(second);
    assert_int_equal(path_points(second, "gate", xy, 1024), 3);
    free(svg);
    fcs_plot_free(p);
    fcs_transform_free(lg);
}

static void test_plot_histogram_png(void **state)
{
    (void)state;
    fcs_plot *p = new_plot(0, 8, 0, 0, 0, NULL);
    double x[6] = {1, 1, 3, 5, 7, 7.5};
    uint8_t mask[6] = {1, 1, 1, 1, 1, 0};
    assert_int_equal(fcs_plot_add_events(p, x, NULL, mask, 6), FCS_OK);
    const uint64_t *c = fcs_hist_counts(fcs_plot_hist(p));
    assert_int_equal(c[0], 2);
    assert_int_equal(c[1], 1);
    assert_int_equal(c[2], 1);
    assert_int_equal(c[3], 1);
    assert_int_equal(fcs_plot_rectangle(p, NULL, NULL, 2, 6, NAN, NAN, "R 2 (40.0%)"), FCS_OK);
    assert_int_equal(fcs_plot_divider(p, 0, NULL, 4), FCS_OK);
    assert_int_equal(fcs_plot_divider(p, 1, NULL, 4), FCS_EINVAL); /* no y axis */
    assert_int_equal(fcs_plot_polygon(p, NULL, NULL, 3, x, "P"), FCS_EINVAL);
    assert_int_equal(fcs_plot_note(p, "a note"), FCS_OK);
    char *svg;
    size_t len;
    assert_int_equal(fcs_plot_svg(p, &svg, &len), FCS_OK);
    assert_non_null(strstr(svg, "class=\"histogram\""));
    assert_non_null(strstr(svg, ">a note</text>"));
    assert_non_null(strstr(svg, ">R 2 (40.0%)</text>"));
    assert_null(strstr(svg, "class=\"density\""));
    free(svg);
    uint8_t *png;
    assert_int_equal(fcs_plot_png(p, &png, &len), FCS_OK);
    png_info pi;
    assert_int_equal(png_read(png, len, &pi), 0);
    assert_int_equal(pi.w, 1200);
    assert_int_equal(pi.h, 1080);
    assert_int_equal(pi.color, 2);
    /* Background white in the corner, black frame at the plot area's left edge. */
    assert_int_equal(pi.pixels[0] & pi.pixels[1] & pi.pixels[2], 255);
    const uint8_t *frame = pi.pixels + 3 * ((size_t)(2 * 200) * 1200 + 2 * 80);
    assert_true(frame[0] < 100 && frame[1] < 100 && frame[2] < 100);
    free(pi.pixels);
    free(png);
    fcs_plot_free(p);
}

static void test_plot_offscale_notes(void **state)
{
    (void)state;
    fcs_plot *p = new_plot(0, 1, 0, 1, 1, NULL);
    double x[4] = {0.5, 2, NAN, -3}, y[4] = {0.5, 0.5, 0.5, 0.5};
    assert_int_equal(fcs_plot_add_events(p, x, y, NULL, 4), FCS_OK);
    char *svg;
    size_t len;
    assert_int_equal(fcs_plot_svg(p, &svg, &len), FCS_OK);
    assert_non_null(strstr(svg, ">2 events off scale, shown on the edges of the plot</text>"));
    assert_non_null(
        strstr(svg, ">1 events have no position on these scales (NaN), not shown</text>"));
    free(svg);
    fcs_plot_free(p);
}

static void test_plot_errors(void **state)
{
    (void)state;
    fcs_plot *p = (fcs_plot *)1;
    fcs_error err;
    fcs_plot_axis ax = {"x", {NULL, NULL}, 1, 1};
    assert_int_equal(fcs_plot_new(&p, &ax, NULL, NULL, &err), FCS_EINVAL);
    assert_null(p);
    assert_non_null(strstr(err.msg, "x axis"));
    fcs_transform *lg;
    assert_int_equal(fcs_transform_new_log(10, &lg, NULL), FCS_OK);
    fcs_plot_axis al = {"x", {lg, NULL}, -1, 3}; /* position -1 = data 0.1: fine */
    fcs_plot_opts o;
    fcs_plot_opts_init(&o);
    o.bins = 1;
    assert_int_equal(fcs_plot_new(&p, &al, NULL, &o, &err), FCS_EINVAL);
    assert_non_null(strstr(err.msg, "bins"));
    o.bins = 256;
    o.width = 100;
    assert_int_equal(fcs_plot_new(&p, &al, NULL, &o, &err), FCS_EINVAL);
    assert_int_equal(fcs_plot_new(&p, &al, NULL, NULL, &err), FCS_OK);
    assert_int_equal(fcs_plot_rectangle(p, NULL, NULL, 5, 1, NAN, NAN, "r"), FCS_EINVAL);
    for (int i = 0; i < 8; i++) assert_int_equal(fcs_plot_note(p, "n"), FCS_OK);
    assert_int_equal(fcs_plot_note(p, "n"), FCS_ERANGE);
    assert_int_equal(fcs_plot_set_title(p, "new title"), FCS_OK);
    char *svg;
    size_t len;
    assert_int_equal(fcs_plot_svg(p, &svg, &len), FCS_OK);
    assert_non_null(strstr(svg, "<title>new title</title>"));
    free(svg);
    fcs_plot_free(p);
    fcs_transform_free(lg);
    fcs_plot_free(NULL);
    fcs_hist_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_png_rgb_roundtrip),
        cmocka_unit_test(test_png_palette_stride),
        cmocka_unit_test(test_png_errors),
        cmocka_unit_test(test_colormap),
        cmocka_unit_test(test_density_levels),
        cmocka_unit_test(test_bin_rule),
        cmocka_unit_test(test_hist_2d),
        cmocka_unit_test(test_hist_1d),
        cmocka_unit_test(test_ticks_linear),
        cmocka_unit_test(test_ticks_log),
        cmocka_unit_test(test_ticks_logicle),
        cmocka_unit_test(test_ticks_asinh),
        cmocka_unit_test(test_plot_density_svg),
        cmocka_unit_test(test_plot_ellipse_contour),
        cmocka_unit_test(test_plot_polygon_transforms),
        cmocka_unit_test(test_plot_histogram_png),
        cmocka_unit_test(test_plot_offscale_notes),
        cmocka_unit_test(test_plot_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
