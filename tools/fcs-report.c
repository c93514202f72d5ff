/*
 * fcs-report — a self-contained HTML QC page for one sample, or for a
 * cohort (several FILEs: a section per sample and a cohort table): the
 * whole gating hierarchy as a grid of plots with every gate drawn on its
 * parent's events, the population statistics (cells/uL with counting
 * beads), the key keywords and the reader's warnings. Opens offline in
 * any browser: nothing is fetched from anywhere.
 *
 * A thin shell over the library (fcs/report.h): options, inputs, the
 * output file. The strategy is read and adapted per sample exactly as
 * fcs-gate and fcs-stats -g do it, so the numbers on the page are theirs.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fcs/gatefile.h"
#include "fcs/report.h"

static const fcs_cli_tool TOOL = {
    "fcs-report",
    "-g STRATEGY [--beads POP [--bead-lot FILE]] [-o FILE.html] [--title TEXT] FILE...",
    "One HTML page (inline SVG plots, no external resources) showing a gating strategy\n"
    "applied to each FILE: plots of every gate on its parent's events, statistics,\n"
    "key keywords and reader warnings; with several FILEs, a cohort table too.\n"
    "  -g, --gates FILE      gating strategy (libfcs gate file or Gating-ML 2.0)\n"
    "      --beads POP       counting-bead population (a /path or an id): cells/uL\n"
    "      --bead-lot FILE   lot, beads_per_test and volume_ul from a key=value file\n"
    "                        [each file's keywords LIBFCS_BEADS_PER_TEST, LIBFCS_VOLUME_UL]\n"
    "  -o, --output FILE     write the page to FILE (via a temporary file, renamed when\n"
    "                        complete) [stdout]\n"
    "      --title TEXT      page title [QC report: FILE, or Cohort of N samples]\n"
    "      --size WxH        size of each plot in pixels [360x340]\n"
    "      --bins N          bins per plot axis [128]\n"
    "  -d, --dataset N       data set N (0-based) of every FILE [0]\n"
    "      --strict          refuse inputs that need a repair (exit 1)\n"
    "  -h, --help            this help\n"
    "      --version         versions of the tool and its libraries\n"};

enum { OPT_BEADS = FCS_CLI_OPT_FIRST_TOOL, OPT_LOT, OPT_TITLE, OPT_SIZE, OPT_BINS };

struct report_opts {
    const char *gates, *beads, *bead_lot, *output, *title;
    int64_t dataset, bins, width, height;
    int strict;
    char **inputs;
    int n_inputs;
};

static int parse(struct report_opts *o, int argc, char **argv)
{
    static const struct option longopts[] = {FCS_CLI_LONGOPTS_COMMON,
                                             {"gates", required_argument, NULL, 'g'},
                                             {"beads", required_argument, NULL, OPT_BEADS},
                                             {"bead-lot", required_argument, NULL, OPT_LOT},
                                             {"output", required_argument, NULL, 'o'},
                                             {"title", required_argument, NULL, OPT_TITLE},
                                             {"size", required_argument, NULL, OPT_SIZE},
                                             {"bins", required_argument, NULL, OPT_BINS},
                                             {"dataset", required_argument, NULL, 'd'},
                                             {"strict", no_argument, NULL, FCS_CLI_OPT_STRICT},
                                             {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof *o);
    o->bins = 128;
    o->width = 360;
    o->height = 340;
    int c;
    while ((c = getopt_long(argc, argv, "hg:o:d:", longopts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case 'g': o->gates = optarg; break;
        case OPT_BEADS: o->beads = optarg; break;
        case OPT_LOT: o->bead_lot = optarg; break;
        case 'o': o->output = optarg; break;
        case OPT_TITLE: o->title = optarg; break;
        case OPT_SIZE:
            rc = fcs_cli_parse_size(optarg, "--size", 200, 2000, &o->width, &o->height);
            break;
        case OPT_BINS: rc = fcs_cli_parse_int(optarg, "--bins", 2, 1024, &o->bins); break;
        case 'd': rc = fcs_cli_parse_int(optarg, "-d", 0, INT32_MAX, &o->dataset); break;
        case FCS_CLI_OPT_STRICT: o->strict = 1; break;
        default: return fcs_cli_common_option(c);
        }
        if (rc) return rc;
    }
    if (!o->gates) return fcs_cli_usage_error("-g STRATEGY is needed");
    if (o->bead_lot && !o->beads) return fcs_cli_usage_error("--bead-lot needs --beads POP");
    int rc = fcs_cli_inputs(argc - optind, argv + optind, &o->inputs, &o->n_inputs);
    if (rc) return rc;
    int dashes = strcmp(o->gates, "-") == 0;
    for (int i = 0; i < o->n_inputs; i++) dashes += strcmp(o->inputs[i], "-") == 0;
    if (dashes > 1) return fcs_cli_usage_error("standard input ('-') can be read only once");
    return FCS_CLI_CONTINUE;
}

/* Strategy and bead lot, then the empty report. */
static int new_report(const struct report_opts *o, fcs_strategy **s, fcs_report **rep)
{
    fcs_error err;
    if (fcs_gatefile_read(s, o->gates, &err) != FCS_OK) return fcs_cli_error_lib(o->gates, err.msg);
    fcs_cli_note_input(o->gates);
    fcs_bead_lot lot;
    if (o->bead_lot && fcs_bead_lot_read(o->bead_lot, &lot, &err) != FCS_OK)
        return fcs_cli_error_lib(o->bead_lot, err.msg);
    if (o->bead_lot) fcs_cli_note_input(o->bead_lot);
    fcs_report_opts ro;
    fcs_report_opts_init(&ro);
    ro.title = o->title;
    ro.strategy_name = fcs_cli_input_name(o->gates);
    ro.bead_population = o->beads;
    ro.bead_lot = o->bead_lot ? &lot : NULL;
    ro.plot_width = (unsigned)o->width;
    ro.plot_height = (unsigned)o->height;
    ro.bins = (size_t)o->bins;
    if (fcs_report_new(rep, *s, &ro, &err) != FCS_OK) return fcs_cli_error_lib(o->gates, err.msg);
    return 0;
}

static int add_input(const struct report_opts *o, fcs_report *rep, const char *path)
{
    fcs_read_opts ro;
    fcs_read_opts_init(&ro);
    ro.strict = o->strict;
    fcs_reader *r;
    if (fcs_cli_open_dataset(&r, path, &ro, o->dataset)) return FCS_CLI_EXIT_INPUT;
    int rc = 0;
    if (fcs_report_add_sample(rep, r, fcs_cli_input_name(path)) != FCS_OK)
        rc = fcs_cli_error_lib(path, fcs_report_errmsg(rep));
    else
        fcs_cli_report_warnings(path, r);
    fcs_close(r);
    return rc;
}

static int write_page(const struct report_opts *o, fcs_report *rep)
{
    char *html;
    size_t len;
    if (fcs_report_html(rep, &html, &len) != FCS_OK)
        return fcs_cli_error(NULL, "%s", fcs_report_errmsg(rep));
    int rc = fcs_cli_out_write_all(o->output, html, len);
    free(html);
    return rc;
}

static int run(const struct report_opts *o)
{
    for (int i = 0; i < o->n_inputs; i++) fcs_cli_note_input(o->inputs[i]);
    if (fcs_cli_check_output(o->output)) return FCS_CLI_EXIT_INPUT;
    fcs_strategy *s = NULL;
    fcs_report *rep = NULL;
    int rc = new_report(o, &s, &rep);
    for (int i = 0; !rc && i < o->n_inputs; i++) rc = add_input(o, rep, o->inputs[i]);
    if (!rc) rc = write_page(o, rep);
    fcs_report_free(rep);
    fcs_strategy_free(s);
    return rc;
}

int main(int argc, char **argv)
{
    struct report_opts o;
    fcs_cli_init(&TOOL, argc, argv);
    int rc = parse(&o, argc, argv);
    if (rc == FCS_CLI_CONTINUE) rc = run(&o);
    return fcs_cli_finish(rc);
}
