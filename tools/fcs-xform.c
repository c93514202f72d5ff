/*
 * fcs-xform — transform channels of an FCS stream (logicle, asinh, ...),
 * chunk by chunk in constant memory, recording each transform in the
 * keyword LIBFCS_PnTRANSFORM (a string fcs_transform_parse reads back).
 *
 *   -t 'TRANSFORM:PATTERN[,PATTERN...]'  channels whose $PnN or $PnS match a
 *                                        pattern (glob, case-insensitive)
 *   --auto   logicle with parameters estimated from the data
 *            (fcs_logicle_estimate) on every channel that is not scatter
 *            (FSC*, SSC*), time, or a parameter added by the libfcs tools,
 *            and not named by -t or --exclude. The estimate needs a first
 *            look at the data: a file is read twice (a first pass over all
 *            events); a pipe or gzip stream cannot be, so its first
 *            PREFETCH (100,000) events are read ahead, used for the
 *            estimate, and then transformed and written like the rest.
 * A channel already carrying LIBFCS_PnTRANSFORM is refused unless --force;
 * with --force the new transform is applied on top and appended to the
 * keyword after a ';'.
 */
#include <fnmatch.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const fcs_cli_tool TOOL = {
    "fcs-xform",
    "[-t TRANSFORM:CHANNELS]... [--auto [--exclude PATTERN]...] [--force] [-d N] [--strict] "
    "[--no-version] [-o FILE] FILE|-",
    "Transform channels of an FCS file into an FCS 3.1 float32 stream (stdout or -o).\n"
    "  -t, --transform T:CH  apply transform T to the channels CH: comma-separated\n"
    "                        patterns matched against $PnN and $PnS (glob * ?,\n"
    "                        case-insensitive), e.g. 'asinh(150):CD3*,CD19'\n"
    "      --auto            logicle with parameters estimated per channel on every\n"
    "                        channel that is not FSC*, SSC*, time or added by libfcs\n"
    "      --exclude PAT     leave channels matching PAT out of --auto (repeatable)\n"
    "      --force           transform channels that already carry LIBFCS_PnTRANSFORM\n"
    "  -d, --dataset N       use data set N (0-based) [0]\n"
    "      --strict          refuse inputs that need a repair (exit 1)\n"
    "      --no-version      omit the LIBFCS_TOOL and LIBFCS_COMMAND keywords\n"
    "  -o, --output FILE     write FILE (via a temporary file, renamed when complete)\n"
    "  -h, --help            this help\n"
    "      --version         versions of the tool and its libraries\n"
    "Transforms: linear(scale,offset) log(base) asinh(cofactor) flin(T,A) flog(T,M)\n"
    "fasinh(T,M,A) logicle(T,W,M,A) hyperlog(T,W,M,A) biex(width,pos,neg,max);\n"
    "see fcs-xform(1). fratio is not available in fcs-xform: it makes a new parameter\n"
    "from two channels, while -t transforms each channel in place. --auto estimates\n"
    "from all events of a file, or from the first 100000 events of a pipe.\n"};

enum { OPT_AUTO = FCS_CLI_OPT_FIRST_TOOL, OPT_EXCLUDE, OPT_FORCE };

#define PREFETCH 100000        /* events read ahead on a pipe for --auto */
#define NEG_SAMPLE_MAX 1000000 /* negatives kept per channel for --auto (reservoir) */
#define NEG_SAMPLE_SEED 1
#define FALLBACK_RANGE 262144.0 /* top of scale for a channel without a usable $PnR */

/* One -t option: a transform and the channel patterns it applies to. */
struct xf_spec {
    const char *arg;
    fcs_transform *t;
    char *buf; /* copy of the pattern list, split in place */
    char **pat;
    int n_pat;
};

struct xf_opts {
    struct xf_spec *spec;
    int n_spec;
    int autox, force;
    const char **exclude;
    int n_exclude;
    fcs_cli_io io; /* -d, --strict, --no-version, -o */
    const char *input;
};

static void free_opts(struct xf_opts *o)
{
    for (int i = 0; i < o->n_spec; i++) {
        fcs_transform_free(o->spec[i].t);
        free(o->spec[i].buf);
        free(o->spec[i].pat);
    }
    free(o->spec);
    free(o->exclude);
}

/* "TRANSFORM:PAT,PAT": transform strings never contain ':'. */
static int add_spec(struct xf_opts *o, const char *arg)
{
    const char *colon = strchr(arg, ':');
    if (!colon || colon == arg || !colon[1])
        return fcs_cli_usage_error("-t '%s': expected TRANSFORM:CHANNELS, e.g. 'asinh(150):CD3'",
                                   arg);
    struct xf_spec *s = realloc(o->spec, (size_t)(o->n_spec + 1) * sizeof *s);
    if (!s) return fcs_cli_error(NULL, "out of memory");
    o->spec = s;
    s = &o->spec[o->n_spec++];
    memset(s, 0, sizeof *s);
    s->arg = arg;
    char *text = strndup(arg, (size_t)(colon - arg));
    s->buf = strdup(colon + 1);
    s->pat = calloc(strlen(colon + 1) / 2 + 2, sizeof *s->pat);
    if (!text || !s->buf || !s->pat) {
        free(text);
        return fcs_cli_error(NULL, "out of memory");
    }
    fcs_error err;
    int rc = fcs_transform_parse(text, &s->t, &err);
    free(text);
    if (rc != FCS_OK) return fcs_cli_usage_error("-t: %s", err.msg);
    if (fcs_transform_arity(s->t) != 1)
        return fcs_cli_usage_error("-t '%s': %s combines two channels into a new parameter, "
                                   "which fcs-xform does not do",
                                   arg, fcs_transform_kind_name(fcs_transform_get_kind(s->t)));
    for (char *save = NULL, *p = strtok_r(s->buf, ",", &save); p; p = strtok_r(NULL, ",", &save))
        s->pat[s->n_pat++] = p;
    if (s->n_pat == 0) return fcs_cli_usage_error("-t '%s': no channel given", arg);
    return 0;
}

static int add_exclude(struct xf_opts *o, const char *pat)
{
    const char **e = realloc(o->exclude, (size_t)(o->n_exclude + 1) * sizeof *e);
    if (!e) return fcs_cli_error(NULL, "out of memory");
    o->exclude = e;
    e[o->n_exclude++] = pat;
    return 0;
}

static int parse(struct xf_opts *o, int argc, char **argv)
{
    static const struct option longopts[] = {FCS_CLI_LONGOPTS_COMMON,
                                             FCS_CLI_LONGOPTS_IO,
                                             {"transform", required_argument, NULL, 't'},
                                             {"auto", no_argument, NULL, OPT_AUTO},
                                             {"exclude", required_argument, NULL, OPT_EXCLUDE},
                                             {"force", no_argument, NULL, OPT_FORCE},
                                             {NULL, 0, NULL, 0}};
    int c, rc = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":ht:d:o:", longopts, NULL)) != -1) {
        switch (c) {
        case 't': rc = add_spec(o, optarg); break;
        case OPT_AUTO: o->autox = 1; break;
        case OPT_EXCLUDE: rc = add_exclude(o, optarg); break;
        case OPT_FORCE: o->force = 1; break;
        default:
            if (!fcs_cli_io_option(c, optarg, &o->io, &rc)) return fcs_cli_common_option(c);
            break;
        }
        if (rc) return rc;
    }
    if (o->n_spec == 0 && !o->autox) return fcs_cli_usage_error("nothing to do: give -t or --auto");
    if (o->n_exclude && !o->autox) return fcs_cli_usage_error("--exclude needs --auto");
    rc = fcs_cli_one_input(argc - optind, argv + optind, &o->input);
    if (rc) return rc;
    return FCS_CLI_CONTINUE;
}

/* ---- which channel gets which transform -------------------------------------- */

struct xf_chan {
    const fcs_transform *t; /* NULL: unchanged */
    fcs_transform *owned;   /* estimated by --auto */
    const char *by;         /* the -t argument, or "--auto" */
    const char *previous;   /* LIBFCS_PnTRANSFORM of the input, if any */
    int autox;              /* to be estimated */
};

struct xf_run {
    const struct xf_opts *o;
    fcs_reader *r;
    size_t np;
    int64_t n_events;
    struct xf_chan *ch;
    fcs_writer *w;
    float *buf, *col;
    size_t chunk;
    float *pre; /* events read ahead on a pipe (--auto) */
    size_t n_pre;
    fcs_cli_names nm; /* unique output names */
    fcs_cli_progress prog;
    int quiet_end;
};

static const char *chan_name(const fcs_reader *r, size_t j, char *buf, size_t n)
{
    const fcs_param *p = fcs_param_info(r, j);
    if (p && p->name) return p->name;
    snprintf(buf, n, "P%zu", j + 1);
    return buf;
}

static int matches(const fcs_reader *r, size_t j, const char *pat)
{
    const fcs_param *p = fcs_param_info(r, j);
    char buf[32];
    if (fnmatch(pat, chan_name(r, j, buf, sizeof buf), FNM_CASEFOLD) == 0) return 1;
    return p && p->label && fnmatch(pat, p->label, FNM_CASEFOLD) == 0;
}

/* Channels --auto leaves alone: scatter, time, and the parameters the libfcs
 * tools add (SourceFile, POP:..., fcs-synth's TruePopulation). */
static int auto_skips(const struct xf_opts *o, const fcs_reader *r, size_t j)
{
    static const char *skip[] = {"FSC*", "SSC*", "Time", "SourceFile", "POP:*", "TruePopulation"};
    const fcs_param *p = fcs_param_info(r, j);
    char buf[32];
    const char *name = chan_name(r, j, buf, sizeof buf);
    if (p && p->is_time) return 1;
    for (size_t k = 0; k < sizeof skip / sizeof skip[0]; k++)
        if (fnmatch(skip[k], name, FNM_CASEFOLD) == 0) return 1;
    for (int k = 0; k < o->n_exclude; k++)
        if (matches(r, j, o->exclude[k])) return 1;
    return 0;
}

static const char *previous_transform(const fcs_reader *r, size_t j)
{
    char key[48];
    snprintf(key, sizeof key, "LIBFCS_P%zuTRANSFORM", j + 1);
    return fcs_keyword(r, key);
}

static int assign(struct xf_run *x, size_t j, const fcs_transform *t, const char *by)
{
    char buf[32];
    struct xf_chan *c = &x->ch[j];
    const char *name = chan_name(x->r, j, buf, sizeof buf);
    if (c->t)
        return fcs_cli_error(x->o->input, "channel %s is matched by both -t '%s' and -t '%s'", name,
                             c->by, by);
    if (c->previous && !x->o->force)
        return fcs_cli_error(x->o->input,
                             "channel %s is already transformed (LIBFCS_P%zuTRANSFORM=%s); "
                             "--force transforms it again",
                             name, j + 1, c->previous);
    c->t = t;
    c->by = by;
    return 0;
}

static int plan(struct xf_run *x)
{
    const struct xf_opts *o = x->o;
    for (size_t j = 0; j < x->np; j++) x->ch[j].previous = previous_transform(x->r, j);
    for (int s = 0; s < o->n_spec; s++)
        for (int k = 0; k < o->spec[s].n_pat; k++) {
            int hits = 0;
            for (size_t j = 0; j < x->np; j++) {
                if (!matches(x->r, j, o->spec[s].pat[k])) continue;
                hits++;
                /* two patterns of one -t naming the same channel is fine */
                if (x->ch[j].t == o->spec[s].t) continue;
                if (assign(x, j, o->spec[s].t, o->spec[s].arg)) return FCS_CLI_EXIT_INPUT;
            }
            if (!hits)
                return fcs_cli_error(o->input, "no channel matches '%s' ($PnN or $PnS) of -t '%s'",
                                     o->spec[s].pat[k], o->spec[s].arg);
        }
    if (!o->autox) return 0;
    for (size_t j = 0; j < x->np; j++) {
        struct xf_chan *c = &x->ch[j];
        if (c->t || auto_skips(o, x->r, j)) continue;
        if (c->previous && !o->force) {
            char buf[32];
            fcs_cli_warn(o->input, "--auto leaves %s alone: already transformed (%s)",
                         chan_name(x->r, j, buf, sizeof buf), c->previous);
            continue;
        }
        c->autox = 1;
        c->by = "--auto";
    }
    return 0;
}

/* ---- --auto: logicle parameters from the data ---------------------------------- */

/* Negative values of one channel: all of them up to NEG_SAMPLE_MAX, then a
 * uniform reservoir sample of that size (Vitter's algorithm R), so memory
 * stays bounded and the 5th percentile is estimated without bias. */
struct neg_sample {
    float *v;
    size_t n, cap;
    uint64_t seen;
};

static int neg_add(struct neg_sample *s, float v, fcs_cli_rng *rng)
{
    s->seen++;
    if (s->n < NEG_SAMPLE_MAX) {
        if (s->n == s->cap) {
            size_t cap = s->cap ? 2 * s->cap : 1024;
            float *p = realloc(s->v, cap * sizeof *p);
            if (!p) return -1;
            s->v = p;
            s->cap = cap;
        }
        s->v[s->n++] = v;
        return 0;
    }
    uint64_t k = fcs_cli_rng_below(rng, s->seen);
    if (k < NEG_SAMPLE_MAX) s->v[k] = v;
    return 0;
}

static int collect(struct xf_run *x, struct neg_sample *ns, fcs_cli_rng *rng, const float *ev,
                   size_t n)
{
    for (size_t j = 0; j < x->np; j++) {
        if (!x->ch[j].autox) continue;
        for (size_t i = 0; i < n; i++) {
            float v = ev[i * x->np + j];
            if (v < 0 && isfinite(v) && neg_add(&ns[j], v, rng)) return -1;
        }
    }
    return 0;
}

static int make_estimates(struct xf_run *x, struct neg_sample *ns)
{
    char buf[32];
    for (size_t j = 0; j < x->np; j++) {
        struct xf_chan *c = &x->ch[j];
        if (!c->autox) continue;
        double range = fcs_cli_scaled_range(fcs_param_info(x->r, j));
        if (!(range > 0) || !isfinite(range)) {
            fcs_cli_warn(x->o->input, "%s has no usable $PnR: --auto uses T=%.0f",
                         chan_name(x->r, j, buf, sizeof buf), FALLBACK_RANGE);
            range = FALLBACK_RANGE;
        }
        fcs_logicle_params lp;
        fcs_error err;
        if (fcs_logicle_estimate_f(ns[j].v, ns[j].n, range, &lp) != FCS_OK)
            return fcs_cli_error(NULL, "out of memory");
        if (fcs_transform_new_logicle(&lp, &c->owned, &err) != FCS_OK)
            return fcs_cli_error(x->o->input, "%s: %s", chan_name(x->r, j, buf, sizeof buf),
                                 err.msg);
        c->t = c->owned;
    }
    return 0;
}

/* A file: a first pass over every event, then rewind. A pipe: read up to
 * PREFETCH events ahead and keep them for the output. */
static int estimate(struct xf_run *x)
{
    int any = 0;
    for (size_t j = 0; j < x->np; j++) any |= x->ch[j].autox;
    if (!any) return 0;
    struct neg_sample *ns = calloc(x->np, sizeof *ns);
    fcs_cli_rng rng;
    int rc = ns ? 0 : fcs_cli_error(NULL, "out of memory");
    fcs_cli_rng_seed(&rng, NEG_SAMPLE_SEED);
    int seekable = fcs_is_seekable(x->r);
    if (!rc && !seekable) {
        size_t want = x->n_events < PREFETCH ? (size_t)x->n_events : PREFETCH;
        x->pre = malloc((want ? want : 1) * (x->np ? x->np : 1) * sizeof *x->pre);
        if (!x->pre) rc = fcs_cli_error(NULL, "out of memory");
        while (!rc && x->n_pre < want) {
            int64_t n = fcs_read_events_f32(x->r, x->pre + x->n_pre * x->np, want - x->n_pre,
                                            FCS_VALUES_SCALED);
            if (n < 0) rc = fcs_cli_error_lib(x->o->input, fcs_errmsg(x->r));
            if (n <= 0) break;
            x->n_pre += (size_t)n;
        }
        if (!rc && collect(x, ns, &rng, x->pre, x->n_pre))
            rc = fcs_cli_error(NULL, "out of memory");
    }
    while (!rc && seekable) {
        int64_t n = fcs_read_events_f32(x->r, x->buf, x->chunk, FCS_VALUES_SCALED);
        if (n < 0) rc = fcs_cli_error_lib(x->o->input, fcs_errmsg(x->r));
        if (n <= 0) break;
        if (collect(x, ns, &rng, x->buf, (size_t)n)) rc = fcs_cli_error(NULL, "out of memory");
    }
    if (!rc && seekable && fcs_rewind(x->r) != FCS_OK)
        rc = fcs_cli_error_lib(x->o->input, fcs_errmsg(x->r));
    if (!rc) rc = make_estimates(x, ns);
    for (size_t j = 0; ns && j < x->np; j++) free(ns[j].v);
    free(ns);
    return rc;
}

/* ---- the output ------------------------------------------------------------------ */

/* The transformed channel's $PnR: the top of the old scale, transformed.
 * A scale that is no number (a $PnE of 400 decades) takes the stored $PnR,
 * as fcs-cat does; the writer needs a positive finite $PnR. */
static double new_range(const fcs_transform *t, const fcs_param *p)
{
    double r = fcs_cli_scaled_range(p);
    if (!(r > 0) || !isfinite(r)) r = p->range;
    if (!(r > 0) || !isfinite(r)) r = FALLBACK_RANGE;
    double f = fcs_transform_value(t, r);
    return (f > 0 && isfinite(f)) ? f : r;
}

static int describe_channel(struct xf_run *x, size_t j)
{
    const struct xf_chan *c = &x->ch[j];
    const fcs_param *p = fcs_param_info(x->r, j);
    char key[48];
    const char *s = fcs_transform_string(c->t);
    int rc = fcs_writer_set_param(x->w, j, x->nm.name[j], p->label, new_range(c->t, p));
    snprintf(key, sizeof key, "LIBFCS_P%zuTRANSFORM", j + 1);
    if (rc == FCS_OK && c->previous) {
        /* --force: the chain, in the order applied */
        size_t len = strlen(c->previous) + strlen(s) + 2;
        char *chain = malloc(len);
        if (!chain) return FCS_ENOMEM;
        snprintf(chain, len, "%s;%s", c->previous, s);
        rc = fcs_writer_set_keyword(x->w, key, chain);
        free(chain);
    } else if (rc == FCS_OK) {
        rc = fcs_writer_set_keyword(x->w, key, s);
    }
    return rc;
}

static int setup_writer(struct xf_run *x)
{
    if (fcs_cli_writer_open(&x->w, x->o->io.output, x->np)) return FCS_CLI_EXIT_INPUT;
    int rc = fcs_writer_copy_keywords(x->w, x->r, NULL);
    for (size_t j = 0; rc == FCS_OK && j < x->np; j++)
        if (x->ch[j].t) rc = describe_channel(x, j);
    if (rc == FCS_OK) rc = fcs_cli_writer_set_names(x->w, &x->nm, NULL, x->np);
    if (rc == FCS_OK) rc = fcs_cli_provenance(x->w, x->o->io.no_version);
    if (rc == FCS_OK) rc = fcs_cli_source_keyword(x->w, x->r, x->o->input);
    if (rc == FCS_OK) rc = fcs_writer_begin(x->w, x->n_events);
    if (rc != FCS_OK) {
        rc = fcs_cli_writer_failed(x->w, rc, x->o->io.output, x->o->input, &x->quiet_end);
        fcs_writer_abort(x->w);
        x->w = NULL;
    }
    return rc;
}

/* Transform the chosen columns of n events in place (column by column so
 * the transform sees contiguous arrays). */
static void transform_events(struct xf_run *x, float *ev, size_t n)
{
    for (size_t j = 0; j < x->np; j++) {
        if (!x->ch[j].t) continue;
        for (size_t i = 0; i < n; i++) x->col[i] = ev[i * x->np + j];
        (void)fcs_transform_apply_f(x->ch[j].t, x->col, n);
        for (size_t i = 0; i < n; i++) ev[i * x->np + j] = x->col[i];
    }
}

static const float *xform_chunk(fcs_cli_stream *s, float *ev, size_t n, size_t *n_out)
{
    transform_events(s->ctx, ev, n);
    *n_out = n;
    return ev;
}

/* The events read ahead for --auto first, then the rest of the input. */
static int stream(struct xf_run *x)
{
    fcs_cli_stream s;
    fcs_cli_stream_init(&s, x->r, x->o->input, x->w, x->o->io.output, x->buf, x->chunk);
    s.fn = xform_chunk;
    s.ctx = x;
    s.prog = &x->prog;
    int rc = fcs_cli_stream_write(&s, x->pre, x->n_pre);
    fcs_cli_progress_start(&x->prog, x->n_events);
    if (!rc) rc = fcs_cli_stream_run(&s);
    fcs_cli_progress_end(&x->prog);
    x->quiet_end = s.quiet_end;
    if (!rc && !x->quiet_end) fcs_cli_report_warnings_names(x->o->input, x->r, &x->nm);
    return rc;
}

/* ---- run ---------------------------------------------------------------------------- */

static int open_input(struct xf_run *x)
{
    if (fcs_cli_io_open(&x->r, x->o->input, &x->o->io)) return FCS_CLI_EXIT_INPUT;
    x->np = fcs_n_params(x->r);
    x->n_events = fcs_n_events(x->r);
    if (fcs_cli_names_init(&x->nm, x->r)) return fcs_cli_error(NULL, "out of memory");
    return 0;
}

static int alloc_buffers(struct xf_run *x)
{
    size_t np = x->np ? x->np : 1;
    x->chunk = fcs_cli_chunk_events(np);
    x->ch = calloc(np, sizeof *x->ch);
    x->buf = malloc(x->chunk * np * sizeof *x->buf);
    x->col = malloc(x->chunk * sizeof *x->col);
    return (x->ch && x->buf && x->col) ? 0 : fcs_cli_error(NULL, "out of memory");
}

static int run(const struct xf_opts *o)
{
    struct xf_run x;
    memset(&x, 0, sizeof x);
    x.o = o;
    int rc = fcs_cli_refuse_tty(o->io.output);
    if (!rc) {
        fcs_cli_note_input(o->input); /* refuse -o INPUT before reading */
        rc = fcs_cli_check_output(o->io.output);
    }
    if (!rc) rc = open_input(&x);
    if (!rc) rc = alloc_buffers(&x);
    if (!rc) rc = plan(&x);
    if (!rc) rc = estimate(&x);
    if (!rc) rc = setup_writer(&x);
    if (!rc && !x.quiet_end) {
        rc = stream(&x);
        rc = fcs_cli_finish_writer(x.w, o->io.output, rc, x.quiet_end);
    }
    for (size_t j = 0; x.ch && j < x.np; j++) fcs_transform_free(x.ch[j].owned);
    free(x.ch);
    free(x.buf);
    free(x.col);
    free(x.pre);
    fcs_cli_names_free(&x.nm);
    fcs_close(x.r);
    return rc;
}

int main(int argc, char **argv)
{
    struct xf_opts o;
    memset(&o, 0, sizeof o);
    fcs_cli_init(&TOOL, argc, argv);
    int rc = parse(&o, argc, argv);
    if (rc == FCS_CLI_CONTINUE) rc = run(&o);
    free_opts(&o);
    return fcs_cli_finish(rc);
}
