/*
 * fcs/comp.h — fluorescence compensation, decompensation and spectral
 * unmixing of event chunks, and reading matrices from CSV/TSV files.
 *
 * Usage sketch (compensate a data set with its own spillover matrix)
 *
 *     const fcs_matrix *spill = fcs_spillover(r, NULL);
 *     size_t np = fcs_n_params(r);
 *     const char **names = malloc(np * sizeof *names), **labels = ...;
 *     for (size_t i = 0; i < np; i++) {
 *         names[i] = fcs_param_info(r, i)->name;      // may be NULL
 *         labels[i] = fcs_param_info(r, i)->label;    // may be NULL
 *     }
 *     fcs_comp *c;
 *     if (fcs_comp_new(&c, spill, names, labels, np, NULL, &err) != FCS_OK) ...
 *     while ((n = fcs_read_events(r, buf, 4096, FCS_VALUES_SCALED)) > 0)
 *         fcs_comp_apply(c, buf, (size_t)n);          // in place
 *     fcs_comp_free(c);
 *
 * Model. An observed event o (one value per detector) is the true signal t
 * times the spillover matrix S: o = t x S, where S[i][j] is the fraction of
 * channel i's signal seen by detector j (1 on the diagonal), as $SPILLOVER
 * stores it. Compensation computes t = o x S^-1; decompensation o = t x S.
 * Only the parameters the matrix names are touched; the others (scatter,
 * time, ...) pass through unchanged.
 *
 * Spectral unmixing. A spectrum matrix A has one row per fluorochrome and
 * one column per detector (Gating-ML 2.0 spectrumMatrix; f <= d). Each
 * event's abundances a (one per fluorochrome) are the ordinary least-squares
 * solution of a x A = o, computed with the pseudo-inverse A^T (A A^T)^-1,
 * which is precomputed from a Householder QR factorisation of A^T (never by
 * forming A A^T, whose condition number is the square of A's).
 *
 * Numerics. S^-1 is computed once at creation from an LU factorisation with
 * partial pivoting (solving S X = I, not by cofactors or an unpivoted
 * elimination). The 1-norm condition number kappa = |S|_1 |S^-1|_1 (for
 * spectral matrices: of the R factor) is computed exactly; a matrix above
 * opts.max_condition is refused with FCS_ENUMERIC, or accepted with a
 * warning when opts.force is set. A (numerically) singular matrix is always
 * refused. Applying the precomputed matrix costs k*k multiply-adds per event
 * (k = channels compensated) in a blocked, vectorised loop; its relative
 * error is bounded by about kappa * 1e-16.
 *
 * Threads. A fcs_comp is immutable after creation: any number of threads may
 * apply the same object to their own buffers at the same time.
 */
#ifndef FCS_COMP_H
#define FCS_COMP_H

#include "fcs/common.h"
#include "fcs/matrix.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fcs_comp fcs_comp;

/** Options for fcs_comp_new*(). Fill with fcs_comp_opts_init() first. */
typedef struct fcs_comp_opts {
    /** Match matrix names against $PnS too, when no $PnN matches (exact,
     *  then case-insensitive). Default 0: $PnN only. */
    int match_labels;
    /** Accept a matrix whose condition number exceeds max_condition (a
     *  warning is recorded instead). Singular matrices are always refused. */
    int force;
    /** Largest accepted condition number. Default 1e6 (spillover matrices
     *  of real panels are typically below 100). */
    double max_condition;
    /** Refuse every matrix channel that matches no parameter. Default 0: a
     *  channel that matches nothing and neither spills into nor receives
     *  from any other channel (identity row and column) is left out with a
     *  warning, since leaving it out changes no result. */
    int strict_names;
} fcs_comp_opts;

FCS_EXPORT void fcs_comp_opts_init(fcs_comp_opts *opts);

/**
 * Build a compensation from a square spillover matrix (names = detector /
 * channel names) for a data set with n_params parameters.
 *
 * param_names: $PnN of the data set in order (entries may be NULL);
 * param_labels: $PnS (may be NULL, entries may be NULL), used only with
 * opts->match_labels. Each matrix channel is matched to the parameter with
 * an equal $PnN, else one equal ignoring ASCII case, else (match_labels) by
 * $PnS the same way. opts may be NULL (defaults).
 *
 * Errors (err holds one line naming the channel): FCS_EINVAL (NULL or non-
 * square matrix, empty or duplicate channel names), FCS_ENOTFOUND (a channel
 * matches no parameter and is coupled to others, or no channel matches at
 * all), FCS_EINVAL (two channels match the same parameter), FCS_ENUMERIC
 * (singular, or ill-conditioned without force), FCS_ENOMEM.
 * On success *out is the new object (free with fcs_comp_free); else NULL.
 */
FCS_EXPORT int fcs_comp_new(fcs_comp **out, const fcs_matrix *spillover,
                            const char *const *param_names, const char *const *param_labels,
                            size_t n_params, const fcs_comp_opts *opts,
                            fcs_error *err) FCS_WARN_UNUSED;

/**
 * Build a spectral unmixing from a spectrum matrix (rows = fluorochromes,
 * named by fcs_matrix_row_name, or "Unmixed<i>" when unset; columns =
 * detectors, matched to parameters as in fcs_comp_new). Needs at least as
 * many (matched) detectors as fluorochromes and linearly independent
 * spectra. A detector column that matches no parameter is left out with a
 * warning when it is all zero, else refused (FCS_ENOTFOUND). Errors as for
 * fcs_comp_new; FCS_EINVAL when there are more fluorochromes than detectors.
 */
FCS_EXPORT int fcs_comp_new_spectral(fcs_comp **out, const fcs_matrix *spectrum,
                                     const char *const *param_names,
                                     const char *const *param_labels, size_t n_params,
                                     const fcs_comp_opts *opts, fcs_error *err) FCS_WARN_UNUSED;

/** Free the object. Accepts NULL. */
FCS_EXPORT void fcs_comp_free(fcs_comp *c);

/* ---- what the object does ------------------------------------------------- */

/** 1 for a spectral unmixing, 0 for a square compensation. */
FCS_EXPORT int fcs_comp_is_spectral(const fcs_comp *c);
/** Number of parameters per event the object was built for. */
FCS_EXPORT size_t fcs_comp_n_params(const fcs_comp *c);
/** Number of detectors (input channels) used. */
FCS_EXPORT size_t fcs_comp_n_inputs(const fcs_comp *c);
/** Parameter index (0-based) of input channel i; -1 when out of range. For
 *  a square compensation output channel i is written back to the same
 *  parameter. */
FCS_EXPORT int64_t fcs_comp_input_param(const fcs_comp *c, size_t i);
/** Number of outputs per event of fcs_comp_unmix(): the fluorochromes of a
 *  spectral unmixing, the input channels of a compensation. */
FCS_EXPORT size_t fcs_comp_n_outputs(const fcs_comp *c);
/** Name of output j: the fluorochrome (spectral), or the matrix's name of
 *  channel j (compensation). "" when out of range. */
FCS_EXPORT const char *fcs_comp_output_name(const fcs_comp *c, size_t j);
/** The matrix actually used, restricted to the matched channels and in
 *  their order (spillover k x k, or spectrum f x d), column names = the
 *  matrix's channel names. For provenance keywords, e.g. with
 *  fcs_matrix_to_spillover(). Owned by c. */
FCS_EXPORT const fcs_matrix *fcs_comp_matrix(const fcs_comp *c);
/** The 1-norm condition number computed at creation. */
FCS_EXPORT double fcs_comp_condition(const fcs_comp *c);
/** Warnings recorded at creation ("comp-unmatched-channel: ...",
 *  "comp-ill-conditioned: ..."), one line each. */
FCS_EXPORT size_t fcs_comp_n_warnings(const fcs_comp *c);
FCS_EXPORT const char *fcs_comp_warning(const fcs_comp *c, size_t i);

/* ---- applying it to events ---------------------------------------------------- */

/**
 * Compensate n_events events in place, event by event: parameter j of event
 * i at events[i * n_params + j] (the reader's default layout). Returns
 * FCS_OK, or FCS_EINVAL (NULL arguments, spectral object: use
 * fcs_comp_unmix). NaN or infinite inputs spread to every compensated
 * channel of that event.
 */
FCS_EXPORT int fcs_comp_apply(const fcs_comp *c, double *events, size_t n_events);

/**
 * Same, column by column: parameter j of event i at buf[j * stride + i]
 * (the reader's FCS_VALUES_COLUMNS layout, where stride is the chunk
 * capacity max_events; stride >= n_events, 0 means n_events).
 */
FCS_EXPORT int fcs_comp_apply_columns(const fcs_comp *c, double *buf, size_t n_events,
                                      size_t stride);

/** Decompensation, the inverse operation (o = t x S), in place; layouts and
 *  errors as fcs_comp_apply / fcs_comp_apply_columns. */
FCS_EXPORT int fcs_comp_decompensate(const fcs_comp *c, double *events, size_t n_events);
FCS_EXPORT int fcs_comp_decompensate_columns(const fcs_comp *c, double *buf, size_t n_events,
                                             size_t stride);

/**
 * Out of place: read n_events events of n_params values each (row-major)
 * from events and write fcs_comp_n_outputs() values per event to out
 * (out[i * n_outputs + j]): the unmixed abundances of a spectral object, or
 * the compensated matched channels of a compensation. events and out must
 * not overlap. FCS_EINVAL on NULL arguments.
 */
FCS_EXPORT int fcs_comp_unmix(const fcs_comp *c, const double *events, size_t n_events,
                              double *out);

/**
 * float32 variants (the pipe format's type, as fcs_read_events_f32 fills
 * it): same layouts, contracts and errors; values are converted to double,
 * computed in double and rounded once to float32 when stored.
 */
FCS_EXPORT int fcs_comp_apply_f32(const fcs_comp *c, float *events, size_t n_events);
FCS_EXPORT int fcs_comp_apply_columns_f32(const fcs_comp *c, float *buf, size_t n_events,
                                          size_t stride);
FCS_EXPORT int fcs_comp_decompensate_f32(const fcs_comp *c, float *events, size_t n_events);
FCS_EXPORT int fcs_comp_decompensate_columns_f32(const fcs_comp *c, float *buf,
                                                 size_t n_events, size_t stride);
FCS_EXPORT int fcs_comp_unmix_f32(const fcs_comp *c, const float *events, size_t n_events,
                                  float *out);

/* ---- matrix files ------------------------------------------------------------------ */

/**
 * Parse a matrix from CSV or TSV text (as FlowJo and most tools export it).
 *
 * Layout. Lines end in LF, CRLF or CR; a UTF-8 BOM, blank lines and lines
 * starting with '#' are ignored. The delimiter is detected: of tab, ';' and
 * ',' the one found (outside quotes) on the most lines (ties in that
 * order), else runs of blanks; it is never re-guessed. Fields may be
 * quoted with '"' ("" inside is a quote). The matrix is the block of
 * consecutive numeric rows; the line just before it is the header of column
 * (channel) names; lines before the header (FlowJo's matrix name, "<>"
 * markers) are ignored. A row may start with a row name (non-numeric first
 * field); the header may then have an extra first cell (empty or a corner
 * label), which is dropped. A number in the header line is an error (the
 * line is then a broken row). With ';', tab or blank delimiters a decimal
 * comma ("0,12") is read as a decimal point. Values must be finite.
 *
 * Rows. Row names that are the column names in another order are put in
 * column order (row i then describes channel i); other row names are kept
 * (fcs_matrix_row_name), e.g. fluorochromes of a spectrum matrix.
 *
 * Percent. A square matrix whose diagonal is exactly 100 everywhere is in
 * percent (FlowJo's display) and is divided by 100.
 *
 * name is used in messages (NULL: "<matrix>"). Errors are FCS_EFORMAT with
 * one line "NAME: line L, column C: problem" (column = field number,
 * 1-based), or FCS_ENOMEM. On success *out is the matrix (caller frees).
 */
FCS_EXPORT int fcs_matrix_parse_text(const char *text, size_t len, const char *name,
                                     fcs_matrix **out, fcs_error *err) FCS_WARN_UNUSED;

/**
 * Read a matrix file ("-" = stdin) and parse it with fcs_matrix_parse_text.
 * Files over 64 MiB are refused (FCS_EFORMAT). FCS_EIO when the file cannot
 * be read (message names the file and the system error).
 */
FCS_EXPORT int fcs_matrix_read_file(const char *path, fcs_matrix **out,
                                    fcs_error *err) FCS_WARN_UNUSED;

#ifdef __cplusplus
}
#endif
#endif
