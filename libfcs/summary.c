/*
 * summary.c — cohort summaries as AnnData .h5ad files written with the
 * plain HDF5 C API (fcs/summary.h, docs/hdf5-layout.md), and SHA-256.
 *
 * In memory a summary is a list of samples (each with its cells: counts
 * and fractions per population it has), the union of populations (var),
 * and the rows of the tidy table. Every string lives once in an interning
 * pool, so a cohort's millions of rows cost pointers, not copies, and
 * strings compare by pointer.
 *
 * What breaks readers is avoided on purpose (design.md section 6): only
 * int64, float64 and variable-length UTF-8 strings; no compound types, no
 * categoricals, no uint8/bool; shuffle + gzip only; the oldest file format
 * (no libver "latest"); every dataframe has "column-order" (rhdf5 returns
 * columns alphabetically); nothing at the top level but AnnData's groups.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "fcs/summary.h"
#include "growbuf.h"
#include "internal.h"

/* ================================================================================ */
/* SHA-256 (FIPS 180-4)                                                              */
/* ================================================================================ */

struct fcs_sha256 {
    uint32_t h[8];
    uint64_t len; /* bytes hashed */
    uint8_t buf[64];
    size_t fill;
};

static const uint32_t sha_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static void sha_reset(fcs_sha256 *h)
{
    static const uint32_t init[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(h->h, init, sizeof init);
    h->len = 0;
    h->fill = 0;
}

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha_block(fcs_sha256 *h, const uint8_t *p)
{
    uint32_t w[64], a, b, c, d, e, f, g, hh;
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 |
               p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    a = h->h[0], b = h->h[1], c = h->h[2], d = h->h[3];
    e = h->h[4], f = h->h[5], g = h->h[6], hh = h->h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = hh + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + sha_k[i] + w[i];
        uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        hh = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    h->h[0] += a, h->h[1] += b, h->h[2] += c, h->h[3] += d;
    h->h[4] += e, h->h[5] += f, h->h[6] += g, h->h[7] += hh;
}

fcs_sha256 *fcs_sha256_new(void)
{
    fcs_sha256 *h = malloc(sizeof *h);
    if (h) sha_reset(h);
    return h;
}

void fcs_sha256_free(fcs_sha256 *h) { free(h); }

void fcs_sha256_update(fcs_sha256 *h, const void *data, size_t len)
{
    const uint8_t *p = data;
    if (!h || !len) return;
    h->len += len;
    if (h->fill) {
        size_t take = 64 - h->fill < len ? 64 - h->fill : len;
        memcpy(h->buf + h->fill, p, take);
        h->fill += take, p += take, len -= take;
        if (h->fill < 64) return;
        sha_block(h, h->buf);
        h->fill = 0;
    }
    for (; len >= 64; p += 64, len -= 64) sha_block(h, p);
    memcpy(h->buf, p, len);
    h->fill = len;
}

void fcs_sha256_final(fcs_sha256 *h, char hex[65])
{
    if (!h || !hex) return;
    uint64_t bits = h->len * 8;
    uint8_t pad[72] = {0x80};
    size_t npad = (h->fill < 56 ? 56 : 120) - h->fill;
    for (int i = 0; i < 8; i++) pad[npad + i] = (uint8_t)(bits >> (56 - 8 * i));
    fcs_sha256_update(h, pad, npad + 8);
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        uint8_t byte = (uint8_t)(h->h[i / 4] >> (24 - 8 * (i % 4)));
        hex[2 * i] = digits[byte >> 4];
        hex[2 * i + 1] = digits[byte & 15];
    }
    hex[64] = '\0';
    sha_reset(h);
}

int fcs_sha256_file(const char *path, char hex[65], fcs_error *err)
{
    if (!path || !hex) return fcs_error_set(err, FCS_EINVAL, "sha256: NULL argument");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fcs_error_set(err, FCS_EIO, "%s: cannot open: %s", path, strerror(errno));
    fcs_sha256 *h = fcs_sha256_new();
    enum { BUF = 1 << 16 };
    uint8_t *buf = malloc(BUF);
    int rc = h && buf ? FCS_OK : fcs_error_set(err, FCS_ENOMEM, "%s: out of memory", path);
    for (ssize_t n; rc == FCS_OK && (n = read(fd, buf, BUF)) != 0;) {
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) rc = fcs_error_set(err, FCS_EIO, "%s: read error: %s", path, strerror(errno));
        else fcs_sha256_update(h, buf, (size_t)n);
    }
    if (rc == FCS_OK) fcs_sha256_final(h, hex);
    close(fd);
    free(buf);
    fcs_sha256_free(h);
    return rc;
}

/* ================================================================================ */
/* The in-memory model                                                               */
/* ================================================================================ */

/* Interned strings: open addressing, FNV-1a. */
struct pool {
    char **slot;
    size_t cap, n;
};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

static int pool_grow(struct pool *p)
{
    size_t cap = p->cap ? 2 * p->cap : 1024;
    char **slot = calloc(cap, sizeof *slot);
    if (!slot) return -1;
    for (size_t i = 0; i < p->cap; i++) {
        if (!p->slot[i]) continue;
        size_t j = fnv1a(p->slot[i]) & (cap - 1);
        while (slot[j]) j = (j + 1) & (cap - 1);
        slot[j] = p->slot[i];
    }
    free(p->slot);
    p->slot = slot;
    p->cap = cap;
    return 0;
}

/* The pooled copy of s (NULL is ""); NULL when out of memory. */
static const char *intern(struct pool *p, const char *s)
{
    if (!s) s = "";
    if (2 * (p->n + 1) > p->cap && pool_grow(p) != 0) return NULL;
    size_t j = fnv1a(s) & (p->cap - 1);
    while (p->slot[j]) {
        if (strcmp(p->slot[j], s) == 0) return p->slot[j];
        j = (j + 1) & (p->cap - 1);
    }
    if (!(p->slot[j] = fcs_strdup(s))) return NULL;
    p->n++;
    return p->slot[j];
}

static void pool_free(struct pool *p)
{
    for (size_t i = 0; i < p->cap; i++) free(p->slot[i]);
    free(p->slot);
}

/* String fields of a sample, in the order of fcs_summary_sample. */
enum { SF_ID, SF_FILE, SF_SOURCE, SF_SHA, SF_DATE, SF_BTIM, SF_CYT, SF_STRATEGY, SF_BEADPOP,
       SF_BEADLOT, SF_TOOL, N_SF };

struct cell {
    size_t pop;
    int64_t count, parent_count;
    double fparent, ftotal, cul;
};

struct sample {
    const char *f[N_SF];
    int64_t dataset, total, bead_events;
    double bpt, vol, relerr;
    size_t n_kw;
    const char **kw_names, **kw_vals;
    struct cell *cells;
    size_t n_cells;
};

struct spop {
    const char *path, *name, *parent;
    int64_t depth;
};

struct row {
    size_t sample;
    const char *pop, *parent, *stat, *chan, *marker, *unit;
    double value;
};

struct fcs_summary {
    struct pool pool;
    struct sample *samples;
    size_t n_samples, cap_samples;
    struct spop *pops;
    size_t n_pops, cap_pops;
    struct row *rows;
    size_t n_rows, cap_rows;
    const char **strategies;      /* distinct identifiers (obs/gating_strategy) */
    const char **strategy_texts;  /* their texts, "" when unknown (parallel) */
    size_t n_strategies, cap_strategies, cap_texts;
    const char *tool;
    char errmsg[FCS_ERRMSG_MAX];
};

static int set_err(fcs_summary *s, int code, const char *fmt, ...) FCS_PRINTF(3, 4);
static int set_err(fcs_summary *s, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
    va_end(ap);
    return code;
}

void fcs_summary_sample_init(fcs_summary_sample *s)
{
    if (!s) return;
    memset(s, 0, sizeof *s);
    s->total_events = -1;
    s->bead_events = -1;
    s->beads_per_test = s->volume_ul = NAN;
}

static int find_pop(const fcs_summary *s, const char *path)
{
    for (size_t i = 0; i < s->n_pops; i++)
        if (strcmp(s->pops[i].path, path) == 0) return (int)i;
    return -1;
}

/* Index of the population with this path, added when new. -1: no memory. */
static int64_t add_pop(fcs_summary *s, const char *path, const char *name, const char *parent,
                       int64_t depth)
{
    int i = find_pop(s, path);
    if (i >= 0) return i;
    if (fcs_grow((void **)&s->pops, &s->cap_pops, s->n_pops + 1, sizeof *s->pops)) return -1;
    struct spop *p = &s->pops[s->n_pops];
    p->path = intern(&s->pool, path);
    p->name = intern(&s->pool, name);
    p->parent = intern(&s->pool, parent);
    p->depth = depth;
    if (!p->path || !p->name || !p->parent) return -1;
    return (int64_t)s->n_pops++;
}

/* What identifies a strategy: its "sha256=HEX" and "format=NAME" fields
 * when the identifier has them (fcs-gate's LIBFCS_GATING), so that the
 * same strategy read from another path is the same; else the whole string.
 * Writes up to n bytes (NUL-terminated) to key. */
static void strategy_key(const char *id, char *key, size_t n)
{
    const char *sha = id ? strstr(id, "sha256=") : NULL;
    if (!sha) {
        snprintf(key, n, "%s", id ? id : "");
        return;
    }
    const char *fmt = strstr(id, "format=");
    size_t fl = fmt ? strcspn(fmt + 7, ";|") : 0;
    snprintf(key, n, "%.*s;%.*s", (int)strcspn(sha, ";|"), sha, (int)fl, fmt ? fmt + 7 : "");
}

static int same_strategy(const char *a, const char *b)
{
    char ka[256], kb[256];
    if (strcmp(a ? a : "", b ? b : "") == 0) return 1;
    if (!a || !b || !strstr(a, "sha256=") || !strstr(b, "sha256=")) return 0;
    strategy_key(a, ka, sizeof ka);
    strategy_key(b, kb, sizeof kb);
    return strcmp(ka, kb) == 0;
}

/* Record strategy id (once) and its text (the first non-empty one given). */
static int add_strategy(fcs_summary *s, const char *id, const char *text)
{
    if (!id || !*id) return 0;
    for (size_t i = 0; i < s->n_strategies; i++)
        if (strcmp(s->strategies[i], id) == 0) {
            if (text && *text && !*s->strategy_texts[i] &&
                !(s->strategy_texts[i] = intern(&s->pool, text)))
                return -1;
            return 0;
        }
    if (fcs_grow((void **)&s->strategies, &s->cap_strategies, s->n_strategies + 1,
                 sizeof *s->strategies) ||
        fcs_grow((void **)&s->strategy_texts, &s->cap_texts, s->n_strategies + 1,
                 sizeof *s->strategy_texts))
        return -1;
    if (!(s->strategies[s->n_strategies] = intern(&s->pool, id))) return -1;
    if (!(s->strategy_texts[s->n_strategies] = intern(&s->pool, text))) return -1;
    s->n_strategies++;
    return 0;
}

static const char *strategy_text_of(const fcs_summary *s, const char *id)
{
    for (size_t i = 0; id && *id && i < s->n_strategies; i++)
        if (strcmp(s->strategies[i], id) == 0) return s->strategy_texts[i];
    return "";
}

int fcs_summary_new(fcs_summary **out, fcs_error *err)
{
    if (!out) return fcs_error_set(err, FCS_EINVAL, "summary: NULL output");
    *out = NULL;
    fcs_summary *s = calloc(1, sizeof *s);
    char tool[64];
    snprintf(tool, sizeof tool, "libfcs %s", fcs_lib_version());
    if (!s || add_pop(s, "/", "", "", 0) < 0 || !(s->tool = intern(&s->pool, tool))) {
        fcs_summary_free(s);
        return fcs_error_set(err, FCS_ENOMEM, "summary: out of memory");
    }
    *out = s;
    return FCS_OK;
}

static void sample_free(struct sample *m)
{
    free(m->kw_names);
    free(m->kw_vals);
    free(m->cells);
}

void fcs_summary_free(fcs_summary *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->n_samples; i++) sample_free(&s->samples[i]);
    free(s->samples);
    free(s->pops);
    free(s->rows);
    free(s->strategies);
    free(s->strategy_texts);
    pool_free(&s->pool);
    free(s);
}

const char *fcs_summary_errmsg(const fcs_summary *s) { return s ? s->errmsg : ""; }

int fcs_summary_set_tool(fcs_summary *s, const char *tool_version)
{
    if (!s || !tool_version) return FCS_EINVAL;
    const char *t = intern(&s->pool, tool_version);
    if (!t) return set_err(s, FCS_ENOMEM, "summary: out of memory");
    s->tool = t;
    return FCS_OK;
}

/* ---- sample identity and replacement --------------------------------------------- */

int64_t fcs_summary_find_sample(const fcs_summary *s, const char *id)
{
    if (!s || !id) return -1;
    for (size_t i = 0; i < s->n_samples; i++)
        if (strcmp(s->samples[i].f[SF_ID], id) == 0) return (int64_t)i;
    return -1;
}

static int same_content(const struct sample *m, const char *sha, int64_t dataset, const char *strat)
{
    return strcmp(m->f[SF_SHA], sha) == 0 && m->dataset == dataset &&
           same_strategy(m->f[SF_STRATEGY], strat);
}

/* Where the new sample goes: a fresh slot, or (with REPLACE) the slot of
 * the sample it replaces, whose rows are dropped. */
static int sample_slot(fcs_summary *s, const char *id, const char *sha, int64_t dataset,
                       const char *strat, unsigned flags, size_t *slot_out)
{
    int64_t by_id = fcs_summary_find_sample(s, id), by_content = -1;
    for (size_t i = 0; i < s->n_samples && by_content < 0; i++)
        if (same_content(&s->samples[i], sha, dataset, strat)) by_content = (int64_t)i;
    if (!(flags & FCS_SUMMARY_REPLACE)) {
        if (by_content >= 0 && by_content == by_id)
            return set_err(s, FCS_EINVAL,
                           "sample '%s' is already in the summary (same SHA-256 %.12s..., data set "
                           "%lld and gating strategy)", id, sha, (long long)dataset);
        if (by_content >= 0)
            return set_err(s, FCS_EINVAL,
                           "sample '%s' is already in the summary as '%s' (same SHA-256 %.12s..., "
                           "data set %lld and gating strategy)",
                           id, s->samples[by_content].f[SF_ID], sha, (long long)dataset);
        if (by_id >= 0)
            return set_err(s, FCS_EINVAL, "sample id '%s' is already used by %s (another input)", id,
                           s->samples[by_id].f[SF_FILE]);
    }
    if (by_id >= 0 && by_content >= 0 && by_id != by_content)
        return set_err(s, FCS_EINVAL,
                       "sample '%s': replacing it would leave two samples with the id or content "
                       "of '%s'", id, s->samples[by_content].f[SF_ID]);
    int64_t slot = by_id >= 0 ? by_id : by_content;
    if (slot < 0) {
        if (fcs_grow((void **)&s->samples, &s->cap_samples, s->n_samples + 1, sizeof *s->samples))
            return set_err(s, FCS_ENOMEM, "summary: out of memory");
        memset(&s->samples[s->n_samples], 0, sizeof *s->samples);
        *slot_out = s->n_samples++;
        return FCS_OK;
    }
    sample_free(&s->samples[slot]);
    memset(&s->samples[slot], 0, sizeof *s->samples);
    size_t k = 0;
    for (size_t i = 0; i < s->n_rows; i++)
        if (s->rows[i].sample != (size_t)slot) s->rows[k++] = s->rows[i];
    s->n_rows = k;
    *slot_out = (size_t)slot;
    return FCS_OK;
}

/* Keyword names become obs column names: no '/', and not one of ours. */
static const char *const obs_fixed[] = {
    "_index", "file", "source", "sha256", "dataset", "date", "btim", "cyt", "total_events",
    "gating_strategy", "bead_population", "bead_lot", "beads_per_test", "volume_ul",
    "bead_events", "cells_per_ul_rel_error", "tool"};
#define N_OBS_FIXED (sizeof obs_fixed / sizeof obs_fixed[0])

static int is_fixed_column(const char *name)
{
    for (size_t i = 0; i < N_OBS_FIXED; i++)
        if (strcmp(obs_fixed[i], name) == 0) return 1;
    return 0;
}

static const char *column_name(struct pool *p, const char *kw)
{
    size_t n = strlen(kw);
    char *c = malloc(n + 9);
    if (!c) return NULL;
    int prefix = is_fixed_column(kw) || n == 0 || strcmp(kw, ".") == 0;
    snprintf(c, n + 9, "%s%s", prefix ? "keyword_" : "", kw);
    for (char *q = c; *q; q++)
        if (*q == '/') *q = '_';
    const char *r = intern(p, c);
    free(c);
    return r;
}

static int set_keywords(fcs_summary *s, struct sample *m, const fcs_summary_sample *d)
{
    if (d->n_keywords == 0) return 0;
    if (!d->keyword_names || !d->keyword_values) return -1;
    m->kw_names = calloc(d->n_keywords, sizeof *m->kw_names);
    m->kw_vals = calloc(d->n_keywords, sizeof *m->kw_vals);
    if (!m->kw_names || !m->kw_vals) return -1;
    for (size_t i = 0; i < d->n_keywords; i++) {
        const char *name = column_name(&s->pool, d->keyword_names[i] ? d->keyword_names[i] : "");
        if (!name) return -1;
        int dup = 0;
        for (size_t j = 0; j < m->n_kw; j++) dup |= m->kw_names[j] == name;
        if (dup) continue;
        m->kw_names[m->n_kw] = name;
        if (!(m->kw_vals[m->n_kw++] = intern(&s->pool, d->keyword_values[i]))) return -1;
    }
    return 0;
}

/* Copy the descriptor's fields into slot m. */
static int set_sample(fcs_summary *s, struct sample *m, const fcs_summary_sample *d)
{
    const char *f[N_SF] = {d->id,       d->file,     d->source,   d->sha256,
                           d->date,     d->btim,     d->cyt,      d->strategy,
                           d->bead_population, d->bead_lot, d->tool};
    for (int i = 0; i < N_SF; i++)
        if (!(m->f[i] = intern(&s->pool, f[i]))) return -1;
    m->dataset = d->dataset;
    m->total = d->total_events;
    m->bead_events = d->bead_events;
    m->bpt = d->beads_per_test;
    m->vol = d->volume_ul;
    m->relerr = fcs_absolute_rel_error(d->bead_events);
    if (add_strategy(s, d->strategy, d->strategy_text)) return -1;
    return set_keywords(s, m, d);
}

static int add_row(fcs_summary *s, size_t sample, const char *pop, const char *parent,
                   const char *stat, const char *chan, const char *marker, const char *unit,
                   double value)
{
    if (fcs_grow((void **)&s->rows, &s->cap_rows, s->n_rows + 1, sizeof *s->rows)) return -1;
    struct row *r = &s->rows[s->n_rows];
    r->sample = sample;
    r->pop = intern(&s->pool, pop);
    r->parent = intern(&s->pool, parent);
    r->stat = intern(&s->pool, stat);
    r->chan = intern(&s->pool, chan);
    r->marker = intern(&s->pool, marker);
    r->unit = intern(&s->pool, unit);
    r->value = value;
    if (!r->pop || !r->parent || !r->stat || !r->chan || !r->marker || !r->unit) return -1;
    s->n_rows++;
    return 0;
}

/* ---- adding a sample from a stats object ----------------------------------------- */

static double frac(double num, double den) { return den > 0 ? num / den : NAN; }

static int stats_cells(fcs_summary *s, struct sample *m, const fcs_stats *st)
{
    size_t np = fcs_stats_n_populations(st);
    if (!(m->cells = calloc(np, sizeof *m->cells))) return -1;
    const fcs_stat_spec cul = {FCS_STAT_CELLS_PER_UL, 0};
    for (size_t p = 0; p < np; p++) {
        int par = fcs_stats_population_parent(st, p);
        const char *parent = par >= 0 ? fcs_stats_population_path(st, (size_t)par) : "";
        int64_t idx = add_pop(s, fcs_stats_population_path(st, p), fcs_stats_population_name(st, p),
                              parent, fcs_stats_population_depth(st, p));
        if (idx < 0) return -1;
        struct cell *c = &m->cells[m->n_cells++];
        c->pop = (size_t)idx;
        c->count = fcs_stats_count(st, p);
        c->parent_count = par >= 0 ? fcs_stats_count(st, (size_t)par) : -1;
        c->fparent = par >= 0 ? frac((double)c->count, (double)c->parent_count) : NAN;
        c->ftotal = frac((double)c->count, (double)fcs_stats_total(st));
        c->cul = fcs_stats_value(st, p, 0, &cul);
    }
    return 0;
}

/* The population rows of population p. */
static int population_rows(fcs_summary *s, size_t si, const fcs_stats *st, size_t p)
{
    int par = fcs_stats_population_parent(st, p);
    int gp = par >= 0 ? fcs_stats_population_parent(st, (size_t)par) : -1;
    const char *path = fcs_stats_population_path(st, p);
    const char *parent = par >= 0 ? fcs_stats_population_path(st, (size_t)par) : "";
    static const struct {
        fcs_stat kind;
        const char *name, *unit;
        int need; /* 1: parent, 2: grandparent, 3: beads */
    } ps[] = {{FCS_STAT_COUNT, "count", "events", 0},
              {FCS_STAT_PCT_PARENT, "pct_parent", "%", 1},
              {FCS_STAT_PCT_GRANDPARENT, "pct_grandparent", "%", 2},
              {FCS_STAT_PCT_TOTAL, "pct_total", "%", 0},
              {FCS_STAT_CELLS_PER_UL, "cells_per_ul", "cells/uL", 3}};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
        if ((ps[i].need == 1 && par < 0) || (ps[i].need == 2 && gp < 0)) continue;
        if (ps[i].need == 3 && fcs_stats_bead_population(st) < 0) continue;
        fcs_stat_spec sp = {ps[i].kind, 0};
        if (add_row(s, si, path, parent, ps[i].name, "", "", ps[i].unit,
                    fcs_stats_value(st, p, 0, &sp)))
            return -1;
    }
    if ((int)p == fcs_stats_bead_population(st) &&
        add_row(s, si, path, parent, "bead_rel_error", "", "", "fraction",
                fcs_absolute_rel_error(fcs_stats_count(st, p))))
        return -1;
    return 0;
}

static int channel_rows(fcs_summary *s, size_t si, const fcs_stats *st, size_t p)
{
    int par = fcs_stats_population_parent(st, p);
    const char *path = fcs_stats_population_path(st, p);
    const char *parent = par >= 0 ? fcs_stats_population_path(st, (size_t)par) : "";
    for (size_t c = 0; c < fcs_stats_n_channels(st); c++) {
        for (size_t k = 0; k < fcs_stats_n_stats(st); k++) {
            const fcs_stat_spec *sp = fcs_stats_stat(st, k);
            char name[48];
            fcs_stat_name(sp, name, sizeof name);
            const char *unit = sp->kind == FCS_STAT_CV || sp->kind == FCS_STAT_RCV
                                   ? "%"
                                   : fcs_stats_channel_unit(st, c);
            if (add_row(s, si, path, parent, name, fcs_stats_channel_name(st, c),
                        fcs_stats_channel_marker(st, c), unit, fcs_stats_value(st, p, c, sp)))
                return -1;
        }
    }
    return 0;
}

static int check_descriptor(fcs_summary *s, const fcs_summary_sample *d)
{
    if (!d->id || !*d->id) return set_err(s, FCS_EINVAL, "sample: no id");
    if (!d->sha256 || strlen(d->sha256) != 64 || strspn(d->sha256, "0123456789abcdef") != 64)
        return set_err(s, FCS_EINVAL, "sample %s: SHA-256 must be 64 lower-case hex digits", d->id);
    for (const char *c = d->id; *c; c++)
        if ((unsigned char)*c < 0x20)
            return set_err(s, FCS_EINVAL, "sample id '%s': control characters are not allowed", d->id);
    return FCS_OK;
}

int fcs_summary_add(fcs_summary *s, const fcs_summary_sample *sample, const fcs_stats *st,
                    unsigned flags)
{
    if (!s) return FCS_EINVAL;
    if (!sample || !st) return set_err(s, FCS_EINVAL, "summary: NULL sample or statistics");
    int rc = check_descriptor(s, sample);
    if (rc != FCS_OK) return rc;
    fcs_summary_sample d = *sample;
    d.total_events = fcs_stats_total(st);
    int bp = fcs_stats_bead_population(st);
    d.bead_events = bp >= 0 ? fcs_stats_count(st, (size_t)bp) : -1;
    if (bp >= 0) {
        d.bead_population = fcs_stats_population_path(st, (size_t)bp);
        d.beads_per_test = fcs_stats_beads_per_test(st);
        d.volume_ul = fcs_stats_volume_ul(st);
    }
    size_t slot;
    rc = sample_slot(s, d.id, d.sha256, d.dataset, d.strategy, flags, &slot);
    if (rc != FCS_OK) return rc;
    struct sample *m = &s->samples[slot];
    int bad = set_sample(s, m, &d) || stats_cells(s, m, st);
    for (size_t p = 0; !bad && p < fcs_stats_n_populations(st); p++)
        bad = population_rows(s, slot, st, p) || channel_rows(s, slot, st, p);
    if (bad) return set_err(s, FCS_ENOMEM, "summary: out of memory adding sample %s", d.id);
    return FCS_OK;
}

/* ---- merging ---------------------------------------------------------------------- */

/* Copy sample si of src into dst; *to receives its index in dst. */
static int merge_sample(fcs_summary *dst, const fcs_summary *src, size_t si, unsigned flags,
                        size_t *to)
{
    const struct sample *a = &src->samples[si];
    size_t slot;
    int rc = sample_slot(dst, a->f[SF_ID], a->f[SF_SHA], a->dataset, a->f[SF_STRATEGY], flags, &slot);
    if (rc != FCS_OK) return rc;
    struct sample *m = &dst->samples[slot];
    fcs_summary_sample d;
    fcs_summary_sample_init(&d);
    d.id = a->f[SF_ID], d.file = a->f[SF_FILE], d.source = a->f[SF_SOURCE], d.sha256 = a->f[SF_SHA];
    d.date = a->f[SF_DATE], d.btim = a->f[SF_BTIM], d.cyt = a->f[SF_CYT];
    d.strategy = a->f[SF_STRATEGY], d.bead_population = a->f[SF_BEADPOP];
    d.strategy_text = strategy_text_of(src, a->f[SF_STRATEGY]);
    d.bead_lot = a->f[SF_BEADLOT], d.tool = a->f[SF_TOOL];
    d.dataset = a->dataset, d.total_events = a->total, d.bead_events = a->bead_events;
    d.beads_per_test = a->bpt, d.volume_ul = a->vol;
    d.n_keywords = a->n_kw, d.keyword_names = a->kw_names, d.keyword_values = a->kw_vals;
    int bad = set_sample(dst, m, &d);
    if (!bad && a->n_cells && !(m->cells = calloc(a->n_cells, sizeof *m->cells))) bad = 1;
    for (size_t i = 0; !bad && i < a->n_cells; i++) {
        const struct spop *p = &src->pops[a->cells[i].pop];
        int64_t idx = add_pop(dst, p->path, p->name, p->parent, p->depth);
        if (idx < 0) bad = 1;
        m->cells[m->n_cells] = a->cells[i];
        m->cells[m->n_cells++].pop = (size_t)idx;
    }
    if (bad) return set_err(dst, FCS_ENOMEM, "summary: out of memory merging sample %s", a->f[SF_ID]);
    *to = slot;
    return FCS_OK;
}

int fcs_summary_merge(fcs_summary *dst, const fcs_summary *src, unsigned flags)
{
    if (!dst) return FCS_EINVAL;
    if (!src) return set_err(dst, FCS_EINVAL, "summary: NULL source");
    if (dst == src) return set_err(dst, FCS_EINVAL, "summary: cannot merge a summary into itself");
    size_t *map = malloc((src->n_samples + 1) * sizeof *map);
    if (!map) return set_err(dst, FCS_ENOMEM, "summary: out of memory");
    int rc = FCS_OK;
    for (size_t i = 0; rc == FCS_OK && i < src->n_samples; i++) rc = merge_sample(dst, src, i, flags, &map[i]);
    for (size_t i = 0; rc == FCS_OK && i < src->n_rows; i++) {
        const struct row *r = &src->rows[i];
        if (add_row(dst, map[r->sample], r->pop, r->parent, r->stat, r->chan, r->marker, r->unit, r->value))
            rc = set_err(dst, FCS_ENOMEM, "summary: out of memory");
    }
    for (size_t i = 0; rc == FCS_OK && i < src->n_strategies; i++)
        if (add_strategy(dst, src->strategies[i], src->strategy_texts[i])) rc = set_err(dst, FCS_ENOMEM, "summary: out of memory");
    free(map);
    return rc;
}

/* ---- queries ------------------------------------------------------------------------ */

size_t fcs_summary_n_samples(const fcs_summary *s) { return s ? s->n_samples : 0; }
size_t fcs_summary_n_populations(const fcs_summary *s) { return s ? s->n_pops : 0; }
size_t fcs_summary_n_rows(const fcs_summary *s) { return s ? s->n_rows : 0; }
size_t fcs_summary_n_strategies(const fcs_summary *s) { return s ? s->n_strategies : 0; }
const char *fcs_summary_tool(const fcs_summary *s) { return s ? s->tool : NULL; }

const char *fcs_summary_strategy(const fcs_summary *s, size_t i)
{
    return s && i < s->n_strategies ? s->strategies[i] : NULL;
}

const char *fcs_summary_strategy_text(const fcs_summary *s, size_t i)
{
    return s && i < s->n_strategies ? s->strategy_texts[i] : NULL;
}

int fcs_summary_sample_info(const fcs_summary *s, size_t i, fcs_summary_sample *out)
{
    if (!s || !out) return FCS_EINVAL;
    if (i >= s->n_samples) return FCS_ERANGE;
    const struct sample *m = &s->samples[i];
    fcs_summary_sample_init(out);
    out->id = m->f[SF_ID], out->file = m->f[SF_FILE], out->source = m->f[SF_SOURCE];
    out->sha256 = m->f[SF_SHA], out->date = m->f[SF_DATE], out->btim = m->f[SF_BTIM];
    out->cyt = m->f[SF_CYT], out->strategy = m->f[SF_STRATEGY];
    out->strategy_text = strategy_text_of(s, m->f[SF_STRATEGY]);
    out->bead_population = m->f[SF_BEADPOP], out->bead_lot = m->f[SF_BEADLOT];
    out->tool = m->f[SF_TOOL];
    out->dataset = m->dataset, out->total_events = m->total, out->bead_events = m->bead_events;
    out->beads_per_test = m->bpt, out->volume_ul = m->vol;
    out->n_keywords = m->n_kw;
    out->keyword_names = m->kw_names;
    out->keyword_values = m->kw_vals;
    return FCS_OK;
}

int fcs_summary_population_info(const fcs_summary *s, size_t i, fcs_summary_population *out)
{
    if (!s || !out) return FCS_EINVAL;
    if (i >= s->n_pops) return FCS_ERANGE;
    out->path = s->pops[i].path;
    out->name = s->pops[i].name;
    out->parent = s->pops[i].parent;
    out->depth = s->pops[i].depth;
    return FCS_OK;
}

static void missing_cell(fcs_summary_cell *c)
{
    c->count = c->parent_count = -1;
    c->fraction_parent = c->fraction_total = c->cells_per_ul = NAN;
}

int fcs_summary_cell_info(const fcs_summary *s, size_t sample, size_t pop, fcs_summary_cell *out)
{
    if (!s || !out) return FCS_EINVAL;
    if (sample >= s->n_samples || pop >= s->n_pops) return FCS_ERANGE;
    missing_cell(out);
    const struct sample *m = &s->samples[sample];
    for (size_t i = 0; i < m->n_cells; i++) {
        if (m->cells[i].pop != pop) continue;
        out->count = m->cells[i].count;
        out->parent_count = m->cells[i].parent_count;
        out->fraction_parent = m->cells[i].fparent;
        out->fraction_total = m->cells[i].ftotal;
        out->cells_per_ul = m->cells[i].cul;
        break;
    }
    return FCS_OK;
}

int fcs_summary_row_info(const fcs_summary *s, size_t i, fcs_summary_row *out)
{
    if (!s || !out) return FCS_EINVAL;
    if (i >= s->n_rows) return FCS_ERANGE;
    const struct row *r = &s->rows[i];
    out->sample = s->samples[r->sample].f[SF_ID];
    out->population = r->pop, out->parent = r->parent, out->statistic = r->stat;
    out->channel = r->chan, out->marker = r->marker, out->unit = r->unit;
    out->value = r->value;
    return FCS_OK;
}

/* ================================================================================ */
/* HDF5                                                                              */
/* ================================================================================ */

/* HDF5 prints its error stack by default; a library must not print. */
struct h5quiet {
    H5E_auto2_t fn;
    void *data;
};

static void h5_quiet(struct h5quiet *q)
{
    H5Eget_auto2(H5E_DEFAULT, &q->fn, &q->data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static void h5_loud(const struct h5quiet *q) { H5Eset_auto2(H5E_DEFAULT, q->fn, q->data); }

/* The innermost HDF5 error description, for messages. */
static herr_t first_error(unsigned n, const H5E_error2_t *e, void *data)
{
    char *buf = data;
    if (n == 0 && e->desc) snprintf(buf, 200, "%s", e->desc);
    return 0;
}

static const char *h5_reason(char *buf)
{
    buf[0] = '\0';
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, first_error, buf);
    H5Eclear2(H5E_DEFAULT);
    return buf[0] ? buf : "unknown HDF5 error";
}

static hid_t vlen_str_type(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return t;
    if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

/* ---- writing ------------------------------------------------------------------------ */

/* A writer that stops at the first failure and remembers what failed. */
struct h5w {
    hid_t str; /* variable-length UTF-8 string type */
    int failed;
    char what[200];
};

static void w_fail(struct h5w *w, const char *what)
{
    if (w->failed) return;
    w->failed = 1;
    char reason[200];
    snprintf(w->what, sizeof w->what, "%s: %s", what, h5_reason(reason));
}

static void attr_str(struct h5w *w, hid_t obj, const char *name, const char *value)
{
    if (w->failed) return;
    hid_t sp = H5Screate(H5S_SCALAR), a = -1;
    if (sp >= 0) a = H5Acreate2(obj, name, w->str, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0 || H5Awrite(a, w->str, &value) < 0) w_fail(w, name);
    if (a >= 0) H5Aclose(a);
    if (sp >= 0) H5Sclose(sp);
}

static void attr_str_array(struct h5w *w, hid_t obj, const char *name, const char **v, size_t n)
{
    if (w->failed) return;
    hsize_t dims[1] = {n};
    hid_t sp = H5Screate_simple(1, dims, NULL), a = -1;
    if (sp >= 0) a = H5Acreate2(obj, name, w->str, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0 || (n && H5Awrite(a, w->str, v) < 0)) w_fail(w, name);
    if (a >= 0) H5Aclose(a);
    if (sp >= 0) H5Sclose(sp);
}

static void attr_i64(struct h5w *w, hid_t obj, const char *name, int64_t v)
{
    if (w->failed) return;
    hid_t sp = H5Screate(H5S_SCALAR), a = -1;
    if (sp >= 0) a = H5Acreate2(obj, name, H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0 || H5Awrite(a, H5T_NATIVE_INT64, &v) < 0) w_fail(w, name);
    if (a >= 0) H5Aclose(a);
    if (sp >= 0) H5Sclose(sp);
}

static void encoding(struct h5w *w, hid_t obj, const char *type, const char *version)
{
    attr_str(w, obj, "encoding-type", type);
    attr_str(w, obj, "encoding-version", version);
}

static hid_t group(struct h5w *w, hid_t loc, const char *name, const char *type, const char *version)
{
    if (w->failed) return -1;
    hid_t g = H5Gcreate2(loc, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) {
        w_fail(w, name);
        return -1;
    }
    encoding(w, g, type, version);
    return g;
}

/* Chunk length along one axis: the extent, at least `min` (so that a tool
 * appending rows in place gets room in the last chunk), at most `max`. */
static hsize_t chunk_len(hsize_t n, hsize_t min, hsize_t max)
{
    return n < min ? min : (n < max ? n : max);
}

/* A dataset of rank 1 or 2 (rows x cols), chunked, growable along rows,
 * with shuffle + gzip. */
static void dataset(struct h5w *w, hid_t loc, const char *name, hid_t ftype, hid_t mtype,
                    const void *data, hsize_t rows, hsize_t cols, int rank, const char *enc)
{
    if (w->failed) return;
    hsize_t dims[2] = {rows, cols}, maxd[2] = {H5S_UNLIMITED, cols};
    hsize_t chunk[2] = {chunk_len(rows, rank == 1 ? 64 : 16, rank == 1 ? 65536 : 256),
                        chunk_len(cols, 1, 1024)};
    hid_t sp = H5Screate_simple(rank, dims, maxd), dcpl = H5Pcreate(H5P_DATASET_CREATE), d = -1;
    int ok = sp >= 0 && dcpl >= 0 && H5Pset_chunk(dcpl, rank, chunk) >= 0 &&
             H5Pset_shuffle(dcpl) >= 0 && H5Pset_deflate(dcpl, 4) >= 0;
    if (ok) d = H5Dcreate2(loc, name, ftype, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    ok = d >= 0 && (rows * cols == 0 || H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
    if (!ok) w_fail(w, name);
    if (d >= 0) encoding(w, d, enc, "0.2.0");
    if (d >= 0) H5Dclose(d);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (sp >= 0) H5Sclose(sp);
}

/* A string column, as fixed-length UTF-8 (NUL-padded to the longest
 * value): the tidy table repeats the same few strings millions of times,
 * which gzip then stores in almost nothing, while variable-length strings
 * cost a global-heap object each. h5py (asstr), anndata and rhdf5 read both. */
static void col_str(struct h5w *w, hid_t g, const char *name, const char **v, size_t n)
{
    if (w->failed) return;
    size_t len = 1;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(v[i]);
        if (l > len) len = l;
    }
    uint64_t bytes;
    char *buf = fcs_mul_ok(n ? n : 1, len, &bytes) || bytes > SIZE_MAX ? NULL : calloc(1, (size_t)bytes);
    hid_t t = H5Tcopy(H5T_C_S1);
    if (!buf || t < 0 || H5Tset_size(t, len) < 0 || H5Tset_strpad(t, H5T_STR_NULLPAD) < 0 ||
        H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
        if (!w->failed) snprintf(w->what, sizeof w->what, "%s: out of memory", name);
        w->failed = 1;
    } else {
        for (size_t i = 0; i < n; i++) memcpy(buf + i * len, v[i], strlen(v[i]));
        dataset(w, g, name, t, t, buf, n, 1, 1, "string-array");
    }
    if (t >= 0) H5Tclose(t);
    free(buf);
}

static void col_i64(struct h5w *w, hid_t g, const char *name, const int64_t *v, size_t n)
{
    dataset(w, g, name, H5T_STD_I64LE, H5T_NATIVE_INT64, v, n, 1, 1, "array");
}

static void col_f64(struct h5w *w, hid_t g, const char *name, const double *v, size_t n)
{
    dataset(w, g, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, v, n, 1, 1, "array");
}

/* The keyword columns: union of the samples' keyword names, first seen first. */
static const char **keyword_columns(const fcs_summary *s, size_t *n)
{
    size_t cap = 1;
    for (size_t i = 0; i < s->n_samples; i++) cap += s->samples[i].n_kw;
    const char **names = malloc(cap * sizeof *names);
    *n = 0;
    if (!names) return NULL;
    for (size_t i = 0; i < s->n_samples; i++) {
        for (size_t k = 0; k < s->samples[i].n_kw; k++) {
            const char *c = s->samples[i].kw_names[k];
            size_t j = 0;
            while (j < *n && names[j] != c) j++;
            if (j == *n) names[(*n)++] = c;
        }
    }
    return names;
}

static const char *sample_keyword(const struct sample *m, const char *col)
{
    for (size_t k = 0; k < m->n_kw; k++)
        if (m->kw_names[k] == col) return m->kw_vals[k];
    return "";
}

/* obs: the samples. */
static void write_obs(struct h5w *w, hid_t file, const fcs_summary *s)
{
    size_t n = s->n_samples, nkw = 0;
    const char **kw = keyword_columns(s, &nkw);
    const char **sv = malloc((n + 1) * sizeof *sv);
    int64_t *iv = malloc((n + 1) * sizeof *iv);
    double *dv = malloc((n + 1) * sizeof *dv);
    const char **order = malloc((N_OBS_FIXED + nkw) * sizeof *order);
    hid_t g = group(w, file, "obs", "dataframe", "0.2.0");
    if (!kw || !sv || !iv || !dv || !order) {
        if (!w->failed) snprintf(w->what, sizeof w->what, "obs: out of memory");
        w->failed = 1;
    }
    if (!w->failed) {
        size_t no = 0;
        for (size_t i = 1; i < N_OBS_FIXED; i++) order[no++] = obs_fixed[i];
        for (size_t i = 0; i < nkw; i++) order[no++] = kw[i];
        attr_str(w, g, "_index", "_index");
        attr_str_array(w, g, "column-order", order, no);
        static const int str_fields[] = {SF_ID, SF_FILE, SF_SOURCE, SF_SHA, SF_DATE, SF_BTIM,
                                         SF_CYT, SF_STRATEGY, SF_BEADPOP, SF_BEADLOT, SF_TOOL};
        static const char *const str_names[] = {"_index", "file", "source", "sha256", "date", "btim",
                                                "cyt", "gating_strategy", "bead_population",
                                                "bead_lot", "tool"};
        for (size_t f = 0; f < sizeof str_fields / sizeof str_fields[0]; f++) {
            for (size_t i = 0; i < n; i++) sv[i] = s->samples[i].f[str_fields[f]];
            col_str(w, g, str_names[f], sv, n);
        }
        for (size_t i = 0; i < n; i++) iv[i] = s->samples[i].dataset;
        col_i64(w, g, "dataset", iv, n);
        for (size_t i = 0; i < n; i++) iv[i] = s->samples[i].total;
        col_i64(w, g, "total_events", iv, n);
        for (size_t i = 0; i < n; i++) iv[i] = s->samples[i].bead_events;
        col_i64(w, g, "bead_events", iv, n);
        for (size_t i = 0; i < n; i++) dv[i] = s->samples[i].bpt;
        col_f64(w, g, "beads_per_test", dv, n);
        for (size_t i = 0; i < n; i++) dv[i] = s->samples[i].vol;
        col_f64(w, g, "volume_ul", dv, n);
        for (size_t i = 0; i < n; i++) dv[i] = s->samples[i].relerr;
        col_f64(w, g, "cells_per_ul_rel_error", dv, n);
        for (size_t k = 0; k < nkw; k++) {
            for (size_t i = 0; i < n; i++) sv[i] = sample_keyword(&s->samples[i], kw[k]);
            col_str(w, g, kw[k], sv, n);
        }
    }
    if (g >= 0) H5Gclose(g);
    free(kw);
    free(sv);
    free(iv);
    free(dv);
    free(order);
}

/* var: the populations. */
static void write_var(struct h5w *w, hid_t file, const fcs_summary *s)
{
    size_t n = s->n_pops;
    const char **sv = malloc(n * sizeof *sv);
    int64_t *iv = malloc(n * sizeof *iv);
    hid_t g = group(w, file, "var", "dataframe", "0.2.0");
    static const char *order[] = {"name", "parent", "depth"};
    if (!sv || !iv) {
        if (!w->failed) snprintf(w->what, sizeof w->what, "var: out of memory");
        w->failed = 1;
    }
    attr_str(w, g, "_index", "_index");
    attr_str_array(w, g, "column-order", order, 3);
    if (!w->failed) {
        for (size_t i = 0; i < n; i++) sv[i] = s->pops[i].path;
        col_str(w, g, "_index", sv, n);
        for (size_t i = 0; i < n; i++) sv[i] = s->pops[i].name;
        col_str(w, g, "name", sv, n);
        for (size_t i = 0; i < n; i++) sv[i] = s->pops[i].parent;
        col_str(w, g, "parent", sv, n);
        for (size_t i = 0; i < n; i++) iv[i] = s->pops[i].depth;
        col_i64(w, g, "depth", iv, n);
    }
    if (g >= 0) H5Gclose(g);
    free(sv);
    free(iv);
}

/* X and layers: samples x populations. */
static void write_matrices(struct h5w *w, hid_t file, const fcs_summary *s)
{
    size_t ns = s->n_samples, np = s->n_pops, n = ns * np + 1;
    uint64_t cells;
    if (fcs_mul_ok(ns, np, &cells) || cells > (UINT64_C(1) << 34)) {
        if (!w->failed) snprintf(w->what, sizeof w->what, "X: too many samples x populations");
        w->failed = 1;
        return;
    }
    int64_t *x = malloc(n * sizeof *x), *pc = malloc(n * sizeof *pc);
    double *fp = malloc(n * sizeof *fp), *ft = malloc(n * sizeof *ft), *cu = malloc(n * sizeof *cu);
    if (!x || !pc || !fp || !ft || !cu) {
        if (!w->failed) snprintf(w->what, sizeof w->what, "X: out of memory");
        w->failed = 1;
    }
    for (size_t i = 0; !w->failed && i < ns * np; i++) {
        x[i] = pc[i] = -1;
        fp[i] = ft[i] = cu[i] = NAN;
    }
    for (size_t i = 0; !w->failed && i < ns; i++) {
        for (size_t k = 0; k < s->samples[i].n_cells; k++) {
            const struct cell *c = &s->samples[i].cells[k];
            size_t at = i * np + c->pop;
            x[at] = c->count, pc[at] = c->parent_count;
            fp[at] = c->fparent, ft[at] = c->ftotal, cu[at] = c->cul;
        }
    }
    dataset(w, file, "X", H5T_STD_I64LE, H5T_NATIVE_INT64, x, ns, np, 2, "array");
    hid_t g = group(w, file, "layers", "dict", "0.1.0");
    dataset(w, g, "parent_count", H5T_STD_I64LE, H5T_NATIVE_INT64, pc, ns, np, 2, "array");
    dataset(w, g, "fraction_parent", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, fp, ns, np, 2, "array");
    dataset(w, g, "fraction_total", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, ft, ns, np, 2, "array");
    dataset(w, g, "cells_per_ul", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, cu, ns, np, 2, "array");
    if (g >= 0) H5Gclose(g);
    free(x);
    free(pc);
    free(fp);
    free(ft);
    free(cu);
}

/* Rows in sample order (stable): a replaced sample's rows were appended. */
static size_t *rows_by_sample(const fcs_summary *s)
{
    size_t *count = calloc(s->n_samples + 1, sizeof *count);
    size_t *order = malloc((s->n_rows + 1) * sizeof *order);
    if (!count || !order) {
        free(count);
        free(order);
        return NULL;
    }
    for (size_t i = 0; i < s->n_rows; i++) count[s->rows[i].sample + 1]++;
    for (size_t i = 1; i <= s->n_samples; i++) count[i] += count[i - 1];
    for (size_t i = 0; i < s->n_rows; i++) order[count[s->rows[i].sample]++] = i;
    free(count);
    return order;
}

/* uns/stats: the tidy table as a dataframe. */
static void write_table(struct h5w *w, hid_t uns, const fcs_summary *s)
{
    size_t n = s->n_rows;
    size_t *order = rows_by_sample(s);
    const char **sv = malloc((n + 1) * sizeof *sv);
    double *dv = malloc((n + 1) * sizeof *dv);
    char *ibuf = malloc(n * 21 + 1);
    hid_t g = group(w, uns, "stats", "dataframe", "0.2.0");
    static const char *cols[] = {"sample", "population", "parent", "statistic",
                                 "channel", "marker", "unit", "value"};
    if (!order || !sv || !dv || !ibuf) {
        if (!w->failed) snprintf(w->what, sizeof w->what, "uns/stats: out of memory");
        w->failed = 1;
    }
    attr_str(w, g, "_index", "_index");
    attr_str_array(w, g, "column-order", cols, 8);
    if (!w->failed) {
        char *p = ibuf;
        for (size_t i = 0; i < n; i++) {
            sv[i] = p;
            p += snprintf(p, 21, "%zu", i) + 1;
        }
        col_str(w, g, "_index", sv, n);
        for (int c = 0; c < 7; c++) {
            for (size_t i = 0; i < n; i++) {
                const struct row *r = &s->rows[order[i]];
                const char *f[7] = {s->samples[r->sample].f[SF_ID], r->pop, r->parent, r->stat,
                                    r->chan, r->marker, r->unit};
                sv[i] = f[c];
            }
            col_str(w, g, cols[c], sv, n);
        }
        for (size_t i = 0; i < n; i++) dv[i] = s->rows[order[i]].value;
        col_f64(w, g, "value", dv, n);
    }
    if (g >= 0) H5Gclose(g);
    free(order);
    free(sv);
    free(dv);
    free(ibuf);
}

/* A float64 array of rank 3 (samples x populations x channels), chunked
 * and compressed like the others. */
static void dataset3(struct h5w *w, hid_t loc, const char *name, const double *data,
                     const hsize_t dims[3])
{
    if (w->failed) return;
    hsize_t chunk[3] = {chunk_len(dims[0], 1, 64), chunk_len(dims[1], 1, 64),
                        chunk_len(dims[2], 1, 64)};
    hid_t sp = H5Screate_simple(3, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE), d = -1;
    int ok = sp >= 0 && dcpl >= 0 && H5Pset_chunk(dcpl, 3, chunk) >= 0 &&
             H5Pset_shuffle(dcpl) >= 0 && H5Pset_deflate(dcpl, 4) >= 0;
    if (ok) d = H5Dcreate2(loc, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    ok = d >= 0 && (dims[0] * dims[1] * dims[2] == 0 ||
                    H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
    if (!ok) w_fail(w, name);
    if (d >= 0) encoding(w, d, "array", "0.2.0");
    if (d >= 0) H5Dclose(d);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (sp >= 0) H5Sclose(sp);
}

/* Index of string v in list (n entries), appended when new (room for it
 * is the caller's). Strings are interned, so pointers usually match. */
static size_t list_index(const char **list, size_t *n, const char *v)
{
    for (size_t i = 0; i < *n; i++)
        if (list[i] == v || strcmp(list[i], v) == 0) return i;
    list[*n] = v;
    return (*n)++;
}

struct chan_axes {
    const char **stats, **chans, **markers;
    size_t n_stats, n_chans;
};

/* The statistics and channels of the per-channel rows, in order of first
 * appearance. 0, or -1 out of memory. */
static int channel_axes(const fcs_summary *s, struct chan_axes *ax)
{
    size_t n = s->n_rows + 1;
    ax->stats = calloc(n, sizeof *ax->stats);
    ax->chans = calloc(n, sizeof *ax->chans);
    ax->markers = calloc(n, sizeof *ax->markers);
    if (!ax->stats || !ax->chans || !ax->markers) return -1;
    for (size_t i = 0; i < s->n_rows; i++) {
        const struct row *r = &s->rows[i];
        if (!*r->chan) continue;
        list_index(ax->stats, &ax->n_stats, r->stat);
        size_t c = list_index(ax->chans, &ax->n_chans, r->chan);
        if (!ax->markers[c] || !*ax->markers[c]) ax->markers[c] = r->marker;
    }
    return 0;
}

/* The values of statistic k: NaN where a sample lacks the population or
 * the channel. */
static void fill_channel_stat(const fcs_summary *s, const struct chan_axes *ax, size_t k,
                              double *v, size_t cells)
{
    size_t np = s->n_pops, nc = ax->n_chans;
    for (size_t i = 0; i < cells; i++) v[i] = NAN;
    for (size_t i = 0; i < s->n_rows; i++) {
        const struct row *r = &s->rows[i];
        if (!*r->chan || (r->stat != ax->stats[k] && strcmp(r->stat, ax->stats[k]) != 0)) continue;
        int p = find_pop(s, r->pop);
        size_t c = 0;
        while (c < nc && ax->chans[c] != r->chan && strcmp(ax->chans[c], r->chan) != 0) c++;
        if (p >= 0 && c < nc) v[(r->sample * np + (size_t)p) * nc + c] = r->value;
    }
}

/* uns/channel_stats/<statistic>: samples x populations x channels
 * (float64, NaN where missing), axis 2 named by uns/channel_stats_channels
 * (and _markers): the per-channel rows of the tidy table as arrays. */
static void write_channel_stats(struct h5w *w, hid_t uns, const fcs_summary *s)
{
    struct chan_axes ax;
    memset(&ax, 0, sizeof ax);
    uint64_t cells = 0;
    double *v = NULL;
    int bad = channel_axes(s, &ax) != 0 || fcs_mul_ok(s->n_samples, s->n_pops, &cells) ||
              fcs_mul_ok(cells, ax.n_chans, &cells) || cells > (UINT64_C(1) << 31) ||
              !(v = malloc((size_t)(cells ? cells : 1) * sizeof *v));
    if (bad && !w->failed) {
        snprintf(w->what, sizeof w->what, "uns/channel_stats: out of memory");
        w->failed = 1;
    }
    for (size_t c = 0; !w->failed && c < ax.n_chans; c++)
        if (!ax.markers[c]) ax.markers[c] = "";
    col_str(w, uns, "channel_stats_channels", ax.chans, ax.n_chans);
    col_str(w, uns, "channel_stats_markers", ax.markers, ax.n_chans);
    hid_t g = group(w, uns, "channel_stats", "dict", "0.1.0");
    hsize_t dims[3] = {s->n_samples, s->n_pops, ax.n_chans};
    for (size_t k = 0; !w->failed && k < ax.n_stats; k++) {
        char name[128];
        snprintf(name, sizeof name, "%s", ax.stats[k]);
        for (char *q = name; *q; q++)
            if (*q == '/') *q = '_'; /* an HDF5 path separator */
        fill_channel_stat(s, &ax, k, v, (size_t)cells);
        dataset3(w, g, name, v, dims);
    }
    if (g >= 0) H5Gclose(g);
    free(v);
    free(ax.stats);
    free(ax.chans);
    free(ax.markers);
}

static void write_uns(struct h5w *w, hid_t file, const fcs_summary *s)
{
    hid_t uns = group(w, file, "uns", "dict", "0.1.0");
    write_table(w, uns, s);
    col_str(w, uns, "gating_strategy", s->strategies, s->n_strategies);
    col_str(w, uns, "gating_strategy_text", s->strategy_texts, s->n_strategies);
    write_channel_stats(w, uns, s);
    if (!w->failed) {
        hid_t sp = H5Screate(H5S_SCALAR), d = -1;
        if (sp >= 0) d = H5Dcreate2(uns, "tool_version", w->str, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (d < 0 || H5Dwrite(d, w->str, H5S_ALL, H5S_ALL, H5P_DEFAULT, &s->tool) < 0)
            w_fail(w, "uns/tool_version");
        if (d >= 0) encoding(w, d, "string", "0.2.0");
        if (d >= 0) H5Dclose(d);
        if (sp >= 0) H5Sclose(sp);
    }
    if (uns >= 0) H5Gclose(uns);
}

static void write_all(struct h5w *w, hid_t file, const fcs_summary *s)
{
    write_obs(w, file, s);
    write_var(w, file, s);
    write_matrices(w, file, s);
    write_uns(w, file, s);
    static const char *empty[] = {"obsm", "varm", "obsp", "varp"};
    for (int i = 0; i < 4; i++) {
        hid_t g = group(w, file, empty[i], "dict", "0.1.0");
        if (g >= 0) H5Gclose(g);
    }
    encoding(w, file, "anndata", "0.1.0");
    attr_i64(w, file, "libfcs-format-version", FCS_SUMMARY_FORMAT_VERSION);
    /* Last: a file killed before this point is not taken for a summary. */
    attr_str(w, file, "libfcs-format", FCS_SUMMARY_FORMAT);
}

/* Reserve "PATH.tmp.<pid>" (or with a suffix when a stale one exists). */
static char *reserve_tmp(const char *path, int *e)
{
    size_t n = strlen(path) + 48;
    char *tmp = malloc(n);
    if (!tmp) {
        *e = ENOMEM;
        return NULL;
    }
    for (int k = 0; k < 100; k++) {
        if (k == 0) snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
        else snprintf(tmp, n, "%s.tmp.%ld.%d", path, (long)getpid(), k);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0) {
            close(fd);
            return tmp;
        }
        if (errno != EEXIST) break;
    }
    *e = errno;
    free(tmp);
    return NULL;
}

static int fsync_path(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    if (rc != 0 && (errno == EINVAL || errno == EROFS)) rc = 0; /* folders on some file systems */
    close(fd);
    return rc;
}

static void fsync_folder(const char *path)
{
    char *dir = fcs_strdup(path);
    if (!dir) return;
    char *slash = strrchr(dir, '/');
    if (!slash) strcpy(dir, ".");
    else if (slash == dir) dir[1] = '\0';
    else *slash = '\0';
    (void)fsync_path(dir, O_RDONLY | O_DIRECTORY); /* best effort */
    free(dir);
}

static int write_file(fcs_summary *s, const char *path, const char *tmp)
{
    struct h5w w = {.str = vlen_str_type()};
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), file = -1;
    if (fapl >= 0) H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
    if (w.str >= 0 && fapl >= 0) file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (file < 0) w_fail(&w, "cannot create the file");
    else write_all(&w, file, s);
    if (file >= 0 && H5Fclose(file) < 0) w_fail(&w, "closing the file");
    if (fapl >= 0) H5Pclose(fapl);
    if (w.str >= 0) H5Tclose(w.str);
    if (w.failed) return set_err(s, FCS_EIO, "%s: cannot write the summary: %s", path, w.what);
    if (fsync_path(tmp, O_RDONLY) != 0)
        return set_err(s, FCS_EIO, "%s: fsync failed: %s", path, strerror(errno));
    if (rename(tmp, path) != 0)
        return set_err(s, FCS_EIO, "%s: cannot rename %s into place: %s", path, tmp, strerror(errno));
    fsync_folder(path);
    return FCS_OK;
}

int fcs_summary_write(fcs_summary *s, const char *path)
{
    if (!s) return FCS_EINVAL;
    if (!path || !*path || strcmp(path, "-") == 0)
        return set_err(s, FCS_EINVAL, "summary: HDF5 is written to a named file, not to a pipe");
    int e = 0;
    char *tmp = reserve_tmp(path, &e);
    if (!tmp) return set_err(s, FCS_EIO, "%s: cannot create a temporary file next to it: %s", path, strerror(e));
    struct h5quiet q;
    h5_quiet(&q);
    int rc = write_file(s, path, tmp);
    h5_loud(&q);
    if (rc != FCS_OK) unlink(tmp);
    free(tmp);
    return rc;
}

/* ---- reading -------------------------------------------------------------------------- */

struct h5r {
    fcs_summary *s;
    const char *path;
    hid_t str;
    int rc;
};

static int r_fail(struct h5r *r, int code, const char *fmt, ...) FCS_PRINTF(3, 4);
static int r_fail(struct h5r *r, int code, const char *fmt, ...)
{
    if (r->rc != FCS_OK) return r->rc;
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->rc = set_err(r->s, code, "%s: %s", r->path, msg);
    return r->rc;
}

/* Element count of a rank-`rank` dataset with the expected dims (0 =
 * any), checked against overflow and a sane upper bound. */
static int ds_dims(struct h5r *r, hid_t d, const char *name, int rank, hsize_t *dims)
{
    hid_t sp = H5Dget_space(d);
    int ok = sp >= 0 && H5Sget_simple_extent_ndims(sp) == rank &&
             H5Sget_simple_extent_dims(sp, dims, NULL) == rank;
    if (sp >= 0) H5Sclose(sp);
    if (!ok) return r_fail(r, FCS_EFORMAT, "damaged summary: %s is not %d-dimensional", name, rank);
    uint64_t n = 1;
    for (int i = 0; i < rank; i++)
        if (fcs_mul_ok(n, dims[i], &n) || n > (UINT64_C(1) << 34))
            return r_fail(r, FCS_EFORMAT, "damaged summary: %s is too large", name);
    return FCS_OK;
}

static hid_t open_ds(struct h5r *r, hid_t loc, const char *name)
{
    if (r->rc != FCS_OK) return -1;
    hid_t d = H5Lexists(loc, name, H5P_DEFAULT) > 0 ? H5Dopen2(loc, name, H5P_DEFAULT) : -1;
    if (d < 0) r_fail(r, FCS_EFORMAT, "damaged summary: no dataset %s", name);
    return d;
}

/* Fixed-length strings of `len` bytes each (NUL- or space-padded), interned. */
static void intern_fixed(struct h5r *r, const char *buf, size_t n, size_t len, H5T_str_t pad,
                         const char **out)
{
    char *one = malloc(len + 1);
    if (!one) r_fail(r, FCS_ENOMEM, "out of memory");
    for (size_t i = 0; one && i < n && r->rc == FCS_OK; i++) {
        memcpy(one, buf + i * len, len);
        one[len] = '\0';
        size_t l = strlen(one);
        while (pad == H5T_STR_SPACEPAD && l > 0 && one[l - 1] == ' ') one[--l] = '\0';
        if (!(out[i] = intern(&r->s->pool, one))) r_fail(r, FCS_ENOMEM, "out of memory");
    }
    free(one);
}

static void read_vlen(struct h5r *r, hid_t d, const char *name, size_t n, const char **out)
{
    char **buf = calloc(n + 1, sizeof *buf), why[200];
    if (!buf) {
        r_fail(r, FCS_ENOMEM, "out of memory");
        return;
    }
    if (n && H5Dread(d, r->str, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        r_fail(r, FCS_EFORMAT, "damaged summary: cannot read %s: %s", name, h5_reason(why));
        free(buf);
        return;
    }
    for (size_t i = 0; r->rc == FCS_OK && i < n; i++)
        if (!(out[i] = intern(&r->s->pool, buf[i]))) r_fail(r, FCS_ENOMEM, "out of memory");
    if (n) {
        hid_t sp = H5Dget_space(d);
        H5Dvlen_reclaim(r->str, sp, H5P_DEFAULT, buf);
        H5Sclose(sp);
    }
    free(buf);
}

static void read_fixed(struct h5r *r, hid_t d, hid_t ft, const char *name, size_t n, const char **out)
{
    size_t len = H5Tget_size(ft);
    uint64_t bytes;
    char why[200];
    if (len == 0 || len > 65536 || fcs_mul_ok(n ? n : 1, len, &bytes) || bytes > SIZE_MAX) {
        r_fail(r, FCS_EFORMAT, "damaged summary: %s has strings of %zu bytes", name, len);
        return;
    }
    char *buf = malloc((size_t)bytes);
    hid_t mt = H5Tcopy(ft);
    if (!buf || mt < 0) r_fail(r, FCS_ENOMEM, "out of memory");
    else if (n && H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        r_fail(r, FCS_EFORMAT, "damaged summary: cannot read %s: %s", name, h5_reason(why));
    else
        intern_fixed(r, buf, n, len, H5Tget_strpad(ft), out);
    if (mt >= 0) H5Tclose(mt);
    free(buf);
}

/* A 1-D string column of n entries (fixed-length or variable-length),
 * interned into out[]. */
static void read_strings(struct h5r *r, hid_t loc, const char *name, size_t n, const char **out)
{
    hid_t d = open_ds(r, loc, name);
    if (d < 0) return;
    hsize_t dims[1];
    hid_t ft = H5Dget_type(d);
    if (ds_dims(r, d, name, 1, dims) == FCS_OK && dims[0] != n)
        r_fail(r, FCS_EFORMAT, "damaged summary: %s has %llu entries, expected %zu", name,
               (unsigned long long)dims[0], n);
    if (r->rc == FCS_OK && (ft < 0 || H5Tget_class(ft) != H5T_STRING))
        r_fail(r, FCS_EFORMAT, "damaged summary: %s is not a string column", name);
    if (r->rc == FCS_OK) {
        if (H5Tis_variable_str(ft) > 0) read_vlen(r, d, name, n, out);
        else read_fixed(r, d, ft, name, n, out);
    }
    if (ft >= 0) H5Tclose(ft);
    H5Dclose(d);
}

/* A numeric dataset of exactly `count` elements (rows x cols, or n). */
static void read_numbers(struct h5r *r, hid_t loc, const char *name, int rank, hsize_t rows,
                         hsize_t cols, hid_t mtype, void *out)
{
    hid_t d = open_ds(r, loc, name);
    if (d < 0) return;
    hsize_t dims[2] = {0, 0};
    hid_t ft = H5Dget_type(d);
    H5T_class_t cl = ft >= 0 ? H5Tget_class(ft) : H5T_NO_CLASS;
    if (ds_dims(r, d, name, rank, dims) == FCS_OK && (dims[0] != rows || (rank == 2 && dims[1] != cols)))
        r_fail(r, FCS_EFORMAT, "damaged summary: %s has the wrong shape", name);
    if (r->rc == FCS_OK && cl != H5T_INTEGER && cl != H5T_FLOAT)
        r_fail(r, FCS_EFORMAT, "damaged summary: %s is not numeric", name);
    char why[200];
    if (r->rc == FCS_OK && rows != 0 && (rank == 1 || cols != 0) &&
        H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0)
        r_fail(r, FCS_EFORMAT, "damaged summary: cannot read %s: %s", name, h5_reason(why));
    if (ft >= 0) H5Tclose(ft);
    H5Dclose(d);
}

/* Rows of a dataframe group: the length of its _index. */
static size_t frame_rows(struct h5r *r, hid_t g, const char *name)
{
    hid_t d = open_ds(r, g, "_index");
    hsize_t dims[1] = {0};
    if (d < 0) return 0;
    if (ds_dims(r, d, name, 1, dims) != FCS_OK) dims[0] = 0;
    H5Dclose(d);
    return (size_t)dims[0];
}

static hid_t open_group(struct h5r *r, hid_t loc, const char *name)
{
    if (r->rc != FCS_OK) return -1;
    hid_t g = H5Lexists(loc, name, H5P_DEFAULT) > 0 ? H5Gopen2(loc, name, H5P_DEFAULT) : -1;
    if (g < 0) r_fail(r, FCS_EFORMAT, "damaged summary: no group %s", name);
    return g;
}

static void read_var(struct h5r *r, hid_t file)
{
    hid_t g = open_group(r, file, "var");
    size_t n = g >= 0 ? frame_rows(r, g, "var/_index") : 0;
    const char **path = calloc(n + 1, sizeof *path), **name = calloc(n + 1, sizeof *name);
    const char **parent = calloc(n + 1, sizeof *parent);
    int64_t *depth = calloc(n + 1, sizeof *depth);
    if (!path || !name || !parent || !depth) r_fail(r, FCS_ENOMEM, "out of memory");
    read_strings(r, g, "_index", n, path);
    read_strings(r, g, "name", n, name);
    read_strings(r, g, "parent", n, parent);
    read_numbers(r, g, "depth", 1, n, 1, H5T_NATIVE_INT64, depth);
    r->s->n_pops = 0; /* the file's order, "/" included */
    for (size_t i = 0; r->rc == FCS_OK && i < n; i++) {
        if (find_pop(r->s, path[i]) >= 0) r_fail(r, FCS_EFORMAT, "damaged summary: population %s twice", path[i]);
        else if (add_pop(r->s, path[i], name[i], parent[i], depth[i]) < 0) r_fail(r, FCS_ENOMEM, "out of memory");
    }
    if (r->rc == FCS_OK && find_pop(r->s, "/") < 0 && add_pop(r->s, "/", "", "", 0) < 0)
        r_fail(r, FCS_ENOMEM, "out of memory");
    if (g >= 0) H5Gclose(g);
    free(path);
    free(name);
    free(parent);
    free(depth);
}

/* Names in a dataframe's column-order attribute (interned). */
static const char **column_order(struct h5r *r, hid_t g, size_t *n)
{
    *n = 0;
    if (r->rc != FCS_OK) return NULL;
    hid_t a = H5Aexists(g, "column-order") > 0 ? H5Aopen(g, "column-order", H5P_DEFAULT) : -1;
    hid_t sp = a >= 0 ? H5Aget_space(a) : -1;
    hssize_t cnt = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    hid_t ft = a >= 0 ? H5Aget_type(a) : -1;
    const char **out = NULL;
    char **buf = NULL;
    if (cnt < 0 || cnt > 100000 || ft < 0 || H5Tget_class(ft) != H5T_STRING || H5Tis_variable_str(ft) <= 0)
        r_fail(r, FCS_EFORMAT, "damaged summary: obs has no column-order attribute of strings");
    else if (!(buf = calloc((size_t)cnt + 1, sizeof *buf)) || !(out = calloc((size_t)cnt + 1, sizeof *out)))
        r_fail(r, FCS_ENOMEM, "out of memory");
    else if (cnt && H5Aread(a, r->str, buf) < 0)
        r_fail(r, FCS_EFORMAT, "damaged summary: cannot read obs column-order");
    else {
        for (hssize_t i = 0; i < cnt; i++)
            if (!(out[i] = intern(&r->s->pool, buf[i]))) r_fail(r, FCS_ENOMEM, "out of memory");
        if (cnt) H5Dvlen_reclaim(r->str, sp, H5P_DEFAULT, buf);
        *n = (size_t)cnt;
    }
    free(buf);
    if (ft >= 0) H5Tclose(ft);
    if (sp >= 0) H5Sclose(sp);
    if (a >= 0) H5Aclose(a);
    if (r->rc != FCS_OK) {
        free(out);
        return NULL;
    }
    return out;
}

/* Keyword columns of obs: those of column-order that are not ours. */
static void read_obs_keywords(struct h5r *r, hid_t g, size_t n)
{
    size_t nc;
    const char **cols = column_order(r, g, &nc);
    const char **vals = calloc(n + 1, sizeof *vals);
    if (!vals) r_fail(r, FCS_ENOMEM, "out of memory");
    for (size_t i = 0; i < n && r->rc == FCS_OK; i++) {
        struct sample *m = &r->s->samples[i];
        m->kw_names = calloc(nc + 1, sizeof *m->kw_names);
        m->kw_vals = calloc(nc + 1, sizeof *m->kw_vals);
        if (!m->kw_names || !m->kw_vals) r_fail(r, FCS_ENOMEM, "out of memory");
    }
    for (size_t c = 0; c < nc && r->rc == FCS_OK; c++) {
        if (is_fixed_column(cols[c])) continue;
        read_strings(r, g, cols[c], n, vals);
        for (size_t i = 0; i < n && r->rc == FCS_OK; i++) {
            struct sample *m = &r->s->samples[i];
            if (!*vals[i]) continue; /* absent in this sample */
            m->kw_names[m->n_kw] = cols[c];
            m->kw_vals[m->n_kw++] = vals[i];
        }
    }
    free(cols);
    free(vals);
}

static void read_obs(struct h5r *r, hid_t file)
{
    hid_t g = open_group(r, file, "obs");
    size_t n = g >= 0 ? frame_rows(r, g, "obs/_index") : 0;
    const char **sv = calloc(n + 1, sizeof *sv);
    int64_t *iv = calloc(n + 1, sizeof *iv);
    double *dv = calloc(n + 1, sizeof *dv);
    if (!sv || !iv || !dv || (r->rc == FCS_OK && !(r->s->samples = calloc(n + 1, sizeof *r->s->samples))))
        r_fail(r, FCS_ENOMEM, "out of memory");
    if (r->rc == FCS_OK) r->s->n_samples = r->s->cap_samples = n;
    static const int str_fields[] = {SF_ID, SF_FILE, SF_SOURCE, SF_SHA, SF_DATE, SF_BTIM,
                                     SF_CYT, SF_STRATEGY, SF_BEADPOP, SF_BEADLOT, SF_TOOL};
    static const char *const str_names[] = {"_index", "file", "source", "sha256", "date", "btim",
                                            "cyt", "gating_strategy", "bead_population",
                                            "bead_lot", "tool"};
    for (size_t f = 0; f < sizeof str_fields / sizeof str_fields[0] && r->rc == FCS_OK; f++) {
        read_strings(r, g, str_names[f], n, sv);
        for (size_t i = 0; i < n && r->rc == FCS_OK; i++) r->s->samples[i].f[str_fields[f]] = sv[i];
    }
    static const char *const i_names[] = {"dataset", "total_events", "bead_events"};
    for (int f = 0; f < 3 && r->rc == FCS_OK; f++) {
        read_numbers(r, g, i_names[f], 1, n, 1, H5T_NATIVE_INT64, iv);
        for (size_t i = 0; i < n && r->rc == FCS_OK; i++) {
            struct sample *m = &r->s->samples[i];
            *(f == 0 ? &m->dataset : f == 1 ? &m->total : &m->bead_events) = iv[i];
        }
    }
    static const char *const d_names[] = {"beads_per_test", "volume_ul", "cells_per_ul_rel_error"};
    for (int f = 0; f < 3 && r->rc == FCS_OK; f++) {
        read_numbers(r, g, d_names[f], 1, n, 1, H5T_NATIVE_DOUBLE, dv);
        for (size_t i = 0; i < n && r->rc == FCS_OK; i++) {
            struct sample *m = &r->s->samples[i];
            *(f == 0 ? &m->bpt : f == 1 ? &m->vol : &m->relerr) = dv[i];
        }
    }
    if (g >= 0) read_obs_keywords(r, g, n);
    for (size_t i = 0; i < n && r->rc == FCS_OK; i++) {
        if (fcs_summary_find_sample(r->s, r->s->samples[i].f[SF_ID]) != (int64_t)i)
            r_fail(r, FCS_EFORMAT, "damaged summary: sample id '%s' twice", r->s->samples[i].f[SF_ID]);
        if (add_strategy(r->s, r->s->samples[i].f[SF_STRATEGY], NULL)) r_fail(r, FCS_ENOMEM, "out of memory");
    }
    if (g >= 0) H5Gclose(g);
    free(sv);
    free(iv);
    free(dv);
}

/* X and the layers back into each sample's cells (where X >= 0). */
static void read_matrices(struct h5r *r, hid_t file)
{
    size_t ns = r->s->n_samples, np = r->s->n_pops, n = ns * np + 1;
    uint64_t cells;
    if (r->rc != FCS_OK) return;
    if (fcs_mul_ok(ns, np, &cells) || cells > (UINT64_C(1) << 34)) {
        r_fail(r, FCS_EFORMAT, "damaged summary: too many samples x populations");
        return;
    }
    int64_t *x = malloc(n * sizeof *x), *pc = malloc(n * sizeof *pc);
    double *fp = malloc(n * sizeof *fp), *ft = malloc(n * sizeof *ft), *cu = malloc(n * sizeof *cu);
    if (!x || !pc || !fp || !ft || !cu) r_fail(r, FCS_ENOMEM, "out of memory");
    read_numbers(r, file, "X", 2, ns, np, H5T_NATIVE_INT64, x);
    hid_t g = open_group(r, file, "layers");
    read_numbers(r, g, "parent_count", 2, ns, np, H5T_NATIVE_INT64, pc);
    read_numbers(r, g, "fraction_parent", 2, ns, np, H5T_NATIVE_DOUBLE, fp);
    read_numbers(r, g, "fraction_total", 2, ns, np, H5T_NATIVE_DOUBLE, ft);
    read_numbers(r, g, "cells_per_ul", 2, ns, np, H5T_NATIVE_DOUBLE, cu);
    for (size_t i = 0; i < ns && r->rc == FCS_OK; i++) {
        struct sample *m = &r->s->samples[i];
        if (!(m->cells = calloc(np, sizeof *m->cells))) r_fail(r, FCS_ENOMEM, "out of memory");
        for (size_t p = 0; m->cells && p < np; p++) {
            size_t at = i * np + p;
            if (x[at] < 0) continue;
            struct cell *c = &m->cells[m->n_cells++];
            c->pop = p, c->count = x[at], c->parent_count = pc[at];
            c->fparent = fp[at], c->ftotal = ft[at], c->cul = cu[at];
        }
    }
    if (g >= 0) H5Gclose(g);
    free(x);
    free(pc);
    free(fp);
    free(ft);
    free(cu);
}

/* Sample index of a row's sample id (rows come grouped by sample). */
static int64_t row_sample(const fcs_summary *s, const char *id, int64_t *last)
{
    if (*last >= 0 && s->samples[*last].f[SF_ID] == id) return *last;
    for (size_t i = 0; i < s->n_samples; i++)
        if (s->samples[i].f[SF_ID] == id) return *last = (int64_t)i;
    return -1;
}

static void read_table(struct h5r *r, hid_t uns)
{
    hid_t g = open_group(r, uns, "stats");
    size_t n = g >= 0 ? frame_rows(r, g, "uns/stats/_index") : 0;
    static const char *cols[] = {"sample", "population", "parent", "statistic",
                                 "channel", "marker", "unit"};
    const char **sv[7] = {NULL};
    double *dv = calloc(n + 1, sizeof *dv);
    for (int c = 0; c < 7; c++)
        if (!(sv[c] = calloc(n + 1, sizeof *sv[c]))) r_fail(r, FCS_ENOMEM, "out of memory");
    if (!dv) r_fail(r, FCS_ENOMEM, "out of memory");
    for (int c = 0; c < 7; c++) read_strings(r, g, cols[c], n, sv[c]);
    read_numbers(r, g, "value", 1, n, 1, H5T_NATIVE_DOUBLE, dv);
    if (r->rc == FCS_OK && !(r->s->rows = malloc((n + 1) * sizeof *r->s->rows)))
        r_fail(r, FCS_ENOMEM, "out of memory");
    int64_t last = -1;
    for (size_t i = 0; i < n && r->rc == FCS_OK; i++) {
        int64_t si = row_sample(r->s, sv[0][i], &last);
        if (si < 0) {
            r_fail(r, FCS_EFORMAT, "damaged summary: uns/stats row %zu names unknown sample '%s'", i, sv[0][i]);
            break;
        }
        struct row *w = &r->s->rows[i];
        w->sample = (size_t)si, w->pop = sv[1][i], w->parent = sv[2][i], w->stat = sv[3][i];
        w->chan = sv[4][i], w->marker = sv[5][i], w->unit = sv[6][i], w->value = dv[i];
    }
    if (r->rc == FCS_OK) r->s->n_rows = r->s->cap_rows = n;
    for (int c = 0; c < 7; c++) free(sv[c]);
    free(dv);
    if (g >= 0) H5Gclose(g);
}

/* uns/gating_strategy_text, beside uns/gating_strategy: the strategies'
 * texts (absent in files written before it existed: texts unknown). */
static void read_strategy_texts(struct h5r *r, hid_t uns)
{
    if (r->rc != FCS_OK || H5Lexists(uns, "gating_strategy_text", H5P_DEFAULT) <= 0) return;
    hid_t d = open_ds(r, uns, "gating_strategy");
    hsize_t dims[1] = {0};
    if (d >= 0) ds_dims(r, d, "uns/gating_strategy", 1, dims);
    if (d >= 0) H5Dclose(d);
    if (r->rc != FCS_OK) return;
    size_t n = (size_t)dims[0];
    const char **ids = calloc(n + 1, sizeof *ids), **texts = calloc(n + 1, sizeof *texts);
    if (!ids || !texts) r_fail(r, FCS_ENOMEM, "out of memory");
    if (r->rc == FCS_OK) read_strings(r, uns, "gating_strategy", n, ids);
    if (r->rc == FCS_OK) read_strings(r, uns, "gating_strategy_text", n, texts);
    for (size_t i = 0; i < n && r->rc == FCS_OK; i++)
        if (add_strategy(r->s, ids[i], texts[i])) r_fail(r, FCS_ENOMEM, "out of memory");
    free(ids);
    free(texts);
}

static void read_uns(struct h5r *r, hid_t file)
{
    hid_t uns = open_group(r, file, "uns");
    read_table(r, uns);
    if (uns >= 0) read_strategy_texts(r, uns);
    hid_t d = open_ds(r, uns, "tool_version");
    char *tool = NULL;
    hid_t ft = d >= 0 ? H5Dget_type(d) : -1;
    if (d >= 0 && (ft < 0 || H5Tget_class(ft) != H5T_STRING || H5Tis_variable_str(ft) <= 0 ||
                   H5Dread(d, r->str, H5S_ALL, H5S_ALL, H5P_DEFAULT, &tool) < 0))
        r_fail(r, FCS_EFORMAT, "damaged summary: cannot read uns/tool_version");
    if (tool && r->rc == FCS_OK && !(r->s->tool = intern(&r->s->pool, tool)))
        r_fail(r, FCS_ENOMEM, "out of memory");
    free(tool); /* HDF5 allocated it with the default (malloc) allocator */
    if (ft >= 0) H5Tclose(ft);
    if (d >= 0) H5Dclose(d);
    if (uns >= 0) H5Gclose(uns);
}

/* The root attribute libfcs-format (a string) and its version. */
static void check_format(struct h5r *r, hid_t file)
{
    hid_t a = H5Aexists(file, "libfcs-format") > 0 ? H5Aopen(file, "libfcs-format", H5P_DEFAULT) : -1;
    hid_t ft = a >= 0 ? H5Aget_type(a) : -1;
    char *v = NULL;
    int ok = ft >= 0 && H5Tget_class(ft) == H5T_STRING && H5Tis_variable_str(ft) > 0 &&
             H5Aread(a, r->str, &v) >= 0 && v && strcmp(v, FCS_SUMMARY_FORMAT) == 0;
    free(v);
    if (ft >= 0) H5Tclose(ft);
    if (a >= 0) H5Aclose(a);
    if (!ok) {
        r_fail(r, FCS_EFORMAT, "an HDF5 file but not a libfcs summary (no libfcs-format attribute "
               "\"%s\")", FCS_SUMMARY_FORMAT);
        return;
    }
    int64_t ver = -1;
    a = H5Aexists(file, "libfcs-format-version") > 0 ? H5Aopen(file, "libfcs-format-version", H5P_DEFAULT) : -1;
    ft = a >= 0 ? H5Aget_type(a) : -1;
    ok = ft >= 0 && H5Tget_class(ft) == H5T_INTEGER && H5Aread(a, H5T_NATIVE_INT64, &ver) >= 0;
    if (ft >= 0) H5Tclose(ft);
    if (a >= 0) H5Aclose(a);
    if (!ok || ver < 1) r_fail(r, FCS_EFORMAT, "damaged summary: no valid libfcs-format-version attribute");
    else if (ver > FCS_SUMMARY_FORMAT_VERSION)
        r_fail(r, FCS_EUNSUPPORTED, "summary format version %lld is newer than this libfcs reads (%d)",
               (long long)ver, FCS_SUMMARY_FORMAT_VERSION);
}

/* "x.h5.tmp.123" or "x.h5.tmp.123.4": what fcs_summary_write leaves when killed. */
static int is_temp_name(const char *path)
{
    const char *t = strstr(path, ".tmp.");
    if (!t) return 0;
    while (strstr(t + 1, ".tmp.")) t = strstr(t + 1, ".tmp.");
    t += 5;
    if (!*t) return 0;
    for (; *t; t++)
        if (!((*t >= '0' && *t <= '9') || *t == '.')) return 0;
    return 1;
}

/* Why H5Fopen failed: no HDF5 signature at all, or a damaged file. */
static int open_failure(struct h5r *r, const char *why)
{
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    unsigned char head[8] = {0};
    int fd = open(r->path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, head, 8) : -1;
    if (fd >= 0) close(fd);
    if (n == 8 && memcmp(head, sig, 8) == 0)
        return r_fail(r, FCS_EFORMAT, "truncated or damaged HDF5 file (%s)", why);
    return r_fail(r, FCS_EFORMAT, "not an HDF5 file");
}

static int read_file(struct h5r *r)
{
    struct stat st;
    if (is_temp_name(r->path))
        return r_fail(r, FCS_EFORMAT, "looks like an unfinished temporary file (NAME.tmp.<pid>), "
                      "not a summary");
    if (stat(r->path, &st) != 0)
        return r_fail(r, errno == ENOENT ? FCS_ENOTFOUND : FCS_EIO, "cannot open: %s", strerror(errno));
    if (!S_ISREG(st.st_mode)) return r_fail(r, FCS_EIO, "not a regular file (HDF5 cannot be read from a pipe)");
    if (access(r->path, R_OK) != 0) return r_fail(r, FCS_EIO, "cannot open: %s", strerror(errno));
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl >= 0) H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
    hid_t file = fapl >= 0 ? H5Fopen(r->path, H5F_ACC_RDONLY, fapl) : -1;
    char why[200];
    if (fapl >= 0) H5Pclose(fapl);
    if (file < 0) return open_failure(r, h5_reason(why));
    check_format(r, file);
    read_var(r, file);
    read_obs(r, file);
    read_matrices(r, file);
    read_uns(r, file);
    H5Fclose(file);
    return r->rc;
}

int fcs_summary_read(fcs_summary **out, const char *path, fcs_error *err)
{
    if (!out || !path) return fcs_error_set(err, FCS_EINVAL, "summary: NULL argument");
    *out = NULL;
    fcs_summary *s;
    int rc = fcs_summary_new(&s, err);
    if (rc != FCS_OK) return rc;
    struct h5r r = {.s = s, .path = path, .rc = FCS_OK};
    struct h5quiet q;
    h5_quiet(&q);
    r.str = vlen_str_type();
    rc = r.str < 0 ? r_fail(&r, FCS_ENOMEM, "HDF5 string type") : read_file(&r);
    if (r.str >= 0) H5Tclose(r.str);
    /* A damaged file can leave HDF5 metadata behind that H5Fclose cannot
     * release, and HDF5's exit handler then prints "infinite loop closing
     * library" (it prints only when error printing is on). So after a
     * failure, when no one (neither we nor the program) holds an HDF5
     * object, the library is shut down here while printing is off; it
     * starts afresh, with its default error printing, on its next call, and
     * restoring the old handler would start it at once. */
    if (rc != FCS_OK && H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) == 0)
        H5close();
    else
        h5_loud(&q);
    if (rc != FCS_OK) {
        fcs_error_set(err, rc, "%s", s->errmsg);
        fcs_summary_free(s);
        return rc;
    }
    *out = s;
    return FCS_OK;
}
