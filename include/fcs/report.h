/*
 * fcs/report.h — the QC report: one self-contained HTML page per sample (or
 * per cohort) that shows a gating strategy applied to FCS data: every gate
 * drawn on its parent population's events as a grid of plots (fcs/plot.h),
 * the population statistics (fcs/stats.h), the file's key keywords and the
 * reader's warnings. Also the two pieces the report and fcs-plot share: how
 * a strategy gate is drawn on a plot, and the default range of an axis.
 *
 * Usage sketch (a page for two samples)
 *
 *     fcs_strategy *s;                          // fcs_gatefile_read(&s, "strategy.txt", &err)
 *     fcs_report_opts o;
 *     fcs_report_opts_init(&o);
 *     o.title = "Patient P01";
 *     o.strategy_name = "strategy.txt";
 *     o.bead_population = "/Time/Beads";        // cells/uL (lot from the keywords, or o.bead_lot)
 *     fcs_report *rep;
 *     if (fcs_report_new(&rep, s, &o, &err) != FCS_OK) ...      // err.msg
 *     for (each file) {
 *         fcs_open(&r, path, NULL, &err) ...
 *         if (fcs_report_add_sample(rep, r, path) != FCS_OK) ... // fcs_report_errmsg(rep)
 *         fcs_close(r);
 *     }
 *     char *html; size_t len;
 *     if (fcs_report_html(rep, &html, &len) != FCS_OK) ...
 *     fwrite(html, 1, len, f); free(html);
 *     fcs_report_free(rep);
 *
 * Samples. fcs_report_add_sample() reads every event of the reader's
 * selected data set once, in chunks (memory does not grow with the number
 * of events): the strategy is adapted to the stream (fcs_strategy_for_stream:
 * what fcs-comp / fcs-xform already applied is not applied again) and
 * bound with the data set's own spillover (fcs_gating_new), exactly as
 * fcs-gate and fcs-stats -g do, so the numbers are theirs. Each chunk is
 * gated (fcs_gating_run); the memberships go to a statistics object
 * (fcs_stats: count, % of parent, % of total, cells/uL) and the plotted
 * values are the engine's own (fcs_gating_dim_values): nothing is
 * recomputed another way. When the sample is complete its plots are
 * rendered (SVG) and kept with its tables; the reader is no longer needed.
 *
 * Panels (the grid). A panel is a plot of one population's events (all
 * events for gates without parent) on one or two gate dimensions, with
 * every child gate of that population that is defined on the same
 * dimensions drawn on it (either order; e.g. CD4 and CD8 on CD4 x CD8 in one
 * panel), each labelled "ID COUNT (PCT%)" from the statistics. The
 * dimensions of a gate are, in pairs, its own: a 1- or 2-D gate gives one
 * panel, a rectangle of n dimensions ceil(n / 2) panels (dimensions 1-2,
 * 3-4, ...; the last one a histogram when n is odd); a polygon one; an
 * ellipsoid of n > 2 dimensions one panel of its first two, with its
 * projection; a quadrant gate pairs its dividers alike; boolean gates have
 * no panel (they are in the table). 1-D panels are histograms. Two gate
 * dimensions are the same when the bound engine computes the same values
 * for them (fcs_gate_dim_source ids). Panels are grouped by plotted
 * population in the order of the population tree
 * (fcs_strategy_population_tree), all events first; a population's panels
 * in the tree order of their gates. Axis titles: channel, marker and scale
 * ("comp. FCS" for a compensated dimension). Axis scales: the
 * transformation of the first gate dimension on the axis that has one
 * (drawn on [0, 1] for the Gating-ML scales), a stream's LIBFCS_PnTRANSFORM
 * for the tick labels, else linear over the channel's $PnR
 * (fcs_report_axis_range); an axis with neither (a ratio on no scale)
 * spans its gates' coordinates with a margin. The caption of a panel
 * names the plotted population and the gates drawn, which dimensions of a
 * gate of more dimensions it shows, and a gate the plot could not draw
 * ("not drawn: " and why) — the gate still counts in the tables.
 *
 * The page. One HTML5 document that is also well-formed XML (XHTML
 * namespace; every inline SVG is a complete, well-formed <svg> element), in
 * UTF-8; keyword text that is not valid UTF-8 is read as Latin-1, control
 * characters become U+FFFD. Everything is inline — CSS in one <style>
 * element, plots as inline SVG with their density images as data: URIs, no
 * script, no font, image or style sheet from anywhere else — so it opens
 * offline in any browser and fetches nothing. Ids inside the plots are made
 * unique per panel. Structure (classes and data attributes are stable, for
 * scripts and tests):
 *   <table class="cohort">     with more than one sample: one row per
 *                              population, one column per sample (% of
 *                              parent, count, cells/uL);
 *   <section class="sample" id="sample-K" data-file="NAME"> per sample:
 *     <table class="keywords">   $CYT, $DATE, $BTIM, $ETIM, $TOT, $SPILLOVER
 *                                (present: its size and keyword), then every
 *                                LIBFCS_* keyword (provenance) in file order;
 *     <ul class="warnings">      the reader's warnings, each <li class="warning">
 *                                (a <p class="no-warnings"> when none);
 *     <table class="stats">      one <tr data-population="PATH"> per population in
 *                                tree order ("/" = all events first), cells
 *                                td.count, td.pct-parent, td.pct-total, td.cells-per-ul
 *                                ("NA" when undefined; the cells/uL column only with
 *                                beads);
 *     <div class="panels">       one <figure class="panel" data-parent="PATH"
 *                                data-gates="ID ..."> per panel holding its <svg>
 *                                and a <figcaption>.
 * Numbers: counts as integers, percentages with two decimals, cells/uL with
 * one; the labels on the plots have one decimal (fcs_plot_gate_label).
 *
 * Errors. Functions return FCS_OK or a negative FCS_E* status; the report
 * keeps a one-line message (fcs_report_errmsg) naming the sample; creation
 * fills err. Nothing is printed. Ownership and threads: the report keeps a
 * pointer to the strategy, which must outlive it unchanged, and copies
 * everything else it is given; a report is used by one thread at a time,
 * separate reports are independent.
 */
#ifndef FCS_REPORT_H
#define FCS_REPORT_H

#include <stdint.h>

#include "fcs/common.h"
#include "fcs/gate.h"
#include "fcs/plot.h"
#include "fcs/reader.h"
#include "fcs/stats.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- shared with fcs-plot ---------------------------------------------------------- */

/**
 * Draw gate gi (fcs_strategy_gate order) of strategy s on plot p.
 * dims[0] is the gate dimension (for a quadrant gate: the divider) shown on
 * the plot's x axis, dims[1] the one on its y axis (ignored for a 1-D
 * histogram). Rectangles show their bounds on those two dimensions (other
 * dimensions do not show); polygons need dims {0, 1} or {1, 0}; ellipsoids
 * show their projection onto the two dimensions (for 2 dimensions: the
 * ellipse itself); quadrant gates show their dividers' lines and, when the
 * plot shows all of the gate's dividers, each quadrant's label in its
 * region. Coordinates go through the transformations of the gate's
 * dimensions (the gate transforms of fcs/plot.h). Labels are
 * "ID COUNT (PCT%)" with count[q] and pct_parent[q] of population q
 * (fcs_strategy_n_populations order; count NULL: no labels) — numbers the
 * caller takes from the statistics. FCS_ERANGE when there is no gate gi,
 * FCS_EINVAL for one that cannot be drawn so (boolean; dims out of range;
 * a polygon or ellipsoid on a histogram, or a polygon on other dimensions),
 * or the status of the failed fcs_plot call (message: fcs_plot_errmsg).
 */
FCS_EXPORT int fcs_report_draw_gate(fcs_plot *p, const fcs_strategy *s, size_t gi,
                                    const size_t dims[2], const int64_t *count,
                                    const double *pct_parent) FCS_WARN_UNUSED;

/**
 * Default range (positions) of an axis showing parameter param on scale
 * s: [0, 1] when the outer transform (s->display, else s->applied) is a
 * Gating-ML scale (flin, flog, fasinh, logicle, hyperlog, biex); otherwise
 * from the top of the parameter's scale — $PnR, or 10^decades x offset for
 * a log-amplified integer parameter, divided by a gain other than 1; read
 * back through s->applied when set; 262144 when unusable — as positions of
 * [0, top] (log: [1, top], or [top / 10^4, top] for top <= 10; asinh:
 * [-0.2 pos(top), pos(top)]). param may be NULL (no parameter, e.g. a
 * ratio) only on a Gating-ML scale. FCS_EINVAL when no finite range with
 * lo < hi results.
 */
FCS_EXPORT int fcs_report_axis_range(const fcs_param *param, const fcs_plot_scale *s, double *lo,
                                     double *hi) FCS_WARN_UNUSED;

/* ---- the report ------------------------------------------------------------------------ */

typedef struct fcs_report fcs_report;

/** Options for fcs_report_new(). Fill with fcs_report_opts_init() first;
 *  strings are copied. */
typedef struct fcs_report_opts {
    const char *title;            /**< page title [the sample's name, or "Cohort of N samples"] */
    const char *strategy_name;    /**< shown as the strategy's source (e.g. its path) [none] */
    const char *bead_population;  /**< counting beads: a population path ("/Time/Beads") or
                                       id; NULL: no cells/uL */
    const fcs_bead_lot *bead_lot; /**< beads per test and volume (copied); NULL: each sample's
                                       keywords LIBFCS_BEADS_PER_TEST, LIBFCS_VOLUME_UL */
    unsigned plot_width;          /**< each panel in SVG units [360]; 200..2000 */
    unsigned plot_height;         /**< [340]; 200..2000 */
    size_t bins;                  /**< bins per axis [128]; 2..1024 */
} fcs_report_opts;

FCS_EXPORT void fcs_report_opts_init(fcs_report_opts *opts);

/**
 * New empty report for strategy s (validated here; it must stay alive and
 * unchanged while the report is used). FCS_EINVAL for bad options (message
 * in err), the errors of fcs_strategy_validate, FCS_ENOMEM.
 */
FCS_EXPORT int fcs_report_new(fcs_report **out, const fcs_strategy *s, const fcs_report_opts *opts,
                              fcs_error *err) FCS_WARN_UNUSED;
/** Free the report. Accepts NULL. */
FCS_EXPORT void fcs_report_free(fcs_report *rep);
/** One-line message of the last error ("" when none). */
FCS_EXPORT const char *fcs_report_errmsg(const fcs_report *rep);

/**
 * Add the selected data set of r as the next sample, called name (the
 * file name as given; "-" shows as "<stdin>"): reads all its events from the
 * reader's current position (a freshly opened or selected data set: all of
 * them), gates them, computes the statistics and renders the panels (see
 * Samples above). The reader's position is at the end afterwards. On error
 * the report is unchanged: FCS_ENOTFOUND (a gate channel missing from the
 * data, the bead population unknown), FCS_EFORMAT (a combination
 * fcs_strategy_for_stream refuses, bad bead keywords), FCS_ETRUNCATED (data
 * ends before $TOT events), the reader's status, FCS_ENOMEM; the message
 * names the sample.
 */
FCS_EXPORT int fcs_report_add_sample(fcs_report *rep, fcs_reader *r,
                                     const char *name) FCS_WARN_UNUSED;

/** Number of samples added. */
FCS_EXPORT size_t fcs_report_n_samples(const fcs_report *rep);
/** Number of panels (plots) of sample i; 0 when out of range. */
FCS_EXPORT size_t fcs_report_n_panels(const fcs_report *rep, size_t i);
/** The statistics of sample i (owned by the report; NULL when out of
 *  range): population 0 is "/", the others the strategy's by full path. */
FCS_EXPORT const fcs_stats *fcs_report_stats(const fcs_report *rep, size_t i);

/**
 * The page (see The page above) for the samples added so far: on FCS_OK
 * *out is a malloc'd NUL-terminated string of *len bytes (free() it).
 * FCS_EINVAL without any sample, FCS_ENOMEM.
 */
FCS_EXPORT int fcs_report_html(fcs_report *rep, char **out, size_t *len) FCS_WARN_UNUSED;

#ifdef __cplusplus
}
#endif
#endif
