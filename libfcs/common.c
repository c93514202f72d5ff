/*
 * common.c — status strings, version queries and small helpers shared by all modules.
 */
#include <ctype.h>
#include <errno.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>
#include <zlib.h>

#include "internal.h"

const char *fcs_strerror(int status)
{
    switch (status) {
    case FCS_OK: return "success";
    case FCS_EIO: return "input/output error";
    case FCS_EFORMAT: return "malformed input";
    case FCS_EUNSUPPORTED: return "unsupported content";
    case FCS_ENOMEM: return "out of memory";
    case FCS_EINVAL: return "invalid argument";
    case FCS_ERANGE: return "out of range";
    case FCS_ESTRICT: return "refused in strict mode";
    case FCS_ENOTFOUND: return "not found";
    case FCS_ENUMERIC: return "numerical failure";
    case FCS_ETRUNCATED: return "truncated input";
    default: return "unknown error";
    }
}

const char *fcs_lib_version(void) { return FCS_VERSION_STRING; }
const char *fcs_zlib_version(void) { return zlibVersion(); }

const char *fcs_hdf5_version(void)
{
    /* Compile-time version: asking the runtime would initialise HDF5. */
#define FCS_STR2(x) #x
#define FCS_STR(x) FCS_STR2(x)
    return FCS_STR(H5_VERS_MAJOR) "." FCS_STR(H5_VERS_MINOR) "." FCS_STR(H5_VERS_RELEASE);
}

int fcs_error_vset(fcs_error *err, int code, const char *fmt, va_list ap)
{
    if (err) {
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    }
    return code;
}

int fcs_error_set(fcs_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fcs_error_vset(err, code, fmt, ap);
    va_end(ap);
    return code;
}

void fcs_error_clear(fcs_error *err)
{
    if (err) {
        err->code = FCS_OK;
        err->msg[0] = '\0';
    }
}

int fcs_strcasecmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        int ca = (unsigned char)*a, cb = (unsigned char)*b;
        if (ca >= 'A' && ca <= 'Z') ca += 32;
        if (cb >= 'A' && cb <= 'Z') cb += 32;
        if (ca != cb || ca == 0) return ca - cb;
    }
}

char *fcs_strndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *fcs_strdup(const char *s) { return fcs_strndup(s, strlen(s)); }

int fcs_parse_i64(const char *s, int64_t *out)
{
    if (!s) return -1;
    while (isspace((unsigned char)*s)) s++;
    if (!*s) return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s) return -1;
    while (isspace((unsigned char)*end)) end++;
    if (*end) return -1;
    *out = v;
    return 0;
}

int fcs_parse_double(const char *s, double *out)
{
    if (!s) return -1;
    while (isspace((unsigned char)*s)) s++;
    if (!*s) return -1;
    char *end;
    errno = 0;
    /* strtod is locale dependent; the library never calls setlocale, and
     * tools keep the "C" numeric locale, so '.' is the decimal point. */
    double v = strtod(s, &end);
    if (end == s) return -1;
    while (isspace((unsigned char)*end)) end++;
    if (*end) return -1;
    *out = v;
    return 0;
}

size_t fcs_utf8_decode(const unsigned char *s, size_t left, uint32_t *cp)
{
    if (left == 0) return 0;
    unsigned c = s[0];
    size_t n;
    uint32_t v;
    if (c < 0x80) {
        if (cp) *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, v = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, v = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, v = c & 0x07;
    else
        return 0;
    if (n > left) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && v < 0x800) || (n == 4 && (v < 0x10000 || v > 0x10ffff)) ||
        (v >= 0xd800 && v <= 0xdfff))
        return 0;
    if (cp) *cp = v;
    return n;
}
