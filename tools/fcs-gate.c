/*
 * fcs-gate — gate an FCS stream with a gating strategy (the libfcs gate
 * file or Gating-ML 2.0, fcs/gatefile.h), chunk by chunk in constant
 * memory. Modes:
 *   (default)      population membership added to the stream as POP:<path>
 *                  parameters and LIBFCS_POP* keywords (docs/pipe-format.md),
 *                  so that fcs-stats needs nothing but the stream;
 *   --keep POP     only the events of one population (the count is known
 *                  first: a file is gated twice, a pipe is buffered by the
 *                  writer, n_events = -1);
 *   --list         the population tree (with counts when a FILE is given);
 *   --convert FMT  the strategy converted to text or Gating-ML.
 * A stream that fcs-comp / fcs-xform already compensated or transformed is
 * gated on its values as they are when they are exactly what the strategy
 * asks for, and refused otherwise (fcs_strategy_for_stream): never twice.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"
#include "fcs/gatefile.h"

static const fcs_cli_tool TOOL = {
    "fcs-gate",
    "-g STRATEGY [--keep POPULATION | --list] [-d N] [--strict] [--no-version] [-o FILE] "
    "FILE|-\n       fcs-gate --convert text|gatingml -g STRATEGY [-o FILE]",
    "Gate an FCS file with a gating strategy (libfcs gate file or Gating-ML 2.0).\n"
    "  -g, --gates FILE      the strategy, text or Gating-ML (detected); '-' = stdin\n"
    "      --keep POP        write only the events of population POP (id or /path)\n"
    "      --list            print the population tree; with FILE, event counts too\n"
    "      --convert FMT     write the strategy as FMT (text or gatingml) and stop\n"
    "  -d, --dataset N       use data set N (0-based) [0]\n"
    "      --strict          refuse inputs that need a repair (exit 1)\n"
    "      --no-version      omit the LIBFCS_TOOL and LIBFCS_COMMAND keywords\n"
    "  -o, --output FILE     write FILE (via a temporary file, renamed when complete)\n"
    "  -h, --help            this help\n"
    "      --version         versions of the tool and its libraries\n"
    "Without --keep/--list the stream gets one parameter POP:<path> per population\n"
    "(1 inside, 0 outside) and the keywords LIBFCS_GATING and LIBFCS_POP*; see\n"
    "fcs-gate(1) and docs/gate-file.md.\n"};

enum { OPT_KEEP = FCS_CLI_OPT_FIRST_TOOL, OPT_LIST, OPT_CONVERT };

#define CHUNK_VALUES (256 * 1024)
#define CHUNK_EVENTS_MAX 16384

struct gate_opts {
    const char *gates, *keep, *output, *input;
    fcs_gatefile_format convert; /* 0: no conversion */
    int list, strict, no_version;
    int64_t dataset;
};

static int check_args(const struct gate_opts *o, int n_files)
{
    if (!o->gates) return fcs_cli_usage_error("no strategy: give it with -g FILE");
    if (o->convert && (o->keep || o->list || n_files))
        return fcs_cli_usage_error("--convert takes only -g and -o");
    if (o->keep && o->list) return fcs_cli_usage_error("--keep cannot go with --list");
    if (n_files > 1) return fcs_cli_usage_error("one input file at a time");
    if (o->input && strcmp(o->gates, "-") == 0 && strcmp(o->input, "-") == 0)
        return fcs_cli_usage_error("standard input ('-') can be read only once");
    return FCS_CLI_CONTINUE;
}

static int parse_format(const char *arg, fcs_gatefile_format *f)
{
    if (strcmp(arg, "text") == 0)
        *f = FCS_GATEFILE_TEXT;
    else if (strcmp(arg, "gatingml") == 0 || strcmp(arg, "gating-ml") == 0)
        *f = FCS_GATEFILE_GATINGML;
    else
        return fcs_cli_usage_error("--convert: '%s' is neither 'text' nor 'gatingml'", arg);
    return 0;
}

static int parse(struct gate_opts *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        FCS_CLI_LONGOPTS_COMMON,
        {"gates", required_argument, NULL, 'g'},
        {"keep", required_argument, NULL, OPT_KEEP},
        {"list", no_argument, NULL, OPT_LIST},
        {"convert", required_argument, NULL, OPT_CONVERT},
        {"dataset", required_argument, NULL, 'd'},
        {"strict", no_argument, NULL, FCS_CLI_OPT_STRICT},
        {"no-version", no_argument, NULL, FCS_CLI_OPT_NO_VERSION},
        {"output", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0}};
    int c, rc = 0;
    memset(o, 0, sizeof *o);
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":hg:d:o:", longopts, NULL)) != -1) {
        switch (c) {
        case 'g': o->gates = optarg; break;
        case OPT_KEEP: o->keep = optarg; break;
        case OPT_LIST: o->list = 1; break;
        case OPT_CONVERT: rc = parse_format(optarg, &o->convert); break;
        case 'd': rc = fcs_cli_parse_int(optarg, "-d", 0, INT32_MAX, &o->dataset); break;
        case FCS_CLI_OPT_STRICT: o->strict = 1; break;
        case FCS_CLI_OPT_NO_VERSION: o->no_version = 1; break;
        case 'o': o->output = optarg; break;
        default: return fcs_cli_common_option(c);
        }
        if (rc) return rc;
    }
    int n_files = argc - optind;
    if (n_files >= 1) o->input = argv[optind];
    rc = check_args(o, n_files);
    if (rc != FCS_CLI_CONTINUE) return rc;
    /* events from stdin when no FILE is named (but --list without FILE
     * lists the tree only, and --convert reads no events) */
    if (!o->input && !o->list && !o->convert) {
        if (isatty(STDIN_FILENO)) return fcs_cli_usage_error("no input file");
        o->input = "-";
        if (strcmp(o->gates, "-") == 0)
            return fcs_cli_usage_error("standard input ('-') can be read only once");
    }
    return FCS_CLI_CONTINUE;
}

/* A library message that names its own place ("gates.txt:12:3: ...") is
 * shown as it is; others get the file name in front. */
static int lib_error(const char *file, const char *msg)
{
    const char *shown = fcs_cli_input_name(file);
    size_t n = strlen(shown);
    if (strncmp(msg, shown, n) == 0 && msg[n] == ':' && msg[n + 1] >= '0' && msg[n + 1] <= '9')
        return fcs_cli_error(NULL, "%s", msg);
    return fcs_cli_error_lib(file, msg);
}

/* ---- the strategy ------------------------------------------------------------------ */

struct strategy_src {
    fcs_strategy *s;
    char sha[65];
    fcs_gatefile_format format;
    char *text; /* the strategy's bytes as read: LIBFCS_GATING_TEXT */
};

/* Longest population path the stream carries (LIBFCS_POPi_PATH, POP:<path>). */
#define POP_PATH_MAX 4096

/* Population ids travel in paths: '/' would make them ambiguous, and a
 * path must fit the stream's keywords. An empty strategy would "gate"
 * silently into nothing (a truncated download, the wrong file). */
static int check_ids(const struct gate_opts *o, const fcs_strategy *s)
{
    char path[POP_PATH_MAX];
    if (fcs_strategy_n_populations(s) == 0)
        return fcs_cli_error(o->gates, "no gates in the strategy");
    for (size_t p = 0; p < fcs_strategy_n_populations(s); p++) {
        const char *id = fcs_strategy_population_id(s, p);
        if (strchr(id, '/'))
            return fcs_cli_error(o->gates,
                                 "population id '%s' contains '/', which separates the "
                                 "parts of population paths",
                                 id);
        if (fcs_strategy_population_path(s, p, path, sizeof path) < 0)
            return fcs_cli_error(o->gates,
                                 "population path of '%.64s%s' is longer than %d bytes (gate "
                                 "ids too long or gates nested too deep)",
                                 id, strlen(id) > 64 ? "..." : "", POP_PATH_MAX - 1);
    }
    return 0;
}

/* Read the strategy once: its bytes give the SHA-256 for LIBFCS_GATING. */
static int load_strategy(const struct gate_opts *o, struct strategy_src *src)
{
    char *text = NULL;
    size_t len = 0;
    fcs_error err;
    /* noted as an input: -o cannot replace the strategy */
    if (fcs_cli_read_file(o->gates, FCS_GATEFILE_MAX, &text, &len)) return FCS_CLI_EXIT_INPUT;
    src->text = text;
    fcs_sha256 *h = fcs_sha256_new();
    if (!h) return fcs_cli_error(NULL, "out of memory");
    fcs_sha256_update(h, text, len);
    fcs_sha256_final(h, src->sha);
    fcs_sha256_free(h);
    src->format = fcs_gatefile_detect(text, len);
    int rc = fcs_gatefile_read_mem(&src->s, text, len, fcs_cli_input_name(o->gates),
                                   FCS_GATEFILE_AUTO, &err);
    if (rc != FCS_OK) return lib_error(o->gates, err.msg);
    return check_ids(o, src->s);
}

/* ---- the events, gated chunk by chunk --------------------------------------------------- */

struct gated {
    fcs_reader *r;
    fcs_strategy *adapted; /* the strategy as it applies to this stream */
    fcs_gating *g;
    size_t np, npop, chunk;
    int64_t n_events;
    double *cbuf; /* np columns of chunk values */
    const double **cols;
    uint8_t *mbuf; /* npop membership columns */
    uint8_t **mem;
};

static void gated_free(struct gated *x)
{
    fcs_gating_free(x->g);
    fcs_strategy_free(x->adapted);
    free(x->cbuf);
    free(x->cols);
    free(x->mbuf);
    free(x->mem);
    fcs_close(x->r);
}

static int open_input(const struct gate_opts *o, struct gated *x)
{
    fcs_read_opts ro;
    fcs_error err;
    fcs_read_opts_init(&ro);
    ro.strict = o->strict;
    if (fcs_open(&x->r, o->input, &ro, &err) != FCS_OK) return fcs_cli_error_lib(o->input, err.msg);
    if ((size_t)o->dataset >= fcs_n_datasets(x->r))
        return fcs_cli_error(o->input,
                             "no data set %" PRId64 " (the file has %zu, numbered from 0)",
                             o->dataset, fcs_n_datasets(x->r));
    if (fcs_select_dataset(x->r, (size_t)o->dataset) != FCS_OK)
        return fcs_cli_error_lib(o->input, fcs_errmsg(x->r));
    x->np = fcs_n_params(x->r);
    x->n_events = fcs_n_events(x->r);
    if (x->n_events < 0) return fcs_cli_error(o->input, "event count out of range");
    return 0;
}

static int alloc_chunks(struct gated *x)
{
    size_t w = x->np ? x->np : 1;
    x->chunk = CHUNK_VALUES / w;
    if (x->chunk > CHUNK_EVENTS_MAX) x->chunk = CHUNK_EVENTS_MAX;
    if (x->chunk == 0) x->chunk = 1;
    x->cbuf = malloc(x->chunk * w * sizeof *x->cbuf);
    x->cols = calloc(w, sizeof *x->cols);
    x->mbuf = malloc(x->chunk * (x->npop ? x->npop : 1));
    x->mem = calloc(x->npop ? x->npop : 1, sizeof *x->mem);
    if (!x->cbuf || !x->cols || !x->mbuf || !x->mem) return fcs_cli_error(NULL, "out of memory");
    for (size_t j = 0; j < x->np; j++) x->cols[j] = x->cbuf + j * x->chunk;
    for (size_t p = 0; p < x->npop; p++) x->mem[p] = x->mbuf + p * x->chunk;
    return 0;
}

/* Open the input and bind the strategy to its channels, as they are. */
static int bind(const struct gate_opts *o, const fcs_strategy *s, struct gated *x)
{
    fcs_error err;
    if (open_input(o, x)) return FCS_CLI_EXIT_INPUT;
    if (fcs_strategy_for_stream(s, x->r, &x->adapted, &err) != FCS_OK)
        return fcs_cli_error_lib(o->input, err.msg);
    const char **names = calloc(x->np ? x->np : 1, sizeof *names);
    if (!names) return fcs_cli_error(NULL, "out of memory");
    for (size_t j = 0; j < x->np; j++) names[j] = fcs_param_info(x->r, j)->name;
    int rc = fcs_gating_new(&x->g, x->adapted, names, x->np, fcs_spillover(x->r, NULL), &err);
    free(names);
    if (rc != FCS_OK) return fcs_cli_error_lib(o->input, err.msg);
    x->npop = fcs_strategy_n_populations(x->adapted);
    return alloc_chunks(x);
}

/* Next chunk of events (channel values, column by column) and their
 * membership. Returns the number of events, 0 at the end, < 0 on error
 * (reported). */
static int64_t next_chunk(const struct gate_opts *o, struct gated *x)
{
    int64_t n = fcs_read_events(x->r, x->cbuf, x->chunk, FCS_VALUES_SCALED | FCS_VALUES_COLUMNS);
    if (n < 0) {
        fcs_cli_error_lib(o->input, fcs_errmsg(x->r));
        return -1;
    }
    if (n > 0 && fcs_gating_run(x->g, x->cols, (size_t)n, x->mem) != FCS_OK) {
        fcs_cli_error(o->input, "gating failed: %s", fcs_gating_errmsg(x->g));
        return -1;
    }
    return n;
}

static int short_data(const struct gate_opts *o, int64_t done, int64_t expected)
{
    return fcs_cli_error(o->input, "DATA ends after %" PRId64 " of %" PRId64 " events", done,
                         expected);
}

/* ---- the output stream -------------------------------------------------------------------- */

static const char *param_name(const fcs_param *p, size_t i, char *buf, size_t n)
{
    if (p && p->name) return p->name;
    snprintf(buf, n, "P%zu", i + 1);
    return buf;
}

/* The largest channel value of a parameter, by the rule the reader scales
 * with (as fcs-cat writes it). */
static double scaled_range(const fcs_param *p)
{
    double r = p->range;
    if (p->datatype == 'I' && p->log_decades > 0)
        return pow(10.0, p->log_decades) * (p->log_offset > 0 ? p->log_offset : 1.0);
    if (p->gain != 0 && p->gain != 1 && r > 0) return r / p->gain;
    return r;
}

struct out {
    fcs_writer *w;
    size_t np_out;
    int *map;    /* output parameter -> input parameter, -1: population */
    float *obuf; /* chunk x np_out, event by event */
    fcs_cli_progress prog;
    int quiet_end;
};

static int is_pop_param(const fcs_param *p) { return p->name && strncmp(p->name, "POP:", 4) == 0; }

static int set_int_keyword(fcs_writer *w, const char *name, uint64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    return fcs_writer_set_keyword(w, name, buf);
}

/* "source=file:NAME;sha256=HEX;format=text" with ';' '|' '\' escaped. */
static int gating_keyword(fcs_writer *w, const struct gate_opts *o, const struct strategy_src *src)
{
    const char *name = fcs_cli_input_name(o->gates);
    size_t len = 2 * strlen(name) + 128;
    char *v = malloc(len), *p = v;
    if (!v) return FCS_ENOMEM;
    p += sprintf(p, "source=file:");
    for (const char *s = name; *s; s++) {
        if (*s == ';' || *s == '|' || *s == '\\') *p++ = '\\';
        *p++ = *s;
    }
    sprintf(p, ";sha256=%s;format=%s", src->sha,
            src->format == FCS_GATEFILE_GATINGML ? "gatingml" : "text");
    int rc = fcs_writer_set_keyword(w, "LIBFCS_GATING", v);
    free(v);
    /* the strategy itself travels with the stream, so fcs-stats can store it */
    if (rc == FCS_OK) rc = fcs_writer_set_keyword(w, "LIBFCS_GATING_TEXT", src->text);
    return rc;
}

/* Drop the LIBFCS_POP* keywords of an earlier gating: this run replaces them. */
static int drop_old_populations(fcs_writer *w, const fcs_reader *r)
{
    int rc = FCS_OK;
    for (size_t i = 0; rc == FCS_OK && i < fcs_n_keywords(r); i++) {
        const char *k = fcs_keyword_name(r, i);
        if (strncasecmp(k, "LIBFCS_POP", 10) == 0) {
            rc = fcs_writer_set_keyword(w, k, NULL);
            if (rc == FCS_ENOTFOUND) rc = FCS_OK;
        }
    }
    return rc;
}

/* Parameters of the annotated stream: the input's, without the POP:
 * parameters of an earlier gating, then one per population. */
static int annotate_layout(struct gated *x, struct out *u)
{
    size_t kept = 0;
    for (size_t j = 0; j < x->np; j++) kept += !is_pop_param(fcs_param_info(x->r, j));
    u->np_out = kept + x->npop;
    u->map = malloc((u->np_out ? u->np_out : 1) * sizeof *u->map);
    if (!u->map) return FCS_ENOMEM;
    size_t k = 0;
    for (size_t j = 0; j < x->np; j++)
        if (!is_pop_param(fcs_param_info(x->r, j))) u->map[k++] = (int)j;
    for (size_t p = 0; p < x->npop; p++) u->map[k++] = -1;
    return FCS_OK;
}

static int set_kept_params(struct gated *x, struct out *u)
{
    char buf[32];
    for (size_t k = 0; k < u->np_out; k++) {
        if (u->map[k] < 0) continue;
        const fcs_param *p = fcs_param_info(x->r, (size_t)u->map[k]);
        double r = scaled_range(p);
        if (!(r > 0) || !isfinite(r)) continue; /* the writer's own fallback */
        int rc = fcs_writer_set_param(u->w, k, param_name(p, (size_t)u->map[k], buf, sizeof buf),
                                      p->label, r);
        if (rc) return rc;
    }
    return FCS_OK;
}

/* POP:<path> parameters and LIBFCS_POPi_PATH / _PARENT / _PAR. */
static int set_population_params(struct gated *x, struct out *u)
{
    const fcs_strategy *s = x->adapted;
    size_t first = u->np_out - x->npop;
    int rc = set_int_keyword(u->w, "LIBFCS_POPULATIONS", x->npop);
    for (size_t p = 0; rc == FCS_OK && p < x->npop; p++) {
        char path[POP_PATH_MAX], parent[POP_PATH_MAX], name[POP_PATH_MAX + 8], key[64];
        long len = fcs_strategy_population_path(s, p, path, sizeof path);
        if (len < 0) return len == FCS_ERANGE ? FCS_ERANGE : (int)len;
        const char *slash = strrchr(path, '/');
        if (slash == path)
            snprintf(parent, sizeof parent, "/");
        else
            snprintf(parent, sizeof parent, "%.*s", (int)(slash - path), path);
        snprintf(name, sizeof name, "POP:%s", path);
        rc = fcs_writer_set_param(u->w, first + p, name, fcs_strategy_population_id(s, p), 2);
        snprintf(key, sizeof key, "LIBFCS_POP%zu_PATH", p + 1);
        if (rc == FCS_OK) rc = fcs_writer_set_keyword(u->w, key, path);
        snprintf(key, sizeof key, "LIBFCS_POP%zu_PARENT", p + 1);
        if (rc == FCS_OK) rc = fcs_writer_set_keyword(u->w, key, parent);
        snprintf(key, sizeof key, "LIBFCS_POP%zu_PAR", p + 1);
        if (rc == FCS_OK) rc = set_int_keyword(u->w, key, first + p + 1);
    }
    return rc;
}

static int open_writer(const struct gate_opts *o, struct gated *x, struct out *u)
{
    if (fcs_cli_writer_open(&u->w, o->output, u->np_out)) return FCS_CLI_EXIT_INPUT;
    int rc = fcs_writer_copy_keywords(u->w, x->r, u->map);
    if (rc == FCS_OK) rc = set_kept_params(x, u);
    return rc;
}

/* Writer with the keywords of this run; n_out events (-1: unknown). */
static int setup_writer(const struct gate_opts *o, struct gated *x, struct out *u,
                        const struct strategy_src *src, int64_t n_out, long keep_pop)
{
    int rc = open_writer(o, x, u);
    if (rc == FCS_CLI_EXIT_INPUT) return rc;
    if (rc == FCS_OK) rc = gating_keyword(u->w, o, src);
    if (rc == FCS_OK) rc = fcs_cli_source_keyword(u->w, x->r, o->input);
    if (rc == FCS_OK && !o->keep) rc = drop_old_populations(u->w, x->r);
    if (rc == FCS_OK && !o->keep) rc = set_population_params(x, u);
    if (rc == FCS_OK && keep_pop >= 0) {
        char path[POP_PATH_MAX];
        long len = fcs_strategy_population_path(x->adapted, (size_t)keep_pop, path, sizeof path);
        rc = len < 0 ? (int)len : fcs_writer_set_keyword(u->w, "LIBFCS_GATE_KEEP", path);
    }
    if (rc == FCS_OK) rc = fcs_cli_provenance(u->w, o->no_version);
    if (rc == FCS_OK) rc = fcs_writer_begin(u->w, n_out);
    if (rc != FCS_OK) {
        /* a reader of stdout that went away ends quietly (u->quiet_end) */
        rc = fcs_cli_writer_failed(u->w, rc, o->output, o->input, &u->quiet_end);
        fcs_writer_abort(u->w);
        u->w = NULL;
        return rc;
    }
    size_t w = u->np_out ? u->np_out : 1;
    if (!(u->obuf = malloc(x->chunk * w * sizeof *u->obuf)))
        return fcs_cli_error(NULL, "out of memory");
    return 0;
}

static int finish_writer(const struct gate_opts *o, struct out *u, int rc)
{
    fcs_writer *w = u->w;
    u->w = NULL;
    return fcs_cli_finish_writer(w, o->output, rc, u->quiet_end);
}

/* Events [0, n) of the chunk, event by event: kept parameters, then the
 * memberships; only members of keep_pop when >= 0. Returns events made. */
static size_t make_rows(const struct gated *x, const struct out *u, size_t n, long keep_pop)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (keep_pop >= 0 && !x->mem[keep_pop][i]) continue;
        float *dst = u->obuf + k++ * u->np_out;
        size_t pop = 0;
        for (size_t c = 0; c < u->np_out; c++) {
            int j = u->map[c];
            dst[c] = j >= 0 ? (float)x->cols[j][i] : (float)x->mem[pop++][i];
        }
    }
    return k;
}

static int stream_out(const struct gate_opts *o, struct gated *x, struct out *u, long keep_pop)
{
    int64_t done = 0;
    int rc = 0;
    fcs_cli_progress_start(&u->prog, x->n_events);
    while (!u->quiet_end) {
        int64_t n = next_chunk(o, x);
        if (n < 0) rc = FCS_CLI_EXIT_INPUT;
        if (n <= 0) break;
        size_t k = make_rows(x, u, (size_t)n, keep_pop);
        int wrc = k ? fcs_writer_write_f32(u->w, u->obuf, k) : FCS_OK;
        if (wrc != FCS_OK) {
            rc = fcs_cli_writer_failed(u->w, wrc, o->output, o->input, &u->quiet_end);
            break;
        }
        done += n;
        fcs_cli_progress_update(&u->prog, done);
    }
    fcs_cli_progress_end(&u->prog);
    if (!rc && !u->quiet_end && done < x->n_events) rc = short_data(o, done, x->n_events);
    return rc;
}

/* ---- modes ------------------------------------------------------------------------------ */

static int run_annotate(const struct gate_opts *o, const struct strategy_src *src)
{
    struct gated x;
    struct out u;
    memset(&x, 0, sizeof x);
    memset(&u, 0, sizeof u);
    int rc = bind(o, src->s, &x);
    if (!rc && annotate_layout(&x, &u)) rc = fcs_cli_error(NULL, "out of memory");
    if (!rc) rc = setup_writer(o, &x, &u, src, x.n_events, -1);
    if (!rc) rc = stream_out(o, &x, &u, -1);
    rc = finish_writer(o, &u, rc);
    free(u.map);
    free(u.obuf);
    gated_free(&x);
    return rc;
}

static long find_population(const fcs_strategy *s, const char *what)
{
    long p = fcs_strategy_population_index(s, what);
    if (p >= 0 || what[0] != '/') return p;
    char path[4096];
    for (size_t i = 0; i < fcs_strategy_n_populations(s); i++)
        if (fcs_strategy_population_path(s, i, path, sizeof path) >= 0 && strcmp(path, what) == 0)
            return (long)i;
    return -1;
}

/* First pass of --keep on a file: how many events the population has. */
static int count_members(const struct gate_opts *o, struct gated *x, long pop, int64_t *count)
{
    int64_t n, done = 0;
    *count = 0;
    while ((n = next_chunk(o, x)) > 0) {
        for (int64_t i = 0; i < n; i++) *count += x->mem[pop][i];
        done += n;
    }
    if (n < 0) return FCS_CLI_EXIT_INPUT;
    if (done < x->n_events) return short_data(o, done, x->n_events);
    if (fcs_rewind(x->r) != FCS_OK) return fcs_cli_error_lib(o->input, fcs_errmsg(x->r));
    return 0;
}

static int run_keep(const struct gate_opts *o, const struct strategy_src *src)
{
    struct gated x;
    struct out u;
    memset(&x, 0, sizeof x);
    memset(&u, 0, sizeof u);
    long pop = find_population(src->s, o->keep);
    if (pop < 0)
        return fcs_cli_error(o->gates,
                             "no population '%s' (give its id or its /path; --list "
                             "shows them)",
                             o->keep);
    int rc = bind(o, src->s, &x);
    int64_t n_out = -1; /* a pipe: the writer buffers the events until the count is known */
    if (!rc && fcs_is_seekable(x.r)) rc = count_members(o, &x, pop, &n_out);
    if (!rc) {
        u.np_out = x.np;
        if (!(u.map = malloc((x.np ? x.np : 1) * sizeof *u.map)))
            rc = fcs_cli_error(NULL, "out of memory");
        for (size_t j = 0; !rc && j < x.np; j++) u.map[j] = (int)j;
    }
    if (!rc) rc = setup_writer(o, &x, &u, src, n_out, pop);
    if (!rc) rc = stream_out(o, &x, &u, pop);
    rc = finish_writer(o, &u, rc);
    free(u.map);
    free(u.obuf);
    gated_free(&x);
    return rc;
}

/* ---- --list ------------------------------------------------------------------------------- */

static const char *gate_kind(const fcs_gate_info *in)
{
    switch (in->type) {
    case FCS_GATE_RECTANGLE: return "rectangle";
    case FCS_GATE_POLYGON: return "polygon";
    case FCS_GATE_ELLIPSOID: return "ellipsoid";
    case FCS_GATE_QUADRANT: return "quadrant";
    case FCS_GATE_BOOLEAN:
        return in->op == FCS_GATE_AND ? "and" : in->op == FCS_GATE_OR ? "or" : "not";
    }
    return "?";
}

/* "L(FITC-A@FCS)" for one dimension. */
static void describe_dim(const fcs_gate_dim *d, char *buf, size_t n)
{
    const char *c = d->compensation && strcmp(d->compensation, FCS_COMP_UNCOMPENSATED) != 0
                        ? d->compensation
                        : NULL;
    snprintf(buf, n, "%s%s%s%s%s%s%s", d->transform ? d->transform : "", d->transform ? "(" : "",
             d->ratio ? "ratio:" : "", d->ratio ? d->ratio : d->name, c ? "@" : "", c ? c : "",
             d->transform ? ")" : "");
}

/* What population p tests: "polygon FSC-A, SSC-A", "and A, not B". */
static void describe_pop(const fcs_strategy *s, size_t p, char *buf, size_t n)
{
    fcs_gate_info in;
    long g = fcs_strategy_find_gate(s, fcs_strategy_population_id(s, p));
    const char *pid = fcs_strategy_population_id(s, p);
    if (g < 0) { /* a quadrant: find its gate */
        for (size_t i = 0; i < fcs_strategy_n_gates(s) && g < 0; i++) {
            (void)fcs_strategy_gate(s, i, &in);
            for (size_t q = 0; q < in.n_quadrants; q++)
                if (strcmp(in.quadrants[q].id, pid) == 0) g = (long)i;
        }
    }
    (void)fcs_strategy_gate(s, (size_t)g, &in);
    size_t k = (size_t)snprintf(buf, n, "%s%s%s ", in.type == FCS_GATE_QUADRANT ? in.id : "",
                                in.type == FCS_GATE_QUADRANT ? ": " : "", gate_kind(&in));
    size_t nd = in.type == FCS_GATE_QUADRANT  ? in.n_dividers
                : in.type == FCS_GATE_BOOLEAN ? in.n_refs
                                              : in.n_dims;
    for (size_t i = 0; i < nd && k < n; i++) {
        char d[512];
        if (in.type == FCS_GATE_BOOLEAN)
            snprintf(d, sizeof d, "%s%s", in.refs[i].complement ? "not " : "", in.refs[i].id);
        else
            describe_dim(in.type == FCS_GATE_QUADRANT ? &in.dividers[i].dim : &in.dims[i], d,
                         sizeof d);
        k += (size_t)snprintf(buf + k, n - k, "%s%s", i ? ", " : "", d);
    }
}

struct listing {
    size_t *order, *depth;
    int64_t *count; /* NULL: no counts */
    int64_t total;
};

static int count_all(const struct gate_opts *o, const fcs_strategy *s, struct listing *l)
{
    struct gated x;
    memset(&x, 0, sizeof x);
    int rc = bind(o, s, &x);
    int64_t n, done = 0;
    while (!rc && (n = next_chunk(o, &x)) != 0) {
        if (n < 0) {
            rc = FCS_CLI_EXIT_INPUT;
            break;
        }
        for (size_t p = 0; p < x.npop; p++)
            for (int64_t i = 0; i < n; i++) l->count[p] += x.mem[p][i];
        done += n;
    }
    if (!rc && done < x.n_events) rc = short_data(o, done, x.n_events);
    l->total = done;
    gated_free(&x);
    return rc;
}

static void pct(char *buf, size_t n, int64_t a, int64_t b)
{
    if (b > 0)
        snprintf(buf, n, "%.2f", 100.0 * (double)a / (double)b);
    else
        snprintf(buf, n, "NA");
}

static void print_listing(FILE *f, const fcs_strategy *s, const struct listing *l)
{
    size_t np = fcs_strategy_n_populations(s), width = 10;
    for (size_t k = 0; k < np; k++) {
        size_t w = 2 * l->depth[k] + strlen(fcs_strategy_population_id(s, l->order[k]));
        if (w > width) width = w;
    }
    if (l->count) {
        fprintf(f, "%-*s  %10s  %8s  %8s  %s\n", (int)width, "population", "events", "%parent",
                "%total", "gate");
        fprintf(f, "%-*s  %10" PRId64 "  %8s  %8s\n", (int)width, "/", l->total, "100.00",
                "100.00");
    }
    for (size_t k = 0; k < np; k++) {
        size_t p = l->order[k];
        char what[2048], a[16], b[16];
        describe_pop(s, p, what, sizeof what);
        const char *id = fcs_strategy_population_id(s, p);
        int pad = (int)(width - 2 * l->depth[k]);
        if (!l->count) {
            fprintf(f, "%*s%-*s  %s\n", (int)(2 * l->depth[k]), "", pad, id, what);
            continue;
        }
        const char *par = fcs_strategy_population_parent(s, p);
        int64_t pc = par ? l->count[fcs_strategy_population_index(s, par)] : l->total;
        pct(a, sizeof a, l->count[p], pc);
        pct(b, sizeof b, l->count[p], l->total);
        fprintf(f, "%*s%-*s  %10" PRId64 "  %8s  %8s  %s\n", (int)(2 * l->depth[k]), "", pad, id,
                l->count[p], a, b, what);
    }
}

static int run_list(const struct gate_opts *o, const struct strategy_src *src)
{
    size_t np = fcs_strategy_n_populations(src->s);
    struct listing l;
    memset(&l, 0, sizeof l);
    l.order = calloc(np ? np : 1, sizeof *l.order);
    l.depth = calloc(np ? np : 1, sizeof *l.depth);
    int rc = (l.order && l.depth) ? 0 : fcs_cli_error(NULL, "out of memory");
    if (!rc && fcs_strategy_population_tree(src->s, l.order, l.depth) != FCS_OK)
        rc = fcs_cli_error(o->gates, "cannot list the population tree");
    if (!rc && o->input) {
        if (!(l.count = calloc(np ? np : 1, sizeof *l.count)))
            rc = fcs_cli_error(NULL, "out of memory");
        else
            rc = count_all(o, src->s, &l);
    }
    fcs_cli_out out;
    memset(&out, 0, sizeof out);
    if (!rc) rc = fcs_cli_out_open(&out, o->output);
    if (!rc) {
        print_listing(out.f, src->s, &l);
        rc = fcs_cli_out_commit(&out);
    }
    free(l.order);
    free(l.depth);
    free(l.count);
    return rc;
}

static int run_convert(const struct gate_opts *o)
{
    fcs_error err;
    const char *out = o->output ? o->output : "-";
    fcs_cli_note_input(o->gates); /* -o cannot replace the strategy */
    if (fcs_cli_check_output(o->output)) return FCS_CLI_EXIT_INPUT;
    if (fcs_gatefile_convert(o->gates, out, o->convert, &err) == FCS_OK) return 0;
    if (!o->output && errno == EPIPE) {
        fcs_cli_set_broken_pipe();
        return 0;
    }
    return lib_error(err.code == FCS_EIO ? out : o->gates, err.msg);
}

static int run(const struct gate_opts *o)
{
    if (o->convert) return run_convert(o);
    if (!o->list) {
        int rc = fcs_cli_refuse_tty(o->output);
        if (rc) return rc;
    }
    struct strategy_src src;
    memset(&src, 0, sizeof src);
    int rc = load_strategy(o, &src);
    if (!rc && o->input) fcs_cli_note_input(o->input);
    if (!rc) rc = fcs_cli_check_output(o->output); /* before any work */
    if (!rc) rc = o->list ? run_list(o, &src) : o->keep ? run_keep(o, &src) : run_annotate(o, &src);
    fcs_strategy_free(src.s);
    free(src.text);
    return rc;
}

int main(int argc, char **argv)
{
    struct gate_opts o;
    fcs_cli_init(&TOOL, argc, argv);
    int rc = parse(&o, argc, argv);
    if (rc != FCS_CLI_CONTINUE) return fcs_cli_finish(rc);
    return fcs_cli_finish(run(&o));
}
