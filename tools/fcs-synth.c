/*
 * fcs-synth — a reproducible synthetic blood sample: a mixture of Gaussian
 * populations (debris, T CD4+, T CD8+, B cells, NK cells, monocytes,
 * granulocytes) in scatter (FSC-A, FSC-H, SSC-A), four fluorescence
 * channels carrying CD3, CD19, CD4 and CD8 in $PnS, and Time (a Poisson
 * arrival process). float32, $PnR 262144. With --truth a parameter
 * "TruePopulation" holds each event's population number (1-based, names in
 * LIBFCS_SYNTH_POPULATIONS), so gating can be checked against the truth.
 *
 * The same seed gives a byte-identical file: the generator is our own
 * (xoshiro256** via fcs_cli_rng), events are drawn strictly in order, and
 * nothing depends on time, locale or chunk size.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const fcs_cli_tool TOOL = {
    "fcs-synth", "[-n EVENTS] [--seed S] [--truth] [--no-version] [-o FILE]",
    "Write a synthetic blood sample as FCS 3.1 float32 (stdout or -o FILE).\n"
    "  -n, --events N      number of events [10000]\n"
    "  -s, --seed S        seed of the generator; same seed, same file [1]\n"
    "      --truth         add the parameter TruePopulation (population number)\n"
    "      --no-version    omit the LIBFCS_TOOL and LIBFCS_COMMAND keywords\n"
    "  -o, --output FILE   write FILE (via a temporary file, renamed when complete)\n"
    "  -h, --help          this help\n"
    "      --version       versions of the tool and its libraries\n"};

enum { OPT_TRUTH = FCS_CLI_OPT_FIRST_TOOL };

struct synth_opts {
    int64_t n_events;
    uint64_t seed;
    int truth;
    int no_version;
    const char *output;
};

static int parse(struct synth_opts *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        FCS_CLI_LONGOPTS_COMMON,
        {"events", required_argument, NULL, 'n'},
        {"seed", required_argument, NULL, 's'},
        {"truth", no_argument, NULL, OPT_TRUTH},
        {"no-version", no_argument, NULL, FCS_CLI_OPT_NO_VERSION},
        {"output", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0}};
    int c, rc = 0;
    memset(o, 0, sizeof *o);
    o->n_events = 10000;
    o->seed = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":hn:s:o:", longopts, NULL)) != -1) {
        switch (c) {
        case 'n': rc = fcs_cli_parse_int(optarg, "-n", 0, INT64_C(1) << 40, &o->n_events); break;
        case 's': rc = fcs_cli_parse_u64(optarg, "--seed", &o->seed); break;
        case OPT_TRUTH: o->truth = 1; break;
        case FCS_CLI_OPT_NO_VERSION: o->no_version = 1; break;
        case 'o': o->output = optarg; break;
        default: return fcs_cli_common_option(c);
        }
        if (rc) return rc;
    }
    if (optind < argc) return fcs_cli_usage_error("unexpected argument '%s'", argv[optind]);
    return FCS_CLI_CONTINUE;
}

/* ---- the model ------------------------------------------------------------------- */

#define RANGE 262144.0
#define TIMESTEP 0.01     /* seconds per Time unit ($TIMESTEP) */
#define EVENT_RATE 2000.0 /* events per second of acquisition */

enum { P_FSC_A, P_FSC_H, P_SSC_A, P_CD3, P_CD19, P_CD4, P_CD8, P_TIME, N_BASE_PARAMS };

static const struct {
    const char *name, *label;
} CHANNELS[N_BASE_PARAMS] = {
    {"FSC-A", NULL}, {"FSC-H", NULL},      {"SSC-A", NULL},   {"FITC-A", "CD3"},
    {"PE-A", "CD19"}, {"APC-A", "CD4"}, {"BV421-A", "CD8"}, {"Time", NULL},
};

/* One population: mixture weight, scatter means/sds (channel units) and the
 * log10 mean of each marker's intensity (2 = negative, ~4 = bright). */
struct population {
    const char *name;
    double weight;
    double fsc, fsc_sd, ssc, ssc_sd;
    double marker[4]; /* CD3, CD19, CD4, CD8 */
};

#define MARKER_SD 0.22 /* log10 spread of every marker */
#define NOISE_SD 40.0  /* electronic noise around zero, channel units */

static const struct population POPS[] = {
    {"debris", 0.08, 14000, 7000, 9000, 5000, {1.6, 1.6, 1.6, 1.6}},
    {"T CD4+", 0.15, 60000, 6000, 16000, 3000, {3.8, 2.0, 3.9, 2.0}},
    {"T CD8+", 0.08, 58000, 6000, 15000, 3000, {3.8, 2.0, 2.0, 4.0}},
    {"B cells", 0.05, 56000, 5500, 14000, 3000, {2.0, 3.7, 2.0, 2.0}},
    {"NK cells", 0.04, 62000, 6000, 20000, 4000, {2.0, 2.0, 2.0, 3.1}},
    {"monocytes", 0.10, 95000, 10000, 45000, 8000, {2.1, 2.0, 3.3, 2.0}},
    {"granulocytes", 0.50, 110000, 12000, 120000, 20000, {2.3, 2.3, 2.3, 2.3}},
};
#define N_POPS (sizeof POPS / sizeof POPS[0])

static int pick_population(fcs_cli_rng *g)
{
    double u = fcs_cli_rng_uniform(g), acc = 0;
    for (size_t k = 0; k + 1 < N_POPS; k++) {
        acc += POPS[k].weight;
        if (u < acc) return (int)k;
    }
    return (int)N_POPS - 1;
}

static double clamp(double v, double lo, double hi) { return v < lo ? lo : (v > hi ? hi : v); }

static double gauss(fcs_cli_rng *g, double mean, double sd)
{
    return mean + sd * fcs_cli_rng_normal(g);
}

/* One event into ev (N_BASE_PARAMS values, + truth); *time advances. */
static void make_event(fcs_cli_rng *g, float *ev, int truth, double *time)
{
    int k = pick_population(g);
    const struct population *p = &POPS[k];
    double fsc = clamp(gauss(g, p->fsc, p->fsc_sd), 0, RANGE - 1);
    ev[P_FSC_A] = (float)fsc;
    /* Height tracks area for single cells (pulse shape ratio ~0.82). */
    ev[P_FSC_H] = (float)clamp(fsc * gauss(g, 0.82, 0.03), 0, RANGE - 1);
    ev[P_SSC_A] = (float)clamp(gauss(g, p->ssc, p->ssc_sd), 0, RANGE - 1);
    for (int m = 0; m < 4; m++) {
        double v = pow(10.0, gauss(g, p->marker[m], MARKER_SD)) + gauss(g, 0, NOISE_SD);
        ev[P_CD3 + m] = (float)clamp(v, -RANGE, RANGE - 1);
    }
    /* Exponential waiting times: a Poisson process at EVENT_RATE. */
    *time += -log(1.0 - fcs_cli_rng_uniform(g)) / EVENT_RATE / TIMESTEP;
    ev[P_TIME] = (float)*time;
    if (truth) ev[N_BASE_PARAMS] = (float)(k + 1);
}

/* Time grows with the event count: its $PnR is 262144 unless the expected
 * end of acquisition (with room to spare) needs the next power of two. */
static double time_range(int64_t n)
{
    double expected = (double)n / EVENT_RATE / TIMESTEP * 1.5, r = RANGE;
    while (r < expected) r *= 2;
    return r;
}

/* ---- the output ------------------------------------------------------------------ */

static char *population_list(void)
{
    size_t len = 1;
    for (size_t k = 0; k < N_POPS; k++) len += strlen(POPS[k].name) + 24;
    char *s = malloc(len), *p = s;
    if (!s) return NULL;
    for (size_t k = 0; k < N_POPS; k++)
        p += sprintf(p, "%s%zu=%s", k ? "," : "", k + 1, POPS[k].name);
    return s;
}

static int describe(fcs_writer *w, const struct synth_opts *o)
{
    char buf[64];
    int rc = FCS_OK;
    for (size_t j = 0; j < N_BASE_PARAMS && rc == FCS_OK; j++)
        rc = fcs_writer_set_param(w, j, CHANNELS[j].name, CHANNELS[j].label,
                                  j == P_TIME ? time_range(o->n_events) : RANGE);
    if (rc == FCS_OK && o->truth)
        rc = fcs_writer_set_param(w, N_BASE_PARAMS, "TruePopulation", NULL, (double)N_POPS + 1);
    snprintf(buf, sizeof buf, "%g", TIMESTEP);
    if (rc == FCS_OK) rc = fcs_writer_set_keyword(w, "$TIMESTEP", buf);
    if (rc == FCS_OK) rc = fcs_writer_set_keyword(w, "$CYT", "libfcs fcs-synth (synthetic data)");
    if (rc == FCS_OK) rc = fcs_writer_set_keyword(w, "LIBFCS_SYNTH_MODEL", "blood-basic-1");
    snprintf(buf, sizeof buf, "%" PRIu64, o->seed);
    if (rc == FCS_OK) rc = fcs_writer_set_keyword(w, "LIBFCS_SYNTH_SEED", buf);
    if (rc == FCS_OK) {
        char *pops = population_list();
        rc = pops ? fcs_writer_set_keyword(w, "LIBFCS_SYNTH_POPULATIONS", pops) : FCS_ENOMEM;
        free(pops);
    }
    if (rc == FCS_OK) rc = fcs_cli_provenance(w, o->no_version);
    return rc;
}

#define CHUNK 4096

/* A failed write to stdout whose reader has gone is a quiet end. */
static int writer_failed(const struct synth_opts *o, const char *msg)
{
    if (!o->output && (errno == EPIPE || fcs_cli_broken_pipe())) {
        fcs_cli_set_broken_pipe();
        return 0;
    }
    return fcs_cli_error_lib(o->output ? o->output : "<stdout>", msg);
}

static int generate(fcs_writer *w, const struct synth_opts *o, float *buf, size_t np)
{
    fcs_cli_rng g;
    fcs_cli_progress prog;
    double time = 0;
    int64_t done = 0;
    fcs_cli_rng_seed(&g, o->seed);
    fcs_cli_progress_start(&prog, o->n_events);
    while (done < o->n_events) {
        size_t n = o->n_events - done < CHUNK ? (size_t)(o->n_events - done) : CHUNK;
        for (size_t i = 0; i < n; i++) make_event(&g, buf + i * np, o->truth, &time);
        if (fcs_writer_write_f32(w, buf, n) != FCS_OK) {
            fcs_cli_progress_end(&prog);
            return -1;
        }
        done += (int64_t)n;
        fcs_cli_progress_update(&prog, done);
    }
    fcs_cli_progress_end(&prog);
    return 0;
}

static int run(const struct synth_opts *o)
{
    fcs_writer *w;
    fcs_write_opts wo;
    fcs_error err;
    size_t np = N_BASE_PARAMS + (o->truth ? 1 : 0);
    const char *out = o->output ? o->output : "-";
    int rc = fcs_cli_refuse_tty(o->output);
    if (rc) return rc;
    float *buf = malloc(CHUNK * np * sizeof *buf);
    if (!buf) return fcs_cli_error(NULL, "out of memory");
    fcs_write_opts_init(&wo);
    fcs_cli_guard_output(o->output);
    if (fcs_writer_open(&w, out, np, &wo, &err) != FCS_OK) {
        free(buf);
        return fcs_cli_error_lib(o->output ? o->output : "<stdout>", err.msg);
    }
    if ((rc = describe(w, o)) != FCS_OK || (rc = fcs_writer_begin(w, o->n_events)) != FCS_OK ||
        generate(w, o, buf, np) != 0) {
        rc = writer_failed(o, rc == FCS_ENOMEM ? "out of memory" : fcs_writer_errmsg(w));
        fcs_writer_abort(w);
        free(buf);
        return rc;
    }
    free(buf);
    if (fcs_writer_close(w, &err) != FCS_OK) return writer_failed(o, err.msg);
    return 0;
}

int main(int argc, char **argv)
{
    struct synth_opts o;
    fcs_cli_init(&TOOL, argc, argv);
    int rc = parse(&o, argc, argv);
    if (rc != FCS_CLI_CONTINUE) return fcs_cli_finish(rc);
    return fcs_cli_finish(run(&o));
}
