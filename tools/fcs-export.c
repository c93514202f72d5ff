/*
 * fcs-export — write the events of one data set as a TSV or CSV table: a
 * header line of $PnN names, then one line per event. Each value is the
 * shortest decimal that reads back as the same value in the parameter's
 * storage precision (float32 for $DATATYPE F, double otherwise).
 *
 * Turning binary values into shortest decimals costs far more than reading
 * them, so with -@ N the formatting of each chunk is shared by N extra
 * threads; lines are still written in event order.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const fcs_cli_tool TOOL = {
    "fcs-export", "[-f tsv|csv] [--raw] [-d N] [--time-seconds] [--strict] [-@ N] [-o FILE] FILE|-",
    "Write the events of an FCS data set as a table (header line of $PnN names).\n"
    "  -f, --format tsv|csv  table format [tsv]\n"
    "      --raw             values as stored (no $PnE/$PnG scaling)\n"
    "  -d, --dataset N       data set N, 0-based [0]\n"
    "      --time-seconds    the time parameter in seconds ($TIMESTEP) instead of /$PnG\n"
    "      --strict          refuse files that need a repair (exit 1)\n"
    "  -@, --threads N       N extra threads for number formatting [0]\n"
    "  -o, --output FILE     write to FILE (via a temporary file) instead of stdout\n"
    "  -h, --help            this help\n"
    "      --version         versions of the tool and its libraries\n"
    "Exit status: 0 success, 1 bad or unreadable input or failed write, 2 usage error.\n"};

enum { OPT_RAW = FCS_CLI_OPT_FIRST_TOOL, OPT_TIME_SECONDS };

/* Events formatted per chunk: about 4 MB of doubles, at most 16384 events. */
#define CHUNK_VALUES (512 * 1024)
#define CHUNK_EVENTS_MAX 16384
#define MAX_THREADS 64

struct export_opts {
    char sep;
    int raw;
    int time_seconds;
    int strict;
    int64_t dataset;
    int64_t threads;
    const char *output;
    const char *file;
};

static int parse_format(struct export_opts *o, const char *arg)
{
    if (strcmp(arg, "tsv") == 0) o->sep = '\t';
    else if (strcmp(arg, "csv") == 0) o->sep = ',';
    else return fcs_cli_usage_error("-f: unknown format '%s' (tsv or csv)", arg);
    return 0;
}

static int parse_args(struct export_opts *o, int argc, char **argv)
{
    if (o->raw && o->time_seconds)
        return fcs_cli_usage_error("--time-seconds needs scaled values; it cannot go with --raw");
    if (argc - optind > 1) return fcs_cli_usage_error("one input file only");
    if (argc - optind == 1) {
        o->file = argv[optind];
    } else {
        if (isatty(STDIN_FILENO)) return fcs_cli_usage_error("no input file");
        o->file = "-";
    }
    return FCS_CLI_CONTINUE;
}

static int parse(struct export_opts *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        FCS_CLI_LONGOPTS_COMMON,
        {"format", required_argument, NULL, 'f'},
        {"raw", no_argument, NULL, OPT_RAW},
        {"dataset", required_argument, NULL, 'd'},
        {"time-seconds", no_argument, NULL, OPT_TIME_SECONDS},
        {"strict", no_argument, NULL, FCS_CLI_OPT_STRICT},
        {"threads", required_argument, NULL, '@'},
        {"output", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0}};
    int c, rc = 0;
    memset(o, 0, sizeof *o);
    o->sep = '\t';
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":hf:d:@:o:", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': rc = parse_format(o, optarg); break;
        case OPT_RAW: o->raw = 1; break;
        case 'd': rc = fcs_cli_parse_int(optarg, "-d", 0, INT32_MAX, &o->dataset); break;
        case OPT_TIME_SECONDS: o->time_seconds = 1; break;
        case FCS_CLI_OPT_STRICT: o->strict = 1; break;
        case '@': rc = fcs_cli_parse_int(optarg, "-@", 0, MAX_THREADS - 1, &o->threads); break;
        case 'o': o->output = optarg; break;
        default: return fcs_cli_common_option(c);
        }
        if (rc) return rc;
    }
    return parse_args(o, argc, argv);
}

/* ---- header line ------------------------------------------------------------- */

/* CSV: RFC 4180 quoting when needed. TSV has no quoting, so a tab or line
 * break inside a name becomes a blank (the table must stay rectangular). */
static void write_name(FILE *f, const char *name, char sep)
{
    if (sep == ',' && strpbrk(name, ",\"\r\n")) {
        putc('"', f);
        for (const char *p = name; *p; p++) {
            if (*p == '"') putc('"', f);
            putc(*p, f);
        }
        putc('"', f);
        return;
    }
    for (const char *p = name; *p; p++) putc((*p == '\t' || *p == '\n' || *p == '\r') ? ' ' : *p, f);
}

/* The names every tool gives the parameters (a repeated $PnN made unique,
 * "P<n>" for none), so that a column is found by the same name here and in
 * what fcs-cat, fcs-comp and fcs-xform write. */
static void write_header(FILE *f, const fcs_cli_names *nm, char sep)
{
    for (size_t j = 0; j < nm->n; j++) {
        if (j) putc(sep, f);
        write_name(f, nm->name[j], sep);
    }
    putc('\n', f);
}

/* ---- formatting, possibly in parallel ------------------------------------------- */

struct fmt_job {
    const double *values;         /* the chunk, event by event */
    const unsigned char *is_f32;  /* per parameter: float32 precision */
    size_t np;
    size_t first, last;           /* events [first, last) of the chunk */
    char sep;
    char *text;                   /* room for (last-first) * (np*(NUM_MAX+1)) bytes */
    size_t len;                   /* bytes written */
};

static void *format_job(void *arg)
{
    struct fmt_job *job = arg;
    char *p = job->text;
    for (size_t i = job->first; i < job->last; i++) {
        const double *ev = job->values + i * job->np;
        for (size_t j = 0; j < job->np; j++) {
            if (j) *p++ = job->sep;
            p += job->is_f32[j] ? fcs_cli_format_float(p, (float)ev[j])
                                : fcs_cli_format_double(p, ev[j]);
        }
        *p++ = '\n';
    }
    job->len = (size_t)(p - job->text);
    return NULL;
}

struct exporter {
    size_t np;
    size_t chunk;          /* events per chunk */
    size_t n_jobs;         /* formatting threads, main thread included */
    double *values;
    unsigned char *is_f32;
    struct fmt_job jobs[MAX_THREADS];
    pthread_t tids[MAX_THREADS];
};

static void exporter_free(struct exporter *e)
{
    free(e->values);
    free(e->is_f32);
    for (size_t t = 0; t < e->n_jobs; t++) free(e->jobs[t].text);
}

/* Buffers sized from the parameter count (checked: a hostile $PAR must not
 * make us ask for an overflowing amount). Returns 0 or -1 (out of memory). */
static int exporter_init(struct exporter *e, const fcs_reader *r, const struct export_opts *o)
{
    memset(e, 0, sizeof *e);
    e->np = fcs_n_params(r);
    size_t np = e->np ? e->np : 1;
    e->chunk = CHUNK_VALUES / np;
    if (e->chunk > CHUNK_EVENTS_MAX) e->chunk = CHUNK_EVENTS_MAX;
    if (e->chunk == 0) e->chunk = 1;
    e->n_jobs = (size_t)o->threads + 1;
    if (e->n_jobs > e->chunk) e->n_jobs = e->chunk;
    size_t slice = (e->chunk + e->n_jobs - 1) / e->n_jobs, line;
    if (__builtin_mul_overflow(np, (size_t)FCS_CLI_NUM_MAX + 1, &line) ||
        __builtin_add_overflow(line, 1, &line) || __builtin_mul_overflow(line, slice, &line))
        return -1;
    e->values = malloc(e->chunk * np * sizeof *e->values);
    e->is_f32 = calloc(np, 1);
    if (!e->values || !e->is_f32) return -1;
    for (size_t j = 0; j < e->np; j++) e->is_f32[j] = fcs_param_info(r, j)->datatype == 'F';
    for (size_t t = 0; t < e->n_jobs; t++)
        if (!(e->jobs[t].text = malloc(line))) return -1;
    return 0;
}

/* Format n events of e->values into the jobs' buffers; the main thread
 * takes the first slice. Returns the number of jobs used. */
static size_t format_chunk(struct exporter *e, size_t n, char sep)
{
    size_t jobs = e->n_jobs, slice;
    if (jobs > n) jobs = n;
    slice = (n + jobs - 1) / jobs;
    for (size_t t = 0; t < jobs; t++) {
        struct fmt_job *job = &e->jobs[t];
        job->values = e->values;
        job->is_f32 = e->is_f32;
        job->np = e->np;
        job->sep = sep;
        job->first = t * slice;
        job->last = job->first + slice < n ? job->first + slice : n;
    }
    size_t started = 1;
    for (size_t t = 1; t < jobs; t++, started++)
        if (pthread_create(&e->tids[t], NULL, format_job, &e->jobs[t]) != 0) break;
    for (size_t t = started; t < jobs; t++) format_job(&e->jobs[t]); /* no thread: do it here */
    format_job(&e->jobs[0]);
    for (size_t t = 1; t < started; t++) pthread_join(e->tids[t], NULL);
    return jobs;
}

/* ---- run ------------------------------------------------------------------------ */

static unsigned read_flags(const struct export_opts *o)
{
    if (o->raw) return FCS_VALUES_RAW;
    return FCS_VALUES_SCALED | (o->time_seconds ? FCS_VALUES_TIME_SECONDS : 0);
}

/* Stream all events to out. Returns 0, 1 (read or write error, reported) or
 * 0 after a broken pipe. */
static int export_events(fcs_reader *r, const struct export_opts *o, FILE *out, const char *name,
                         const fcs_cli_names *nm)
{
    struct exporter e;
    fcs_cli_progress prog;
    int64_t n, done = 0;
    if (exporter_init(&e, r, o) != 0) {
        exporter_free(&e);
        return fcs_cli_error(name, "out of memory for %zu parameters", fcs_n_params(r));
    }
    write_header(out, nm, o->sep);
    fcs_cli_progress_start(&prog, fcs_n_events(r));
    int write_errno = 0;
    while ((n = fcs_read_events(r, e.values, e.chunk, read_flags(o))) > 0) {
        size_t jobs = format_chunk(&e, (size_t)n, o->sep);
        for (size_t t = 0; t < jobs; t++) fwrite(e.jobs[t].text, 1, e.jobs[t].len, out);
        if (ferror(out)) {
            write_errno = errno;
            fcs_cli_write_failed(out);
            break;
        }
        done += n;
        fcs_cli_progress_update(&prog, done);
    }
    fcs_cli_progress_end(&prog);
    exporter_free(&e);
    if (n < 0) return fcs_cli_error_lib(name, fcs_errmsg(r));
    if (!ferror(out)) return 0;
    /* stdout: a broken pipe is a quiet end, fcs_cli_finish reports the rest */
    if (out == stdout) return fcs_cli_broken_pipe() ? 0 : FCS_CLI_EXIT_INPUT;
    return fcs_cli_error(o->output, "write error: %s", strerror(write_errno ? write_errno : EIO));
}

static int run(const struct export_opts *o)
{
    fcs_reader *r;
    fcs_read_opts ro;
    fcs_cli_out out;
    fcs_cli_names nm;
    fcs_read_opts_init(&ro);
    ro.strict = o->strict;
    fcs_cli_note_input(o->file); /* -o onto the input is refused before reading */
    if (fcs_cli_check_output(o->output)) return FCS_CLI_EXIT_INPUT;
    if (fcs_cli_open_dataset(&r, o->file, &ro, o->dataset)) return FCS_CLI_EXIT_INPUT;
    if (fcs_cli_names_init(&nm, r)) {
        fcs_close(r);
        return fcs_cli_error(NULL, "out of memory");
    }
    int rc = fcs_cli_out_open(&out, o->output);
    if (rc == 0) {
        rc = export_events(r, o, out.f, o->file, &nm);
        if (rc == 0) fcs_cli_report_warnings_names(o->file, r, &nm);
        if (rc != 0) fcs_cli_out_abort(&out); /* an existing FILE stays as it was */
        else rc = fcs_cli_out_commit(&out);
    }
    fcs_cli_names_free(&nm);
    fcs_close(r);
    return rc;
}

int main(int argc, char **argv)
{
    struct export_opts o;
    fcs_cli_init(&TOOL, argc, argv);
    int rc = parse(&o, argc, argv);
    if (rc != FCS_CLI_CONTINUE) return fcs_cli_finish(rc);
    return fcs_cli_finish(run(&o));
}
