/*
 * decode.c — DATA decoding loops (see decode.h).
 *
 * Hot paths: uniform float32/float64/uint16/uint32 layouts in either byte
 * order. Each is a separate small loop with the byte swap decided outside
 * the loop, so the compiler can vectorise it; native float32 into float is
 * a memcpy.
 */
#include "decode.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define HOST_BIG 1
#else
#define HOST_BIG 0
#endif

int fcs_layout_finish(fcs_layout *L)
{
    uint64_t off = 0;
    int any_mask = 0;
    for (size_t j = 0; j < L->n; j++) {
        fcs_col *c = &L->cols[j];
        if (off > UINT32_MAX) return -1;
        c->offset = (uint32_t)off;
        off += c->width;
        if (c->kind == FCS_COL_UINT && c->mask != UINT64_MAX) any_mask = 1;
    }
    L->event_bytes = (size_t)off;
    L->any_mask = any_mask;
    L->uniform = FCS_UNI_NONE;
    L->swap = 0;
    if (L->n == 0) return 0;
    const fcs_col *c0 = &L->cols[0];
    for (size_t j = 1; j < L->n; j++) {
        const fcs_col *c = &L->cols[j];
        if (c->kind != c0->kind || c->width != c0->width || c->big != c0->big) return 0;
    }
    L->swap = (c0->big != HOST_BIG) && c0->width > 1;
    switch (c0->kind) {
    case FCS_COL_F32: L->uniform = FCS_UNI_F32; break;
    case FCS_COL_F64: L->uniform = FCS_UNI_F64; break;
    case FCS_COL_UINT:
        if (c0->width == 1) L->uniform = FCS_UNI_U8;
        if (c0->width == 2) L->uniform = FCS_UNI_U16;
        if (c0->width == 4) L->uniform = FCS_UNI_U32;
        break;
    default: break;
    }
    return 0;
}

/* ---- scalar loads ------------------------------------------------------------ */

static inline uint16_t ld16(const uint8_t *p, int swap)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return swap ? __builtin_bswap16(v) : v;
}
static inline uint32_t ld32(const uint8_t *p, int swap)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return swap ? __builtin_bswap32(v) : v;
}
static inline uint64_t ld64(const uint8_t *p, int swap)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return swap ? __builtin_bswap64(v) : v;
}
static inline float ldf32(const uint8_t *p, int swap)
{
    uint32_t u = ld32(p, swap);
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static inline double ldf64(const uint8_t *p, int swap)
{
    uint64_t u = ld64(p, swap);
    double d;
    memcpy(&d, &u, 8);
    return d;
}

/* Any width 1..8 in either byte order (24-bit, 40-bit, ... values). */
static inline uint64_t ld_uint(const uint8_t *p, int width, int big)
{
    uint64_t v = 0;
    if (big)
        for (int k = 0; k < width; k++) v = (v << 8) | p[k];
    else
        for (int k = width - 1; k >= 0; k--) v = (v << 8) | p[k];
    return v;
}

int fcs_parse_ascii_value(const uint8_t *p, size_t len, double *out)
{
    while (len && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++, len--;
    while (len && (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '\r' ||
                   p[len - 1] == '\n'))
        len--;
    char tmp[64];
    if (len == 0 || len >= sizeof tmp) return -1;
    memcpy(tmp, p, len);
    tmp[len] = '\0';
    char *end;
    double v = strtod(tmp, &end);
    if (end != tmp + len) return -1;
    *out = v;
    return 0;
}

/* One value of column c of the event at e, as double. ASCII failure: NAN + *bad. */
static inline double col_value(const fcs_col *c, const uint8_t *e, int *bad)
{
    const uint8_t *p = e + c->offset;
    int swap = (c->big != HOST_BIG);
    switch (c->kind) {
    case FCS_COL_F32: return ldf32(p, swap);
    case FCS_COL_F64: return ldf64(p, swap);
    case FCS_COL_ASCII: {
        double v;
        if (fcs_parse_ascii_value(p, c->width, &v) != 0) {
            *bad = 1;
            return NAN;
        }
        return v;
    }
    default:
        switch (c->width) {
        case 1: return (double)(p[0] & c->mask);
        case 2: return (double)(ld16(p, swap) & c->mask);
        case 4: return (double)(ld32(p, swap) & c->mask);
        case 8: return (double)(ld64(p, swap) & c->mask);
        default: return (double)(ld_uint(p, c->width, c->big) & c->mask);
        }
    }
}

/* ---- uniform fast paths (event-by-event output: contiguous values) --------------- */

#define DEF_UNI_ROWS(NAME, OUT, LOAD, W)                                                     \
    static void NAME(const uint8_t *src, size_t nv, OUT *dst, int swap)                      \
    {                                                                                        \
        if (swap)                                                                            \
            for (size_t k = 0; k < nv; k++) dst[k] = (OUT)LOAD(src + (W) * k, 1);            \
        else                                                                                 \
            for (size_t k = 0; k < nv; k++) dst[k] = (OUT)LOAD(src + (W) * k, 0);            \
    }
DEF_UNI_ROWS(f32_rows_d, double, ldf32, 4)
DEF_UNI_ROWS(f64_rows_d, double, ldf64, 8)
DEF_UNI_ROWS(f32_rows_f, float, ldf32, 4)
DEF_UNI_ROWS(f64_rows_f, float, ldf64, 8)

/* Integer uniform layouts with per-column masks: nested loops, no modulo.
 * Values go through a signed type wide enough to hold them (CT) because
 * signed-to-float conversions vectorise on x86 and unsigned 64-bit ones
 * do not. */
#define DEF_UNI_INT(NAME, OUT, LOAD, W, MT, CT)                                              \
    static void NAME(const fcs_layout *L, const uint8_t *src, size_t n, OUT *dst, size_t ld, \
                     int columns, size_t row0)                                               \
    {                                                                                        \
        size_t np = L->n;                                                                    \
        int swap = L->swap;                                                                  \
        MT m[256];                                                                           \
        size_t nm = np < 256 ? np : 256;                                                     \
        for (size_t j = 0; j < nm; j++) m[j] = (MT)L->cols[j].mask;                          \
        if (!columns && np <= 256) {                                                         \
            OUT *o = dst + row0 * np;                                                        \
            for (size_t i = 0; i < n; i++) {                                                 \
                const uint8_t *e = src + i * (W) * np;                                       \
                for (size_t j = 0; j < np; j++)                                              \
                    o[i * np + j] = (OUT)(CT)((MT)LOAD(e + (W) * j, swap) & m[j]);           \
            }                                                                                \
            return;                                                                          \
        }                                                                                    \
        for (size_t j = 0; j < np; j++) {                                                    \
            OUT *o = columns ? dst + j * ld + row0 : dst + row0 * np + j;                    \
            size_t step = columns ? 1 : np;                                                  \
            MT mj = (MT)L->cols[j].mask;                                                     \
            const uint8_t *p = src + (W) * j;                                                \
            for (size_t i = 0; i < n; i++)                                                   \
                o[i * step] = (OUT)(CT)((MT)LOAD(p + i * (W) * np, swap) & mj);              \
        }                                                                                    \
    }
static inline uint8_t ld8(const uint8_t *p, int swap)
{
    (void)swap;
    return p[0];
}
DEF_UNI_INT(u8_d, double, ld8, 1, uint32_t, int32_t)
DEF_UNI_INT(u16_d, double, ld16, 2, uint32_t, int32_t)
DEF_UNI_INT(u32_d, double, ld32, 4, uint32_t, uint32_t)
DEF_UNI_INT(u8_f, float, ld8, 1, uint32_t, int32_t)
DEF_UNI_INT(u16_f, float, ld16, 2, uint32_t, int32_t)
DEF_UNI_INT(u32_f, float, ld32, 4, uint32_t, uint32_t)

/* Float uniform layouts into columns. */
#define DEF_UNI_FCOLS(NAME, OUT, LOAD, W)                                                    \
    static void NAME(const fcs_layout *L, const uint8_t *src, size_t n, OUT *dst, size_t ld, \
                     size_t row0)                                                            \
    {                                                                                        \
        size_t np = L->n;                                                                    \
        int swap = L->swap;                                                                  \
        for (size_t j = 0; j < np; j++) {                                                    \
            OUT *o = dst + j * ld + row0;                                                    \
            const uint8_t *p = src + (W) * j;                                                \
            for (size_t i = 0; i < n; i++) o[i] = (OUT)LOAD(p + i * (W) * np, swap);         \
        }                                                                                    \
    }
DEF_UNI_FCOLS(f32_cols_d, double, ldf32, 4)
DEF_UNI_FCOLS(f64_cols_d, double, ldf64, 8)
DEF_UNI_FCOLS(f32_cols_f, float, ldf32, 4)
DEF_UNI_FCOLS(f64_cols_f, float, ldf64, 8)

/* ---- generic path -------------------------------------------------------------- */

#define DEF_GENERIC(NAME, OUT)                                                               \
    static int NAME(const fcs_layout *L, const uint8_t *src, size_t n, OUT *dst, size_t ld,  \
                    int columns, size_t row0, size_t *bad_event, size_t *bad_col)            \
    {                                                                                        \
        size_t np = L->n, eb = L->event_bytes;                                               \
        for (size_t i = 0; i < n; i++) {                                                     \
            const uint8_t *e = src + i * eb;                                                 \
            for (size_t j = 0; j < np; j++) {                                                \
                int bad = 0;                                                                 \
                double v = col_value(&L->cols[j], e, &bad);                                  \
                if (bad) {                                                                   \
                    *bad_event = i;                                                          \
                    *bad_col = j;                                                            \
                    return -1;                                                               \
                }                                                                            \
                if (columns)                                                                 \
                    dst[j * ld + row0 + i] = (OUT)v;                                         \
                else                                                                         \
                    dst[(row0 + i) * np + j] = (OUT)v;                                       \
            }                                                                                \
        }                                                                                    \
        return 0;                                                                            \
    }
DEF_GENERIC(generic_d, double)
DEF_GENERIC(generic_f, float)

int fcs_decode_f64(const fcs_layout *L, const uint8_t *src, size_t n, double *dst, size_t ld,
                   int columns, size_t row0, size_t *bad_event, size_t *bad_col)
{
    size_t np = L->n;
    switch (L->uniform) {
    case FCS_UNI_F32:
        if (columns) f32_cols_d(L, src, n, dst, ld, row0);
        else f32_rows_d(src, n * np, dst + row0 * np, L->swap);
        return 0;
    case FCS_UNI_F64:
        if (columns) f64_cols_d(L, src, n, dst, ld, row0);
        else f64_rows_d(src, n * np, dst + row0 * np, L->swap);
        return 0;
    case FCS_UNI_U8: u8_d(L, src, n, dst, ld, columns, row0); return 0;
    case FCS_UNI_U16: u16_d(L, src, n, dst, ld, columns, row0); return 0;
    case FCS_UNI_U32: u32_d(L, src, n, dst, ld, columns, row0); return 0;
    default: return generic_d(L, src, n, dst, ld, columns, row0, bad_event, bad_col);
    }
}

int fcs_decode_f32(const fcs_layout *L, const uint8_t *src, size_t n, float *dst, size_t ld,
                   int columns, size_t row0, size_t *bad_event, size_t *bad_col)
{
    size_t np = L->n;
    switch (L->uniform) {
    case FCS_UNI_F32:
        if (columns) f32_cols_f(L, src, n, dst, ld, row0);
        else if (!L->swap) memcpy(dst + row0 * np, src, n * np * 4);
        else f32_rows_f(src, n * np, dst + row0 * np, 1);
        return 0;
    case FCS_UNI_F64:
        if (columns) f64_cols_f(L, src, n, dst, ld, row0);
        else f64_rows_f(src, n * np, dst + row0 * np, L->swap);
        return 0;
    case FCS_UNI_U8: u8_f(L, src, n, dst, ld, columns, row0); return 0;
    case FCS_UNI_U16: u16_f(L, src, n, dst, ld, columns, row0); return 0;
    case FCS_UNI_U32: u32_f(L, src, n, dst, ld, columns, row0); return 0;
    default: return generic_f(L, src, n, dst, ld, columns, row0, bad_event, bad_col);
    }
}

/* ---- scaling --------------------------------------------------------------------- */

static void scale_strided(const fcs_scale *s, double *p, size_t n, size_t stride)
{
    switch (s->kind) {
    case FCS_SC_DIV:
        for (size_t i = 0; i < n; i++) p[i * stride] /= s->a;
        break;
    case FCS_SC_MUL:
        for (size_t i = 0; i < n; i++) p[i * stride] *= s->a;
        break;
    case FCS_SC_LOG:
        for (size_t i = 0; i < n; i++) p[i * stride] = pow(10.0, s->a * p[i * stride]) * s->b;
        break;
    default: break;
    }
}

void fcs_scale_f64(const fcs_scale *sc, size_t np, double *dst, size_t n, size_t ld, int columns,
                   size_t row0)
{
    for (size_t j = 0; j < np; j++) {
        if (sc[j].kind == FCS_SC_NONE) continue;
        if (columns) scale_strided(&sc[j], dst + j * ld + row0, n, 1);
        else scale_strided(&sc[j], dst + row0 * np + j, n, np);
    }
}

void fcs_rows_to_f32(const double *src, size_t np, size_t n, float *dst, size_t ld, int columns,
                     size_t row0)
{
    if (!columns) {
        float *o = dst + row0 * np;
        for (size_t k = 0; k < n * np; k++) o[k] = (float)src[k];
        return;
    }
    for (size_t j = 0; j < np; j++) {
        float *o = dst + j * ld + row0;
        for (size_t i = 0; i < n; i++) o[i] = (float)src[i * np + j];
    }
}
