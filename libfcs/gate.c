/*
 * gate.c — the gate model (strategy: gates, transformations, matrices),
 * reference checking, exact geometry, and evaluation over event chunks.
 *
 * Geometry follows Gating-ML 2.0 section 5; see fcs/gate.h for the rules.
 * The polygon kernel is a vectorisable ray-crossing pass with a rigorous
 * floating-point error filter; the few points it cannot decide (on or within
 * rounding distance of an edge) are recomputed exactly, so "on the edge is
 * inside" holds without any epsilon.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcs/comp.h"
#include "fcs/gate.h"
#include "gate_internal.h"
#include "growbuf.h"
#include "internal.h"

/* ======================================================================
 * Storage
 * ====================================================================== */

/* A gate as stored: the public description with owned memory behind every
 * pointer, plus the quadrant intervals derived from the locations. */
typedef struct gate {
    fcs_gate_info info;
    double **quad_lo, **quad_hi; /* [quadrant][position], NaN = open */
} gate;

typedef struct xform_rec {
    char *id;
    fcs_transform *t;
    char *num, *den; /* fratio channels */
    int line;
} xform_rec;

typedef struct matrix_rec {
    char *id;
    fcs_matrix *m;
    size_t n_fl, n_det;
    char **fl, **det;
    int inverted;
    int line;
} matrix_rec;

typedef struct pop_rec {
    size_t gate;
    long quad; /* -1: the gate itself */
} pop_rec;

struct fcs_strategy {
    gate *gates;
    size_t n_gates, cap_gates;
    xform_rec *xf;
    size_t n_xf, cap_xf;
    matrix_rec *mat;
    size_t n_mat, cap_mat;
    pop_rec *pops;
    size_t n_pops, cap_pops;
    char errmsg[FCS_ERRMSG_MAX];
};

static int serr(fcs_strategy *s, int code, const char *fmt, ...) FCS_PRINTF(3, 4);
static int serr(fcs_strategy *s, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
    va_end(ap);
    return code;
}

static char *dup_or_null(const char *s) { return s ? fcs_strdup(s) : NULL; }

/* Copy of n doubles; NULL for n == 0 or allocation failure (*ok cleared). */
static double *dup_doubles(const double *v, size_t n, int *ok)
{
    if (n == 0) return NULL;
    uint64_t bytes;
    if (fcs_mul_ok(n, sizeof(double), &bytes) || bytes > SIZE_MAX) {
        *ok = 0;
        return NULL;
    }
    double *p = malloc((size_t)bytes);
    if (!p) {
        *ok = 0;
        return NULL;
    }
    memcpy(p, v, (size_t)bytes);
    return p;
}

static void *calloc_n(size_t n, size_t el) { return calloc(n ? n : 1, el); }

static void dim_free(fcs_gate_dim *d)
{
    free((char *)d->name);
    free((char *)d->ratio);
    free((char *)d->compensation);
    free((char *)d->transform);
}

static int dim_copy(fcs_gate_dim *dst, const fcs_gate_dim *src)
{
    memset(dst, 0, sizeof *dst);
    dst->name = dup_or_null(src->name);
    dst->ratio = dup_or_null(src->ratio);
    dst->compensation = dup_or_null(src->compensation);
    dst->transform = dup_or_null(src->transform);
    if ((src->name && !dst->name) || (src->ratio && !dst->ratio) ||
        (src->compensation && !dst->compensation) || (src->transform && !dst->transform)) {
        dim_free(dst);
        return -1;
    }
    return 0;
}

static void gate_free(gate *g)
{
    fcs_gate_info *in = &g->info;
    free((char *)in->id);
    free((char *)in->parent);
    for (size_t i = 0; i < in->n_dims; i++) dim_free((fcs_gate_dim *)&in->dims[i]);
    free((void *)in->dims);
    free((void *)in->min);
    free((void *)in->max);
    free((void *)in->vertices);
    free((void *)in->mean);
    free((void *)in->covariance);
    for (size_t i = 0; i < in->n_dividers; i++) {
        fcs_gate_divider *d = (fcs_gate_divider *)&in->dividers[i];
        free((char *)d->id);
        dim_free(&d->dim);
        free((void *)d->values);
    }
    free((void *)in->dividers);
    for (size_t q = 0; q < in->n_quadrants; q++) {
        fcs_gate_quadrant *qd = (fcs_gate_quadrant *)&in->quadrants[q];
        free((char *)qd->id);
        free((void *)qd->dividers);
        free((void *)qd->locations);
        if (g->quad_lo) free(g->quad_lo[q]);
        if (g->quad_hi) free(g->quad_hi[q]);
    }
    free((void *)in->quadrants);
    free(g->quad_lo);
    free(g->quad_hi);
    for (size_t i = 0; i < in->n_refs; i++) free((char *)in->refs[i].id);
    free((void *)in->refs);
    memset(g, 0, sizeof *g);
}

fcs_strategy *fcs_strategy_new(void) { return calloc(1, sizeof(fcs_strategy)); }

void fcs_strategy_free(fcs_strategy *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->n_gates; i++) gate_free(&s->gates[i]);
    free(s->gates);
    for (size_t i = 0; i < s->n_xf; i++) {
        free(s->xf[i].id);
        fcs_transform_free(s->xf[i].t);
        free(s->xf[i].num);
        free(s->xf[i].den);
    }
    free(s->xf);
    for (size_t i = 0; i < s->n_mat; i++) {
        matrix_rec *m = &s->mat[i];
        free(m->id);
        fcs_matrix_free(m->m);
        for (size_t k = 0; k < m->n_fl; k++) free(m->fl[k]);
        for (size_t k = 0; k < m->n_det; k++) free(m->det[k]);
        free(m->fl);
        free(m->det);
    }
    free(s->mat);
    free(s->pops);
    free(s);
}

const char *fcs_strategy_errmsg(const fcs_strategy *s) { return s ? s->errmsg : ""; }

/* ======================================================================
 * Ids and argument checks
 * ====================================================================== */

static const char *pop_id_of(const fcs_strategy *s, const pop_rec *p)
{
    const gate *g = &s->gates[p->gate];
    return p->quad < 0 ? g->info.id : g->info.quadrants[p->quad].id;
}

/* Is id taken by a gate (quadrant gates included) or a quadrant? */
static int pop_id_taken(const fcs_strategy *s, const char *id)
{
    for (size_t i = 0; i < s->n_gates; i++) {
        const fcs_gate_info *in = &s->gates[i].info;
        if (strcmp(in->id, id) == 0) return 1;
        for (size_t q = 0; q < in->n_quadrants; q++)
            if (strcmp(in->quadrants[q].id, id) == 0) return 1;
    }
    return 0;
}

static int is_reserved_comp(const char *id)
{
    return strcmp(id, FCS_COMP_UNCOMPENSATED) == 0 || strcmp(id, FCS_COMP_FCS) == 0;
}

static int check_new_gate_id(fcs_strategy *s, const char *id)
{
    if (!id || !*id) return serr(s, FCS_EINVAL, "gate without id");
    if (pop_id_taken(s, id)) return serr(s, FCS_EINVAL, "gate '%s': id already used", id);
    return FCS_OK;
}

static int check_dims(fcs_strategy *s, const char *id, const fcs_gate_dim *dims, size_t n)
{
    if (n > 0 && !dims) return serr(s, FCS_EINVAL, "gate '%s': no dimensions given", id);
    for (size_t i = 0; i < n; i++) {
        const fcs_gate_dim *d = &dims[i];
        if (!!d->name == !!d->ratio)
            return serr(s, FCS_EINVAL,
                        "gate '%s': dimension %zu must name either a channel or a ratio", id,
                        i + 1);
        if ((d->name && !*d->name) || (d->ratio && !*d->ratio))
            return serr(s, FCS_EINVAL, "gate '%s': dimension %zu has an empty name", id, i + 1);
        if ((d->compensation && !*d->compensation) || (d->transform && !*d->transform))
            return serr(s, FCS_EINVAL, "gate '%s': dimension %zu has an empty reference", id,
                        i + 1);
    }
    return FCS_OK;
}

/* Append a zeroed gate with id/parent/type set; returns it or NULL (ENOMEM). */
static gate *push_gate(fcs_strategy *s, const char *id, const char *parent, fcs_gate_type type)
{
    if (fcs_grow((void **)&s->gates, &s->cap_gates, s->n_gates + 1, sizeof(gate))) return NULL;
    gate *g = &s->gates[s->n_gates];
    memset(g, 0, sizeof *g);
    g->info.id = fcs_strdup(id);
    g->info.parent = dup_or_null(parent);
    g->info.type = type;
    if (!g->info.id || (parent && !g->info.parent)) {
        gate_free(g);
        return NULL;
    }
    return g;
}

static int push_pop(fcs_strategy *s, size_t gi, long quad)
{
    if (fcs_grow((void **)&s->pops, &s->cap_pops, s->n_pops + 1, sizeof(pop_rec))) return -1;
    s->pops[s->n_pops].gate = gi;
    s->pops[s->n_pops].quad = quad;
    s->n_pops++;
    return 0;
}

/* Make gate g (already filled at s->gates[s->n_gates]) part of s. */
static int commit_gate(fcs_strategy *s, gate *g)
{
    size_t gi = s->n_gates;
    if (g->info.type != FCS_GATE_QUADRANT && push_pop(s, gi, -1)) {
        gate_free(g);
        return serr(s, FCS_ENOMEM, "out of memory");
    }
    s->n_gates++;
    return FCS_OK;
}

static int copy_dims_into(gate *g, const fcs_gate_dim *dims, size_t n)
{
    fcs_gate_dim *d = calloc_n(n, sizeof *d);
    if (!d) return -1;
    g->info.dims = d;
    for (size_t i = 0; i < n; i++) {
        if (dim_copy(&d[i], &dims[i])) return -1;
        g->info.n_dims = i + 1;
    }
    g->info.n_dims = n;
    return 0;
}

static int nomem_gate(fcs_strategy *s, gate *g)
{
    gate_free(g);
    return serr(s, FCS_ENOMEM, "out of memory");
}

/* ======================================================================
 * Adding transformations and matrices
 * ====================================================================== */

/* A private copy of t: transforms are immutable and their canonical text
 * parses back to an identical transform (fcs/transform.h). */
static int copy_transform(const fcs_transform *t, fcs_transform **out, fcs_error *err)
{
    const char *txt = fcs_transform_string(t);
    if (!txt) return fcs_error_set(err, FCS_ENOMEM, "out of memory");
    return fcs_transform_parse(txt, out, err);
}

int fcs_strategy_add_transform(fcs_strategy *s, const char *id, const fcs_transform *t,
                               const char *numerator, const char *denominator)
{
    if (!s) return FCS_EINVAL;
    if (!id || !*id || !t) return serr(s, FCS_EINVAL, "transformation without id or definition");
    for (size_t i = 0; i < s->n_xf; i++)
        if (strcmp(s->xf[i].id, id) == 0)
            return serr(s, FCS_EINVAL, "transformation '%s': id already used", id);
    int two = fcs_transform_arity(t) == 2;
    if (two && (!numerator || !*numerator || !denominator || !*denominator))
        return serr(s, FCS_EINVAL, "transformation '%s': a ratio needs two channel names", id);
    if (!two && (numerator || denominator))
        return serr(s, FCS_EINVAL, "transformation '%s': %s takes one channel, not two", id,
                    fcs_transform_kind_name(fcs_transform_get_kind(t)));
    if (fcs_grow((void **)&s->xf, &s->cap_xf, s->n_xf + 1, sizeof(xform_rec)))
        return serr(s, FCS_ENOMEM, "out of memory");
    xform_rec r;
    memset(&r, 0, sizeof r);
    fcs_error e;
    int rc = copy_transform(t, &r.t, &e);
    if (rc) return serr(s, rc, "transformation '%s': %s", id, e.msg);
    r.id = fcs_strdup(id);
    r.num = dup_or_null(numerator);
    r.den = dup_or_null(denominator);
    if (!r.id || (two && (!r.num || !r.den))) {
        fcs_transform_free(r.t);
        free(r.id), free(r.num), free(r.den);
        return serr(s, FCS_ENOMEM, "out of memory");
    }
    s->xf[s->n_xf++] = r;
    return FCS_OK;
}

static void free_names(char **v, size_t n)
{
    if (!v) return;
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* Copy the n row (rows != 0) or column names of m; a square matrix with
 * unset row names takes its column names. Names must be non-empty and
 * distinct. */
static int copy_names(fcs_strategy *s, const char *id, const char *what, const fcs_matrix *m,
                      int rows, size_t n, char ***out)
{
    int square = fcs_matrix_rows(m) == fcs_matrix_cols(m);
    char **v = calloc_n(n, sizeof *v);
    if (!v) return serr(s, FCS_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *nm = rows ? fcs_matrix_row_name(m, i) : fcs_matrix_name(m, i);
        if (rows && !*nm && square) nm = fcs_matrix_name(m, i);
        if (!*nm) {
            free_names(v, n);
            return serr(s, FCS_EINVAL, "matrix '%s': %s %zu has no name", id, what, i + 1);
        }
        for (size_t k = 0; k < i; k++)
            if (strcmp(v[k], nm) == 0) {
                free_names(v, n);
                return serr(s, FCS_EINVAL, "matrix '%s': %s '%s' appears twice", id, what, nm);
            }
        if (!(v[i] = fcs_strdup(nm))) {
            free_names(v, n);
            return serr(s, FCS_ENOMEM, "out of memory");
        }
    }
    *out = v;
    return FCS_OK;
}

int fcs_strategy_add_matrix(fcs_strategy *s, const char *id, const fcs_matrix *m, int inverted)
{
    if (!s) return FCS_EINVAL;
    if (!id || !*id || !m) return serr(s, FCS_EINVAL, "matrix without id or values");
    if (is_reserved_comp(id))
        return serr(s, FCS_EINVAL, "matrix '%s': id is reserved by Gating-ML", id);
    for (size_t i = 0; i < s->n_mat; i++)
        if (strcmp(s->mat[i].id, id) == 0)
            return serr(s, FCS_EINVAL, "matrix '%s': id already used", id);
    size_t nr = fcs_matrix_rows(m), nc = fcs_matrix_cols(m);
    if (nr == 0 || nc == 0) return serr(s, FCS_EINVAL, "matrix '%s' is empty", id);
    const double *d = fcs_matrix_data(m);
    for (size_t i = 0; i < nr * nc; i++)
        if (!isfinite(d[i])) return serr(s, FCS_EINVAL, "matrix '%s': value not finite", id);
    matrix_rec r;
    memset(&r, 0, sizeof r);
    r.inverted = !!inverted;
    r.n_fl = inverted ? nc : nr;
    r.n_det = inverted ? nr : nc;
    int rc = copy_names(s, id, "fluorochrome", m, !inverted, r.n_fl, &r.fl);
    if (rc == FCS_OK) rc = copy_names(s, id, "detector", m, !!inverted, r.n_det, &r.det);
    if (rc != FCS_OK) {
        free_names(r.fl, r.n_fl);
        return rc;
    }
    r.id = fcs_strdup(id);
    r.m = fcs_matrix_copy(m);
    /* The copy names its rows explicitly, as fcs_comp_new_spectral wants. */
    for (size_t i = 0; r.m && !inverted && i < nr; i++)
        if (fcs_matrix_set_row_name(r.m, i, r.fl[i]) != FCS_OK) {
            fcs_matrix_free(r.m);
            r.m = NULL;
        }
    if (!r.id || !r.m ||
        fcs_grow((void **)&s->mat, &s->cap_mat, s->n_mat + 1, sizeof(matrix_rec))) {
        free(r.id);
        fcs_matrix_free(r.m);
        free_names(r.fl, r.n_fl);
        free_names(r.det, r.n_det);
        return serr(s, FCS_ENOMEM, "out of memory");
    }
    s->mat[s->n_mat++] = r;
    return FCS_OK;
}

/* ======================================================================
 * Adding gates
 * ====================================================================== */

int fcs_strategy_add_rectangle(fcs_strategy *s, const char *id, const char *parent, size_t n_dims,
                               const fcs_gate_dim *dims, const double *min, const double *max)
{
    if (!s) return FCS_EINVAL;
    int rc = check_new_gate_id(s, id);
    if (rc) return rc;
    if (n_dims == 0 || !min || !max)
        return serr(s, FCS_EINVAL, "gate '%s': a rectangle needs at least one dimension", id);
    if ((rc = check_dims(s, id, dims, n_dims))) return rc;
    for (size_t i = 0; i < n_dims; i++) {
        if (isnan(min[i]) && isnan(max[i]))
            return serr(s, FCS_EINVAL, "gate '%s': dimension %zu has neither min nor max", id,
                        i + 1);
    }
    gate *g = push_gate(s, id, parent, FCS_GATE_RECTANGLE);
    if (!g) return serr(s, FCS_ENOMEM, "out of memory");
    int ok = 1;
    g->info.min = dup_doubles(min, n_dims, &ok);
    g->info.max = dup_doubles(max, n_dims, &ok);
    if (!ok || copy_dims_into(g, dims, n_dims)) return nomem_gate(s, g);
    return commit_gate(s, g);
}

int fcs_strategy_add_polygon(fcs_strategy *s, const char *id, const char *parent,
                             const fcs_gate_dim dims[2], size_t n_vertices, const double *xy)
{
    if (!s) return FCS_EINVAL;
    int rc = check_new_gate_id(s, id);
    if (rc) return rc;
    if ((rc = check_dims(s, id, dims, 2))) return rc;
    if (n_vertices < 3 || !xy)
        return serr(s, FCS_EINVAL, "gate '%s': a polygon needs at least 3 vertices (got %zu)", id,
                    xy ? n_vertices : 0);
    if (n_vertices > SIZE_MAX / 2)
        return serr(s, FCS_EINVAL, "gate '%s': too many vertices", id);
    for (size_t i = 0; i < 2 * n_vertices; i++)
        if (!isfinite(xy[i]))
            return serr(s, FCS_EINVAL, "gate '%s': vertex %zu is not finite", id, i / 2 + 1);
    gate *g = push_gate(s, id, parent, FCS_GATE_POLYGON);
    if (!g) return serr(s, FCS_ENOMEM, "out of memory");
    int ok = 1;
    g->info.vertices = dup_doubles(xy, 2 * n_vertices, &ok);
    g->info.n_vertices = n_vertices;
    if (!ok || copy_dims_into(g, dims, 2)) return nomem_gate(s, g);
    return commit_gate(s, g);
}

int fcs_strategy_add_ellipsoid(fcs_strategy *s, const char *id, const char *parent, size_t n_dims,
                               const fcs_gate_dim *dims, const double *mean,
                               const double *covariance, double distance_square)
{
    if (!s) return FCS_EINVAL;
    int rc = check_new_gate_id(s, id);
    if (rc) return rc;
    if (n_dims < 2 || !mean || !covariance)
        return serr(s, FCS_EINVAL, "gate '%s': an ellipsoid needs at least 2 dimensions", id);
    if (n_dims > 64) return serr(s, FCS_EINVAL, "gate '%s': more than 64 dimensions", id);
    if ((rc = check_dims(s, id, dims, n_dims))) return rc;
    if (!isfinite(distance_square) || distance_square < 0)
        return serr(s, FCS_EINVAL, "gate '%s': distance square must be finite and >= 0", id);
    for (size_t i = 0; i < n_dims; i++)
        if (!isfinite(mean[i])) return serr(s, FCS_EINVAL, "gate '%s': mean not finite", id);
    double *inv = malloc(n_dims * n_dims * sizeof *inv);
    if (!inv) return serr(s, FCS_ENOMEM, "out of memory");
    rc = fcs_matrix_invert_small(covariance, n_dims, inv);
    free(inv);
    if (rc) return serr(s, rc, "gate '%s': covariance matrix is singular or not finite", id);
    gate *g = push_gate(s, id, parent, FCS_GATE_ELLIPSOID);
    if (!g) return serr(s, FCS_ENOMEM, "out of memory");
    int ok = 1;
    g->info.mean = dup_doubles(mean, n_dims, &ok);
    g->info.covariance = dup_doubles(covariance, n_dims * n_dims, &ok);
    g->info.distance_square = distance_square;
    if (!ok || copy_dims_into(g, dims, n_dims)) return nomem_gate(s, g);
    return commit_gate(s, g);
}

int fcs_strategy_add_quadrant_gate(fcs_strategy *s, const char *id, const char *parent,
                                   size_t n_dividers, const fcs_gate_divider *dividers)
{
    if (!s) return FCS_EINVAL;
    int rc = check_new_gate_id(s, id);
    if (rc) return rc;
    if (n_dividers == 0 || !dividers)
        return serr(s, FCS_EINVAL, "gate '%s': a quadrant gate needs at least one divider", id);
    for (size_t i = 0; i < n_dividers; i++) {
        const fcs_gate_divider *d = &dividers[i];
        if (!d->id || !*d->id)
            return serr(s, FCS_EINVAL, "gate '%s': divider %zu has no id", id, i + 1);
        for (size_t k = 0; k < i; k++)
            if (strcmp(dividers[k].id, d->id) == 0)
                return serr(s, FCS_EINVAL, "gate '%s': divider '%s' appears twice", id, d->id);
        if ((rc = check_dims(s, id, &d->dim, 1))) return rc;
        if (d->n_values == 0 || !d->values)
            return serr(s, FCS_EINVAL, "gate '%s': divider '%s' has no value", id, d->id);
        for (size_t k = 0; k < d->n_values; k++)
            if (!isfinite(d->values[k]))
                return serr(s, FCS_EINVAL, "gate '%s': divider '%s': value not finite", id,
                            d->id);
    }
    gate *g = push_gate(s, id, parent, FCS_GATE_QUADRANT);
    if (!g) return serr(s, FCS_ENOMEM, "out of memory");
    fcs_gate_divider *dv = calloc_n(n_dividers, sizeof *dv);
    if (!dv) return nomem_gate(s, g);
    g->info.dividers = dv;
    for (size_t i = 0; i < n_dividers; i++) {
        int ok = 1;
        g->info.n_dividers = i + 1;
        dv[i].id = fcs_strdup(dividers[i].id);
        dv[i].values = dup_doubles(dividers[i].values, dividers[i].n_values, &ok);
        dv[i].n_values = dividers[i].n_values;
        if (!dv[i].id || !ok || dim_copy(&dv[i].dim, &dividers[i].dim)) return nomem_gate(s, g);
    }
    return commit_gate(s, g);
}

/* The interval of divider d that location picks: [largest value <= loc,
 * smallest value > loc), NaN for an open side (Gating-ML 2.0 5.3). */
static void quadrant_interval(const fcs_gate_divider *d, double loc, double *lo, double *hi)
{
    *lo = NAN;
    *hi = NAN;
    for (size_t k = 0; k < d->n_values; k++) {
        double v = d->values[k];
        if (v <= loc && (isnan(*lo) || v > *lo)) *lo = v;
        if (v > loc && (isnan(*hi) || v < *hi)) *hi = v;
    }
}

static long find_gate_index(const fcs_strategy *s, const char *id)
{
    for (size_t i = 0; i < s->n_gates; i++)
        if (strcmp(s->gates[i].info.id, id) == 0) return (long)i;
    return -1;
}

static int check_positions(fcs_strategy *s, const fcs_gate_info *in, const char *id, size_t n,
                           const char *const *div_ids, const double *loc, size_t *idx)
{
    for (size_t k = 0; k < n; k++) {
        if (!div_ids[k] || !isfinite(loc[k]))
            return serr(s, FCS_EINVAL, "quadrant '%s': position %zu is incomplete", id, k + 1);
        size_t d = 0;
        while (d < in->n_dividers && strcmp(in->dividers[d].id, div_ids[k]) != 0) d++;
        if (d == in->n_dividers)
            return serr(s, FCS_ENOTFOUND, "quadrant '%s': gate '%s' has no divider '%s'", id,
                        in->id, div_ids[k]);
        for (size_t j = 0; j < k; j++)
            if (idx[j] == d)
                return serr(s, FCS_EINVAL, "quadrant '%s': divider '%s' given twice", id,
                            div_ids[k]);
        idx[k] = d;
    }
    return FCS_OK;
}

int fcs_strategy_add_quadrant(fcs_strategy *s, const char *gate_id, const char *id,
                              size_t n_positions, const char *const *divider_ids,
                              const double *locations)
{
    if (!s) return FCS_EINVAL;
    long gi = gate_id ? find_gate_index(s, gate_id) : -1;
    if (gi < 0 || s->gates[gi].info.type != FCS_GATE_QUADRANT)
        return serr(s, FCS_ENOTFOUND, "quadrant '%s': no quadrant gate '%s'", id ? id : "",
                    gate_id ? gate_id : "");
    int rc = check_new_gate_id(s, id);
    if (rc) return rc;
    if (n_positions == 0 || !divider_ids || !locations)
        return serr(s, FCS_EINVAL, "quadrant '%s' has no position", id);
    gate *g = &s->gates[gi];
    fcs_gate_info *in = &g->info;
    size_t nq = in->n_quadrants;
    size_t *idx = calloc_n(n_positions, sizeof *idx);
    if (!idx) return serr(s, FCS_ENOMEM, "out of memory");
    if ((rc = check_positions(s, in, id, n_positions, divider_ids, locations, idx))) {
        free(idx);
        return rc;
    }
    /* Grow the three parallel arrays to nq + 1 (capacity = count: quadrants are few). */
    fcs_gate_quadrant *qv = realloc((void *)in->quadrants, (nq + 1) * sizeof *qv);
    if (qv) in->quadrants = qv;
    double **lo = qv ? realloc(g->quad_lo, (nq + 1) * sizeof *lo) : NULL;
    if (lo) g->quad_lo = lo;
    double **hi = lo ? realloc(g->quad_hi, (nq + 1) * sizeof *hi) : NULL;
    if (hi) g->quad_hi = hi;
    int ok = 1;
    double *loc = hi ? dup_doubles(locations, n_positions, &ok) : NULL;
    double *l = loc ? malloc(n_positions * sizeof *l) : NULL;
    double *h = l ? malloc(n_positions * sizeof *h) : NULL;
    char *qid = h ? fcs_strdup(id) : NULL;
    if (!qid || push_pop(s, (size_t)gi, (long)nq)) {
        free(idx), free(loc), free(l), free(h), free(qid);
        return serr(s, FCS_ENOMEM, "out of memory");
    }
    for (size_t k = 0; k < n_positions; k++)
        quadrant_interval(&in->dividers[idx[k]], locations[k], &l[k], &h[k]);
    fcs_gate_quadrant *q = &qv[nq];
    q->id = qid;
    q->n_positions = n_positions;
    q->dividers = idx;
    q->locations = loc;
    g->quad_lo[nq] = l;
    g->quad_hi[nq] = h;
    in->n_quadrants = nq + 1;
    /* Populations of quadrants are listed with their gate, in quadrant order:
     * the pop just pushed goes after the gate's last quadrant. */
    pop_rec mine = s->pops[s->n_pops - 1];
    size_t at = s->n_pops - 1;
    while (at > 0 && (s->pops[at - 1].gate > (size_t)gi)) {
        s->pops[at] = s->pops[at - 1];
        at--;
    }
    s->pops[at] = mine;
    return FCS_OK;
}

int fcs_strategy_add_boolean(fcs_strategy *s, const char *id, const char *parent,
                             fcs_gate_bool_op op, size_t n_refs, const fcs_gate_ref *refs)
{
    if (!s) return FCS_EINVAL;
    int rc = check_new_gate_id(s, id);
    if (rc) return rc;
    if (op != FCS_GATE_AND && op != FCS_GATE_OR && op != FCS_GATE_NOT)
        return serr(s, FCS_EINVAL, "gate '%s': unknown boolean operation %d", id, (int)op);
    if (op == FCS_GATE_NOT && n_refs != 1)
        return serr(s, FCS_EINVAL, "gate '%s': 'not' takes exactly one operand (got %zu)", id,
                    n_refs);
    if (op != FCS_GATE_NOT && n_refs < 2)
        return serr(s, FCS_EINVAL, "gate '%s': '%s' takes at least two operands (got %zu)", id,
                    op == FCS_GATE_AND ? "and" : "or", n_refs);
    if (!refs) return serr(s, FCS_EINVAL, "gate '%s': no operands", id);
    for (size_t i = 0; i < n_refs; i++)
        if (!refs[i].id || !*refs[i].id)
            return serr(s, FCS_EINVAL, "gate '%s': operand %zu has no id", id, i + 1);
    gate *g = push_gate(s, id, parent, FCS_GATE_BOOLEAN);
    if (!g) return serr(s, FCS_ENOMEM, "out of memory");
    fcs_gate_ref *r = calloc_n(n_refs, sizeof *r);
    if (!r) return nomem_gate(s, g);
    g->info.refs = r;
    g->info.op = op;
    for (size_t i = 0; i < n_refs; i++) {
        g->info.n_refs = i + 1;
        r[i].complement = !!refs[i].complement;
        if (!(r[i].id = fcs_strdup(refs[i].id))) return nomem_gate(s, g);
    }
    return commit_gate(s, g);
}

void fcs_strategy_set_last_gate_line(fcs_strategy *s, int line)
{
    if (s && s->n_gates) s->gates[s->n_gates - 1].info.line = line;
}
void fcs_strategy_set_last_transform_line(fcs_strategy *s, int line)
{
    if (s && s->n_xf) s->xf[s->n_xf - 1].line = line;
}
void fcs_strategy_set_last_matrix_line(fcs_strategy *s, int line)
{
    if (s && s->n_mat) s->mat[s->n_mat - 1].line = line;
}

/* ======================================================================
 * Queries
 * ====================================================================== */

size_t fcs_strategy_n_gates(const fcs_strategy *s) { return s ? s->n_gates : 0; }

int fcs_strategy_gate(const fcs_strategy *s, size_t i, fcs_gate_info *out)
{
    if (!s || !out) return FCS_EINVAL;
    if (i >= s->n_gates) return FCS_ERANGE;
    *out = s->gates[i].info;
    return FCS_OK;
}

long fcs_strategy_find_gate(const fcs_strategy *s, const char *id)
{
    return (s && id) ? find_gate_index(s, id) : -1;
}

size_t fcs_strategy_n_transforms(const fcs_strategy *s) { return s ? s->n_xf : 0; }

int fcs_strategy_transform(const fcs_strategy *s, size_t i, const char **id,
                           const fcs_transform **t, const char **numerator,
                           const char **denominator)
{
    if (!s) return FCS_EINVAL;
    if (i >= s->n_xf) return FCS_ERANGE;
    if (id) *id = s->xf[i].id;
    if (t) *t = s->xf[i].t;
    if (numerator) *numerator = s->xf[i].num;
    if (denominator) *denominator = s->xf[i].den;
    return FCS_OK;
}

size_t fcs_strategy_n_matrices(const fcs_strategy *s) { return s ? s->n_mat : 0; }

int fcs_strategy_matrix(const fcs_strategy *s, size_t i, fcs_gate_matrix_info *out)
{
    if (!s || !out) return FCS_EINVAL;
    if (i >= s->n_mat) return FCS_ERANGE;
    const matrix_rec *m = &s->mat[i];
    out->id = m->id;
    out->matrix = m->m;
    out->n_fluorochromes = m->n_fl;
    out->n_detectors = m->n_det;
    out->fluorochromes = (const char *const *)m->fl;
    out->detectors = (const char *const *)m->det;
    out->inverted = m->inverted;
    return FCS_OK;
}

size_t fcs_strategy_n_populations(const fcs_strategy *s) { return s ? s->n_pops : 0; }

const char *fcs_strategy_population_id(const fcs_strategy *s, size_t p)
{
    return (s && p < s->n_pops) ? pop_id_of(s, &s->pops[p]) : NULL;
}

const char *fcs_strategy_population_parent(const fcs_strategy *s, size_t p)
{
    return (s && p < s->n_pops) ? s->gates[s->pops[p].gate].info.parent : NULL;
}

long fcs_strategy_population_index(const fcs_strategy *s, const char *id)
{
    if (!s || !id) return -1;
    for (size_t p = 0; p < s->n_pops; p++)
        if (strcmp(pop_id_of(s, &s->pops[p]), id) == 0) return (long)p;
    return -1;
}

long fcs_strategy_population_path(const fcs_strategy *s, size_t p, char *buf, size_t size)
{
    if (!s || !buf || p >= s->n_pops) return FCS_EINVAL;
    /* Walk up to the root, collecting indices; a chain longer than the
     * number of populations is a cycle. */
    size_t depth = 0, cur = p, total = 0;
    size_t *chain = malloc((s->n_pops + 1) * sizeof *chain);
    if (!chain) return FCS_ENOMEM;
    for (;;) {
        if (depth > s->n_pops) {
            free(chain);
            return FCS_EFORMAT;
        }
        chain[depth++] = cur;
        total += 1 + strlen(pop_id_of(s, &s->pops[cur]));
        const char *par = s->gates[s->pops[cur].gate].info.parent;
        if (!par) break;
        long pi = fcs_strategy_population_index(s, par);
        if (pi < 0) {
            free(chain);
            return FCS_ENOTFOUND;
        }
        cur = (size_t)pi;
    }
    if (total + 1 > size) {
        free(chain);
        return FCS_ERANGE;
    }
    char *w = buf;
    while (depth > 0) {
        const char *id = pop_id_of(s, &s->pops[chain[--depth]]);
        *w++ = '/';
        size_t l = strlen(id);
        memcpy(w, id, l);
        w += l;
    }
    *w = '\0';
    free(chain);
    return (long)total;
}

/* ======================================================================
 * Reference checks
 * ====================================================================== */

static long find_xform(const fcs_strategy *s, const char *id)
{
    for (size_t i = 0; i < s->n_xf; i++)
        if (strcmp(s->xf[i].id, id) == 0) return (long)i;
    return -1;
}

static long find_matrix(const fcs_strategy *s, const char *id)
{
    for (size_t i = 0; i < s->n_mat; i++)
        if (strcmp(s->mat[i].id, id) == 0) return (long)i;
    return -1;
}

static int check_dim_refs(const fcs_strategy *s, const fcs_gate_info *in, const fcs_gate_dim *d,
                          fcs_error *err)
{
    const char *c = d->compensation;
    if (c && !is_reserved_comp(c) && find_matrix(s, c) < 0)
        return fcs_error_set(err, FCS_ENOTFOUND,
                             "gate '%s': compensation '%s' is neither 'uncompensated', 'FCS' "
                             "nor a matrix id", in->id, c);
    if (d->transform) {
        long t = find_xform(s, d->transform);
        if (t < 0)
            return fcs_error_set(err, FCS_ENOTFOUND, "gate '%s': no transformation '%s'", in->id,
                                 d->transform);
        if (fcs_transform_arity(s->xf[t].t) == 2)
            return fcs_error_set(err, FCS_EFORMAT,
                                 "gate '%s': fratio '%s' used as a transformation-ref; a ratio "
                                 "is a new-dimension", in->id, d->transform);
    }
    if (d->ratio) {
        long t = find_xform(s, d->ratio);
        if (t < 0)
            return fcs_error_set(err, FCS_ENOTFOUND, "gate '%s': no transformation '%s'", in->id,
                                 d->ratio);
        if (fcs_transform_arity(s->xf[t].t) != 2)
            return fcs_error_set(err, FCS_EFORMAT,
                                 "gate '%s': new-dimension '%s' is a %s, not an fratio", in->id,
                                 d->ratio,
                                 fcs_transform_kind_name(fcs_transform_get_kind(s->xf[t].t)));
    }
    return FCS_OK;
}

/* Population index that a reference names; FCS_ENOTFOUND / FCS_EFORMAT. */
static long resolve_pop_ref(const fcs_strategy *s, const fcs_gate_info *in, const char *ref,
                            const char *what, fcs_error *err)
{
    long p = fcs_strategy_population_index(s, ref);
    if (p >= 0) return p;
    long g = find_gate_index(s, ref);
    if (g >= 0 && s->gates[g].info.type == FCS_GATE_QUADRANT)
        return fcs_error_set(err, FCS_EFORMAT,
                             "gate '%s': %s '%s' is a quadrant gate; name one of its quadrants",
                             in->id, what, ref);
    return fcs_error_set(err, FCS_ENOTFOUND, "gate '%s': %s '%s' not found", in->id, what, ref);
}

/* The populations a population depends on (parent, boolean operands). */
static size_t pop_deps(const fcs_strategy *s, size_t p, long *deps, size_t max)
{
    const fcs_gate_info *in = &s->gates[s->pops[p].gate].info;
    size_t n = 0;
    if (in->parent && n < max) deps[n++] = fcs_strategy_population_index(s, in->parent);
    if (in->type == FCS_GATE_BOOLEAN)
        for (size_t i = 0; i < in->n_refs && n < max; i++)
            deps[n++] = fcs_strategy_population_index(s, in->refs[i].id);
    return n;
}

/* Depth-first topological order of all populations (dependencies first).
 * order: n_pops entries. Returns FCS_EFORMAT and the population on a cycle
 * in *bad when there is one. References must resolve (checked before). */
static int topo_order(const fcs_strategy *s, size_t *order, size_t *bad)
{
    size_t n = s->n_pops, k = 0;
    unsigned char *state = calloc_n(n, 1); /* 0 new, 1 on stack, 2 done */
    size_t *stack = calloc_n(n, sizeof *stack), *next = calloc_n(n, sizeof *next);
    long *deps = NULL;
    size_t maxdeps = 1;
    for (size_t g = 0; g < s->n_gates; g++)
        if (s->gates[g].info.n_refs + 1 > maxdeps) maxdeps = s->gates[g].info.n_refs + 1;
    deps = calloc_n(maxdeps, sizeof *deps);
    int rc = (state && stack && next && deps) ? FCS_OK : FCS_ENOMEM;
    for (size_t root = 0; rc == FCS_OK && root < n; root++) {
        if (state[root]) continue;
        size_t sp = 0;
        stack[sp++] = root;
        state[root] = 1;
        next[root] = 0;
        while (sp > 0 && rc == FCS_OK) {
            size_t cur = stack[sp - 1];
            size_t nd = pop_deps(s, cur, deps, maxdeps);
            if (next[cur] < nd) {
                size_t d = (size_t)deps[next[cur]++];
                if (state[d] == 1) {
                    *bad = d;
                    rc = FCS_EFORMAT;
                } else if (state[d] == 0) {
                    state[d] = 1;
                    next[d] = 0;
                    stack[sp++] = d;
                }
            } else {
                state[cur] = 2;
                order[k++] = cur;
                sp--;
            }
        }
    }
    free(state), free(stack), free(next), free(deps);
    return rc;
}

int fcs_strategy_check(const fcs_strategy *s, int *line, fcs_error *err)
{
    if (line) *line = 0;
    if (!s) return fcs_error_set(err, FCS_EINVAL, "no strategy");
    for (size_t gi = 0; gi < s->n_gates; gi++) {
        const fcs_gate_info *in = &s->gates[gi].info;
        if (line) *line = in->line;
        int rc;
        if (in->parent && (rc = (int)resolve_pop_ref(s, in, in->parent, "parent", err)) < 0)
            return rc;
        for (size_t i = 0; i < in->n_refs; i++)
            if ((rc = (int)resolve_pop_ref(s, in, in->refs[i].id, "operand", err)) < 0) return rc;
        for (size_t i = 0; i < in->n_dims; i++)
            if ((rc = check_dim_refs(s, in, &in->dims[i], err))) return rc;
        for (size_t i = 0; i < in->n_dividers; i++)
            if ((rc = check_dim_refs(s, in, &in->dividers[i].dim, err))) return rc;
        if (in->type == FCS_GATE_QUADRANT && in->n_quadrants == 0)
            return fcs_error_set(err, FCS_EFORMAT, "quadrant gate '%s' has no quadrant", in->id);
    }
    if (line) *line = 0;
    size_t *order = calloc_n(s->n_pops, sizeof *order), bad = 0;
    if (!order) return fcs_error_set(err, FCS_ENOMEM, "out of memory");
    int rc = topo_order(s, order, &bad);
    free(order);
    if (rc == FCS_EFORMAT) {
        if (line) *line = s->gates[s->pops[bad].gate].info.line;
        return fcs_error_set(err, rc, "gate '%s': its parents and operands form a cycle",
                             pop_id_of(s, &s->pops[bad]));
    }
    if (rc) return fcs_error_set(err, rc, "out of memory");
    fcs_error_clear(err);
    return FCS_OK;
}

int fcs_strategy_validate(fcs_strategy *s)
{
    if (!s) return FCS_EINVAL;
    fcs_error e;
    int line = 0;
    int rc = fcs_strategy_check(s, &line, &e);
    if (rc == FCS_OK) {
        s->errmsg[0] = '\0';
        return FCS_OK;
    }
    if (line > 0) return serr(s, rc, "line %d: %s", line, e.msg);
    return serr(s, rc, "%s", e.msg);
}

/* ======================================================================
 * Exact geometry
 * ====================================================================== */

__extension__ typedef unsigned __int128 u128;

/* A fixed-point accumulator wide enough for any sum of a few products of
 * two doubles: a product is m1*m2 * 2^(e1+e2) with m < 2^53 and
 * e >= -1126 (frexp of the smallest subnormal), e <= 971, so its bits lie
 * in [2^-2252, 2^2048); BIG_BIAS shifts them to bit 0 upwards. */
#define BIG_LIMBS 70
#define BIG_BIAS 2252

typedef struct big {
    uint64_t w[BIG_LIMBS];
} big;

static void big_add_shifted(big *a, u128 v, unsigned shift)
{
    unsigned limb = shift / 64, sh = shift % 64;
    uint64_t lo = (uint64_t)v, hi = (uint64_t)(v >> 64);
    uint64_t parts[3] = {lo << sh, sh ? (lo >> (64 - sh)) | (hi << sh) : hi,
                         sh ? hi >> (64 - sh) : 0};
    uint64_t carry = 0;
    for (unsigned k = limb; k < BIG_LIMBS; k++) {
        u128 sum = (u128)a->w[k] + carry + (k - limb < 3 ? parts[k - limb] : 0);
        a->w[k] = (uint64_t)sum;
        carry = (uint64_t)(sum >> 64);
        if (k - limb >= 2 && !carry) break;
    }
}

static int big_cmp(const big *a, const big *b)
{
    for (int k = BIG_LIMBS - 1; k >= 0; k--)
        if (a->w[k] != b->w[k]) return a->w[k] > b->w[k] ? 1 : -1;
    return 0;
}

/* x = m * 2^e exactly, m a 53-bit integer (x finite, non-zero). */
static void split_double(double x, uint64_t *m, int *e)
{
    int ex;
    double f = frexp(fabs(x), &ex);
    *m = (uint64_t)ldexp(f, 53);
    *e = ex - 53;
}

int fcs_orient2d_exact(double ax, double ay, double bx, double by, double px, double py)
{
    /* (bx-ax)(py-ay) - (px-ax)(by-ay), expanded so that no difference is
     * rounded: bx py - bx ay - ax py - px by + px ay + ax by. */
    const double u[6] = {bx, bx, ax, px, px, ax};
    const double v[6] = {py, ay, py, by, ay, by};
    const int sg[6] = {1, -1, -1, -1, 1, 1};
    big pos, neg;
    memset(&pos, 0, sizeof pos);
    memset(&neg, 0, sizeof neg);
    for (int k = 0; k < 6; k++) {
        if (u[k] == 0 || v[k] == 0) continue;
        uint64_t mu, mv;
        int eu, ev;
        split_double(u[k], &mu, &eu);
        split_double(v[k], &mv, &ev);
        int sign = sg[k] * (u[k] < 0 ? -1 : 1) * (v[k] < 0 ? -1 : 1);
        big_add_shifted(sign > 0 ? &pos : &neg, (u128)mu * mv, (unsigned)(eu + ev + BIG_BIAS));
    }
    return big_cmp(&pos, &neg);
}

/* Orientation sign: floating point when Shewchuk's orient2d error bound
 * proves the sign, exact otherwise. */
static int orient_sign(double ax, double ay, double bx, double by, double px, double py)
{
    double dx1 = bx - ax, dy1 = py - ay, dx2 = px - ax, dy2 = by - ay;
    double l = dx1 * dy1, r = dx2 * dy2, det = l - r, sum = fabs(l) + fabs(r);
    const double tiny = 0x1p-960; /* below this a product may have lost bits */
    int safe = isfinite(sum) && (l == 0 ? (dx1 == 0 || dy1 == 0) : fabs(l) >= tiny) &&
               (r == 0 ? (dx2 == 0 || dy2 == 0) : fabs(r) >= tiny);
    if (safe) {
        const double eps = 0x1p-53;
        double bound = (3.0 + 16.0 * eps) * eps * sum;
        if (det > bound) return 1;
        if (-det > bound) return -1;
        if (sum == 0) return 0;
    }
    return fcs_orient2d_exact(ax, ay, bx, by, px, py);
}

int fcs_polygon_contains_exact(const double *xy, size_t n, double px, double py)
{
    if (!isfinite(px) || !isfinite(py)) return 0;
    long wn = 0;
    for (size_t i = 0; i < n; i++) {
        double ax = xy[2 * i], ay = xy[2 * i + 1];
        double bx = xy[2 * ((i + 1) % n)], by = xy[2 * ((i + 1) % n) + 1];
        double miny = fmin(ay, by), maxy = fmax(ay, by);
        if (py < miny || py > maxy) continue;
        double minx = fmin(ax, bx), maxx = fmax(ax, bx);
        int o = 0;
        if (px >= minx && px <= maxx) {
            o = orient_sign(ax, ay, bx, by, px, py);
            if (o == 0) return 1; /* on the segment: boundary points are inside */
        }
        if (py < maxy) { /* the edge crosses the horizontal line through p */
            int s = by > ay ? 1 : -1;
            int right = px < minx ? 1 : px > maxx ? 0 : s * o > 0;
            if (right) wn += s;
        }
    }
    return (wn & 1) != 0; /* Gating-ML: odd winding (even-odd rule) */
}

int fcs_matrix_invert_small(const double *a, size_t n, double *inv)
{
    double *w = malloc(n * n * sizeof *w);
    if (!w) return FCS_ENOMEM;
    memcpy(w, a, n * n * sizeof *w);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) inv[i * n + j] = i == j;
    int rc = FCS_OK;
    for (size_t c = 0; c < n && rc == FCS_OK; c++) {
        size_t p = c;
        for (size_t r = c + 1; r < n; r++)
            if (fabs(w[r * n + c]) > fabs(w[p * n + c])) p = r;
        double piv = w[p * n + c];
        if (piv == 0 || !isfinite(piv)) {
            rc = FCS_ENUMERIC;
            break;
        }
        for (size_t j = 0; j < n && p != c; j++) {
            double t = w[c * n + j];
            w[c * n + j] = w[p * n + j], w[p * n + j] = t;
            t = inv[c * n + j];
            inv[c * n + j] = inv[p * n + j], inv[p * n + j] = t;
        }
        for (size_t j = 0; j < n; j++) w[c * n + j] /= piv, inv[c * n + j] /= piv;
        for (size_t r = 0; r < n; r++) {
            double f = w[r * n + c];
            if (r == c || f == 0) continue;
            for (size_t j = 0; j < n; j++) {
                w[r * n + j] -= f * w[c * n + j];
                inv[r * n + j] -= f * inv[c * n + j];
            }
        }
    }
    for (size_t i = 0; rc == FCS_OK && i < n * n; i++)
        if (!isfinite(inv[i])) rc = FCS_ENUMERIC;
    free(w);
    return rc;
}

/* ======================================================================
 * Binding a strategy to a data set's channels
 * ====================================================================== */

/* Events per internal block: scratch columns stay in L1/L2. */
#define BLOCK 1024

typedef enum src_kind { SRC_INPUT, SRC_COMP, SRC_RATIO, SRC_XFORM } src_kind;

/* A column of values some gate needs, for the current block: an input
 * channel as given, or computed (compensated, ratio, transformed) into buf.
 * Sources are created inputs first, so their index order is a valid
 * evaluation order. */
typedef struct src {
    src_kind kind;
    size_t a, b; /* INPUT: channel; COMP: unit, output; RATIO: num, den src; XFORM: in src */
    size_t xf;   /* RATIO, XFORM: transformation index */
    double *buf;
} src;

/* One compensation used by the strategy ("FCS" or a matrix). */
typedef struct comp_unit {
    long matrix;    /* strategy matrix index, -1 for "FCS" */
    fcs_comp *c;    /* NULL for an inverted matrix (applied directly) */
    size_t n_in, n_out;
    size_t *in_ch;  /* inverted: channel of each detector row */
    const double *M; /* inverted: n_in x n_out */
    double *inbuf;  /* fcs_comp: BLOCK x n_channels, row-major */
    double *outbuf; /* BLOCK x n_out, row-major */
    int done;       /* computed for the current block */
} comp_unit;

typedef struct edge {
    double ax, ay, ex, ey; /* ex, ey: b - a, negated for a downward edge */
    double minx, maxx, miny, maxy;
    double errb; /* bound on |d| error inside the edge's bounding box */
} edge;

typedef struct pnode {
    const gate *g;
    long quad;
    long parent;
    size_t n_src;
    size_t *src;            /* per dimension / quadrant position */
    const double *lo, *hi;  /* rectangle / quadrant bounds */
    edge *edges;            /* polygon */
    size_t n_edges;
    double *cinv;           /* ellipsoid */
    size_t *refs;           /* boolean operand populations */
} pnode;

struct fcs_gating {
    const fcs_strategy *s;
    const char *const *channels;
    size_t n_channels;
    const fcs_matrix *spill;
    src *srcs;
    size_t n_src, cap_src;
    comp_unit *units;
    size_t n_units, cap_units;
    pnode *pops;
    size_t n_pops;
    size_t *order;
    const double **sp;
    double *t, *q;
    int64_t *unc; /* polygon state words */
    /* Source of every gate dimension (quadrant gates: of every divider),
     * gate i's at dim_src[dim_off[i] ...]; -1 for a divider no quadrant
     * uses (never bound). For fcs_gating_dim_values/_source. */
    long *dim_src;
    size_t *dim_off;
    char errmsg[FCS_ERRMSG_MAX];
};

static long find_channel(const fcs_gating *g, const char *name)
{
    for (size_t j = 0; j < g->n_channels; j++)
        if (g->channels[j] && strcmp(g->channels[j], name) == 0) return (long)j;
    for (size_t j = 0; j < g->n_channels; j++)
        if (g->channels[j] && fcs_strcasecmp(g->channels[j], name) == 0) return (long)j;
    return -1;
}

static long add_src(fcs_gating *g, src_kind kind, size_t a, size_t b, size_t xf)
{
    for (size_t k = 0; k < g->n_src; k++) {
        const src *x = &g->srcs[k];
        if (x->kind == kind && x->a == a && x->b == b && x->xf == xf) return (long)k;
    }
    if (fcs_grow((void **)&g->srcs, &g->cap_src, g->n_src + 1, sizeof(src))) return FCS_ENOMEM;
    src *x = &g->srcs[g->n_src];
    memset(x, 0, sizeof *x);
    x->kind = kind, x->a = a, x->b = b, x->xf = xf;
    if (kind != SRC_INPUT && !(x->buf = malloc(BLOCK * sizeof(double)))) return FCS_ENOMEM;
    return (long)g->n_src++;
}

static void unit_free(comp_unit *u)
{
    fcs_comp_free(u->c);
    free(u->in_ch);
    free(u->inbuf);
    free(u->outbuf);
}

/* Build the unit for an inverted matrix: map its detector rows to channels. */
static int unit_inverted(fcs_gating *g, comp_unit *u, const matrix_rec *m, fcs_error *err)
{
    u->n_in = m->n_det;
    u->n_out = m->n_fl;
    u->M = fcs_matrix_data(m->m);
    if (!(u->in_ch = calloc_n(u->n_in, sizeof *u->in_ch)))
        return fcs_error_set(err, FCS_ENOMEM, "out of memory");
    for (size_t d = 0; d < u->n_in; d++) {
        long ch = find_channel(g, m->det[d]);
        if (ch < 0)
            return fcs_error_set(err, FCS_ENOTFOUND,
                                 "matrix '%s': detector '%s' is not a channel of the data", m->id,
                                 m->det[d]);
        u->in_ch[d] = (size_t)ch;
    }
    return FCS_OK;
}

/* Index of the unit for compensation ref (creating it), or -1 when the
 * reference means "no compensation" (uncompensated; FCS without spillover). */
static long get_unit(fcs_gating *g, const char *ref, fcs_error *err)
{
    if (!ref || strcmp(ref, FCS_COMP_UNCOMPENSATED) == 0) return -1;
    long mi = -1;
    if (strcmp(ref, FCS_COMP_FCS) != 0) {
        mi = find_matrix(g->s, ref);
        if (mi < 0) return fcs_error_set(err, FCS_ENOTFOUND, "no matrix '%s'", ref);
    } else if (!g->spill) {
        return -1;
    }
    for (size_t k = 0; k < g->n_units; k++)
        if (g->units[k].matrix == mi) return (long)k;
    if (fcs_grow((void **)&g->units, &g->cap_units, g->n_units + 1, sizeof(comp_unit)))
        return fcs_error_set(err, FCS_ENOMEM, "out of memory");
    comp_unit *u = &g->units[g->n_units];
    memset(u, 0, sizeof *u);
    u->matrix = mi;
    g->n_units++;
    int rc;
    fcs_error e;
    const matrix_rec *m = mi >= 0 ? &g->s->mat[mi] : NULL;
    if (m && m->inverted) {
        if ((rc = unit_inverted(g, u, m, err))) return rc;
    } else {
        rc = m ? fcs_comp_new_spectral(&u->c, m->m, g->channels, NULL, g->n_channels, NULL, &e)
               : fcs_comp_new(&u->c, g->spill, g->channels, NULL, g->n_channels, NULL, &e);
        if (rc)
            return fcs_error_set(err, rc, "compensation '%s': %s", m ? m->id : FCS_COMP_FCS,
                                 e.msg);
        u->n_in = fcs_comp_n_inputs(u->c);
        u->n_out = fcs_comp_n_outputs(u->c);
        uint64_t cells;
        if (fcs_mul_ok(BLOCK, g->n_channels ? g->n_channels : 1, &cells) ||
            !(u->inbuf = calloc((size_t)cells, sizeof(double))))
            return fcs_error_set(err, FCS_ENOMEM, "out of memory");
    }
    if (!(u->outbuf = malloc((size_t)BLOCK * (u->n_out ? u->n_out : 1) * sizeof(double))))
        return fcs_error_set(err, FCS_ENOMEM, "out of memory");
    return (long)(g->n_units - 1);
}

static const char *unit_output_name(const fcs_gating *g, const comp_unit *u, size_t j)
{
    if (u->c) return fcs_comp_output_name(u->c, j);
    return g->s->mat[u->matrix].fl[j];
}

/* The source of channel/fluorochrome name under compensation ref. */
static long resolve_value(fcs_gating *g, const char *gid, const char *name, const char *ref,
                          fcs_error *err)
{
    long u = get_unit(g, ref, err);
    if (u < -1) return u;
    if (u >= 0) {
        const comp_unit *cu = &g->units[u];
        for (int pass = 0; pass < 2; pass++)
            for (size_t j = 0; j < cu->n_out; j++) {
                const char *on = unit_output_name(g, cu, j);
                if (pass ? fcs_strcasecmp(on, name) == 0 : strcmp(on, name) == 0) {
                    long k = add_src(g, SRC_COMP, (size_t)u, j, 0);
                    return k >= 0 ? k : fcs_error_set(err, FCS_ENOMEM, "out of memory");
                }
            }
    }
    /* Not covered by the compensation (scatter, time): the channel as is. */
    long ch = find_channel(g, name);
    if (ch < 0)
        return fcs_error_set(err, FCS_ENOTFOUND, "gate '%s': channel '%s' is not in the data",
                             gid, name);
    long k = add_src(g, SRC_INPUT, (size_t)ch, 0, 0);
    return k >= 0 ? k : fcs_error_set(err, FCS_ENOMEM, "out of memory");
}

static long resolve_dim(fcs_gating *g, const char *gid, const fcs_gate_dim *d, fcs_error *err)
{
    long k;
    if (d->ratio) {
        long xi = find_xform(g->s, d->ratio);
        const xform_rec *x = &g->s->xf[xi];
        long a = resolve_value(g, gid, x->num, d->compensation, err);
        if (a < 0) return a;
        long b = resolve_value(g, gid, x->den, d->compensation, err);
        if (b < 0) return b;
        k = add_src(g, SRC_RATIO, (size_t)a, (size_t)b, (size_t)xi);
    } else {
        k = resolve_value(g, gid, d->name, d->compensation, err);
        if (k < 0) return k;
    }
    if (k >= 0 && d->transform)
        k = add_src(g, SRC_XFORM, (size_t)k, 0, (size_t)find_xform(g->s, d->transform));
    return k >= 0 ? k : fcs_error_set(err, FCS_ENOMEM, "out of memory");
}

static int prepare_polygon(pnode *p, const fcs_gate_info *in)
{
    size_t n = in->n_vertices;
    if (!(p->edges = calloc_n(n, sizeof *p->edges))) return FCS_ENOMEM;
    p->n_edges = n;
    for (size_t i = 0; i < n; i++) {
        edge *e = &p->edges[i];
        double ax = in->vertices[2 * i], ay = in->vertices[2 * i + 1];
        double bx = in->vertices[2 * ((i + 1) % n)], by = in->vertices[2 * ((i + 1) % n) + 1];
        double sg = by >= ay ? 1.0 : -1.0; /* orient every edge upwards */
        e->ax = ax, e->ay = ay;
        e->ex = sg * (bx - ax), e->ey = sg * (by - ay);
        e->minx = fmin(ax, bx), e->maxx = fmax(ax, bx);
        e->miny = fmin(ay, by), e->maxy = fmax(ay, by);
        /* In the edge's box |x-ax| <= |ex| and |y-ay| <= |ey|, so Shewchuk's
         * orient2d bound (3+16eps)eps(|l|+|r|) is at most 2(3+16eps)eps|ex ey|;
         * 8 eps leaves room for the rounding of |ex ey| itself. Outside the
         * safe range (under/overflow) every boxed point takes the exact path. */
        double p2 = fabs(e->ex * e->ey);
        e->errb = (isfinite(p2) && p2 >= 0x1p-900) ? 8.0 * 0x1p-53 * p2 : INFINITY;
    }
    return FCS_OK;
}

static int prepare_pop(fcs_gating *g, size_t pi, fcs_error *err)
{
    const fcs_strategy *s = g->s;
    pnode *p = &g->pops[pi];
    const gate *gt = &s->gates[s->pops[pi].gate];
    const fcs_gate_info *in = &gt->info;
    p->g = gt;
    p->quad = s->pops[pi].quad;
    p->parent = in->parent ? fcs_strategy_population_index(s, in->parent) : -1;
    const char *id = pop_id_of(s, &s->pops[pi]);
    size_t n = in->type == FCS_GATE_QUADRANT ? in->quadrants[p->quad].n_positions
               : in->type == FCS_GATE_BOOLEAN ? in->n_refs
                                              : in->n_dims;
    if (!(p->src = calloc_n(n, sizeof *p->src)))
        return fcs_error_set(err, FCS_ENOMEM, "out of memory");
    p->n_src = n;
    for (size_t k = 0; k < n; k++) {
        long r;
        if (in->type == FCS_GATE_BOOLEAN)
            r = fcs_strategy_population_index(s, in->refs[k].id);
        else if (in->type == FCS_GATE_QUADRANT)
            r = resolve_dim(g, id, &in->dividers[in->quadrants[p->quad].dividers[k]].dim, err);
        else
            r = resolve_dim(g, id, &in->dims[k], err);
        if (r < 0) return (int)r;
        p->src[k] = (size_t)r;
        if (in->type != FCS_GATE_BOOLEAN) {
            size_t dim = in->type == FCS_GATE_QUADRANT ? in->quadrants[p->quad].dividers[k] : k;
            g->dim_src[g->dim_off[s->pops[pi].gate] + dim] = r;
        }
    }
    switch (in->type) {
    case FCS_GATE_RECTANGLE: p->lo = in->min, p->hi = in->max; break;
    case FCS_GATE_QUADRANT: p->lo = gt->quad_lo[p->quad], p->hi = gt->quad_hi[p->quad]; break;
    case FCS_GATE_POLYGON:
        if (prepare_polygon(p, in)) return fcs_error_set(err, FCS_ENOMEM, "out of memory");
        break;
    case FCS_GATE_ELLIPSOID:
        if (!(p->cinv = malloc(in->n_dims * in->n_dims * sizeof *p->cinv)))
            return fcs_error_set(err, FCS_ENOMEM, "out of memory");
        if (fcs_matrix_invert_small(in->covariance, in->n_dims, p->cinv))
            return fcs_error_set(err, FCS_ENUMERIC, "gate '%s': covariance is singular", id);
        break;
    case FCS_GATE_BOOLEAN: p->refs = p->src; break;
    }
    return FCS_OK;
}

/* Number of dimensions of a gate as fcs_gating_dim_values counts them. */
static size_t gate_n_dims(const fcs_gate_info *in)
{
    return in->type == FCS_GATE_QUADRANT  ? in->n_dividers
           : in->type == FCS_GATE_BOOLEAN ? 0
                                          : in->n_dims;
}

static int alloc_dim_src(fcs_gating *g, fcs_error *err)
{
    const fcs_strategy *s = g->s;
    if (!(g->dim_off = calloc(s->n_gates + 1, sizeof *g->dim_off)))
        return fcs_error_set(err, FCS_ENOMEM, "out of memory");
    size_t total = 0;
    for (size_t i = 0; i < s->n_gates; i++) {
        g->dim_off[i] = total;
        total += gate_n_dims(&s->gates[i].info);
    }
    g->dim_off[s->n_gates] = total;
    if (!(g->dim_src = calloc_n(total, sizeof *g->dim_src)))
        return fcs_error_set(err, FCS_ENOMEM, "out of memory");
    for (size_t k = 0; k < total; k++) g->dim_src[k] = -1;
    return FCS_OK;
}

void fcs_gating_free(fcs_gating *g)
{
    if (!g) return;
    for (size_t k = 0; k < g->n_src; k++) free(g->srcs[k].buf);
    free(g->srcs);
    for (size_t k = 0; k < g->n_units; k++) unit_free(&g->units[k]);
    free(g->units);
    for (size_t p = 0; g->pops && p < g->n_pops; p++) {
        free(g->pops[p].src);
        free(g->pops[p].edges);
        free(g->pops[p].cinv);
    }
    free(g->pops);
    free(g->order);
    free(g->sp);
    free(g->t), free(g->q), free(g->unc);
    free(g->dim_src), free(g->dim_off);
    free(g);
}

const char *fcs_gating_errmsg(const fcs_gating *g) { return g ? g->errmsg : ""; }

int fcs_gating_new(fcs_gating **out, const fcs_strategy *s, const char *const *channels,
                   size_t n_channels, const fcs_matrix *fcs_spillover, fcs_error *err)
{
    if (!out) return fcs_error_set(err, FCS_EINVAL, "fcs_gating_new: no output");
    *out = NULL;
    if (!s || (n_channels && !channels))
        return fcs_error_set(err, FCS_EINVAL, "fcs_gating_new: no strategy or channels");
    int line, rc = fcs_strategy_check(s, &line, err);
    if (rc) return rc;
    fcs_gating *g = calloc(1, sizeof *g);
    if (!g) return fcs_error_set(err, FCS_ENOMEM, "out of memory");
    g->s = s;
    g->channels = channels;
    g->n_channels = n_channels;
    g->spill = fcs_spillover;
    g->n_pops = s->n_pops;
    g->pops = calloc_n(s->n_pops, sizeof *g->pops);
    g->order = calloc_n(s->n_pops, sizeof *g->order);
    g->t = malloc(BLOCK * sizeof *g->t);
    g->q = malloc(BLOCK * sizeof *g->q);
    g->unc = malloc(BLOCK * sizeof *g->unc);
    rc = (g->pops && g->order && g->t && g->q && g->unc)
             ? FCS_OK
             : fcs_error_set(err, FCS_ENOMEM, "out of memory");
    if (rc == FCS_OK) rc = alloc_dim_src(g, err);
    size_t bad;
    if (rc == FCS_OK && topo_order(s, g->order, &bad))
        rc = fcs_error_set(err, FCS_ENOMEM, "out of memory");
    for (size_t p = 0; rc == FCS_OK && p < s->n_pops; p++) rc = prepare_pop(g, p, err);
    if (rc == FCS_OK && !(g->sp = calloc_n(g->n_src, sizeof *g->sp)))
        rc = fcs_error_set(err, FCS_ENOMEM, "out of memory");
    /* Channel names and the spillover are only needed while binding (the
     * compensation objects hold their own copies). */
    g->channels = NULL;
    g->spill = NULL;
    if (rc) {
        fcs_gating_free(g);
        return rc;
    }
    fcs_error_clear(err);
    *out = g;
    return FCS_OK;
}

/* ======================================================================
 * Kernels (one block of n <= BLOCK events)
 * ====================================================================== */

/* AVX2 vectorises the branch-free loops 4 doubles wide (measured about 9x
 * the scalar baseline build); other CPUs run the baseline clone. Defining
 * FCS_HOT empty (-DFCS_HOT=) builds the baseline kernels only, to test them
 * on an AVX2 machine. */
#ifndef FCS_HOT
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define FCS_HOT __attribute__((target_clones("avx2", "default")))
#else
#define FCS_HOT
#endif
#endif

/* One edge of the crossing pass. Per event a state word: bit 0 is the
 * parity of the crossings of the ray from the point towards +x (the even-odd
 * rule needs nothing more), bit 1 says that the floating-point orientation
 * could not be proven for some edge (the exact path decides those). The
 * first edge writes the state, the others update it. */
FCS_HOT static void poly_edge_pass(const double *restrict px, const double *restrict py,
                                   size_t n, int64_t *restrict st, const edge *e, int first)
{
    const double ax = e->ax, ay = e->ay, ex = e->ex, ey = e->ey, errb = e->errb;
    const double minx = e->minx, maxx = e->maxx, miny = e->miny, maxy = e->maxy;
    for (size_t i = 0; i < n; i++) {
        double x = px[i], y = py[i];
        double d = ex * (y - ay) - (x - ax) * ey; /* > 0: the edge passes right of p */
        int64_t iny = (y >= miny) & (y <= maxy);
        int64_t cy = (y >= miny) & (y < maxy);
        int64_t inx = (x >= minx) & (x <= maxx);
        int64_t right = (x < minx) | (inx & (d > 0));
        /* !(|d| > errb), not |d| <= errb: a NaN d (inf - inf at huge
         * coordinates) proves nothing either. */
        int64_t unc = iny & inx & !(fabs(d) > errb);
        int64_t bits = (cy & right) | (unc << 1);
        st[i] = first ? bits : (st[i] ^ (bits & 1)) | (bits & 2);
    }
}

/* out = parity bit; returns whether any event needs the exact path. */
FCS_HOT static int poly_finish(const int64_t *restrict st, size_t n, uint8_t *restrict out)
{
    int64_t any = 0;
    for (size_t i = 0; i < n; i++) {
        out[i] = (uint8_t)(st[i] & 1);
        any |= st[i];
    }
    return (any & 2) != 0;
}

static void eval_polygon(fcs_gating *g, const pnode *p, size_t n, uint8_t *out)
{
    const double *x = g->sp[p->src[0]], *y = g->sp[p->src[1]];
    int64_t *st = g->unc;
    for (size_t k = 0; k < p->n_edges; k++) poly_edge_pass(x, y, n, st, &p->edges[k], k == 0);
    /* Odd winding number (odd crossing count) is inside: Gating-ML 2.0, where
     * a region wound twice by a self-crossing polygon is a hole (compliance
     * case Polygon3NS). */
    if (!poly_finish(st, n, out)) return;
    const fcs_gate_info *in = &p->g->info;
    for (size_t i = 0; i < n; i++)
        if (st[i] & 2)
            out[i] = (uint8_t)fcs_polygon_contains_exact(in->vertices, in->n_vertices, x[i], y[i]);
}

FCS_HOT static void range_pass(const double *restrict x, size_t n, double lo, double hi,
                               uint8_t *restrict out)
{
    if (!isnan(lo) && !isnan(hi))
        for (size_t i = 0; i < n; i++) out[i] &= (x[i] >= lo) & (x[i] < hi);
    else if (!isnan(lo))
        for (size_t i = 0; i < n; i++) out[i] &= x[i] >= lo;
    else if (!isnan(hi))
        for (size_t i = 0; i < n; i++) out[i] &= x[i] < hi;
    else /* an unrestricted side still excludes NaN */
        for (size_t i = 0; i < n; i++) out[i] &= x[i] == x[i];
}

static void eval_ranges(fcs_gating *g, const pnode *p, size_t n, uint8_t *out)
{
    memset(out, 1, n);
    for (size_t k = 0; k < p->n_src; k++) range_pass(g->sp[p->src[k]], n, p->lo[k], p->hi[k], out);
}

/* (x-mean)' C^-1 (x-mean) <= D, summed in the order of the reference
 * implementations: t = (x-mean) C^-1, then q = t . (x-mean). */
static void eval_ellipsoid(fcs_gating *g, const pnode *p, size_t n, uint8_t *out)
{
    const fcs_gate_info *in = &p->g->info;
    size_t nd = in->n_dims;
    double *q = g->q, *t = g->t;
    for (size_t i = 0; i < n; i++) q[i] = 0;
    for (size_t k = 0; k < nd; k++) {
        for (size_t i = 0; i < n; i++) t[i] = 0;
        for (size_t j = 0; j < nd; j++) {
            const double *x = g->sp[p->src[j]];
            double mu = in->mean[j], c = p->cinv[j * nd + k];
            for (size_t i = 0; i < n; i++) t[i] += (x[i] - mu) * c;
        }
        const double *xk = g->sp[p->src[k]];
        double muk = in->mean[k];
        for (size_t i = 0; i < n; i++) q[i] += t[i] * (xk[i] - muk);
    }
    double dsq = in->distance_square;
    for (size_t i = 0; i < n; i++) out[i] = q[i] <= dsq;
}

static void eval_boolean(const pnode *p, uint8_t *const *mem, size_t off, size_t n, uint8_t *out)
{
    const fcs_gate_info *in = &p->g->info;
    if (in->op == FCS_GATE_OR) {
        memset(out, 0, n);
        for (size_t k = 0; k < in->n_refs; k++) {
            const uint8_t *m = mem[p->refs[k]] + off;
            uint8_t c = (uint8_t)in->refs[k].complement;
            for (size_t i = 0; i < n; i++) out[i] |= m[i] ^ c;
        }
        return;
    }
    memset(out, 1, n);
    for (size_t k = 0; k < in->n_refs; k++) {
        const uint8_t *m = mem[p->refs[k]] + off;
        uint8_t c = (uint8_t)(in->refs[k].complement ^ (in->op == FCS_GATE_NOT));
        for (size_t i = 0; i < n; i++) out[i] &= m[i] ^ c;
    }
}

/* ======================================================================
 * Running
 * ====================================================================== */

static int gerr(fcs_gating *g, int code, const char *fmt, ...) FCS_PRINTF(3, 4);
static int gerr(fcs_gating *g, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->errmsg, sizeof g->errmsg, fmt, ap);
    va_end(ap);
    return code;
}

static int run_unit(fcs_gating *g, comp_unit *u, const double *const *cols, size_t off, size_t n)
{
    if (u->done) return FCS_OK;
    u->done = 1;
    if (!u->c) { /* inverted matrix: x = o M */
        for (size_t i = 0; i < n * u->n_out; i++) u->outbuf[i] = 0;
        for (size_t d = 0; d < u->n_in; d++) {
            const double *o = cols[u->in_ch[d]] + off, *row = u->M + d * u->n_out;
            for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < u->n_out; j++) u->outbuf[i * u->n_out + j] += o[i] * row[j];
        }
        return FCS_OK;
    }
    size_t np = g->n_channels;
    for (size_t k = 0; k < u->n_in; k++) {
        size_t ch = (size_t)fcs_comp_input_param(u->c, k);
        const double *o = cols[ch] + off;
        for (size_t i = 0; i < n; i++) u->inbuf[i * np + ch] = o[i];
    }
    int rc = fcs_comp_unmix(u->c, u->inbuf, n, u->outbuf);
    return rc ? gerr(g, rc, "compensation failed") : FCS_OK;
}

/* Compute source k for the current block (its inputs must be computed). */
static int run_source(fcs_gating *g, size_t k, const double *const *cols, size_t off, size_t n)
{
    src *x = &g->srcs[k];
    int rc = FCS_OK;
    switch (x->kind) {
    case SRC_INPUT:
        if (!cols[x->a]) return gerr(g, FCS_EINVAL, "channel %zu: no column given", x->a + 1);
        g->sp[k] = cols[x->a] + off;
        return FCS_OK;
    case SRC_COMP: {
        comp_unit *u = &g->units[x->a];
        if ((rc = run_unit(g, u, cols, off, n))) return rc;
        for (size_t i = 0; i < n; i++) x->buf[i] = u->outbuf[i * u->n_out + x->b];
        break;
    }
    case SRC_RATIO:
        memcpy(x->buf, g->sp[x->a], n * sizeof(double));
        rc = fcs_transform_apply2(g->s->xf[x->xf].t, x->buf, g->sp[x->b], n);
        break;
    case SRC_XFORM:
        memcpy(x->buf, g->sp[x->a], n * sizeof(double));
        rc = fcs_transform_apply(g->s->xf[x->xf].t, x->buf, n);
        break;
    }
    if (rc) return gerr(g, rc, "transformation '%s' failed", g->s->xf[x->xf].id);
    g->sp[k] = x->buf;
    return FCS_OK;
}

static int run_sources(fcs_gating *g, const double *const *cols, size_t off, size_t n)
{
    for (size_t k = 0; k < g->n_units; k++) g->units[k].done = 0;
    for (size_t k = 0; k < g->n_src; k++) {
        int rc = run_source(g, k, cols, off, n);
        if (rc) return rc;
    }
    return FCS_OK;
}

/* Compute source k and, first, the sources it reads (at most three levels:
 * transform of a ratio of compensated channels). */
static int run_source_deps(fcs_gating *g, size_t k, const double *const *cols, size_t off, size_t n)
{
    const src *x = &g->srcs[k];
    int rc = FCS_OK;
    if (x->kind == SRC_RATIO) {
        if ((rc = run_source_deps(g, x->a, cols, off, n)) ||
            (rc = run_source_deps(g, x->b, cols, off, n)))
            return rc;
    } else if (x->kind == SRC_XFORM && (rc = run_source_deps(g, x->a, cols, off, n))) {
        return rc;
    }
    return run_source(g, k, cols, off, n);
}

static void run_pop(fcs_gating *g, size_t pi, uint8_t *const *mem, size_t off, size_t n)
{
    const pnode *p = &g->pops[pi];
    uint8_t *out = mem[pi] + off;
    switch (p->g->info.type) {
    case FCS_GATE_RECTANGLE:
    case FCS_GATE_QUADRANT: eval_ranges(g, p, n, out); break;
    case FCS_GATE_POLYGON: eval_polygon(g, p, n, out); break;
    case FCS_GATE_ELLIPSOID: eval_ellipsoid(g, p, n, out); break;
    case FCS_GATE_BOOLEAN: eval_boolean(p, mem, off, n, out); break;
    }
    if (p->parent >= 0) {
        const uint8_t *par = mem[p->parent] + off;
        for (size_t i = 0; i < n; i++) out[i] &= par[i];
    }
}

int fcs_gating_run(fcs_gating *g, const double *const *columns, size_t n_events,
                   uint8_t *const *membership)
{
    if (!g) return FCS_EINVAL;
    g->errmsg[0] = '\0';
    if (n_events == 0) return FCS_OK;
    if ((!columns && g->n_src) || (!membership && g->n_pops))
        return gerr(g, FCS_EINVAL, "fcs_gating_run: no columns or membership arrays");
    for (size_t p = 0; p < g->n_pops; p++)
        if (!membership[p]) return gerr(g, FCS_EINVAL, "population %zu: no output array", p);
    for (size_t off = 0; off < n_events; off += BLOCK) {
        size_t n = n_events - off < BLOCK ? n_events - off : BLOCK;
        int rc = run_sources(g, columns, off, n);
        if (rc) return rc;
        for (size_t k = 0; k < g->n_pops; k++) run_pop(g, g->order[k], membership, off, n);
    }
    return FCS_OK;
}

/* ======================================================================
 * Values of one gate dimension
 * ====================================================================== */

/* The bound source of (gate gi, dim) and, untransformed, the one below its
 * transformation. FCS_ERANGE / FCS_ENOTFOUND when there is none. */
static long dim_source(const fcs_gating *g, size_t gi, size_t dim, int untransformed)
{
    if (gi >= g->s->n_gates || dim >= gate_n_dims(&g->s->gates[gi].info)) return FCS_ERANGE;
    long k = g->dim_src[g->dim_off[gi] + dim];
    if (k < 0) return FCS_ENOTFOUND;
    if (untransformed && g->srcs[k].kind == SRC_XFORM) k = (long)g->srcs[k].a;
    return k;
}

int fcs_gating_dim_source(const fcs_gating *g, size_t gi, size_t dim, fcs_gate_dim_source *out)
{
    if (!g || !out) return FCS_EINVAL;
    long k = dim_source(g, gi, dim, 1);
    if (k < 0) return (int)k;
    const src *x = &g->srcs[k];
    memset(out, 0, sizeof *out);
    out->id = (size_t)k;
    out->kind = x->kind == SRC_INPUT  ? FCS_GATE_DIM_CHANNEL
                : x->kind == SRC_COMP ? FCS_GATE_DIM_COMPENSATED
                                      : FCS_GATE_DIM_RATIO;
    out->channel = x->kind == SRC_INPUT ? (long)x->a : -1;
    out->transformed = dim_source(g, gi, dim, 0) != k;
    return FCS_OK;
}

int fcs_gating_dim_values(fcs_gating *g, size_t gi, size_t dim, int stage,
                          const double *const *columns, size_t n_events, double *out)
{
    if (!g) return FCS_EINVAL;
    g->errmsg[0] = '\0';
    if (stage != FCS_GATE_DIM_SCALED && stage != FCS_GATE_DIM_UNTRANSFORMED)
        return gerr(g, FCS_EINVAL, "fcs_gating_dim_values: unknown stage %d", stage);
    long k = dim_source(g, gi, dim, stage == FCS_GATE_DIM_UNTRANSFORMED);
    if (k == FCS_ERANGE)
        return gerr(g, FCS_ERANGE, "gate %zu has no dimension %zu", gi + 1, dim + 1);
    if (k < 0)
        return gerr(g, FCS_ENOTFOUND, "gate '%s': divider %zu is used by no quadrant",
                    g->s->gates[gi].info.id, dim + 1);
    if (n_events == 0) return FCS_OK;
    if (!columns || !out) return gerr(g, FCS_EINVAL, "fcs_gating_dim_values: no columns or output");
    for (size_t off = 0; off < n_events; off += BLOCK) {
        size_t n = n_events - off < BLOCK ? n_events - off : BLOCK;
        for (size_t u = 0; u < g->n_units; u++) g->units[u].done = 0;
        int rc = run_source_deps(g, (size_t)k, columns, off, n);
        if (rc) return rc;
        memcpy(out + off, g->sp[k], n * sizeof(double));
    }
    return FCS_OK;
}
