/*
 * fcs/transform.h — channel transforms (display scales) with their inverses.
 *
 * A transform is an immutable handle. Create it from text with
 * fcs_transform_parse() or with an explicit constructor, apply it in place to
 * arrays of double or float with fcs_transform_apply() / _inverse(), record it
 * with fcs_transform_string() (the string parses back to an identical
 * transform), free it with fcs_transform_free(). Handles are never modified
 * after creation, so one handle may be used by several threads at once.
 *
 *     fcs_transform *t;
 *     fcs_error err;
 *     if (fcs_transform_parse("logicle(T=262144,W=0.5,M=4.5,A=0)", &t, &err) != FCS_OK)
 *         fprintf(stderr, "%s\n", err.msg);
 *     fcs_transform_apply_f(t, column, n_events);   // column: float[n_events]
 *     fcs_transform_free(t);
 *
 * Text syntax: NAME or NAME(ARGS). ARGS are comma-separated numbers, each
 * either positional (in the order listed below) or KEY=VALUE (keys are case
 * insensitive; positional arguments come first). Blanks are ignored. Missing
 * parameters take the default listed; a parameter without a default is
 * required.
 *
 *   name            parameters (order, default)         y = f(x)
 *   linear, lin     scale=1, offset=0                   scale*x + offset
 *   log             base=10                             log(x)/log(base)        (x<=0: -Inf/NaN)
 *   asinh, arcsinh  cofactor (required)                 asinh(x/cofactor)
 *   flin            T=262144, A=0                       (x+A)/(T+A)             (Gating-ML 2.0)
 *   flog            T=262144, M=4.5                     log10(x/T)/M + 1        (Gating-ML 2.0)
 *   fasinh          T=262144, M=4.5, A=0                (asinh(x sinh(M ln10)/T) + A ln10)
 *                                                       / ((M+A) ln10)          (Gating-ML 2.0)
 *   fratio          A=1, B=0, C=0                       A*(x-B)/(z-C), two channels x and z
 *   logicle         T=262144, W=0.5, M=4.5, A=0         Gating-ML 2.0 logicle (see below)
 *   hyperlog        T=262144, W=0.5, M=4.5, A=0         Gating-ML 2.0 hyperlog (see below)
 *   biex            width=-10, pos=4.41854, neg=0,      FlowJo's biexponential (see below)
 *                   max=262144.000029
 *
 * Parameter rules (FCS_EINVAL with a message naming the parameter otherwise):
 * all values finite; linear: scale != 0; log: base > 0, != 1; asinh:
 * cofactor > 0; flin: T > 0, 0 <= A <= T; flog: T > 0, M > 0; fasinh: T > 0,
 * M > 0, 0 <= A <= M; fratio: A != 0; logicle: T > 0, M > 0, 0 <= W <= M/2,
 * -W <= A <= M - 2W; hyperlog: the same with W > 0; biex: width <= -1,
 * pos > 0, neg >= 0, max > 0 and log10(-width) <= pos.
 *
 * Logicle (Parks, Roederer & Moore 2006; parameterised as in Gating-ML 2.0):
 * y = root of B(y) = x with B(y) = a e^(by) - c e^(-dy) - f, where
 * w = W/(M+A), x2 = A/(M+A), x1 = x2 + w, x0 = x2 + 2w, b = (M+A) ln 10, d
 * solves 2(ln d - ln b) + w(b + d) = 0, and a, c, f make B(x1) = 0,
 * B(1) = T and B''(x1) = 0. As in the Moore & Parks (2012) reference
 * implementation, the scale is exactly antisymmetric about x1:
 * y(-x) = 2 x1 - y(x). T maps to 1, 0 maps to x1.
 *
 * Hyperlog (Bagwell 2005; Gating-ML 2.0): the same construction with
 * EH(y) = a e^(by) + c y - f, c = a e^(b x0)/w, EH(x1) = 0, EH(1) = T,
 * antisymmetric about x1.
 *
 * Biex is the biexponential of FlowJo (v10): the continuous function behind
 * FlowJo's 4096-channel lookup table (the legacy TreeStar construction that
 * FlowKit and cytolib reproduce), evaluated exactly instead of interpolated,
 * and divided by 4096 so that it runs over about [0, 1] like logicle:
 * y = FlowJo channel / 4096 (FlowKit's WSPBiexTransform outputs the channel
 * itself, 0..4096). It reproduces FlowJo's exported table to its 6 printed
 * digits. In logicle terms it is a logicle with
 *     T ~ max, W = log10(-width)/2, M = pos, A = neg,
 * except that FlowJo (1) moves the zero to a whole channel,
 * x1 = floor(4096 (neg + W)/(pos + neg)) / 4096, rescaling M + A to match,
 * (2) normalises by a = max 10^-(M+A) instead of making y = 1 map exactly to
 * max, and (3) places table row i at i/4097 of the exponent range. So
 * biex(width, pos, neg, max) and logicle(T=max, W=log10(-width)/2, M=pos,
 * A=neg) differ by a few channels of 4096: 0.9 for width -7.94 / neg 1, 4.7
 * at FlowJo's defaults, 20 for width -1000 (measured in test_logicle.c).
 *
 * Special values: NaN maps to NaN, +-Inf to the transform's limits (logicle:
 * +-Inf); log and flog give -Inf at 0 and NaN below 0, like libm. Float
 * arrays are computed in double and rounded once to float.
 *
 * Accuracy and speed: logicle, hyperlog and biex are evaluated through
 * per-handle tables (about 200 KiB, built in a few ms): a start from a cubic
 * interpolation of the inverse, refined by one Newton step on the exact
 * biexponential; the error bound of every table bucket is checked when the
 * handle is built, and values outside the tables (|x| beyond about 2^20 T,
 * NaN, Inf) use the exact solver. The forward result is within 3 ulp of
 * max(|y|, x1) of the exact root (measured max 2.6 over millions of values
 * and 19 parameter sets, 177 more spot-checked); the inverse within a few
 * ulp times 1 + b|y - x1|, the conditioning of e^(by). Float results are the correctly rounded
 * value except at near ties (at most 1 float ulp). Results are identical on
 * every CPU: the SSE2, AVX2 and AVX-512 code paths, chosen at run time,
 * perform the same operations in the same order.
 */
#ifndef FCS_TRANSFORM_H
#define FCS_TRANSFORM_H

#include "fcs/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fcs_transform fcs_transform;

/** The kinds of transform (see the table above). */
typedef enum fcs_transform_kind {
    FCS_TRANSFORM_LINEAR = 1,
    FCS_TRANSFORM_LOG,
    FCS_TRANSFORM_ASINH,
    FCS_TRANSFORM_FLIN,
    FCS_TRANSFORM_FLOG,
    FCS_TRANSFORM_FASINH,
    FCS_TRANSFORM_FRATIO,
    FCS_TRANSFORM_LOGICLE,
    FCS_TRANSFORM_HYPERLOG,
    FCS_TRANSFORM_BIEX
} fcs_transform_kind;

/** Gating-ML 2.0 parameters of a logicle (also used by hyperlog). */
typedef struct fcs_logicle_params {
    double T; /**< top of scale: data value mapped to 1 */
    double W; /**< decades of the near-linear region around zero */
    double M; /**< decades of the whole (log-like) scale */
    double A; /**< extra decades of negative data below zero */
} fcs_logicle_params;

/* ---- creation ------------------------------------------------------------ */

/**
 * Parse a transform from text (syntax above), e.g. "asinh(150)",
 * "logicle(T=262144,W=0.5,M=4.5,A=0)", "flog(10000,5)", "linear".
 * On FCS_OK *out is a new handle (free with fcs_transform_free). Errors:
 * FCS_EINVAL with a one-line message quoting the text and naming the
 * offending name, parameter or character (unknown transform, unknown or
 * repeated parameter, malformed number, value out of range); FCS_ENOMEM.
 */
FCS_EXPORT int fcs_transform_parse(const char *text, fcs_transform **out,
                                   fcs_error *err) FCS_WARN_UNUSED;

/* Explicit constructors: same parameters and rules as the text form. Each
 * returns FCS_OK and a new handle in *out, or FCS_EINVAL / FCS_ENOMEM with a
 * message in err (may be NULL). */
FCS_EXPORT int fcs_transform_new_linear(double scale, double offset, fcs_transform **out,
                                        fcs_error *err) FCS_WARN_UNUSED;
FCS_EXPORT int fcs_transform_new_log(double base, fcs_transform **out,
                                     fcs_error *err) FCS_WARN_UNUSED;
FCS_EXPORT int fcs_transform_new_asinh(double cofactor, fcs_transform **out,
                                       fcs_error *err) FCS_WARN_UNUSED;
FCS_EXPORT int fcs_transform_new_flin(double T, double A, fcs_transform **out,
                                      fcs_error *err) FCS_WARN_UNUSED;
FCS_EXPORT int fcs_transform_new_flog(double T, double M, fcs_transform **out,
                                      fcs_error *err) FCS_WARN_UNUSED;
FCS_EXPORT int fcs_transform_new_fasinh(double T, double M, double A, fcs_transform **out,
                                        fcs_error *err) FCS_WARN_UNUSED;
FCS_EXPORT int fcs_transform_new_fratio(double A, double B, double C, fcs_transform **out,
                                        fcs_error *err) FCS_WARN_UNUSED;
FCS_EXPORT int fcs_transform_new_logicle(const fcs_logicle_params *p, fcs_transform **out,
                                         fcs_error *err) FCS_WARN_UNUSED;
FCS_EXPORT int fcs_transform_new_hyperlog(const fcs_logicle_params *p, fcs_transform **out,
                                          fcs_error *err) FCS_WARN_UNUSED;
/** FlowJo biex: width basis (e.g. -10), positive decades, negative decades, max value. */
FCS_EXPORT int fcs_transform_new_biex(double width, double pos, double neg, double max_value,
                                      fcs_transform **out, fcs_error *err) FCS_WARN_UNUSED;

/** Free a transform; NULL is allowed. */
FCS_EXPORT void fcs_transform_free(fcs_transform *t);

/* ---- inspection ---------------------------------------------------------- */

/** Kind of t (0 for NULL). */
FCS_EXPORT fcs_transform_kind fcs_transform_get_kind(const fcs_transform *t);
/** Canonical name of a kind ("logicle", ...); "" for an unknown value. */
FCS_EXPORT const char *fcs_transform_kind_name(fcs_transform_kind kind);
/** Number of input channels: 2 for fratio, 1 for every other transform (0 for NULL). */
FCS_EXPORT int fcs_transform_arity(const fcs_transform *t);
/**
 * Canonical text of the transform with every parameter by name, e.g.
 * "logicle(T=262144,W=0.5,M=4.5,A=0)"; numbers are printed with the fewest
 * digits that read back to the same double, so parsing the string gives a
 * transform with identical parameters and identical results. The string is
 * owned by the handle and lives as long as it (NULL for t == NULL).
 */
FCS_EXPORT const char *fcs_transform_string(const fcs_transform *t);
/**
 * Value of the parameter called `name` (case insensitive, as in the text
 * form: "T", "cofactor", "width", ...). FCS_ENOTFOUND if the transform has
 * no such parameter.
 */
FCS_EXPORT int fcs_transform_param(const fcs_transform *t, const char *name, double *value);

/* ---- evaluation ---------------------------------------------------------- */

/**
 * Forward transform of n values in place (v[i] = f(v[i])). Returns FCS_OK,
 * or FCS_EINVAL when t or v (with n > 0) is NULL or t takes two channels
 * (use fcs_transform_apply2).
 */
FCS_EXPORT int fcs_transform_apply(const fcs_transform *t, double *v, size_t n);
/** Inverse transform in place (v[i] = f^-1(v[i])); errors as fcs_transform_apply. */
FCS_EXPORT int fcs_transform_inverse(const fcs_transform *t, double *v, size_t n);
/** Float versions: computed in double, rounded once to float. */
FCS_EXPORT int fcs_transform_apply_f(const fcs_transform *t, float *v, size_t n);
FCS_EXPORT int fcs_transform_inverse_f(const fcs_transform *t, float *v, size_t n);

/**
 * Two-channel transforms (fratio): x[i] = f(x[i], z[i]) in place;
 * inverse: x[i] = the value whose ratio with z[i] is x[i]. FCS_EINVAL when t
 * takes one channel or an array is NULL.
 */
FCS_EXPORT int fcs_transform_apply2(const fcs_transform *t, double *x, const double *z, size_t n);
FCS_EXPORT int fcs_transform_inverse2(const fcs_transform *t, double *x, const double *z, size_t n);
FCS_EXPORT int fcs_transform_apply2_f(const fcs_transform *t, float *x, const float *z, size_t n);
FCS_EXPORT int fcs_transform_inverse2_f(const fcs_transform *t, float *x, const float *z, size_t n);

/**
 * One value, forward or inverse (for gates and axis labels). One-channel
 * transforms only; NaN for a two-channel transform or t == NULL.
 */
FCS_EXPORT double fcs_transform_value(const fcs_transform *t, double x);
FCS_EXPORT double fcs_transform_inverse_value(const fcs_transform *t, double y);

/* ---- logicle parameters from data ---------------------------------------- */

/**
 * Estimate logicle parameters for one channel (the rule of Parks et al.
 * 2006, as flowCore's estimateLogicle):
 *   T = range (the channel's $PnR, i.e. the top of its scale);
 *   M = 4.5;
 *   A = 0;
 *   W = (M - log10(T / |r|)) / 2, where r is the 5th percentile of the
 *       negative values (the value with 5% of the negative values below
 *       it), clamped to [0, M/2]; W = 0 when there are no negative values
 *       or |r| < T / 10^M.
 * NaN and infinite values are ignored. The result always satisfies the
 * logicle rules. Returns FCS_OK; FCS_EINVAL when p is NULL, values is NULL
 * with n > 0, or range is not a finite number > 0; FCS_ENOMEM.
 */
FCS_EXPORT int fcs_logicle_estimate(const double *values, size_t n, double range,
                                    fcs_logicle_params *p);
/** The same for float data. */
FCS_EXPORT int fcs_logicle_estimate_f(const float *values, size_t n, double range,
                                      fcs_logicle_params *p);

#ifdef __cplusplus
}
#endif
#endif
