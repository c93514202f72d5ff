/*
 * fcs/plot.h — pictures of events: 2-D density plots and 1-D histograms of
 * channels on their transformed scales, with gates drawn on top and each
 * gate's count and % of parent beside it; SVG (the density as an embedded
 * PNG) or PNG output. The pieces the pictures are made of are public too:
 * binning, the colour map, axis ticks and a PNG encoder.
 *
 * Usage sketch (density plot of two channels, one rectangle gate)
 *
 *     fcs_plot_axis ax = {"FSC-A", {NULL, NULL}, 0, 262144};   // linear
 *     fcs_plot_axis ay = {"CD3 (FITC-A) [logicle]", {NULL, logicle}, 0, 1};
 *     fcs_plot_opts o;
 *     fcs_plot_opts_init(&o);
 *     o.title = "sample01.fcs: all events (5000)";
 *     fcs_plot *p;
 *     if (fcs_plot_new(&p, &ax, &ay, &o, &err) != FCS_OK) ...
 *     while (... chunks ...)
 *         fcs_plot_add_events(p, x, y, NULL, n);   // y: channel values, the plot
 *                                                  // applies the logicle itself
 *     char label[128];
 *     fcs_plot_gate_label(label, sizeof label, "T cells", count, pct_parent);
 *     fcs_plot_rectangle(p, NULL, logicle, 1e4, NAN, 0.45, 0.9, label);
 *     char *svg; size_t len;
 *     if (fcs_plot_svg(p, &svg, &len) != FCS_OK) ... // fcs_plot_errmsg(p)
 *     fcs_plot_free(p);
 *
 * Coordinates. Three spaces are involved, per axis:
 *   values      what the caller passes to fcs_plot_add_events (for a stream
 *               already transformed by fcs-xform: the transformed values);
 *   positions   where things are drawn: display(values), display being the
 *               axis's fcs_plot_scale.display transform (NULL: identity);
 *   data units  the units of the tick labels: values = applied(data), with
 *               fcs_plot_scale.applied the transform the values already
 *               carry (LIBFCS_PnTRANSFORM; NULL: none). A tick for data
 *               value v is at position display(applied(v)).
 * Gates come in their own coordinates, related to the values by a gate
 * transform per axis (the transform of the gate's dimension, Gating-ML
 * style): gate = gt(value). A gate point g is drawn at
 * display(gt^-1(g)); when gt is the display transform (the same handle or
 * the same canonical text, fcs_transform_string) this is g itself. Straight
 * gate edges stay straight in positions only when gt and display agree, so
 * otherwise polygon and ellipse outlines are drawn through 64 points per
 * edge / 256 around the ellipse; rectangles, dividers and region labels
 * are axis-parallel and need only their bounds mapped (transforms are
 * monotone).
 *
 * Binning. An axis from position lo to hi (lo < hi) is cut into n equal
 * bins; a position v falls into bin floor((v - lo) / (hi - lo) * n), and
 * v == hi into the last bin. Off-scale positions (below lo, above hi,
 * +-Inf) go to the first / last bin by default ("clamped": every event is
 * shown, piled on the edge as cytometry software does) or are dropped
 * (opts.drop_offscale). NaN positions (e.g. log of a negative value) are
 * never binned. fcs_hist_tally() says how many events each rule took, and
 * the plot prints a note under the picture when any were off scale or NaN.
 *
 * Colours. Bin counts are coloured through a 256-entry viridis table
 * (fcs_colormap_viridis: dark blue-purple to yellow, perceptually uniform,
 * CIELAB lightness strictly increasing); empty bins are not painted. The
 * level of a non-empty bin with count c, in a picture whose largest bin
 * holds m, is 1 + round(254 f) with f = ln c / ln m (log density, the
 * default) or f = c / m (linear density); f = 1 when m = 1. Level l is drawn
 * with table entry round((l - 1) * 255 / 254), so level 1 is the darkest
 * and level 255 (the fullest bin) the brightest colour.
 *
 * Ticks. Linear scales (no transform, linear, flin) get ticks at multiples
 * of a round step (1, 2 or 5 times a power of ten) chosen so that labels
 * are at least min_gap of the axis apart, with 4 minor ticks between
 * (labels "0", "50000", "0.25", "-200"). Log scales (log, flog) get a major
 * tick at every decade 10^k that is at least min_gap away from the next
 * major tick above it (walking down from the top) and minor ticks at
 * 2..9 x 10^k within decades at least 2 min_gap long. Scales with a linear
 * region around zero (asinh, fasinh, logicle, hyperlog, biex) get the same
 * decades on both sides of zero, a major tick "0" when zero is on the axis,
 * and no decade closer than min_gap to zero (those crowd the near-linear
 * region). Major ticks are labelled "10^3", "-10^2", "10^-1", "0"; the text
 * after '^' is the exponent, drawn as a superscript.
 *
 * Output. SVG: one standalone, well-formed XML document (UTF-8; keyword
 * text that is not valid UTF-8 is read as Latin-1, control characters are
 * replaced by U+FFFD), the density as one PNG image of bins x bins pixels in
 * a data: URI (a 256 x 256 density costs some 10-60 KB), gates as paths
 * clipped to the plot area, labels as text. Elements carry classes for
 * scripts: "density", "histogram", "gate", "divider", "gate-label",
 * "tick-label", "axis-title", "title", "note", "colorbar". PNG: the same
 * picture rendered by the library itself (opts.png_scale pixels per SVG
 * unit, a built-in 5x7 bitmap font, anti-aliased lines), RGB, no
 * dependency beyond zlib; text that is not ASCII is drawn as '?'.
 *
 * Errors. Functions return FCS_OK or a negative FCS_E* status; those on a
 * plot keep a one-line message (fcs_plot_errmsg). Nothing is printed.
 * Threads: a plot is used by one thread at a time; separate plots (and all
 * the free functions) are independent.
 */
#ifndef FCS_PLOT_H
#define FCS_PLOT_H

#include <stdint.h>

#include "fcs/common.h"
#include "fcs/transform.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- PNG encoder --------------------------------------------------------------- */

/** PNG colour types (8 bits per sample). */
typedef enum fcs_png_color {
    FCS_PNG_GRAY = 0,    /**< 1 byte per pixel */
    FCS_PNG_RGB = 2,     /**< 3 bytes per pixel */
    FCS_PNG_PALETTE = 3, /**< 1 byte per pixel: index into palette */
    FCS_PNG_RGBA = 6     /**< 4 bytes per pixel, alpha not premultiplied */
} fcs_png_color;

/** An image to encode; rows top to bottom. */
typedef struct fcs_png_image {
    uint32_t width, height; /**< 1 .. 2^31-1 each */
    fcs_png_color color;
    const uint8_t *pixels;  /**< height rows */
    size_t stride;          /**< bytes from one row to the next; 0 = width x bytes per pixel */
    const uint8_t *palette; /**< FCS_PNG_PALETTE: n_palette RGB triples */
    size_t n_palette;       /**< 1..256 */
    const uint8_t *alpha;   /**< FCS_PNG_PALETTE: alpha of the first n_alpha entries (tRNS),
                                 the others opaque; may be NULL with n_alpha 0 */
    size_t n_alpha;
} fcs_png_image;

/**
 * Encode img as a PNG file image in memory: signature, IHDR, PLTE and tRNS
 * (palette images), one IDAT (zlib level 9; filter None for palette and
 * grey rows, the cheapest of the five filters for truecolour rows), IEND;
 * CRCs by zlib's crc32. Palette indices are not checked against n_palette
 * (decoders treat a larger index as an error). On FCS_OK *out is a malloc'd
 * buffer of *len bytes (free it with free()). FCS_EINVAL for a bad
 * description (size, colour type, stride, palette), FCS_ENOMEM.
 */
FCS_EXPORT int fcs_png_encode(const fcs_png_image *img, uint8_t **out, size_t *len,
                              fcs_error *err) FCS_WARN_UNUSED;

/* ---- colour map and density levels --------------------------------------------- */

/** Number of density levels of a non-empty bin (1..FCS_DENSITY_LEVELS). */
#define FCS_DENSITY_LEVELS 255

/** The viridis-like colour table: 256 RGB triples (768 bytes), from entry 0
 *  (dark blue-purple, #440154) to entry 255 (yellow, #fde725). Static. */
FCS_EXPORT const uint8_t *fcs_colormap_viridis(void);

/** Density level of a bin holding count events when the fullest bin holds
 *  max_count (see Colours above): 0 for an empty bin, else 1..255.
 *  count > max_count is treated as max_count. */
FCS_EXPORT int fcs_density_level(uint64_t count, uint64_t max_count, int linear);

/** Colour of a density level 1..255 (rgb[3]); level 0 and out-of-range
 *  levels give white. */
FCS_EXPORT void fcs_density_color(int level, uint8_t rgb[3]);

/* ---- binning --------------------------------------------------------------------- */

typedef struct fcs_hist fcs_hist;

/** How the events given to a histogram were counted. */
typedef struct fcs_hist_tally {
    uint64_t binned;  /**< events in the bins (including clamped ones) */
    uint64_t clamped; /**< off-scale events put into an edge bin */
    uint64_t dropped; /**< off-scale events left out (drop_offscale) */
    uint64_t nan;     /**< events with a NaN coordinate (never binned) */
} fcs_hist_tally;

/**
 * New histogram of nx x ny bins over positions [xlo, xhi] x [ylo, yhi]
 * (ny = 1 and ylo, yhi ignored for a 1-D histogram). Bounds finite with
 * lo < hi; 1 <= nx, ny <= 65536 and nx * ny <= 2^26. clamp: 1 to put
 * off-scale events into the edge bins, 0 to drop them. FCS_EINVAL /
 * FCS_ENOMEM with a message in err.
 */
FCS_EXPORT int fcs_hist_new(fcs_hist **out, size_t nx, double xlo, double xhi, size_t ny,
                            double ylo, double yhi, int clamp, fcs_error *err) FCS_WARN_UNUSED;
/** Free a histogram. Accepts NULL. */
FCS_EXPORT void fcs_hist_free(fcs_hist *h);

/** The bin rule on its own: the bin (0..n-1) of position v on [lo, hi] cut
 *  into n bins, or -1 when v is NaN, or off scale and clamp is 0. */
FCS_EXPORT long fcs_hist_bin(double v, double lo, double hi, size_t n, int clamp);

/**
 * Count n events: event i is at x[i] (and y[i]; y is ignored, and may be
 * NULL, for a 1-D histogram). mask (may be NULL = every event) selects the
 * events with mask[i] != 0. FCS_EINVAL when x (or, 2-D, y) is NULL with
 * n > 0; FCS_ERANGE if a bin count would overflow 64 bits.
 */
FCS_EXPORT int fcs_hist_add(fcs_hist *h, const double *x, const double *y, const uint8_t *mask,
                            size_t n) FCS_WARN_UNUSED;

/** Bins along x and y (1 for a 1-D histogram). */
FCS_EXPORT size_t fcs_hist_nx(const fcs_hist *h);
FCS_EXPORT size_t fcs_hist_ny(const fcs_hist *h);
/** Counts, row by row from the lowest y: bin (ix, iy) at [iy * nx + ix]. */
FCS_EXPORT const uint64_t *fcs_hist_counts(const fcs_hist *h);
/** The largest bin count (0 when empty). */
FCS_EXPORT uint64_t fcs_hist_max(const fcs_hist *h);
/** How the events were counted so far. */
FCS_EXPORT void fcs_hist_get_tally(const fcs_hist *h, fcs_hist_tally *out);

/* ---- scales and ticks ---------------------------------------------------------------- */

/** An axis scale (see Coordinates above). Both transforms must take one
 *  channel (fcs_transform_arity 1); they stay the caller's and must
 *  outlive every object given the scale. */
typedef struct fcs_plot_scale {
    const fcs_transform *applied; /**< already applied to the values, or NULL */
    const fcs_transform *display; /**< applied by the plot, or NULL */
} fcs_plot_scale;

/** Position of data value v: display(applied(v)). NULL s: v. */
FCS_EXPORT double fcs_plot_scale_forward(const fcs_plot_scale *s, double v);
/** Data value at position pos (the inverse of fcs_plot_scale_forward). */
FCS_EXPORT double fcs_plot_scale_inverse(const fcs_plot_scale *s, double pos);
/** The kind of transform that shapes the axis: display's when it is not
 *  linear/flin, else applied's, else 0 (linear). */
FCS_EXPORT int fcs_plot_scale_kind(const fcs_plot_scale *s);

/** Room for any tick label, with its NUL. */
#define FCS_PLOT_LABEL_MAX 24

typedef struct fcs_plot_tick {
    double pos;                     /**< position on the axis */
    double value;                   /**< data value */
    int major;                      /**< 1: labelled major tick; 0: minor tick (label "") */
    char label[FCS_PLOT_LABEL_MAX]; /**< "10^3", "-10^2", "0", "50000", "0.25" */
} fcs_plot_tick;

/**
 * Ticks of scale s (NULL: linear) on the axis from position lo to hi
 * (lo < hi), by the rules of Ticks above; min_gap (0.01 .. 0.5) is the
 * smallest distance between labelled ticks, as a fraction of hi - lo.
 * Ticks are returned in increasing data value, majors and minors mixed.
 * FCS_OK with *n ticks in out; FCS_ERANGE when max is too small (*n then
 * says how many are needed); FCS_EINVAL for bad bounds or min_gap, or a
 * scale that maps lo or hi to no data value.
 */
FCS_EXPORT int fcs_plot_ticks(const fcs_plot_scale *s, double lo, double hi, double min_gap,
                              fcs_plot_tick *out, size_t max, size_t *n) FCS_WARN_UNUSED;

/* ---- the picture ------------------------------------------------------------------ */

typedef struct fcs_plot fcs_plot;

/** One axis of a picture. */
typedef struct fcs_plot_axis {
    const char *title;    /**< e.g. "FITC-A CD3 [logicle]" (copied; NULL = none) */
    fcs_plot_scale scale; /**< the transforms (kept by pointer: must outlive the plot) */
    double lo, hi;        /**< positions of the axis ends, finite, lo < hi */
} fcs_plot_axis;

/** Options for fcs_plot_new(). Fill with fcs_plot_opts_init() first. */
typedef struct fcs_plot_opts {
    unsigned width, height; /**< picture size in SVG units (pixels) [600 x 540]; 200..8000 */
    size_t bins;            /**< bins per axis [256]; 2..4096 */
    int linear_density;     /**< colour by count instead of log count [0] */
    int drop_offscale;      /**< drop off-scale events instead of piling them on the edges [0] */
    const char *title;      /**< title line (copied; NULL = none) */
    double png_scale;       /**< PNG pixels per SVG unit [2]; 0.5..8 */
} fcs_plot_opts;

FCS_EXPORT void fcs_plot_opts_init(fcs_plot_opts *opts);

/**
 * New picture: a 2-D density plot of x against y, or, with y NULL, a 1-D
 * histogram of x (event counts on a linear vertical axis). opts NULL means
 * the defaults. FCS_EINVAL for bad axes or options (message in err),
 * FCS_ENOMEM.
 */
FCS_EXPORT int fcs_plot_new(fcs_plot **out, const fcs_plot_axis *x, const fcs_plot_axis *y,
                            const fcs_plot_opts *opts, fcs_error *err) FCS_WARN_UNUSED;
/** Free a picture. Accepts NULL. */
FCS_EXPORT void fcs_plot_free(fcs_plot *p);
/** Replace the title (copied; NULL = none), e.g. once the events are
 *  counted. FCS_ENOMEM. */
FCS_EXPORT int fcs_plot_set_title(fcs_plot *p, const char *title) FCS_WARN_UNUSED;
/** One-line message of the last error ("" when none). */
FCS_EXPORT const char *fcs_plot_errmsg(const fcs_plot *p);

/**
 * Add n events: values x[i] (and y[i] for a 2-D plot; y ignored for a
 * histogram), for the events with mask[i] != 0 (mask NULL: all). The
 * display transforms are applied here (the arrays are not modified) and the
 * positions binned; memory does not grow with the number of events.
 * FCS_EINVAL for NULL arrays, FCS_ERANGE on count overflow, FCS_ENOMEM.
 */
FCS_EXPORT int fcs_plot_add_events(fcs_plot *p, const double *x, const double *y,
                                   const uint8_t *mask, size_t n) FCS_WARN_UNUSED;

/** The histogram behind the picture (owned by p). */
FCS_EXPORT const fcs_hist *fcs_plot_hist(const fcs_plot *p);

/**
 * Gate label "NAME COUNT (PCT%)" with PCT to one decimal ("NA" when pct is
 * NaN: a parent without events), e.g. "CD3+ 1234 (45.6%)", into buf (n
 * bytes, truncated to fit). Returns the length of the full label (as
 * snprintf). count and pct must come from the statistics (fcs/stats.h):
 * the picture only prints them.
 */
FCS_EXPORT int fcs_plot_gate_label(char *buf, size_t n, const char *name, int64_t count,
                                   double pct_parent);

/* Gates. gx, gy: the gate transforms of the x and y dimension (see
 * Coordinates; NULL: the gate is on the values themselves). For a 1-D
 * histogram gy and every y coordinate are ignored. label: drawn near the
 * shape (copied; NULL or "" = none). FCS_EINVAL for bad geometry with a
 * message, FCS_ENOMEM. */

/** Rectangle min <= x < max, min <= y < max in gate coordinates; a NaN
 *  bound is an open side (drawn at the edge of the plot area). 1-D: a
 *  range on x, drawn as two vertical lines and a bar with the label. */
FCS_EXPORT int fcs_plot_rectangle(fcs_plot *p, const fcs_transform *gx, const fcs_transform *gy,
                                  double xmin, double xmax, double ymin, double ymax,
                                  const char *label) FCS_WARN_UNUSED;
/** Polygon of n >= 3 finite vertices x0,y0,x1,y1,... (closed); 2-D only. */
FCS_EXPORT int fcs_plot_polygon(fcs_plot *p, const fcs_transform *gx, const fcs_transform *gy,
                                size_t n, const double *xy, const char *label) FCS_WARN_UNUSED;
/** Ellipse (x-m)' C^-1 (x-m) = d2 of an ellipsoid gate: mean[2],
 *  covariance cov[4] row-major (symmetric positive definite), d2 > 0; drawn
 *  as its contour through 256 points. 2-D only. */
FCS_EXPORT int fcs_plot_ellipse(fcs_plot *p, const fcs_transform *gx, const fcs_transform *gy,
                                const double mean[2], const double cov[4], double d2,
                                const char *label) FCS_WARN_UNUSED;
/** A quadrant divider: a line across the plot area at gate coordinate value
 *  on axis 0 (x: a vertical line) or 1 (y: horizontal; 2-D only). g: the
 *  gate transform of that axis. */
FCS_EXPORT int fcs_plot_divider(fcs_plot *p, int axis, const fcs_transform *g,
                                double value) FCS_WARN_UNUSED;
/** A label for the region [xmin, xmax) x [ymin, ymax) of a quadrant gate
 *  (infinite or NaN bounds: open), placed in the region's corner towards
 *  its open sides (its centre when closed on both sides). */
FCS_EXPORT int fcs_plot_region_label(fcs_plot *p, const fcs_transform *gx, const fcs_transform *gy,
                                     double xmin, double xmax, double ymin, double ymax,
                                     const char *label) FCS_WARN_UNUSED;
/** A note printed under the picture (copied; at most 8 notes). The plot adds
 *  its own notes about off-scale and NaN events when it renders. */
FCS_EXPORT int fcs_plot_note(fcs_plot *p, const char *text) FCS_WARN_UNUSED;

/* ---- rendering ------------------------------------------------------------------- */

/** Render as an SVG document: on FCS_OK *out is a malloc'd NUL-terminated
 *  string of *len bytes (free with free()). FCS_ENOMEM. The plot is not
 *  changed: more events or gates may be added and the picture rendered
 *  again. */
FCS_EXPORT int fcs_plot_svg(fcs_plot *p, char **out, size_t *len) FCS_WARN_UNUSED;
/** Render as a PNG image (width x png_scale by height x png_scale pixels,
 *  RGB): *out malloc'd, *len bytes. FCS_ENOMEM. */
FCS_EXPORT int fcs_plot_png(fcs_plot *p, uint8_t **out, size_t *len) FCS_WARN_UNUSED;

#ifdef __cplusplus
}
#endif
#endif
