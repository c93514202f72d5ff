/*
 * fcs-cat — the normalised pipe stream: FCS 3.1, float32 channel values
 * (FCS_VALUES_SCALED), keywords of the (first) input kept. Several inputs
 * with the same parameters are concatenated, with an added parameter
 * "SourceFile" (1-based input number). --head and --subsample reduce the
 * events; the count is always known before the data is written, because
 * every input announces $TOT in its TEXT, before its DATA:
 *   --head N       the first N events of the concatenated stream;
 *   --subsample N  N of those chosen uniformly without replacement by
 *                  selection sampling (Knuth, TAOCP 3.4.2, algorithm S):
 *                  one pass, constant memory, events keep their order,
 *                  reproducible from --seed.
 * Memory is constant: one chunk of events in, one out.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const fcs_cli_tool TOOL = {
    "fcs-cat",
    "[-d N] [--head N] [--subsample N [--seed S]] [--strict] [--no-version] [-o FILE] FILE...|-",
    "Normalise and concatenate FCS files into one FCS 3.1 float32 stream (stdout or -o).\n"
    "  -d, --dataset N     use data set N (0-based) of every input [0]\n"
    "      --head N        keep the first N events\n"
    "      --subsample N   keep N events chosen uniformly at random (order kept)\n"
    "      --seed S        seed of --subsample [0]\n"
    "      --strict        refuse inputs that need a repair (exit 1)\n"
    "      --no-version    omit the LIBFCS_TOOL and LIBFCS_COMMAND keywords\n"
    "  -o, --output FILE   write FILE (via a temporary file, renamed when complete)\n"
    "  -h, --help          this help\n"
    "      --version       versions of the tool and its libraries\n"
    "Several inputs need the same $PnN in the same order, and the same $TIMESTEP,\n"
    "spillover matrix and LIBFCS_COMP/LIBFCS_PnTRANSFORM (compensate or transform\n"
    "each file first, or concatenate first); a parameter SourceFile (1-based input\n"
    "number) is then added. Binary output is never sent to a terminal.\n"};

enum { OPT_HEAD = FCS_CLI_OPT_FIRST_TOOL, OPT_SUBSAMPLE, OPT_SEED };

struct cat_opts {
    fcs_cli_io io;     /* -d, --strict, --no-version, -o */
    int64_t head;      /* -1: all */
    int64_t subsample; /* -1: none */
    uint64_t seed;
    int seed_given;
    char **files;
    int n_files;
};

static int check_args(struct cat_opts *o)
{
    if (o->seed_given && o->subsample < 0) return fcs_cli_usage_error("--seed needs --subsample");
    int n_stdin = 0;
    for (int i = 0; i < o->n_files; i++) n_stdin += strcmp(o->files[i], "-") == 0;
    if (n_stdin > 1) return fcs_cli_usage_error("standard input ('-') can be read only once");
    return FCS_CLI_CONTINUE;
}

static int parse(struct cat_opts *o, int argc, char **argv)
{
    static const struct option longopts[] = {FCS_CLI_LONGOPTS_COMMON,
                                             FCS_CLI_LONGOPTS_IO,
                                             {"head", required_argument, NULL, OPT_HEAD},
                                             {"subsample", required_argument, NULL, OPT_SUBSAMPLE},
                                             {"seed", required_argument, NULL, OPT_SEED},
                                             {NULL, 0, NULL, 0}};
    int c, rc = 0;
    memset(o, 0, sizeof *o);
    o->head = o->subsample = -1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":hd:o:", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_HEAD: rc = fcs_cli_parse_int(optarg, "--head", 0, INT64_MAX, &o->head); break;
        case OPT_SUBSAMPLE:
            rc = fcs_cli_parse_int(optarg, "--subsample", 0, INT64_MAX, &o->subsample);
            break;
        case OPT_SEED:
            rc = fcs_cli_parse_u64(optarg, "--seed", &o->seed);
            o->seed_given = 1;
            break;
        default:
            if (!fcs_cli_io_option(c, optarg, &o->io, &rc)) return fcs_cli_common_option(c);
            break;
        }
        if (rc) return rc;
    }
    rc = fcs_cli_inputs(argc - optind, argv + optind, &o->files, &o->n_files);
    if (rc) return rc;
    return check_args(o);
}

/* ---- inputs ------------------------------------------------------------------ */

struct cat_input {
    const char *path;
    fcs_reader *r;    /* open reader, or NULL between inspection and streaming */
    int64_t n_events; /* $TOT of the selected data set */
};

static int open_input(const struct cat_opts *o, struct cat_input *in)
{
    return fcs_cli_io_open(&in->r, in->path, &o->io);
}

static const char *param_name(const fcs_param *p, size_t i, char *buf, size_t n)
{
    if (p->name) return p->name;
    snprintf(buf, n, "P%zu", i + 1);
    return buf;
}

/* Concatenation needs the same $PnN in the same order. */
static int same_params(const struct cat_input *first, const struct cat_input *in)
{
    size_t np = fcs_n_params(first->r);
    char b1[32], b2[32];
    if (fcs_n_params(in->r) != np)
        return fcs_cli_error(in->path, "has %zu parameters, %s has %zu: cannot concatenate",
                             fcs_n_params(in->r), fcs_cli_input_name(first->path), np);
    for (size_t j = 0; j < np; j++) {
        const char *a = param_name(fcs_param_info(first->r, j), j, b1, sizeof b1);
        const char *b = param_name(fcs_param_info(in->r, j), j, b2, sizeof b2);
        if (strcmp(a, b) != 0)
            return fcs_cli_error(in->path,
                                 "parameter %zu is '%s', in %s it is '%s': cannot concatenate "
                                 "(same $PnN in the same order needed)",
                                 j + 1, b, fcs_cli_input_name(first->path), a);
    }
    return 0;
}

/* ---- what the values mean: the keywords all inputs must share ------------------ */

/*
 * The output carries one set of keywords (the first input's) for every
 * event, so whatever changes what a value means must agree: $TIMESTEP (the
 * unit of Time), LIBFCS_PnTRANSFORM (fcs-xform), the spillover matrix of
 * uncompensated data (fcs-comp applies one matrix to all events) and the
 * compensation state (LIBFCS_COMP). One difference is accepted: inputs
 * compensated each with its own matrix (same channels, same passes) hold
 * comparable values; their output records "source=per-input" in place of
 * the matrices, which --decompensate refuses, and no spillover keyword.
 */
struct cat_merge {
    unsigned char *rec_differs; /* per record of the first input's LIBFCS_COMP */
    size_t n_recs;
    int comp_mixed; /* records differ (see above) */
    int drop_spill; /* spillover keywords differ on compensated data */
};

static const char *comp_of(const fcs_reader *r)
{
    const char *v = fcs_keyword(r, "LIBFCS_COMP");
    return v && *v ? v : NULL;
}

static const char *number_or_none(char *buf, double v)
{
    if (v == 0) return "none";
    fcs_cli_format_double(buf, v);
    return buf;
}

static int same_timestep(const struct cat_input *first, const struct cat_input *in)
{
    char a[FCS_CLI_NUM_MAX], b[FCS_CLI_NUM_MAX];
    double ta = fcs_timestep(first->r), tb = fcs_timestep(in->r);
    if (ta == tb) return 0;
    return fcs_cli_error(in->path, "$TIMESTEP is %s, in %s it is %s: cannot concatenate (the Time "
                         "values of one would be read in the unit of the other); concatenate "
                         "files with the same $TIMESTEP",
                         number_or_none(b, tb), fcs_cli_input_name(first->path),
                         number_or_none(a, ta));
}

static int same_transforms(const struct cat_input *first, const struct cat_input *in)
{
    char key[48];
    for (size_t j = 0; j < fcs_n_params(first->r); j++) {
        snprintf(key, sizeof key, "LIBFCS_P%zuTRANSFORM", j + 1);
        const char *a = fcs_keyword(first->r, key), *b = fcs_keyword(in->r, key);
        if (a == b || (a && b && strcmp(a, b) == 0)) continue;
        return fcs_cli_error(in->path, "%s is '%.80s', in %s it is '%.80s': cannot concatenate "
                             "differently transformed values; concatenate first and then "
                             "transform (fcs-xform), or give every file the same -t",
                             key, b ? b : "none", fcs_cli_input_name(first->path), a ? a : "none");
    }
    return 0;
}

static int same_spillover(const fcs_reader *a, const fcs_reader *b)
{
    const fcs_matrix *x = fcs_spillover(a, NULL), *y = fcs_spillover(b, NULL);
    if (!x || !y) return !x && !y;
    size_t rows = fcs_matrix_rows(x), cols = fcs_matrix_cols(x);
    if (rows != fcs_matrix_rows(y) || cols != fcs_matrix_cols(y)) return 0;
    for (size_t c = 0; c < cols; c++)
        if (strcmp(fcs_matrix_name(x, c), fcs_matrix_name(y, c)) != 0) return 0;
    for (size_t i = 0; i < rows; i++)
        for (size_t c = 0; c < cols; c++)
            if (fcs_matrix_get(x, i, c) != fcs_matrix_get(y, i, c)) return 0;
    return 1;
}

/* LIBFCS_COMP syntax (fcs-comp): records split by '|', fields by ';', '\'
 * escapes. The next unescaped sep in [s, end), or end. */
static const char *next_sep(const char *s, const char *end, char sep)
{
    for (; s < end; s++) {
        if (*s == '\\' && s + 1 < end) s++;
        else if (*s == sep) return s;
    }
    return end;
}

static size_t count_records(const char *v)
{
    size_t n = 1;
    for (const char *p = v, *end = v + strlen(v); (p = next_sep(p, end, '|')) < end; p++) n++;
    return n;
}

/* Record k of v as [*b, *e). */
static void record_span(const char *v, size_t k, const char **b, const char **e)
{
    const char *end = v + strlen(v), *p = v;
    for (size_t i = 0; i < k; i++) p = next_sep(p, end, '|') + 1;
    *b = p;
    *e = next_sep(p, end, '|');
}

/* Field "key=..." of the record [b, e) as [*fb, *fe); 0 when absent. */
static int field_span(const char *b, const char *e, const char *key, const char **fb,
                      const char **fe)
{
    size_t kl = strlen(key);
    for (const char *f = next_sep(b, e, ';'); f < e;) {
        const char *g = next_sep(f + 1, e, ';');
        if ((size_t)(g - f - 1) > kl && strncmp(f + 1, key, kl) == 0 && f[1 + kl] == '=') {
            *fb = f + 1;
            *fe = g;
            return 1;
        }
        f = g;
    }
    return 0;
}

static const char *const COMP_SHAPE_KEYS[] = {"channels", "detectors", "fluorochromes"};
#define N_SHAPE_KEYS (sizeof COMP_SHAPE_KEYS / sizeof COMP_SHAPE_KEYS[0])

static int same_span(const char *a, const char *ae, const char *b, const char *be)
{
    return ae - a == be - b && memcmp(a, b, (size_t)(ae - a)) == 0;
}

/* Same kind of pass (compensate/unmix) over the same parameters. */
static int same_shape(const char *a, const char *ae, const char *b, const char *be)
{
    if (!same_span(a, next_sep(a, ae, ';'), b, next_sep(b, be, ';'))) return 0;
    for (size_t k = 0; k < N_SHAPE_KEYS; k++) {
        const char *fa, *fae, *fb, *fbe;
        int ha = field_span(a, ae, COMP_SHAPE_KEYS[k], &fa, &fae);
        int hb = field_span(b, be, COMP_SHAPE_KEYS[k], &fb, &fbe);
        if (ha != hb || (ha && !same_span(fa, fae, fb, fbe))) return 0;
    }
    return 1;
}

/* Both inputs compensated, differently: per record, same shape needed. */
static int merge_records(struct cat_merge *m, const struct cat_input *first,
                         const struct cat_input *in, const char *ca, const char *cb)
{
    size_t n = count_records(ca);
    if (!m->rec_differs && !(m->rec_differs = calloc(n, 1))) return fcs_cli_error(NULL, "out of memory");
    m->n_recs = n;
    int ok = count_records(cb) == n;
    for (size_t k = 0; ok && k < n; k++) {
        const char *a, *ae, *b, *be;
        record_span(ca, k, &a, &ae);
        record_span(cb, k, &b, &be);
        ok = same_shape(a, ae, b, be);
        if (ok && !same_span(a, ae, b, be)) m->rec_differs[k] = 1;
    }
    if (!ok)
        return fcs_cli_error(in->path, "compensated differently from %s (LIBFCS_COMP '%.80s', "
                             "there '%.80s': other channels or passes): cannot concatenate",
                             fcs_cli_input_name(first->path), cb, ca);
    m->comp_mixed = 1;
    return 0;
}

static int same_compensation(struct cat_merge *m, const struct cat_input *first,
                             const struct cat_input *in)
{
    const char *ca = comp_of(first->r), *cb = comp_of(in->r), *kw_a = NULL, *kw_b = NULL;
    const char *fname = fcs_cli_input_name(first->path);
    int spill_same = same_spillover(first->r, in->r);
    if (!ca && !cb) {
        if (spill_same) return 0;
        fcs_spillover(first->r, &kw_a);
        fcs_spillover(in->r, &kw_b);
        return fcs_cli_error(in->path, "spillover matrix (%s) differs from that of %s (%s): "
                             "cannot concatenate uncompensated events with different matrices "
                             "(one would be applied to all); compensate each file first "
                             "(fcs-comp), then concatenate",
                             kw_b ? kw_b : "none", fname, kw_a ? kw_a : "none");
    }
    if (!ca || !cb)
        return fcs_cli_error(in->path, "%s, %s %s: cannot concatenate compensated and "
                             "uncompensated events; compensate %s first (fcs-comp)",
                             cb ? "compensated (LIBFCS_COMP)" : "not compensated", fname,
                             ca ? "is (LIBFCS_COMP)" : "is not",
                             cb ? fname : fcs_cli_input_name(in->path));
    m->drop_spill |= !spill_same;
    if (strcmp(ca, cb) == 0) return 0;
    return merge_records(m, first, in, ca, cb);
}

static int same_meaning(struct cat_merge *m, const struct cat_input *first,
                        const struct cat_input *in)
{
    if (same_timestep(first, in) || same_transforms(first, in)) return FCS_CLI_EXIT_INPUT;
    return same_compensation(m, first, in);
}

/* Open every input once to learn its event count and the largest scaled
 * range of each parameter, and to check that it can join the first. The
 * first input (keywords) and stdin (cannot be reopened) stay open; the
 * others are closed again so that many inputs do not exhaust file
 * descriptors. *ranges (np entries + 1) is allocated here. */
static int inspect_inputs(const struct cat_opts *o, struct cat_input *in, struct cat_merge *m,
                          int64_t *total, double **ranges)
{
    *total = 0;
    for (int i = 0; i < o->n_files; i++) {
        in[i].path = o->files[i];
        if (open_input(o, &in[i])) return FCS_CLI_EXIT_INPUT;
        in[i].n_events = fcs_n_events(in[i].r);
        if (i == 0 && !(*ranges = calloc(fcs_n_params(in[0].r) + 1, sizeof **ranges)))
            return fcs_cli_error(NULL, "out of memory");
        if (i > 0 && (same_params(&in[0], &in[i]) || same_meaning(m, &in[0], &in[i])))
            return FCS_CLI_EXIT_INPUT;
        for (size_t j = 0; j < fcs_n_params(in[i].r); j++) {
            double r = fcs_cli_scaled_range(fcs_param_info(in[i].r, j));
            if (r > (*ranges)[j]) (*ranges)[j] = r;
        }
        if (INT64_MAX - *total < in[i].n_events)
            return fcs_cli_error(in[i].path, "event count %" PRId64 " out of range", in[i].n_events);
        *total += in[i].n_events;
        if (i > 0 && strcmp(in[i].path, "-") != 0) {
            fcs_close(in[i].r);
            in[i].r = NULL;
        }
    }
    return 0;
}

/* The second opening must show the file as the first did. */
static int reopen_input(const struct cat_opts *o, struct cat_input *first, struct cat_input *in)
{
    int64_t expected = in->n_events;
    if (open_input(o, in)) return FCS_CLI_EXIT_INPUT;
    if (fcs_n_events(in->r) != expected)
        return fcs_cli_error(in->path, "changed while being read ($TOT %" PRId64 ", was %" PRId64 ")",
                             fcs_n_events(in->r), expected);
    return same_params(first, in);
}

static void close_inputs(struct cat_input *in, int n)
{
    for (int i = 0; i < n; i++) fcs_close(in[i].r);
}

/* ---- which events ------------------------------------------------------------ */

struct selector {
    int64_t limit;  /* events considered: min(total, --head) */
    int64_t want;   /* events written */
    int64_t seen;
    int64_t picked;
    int sample;
    fcs_cli_rng rng;
};

static void selector_init(struct selector *s, const struct cat_opts *o, int64_t total)
{
    memset(s, 0, sizeof *s);
    s->limit = (o->head >= 0 && o->head < total) ? o->head : total;
    s->sample = o->subsample >= 0;
    s->want = (s->sample && o->subsample < s->limit) ? o->subsample : s->limit;
    fcs_cli_rng_seed(&s->rng, o->seed);
}

/* Algorithm S: keep the next event with probability need/remaining, which
 * picks every subset of size `want` with the same probability. */
static int keep_next(struct selector *s)
{
    int keep = 1;
    if (s->sample) {
        uint64_t remaining = (uint64_t)(s->limit - s->seen);
        keep = fcs_cli_rng_below(&s->rng, remaining) < (uint64_t)(s->want - s->picked);
    }
    s->seen++;
    s->picked += keep;
    return keep;
}

static int selector_done(const struct selector *s)
{
    return s->seen >= s->limit || s->picked >= s->want;
}

/* ---- the output -------------------------------------------------------------- */

static int set_ranges(fcs_writer *w, const struct cat_input *in, int n_in, const double *ranges,
                      const fcs_cli_names *nm)
{
    for (size_t j = 0; j < fcs_n_params(in[0].r); j++) {
        const fcs_param *p = fcs_param_info(in[0].r, j);
        if (!(ranges[j] > 0) || !isfinite(ranges[j])) continue; /* the writer's own fallback */
        int rc = fcs_writer_set_param(w, j, nm->name[j], p->label, ranges[j]);
        if (rc) return rc;
    }
    if (n_in > 1) return fcs_writer_set_param(w, fcs_n_params(in[0].r), "SourceFile", NULL, n_in + 1);
    return FCS_OK;
}

static char *join_sources(const struct cat_input *in, int n)
{
    size_t len = 1;
    for (int i = 0; i < n; i++) len += strlen(fcs_cli_input_name(in[i].path)) + 1;
    char *s = malloc(len);
    if (!s) return NULL;
    s[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (i) strcat(s, ",");
        strcat(s, fcs_cli_input_name(in[i].path));
    }
    return s;
}

static int set_int_keyword(fcs_writer *w, const char *name, uint64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    return fcs_writer_set_keyword(w, name, buf);
}

/* What this run did, for the next tool and the final summary. */
static int record_run(fcs_writer *w, const struct cat_opts *o, const struct cat_input *in)
{
    char *sources = join_sources(in, o->n_files);
    int rc = sources ? fcs_writer_set_keyword(w, "LIBFCS_SOURCES", sources) : FCS_ENOMEM;
    free(sources);
    if (rc == FCS_OK && o->io.dataset > 0)
        rc = set_int_keyword(w, "LIBFCS_DATASET", (uint64_t)o->io.dataset);
    if (rc == FCS_OK && o->head >= 0) rc = set_int_keyword(w, "LIBFCS_HEAD", (uint64_t)o->head);
    if (rc == FCS_OK && o->subsample >= 0) {
        rc = set_int_keyword(w, "LIBFCS_SUBSAMPLE", (uint64_t)o->subsample);
        if (rc == FCS_OK) rc = set_int_keyword(w, "LIBFCS_SEED", o->seed);
    }
    if (rc == FCS_OK) rc = fcs_cli_provenance(w, o->io.no_version);
    return rc;
}

static void append(char **p, const char *b, const char *e)
{
    memcpy(*p, b, (size_t)(e - b));
    *p += e - b;
}

/* LIBFCS_COMP of inputs compensated per input: records that differ keep
 * their kind and channels, "source=per-input" in place of the matrix. */
static char *mixed_comp(const char *v, const struct cat_merge *m)
{
    char *out = malloc(strlen(v) + 20 * m->n_recs + 1), *p = out;
    if (!out) return NULL;
    for (size_t k = 0; k < m->n_recs; k++) {
        const char *b, *e, *fb, *fe;
        record_span(v, k, &b, &e);
        if (k) *p++ = '|';
        if (!m->rec_differs[k]) {
            append(&p, b, e);
            continue;
        }
        append(&p, b, next_sep(b, e, ';'));
        static const char src[] = ";source=per-input";
        append(&p, src, src + sizeof src - 1);
        for (size_t j = 0; j < N_SHAPE_KEYS; j++)
            if (field_span(b, e, COMP_SHAPE_KEYS[j], &fb, &fe)) {
                *p++ = ';';
                append(&p, fb, fe);
            }
    }
    *p = '\0';
    return out;
}

static int merge_keywords(fcs_writer *w, const fcs_reader *first, const struct cat_merge *m)
{
    int rc = FCS_OK;
    if (m->comp_mixed) {
        char *v = mixed_comp(comp_of(first), m);
        rc = v ? fcs_writer_set_keyword(w, "LIBFCS_COMP", v) : FCS_ENOMEM;
        free(v);
        fcs_cli_warn(NULL, "comp-per-input: the inputs were compensated with different matrices; "
                     "LIBFCS_COMP records source=per-input (no --decompensate possible)");
    }
    if (rc == FCS_OK && m->drop_spill) {
        rc = fcs_cli_drop_spillover(w, first);
        fcs_cli_warn(NULL, "the compensated inputs carry different spillover keywords: the "
                     "output has none");
    }
    return rc;
}

struct cat_run {
    const struct cat_opts *o;
    struct cat_input *in;
    struct cat_merge merge;
    fcs_cli_names names;
    fcs_writer *w;
    struct selector sel;
    size_t np, np_out, chunk;
    float *ibuf, *obuf;
    float source; /* SourceFile value of the input being streamed */
    fcs_cli_progress prog;
    int quiet_end; /* downstream closed the pipe */
};

/* Writer with keywords copied from the first input, ready for n_out events. */
static int setup_writer(struct cat_run *c, const double *ranges, int64_t n_out)
{
    const struct cat_opts *o = c->o;
    const struct cat_input *in = c->in;
    size_t np = c->np, np_out = c->np_out;
    if (fcs_cli_names_init(&c->names, in[0].r)) return fcs_cli_error(NULL, "out of memory");
    if (fcs_cli_writer_open(&c->w, o->io.output, np_out)) return FCS_CLI_EXIT_INPUT;
    int *map = malloc(np_out * sizeof *map);
    int rc = map ? FCS_OK : FCS_ENOMEM;
    for (size_t j = 0; map && j < np_out; j++) map[j] = j < np ? (int)j : -1;
    if (rc == FCS_OK) rc = fcs_writer_copy_keywords(c->w, in[0].r, map);
    if (rc == FCS_OK) rc = set_ranges(c->w, in, o->n_files, ranges, &c->names);
    if (rc == FCS_OK) rc = fcs_cli_writer_set_names(c->w, &c->names, map, np_out);
    free(map);
    if (rc == FCS_OK) rc = merge_keywords(c->w, in[0].r, &c->merge);
    if (rc == FCS_OK) rc = record_run(c->w, o, in);
    if (rc == FCS_OK) rc = fcs_writer_begin(c->w, n_out);
    if (rc != FCS_OK) {
        rc = fcs_cli_writer_failed(c->w, rc, o->io.output, in[0].path, &c->quiet_end);
        fcs_writer_abort(c->w);
        c->w = NULL;
    }
    return rc;
}

/* ---- streaming ---------------------------------------------------------------- */

/* Keep the selected events of a chunk (adding SourceFile) in obuf; a plain
 * cat of one input needs no copy: the chunk goes out as read. */
static const float *cat_chunk(fcs_cli_stream *s, float *ev, size_t n, size_t *n_out)
{
    struct cat_run *c = s->ctx;
    if (!c->sel.sample && c->np_out == c->np) {
        c->sel.seen += (int64_t)n;
        c->sel.picked += (int64_t)n;
        *n_out = n;
        return ev;
    }
    size_t kept = 0;
    for (size_t i = 0; i < n && !selector_done(&c->sel); i++) {
        if (!keep_next(&c->sel)) continue;
        float *dst = c->obuf + kept * c->np_out;
        memcpy(dst, ev + i * c->np, c->np * sizeof *dst);
        if (c->np_out > c->np) dst[c->np] = c->source;
        kept++;
    }
    if (selector_done(&c->sel)) s->stop = 1;
    *n_out = kept;
    return c->obuf;
}

static int stream_input(struct cat_run *c, int idx)
{
    struct cat_input *in = &c->in[idx];
    fcs_cli_stream s;
    fcs_cli_stream_init(&s, in->r, in->path, c->w, c->o->io.output, c->ibuf, c->chunk);
    /* --head: no more than the events still wanted (for the check of a short input too) */
    if (s.limit > c->sel.limit - c->sel.seen) s.limit = c->sel.limit - c->sel.seen;
    s.fn = cat_chunk;
    s.ctx = c;
    s.prog = &c->prog;
    s.prog_base = c->sel.seen;
    c->source = (float)(idx + 1);
    int rc = fcs_cli_stream_run(&s);
    c->quiet_end = s.quiet_end;
    return rc;
}

static int stream_all(struct cat_run *c)
{
    for (int i = 0; i < c->o->n_files && !selector_done(&c->sel) && !c->quiet_end; i++) {
        if (!c->in[i].r && reopen_input(c->o, &c->in[0], &c->in[i])) return FCS_CLI_EXIT_INPUT;
        int rc = stream_input(c, i);
        if (rc == 0) fcs_cli_report_warnings_names(c->in[i].path, c->in[i].r, &c->names);
        if (i > 0) { /* done with it */
            fcs_close(c->in[i].r);
            c->in[i].r = NULL;
        }
        if (rc) return rc;
    }
    return 0;
}

static int cat_stream(struct cat_run *c, int64_t total, const double *ranges)
{
    selector_init(&c->sel, c->o, total);
    c->np = fcs_n_params(c->in[0].r);
    c->np_out = c->np + (c->o->n_files > 1);
    c->chunk = fcs_cli_chunk_events(c->np_out);
    c->ibuf = malloc(c->chunk * (c->np ? c->np : 1) * sizeof *c->ibuf);
    c->obuf = malloc(c->chunk * (c->np_out ? c->np_out : 1) * sizeof *c->obuf);
    if (!c->ibuf || !c->obuf) return fcs_cli_error(c->in[0].path, "out of memory");
    int rc = setup_writer(c, ranges, c->sel.want);
    if (rc || c->quiet_end) return rc;
    fcs_cli_progress_start(&c->prog, c->sel.limit);
    rc = stream_all(c);
    fcs_cli_progress_end(&c->prog);
    return fcs_cli_finish_writer(c->w, c->o->io.output, rc, c->quiet_end);
}

/* Refuse an -o that is one of the inputs before reading anything. */
static int check_output(const struct cat_opts *o)
{
    for (int i = 0; i < o->n_files; i++) fcs_cli_note_input(o->files[i]);
    return fcs_cli_check_output(o->io.output);
}

static int run(const struct cat_opts *o)
{
    int rc = fcs_cli_refuse_tty(o->io.output);
    if (!rc) rc = check_output(o);
    if (rc) return rc;
    struct cat_input *in = calloc((size_t)o->n_files, sizeof *in);
    struct cat_run c;
    double *ranges = NULL;
    int64_t total = 0;
    memset(&c, 0, sizeof c);
    if (!in) return fcs_cli_error(NULL, "out of memory");
    rc = inspect_inputs(o, in, &c.merge, &total, &ranges);
    if (!rc) {
        c.o = o;
        c.in = in;
        rc = cat_stream(&c, total, ranges);
    }
    free(c.ibuf);
    free(c.obuf);
    free(c.merge.rec_differs);
    fcs_cli_names_free(&c.names);
    free(ranges);
    close_inputs(in, o->n_files);
    free(in);
    return rc;
}

int main(int argc, char **argv)
{
    struct cat_opts o;
    fcs_cli_init(&TOOL, argc, argv);
    int rc = parse(&o, argc, argv);
    if (rc != FCS_CLI_CONTINUE) return fcs_cli_finish(rc);
    return fcs_cli_finish(run(&o));
}
