/*
 * report.c — the QC report (fcs/report.h): a gating strategy applied to
 * samples, drawn as a grid of plots with the statistics, key keywords and
 * reader warnings, as one self-contained HTML page; and the gate drawing
 * and axis ranges it shares with fcs-plot.
 *
 * Nothing here computes a gate's values or a statistic itself: values come
 * from the gating engine (fcs_gating_dim_values), counts and percentages
 * from fcs_stats, pictures from fcs_plot. This file only decides what goes
 * on which panel and writes the page.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcs/gatefile.h"
#include "fcs/report.h"
#include "gate_internal.h"
#include "internal.h"
#include "growbuf.h"

/* ======================================================================
 * Shared with fcs-plot: gates on a plot, default axis ranges
 * ====================================================================== */

static const fcs_transform *strategy_transform(const fcs_strategy *s, const char *id)
{
    if (!id) return NULL;
    for (size_t i = 0; i < fcs_strategy_n_transforms(s); i++) {
        const char *tid;
        const fcs_transform *t;
        if (fcs_strategy_transform(s, i, &tid, &t, NULL, NULL) == FCS_OK && strcmp(tid, id) == 0)
            return t;
    }
    return NULL;
}

/* The dimension (or divider) d of a gate. */
static const fcs_gate_dim *gate_dim(const fcs_gate_info *in, size_t d)
{
    return in->type == FCS_GATE_QUADRANT ? &in->dividers[d].dim : &in->dims[d];
}

static size_t info_n_dims(const fcs_gate_info *in)
{
    return in->type == FCS_GATE_QUADRANT  ? in->n_dividers
           : in->type == FCS_GATE_BOOLEAN ? 0
                                          : in->n_dims;
}

/* "ID COUNT (PCT%)" of population id (no label without counts). */
static void gate_label(const fcs_strategy *s, const char *id, const int64_t *count,
                       const double *pct, char *buf, size_t n)
{
    buf[0] = '\0';
    long p = fcs_strategy_population_index(s, id);
    if (!count || p < 0) return;
    fcs_plot_gate_label(buf, n, id, count[p], pct ? pct[p] : NAN);
}

/* The interval of a quadrant on one divider (fcs/gate.h: [largest value <=
 * location, smallest value > location), open at the ends). */
static void quadrant_interval(const fcs_gate_divider *d, double loc, double *lo, double *hi)
{
    *lo = -INFINITY, *hi = INFINITY;
    for (size_t i = 0; i < d->n_values; i++) {
        if (d->values[i] <= loc && d->values[i] > *lo) *lo = d->values[i];
        if (d->values[i] > loc && d->values[i] < *hi) *hi = d->values[i];
    }
}

static int draw_quadrants(fcs_plot *p, const fcs_strategy *s, const fcs_gate_info *in,
                          const size_t *dims, int n_axes, const fcs_transform *const *gt,
                          const int64_t *count, const double *pct)
{
    for (int a = 0; a < n_axes; a++) {
        const fcs_gate_divider *d = &in->dividers[dims[a]];
        for (size_t v = 0; v < d->n_values; v++) {
            int rc = fcs_plot_divider(p, a, gt[a], d->values[v]);
            if (rc != FCS_OK) return rc;
        }
    }
    /* Regions are only known when the plot shows every divider. */
    if (in->n_dividers != (size_t)n_axes || (n_axes == 2 && dims[0] == dims[1])) return FCS_OK;
    for (size_t q = 0; q < in->n_quadrants; q++) {
        const fcs_gate_quadrant *qd = &in->quadrants[q];
        double lim[2][2] = {{-INFINITY, INFINITY}, {-INFINITY, INFINITY}};
        for (size_t k = 0; k < qd->n_positions; k++) {
            size_t dv = qd->dividers[k];
            int axis = dims[0] == dv ? 0 : 1;
            quadrant_interval(&in->dividers[dv], qd->locations[k], &lim[axis][0], &lim[axis][1]);
        }
        char label[512];
        gate_label(s, qd->id, count, pct, label, sizeof label);
        int rc = fcs_plot_region_label(p, gt[0], gt[1], lim[0][0], lim[0][1], lim[1][0], lim[1][1],
                                       label);
        if (rc != FCS_OK) return rc;
    }
    return FCS_OK;
}

static int draw_polygon(fcs_plot *p, const fcs_gate_info *in, const size_t *dims,
                        const fcs_transform *const *gt, const char *label)
{
    double *xy = malloc(2 * in->n_vertices * sizeof *xy);
    if (!xy) return FCS_ENOMEM;
    for (size_t v = 0; v < in->n_vertices; v++) {
        xy[2 * v] = in->vertices[2 * v + dims[0]];
        xy[2 * v + 1] = in->vertices[2 * v + dims[1]];
    }
    int rc = fcs_plot_polygon(p, gt[0], gt[1], in->n_vertices, xy, label);
    free(xy);
    return rc;
}

/* The shadow of an ellipsoid on two of its dimensions is the ellipse of
 * the same distance whose covariance is the 2 x 2 block of those
 * dimensions (a marginal of the quadratic form). */
static int draw_ellipse(fcs_plot *p, const fcs_gate_info *in, const size_t *dims,
                        const fcs_transform *const *gt, const char *label)
{
    size_t n = in->n_dims;
    double m[2] = {in->mean[dims[0]], in->mean[dims[1]]}, cv[4];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) cv[i * 2 + j] = in->covariance[dims[i] * n + dims[j]];
    return fcs_plot_ellipse(p, gt[0], gt[1], m, cv, in->distance_square, label);
}

/* Can gate `in` be drawn with dims on a plot of n_axes axes? */
static int drawable(const fcs_gate_info *in, const size_t *dims, int n_axes)
{
    size_t nd = info_n_dims(in);
    if (in->type == FCS_GATE_BOOLEAN || dims[0] >= nd || (n_axes == 2 && dims[1] >= nd)) return 0;
    if (in->type == FCS_GATE_POLYGON)
        return n_axes == 2 && dims[0] + dims[1] == 1 && dims[0] != dims[1];
    if (in->type == FCS_GATE_ELLIPSOID) return n_axes == 2 && dims[0] != dims[1];
    return 1;
}

int fcs_report_draw_gate(fcs_plot *p, const fcs_strategy *s, size_t gi, const size_t dims[2],
                         const int64_t *count, const double *pct_parent)
{
    fcs_gate_info in;
    if (!p || !s || !dims) return FCS_EINVAL;
    if (fcs_strategy_gate(s, gi, &in) != FCS_OK) return FCS_ERANGE;
    /* A density plot has >= 2 bins on y, a histogram exactly one. */
    int n_axes = fcs_hist_ny(fcs_plot_hist(p)) > 1 ? 2 : 1;
    if (!drawable(&in, dims, n_axes)) return FCS_EINVAL;
    const fcs_transform *gt[2] = {
        strategy_transform(s, gate_dim(&in, dims[0])->transform),
        n_axes == 2 ? strategy_transform(s, gate_dim(&in, dims[1])->transform) : NULL};
    if (in.type == FCS_GATE_QUADRANT)
        return draw_quadrants(p, s, &in, dims, n_axes, gt, count, pct_parent);
    char label[512];
    gate_label(s, in.id, count, pct_parent, label, sizeof label);
    if (in.type == FCS_GATE_POLYGON) return draw_polygon(p, &in, dims, gt, label);
    if (in.type == FCS_GATE_ELLIPSOID) return draw_ellipse(p, &in, dims, gt, label);
    double lo1 = n_axes == 2 ? in.min[dims[1]] : NAN, hi1 = n_axes == 2 ? in.max[dims[1]] : NAN;
    return fcs_plot_rectangle(p, gt[0], gt[1], in.min[dims[0]], in.max[dims[0]], lo1, hi1, label);
}

static int is_gml_scale(int kind)
{
    return kind == FCS_TRANSFORM_FLIN || kind == FCS_TRANSFORM_FLOG ||
           kind == FCS_TRANSFORM_FASINH || kind == FCS_TRANSFORM_LOGICLE ||
           kind == FCS_TRANSFORM_HYPERLOG || kind == FCS_TRANSFORM_BIEX;
}

/* The largest channel value a parameter can take (the reader's scaling rule). */
static double scaled_range(const fcs_param *p)
{
    double r = p->range;
    if (p->datatype == 'I' && p->log_decades > 0)
        return pow(10.0, p->log_decades) * (p->log_offset > 0 ? p->log_offset : 1.0);
    if (p->gain != 0 && p->gain != 1 && r > 0) return r / p->gain;
    return r;
}

int fcs_report_axis_range(const fcs_param *param, const fcs_plot_scale *s, double *lo, double *hi)
{
    if (!s || !lo || !hi) return FCS_EINVAL;
    const fcs_transform *outer = s->display ? s->display : s->applied;
    int kind = outer ? (int)fcs_transform_get_kind(outer) : 0;
    if (is_gml_scale(kind)) {
        *lo = 0, *hi = 1;
        return FCS_OK;
    }
    if (!param) return FCS_EINVAL;
    double top = scaled_range(param);
    if (s->applied) top = fcs_transform_inverse_value(s->applied, top);
    if (!(top > 0) || !isfinite(top)) top = 262144;
    double a, b;
    if (kind == FCS_TRANSFORM_LOG) {
        a = fcs_plot_scale_forward(s, top > 10 ? 1.0 : top / 1e4);
        b = fcs_plot_scale_forward(s, top);
    } else if (kind == FCS_TRANSFORM_ASINH) {
        b = fcs_plot_scale_forward(s, top);
        a = -0.2 * b;
    } else {
        a = fcs_plot_scale_forward(s, 0);
        b = fcs_plot_scale_forward(s, top);
    }
    if (a > b) {
        double t = a;
        a = b;
        b = t;
    }
    if (!isfinite(a) || !isfinite(b) || !(a < b)) return FCS_EINVAL;
    *lo = a, *hi = b;
    return FCS_OK;
}

/* ======================================================================
 * Text as HTML
 * ====================================================================== */

static void sb_codepoint(fcs_sbuf *b, uint32_t v)
{
    char u[4];
    if (v < 0x80) {
        u[0] = (char)v;
        fcs_sb_put(b, u, 1);
    } else if (v < 0x800) {
        u[0] = (char)(0xc0 | v >> 6), u[1] = (char)(0x80 | (v & 0x3f));
        fcs_sb_put(b, u, 2);
    } else if (v < 0x10000) {
        u[0] = (char)(0xe0 | v >> 12), u[1] = (char)(0x80 | ((v >> 6) & 0x3f));
        u[2] = (char)(0x80 | (v & 0x3f));
        fcs_sb_put(b, u, 3);
    } else {
        u[0] = (char)(0xf0 | v >> 18), u[1] = (char)(0x80 | ((v >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((v >> 6) & 0x3f)), u[3] = (char)(0x80 | (v & 0x3f));
        fcs_sb_put(b, u, 4);
    }
}

/* Text for element content or a quoted attribute: markup characters as
 * entities; bytes that are not UTF-8 read as Latin-1 (FCS text is often
 * Latin-1); control characters, which XML forbids, as U+FFFD. */
static void sb_text(fcs_sbuf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        uint32_t cp;
        size_t n = fcs_utf8_decode(p, 4, &cp); /* NUL-terminated: a NUL ends any sequence */
        if (n == 0) cp = *p, n = 1; /* Latin-1 */
        p += n;
        switch (cp) {
        case '&': fcs_sb_puts(b, "&amp;"); continue;
        case '<': fcs_sb_puts(b, "&lt;"); continue;
        case '>': fcs_sb_puts(b, "&gt;"); continue;
        case '"': fcs_sb_puts(b, "&quot;"); continue;
        case '\'': fcs_sb_puts(b, "&#39;"); continue;
        default: break;
        }
        int control = (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') ||
                      (cp >= 0x7f && cp <= 0x9f) || cp == 0xfffe || cp == 0xffff;
        sb_codepoint(b, control ? 0xfffd : cp);
    }
}

/* ======================================================================
 * The report and its samples
 * ====================================================================== */

/* A rendered panel. */
typedef struct rpanel {
    char *svg;     /* the <svg> element, ids made unique */
    char *parent;  /* path of the plotted population ("/": all events) */
    char *gates;   /* ids of the drawn gates, blank-separated */
    char *caption; /* HTML */
} rpanel;

typedef struct kv {
    char *name, *value;
} kv;

typedef struct sample {
    char *name;
    fcs_stats *st;
    kv *kw;
    size_t n_kw;
    char **warn;
    size_t n_warn;
    rpanel *panels;
    size_t n_panels;
    char *info; /* HTML: version, data set, events, parameters */
    int beads;  /* cells/uL defined */
    fcs_bead_lot lot;
} sample;

struct fcs_report {
    const fcs_strategy *s;
    char *title, *strategy_name, *bead_pop;
    fcs_bead_lot lot;
    int has_lot;
    unsigned width, height;
    size_t bins;
    sample *samples;
    size_t n_samples, cap_samples;
    char errmsg[FCS_ERRMSG_MAX];
};

static int rerr(fcs_report *rep, int code, const char *fmt, ...) FCS_PRINTF(3, 4);
static int rerr(fcs_report *rep, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rep->errmsg, sizeof rep->errmsg, fmt, ap);
    va_end(ap);
    return code;
}

static void sample_free(sample *smp)
{
    free(smp->name);
    fcs_stats_free(smp->st);
    for (size_t i = 0; i < smp->n_kw; i++) free(smp->kw[i].name), free(smp->kw[i].value);
    free(smp->kw);
    for (size_t i = 0; i < smp->n_warn; i++) free(smp->warn[i]);
    free(smp->warn);
    for (size_t i = 0; i < smp->n_panels; i++) {
        rpanel *p = &smp->panels[i];
        free(p->svg), free(p->parent), free(p->gates), free(p->caption);
    }
    free(smp->panels);
    free(smp->info);
    memset(smp, 0, sizeof *smp);
}

void fcs_report_opts_init(fcs_report_opts *o)
{
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->plot_width = 360;
    o->plot_height = 340;
    o->bins = 128;
}

void fcs_report_free(fcs_report *rep)
{
    if (!rep) return;
    for (size_t i = 0; i < rep->n_samples; i++) sample_free(&rep->samples[i]);
    free(rep->samples);
    free(rep->title), free(rep->strategy_name), free(rep->bead_pop);
    free(rep);
}

const char *fcs_report_errmsg(const fcs_report *rep) { return rep ? rep->errmsg : ""; }

size_t fcs_report_n_samples(const fcs_report *rep) { return rep ? rep->n_samples : 0; }

size_t fcs_report_n_panels(const fcs_report *rep, size_t i)
{
    return rep && i < rep->n_samples ? rep->samples[i].n_panels : 0;
}

const fcs_stats *fcs_report_stats(const fcs_report *rep, size_t i)
{
    return rep && i < rep->n_samples ? rep->samples[i].st : NULL;
}

static char *dup_opt(const char *s, int *ok)
{
    if (!s) return NULL;
    char *d = fcs_strdup(s);
    if (!d) *ok = 0;
    return d;
}

/* The path of the bead population: opts gives a path or an id. */
static int bead_path(const fcs_strategy *s, const char *want, char **out, fcs_error *err)
{
    size_t n = fcs_strategy_n_populations(s);
    for (size_t p = 0; p < n; p++) {
        char path[4096];
        if (fcs_strategy_population_path(s, p, path, sizeof path) < 0) continue;
        if (strcmp(path, want) == 0 || strcmp(fcs_strategy_population_id(s, p), want) == 0) {
            if (!(*out = fcs_strdup(path))) return fcs_error_set(err, FCS_ENOMEM, "out of memory");
            return FCS_OK;
        }
    }
    return fcs_error_set(err, FCS_ENOTFOUND,
                         "bead population '%s' is not a population of the strategy (an id or "
                         "a /path)",
                         want);
}

int fcs_report_new(fcs_report **out, const fcs_strategy *s, const fcs_report_opts *opts,
                   fcs_error *err)
{
    if (!out) return fcs_error_set(err, FCS_EINVAL, "fcs_report_new: no output");
    *out = NULL;
    if (!s) return fcs_error_set(err, FCS_EINVAL, "fcs_report_new: no strategy");
    fcs_report_opts def;
    fcs_report_opts_init(&def);
    const fcs_report_opts *o = opts ? opts : &def;
    if (o->plot_width < 200 || o->plot_width > 2000 || o->plot_height < 200 ||
        o->plot_height > 2000)
        return fcs_error_set(err, FCS_EINVAL, "report: plot size %ux%u (each 200..2000)",
                             o->plot_width, o->plot_height);
    if (o->bins < 2 || o->bins > 1024)
        return fcs_error_set(err, FCS_EINVAL, "report: %zu bins (2..1024)", o->bins);
    if (o->bead_lot && !(o->bead_lot->beads_per_test > 0 && isfinite(o->bead_lot->beads_per_test) &&
                         o->bead_lot->volume_ul > 0 && isfinite(o->bead_lot->volume_ul)))
        return fcs_error_set(err, FCS_EINVAL,
                             "report: the bead lot needs beads per test and a volume > 0");
    /* The checks of fcs_strategy_validate, on a strategy we may not change. */
    int line, rc = fcs_strategy_check(s, &line, err);
    if (rc != FCS_OK) return rc;
    /* Population paths join ids with '/' (fcs_stats needs them unique). */
    for (size_t p = 0; p < fcs_strategy_n_populations(s); p++)
        if (strchr(fcs_strategy_population_id(s, p), '/'))
            return fcs_error_set(err, FCS_EINVAL,
                                 "population id '%s' contains '/', which separates the parts "
                                 "of population paths",
                                 fcs_strategy_population_id(s, p));
    fcs_report *rep = calloc(1, sizeof *rep);
    if (!rep) return fcs_error_set(err, FCS_ENOMEM, "out of memory");
    int ok = 1;
    rep->s = s;
    rep->title = dup_opt(o->title, &ok);
    rep->strategy_name = dup_opt(o->strategy_name, &ok);
    rep->width = o->plot_width;
    rep->height = o->plot_height;
    rep->bins = o->bins;
    if (o->bead_lot) rep->lot = *o->bead_lot, rep->has_lot = 1;
    if (!ok) {
        fcs_report_free(rep);
        return fcs_error_set(err, FCS_ENOMEM, "out of memory");
    }
    if (o->bead_population && (rc = bead_path(s, o->bead_population, &rep->bead_pop, err))) {
        fcs_report_free(rep);
        return rc;
    }
    fcs_error_clear(err);
    *out = rep;
    return FCS_OK;
}

/* ======================================================================
 * One sample: bind, plan the panels, stream, render
 * ====================================================================== */

#define CHUNK 4096
#define NO_DIM ((size_t)-1)

typedef struct pgate {
    size_t gate;
    size_t dims[2]; /* gate dimension on x, on y */
} pgate;

typedef struct panel {
    long parent; /* population index of the plotted events, -1: all */
    int n_axes;
    size_t gate[2], dim[2]; /* each axis shows this gate dimension's values */
    fcs_gate_dim_source src[2];
    size_t cache[2]; /* index of the axis's values in the chunk cache */
    pgate *g;
    size_t n_g, cap_g;
    fcs_transform *applied[2]; /* LIBFCS_PnTRANSFORM of the stream (owned) */
    const fcs_transform *display[2];
    char title[2][1024];
    fcs_plot *plot;
} panel;

/* Values of one engine source for the current chunk, shared by the axes
 * that show it. */
typedef struct cached {
    size_t gate, dim, id;
    double *v;
} cached;

typedef struct work {
    fcs_report *rep;
    fcs_reader *r;
    const char *name;
    fcs_strategy *as; /* the strategy adapted to this stream */
    fcs_gating *g;
    const char **names;
    size_t np, npop;
    fcs_stats *st;
    long *stat_of_pop;
    size_t *tree; /* populations in tree order */
    panel *panels;
    size_t n_panels, cap_panels;
    cached *cache;
    size_t n_cache;
} work;

static void work_free(work *w)
{
    for (size_t i = 0; i < w->n_panels; i++) {
        panel *p = &w->panels[i];
        free(p->g);
        fcs_transform_free(p->applied[0]);
        fcs_transform_free(p->applied[1]);
        fcs_plot_free(p->plot);
    }
    free(w->panels);
    for (size_t i = 0; i < w->n_cache; i++) free(w->cache[i].v);
    free(w->cache);
    fcs_gating_free(w->g);
    fcs_strategy_free(w->as);
    fcs_stats_free(w->st);
    free(w->stat_of_pop);
    free(w->tree);
    free(w->names);
}

static int nomem(work *w) { return rerr(w->rep, FCS_ENOMEM, "%s: out of memory", w->name); }

/* The strategy as it applies to this stream, bound to its channels with its
 * own spillover: exactly as fcs-gate and fcs-stats -g bind it. */
static int bind_sample(work *w)
{
    fcs_error e;
    int rc = fcs_strategy_for_stream(w->rep->s, w->r, &w->as, &e);
    if (rc) return rerr(w->rep, rc, "%s: %s", w->name, e.msg);
    w->np = fcs_n_params(w->r);
    w->npop = fcs_strategy_n_populations(w->as);
    if (!(w->names = calloc(w->np ? w->np : 1, sizeof *w->names))) return nomem(w);
    for (size_t j = 0; j < w->np; j++) w->names[j] = fcs_param_info(w->r, j)->name;
    rc = fcs_gating_new(&w->g, w->as, w->names, w->np, fcs_spillover(w->r, NULL), &e);
    if (rc) return rerr(w->rep, rc, "%s: %s", w->name, e.msg);
    if (!(w->tree = calloc(w->npop ? w->npop : 1, sizeof *w->tree))) return nomem(w);
    if ((rc = fcs_strategy_population_tree(w->as, w->tree, NULL)))
        return rerr(w->rep, rc, "%s: cannot order the population tree", w->name);
    return FCS_OK;
}

/* The beads' numbers: the report's lot, else the sample's keywords. */
static int set_beads(work *w, sample *smp)
{
    fcs_report *rep = w->rep;
    if (!rep->bead_pop) return FCS_OK;
    int k = fcs_stats_find_population(w->st, rep->bead_pop);
    if (k < 0) return rerr(rep, FCS_ENOTFOUND, "%s: no bead population %s", w->name, rep->bead_pop);
    fcs_error e;
    if (rep->has_lot) {
        smp->lot = rep->lot;
    } else {
        int rc = fcs_bead_lot_from_keywords(w->r, &smp->lot, &e);
        if (rc == FCS_ENOTFOUND)
            return rerr(rep, FCS_ENOTFOUND,
                        "%s: beads %s: no bead numbers (give a bead lot, or the keywords "
                        "LIBFCS_BEADS_PER_TEST and LIBFCS_VOLUME_UL)",
                        w->name, rep->bead_pop);
        if (rc) return rerr(rep, rc, "%s: %s", w->name, e.msg);
    }
    int rc = fcs_stats_set_beads(w->st, (size_t)k, smp->lot.beads_per_test, smp->lot.volume_ul);
    if (rc) return rerr(rep, rc, "%s: %s", w->name, fcs_stats_errmsg(w->st));
    smp->beads = 1;
    return FCS_OK;
}

/* Statistics of the strategy's populations (tree order, so parents come
 * first), fed with one membership value per population and event. */
static int make_stats(work *w, sample *smp)
{
    fcs_error e;
    int rc = fcs_stats_new(&w->st, w->npop ? w->npop : 1, NULL, &e);
    if (rc) return rerr(w->rep, rc, "%s: %s", w->name, e.msg);
    if (!(w->stat_of_pop = calloc(w->npop ? w->npop : 1, sizeof *w->stat_of_pop))) return nomem(w);
    for (size_t k = 0; k < w->npop; k++) {
        char path[4096], parent[4096];
        size_t p = w->tree[k];
        if (fcs_strategy_population_path(w->as, p, path, sizeof path) < 0)
            return rerr(w->rep, FCS_ERANGE, "%s: population path of '%s' too long", w->name,
                        fcs_strategy_population_id(w->as, p));
        const char *slash = strrchr(path, '/');
        snprintf(parent, sizeof parent, "%.*s", slash == path ? 1 : (int)(slash - path), path);
        int idx = fcs_stats_add_population(w->st, path, parent, p, FCS_STATS_BOOLEAN);
        if (idx < 0) return rerr(w->rep, idx, "%s: %s", w->name, fcs_stats_errmsg(w->st));
        w->stat_of_pop[p] = idx;
    }
    return set_beads(w, smp);
}

/* ---- panels ----------------------------------------------------------------------------- */

/* Add gate gi to the panel of its parent on the same dimensions, or to a
 * new one. dims[1] == NO_DIM: a 1-D slot. */
static int place_gate(work *w, size_t gi, long parent, size_t a, size_t b)
{
    fcs_gate_dim_source sa, sb;
    if (fcs_gating_dim_source(w->g, gi, a, &sa) != FCS_OK) return FCS_OK; /* unbound divider */
    if (b != NO_DIM && fcs_gating_dim_source(w->g, gi, b, &sb) != FCS_OK) b = NO_DIM;
    int n_axes = b == NO_DIM ? 1 : 2;
    panel *pn = NULL;
    size_t dims[2] = {a, b};
    for (size_t i = 0; i < w->n_panels && !pn; i++) {
        panel *q = &w->panels[i];
        if (q->parent != parent || q->n_axes != n_axes) continue;
        if (q->src[0].id == sa.id && (n_axes == 1 || q->src[1].id == sb.id)) {
            pn = q;
        } else if (n_axes == 2 && q->src[0].id == sb.id && q->src[1].id == sa.id) {
            pn = q;
            dims[0] = b, dims[1] = a;
        }
    }
    if (!pn) {
        if (fcs_grow((void **)&w->panels, &w->cap_panels, w->n_panels + 1, sizeof *w->panels))
            return nomem(w);
        pn = &w->panels[w->n_panels++];
        memset(pn, 0, sizeof *pn);
        pn->parent = parent;
        pn->n_axes = n_axes;
        pn->gate[0] = pn->gate[1] = gi;
        pn->dim[0] = a, pn->dim[1] = b;
        pn->src[0] = sa;
        if (n_axes == 2) pn->src[1] = sb;
    }
    if (fcs_grow((void **)&pn->g, &pn->cap_g, pn->n_g + 1, sizeof *pn->g)) return nomem(w);
    pn->g[pn->n_g].gate = gi;
    pn->g[pn->n_g].dims[0] = dims[0];
    pn->g[pn->n_g].dims[1] = dims[1];
    pn->n_g++;
    return FCS_OK;
}

/* The panel slots of a gate: its dimensions in pairs (see fcs/report.h). */
static int place_gate_dims(work *w, size_t gi)
{
    fcs_gate_info in;
    if (fcs_strategy_gate(w->as, gi, &in) != FCS_OK) return FCS_OK;
    size_t nd = info_n_dims(&in);
    long parent = in.parent ? fcs_strategy_population_index(w->as, in.parent) : -1;
    if (nd == 0) return FCS_OK;
    if (in.type == FCS_GATE_POLYGON || in.type == FCS_GATE_ELLIPSOID)
        return place_gate(w, gi, parent, 0, 1);
    for (size_t a = 0; a < nd; a += 2) {
        int rc = place_gate(w, gi, parent, a, a + 1 < nd ? a + 1 : NO_DIM);
        if (rc) return rc;
    }
    return FCS_OK;
}

/* Panels grouped by plotted population, in the order of the population
 * tree (stable: a population's panels keep their gates' order), so the
 * grid reads like the hierarchy: all events, then each population's gates. */
static void sort_panels(work *w)
{
    long *rank = malloc((w->npop ? w->npop : 1) * sizeof *rank);
    if (!rank) return; /* the order of discovery is a fine order too */
    for (size_t k = 0; k < w->npop; k++) rank[w->tree[k]] = (long)k;
    for (size_t i = 1; i < w->n_panels; i++) {
        panel t = w->panels[i];
        long rt = t.parent < 0 ? -1 : rank[t.parent];
        size_t j = i;
        while (j > 0 && (w->panels[j - 1].parent < 0 ? -1 : rank[w->panels[j - 1].parent]) > rt) {
            w->panels[j] = w->panels[j - 1];
            j--;
        }
        w->panels[j] = t;
    }
    free(rank);
}

/* Gates in the order of the population tree (a quadrant gate where its
 * first quadrant is), each placed on its panels. */
static int plan_panels(work *w)
{
    size_t ng = fcs_strategy_n_gates(w->as);
    long *gate_of_pop = malloc((w->npop ? w->npop : 1) * sizeof *gate_of_pop);
    unsigned char *done = calloc(ng ? ng : 1, 1);
    int rc = gate_of_pop && done ? FCS_OK : nomem(w);
    for (size_t gi = 0; rc == FCS_OK && gi < ng; gi++) {
        fcs_gate_info in;
        if (fcs_strategy_gate(w->as, gi, &in) != FCS_OK) continue;
        if (in.type != FCS_GATE_QUADRANT) {
            long p = fcs_strategy_population_index(w->as, in.id);
            if (p >= 0) gate_of_pop[p] = (long)gi;
        }
        for (size_t q = 0; q < in.n_quadrants; q++) {
            long p = fcs_strategy_population_index(w->as, in.quadrants[q].id);
            if (p >= 0) gate_of_pop[p] = (long)gi;
        }
    }
    for (size_t k = 0; rc == FCS_OK && k < w->npop; k++) {
        size_t gi = (size_t)gate_of_pop[w->tree[k]];
        if (done[gi]) continue;
        done[gi] = 1;
        rc = place_gate_dims(w, gi);
    }
    free(gate_of_pop);
    free(done);
    if (rc == FCS_OK) sort_panels(w);
    return rc;
}

/* What a gate dimension shows in an axis title: its channel (as stored),
 * fluorochrome or ratio, and the parameter that describes it (-1: none). */
static const char *dim_name(const work *w, const fcs_gate_dim *gd, const fcs_gate_dim_source *src,
                            long *param, char *buf, size_t n)
{
    *param = -1;
    if (src->kind == FCS_GATE_DIM_CHANNEL) {
        *param = src->channel;
        const char *nm = w->names[src->channel];
        if (nm) return nm;
        snprintf(buf, n, "P%ld", src->channel + 1);
        return buf;
    }
    if (src->kind == FCS_GATE_DIM_RATIO) return gd->ratio;
    *param = fcs_param_index(w->r, gd->name, 0);
    return gd->name;
}

static void axis_title(work *w, panel *pn, int a, long *param)
{
    fcs_gate_info in;
    char buf[64], scale[300] = "", extra[300] = "";
    size_t n = 0;
    if (fcs_strategy_gate(w->as, pn->gate[a], &in) != FCS_OK) return;
    const fcs_gate_dim *gd = gate_dim(&in, pn->dim[a]);
    const char *name = dim_name(w, gd, &pn->src[a], param, buf, sizeof buf);
    const fcs_param *p = *param >= 0 ? fcs_param_info(w->r, (size_t)*param) : NULL;
    if (p && p->label && (!p->name || strcmp(p->label, p->name) != 0))
        snprintf(extra, sizeof extra, " %.200s", p->label);
    if (pn->src[a].kind == FCS_GATE_DIM_RATIO) {
        const char *id, *num = "?", *den = "?";
        for (size_t i = 0; i < fcs_strategy_n_transforms(w->as); i++)
            if (fcs_strategy_transform(w->as, i, &id, NULL, &num, &den) == FCS_OK &&
                strcmp(id, gd->ratio) == 0)
                break;
        snprintf(extra, sizeof extra, " %.120s/%.120s", num ? num : "?", den ? den : "?");
    }
    if (pn->src[a].kind != FCS_GATE_DIM_CHANNEL && gd->compensation &&
        strcmp(gd->compensation, FCS_COMP_UNCOMPENSATED) != 0)
        n += (size_t)snprintf(scale + n, sizeof scale - n, "comp. %.200s", gd->compensation);
    if (pn->applied[a])
        n += (size_t)snprintf(scale + n, sizeof scale - n, "%s%s in the stream", n ? ", " : "",
                              fcs_transform_kind_name(fcs_transform_get_kind(pn->applied[a])));
    if (pn->display[a] && n < sizeof scale)
        snprintf(scale + n, sizeof scale - n, "%s%s", n ? ", " : "",
                 fcs_transform_kind_name(fcs_transform_get_kind(pn->display[a])));
    snprintf(pn->title[a], sizeof pn->title[a], "%.250s%s%s%s%s", name, extra, scale[0] ? " [" : "",
             scale, scale[0] ? "]" : "");
}

/* Extend [*lo, *hi] by the position of gate coordinate c on axis a. */
static void extend(const panel *pn, int a, const fcs_transform *gt, double c, double *lo,
                   double *hi)
{
    double v = gt ? fcs_transform_inverse_value(gt, c) : c;
    double pos = pn->display[a] ? fcs_transform_value(pn->display[a], v) : v;
    if (!isfinite(pos)) return;
    if (pos < *lo) *lo = pos;
    if (pos > *hi) *hi = pos;
}

/* An axis without a default range (a ratio on a linear scale): around the
 * coordinates of its gates. */
static void range_from_gates(work *w, const panel *pn, int a, double *lo, double *hi)
{
    *lo = INFINITY, *hi = -INFINITY;
    for (size_t k = 0; k < pn->n_g; k++) {
        fcs_gate_info in;
        if (fcs_strategy_gate(w->as, pn->g[k].gate, &in) != FCS_OK) continue;
        size_t d = pn->g[k].dims[a];
        const fcs_transform *gt = strategy_transform(w->as, gate_dim(&in, d)->transform);
        if (in.type == FCS_GATE_RECTANGLE) {
            extend(pn, a, gt, in.min[d], lo, hi);
            extend(pn, a, gt, in.max[d], lo, hi);
        } else if (in.type == FCS_GATE_POLYGON) {
            for (size_t v = 0; v < in.n_vertices; v++)
                extend(pn, a, gt, in.vertices[2 * v + d], lo, hi);
        } else if (in.type == FCS_GATE_ELLIPSOID) {
            double r = sqrt(in.covariance[d * in.n_dims + d] * in.distance_square);
            extend(pn, a, gt, in.mean[d] - r, lo, hi);
            extend(pn, a, gt, in.mean[d] + r, lo, hi);
        } else if (in.type == FCS_GATE_QUADRANT) {
            for (size_t v = 0; v < in.dividers[d].n_values; v++)
                extend(pn, a, gt, in.dividers[d].values[v], lo, hi);
        }
    }
    if (!(*lo <= *hi)) *lo = 0, *hi = 1;
    double span = *hi - *lo;
    if (!(span > 0)) span = fabs(*lo) > 0 ? fabs(*lo) : 1;
    *lo -= 0.25 * span;
    *hi += 0.25 * span;
}

/* Scale, title and range of each axis, then the empty plot. */
static int setup_panel(work *w, panel *pn)
{
    fcs_plot_axis ax[2];
    for (int a = 0; a < pn->n_axes; a++) {
        for (size_t k = 0; k < pn->n_g && !pn->display[a]; k++) {
            fcs_gate_info in;
            if (fcs_strategy_gate(w->as, pn->g[k].gate, &in) == FCS_OK)
                pn->display[a] =
                    strategy_transform(w->as, gate_dim(&in, pn->g[k].dims[a])->transform);
        }
        if (pn->src[a].kind == FCS_GATE_DIM_CHANNEL) {
            char kw[48];
            snprintf(kw, sizeof kw, "LIBFCS_P%ldTRANSFORM", pn->src[a].channel + 1);
            const char *v = fcs_keyword(w->r, kw);
            fcs_error e;
            /* a chain (';') has no single inverse: ticks then show stream values */
            if (v && *v && !strchr(v, ';') && fcs_transform_parse(v, &pn->applied[a], &e))
                pn->applied[a] = NULL;
        }
        long param = -1; /* stays so if axis_title finds no gate */
        axis_title(w, pn, a, &param);
        ax[a].title = pn->title[a];
        ax[a].scale.applied = pn->applied[a];
        ax[a].scale.display = pn->display[a];
        const fcs_param *p = param >= 0 ? fcs_param_info(w->r, (size_t)param) : NULL;
        if (fcs_report_axis_range(p, &ax[a].scale, &ax[a].lo, &ax[a].hi) != FCS_OK)
            range_from_gates(w, pn, a, &ax[a].lo, &ax[a].hi);
    }
    fcs_plot_opts po;
    fcs_plot_opts_init(&po);
    po.width = w->rep->width;
    po.height = w->rep->height;
    po.bins = w->rep->bins;
    fcs_error e;
    int rc = fcs_plot_new(&pn->plot, &ax[0], pn->n_axes == 2 ? &ax[1] : NULL, &po, &e);
    return rc ? rerr(w->rep, rc, "%s: %s", w->name, e.msg) : FCS_OK;
}

/* One chunk buffer per distinct source the axes show. */
static int setup_cache(work *w)
{
    for (size_t i = 0; i < w->n_panels; i++) {
        panel *pn = &w->panels[i];
        for (int a = 0; a < pn->n_axes; a++) {
            size_t k = 0;
            while (k < w->n_cache && w->cache[k].id != pn->src[a].id) k++;
            if (k == w->n_cache) {
                cached *c = realloc(w->cache, (w->n_cache + 1) * sizeof *c);
                if (!c) return nomem(w);
                w->cache = c;
                c[k].gate = pn->gate[a], c[k].dim = pn->dim[a], c[k].id = pn->src[a].id;
                if (!(c[k].v = malloc(CHUNK * sizeof(double)))) return nomem(w);
                w->n_cache++;
            }
            pn->cache[a] = k;
        }
    }
    return FCS_OK;
}

/* ---- streaming ----------------------------------------------------------------------------- */

typedef struct bufs {
    double *cbuf, *rows;
    const double **cols;
    uint8_t *mbuf, **mem;
} bufs;

static void bufs_free(bufs *b)
{
    free(b->cbuf), free(b->rows), free(b->cols), free(b->mbuf), free(b->mem);
}

static int bufs_alloc(work *w, bufs *b)
{
    size_t np = w->np ? w->np : 1, npop = w->npop ? w->npop : 1;
    memset(b, 0, sizeof *b);
    uint64_t cells;
    if (fcs_mul_ok(CHUNK, np > npop ? np : npop, &cells) || cells > SIZE_MAX / sizeof(double))
        return nomem(w);
    b->cbuf = malloc(CHUNK * np * sizeof *b->cbuf);
    b->rows = calloc(CHUNK * npop, sizeof *b->rows);
    b->cols = malloc(np * sizeof *b->cols);
    b->mbuf = malloc(CHUNK * npop);
    b->mem = malloc(npop * sizeof *b->mem);
    if (!b->cbuf || !b->rows || !b->cols || !b->mbuf || !b->mem) return nomem(w);
    for (size_t j = 0; j < np; j++) b->cols[j] = b->cbuf + j * CHUNK;
    for (size_t p = 0; p < npop; p++) b->mem[p] = b->mbuf + p * CHUNK;
    return FCS_OK;
}

/* One chunk: gate, count, plot. */
static int chunk(work *w, bufs *b, size_t n)
{
    if (fcs_gating_run(w->g, b->cols, n, b->mem) != FCS_OK)
        return rerr(w->rep, FCS_EFORMAT, "%s: gating failed: %s", w->name, fcs_gating_errmsg(w->g));
    size_t width = w->npop ? w->npop : 1;
    for (size_t i = 0; i < n; i++)
        for (size_t p = 0; p < w->npop; p++) b->rows[i * width + p] = b->mem[p][i];
    if (fcs_stats_push(w->st, b->rows, n) != FCS_OK)
        return rerr(w->rep, FCS_ENOMEM, "%s: %s", w->name, fcs_stats_errmsg(w->st));
    for (size_t k = 0; k < w->n_cache; k++) {
        cached *c = &w->cache[k];
        if (fcs_gating_dim_values(w->g, c->gate, c->dim, FCS_GATE_DIM_UNTRANSFORMED, b->cols, n,
                                  c->v) != FCS_OK)
            return rerr(w->rep, FCS_EFORMAT, "%s: %s", w->name, fcs_gating_errmsg(w->g));
    }
    for (size_t i = 0; i < w->n_panels; i++) {
        panel *pn = &w->panels[i];
        const uint8_t *mask = pn->parent >= 0 ? b->mem[pn->parent] : NULL;
        const double *x = w->cache[pn->cache[0]].v;
        const double *y = pn->n_axes == 2 ? w->cache[pn->cache[1]].v : NULL;
        if (fcs_plot_add_events(pn->plot, x, y, mask, n) != FCS_OK)
            return rerr(w->rep, FCS_ENOMEM, "%s: %s", w->name, fcs_plot_errmsg(pn->plot));
    }
    return FCS_OK;
}

static int stream(work *w)
{
    bufs b;
    int rc = bufs_alloc(w, &b);
    int64_t total = 0;
    while (rc == FCS_OK) {
        int64_t n = fcs_read_events(w->r, b.cbuf, CHUNK, FCS_VALUES_SCALED | FCS_VALUES_COLUMNS);
        if (n < 0) rc = rerr(w->rep, (int)n, "%s: %s", w->name, fcs_errmsg(w->r));
        if (n <= 0) break;
        rc = chunk(w, &b, (size_t)n);
        total += n;
    }
    bufs_free(&b);
    if (rc == FCS_OK && total < fcs_n_events(w->r))
        rc = rerr(w->rep, FCS_ETRUNCATED, "%s: DATA ends after %lld of %lld events", w->name,
                  (long long)total, (long long)fcs_n_events(w->r));
    if (rc == FCS_OK && fcs_stats_finish(w->st) != FCS_OK)
        rc = rerr(w->rep, FCS_ENOMEM, "%s: %s", w->name, fcs_stats_errmsg(w->st));
    return rc;
}

/* ---- rendering the panels ---------------------------------------------------------------------
 */

/* The <svg> element of a standalone SVG document, for inline use: without
 * the XML declaration, and with every id (and its url(#id) / href="#id"
 * references) prefixed, since ids must be unique in the page. */
static char *embed_svg(const char *svg, const char *prefix)
{
    const char *p = svg;
    if (strncmp(p, "<?xml", 5) == 0 && (p = strstr(p, "?>")))
        p += 2;
    else
        p = svg;
    while (*p == '\n' || *p == ' ' || *p == '\r' || *p == '\t') p++;
    char ids[16][64];
    size_t n_ids = 0;
    for (const char *q = strstr(p, " id=\""); q && n_ids < 16; q = strstr(q + 1, " id=\"")) {
        const char *v = q + 5, *e = strchr(v, '"');
        if (e && e > v && (size_t)(e - v) < sizeof ids[0])
            snprintf(ids[n_ids++], sizeof ids[0], "%.*s", (int)(e - v), v);
    }
    static const char *const refs[3][2] = {{"id=\"", "\""}, {"url(#", ")"}, {"href=\"#", "\""}};
    fcs_sbuf b = FCS_SBUF_INIT;
    while (*p) {
        size_t hit = 0;
        for (int r = 0; r < 3 && !hit; r++) {
            size_t lo = strlen(refs[r][0]);
            if (strncmp(p, refs[r][0], lo) != 0) continue;
            for (size_t k = 0; k < n_ids && !hit; k++) {
                size_t li = strlen(ids[k]), le = strlen(refs[r][1]);
                if (strncmp(p + lo, ids[k], li) == 0 && strncmp(p + lo + li, refs[r][1], le) == 0) {
                    fcs_sb_put(&b, p, lo);
                    fcs_sb_printf(&b, "%s-%s", prefix, ids[k]);
                    fcs_sb_puts(&b, refs[r][1]);
                    hit = lo + li + le;
                }
            }
        }
        if (hit) {
            p += hit;
            continue;
        }
        const char *next = p + 1;
        while (*next && *next != 'i' && *next != 'u' && *next != 'h') next++;
        fcs_sb_put(&b, p, (size_t)(next - p));
        p = next;
    }
    return fcs_sb_take(&b);
}

static const char *pop_label(const work *w, long p)
{
    return p < 0 ? "All events" : fcs_strategy_population_id(w->as, (size_t)p);
}

/* The caption: plotted population, gates, and what a panel does not show. */
static char *panel_caption(work *w, const panel *pn, const char *failed)
{
    fcs_sbuf b = FCS_SBUF_INIT;
    fcs_sb_puts(&b, "<b>");
    sb_text(&b, pop_label(w, pn->parent));
    fcs_sb_puts(&b, "</b>: ");
    for (size_t k = 0; k < pn->n_g; k++) {
        fcs_gate_info in;
        if (fcs_strategy_gate(w->as, pn->g[k].gate, &in) != FCS_OK) continue;
        if (k) fcs_sb_puts(&b, ", ");
        sb_text(&b, in.id);
        size_t nd = info_n_dims(&in), shown = (size_t)pn->n_axes;
        if (nd > shown) {
            size_t first = pn->g[k].dims[0] < pn->g[k].dims[1] || pn->n_axes == 1
                               ? pn->g[k].dims[0]
                               : pn->g[k].dims[1];
            fcs_sb_printf(&b, " (%zu-D %s, dimension%s %zu", nd,
                          in.type == FCS_GATE_QUADRANT    ? "quadrant gate"
                          : in.type == FCS_GATE_ELLIPSOID ? "ellipsoid, projection on"
                                                          : "rectangle",
                          shown == 2 ? "s" : "", first + 1);
            if (shown == 2) fcs_sb_printf(&b, "-%zu", first + 2);
            fcs_sb_puts(&b, " shown)");
        }
    }
    if (failed) {
        fcs_sb_puts(&b, " <span class=\"not-drawn\">(not drawn: ");
        sb_text(&b, failed);
        fcs_sb_puts(&b, ")</span>");
    }
    return fcs_sb_take(&b);
}

static char *panel_gate_ids(work *w, const panel *pn)
{
    fcs_sbuf b = FCS_SBUF_INIT;
    fcs_sb_puts(&b, "");
    for (size_t k = 0; k < pn->n_g; k++) {
        fcs_gate_info in;
        if (fcs_strategy_gate(w->as, pn->g[k].gate, &in) != FCS_OK) continue;
        if (k) fcs_sb_puts(&b, " ");
        fcs_sb_puts(&b, in.id);
    }
    return fcs_sb_take(&b);
}

/* Draw the gates (labels from the statistics), title, render, embed. */
static int render_panel(work *w, size_t i, size_t sample_index, const int64_t *count,
                        const double *pct, rpanel *out)
{
    panel *pn = &w->panels[i];
    char failed[FCS_ERRMSG_MAX] = "";
    for (size_t k = 0; k < pn->n_g; k++) {
        int rc = fcs_report_draw_gate(pn->plot, w->as, pn->g[k].gate, pn->g[k].dims, count, pct);
        if (rc == FCS_ENOMEM) return nomem(w);
        if (rc != FCS_OK && !failed[0])
            snprintf(failed, sizeof failed, "%s", fcs_plot_errmsg(pn->plot));
    }
    char title[1024];
    int64_t nev = pn->parent >= 0 ? count[pn->parent] : fcs_stats_total(w->st);
    snprintf(title, sizeof title, "%.900s (%lld events)", pop_label(w, pn->parent), (long long)nev);
    if (fcs_plot_set_title(pn->plot, title) != FCS_OK) return nomem(w);
    char *svg;
    size_t len;
    if (fcs_plot_svg(pn->plot, &svg, &len) != FCS_OK) return nomem(w);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "s%zu-p%zu", sample_index + 1, i + 1);
    out->svg = embed_svg(svg, prefix);
    free(svg);
    char path[4096] = "/";
    if (pn->parent >= 0 &&
        fcs_strategy_population_path(w->as, (size_t)pn->parent, path, sizeof path) < 0)
        snprintf(path, sizeof path, "%s", pop_label(w, pn->parent));
    out->parent = fcs_strdup(path);
    out->gates = panel_gate_ids(w, pn);
    out->caption = panel_caption(w, pn, failed[0] ? failed : NULL);
    if (!out->svg || !out->parent || !out->gates || !out->caption) return nomem(w);
    return FCS_OK;
}

static int render_panels(work *w, sample *smp, size_t sample_index)
{
    int64_t *count = calloc(w->npop ? w->npop : 1, sizeof *count);
    double *pct = calloc(w->npop ? w->npop : 1, sizeof *pct);
    int rc = count && pct ? FCS_OK : nomem(w);
    fcs_stat_spec spec = {FCS_STAT_PCT_PARENT, 0};
    for (size_t p = 0; rc == FCS_OK && p < w->npop; p++) {
        count[p] = fcs_stats_count(w->st, (size_t)w->stat_of_pop[p]);
        pct[p] = fcs_stats_value(w->st, (size_t)w->stat_of_pop[p], 0, &spec);
    }
    if (rc == FCS_OK && !(smp->panels = calloc(w->n_panels ? w->n_panels : 1, sizeof *smp->panels)))
        rc = nomem(w);
    for (size_t i = 0; rc == FCS_OK && i < w->n_panels; i++) {
        rc = render_panel(w, i, sample_index, count, pct, &smp->panels[i]);
        smp->n_panels = i + 1;
        fcs_plot_free(w->panels[i].plot); /* the picture is kept as SVG */
        w->panels[i].plot = NULL;
    }
    free(count);
    free(pct);
    return rc;
}

/* ---- what the page says about the file ----------------------------------------------------------
 */

static int add_kv(sample *smp, const char *name, const char *value)
{
    kv *k = realloc(smp->kw, (smp->n_kw + 1) * sizeof *k);
    if (!k) return -1;
    smp->kw = k;
    k[smp->n_kw].name = fcs_strdup(name);
    k[smp->n_kw].value = fcs_strdup(value);
    smp->n_kw++;
    return k[smp->n_kw - 1].name && k[smp->n_kw - 1].value ? 0 : -1;
}

static int is_libfcs_keyword(const char *name)
{
    static const char pre[] = "LIBFCS_";
    for (size_t i = 0; i < sizeof pre - 1; i++)
        if (!name[i] || (name[i] & ~0x20) != (pre[i] & ~0x20)) return 0;
    return 1;
}

/* Key keywords, the spillover, LIBFCS_* provenance, warnings. */
static int describe_file(work *w, sample *smp)
{
    static const char *const key[] = {"$CYT", "$CYTSN", "$DATE", "$BTIM", "$ETIM",
                                      "$TOT", "$FIL",   "$SRC",  "$PROJ"};
    int bad = 0;
    for (size_t i = 0; i < sizeof key / sizeof key[0]; i++) {
        const char *v = fcs_keyword(w->r, key[i]);
        if (v) bad |= add_kv(smp, key[i], v);
    }
    const char *skw = NULL;
    const fcs_matrix *m = fcs_spillover(w->r, &skw);
    char sp[256];
    if (m)
        snprintf(sp, sizeof sp, "present: %zu x %zu (%s)", fcs_matrix_rows(m), fcs_matrix_cols(m),
                 skw ? skw : "?");
    else
        snprintf(sp, sizeof sp, "none");
    bad |= add_kv(smp, "$SPILLOVER", sp);
    for (size_t i = 0; i < fcs_n_keywords(w->r); i++)
        if (is_libfcs_keyword(fcs_keyword_name(w->r, i)))
            bad |= add_kv(smp, fcs_keyword_name(w->r, i), fcs_keyword_value(w->r, i));
    size_t nw = fcs_n_warnings(w->r);
    if (nw && !(smp->warn = calloc(nw, sizeof *smp->warn))) return nomem(w);
    for (size_t i = 0; i < nw; i++) {
        if (!(smp->warn[i] = fcs_strdup(fcs_warning(w->r, i)))) bad = 1;
        smp->n_warn = i + 1;
    }
    fcs_sbuf b = FCS_SBUF_INIT;
    sb_text(&b, fcs_version(w->r));
    fcs_sb_printf(&b, " &#183; data set %zu of %zu &#183; %lld events &#183; %zu parameters",
                  fcs_dataset_index(w->r) + 1, fcs_n_datasets(w->r), (long long)fcs_n_events(w->r),
                  fcs_n_params(w->r));
    if (!(smp->info = fcs_sb_take(&b)) || bad) return nomem(w);
    return FCS_OK;
}

int fcs_report_add_sample(fcs_report *rep, fcs_reader *r, const char *name)
{
    if (!rep) return FCS_EINVAL;
    rep->errmsg[0] = '\0';
    if (!r) return rerr(rep, FCS_EINVAL, "fcs_report_add_sample: no reader");
    if (!name || strcmp(name, "-") == 0) name = "<stdin>";
    if (fcs_grow((void **)&rep->samples, &rep->cap_samples, rep->n_samples + 1, sizeof(sample)))
        return rerr(rep, FCS_ENOMEM, "%s: out of memory", name);
    work w;
    sample smp;
    memset(&w, 0, sizeof w);
    memset(&smp, 0, sizeof smp);
    w.rep = rep, w.r = r, w.name = name;
    int rc = (smp.name = fcs_strdup(name)) ? FCS_OK : nomem(&w);
    if (rc == FCS_OK) rc = bind_sample(&w);
    if (rc == FCS_OK) rc = make_stats(&w, &smp);
    if (rc == FCS_OK) rc = plan_panels(&w);
    for (size_t i = 0; rc == FCS_OK && i < w.n_panels; i++) rc = setup_panel(&w, &w.panels[i]);
    if (rc == FCS_OK) rc = setup_cache(&w);
    if (rc == FCS_OK) rc = stream(&w);
    if (rc == FCS_OK) rc = render_panels(&w, &smp, rep->n_samples);
    if (rc == FCS_OK) rc = describe_file(&w, &smp);
    if (rc == FCS_OK) {
        smp.st = w.st; /* the statistics stay with the sample */
        w.st = NULL;
        rep->samples[rep->n_samples++] = smp;
    } else {
        sample_free(&smp);
    }
    work_free(&w);
    return rc;
}

/* ======================================================================
 * The page
 * ====================================================================== */

static const char CSS[] =
    "body{font-family:system-ui,-apple-system,'Segoe UI','DejaVu Sans',Helvetica,Arial,"
    "sans-serif;margin:20px 28px;color:#1d2125;background:#f6f7f9;font-size:14px}"
    "h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:18px 0 6px}"
    "section.sample h2{margin-top:0}"
    "h3{font-size:15px;margin:14px 0 6px}"
    ".meta{color:#4a5560;margin:2px 0}"
    "section.sample{background:#fff;border:1px solid #d9dde2;border-radius:6px;"
    "padding:14px 16px;margin:18px 0}"
    ".cols{display:flex;flex-wrap:wrap;gap:18px 36px;align-items:flex-start}"
    "table{border-collapse:collapse;font-size:13px}"
    "th,td{padding:2px 8px;border-bottom:1px solid #e4e7eb;text-align:left;vertical-align:top}"
    "th{background:#eef1f4;font-weight:600}"
    "td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
    "table.keywords td.v{max-width:520px;overflow-wrap:anywhere;font-family:"
    "'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:12px}"
    "table.cohort td small{color:#5b6670}"
    "ul.warnings{margin:4px 0;padding-left:20px}li.warning{color:#8a4500}"
    "p.no-warnings{color:#2e6b34;margin:4px 0}"
    ".panels{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:10px}"
    "figure.panel{margin:0;background:#fff;border:1px solid #e1e4e8;border-radius:4px;"
    "padding:4px}"
    "figure.panel svg{display:block;width:100%;height:auto}"
    "figcaption{font-size:12px;color:#3d4751;padding:2px 4px}"
    ".not-drawn{color:#a33}"
    "footer{color:#6b7680;font-size:12px;margin-top:20px}"
    "a{color:#1f5fa8}";

static void put_num(fcs_sbuf *b, double v, const char *fmt)
{
    if (isnan(v))
        fcs_sb_puts(b, "NA");
    else
        fcs_sb_printf(b, fmt, v);
}

static void td_num(fcs_sbuf *b, const char *cls, double v, const char *fmt)
{
    fcs_sb_printf(b, "<td class=\"num %s\">", cls);
    put_num(b, v, fmt);
    fcs_sb_puts(b, "</td>");
}

static const char *pop_name(const fcs_stats *st, size_t i)
{
    return i == 0 ? "All events" : fcs_stats_population_name(st, i);
}

static void stats_table(fcs_sbuf *b, const sample *smp)
{
    const fcs_stats *st = smp->st;
    fcs_stat_spec pp = {FCS_STAT_PCT_PARENT, 0}, pt = {FCS_STAT_PCT_TOTAL, 0},
                  cu = {FCS_STAT_CELLS_PER_UL, 0};
    fcs_sb_puts(b, "<table class=\"stats\"><thead><tr><th>Population</th><th class=\"num\">Count"
                   "</th><th class=\"num\">% parent</th><th class=\"num\">% total</th>");
    if (smp->beads) fcs_sb_puts(b, "<th class=\"num\">cells/&#181;L</th>");
    fcs_sb_puts(b, "</tr></thead><tbody>\n");
    for (size_t i = 0; i < fcs_stats_n_populations(st); i++) {
        fcs_sb_puts(b, "<tr data-population=\"");
        sb_text(b, fcs_stats_population_path(st, i));
        fcs_sb_printf(b, "\"><td class=\"pop\" style=\"padding-left:%dpx\" title=\"",
                      8 + 14 * fcs_stats_population_depth(st, i));
        sb_text(b, fcs_stats_population_path(st, i));
        fcs_sb_puts(b, "\">");
        sb_text(b, pop_name(st, i));
        fcs_sb_puts(b, "</td>");
        td_num(b, "count", (double)fcs_stats_count(st, i), "%.0f");
        td_num(b, "pct-parent", fcs_stats_value(st, i, 0, &pp), "%.2f");
        td_num(b, "pct-total", fcs_stats_value(st, i, 0, &pt), "%.2f");
        if (smp->beads) td_num(b, "cells-per-ul", fcs_stats_value(st, i, 0, &cu), "%.1f");
        fcs_sb_puts(b, "</tr>\n");
    }
    fcs_sb_puts(b, "</tbody></table>\n");
}

static void bead_line(fcs_sbuf *b, const fcs_report *rep, const sample *smp)
{
    if (!smp->beads) return;
    int k = fcs_stats_bead_population(smp->st);
    int64_t n = k >= 0 ? fcs_stats_count(smp->st, (size_t)k) : 0;
    fcs_sb_puts(b, "<p class=\"beads\">Counting beads ");
    sb_text(b, rep->bead_pop);
    fcs_sb_printf(b, ": %lld events", (long long)n);
    if (smp->lot.lot[0]) {
        fcs_sb_puts(b, ", lot ");
        sb_text(b, smp->lot.lot);
    }
    fcs_sb_printf(b, ", %.10g beads per test in %.10g &#181;L", smp->lot.beads_per_test,
                  smp->lot.volume_ul);
    double e = fcs_absolute_rel_error(n);
    if (!isnan(e))
        fcs_sb_printf(b, " (Poisson error of cells/&#181;L from the beads: %.1f%%)", 100 * e);
    fcs_sb_puts(b, "</p>\n");
}

static void keywords_table(fcs_sbuf *b, const sample *smp)
{
    fcs_sb_puts(b,
                "<table class=\"keywords\"><thead><tr><th>Keyword</th><th>Value</th></tr></thead>"
                "<tbody>\n");
    for (size_t i = 0; i < smp->n_kw; i++) {
        fcs_sb_puts(b, "<tr><td>");
        sb_text(b, smp->kw[i].name);
        fcs_sb_puts(b, "</td><td class=\"v\">");
        sb_text(b, smp->kw[i].value);
        fcs_sb_puts(b, "</td></tr>\n");
    }
    fcs_sb_puts(b, "</tbody></table>\n");
}

static void warnings_list(fcs_sbuf *b, const sample *smp)
{
    if (!smp->n_warn) {
        fcs_sb_puts(b, "<p class=\"no-warnings\">None: the file needed no repair.</p>\n");
        return;
    }
    fcs_sb_puts(b, "<ul class=\"warnings\">\n");
    for (size_t i = 0; i < smp->n_warn; i++) {
        fcs_sb_puts(b, "<li class=\"warning\">");
        sb_text(b, smp->warn[i]);
        fcs_sb_puts(b, "</li>\n");
    }
    fcs_sb_puts(b, "</ul>\n");
}

static void sample_section(fcs_sbuf *b, const fcs_report *rep, size_t k)
{
    const sample *smp = &rep->samples[k];
    fcs_sb_printf(b, "<section class=\"sample\" id=\"sample-%zu\" data-file=\"", k + 1);
    sb_text(b, smp->name);
    fcs_sb_puts(b, "\">\n<h2>");
    sb_text(b, smp->name);
    fcs_sb_printf(b, "</h2>\n<p class=\"meta\">%s</p>\n", smp->info);
    bead_line(b, rep, smp);
    fcs_sb_puts(b, "<div class=\"cols\"><div><h3>Populations</h3>\n");
    stats_table(b, smp);
    fcs_sb_puts(b, "</div><div><h3>Keywords</h3>\n");
    keywords_table(b, smp);
    fcs_sb_puts(b, "<h3>Reader warnings</h3>\n");
    warnings_list(b, smp);
    fcs_sb_puts(b, "</div></div>\n<h3>Gating hierarchy</h3>\n<div class=\"panels\">\n");
    for (size_t i = 0; i < smp->n_panels; i++) {
        const rpanel *p = &smp->panels[i];
        fcs_sb_puts(b, "<figure class=\"panel\" data-parent=\"");
        sb_text(b, p->parent);
        fcs_sb_puts(b, "\" data-gates=\"");
        sb_text(b, p->gates);
        fcs_sb_puts(b, "\">\n");
        fcs_sb_puts(b, p->svg);
        fcs_sb_printf(b, "<figcaption>%s</figcaption></figure>\n", p->caption);
    }
    fcs_sb_puts(b, "</div>\n</section>\n");
}

/* Samples x populations: % of parent, count, cells/uL. */
static void cohort_table(fcs_sbuf *b, const fcs_report *rep)
{
    const fcs_stats *first = rep->samples[0].st;
    fcs_stat_spec pp = {FCS_STAT_PCT_PARENT, 0}, cu = {FCS_STAT_CELLS_PER_UL, 0};
    fcs_sb_puts(b, "<h2>Cohort</h2>\n<table class=\"cohort\"><thead><tr><th>Population</th>");
    for (size_t k = 0; k < rep->n_samples; k++) {
        /* the file name without its folder keeps the columns narrow */
        const char *name = rep->samples[k].name, *slash = strrchr(name, '/');
        fcs_sb_printf(b, "<th class=\"num\"><a href=\"#sample-%zu\" title=\"", k + 1);
        sb_text(b, name);
        fcs_sb_puts(b, "\">");
        sb_text(b, slash && slash[1] ? slash + 1 : name);
        fcs_sb_puts(b, "</a></th>");
    }
    fcs_sb_puts(b, "</tr></thead><tbody>\n");
    for (size_t i = 0; i < fcs_stats_n_populations(first); i++) {
        const char *path = fcs_stats_population_path(first, i);
        fcs_sb_puts(b, "<tr data-population=\"");
        sb_text(b, path);
        fcs_sb_printf(b, "\"><td style=\"padding-left:%dpx\" title=\"",
                      8 + 14 * fcs_stats_population_depth(first, i));
        sb_text(b, path);
        fcs_sb_puts(b, "\">");
        sb_text(b, pop_name(first, i));
        fcs_sb_puts(b, "</td>");
        for (size_t k = 0; k < rep->n_samples; k++) {
            const sample *smp = &rep->samples[k];
            int j = fcs_stats_find_population(smp->st, path);
            fcs_sb_puts(b, "<td class=\"num\">");
            if (j < 0) {
                fcs_sb_puts(b, "&#8212;</td>");
                continue;
            }
            if (i == 0)
                fcs_sb_puts(b, "<b>100%</b>");
            else {
                fcs_sb_puts(b, "<b>");
                put_num(b, fcs_stats_value(smp->st, (size_t)j, 0, &pp), "%.2f%%");
                fcs_sb_puts(b, "</b>");
            }
            fcs_sb_printf(b, "<br/><small>%lld", (long long)fcs_stats_count(smp->st, (size_t)j));
            if (smp->beads) {
                fcs_sb_puts(b, " &#183; ");
                put_num(b, fcs_stats_value(smp->st, (size_t)j, 0, &cu), "%.1f");
                fcs_sb_puts(b, "/&#181;L");
            }
            fcs_sb_puts(b, "</small></td>");
        }
        fcs_sb_puts(b, "</tr>\n");
    }
    fcs_sb_puts(b, "</tbody></table>\n");
}

static void page_head(fcs_sbuf *b, const fcs_report *rep, const char *title)
{
    fcs_sb_puts(b, "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n"
                   "<head>\n<meta charset=\"utf-8\"/>\n"
                   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n"
                   "<meta name=\"generator\" content=\"libfcs ");
    sb_text(b, fcs_lib_version());
    fcs_sb_puts(b, "\"/>\n<title>");
    sb_text(b, title);
    fcs_sb_printf(b, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>", CSS);
    sb_text(b, title);
    fcs_sb_puts(b, "</h1>\n<p class=\"meta\">");
    if (rep->strategy_name) {
        fcs_sb_puts(b, "Gating strategy <b>");
        sb_text(b, rep->strategy_name);
        fcs_sb_puts(b, "</b> &#183; ");
    }
    fcs_sb_printf(b, "%zu population%s &#183; %zu sample%s", fcs_strategy_n_populations(rep->s),
                  fcs_strategy_n_populations(rep->s) == 1 ? "" : "s", rep->n_samples,
                  rep->n_samples == 1 ? "" : "s");
    if (rep->bead_pop) {
        fcs_sb_puts(b, " &#183; counting beads ");
        sb_text(b, rep->bead_pop);
    }
    fcs_sb_puts(b, "</p>\n");
}

int fcs_report_html(fcs_report *rep, char **out, size_t *len)
{
    if (!rep || !out || !len) return FCS_EINVAL;
    *out = NULL;
    *len = 0;
    if (!rep->n_samples) return rerr(rep, FCS_EINVAL, "report: no sample added");
    char title[1024];
    if (rep->title)
        snprintf(title, sizeof title, "%s", rep->title);
    else if (rep->n_samples == 1)
        snprintf(title, sizeof title, "QC report: %.1000s", rep->samples[0].name);
    else
        snprintf(title, sizeof title, "Cohort of %zu samples", rep->n_samples);
    fcs_sbuf b = FCS_SBUF_INIT;
    page_head(&b, rep, title);
    if (rep->n_samples > 1) cohort_table(&b, rep);
    for (size_t k = 0; k < rep->n_samples; k++) sample_section(&b, rep, k);
    fcs_sb_puts(&b, "<footer>Made by libfcs ");
    sb_text(&b, fcs_lib_version());
    fcs_sb_puts(&b,
                ". Counts and percentages from the statistics library (as fcs-stats), plots as "
                "fcs-plot draws them, values from the gating engine. The page is self-contained: "
                "it loads nothing from anywhere.</footer>\n</body>\n</html>\n");
    if (b.nomem) {
        free(b.s);
        return rerr(rep, FCS_ENOMEM, "report: out of memory while writing the page");
    }
    *len = b.len;
    *out = fcs_sb_take(&b);
    return FCS_OK;
}
