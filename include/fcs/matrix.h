/*
 * fcs/matrix.h — named square/rectangular matrices: spillover, compensation
 * and spectral matrices, parsed from FCS keywords or from matrix files.
 *
 * A matrix has n_rows x n_cols doubles (row-major) and a channel name per
 * column (and per row for square spillover matrices: the same names).
 * Ownership: fcs_matrix_new / the parse functions create, fcs_matrix_free frees.
 */
#ifndef FCS_MATRIX_H
#define FCS_MATRIX_H

#include "fcs/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fcs_matrix fcs_matrix;

/** New zero matrix with empty names; NULL on allocation failure. */
FCS_EXPORT fcs_matrix *fcs_matrix_new(size_t n_rows, size_t n_cols);
FCS_EXPORT void fcs_matrix_free(fcs_matrix *m);
FCS_EXPORT fcs_matrix *fcs_matrix_copy(const fcs_matrix *m);
FCS_EXPORT size_t fcs_matrix_rows(const fcs_matrix *m);
FCS_EXPORT size_t fcs_matrix_cols(const fcs_matrix *m);
FCS_EXPORT double fcs_matrix_get(const fcs_matrix *m, size_t row, size_t col);
FCS_EXPORT void fcs_matrix_set(fcs_matrix *m, size_t row, size_t col, double v);
/** Row-major data, n_rows*n_cols doubles. */
FCS_EXPORT const double *fcs_matrix_data(const fcs_matrix *m);
/** Channel name of column i (the detector/parameter name); "" when unset. */
FCS_EXPORT const char *fcs_matrix_name(const fcs_matrix *m, size_t col);
/** Set the name of column i (copied). FCS_ENOMEM / FCS_ERANGE on failure. */
FCS_EXPORT int fcs_matrix_set_name(fcs_matrix *m, size_t col, const char *name);

/** Looks a keyword up case-insensitively; returns its value or NULL. */
typedef const char *(*fcs_keyword_lookup_fn)(void *ctx, const char *key);

/**
 * Find and parse the spillover matrix a data set's keywords carry:
 * $SPILLOVER, else SPILL (FCS 3.0 vendor keyword), else $COMP (FCS 2.0,
 * square compensation matrix over the first n parameters, converted to
 * spillover form), else the $DFCiTOj family (FCS 2.0 percentages).
 * Vendor variants handled: channel numbers instead of names (resolved to
 * $PnN via param_names), decimal commas, stray spaces.
 *
 * param_names: the $PnN of the data set in order (n_params entries).
 * On FCS_OK, *out is the spillover matrix (square, names = channel names)
 * and *keyword (if non-NULL) points to a static string naming the source
 * keyword ("$SPILLOVER", "SPILL", "$COMP", "$DFCiTOj").
 * Returns FCS_ENOTFOUND when no such keyword exists or its value is empty;
 * FCS_EFORMAT with a one-line message in err when a keyword is present but
 * cannot be parsed (the reader reports that as a warning).
 */
FCS_EXPORT int fcs_matrix_from_keywords(fcs_keyword_lookup_fn lookup, void *ctx,
                                        const char *const *param_names, size_t n_params,
                                        fcs_matrix **out, const char **keyword,
                                        fcs_error *err);

/** Parse one $SPILLOVER/SPILL value "n,name1..namen,v11,v12,...". */
FCS_EXPORT int fcs_matrix_parse_spillover(const char *value, const char *const *param_names,
                                          size_t n_params, fcs_matrix **out, fcs_error *err);

#ifdef __cplusplus
}
#endif
#endif
