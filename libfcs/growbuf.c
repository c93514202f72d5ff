/* Growable arrays and text (see growbuf.h). */
#include "growbuf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int fcs_grow(void **buf, size_t *cap, size_t need, size_t el)
{
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap : 8;
    while (nc < need) {
        if (nc > SIZE_MAX / 2) return -1;
        nc *= 2;
    }
    uint64_t bytes;
    if (fcs_mul_ok(nc, el, &bytes) || bytes > SIZE_MAX) return -1;
    void *p = realloc(*buf, (size_t)bytes);
    if (!p) return -1;
    *buf = p;
    *cap = nc;
    return 0;
}

void fcs_sb_reserve(fcs_sbuf *b, size_t extra)
{
    /* Strictly less: the NUL needs one byte beyond `extra`. */
    if (b->nomem || extra < b->cap - b->len) return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len <= extra) {
        if (cap > SIZE_MAX / 2) {
            b->nomem = 1;
            return;
        }
        cap *= 2;
    }
    char *s = realloc(b->s, cap);
    if (!s) {
        b->nomem = 1;
        return;
    }
    b->s = s;
    b->cap = cap;
}

void fcs_sb_put(fcs_sbuf *b, const char *s, size_t n)
{
    fcs_sb_reserve(b, n);
    if (b->nomem) return;
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void fcs_sb_puts(fcs_sbuf *b, const char *s) { fcs_sb_put(b, s, strlen(s)); }

void fcs_sb_putc(fcs_sbuf *b, char c) { fcs_sb_put(b, &c, 1); }

void fcs_sb_printf(fcs_sbuf *b, const char *fmt, ...)
{
    /* Short texts (nearly all) are formatted once, on the stack; a longer one is formatted
     * a second time straight into the buffer, grown to its now known length. */
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        fcs_sb_put(b, tmp, (size_t)n);
        return;
    }
    fcs_sb_reserve(b, (size_t)n);
    if (b->nomem) return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

char *fcs_sb_take(fcs_sbuf *b)
{
    if (b->nomem) {
        free(b->s);
        b->s = NULL;
    }
    char *s = b->s;
    b->s = NULL;
    b->len = b->cap = 0;
    b->nomem = 0;
    return s;
}
