/*
 * fcs-plot — a 2-D density plot (or, without -y, a 1-D histogram) of two
 * channels of an FCS file or stream on their transformed scales, with the
 * gates of a Gating-ML strategy drawn on top, each labelled "name count
 * (% of parent)". SVG (the density as an embedded PNG) or PNG (fcs/plot.h).
 *
 * Events. The plotted population (-p; all events by default) is found by
 * running the strategy over every event (fcs_gating_run), chunk by chunk:
 * one pass, constant memory, so pipes and millions of events are fine. The
 * counts and % of parent printed on the picture are those of the
 * statistics library (fcs_stats, fed the same membership), so they are
 * the numbers fcs-stats reports for the same gating.
 *
 * Strategy. A libfcs gate file or Gating-ML (fcs_gatefile_read), adapted
 * to the stream (fcs_strategy_for_stream: what fcs-comp / fcs-xform already
 * applied is not applied again) and bound with the data set's spillover:
 * exactly as fcs-gate does it.
 *
 * Dimensions. A gate is drawn when its parent is the plotted population and
 * it is defined on exactly the plotted dimensions: those for which the
 * bound gating engine computes the same values (fcs_gating_dim_source).
 * Plotted values are the engine's own (fcs_gating_dim_values, before the
 * dimension's transform, which is the display scale): compensated ("FCS":
 * the data set's spillover; a strategy matrix: unmixed, or applied as is
 * when inverted) and ratio taken by the code that gates, not by a copy of
 * it. Gates are drawn by fcs_report_draw_gate (fcs/report.h), as fcs-report
 * draws them.
 *
 * Scales, per axis: the transform of the first drawn gate that has one on
 * that dimension; else -t; else none on top of the stream, whose
 * LIBFCS_PnTRANSFORM (fcs-xform) then labels the ticks; else linear.
 * Ranges: --xlim/--ylim in data units, else [0, 1] for the Gating-ML scales
 * (flin, flog, fasinh, logicle, hyperlog, biex), else from $PnR.
 */
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"
#include "fcs/gatefile.h"
#include "fcs/report.h"

static const fcs_cli_tool TOOL = {
    "fcs-plot",
    "[-x CH] [-y CH] [-g STRATEGY] [-p POPULATION] [--bins N] [-t TRANSFORM:CH]... "
    "[-f svg|png] [-o FILE] FILE|-",
    "Density plot (histogram without -y) of channels with the gates of a strategy.\n"
    "  -x, --x CH            x channel ($PnN or $PnS; a fluorochrome or ratio of the\n"
    "                        strategy) [the dimensions of the first drawable gate]\n"
    "  -y, --y CH            y channel; without it a 1-D histogram of x\n"
    "  -g, --gates FILE      gating strategy (libfcs gate file or Gating-ML 2.0):\n"
    "                        the populations, and the gates to draw\n"
    "  -p, --population P    plot the events of population P (id or /path) and draw\n"
    "                        its child gates [all events]; without -g, a POP:<path>\n"
    "                        population of a gated stream\n"
    "      --bins N          bins per axis [256]\n"
    "  -t, --transform T:CH  display scale T for channels matching CH (glob, $PnN or\n"
    "                        $PnS), e.g. 'logicle(T=262144,W=0.5,M=4.5,A=0):CD3' (a\n"
    "                        gate's own transform takes precedence); repeatable\n"
    "      --xlim LO:HI      x axis range in data units [from the scale and $PnR]\n"
    "      --ylim LO:HI      y axis range in data units\n"
    "  -f, --format F        svg or png [png when -o ends in .png, else svg]\n"
    "  -o, --output FILE     write FILE (via a temporary file, renamed when complete)\n"
    "      --size WxH        picture size in pixels [600x540]\n"
    "      --linear-density  colour by count instead of log count\n"
    "      --drop-offscale   leave off-scale events out (default: on the edges)\n"
    "      --title TEXT      title [FILE: population (N events)]\n"
    "  -d, --dataset N       data set N (0-based) [0]\n"
    "      --strict          refuse inputs that need a repair (exit 1)\n"
    "  -h, --help            this help\n"
    "      --version         versions of the tool and its libraries\n"};

enum {
    OPT_BINS = FCS_CLI_OPT_FIRST_TOOL,
    OPT_XLIM,
    OPT_YLIM,
    OPT_SIZE,
    OPT_LINEAR,
    OPT_DROP,
    OPT_TITLE
};

#define CHUNK 8192
#define MAX_XF 64
#define MAX_DRAWN 256
#define PATH_BUF 4096

/* One -t option. */
struct xf_spec {
    const char *arg;
    fcs_transform *t;
    char *buf; /* pattern list, split in place */
    const char *pat[64];
    int n_pat;
};

struct plot_opts {
    const char *x, *y, *gates, *population, *output, *input, *title;
    int format; /* 0 svg, 1 png */
    int64_t bins, dataset;
    struct xf_spec xf[MAX_XF];
    int n_xf;
    double lim[2][2];
    int lim_given[2];
    int64_t width, height;
    int linear_density, drop_offscale, strict;
};

static void free_opts(struct plot_opts *o)
{
    for (int i = 0; i < o->n_xf; i++) {
        fcs_transform_free(o->xf[i].t);
        free(o->xf[i].buf);
    }
}

/* ---- options ---------------------------------------------------------------------- */

static int add_xf(struct plot_opts *o, const char *arg)
{
    const char *colon = strchr(arg, ':');
    if (!colon || colon == arg || !colon[1])
        return fcs_cli_usage_error("-t '%s': expected TRANSFORM:CHANNELS, e.g. 'asinh(150):CD3'",
                                   arg);
    if (o->n_xf >= MAX_XF) return fcs_cli_usage_error("-t: at most %d transforms", MAX_XF);
    struct xf_spec *x = &o->xf[o->n_xf];
    memset(x, 0, sizeof *x);
    x->arg = arg;
    char *text = strndup(arg, (size_t)(colon - arg));
    if (!text || !(x->buf = strdup(colon + 1))) {
        free(text);
        return fcs_cli_error(NULL, "out of memory");
    }
    o->n_xf++;
    fcs_error err;
    int rc = fcs_transform_parse(text, &x->t, &err);
    free(text);
    if (rc != FCS_OK) return fcs_cli_usage_error("-t: %s", err.msg);
    if (fcs_transform_arity(x->t) != 1)
        return fcs_cli_usage_error("-t '%s': a two-channel transform is no display scale", arg);
    for (char *save = NULL, *p = strtok_r(x->buf, ",", &save); p && x->n_pat < 64;
         p = strtok_r(NULL, ",", &save))
        x->pat[x->n_pat++] = p;
    if (x->n_pat == 0) return fcs_cli_usage_error("-t '%s': no channel given", arg);
    return 0;
}

/* "LO:HI" (each a finite number, LO < HI). */
static int parse_lim(const char *arg, const char *opt, double lim[2])
{
    char *end;
    errno = 0;
    lim[0] = strtod(arg, &end);
    if (end == arg || *end != ':' || errno) goto bad;
    const char *b = end + 1;
    lim[1] = strtod(b, &end);
    if (end == b || *end || errno || !isfinite(lim[0]) || !isfinite(lim[1]) || !(lim[0] < lim[1]))
        goto bad;
    return 0;
bad:
    return fcs_cli_usage_error("%s '%s': expected LO:HI with LO < HI, e.g. -1000:262144", opt, arg);
}

static int ends_with_png(const char *path)
{
    size_t n = path ? strlen(path) : 0;
    return n >= 4 && strcasecmp(path + n - 4, ".png") == 0;
}

static int parse(struct plot_opts *o, int argc, char **argv)
{
    static const struct option longopts[] = {FCS_CLI_LONGOPTS_COMMON,
                                             {"x", required_argument, NULL, 'x'},
                                             {"y", required_argument, NULL, 'y'},
                                             {"gates", required_argument, NULL, 'g'},
                                             {"population", required_argument, NULL, 'p'},
                                             {"bins", required_argument, NULL, OPT_BINS},
                                             {"transform", required_argument, NULL, 't'},
                                             {"xlim", required_argument, NULL, OPT_XLIM},
                                             {"ylim", required_argument, NULL, OPT_YLIM},
                                             {"format", required_argument, NULL, 'f'},
                                             {"output", required_argument, NULL, 'o'},
                                             {"size", required_argument, NULL, OPT_SIZE},
                                             {"linear-density", no_argument, NULL, OPT_LINEAR},
                                             {"drop-offscale", no_argument, NULL, OPT_DROP},
                                             {"title", required_argument, NULL, OPT_TITLE},
                                             {"dataset", required_argument, NULL, 'd'},
                                             {"strict", no_argument, NULL, FCS_CLI_OPT_STRICT},
                                             {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof *o);
    o->bins = 256;
    o->width = 600;
    o->height = 540;
    o->format = -1;
    int c;
    while ((c = getopt_long(argc, argv, "hx:y:g:p:t:f:o:d:", longopts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case 'x': o->x = optarg; break;
        case 'y': o->y = optarg; break;
        case 'g': o->gates = optarg; break;
        case 'p': o->population = optarg; break;
        case OPT_BINS: rc = fcs_cli_parse_int(optarg, "--bins", 2, 4096, &o->bins); break;
        case 't': rc = add_xf(o, optarg); break;
        case OPT_XLIM: rc = parse_lim(optarg, "--xlim", o->lim[0]), o->lim_given[0] = 1; break;
        case OPT_YLIM: rc = parse_lim(optarg, "--ylim", o->lim[1]), o->lim_given[1] = 1; break;
        case 'f':
            if (strcmp(optarg, "svg") == 0)
                o->format = 0;
            else if (strcmp(optarg, "png") == 0)
                o->format = 1;
            else
                rc = fcs_cli_usage_error("-f '%s': svg or png", optarg);
            break;
        case 'o': o->output = optarg; break;
        case OPT_SIZE:
            rc = fcs_cli_parse_size(optarg, "--size", 200, 8000, &o->width, &o->height);
            break;
        case OPT_LINEAR: o->linear_density = 1; break;
        case OPT_DROP: o->drop_offscale = 1; break;
        case OPT_TITLE: o->title = optarg; break;
        case 'd': rc = fcs_cli_parse_int(optarg, "-d", 0, INT32_MAX, &o->dataset); break;
        case FCS_CLI_OPT_STRICT: o->strict = 1; break;
        default: return fcs_cli_common_option(c);
        }
        if (rc) return rc;
    }
    int rc = fcs_cli_one_input(argc - optind, argv + optind, &o->input);
    if (rc) return rc;
    if (o->y && !o->x) return fcs_cli_usage_error("-y needs -x");
    if (!o->x && !o->gates)
        return fcs_cli_usage_error("-x is needed (or -g, to plot a gate's dimensions)");
    if (o->lim_given[1] && !o->y && o->x) return fcs_cli_usage_error("--ylim needs -y");
    if (o->format < 0) o->format = ends_with_png(o->output);
    if (o->format == 1 && fcs_cli_is_stdout(o->output) && isatty(STDOUT_FILENO))
        return fcs_cli_usage_error("refusing to write PNG to a terminal; use -o FILE or redirect");
    return FCS_CLI_CONTINUE;
}

/* ---- dimension values (the gating engine's own) ---------------------------------------- */

/* What an axis shows: a gate dimension as the bound gating engine computes
 * it (fcs_gating_dim_values: compensated, ratio; its own transform is the
 * plot's display scale), or a channel as stored (-x/-y naming no gate
 * dimension). */
struct dimsrc {
    int from_gate; /* values by fcs_gating_dim_values(gate, dim) */
    size_t gate, dim;
    fcs_gate_dim_source gs; /* from_gate: the engine's description */
    long ch;                /* a channel as stored: its column, else -1 */
    char name[256];         /* channel, fluorochrome or ratio id */
    long param;             /* parameter whose $PnR and $PnS describe it, -1 if none */
    const char *comp;       /* compensation reference shown (NULL: none) */
    char ratio[256];        /* "numerator/denominator" of a ratio */
};

struct ctx {
    const struct plot_opts *o;
    fcs_reader *r;
    size_t np;
    const char **names;      /* $PnN per parameter (NULL entries allowed) */
    const fcs_matrix *spill; /* for "FCS"; NULL when none */
    fcs_strategy *s;
    fcs_gating *g;
};

static long find_channel(const struct ctx *c, const char *name)
{
    for (size_t j = 0; j < c->np; j++)
        if (c->names[j] && strcmp(c->names[j], name) == 0) return (long)j;
    for (size_t j = 0; j < c->np; j++)
        if (c->names[j] && strcasecmp(c->names[j], name) == 0) return (long)j;
    return -1;
}

/* Parameter j as stored (named `name` when it has no $PnN). */
static void channel_src(struct ctx *c, size_t j, const char *name, struct dimsrc *d)
{
    memset(d, 0, sizeof *d);
    d->ch = (long)j;
    d->param = (long)j;
    snprintf(d->name, sizeof d->name, "%s", c->names[j] ? c->names[j] : name);
}

/* Dimension k of gate gi as the engine bound it; -1 when it is not bound
 * (a divider no quadrant uses). */
static int gate_src(struct ctx *c, size_t gi, const fcs_gate_dim *gd, size_t k, struct dimsrc *d)
{
    fcs_gate_dim_source gs;
    if (fcs_gating_dim_source(c->g, gi, k, &gs) != FCS_OK) return -1;
    if (gs.kind == FCS_GATE_DIM_CHANNEL) {
        channel_src(c, (size_t)gs.channel, gd->name ? gd->name : "", d);
    } else {
        memset(d, 0, sizeof *d);
        d->ch = -1;
        d->comp = gd->compensation;
        snprintf(d->name, sizeof d->name, "%s", gd->ratio ? gd->ratio : gd->name);
        d->param = gd->ratio ? -1 : find_channel(c, gd->name);
    }
    if (gs.kind == FCS_GATE_DIM_RATIO) {
        const char *num = NULL, *den = NULL;
        for (size_t i = 0; i < fcs_strategy_n_transforms(c->s); i++) {
            const char *id;
            if (fcs_strategy_transform(c->s, i, &id, NULL, &num, &den) == FCS_OK &&
                strcmp(id, gd->ratio) == 0)
                break;
            num = den = NULL;
        }
        snprintf(d->ratio, sizeof d->ratio, "%.120s/%.120s", num ? num : "?", den ? den : "?");
    }
    d->from_gate = 1;
    d->gate = gi;
    d->dim = k;
    d->gs = gs;
    return 0;
}

/* Do a and b show the same values? (The engine shares one source between
 * dimensions with the same values; a channel as stored is its column.) */
static int same_values(const struct dimsrc *a, const struct dimsrc *b)
{
    if (a->ch >= 0 || b->ch >= 0) return a->ch == b->ch;
    return a->from_gate && b->from_gate && a->gs.id == b->gs.id;
}

/* Values of axis source d for the n events of the chunk into v: ev
 * row-major, cols the same chunk column by column (with -g). */
static int eval_src(struct ctx *c, const struct dimsrc *d, const double *ev,
                    const double *const *cols, size_t n, double *v)
{
    if (d->ch >= 0) {
        for (size_t i = 0; i < n; i++) v[i] = ev[i * c->np + (size_t)d->ch];
        return 0;
    }
    if (fcs_gating_dim_values(c->g, d->gate, d->dim, FCS_GATE_DIM_UNTRANSFORMED, cols, n, v) !=
        FCS_OK)
        return fcs_cli_error(c->o->input, "%s", fcs_gating_errmsg(c->g));
    return 0;
}

/* ---- which gates, which axes ------------------------------------------------------------ */

/* A gate to draw, with its dimensions in plot order. */
struct drawn {
    size_t gate;
    fcs_gate_info in;
    int swap;                   /* gate dimension 0 is the plot's y */
    const fcs_transform *gt[2]; /* gate transform per plot axis */
    const char *gt_id[2];
};

struct axis_def {
    struct dimsrc src;
    int has_src;
    const char *gate_xf_id;       /* transform chosen from a gate */
    const fcs_transform *display; /* NULL, a gate's or a -t transform */
    fcs_transform *applied;       /* LIBFCS_PnTRANSFORM of the stream (owned) */
    int chained;                  /* LIBFCS_PnTRANSFORM holds several transforms */
    char title[1024];
    double lo, hi; /* positions */
};

/* The dimensions of a drawable gate (1 or 2; 0: not drawable). */
static size_t gate_dims(const fcs_gate_info *in, const fcs_gate_dim *dims[2])
{
    switch (in->type) {
    case FCS_GATE_RECTANGLE:
    case FCS_GATE_POLYGON:
    case FCS_GATE_ELLIPSOID:
        if (in->n_dims < 1 || in->n_dims > 2 || (in->type == FCS_GATE_ELLIPSOID && in->n_dims != 2))
            return 0;
        for (size_t k = 0; k < in->n_dims; k++) dims[k] = &in->dims[k];
        return in->n_dims;
    case FCS_GATE_QUADRANT:
        if (in->n_dividers < 1 || in->n_dividers > 2) return 0;
        for (size_t k = 0; k < in->n_dividers; k++) dims[k] = &in->dividers[k].dim;
        if (in->n_dividers == 2 && in->dividers[0].dim.name && in->dividers[1].dim.name &&
            strcmp(in->dividers[0].dim.name, in->dividers[1].dim.name) == 0 &&
            !in->dividers[0].dim.ratio && !in->dividers[1].dim.ratio)
            return 0; /* two dividers on one dimension: a 1-D gate in disguise */
        return in->n_dividers;
    default: return 0;
    }
}

static int parent_is(const fcs_gate_info *in, const char *pop_id)
{
    if (!pop_id) return in->parent == NULL;
    return in->parent && strcmp(in->parent, pop_id) == 0;
}

/* Does gate dimension gd answer to the name given with -x/-y? */
static int dim_named(const struct ctx *c, const fcs_gate_dim *gd, const char *name)
{
    if (gd->ratio) return strcmp(gd->ratio, name) == 0;
    if (strcmp(gd->name, name) == 0 || strcasecmp(gd->name, name) == 0) return 1;
    int j = fcs_param_index(c->r, name, 1);
    return j >= 0 && c->names[j] && strcasecmp(c->names[j], gd->name) == 0;
}

/* The axis range in positions: --xlim, else [0, 1] on a Gating-ML scale,
 * else from the top of the channel's scale. */
static int axis_range(const struct ctx *c, struct axis_def *a, int ai)
{
    fcs_plot_scale s = {a->applied, a->display};
    const char *opt = ai ? "--ylim" : "--xlim";
    if (c->o->lim_given[ai]) {
        a->lo = fcs_plot_scale_forward(&s, c->o->lim[ai][0]);
        a->hi = fcs_plot_scale_forward(&s, c->o->lim[ai][1]);
        if (a->lo > a->hi) {
            double t = a->lo;
            a->lo = a->hi;
            a->hi = t;
        }
        if (!isfinite(a->lo) || !isfinite(a->hi) || !(a->lo < a->hi))
            return fcs_cli_usage_error("%s %g:%g has no place on the %s scale", opt,
                                       c->o->lim[ai][0], c->o->lim[ai][1], a->title);
        return 0;
    }
    const fcs_param *p = a->src.param >= 0 ? fcs_param_info(c->r, (size_t)a->src.param) : NULL;
    if (fcs_report_axis_range(p, &s, &a->lo, &a->hi) == FCS_OK) return 0;
    if (!p)
        return fcs_cli_error(c->o->input, "%s has no $PnR to scale by: give %s LO:HI", a->src.name,
                             opt);
    return fcs_cli_error(c->o->input, "no default range for %s: give %s LO:HI", a->src.name, opt);
}

static int xf_matches(const struct ctx *c, const struct xf_spec *x, const struct dimsrc *d)
{
    const fcs_param *p = d->param >= 0 ? fcs_param_info(c->r, (size_t)d->param) : NULL;
    for (int k = 0; k < x->n_pat; k++) {
        if (fnmatch(x->pat[k], d->name, FNM_CASEFOLD) == 0) return 1;
        if (p && p->name && fnmatch(x->pat[k], p->name, FNM_CASEFOLD) == 0) return 1;
        if (p && p->label && fnmatch(x->pat[k], p->label, FNM_CASEFOLD) == 0) return 1;
    }
    return 0;
}

/* LIBFCS_PnTRANSFORM of the axis's parameter: the stream carries
 * transformed values, which are plotted as they are. */
static int stream_transform(const struct ctx *c, struct axis_def *a)
{
    if (a->src.ch < 0) return 0;
    char kw[48];
    snprintf(kw, sizeof kw, "LIBFCS_P%ldTRANSFORM", a->src.ch + 1);
    const char *v = fcs_keyword(c->r, kw);
    if (!v || !*v) return 0;
    if (strchr(v, ';')) {
        a->chained = 1; /* transformed twice (fcs-xform --force): ticks show stream values */
        return 0;
    }
    fcs_error err;
    if (fcs_transform_parse(v, &a->applied, &err) != FCS_OK) {
        fcs_cli_warn(c->o->input, "%s: %s (ticks show the stream values)", kw, err.msg);
        a->applied = NULL;
    }
    return 0;
}

static void axis_title(const struct ctx *c, struct axis_def *a)
{
    const fcs_param *p = a->src.param >= 0 ? fcs_param_info(c->r, (size_t)a->src.param) : NULL;
    char scale[256] = "";
    size_t n = 0;
    if (a->src.comp && strcmp(a->src.comp, FCS_COMP_UNCOMPENSATED) != 0)
        n += (size_t)snprintf(scale + n, sizeof scale - n, "compensated: %s", a->src.comp);
    if (a->applied)
        n += (size_t)snprintf(scale + n, sizeof scale - n, "%s%s in the stream", n ? ", " : "",
                              fcs_transform_kind_name(fcs_transform_get_kind(a->applied)));
    if (a->chained)
        n += (size_t)snprintf(scale + n, sizeof scale - n, "%stransformed values", n ? ", " : "");
    if (a->display && n < sizeof scale)
        snprintf(scale + n, sizeof scale - n, "%s%s", n ? ", " : "",
                 fcs_transform_kind_name(fcs_transform_get_kind(a->display)));
    const char *marker =
        p && p->label && (!p->name || strcmp(p->label, p->name) != 0) ? p->label : NULL;
    const char *ratio = a->src.ratio;
    snprintf(a->title, sizeof a->title, "%s%s%s%s%s%s", a->src.name, marker || ratio[0] ? " " : "",
             marker ? marker : ratio, scale[0] ? " [" : "", scale, scale[0] ? "]" : "");
}

/* ---- the run ------------------------------------------------------------------------------ */

struct run {
    struct ctx c;
    long pop;           /* plotted strategy population, -1: all events */
    const char *pop_id; /* its id (NULL: all events) */
    char pop_path[PATH_BUF];
    int stream_pop;      /* -p names a POP: population of the stream (no -g) */
    size_t *stream_cols; /* its membership parameters, itself and its ancestors */
    size_t n_stream_cols;
    struct drawn drawn[MAX_DRAWN];
    size_t n_drawn;
    struct axis_def ax[2];
    int two_d;
    fcs_stats *st;
    long *stat_of_pop; /* stats index of every strategy population */
    fcs_plot *plot;
    int xf_used[MAX_XF];
};

static int open_input(struct run *R)
{
    struct ctx *c = &R->c;
    fcs_read_opts ro;
    fcs_error err;
    fcs_read_opts_init(&ro);
    ro.strict = c->o->strict;
    if (fcs_open(&c->r, c->o->input, &ro, &err) != FCS_OK)
        return fcs_cli_error_lib(c->o->input, err.msg);
    if ((size_t)c->o->dataset >= fcs_n_datasets(c->r))
        return fcs_cli_error(c->o->input,
                             "no data set %" PRId64 " (the file has %zu, numbered from 0)",
                             c->o->dataset, fcs_n_datasets(c->r));
    if (fcs_select_dataset(c->r, (size_t)c->o->dataset) != FCS_OK)
        return fcs_cli_error_lib(c->o->input, fcs_errmsg(c->r));
    c->np = fcs_n_params(c->r);
    if (!(c->names = calloc(c->np ? c->np : 1, sizeof *c->names)))
        return fcs_cli_error(NULL, "out of memory");
    for (size_t j = 0; j < c->np; j++) c->names[j] = fcs_param_info(c->r, j)->name;
    /* As fcs_gating_new gets it (a stream already compensated is handled
     * by adapting the strategy: fcs_strategy_for_stream). */
    c->spill = fcs_spillover(c->r, NULL);
    return 0;
}

/* The strategy (gate file or Gating-ML), adapted to the stream and bound to
 * its channels exactly as fcs-gate does, so that the counts are the ones
 * fcs-gate | fcs-stats reports: dimensions whose compensation or transform
 * the stream already carries (fcs-comp, fcs-xform) use its values as they
 * are; combinations that would apply something twice are refused. */
static int open_strategy(struct run *R)
{
    struct ctx *c = &R->c;
    fcs_error err;
    fcs_strategy *orig;
    if (!c->o->gates) return 0;
    fcs_cli_note_input(c->o->gates); /* -o cannot replace the strategy */
    if (fcs_gatefile_read(&orig, c->o->gates, &err) != FCS_OK)
        return fcs_cli_error_lib(c->o->gates, err.msg);
    int rc = fcs_strategy_for_stream(orig, c->r, &c->s, &err);
    fcs_strategy_free(orig);
    if (rc != FCS_OK) return fcs_cli_error_lib(c->o->input, err.msg);
    if (fcs_gating_new(&c->g, c->s, c->names, c->np, c->spill, &err) != FCS_OK)
        return fcs_cli_error_lib(c->o->input, err.msg);
    return 0;
}

/* -p: a population of the strategy, by id or full path. */
static int find_population(struct run *R)
{
    struct ctx *c = &R->c;
    R->pop = -1;
    snprintf(R->pop_path, sizeof R->pop_path, "/");
    const char *want = c->o->population;
    if (!want) return 0;
    size_t n = fcs_strategy_n_populations(c->s);
    for (size_t p = 0; p < n && R->pop < 0; p++) {
        char path[PATH_BUF];
        if (fcs_strategy_population_path(c->s, p, path, sizeof path) < 0) continue;
        if (strcmp(fcs_strategy_population_id(c->s, p), want) == 0 || strcmp(path, want) == 0) {
            R->pop = (long)p;
            snprintf(R->pop_path, sizeof R->pop_path, "%s", path);
        }
    }
    if (R->pop < 0) {
        long gi = fcs_strategy_find_gate(c->s, want);
        fcs_gate_info in;
        if (gi >= 0 && fcs_strategy_gate(c->s, (size_t)gi, &in) == FCS_OK &&
            in.type == FCS_GATE_QUADRANT)
            return fcs_cli_error(c->o->gates,
                                 "-p '%s' is a quadrant gate: name one of its quadrants", want);
        return fcs_cli_error(c->o->gates, "-p: no population '%s' (an id or a /path)", want);
    }
    R->pop_id = fcs_strategy_population_id(c->s, (size_t)R->pop);
    return 0;
}

/* Is dimension k of gate gi the same dimension as axis source a (same
 * values, as the engine computes them)? An unbound divider is not. */
static int same_dim(struct ctx *c, size_t gi, const fcs_gate_dim *gd, size_t k,
                    const struct dimsrc *a)
{
    struct dimsrc d;
    return gate_src(c, gi, gd, k, &d) == 0 && same_values(&d, a);
}

/* Axis sources from the dimensions of gate gi (all of them bound). */
static int gate_axes(struct run *R, size_t gi, const fcs_gate_dim *const *dims, size_t nd)
{
    for (size_t k = 0; k < nd; k++)
        if (gate_src(&R->c, gi, dims[k], k, &R->ax[k].src)) return -1;
    for (size_t k = 0; k < nd; k++) R->ax[k].has_src = 1;
    return 0;
}

/* The axes: from -x/-y (with the compensation of a gate on that channel,
 * if any), or the dimensions of the first drawable child gate. */
static int choose_axes(struct run *R)
{
    struct ctx *c = &R->c;
    const char *names[2] = {c->o->x, c->o->y};
    size_t ng = c->s ? fcs_strategy_n_gates(c->s) : 0;
    if (!names[0]) {
        for (size_t i = 0; i < ng; i++) {
            fcs_gate_info in;
            const fcs_gate_dim *dims[2];
            size_t nd;
            if (fcs_strategy_gate(c->s, i, &in) || !parent_is(&in, R->pop_id) ||
                !(nd = gate_dims(&in, dims)) || gate_axes(R, i, dims, nd))
                continue;
            R->two_d = nd == 2;
            return 0;
        }
        return fcs_cli_error(c->o->gates, "no gate to draw under %s: give -x (and -y)",
                             R->pop_id ? R->pop_path : "all events");
    }
    R->two_d = names[1] != NULL;
    for (int a = 0; a < 1 + R->two_d; a++) {
        struct axis_def *ax = &R->ax[a];
        for (size_t i = 0; i < ng && !ax->has_src; i++) {
            fcs_gate_info in;
            const fcs_gate_dim *dims[2];
            size_t nd;
            if (fcs_strategy_gate(c->s, i, &in) || !parent_is(&in, R->pop_id) ||
                !(nd = gate_dims(&in, dims)))
                continue;
            for (size_t k = 0; k < nd && !ax->has_src; k++)
                if (dim_named(c, dims[k], names[a]) && gate_src(c, i, dims[k], k, &ax->src) == 0)
                    ax->has_src = 1;
        }
        if (ax->has_src) continue;
        int j = fcs_param_index(c->r, names[a], 1);
        if (j < 0)
            return fcs_cli_error(c->o->input, "no channel '%s' ($PnN or $PnS)%s", names[a],
                                 c->s ? " and no gate dimension of that name" : "");
        channel_src(c, (size_t)j, names[a], &ax->src);
        ax->has_src = 1;
    }
    return 0;
}

/* The transformation of gate dimension gd (NULL: none). */
static const fcs_transform *gate_transform(const struct ctx *c, const fcs_gate_dim *gd)
{
    for (size_t i = 0; gd->transform && i < fcs_strategy_n_transforms(c->s); i++) {
        const char *id;
        const fcs_transform *t;
        if (fcs_strategy_transform(c->s, i, &id, &t, NULL, NULL) == FCS_OK &&
            strcmp(id, gd->transform) == 0)
            return t;
    }
    return NULL;
}

/* The child gates of the plotted population on exactly the plotted dimensions. */
static int choose_gates(struct run *R)
{
    struct ctx *c = &R->c;
    size_t ng = c->s ? fcs_strategy_n_gates(c->s) : 0;
    for (size_t i = 0; i < ng; i++) {
        struct drawn *d = &R->drawn[R->n_drawn];
        const fcs_gate_dim *dims[2];
        size_t nd;
        if (fcs_strategy_gate(c->s, i, &d->in) || !parent_is(&d->in, R->pop_id) ||
            !(nd = gate_dims(&d->in, dims)) || nd != (size_t)(1 + R->two_d))
            continue;
        int direct = same_dim(c, i, dims[0], 0, &R->ax[0].src) &&
                     (nd == 1 || same_dim(c, i, dims[1], 1, &R->ax[1].src));
        int swapped = !direct && nd == 2 && same_dim(c, i, dims[0], 0, &R->ax[1].src) &&
                      same_dim(c, i, dims[1], 1, &R->ax[0].src);
        if (!direct && !swapped) continue;
        if (R->n_drawn >= MAX_DRAWN) {
            fcs_cli_warn(c->o->input, "more than %d gates to draw: the rest are left out",
                         MAX_DRAWN);
            break;
        }
        d->gate = i;
        d->swap = swapped;
        for (size_t k = 0; k < nd; k++) {
            size_t a = swapped ? 1 - k : k;
            d->gt[a] = gate_transform(c, dims[k]);
            d->gt_id[a] = dims[k]->transform;
        }
        R->n_drawn++;
    }
    return 0;
}

/* Scale of each axis: a drawn gate's transform, else -t, else the stream's. */
static int choose_scales(struct run *R)
{
    struct ctx *c = &R->c;
    for (int a = 0; a < 1 + R->two_d; a++) {
        struct axis_def *ax = &R->ax[a];
        for (size_t i = 0; i < R->n_drawn && !ax->display; i++)
            if (R->drawn[i].gt[a]) {
                ax->display = R->drawn[i].gt[a];
                ax->gate_xf_id = R->drawn[i].gt_id[a];
            }
        for (int k = 0; k < c->o->n_xf; k++) {
            const struct xf_spec *x = &c->o->xf[k];
            if (!xf_matches(c, x, &ax->src)) continue;
            R->xf_used[k] = 1;
            if (ax->display && ax->gate_xf_id)
                fcs_cli_warn(c->o->input,
                             "-t '%s' not used for %s: the gates' transform '%s' sets its scale",
                             x->arg, ax->src.name, ax->gate_xf_id);
            else if (!ax->display)
                ax->display = x->t;
        }
        stream_transform(c, ax);
        axis_title(c, ax);
        int rc = axis_range(c, ax, a);
        if (rc) return rc;
    }
    for (int k = 0; k < c->o->n_xf; k++)
        if (!R->xf_used[k])
            fcs_cli_warn(c->o->input, "-t '%s' matches no plotted channel", c->o->xf[k].arg);
    return 0;
}

/* ---- statistics: the counts printed on the picture -------------------------------------- */

/* Parent path of a population path ("/a/b" -> "/a", "/a" -> "/"). */
static void parent_path(const char *path, char *out, size_t n)
{
    const char *slash = strrchr(path, '/');
    size_t len = slash && slash != path ? (size_t)(slash - path) : 1;
    snprintf(out, n, "%.*s", (int)len, path);
}

/* Every strategy population, parents first, fed by the membership bytes. */
static int stats_for_strategy(struct run *R)
{
    struct ctx *c = &R->c;
    size_t n = fcs_strategy_n_populations(c->s);
    fcs_error err;
    if (fcs_stats_new(&R->st, n ? n : 1, NULL, &err) != FCS_OK)
        return fcs_cli_error(NULL, "%s", err.msg);
    if (!(R->stat_of_pop = malloc((n ? n : 1) * sizeof *R->stat_of_pop)))
        return fcs_cli_error(NULL, "out of memory");
    for (size_t p = 0; p < n; p++) R->stat_of_pop[p] = -1;
    for (size_t added = 0, progress = 1; added < n && progress;) {
        progress = 0;
        for (size_t p = 0; p < n; p++) {
            char path[PATH_BUF], par[PATH_BUF];
            if (R->stat_of_pop[p] >= 0 ||
                fcs_strategy_population_path(c->s, p, path, sizeof path) < 0)
                continue;
            parent_path(path, par, sizeof par);
            if (strcmp(par, "/") != 0 && fcs_stats_find_population(R->st, par) < 0) continue;
            int k = fcs_stats_add_population(R->st, path, par, p, FCS_STATS_BOOLEAN);
            if (k < 0)
                return fcs_cli_error(c->o->gates, "population %s: %s", path,
                                     fcs_stats_errmsg(R->st));
            R->stat_of_pop[p] = k;
            added++;
            progress = 1;
        }
    }
    return 0;
}

/* Without -g: the populations the stream carries (POP:<path>), and -p
 * among them with the membership columns of it and its ancestors. */
static int stats_for_stream(struct run *R)
{
    struct ctx *c = &R->c;
    fcs_error err;
    if (fcs_stats_new(&R->st, c->np ? c->np : 1, NULL, &err) != FCS_OK)
        return fcs_cli_error(NULL, "%s", err.msg);
    if (fcs_stats_add_stream_populations(R->st, c->r) < 0)
        return fcs_cli_error(c->o->input, "%s", fcs_stats_errmsg(R->st));
    if (!c->o->population) return 0;
    const char *want = c->o->population;
    long found = -1;
    for (size_t i = 1; i < fcs_stats_n_populations(R->st); i++) {
        const char *path = fcs_stats_population_path(R->st, i);
        if (strcmp(path, want) == 0 || strcmp(fcs_stats_population_name(R->st, i), want) == 0) {
            if (found >= 0 && strcmp(path, want) != 0)
                return fcs_cli_error(c->o->input, "-p '%s' is ambiguous (%s, %s): give the /path",
                                     want, fcs_stats_population_path(R->st, (size_t)found), path);
            found = (long)i;
        }
    }
    if (found < 0)
        return fcs_cli_error(c->o->input, "-p: the stream has no population '%s' (POP:<path>)",
                             want);
    R->stream_pop = 1;
    snprintf(R->pop_path, sizeof R->pop_path, "%s",
             fcs_stats_population_path(R->st, (size_t)found));
    R->pop = found;
    if (!(R->stream_cols = malloc(64 * sizeof *R->stream_cols)))
        return fcs_cli_error(NULL, "out of memory");
    for (int i = (int)found; i > 0 && R->n_stream_cols < 64;
         i = fcs_stats_population_parent(R->st, (size_t)i)) {
        char name[PATH_BUF + 8];
        snprintf(name, sizeof name, "POP:%s", fcs_stats_population_path(R->st, (size_t)i));
        int j = fcs_param_index(c->r, name, 0);
        if (j < 0) return fcs_cli_error(c->o->input, "no parameter %s", name);
        R->stream_cols[R->n_stream_cols++] = (size_t)j;
    }
    return 0;
}

/* ---- streaming --------------------------------------------------------------------------------
 */

struct bufs {
    double *ev, *cols, *rows, *x, *y;
    uint8_t *mem, *mask;
    const double **colp;
    uint8_t **memp;
};

static void free_bufs(struct bufs *b)
{
    free(b->ev), free(b->cols), free(b->rows), free(b->x), free(b->y);
    free(b->mem), free(b->mask), free(b->colp), free(b->memp);
}

static int alloc_bufs(struct run *R, struct bufs *b)
{
    size_t np = R->c.np ? R->c.np : 1, npop = R->c.s ? fcs_strategy_n_populations(R->c.s) : 0;
    if (!npop) npop = 1;
    memset(b, 0, sizeof *b);
    b->ev = malloc(CHUNK * np * sizeof *b->ev);
    b->cols = malloc(CHUNK * np * sizeof *b->cols);
    b->rows = malloc(CHUNK * npop * sizeof *b->rows);
    b->x = malloc(CHUNK * sizeof *b->x);
    b->y = malloc(CHUNK * sizeof *b->y);
    b->mem = malloc(CHUNK * npop);
    b->mask = malloc(CHUNK);
    b->colp = malloc(np * sizeof *b->colp);
    b->memp = malloc(npop * sizeof *b->memp);
    if (!b->ev || !b->cols || !b->rows || !b->x || !b->y || !b->mem || !b->mask || !b->colp ||
        !b->memp)
        return fcs_cli_error(NULL, "out of memory");
    for (size_t j = 0; j < np; j++) b->colp[j] = b->cols + j * CHUNK;
    for (size_t p = 0; p < npop; p++) b->memp[p] = b->mem + p * CHUNK;
    return 0;
}

/* Gate one chunk and push the membership to the statistics. */
static int gate_chunk(struct run *R, struct bufs *b, size_t n, const uint8_t **mask)
{
    struct ctx *c = &R->c;
    size_t npop = fcs_strategy_n_populations(c->s);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < c->np; j++) b->cols[j * CHUNK + i] = b->ev[i * c->np + j];
    if (fcs_gating_run(c->g, b->colp, n, b->memp) != FCS_OK)
        return fcs_cli_error(c->o->input, "%s", fcs_gating_errmsg(c->g));
    for (size_t i = 0; i < n; i++)
        for (size_t p = 0; p < npop; p++) b->rows[i * npop + p] = b->memp[p][i];
    if (fcs_stats_push(R->st, b->rows, n) != FCS_OK)
        return fcs_cli_error(c->o->input, "%s", fcs_stats_errmsg(R->st));
    *mask = R->pop >= 0 ? b->memp[R->pop] : NULL;
    return 0;
}

/* Membership of a stream population: its own column and its ancestors'. */
static void stream_mask(struct run *R, struct bufs *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t in = 1;
        for (size_t k = 0; k < R->n_stream_cols && in; k++)
            in = b->ev[i * R->c.np + R->stream_cols[k]] >= 0.5;
        b->mask[i] = in;
    }
}

static int stream_events(struct run *R)
{
    struct ctx *c = &R->c;
    struct bufs b;
    int rc = alloc_bufs(R, &b);
    int64_t n;
    fcs_cli_progress prog;
    int64_t done = 0;
    fcs_cli_progress_start(&prog, fcs_n_events(c->r));
    while (!rc && (n = fcs_read_events(c->r, b.ev, CHUNK, FCS_VALUES_SCALED)) != 0) {
        if (n < 0) {
            rc = fcs_cli_error_lib(c->o->input, fcs_errmsg(c->r));
            break;
        }
        const uint8_t *mask = NULL;
        if (c->g) {
            rc = gate_chunk(R, &b, (size_t)n, &mask);
        } else {
            if (fcs_stats_push(R->st, b.ev, (size_t)n) != FCS_OK)
                rc = fcs_cli_error(c->o->input, "%s", fcs_stats_errmsg(R->st));
            if (R->stream_pop) {
                stream_mask(R, &b, (size_t)n);
                mask = b.mask;
            }
        }
        if (!rc) rc = eval_src(c, &R->ax[0].src, b.ev, b.colp, (size_t)n, b.x);
        if (!rc && R->two_d) rc = eval_src(c, &R->ax[1].src, b.ev, b.colp, (size_t)n, b.y);
        if (!rc &&
            fcs_plot_add_events(R->plot, b.x, R->two_d ? b.y : NULL, mask, (size_t)n) != FCS_OK)
            rc = fcs_cli_error(c->o->input, "%s", fcs_plot_errmsg(R->plot));
        done += n;
        fcs_cli_progress_update(&prog, done);
    }
    fcs_cli_progress_end(&prog);
    free_bufs(&b);
    if (!rc && fcs_stats_finish(R->st) != FCS_OK)
        rc = fcs_cli_error(NULL, "%s", fcs_stats_errmsg(R->st));
    return rc;
}

/* ---- drawing the gates ------------------------------------------------------------------------
 */

/* Every drawn gate through the library (fcs_report_draw_gate), labelled
 * with the counts and % of parent of the statistics. */
static int draw_gates(struct run *R)
{
    size_t npop = fcs_strategy_n_populations(R->c.s);
    int64_t *count = calloc(npop ? npop : 1, sizeof *count);
    double *pct = calloc(npop ? npop : 1, sizeof *pct);
    if (!count || !pct) {
        free(count), free(pct);
        return fcs_cli_error(NULL, "out of memory");
    }
    fcs_stat_spec spec = {FCS_STAT_PCT_PARENT, 0};
    for (size_t p = 0; p < npop; p++) {
        long k = R->stat_of_pop[p];
        count[p] = k >= 0 ? fcs_stats_count(R->st, (size_t)k) : 0;
        pct[p] = k >= 0 ? fcs_stats_value(R->st, (size_t)k, 0, &spec) : NAN;
    }
    int rc = 0;
    for (size_t i = 0; !rc && i < R->n_drawn; i++) {
        const struct drawn *d = &R->drawn[i];
        size_t dims[2] = {d->swap ? 1 : 0, d->swap ? 0 : 1};
        if (fcs_report_draw_gate(R->plot, R->c.s, d->gate, dims, count, pct) == FCS_OK) continue;
        if (d->in.type == FCS_GATE_QUADRANT)
            rc = fcs_cli_error(NULL, "%s", fcs_plot_errmsg(R->plot));
        else
            fcs_cli_warn(R->c.o->gates, "gate '%s' not drawn: %s", d->in.id,
                         fcs_plot_errmsg(R->plot));
    }
    free(count);
    free(pct);
    return rc;
}

/* ---- output ------------------------------------------------------------------------------------
 */

static int make_plot(struct run *R)
{
    const struct plot_opts *o = R->c.o;
    fcs_plot_axis ax[2];
    for (int a = 0; a < 1 + R->two_d; a++) {
        ax[a].title = R->ax[a].title;
        ax[a].scale.applied = R->ax[a].applied;
        ax[a].scale.display = R->ax[a].display;
        ax[a].lo = R->ax[a].lo;
        ax[a].hi = R->ax[a].hi;
    }
    fcs_plot_opts po;
    fcs_plot_opts_init(&po);
    po.width = (unsigned)o->width;
    po.height = (unsigned)o->height;
    po.bins = (size_t)o->bins;
    po.linear_density = o->linear_density;
    po.drop_offscale = o->drop_offscale;
    fcs_error err;
    if (fcs_plot_new(&R->plot, &ax[0], R->two_d ? &ax[1] : NULL, &po, &err) != FCS_OK)
        return fcs_cli_error(o->input, "%s", err.msg);
    return 0;
}

/* Title "FILE: POPULATION (N events)" with N from the statistics. */
static int set_title(struct run *R)
{
    const struct plot_opts *o = R->c.o;
    char title[PATH_BUF + 256];
    if (o->title) {
        snprintf(title, sizeof title, "%s", o->title);
    } else {
        long k = R->pop < 0 ? 0 : (R->stream_pop ? R->pop : R->stat_of_pop[R->pop]);
        int64_t count = fcs_stats_count(R->st, (size_t)(k < 0 ? 0 : k));
        const char *base = strrchr(o->input, '/');
        base = strcmp(o->input, "-") == 0 ? "<stdin>" : (base ? base + 1 : o->input);
        if (R->pop < 0)
            snprintf(title, sizeof title, "%s: all %" PRId64 " events", base, count);
        else
            snprintf(title, sizeof title, "%s: %s (%" PRId64 " events)", base, R->pop_path, count);
    }
    if (fcs_plot_set_title(R->plot, title) != FCS_OK) return fcs_cli_error(NULL, "out of memory");
    return 0;
}

static int write_output(struct run *R)
{
    const struct plot_opts *o = R->c.o;
    void *data = NULL;
    size_t len = 0;
    int rc = o->format ? fcs_plot_png(R->plot, (uint8_t **)&data, &len)
                       : fcs_plot_svg(R->plot, (char **)&data, &len);
    if (rc != FCS_OK) return fcs_cli_error(NULL, "%s", fcs_plot_errmsg(R->plot));
    rc = fcs_cli_out_write_all(o->output, data, len);
    free(data);
    return rc;
}

static void free_run(struct run *R)
{
    struct ctx *c = &R->c;
    for (int a = 0; a < 2; a++) fcs_transform_free(R->ax[a].applied);
    fcs_plot_free(R->plot);
    fcs_stats_free(R->st);
    free(R->stat_of_pop);
    free(R->stream_cols);
    fcs_gating_free(c->g);
    fcs_strategy_free(c->s);
    free(c->names);
    fcs_close(c->r);
}

static int run(const struct plot_opts *o)
{
    struct run *R = calloc(1, sizeof *R);
    if (!R) return fcs_cli_error(NULL, "out of memory");
    R->c.o = o;
    R->pop = -1;
    int rc = open_input(R);
    if (!rc) rc = open_strategy(R);
    if (!rc && R->c.s) rc = find_population(R);
    if (!rc) rc = R->c.s ? stats_for_strategy(R) : stats_for_stream(R);
    if (!rc) rc = choose_axes(R);
    if (!rc) rc = choose_gates(R);
    if (!rc) rc = choose_scales(R);
    if (!rc) rc = make_plot(R);
    if (!rc) rc = stream_events(R);
    if (!rc && R->n_drawn) rc = draw_gates(R);
    if (!rc) rc = set_title(R);
    if (!rc) rc = write_output(R);
    free_run(R);
    free(R);
    return rc;
}

int main(int argc, char **argv)
{
    struct plot_opts o;
    fcs_cli_init(&TOOL, argc, argv);
    int rc = parse(&o, argc, argv);
    if (rc == FCS_CLI_CONTINUE) rc = run(&o);
    free_opts(&o);
    return fcs_cli_finish(rc);
}
