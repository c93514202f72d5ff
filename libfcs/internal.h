/*
 * internal.h — helpers shared by libfcs modules. Not installed, not public.
 */
#ifndef FCS_INTERNAL_H
#define FCS_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "fcs/common.h"

/* Fill an optional fcs_error (may be NULL) and return code, so callers write
 * `return fcs_error_set(err, FCS_EFORMAT, "...")`. */
int fcs_error_set(fcs_error *err, int code, const char *fmt, ...) FCS_PRINTF(3, 4);
int fcs_error_vset(fcs_error *err, int code, const char *fmt, va_list ap);
/* Reset an optional error record to FCS_OK / empty message. */
void fcs_error_clear(fcs_error *err);

/* Overflow-checked size arithmetic: return 0 on success, -1 on overflow. */
static inline int fcs_mul_ok(uint64_t a, uint64_t b, uint64_t *out)
{
    return __builtin_mul_overflow(a, b, out) ? -1 : 0;
}
static inline int fcs_add_ok(uint64_t a, uint64_t b, uint64_t *out)
{
    return __builtin_add_overflow(a, b, out) ? -1 : 0;
}

/* Case-insensitive ASCII string compare (locale independent). */
int fcs_strcasecmp(const char *a, const char *b);
/* strdup that returns NULL on failure; copies at most n bytes then NUL. */
char *fcs_strndup(const char *s, size_t n);
char *fcs_strdup(const char *s);

/* Parse a decimal number from a keyword value, ignoring surrounding spaces.
 * Return 0 on success, -1 if the text is not entirely a number. */
int fcs_parse_i64(const char *s, int64_t *out);
int fcs_parse_double(const char *s, double *out);

/* Length (1..4) of the well-formed UTF-8 sequence at s, reading at most
 * left bytes; 0 when it is not one (bad lead or continuation byte,
 * overlong form, surrogate, above U+10FFFF, truncated). *cp (may be NULL)
 * receives the code point. Shared by every writer of XML/HTML/gate text. */
size_t fcs_utf8_decode(const unsigned char *s, size_t left, uint32_t *cp);

#endif
