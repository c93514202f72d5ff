/*
 * fcs-h5 — work with libfcs cohort summaries (AnnData .h5ad files written by
 * fcs-stats; layout in docs/hdf5-layout.md):
 *   merge   several summaries into one (-o), crash-safely
 *   ls      what a summary holds: its samples, or its populations (-p)
 *   export  the tidy statistics table as TSV or CSV
 * Foreign, damaged, truncated and unfinished (NAME.tmp.<pid>) files are
 * refused with a one-line message and exit status 1.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const fcs_cli_tool TOOL = {
    "fcs-h5",
    "merge [--replace] -o OUT.h5ad IN.h5ad... | ls [-p] FILE... | export [-f tsv|csv] [-o OUT] FILE",
    "Cohort summaries (AnnData .h5ad files written by fcs-stats).\n"
    "  merge [--replace] -o OUT IN...  all samples of the inputs in one summary OUT\n"
    "                                  (OUT may be one of the inputs); a sample that is\n"
    "                                  in two inputs is refused unless --replace (the\n"
    "                                  later one wins)\n"
    "  ls [-p] FILE...                 the samples (TSV), or with -p the populations\n"
    "  export [-f tsv|csv] [-o OUT] FILE  the tidy table: sample, population, parent,\n"
    "                                  statistic, channel, marker, unit, value (NA when\n"
    "                                  missing) [tsv, stdout]\n"
    "  -h, --help                      this help\n"
    "      --version                   versions of the tool and its libraries\n"};

enum { OPT_REPLACE = FCS_CLI_OPT_FIRST_TOOL };

struct h5_opts {
    const char *cmd;
    const char *output;
    int replace, populations, csv;
    char **files;
    int n_files;
};

static int parse(struct h5_opts *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        FCS_CLI_LONGOPTS_COMMON,
        {"output", required_argument, NULL, 'o'},
        {"replace", no_argument, NULL, OPT_REPLACE},
        {"populations", no_argument, NULL, 'p'},
        {"format", required_argument, NULL, 'f'},
        {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof *o);
    /* fcs-h5 --help / --version before a command */
    if (argc > 1 && argv[1][0] == '-') {
        if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) return fcs_cli_help();
        if (!strcmp(argv[1], "--version")) return fcs_cli_version();
    }
    if (argc < 2) return fcs_cli_usage_error("no command (merge, ls or export)");
    o->cmd = argv[1];
    if (strcmp(o->cmd, "merge") && strcmp(o->cmd, "ls") && strcmp(o->cmd, "export"))
        return fcs_cli_usage_error("unknown command '%s' (merge, ls or export)", o->cmd);
    int c;
    opterr = 0;
    optind = 2;
    while ((c = getopt_long(argc, argv, ":ho:pf:", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': o->output = optarg; break;
        case OPT_REPLACE: o->replace = 1; break;
        case 'p': o->populations = 1; break;
        case 'f':
            if (strcmp(optarg, "tsv") && strcmp(optarg, "csv"))
                return fcs_cli_usage_error("-f: 'tsv' or 'csv', not '%s'", optarg);
            o->csv = strcmp(optarg, "csv") == 0;
            break;
        default: return fcs_cli_common_option(c);
        }
    }
    o->files = argv + optind;
    o->n_files = argc - optind;
    int merge = !strcmp(o->cmd, "merge"), ls = !strcmp(o->cmd, "ls");
    if (o->n_files == 0) return fcs_cli_usage_error("%s: no input file", o->cmd);
    if (merge && !o->output) return fcs_cli_usage_error("merge: -o OUT is required");
    if (merge && fcs_cli_is_stdout(o->output)) return fcs_cli_usage_error("merge: HDF5 cannot be written to a pipe");
    if (!merge && o->replace) return fcs_cli_usage_error("--replace is an option of merge");
    if (!ls && o->populations) return fcs_cli_usage_error("-p is an option of ls");
    if (!strcmp(o->cmd, "export") && o->n_files != 1) return fcs_cli_usage_error("export: one file at a time");
    if (ls && o->output) return fcs_cli_usage_error("ls writes to stdout");
    return FCS_CLI_CONTINUE;
}

static int open_summary(const char *path, fcs_summary **out)
{
    fcs_error err;
    if (fcs_summary_read(out, path, &err) != FCS_OK) return fcs_cli_error_lib(path, err.msg);
    return 0;
}

/* ---- merge ------------------------------------------------------------------------ */

static int run_merge(const struct h5_opts *o)
{
    fcs_summary *dst;
    fcs_error err;
    if (fcs_summary_new(&dst, &err) != FCS_OK) return fcs_cli_error(NULL, "%s", err.msg);
    int rc = 0;
    for (int i = 0; !rc && i < o->n_files; i++) {
        fcs_summary *src;
        if ((rc = open_summary(o->files[i], &src))) break;
        int m = fcs_summary_merge(dst, src, o->replace ? FCS_SUMMARY_REPLACE : 0);
        if (m != FCS_OK)
            rc = fcs_cli_error(o->files[i], "%s%s", fcs_summary_errmsg(dst),
                               m == FCS_EINVAL && !o->replace ? " (--replace keeps the later one)" : "");
        fcs_summary_free(src);
    }
    if (!rc && fcs_summary_set_tool(dst, fcs_cli_tool_version()) != FCS_OK)
        rc = fcs_cli_error(NULL, "out of memory");
    if (!rc) {
        fcs_cli_guard_output(o->output);
        if (fcs_summary_write(dst, o->output) != FCS_OK) rc = fcs_cli_error_lib(o->output, fcs_summary_errmsg(dst));
    }
    fcs_summary_free(dst);
    return rc;
}

/* ---- ls ------------------------------------------------------------------------------ */

/* A TSV field: "NA" when empty; tabs and line breaks become blanks. */
static void put_tsv(FILE *f, const char *s)
{
    if (!s || !*s) {
        fputs("NA", f);
        return;
    }
    for (; *s; s++) fputc(*s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s, f);
}

static void put_int(FILE *f, int64_t v)
{
    if (v < 0) fputs("NA", f);
    else fprintf(f, "%" PRId64, v);
}

static void ls_samples(FILE *f, const char *path, const fcs_summary *s)
{
    fputs("summary\tsample\tfile\tdataset\ttotal_events\tpopulations\tsha256\tgating_strategy\n", f);
    for (size_t i = 0; i < fcs_summary_n_samples(s); i++) {
        fcs_summary_sample d;
        size_t with = 0;
        fcs_summary_sample_info(s, i, &d);
        for (size_t p = 0; p < fcs_summary_n_populations(s); p++) {
            fcs_summary_cell c;
            fcs_summary_cell_info(s, i, p, &c);
            with += c.count >= 0;
        }
        const char *str[3] = {path, d.id, d.file};
        for (int k = 0; k < 3; k++) put_tsv(f, str[k]), fputc('\t', f);
        put_int(f, d.dataset), fputc('\t', f);
        put_int(f, d.total_events), fputc('\t', f);
        fprintf(f, "%zu\t", with);
        put_tsv(f, d.sha256), fputc('\t', f);
        put_tsv(f, d.strategy), fputc('\n', f);
    }
}

static void ls_populations(FILE *f, const char *path, const fcs_summary *s)
{
    fputs("summary\tpopulation\tname\tparent\tdepth\tsamples\n", f);
    for (size_t p = 0; p < fcs_summary_n_populations(s); p++) {
        fcs_summary_population info;
        size_t with = 0;
        fcs_summary_population_info(s, p, &info);
        for (size_t i = 0; i < fcs_summary_n_samples(s); i++) {
            fcs_summary_cell c;
            fcs_summary_cell_info(s, i, p, &c);
            with += c.count >= 0;
        }
        const char *str[4] = {path, info.path, info.name, info.parent};
        for (int k = 0; k < 4; k++) put_tsv(f, str[k]), fputc('\t', f);
        fprintf(f, "%" PRId64 "\t%zu\n", info.depth, with);
    }
}

static int run_ls(const struct h5_opts *o)
{
    int rc = 0, header = 1;
    for (int i = 0; i < o->n_files && !fcs_cli_broken_pipe(); i++) {
        fcs_summary *s;
        if (open_summary(o->files[i], &s)) {
            rc = FCS_CLI_EXIT_INPUT;
            continue;
        }
        if (!header) fputc('\n', stdout);
        header = 0;
        if (o->populations) ls_populations(stdout, o->files[i], s);
        else ls_samples(stdout, o->files[i], s);
        fcs_summary_free(s);
        if (fcs_cli_write_failed(stdout)) break;
    }
    return rc;
}

/* ---- export ------------------------------------------------------------------------------ */

/* A CSV field (RFC 4180): quoted when it holds a comma, quote or line break. */
static void put_csv(FILE *f, const char *s)
{
    if (!s || !*s) {
        fputs("NA", f);
        return;
    }
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void export_rows(FILE *f, const fcs_summary *s, int csv)
{
    static const char *cols[8] = {"sample", "population", "parent", "statistic",
                                  "channel", "marker", "unit", "value"};
    char sep = csv ? ',' : '\t';
    for (int k = 0; k < 8; k++) fprintf(f, "%s%c", cols[k], k < 7 ? sep : '\n');
    for (size_t i = 0; i < fcs_summary_n_rows(s); i++) {
        fcs_summary_row r;
        char num[FCS_CLI_NUM_MAX];
        fcs_summary_row_info(s, i, &r);
        const char *v[7] = {r.sample, r.population, r.parent, r.statistic, r.channel, r.marker, r.unit};
        for (int k = 0; k < 7; k++) {
            if (csv) put_csv(f, v[k]);
            else put_tsv(f, v[k]);
            fputc(sep, f);
        }
        if (isnan(r.value)) fputs("NA", f);
        else fcs_cli_format_double(num, r.value), fputs(num, f);
        fputc('\n', f);
        if ((i & 1023) == 0 && fcs_cli_write_failed(f)) break;
    }
    fflush(f);
    fcs_cli_write_failed(f); /* notes a broken pipe: a quiet end */
}

static int run_export(const struct h5_opts *o)
{
    fcs_summary *s;
    /* the summary is read whole and closed: note it, so that -o cannot replace it */
    fcs_cli_note_input(o->files[0]);
    if (fcs_cli_check_output(o->output)) return FCS_CLI_EXIT_INPUT;
    if (open_summary(o->files[0], &s)) return FCS_CLI_EXIT_INPUT;
    fcs_cli_out out;
    int rc = fcs_cli_out_open(&out, o->output);
    if (!rc) {
        export_rows(out.f, s, o->csv);
        if (out.f != stdout && ferror(out.f)) {
            rc = fcs_cli_error(o->output, "write error: %s", strerror(errno));
            fcs_cli_out_abort(&out);
        } else {
            rc = fcs_cli_out_commit(&out);
        }
    }
    fcs_summary_free(s);
    return rc;
}

int main(int argc, char **argv)
{
    struct h5_opts o;
    fcs_cli_init(&TOOL, argc, argv);
    int rc = parse(&o, argc, argv);
    if (rc != FCS_CLI_CONTINUE) return fcs_cli_finish(rc);
    if (!strcmp(o.cmd, "merge")) rc = run_merge(&o);
    else if (!strcmp(o.cmd, "ls")) rc = run_ls(&o);
    else rc = run_export(&o);
    return fcs_cli_finish(rc);
}
