/*
 * fcs-synth — a reproducible synthetic whole-blood sample for the CAR-T
 * monitoring panel, as FCS 3.1 float32: a thin shell over fcs/synth.h (the
 * model, its presets and the generator live in the library; docs/synth.md).
 *
 * The model is a preset: one of the CAR-T panel's (baseline, day7, day14,
 * day28, day90, healthy) or, by default, "basic" (the 4-colour sample of the
 * first fcs-synth, which the tests of other tools are built on), optionally
 * scaled to -n events
 * (fractions kept), then individual populations set to exact counts with
 * --population NAME=COUNT. With --truth a parameter "TruePopulation" holds
 * each event's population number (names in LIBFCS_SYNTH_POPULATIONS); with
 * --truth-file the same goes to a side TSV. The same options and seed give a
 * byte-identical file.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const fcs_cli_tool TOOL = {
    "fcs-synth",
    "[--preset NAME] [-n EVENTS] [--population NAME=COUNT]... [--seed S] [--truth]\n"
    "       [--truth-file FILE] [--no-version] [-o FILE]   |   fcs-synth --list-presets",
    "Write a synthetic blood sample as FCS 3.1 float32 (stdout or -o FILE).\n"
    "  -p, --preset NAME        CAR-T panel: baseline, day7, day14, day28, day90, healthy;\n"
    "                           or basic (4 colours, no spillover) [basic]\n"
    "  -n, --events N           scale the preset to N events, keeping its fractions\n"
    "                           [the preset's own counts; basic: 10000]\n"
    "      --population NAME=COUNT  exactly COUNT events of population NAME (after -n;\n"
    "                           repeatable). CAR-T panel: debris doublets dead\n"
    "                           granulocytes monocytes NK T-CD4 T-CD8 CAR-T-CD4 CAR-T-CD8\n"
    "                           B-CD20+ B-CD20- beads\n"
    "  -s, --seed S             seed of the generator; same seed, same file [1]\n"
    "      --truth              add the parameter TruePopulation (population number)\n"
    "      --truth-file FILE    write each event's population to FILE (TSV)\n"
    "      --list-presets       list the presets (TSV: preset, events, description)\n"
    "      --no-version         omit the LIBFCS_TOOL and LIBFCS_COMMAND keywords\n"
    "  -o, --output FILE        write FILE (via a temporary file, renamed when complete)\n"
    "  -h, --help               this help\n"
    "      --version            versions of the tool and its libraries\n"};

enum { OPT_TRUTH = FCS_CLI_OPT_FIRST_TOOL, OPT_TRUTH_FILE, OPT_POPULATION, OPT_LIST };

#define MAX_EVENTS (INT64_C(1) << 40)

struct synth_opts {
    const char *preset;
    int64_t n_events; /* -1: the preset's counts */
    char **pops;      /* --population arguments, in order */
    size_t n_pops;
    uint64_t seed;
    int truth, no_version, list;
    const char *truth_file;
    const char *output;
};

static int add_population_arg(struct synth_opts *o, char *arg)
{
    char **p = realloc(o->pops, (o->n_pops + 1) * sizeof *p);
    if (!p) return fcs_cli_error(NULL, "out of memory");
    o->pops = p;
    o->pops[o->n_pops++] = arg;
    return 0;
}

static int parse(struct synth_opts *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        FCS_CLI_LONGOPTS_COMMON,
        {"preset", required_argument, NULL, 'p'},
        {"events", required_argument, NULL, 'n'},
        {"population", required_argument, NULL, OPT_POPULATION},
        {"seed", required_argument, NULL, 's'},
        {"truth", no_argument, NULL, OPT_TRUTH},
        {"truth-file", required_argument, NULL, OPT_TRUTH_FILE},
        {"list-presets", no_argument, NULL, OPT_LIST},
        {"no-version", no_argument, NULL, FCS_CLI_OPT_NO_VERSION},
        {"output", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0}};
    int c, rc = 0;
    memset(o, 0, sizeof *o);
    o->preset = "basic";
    o->n_events = -1;
    o->seed = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":hp:n:s:o:", longopts, NULL)) != -1) {
        switch (c) {
        case 'p': o->preset = optarg; break;
        case 'n': rc = fcs_cli_parse_int(optarg, "-n", 0, MAX_EVENTS, &o->n_events); break;
        case OPT_POPULATION: rc = add_population_arg(o, optarg); break;
        case 's': rc = fcs_cli_parse_u64(optarg, "--seed", &o->seed); break;
        case OPT_TRUTH: o->truth = 1; break;
        case OPT_TRUTH_FILE: o->truth_file = optarg; break;
        case OPT_LIST: o->list = 1; break;
        case FCS_CLI_OPT_NO_VERSION: o->no_version = 1; break;
        case 'o': o->output = optarg; break;
        default: return fcs_cli_common_option(c);
        }
        if (rc) return rc;
    }
    if (optind < argc) return fcs_cli_usage_error("unexpected argument '%s'", argv[optind]);
    if (o->truth_file && fcs_cli_is_stdout(o->truth_file) && fcs_cli_is_stdout(o->output))
        return fcs_cli_usage_error("--truth-file -: standard output already carries the FCS data");
    return FCS_CLI_CONTINUE;
}

/* ---- the model from the options --------------------------------------------------- */

/* One --population NAME=COUNT (the name may itself hold '=' nowhere: the
 * library forbids it, so the last '=' splits). */
static int apply_population(fcs_synth_model *m, char *arg)
{
    char *eq = strrchr(arg, '=');
    if (!eq || eq == arg)
        return fcs_cli_usage_error("--population: '%s' is not NAME=COUNT", arg);
    int64_t count;
    int rc = fcs_cli_parse_int(eq + 1, "--population", 0, MAX_EVENTS, &count);
    if (rc) return rc;
    fcs_error err;
    *eq = '\0';
    rc = fcs_synth_set_count_by_name(m, arg, count, &err);
    *eq = '=';
    return rc == FCS_OK ? 0 : fcs_cli_usage_error("--population: %s", err.msg);
}

static int build_model(const struct synth_opts *o, fcs_synth_model **out)
{
    fcs_error err;
    int rc = fcs_synth_model_new(out, o->preset, &err);
    if (rc == FCS_ENOTFOUND) return fcs_cli_usage_error("--preset: %s", err.msg);
    if (rc != FCS_OK) return fcs_cli_error(NULL, "%s", err.msg);
    if (o->n_events >= 0 && fcs_synth_scale_to(*out, o->n_events) != FCS_OK)
        rc = fcs_cli_error(NULL, "-n %" PRId64 ": cannot scale preset %s", o->n_events, o->preset);
    for (size_t i = 0; i < o->n_pops && rc == 0; i++) rc = apply_population(*out, o->pops[i]);
    if (rc) {
        fcs_synth_model_free(*out);
        *out = NULL;
    }
    return rc;
}

static int list_presets(void)
{
    printf("preset\tevents\tdescription\n");
    for (size_t i = 0; i < fcs_synth_n_presets(); i++) {
        fcs_synth_model *m;
        if (fcs_synth_model_new(&m, fcs_synth_preset_name(i), NULL) != FCS_OK)
            return fcs_cli_error(NULL, "out of memory");
        printf("%s\t%" PRId64 "\t%s\n", fcs_synth_preset_name(i), fcs_synth_total(m),
               fcs_synth_preset_description(i));
        fcs_synth_model_free(m);
    }
    return fcs_cli_write_failed(stdout) ? FCS_CLI_EXIT_INPUT : 0;
}

/* ---- generating ------------------------------------------------------------------------ */

#define CHUNK 4096

struct output {
    fcs_writer *w;
    fcs_cli_out truth; /* .f NULL when no truth file */
    int64_t written;   /* events so far (truth file numbering) */
};

/* A failed write to stdout whose reader has gone is a quiet end. */
static int writer_failed(const struct synth_opts *o, const char *msg)
{
    if (!o->output && (errno == EPIPE || fcs_cli_broken_pipe())) {
        fcs_cli_set_broken_pipe();
        return 0;
    }
    return fcs_cli_error_lib(o->output ? o->output : "<stdout>", msg);
}

static int write_truth(struct output *out, const fcs_synth_model *m, const int32_t *pop,
                       size_t n)
{
    for (size_t i = 0; i < n; i++)
        fprintf(out->truth.f, "%" PRId64 "\t%" PRId32 "\t%s\n", out->written + (int64_t)i + 1,
                pop[i] + 1, fcs_synth_population_name(m, (size_t)pop[i]));
    return fcs_cli_write_failed(out->truth.f);
}

/* The events, chunk by chunk: 1 = the FCS writer failed, 2 = the truth file. */
static int generate(fcs_synth *g, struct output *out, double *buf, int32_t *pop)
{
    fcs_cli_progress prog;
    const fcs_synth_model *m = fcs_synth_model_of(g);
    int64_t n;
    int rc = 0;
    fcs_cli_progress_start(&prog, fcs_synth_n_events(g));
    while (rc == 0 && (n = fcs_synth_next(g, buf, CHUNK, pop, NULL)) > 0) {
        if (fcs_writer_write(out->w, buf, (size_t)n) != FCS_OK)
            rc = 1;
        else if (out->truth.f && write_truth(out, m, pop, (size_t)n))
            rc = 2;
        out->written += n;
        fcs_cli_progress_update(&prog, out->written);
    }
    fcs_cli_progress_end(&prog);
    return rc;
}

static int open_outputs(const struct synth_opts *o, fcs_synth *g, struct output *out)
{
    fcs_error err;
    if (o->truth_file) {
        if (fcs_cli_out_open(&out->truth, o->truth_file)) return FCS_CLI_EXIT_INPUT;
        fprintf(out->truth.f, "event\tpopulation\tname\n");
    }
    fcs_cli_guard_output(o->output);
    if (fcs_writer_open(&out->w, o->output ? o->output : "-", fcs_synth_n_params(g), NULL, &err) !=
        FCS_OK) {
        fcs_cli_out_abort(&out->truth);
        return fcs_cli_error_lib(o->output ? o->output : "<stdout>", err.msg);
    }
    return 0;
}

static int run_generator(const struct synth_opts *o, fcs_synth *g)
{
    struct output out = {0};
    fcs_error err;
    int rc = open_outputs(o, g, &out);
    if (rc) return rc;
    double *buf = malloc(CHUNK * fcs_synth_n_params(g) * sizeof *buf);
    int32_t *pop = malloc(CHUNK * sizeof *pop);
    if (!buf || !pop) {
        rc = fcs_cli_error(NULL, "out of memory");
    } else if ((rc = fcs_synth_describe(g, out.w)) != FCS_OK ||
               (rc = fcs_cli_provenance(out.w, o->no_version)) != FCS_OK ||
               (rc = fcs_writer_begin(out.w, fcs_synth_n_events(g))) != FCS_OK ||
               (rc = generate(g, &out, buf, pop)) == 1) {
        rc = writer_failed(o, rc == FCS_ENOMEM ? "out of memory" : fcs_writer_errmsg(out.w));
    } else if (rc == 2) {
        rc = fcs_cli_error(o->truth_file, "write failed: %s", strerror(errno));
    }
    free(buf);
    free(pop);
    if (rc || fcs_cli_broken_pipe()) {
        fcs_writer_abort(out.w);
        fcs_cli_out_abort(&out.truth);
        return rc;
    }
    if (fcs_writer_close(out.w, &err) != FCS_OK) {
        fcs_cli_out_abort(&out.truth);
        return writer_failed(o, err.msg);
    }
    return out.truth.f ? fcs_cli_out_commit(&out.truth) : 0;
}

static int run(const struct synth_opts *o)
{
    if (o->list) return list_presets();
    int rc = fcs_cli_refuse_tty(o->output);
    if (rc) return rc;
    fcs_synth_model *m;
    if ((rc = build_model(o, &m)) != 0) return rc;
    fcs_synth_opts so;
    fcs_synth_opts_init(&so);
    so.seed = o->seed;
    so.truth = o->truth;
    fcs_synth *g;
    fcs_error err;
    if (fcs_synth_new(&g, m, &so, &err) != FCS_OK) {
        fcs_synth_model_free(m);
        return fcs_cli_error(NULL, "%s", err.msg);
    }
    fcs_synth_model_free(m);
    rc = run_generator(o, g);
    fcs_synth_free(g);
    return rc;
}

int main(int argc, char **argv)
{
    struct synth_opts o;
    fcs_cli_init(&TOOL, argc, argv);
    int rc = parse(&o, argc, argv);
    if (rc == FCS_CLI_CONTINUE) rc = run(&o);
    free(o.pops);
    return fcs_cli_finish(rc);
}
