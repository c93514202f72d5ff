/*
 * fcs/summary.h — cohort summaries: population counts and statistics of
 * many samples in one HDF5 file that is a valid AnnData .h5ad (on-disk
 * spec 0.1.0), and SHA-256 digests that identify the samples.
 *
 * Usage sketch (add one sample's statistics to a summary file)
 *
 *     fcs_summary *sum;
 *     int rc = fcs_summary_read(&sum, "cohort.h5ad", &err);
 *     if (rc == FCS_ENOTFOUND) rc = fcs_summary_new(&sum, &err); // a new file
 *     if (rc != FCS_OK) ...                                       // err.msg: one line
 *     fcs_summary_sample smp;
 *     fcs_summary_sample_init(&smp);
 *     smp.id = "patient7_day28"; smp.file = "p7d28.fcs"; smp.sha256 = hex; ...
 *     if (fcs_summary_add(sum, &smp, stats, 0) != FCS_OK) ...   // fcs_summary_errmsg(sum)
 *     if (fcs_summary_write(sum, "cohort.h5ad") != FCS_OK) ...  // crash-safe replace
 *     fcs_summary_free(sum);
 *
 * The file layout is specified in docs/hdf5-layout.md: obs = samples, var =
 * populations (index: full path, "/" = all events), X = counts (int64,
 * samples x populations, -1 where a sample lacks the population), layers
 * parent_count, fraction_parent, fraction_total, cells_per_ul, and under
 * uns the tidy long table "stats" (sample, population, parent, statistic,
 * channel, marker, unit, value), the gating strategies (identifier and text),
 * per-channel statistics as samples x populations x channels arrays
 * (uns/channel_stats) and the tool version.
 * Only int64, float64 and variable-length UTF-8 strings are written; numeric
 * datasets are chunked with shuffle + gzip; HDF5's default (oldest) file
 * format; file locking is left as HDF5 sets it (on).
 *
 * Model. A summary is an in-memory table; fcs_summary_read loads a file
 * completely, fcs_summary_write writes a whole new file. Adding a sample to
 * a file is therefore read + add + write: the new file is written to
 * "PATH.tmp.<pid>" in the same folder (created exclusively; a suffix ".<k>"
 * is added if a stale one exists), closed, fsync'ed and renamed over PATH
 * (then the folder is fsync'ed). A crash or kill at any moment leaves PATH
 * as it was; the temporary file, if a kill left one, has no
 * "libfcs-format" root attribute until its very last write and is refused
 * by fcs_summary_read. One writer per file at a time (concurrent writers
 * would lose each other's samples): run one summary per sample on a
 * cluster and merge them at the end.
 *
 * Sample identity. A sample is one data set of one input: the SHA-256 of
 * the input bytes, the data set index and the gating strategy (its SHA-256
 * and format, not the path it was read from) identify it; the id (obs index) must be unique. Adding a sample whose SHA-256,
 * data set and strategy are already present, or whose id is taken, fails
 * with FCS_EINVAL unless FCS_SUMMARY_REPLACE is given: the old sample (and
 * its rows) is then replaced in place.
 *
 * Errors. Functions return FCS_OK or a negative status; the handle keeps a
 * one-line message (fcs_summary_errmsg); the read function fills err.
 * HDF5's own error printing is switched off while libfcs calls it and
 * restored afterwards. Not thread-safe (the HDF5 library is built without
 * thread safety): use summaries from one thread.
 */
#ifndef FCS_SUMMARY_H
#define FCS_SUMMARY_H

#include "fcs/common.h"
#include "fcs/stats.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Value of the root attribute "libfcs-format" of every summary file. */
#define FCS_SUMMARY_FORMAT "libfcs-summary"
/** Value of the root attribute "libfcs-format-version" this library writes
 *  (and the newest it reads). */
#define FCS_SUMMARY_FORMAT_VERSION 1

typedef struct fcs_summary fcs_summary;

/** What describes one sample (the obs row). Strings may be NULL (stored as
 *  ""); numbers NaN / -1 when unknown. Pointers returned by
 *  fcs_summary_sample_info are owned by the summary. */
typedef struct fcs_summary_sample {
    const char *id;              /**< obs index: unique sample id (required, non-empty) */
    const char *file;            /**< input as given ("<stdin>" for a pipe) */
    const char *source;          /**< original file(s), e.g. LIBFCS_SOURCES */
    const char *sha256;          /**< 64 lower-case hex digits of the input's bytes (required) */
    int64_t dataset;             /**< data set index (0-based) */
    const char *date;            /**< $DATE */
    const char *btim;            /**< $BTIM */
    const char *cyt;             /**< $CYT */
    int64_t total_events;        /**< events read; fcs_summary_add takes it from the stats */
    const char *strategy;        /**< gating strategy identifier, as fcs-gate's LIBFCS_GATING
                                      ("source=file:NAME;sha256=HEX;format=text"; "" = none).
                                      Two identifiers with the same sha256= and format= name
                                      the same strategy (the path does not matter) */
    const char *strategy_text;   /**< the strategy itself (gate file or Gating-ML text; ""
                                      = unknown), stored once per strategy in
                                      uns/gating_strategy_text */
    const char *bead_population; /**< path of the counting-bead population ("" = none) */
    const char *bead_lot;        /**< bead lot name */
    double beads_per_test;       /**< NaN when no beads */
    double volume_ul;            /**< NaN when no beads */
    int64_t bead_events;         /**< -1 when no beads; fcs_summary_add fills it */
    const char *tool;            /**< tool and version that computed the row */
    size_t n_keywords;           /**< selected keywords: obs columns named after them */
    const char *const *keyword_names;
    const char *const *keyword_values;
} fcs_summary_sample;

/** Set every field to "unknown" (NULL, -1 or NaN; dataset 0). */
FCS_EXPORT void fcs_summary_sample_init(fcs_summary_sample *s);

/** An empty summary (only the root population "/"). */
FCS_EXPORT int fcs_summary_new(fcs_summary **out, fcs_error *err) FCS_WARN_UNUSED;
/** Free it. Accepts NULL. */
FCS_EXPORT void fcs_summary_free(fcs_summary *s);
/** One-line message of the last error on this summary ("" when none). */
FCS_EXPORT const char *fcs_summary_errmsg(const fcs_summary *s);

/**
 * Load a summary file. FCS_ENOTFOUND when path does not exist; FCS_EIO when
 * it cannot be opened; FCS_EFORMAT, with a message naming the file, for a
 * file that is not HDF5 ("not an HDF5 file"), a truncated or damaged HDF5
 * file, an HDF5 file without the "libfcs-format" attribute ("not a libfcs
 * summary"), a name ending in ".tmp.<digits>" (an unfinished temporary
 * file), or missing / inconsistent datasets; FCS_EUNSUPPORTED for a newer
 * format version; FCS_ENOMEM.
 */
FCS_EXPORT int fcs_summary_read(fcs_summary **out, const char *path, fcs_error *err)
    FCS_WARN_UNUSED;

/** Flags of fcs_summary_add and fcs_summary_merge. */
enum { FCS_SUMMARY_REPLACE = 1 /**< replace a sample that is already there */ };

/**
 * Add one sample with the results of a finished fcs_stats: its
 * populations (added to var when new, by path), counts, fractions and
 * cells/uL, and every statistic as rows of the tidy table: per population
 * count (unit "events"), pct_parent and pct_grandparent (where the ancestor
 * exists; "%"), pct_total ("%"), cells_per_ul ("cells/uL", when beads are
 * set) and for the bead population bead_rel_error (1/sqrt(bead events),
 * "fraction"); per population, channel and requested statistic one row
 * (unit: the channel's unit, "%" for cv and rcv). Errors (message in the
 * handle): FCS_EINVAL for a missing id or SHA-256, an unfinished stats
 * object or a duplicate sample (see above), FCS_ENOMEM.
 */
FCS_EXPORT int fcs_summary_add(fcs_summary *s, const fcs_summary_sample *sample,
                               const fcs_stats *stats, unsigned flags) FCS_WARN_UNUSED;

/** Add every sample of src to dst (in order; same rules and errors as
 *  fcs_summary_add). On error dst may hold the samples added before the
 *  failing one; write it only on success. */
FCS_EXPORT int fcs_summary_merge(fcs_summary *dst, const fcs_summary *src,
                                 unsigned flags) FCS_WARN_UNUSED;

/** Set uns/tool_version (default "libfcs VERSION"). Copied. */
FCS_EXPORT int fcs_summary_set_tool(fcs_summary *s, const char *tool_version) FCS_WARN_UNUSED;

/**
 * Write the summary to path, crash-safely (see above). FCS_EIO (cannot
 * create the temporary file, HDF5 write failure, fsync or rename failure:
 * the temporary file is removed and path is untouched), FCS_ENOMEM.
 */
FCS_EXPORT int fcs_summary_write(fcs_summary *s, const char *path) FCS_WARN_UNUSED;

/* ---- queries ---------------------------------------------------------------- */

FCS_EXPORT size_t fcs_summary_n_samples(const fcs_summary *s);
/** Index of the sample with this id; -1 when absent. */
FCS_EXPORT int64_t fcs_summary_find_sample(const fcs_summary *s, const char *id);
/** Fill *out with sample i (strings owned by the summary, valid until it
 *  is changed or freed). FCS_ERANGE when out of range. */
FCS_EXPORT int fcs_summary_sample_info(const fcs_summary *s, size_t i, fcs_summary_sample *out);

/** Populations (var rows), in order of first appearance; 0 is "/". */
FCS_EXPORT size_t fcs_summary_n_populations(const fcs_summary *s);
typedef struct fcs_summary_population {
    const char *path;   /**< full path, the var index */
    const char *name;   /**< last component ("" for "/") */
    const char *parent; /**< parent path ("" for "/") */
    int64_t depth;      /**< 0 for "/" */
} fcs_summary_population;
FCS_EXPORT int fcs_summary_population_info(const fcs_summary *s, size_t i,
                                           fcs_summary_population *out);

/** One cell of X and the layers: a sample's values for a population. */
typedef struct fcs_summary_cell {
    int64_t count;          /**< X; -1 when the sample lacks the population */
    int64_t parent_count;   /**< -1 for "/" or when missing */
    double fraction_parent; /**< count / parent count (NaN when undefined) */
    double fraction_total;  /**< count / total events */
    double cells_per_ul;    /**< NaN without beads */
} fcs_summary_cell;
FCS_EXPORT int fcs_summary_cell_info(const fcs_summary *s, size_t sample, size_t pop,
                                     fcs_summary_cell *out);

/** The tidy table (uns/stats). */
FCS_EXPORT size_t fcs_summary_n_rows(const fcs_summary *s);
typedef struct fcs_summary_row {
    const char *sample, *population, *parent, *statistic, *channel, *marker, *unit;
    double value; /**< NaN when undefined */
} fcs_summary_row;
/** Row i; strings "" when not applicable (parent of "/", channel of a
 *  population statistic). FCS_ERANGE when out of range. */
FCS_EXPORT int fcs_summary_row_info(const fcs_summary *s, size_t i, fcs_summary_row *out);

/** Distinct non-empty gating strategy identifiers of the samples
 *  (uns/gating_strategy) and, for each, its text (uns/gating_strategy_text,
 *  "" when no sample brought it). NULL when i is out of range. */
FCS_EXPORT size_t fcs_summary_n_strategies(const fcs_summary *s);
FCS_EXPORT const char *fcs_summary_strategy(const fcs_summary *s, size_t i);
FCS_EXPORT const char *fcs_summary_strategy_text(const fcs_summary *s, size_t i);
/** uns/tool_version. */
FCS_EXPORT const char *fcs_summary_tool(const fcs_summary *s);

/* ---- SHA-256 (FIPS 180-4) ---------------------------------------------------- */

typedef struct fcs_sha256 fcs_sha256;
/** New digest state; NULL when out of memory. */
FCS_EXPORT fcs_sha256 *fcs_sha256_new(void);
FCS_EXPORT void fcs_sha256_update(fcs_sha256 *h, const void *data, size_t len);
/** Finish: 64 lower-case hex digits and a NUL into hex; the state is
 *  reset for a new message. */
FCS_EXPORT void fcs_sha256_final(fcs_sha256 *h, char hex[65]);
FCS_EXPORT void fcs_sha256_free(fcs_sha256 *h);
/** Digest of a whole file (read sequentially). FCS_EIO with a message. */
FCS_EXPORT int fcs_sha256_file(const char *path, char hex[65], fcs_error *err) FCS_WARN_UNUSED;

#ifdef __cplusplus
}
#endif
#endif
