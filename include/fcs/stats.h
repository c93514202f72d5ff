/*
 * fcs/stats.h — population statistics over a gated event stream: counts,
 * % of parent / grandparent / total, and per channel mean, median,
 * geometric mean, SD, CV, robust SD and CV and chosen percentiles; absolute
 * counts (cells/uL) from counting beads.
 *
 * Usage sketch (statistics of the populations a gated stream carries)
 *
 *     fcs_stats_opts o;
 *     fcs_stat_spec spec[2];
 *     fcs_stats_opts_init(&o);
 *     fcs_stat_parse("median", &spec[0], NULL);
 *     fcs_stat_parse("p95", &spec[1], NULL);
 *     o.stats = spec; o.n_stats = 2; o.f32 = 1;         // pipe streams are float32
 *     fcs_stats *s;
 *     if (fcs_stats_new(&s, fcs_n_params(r), &o, &err) != FCS_OK) ...
 *     if (fcs_stats_add_stream_populations(s, r) < 0) ... // POP:<path> parameters
 *     fcs_stats_add_channel(s, 3, "FITC-A", "CD3", NULL, NULL);
 *     while ((n = fcs_read_events_f32(r, buf, 4096, FCS_VALUES_SCALED)) > 0)
 *         if (fcs_stats_push_f32(s, buf, (size_t)n) != FCS_OK) ... // fcs_stats_errmsg(s)
 *     fcs_stats_finish(s);
 *     double med = fcs_stats_value(s, pop, 0, &spec[0]);  // channel 0 = FITC-A
 *     fcs_stats_free(s);
 *
 * Populations. Population 0 is always the root "/" (all events pushed).
 * Others are added with a full path ("/Lymphocytes/CD3+"), the path of
 * their parent and the parameter that carries their membership. An event
 * belongs to a population when its own membership test holds AND it
 * belongs to the parent, so the counts always nest even if a stream's
 * membership columns do not. Membership tests: "boolean" (the pipe format's
 * POP: parameters) — value >= 0.5 is a member (1.0/0.0 in the stream; NaN is
 * not a member); "label" — value == label (e.g. fcs-synth's TruePopulation).
 *
 * Population statistics (every population): count; % of parent =
 * 100*count/count(parent); % of grandparent = 100*count/count(parent of
 * parent); % of total = 100*count/count("/"); cells/uL (see beads below).
 * A ratio whose denominator is 0 or that has no such ancestor ("/" has no
 * parent; top-level populations have no grandparent) is NaN: never a
 * division by zero.
 *
 * Channel statistics (every population x every added channel), computed
 * over the population's events whose value in that channel is finite (NaN
 * and +-Inf are skipped: n below is that number):
 *   mean      arithmetic mean (NaN for n = 0);
 *   sd        sample standard deviation, divisor n-1 (NaN for n < 2);
 *   cv        100*sd/mean (NaN when mean is 0; negative for a negative mean);
 *   geomean   exp(mean of ln x) over the values x > 0 only: values <= 0 are
 *             excluded (default) — or, with opts.geomean_nonpositive =
 *             FCS_GEOMEAN_NAN, any value <= 0 makes it NaN. NaN when no
 *             value is > 0;
 *   median    the 50th percentile;
 *   pP        the P-th percentile, 0 <= P <= 100 (p5, p95, p2.5 ...);
 *   rsd       robust SD, FlowJo's definition (P84.13 - P15.87) / 2;
 *   rcv       robust CV, 100*rsd/median (NaN when the median is 0).
 * Percentiles are exact (no binning) and follow Hyndman & Fan (1996)
 * definition 7 (R's default, numpy's "linear"): with the n sorted values
 * x[0..n-1], h = (n-1)*P/100, P-th = x[floor h] + (h - floor h) *
 * (x[floor h + 1] - x[floor h]). They are found by selection, not by
 * sorting everything: an exact radix selection on order-preserving integer
 * keys of the values (a histogram of 16 key bits locates the bucket of
 * every wanted rank, only those buckets' values go on to the next 16 bits;
 * small sets are finished by introselect), about two linear passes per
 * population and channel. -0 counts as +0.
 *
 * Streaming and memory. Count, mean and SD are accumulated per chunk and
 * merged by Chan et al.'s pairwise update (Welford's recurrence for blocks:
 * no catastrophic cancellation); the geometric mean by a sum of logarithms.
 * The order statistics (median, percentiles, rsd, rcv) need the values:
 * when one is requested, the object keeps the values of every pushed event
 * in the added channels only (4 bytes each with opts.f32, else 8) plus one
 * bit per event and population; nothing is kept otherwise. Memory is thus
 * events x (channels x 4|8 + populations / 8) bytes, checked for overflow
 * and reported as FCS_ENOMEM when it cannot be had.
 *
 * Scale. Statistics are computed on the values pushed (the stream's scale:
 * channel values, compensated or transformed as the stream's keywords say)
 * or, for a channel added with a transform, on the transformed values
 * (computed in double). With opts.f32 every value is rounded to float32
 * before any statistic, as a float32 stream (or fcs-xform) would store it. The unit given to fcs_stats_add_channel is only a label for
 * reports.
 *
 * Absolute counts (counting beads). cells/uL of population p =
 * count(p) / count(beads) x beads_per_test / volume_ul: the beads and the
 * cells are counted in the same acquired volume, the beads were added in a
 * known number to a known sample volume, and both are recorded without
 * losses. Its Poisson relative error from the bead count is
 * 1/sqrt(count(beads)) (fcs_absolute_rel_error); the cells' own counting
 * error 1/sqrt(count(p)) adds in quadrature.
 *
 * Threads. A fcs_stats handle is used by one thread at a time; separate
 * handles are independent.
 */
#ifndef FCS_STATS_H
#define FCS_STATS_H

#include "fcs/common.h"
#include "fcs/reader.h"
#include "fcs/transform.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- statistics names ------------------------------------------------------ */

/** The statistics. The first group is per population, the second per
 *  population and channel. */
typedef enum fcs_stat {
    FCS_STAT_COUNT = 1,       /**< "count": events in the population */
    FCS_STAT_PCT_PARENT,      /**< "pct_parent" */
    FCS_STAT_PCT_GRANDPARENT, /**< "pct_grandparent" */
    FCS_STAT_PCT_TOTAL,       /**< "pct_total" */
    FCS_STAT_CELLS_PER_UL,    /**< "cells_per_ul": needs fcs_stats_set_beads */
    FCS_STAT_MEAN,            /**< "mean" (first channel statistic) */
    FCS_STAT_MEDIAN,          /**< "median" */
    FCS_STAT_GEOMEAN,         /**< "geomean" */
    FCS_STAT_SD,              /**< "sd" */
    FCS_STAT_CV,              /**< "cv" */
    FCS_STAT_RSD,             /**< "rsd" */
    FCS_STAT_RCV,             /**< "rcv" */
    FCS_STAT_PERCENTILE       /**< "pP", e.g. "p95", "p2.5" */
} fcs_stat;

/** A statistic with its argument (the percentile, 0..100, for
 *  FCS_STAT_PERCENTILE; ignored otherwise). */
typedef struct fcs_stat_spec {
    fcs_stat kind;
    double percentile;
} fcs_stat_spec;

/** Whether a statistic is per channel (mean .. percentile) rather than per
 *  population (count .. cells_per_ul). */
FCS_EXPORT int fcs_stat_is_channel(fcs_stat kind);

/**
 * Parse a statistic's name (case-insensitive): count, pct_parent,
 * pct_grandparent, pct_total, cells_per_ul, mean, median, geomean, sd, cv,
 * rsd, rcv, or pP with P a decimal number in [0, 100] ("p95", "p2.5",
 * "p99.9", "p1e-3"). Also accepted: "%parent", "%grandparent", "%total", "gmean",
 * "robust_sd", "robust_cv". FCS_EINVAL with a message quoting the text
 * otherwise.
 */
FCS_EXPORT int fcs_stat_parse(const char *text, fcs_stat_spec *out, fcs_error *err);

/** Canonical name of a statistic into buf (room for n bytes): "median",
 *  "p95", "p2.5" (the percentile as the shortest plain decimal that reads
 *  back to the same double, or with an exponent for tiny ones); the name
 *  parses back (fcs_stat_parse) to the same statistic. Returns buf ("" for
 *  an unknown kind). */
FCS_EXPORT const char *fcs_stat_name(const fcs_stat_spec *spec, char *buf, size_t n);

/* ---- the accumulator --------------------------------------------------------- */

typedef struct fcs_stats fcs_stats;

/** How the geometric mean treats values <= 0. */
enum {
    FCS_GEOMEAN_EXCLUDE = 0, /**< skip them (default) */
    FCS_GEOMEAN_NAN = 1      /**< any value <= 0 makes the geometric mean NaN */
};

/** Options for fcs_stats_new(). Fill with fcs_stats_opts_init() first. */
typedef struct fcs_stats_opts {
    const fcs_stat_spec *stats; /**< channel statistics to compute (copied);
                                     population statistics are always there */
    size_t n_stats;
    int geomean_nonpositive;    /**< FCS_GEOMEAN_EXCLUDE or FCS_GEOMEAN_NAN */
    int f32;                    /**< keep values for order statistics as float32
                                     (exact for float32 streams: half the memory) */
    int64_t expected_events;    /**< capacity hint (e.g. $TOT), 0 = unknown */
} fcs_stats_opts;

FCS_EXPORT void fcs_stats_opts_init(fcs_stats_opts *opts);

/**
 * New accumulator for events of n_params values each. opts NULL means no
 * channel statistics. FCS_EINVAL for a population statistic in opts.stats
 * or a percentile outside [0, 100]; FCS_ENOMEM.
 */
FCS_EXPORT int fcs_stats_new(fcs_stats **out, size_t n_params, const fcs_stats_opts *opts,
                             fcs_error *err) FCS_WARN_UNUSED;
/** Free the accumulator. Accepts NULL. */
FCS_EXPORT void fcs_stats_free(fcs_stats *s);
/** One-line message of the last error ("" when none). */
FCS_EXPORT const char *fcs_stats_errmsg(const fcs_stats *s);

/** Membership test of a population: boolean (value >= 0.5) when label is
 *  NaN, else value == label. */
#define FCS_STATS_BOOLEAN (__builtin_nan(""))

/**
 * Add a population before the first push. path: full path starting with
 * '/', not "/" itself, without empty components or a trailing '/'; parent:
 * the path of an already added population ("/" for a top-level one); param:
 * 0-based parameter carrying the membership; label: FCS_STATS_BOOLEAN or
 * the value that marks members. The population's name is the last
 * component of its path. Returns the new population's index (>= 1), or
 * FCS_EINVAL (bad or duplicate path, unknown parent, after the first push),
 * FCS_ERANGE (param >= n_params), FCS_ENOMEM.
 */
FCS_EXPORT int fcs_stats_add_population(fcs_stats *s, const char *path, const char *parent,
                                        size_t param, double label) FCS_WARN_UNUSED;

/**
 * Add the populations a gated pipe stream carries (docs/pipe-format.md):
 * with LIBFCS_POPULATIONS = k, populations 1..k from LIBFCS_POPi_PATH,
 * LIBFCS_POPi_PARENT (default: the path without its last component) and
 * the parameter named "POP:" + path (LIBFCS_POPi_PAR, 1-based, only when no
 * parameter has that name: parameters may have been renumbered since);
 * without LIBFCS_POPULATIONS, every parameter named "POP:<path>" with the
 * parent taken from the path. Parents are added before their children
 * whatever the order in the stream. Returns the number of populations added
 * (0 for an ungated stream), or FCS_EFORMAT with a message naming the
 * keyword or population (a missing path or membership parameter, a parent
 * that is not a population, a cycle), or the errors of
 * fcs_stats_add_population.
 */
FCS_EXPORT int fcs_stats_add_stream_populations(fcs_stats *s, const fcs_reader *r)
    FCS_WARN_UNUSED;

/**
 * Add a channel for the channel statistics before the first push: param is
 * 0-based; name and marker ($PnN, $PnS; marker may be NULL) and unit (the
 * scale label for reports, e.g. "linear", "compensated"; NULL = "") are
 * copied; transform (may be NULL) is applied to the values before any
 * statistic (a copy is kept: the caller may free it). Returns the channel's
 * index (0, 1, ...), or FCS_ERANGE / FCS_EINVAL (a two-channel transform,
 * after the first push) / FCS_ENOMEM.
 */
FCS_EXPORT int fcs_stats_add_channel(fcs_stats *s, size_t param, const char *name,
                                     const char *marker, const char *unit,
                                     const fcs_transform *transform) FCS_WARN_UNUSED;

/**
 * Absolute counts: the population bead_pop holds the counting beads;
 * beads_per_test beads were added to volume_ul microlitres of sample (both
 * finite and > 0). Then FCS_STAT_CELLS_PER_UL is defined for every
 * population. FCS_ERANGE for an unknown population, FCS_EINVAL otherwise.
 */
FCS_EXPORT int fcs_stats_set_beads(fcs_stats *s, size_t bead_pop, double beads_per_test,
                                   double volume_ul) FCS_WARN_UNUSED;

/**
 * Push n events, event by event (n * n_params values, as fcs_read_events
 * writes them). FCS_EINVAL after fcs_stats_finish; FCS_ENOMEM / FCS_ERANGE
 * (event count overflow) with a message.
 */
FCS_EXPORT int fcs_stats_push(fcs_stats *s, const double *events, size_t n) FCS_WARN_UNUSED;
/** The same for float32 events (fcs_read_events_f32). */
FCS_EXPORT int fcs_stats_push_f32(fcs_stats *s, const float *events, size_t n) FCS_WARN_UNUSED;

/**
 * Compute the order statistics and fix the results; the kept values are
 * freed. Call once after the last push (a second call does nothing).
 * FCS_ENOMEM when the selection buffer cannot be allocated.
 */
FCS_EXPORT int fcs_stats_finish(fcs_stats *s) FCS_WARN_UNUSED;

/* ---- results (after fcs_stats_finish) ------------------------------------------ */

/** Number of populations, including the root "/" (index 0). */
FCS_EXPORT size_t fcs_stats_n_populations(const fcs_stats *s);
/** Full path of population i ("/" for 0); NULL when out of range. */
FCS_EXPORT const char *fcs_stats_population_path(const fcs_stats *s, size_t i);
/** Its name: the last path component ("" for the root). */
FCS_EXPORT const char *fcs_stats_population_name(const fcs_stats *s, size_t i);
/** Index of its parent; -1 for the root or out of range. */
FCS_EXPORT int fcs_stats_population_parent(const fcs_stats *s, size_t i);
/** Its depth: 0 for the root, 1 for a top-level population ... */
FCS_EXPORT int fcs_stats_population_depth(const fcs_stats *s, size_t i);
/** Index of the population with this path; -1 when absent. */
FCS_EXPORT int fcs_stats_find_population(const fcs_stats *s, const char *path);

/** Number of channels added; their name, marker ("" when none), unit and
 *  the transform's text ("" when none). NULL when out of range. */
FCS_EXPORT size_t fcs_stats_n_channels(const fcs_stats *s);
FCS_EXPORT const char *fcs_stats_channel_name(const fcs_stats *s, size_t c);
FCS_EXPORT const char *fcs_stats_channel_marker(const fcs_stats *s, size_t c);
FCS_EXPORT const char *fcs_stats_channel_unit(const fcs_stats *s, size_t c);
FCS_EXPORT const char *fcs_stats_channel_transform(const fcs_stats *s, size_t c);

/** The channel statistics requested at creation (n and the i-th). */
FCS_EXPORT size_t fcs_stats_n_stats(const fcs_stats *s);
FCS_EXPORT const fcs_stat_spec *fcs_stats_stat(const fcs_stats *s, size_t i);

/** Events pushed (= count of "/"). */
FCS_EXPORT int64_t fcs_stats_total(const fcs_stats *s);
/** Events in population i; -1 when out of range. */
FCS_EXPORT int64_t fcs_stats_count(const fcs_stats *s, size_t pop);
/** Bead settings: the bead population (-1 when unset), beads per test and
 *  volume (NaN when unset). */
FCS_EXPORT int fcs_stats_bead_population(const fcs_stats *s);
FCS_EXPORT double fcs_stats_beads_per_test(const fcs_stats *s);
FCS_EXPORT double fcs_stats_volume_ul(const fcs_stats *s);

/**
 * The value of a statistic (NaN when undefined, see above). Population
 * statistics ignore chan. A channel statistic must be one requested at
 * creation (the same kind and percentile) and needs fcs_stats_finish;
 * otherwise, and for a population or channel out of range, NaN. The count
 * is returned as a double (exact below 2^53).
 */
FCS_EXPORT double fcs_stats_value(const fcs_stats *s, size_t pop, size_t chan,
                                  const fcs_stat_spec *spec);

/* ---- order statistics and absolute counts as plain functions ------------------ */

/**
 * Percentile p (0..100, Hyndman-Fan type 7) of the n values v, which are
 * reordered (partially sorted) in place by introselect (quickselect with
 * median-of-3 pivots that sorts the rest after too many bad partitions,
 * so O(n log n) at worst); NaN values must not be present.
 * NaN for n = 0 or p outside [0, 100].
 */
FCS_EXPORT double fcs_percentile(double *v, size_t n, double p);
/** The same for float32 values (the result in double). */
FCS_EXPORT double fcs_percentile_f(float *v, size_t n, double p);

/** cells/uL = cells / beads x beads_per_test / volume_ul; NaN when beads
 *  <= 0, cells < 0 or the settings are not finite and > 0. */
FCS_EXPORT double fcs_absolute_count(int64_t cells, int64_t beads, double beads_per_test,
                                     double volume_ul);
/** Poisson relative error of an absolute count from its bead events:
 *  1/sqrt(beads); NaN for beads <= 0. */
FCS_EXPORT double fcs_absolute_rel_error(int64_t beads);

/* ---- bead lots ------------------------------------------------------------- */

/** A counting-bead lot: its name, beads per test and the sample volume. */
typedef struct fcs_bead_lot {
    char lot[128];         /**< lot name ("" when not given) */
    double beads_per_test; /**< beads added per test (NaN when not given) */
    double volume_ul;      /**< sample volume per test, microlitres (NaN when not given) */
} fcs_bead_lot;

/**
 * Parse a bead-lot file: lines "key=value" (blanks around key and value
 * ignored), '#' starts a comment line, empty lines ignored; keys
 * (case-insensitive) lot, beads_per_test, volume_ul. beads_per_test and
 * volume_ul must be finite numbers > 0; both are required. An unknown key,
 * a repeated key, a line without '=' or a bad number is FCS_EFORMAT with a
 * message "NAME: line N: ...". name is used in messages.
 */
FCS_EXPORT int fcs_bead_lot_parse(const char *text, size_t len, const char *name,
                                  fcs_bead_lot *out, fcs_error *err) FCS_WARN_UNUSED;
/** Read and parse a bead-lot file (at most 64 KiB). FCS_EIO when it cannot
 *  be read; else as fcs_bead_lot_parse. */
FCS_EXPORT int fcs_bead_lot_read(const char *path, fcs_bead_lot *out,
                                 fcs_error *err) FCS_WARN_UNUSED;
/**
 * Bead settings from a data set's keywords: LIBFCS_BEAD_LOT (optional),
 * LIBFCS_BEADS_PER_TEST and LIBFCS_VOLUME_UL. Returns FCS_OK when both
 * numbers are present and valid, FCS_ENOTFOUND when neither is present,
 * FCS_EFORMAT (message naming the keyword) otherwise.
 */
FCS_EXPORT int fcs_bead_lot_from_keywords(const fcs_reader *r, fcs_bead_lot *out,
                                          fcs_error *err) FCS_WARN_UNUSED;

#ifdef __cplusplus
}
#endif
#endif
