/*
 * stats.c — population statistics over an event stream (fcs/stats.h).
 *
 * Events are processed in sub-chunks of at most CHUNK events. For each
 * sub-chunk every population gets the list of its members' positions, built
 * from its parent's list (so membership nests by construction and costs
 * the parent's size, not the chunk's). Each channel's column is extracted
 * (and transformed) once, then every population gathers its members'
 * finite values into a contiguous buffer, from which the chunk's count,
 * mean and sum of squared deviations are computed in two passes and merged
 * into the running totals (Chan, Golub & LeVeque 1979).
 *
 * Order statistics need the values: they are appended per channel to one
 * store shared by all populations (every event, since "/" is a population),
 * with one membership bit per event and population. fcs_stats_finish()
 * gathers each population's values into one scratch buffer and selects the
 * ranks every requested percentile needs.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcs/stats.h"
#include "internal.h"

#define CHUNK 4096

/* ---- statistic names ----------------------------------------------------------- */

static const struct {
    const char *name;
    fcs_stat kind;
} stat_names[] = {
    {"count", FCS_STAT_COUNT},
    {"pct_parent", FCS_STAT_PCT_PARENT},
    {"pct_grandparent", FCS_STAT_PCT_GRANDPARENT},
    {"pct_total", FCS_STAT_PCT_TOTAL},
    {"cells_per_ul", FCS_STAT_CELLS_PER_UL},
    {"mean", FCS_STAT_MEAN},
    {"median", FCS_STAT_MEDIAN},
    {"geomean", FCS_STAT_GEOMEAN},
    {"sd", FCS_STAT_SD},
    {"cv", FCS_STAT_CV},
    {"rsd", FCS_STAT_RSD},
    {"rcv", FCS_STAT_RCV},
    /* aliases (parsed, never printed) */
    {"%parent", FCS_STAT_PCT_PARENT},
    {"%grandparent", FCS_STAT_PCT_GRANDPARENT},
    {"%total", FCS_STAT_PCT_TOTAL},
    {"gmean", FCS_STAT_GEOMEAN},
    {"robust_sd", FCS_STAT_RSD},
    {"robust_cv", FCS_STAT_RCV},
};

int fcs_stat_is_channel(fcs_stat kind)
{
    return kind >= FCS_STAT_MEAN && kind <= FCS_STAT_PERCENTILE;
}

/* "p95", "P2.5", "p1e-3": a decimal number after the p (no "inf"/"nan"). */
static int parse_percentile(const char *t, double *p)
{
    if ((t[0] != 'p' && t[0] != 'P') || !t[1]) return -1;
    for (const char *c = t + 1; *c; c++)
        if (!((*c >= '0' && *c <= '9') || *c == '.' || *c == 'e' || *c == 'E' || *c == '-' ||
              *c == '+'))
            return -1;
    if (fcs_parse_double(t + 1, p) != 0 || !(*p >= 0 && *p <= 100)) return -1;
    return 0;
}

int fcs_stat_parse(const char *text, fcs_stat_spec *out, fcs_error *err)
{
    if (!text || !out) return fcs_error_set(err, FCS_EINVAL, "statistic: no text");
    out->percentile = 0;
    for (size_t i = 0; i < sizeof stat_names / sizeof stat_names[0]; i++) {
        if (fcs_strcasecmp(text, stat_names[i].name) == 0) {
            out->kind = stat_names[i].kind;
            if (out->kind == FCS_STAT_MEDIAN) out->percentile = 50;
            return FCS_OK;
        }
    }
    if (parse_percentile(text, &out->percentile) == 0) {
        out->kind = FCS_STAT_PERCENTILE;
        return FCS_OK;
    }
    return fcs_error_set(err, FCS_EINVAL,
                         "statistic '%s': unknown (count, pct_parent, pct_grandparent, "
                         "pct_total, cells_per_ul, mean, median, geomean, sd, cv, rsd, rcv "
                         "or pP with 0 <= P <= 100)",
                         text);
}

/* The shortest plain decimal ("20", "2.5", "0.001") that reads back as
 * the same double; the shortest %g (with an exponent) when none of up to
 * 20 decimals does. */
static void format_shortest(char *buf, size_t n, double v)
{
    for (int dec = 0; dec <= 20; dec++) {
        snprintf(buf, n, "%.*f", dec, v);
        if (strtod(buf, NULL) == v) return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) return;
    }
}

const char *fcs_stat_name(const fcs_stat_spec *spec, char *buf, size_t n)
{
    if (!buf || n == 0) return buf;
    buf[0] = '\0';
    if (!spec) return buf;
    if (spec->kind == FCS_STAT_PERCENTILE) {
        char num[40];
        format_shortest(num, sizeof num, spec->percentile);
        snprintf(buf, n, "p%s", num);
        return buf;
    }
    for (size_t i = 0; i < sizeof stat_names / sizeof stat_names[0]; i++) {
        if (stat_names[i].kind == spec->kind) {
            snprintf(buf, n, "%s", stat_names[i].name);
            break;
        }
    }
    return buf;
}

/* ---- order statistics -------------------------------------------------------------- */

/* Introselect on one element type: quickselect (median-of-3 pivot, Hoare
 * partition, which copes with runs of equal values) that sorts the
 * remaining range once too many partitions were needed (bad pivots), so
 * the worst case stays O(n log n). After select(v, lo, hi, k), v[k] is the
 * k-th smallest of v[lo..hi], smaller-or-equal values lie left of k and
 * larger-or-equal ones right of it. Indices are signed for the partition's
 * lo-1 start. */
#define DEFINE_SELECT(T, SUFFIX)                                                             \
    static int cmp_##SUFFIX(const void *a, const void *b)                                    \
    {                                                                                        \
        T x = *(const T *)a, y = *(const T *)b;                                              \
        return (x > y) - (x < y);                                                            \
    }                                                                                        \
    static void insertion_##SUFFIX(T *v, ptrdiff_t lo, ptrdiff_t hi)                         \
    {                                                                                        \
        for (ptrdiff_t i = lo + 1; i <= hi; i++) {                                           \
            T x = v[i];                                                                      \
            ptrdiff_t j = i - 1;                                                             \
            while (j >= lo && v[j] > x) {                                                    \
                v[j + 1] = v[j];                                                             \
                j--;                                                                         \
            }                                                                                \
            v[j + 1] = x;                                                                    \
        }                                                                                    \
    }                                                                                        \
    static void select_##SUFFIX(T *v, ptrdiff_t lo, ptrdiff_t hi, ptrdiff_t k)               \
    {                                                                                        \
        int budget = 2 * (int)log2((double)(hi - lo + 2)) + 4;                               \
        while (hi > lo) {                                                                    \
            if (hi - lo < 16) {                                                              \
                insertion_##SUFFIX(v, lo, hi);                                               \
                return;                                                                      \
            }                                                                                \
            if (budget-- == 0) {                                                             \
                qsort(v + lo, (size_t)(hi - lo + 1), sizeof(T), cmp_##SUFFIX);               \
                return;                                                                      \
            }                                                                                \
            ptrdiff_t mid = lo + (hi - lo) / 2;                                              \
            T t;                                                                             \
            if (v[mid] < v[lo]) t = v[mid], v[mid] = v[lo], v[lo] = t;                       \
            if (v[hi] < v[lo]) t = v[hi], v[hi] = v[lo], v[lo] = t;                          \
            if (v[hi] < v[mid]) t = v[hi], v[hi] = v[mid], v[mid] = t;                       \
            T pivot = v[mid];                                                                \
            ptrdiff_t i = lo - 1, j = hi + 1;                                                \
            for (;;) {                                                                       \
                do i++; while (v[i] < pivot);                                                \
                do j--; while (v[j] > pivot);                                                \
                if (i >= j) break;                                                           \
                t = v[i], v[i] = v[j], v[j] = t;                                             \
            }                                                                                \
            /* v[lo..j] <= pivot <= v[j+1..hi], lo <= j < hi */                              \
            if (k <= j)                                                                      \
                hi = j;                                                                      \
            else                                                                             \
                lo = j + 1;                                                                  \
        }                                                                                    \
    }                                                                                        \
    /* Select every rank in ranks[0..nr) (sorted, distinct, within lo..hi). */               \
    static void multiselect_##SUFFIX(T *v, ptrdiff_t lo, ptrdiff_t hi, const size_t *ranks,  \
                                     size_t nr)                                              \
    {                                                                                        \
        while (nr > 0 && lo <= hi) {                                                         \
            size_t m = nr / 2;                                                               \
            ptrdiff_t r = (ptrdiff_t)ranks[m];                                               \
            select_##SUFFIX(v, lo, hi, r);                                                   \
            multiselect_##SUFFIX(v, lo, r - 1, ranks, m);                                    \
            lo = r + 1;                                                                      \
            ranks += m + 1;                                                                  \
            nr -= m + 1;                                                                     \
        }                                                                                    \
    }

DEFINE_SELECT(double, d)
DEFINE_SELECT(float, f)
DEFINE_SELECT(uint64_t, u)

/* ---- exact radix selection on order-preserving keys ------------------------------ */

/* IEEE bits mapped so that unsigned order is numeric order: negative
 * numbers have all bits flipped, positive ones the sign bit set. -0 maps
 * like +0 (they are equal). A float's key sits in the top 32 bits, so one
 * code path serves both widths and the low bits of a float key are 0. */
static inline uint64_t double_bits_key(uint64_t u)
{
    const uint64_t sign = UINT64_C(1) << 63;
    u = u == sign ? 0 : u; /* -0 -> +0 */
    return u ^ ((uint64_t)-(int64_t)(u >> 63) | sign);
}

static inline uint64_t float_bits_key(uint32_t u)
{
    const uint32_t sign = UINT32_C(1) << 31;
    u = u == sign ? 0 : u;
    return (uint64_t)(u ^ ((uint32_t)-(int32_t)(u >> 31) | sign)) << 32;
}

static double value_of_key(uint64_t k, int f32)
{
    if (f32) {
        uint32_t u = (uint32_t)(k >> 32);
        u = (u >> 31) ? u & ~(UINT32_C(1) << 31) : ~u;
        float x;
        memcpy(&x, &u, sizeof x);
        return x;
    }
    k = (k >> 63) ? k & ~(UINT64_C(1) << 63) : ~k;
    double x;
    memcpy(&x, &k, sizeof x);
    return x;
}

#define RADIX_BITS 16
#define RADIX_SIZE (1u << RADIX_BITS)
#define RADIX_MIN 4096 /* below this, quickselect is faster than a histogram */

/*
 * Keys of ranks[0..nr) (sorted, distinct, < m) of the m keys in k (which
 * are reordered), into out[]. A histogram of 16 key bits at `shift` finds
 * the bucket of every wanted rank; the keys of those few buckets are copied
 * out and the search recurses on the next 16 bits, so the cost is about two
 * linear passes whatever the distribution; small sets are finished by
 * quickselect. Exact: no binning is left in the result. -1 when out of memory.
 */
static int radix_select(uint64_t *k, size_t m, const size_t *ranks, size_t nr, int shift,
                        uint64_t *out)
{
    if (m < RADIX_MIN || shift < 0 || m > UINT32_MAX) {
        multiselect_u(k, 0, (ptrdiff_t)m - 1, ranks, nr);
        for (size_t i = 0; i < nr; i++) out[i] = k[ranks[i]];
        return 0;
    }
    const uint64_t mask = RADIX_SIZE - 1;
    uint32_t *hist = calloc(RADIX_SIZE, sizeof *hist);
    uint16_t *mark = calloc(RADIX_SIZE, sizeof *mark);  /* bucket -> target + 1 */
    size_t *tb = malloc(nr * sizeof *tb), *tfirst = malloc((nr + 1) * sizeof *tfirst);
    size_t *local = malloc(nr * sizeof *local);
    uint64_t **cand = calloc(nr, sizeof *cand);
    size_t *fill = calloc(nr, sizeof *fill), nt = 0;
    int rc = hist && mark && tb && tfirst && local && cand && fill && nr < 65535 ? 0 : -1;
    if (rc == 0) {
        for (size_t i = 0; i < m; i++) hist[(k[i] >> shift) & mask]++;
        /* the target buckets: where each wanted rank falls */
        size_t start = 0, r = 0;
        for (size_t b = 0; b < RADIX_SIZE && r < nr; start += hist[b++]) {
            if (ranks[r] >= start + hist[b]) continue;
            tb[nt] = b, tfirst[nt] = r;
            while (r < nr && ranks[r] < start + hist[b]) local[r] = ranks[r] - start, r++;
            mark[b] = (uint16_t)++nt;
        }
        tfirst[nt] = nr;
    }
    if (rc == 0 && nt == 1 && hist[tb[0]] == m) {
        /* every key in one bucket: look at the next bits of the same keys */
        rc = radix_select(k, m, local, nr, shift - RADIX_BITS, out);
    } else if (rc == 0) {
        for (size_t t = 0; t < nt && rc == 0; t++)
            if (!(cand[t] = malloc((size_t)hist[tb[t]] * sizeof **cand))) rc = -1;
        for (size_t i = 0; rc == 0 && i < m; i++) {
            uint16_t t = mark[(k[i] >> shift) & mask];
            if (t) cand[t - 1][fill[t - 1]++] = k[i];
        }
        for (size_t t = 0; t < nt && rc == 0; t++)
            rc = radix_select(cand[t], fill[t], local + tfirst[t], tfirst[t + 1] - tfirst[t],
                              shift - RADIX_BITS, out + tfirst[t]);
    }
    for (size_t t = 0; cand && t < nt; t++) free(cand[t]);
    free(hist);
    free(mark);
    free(tb);
    free(tfirst);
    free(local);
    free(cand);
    free(fill);
    return rc;
}

/* Type 7: h = (n-1) p/100, interpolated between x[floor h] and the next
 * order statistic with numpy's lerp (exact at both ends, monotone). */
static void type7_position(size_t n, double p, size_t *lo, double *frac)
{
    double h = (double)(n - 1) * (p / 100.0);
    double f = floor(h);
    if (f < 0) f = 0;
    if (f > (double)(n - 1)) f = (double)(n - 1);
    *lo = (size_t)f;
    *frac = h - f;
    if (*lo + 1 >= n) *frac = 0;
}

static double lerp(double a, double b, double t)
{
    double d = b - a;
    if (t == 0) return a;
    return t >= 0.5 ? b - d * (1 - t) : a + d * t;
}

double fcs_percentile(double *v, size_t n, double p)
{
    if (!v || n == 0 || !(p >= 0 && p <= 100)) return NAN;
    size_t lo, ranks[2];
    double t;
    type7_position(n, p, &lo, &t);
    ranks[0] = lo;
    ranks[1] = lo + 1;
    multiselect_d(v, 0, (ptrdiff_t)n - 1, ranks, t > 0 ? 2 : 1);
    return t > 0 ? lerp(v[lo], v[lo + 1], t) : v[lo];
}

double fcs_percentile_f(float *v, size_t n, double p)
{
    if (!v || n == 0 || !(p >= 0 && p <= 100)) return NAN;
    size_t lo, ranks[2];
    double t;
    type7_position(n, p, &lo, &t);
    ranks[0] = lo;
    ranks[1] = lo + 1;
    multiselect_f(v, 0, (ptrdiff_t)n - 1, ranks, t > 0 ? 2 : 1);
    return t > 0 ? lerp(v[lo], v[lo + 1], t) : (double)v[lo];
}

/* ---- absolute counts ------------------------------------------------------------ */

double fcs_absolute_count(int64_t cells, int64_t beads, double beads_per_test, double volume_ul)
{
    if (beads <= 0 || cells < 0) return NAN;
    if (!(isfinite(beads_per_test) && beads_per_test > 0)) return NAN;
    if (!(isfinite(volume_ul) && volume_ul > 0)) return NAN;
    return (double)cells / (double)beads * beads_per_test / volume_ul;
}

double fcs_absolute_rel_error(int64_t beads)
{
    return beads > 0 ? 1.0 / sqrt((double)beads) : NAN;
}

/* ---- the accumulator ----------------------------------------------------------- */

struct pop {
    char *path;
    const char *name; /* last component, inside path */
    int parent;
    int depth;
    size_t param;
    double label; /* NaN: boolean membership */
    int64_t count;
    uint64_t *bits; /* membership per stored event (not for the root) */
    uint32_t *idx;  /* members of the current sub-chunk */
    size_t n_idx;
};

struct chan {
    size_t param;
    char *name, *marker, *unit;
    fcs_transform *t;
    void *store; /* float or double per stored event */
};

/* Running moments of one (population, channel). */
struct acc {
    double n, mean, m2;
    double logsum;
    int64_t n_pos, n_nonpos;
};

struct fcs_stats {
    size_t np;
    fcs_stat_spec *stats;
    size_t n_stats;
    int geomean_mode;
    int f32;
    int64_t expected;
    int need_order, need_geo;

    struct pop *pops;
    size_t n_pops, cap_pops;
    struct chan *chans;
    size_t n_chans, cap_chans;

    struct acc *acc;  /* n_pops x n_chans, from the first push */
    double *results;  /* n_pops x n_chans x n_stats, after finish */
    double *col, *logcol, *tmp; /* CHUNK each */
    unsigned char *posflag;     /* CHUNK: col[i] > 0 and finite */
    int started, finished;
    int64_t total;
    size_t store_cap; /* events the stores and bit sets can hold */

    int bead_pop;
    double beads_per_test, volume_ul;
    char errmsg[FCS_ERRMSG_MAX];
};

static int set_err(fcs_stats *s, int code, const char *fmt, ...) FCS_PRINTF(3, 4);
static int set_err(fcs_stats *s, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
    va_end(ap);
    return code;
}

void fcs_stats_opts_init(fcs_stats_opts *opts)
{
    if (!opts) return;
    memset(opts, 0, sizeof *opts);
    opts->geomean_nonpositive = FCS_GEOMEAN_EXCLUDE;
}

static int is_order_stat(fcs_stat k)
{
    return k == FCS_STAT_MEDIAN || k == FCS_STAT_PERCENTILE || k == FCS_STAT_RSD ||
           k == FCS_STAT_RCV;
}

static int copy_stats(fcs_stats *s, const fcs_stats_opts *o, fcs_error *err)
{
    if (!o || o->n_stats == 0) return FCS_OK;
    if (!o->stats) return fcs_error_set(err, FCS_EINVAL, "statistics: NULL list");
    if (!(s->stats = malloc(o->n_stats * sizeof *s->stats)))
        return fcs_error_set(err, FCS_ENOMEM, "statistics: out of memory");
    for (size_t i = 0; i < o->n_stats; i++) {
        fcs_stat_spec sp = o->stats[i];
        char name[48];
        if (!fcs_stat_is_channel(sp.kind))
            return fcs_error_set(err, FCS_EINVAL,
                                 "statistic '%s' is per population, not per channel",
                                 fcs_stat_name(&sp, name, sizeof name));
        if (sp.kind == FCS_STAT_PERCENTILE && !(sp.percentile >= 0 && sp.percentile <= 100))
            return fcs_error_set(err, FCS_EINVAL, "percentile %g outside [0, 100]", sp.percentile);
        if (sp.kind == FCS_STAT_MEDIAN) sp.percentile = 50;
        if (sp.kind != FCS_STAT_PERCENTILE && sp.kind != FCS_STAT_MEDIAN) sp.percentile = 0;
        s->need_order |= is_order_stat(sp.kind);
        s->need_geo |= sp.kind == FCS_STAT_GEOMEAN;
        s->stats[s->n_stats++] = sp;
    }
    return FCS_OK;
}

static int add_root(fcs_stats *s)
{
    s->cap_pops = 8;
    if (!(s->pops = calloc(s->cap_pops, sizeof *s->pops))) return FCS_ENOMEM;
    if (!(s->pops[0].path = fcs_strdup("/"))) return FCS_ENOMEM;
    s->pops[0].name = s->pops[0].path + 1;
    s->pops[0].parent = -1;
    s->pops[0].label = NAN;
    s->n_pops = 1;
    return FCS_OK;
}

int fcs_stats_new(fcs_stats **out, size_t n_params, const fcs_stats_opts *opts, fcs_error *err)
{
    if (!out) return fcs_error_set(err, FCS_EINVAL, "fcs_stats_new: NULL output");
    *out = NULL;
    fcs_stats *s = calloc(1, sizeof *s);
    if (!s) return fcs_error_set(err, FCS_ENOMEM, "statistics: out of memory");
    s->np = n_params;
    s->bead_pop = -1;
    s->beads_per_test = s->volume_ul = NAN;
    if (opts) {
        s->geomean_mode = opts->geomean_nonpositive;
        s->f32 = opts->f32 != 0;
        s->expected = opts->expected_events > 0 ? opts->expected_events : 0;
    }
    int rc = copy_stats(s, opts, err);
    if (rc == FCS_OK && add_root(s) != FCS_OK)
        rc = fcs_error_set(err, FCS_ENOMEM, "statistics: out of memory");
    if (rc != FCS_OK) {
        fcs_stats_free(s);
        return rc;
    }
    *out = s;
    return FCS_OK;
}

static void free_stores(fcs_stats *s)
{
    for (size_t c = 0; c < s->n_chans; c++) {
        free(s->chans[c].store);
        s->chans[c].store = NULL;
    }
    for (size_t p = 0; p < s->n_pops; p++) {
        free(s->pops[p].bits);
        s->pops[p].bits = NULL;
    }
    s->store_cap = 0;
}

void fcs_stats_free(fcs_stats *s)
{
    if (!s) return;
    free_stores(s);
    for (size_t p = 0; p < s->n_pops; p++) {
        free(s->pops[p].path);
        free(s->pops[p].idx);
    }
    for (size_t c = 0; c < s->n_chans; c++) {
        free(s->chans[c].name);
        free(s->chans[c].marker);
        free(s->chans[c].unit);
        fcs_transform_free(s->chans[c].t);
    }
    free(s->pops);
    free(s->chans);
    free(s->stats);
    free(s->acc);
    free(s->results);
    free(s->col);
    free(s->logcol);
    free(s->tmp);
    free(s->posflag);
    free(s);
}

const char *fcs_stats_errmsg(const fcs_stats *s) { return s ? s->errmsg : ""; }

/* ---- populations -------------------------------------------------------------- */

static int valid_path(const char *p)
{
    size_t n = strlen(p);
    if (n < 2 || p[0] != '/' || p[n - 1] == '/') return 0;
    return strstr(p, "//") == NULL;
}

int fcs_stats_find_population(const fcs_stats *s, const char *path)
{
    if (!s || !path) return -1;
    for (size_t i = 0; i < s->n_pops; i++)
        if (strcmp(s->pops[i].path, path) == 0) return (int)i;
    return -1;
}

int fcs_stats_add_population(fcs_stats *s, const char *path, const char *parent, size_t param,
                             double label)
{
    if (!s) return FCS_EINVAL;
    if (!path || !parent) return set_err(s, FCS_EINVAL, "population: NULL path or parent");
    if (s->started) return set_err(s, FCS_EINVAL, "population %s: added after the first push", path);
    if (!valid_path(path))
        return set_err(s, FCS_EINVAL,
                       "population '%s': a path starts with '/' and has no empty component",
                       path);
    if (fcs_stats_find_population(s, path) >= 0)
        return set_err(s, FCS_EINVAL, "population %s: defined twice", path);
    int par = fcs_stats_find_population(s, parent);
    if (par < 0) return set_err(s, FCS_EINVAL, "population %s: parent %s is not a population", path, parent);
    if (param >= s->np)
        return set_err(s, FCS_ERANGE, "population %s: parameter %zu out of range (%zu parameters)",
                       path, param + 1, s->np);
    if (s->n_pops == s->cap_pops) {
        struct pop *np = realloc(s->pops, 2 * s->cap_pops * sizeof *np);
        if (!np) return set_err(s, FCS_ENOMEM, "population %s: out of memory", path);
        s->pops = np;
        s->cap_pops *= 2;
    }
    struct pop *p = &s->pops[s->n_pops];
    memset(p, 0, sizeof *p);
    if (!(p->path = fcs_strdup(path))) return set_err(s, FCS_ENOMEM, "population %s: out of memory", path);
    p->name = strrchr(p->path, '/') + 1;
    p->parent = par;
    p->depth = s->pops[par].depth + 1;
    p->param = param;
    p->label = label;
    return (int)s->n_pops++;
}

/* Exact $PnN match (fcs_param_index also tries case-insensitively, and two
 * populations may differ only in case). */
static int param_by_exact_name(const fcs_reader *r, const char *name)
{
    for (size_t j = 0; j < fcs_n_params(r); j++) {
        const fcs_param *p = fcs_param_info(r, j);
        if (p && p->name && strcmp(p->name, name) == 0) return (int)j;
    }
    return -1;
}

struct popdef {
    char *path, *parent;
    int param;
    int added;
};

static char *parent_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path) return fcs_strdup("/");
    return fcs_strndup(path, (size_t)(slash - path));
}

static void free_defs(struct popdef *d, size_t n)
{
    for (size_t i = 0; d && i < n; i++) {
        free(d[i].path);
        free(d[i].parent);
    }
    free(d);
}

/* One population of the LIBFCS_POPi_* family. */
static int keyword_def(fcs_stats *s, const fcs_reader *r, size_t i, struct popdef *d)
{
    char key[64], *pname;
    snprintf(key, sizeof key, "LIBFCS_POP%zu_PATH", i);
    const char *path = fcs_keyword(r, key);
    if (!path || !*path) return set_err(s, FCS_EFORMAT, "%s: missing (LIBFCS_POPULATIONS says there are more)", key);
    snprintf(key, sizeof key, "LIBFCS_POP%zu_PARENT", i);
    const char *parent = fcs_keyword(r, key);
    d->path = fcs_strdup(path);
    d->parent = parent && *parent ? fcs_strdup(parent) : parent_of(path);
    size_t n = strlen(path) + 5;
    if (!d->path || !d->parent || !(pname = malloc(n))) return set_err(s, FCS_ENOMEM, "out of memory");
    snprintf(pname, n, "POP:%s", path);
    d->param = param_by_exact_name(r, pname);
    free(pname);
    if (d->param >= 0) return FCS_OK;
    snprintf(key, sizeof key, "LIBFCS_POP%zu_PAR", i);
    int64_t par;
    const char *v = fcs_keyword(r, key);
    if (!v) return set_err(s, FCS_EFORMAT, "population %s: no parameter POP:%s and no %s", path, path, key);
    if (fcs_parse_i64(v, &par) != 0 || par < 1 || (uint64_t)par > fcs_n_params(r))
        return set_err(s, FCS_EFORMAT, "%s: '%s' is not a parameter number 1..%zu", key, v, fcs_n_params(r));
    d->param = (int)(par - 1);
    return FCS_OK;
}

/* Definitions from LIBFCS_POPULATIONS, or from the POP: parameter names. */
static int collect_defs(fcs_stats *s, const fcs_reader *r, struct popdef **out, size_t *n_out)
{
    const char *k = fcs_keyword(r, "LIBFCS_POPULATIONS");
    size_t np = fcs_n_params(r), n = 0;
    int64_t count = -1;
    if (k && (fcs_parse_i64(k, &count) != 0 || count < 0 || (uint64_t)count > np))
        return set_err(s, FCS_EFORMAT, "LIBFCS_POPULATIONS: '%s' is not a count 0..%zu", k, np);
    struct popdef *d = calloc(np + 1, sizeof *d);
    if (!d) return set_err(s, FCS_ENOMEM, "out of memory");
    int rc = FCS_OK;
    if (count >= 0) {
        for (size_t i = 1; rc == FCS_OK && i <= (size_t)count; i++) rc = keyword_def(s, r, i, &d[n++]);
    } else {
        for (size_t j = 0; rc == FCS_OK && j < np; j++) {
            const fcs_param *p = fcs_param_info(r, j);
            if (!p || !p->name || strncmp(p->name, "POP:", 4) != 0) continue;
            d[n].path = fcs_strdup(p->name + 4);
            d[n].parent = d[n].path ? parent_of(d[n].path) : NULL;
            d[n].param = (int)j;
            if (!d[n++].parent) rc = set_err(s, FCS_ENOMEM, "out of memory");
        }
    }
    if (rc != FCS_OK) {
        free_defs(d, n);
        return rc;
    }
    *out = d;
    *n_out = n;
    return FCS_OK;
}

int fcs_stats_add_stream_populations(fcs_stats *s, const fcs_reader *r)
{
    if (!s) return FCS_EINVAL;
    if (!r) return set_err(s, FCS_EINVAL, "populations: NULL reader");
    struct popdef *d = NULL;
    size_t n = 0, added = 0;
    int rc = collect_defs(s, r, &d, &n);
    if (rc != FCS_OK) return rc;
    /* Parents first: add what has its parent already, until nothing moves. */
    for (int progress = 1; rc == FCS_OK && progress && added < n;) {
        progress = 0;
        for (size_t i = 0; rc == FCS_OK && i < n; i++) {
            if (d[i].added || fcs_stats_find_population(s, d[i].parent) < 0) continue;
            int idx = fcs_stats_add_population(s, d[i].path, d[i].parent, (size_t)d[i].param,
                                               FCS_STATS_BOOLEAN);
            if (idx < 0) rc = idx == FCS_EINVAL ? FCS_EFORMAT : idx;
            d[i].added = progress = 1;
            added++;
        }
    }
    for (size_t i = 0; rc == FCS_OK && i < n; i++)
        if (!d[i].added)
            rc = set_err(s, FCS_EFORMAT, "population %s: parent %s is not a population of the stream",
                         d[i].path, d[i].parent);
    free_defs(d, n);
    return rc == FCS_OK ? (int)added : rc;
}

/* ---- channels and beads --------------------------------------------------------- */

static fcs_transform *copy_transform(const fcs_transform *t)
{
    fcs_transform *c = NULL;
    if (fcs_transform_parse(fcs_transform_string(t), &c, NULL) != FCS_OK) return NULL;
    return c;
}

int fcs_stats_add_channel(fcs_stats *s, size_t param, const char *name, const char *marker,
                          const char *unit, const fcs_transform *transform)
{
    if (!s) return FCS_EINVAL;
    if (s->started) return set_err(s, FCS_EINVAL, "channel %s: added after the first push", name ? name : "?");
    if (param >= s->np)
        return set_err(s, FCS_ERANGE, "channel: parameter %zu out of range (%zu parameters)", param + 1, s->np);
    if (transform && fcs_transform_arity(transform) != 1)
        return set_err(s, FCS_EINVAL, "channel %s: a two-channel transform cannot be applied", name ? name : "?");
    if (s->n_chans == s->cap_chans) {
        size_t cap = s->cap_chans ? 2 * s->cap_chans : 8;
        struct chan *nc = realloc(s->chans, cap * sizeof *nc);
        if (!nc) return set_err(s, FCS_ENOMEM, "out of memory");
        s->chans = nc;
        s->cap_chans = cap;
    }
    struct chan *c = &s->chans[s->n_chans];
    memset(c, 0, sizeof *c);
    c->param = param;
    c->name = fcs_strdup(name ? name : "");
    c->marker = fcs_strdup(marker ? marker : "");
    c->unit = fcs_strdup(unit ? unit : "");
    if (transform) c->t = copy_transform(transform);
    if (!c->name || !c->marker || !c->unit || (transform && !c->t)) {
        free(c->name);
        free(c->marker);
        free(c->unit);
        fcs_transform_free(c->t);
        return set_err(s, FCS_ENOMEM, "out of memory");
    }
    return (int)s->n_chans++;
}

int fcs_stats_set_beads(fcs_stats *s, size_t bead_pop, double beads_per_test, double volume_ul)
{
    if (!s) return FCS_EINVAL;
    if (bead_pop >= s->n_pops) return set_err(s, FCS_ERANGE, "beads: no population %zu", bead_pop);
    if (!(isfinite(beads_per_test) && beads_per_test > 0))
        return set_err(s, FCS_EINVAL, "beads per test: %g is not a number > 0", beads_per_test);
    if (!(isfinite(volume_ul) && volume_ul > 0))
        return set_err(s, FCS_EINVAL, "volume: %g uL is not a number > 0", volume_ul);
    s->bead_pop = (int)bead_pop;
    s->beads_per_test = beads_per_test;
    s->volume_ul = volume_ul;
    return FCS_OK;
}

/* ---- pushing events -------------------------------------------------------------- */

static int start(fcs_stats *s)
{
    s->started = 1;
    size_t nacc = s->n_pops * s->n_chans;
    if (nacc && !(s->acc = calloc(nacc, sizeof *s->acc))) return FCS_ENOMEM;
    s->col = malloc(CHUNK * sizeof *s->col);
    s->logcol = malloc(CHUNK * sizeof *s->logcol);
    s->tmp = malloc(CHUNK * sizeof *s->tmp);
    s->posflag = malloc(CHUNK);
    if (!s->col || !s->logcol || !s->tmp || !s->posflag) return FCS_ENOMEM;
    for (size_t p = 0; p < s->n_pops; p++)
        if (!(s->pops[p].idx = malloc(CHUNK * sizeof *s->pops[p].idx))) return FCS_ENOMEM;
    return FCS_OK;
}

/* Room in the value stores and bit sets for `need` events in total. */
static int reserve(fcs_stats *s, size_t need)
{
    if (need <= s->store_cap) return FCS_OK;
    uint64_t cap = s->store_cap ? s->store_cap : 65536, bytes, words;
    if (s->expected > 0 && (uint64_t)s->expected >= need && cap < (uint64_t)s->expected)
        cap = (uint64_t)s->expected;
    while (cap < need)
        if (fcs_mul_ok(cap, 2, &cap)) return FCS_ERANGE;
    size_t esz = s->f32 ? sizeof(float) : sizeof(double);
    if (fcs_mul_ok(cap, esz, &bytes) || bytes > SIZE_MAX) return FCS_ERANGE;
    for (size_t c = 0; c < s->n_chans; c++) {
        void *n = realloc(s->chans[c].store, (size_t)bytes);
        if (!n) return FCS_ENOMEM;
        s->chans[c].store = n;
    }
    words = (cap + 63) / 64;
    size_t old_words = (s->store_cap + 63) / 64;
    for (size_t p = 1; p < s->n_pops; p++) {
        uint64_t *b = realloc(s->pops[p].bits, (size_t)words * sizeof *b);
        if (!b) return FCS_ENOMEM;
        memset(b + old_words, 0, ((size_t)words - old_words) * sizeof *b);
        s->pops[p].bits = b;
    }
    s->store_cap = (size_t)cap;
    return FCS_OK;
}

static inline double ev_value(const void *ev, int f32, size_t k)
{
    return f32 ? (double)((const float *)ev)[k] : ((const double *)ev)[k];
}

/* Member lists of every population for n events: a population's members
 * are those of its parent whose own test holds. */
static void membership(fcs_stats *s, const void *ev, int f32, size_t n)
{
    struct pop *root = &s->pops[0];
    for (size_t i = 0; i < n; i++) root->idx[i] = (uint32_t)i;
    root->n_idx = n;
    root->count += (int64_t)n;
    for (size_t p = 1; p < s->n_pops; p++) {
        struct pop *q = &s->pops[p];
        const struct pop *par = &s->pops[q->parent];
        size_t m = 0;
        int boolean = isnan(q->label);
        for (size_t k = 0; k < par->n_idx; k++) {
            uint32_t i = par->idx[k];
            double v = ev_value(ev, f32, (size_t)i * s->np + q->param);
            q->idx[m] = i;
            m += boolean ? v >= 0.5 : v == q->label;
        }
        q->n_idx = m;
        q->count += (int64_t)m;
    }
}

/* Channel c of n events as double, transformed (and rounded to float when
 * the values are kept as float, so every statistic sees the same values). */
static void extract_column(fcs_stats *s, const struct chan *c, const void *ev, int f32, size_t n)
{
    for (size_t i = 0; i < n; i++) s->col[i] = ev_value(ev, f32, i * s->np + c->param);
    if (c->t) fcs_transform_apply(c->t, s->col, n);
    if (s->f32 && (c->t || !f32))
        for (size_t i = 0; i < n; i++) s->col[i] = (double)(float)s->col[i];
    if (s->need_geo) {
        for (size_t i = 0; i < n; i++) {
            double x = s->col[i];
            int pos = x > 0 && x < INFINITY;
            s->posflag[i] = (unsigned char)pos;
            s->logcol[i] = pos ? log(x) : 0;
        }
    }
}

/* Chunk moments of the gathered finite values, merged into a. Four
 * partial sums per pass: a single running sum is bound by the latency of
 * one addition per value; four independent ones pipeline (and are, if
 * anything, more accurate). */
static void accumulate(struct acc *a, const double *x, size_t m)
{
    if (m == 0) return;
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t k = 0;
    for (; k + 4 <= m; k += 4) s0 += x[k], s1 += x[k + 1], s2 += x[k + 2], s3 += x[k + 3];
    for (; k < m; k++) s0 += x[k];
    double mean = ((s0 + s1) + (s2 + s3)) / (double)m;
    double q0 = 0, q1 = 0, q2 = 0, q3 = 0;
    for (k = 0; k + 4 <= m; k += 4) {
        double d0 = x[k] - mean, d1 = x[k + 1] - mean, d2 = x[k + 2] - mean, d3 = x[k + 3] - mean;
        q0 += d0 * d0, q1 += d1 * d1, q2 += d2 * d2, q3 += d3 * d3;
    }
    for (; k < m; k++) q0 += (x[k] - mean) * (x[k] - mean);
    double m2 = (q0 + q1) + (q2 + q3);
    double nb = (double)m, n = a->n + nb, delta = mean - a->mean;
    a->mean += delta * nb / n;
    a->m2 += m2 + delta * delta * a->n * nb / n;
    a->n = n;
}

/* The finite values of the listed events into tmp (their number), and
 * their log-sum and positive / non-positive counts for the geometric mean
 * (logcol holds ln x for x > 0 and 0 otherwise; posflag 1 for x > 0). */
static size_t gather_moments(fcs_stats *s, const uint32_t *idx, size_t n, struct acc *a)
{
    const double *col = s->col, *logcol = s->logcol;
    double *tmp = s->tmp, ls0 = 0, ls1 = 0;
    size_t m = 0;
    int64_t pos = 0, fin = 0;
    if (!s->need_geo) {
        for (size_t k = 0; k < n; k++) {
            double x = col[idx[k]];
            tmp[m] = x;
            m += isfinite(x) != 0;
        }
        return m;
    }
    const unsigned char *pf = s->posflag;
    size_t k = 0;
    for (; k + 2 <= n; k += 2) {
        uint32_t i0 = idx[k], i1 = idx[k + 1];
        double x0 = col[i0], x1 = col[i1];
        tmp[m] = x0;
        m += isfinite(x0) != 0;
        tmp[m] = x1;
        m += isfinite(x1) != 0;
        ls0 += logcol[i0], ls1 += logcol[i1];
        pos += pf[i0] + pf[i1];
    }
    for (; k < n; k++) {
        double x = col[idx[k]];
        tmp[m] = x;
        m += isfinite(x) != 0;
        ls0 += logcol[idx[k]];
        pos += pf[idx[k]];
    }
    fin = (int64_t)m;
    a->logsum += ls0 + ls1;
    a->n_pos += pos;
    a->n_nonpos += fin - pos;
    return m;
}

static void channel_moments(fcs_stats *s, size_t c)
{
    for (size_t p = 0; p < s->n_pops; p++) {
        const struct pop *q = &s->pops[p];
        struct acc *a = &s->acc[p * s->n_chans + c];
        size_t m = gather_moments(s, q->idx, q->n_idx, a);
        accumulate(a, s->tmp, m);
    }
}

static void keep_values(fcs_stats *s, size_t c, size_t n)
{
    size_t base = (size_t)s->total;
    if (s->f32) {
        float *dst = (float *)s->chans[c].store + base;
        for (size_t i = 0; i < n; i++) dst[i] = (float)s->col[i];
    } else {
        memcpy((double *)s->chans[c].store + base, s->col, n * sizeof(double));
    }
}

static void keep_membership(fcs_stats *s)
{
    size_t base = (size_t)s->total;
    for (size_t p = 1; p < s->n_pops; p++) {
        struct pop *q = &s->pops[p];
        for (size_t k = 0; k < q->n_idx; k++) {
            size_t e = base + q->idx[k];
            q->bits[e / 64] |= UINT64_C(1) << (e % 64);
        }
    }
}

static int push_chunk(fcs_stats *s, const void *ev, int f32, size_t n)
{
    if (s->need_order && s->n_chans) {
        uint64_t need;
        int rc = fcs_add_ok((uint64_t)s->total, n, &need) || need > SIZE_MAX ? FCS_ERANGE
                                                                               : reserve(s, (size_t)need);
        if (rc == FCS_ENOMEM)
            return set_err(s, rc, "statistics: out of memory keeping the values of %lld events "
                           "in %zu channel(s) for the order statistics",
                           (long long)need, s->n_chans);
        if (rc != FCS_OK) return set_err(s, rc, "statistics: too many events to keep");
    }
    membership(s, ev, f32, n);
    for (size_t c = 0; c < s->n_chans; c++) {
        extract_column(s, &s->chans[c], ev, f32, n);
        channel_moments(s, c);
        if (s->need_order) keep_values(s, c, n);
    }
    if (s->need_order && s->n_chans) keep_membership(s);
    s->total += (int64_t)n;
    return FCS_OK;
}

static int push_any(fcs_stats *s, const void *events, int f32, size_t n)
{
    if (!s) return FCS_EINVAL;
    if (s->finished) return set_err(s, FCS_EINVAL, "statistics: push after fcs_stats_finish");
    if (n == 0) return FCS_OK;
    if (!events) return set_err(s, FCS_EINVAL, "statistics: NULL events");
    if (!s->started && start(s) != FCS_OK) return set_err(s, FCS_ENOMEM, "statistics: out of memory");
    if (s->np == 0) {
        s->pops[0].count += (int64_t)n;
        s->total += (int64_t)n;
        return FCS_OK;
    }
    size_t esz = f32 ? sizeof(float) : sizeof(double);
    for (size_t done = 0; done < n;) {
        size_t k = n - done < CHUNK ? n - done : CHUNK;
        int rc = push_chunk(s, (const char *)events + done * s->np * esz, f32, k);
        if (rc != FCS_OK) return rc;
        done += k;
    }
    return FCS_OK;
}

int fcs_stats_push(fcs_stats *s, const double *events, size_t n) { return push_any(s, events, 0, n); }

int fcs_stats_push_f32(fcs_stats *s, const float *events, size_t n)
{
    return push_any(s, events, 1, n);
}

/* ---- finishing -------------------------------------------------------------------- */

static size_t stat_index(const fcs_stats *s, const fcs_stat_spec *sp)
{
    for (size_t i = 0; i < s->n_stats; i++) {
        if (s->stats[i].kind != sp->kind) continue;
        if (sp->kind != FCS_STAT_PERCENTILE || s->stats[i].percentile == sp->percentile) return i;
    }
    return (size_t)-1;
}

/* The keys of population p's finite values in channel c, into buf; their number. */
static size_t gather(const fcs_stats *s, size_t p, size_t c, uint64_t *buf)
{
    const void *store = s->chans[c].store;
    size_t m = 0, n = (size_t)s->total;
    const uint64_t *bits = s->pops[p].bits;
    for (size_t w = 0; w * 64 < n; w++) {
        uint64_t word = p == 0 ? ~UINT64_C(0) : bits[w];
        if (p == 0 && n - w * 64 < 64) word = (UINT64_C(1) << (n - w * 64)) - 1;
        while (word) {
            size_t e = w * 64 + (size_t)__builtin_ctzll(word);
            word &= word - 1;
            if (s->f32) {
                uint32_t u;
                memcpy(&u, (const float *)store + e, sizeof u);
                buf[m] = float_bits_key(u);
                m += ((u >> 23) & 0xFF) != 0xFF; /* finite: exponent not all ones */
            } else {
                uint64_t u;
                memcpy(&u, (const double *)store + e, sizeof u);
                buf[m] = double_bits_key(u);
                m += ((u >> 52) & 0x7FF) != 0x7FF;
            }
        }
    }
    return m;
}

/* The percentiles needed (requested ones, 50 for median/rcv, 15.87 and
 * 84.13 for rsd/rcv), in pct[]; their number. */
static size_t needed_percentiles(const fcs_stats *s, double *pct)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n_stats; i++) {
        fcs_stat k = s->stats[i].kind;
        if (k == FCS_STAT_MEDIAN || k == FCS_STAT_PERCENTILE) pct[n++] = s->stats[i].percentile;
        if (k == FCS_STAT_RCV) pct[n++] = 50;
        if (k == FCS_STAT_RSD || k == FCS_STAT_RCV) {
            pct[n++] = 15.87;
            pct[n++] = 84.13;
        }
    }
    return n;
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

/* Values of the percentiles pct[0..np) of the m gathered keys in buf;
 * ranks and keys have room for 2*np entries. -1 when out of memory. */
static int order_values(const fcs_stats *s, uint64_t *buf, size_t m, const double *pct, size_t np,
                        size_t *ranks, uint64_t *keys, double *out)
{
    size_t nr = 0;
    if (m == 0) {
        for (size_t i = 0; i < np; i++) out[i] = NAN;
        return 0;
    }
    for (size_t i = 0; i < np; i++) {
        size_t lo;
        double t;
        type7_position(m, pct[i], &lo, &t);
        ranks[nr++] = lo;
        if (t > 0) ranks[nr++] = lo + 1;
    }
    qsort(ranks, nr, sizeof *ranks, cmp_size);
    size_t u = 0;
    for (size_t i = 0; i < nr; i++)
        if (u == 0 || ranks[i] != ranks[u - 1]) ranks[u++] = ranks[i];
    if (radix_select(buf, m, ranks, u, 64 - RADIX_BITS, keys) != 0) return -1;
    for (size_t i = 0; i < np; i++) {
        size_t lo, j = 0;
        double t;
        type7_position(m, pct[i], &lo, &t);
        while (ranks[j] != lo) j++;
        double a = value_of_key(keys[j], s->f32), b = t > 0 ? value_of_key(keys[j + 1], s->f32) : a;
        out[i] = t > 0 ? lerp(a, b, t) : a;
    }
    return 0;
}

static double ratio100(double num, double den) { return den != 0 ? 100.0 * num / den : NAN; }

/* The results of population p, channel c, from its moments and the
 * percentile values pv (in the order of needed_percentiles). */
static void fill_results(fcs_stats *s, size_t p, size_t c, const double *pv)
{
    const struct acc *a = &s->acc[p * s->n_chans + c];
    double *r = &s->results[(p * s->n_chans + c) * s->n_stats];
    double mean = a->n > 0 ? a->mean : NAN;
    double sd = a->n > 1 ? sqrt(a->m2 / (a->n - 1)) : NAN;
    size_t j = 0;
    for (size_t i = 0; i < s->n_stats; i++) {
        double rsd, med;
        switch (s->stats[i].kind) {
        case FCS_STAT_MEAN: r[i] = mean; break;
        case FCS_STAT_SD: r[i] = sd; break;
        case FCS_STAT_CV: r[i] = mean != 0 ? 100.0 * sd / mean : NAN; break;
        case FCS_STAT_GEOMEAN:
            r[i] = a->n_pos > 0 ? exp(a->logsum / (double)a->n_pos) : NAN;
            if (s->geomean_mode == FCS_GEOMEAN_NAN && a->n_nonpos > 0) r[i] = NAN;
            break;
        case FCS_STAT_MEDIAN:
        case FCS_STAT_PERCENTILE: r[i] = pv ? pv[j] : NAN; j++; break;
        case FCS_STAT_RSD:
            r[i] = pv ? (pv[j + 1] - pv[j]) / 2 : NAN;
            j += 2;
            break;
        case FCS_STAT_RCV:
            med = pv ? pv[j] : NAN;
            rsd = pv ? (pv[j + 2] - pv[j + 1]) / 2 : NAN;
            r[i] = ratio100(rsd, med);
            j += 3;
            break;
        default: r[i] = NAN; break;
        }
    }
}

static int finish_order(fcs_stats *s, double *pct, size_t npct)
{
    size_t max = 1;
    for (size_t p = 0; p < s->n_pops; p++)
        if ((size_t)s->pops[p].count > max) max = (size_t)s->pops[p].count;
    uint64_t *buf = malloc(max * sizeof *buf), *keys = malloc((2 * npct + 1) * sizeof *keys);
    size_t *ranks = malloc((2 * npct + 1) * sizeof *ranks);
    double *pv = malloc((npct + 1) * sizeof *pv);
    int rc = buf && keys && ranks && pv ? FCS_OK : FCS_ENOMEM;
    for (size_t p = 0; rc == FCS_OK && p < s->n_pops; p++) {
        for (size_t c = 0; rc == FCS_OK && c < s->n_chans; c++) {
            size_t m = gather(s, p, c, buf);
            if (order_values(s, buf, m, pct, npct, ranks, keys, pv) != 0) rc = FCS_ENOMEM;
            else fill_results(s, p, c, pv);
        }
    }
    free(buf);
    free(keys);
    free(ranks);
    free(pv);
    return rc;
}

int fcs_stats_finish(fcs_stats *s)
{
    if (!s) return FCS_EINVAL;
    if (s->finished) return FCS_OK;
    if (!s->started && start(s) != FCS_OK) return set_err(s, FCS_ENOMEM, "statistics: out of memory");
    size_t nres = s->n_pops * s->n_chans * s->n_stats;
    if (nres && !(s->results = malloc(nres * sizeof *s->results)))
        return set_err(s, FCS_ENOMEM, "statistics: out of memory");
    int rc = FCS_OK;
    double *pct = malloc((3 * s->n_stats + 1) * sizeof *pct);
    if (!pct) rc = FCS_ENOMEM;
    size_t npct = pct ? needed_percentiles(s, pct) : 0;
    if (rc == FCS_OK && s->need_order && s->n_chans && s->total > 0) {
        rc = finish_order(s, pct, npct);
    } else if (rc == FCS_OK) {
        double *nanv = malloc((npct + 1) * sizeof *nanv);
        if (!nanv) rc = FCS_ENOMEM;
        for (size_t i = 0; nanv && i < npct; i++) nanv[i] = NAN;
        for (size_t p = 0; nanv && p < s->n_pops; p++)
            for (size_t c = 0; c < s->n_chans; c++) fill_results(s, p, c, nanv);
        free(nanv);
    }
    free(pct);
    if (rc != FCS_OK) return set_err(s, rc, "statistics: out of memory computing percentiles");
    free_stores(s);
    s->finished = 1;
    return FCS_OK;
}

/* ---- results -------------------------------------------------------------------- */

size_t fcs_stats_n_populations(const fcs_stats *s) { return s ? s->n_pops : 0; }

const char *fcs_stats_population_path(const fcs_stats *s, size_t i)
{
    return s && i < s->n_pops ? s->pops[i].path : NULL;
}

const char *fcs_stats_population_name(const fcs_stats *s, size_t i)
{
    return s && i < s->n_pops ? s->pops[i].name : NULL;
}

int fcs_stats_population_parent(const fcs_stats *s, size_t i)
{
    return s && i < s->n_pops ? s->pops[i].parent : -1;
}

int fcs_stats_population_depth(const fcs_stats *s, size_t i)
{
    return s && i < s->n_pops ? s->pops[i].depth : -1;
}

size_t fcs_stats_n_channels(const fcs_stats *s) { return s ? s->n_chans : 0; }

const char *fcs_stats_channel_name(const fcs_stats *s, size_t c)
{
    return s && c < s->n_chans ? s->chans[c].name : NULL;
}

const char *fcs_stats_channel_marker(const fcs_stats *s, size_t c)
{
    return s && c < s->n_chans ? s->chans[c].marker : NULL;
}

const char *fcs_stats_channel_unit(const fcs_stats *s, size_t c)
{
    return s && c < s->n_chans ? s->chans[c].unit : NULL;
}

const char *fcs_stats_channel_transform(const fcs_stats *s, size_t c)
{
    if (!s || c >= s->n_chans) return NULL;
    return s->chans[c].t ? fcs_transform_string(s->chans[c].t) : "";
}

size_t fcs_stats_n_stats(const fcs_stats *s) { return s ? s->n_stats : 0; }

const fcs_stat_spec *fcs_stats_stat(const fcs_stats *s, size_t i)
{
    return s && i < s->n_stats ? &s->stats[i] : NULL;
}

int64_t fcs_stats_total(const fcs_stats *s) { return s ? s->total : 0; }

int64_t fcs_stats_count(const fcs_stats *s, size_t pop)
{
    return s && pop < s->n_pops ? s->pops[pop].count : -1;
}

int fcs_stats_bead_population(const fcs_stats *s) { return s ? s->bead_pop : -1; }
double fcs_stats_beads_per_test(const fcs_stats *s) { return s ? s->beads_per_test : NAN; }
double fcs_stats_volume_ul(const fcs_stats *s) { return s ? s->volume_ul : NAN; }

static double population_value(const fcs_stats *s, size_t pop, fcs_stat kind)
{
    const struct pop *q = &s->pops[pop];
    double n = (double)q->count;
    int par = q->parent, gp = par >= 0 ? s->pops[par].parent : -1;
    switch (kind) {
    case FCS_STAT_COUNT: return n;
    case FCS_STAT_PCT_PARENT: return par >= 0 ? ratio100(n, (double)s->pops[par].count) : NAN;
    case FCS_STAT_PCT_GRANDPARENT: return gp >= 0 ? ratio100(n, (double)s->pops[gp].count) : NAN;
    case FCS_STAT_PCT_TOTAL: return ratio100(n, (double)s->pops[0].count);
    case FCS_STAT_CELLS_PER_UL:
        if (s->bead_pop < 0) return NAN;
        return fcs_absolute_count(q->count, s->pops[s->bead_pop].count, s->beads_per_test, s->volume_ul);
    default: return NAN;
    }
}

double fcs_stats_value(const fcs_stats *s, size_t pop, size_t chan, const fcs_stat_spec *spec)
{
    if (!s || !spec || pop >= s->n_pops) return NAN;
    if (!fcs_stat_is_channel(spec->kind)) return population_value(s, pop, spec->kind);
    if (!s->finished || chan >= s->n_chans) return NAN;
    size_t i = stat_index(s, spec);
    if (i == (size_t)-1) return NAN;
    return s->results[(pop * s->n_chans + chan) * s->n_stats + i];
}

/* ---- bead lots -------------------------------------------------------------------- */

static void trim(const char **b, const char **e)
{
    while (*b < *e && (**b == ' ' || **b == '\t' || **b == '\r')) (*b)++;
    while (*e > *b && ((*e)[-1] == ' ' || (*e)[-1] == '\t' || (*e)[-1] == '\r')) (*e)--;
}

static int lot_number(const char *v, double *out)
{
    return fcs_parse_double(v, out) == 0 && isfinite(*out) && *out > 0 ? 0 : -1;
}

/* One "key=value" line of a bead-lot file; seen[] flags repeated keys. */
static int lot_line(const char *b, const char *e, const char *name, size_t line, fcs_bead_lot *out,
                    int *seen, fcs_error *err)
{
    const char *eq = memchr(b, '=', (size_t)(e - b));
    if (!eq) return fcs_error_set(err, FCS_EFORMAT, "%s: line %zu: expected key=value", name, line);
    const char *kb = b, *ke = eq, *vb = eq + 1, *ve = e;
    trim(&kb, &ke);
    trim(&vb, &ve);
    char key[32], val[128];
    if ((size_t)(ke - kb) >= sizeof key || (size_t)(ve - vb) >= sizeof val)
        return fcs_error_set(err, FCS_EFORMAT, "%s: line %zu: key or value too long", name, line);
    memcpy(key, kb, (size_t)(ke - kb));
    key[ke - kb] = '\0';
    memcpy(val, vb, (size_t)(ve - vb));
    val[ve - vb] = '\0';
    static const char *const keys[] = {"lot", "beads_per_test", "volume_ul"};
    int k = -1;
    for (int i = 0; i < 3; i++)
        if (fcs_strcasecmp(key, keys[i]) == 0) k = i;
    if (k < 0)
        return fcs_error_set(err, FCS_EFORMAT,
                             "%s: line %zu: unknown key '%s' (lot, beads_per_test, volume_ul)", name,
                             line, key);
    if (seen[k]++) return fcs_error_set(err, FCS_EFORMAT, "%s: line %zu: %s given twice", name, line, keys[k]);
    if (k == 0) {
        snprintf(out->lot, sizeof out->lot, "%s", val);
        return FCS_OK;
    }
    double *dst = k == 1 ? &out->beads_per_test : &out->volume_ul;
    if (lot_number(val, dst) != 0)
        return fcs_error_set(err, FCS_EFORMAT, "%s: line %zu: %s '%s' is not a number > 0", name,
                             line, keys[k], val);
    return FCS_OK;
}

int fcs_bead_lot_parse(const char *text, size_t len, const char *name, fcs_bead_lot *out,
                       fcs_error *err)
{
    if (!out || (!text && len)) return fcs_error_set(err, FCS_EINVAL, "bead lot: NULL argument");
    if (!name) name = "bead lot";
    memset(out, 0, sizeof *out);
    out->beads_per_test = out->volume_ul = NAN;
    int seen[3] = {0, 0, 0};
    size_t line = 0;
    for (const char *p = text, *end = text + len; p && p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end, *b = p;
        line++;
        p = nl ? nl + 1 : end;
        trim(&b, &e);
        if (b == e || *b == '#') continue;
        int rc = lot_line(b, e, name, line, out, seen, err);
        if (rc != FCS_OK) return rc;
    }
    if (!seen[1] || !seen[2])
        return fcs_error_set(err, FCS_EFORMAT, "%s: needs beads_per_test and volume_ul", name);
    return FCS_OK;
}

int fcs_bead_lot_read(const char *path, fcs_bead_lot *out, fcs_error *err)
{
    if (!path) return fcs_error_set(err, FCS_EINVAL, "bead lot: NULL path");
    FILE *f = fopen(path, "rb");
    if (!f) return fcs_error_set(err, FCS_EIO, "%s: cannot open: %s", path, strerror(errno));
    enum { MAX = 64 * 1024 };
    char *buf = malloc(MAX + 1);
    if (!buf) {
        fclose(f);
        return fcs_error_set(err, FCS_ENOMEM, "%s: out of memory", path);
    }
    size_t n = fread(buf, 1, MAX + 1, f);
    int bad = ferror(f);
    fclose(f);
    int rc;
    if (bad)
        rc = fcs_error_set(err, FCS_EIO, "%s: read error", path);
    else if (n > MAX)
        rc = fcs_error_set(err, FCS_EFORMAT, "%s: larger than 64 KiB: not a bead-lot file", path);
    else
        rc = fcs_bead_lot_parse(buf, n, path, out, err);
    free(buf);
    return rc;
}

int fcs_bead_lot_from_keywords(const fcs_reader *r, fcs_bead_lot *out, fcs_error *err)
{
    if (!r || !out) return fcs_error_set(err, FCS_EINVAL, "bead lot: NULL argument");
    memset(out, 0, sizeof *out);
    out->beads_per_test = out->volume_ul = NAN;
    const char *lot = fcs_keyword(r, "LIBFCS_BEAD_LOT");
    const char *bpt = fcs_keyword(r, "LIBFCS_BEADS_PER_TEST");
    const char *vol = fcs_keyword(r, "LIBFCS_VOLUME_UL");
    if (!bpt && !vol) return FCS_ENOTFOUND;
    if (!bpt || lot_number(bpt, &out->beads_per_test) != 0)
        return fcs_error_set(err, FCS_EFORMAT, "LIBFCS_BEADS_PER_TEST: %s", bpt ? "not a number > 0" : "missing");
    if (!vol || lot_number(vol, &out->volume_ul) != 0)
        return fcs_error_set(err, FCS_EFORMAT, "LIBFCS_VOLUME_UL: %s", vol ? "not a number > 0" : "missing");
    if (lot) snprintf(out->lot, sizeof out->lot, "%s", lot);
    return FCS_OK;
}
