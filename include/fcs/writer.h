/*
 * fcs/writer.h — FCS 3.1 writer (list mode; float32 by default).
 *
 * Usage sketch (copy a file's channel values, keeping its keywords)
 *
 *     fcs_writer *w;
 *     fcs_write_opts o;
 *     fcs_write_opts_init(&o);                      // float32, native byte order
 *     if (fcs_writer_open(&w, "out.fcs", fcs_n_params(r), &o, &err)) ...
 *     fcs_writer_copy_keywords(w, r, NULL);          // $PnN, $PnS, $PnR ... and the rest
 *     fcs_writer_set_keyword(w, "LIBFCS_TOOL", "fcs-cat 0.1.0");
 *     fcs_writer_begin(w, fcs_n_events(r));          // or -1 when the count is unknown
 *     while ((n = fcs_read_events(r, buf, 4096, FCS_VALUES_SCALED)) > 0)
 *         fcs_writer_write(w, buf, n);
 *     if (fcs_writer_close(w) != FCS_OK) ...         // nothing is renamed into place on error
 *
 * Output. A path, or "-" for stdout. A path is written to "PATH.tmp.<pid>"
 * in the same folder and renamed into place by a successful
 * fcs_writer_close(), after fsync; on any error (or fcs_writer_abort) the
 * temporary file is removed and an existing PATH is left untouched.
 *
 * What is written. HEADER (offsets above 99,999,999 given as 0 in the HEADER
 * and in $BEGINDATA/$ENDDATA, FCS 3.1 section 3.2), one TEXT segment with
 * every required keyword ($BEGINANALYSIS ... $TOT, $PnB/$PnE/$PnN/$PnR),
 * the caller's keywords with delimiters escaped, the DATA segment and the
 * CRC field "00000000". The writer owns the structural keywords
 * ($BEGIN*, $END*, $NEXTDATA, $TOT, $PAR, $DATATYPE, $BYTEORD, $MODE,
 * $PnB, $PnE, $PnDATATYPE): setting them is silently superseded.
 *
 * Event count. FCS needs $TOT before the data. Pass it to fcs_writer_begin;
 * pass -1 when it is unknown: the events are then buffered in an unlinked
 * temporary file and the file is assembled at fcs_writer_close().
 */
#ifndef FCS_WRITER_H
#define FCS_WRITER_H

#include "fcs/common.h"
#include "fcs/reader.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fcs_writer fcs_writer;

typedef struct fcs_write_opts {
    char datatype;  /**< 'F' (float32, default), 'D' (float64) or 'I' (unsigned integers) */
    int int_bits;   /**< for 'I': 8, 16, 32 or 64 bits per value (default 32); values
                         are rounded and clamped to [0, min($PnR, 2^bits) - 1] */
    int big_endian; /**< byte order: 0 = native little-endian "1,2,3,4" (default) */
} fcs_write_opts;

FCS_EXPORT void fcs_write_opts_init(fcs_write_opts *opts);

/** Create a writer for n_params parameters writing to path ("-" = stdout). */
FCS_EXPORT int fcs_writer_open(fcs_writer **out, const char *path, size_t n_params,
                               const fcs_write_opts *opts, fcs_error *err) FCS_WARN_UNUSED;

/** One-line message of the last error on this writer ("" when none). */
FCS_EXPORT const char *fcs_writer_errmsg(const fcs_writer *w);

/** Describe parameter i (0-based): $PnN (required, unique), $PnS (NULL = none)
 *  and $PnR (> 0). Must precede fcs_writer_begin. */
FCS_EXPORT int fcs_writer_set_param(fcs_writer *w, size_t i, const char *name, const char *label,
                                    double range) FCS_WARN_UNUSED;

/** Set (or replace, case-insensitively) a keyword. value "" is written as a
 *  single blank (FCS forbids empty values). NULL value deletes the keyword.
 *  Must precede fcs_writer_begin. */
FCS_EXPORT int fcs_writer_set_keyword(fcs_writer *w, const char *name,
                                      const char *value) FCS_WARN_UNUSED;

/**
 * Copy the keywords of r's selected data set: every non-structural keyword,
 * and the parameter keywords ($PnN, $PnS, $PnR, $PnG, $PnV, $PnL, ...)
 * renumbered through param_map: output parameter i takes input parameter
 * param_map[i] (-1: none, set it with fcs_writer_set_param). param_map NULL
 * means the identity (the writer must then have r's parameter count).
 * Because the writer stores channel values, $PnG of copied parameters is set
 * to 1 and $PnE to 0,0; the original values are kept as LIBFCS_PnG and
 * LIBFCS_PnE for provenance when they differed.
 */
FCS_EXPORT int fcs_writer_copy_keywords(fcs_writer *w, const fcs_reader *r,
                                        const int *param_map) FCS_WARN_UNUSED;

/** Write HEADER and TEXT for n_events events (-1 = unknown, see above). */
FCS_EXPORT int fcs_writer_begin(fcs_writer *w, int64_t n_events) FCS_WARN_UNUSED;

/** Append n events, event by event (n * n_params values). */
FCS_EXPORT int fcs_writer_write(fcs_writer *w, const double *events, size_t n) FCS_WARN_UNUSED;
FCS_EXPORT int fcs_writer_write_f32(fcs_writer *w, const float *events,
                                    size_t n) FCS_WARN_UNUSED;

/**
 * Finish the file: check that the announced number of events was written,
 * write the CRC field, flush, fsync and rename into place. Frees the writer
 * whatever the outcome. Returns FCS_OK or a negative status; on failure the
 * message is copied to err (may be NULL) and no file is left at PATH.
 */
FCS_EXPORT int fcs_writer_close(fcs_writer *w, fcs_error *err) FCS_WARN_UNUSED;

/** Give up: remove the temporary file and free the writer. Accepts NULL. */
FCS_EXPORT void fcs_writer_abort(fcs_writer *w);

#ifdef __cplusplus
}
#endif
#endif
