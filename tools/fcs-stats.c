/*
 * fcs-stats — population statistics of a gated stream: counts, % of
 * parent / grandparent / total, cells/uL from counting beads, and per
 * population and channel mean, median, geometric mean, SD, CV, robust SD
 * and CV and percentiles (fcs/stats.h). The populations are the POP:<path>
 * parameters fcs-gate adds (docs/pipe-format.md). Results go to a cohort
 * summary (-o, an AnnData .h5ad, created or extended: fcs/summary.h) and/or
 * as a tidy TSV table to stdout (--tsv, the default without -o).
 *
 * The sample is identified by the SHA-256 of the input bytes: a file is
 * hashed as it is on disk; standard input is copied to an unlinked
 * temporary file while it is hashed, then read from memory.
 *
 * With -g STRATEGY the tool gates the events itself (fcs/gatefile.h and
 * fcs/gate.h, exactly as fcs-gate does: the strategy adapted to what the
 * stream already carries, so nothing is compensated or transformed twice)
 * and takes its populations from the strategy instead of POP: parameters:
 * `fcs-stats -g S FILE` gives the numbers of `fcs-gate -g S FILE |
 * fcs-stats -`, without writing the annotated stream.
 */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static const fcs_cli_tool TOOL = {
    "fcs-stats",
    "[-o SUMMARY.h5ad] [--tsv] [-s STAT,...] [-c CHANNEL,...] [-t TRANSFORM[:CHANNELS]] "
    "[--beads POP (--beads-per-test N --volume UL | --bead-lot FILE)] [--replace] "
    "[--sample-id ID] [-k KEYWORD] [-g STRATEGY] [-d N] [--strict] FILE|-",
    "Statistics of the populations of a gated FCS stream (POP:<path> parameters).\n"
    "  -o, --output FILE       add the sample to the summary FILE (AnnData .h5ad; created\n"
    "                          if absent, replaced crash-safely)\n"
    "      --tsv               print the tidy table to stdout (default without -o)\n"
    "  -s, --stats LIST        channel statistics: mean, median, geomean, sd, cv, rsd, rcv,\n"
    "                          pP (percentile P, e.g. p5, p97.5) [mean,median,geomean,sd,cv,\n"
    "                          rsd,rcv]; counts and percentages are always given\n"
    "  -c, --channels LIST     channels by $PnN or $PnS (globs, case-insensitive) [every\n"
    "                          parameter but Time and those added by libfcs tools]\n"
    "  -t, --transform T[:CH]  compute the statistics on transformed values (e.g.\n"
    "                          'logicle(T=262144,W=0.5,M=4.5,A=0):CD3,CD19'; without\n"
    "                          ':CHANNELS' every selected channel)\n"
    "      --geomean-nonpositive exclude|nan  values <= 0 in the geometric mean [exclude]\n"
    "      --beads POP         the counting-bead population (path, e.g. /Beads): cells/uL\n"
    "      --beads-per-test N  beads added per test\n"
    "      --volume UL         sample volume per test (uL)\n"
    "      --bead-lot FILE     lot, beads_per_test and volume_ul from a key=value file\n"
    "                          (without either: keywords LIBFCS_BEADS_PER_TEST, LIBFCS_VOLUME_UL)\n"
    "      --replace           replace the sample if the summary has it already\n"
    "      --sample-id ID      sample id [file name without .fcs/.gz]\n"
    "  -k, --keyword NAME      keyword to keep as a sample column (repeatable)\n"
    "                          [$FIL,$SRC,$SMNO,$PROJ,$CYTSN when present]\n"
    "  -g, --gates FILE        gate the events here with this strategy (gate file or\n"
    "                          Gating-ML, as fcs-gate -g) and use its populations\n"
    "      --truth             populations from fcs-synth's TruePopulation parameter\n"
    "  -d, --dataset N         data set N (0-based) [0]\n"
    "      --strict            refuse inputs that need a repair (exit 1)\n"
    "  -h, --help              this help\n"
    "      --version           versions of the tool and its libraries\n"};

enum {
    OPT_TSV = FCS_CLI_OPT_FIRST_TOOL,
    OPT_BEADS,
    OPT_BPT,
    OPT_VOLUME,
    OPT_LOT,
    OPT_REPLACE,
    OPT_ID,
    OPT_TRUTH,
    OPT_GEO
};

#define CHUNK 8192
#define MAX_LIST 256

struct xform_spec {
    fcs_transform *t;
    char *buf;                 /* the channel patterns, split in place */
    const char *pat[MAX_LIST]; /* none: every selected channel */
    int n_pat;
};

struct st_opts {
    const char *output, *input, *beads, *bead_lot, *sample_id, *gates;
    int tsv, replace, strict, truth, geo_nan;
    double bpt, volume;
    int bpt_given, volume_given;
    int64_t dataset;
    fcs_stat_spec stats[MAX_LIST];
    int n_stats;
    const char *chan_pat[MAX_LIST];
    int n_chan_pat;
    const char *keywords[MAX_LIST];
    int n_keywords;
    struct xform_spec xf[MAX_LIST];
    int n_xf;
    char *lists[3 * MAX_LIST]; /* strdup'ed option values, freed at the end */
    int n_lists;
};

static void opts_free(struct st_opts *o)
{
    for (int i = 0; i < o->n_xf; i++) {
        fcs_transform_free(o->xf[i].t);
        free(o->xf[i].buf);
    }
    for (int i = 0; i < o->n_lists; i++) free(o->lists[i]);
}

/* ---- options ----------------------------------------------------------------------- */

/* Split a comma list (kept in o->lists) into out[]. */
static int split_list(struct st_opts *o, const char *arg, const char *opt, const char **out, int *n)
{
    if (o->n_lists >= 3 * MAX_LIST) return fcs_cli_usage_error("%s: too many values", opt);
    char *copy = strdup(arg);
    if (!copy) return fcs_cli_error(NULL, "out of memory");
    o->lists[o->n_lists++] = copy;
    for (char *save = NULL, *p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        if (*n >= MAX_LIST) return fcs_cli_usage_error("%s: too many values", opt);
        out[(*n)++] = p;
    }
    return 0;
}

static int add_stats(struct st_opts *o, const char *arg)
{
    const char *names[MAX_LIST];
    int n = 0, rc = split_list(o, arg, "-s", names, &n);
    for (int i = 0; !rc && i < n; i++) {
        fcs_stat_spec sp;
        fcs_error err;
        if (fcs_stat_parse(names[i], &sp, &err) != FCS_OK) return fcs_cli_usage_error("-s: %s", err.msg);
        if (!fcs_stat_is_channel(sp.kind)) continue; /* population statistics: always there */
        int dup = 0;
        for (int k = 0; k < o->n_stats; k++)
            dup |= o->stats[k].kind == sp.kind && o->stats[k].percentile == sp.percentile;
        if (dup) continue;
        if (o->n_stats >= MAX_LIST) return fcs_cli_usage_error("-s: too many statistics");
        o->stats[o->n_stats++] = sp;
    }
    return rc;
}

/* "TRANSFORM" or "TRANSFORM:PATTERNS" (transform strings never contain ':'). */
static int add_transform(struct st_opts *o, const char *arg)
{
    if (o->n_xf >= MAX_LIST) return fcs_cli_usage_error("-t: too many transforms");
    struct xform_spec *x = &o->xf[o->n_xf];
    const char *colon = strchr(arg, ':');
    char *text = colon ? strndup(arg, (size_t)(colon - arg)) : strdup(arg);
    if (!text) return fcs_cli_error(NULL, "out of memory");
    fcs_error err;
    int rc = fcs_transform_parse(text, &x->t, &err);
    free(text);
    if (rc != FCS_OK) return fcs_cli_usage_error("-t: %s", err.msg);
    o->n_xf++;
    if (fcs_transform_arity(x->t) != 1)
        return fcs_cli_usage_error("-t '%s': a two-channel transform cannot be applied to a channel", arg);
    if (!colon) return 0;
    if (!(x->buf = strdup(colon + 1))) return fcs_cli_error(NULL, "out of memory");
    for (char *save = NULL, *p = strtok_r(x->buf, ",", &save); p && x->n_pat < MAX_LIST;
         p = strtok_r(NULL, ",", &save))
        x->pat[x->n_pat++] = p;
    if (x->n_pat == 0) return fcs_cli_usage_error("-t '%s': no channel after ':'", arg);
    return 0;
}

static int parse_number(const char *arg, const char *opt, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(arg, &end);
    if (end == arg || *end || errno || !isfinite(v) || v <= 0)
        return fcs_cli_usage_error("%s: '%s' is not a number > 0", opt, arg);
    *out = v;
    return 0;
}

static int check_opts(struct st_opts *o)
{
    if ((o->bpt_given || o->volume_given || o->bead_lot) && !o->beads)
        return fcs_cli_usage_error("--beads-per-test, --volume and --bead-lot need --beads POP");
    if (o->bead_lot && (o->bpt_given || o->volume_given))
        return fcs_cli_usage_error("give --bead-lot or --beads-per-test/--volume, not both");
    if (o->bpt_given != o->volume_given)
        return fcs_cli_usage_error("--beads-per-test and --volume go together");
    if (o->beads && !*o->beads) return fcs_cli_usage_error("--beads: empty");
    if (o->sample_id && !*o->sample_id) return fcs_cli_usage_error("--sample-id: empty");
    if (o->gates && o->truth)
        return fcs_cli_usage_error("-g and --truth both define the populations: give one");
    if (o->gates && strcmp(o->gates, "-") == 0 && strcmp(o->input, "-") == 0)
        return fcs_cli_usage_error("standard input ('-') can be read only once");
    if (o->output && fcs_cli_is_stdout(o->output))
        return fcs_cli_usage_error("-o: HDF5 cannot be written to a pipe; use --tsv for stdout");
    if (!o->output) o->tsv = 1;
    if (o->n_stats == 0) {
        static const char *def[] = {"mean", "median", "geomean", "sd", "cv", "rsd", "rcv"};
        for (int i = 0; i < 7; i++) fcs_stat_parse(def[i], &o->stats[o->n_stats++], NULL);
    }
    return FCS_CLI_CONTINUE;
}

static int parse(struct st_opts *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        FCS_CLI_LONGOPTS_COMMON,
        {"output", required_argument, NULL, 'o'},
        {"tsv", no_argument, NULL, OPT_TSV},
        {"stats", required_argument, NULL, 's'},
        {"channels", required_argument, NULL, 'c'},
        {"transform", required_argument, NULL, 't'},
        {"keyword", required_argument, NULL, 'k'},
        {"dataset", required_argument, NULL, 'd'},
        {"beads", required_argument, NULL, OPT_BEADS},
        {"beads-per-test", required_argument, NULL, OPT_BPT},
        {"volume", required_argument, NULL, OPT_VOLUME},
        {"bead-lot", required_argument, NULL, OPT_LOT},
        {"replace", no_argument, NULL, OPT_REPLACE},
        {"sample-id", required_argument, NULL, OPT_ID},
        {"truth", no_argument, NULL, OPT_TRUTH},
        {"gates", required_argument, NULL, 'g'},
        {"geomean-nonpositive", required_argument, NULL, OPT_GEO},
        {"strict", no_argument, NULL, FCS_CLI_OPT_STRICT},
        {NULL, 0, NULL, 0}};
    int c, rc = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":ho:s:c:t:k:d:g:", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': o->output = optarg; break;
        case OPT_TSV: o->tsv = 1; break;
        case 's': rc = add_stats(o, optarg); break;
        case 'c': rc = split_list(o, optarg, "-c", o->chan_pat, &o->n_chan_pat); break;
        case 't': rc = add_transform(o, optarg); break;
        case 'k': rc = split_list(o, optarg, "-k", o->keywords, &o->n_keywords); break;
        case 'd': rc = fcs_cli_parse_int(optarg, "-d", 0, INT32_MAX, &o->dataset); break;
        case OPT_BEADS: o->beads = optarg; break;
        case OPT_BPT: rc = parse_number(optarg, "--beads-per-test", &o->bpt), o->bpt_given = 1; break;
        case OPT_VOLUME: rc = parse_number(optarg, "--volume", &o->volume), o->volume_given = 1; break;
        case OPT_LOT: o->bead_lot = optarg; break;
        case OPT_REPLACE: o->replace = 1; break;
        case OPT_ID: o->sample_id = optarg; break;
        case OPT_TRUTH: o->truth = 1; break;
        case 'g': o->gates = optarg; break;
        case OPT_GEO:
            if (strcmp(optarg, "nan") && strcmp(optarg, "exclude"))
                return fcs_cli_usage_error("--geomean-nonpositive: 'exclude' or 'nan', not '%s'", optarg);
            o->geo_nan = strcmp(optarg, "nan") == 0;
            break;
        case FCS_CLI_OPT_STRICT: o->strict = 1; break;
        default: return fcs_cli_common_option(c);
        }
        if (rc) return rc;
    }
    if (argc - optind > 1) return fcs_cli_usage_error("one input at a time (got %d)", argc - optind);
    if (argc - optind == 1) o->input = argv[optind];
    else if (isatty(STDIN_FILENO)) return fcs_cli_usage_error("no input file");
    else o->input = "-";
    return check_opts(o);
}

/* ---- the input: hashed, then opened ------------------------------------------------- */

struct input {
    fcs_reader *r;
    char sha[65];
    void *map; /* stdin copy, mapped */
    size_t map_len;
};

/* Copy stdin to an unlinked temporary file while hashing it; map it. */
static int spool_stdin(struct input *in)
{
    const char *dir = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/fcs-stats.XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) return fcs_cli_error("-", "cannot create a temporary file in %s: %s", dir ? dir : "/tmp", strerror(errno));
    unlink(path);
    fcs_sha256 *h = fcs_sha256_new();
    char *buf = malloc(1 << 16);
    int rc = h && buf ? 0 : fcs_cli_error("-", "out of memory");
    size_t total = 0;
    for (ssize_t n; !rc && (n = read(STDIN_FILENO, buf, 1 << 16)) != 0;) {
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            rc = fcs_cli_error("-", "read error: %s", strerror(errno));
            break;
        }
        fcs_sha256_update(h, buf, (size_t)n);
        for (ssize_t w = 0, k; !rc && w < n; w += k)
            if ((k = write(fd, buf + w, (size_t)(n - w))) < 0 && errno != EINTR)
                rc = fcs_cli_error("-", "cannot spool standard input to %s: %s", path, strerror(errno));
            else if (k < 0)
                k = 0;
        total += (size_t)n;
    }
    if (!rc) fcs_sha256_final(h, in->sha);
    if (!rc && total == 0) rc = fcs_cli_error("-", "empty input");
    if (!rc && (in->map = mmap(NULL, total, PROT_READ, MAP_PRIVATE, fd, 0)) == MAP_FAILED) {
        in->map = NULL;
        rc = fcs_cli_error("-", "cannot map the spooled input: %s", strerror(errno));
    }
    in->map_len = total;
    close(fd);
    free(buf);
    fcs_sha256_free(h);
    return rc;
}

static int open_input(const struct st_opts *o, struct input *in)
{
    fcs_read_opts ro;
    fcs_error err;
    fcs_read_opts_init(&ro);
    ro.strict = o->strict;
    int rc;
    if (strcmp(o->input, "-") == 0) {
        if (spool_stdin(in)) return FCS_CLI_EXIT_INPUT;
        rc = fcs_open_mem(&in->r, in->map, in->map_len, "<stdin>", &ro, &err);
    } else {
        if (fcs_sha256_file(o->input, in->sha, &err) != FCS_OK) return fcs_cli_error_lib(o->input, err.msg);
        rc = fcs_open(&in->r, o->input, &ro, &err);
    }
    if (rc != FCS_OK) return fcs_cli_error_lib(o->input, err.msg);
    if ((size_t)o->dataset >= fcs_n_datasets(in->r))
        return fcs_cli_error(o->input, "no data set %" PRId64 " (the file has %zu, numbered from 0)",
                             o->dataset, fcs_n_datasets(in->r));
    if (fcs_select_dataset(in->r, (size_t)o->dataset) != FCS_OK)
        return fcs_cli_error_lib(o->input, fcs_errmsg(in->r));
    return 0;
}

static void close_input(struct input *in)
{
    fcs_close(in->r);
    if (in->map) munmap(in->map, in->map_len);
}

/* ---- populations ---------------------------------------------------------------------- */

/* fcs-synth's truth: TruePopulation = k names population k of
 * LIBFCS_SYNTH_POPULATIONS "1=debris,2=T CD4+,...": flat populations /name. */
static int truth_populations(const struct st_opts *o, fcs_reader *r, fcs_stats *s)
{
    int par = fcs_param_index(r, "TruePopulation", 0);
    const char *list = fcs_keyword(r, "LIBFCS_SYNTH_POPULATIONS");
    if (par < 0 || !list)
        return fcs_cli_error(o->input, "--truth needs the TruePopulation parameter and the keyword "
                             "LIBFCS_SYNTH_POPULATIONS (fcs-synth --truth)");
    char *copy = strdup(list);
    int rc = copy ? 0 : fcs_cli_error(NULL, "out of memory");
    for (char *save = NULL, *p = copy ? strtok_r(copy, ",", &save) : NULL; !rc && p;
         p = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(p, '='), path[256];
        if (!eq) {
            rc = fcs_cli_error(o->input, "LIBFCS_SYNTH_POPULATIONS: '%s' is not NUMBER=NAME", p);
            break;
        }
        *eq = '\0';
        snprintf(path, sizeof path, "/%s", eq + 1);
        for (char *q = path + 1; *q; q++)
            if (*q == '/') *q = '_';
        if (fcs_stats_add_population(s, path, "/", (size_t)par, strtod(p, NULL)) < 0)
            rc = fcs_cli_error(o->input, "%s", fcs_stats_errmsg(s));
    }
    free(copy);
    return rc;
}

/* ---- -g: gating here, as fcs-gate would ---------------------------------------------------- */

struct gate_here {
    fcs_strategy *s;       /* as read */
    fcs_strategy *adapted; /* as it applies to this stream: nothing applied twice */
    fcs_gating *g;
    size_t npop;
    char *keyword; /* the LIBFCS_GATING value fcs-gate writes for the same strategy */
    char *text;    /* the strategy's bytes as read (fcs-gate's LIBFCS_GATING_TEXT) */
};

static void gate_here_free(struct gate_here *gh)
{
    fcs_gating_free(gh->g);
    fcs_strategy_free(gh->adapted);
    fcs_strategy_free(gh->s);
    free(gh->keyword);
    free(gh->text);
}

/* A library message that names its own place ("gates.txt:12:3: ...") is
 * shown as it is; others get the file name in front (as fcs-gate does). */
static int strategy_error(const char *file, const char *msg)
{
    const char *shown = fcs_cli_input_name(file);
    size_t n = strlen(shown);
    if (strncmp(msg, shown, n) == 0 && msg[n] == ':' && msg[n + 1] >= '0' && msg[n + 1] <= '9')
        return fcs_cli_error(NULL, "%s", msg);
    return fcs_cli_error_lib(file, msg);
}

/* "source=file:NAME;sha256=HEX;format=text|gatingml", ';' '|' '\' escaped:
 * the same value fcs-gate records, so a summary names the strategy alike
 * whichever tool gated. */
static char *gating_keyword(const char *path, const char *sha, int gatingml)
{
    const char *name = fcs_cli_input_name(path);
    char *v = malloc(2 * strlen(name) + 128), *p = v;
    if (!v) return NULL;
    p += sprintf(p, "source=file:");
    for (const char *c = name; *c; c++) {
        if (*c == ';' || *c == '|' || *c == '\\') *p++ = '\\';
        *p++ = *c;
    }
    sprintf(p, ";sha256=%s;format=%s", sha, gatingml ? "gatingml" : "text");
    return v;
}

/* Read the strategy once: its bytes give the SHA-256 of LIBFCS_GATING. */
static int load_strategy(const struct st_opts *o, struct gate_here *gh)
{
    char *text = NULL, sha[65];
    size_t len = 0;
    fcs_error err;
    if (fcs_cli_read_file(o->gates, FCS_GATEFILE_MAX, &text, &len)) return FCS_CLI_EXIT_INPUT;
    fcs_sha256 *h = fcs_sha256_new();
    if (!h) {
        free(text);
        return fcs_cli_error(NULL, "out of memory");
    }
    fcs_sha256_update(h, text, len);
    fcs_sha256_final(h, sha);
    fcs_sha256_free(h);
    int gatingml = fcs_gatefile_detect(text, len) == FCS_GATEFILE_GATINGML;
    gh->text = text; /* NUL-terminated by fcs_cli_read_file */
    int rc = fcs_gatefile_read_mem(&gh->s, text, len, fcs_cli_input_name(o->gates),
                                   FCS_GATEFILE_AUTO, &err);
    if (rc != FCS_OK) return strategy_error(o->gates, err.msg);
    /* an empty strategy would "gate" silently into nothing (a truncated file, the wrong
     * file); population ids travel in paths: '/' would make them ambiguous */
    if (fcs_strategy_n_populations(gh->s) == 0) return fcs_cli_error(o->gates, "no gates in the strategy");
    for (size_t p = 0; p < fcs_strategy_n_populations(gh->s); p++)
        if (strchr(fcs_strategy_population_id(gh->s, p), '/'))
            return fcs_cli_error(o->gates, "population id '%s' contains '/', which separates the "
                                 "parts of population paths", fcs_strategy_population_id(gh->s, p));
    if (!(gh->keyword = gating_keyword(o->gates, sha, gatingml))) return fcs_cli_error(NULL, "out of memory");
    return 0;
}

/* Bind the strategy to the stream's channels as they are. */
static int bind_strategy(const struct st_opts *o, fcs_reader *r, struct gate_here *gh)
{
    fcs_error err;
    if (fcs_strategy_for_stream(gh->s, r, &gh->adapted, &err) != FCS_OK)
        return fcs_cli_error_lib(o->input, err.msg);
    size_t np = fcs_n_params(r);
    const char **names = calloc(np ? np : 1, sizeof *names);
    if (!names) return fcs_cli_error(NULL, "out of memory");
    for (size_t j = 0; j < np; j++) names[j] = fcs_param_info(r, j)->name;
    int rc = fcs_gating_new(&gh->g, gh->adapted, names, np, fcs_spillover(r, NULL), &err);
    free(names);
    if (rc != FCS_OK) return fcs_cli_error_lib(o->input, err.msg);
    gh->npop = fcs_strategy_n_populations(gh->adapted);
    return 0;
}

/* The strategy's populations, parents first; population p's membership is
 * the virtual parameter np + p that stream_gated appends to every event. */
static int strategy_populations(const struct st_opts *o, const struct gate_here *gh, size_t np,
                                fcs_stats *s)
{
    size_t *order = calloc(gh->npop ? gh->npop : 1, sizeof *order);
    if (!order) return fcs_cli_error(NULL, "out of memory");
    int rc = fcs_strategy_population_tree(gh->adapted, order, NULL) == FCS_OK
                 ? 0 : fcs_cli_error(o->gates, "cannot order the population tree");
    for (size_t k = 0; !rc && k < gh->npop; k++) {
        char path[4096], parent[4096];
        if (fcs_strategy_population_path(gh->adapted, order[k], path, sizeof path) < 0) {
            rc = fcs_cli_error(o->gates, "population path of '%s' too long",
                               fcs_strategy_population_id(gh->adapted, order[k]));
            break;
        }
        const char *slash = strrchr(path, '/');
        snprintf(parent, sizeof parent, "%.*s", slash == path ? 1 : (int)(slash - path), path);
        if (fcs_stats_add_population(s, path, parent, np + order[k], FCS_STATS_BOOLEAN) < 0)
            rc = fcs_cli_error(o->input, "%s", fcs_stats_errmsg(s));
    }
    free(order);
    return rc;
}

/* ---- channels and their scale ------------------------------------------------------------ */

static int is_tool_param(const fcs_param *p)
{
    if (p->is_time || !p->name) return p->is_time;
    return strncmp(p->name, "POP:", 4) == 0 || strcmp(p->name, "TruePopulation") == 0 ||
           strcmp(p->name, "SourceFile") == 0;
}

static int matches(const char *pat, const fcs_param *p)
{
    return (p->name && fnmatch(pat, p->name, FNM_CASEFOLD) == 0) ||
           (p->label && fnmatch(pat, p->label, FNM_CASEFOLD) == 0);
}

/* Whether LIBFCS_COMP lists the channel (channels=... or fluorochromes=...
 * of any record; values escape ',' ';' '|' with '\'). */
static int in_comp_record(const char *comp, const char *name, const char *field)
{
    size_t fl = strlen(field), nl = strlen(name);
    for (const char *p = comp; p && *p; p++) {
        if (*p == '\\' && p[1]) {
            p++;
            continue;
        }
        if ((*p != ';' && p != comp) || strncmp(p + (*p == ';'), field, fl) != 0) continue;
        const char *v = p + (*p == ';') + fl;
        while (*v && *v != ';' && *v != '|') {
            /* one list item, unescaped on the fly */
            char item[512];
            size_t k = 0;
            while (*v && *v != ',' && *v != ';' && *v != '|') {
                if (*v == '\\' && v[1]) v++;
                if (k + 1 < sizeof item) item[k++] = *v;
                v++;
            }
            item[k] = '\0';
            if (k == nl && strcmp(item, name) == 0) return 1;
            if (*v == ',') v++;
        }
    }
    return 0;
}

/* The unit of a channel: how its values were made (compensated, unmixed,
 * transformed by fcs-xform, transformed here), "linear" when none. */
static void channel_unit(fcs_reader *r, size_t j, const fcs_transform *t, char *buf, size_t n)
{
    const fcs_param *p = fcs_param_info(r, j);
    const char *comp = fcs_keyword(r, "LIBFCS_COMP");
    char key[48];
    snprintf(key, sizeof key, "LIBFCS_P%zuTRANSFORM", j + 1);
    const char *xf = fcs_keyword(r, key);
    buf[0] = '\0';
    if (comp && p->name && in_comp_record(comp, p->name, "channels=")) snprintf(buf, n, "compensated");
    else if (comp && p->name && in_comp_record(comp, p->name, "fluorochromes=")) snprintf(buf, n, "unmixed");
    if (xf && *xf) snprintf(buf + strlen(buf), n - strlen(buf), "%s%s", buf[0] ? "+" : "", xf);
    if (t) snprintf(buf + strlen(buf), n - strlen(buf), "%s%s", buf[0] ? "+" : "", fcs_transform_string(t));
    if (!buf[0]) snprintf(buf, n, "linear");
}

/* The transform -t asks for channel j (the last -t that names it wins). */
static const fcs_transform *transform_for(const struct st_opts *o, const fcs_param *p)
{
    const fcs_transform *t = NULL;
    for (int i = 0; i < o->n_xf; i++) {
        if (o->xf[i].n_pat == 0) t = o->xf[i].t;
        for (int k = 0; k < o->xf[i].n_pat; k++)
            if (matches(o->xf[i].pat[k], p)) t = o->xf[i].t;
    }
    return t;
}

static int add_channels(const struct st_opts *o, fcs_reader *r, fcs_stats *s)
{
    int used[MAX_LIST] = {0};
    for (size_t j = 0; j < fcs_n_params(r); j++) {
        const fcs_param *p = fcs_param_info(r, j);
        int take = o->n_chan_pat == 0 && !is_tool_param(p);
        for (int k = 0; k < o->n_chan_pat; k++)
            if (matches(o->chan_pat[k], p)) take = used[k] = 1;
        if (!take) continue;
        char unit[1024], pname[32];
        const fcs_transform *t = transform_for(o, p);
        channel_unit(r, j, t, unit, sizeof unit);
        snprintf(pname, sizeof pname, "P%zu", j + 1);
        if (fcs_stats_add_channel(s, j, p->name ? p->name : pname, p->label, unit, t) < 0)
            return fcs_cli_error(o->input, "%s", fcs_stats_errmsg(s));
    }
    for (int k = 0; k < o->n_chan_pat; k++)
        if (!used[k]) return fcs_cli_error(o->input, "-c %s: no such channel ($PnN or $PnS)", o->chan_pat[k]);
    for (int i = 0; i < o->n_xf; i++) {
        for (int k = 0; k < o->xf[i].n_pat; k++) {
            int hit = 0;
            for (size_t j = 0; j < fcs_n_params(r); j++) hit |= matches(o->xf[i].pat[k], fcs_param_info(r, j));
            if (!hit) return fcs_cli_error(o->input, "-t: no channel matches '%s'", o->xf[i].pat[k]);
        }
    }
    return 0;
}

/* ---- beads -------------------------------------------------------------------------------- */

/* --beads POP: a /path, or a population id (the last part of one path),
 * as fcs-gate --keep takes them. Returns the index, or -1 (reported). */
static int find_bead_population(const struct st_opts *o, const fcs_stats *s)
{
    int pop = fcs_stats_find_population(s, o->beads), other = -1;
    if (pop < 0 && o->beads[0] != '/')
        for (size_t i = 1; i < fcs_stats_n_populations(s); i++) {
            if (strcmp(fcs_stats_population_name(s, i), o->beads) != 0) continue;
            if (pop < 0) pop = (int)i;
            else other = (int)i;
        }
    if (other >= 0)
        fcs_cli_error(o->input, "--beads %s: two populations have this id (%s and %s): give the /path",
                      o->beads, fcs_stats_population_path(s, (size_t)pop),
                      fcs_stats_population_path(s, (size_t)other));
    else if (pop < 0)
        fcs_cli_error(o->input, "--beads %s: no such population in the stream (give its id or /path)",
                      o->beads);
    return other >= 0 ? -1 : pop;
}

static int set_beads(const struct st_opts *o, fcs_reader *r, fcs_stats *s, fcs_bead_lot *lot)
{
    fcs_error err;
    memset(lot, 0, sizeof *lot);
    if (!o->beads) return 0;
    int pop = find_bead_population(o, s);
    if (pop < 0) return FCS_CLI_EXIT_INPUT;
    if (o->bead_lot) {
        fcs_cli_note_input(o->bead_lot); /* -o cannot replace it */
        if (fcs_bead_lot_read(o->bead_lot, lot, &err) != FCS_OK) return fcs_cli_error_lib(o->bead_lot, err.msg);
    } else if (o->bpt_given) {
        lot->beads_per_test = o->bpt;
        lot->volume_ul = o->volume;
    } else {
        int rc = fcs_bead_lot_from_keywords(r, lot, &err);
        if (rc == FCS_ENOTFOUND)
            return fcs_cli_error(o->input, "--beads: no bead numbers: give --beads-per-test and "
                                 "--volume, or --bead-lot, or the keywords LIBFCS_BEADS_PER_TEST "
                                 "and LIBFCS_VOLUME_UL");
        if (rc != FCS_OK) return fcs_cli_error(o->input, "%s", err.msg);
    }
    if (fcs_stats_set_beads(s, (size_t)pop, lot->beads_per_test, lot->volume_ul) != FCS_OK)
        return fcs_cli_error(o->input, "%s", fcs_stats_errmsg(s));
    return 0;
}

/* ---- computing ------------------------------------------------------------------------------- */

/* float32 keeps every value exactly when all parameters are stored as F. */
static int all_float(fcs_reader *r)
{
    for (size_t j = 0; j < fcs_n_params(r); j++)
        if (fcs_param_info(r, j)->datatype != 'F') return 0;
    return 1;
}

static int build_stats(const struct st_opts *o, fcs_reader *r, const struct gate_here *gh,
                       fcs_stats **out, fcs_bead_lot *lot)
{
    fcs_stats_opts so;
    fcs_error err;
    fcs_stats_opts_init(&so);
    so.stats = o->stats;
    so.n_stats = (size_t)o->n_stats;
    so.f32 = all_float(r);
    so.geomean_nonpositive = o->geo_nan ? FCS_GEOMEAN_NAN : FCS_GEOMEAN_EXCLUDE;
    so.expected_events = fcs_n_events(r);
    size_t np = fcs_n_params(r), width = np + (gh ? gh->npop : 0);
    if (fcs_stats_new(out, width, &so, &err) != FCS_OK) return fcs_cli_error(o->input, "%s", err.msg);
    int rc = o->truth ? truth_populations(o, r, *out) : gh ? strategy_populations(o, gh, np, *out) : 0;
    if (!rc && !o->truth && !gh && fcs_stats_add_stream_populations(*out, r) < 0)
        rc = fcs_cli_error_lib(o->input, fcs_stats_errmsg(*out));
    if (!rc) rc = add_channels(o, r, *out);
    if (!rc) rc = set_beads(o, r, *out, lot);
    return rc;
}

/* After the last chunk: every event there, then the order statistics. */
static int finish_stream(const struct st_opts *o, fcs_reader *r, fcs_stats *s, int rc)
{
    if (!rc && fcs_stats_total(s) < fcs_n_events(r))
        rc = fcs_cli_error(o->input, "DATA ends after %" PRId64 " of %" PRId64 " events",
                           fcs_stats_total(s), fcs_n_events(r));
    if (!rc && fcs_stats_finish(s) != FCS_OK) rc = fcs_cli_error(o->input, "%s", fcs_stats_errmsg(s));
    return rc;
}

static int stream_events(const struct st_opts *o, fcs_reader *r, fcs_stats *s)
{
    size_t np = fcs_n_params(r) ? fcs_n_params(r) : 1;
    int f32 = all_float(r);
    void *buf = malloc(CHUNK * np * (f32 ? sizeof(float) : sizeof(double)));
    if (!buf) return fcs_cli_error(NULL, "out of memory");
    fcs_cli_progress prog;
    fcs_cli_progress_start(&prog, fcs_n_events(r));
    int rc = 0;
    for (;;) {
        int64_t n = f32 ? fcs_read_events_f32(r, buf, CHUNK, FCS_VALUES_SCALED)
                        : fcs_read_events(r, buf, CHUNK, FCS_VALUES_SCALED);
        if (n < 0) rc = fcs_cli_error_lib(o->input, fcs_errmsg(r));
        if (n <= 0) break;
        int prc = f32 ? fcs_stats_push_f32(s, buf, (size_t)n) : fcs_stats_push(s, buf, (size_t)n);
        if (prc != FCS_OK) {
            rc = fcs_cli_error(o->input, "%s", fcs_stats_errmsg(s));
            break;
        }
        fcs_cli_progress_update(&prog, fcs_stats_total(s));
    }
    fcs_cli_progress_end(&prog);
    free(buf);
    return finish_stream(o, r, s, rc);
}

/* The buffers of one gated chunk: np channel columns, npop membership
 * columns, and the events as fcs_stats takes them (values, then memberships). */
struct gated_chunk {
    size_t np, npop, width;
    int f32;
    double *cbuf;
    const double **cols;
    uint8_t *mbuf;
    uint8_t **mem;
    void *rows;
};

static void gated_chunk_free(struct gated_chunk *c)
{
    free(c->cbuf);
    free(c->cols);
    free(c->mbuf);
    free(c->mem);
    free(c->rows);
}

static int gated_chunk_alloc(struct gated_chunk *c, const struct st_opts *o, fcs_reader *r, size_t npop)
{
    memset(c, 0, sizeof *c);
    c->np = fcs_n_params(r);
    c->npop = npop;
    c->width = c->np + npop;
    c->f32 = all_float(r);
    if (c->width > SIZE_MAX / CHUNK / sizeof(double))
        return fcs_cli_error(o->input, "%zu parameters and %zu populations: too many", c->np, npop);
    c->cbuf = malloc(CHUNK * (c->np ? c->np : 1) * sizeof *c->cbuf);
    c->cols = calloc(c->np ? c->np : 1, sizeof *c->cols);
    c->mbuf = malloc(CHUNK * (npop ? npop : 1));
    c->mem = calloc(npop ? npop : 1, sizeof *c->mem);
    c->rows = malloc(CHUNK * (c->width ? c->width : 1) * (c->f32 ? sizeof(float) : sizeof(double)));
    if (!c->cbuf || !c->cols || !c->mbuf || !c->mem || !c->rows) return fcs_cli_error(NULL, "out of memory");
    for (size_t j = 0; j < c->np; j++) c->cols[j] = c->cbuf + j * CHUNK;
    for (size_t p = 0; p < npop; p++) c->mem[p] = c->mbuf + p * CHUNK;
    return 0;
}

/* Event i of the chunk = its np values, then its npop memberships (1/0), as
 * the POP: parameters of fcs-gate's stream would be; the stream's precision. */
static void interleave(struct gated_chunk *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (c->f32) {
            float *dst = (float *)c->rows + i * c->width;
            for (size_t j = 0; j < c->np; j++) dst[j] = (float)c->cols[j][i];
            for (size_t p = 0; p < c->npop; p++) dst[c->np + p] = c->mem[p][i];
        } else {
            double *dst = (double *)c->rows + i * c->width;
            for (size_t j = 0; j < c->np; j++) dst[j] = c->cols[j][i];
            for (size_t p = 0; p < c->npop; p++) dst[c->np + p] = c->mem[p][i];
        }
    }
}

/* With -g: read a chunk column by column, gate it, push it with its memberships. */
static int stream_gated(const struct st_opts *o, fcs_reader *r, struct gate_here *gh, fcs_stats *s)
{
    struct gated_chunk c;
    int rc = gated_chunk_alloc(&c, o, r, gh->npop);
    fcs_cli_progress prog;
    fcs_cli_progress_start(&prog, fcs_n_events(r));
    while (!rc) {
        int64_t n = fcs_read_events(r, c.cbuf, CHUNK, FCS_VALUES_SCALED | FCS_VALUES_COLUMNS);
        if (n < 0) rc = fcs_cli_error_lib(o->input, fcs_errmsg(r));
        if (n <= 0) break;
        if (fcs_gating_run(gh->g, c.cols, (size_t)n, c.mem) != FCS_OK) {
            rc = fcs_cli_error(o->input, "gating failed: %s", fcs_gating_errmsg(gh->g));
            break;
        }
        interleave(&c, (size_t)n);
        int prc = c.f32 ? fcs_stats_push_f32(s, c.rows, (size_t)n) : fcs_stats_push(s, c.rows, (size_t)n);
        if (prc != FCS_OK) rc = fcs_cli_error(o->input, "%s", fcs_stats_errmsg(s));
        fcs_cli_progress_update(&prog, fcs_stats_total(s));
    }
    fcs_cli_progress_end(&prog);
    gated_chunk_free(&c);
    return finish_stream(o, r, s, rc);
}

/* ---- the sample --------------------------------------------------------------------------------- */

/* "dir/p7_d28.fcs.gz" -> "p7_d28". */
static void base_id(const char *path, char *out, size_t n)
{
    const char *b = strrchr(path, '/');
    snprintf(out, n, "%s", b ? b + 1 : path);
    size_t len = strlen(out);
    if (len > 3 && strcasecmp(out + len - 3, ".gz") == 0) out[len -= 3] = '\0';
    if (len > 4 && strcasecmp(out + len - 4, ".fcs") == 0) out[len - 4] = '\0';
}

static void default_id(const struct st_opts *o, fcs_reader *r, char *out, size_t n)
{
    if (strcmp(o->input, "-") != 0) {
        base_id(o->input, out, n);
        return;
    }
    const char *src = fcs_keyword(r, "LIBFCS_SOURCES"), *fil = fcs_keyword(r, "$FIL");
    if (src && *src && !strchr(src, ',') && strcmp(src, "<stdin>") != 0) base_id(src, out, n);
    else if (fil && *fil) base_id(fil, out, n);
    else snprintf(out, n, "stdin");
}

static const char *kw_or_empty(fcs_reader *r, const char *name)
{
    const char *v = fcs_keyword(r, name);
    return v ? v : "";
}

/* The keywords kept as obs columns: -k, or the default list when present. */
static size_t sample_keywords(const struct st_opts *o, fcs_reader *r, const char **names, const char **values)
{
    static const char *def[] = {"$FIL", "$SRC", "$SMNO", "$PROJ", "$CYTSN"};
    size_t n = 0;
    int nk = o->n_keywords ? o->n_keywords : 5;
    for (int i = 0; i < nk; i++) {
        const char *k = o->n_keywords ? o->keywords[i] : def[i];
        const char *v = fcs_keyword(r, k);
        if (!v && !o->n_keywords) continue;
        names[n] = k;
        values[n++] = v ? v : "";
    }
    return n;
}

static int make_summary(const struct st_opts *o, const struct input *in, const fcs_stats *s,
                        const fcs_bead_lot *lot, const struct gate_here *gh, fcs_summary **out)
{
    char id[512];
    const char *kn[MAX_LIST], *kv[MAX_LIST];
    fcs_summary_sample d;
    fcs_error err;
    fcs_summary_sample_init(&d);
    default_id(o, in->r, id, sizeof id);
    d.id = o->sample_id ? o->sample_id : id;
    d.file = fcs_cli_input_name(o->input);
    d.source = fcs_keyword(in->r, "LIBFCS_SOURCES") ? fcs_keyword(in->r, "LIBFCS_SOURCES") : d.file;
    d.sha256 = in->sha;
    d.dataset = o->dataset;
    d.date = kw_or_empty(in->r, "$DATE");
    d.btim = kw_or_empty(in->r, "$BTIM");
    d.cyt = kw_or_empty(in->r, "$CYT");
    d.strategy = gh ? gh->keyword : kw_or_empty(in->r, "LIBFCS_GATING");
    d.strategy_text = gh ? gh->text : kw_or_empty(in->r, "LIBFCS_GATING_TEXT");
    d.bead_lot = lot->lot;
    d.tool = fcs_cli_tool_version();
    d.n_keywords = sample_keywords(o, in->r, kn, kv);
    d.keyword_names = kn;
    d.keyword_values = kv;
    if (fcs_summary_new(out, &err) != FCS_OK) return fcs_cli_error(NULL, "%s", err.msg);
    if (fcs_summary_add(*out, &d, s, 0) != FCS_OK) return fcs_cli_error(o->input, "%s", fcs_summary_errmsg(*out));
    return 0;
}

/* ---- output --------------------------------------------------------------------------------- */

/* A TSV field: "NA" when empty; tabs and line breaks become blanks. */
static void put_field(FILE *f, const char *s)
{
    if (!s || !*s) {
        fputs("NA", f);
        return;
    }
    for (; *s; s++) fputc(*s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s, f);
}

static int print_tsv(const fcs_summary *sum)
{
    FILE *f = stdout;
    fputs("sample\tpopulation\tparent\tstatistic\tchannel\tmarker\tunit\tvalue\n", f);
    for (size_t i = 0; i < fcs_summary_n_rows(sum) && !fcs_cli_write_failed(f); i++) {
        fcs_summary_row row;
        char num[FCS_CLI_NUM_MAX];
        if (fcs_summary_row_info(sum, i, &row) != FCS_OK) break;
        const char *fields[7] = {row.sample, row.population, row.parent, row.statistic,
                                 row.channel, row.marker, row.unit};
        for (int k = 0; k < 7; k++) {
            put_field(f, fields[k]);
            fputc('\t', f);
        }
        if (isnan(row.value)) fputs("NA", f);
        else fcs_cli_format_double(num, row.value), fputs(num, f);
        fputc('\n', f);
    }
    fflush(f);
    return fcs_cli_write_failed(f) && !fcs_cli_broken_pipe() ? fcs_cli_error("<stdout>", "write error: %s", strerror(errno)) : 0;
}

/* What is computed but most likely not what was meant. */
static void warn_results(const struct st_opts *o, const fcs_stats *s)
{
    if (fcs_stats_n_populations(s) <= 1)
        fcs_cli_warn(o->input, "no populations in the stream, only all events '/' (not gated? "
                     "use -g STRATEGY or fcs-gate)");
    int b = fcs_stats_bead_population(s);
    if (b >= 0 && fcs_stats_count(s, (size_t)b) == 0)
        fcs_cli_warn(o->input, "bead population %s has no events: cells_per_ul is NA",
                     fcs_stats_population_path(s, (size_t)b));
}

/* Whether the sample's id is only the fallback of a nameless pipe. */
static int fallback_id(const struct st_opts *o, const fcs_summary *one)
{
    fcs_summary_sample d;
    return !o->sample_id && fcs_summary_sample_info(one, 0, &d) == FCS_OK &&
           strcmp(d.id, "stdin") == 0 && strcmp(o->input, "-") == 0;
}

/* Add the sample to -o: read the summary (if any), merge, write it anew. */
static int update_summary(const struct st_opts *o, const fcs_summary *one)
{
    fcs_summary *sum;
    fcs_error err;
    int rc = fcs_summary_read(&sum, o->output, &err);
    if (rc == FCS_ENOTFOUND) rc = fcs_summary_new(&sum, &err);
    if (rc != FCS_OK) return fcs_cli_error_lib(o->output, err.msg);
    rc = fcs_summary_merge(sum, one, o->replace ? FCS_SUMMARY_REPLACE : 0);
    /* a nameless pipe is not the sample of that name: --replace would lose it */
    if (rc == FCS_EINVAL && !o->replace && fallback_id(o, one) &&
        strstr(fcs_summary_errmsg(sum), "is already used by"))
        fcs_cli_error(o->output, "%s (name this sample with --sample-id ID)", fcs_summary_errmsg(sum));
    else if (rc == FCS_EINVAL && !o->replace)
        fcs_cli_error(o->output, "%s (--replace replaces it)", fcs_summary_errmsg(sum));
    else if (rc != FCS_OK)
        fcs_cli_error(o->output, "%s", fcs_summary_errmsg(sum));
    if (rc == FCS_OK && fcs_summary_set_tool(sum, fcs_cli_tool_version()) != FCS_OK)
        rc = fcs_cli_error(NULL, "out of memory");
    if (rc == FCS_OK) {
        fcs_cli_guard_output(o->output);
        if ((rc = fcs_summary_write(sum, o->output)) != FCS_OK)
            fcs_cli_error_lib(o->output, fcs_summary_errmsg(sum));
    }
    fcs_summary_free(sum);
    return rc == FCS_OK ? 0 : FCS_CLI_EXIT_INPUT;
}

static int run(const struct st_opts *o)
{
    struct input in;
    fcs_stats *s = NULL;
    fcs_summary *one = NULL;
    fcs_bead_lot lot;
    struct gate_here gh, *ghp = o->gates ? &gh : NULL;
    memset(&in, 0, sizeof in);
    memset(&lot, 0, sizeof lot);
    memset(&gh, 0, sizeof gh);
    int rc = ghp ? load_strategy(o, ghp) : 0;
    if (!rc) rc = open_input(o, &in);
    if (!rc && ghp) rc = bind_strategy(o, in.r, ghp);
    if (!rc) rc = build_stats(o, in.r, ghp, &s, &lot);
    if (!rc) rc = ghp ? stream_gated(o, in.r, ghp, s) : stream_events(o, in.r, s);
    if (!rc) warn_results(o, s);
    if (!rc) rc = make_summary(o, &in, s, &lot, ghp, &one);
    if (!rc && o->output) rc = update_summary(o, one);
    if (!rc && o->tsv) rc = print_tsv(one);
    fcs_summary_free(one);
    fcs_stats_free(s);
    close_input(&in);
    gate_here_free(&gh);
    return rc;
}

int main(int argc, char **argv)
{
    static struct st_opts o;
    fcs_cli_init(&TOOL, argc, argv);
    int rc = parse(&o, argc, argv);
    if (rc == FCS_CLI_CONTINUE) rc = run(&o);
    opts_free(&o);
    return fcs_cli_finish(rc);
}
