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
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    "Several inputs need the same $PnN in the same order; a parameter SourceFile\n"
    "(1-based input number) is then added. Binary output is never sent to a terminal.\n"};

enum { OPT_HEAD = FCS_CLI_OPT_FIRST_TOOL, OPT_SUBSAMPLE, OPT_SEED };

#define CHUNK_VALUES (256 * 1024)
#define CHUNK_EVENTS_MAX 16384

struct cat_opts {
    int64_t dataset;
    int64_t head;      /* -1: all */
    int64_t subsample; /* -1: none */
    uint64_t seed;
    int seed_given;
    int strict;
    int no_version;
    const char *output;
    char **files;
    int n_files;
};

static char *stdin_only[] = {"-", NULL};

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
    static const struct option longopts[] = {
        FCS_CLI_LONGOPTS_COMMON,
        {"dataset", required_argument, NULL, 'd'},
        {"head", required_argument, NULL, OPT_HEAD},
        {"subsample", required_argument, NULL, OPT_SUBSAMPLE},
        {"seed", required_argument, NULL, OPT_SEED},
        {"strict", no_argument, NULL, FCS_CLI_OPT_STRICT},
        {"no-version", no_argument, NULL, FCS_CLI_OPT_NO_VERSION},
        {"output", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0}};
    int c, rc = 0;
    memset(o, 0, sizeof *o);
    o->head = o->subsample = -1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":hd:o:", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': rc = fcs_cli_parse_int(optarg, "-d", 0, INT32_MAX, &o->dataset); break;
        case OPT_HEAD: rc = fcs_cli_parse_int(optarg, "--head", 0, INT64_MAX, &o->head); break;
        case OPT_SUBSAMPLE:
            rc = fcs_cli_parse_int(optarg, "--subsample", 0, INT64_MAX, &o->subsample);
            break;
        case OPT_SEED:
            rc = fcs_cli_parse_u64(optarg, "--seed", &o->seed);
            o->seed_given = 1;
            break;
        case FCS_CLI_OPT_STRICT: o->strict = 1; break;
        case FCS_CLI_OPT_NO_VERSION: o->no_version = 1; break;
        case 'o': o->output = optarg; break;
        default: return fcs_cli_common_option(c);
        }
        if (rc) return rc;
    }
    o->files = argv + optind;
    o->n_files = argc - optind;
    if (o->n_files == 0) {
        if (isatty(STDIN_FILENO)) return fcs_cli_usage_error("no input file");
        o->files = stdin_only;
        o->n_files = 1;
    }
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
    fcs_read_opts ro;
    fcs_error err;
    fcs_read_opts_init(&ro);
    ro.strict = o->strict;
    if (fcs_open(&in->r, in->path, &ro, &err) != FCS_OK) return fcs_cli_error_lib(in->path, err.msg);
    if ((size_t)o->dataset >= fcs_n_datasets(in->r)) {
        fcs_cli_error(in->path, "no data set %" PRId64 " (the file has %zu, numbered from 0)",
                      o->dataset, fcs_n_datasets(in->r));
    } else if (fcs_select_dataset(in->r, (size_t)o->dataset) != FCS_OK) {
        fcs_cli_error_lib(in->path, fcs_errmsg(in->r));
    } else {
        return 0;
    }
    fcs_close(in->r);
    in->r = NULL;
    return FCS_CLI_EXIT_INPUT;
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

/* The largest channel value a parameter can take, by the same rule the
 * reader scales with: the written $PnR must cover the values, not the
 * input's raw channel range. */
static double scaled_range(const fcs_param *p)
{
    double r = p->range;
    if (p->datatype == 'I' && p->log_decades > 0)
        return pow(10.0, p->log_decades) * (p->log_offset > 0 ? p->log_offset : 1.0);
    if (p->gain != 0 && p->gain != 1 && r > 0) return r / p->gain;
    return r;
}

/* Open every input once to learn its event count and the largest scaled
 * range of each parameter, and to check its parameters. The first input
 * (keywords) and stdin (cannot be reopened) stay open; the others are
 * closed again so that many inputs do not exhaust file descriptors.
 * *ranges (np entries + 1) is allocated here. */
static int inspect_inputs(const struct cat_opts *o, struct cat_input *in, int64_t *total,
                          double **ranges)
{
    *total = 0;
    for (int i = 0; i < o->n_files; i++) {
        in[i].path = o->files[i];
        if (open_input(o, &in[i])) return FCS_CLI_EXIT_INPUT;
        in[i].n_events = fcs_n_events(in[i].r);
        if (i == 0 && !(*ranges = calloc(fcs_n_params(in[0].r) + 1, sizeof **ranges)))
            return fcs_cli_error(NULL, "out of memory");
        if (i > 0 && same_params(&in[0], &in[i])) return FCS_CLI_EXIT_INPUT;
        for (size_t j = 0; j < fcs_n_params(in[i].r); j++) {
            double r = scaled_range(fcs_param_info(in[i].r, j));
            if (r > (*ranges)[j]) (*ranges)[j] = r;
        }
        if (in[i].n_events < 0 || INT64_MAX - *total < in[i].n_events)
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

static int set_ranges(fcs_writer *w, const struct cat_input *in, int n_in, const double *ranges)
{
    char buf[32];
    for (size_t j = 0; j < fcs_n_params(in[0].r); j++) {
        const fcs_param *p = fcs_param_info(in[0].r, j);
        if (!(ranges[j] > 0) || !isfinite(ranges[j])) continue; /* the writer's own fallback */
        int rc = fcs_writer_set_param(w, j, param_name(p, j, buf, sizeof buf), p->label, ranges[j]);
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
    if (rc == FCS_OK && o->dataset > 0) rc = set_int_keyword(w, "LIBFCS_DATASET", (uint64_t)o->dataset);
    if (rc == FCS_OK && o->head >= 0) rc = set_int_keyword(w, "LIBFCS_HEAD", (uint64_t)o->head);
    if (rc == FCS_OK && o->subsample >= 0) {
        rc = set_int_keyword(w, "LIBFCS_SUBSAMPLE", (uint64_t)o->subsample);
        if (rc == FCS_OK) rc = set_int_keyword(w, "LIBFCS_SEED", o->seed);
    }
    if (rc == FCS_OK) rc = fcs_cli_provenance(w, o->no_version);
    return rc;
}

/* Writer with keywords copied from the first input, ready for n_out events. */
static int setup_writer(fcs_writer **w, const struct cat_opts *o, const struct cat_input *in,
                        const double *ranges, int64_t n_out)
{
    fcs_write_opts wo;
    fcs_error err;
    size_t np = fcs_n_params(in[0].r), np_out = np + (o->n_files > 1);
    const char *out_name = o->output ? o->output : "-";
    fcs_write_opts_init(&wo);
    fcs_cli_guard_output(o->output);
    if (fcs_writer_open(w, out_name, np_out, &wo, &err) != FCS_OK)
        return fcs_cli_error_lib(out_name, err.msg);
    int *map = malloc(np_out * sizeof *map);
    int rc = map ? FCS_OK : FCS_ENOMEM;
    for (size_t j = 0; map && j < np_out; j++) map[j] = j < np ? (int)j : -1;
    if (rc == FCS_OK) rc = fcs_writer_copy_keywords(*w, in[0].r, map);
    free(map);
    if (rc == FCS_OK) rc = set_ranges(*w, in, o->n_files, ranges);
    if (rc == FCS_OK) rc = record_run(*w, o, in);
    if (rc == FCS_OK) rc = fcs_writer_begin(*w, n_out);
    if (rc != FCS_OK) {
        fcs_cli_error_lib(o->output ? o->output : "<stdout>",
                          rc == FCS_ENOMEM ? "out of memory" : fcs_writer_errmsg(*w));
        fcs_writer_abort(*w);
        *w = NULL;
        return FCS_CLI_EXIT_INPUT;
    }
    return 0;
}

/* ---- streaming ---------------------------------------------------------------- */

struct cat_run {
    const struct cat_opts *o;
    struct cat_input *in;
    fcs_writer *w;
    struct selector sel;
    size_t np, np_out, chunk;
    float *ibuf, *obuf;
    fcs_cli_progress prog;
    int quiet_end; /* downstream closed the pipe */
};

/* A failed write: quietly the end when the reader of our stdout left. */
static int write_failed(struct cat_run *c)
{
    if (!c->o->output && (errno == EPIPE || fcs_cli_broken_pipe())) {
        fcs_cli_set_broken_pipe();
        c->quiet_end = 1;
        return 0;
    }
    return fcs_cli_error_lib(c->o->output ? c->o->output : "<stdout>", fcs_writer_errmsg(c->w));
}

/* Keep the selected events of a chunk (adding SourceFile) in obuf. */
static size_t select_chunk(struct cat_run *c, size_t n, float source)
{
    size_t kept = 0;
    for (size_t i = 0; i < n && !selector_done(&c->sel); i++) {
        if (!keep_next(&c->sel)) continue;
        float *dst = c->obuf + kept * c->np_out;
        memcpy(dst, c->ibuf + i * c->np, c->np * sizeof *dst);
        if (c->np_out > c->np) dst[c->np] = source;
        kept++;
    }
    return kept;
}

static int stream_input(struct cat_run *c, int idx)
{
    struct cat_input *in = &c->in[idx];
    int64_t read_here = 0;
    /* Plain cat of one input needs no copy: the chunk goes out as read. */
    int direct = !c->sel.sample && c->np_out == c->np;
    while (!selector_done(&c->sel)) {
        size_t want = c->chunk;
        if (!c->sel.sample && (int64_t)want > c->sel.limit - c->sel.seen)
            want = (size_t)(c->sel.limit - c->sel.seen);
        int64_t n = fcs_read_events_f32(in->r, c->ibuf, want, FCS_VALUES_SCALED);
        if (n < 0) return fcs_cli_error_lib(in->path, fcs_errmsg(in->r));
        if (n == 0) break;
        read_here += n;
        size_t kept;
        if (direct) {
            c->sel.seen += n;
            c->sel.picked += n;
            kept = (size_t)n;
        } else {
            kept = select_chunk(c, (size_t)n, (float)(idx + 1));
        }
        if (kept && fcs_writer_write_f32(c->w, direct ? c->ibuf : c->obuf, kept) != FCS_OK)
            return write_failed(c);
        fcs_cli_progress_update(&c->prog, c->sel.seen);
    }
    if (!selector_done(&c->sel) && read_here < in->n_events)
        return fcs_cli_error(in->path, "DATA ends after %" PRId64 " of %" PRId64 " events",
                             read_here, in->n_events);
    return 0;
}

static int stream_all(struct cat_run *c)
{
    for (int i = 0; i < c->o->n_files && !selector_done(&c->sel) && !c->quiet_end; i++) {
        if (!c->in[i].r && reopen_input(c->o, &c->in[0], &c->in[i])) return FCS_CLI_EXIT_INPUT;
        int rc = stream_input(c, i);
        if (rc == 0) fcs_cli_report_warnings(c->in[i].path, c->in[i].r);
        if (i > 0) { /* done with it */
            fcs_close(c->in[i].r);
            c->in[i].r = NULL;
        }
        if (rc) return rc;
    }
    return 0;
}

static int finish_writer(struct cat_run *c)
{
    fcs_error err;
    if (c->quiet_end) {
        fcs_writer_abort(c->w);
        return 0;
    }
    int rc = fcs_writer_close(c->w, &err);
    if (rc == FCS_OK) return 0;
    if (!c->o->output && (errno == EPIPE || fcs_cli_broken_pipe())) {
        fcs_cli_set_broken_pipe();
        return 0;
    }
    return fcs_cli_error_lib(c->o->output ? c->o->output : "<stdout>", err.msg);
}

static int cat_stream(struct cat_run *c, int64_t total, const double *ranges)
{
    selector_init(&c->sel, c->o, total);
    c->np = fcs_n_params(c->in[0].r);
    c->np_out = c->np + (c->o->n_files > 1);
    c->chunk = CHUNK_VALUES / (c->np_out ? c->np_out : 1);
    if (c->chunk > CHUNK_EVENTS_MAX) c->chunk = CHUNK_EVENTS_MAX;
    if (c->chunk == 0) c->chunk = 1;
    c->ibuf = malloc(c->chunk * (c->np ? c->np : 1) * sizeof *c->ibuf);
    c->obuf = malloc(c->chunk * (c->np_out ? c->np_out : 1) * sizeof *c->obuf);
    if (!c->ibuf || !c->obuf) return fcs_cli_error(c->in[0].path, "out of memory");
    if (setup_writer(&c->w, c->o, c->in, ranges, c->sel.want)) return FCS_CLI_EXIT_INPUT;
    fcs_cli_progress_start(&c->prog, c->sel.limit);
    int rc = stream_all(c);
    fcs_cli_progress_end(&c->prog);
    if (rc) {
        fcs_writer_abort(c->w); /* no partial -o FILE; an existing one is untouched */
        return rc;
    }
    return finish_writer(c);
}

static int run(const struct cat_opts *o)
{
    int rc = fcs_cli_refuse_tty(o->output);
    if (rc) return rc;
    struct cat_input *in = calloc((size_t)o->n_files, sizeof *in);
    struct cat_run c;
    double *ranges = NULL;
    int64_t total = 0;
    memset(&c, 0, sizeof c);
    if (!in) return fcs_cli_error(NULL, "out of memory");
    rc = inspect_inputs(o, in, &total, &ranges);
    if (!rc) {
        c.o = o;
        c.in = in;
        rc = cat_stream(&c, total, ranges);
    }
    free(c.ibuf);
    free(c.obuf);
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
