/* Private growable buffers (not installed, not exported): arrays that grow by doubling, and a
 * NUL-terminated text buffer for the writers that build a whole document in memory (SVG
 * plots, HTML reports, gate files) and for the gate file parser's decoded names.
 *
 * Text buffer errors are sticky instead of returned at every append: the first failed allocation
 * (or a size that would overflow) sets `nomem`, frees nothing, and turns every later append into a
 * no-op, so a writer appends freely and checks once at the end. */
#ifndef FCS_GROWBUF_H
#define FCS_GROWBUF_H

#include <stddef.h>

#include "fcs/common.h"

/* Make room for at least `need` elements of `el` bytes in the array *buf of capacity *cap
 * (elements): the capacity doubles from 8 until it suffices. Returns 0, or -1 (buffer and
 * capacity unchanged) when memory runs out or the size would overflow. */
int fcs_grow(void **buf, size_t *cap, size_t need, size_t el);

typedef struct fcs_sbuf {
    char *s;    /* the text, NUL-terminated once anything was appended; NULL before */
    size_t len; /* bytes of text, without the NUL */
    size_t cap; /* bytes allocated at s */
    int nomem;  /* an allocation failed: the text is incomplete */
} fcs_sbuf;

#define FCS_SBUF_INIT                                                                              \
    {                                                                                              \
        NULL, 0, 0, 0                                                                              \
    }

/* Make room for `extra` more bytes plus the NUL (capacity doubles from 4 KiB). On failure
 * sets b->nomem. Callers that write into b->s + b->len directly check b->nomem after. */
void fcs_sb_reserve(fcs_sbuf *b, size_t extra);

/* Append n bytes of s (which need not be NUL-terminated). */
void fcs_sb_put(fcs_sbuf *b, const char *s, size_t n);

/* Append the NUL-terminated string s. */
void fcs_sb_puts(fcs_sbuf *b, const char *s);

/* Append the byte c. */
void fcs_sb_putc(fcs_sbuf *b, char c);

/* Append printf-formatted text (any length). */
void fcs_sb_printf(fcs_sbuf *b, const char *fmt, ...) FCS_PRINTF(2, 3);

/* Hand the text over to the caller (free() it) and leave b empty. Returns NULL, having freed
 * the text, if an allocation failed; also NULL if nothing was ever appended. */
char *fcs_sb_take(fcs_sbuf *b);

#endif
