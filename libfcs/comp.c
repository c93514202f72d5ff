/*
 * comp.c — compensation (t = o x S^-1), decompensation (o = t x S) and
 * spectral unmixing (least squares a x A = o) of event chunks.
 *
 * All linear algebra happens once, at creation: the applied matrix is
 * precomputed (LU with partial pivoting for S^-1, Householder QR for the
 * pseudo-inverse), so applying it is a plain product that the compiler
 * vectorises: events are processed in blocks of FCS_COMP_BLOCK, the block's
 * input channels gathered into a small contiguous scratch (one row per
 * channel, one lane per event) and each output channel accumulated over all
 * events of the block at once.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcs/comp.h"
#include "internal.h"

/* Events per block: 32 lanes keep 8 AVX2 (or 16 SSE2) accumulators busy. */
#define FCS_COMP_BLOCK 32

struct fcs_comp {
    int spectral;
    size_t n_params;
    size_t kin, kout;  /* input detectors, outputs */
    size_t *in_idx;    /* kin parameter indices */
    double *fwd_t;     /* kout x kin: y_j = sum_i fwd_t[j*kin + i] * x_i */
    double *rev_t;     /* square only: kin x kin, decompensation */
    fcs_matrix *used;  /* the matrix restricted to the matched channels */
    char **out_names;  /* kout */
    double cond;
    char **warn;
    size_t n_warn;
};

void fcs_comp_opts_init(fcs_comp_opts *opts)
{
    if (!opts) return;
    memset(opts, 0, sizeof *opts);
    opts->max_condition = 1e6;
}

void fcs_comp_free(fcs_comp *c)
{
    if (!c) return;
    if (c->out_names)
        for (size_t j = 0; j < c->kout; j++) free(c->out_names[j]);
    for (size_t i = 0; i < c->n_warn; i++) free(c->warn[i]);
    free(c->warn);
    free(c->out_names);
    free(c->in_idx);
    free(c->fwd_t);
    free(c->rev_t);
    fcs_matrix_free(c->used);
    free(c);
}

static int add_warning(fcs_comp *c, const char *fmt, ...) FCS_PRINTF(2, 3);
static int add_warning(fcs_comp *c, const char *fmt, ...)
{
    char buf[FCS_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char **w = realloc(c->warn, (c->n_warn + 1) * sizeof *w);
    if (!w) return FCS_ENOMEM;
    c->warn = w;
    if (!(w[c->n_warn] = fcs_strdup(buf))) return FCS_ENOMEM;
    c->n_warn++;
    return FCS_OK;
}

/* ---- matching matrix channels to parameters ---------------------------------- */

static int64_t find_in(const char *name, const char *const *list, size_t n, int fold)
{
    if (!list) return -1;
    for (size_t i = 0; i < n; i++) {
        if (!list[i]) continue;
        if (fold ? fcs_strcasecmp(list[i], name) == 0 : strcmp(list[i], name) == 0)
            return (int64_t)i;
    }
    return -1;
}

/* $PnN exact, $PnN ignoring case, then (match_labels) $PnS the same way. */
static int64_t match_param(const char *name, const char *const *names,
                           const char *const *labels, size_t np, int match_labels)
{
    int64_t p = find_in(name, names, np, 0);
    if (p < 0) p = find_in(name, names, np, 1);
    if (p < 0 && match_labels) p = find_in(name, labels, np, 0);
    if (p < 0 && match_labels) p = find_in(name, labels, np, 1);
    return p;
}

/* Column j of a rows x cols matrix is zero except (for square) its diagonal. */
static int column_decoupled(const fcs_matrix *m, size_t j, int square)
{
    for (size_t i = 0; i < fcs_matrix_rows(m); i++)
        if ((!square || i != j) && fcs_matrix_get(m, i, j) != 0) return 0;
    return 1;
}

static int row_decoupled(const fcs_matrix *m, size_t i)
{
    for (size_t j = 0; j < fcs_matrix_cols(m); j++)
        if (i != j && fcs_matrix_get(m, i, j) != 0) return 0;
    return 1;
}

/* Match every column of m to a parameter. keep[j] = 1 for matched columns,
 * param[j] their parameter. Unmatched decoupled columns are dropped with a
 * warning (unless strict); unmatched coupled ones are an error. */
static int match_columns(fcs_comp *c, const fcs_matrix *m, int square,
                         const char *const *names, const char *const *labels, size_t np,
                         const fcs_comp_opts *o, unsigned char *keep, size_t *param,
                         size_t *n_kept, fcs_error *err)
{
    size_t cols = fcs_matrix_cols(m);
    *n_kept = 0;
    for (size_t j = 0; j < cols; j++) {
        const char *nm = fcs_matrix_name(m, j);
        if (!*nm)
            return fcs_error_set(err, FCS_EINVAL, "compensation: matrix channel %zu has no name",
                                 j + 1);
        for (size_t k = 0; k < j; k++)
            if (strcmp(fcs_matrix_name(m, k), nm) == 0)
                return fcs_error_set(err, FCS_EINVAL,
                                     "compensation: channel '%s' appears twice in the matrix", nm);
        int64_t p = match_param(nm, names, labels, np, o->match_labels);
        keep[j] = p >= 0;
        if (p >= 0) {
            for (size_t k = 0; k < j; k++)
                if (keep[k] && param[k] == (size_t)p)
                    return fcs_error_set(err, FCS_EINVAL,
                                         "compensation: channels '%s' and '%s' both match "
                                         "parameter %lld",
                                         fcs_matrix_name(m, k), nm, (long long)p + 1);
            param[j] = (size_t)p;
            (*n_kept)++;
            continue;
        }
        int decoupled = column_decoupled(m, j, square) && (!square || row_decoupled(m, j));
        if (o->strict_names || !decoupled)
            return fcs_error_set(err, FCS_ENOTFOUND,
                                 "compensation: channel '%s' matches no $PnN%s of the data set%s",
                                 nm, o->match_labels ? " or $PnS" : "",
                                 decoupled ? "" : " and is coupled to other channels");
        if (add_warning(c, "comp-unmatched-channel: '%s' matches no parameter and is not "
                        "coupled to any other channel; left out", nm) != FCS_OK)
            return fcs_error_set(err, FCS_ENOMEM, "compensation: out of memory");
    }
    if (*n_kept == 0)
        return fcs_error_set(err, FCS_ENOTFOUND,
                             "compensation: none of the %zu matrix channels matches a parameter",
                             cols);
    return FCS_OK;
}

/* ---- dense linear algebra (small matrices, row-major) ---------------------------------- */

static double norm1(const double *a, size_t rows, size_t cols)
{
    double best = 0;
    for (size_t j = 0; j < cols; j++) {
        double s = 0;
        for (size_t i = 0; i < rows; i++) s += fabs(a[i * cols + j]);
        if (s > best) best = s;
    }
    return best;
}

/* LU factorisation with partial pivoting, in place (L unit lower, U upper),
 * perm[i] = original row now at row i. Returns the index of the first
 * (numerically) zero pivot, or n when the matrix is regular. */
static size_t lu_factor(double *a, size_t n, size_t *perm)
{
    double amax = 0;
    for (size_t k = 0; k < n * n; k++) amax = fmax(amax, fabs(a[k]));
    double tol = (double)n * DBL_EPSILON * amax;
    for (size_t i = 0; i < n; i++) perm[i] = i;
    for (size_t k = 0; k < n; k++) {
        size_t p = k;
        for (size_t i = k + 1; i < n; i++)
            if (fabs(a[i * n + k]) > fabs(a[p * n + k])) p = i;
        if (!(fabs(a[p * n + k]) > tol)) return k;
        if (p != k) {
            for (size_t j = 0; j < n; j++) {
                double t = a[k * n + j];
                a[k * n + j] = a[p * n + j];
                a[p * n + j] = t;
            }
            size_t t = perm[k];
            perm[k] = perm[p];
            perm[p] = t;
        }
        for (size_t i = k + 1; i < n; i++) {
            double l = a[i * n + k] / a[k * n + k];
            a[i * n + k] = l;
            if (l != 0)
                for (size_t j = k + 1; j < n; j++) a[i * n + j] -= l * a[k * n + j];
        }
    }
    return n;
}

/* Solve A x = b with the factors of lu_factor; b (length n) becomes x. */
static void lu_solve(const double *lu, const size_t *perm, size_t n, const double *b, double *x)
{
    for (size_t i = 0; i < n; i++) {
        double s = b[perm[i]];
        for (size_t j = 0; j < i; j++) s -= lu[i * n + j] * x[j];
        x[i] = s;
    }
    for (size_t i = n; i-- > 0;) {
        double s = x[i];
        for (size_t j = i + 1; j < n; j++) s -= lu[i * n + j] * x[j];
        x[i] = s / lu[i * n + i];
    }
}

/* inv = S^-1 by solving S X = I column by column. Returns the zero-pivot
 * index or n. */
static size_t invert_lu(const double *s, size_t n, double *inv, double *work)
{
    double *lu = work, *e = work + n * n, *x = e + n;
    size_t *perm = (size_t *)(x + n);
    memcpy(lu, s, n * n * sizeof *lu);
    size_t bad = lu_factor(lu, n, perm);
    if (bad < n) return bad;
    for (size_t j = 0; j < n; j++) {
        memset(e, 0, n * sizeof *e);
        e[j] = 1;
        lu_solve(lu, perm, n, e, x);
        for (size_t i = 0; i < n; i++) inv[i * n + j] = x[i];
    }
    return n;
}

/* Inverse of an upper triangular f x f matrix (diagonal known non-zero). */
static void upper_inverse(const double *r, size_t f, double *ri)
{
    memset(ri, 0, f * f * sizeof *ri);
    for (size_t j = 0; j < f; j++) {
        ri[j * f + j] = 1 / r[j * f + j];
        for (size_t i = j; i-- > 0;) {
            double s = 0;
            for (size_t k = i + 1; k <= j; k++) s += r[i * f + k] * ri[k * f + j];
            ri[i * f + j] = -s / r[i * f + i];
        }
    }
}

/* Householder QR of B (d x f, d >= f, row-major), in place: on return the
 * upper triangle of B's first f rows is R, and v (d x f) holds the unit
 * reflector vectors (column j nonzero from row j). Returns the first column
 * whose pivot is (numerically) zero, or f. */
static size_t householder_qr(double *b, size_t d, size_t f, double *v)
{
    double bmax = 0;
    for (size_t k = 0; k < d * f; k++) bmax = fmax(bmax, fabs(b[k]));
    double tol = (double)(d > f ? d : f) * DBL_EPSILON * bmax;
    memset(v, 0, d * f * sizeof *v);
    for (size_t j = 0; j < f; j++) {
        double nx = 0;
        for (size_t i = j; i < d; i++) nx = hypot(nx, b[i * f + j]);
        if (!(nx > tol)) return j;
        double alpha = b[j * f + j] > 0 ? -nx : nx; /* avoid cancellation */
        double vn = 0;
        for (size_t i = j; i < d; i++) {
            v[i * f + j] = b[i * f + j] - (i == j ? alpha : 0);
            vn = hypot(vn, v[i * f + j]);
        }
        for (size_t i = j; i < d; i++) v[i * f + j] /= vn;
        for (size_t k = j; k < f; k++) { /* B[j:, k] -= 2 v (v . B[j:, k]) */
            double dot = 0;
            for (size_t i = j; i < d; i++) dot += v[i * f + j] * b[i * f + k];
            for (size_t i = j; i < d; i++) b[i * f + k] -= 2 * dot * v[i * f + j];
        }
        /* rounding leaves tiny values under the pivot; R is exact upper */
        b[j * f + j] = alpha;
        for (size_t i = j + 1; i < d; i++) b[i * f + j] = 0;
    }
    return f;
}

/* Thin Q (d x f) = H_0 ... H_{f-1} [I; 0]. */
static void householder_q(const double *v, size_t d, size_t f, double *q)
{
    memset(q, 0, d * f * sizeof *q);
    for (size_t i = 0; i < f; i++) q[i * f + i] = 1;
    for (size_t j = f; j-- > 0;) {
        for (size_t k = 0; k < f; k++) {
            double dot = 0;
            for (size_t i = j; i < d; i++) dot += v[i * f + j] * q[i * f + k];
            for (size_t i = j; i < d; i++) q[i * f + k] -= 2 * dot * v[i * f + j];
        }
    }
}

/* ---- building the object ----------------------------------------------------------- */

static int check_condition(fcs_comp *c, const fcs_comp_opts *o, const char *what,
                           fcs_error *err)
{
    if (c->cond <= o->max_condition) return FCS_OK;
    if (!o->force)
        return fcs_error_set(err, FCS_ENUMERIC,
                             "compensation: %s is ill-conditioned (condition number %.3g > "
                             "%.3g): results would be dominated by noise; force to accept",
                             what, c->cond, o->max_condition);
    if (add_warning(c, "comp-ill-conditioned: %s has condition number %.3g > %.3g; "
                    "accepted because forced",
                    what, c->cond, o->max_condition) != FCS_OK)
        return fcs_error_set(err, FCS_ENOMEM, "compensation: out of memory");
    return FCS_OK;
}

/* Allocate the object and the per-channel arrays. */
static fcs_comp *comp_alloc(size_t np, size_t kin, size_t kout, int square)
{
    fcs_comp *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->n_params = np;
    c->kin = kin;
    c->kout = kout;
    c->spectral = !square;
    c->in_idx = calloc(kin, sizeof *c->in_idx);
    c->fwd_t = calloc(kin * kout, sizeof *c->fwd_t);
    c->out_names = calloc(kout, sizeof *c->out_names);
    if (square) c->rev_t = calloc(kin * kin, sizeof *c->rev_t);
    if (!c->in_idx || !c->fwd_t || !c->out_names || (square && !c->rev_t)) {
        fcs_comp_free(c);
        return NULL;
    }
    return c;
}

/* Copy the kept rows/columns of m into a new matrix with names. */
static fcs_matrix *restrict_matrix(const fcs_matrix *m, const size_t *rows, size_t nr,
                                   const size_t *cols, size_t nc, int row_names)
{
    fcs_matrix *r = fcs_matrix_new(nr, nc);
    if (!r) return NULL;
    for (size_t i = 0; i < nr; i++) {
        for (size_t j = 0; j < nc; j++) fcs_matrix_set(r, i, j, fcs_matrix_get(m, rows[i], cols[j]));
        if (row_names && fcs_matrix_set_row_name(r, i, fcs_matrix_row_name(m, rows[i])) != FCS_OK)
            goto fail;
    }
    for (size_t j = 0; j < nc; j++)
        if (fcs_matrix_set_name(r, j, fcs_matrix_name(m, cols[j])) != FCS_OK) goto fail;
    return r;
fail:
    fcs_matrix_free(r);
    return NULL;
}

static int check_finite(const fcs_matrix *m, fcs_error *err)
{
    const double *v = fcs_matrix_data(m);
    size_t n = fcs_matrix_rows(m) * fcs_matrix_cols(m);
    for (size_t k = 0; k < n; k++)
        if (!isfinite(v[k]))
            return fcs_error_set(err, FCS_EINVAL,
                                 "compensation: matrix element (%zu, %zu) is not finite",
                                 k / fcs_matrix_cols(m) + 1, k % fcs_matrix_cols(m) + 1);
    return FCS_OK;
}

/* Square part: S^-1 by LU, condition number, forward/reverse matrices. */
static int build_square(fcs_comp *c, const fcs_comp_opts *o, fcs_error *err)
{
    size_t k = c->kin;
    const double *s = fcs_matrix_data(c->used);
    double *inv = malloc(k * k * sizeof *inv);
    double *work = malloc((k * k + 2 * k) * sizeof(double) + k * sizeof(size_t));
    if (!inv || !work) {
        free(inv);
        free(work);
        return fcs_error_set(err, FCS_ENOMEM, "compensation: out of memory");
    }
    size_t bad = invert_lu(s, k, inv, work);
    free(work);
    if (bad < k) {
        free(inv);
        return fcs_error_set(err, FCS_ENUMERIC,
                             "compensation: spillover matrix is singular (no pivot left at "
                             "channel '%s'); it cannot be inverted",
                             fcs_matrix_name(c->used, bad));
    }
    c->cond = norm1(s, k, k) * norm1(inv, k, k);
    for (size_t i = 0; i < k; i++)
        for (size_t j = 0; j < k; j++) {
            c->fwd_t[j * k + i] = inv[i * k + j];
            c->rev_t[j * k + i] = s[i * k + j];
        }
    free(inv);
    return check_condition(c, o, "spillover matrix", err);
}

int fcs_comp_new(fcs_comp **out, const fcs_matrix *spill, const char *const *names,
                 const char *const *labels, size_t np, const fcs_comp_opts *opts, fcs_error *err)
{
    if (!out) return fcs_error_set(err, FCS_EINVAL, "compensation: no output given");
    *out = NULL;
    fcs_comp_opts def;
    fcs_comp_opts_init(&def);
    const fcs_comp_opts *o = opts ? opts : &def;
    if (!spill) return fcs_error_set(err, FCS_EINVAL, "compensation: no spillover matrix");
    size_t n = fcs_matrix_rows(spill);
    if (n != fcs_matrix_cols(spill) || n == 0)
        return fcs_error_set(err, FCS_EINVAL,
                             "compensation: spillover matrix is %zux%zu, not square "
                             "(spectrum matrices: fcs_comp_new_spectral)",
                             n, fcs_matrix_cols(spill));
    int rc = check_finite(spill, err);
    if (rc != FCS_OK) return rc;

    unsigned char *keep = calloc(n, 1);
    size_t *param = calloc(n, sizeof *param), *sel = calloc(n, sizeof *sel);
    fcs_comp tmp = {0}; /* collects warnings before the size is known */
    fcs_comp *c = NULL;
    size_t k = 0;
    if (!keep || !param || !sel) {
        rc = fcs_error_set(err, FCS_ENOMEM, "compensation: out of memory");
        goto done;
    }
    rc = match_columns(&tmp, spill, 1, names, labels, np, o, keep, param, &k, err);
    if (rc != FCS_OK) goto done;
    if (!(c = comp_alloc(np, k, k, 1))) {
        rc = fcs_error_set(err, FCS_ENOMEM, "compensation: out of memory");
        goto done;
    }
    c->warn = tmp.warn, c->n_warn = tmp.n_warn, tmp.warn = NULL, tmp.n_warn = 0;
    for (size_t j = 0, a = 0; j < n; j++)
        if (keep[j]) sel[a] = j, c->in_idx[a] = param[j], a++;
    c->used = restrict_matrix(spill, sel, k, sel, k, 0);
    for (size_t j = 0; c->used && j < k; j++)
        if (!(c->out_names[j] = fcs_strdup(fcs_matrix_name(c->used, j)))) break;
    if (!c->used || (k && !c->out_names[k - 1])) {
        rc = fcs_error_set(err, FCS_ENOMEM, "compensation: out of memory");
        goto done;
    }
    rc = build_square(c, o, err);
done:
    for (size_t i = 0; i < tmp.n_warn; i++) free(tmp.warn[i]);
    free(tmp.warn);
    free(keep);
    free(param);
    free(sel);
    if (rc != FCS_OK) {
        fcs_comp_free(c);
        return rc;
    }
    *out = c;
    return FCS_OK;
}

/* Spectral part: pseudo-inverse P = Q R^-T of A^T = Q R (d x f). */
static int build_spectral(fcs_comp *c, const fcs_comp_opts *o, fcs_error *err)
{
    size_t f = c->kout, d = c->kin;
    const double *a = fcs_matrix_data(c->used); /* f x d */
    double *b = malloc(d * f * sizeof *b), *v = malloc(d * f * sizeof *v);
    double *q = malloc(d * f * sizeof *q), *r = malloc(f * f * sizeof *r);
    double *ri = malloc(f * f * sizeof *ri);
    int rc = FCS_OK;
    if (!b || !v || !q || !r || !ri) {
        rc = fcs_error_set(err, FCS_ENOMEM, "unmixing: out of memory");
        goto done;
    }
    for (size_t i = 0; i < d; i++)
        for (size_t j = 0; j < f; j++) b[i * f + j] = a[j * d + i];
    size_t bad = householder_qr(b, d, f, v);
    if (bad < f) {
        rc = fcs_error_set(err, FCS_ENUMERIC,
                           "unmixing: spectrum of '%s' is (numerically) a combination of the "
                           "spectra before it; the spectrum matrix has no pseudo-inverse",
                           c->out_names[bad]);
        goto done;
    }
    for (size_t i = 0; i < f; i++)
        for (size_t j = 0; j < f; j++) r[i * f + j] = j >= i ? b[i * f + j] : 0;
    householder_q(v, d, f, q);
    upper_inverse(r, f, ri);
    c->cond = norm1(r, f, f) * norm1(ri, f, f);
    /* a_r = sum_i o_i P[i][r], P[i][r] = sum_s Q[i][s] Rinv[r][s] */
    for (size_t rr = 0; rr < f; rr++)
        for (size_t i = 0; i < d; i++) {
            double s = 0;
            for (size_t t = rr; t < f; t++) s += q[i * f + t] * ri[rr * f + t];
            c->fwd_t[rr * d + i] = s;
        }
    rc = check_condition(c, o, "spectrum matrix", err);
done:
    free(b);
    free(v);
    free(q);
    free(r);
    free(ri);
    return rc;
}

static int set_fluor_names(fcs_comp *c)
{
    for (size_t j = 0; j < c->kout; j++) {
        const char *nm = fcs_matrix_row_name(c->used, j);
        char tmp[32];
        if (!*nm) {
            snprintf(tmp, sizeof tmp, "Unmixed%zu", j + 1);
            nm = tmp;
        }
        if (!(c->out_names[j] = fcs_strdup(nm))) return FCS_ENOMEM;
    }
    return FCS_OK;
}

int fcs_comp_new_spectral(fcs_comp **out, const fcs_matrix *spec, const char *const *names,
                          const char *const *labels, size_t np, const fcs_comp_opts *opts,
                          fcs_error *err)
{
    if (!out) return fcs_error_set(err, FCS_EINVAL, "unmixing: no output given");
    *out = NULL;
    fcs_comp_opts def;
    fcs_comp_opts_init(&def);
    const fcs_comp_opts *o = opts ? opts : &def;
    if (!spec) return fcs_error_set(err, FCS_EINVAL, "unmixing: no spectrum matrix");
    size_t f = fcs_matrix_rows(spec), dcols = fcs_matrix_cols(spec);
    if (f == 0 || dcols == 0)
        return fcs_error_set(err, FCS_EINVAL, "unmixing: spectrum matrix is empty");
    int rc = check_finite(spec, err);
    if (rc != FCS_OK) return rc;

    unsigned char *keep = calloc(dcols, 1);
    size_t *param = calloc(dcols, sizeof *param), *sel = calloc(dcols, sizeof *sel);
    size_t *rows = calloc(f, sizeof *rows);
    fcs_comp tmp = {0};
    fcs_comp *c = NULL;
    size_t d = 0;
    if (!keep || !param || !sel || !rows) {
        rc = fcs_error_set(err, FCS_ENOMEM, "unmixing: out of memory");
        goto done;
    }
    rc = match_columns(&tmp, spec, 0, names, labels, np, o, keep, param, &d, err);
    if (rc != FCS_OK) goto done;
    if (f > d) {
        rc = fcs_error_set(err, FCS_EINVAL,
                           "unmixing: %zu fluorochromes but only %zu matched detectors; least "
                           "squares needs at least as many detectors",
                           f, d);
        goto done;
    }
    if (!(c = comp_alloc(np, d, f, 0))) {
        rc = fcs_error_set(err, FCS_ENOMEM, "unmixing: out of memory");
        goto done;
    }
    c->warn = tmp.warn, c->n_warn = tmp.n_warn, tmp.warn = NULL, tmp.n_warn = 0;
    for (size_t j = 0, a = 0; j < dcols; j++)
        if (keep[j]) sel[a] = j, c->in_idx[a] = param[j], a++;
    for (size_t i = 0; i < f; i++) rows[i] = i;
    c->used = restrict_matrix(spec, rows, f, sel, d, 1);
    if (!c->used || set_fluor_names(c) != FCS_OK) {
        rc = fcs_error_set(err, FCS_ENOMEM, "unmixing: out of memory");
        goto done;
    }
    rc = build_spectral(c, o, err);
done:
    for (size_t i = 0; i < tmp.n_warn; i++) free(tmp.warn[i]);
    free(tmp.warn);
    free(keep);
    free(param);
    free(sel);
    free(rows);
    if (rc != FCS_OK) {
        fcs_comp_free(c);
        return rc;
    }
    *out = c;
    return FCS_OK;
}

/* ---- queries -------------------------------------------------------------------------- */

int fcs_comp_is_spectral(const fcs_comp *c) { return c ? c->spectral : 0; }
size_t fcs_comp_n_params(const fcs_comp *c) { return c ? c->n_params : 0; }
size_t fcs_comp_n_inputs(const fcs_comp *c) { return c ? c->kin : 0; }
size_t fcs_comp_n_outputs(const fcs_comp *c) { return c ? c->kout : 0; }
const fcs_matrix *fcs_comp_matrix(const fcs_comp *c) { return c ? c->used : NULL; }
double fcs_comp_condition(const fcs_comp *c) { return c ? c->cond : NAN; }
size_t fcs_comp_n_warnings(const fcs_comp *c) { return c ? c->n_warn : 0; }

int64_t fcs_comp_input_param(const fcs_comp *c, size_t i)
{
    return (c && i < c->kin) ? (int64_t)c->in_idx[i] : -1;
}

const char *fcs_comp_output_name(const fcs_comp *c, size_t j)
{
    return (c && j < c->kout) ? c->out_names[j] : "";
}

const char *fcs_comp_warning(const fcs_comp *c, size_t i)
{
    return (c && i < c->n_warn) ? c->warn[i] : "";
}

/* ---- the product ---------------------------------------------------------------------- */

/* Where channel values live: element (event e, channel index p) is at
 * base[e * ev + p * par]. Rows: ev = n_params, par = 1; columns: ev = 1,
 * par = stride. */
typedef struct layout {
    size_t ev, par;
} layout;

typedef struct product {
    const double *mt; /* kout x kin */
    size_t kin, kout;
    const size_t *in_idx, *out_idx; /* out_idx NULL: output j at channel j */
} product;

/* Gather the block's inputs: x[i*B + b] = channel in_idx[i] of event e0+b,
 * zero-padded past nb so the product loop always runs full width. The
 * values are read as float32 or double (f32 is a constant after inlining);
 * arithmetic is always double. */
static inline __attribute__((always_inline)) void gather(const product *p, const void *src,
                                                         layout ls, size_t e0, size_t nb,
                                                         double *x, const int f32)
{
    for (size_t i = 0; i < p->kin; i++) {
        size_t at = e0 * ls.ev + p->in_idx[i] * ls.par;
        double *xi = x + i * FCS_COMP_BLOCK;
        if (f32) {
            const float *s = (const float *)src + at;
            for (size_t b = 0; b < nb; b++) xi[b] = s[b * ls.ev];
        } else if (ls.ev == 1) {
            memcpy(xi, (const double *)src + at, nb * sizeof *xi);
        } else {
            const double *s = (const double *)src + at;
            for (size_t b = 0; b < nb; b++) xi[b] = s[b * ls.ev];
        }
        for (size_t b = nb; b < FCS_COMP_BLOCK; b++) xi[b] = 0;
    }
}

static inline __attribute__((always_inline)) void scatter(void *dst, layout ld, size_t at,
                                                          const double *acc, size_t nb,
                                                          const int f32)
{
    if (f32) {
        float *d = (float *)dst + at;
        for (size_t b = 0; b < nb; b++) d[b * ld.ev] = (float)acc[b];
    } else if (ld.ev == 1) {
        memcpy((double *)dst + at, acc, nb * sizeof *acc);
    } else {
        double *d = (double *)dst + at;
        for (size_t b = 0; b < nb; b++) d[b * ld.ev] = acc[b];
    }
}

/* The hot loop: for every output channel, accumulate all B events of the
 * block in B independent lanes (fixed trip count: vectorised and kept in
 * registers), then scatter. Inlined into generic and AVX2 copies, for
 * double and float32 buffers. */
static inline __attribute__((always_inline)) void product_body(const product *p,
                                                               const void *src, layout ls,
                                                               void *dst, layout ld, size_t n,
                                                               double *x, const int f32)
{
    for (size_t e0 = 0; e0 < n; e0 += FCS_COMP_BLOCK) {
        size_t nb = n - e0 < FCS_COMP_BLOCK ? n - e0 : FCS_COMP_BLOCK;
        gather(p, src, ls, e0, nb, x, f32);
        for (size_t j = 0; j < p->kout; j++) {
            double acc[FCS_COMP_BLOCK] = {0};
            const double *m = p->mt + j * p->kin;
            for (size_t i = 0; i < p->kin; i++) {
                const double w = m[i];
                const double *xi = x + i * FCS_COMP_BLOCK;
                for (size_t b = 0; b < FCS_COMP_BLOCK; b++) acc[b] += w * xi[b];
            }
            size_t ch = p->out_idx ? p->out_idx[j] : j;
            scatter(dst, ld, e0 * ld.ev + ch * ld.par, acc, nb, f32);
        }
    }
}

typedef void (*product_fn)(const product *, const void *, layout, void *, layout, size_t,
                           double *);

static void product_generic(const product *p, const void *src, layout ls, void *dst,
                            layout ld, size_t n, double *x)
{
    product_body(p, src, ls, dst, ld, n, x, 0);
}

static void product_generic_f32(const product *p, const void *src, layout ls, void *dst,
                                layout ld, size_t n, double *x)
{
    product_body(p, src, ls, dst, ld, n, x, 1);
}

#if defined(__x86_64__) && defined(__GNUC__)
#define FCS_COMP_HAVE_AVX2 1
__attribute__((target("avx2"))) static void product_avx2(const product *p, const void *src,
                                                         layout ls, void *dst, layout ld,
                                                         size_t n, double *x)
{
    product_body(p, src, ls, dst, ld, n, x, 0);
}

__attribute__((target("avx2"))) static void product_avx2_f32(const product *p,
                                                             const void *src, layout ls,
                                                             void *dst, layout ld, size_t n,
                                                             double *x)
{
    product_body(p, src, ls, dst, ld, n, x, 1);
}
#endif

static int run_product(const product *p, const void *src, layout ls, void *dst, layout ld,
                       size_t n, int f32)
{
    if (n == 0 || p->kout == 0) return FCS_OK;
    /* scratch per call (not in the object): the object stays immutable and
     * shareable between threads; one small allocation per chunk. */
    double *x = malloc(p->kin * FCS_COMP_BLOCK * sizeof *x);
    if (!x) return FCS_ENOMEM;
    product_fn fn = f32 ? product_generic_f32 : product_generic;
#ifdef FCS_COMP_HAVE_AVX2
    if (__builtin_cpu_supports("avx2")) fn = f32 ? product_avx2_f32 : product_avx2;
#endif
    fn(p, src, ls, dst, ld, n, x);
    free(x);
    return FCS_OK;
}

static int apply_square(const fcs_comp *c, int reverse, void *buf, size_t n, int columns,
                        size_t stride, int f32)
{
    if (!c || !buf || c->spectral) return FCS_EINVAL;
    layout l = {c->n_params, 1};
    if (columns) {
        if (stride == 0) stride = n;
        if (stride < n) return FCS_EINVAL;
        l = (layout){1, stride};
    }
    product p = {reverse ? c->rev_t : c->fwd_t, c->kin, c->kout, c->in_idx, c->in_idx};
    return run_product(&p, buf, l, buf, l, n, f32);
}

int fcs_comp_apply(const fcs_comp *c, double *events, size_t n_events)
{
    return apply_square(c, 0, events, n_events, 0, 0, 0);
}

int fcs_comp_decompensate(const fcs_comp *c, double *events, size_t n_events)
{
    return apply_square(c, 1, events, n_events, 0, 0, 0);
}

int fcs_comp_apply_columns(const fcs_comp *c, double *buf, size_t n_events, size_t stride)
{
    return apply_square(c, 0, buf, n_events, 1, stride, 0);
}

int fcs_comp_decompensate_columns(const fcs_comp *c, double *buf, size_t n_events,
                                  size_t stride)
{
    return apply_square(c, 1, buf, n_events, 1, stride, 0);
}

int fcs_comp_apply_f32(const fcs_comp *c, float *events, size_t n_events)
{
    return apply_square(c, 0, events, n_events, 0, 0, 1);
}

int fcs_comp_decompensate_f32(const fcs_comp *c, float *events, size_t n_events)
{
    return apply_square(c, 1, events, n_events, 0, 0, 1);
}

int fcs_comp_apply_columns_f32(const fcs_comp *c, float *buf, size_t n_events, size_t stride)
{
    return apply_square(c, 0, buf, n_events, 1, stride, 1);
}

int fcs_comp_decompensate_columns_f32(const fcs_comp *c, float *buf, size_t n_events,
                                      size_t stride)
{
    return apply_square(c, 1, buf, n_events, 1, stride, 1);
}

static int unmix(const fcs_comp *c, const void *events, size_t n_events, void *out, int f32)
{
    if (!c || !events || !out) return FCS_EINVAL;
    product p = {c->fwd_t, c->kin, c->kout, c->in_idx, NULL};
    return run_product(&p, events, (layout){c->n_params, 1}, out, (layout){c->kout, 1},
                       n_events, f32);
}

int fcs_comp_unmix(const fcs_comp *c, const double *events, size_t n_events, double *out)
{
    return unmix(c, events, n_events, out, 0);
}

int fcs_comp_unmix_f32(const fcs_comp *c, const float *events, size_t n_events, float *out)
{
    return unmix(c, events, n_events, out, 1);
}
