/*
 * json.c — compact streaming JSON output (see json.h).
 */
#include "json.h"

#include <string.h>

#include "cli.h"

void fcs_json_init(fcs_json *j, FILE *f)
{
    memset(j, 0, sizeof *j);
    j->f = f;
}

/* Comma before every item of an array or object after the first; none
 * right after a key. */
static void before_value(fcs_json *j)
{
    if (j->after_key) {
        j->after_key = 0;
        return;
    }
    if (j->depth > 0) {
        if (j->count[j->depth - 1]) putc(',', j->f);
        j->count[j->depth - 1] = 1;
    }
}

static void begin(fcs_json *j, char c)
{
    before_value(j);
    if (j->depth >= FCS_JSON_MAX_DEPTH) {
        j->error = 1;
        return;
    }
    putc(c, j->f);
    j->count[j->depth++] = 0;
}

static void end(fcs_json *j, char c)
{
    if (j->depth == 0 || j->after_key) {
        j->error = 1;
        return;
    }
    j->depth--;
    putc(c, j->f);
}

void fcs_json_begin_object(fcs_json *j) { begin(j, '{'); }
void fcs_json_end_object(fcs_json *j) { end(j, '}'); }
void fcs_json_begin_array(fcs_json *j) { begin(j, '['); }
void fcs_json_end_array(fcs_json *j) { end(j, ']'); }

void fcs_json_key(fcs_json *j, const char *key)
{
    before_value(j);
    fcs_json_write_string(j->f, key, strlen(key));
    putc(':', j->f);
    j->after_key = 1;
}

/* Length of the valid UTF-8 sequence at p (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF), or 0 when the byte starts none. */
static size_t utf8_len(const unsigned char *p, size_t left)
{
    unsigned char c = p[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the 2nd byte */
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else
        return 0;
    if (left < n || p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xC0) != 0x80) return 0;
    return n;
}

void fcs_json_write_string(FILE *f, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    putc('"', f);
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        size_t len = utf8_len(p + i, n - i);
        if (c == '"' || c == '\\') {
            putc('\\', f);
            putc(c, f);
            i++;
        } else if (len == 0 || c < 0x20 || c == 0x7f) {
            /* Control byte, or a byte outside valid UTF-8: taken as Latin-1. */
            fprintf(f, "\\u%04x", c);
            i++;
        } else {
            fwrite(p + i, 1, len, f);
            i += len;
        }
    }
    putc('"', f);
}

void fcs_json_string_n(fcs_json *j, const char *s, size_t n)
{
    before_value(j);
    fcs_json_write_string(j->f, s, n);
}

void fcs_json_string(fcs_json *j, const char *s)
{
    if (!s) {
        fcs_json_null(j);
        return;
    }
    fcs_json_string_n(j, s, strlen(s));
}

void fcs_json_int(fcs_json *j, int64_t v)
{
    before_value(j);
    fprintf(j->f, "%lld", (long long)v);
}

void fcs_json_uint(fcs_json *j, uint64_t v)
{
    before_value(j);
    fprintf(j->f, "%llu", (unsigned long long)v);
}

void fcs_json_number(fcs_json *j, double v)
{
    char buf[FCS_CLI_NUM_MAX];
    if (v != v || v - v != 0) { /* NaN or infinite: JSON has no such numbers */
        fcs_json_null(j);
        return;
    }
    before_value(j);
    fcs_cli_format_double(buf, v);
    fputs(buf, j->f);
}

void fcs_json_null(fcs_json *j)
{
    before_value(j);
    fputs("null", j->f);
}

void fcs_json_bool(fcs_json *j, int v)
{
    before_value(j);
    fputs(v ? "true" : "false", j->f);
}

int fcs_json_ok(const fcs_json *j) { return !j->error && j->depth == 0 && !j->after_key; }
