/*
 * json.h — a small streaming JSON emitter for the tools (fcs-info --json).
 *
 * Output is compact (no blanks), commas are inserted automatically:
 *
 *     fcs_json j;
 *     fcs_json_init(&j, stdout);
 *     fcs_json_begin_object(&j);
 *     fcs_json_key(&j, "tot");  fcs_json_int(&j, 10000);
 *     fcs_json_key(&j, "name"); fcs_json_string(&j, NULL);   // null
 *     fcs_json_end_object(&j);                              // {"tot":10000,"name":null}
 *
 * Strings are bytes from FCS files, not necessarily UTF-8: valid UTF-8 is
 * copied, each byte that is not part of a valid UTF-8 sequence is written as
 * \u00XX (its Latin-1 code point), control bytes (< 0x20 and 0x7f) as \u00XX,
 * and '"' and '\' as \" and \\. Numbers that are integral are written as
 * integers; NaN and infinities (not JSON) as null.
 * Nesting is limited to FCS_JSON_MAX_DEPTH levels; deeper calls are ignored
 * and reported by fcs_json_ok().
 */
#ifndef FCS_TOOLS_JSON_H
#define FCS_TOOLS_JSON_H

#include <stdint.h>
#include <stdio.h>

#define FCS_JSON_MAX_DEPTH 32

typedef struct fcs_json {
    FILE *f;
    int depth;
    int error;                          /**< misuse seen (depth overflow, unbalanced end) */
    unsigned char count[FCS_JSON_MAX_DEPTH]; /**< items so far at each level (saturating) */
    int after_key;                      /**< a key was written: next value needs no comma */
} fcs_json;

void fcs_json_init(fcs_json *j, FILE *f);
void fcs_json_begin_object(fcs_json *j);
void fcs_json_end_object(fcs_json *j);
void fcs_json_begin_array(fcs_json *j);
void fcs_json_end_array(fcs_json *j);
/** Key of the next member of the current object. */
void fcs_json_key(fcs_json *j, const char *key);
/** String value; NULL writes null. */
void fcs_json_string(fcs_json *j, const char *s);
/** String value of n bytes (may contain NUL bytes, written as \u0000). */
void fcs_json_string_n(fcs_json *j, const char *s, size_t n);
void fcs_json_int(fcs_json *j, int64_t v);
void fcs_json_uint(fcs_json *j, uint64_t v);
/** Shortest round-trip double; integral values as integers; NaN/Inf -> null. */
void fcs_json_number(fcs_json *j, double v);
void fcs_json_null(fcs_json *j);
void fcs_json_bool(fcs_json *j, int v);
/** 1 when every begin had its end and no misuse was seen. */
int fcs_json_ok(const fcs_json *j);

/** Write s as a JSON string literal (with quotes) to f; the escaping rules
 *  above. Exposed for tests and for other tools. */
void fcs_json_write_string(FILE *f, const char *s, size_t n);

#endif
