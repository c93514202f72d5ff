/*
 * decode.h — DATA segment decoding (private).
 *
 * An event is a fixed sequence of columns (one per parameter). The layout
 * says, per column, how its bytes are stored; the decoders turn n events
 * starting at src into doubles or floats, event by event (dst[i*np + j]) or
 * column by column (dst[j*ld + i]), starting at output row row0. They never
 * allocate; uniform layouts (all F32, all F64, all U16, ...) take
 * specialised loops.
 */
#ifndef FCS_DECODE_H
#define FCS_DECODE_H

#include <stddef.h>
#include <stdint.h>

enum fcs_col_kind {
    FCS_COL_UINT = 0, /* unsigned integer, width 1..8 bytes, then & mask */
    FCS_COL_F32 = 1,
    FCS_COL_F64 = 2,
    FCS_COL_ASCII = 3 /* fixed-width decimal text, width characters */
};

typedef struct fcs_col {
    uint8_t kind;
    uint8_t width;    /* bytes (characters for ASCII) in the event */
    uint8_t big;      /* stored big-endian */
    uint32_t offset;  /* byte offset inside the event (set by fcs_layout_finish) */
    uint64_t mask;    /* UINT: bits kept (all ones = no mask) */
} fcs_col;

enum fcs_uniform {
    FCS_UNI_NONE = 0,
    FCS_UNI_F32,
    FCS_UNI_F64,
    FCS_UNI_U8,
    FCS_UNI_U16,
    FCS_UNI_U32
};

typedef struct fcs_layout {
    size_t n;          /* columns */
    fcs_col *cols;     /* owned by the caller */
    size_t event_bytes;
    int uniform;       /* enum fcs_uniform */
    int swap;          /* for uniform layouts: byte order differs from the host */
    int any_mask;      /* some UINT column has a mask */
} fcs_layout;

/** Compute offsets, event size and the uniform fast-path id. Returns 0, or
 *  -1 when the event size overflows. */
int fcs_layout_finish(fcs_layout *L);

/** Decode n events (n*event_bytes bytes at src). Returns 0, or -1 when an
 *  ASCII value is not a number (bad_event and bad_col say where). */
int fcs_decode_f64(const fcs_layout *L, const uint8_t *src, size_t n, double *dst, size_t ld,
                   int columns, size_t row0, size_t *bad_event, size_t *bad_col);
int fcs_decode_f32(const fcs_layout *L, const uint8_t *src, size_t n, float *dst, size_t ld,
                   int columns, size_t row0, size_t *bad_event, size_t *bad_col);

/** Per-column channel scaling (the FCS 3.1 channel-to-scale rule). */
enum fcs_scale_kind {
    FCS_SC_NONE = 0,
    FCS_SC_DIV, /* x / a          ($PnG) */
    FCS_SC_LOG, /* 10^(a*x) * b   ($PnE f1,f2 with a = f1/$PnR) */
    FCS_SC_MUL  /* x * a          ($TIMESTEP) */
};
typedef struct fcs_scale {
    int kind;
    double a, b;
} fcs_scale;

/** Scale n events in place (layout as in fcs_decode_f64). */
void fcs_scale_f64(const fcs_scale *sc, size_t np, double *dst, size_t n, size_t ld, int columns,
                   size_t row0);
/** Convert n events of doubles (event by event, np each) to floats at row0. */
void fcs_rows_to_f32(const double *src, size_t np, size_t n, float *dst, size_t ld, int columns,
                     size_t row0);

/** Parse one delimited-ASCII token [p, p+len) as a double; 0 or -1. */
int fcs_parse_ascii_value(const uint8_t *p, size_t len, double *out);

#endif
