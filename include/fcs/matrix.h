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

/** New zero matrix with empty names (0 rows or columns allowed); NULL on
 *  allocation failure or when n_rows*n_cols doubles overflow size_t. */
FCS_EXPORT fcs_matrix *fcs_matrix_new(size_t n_rows, size_t n_cols);
/** Free the matrix and its names. Accepts NULL. */
FCS_EXPORT void fcs_matrix_free(fcs_matrix *m);
/** Deep copy (values and names); NULL when m is NULL or memory runs out. */
FCS_EXPORT fcs_matrix *fcs_matrix_copy(const fcs_matrix *m);
/** Dimensions; 0 for NULL. */
FCS_EXPORT size_t fcs_matrix_rows(const fcs_matrix *m);
FCS_EXPORT size_t fcs_matrix_cols(const fcs_matrix *m);
/** Element (row, col), 0-based; NAN when out of range. */
FCS_EXPORT double fcs_matrix_get(const fcs_matrix *m, size_t row, size_t col);
/** Set element (row, col); ignored when out of range. */
FCS_EXPORT void fcs_matrix_set(fcs_matrix *m, size_t row, size_t col, double v);
/** Row-major data, n_rows*n_cols doubles, owned by m (NULL for NULL). */
FCS_EXPORT const double *fcs_matrix_data(const fcs_matrix *m);
/** Channel name of column i (the detector/parameter name); "" when unset
 *  or out of range. Owned by m, valid until the name is changed. */
FCS_EXPORT const char *fcs_matrix_name(const fcs_matrix *m, size_t col);
/** Set the name of column i (copied; NULL or "" unsets it).
 *  FCS_ENOMEM / FCS_ERANGE (col out of range) / FCS_EINVAL (m NULL). */
FCS_EXPORT int fcs_matrix_set_name(fcs_matrix *m, size_t col, const char *name);

/** Name of row i ("" when unset or out of range). Spillover matrices leave
 *  row names unset: row i is the channel of column i. Spectrum matrices
 *  (rows = fluorochromes) name their rows. Owned by m. */
FCS_EXPORT const char *fcs_matrix_row_name(const fcs_matrix *m, size_t row);
/** Set the name of row i (copied; NULL or "" unsets it). Errors as
 *  fcs_matrix_set_name. */
FCS_EXPORT int fcs_matrix_set_row_name(fcs_matrix *m, size_t row, const char *name);

/**
 * Format a square matrix as a $SPILLOVER value "n,name1,...,namen,v11,...,vnn"
 * (each value the shortest decimal that reads back to the same double), for
 * writing provenance keywords. Returns a malloc'd string the caller frees,
 * or NULL when m is NULL, empty, not square, holds a non-finite value, has
 * an empty column name or a name containing ',' (which the keyword cannot carry), or memory runs out.
 * fcs_matrix_parse_spillover() of the result gives back the same matrix.
 */
FCS_EXPORT char *fcs_matrix_to_spillover(const fcs_matrix *m);

/* Reading matrices from CSV/TSV files (FlowJo exports): see fcs/comp.h. */

/** Looks a keyword up case-insensitively; returns its value or NULL. The
 *  value must stay valid until the calling function returns. */
typedef const char *(*fcs_keyword_lookup_fn)(void *ctx, const char *key);

/**
 * Find and parse the spillover matrix a data set's keywords carry:
 * $SPILLOVER, else SPILL (FCS 3.0 vendor keyword), else $COMP (FCS 2.0,
 * square compensation matrix over the first n parameters, converted to
 * spillover form), else the $DFCiTOj family (FCS 2.0 percentages).
 * Vendor variants handled: channel numbers instead of names (resolved to
 * $PnN via param_names), decimal commas, stray spaces.
 *
 * The first of these keywords that is present with a non-blank value
 * decides; a later one is not tried when it fails to parse.
 *  - $SPILLOVER / SPILL: see fcs_matrix_parse_spillover().
 *  - $COMP "n,c11,c12,...,cnn" (row-major, optionally with n names after n
 *    as in $SPILLOVER): a compensation matrix C (compensated = observed x C)
 *    over parameters 1..n; the result is its inverse, the spillover matrix,
 *    named by $PnN ("P<n>" for a parameter without $PnN). A channel whose
 *    row and column are all zero (Gallios writes TIME so) is taken as
 *    uncompensated (diagonal 1). A singular $COMP is FCS_EFORMAT.
 *  - $DFCiTOj: percent of fluorescence detector i's signal found in detector
 *    j. The result covers every detector that appears in some $DFCiTOj
 *    (ascending), S[i][j] = value/100, 1 on the diagonal (a stored $DFCiTOi
 *    is ignored), 0 where a pair is absent. Detector i is named after the
 *    first parameter whose $PnN is "FLi" or starts with "FLi" followed by a
 *    non-digit ("FL1 INT LOG", "FL1-H"), else "FLi". Detectors 1..max(16,
 *    min(n_params, 64)) are probed.
 *
 * param_names: the $PnN of the data set in order (n_params entries; an
 * entry may be NULL for a parameter without $PnN; param_names may be NULL).
 * On FCS_OK, *out is the spillover matrix (square, names = channel names,
 * caller frees it) and *keyword (if non-NULL) points to a static string
 * naming the source keyword ("$SPILLOVER", "SPILL", "$COMP", "$DFCiTOj").
 * Returns FCS_ENOTFOUND when no such keyword exists or its value is empty;
 * FCS_EFORMAT with a one-line message in err when a keyword is present but
 * cannot be parsed (the reader reports that as a warning): the message
 * starts with the keyword, e.g. "$SPILLOVER: declares 6 parameters but
 * holds 6 name(s) and 0 of 36 values"; *keyword is then still set.
 * On any error *out is NULL. FCS_EINVAL when lookup or out is NULL.
 */
FCS_EXPORT int fcs_matrix_from_keywords(fcs_keyword_lookup_fn lookup, void *ctx,
                                        const char *const *param_names, size_t n_params,
                                        fcs_matrix **out, const char **keyword,
                                        fcs_error *err);

/**
 * Parse one $SPILLOVER/SPILL value "n,name1,...,namen,v11,v12,...,vnn"
 * (row-major: vij = fraction of the signal of channel i seen in channel j).
 *  - Fields are trimmed of blanks; names are kept as written otherwise.
 *  - Channel numbers: when every name is a number k in 1..n_params whose
 *    parameter has a $PnN, and no name equals some $PnN, the names become
 *    param_names[k-1] ("2,3,4,..." as Accuri/Gallios write).
 *  - Decimal commas ("0,123"): accepted only when the field count is exactly
 *    1+n+2*n*n and every value pair is <integer>,<digits[exponent]>; the
 *    count is then unambiguous evidence. Any other count is refused.
 *  - One trailing empty field (value ending in ",") is ignored.
 *  - n names and no numbers (MACSQuant) is FCS_EFORMAT, as are a missing or
 *    non-positive n, empty names, and values that are not finite numbers.
 * param_names as for fcs_matrix_from_keywords (may be NULL). On FCS_OK *out
 * is the n x n matrix (caller frees); on error *out is NULL and err holds a
 * one-line message starting with "$SPILLOVER: ". FCS_EINVAL for NULL
 * value/out.
 */
FCS_EXPORT int fcs_matrix_parse_spillover(const char *value, const char *const *param_names,
                                          size_t n_params, fcs_matrix **out, fcs_error *err);

#ifdef __cplusplus
}
#endif
#endif
