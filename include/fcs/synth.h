/*
 * fcs/synth.h — synthetic whole-blood samples with known truth, for a CAR-T
 * monitoring panel, reproducible from a seed.
 *
 * Usage sketch (a day-14 sample, 1 in 1 events, with the truth parameter)
 *
 *     fcs_synth_model *m;
 *     if (fcs_synth_model_new(&m, "day14", &err) != FCS_OK) ...
 *     fcs_synth_set_count_by_name(m, "beads", 5000, &err);   // optional changes
 *     fcs_synth_opts o;
 *     fcs_synth_opts_init(&o);
 *     o.seed = 14; o.truth = 1;
 *     if (fcs_synth_write(m, &o, "day14.fcs", NULL, &err) != FCS_OK) ...
 *     double b = fcs_synth_cells_per_ul(m, fcs_synth_population_index(m, "B-CD20+"));
 *     fcs_synth_model_free(m);
 *
 * or, streaming by hand (what fcs-synth does, to add its own keywords):
 *
 *     fcs_synth *g;
 *     fcs_synth_new(&g, m, &o, &err);
 *     fcs_writer_open(&w, path, fcs_synth_n_params(g), NULL, &err);
 *     fcs_synth_describe(g, w);                     // $PnN/$PnS/$PnR, keywords
 *     fcs_writer_begin(w, fcs_synth_n_events(g));
 *     while ((n = fcs_synth_next(g, buf, 4096, pops, NULL)) > 0)
 *         fcs_writer_write(w, buf, (size_t)n);
 *     fcs_writer_close(w, &err);
 *     fcs_synth_free(g);
 *
 * The model (docs/synth.md has the full story and every number).
 *  - Channels: a fixed instrument-like panel. The CAR-T panel: FSC-A, FSC-H,
 *    SSC-A, ten fluorescence channels named by detector ($PnN "FITC-A" ...)
 *    with their marker in $PnS ("CAR", "CD20", "CD45", "CD19", "CD8", "CD3",
 *    "CD4", "Viability", "CD14", "CD56"), and Time; $PnR 262144 (18-bit).
 *    The preset "basic" has instead the 4-colour panel of the first
 *    fcs-synth (FITC-A CD3, PE-A CD19, APC-A CD4, BV421-A CD8; no
 *    spillover, no beads, no doublets), which other tools' tests use.
 *  - Populations: each has a kind, an exact event count and, for FSC-A,
 *    SSC-A and every fluorescence channel, a distribution of its true
 *    signal: normal N(a, b) or log-normal 10^N(a, b). An event's deviates
 *    share a per-event "size" factor (FSC-A fully, the others with
 *    correlation size_correlation) so bigger cells are brighter, as real.
 *    Kinds: cells (may pair into doublets), dead cells, debris, doublets
 *    (the sum of two cells drawn from the cell populations in proportion to
 *    their counts: FSC-A, SSC-A and fluorescence add, FSC-H does not, so
 *    FSC-A is about 2x FSC-H) and counting beads (no size correlation).
 *  - Singlet pulses: FSC-H = FSC-A x N(pulse_ratio, pulse_ratio_sd).
 *  - Spillover: the observed fluorescence is the true one times the
 *    spillover matrix S (o = t x S, S[i][j] = share of channel i's dye seen
 *    by detector j), then detector noise N(0, sqrt(noise_sd^2 + photon_var x
 *    max(signal, 0))) (electronic baseline plus photon statistics), then
 *    clamping to the channel's [min, max]. S is written to $SPILLOVER, so
 *    compensating with it recovers the true values up to noise and clamping.
 *  - Time: Poisson arrivals at event_rate per second, in $TIMESTEP units;
 *    optional drift: fluorescence signals scale by 1 + drift x t / T (T the
 *    expected duration), as a slowly dimming laser would.
 *  - Counting beads: beads_per_test beads were added to volume_ul of blood;
 *    the true absolute count of population k is count(k) / count(beads) x
 *    beads_per_test / volume_ul (fcs_synth_cells_per_ul), which is what a
 *    perfect gating of the file measures.
 *
 * Reproducibility. The generator is its own xoshiro256** seeded through
 * splitmix64; normal deviates come from the polar method; log and exp are
 * computed by the library from IEEE-754 basic operations only (no libm
 * transcendental functions, whose last bit differs between C libraries), and
 * events are drawn strictly one after another. The same model and seed give
 * the same events, bit for bit, on every IEEE-754 machine, whatever the chunk
 * sizes passed to fcs_synth_next.
 *
 * Counts are exact: every population contributes exactly its count of
 * events, in random order (sequential sampling without replacement).
 * Memory is constant: events are produced in caller-sized chunks.
 *
 * Errors. Functions return FCS_OK or a negative status; those taking an
 * fcs_error fill it with one line naming the population, channel or
 * keyword. A model or generator is used by one thread at a time; separate
 * objects are independent (no global state).
 */
#ifndef FCS_SYNTH_H
#define FCS_SYNTH_H

#include "fcs/common.h"
#include "fcs/matrix.h"
#include "fcs/writer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fcs_synth_model fcs_synth_model;
typedef struct fcs_synth fcs_synth;

/** Population kinds. */
enum fcs_synth_kind {
    FCS_SYNTH_CELL = 0,    /**< a live single cell; doublets are made of these */
    FCS_SYNTH_DEAD = 1,    /**< a dead cell (viability dye bright) */
    FCS_SYNTH_DEBRIS = 2,  /**< debris, platelets, unlysed fragments */
    FCS_SYNTH_DOUBLET = 3, /**< two cells at once; its signals come from its members */
    FCS_SYNTH_BEAD = 4     /**< counting beads (all bead kinds add up to the bead count) */
};

/** Distributions of a true signal. */
enum fcs_synth_dist {
    FCS_SYNTH_NORMAL = 0,   /**< a + b x z (channel units) */
    FCS_SYNTH_LOGNORMAL = 1 /**< 10^(a + b x z): a = log10 of the median, b = log10 sd */
};

/** Channel kinds. */
enum fcs_synth_channel_kind {
    FCS_SYNTH_SCATTER = 0, /**< FSC-A, SSC-A: a true signal per population */
    FCS_SYNTH_HEIGHT = 1,  /**< FSC-H: derived from FSC-A by the pulse model */
    FCS_SYNTH_FLUOR = 2,   /**< fluorescence: true signal, spillover, noise */
    FCS_SYNTH_TIME = 3     /**< Time, in $TIMESTEP units */
};

/** One channel of the panel (owned by the model). */
typedef struct fcs_synth_channel {
    const char *name;  /**< $PnN, e.g. "PE-Cy7-A" */
    const char *label; /**< $PnS (the marker), NULL for scatter and time */
    int kind;          /**< enum fcs_synth_channel_kind */
    double range;      /**< $PnR (Time: grown to fit the acquisition) */
    double min, max;   /**< values are clamped to [min, max] */
    double noise_sd;   /**< electronic noise sd, channel units */
    double photon_var; /**< extra noise variance per unit of signal */
} fcs_synth_channel;

/* ---- presets ---------------------------------------------------------------- */

/** Number of built-in presets and their names: "baseline", "day7",
 *  "day14", "day28", "day90", "healthy" (the CAR-T panel's patient time
 *  course and a healthy donor) and "basic" (the 4-colour model);
 *  NULL / "" when i is out of range. The description is one line. */
FCS_EXPORT size_t fcs_synth_n_presets(void);
FCS_EXPORT const char *fcs_synth_preset_name(size_t i);
FCS_EXPORT const char *fcs_synth_preset_description(size_t i);

/* ---- the model ----------------------------------------------------------------- */

/**
 * New model: the preset's panel (case-insensitive name), every population
 * of that panel with its phenotype, the panel's spillover matrix, the
 * default bead lot, and the preset's counts and sample keywords. preset
 * NULL or "": the CAR-T panel with every count 0. FCS_ENOTFOUND for an
 * unknown preset (the message lists the known ones), FCS_ENOMEM. On success
 * *out is the model (free with fcs_synth_model_free).
 */
FCS_EXPORT int fcs_synth_model_new(fcs_synth_model **out, const char *preset,
                                   fcs_error *err) FCS_WARN_UNUSED;
/** Deep copy; NULL when m is NULL or memory runs out. */
FCS_EXPORT fcs_synth_model *fcs_synth_model_copy(const fcs_synth_model *m);
/** Free the model. Accepts NULL. */
FCS_EXPORT void fcs_synth_model_free(fcs_synth_model *m);
/** The preset the model was made from ("" when none). */
FCS_EXPORT const char *fcs_synth_model_preset(const fcs_synth_model *m);

/* Channels ------------------------------------------------------------------ */

/** Number of channels (Time included, the truth parameter not). */
FCS_EXPORT size_t fcs_synth_n_channels(const fcs_synth_model *m);
/** Channel i (0-based), NULL when out of range. Valid until the model is freed. */
FCS_EXPORT const fcs_synth_channel *fcs_synth_channel_info(const fcs_synth_model *m, size_t i);
/** Index of the channel whose $PnN, else $PnS (the marker), equals name
 *  (case-insensitive); FCS_ENOTFOUND when none. */
FCS_EXPORT int fcs_synth_channel_index(const fcs_synth_model *m, const char *name);
/** Set a channel's detector noise (noise_sd >= 0, photon_var >= 0, finite);
 *  FCS_ERANGE for a channel out of range, FCS_EINVAL for Time (noise-free)
 *  or a bad value. */
FCS_EXPORT int fcs_synth_set_noise(fcs_synth_model *m, size_t channel, double noise_sd,
                                   double photon_var) FCS_WARN_UNUSED;

/** The spillover matrix over the fluorescence channels in panel order
 *  (names = their $PnN). Owned by m, valid until the next set_spillover. */
FCS_EXPORT const fcs_matrix *fcs_synth_spillover(const fcs_synth_model *m);
/**
 * Replace the spillover matrix. s must be square; each of its names must be
 * a fluorescence channel ($PnN or marker, case-insensitive; each at most
 * once); panel channels it does not name neither spill nor receive
 * (identity). Values must be finite, the diagonal > 0. The matrix is
 * copied. FCS_EINVAL / FCS_ENOTFOUND with a message naming the channel.
 */
FCS_EXPORT int fcs_synth_set_spillover(fcs_synth_model *m, const fcs_matrix *s,
                                       fcs_error *err) FCS_WARN_UNUSED;

/* Populations ----------------------------------------------------------------- */

/** Number of populations; its name (NULL when out of range), kind (-1 when
 *  out of range) and event count (-1 when out of range). Population numbers
 *  in the truth parameter are k + 1. */
FCS_EXPORT size_t fcs_synth_n_populations(const fcs_synth_model *m);
FCS_EXPORT const char *fcs_synth_population_name(const fcs_synth_model *m, size_t k);
FCS_EXPORT int fcs_synth_population_kind(const fcs_synth_model *m, size_t k);
FCS_EXPORT int64_t fcs_synth_count(const fcs_synth_model *m, size_t k);
/** Index of the population named name (case-insensitive), FCS_ENOTFOUND. */
FCS_EXPORT int fcs_synth_population_index(const fcs_synth_model *m, const char *name);
/** Set the event count of population k (0 <= count <= 2^40): FCS_ERANGE. */
FCS_EXPORT int fcs_synth_set_count(fcs_synth_model *m, size_t k, int64_t count) FCS_WARN_UNUSED;
/** Same by name; FCS_ENOTFOUND (message lists the populations), FCS_ERANGE. */
FCS_EXPORT int fcs_synth_set_count_by_name(fcs_synth_model *m, const char *name, int64_t count,
                                           fcs_error *err) FCS_WARN_UNUSED;
/** Sum of all counts: the number of events a generator makes. */
FCS_EXPORT int64_t fcs_synth_total(const fcs_synth_model *m);
/**
 * Keep the populations' fractions, change the total: every count becomes
 * its share of n_events by the largest-remainder method (floor of the exact
 * share, then +1 for the largest remainders, ties to the lower index), so
 * the counts add up to exactly n_events. FCS_EINVAL when every count is 0
 * and n_events > 0; FCS_ERANGE for n_events outside 0..2^40.
 */
FCS_EXPORT int fcs_synth_scale_to(fcs_synth_model *m, int64_t n_events) FCS_WARN_UNUSED;

/**
 * Add a population (at the end: its number is the old population count + 1)
 * with the given kind and count. Its signals are copied from population
 * `like` (any kind; -1: a lymphocyte-sized cell negative for every marker).
 * Names must be non-empty, unique (case-insensitive) and free of ',', '=',
 * tab and control bytes (they are written in keywords and truth tables).
 * Returns the new index (>= 0) or FCS_EINVAL / FCS_ERANGE / FCS_ENOMEM.
 */
FCS_EXPORT int fcs_synth_add_population(fcs_synth_model *m, const char *name, int kind,
                                        int64_t count, int like, fcs_error *err);
/** Set population k's true signal in channel ch (FSC-A, SSC-A or a
 *  fluorescence channel): dist FCS_SYNTH_NORMAL (a = mean, b = sd, channel
 *  units) or FCS_SYNTH_LOGNORMAL (a = log10 median in [-3, 7], b = log10 sd);
 *  b >= 0, all finite. FCS_ERANGE / FCS_EINVAL. Doublets ignore their own. */
FCS_EXPORT int fcs_synth_set_signal(fcs_synth_model *m, size_t k, size_t ch, int dist, double a,
                                    double b) FCS_WARN_UNUSED;
/** Read it back; FCS_ERANGE / FCS_EINVAL as above. Pointers may be NULL. */
FCS_EXPORT int fcs_synth_get_signal(const fcs_synth_model *m, size_t k, size_t ch, int *dist,
                                    double *a, double *b);

/* Beads, absolute counts ------------------------------------------------------- */

/** Counting-bead lot: lot name (may be NULL or ""; no control bytes),
 *  beads added per test and the blood volume they were added to (both
 *  finite > 0). Written as LIBFCS_BEAD_LOT, LIBFCS_BEADS_PER_TEST and
 *  LIBFCS_VOLUME_UL (read by fcs_bead_lot_from_keywords). FCS_EINVAL. */
FCS_EXPORT int fcs_synth_set_beads(fcs_synth_model *m, const char *lot, double beads_per_test,
                                   double volume_ul) FCS_WARN_UNUSED;
FCS_EXPORT const char *fcs_synth_bead_lot(const fcs_synth_model *m);
FCS_EXPORT double fcs_synth_beads_per_test(const fcs_synth_model *m);
FCS_EXPORT double fcs_synth_volume_ul(const fcs_synth_model *m);
/** Number of bead events: the sum of the counts of FCS_SYNTH_BEAD populations. */
FCS_EXPORT int64_t fcs_synth_bead_events(const fcs_synth_model *m);
/** True absolute count of population k in the sample, cells/uL:
 *  count(k) / bead events x beads_per_test / volume_ul. NaN when there are
 *  no bead events or k is out of range. */
FCS_EXPORT double fcs_synth_cells_per_ul(const fcs_synth_model *m, size_t k);

/* Acquisition ---------------------------------------------------------------- */

/** Scalar settings of the acquisition model (see the top of this file). */
typedef struct fcs_synth_acquisition {
    double event_rate;       /**< events per second (> 0) [2000] */
    double timestep;         /**< $TIMESTEP, seconds per Time unit (> 0) [0.01] */
    double drift;            /**< fluorescence change over the run, -0.9..10 [0] */
    double size_correlation; /**< correlation of SSC-A and markers with size, 0..1 [0.4] */
    double pulse_ratio;      /**< FSC-H / FSC-A of singlets (> 0) [0.92] */
    double pulse_ratio_sd;   /**< its sd (>= 0) [0.025] */
    double doublet_height;   /**< doublet FSC-H / taller member's FSC-H (> 0) [1.05] */
} fcs_synth_acquisition;

FCS_EXPORT void fcs_synth_get_acquisition(const fcs_synth_model *m, fcs_synth_acquisition *a);
/** Replace the acquisition settings; FCS_EINVAL (message names the field). */
FCS_EXPORT int fcs_synth_set_acquisition(fcs_synth_model *m, const fcs_synth_acquisition *a,
                                         fcs_error *err) FCS_WARN_UNUSED;

/** Extra keyword written with the file (presets set $SRC, $SMNO, $DATE,
 *  LIBFCS_SYNTH_DAY). Replaces one of the same name (case-insensitive);
 *  value NULL removes it. Names as fcs_writer_set_keyword accepts; keywords
 *  the generator writes itself are refused (FCS_EINVAL). */
FCS_EXPORT int fcs_synth_set_keyword(fcs_synth_model *m, const char *name,
                                     const char *value) FCS_WARN_UNUSED;
/** Value of an extra keyword (case-insensitive), NULL when unset. */
FCS_EXPORT const char *fcs_synth_keyword(const fcs_synth_model *m, const char *name);

/* ---- the generator ---------------------------------------------------------------- */

typedef struct fcs_synth_opts {
    uint64_t seed; /**< any value; same seed, same events [1] */
    int truth;     /**< add the parameter "TruePopulation" (population number k + 1) [0] */
} fcs_synth_opts;

FCS_EXPORT void fcs_synth_opts_init(fcs_synth_opts *opts);

/**
 * New generator for the model (copied: m may change or go afterwards) and
 * options (NULL: defaults). FCS_EINVAL when doublets are asked for but no
 * cell population has events, FCS_ENOMEM.
 */
FCS_EXPORT int fcs_synth_new(fcs_synth **out, const fcs_synth_model *m,
                             const fcs_synth_opts *opts, fcs_error *err) FCS_WARN_UNUSED;
/** Free the generator. Accepts NULL. */
FCS_EXPORT void fcs_synth_free(fcs_synth *g);
/** The generator's copy of the model. */
FCS_EXPORT const fcs_synth_model *fcs_synth_model_of(const fcs_synth *g);
/** Parameters per event: the channels, plus one with opts.truth. */
FCS_EXPORT size_t fcs_synth_n_params(const fcs_synth *g);
/** Events in total / still to come. */
FCS_EXPORT int64_t fcs_synth_n_events(const fcs_synth *g);
FCS_EXPORT int64_t fcs_synth_remaining(const fcs_synth *g);
/** $PnR of the Time channel for this generator: 262144, doubled until 1.5
 *  times the expected duration fits. */
FCS_EXPORT double fcs_synth_time_range(const fcs_synth *g);

/**
 * Describe the output to a writer opened with fcs_synth_n_params(g)
 * parameters, before fcs_writer_begin: $PnN, $PnS, $PnR of every parameter,
 * $CYT, $TIMESTEP, $SPILLOVER (left out when the matrix is the identity:
 * nothing to compensate), the bead keywords (only when the model has a
 * population of kind FCS_SYNTH_BEAD), the model's extra
 * keywords and LIBFCS_SYNTH_MODEL ("cart-blood-1", or "blood-basic-1"
 * for the basic panel), LIBFCS_SYNTH_PRESET (when there is one),
 * LIBFCS_SYNTH_SEED, LIBFCS_SYNTH_POPULATIONS ("1=debris,2=doublets,...")
 * and LIBFCS_SYNTH_COUNTS ("1=1351,2=405,..."). Returns the writer's status
 * (its message in fcs_writer_errmsg), FCS_EINVAL when the writer's
 * parameter count differs (detected by fcs_writer_set_param), FCS_ENOMEM.
 */
FCS_EXPORT int fcs_synth_describe(const fcs_synth *g, fcs_writer *w) FCS_WARN_UNUSED;

/**
 * Generate up to max_events events into events (event by event,
 * fcs_synth_n_params(g) values each: the channel values, then the
 * population number when opts.truth). Optional outputs: population[i] = the
 * event's population index k (0-based); true_values (n_channels values per
 * event, panel order): the signal before spillover, noise and clamping
 * (scatter without noise, FSC-H of the pulse model, Time as stored).
 * Returns the number of events written (0 when all were made) or
 * FCS_EINVAL (events NULL with max_events > 0).
 */
FCS_EXPORT int64_t fcs_synth_next(fcs_synth *g, double *events, size_t max_events,
                                  int32_t *population, double *true_values);

/**
 * Whole file: generate the model's events with opts into path ("-" =
 * stdout) through fcs_writer (write_opts NULL: float32), streaming in chunks
 * in constant memory. Errors as the writer's (err holds its message).
 */
FCS_EXPORT int fcs_synth_write(const fcs_synth_model *m, const fcs_synth_opts *opts,
                               const char *path, const fcs_write_opts *write_opts,
                               fcs_error *err) FCS_WARN_UNUSED;

#ifdef __cplusplus
}
#endif
#endif
