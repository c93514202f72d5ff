/*
 * fcs/gate.h — gates, gating strategies, their evaluation over event chunks,
 * and Gating-ML 2.0 import/export.
 *
 * Usage sketch (gate a file with a Gating-ML strategy)
 *
 *     fcs_strategy *s;
 *     if (fcs_gatingml_read(&s, "gates.xml", &err) != FCS_OK) ... // err.msg names element + line
 *     const char *names[64]; size_t np = fcs_n_params(r);
 *     for (size_t j = 0; j < np; j++) names[j] = fcs_param_info(r, j)->name;
 *     fcs_gating *g;
 *     if (fcs_gating_new(&g, s, names, np, fcs_spillover(r, NULL), &err) != FCS_OK) ...
 *     size_t npop = fcs_strategy_n_populations(s);
 *     // chunk of up to CH events, read column by column (FCS_VALUES_COLUMNS)
 *     while ((n = fcs_read_events(r, buf, CH, FCS_VALUES_SCALED | FCS_VALUES_COLUMNS)) > 0) {
 *         for (j = 0; j < np; j++) cols[j] = buf + j * CH;
 *         for (p = 0; p < npop; p++) mem[p] = membership + p * CH;
 *         if (fcs_gating_run(g, cols, (size_t)n, mem) != FCS_OK) ... // fcs_gating_errmsg(g)
 *         // mem[p][i] is 1 when event i belongs to population p (parents applied)
 *     }
 *     fcs_gating_free(g);
 *     fcs_strategy_free(s);
 *
 * The model follows Gating-ML 2.0 (ISAC, 2013) exactly:
 *
 *   Dimensions. Every gate dimension names a channel ($PnN) — or, for a
 *   spectrum matrix, one of its fluorochromes — together with a
 *   compensation reference ("uncompensated", "FCS" for the data set's own
 *   spillover matrix, or the id of a matrix of the strategy) and an
 *   optional transformation reference. Instead of a channel a dimension may
 *   name an fratio transformation (Gating-ML "new-dimension"): the ratio of
 *   two channels, both compensated as the dimension says; the dimension's
 *   own transformation, if any, is applied to the ratio.
 *   Order of operations: compensate, then ratio, then transform, then gate.
 *
 *   Gates (Gating-ML section 5).
 *     rectangle  n >= 1 dimensions, each with an optional min and max:
 *                inside when min <= x < max on every dimension. A side given
 *                as NaN is open (absent in Gating-ML).
 *     polygon    2 dimensions, >= 3 vertices (implicitly closed). The polygon
 *                may cross itself: a point is inside when its winding number
 *                is odd (the even-odd rule), so a region a self-crossing
 *                polygon winds twice is a hole — as the Gating-ML 2.0
 *                compliance truth (Polygon3NS) and FlowKit/FlowUtils have it.
 *                Points exactly on an edge or vertex are inside; that test is
 *                exact (no epsilon), also for huge or tiny coordinates.
 *     ellipsoid  n >= 2 dimensions, mean, covariance matrix C (n x n), distance
 *                square D: inside when (x-mean)' C^-1 (x-mean) <= D.
 *     quadrant   dividers (a dimension and one or more cut values each) and
 *                named quadrants; a quadrant's position on a divider picks the
 *                interval [largest value <= location, smallest value > location)
 *                (open at the ends); dividers a quadrant does not mention do
 *                not restrict it. The quadrants are the populations; the
 *                quadrant gate itself is not one.
 *     boolean    and / or (>= 2 operands) / not (1 operand) of other
 *                populations by id, each operand optionally complemented.
 *                An operand is the referenced population's final membership
 *                (its own parents applied).
 *   Hierarchy. Every gate may name a parent population (parent_id): the
 *   gate's events are those inside it AND inside its parent. Quadrants take
 *   the parent of their quadrant gate.
 *   NaN values are outside every gate (complements of gates that exclude
 *   them aside).
 *
 * Ids. Population ids (gates and quadrants) are unique within a strategy,
 * transformation ids among transformations, matrix ids among matrices;
 * "uncompensated" and "FCS" are reserved. References (parents, boolean
 * operands, compensation, transformation) may name items added later; they
 * are checked by fcs_strategy_validate(), which fcs_gating_new() and the
 * Gating-ML reader call.
 *
 * Ownership. The strategy copies every string, array, transform and
 * matrix it is given.
 * Pointers returned by the query functions stay valid until the strategy
 * is changed or freed. A strategy is not modified by evaluation and may be
 * shared by threads; an fcs_gating holds scratch buffers: one per thread.
 *
 * Errors. Functions on a strategy return FCS_OK or a negative FCS_E* status
 * and keep a one-line message, fcs_strategy_errmsg(), naming the gate (and,
 * for imported gates, the Gating-ML line).
 */
#ifndef FCS_GATE_H
#define FCS_GATE_H

#include <stdint.h>

#include "fcs/common.h"
#include "fcs/matrix.h"
#include "fcs/transform.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fcs_strategy fcs_strategy;
typedef struct fcs_gating fcs_gating;

/** Reserved compensation references (Gating-ML 2.0 section 4). */
#define FCS_COMP_UNCOMPENSATED "uncompensated"
#define FCS_COMP_FCS "FCS"

typedef enum fcs_gate_type {
    FCS_GATE_RECTANGLE = 1,
    FCS_GATE_POLYGON = 2,
    FCS_GATE_ELLIPSOID = 3,
    FCS_GATE_QUADRANT = 4,
    FCS_GATE_BOOLEAN = 5
} fcs_gate_type;

typedef enum fcs_gate_bool_op {
    FCS_GATE_AND = 1,
    FCS_GATE_OR = 2,
    FCS_GATE_NOT = 3
} fcs_gate_bool_op;

/** One dimension of a gate (or of a quadrant divider). Exactly one of
 *  name and ratio is non-NULL. */
typedef struct fcs_gate_dim {
    const char *name;         /**< channel $PnN, or a fluorochrome of the matrix named
                                   by compensation; NULL when ratio is set */
    const char *ratio;        /**< id of an fratio transformation (new-dimension) or NULL */
    const char *compensation; /**< "uncompensated" (also when NULL), "FCS", or a matrix id */
    const char *transform;    /**< id of a transformation applied last, or NULL */
} fcs_gate_dim;

/** A quadrant divider: a dimension and its cut values. */
typedef struct fcs_gate_divider {
    const char *id;
    fcs_gate_dim dim;
    size_t n_values;
    const double *values;
} fcs_gate_divider;

/** A quadrant: for each position, the divider (index into the gate's
 *  dividers) and the location that selects an interval of it. */
typedef struct fcs_gate_quadrant {
    const char *id;
    size_t n_positions;
    const size_t *dividers;
    const double *locations;
} fcs_gate_quadrant;

/** An operand of a boolean gate. */
typedef struct fcs_gate_ref {
    const char *id;  /**< population id */
    int complement;  /**< use the events outside it (Gating-ML use-as-complement) */
} fcs_gate_ref;

/* ---- strategy: create, fill --------------------------------------------- */

/** New empty strategy; NULL when out of memory. */
FCS_EXPORT fcs_strategy *fcs_strategy_new(void);
/** Free the strategy and everything it owns. Accepts NULL. */
FCS_EXPORT void fcs_strategy_free(fcs_strategy *s);
/** One-line message of the last error on s ("" when none). */
FCS_EXPORT const char *fcs_strategy_errmsg(const fcs_strategy *s);

/**
 * Add a named transformation (a copy of t is kept; t stays the caller's).
 * Gating-ML 2.0 knows flin, flog, fasinh, logicle, hyperlog and fratio;
 * other kinds of fcs/transform.h may be used for evaluation but cannot be
 * exported. An fratio (fcs_transform_arity 2) needs the names of its two
 * channels x1 (numerator) and x2 (denominator); for other kinds both must
 * be NULL. FCS_EINVAL for a duplicate id or wrong channel names.
 */
FCS_EXPORT int fcs_strategy_add_transform(fcs_strategy *s, const char *id, const fcs_transform *t,
                                          const char *numerator,
                                          const char *denominator) FCS_WARN_UNUSED;

/**
 * Add a named compensation matrix (a Gating-ML spectrumMatrix; copied).
 * Not inverted: m is a spectrum matrix, one row per fluorochrome (row
 * names; unset row names of a square matrix mean the column names, as in a
 * spillover matrix) and one column per detector (column names): events are
 * unmixed by least squares (fcs/comp.h), which is o S^-1 for a square
 * matrix. Inverted (Gating-ML matrix-inverted-already): m is the
 * compensation matrix itself, one row per detector (row names, or the column
 * names when square and unset) and one column per fluorochrome, applied as
 * is: x = o M. A dimension naming a fluorochrome with this compensation
 * reference sees its compensated value.
 * FCS_EINVAL for a reserved or duplicate id, non-finite values, missing or
 * duplicate names.
 */
FCS_EXPORT int fcs_strategy_add_matrix(fcs_strategy *s, const char *id, const fcs_matrix *m,
                                       int inverted) FCS_WARN_UNUSED;

/** Add a rectangle (range, box) gate over n_dims dimensions. min/max: one
 *  bound per dimension, NaN for an open side; at least one side must be
 *  given per dimension. parent: population id or NULL. */
FCS_EXPORT int fcs_strategy_add_rectangle(fcs_strategy *s, const char *id, const char *parent,
                                          size_t n_dims, const fcs_gate_dim *dims,
                                          const double *min, const double *max) FCS_WARN_UNUSED;

/** Add a polygon gate: dims[2], n_vertices >= 3 finite vertices given as
 *  x0,y0,x1,y1,... (closed implicitly; any shape, self-crossing allowed;
 *  inside = odd winding number or on the boundary). */
FCS_EXPORT int fcs_strategy_add_polygon(fcs_strategy *s, const char *id, const char *parent,
                                        const fcs_gate_dim dims[2], size_t n_vertices,
                                        const double *xy) FCS_WARN_UNUSED;

/** Add an ellipsoid gate: n_dims >= 2, mean[n_dims], covariance n_dims x
 *  n_dims row-major (must be invertible: FCS_ENUMERIC otherwise),
 *  distance_square >= 0. */
FCS_EXPORT int fcs_strategy_add_ellipsoid(fcs_strategy *s, const char *id, const char *parent,
                                          size_t n_dims, const fcs_gate_dim *dims,
                                          const double *mean, const double *covariance,
                                          double distance_square) FCS_WARN_UNUSED;

/** Add a quadrant gate with its dividers (each >= 1 finite value). Add its
 *  quadrants with fcs_strategy_add_quadrant(). */
FCS_EXPORT int fcs_strategy_add_quadrant_gate(fcs_strategy *s, const char *id, const char *parent,
                                              size_t n_dividers,
                                              const fcs_gate_divider *dividers) FCS_WARN_UNUSED;

/** Add quadrant id to quadrant gate gate_id: n_positions >= 1 pairs of a
 *  divider id (each at most once) and a location. */
FCS_EXPORT int fcs_strategy_add_quadrant(fcs_strategy *s, const char *gate_id, const char *id,
                                         size_t n_positions, const char *const *divider_ids,
                                         const double *locations) FCS_WARN_UNUSED;

/** Add a boolean gate: op AND/OR with n_refs >= 2, NOT with n_refs == 1. */
FCS_EXPORT int fcs_strategy_add_boolean(fcs_strategy *s, const char *id, const char *parent,
                                        fcs_gate_bool_op op, size_t n_refs,
                                        const fcs_gate_ref *refs) FCS_WARN_UNUSED;

/**
 * Check every reference: parents and boolean operands name populations (not
 * a quadrant gate itself), there is no cycle, dimension transformations and
 * ratios name transformations of the right kind, compensation references
 * name "uncompensated", "FCS" or a matrix. FCS_ENOTFOUND / FCS_EFORMAT with
 * the message naming the gate.
 */
FCS_EXPORT int fcs_strategy_validate(fcs_strategy *s) FCS_WARN_UNUSED;

/* ---- strategy: query ------------------------------------------------------ */

/** Everything a gate holds (pointers owned by the strategy). Fields of
 *  other gate types are 0 / NULL. */
typedef struct fcs_gate_info {
    const char *id;
    const char *parent;          /**< parent population id or NULL */
    fcs_gate_type type;
    int line;                    /**< Gating-ML source line, 0 when added by the API */
    size_t n_dims;               /**< rectangle, polygon (2), ellipsoid */
    const fcs_gate_dim *dims;
    const double *min, *max;     /**< rectangle, NaN = open side */
    size_t n_vertices;           /**< polygon */
    const double *vertices;      /**< polygon, x0,y0,x1,y1,... */
    const double *mean;          /**< ellipsoid */
    const double *covariance;    /**< ellipsoid, row-major */
    double distance_square;      /**< ellipsoid */
    size_t n_dividers;           /**< quadrant */
    const fcs_gate_divider *dividers;
    size_t n_quadrants;
    const fcs_gate_quadrant *quadrants;
    fcs_gate_bool_op op;         /**< boolean */
    size_t n_refs;
    const fcs_gate_ref *refs;
} fcs_gate_info;

/** Number of gates (a quadrant gate counts once), in the order added. */
FCS_EXPORT size_t fcs_strategy_n_gates(const fcs_strategy *s);
/** Describe gate i. FCS_ERANGE when i is out of range. */
FCS_EXPORT int fcs_strategy_gate(const fcs_strategy *s, size_t i, fcs_gate_info *out);
/** Index of the gate with this id (a quadrant gate's own id too); -1 if none. */
FCS_EXPORT long fcs_strategy_find_gate(const fcs_strategy *s, const char *id);

/** Number of transformations / matrices, in the order added. */
FCS_EXPORT size_t fcs_strategy_n_transforms(const fcs_strategy *s);
/** Transformation i: id, handle and (fratio) channel names; each output
 *  pointer may be NULL. Owned by s. FCS_ERANGE when out of range. */
FCS_EXPORT int fcs_strategy_transform(const fcs_strategy *s, size_t i, const char **id,
                                      const fcs_transform **t, const char **numerator,
                                      const char **denominator);
FCS_EXPORT size_t fcs_strategy_n_matrices(const fcs_strategy *s);

/** A matrix of the strategy, as given to fcs_strategy_add_matrix(). */
typedef struct fcs_gate_matrix_info {
    const char *id;
    const fcs_matrix *matrix;
    size_t n_fluorochromes, n_detectors;
    const char *const *fluorochromes;
    const char *const *detectors;
    int inverted;
} fcs_gate_matrix_info;
FCS_EXPORT int fcs_strategy_matrix(const fcs_strategy *s, size_t i, fcs_gate_matrix_info *out);

/**
 * Populations: every gate except quadrant gates, whose quadrants take their
 * place (in quadrant order). This order is the order of fcs_gating_run's
 * output. The parent of a population is the parent of its gate.
 */
FCS_EXPORT size_t fcs_strategy_n_populations(const fcs_strategy *s);
/** Id of population p, NULL when out of range. */
FCS_EXPORT const char *fcs_strategy_population_id(const fcs_strategy *s, size_t p);
/** Parent id of population p (NULL for a root population or out of range). */
FCS_EXPORT const char *fcs_strategy_population_parent(const fcs_strategy *s, size_t p);
/** Index of the population with this id, -1 when none. */
FCS_EXPORT long fcs_strategy_population_index(const fcs_strategy *s, const char *id);
/** Full path of population p, "/root/child/p" (ids joined by '/', from the
 *  root population down), written to buf (NUL-terminated). Returns the
 *  length, FCS_ERANGE when it does not fit in size bytes, FCS_ENOTFOUND for
 *  an unknown parent, FCS_EFORMAT for a parent cycle. */
FCS_EXPORT long fcs_strategy_population_path(const fcs_strategy *s, size_t p, char *buf,
                                             size_t size);

/* ---- evaluation ------------------------------------------------------------ */

/**
 * Bind a strategy to the channels of a data set, ready to run over chunks.
 * channels: the data set's $PnN names in column order (n_channels; a NULL
 * entry is a parameter without name). Gate dimensions match a name exactly,
 * else case-insensitively. fcs_spillover: the data set's spillover matrix
 * (e.g. fcs_spillover(r, NULL)) used for compensation "FCS"; NULL when it
 * has none, which makes "FCS" mean uncompensated (Gating-ML 2.0 section 4).
 * Channels a compensation does not cover pass through uncompensated.
 * Validates the strategy first (messages go to err; the strategy is not
 * modified, and must stay alive and unchanged while the fcs_gating is used). FCS_ENOTFOUND names a missing channel,
 * FCS_ENUMERIC a matrix that cannot be inverted.
 */
FCS_EXPORT int fcs_gating_new(fcs_gating **out, const fcs_strategy *s, const char *const *channels,
                              size_t n_channels, const fcs_matrix *fcs_spillover,
                              fcs_error *err) FCS_WARN_UNUSED;
FCS_EXPORT void fcs_gating_free(fcs_gating *g);
/** One-line message of the last error of fcs_gating_run or
 *  fcs_gating_dim_values ("" when none). */
FCS_EXPORT const char *fcs_gating_errmsg(const fcs_gating *g);

/**
 * Gate n_events events. columns[j] holds n_events values of channel j (as
 * bound; for FCS_VALUES_COLUMNS chunks, buf + j * max_events). membership[p]
 * receives n_events bytes for population p (0 outside, 1 inside, parents
 * applied), p in fcs_strategy_n_populations order. Any n_events (it is
 * processed in cache-sized blocks). Returns FCS_OK or a negative status.
 */
FCS_EXPORT int fcs_gating_run(fcs_gating *g, const double *const *columns, size_t n_events,
                              uint8_t *const *membership) FCS_WARN_UNUSED;

/* ---- values of one gate dimension ---------------------------------------------- */

/* What a picture of a gate needs: the values the engine gates on, computed
 * by the same code fcs_gating_run uses (compensation, ratio, transformation
 * of the bound strategy), so that a plotted event sits on the same side of
 * a gate line as the engine decides. Dimensions are numbered per gate:
 * rectangle, polygon and ellipsoid dimensions in their order, the
 * dividers of a quadrant gate in theirs; a boolean gate has none. A divider
 * that no quadrant mentions is never bound (FCS_ENOTFOUND). */

/** Where the values of a bound gate dimension come from, before the
 *  dimension's own transformation. */
typedef enum fcs_gate_dim_kind {
    FCS_GATE_DIM_CHANNEL = 1,     /**< a channel as stored: uncompensated, or a channel the
                                       dimension's compensation does not cover (scatter, time) */
    FCS_GATE_DIM_COMPENSATED = 2, /**< an output of a compensation ("FCS" or a strategy matrix) */
    FCS_GATE_DIM_RATIO = 3        /**< an fratio of two (possibly compensated) channels */
} fcs_gate_dim_kind;

/** See fcs_gating_dim_source(). */
typedef struct fcs_gate_dim_source {
    size_t id;              /**< two dimensions of one fcs_gating have the same id exactly
                                 when their values before their own transformations are the
                                 same (same channel, or the same output of the same
                                 compensation, or the same ratio of the same values) */
    fcs_gate_dim_kind kind;
    long channel;           /**< FCS_GATE_DIM_CHANNEL: its column (0-based), else -1 */
    int transformed;        /**< the dimension has a transformation of its own */
} fcs_gate_dim_source;

/** Describe dimension dim of gate `gate` (fcs_strategy_gate order) as bound
 *  by g. FCS_OK; FCS_ERANGE when there is no such gate or dimension;
 *  FCS_ENOTFOUND for an unused divider; FCS_EINVAL for NULL arguments. */
FCS_EXPORT int fcs_gating_dim_source(const fcs_gating *g, size_t gate, size_t dim,
                                     fcs_gate_dim_source *out) FCS_WARN_UNUSED;

/** Stages of fcs_gating_dim_values(). */
enum {
    FCS_GATE_DIM_SCALED = 0,       /**< on the gate's scale: the values compared with its
                                        coordinates (after the dimension's transformation) */
    FCS_GATE_DIM_UNTRANSFORMED = 1 /**< before the dimension's own transformation (compensated
                                        and ratio taken): for a plot that applies the
                                        transformation as its display scale */
};

/**
 * Values of dimension dim of gate `gate` for n_events events: columns as
 * for fcs_gating_run (only the columns the dimension reads are used), out
 * receives n_events doubles. Computed block by block by the engine's own
 * source code path, so for every event the values are bit for bit those
 * fcs_gating_run compared with the gate. Does not change any membership;
 * may be called between fcs_gating_run calls on the same chunk. Returns
 * FCS_OK, or FCS_ERANGE / FCS_ENOTFOUND (as fcs_gating_dim_source),
 * FCS_EINVAL (bad stage, NULL arrays), or the status of a failed
 * compensation or transformation; the message is fcs_gating_errmsg(g).
 */
FCS_EXPORT int fcs_gating_dim_values(fcs_gating *g, size_t gate, size_t dim, int stage,
                                     const double *const *columns, size_t n_events,
                                     double *out) FCS_WARN_UNUSED;

/* ---- Gating-ML 2.0 ---------------------------------------------------------- */

/**
 * Read a Gating-ML 2.0 document (file path, or "-" for stdin) into a new
 * strategy: every gate type, every transformation, spectrum matrices
 * (including matrix-inverted-already), boolean operands with
 * use-as-complement, parent_id. Elements are matched by namespace URI
 * (gating:, transforms:, data-type: of Gating-ML 2.0), not by prefix;
 * data-type:custom_info is skipped wherever it may appear.
 * Anything else — unknown elements, missing or malformed attributes and
 * numbers, wrong element counts, dangling references — is refused with
 * FCS_EFORMAT (FCS_ENOTFOUND for references) and a message
 * "FILE:LINE: element: problem". No network or external entity access; the
 * library prints nothing.
 */
FCS_EXPORT int fcs_gatingml_read(fcs_strategy **out, const char *path,
                                 fcs_error *err) FCS_WARN_UNUSED;
/** As fcs_gatingml_read, from len bytes of memory; name is used in messages. */
FCS_EXPORT int fcs_gatingml_read_mem(fcs_strategy **out, const void *data, size_t len,
                                     const char *name, fcs_error *err) FCS_WARN_UNUSED;

/**
 * Write s as a Gating-ML 2.0 document (UTF-8): matrices, transformations,
 * then gates in their order. Numbers are written as the shortest decimals
 * that read back to the same doubles, so reading the output gives a
 * strategy with the same membership for every event. The strategy must
 * validate. path "-" writes to stdout; otherwise PATH.tmp.<pid> is written
 * and renamed into place when complete.
 */
FCS_EXPORT int fcs_gatingml_write(const fcs_strategy *s, const char *path,
                                  fcs_error *err) FCS_WARN_UNUSED;
/** As fcs_gatingml_write, into a malloc'd NUL-terminated buffer (*len bytes
 *  without the NUL); free it with free(). */
FCS_EXPORT int fcs_gatingml_write_mem(const fcs_strategy *s, char **out, size_t *len,
                                      fcs_error *err) FCS_WARN_UNUSED;

#ifdef __cplusplus
}
#endif
#endif
