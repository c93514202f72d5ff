/*
 * png.c — a minimal PNG encoder (PNG 1.2 / ISO 15948): IHDR, PLTE and tRNS
 * for palette images, one IDAT holding the zlib stream of the filtered
 * scanlines, IEND. zlib (already a libfcs dependency) does the deflate and
 * the chunk CRCs (crc32), so no new dependency is needed.
 *
 * Filters (PNG section 9): palette and grey images use filter type 0 (None)
 * on every row, as the specification recommends for them; truecolour rows
 * pick, per row, the filter whose output has the smallest sum of absolute
 * values taken as signed bytes (the heuristic of the specification's
 * section 12.8). Scanlines are filtered and deflated one at a time, so the
 * memory beyond the output is two rows.
 */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "fcs/plot.h"
#include "internal.h"

/* The largest value a 4-byte PNG length or dimension may hold (2^31 - 1). */
#define PNG_MAX_U31 0x7fffffffu

typedef struct outbuf {
    uint8_t *data;
    size_t len, cap;
} outbuf;

static int out_reserve(outbuf *o, size_t extra)
{
    if (extra <= o->cap - o->len) return 0;
    size_t cap = o->cap ? o->cap : 4096;
    while (cap - o->len < extra) {
        if (cap > SIZE_MAX / 2) return -1;
        cap *= 2;
    }
    uint8_t *d = realloc(o->data, cap);
    if (!d) return -1;
    o->data = d;
    o->cap = cap;
    return 0;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Start a chunk: length placeholder and type; returns the offset of the
 * length field, or (size_t)-1 when out of memory. */
static size_t chunk_begin(outbuf *o, const char type[4])
{
    if (out_reserve(o, 8)) return (size_t)-1;
    size_t at = o->len;
    memset(o->data + at, 0, 4);
    memcpy(o->data + at + 4, type, 4);
    o->len += 8;
    return at;
}

/* Finish the chunk started at `at`: fill its length and append the CRC of
 * type + data (PNG section 5.3). */
static int chunk_end(outbuf *o, size_t at)
{
    size_t n = o->len - at - 8;
    if (n > PNG_MAX_U31 || out_reserve(o, 4)) return -1;
    put_u32(o->data + at, (uint32_t)n);
    uLong crc = crc32(0L, Z_NULL, 0);
    /* crc32 takes a uInt length: feed large chunks in pieces. */
    const uint8_t *p = o->data + at + 4;
    for (size_t left = n + 4; left > 0;) {
        uInt step = left > (1u << 30) ? (1u << 30) : (uInt)left;
        crc = crc32(crc, p, step);
        p += step;
        left -= step;
    }
    put_u32(o->data + o->len, (uint32_t)crc);
    o->len += 4;
    return 0;
}

static int chunk_bytes(outbuf *o, const char type[4], const uint8_t *data, size_t n)
{
    size_t at = chunk_begin(o, type);
    if (at == (size_t)-1 || out_reserve(o, n)) return -1;
    if (n) memcpy(o->data + o->len, data, n);
    o->len += n;
    return chunk_end(o, at);
}

static int channels_of(int color)
{
    switch (color) {
    case FCS_PNG_GRAY: return 1;
    case FCS_PNG_RGB: return 3;
    case FCS_PNG_PALETTE: return 1;
    case FCS_PNG_RGBA: return 4;
    default: return 0;
    }
}

static int check_image(const fcs_png_image *img, size_t *row_bytes, fcs_error *err)
{
    int ch = channels_of(img->color);
    if (!ch) return fcs_error_set(err, FCS_EINVAL, "png: unknown colour type %d", img->color);
    if (img->width == 0 || img->height == 0 || img->width > PNG_MAX_U31 ||
        img->height > PNG_MAX_U31)
        return fcs_error_set(err, FCS_EINVAL, "png: image size %ux%u out of range", img->width,
                             img->height);
    uint64_t rb;
    if (fcs_mul_ok(img->width, (uint64_t)ch, &rb) || rb >= SIZE_MAX / 2)
        return fcs_error_set(err, FCS_EINVAL, "png: rows of %u pixels are too long", img->width);
    if (!img->pixels) return fcs_error_set(err, FCS_EINVAL, "png: no pixels");
    if (img->stride && img->stride < rb)
        return fcs_error_set(err, FCS_EINVAL, "png: stride %zu below the row length %llu",
                             img->stride, (unsigned long long)rb);
    if (img->color == FCS_PNG_PALETTE) {
        if (!img->palette || img->n_palette == 0 || img->n_palette > 256)
            return fcs_error_set(err, FCS_EINVAL, "png: palette of %zu entries (1..256 needed)",
                                 img->n_palette);
        if (img->n_alpha > img->n_palette || (img->n_alpha && !img->alpha))
            return fcs_error_set(err, FCS_EINVAL, "png: %zu alpha values for %zu palette entries",
                                 img->n_alpha, img->n_palette);
    }
    *row_bytes = (size_t)rb;
    return FCS_OK;
}

static int write_header(outbuf *o, const fcs_png_image *img)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    uint8_t ihdr[13];
    if (out_reserve(o, sizeof sig)) return -1;
    memcpy(o->data, sig, sizeof sig);
    o->len = sizeof sig;
    put_u32(ihdr, img->width);
    put_u32(ihdr + 4, img->height);
    ihdr[8] = 8;                   /* bit depth */
    ihdr[9] = (uint8_t)img->color; /* colour type */
    ihdr[10] = 0;                  /* compression: deflate */
    ihdr[11] = 0;                  /* filter method 0 */
    ihdr[12] = 0;                  /* no interlace */
    if (chunk_bytes(o, "IHDR", ihdr, sizeof ihdr)) return -1;
    if (img->color != FCS_PNG_PALETTE) return 0;
    uint8_t plte[768];
    memcpy(plte, img->palette, img->n_palette * 3);
    if (chunk_bytes(o, "PLTE", plte, img->n_palette * 3)) return -1;
    if (img->n_alpha && chunk_bytes(o, "tRNS", img->alpha, img->n_alpha)) return -1;
    return 0;
}

static uint8_t paeth(int a, int b, int c)
{
    int p = a + b - c;
    int pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    if (pa <= pb && pa <= pc) return (uint8_t)a;
    return (uint8_t)(pb <= pc ? b : c);
}

/* Filter row `cur` (previous row `prev`, zeros for the first) with filter
 * type f into out[0..n] (out[0] = f). bpp: bytes per pixel. */
static void filter_row(int f, const uint8_t *cur, const uint8_t *prev, size_t n, size_t bpp,
                       uint8_t *out)
{
    out[0] = (uint8_t)f;
    for (size_t i = 0; i < n; i++) {
        int a = i >= bpp ? cur[i - bpp] : 0, b = prev[i], c = i >= bpp ? prev[i - bpp] : 0;
        int pred = 0;
        switch (f) {
        case 1: pred = a; break;
        case 2: pred = b; break;
        case 3: pred = (a + b) / 2; break;
        case 4: pred = paeth(a, b, c); break;
        default: break;
        }
        out[i + 1] = (uint8_t)(cur[i] - pred);
    }
}

static uint64_t row_cost(const uint8_t *f, size_t n)
{
    uint64_t s = 0;
    for (size_t i = 1; i <= n; i++) s += f[i] < 128 ? f[i] : 256 - f[i];
    return s;
}

/* The filtered row to deflate: None for palette and grey images, else the
 * cheapest of the five filters. best and trial hold n + 1 bytes. */
static const uint8_t *choose_filter(const fcs_png_image *img, const uint8_t *cur,
                                    const uint8_t *prev, size_t n, uint8_t *best, uint8_t *trial)
{
    size_t bpp = (size_t)channels_of(img->color);
    filter_row(0, cur, prev, n, bpp, best);
    if (img->color == FCS_PNG_PALETTE || img->color == FCS_PNG_GRAY) return best;
    uint64_t best_cost = row_cost(best, n);
    for (int f = 1; f <= 4; f++) {
        filter_row(f, cur, prev, n, bpp, trial);
        uint64_t c = row_cost(trial, n);
        if (c < best_cost) {
            best_cost = c;
            memcpy(best, trial, n + 1);
        }
    }
    return best;
}

/* Deflate `len` bytes (flush: Z_NO_FLUSH or Z_FINISH) into the output. */
static int deflate_into(z_stream *z, outbuf *o, const uint8_t *data, size_t len, int flush)
{
    z->next_in = (Bytef *)(uintptr_t)data;
    z->avail_in = (uInt)len;
    for (;;) {
        if (out_reserve(o, 65536)) return -1;
        z->next_out = o->data + o->len;
        z->avail_out = 65536;
        int rc = deflate(z, flush);
        o->len += 65536 - z->avail_out;
        if (rc == Z_STREAM_END) return 0;
        if (rc != Z_OK && rc != Z_BUF_ERROR) return -1;
        if (z->avail_in == 0 && z->avail_out != 0 && flush != Z_FINISH) return 0;
    }
}

static int write_idat(outbuf *o, const fcs_png_image *img, size_t row_bytes)
{
    size_t stride = img->stride ? img->stride : row_bytes;
    uint8_t *zero = calloc(row_bytes, 1), *best = malloc(row_bytes + 1),
            *trial = malloc(row_bytes + 1);
    z_stream z;
    memset(&z, 0, sizeof z);
    int rc = (!zero || !best || !trial || deflateInit(&z, 9) != Z_OK) ? -1 : 0;
    size_t at = rc ? (size_t)-1 : chunk_begin(o, "IDAT");
    if (at == (size_t)-1) rc = -1;
    for (uint32_t y = 0; rc == 0 && y < img->height; y++) {
        const uint8_t *cur = img->pixels + (size_t)y * stride;
        const uint8_t *prev = y ? cur - stride : zero;
        const uint8_t *f = choose_filter(img, cur, prev, row_bytes, best, trial);
        /* Rows longer than uInt can hold do not occur: checked in check_image. */
        rc = deflate_into(&z, o, f, row_bytes + 1, Z_NO_FLUSH);
    }
    if (rc == 0) rc = deflate_into(&z, o, NULL, 0, Z_FINISH);
    if (rc == 0) rc = chunk_end(o, at);
    deflateEnd(&z);
    free(zero);
    free(best);
    free(trial);
    return rc;
}

int fcs_png_encode(const fcs_png_image *img, uint8_t **out, size_t *len, fcs_error *err)
{
    size_t row_bytes = 0;
    if (!img || !out || !len) return fcs_error_set(err, FCS_EINVAL, "png: NULL argument");
    *out = NULL;
    *len = 0;
    int rc = check_image(img, &row_bytes, err);
    if (rc) return rc;
    if (row_bytes + 1 > 0x7fffffffu)
        return fcs_error_set(err, FCS_EINVAL, "png: rows of %zu bytes are too long", row_bytes);
    outbuf o = {NULL, 0, 0};
    if (write_header(&o, img) || write_idat(&o, img, row_bytes) ||
        chunk_bytes(&o, "IEND", NULL, 0)) {
        free(o.data);
        return fcs_error_set(err, FCS_ENOMEM,
                             "png: out of memory (or image over 2 GiB compressed)");
    }
    *out = o.data;
    *len = o.len;
    fcs_error_clear(err);
    return FCS_OK;
}
