/*
 * fcs/reader.h — streaming FCS reader (FCS 2.0, 3.0, 3.1, 3.2).
 *
 * Usage sketch
 *
 *     fcs_reader *r;
 *     fcs_read_opts o;
 *     fcs_error err;
 *     fcs_read_opts_init(&o);
 *     if (fcs_open(&r, "sample.fcs.gz", &o, &err) != FCS_OK) {
 *         fprintf(stderr, "%s\n", err.msg);          // names file and problem
 *         return 1;
 *     }
 *     size_t np = fcs_n_params(r);
 *     double *buf = malloc(4096 * np * sizeof *buf);
 *     int64_t n;
 *     while ((n = fcs_read_events(r, buf, 4096, FCS_VALUES_SCALED)) > 0)
 *         use(buf, n);                                // n events, np values each
 *     if (n < 0) fprintf(stderr, "%s\n", fcs_errmsg(r));
 *     fcs_close(r);
 *
 * Sources. fcs_open() takes a path or "-" (stdin). gzip compression is
 * detected from the content (magic bytes), never from the name. Regular
 * uncompressed files are memory-mapped; pipes and gzip streams are read
 * sequentially, forward only, in constant memory. A sequential source whose
 * file needs random access (several data sets, a supplemental TEXT placed
 * after the DATA segment, or HEADER and TEXT DATA offsets that disagree and
 * must be checked against the file size) is first copied to an unlinked
 * temporary file ($TMPDIR, else /tmp), transparently. A sequential source
 * does not know its size at open: a DATA segment cut short is then reported
 * by fcs_read_events (FCS_ETRUNCATED), and the missing-crc warning appears
 * once the last event has been read.
 *
 * Data sets. A file holds one or more data sets chained by $NEXTDATA; the
 * reader lists them at open and starts on data set 0. All per-data-set
 * queries (keywords, parameters, events) refer to the selected data set.
 *
 * Vendor quirks. Deviations from the standard whose repair is certain are
 * repaired and recorded as warnings (fcs_warning()); each warning starts with
 * the repair's name, e.g. "data-end-off-by-one: ...". With opts.strict every
 * such deviation is refused with FCS_ESTRICT instead. Deviations without a
 * certain repair are always refused (FCS_EFORMAT) with a hint.
 * Repair names (stable): data-end-off-by-one, offsets-header-text-disagree,
 * header-offsets-zero, placeholder-offsets, tot-mismatch (DATA longer than
 * $TOT needs), missing-tot, missing-range, missing-mode, log-offset-zero,
 * missing-crc, missing-name, duplicate-name, duplicate-keyword,
 * spillover-unparseable, keyword-blanks, missing-final-delimiter,
 * empty-keyword-value (KEY// read as an empty value), dangling-keyword,
 * stext-invalid, bad-keyword (an optional keyword such as $PnG, $PnE or
 * $TIMESTEP that is not a number: ignored), data-truncated (metadata-only
 * open of a file whose DATA, or next data set, lies past its end).
 *
 * Parsing rules (those of the shared corpus README): keywords are matched
 * case-insensitively with surrounding blanks trimmed; a doubled delimiter is
 * an escaped delimiter inside a value and ends a keyword with an empty value;
 * the first occurrence of a repeated keyword is kept; the DATA segment comes
 * from the HEADER (FCS 2.0) or from the HEADER unless it holds 0/blanks
 * (FCS 3.x); when HEADER and $BEGINDATA/$ENDDATA disagree, a pair that
 * overlaps HEADER/TEXT/supplemental TEXT, runs past the end of the file, or
 * whose length is neither $TOT*event size nor that plus one is rejected,
 * and the HEADER wins when both fit. $DATATYPE I values are masked with
 * 2^b-1, b = bit_length(ceil($PnR)-1), when b is below the stored width; a
 * $PnB that is not a multiple of 8 is stored in the next 8/16/32/64-bit word.
 *
 * Errors. Every message is one line naming the file (and the data set, the
 * keyword or the byte offset where that helps). Sizes computed from file
 * content are checked against the input size and for overflow before any
 * allocation, so hostile files cannot exhaust memory.
 */
#ifndef FCS_READER_H
#define FCS_READER_H

#include "fcs/common.h"
#include "fcs/matrix.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fcs_reader fcs_reader;

/** Options for fcs_open(). Fill with fcs_read_opts_init() first, so that
 *  fields added later get their defaults. */
typedef struct fcs_read_opts {
    int strict;        /**< refuse every deviation from the standard (FCS_ESTRICT) */
    int metadata_only; /**< read HEADER and TEXT only: a DATA segment beyond the end
                            of the input is then no error (warning data-truncated);
                            reading that data set's events fails with FCS_ETRUNCATED */
    int no_mmap;       /**< read regular files with read(2) instead of mmap */
} fcs_read_opts;

FCS_EXPORT void fcs_read_opts_init(fcs_read_opts *opts);

/**
 * Open an FCS file (path, or "-" for stdin; gzip detected from content).
 * opts may be NULL (defaults). On success *out is the reader and FCS_OK is
 * returned; otherwise *out is NULL, err (may be NULL) holds the message and
 * a negative status is returned.
 */
FCS_EXPORT int fcs_open(fcs_reader **out, const char *path, const fcs_read_opts *opts,
                        fcs_error *err) FCS_WARN_UNUSED;

/**
 * Open an FCS image held in memory (gzip allowed). The bytes are not copied
 * and must stay valid until fcs_close(). name is used in messages.
 */
FCS_EXPORT int fcs_open_mem(fcs_reader **out, const void *data, size_t len, const char *name,
                            const fcs_read_opts *opts, fcs_error *err) FCS_WARN_UNUSED;

/** Close the reader and free everything it owns. Accepts NULL. */
FCS_EXPORT void fcs_close(fcs_reader *r);

/** One-line message of the last error on this reader ("" when none). */
FCS_EXPORT const char *fcs_errmsg(const fcs_reader *r);

/** The name the reader was opened with ("-" shows as "<stdin>"). */
FCS_EXPORT const char *fcs_name(const fcs_reader *r);

/* ---- data sets ----------------------------------------------------------- */

/** Number of data sets in the file (>= 1). */
FCS_EXPORT size_t fcs_n_datasets(const fcs_reader *r);
/** Select data set i (0-based) and rewind its events. FCS_ERANGE if absent;
 *  FCS_EUNSUPPORTED on a sequential source once events have been read. */
FCS_EXPORT int fcs_select_dataset(fcs_reader *r, size_t index) FCS_WARN_UNUSED;
/** Index of the selected data set. */
FCS_EXPORT size_t fcs_dataset_index(const fcs_reader *r);
/** Byte offset of the selected data set's HEADER in the file. */
FCS_EXPORT uint64_t fcs_dataset_offset(const fcs_reader *r);

/* ---- the selected data set ------------------------------------------------- */

/** Version string of the data set's HEADER, e.g. "FCS3.1". */
FCS_EXPORT const char *fcs_version(const fcs_reader *r);
/** Number of events ($TOT, after any repair). */
FCS_EXPORT int64_t fcs_n_events(const fcs_reader *r);
/** Number of parameters ($PAR). */
FCS_EXPORT size_t fcs_n_params(const fcs_reader *r);
/** $DATATYPE: 'I', 'F', 'D' or 'A' (FCS 3.2 files with per-parameter
 *  $PnDATATYPE report the $DATATYPE keyword; see fcs_param.datatype). */
FCS_EXPORT char fcs_datatype(const fcs_reader *r);
/** $BYTEORD as stored, e.g. "1,2,3,4" ("" for ASCII data when absent). */
FCS_EXPORT const char *fcs_byteord(const fcs_reader *r);
/** $MODE: 'L' (only list mode is readable; C/U are refused at open). */
FCS_EXPORT char fcs_mode(const fcs_reader *r);
/** Absolute byte offsets [begin, end] (inclusive, as in FCS) of the DATA
 *  segment actually used, and where they came from ("HEADER" or "TEXT"). */
FCS_EXPORT void fcs_data_segment(const fcs_reader *r, uint64_t *begin, uint64_t *end,
                                 const char **from);

/* ---- keywords (TEXT + supplemental TEXT of the selected data set) -------- */

/** Number of keywords, in file order; a repeated keyword is kept once (first). */
FCS_EXPORT size_t fcs_n_keywords(const fcs_reader *r);
/** Name of keyword i as stored (trimmed of surrounding blanks); NULL when
 *  i is out of range (as for fcs_keyword_value). */
FCS_EXPORT const char *fcs_keyword_name(const fcs_reader *r, size_t i);
/** Value of keyword i, unescaped (doubled delimiters made single). */
FCS_EXPORT const char *fcs_keyword_value(const fcs_reader *r, size_t i);
/** Value of a keyword looked up case-insensitively; NULL when absent. */
FCS_EXPORT const char *fcs_keyword(const fcs_reader *r, const char *name);

/* ---- parameters ------------------------------------------------------------ */

/** What the reader knows of one parameter (valid until fcs_close or the next
 *  fcs_select_dataset). */
typedef struct fcs_param {
    const char *name;   /**< $PnN; NULL when absent */
    const char *label;  /**< $PnS as stored; NULL when absent or empty */
    int bits;           /**< $PnB; 0 for delimited ASCII ('*') */
    double range;       /**< $PnR (0 when absent: see warnings) */
    double gain;        /**< $PnG; 1 when absent */
    double log_decades; /**< $PnE f1 (0 = linear) */
    double log_offset;  /**< $PnE f2 (after the f1,0 -> f1,1 repair) */
    char datatype;      /**< effective type of this parameter: I, F, D or A */
    uint64_t mask;      /**< for I: the bit mask applied to raw values; UINT64_MAX
                             when none applies (0 is a real mask: $PnR 1); 0 for
                             F, D and A parameters */
    int is_time;        /**< the time parameter (name "Time"/"TIME", case-insensitive) */
} fcs_param;

/** Parameter i (0-based), NULL when out of range. */
FCS_EXPORT const fcs_param *fcs_param_info(const fcs_reader *r, size_t i);
/** Index of the parameter whose $PnN equals name (exact, then
 *  case-insensitive); -1 when absent. With by_label, $PnS is matched too. */
FCS_EXPORT int fcs_param_index(const fcs_reader *r, const char *name, int by_label);
/** $TIMESTEP of the data set, 0 when absent or not a number. */
FCS_EXPORT double fcs_timestep(const fcs_reader *r);

/* ---- spillover ------------------------------------------------------------- */

/** The data set's spillover matrix (parsed from $SPILLOVER, SPILL, $COMP or
 *  $DFCiTOj at open; see fcs_matrix_from_keywords), or NULL when it has none
 *  or it could not be parsed (then a warning says why). *keyword, if
 *  non-NULL, receives the source keyword. Owned by the reader. */
FCS_EXPORT const fcs_matrix *fcs_spillover(const fcs_reader *r, const char **keyword);

/* ---- warnings -------------------------------------------------------------- */

/** Warnings of the selected data set (and of the file as a whole), each one
 *  line "repair-name: what was found and what was done". */
FCS_EXPORT size_t fcs_n_warnings(const fcs_reader *r);
/** Warning i (0-based), NULL when out of range. */
FCS_EXPORT const char *fcs_warning(const fcs_reader *r, size_t i);

/* ---- events ---------------------------------------------------------------- */

/** Flags for fcs_read_events*. */
enum fcs_values_flags {
    /** Values as stored: integers after $PnR bit masking, floats as stored,
     *  ASCII as parsed numbers. */
    FCS_VALUES_RAW = 0,
    /** Channel values by the FCS 3.1 channel-to-scale rule: for integer data
     *  with $PnE f1>0: 10^(f1*raw/$PnR)*f2; else raw/$PnG when $PnG is given
     *  and not 0 or 1; else raw. ($PnE on float data is ignored.) */
    FCS_VALUES_SCALED = 1,
    /** With FCS_VALUES_SCALED: multiply the time parameter by $TIMESTEP
     *  (seconds) instead of dividing by its $PnG. Without FCS_VALUES_SCALED,
     *  or when $TIMESTEP is absent or 0, it has no effect. */
    FCS_VALUES_TIME_SECONDS = 2,
    /** Write the chunk column by column: parameter j of event i at
     *  buf[j*max_events + i] (contiguous channel columns for gating). The
     *  default is event by event: buf[i*n_params + j]. */
    FCS_VALUES_COLUMNS = 4
};

/**
 * Read up to max_events events of the selected data set into buf (room for
 * max_events * fcs_n_params() values). Returns the number of events read
 * (> 0), 0 at the end of the data (or when max_events is 0), or a negative
 * status (message in fcs_errmsg): FCS_ETRUNCATED when the input ends inside
 * the DATA segment, FCS_EFORMAT for an ASCII value that is not a number,
 * FCS_EINVAL for a NULL buf, FCS_ESTRICT (strict mode, sequential input) when
 * the CRC field turns out to be missing. Raw 64-bit integers above 2^53 lose
 * precision in double; float output rounds to nearest.
 */
FCS_EXPORT int64_t fcs_read_events(fcs_reader *r, double *buf, size_t max_events,
                                   unsigned flags) FCS_WARN_UNUSED;
/** As fcs_read_events, into float32 (the pipe format's type). */
FCS_EXPORT int64_t fcs_read_events_f32(fcs_reader *r, float *buf, size_t max_events,
                                       unsigned flags) FCS_WARN_UNUSED;
/** Restart the selected data set's events from the first one. On a
 *  sequential source (pipe, gzip) this fails with FCS_EUNSUPPORTED once
 *  events have been read. */
FCS_EXPORT int fcs_rewind(fcs_reader *r) FCS_WARN_UNUSED;
/** Whether the input is random-access (regular file, memory, or spilled). */
FCS_EXPORT int fcs_is_seekable(const fcs_reader *r);

#ifdef __cplusplus
}
#endif
#endif
