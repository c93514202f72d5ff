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
 *     if (fcs_writer_close(w, &err) != FCS_OK) ...   // nothing is renamed into place on error
 *
 * Output. A path, or "-" for stdout. A path is written to "PATH.tmp.<pid>"
 * (created exclusively; "PATH.tmp.<pid>.<k>" if a stale one exists) in the
 * same folder and renamed into place by a successful fcs_writer_close(),
 * after fsync; on any error (or fcs_writer_abort) the temporary file is
 * removed and an existing PATH is left untouched. Stdout is written with
 * write(2) on descriptor 1 and never closed; nothing else may write to it
 * meanwhile.
 *
 * What is written (FCS 3.1). The 58-byte HEADER "FCS3.1", four blanks and
 * six 8-byte right-justified offsets: TEXT, DATA, ANALYSIS (0 0). TEXT starts
 * at byte 58; DATA follows the TEXT directly. A DATA offset above 99,999,999
 * makes both DATA fields of the HEADER 0; $BEGINDATA/$ENDDATA in the TEXT
 * always hold the real offsets (the TEXT is rendered until these values and
 * its own length agree). An empty DATA segment (0 events) has offsets 0 0.
 * The TEXT holds every required keyword ($BEGINANALYSIS ... $TOT, then $PnB
 * and $PnE "0,0" per parameter), then the caller's keywords in the order
 * they were first set; after the DATA comes the CRC field "00000000".
 * The writer owns the structural keywords ($BEGIN*, $END*, $NEXTDATA, $TOT,
 * $PAR, $DATATYPE, $BYTEORD, $MODE, $PnB, $PnE, $PnDATATYPE): setting them
 * is silently superseded.
 *
 * Delimiter. The TEXT delimiter is '/' unless '/' occurs in a keyword name
 * or value; then the first of | \ ! ~ ^ # % & * ; : @ form-feed (then any
 * other byte 1-126 except blank, digits and ",.-") that occurs nowhere. If
 * every byte is used, a delimiter found in no name and at the start of no
 * value is chosen and escaped by doubling inside values (FCS 3.1 forbids
 * values starting with the delimiter, so this reads back unambiguously).
 *
 * Event count. FCS needs $TOT before the data. Pass it to fcs_writer_begin;
 * pass -1 when it is unknown: the encoded events are then buffered in an
 * unlinked temporary file (O_TMPFILE in the output folder, else $TMPDIR or
 * /tmp) and the file is assembled at fcs_writer_close().
 *
 * Errors. Every function returns FCS_OK or a negative status, with a
 * one-line message naming the output in fcs_writer_errmsg(). Once
 * fcs_writer_begin succeeded, an I/O or count error is sticky: later calls
 * return it again and fcs_writer_close() removes the temporary file. Every
 * write(2) is checked (a full disk gives FCS_EIO "...: write failed: no space
 * left on device").
 *
 * Broken pipes. The library never touches signal dispositions. A program
 * that ignores SIGPIPE gets FCS_EIO with the message "<stdout>: broken pipe:
 * the reading end was closed" and errno == EPIPE when the failing call
 * (fcs_writer_write*, fcs_writer_begin) returns, and again when
 * fcs_writer_close returns the error, so it can exit quietly.
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

/** Describe parameter i (0-based): $PnN (required, unique), $PnS (NULL or
 *  "" = none) and $PnR (> 0, finite; written as the shortest decimal that
 *  reads back exactly, integers without a point). Must precede
 *  fcs_writer_begin. FCS_ERANGE for i >= n_params, FCS_EINVAL otherwise.
 *  fcs_writer_begin refuses (FCS_EINVAL) a parameter without $PnN, two
 *  equal $PnN, or a $PnR that is missing or not a positive number. */
FCS_EXPORT int fcs_writer_set_param(fcs_writer *w, size_t i, const char *name, const char *label,
                                    double range) FCS_WARN_UNUSED;

/** Set (or replace, case-insensitively, keeping its first position and
 *  spelling) a keyword. value "" is written as a single blank (FCS forbids
 *  empty values). NULL value deletes the keyword. Values are bytes (UTF-8
 *  by FCS 3.1). Names must be non-empty, without leading/trailing blanks
 *  or control bytes (FCS_EINVAL); "$Pn..." with n outside 1..n_params is
 *  FCS_ERANGE. Structural keywords return FCS_OK and are ignored. Must
 *  precede fcs_writer_begin (FCS_EINVAL after it). */
FCS_EXPORT int fcs_writer_set_keyword(fcs_writer *w, const char *name,
                                      const char *value) FCS_WARN_UNUSED;

/**
 * Copy the keywords of r's selected data set: every non-structural keyword,
 * and the parameter keywords ($PnN, $PnS, $PnR, $PnG, $PnV, $PnL, ...)
 * renumbered through param_map: output parameter i takes input parameter
 * param_map[i] (-1: none, set it with fcs_writer_set_param). param_map NULL
 * means the identity (the writer must then have r's parameter count).
 * Because the writer stores channel values, $PnG of copied parameters is set
 * to 1 (when the input has a $PnG) and $PnE to 0,0; the original values are
 * kept as LIBFCS_PnG and LIBFCS_PnE (n = output number) for provenance when
 * they differed. LIBFCS_Pn* keywords of earlier passes are renumbered like
 * $Pn*; keywords of input parameters no output takes are dropped.
 * $PnN is taken from fcs_param_info (the reader's name after its repairs),
 * "P<n>" (output number) when the input has none; a missing $PnR is taken
 * from fcs_param_info's range (2^$PnB for integer data when that is 0).
 * Keywords are copied in file order and replace earlier ones of the same
 * name, so call this before fcs_writer_set_keyword. Keyword names the
 * writer cannot write (control bytes, surrounding blanks) are skipped.
 * FCS_EINVAL when param_map is NULL and the parameter counts differ,
 * FCS_ERANGE when param_map names a parameter r does not have.
 */
FCS_EXPORT int fcs_writer_copy_keywords(fcs_writer *w, const fcs_reader *r,
                                        const int *param_map) FCS_WARN_UNUSED;

/** Check the parameters and write HEADER and TEXT for n_events events
 *  (-1 = unknown, see above). FCS_ERANGE when the DATA size overflows or
 *  the TEXT would end past byte 99,999,999. */
FCS_EXPORT int fcs_writer_begin(fcs_writer *w, int64_t n_events) FCS_WARN_UNUSED;

/** Append n events, event by event (n * n_params values). Values are
 *  channel values: F stores (float)v, D stores v; I rounds to the nearest
 *  integer and clamps to [0, min($PnR, 2^bits) - 1] (NaN -> 0). Writing
 *  more events than announced is FCS_ERANGE (sticky). */
FCS_EXPORT int fcs_writer_write(fcs_writer *w, const double *events, size_t n) FCS_WARN_UNUSED;
FCS_EXPORT int fcs_writer_write_f32(fcs_writer *w, const float *events,
                                    size_t n) FCS_WARN_UNUSED;

/**
 * Finish the file: check that the announced number of events was written,
 * write the CRC field, flush, fsync and rename into place (then fsync the
 * folder, best effort). Frees the writer whatever the outcome. Returns
 * FCS_OK or a negative status (FCS_ERANGE for a wrong event count, FCS_EINVAL
 * before fcs_writer_begin); on failure the message is copied to err (may be
 * NULL), the temporary file is removed and an existing PATH is untouched.
 */
FCS_EXPORT int fcs_writer_close(fcs_writer *w, fcs_error *err) FCS_WARN_UNUSED;

/** Give up: remove the temporary file and free the writer. Accepts NULL. */
FCS_EXPORT void fcs_writer_abort(fcs_writer *w);

#ifdef __cplusplus
}
#endif
#endif
