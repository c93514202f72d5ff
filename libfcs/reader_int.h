/*
 * reader_int.h — internals of the FCS reader shared by reader.c and its
 * unit tests (private; not installed).
 */
#ifndef FCS_READER_INT_H
#define FCS_READER_INT_H

#include <stddef.h>
#include <stdint.h>

#include "decode.h"
#include "fcs/reader.h"
#include "source.h"
#include "text.h"

/** FCS 3.1 section 3.2: offsets above this do not fit the HEADER. */
#define FCS_HEADER_OFFSET_MAX 99999999ull

/** One data set of the file, fully parsed at open. */
typedef struct fcs_dataset {
    uint64_t offset; /* absolute byte offset of its HEADER */
    fcs_header hdr;
    fcs_kwlist kw;
    int64_t tot;
    size_t par;
    char datatype;
    char mode;
    const char *byteord; /* keyword value or "" */
    fcs_param *params;
    const char **names; /* $PnN or "" (for the matrix parser) */
    fcs_col *cols;
    fcs_layout layout;
    int delimited; /* ASCII with $PnB = '*' */
    fcs_scale *sc_scaled, *sc_time;
    int scaled_noop, time_noop;
    double timestep;
    uint64_t text_begin, text_end;   /* absolute, inclusive */
    uint8_t delim;                   /* the TEXT delimiter */
    uint64_t stext_begin, stext_end; /* absolute, inclusive; 0,0 when none */
    uint64_t data_begin, data_end;   /* absolute, inclusive, as declared */
    const char *data_from;           /* "HEADER" or "TEXT" */
    uint64_t data_len;               /* bytes holding the events */
    int data_unreadable;             /* metadata-only open of a truncated file */
    int crc_pending;                 /* sequential input: check the CRC at the end */
    uint64_t next_abs;               /* absolute offset of the next data set, 0 = none */
    fcs_matrix *spill;
    const char *spill_kw;
    char **warn;
    size_t n_warn, cap_warn;
} fcs_dataset;

struct fcs_reader {
    char *name;
    fcs_source *src;
    fcs_read_opts opts;
    fcs_dataset *ds;
    size_t n_ds, cap_ds;
    size_t cur;
    size_t err_ds; /* data set named in error messages */
    int64_t next_event;
    uint64_t ascii_pos;
    int consumed; /* events were read from a sequential source */
    double *scratch;
    size_t scratch_cap;
    char errmsg[FCS_ERRMSG_MAX];
};

#endif
