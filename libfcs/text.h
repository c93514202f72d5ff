/*
 * text.h — FCS HEADER and TEXT segment parsing (private).
 *
 * The HEADER is the fixed 58-byte block at the start of every data set; the
 * TEXT (and supplemental TEXT) segment is a delimiter-separated list of
 * keyword/value pairs. These functions only parse bytes they are given; the
 * reader decides what to do with quirks (warn, refuse in strict mode).
 */
#ifndef FCS_TEXT_H
#define FCS_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "fcs/common.h"

#define FCS_HEADER_LEN 58

/** Offsets of one data set's HEADER, relative to the data set's start. */
typedef struct fcs_header {
    char version[7];       /* "FCS3.1" */
    int major, minor;      /* 3, 1 */
    uint64_t text_begin, text_end;
    uint64_t data_begin, data_end;
    uint64_t anal_begin, anal_end;
    int data_zero;         /* both DATA fields are 0 or blank */
} fcs_header;

/** Parse a 58-byte HEADER. Errors: FCS_EFORMAT (not FCS, bad field),
 *  FCS_EUNSUPPORTED (FCS 1.0 or unknown version). err->msg has no file name. */
int fcs_header_parse(const uint8_t *p, size_t n, fcs_header *h, fcs_error *err);

/** One keyword: name trimmed of surrounding blanks, value unescaped. */
typedef struct fcs_kw {
    char *name;
    char *value;
} fcs_kw;

/** Keywords in file order with a case-insensitive hash index. */
typedef struct fcs_kwlist {
    fcs_kw *items;
    size_t n, cap;
    uint32_t *slots; /* index+1 of items, 0 = empty; nslots is a power of 2 */
    size_t nslots;
} fcs_kwlist;

void fcs_kwlist_free(fcs_kwlist *kw);
/** Case-insensitive lookup; NULL when absent. */
const char *fcs_kwlist_get(const fcs_kwlist *kw, const char *name);
/** Index of a keyword (case-insensitive), or -1. */
long fcs_kwlist_find(const fcs_kwlist *kw, const char *name);
/** Append name/value (copied). Returns 1 when added, 0 when the name was
 *  already present (first occurrence kept), FCS_ENOMEM on failure. */
int fcs_kwlist_add(fcs_kwlist *kw, const char *name, size_t name_len, const char *value,
                   size_t value_len);

/** What the TEXT parser met that deviates from the standard. Counts, plus
 *  the first keyword concerned so that warnings can name it. */
typedef struct fcs_text_quirks {
    size_t n_empty_values;     /* KEY//NEXT: doubled delimiter read as an empty value */
    char first_empty[64];
    size_t n_blank_keys;       /* keyword names with surrounding blanks (trimmed) */
    char first_blank[64];
    size_t n_duplicates;       /* repeated keywords (first occurrence kept) */
    size_t n_dup_differ;       /* ... of which with a different value */
    char first_dup[64];
    int missing_final_delim;   /* the last value runs to the end of the segment */
    size_t n_dangling;         /* a keyword without value at the end (not blanks) */
    char first_dangling[64];
} fcs_text_quirks;

/**
 * Parse a TEXT segment seg[0..len) whose first byte is the delimiter,
 * appending keywords to kw (a repeated keyword keeps its first value).
 * Rules (corpus README "Rules used"): a doubled delimiter inside a value is
 * an escaped delimiter; a doubled delimiter met while reading a keyword ends
 * the keyword with an empty value; a missing final delimiter is accepted;
 * keyword names are trimmed of surrounding blanks. quirks accumulates.
 * Errors: FCS_EFORMAT (empty segment), FCS_ENOMEM.
 */
int fcs_text_parse(const uint8_t *seg, size_t len, fcs_kwlist *kw, fcs_text_quirks *quirks,
                   fcs_error *err);

#endif
