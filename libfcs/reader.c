/*
 * reader.c — the streaming FCS reader (see fcs/reader.h).
 *
 * Open walks the $NEXTDATA chain and parses every data set's HEADER, TEXT
 * and supplemental TEXT, resolves the parameters, the DATA segment (HEADER
 * vs TEXT arbitration as in the corpus README "Rules used") and the
 * spillover. Reading events decodes straight from the source's view into
 * the caller's buffer (decode.c).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "reader_int.h"

#define VIEW_CHUNK (8u << 20)   /* bytes decoded per source view */
#define SCRATCH_EVENTS 2048u    /* events per scaling pass into float */
#define STREAM_METADATA_MAX (64ull << 20) /* bytes a pipe may buffer for STEXT */

/* ---- messages and warnings ---------------------------------------------------- */

static int rerr(fcs_reader *r, int code, const char *fmt, ...) FCS_PRINTF(3, 4);
static int rerr(fcs_reader *r, int code, const char *fmt, ...)
{
    int k;
    if (r->err_ds > 0)
        k = snprintf(r->errmsg, sizeof r->errmsg, "%s: data set %zu: ", r->name, r->err_ds);
    else
        k = snprintf(r->errmsg, sizeof r->errmsg, "%s: ", r->name);
    if (k < 0 || (size_t)k >= sizeof r->errmsg) k = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->errmsg + k, sizeof r->errmsg - (size_t)k, fmt, ap);
    va_end(ap);
    return code;
}

/* Record a repaired deviation on ds, or refuse it in strict mode. The text
 * starts with the repair's stable name. */
static int warn(fcs_reader *r, fcs_dataset *ds, const char *fmt, ...) FCS_PRINTF(3, 4);
static int warn(fcs_reader *r, fcs_dataset *ds, const char *fmt, ...)
{
    char msg[FCS_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (r->opts.strict) return rerr(r, FCS_ESTRICT, "strict mode refuses %s", msg);
    if (ds->n_warn == ds->cap_warn) {
        size_t cap = ds->cap_warn ? ds->cap_warn * 2 : 8;
        char **w = realloc(ds->warn, cap * sizeof *w);
        if (!w) return rerr(r, FCS_ENOMEM, "out of memory");
        ds->warn = w;
        ds->cap_warn = cap;
    }
    char *s = fcs_strdup(msg);
    if (!s) return rerr(r, FCS_ENOMEM, "out of memory");
    ds->warn[ds->n_warn++] = s;
    return FCS_OK;
}

static int from_err(fcs_reader *r, const fcs_error *e) { return rerr(r, e->code, "%s", e->msg); }

/* ---- small parsing helpers ---------------------------------------------------- */

static const char *kw(const fcs_dataset *ds, const char *name)
{
    return fcs_kwlist_get(&ds->kw, name);
}

static const char *pkw(const fcs_dataset *ds, size_t n, const char *suffix, char *namebuf,
                       size_t cap)
{
    snprintf(namebuf, cap, "$P%zu%s", n, suffix);
    return kw(ds, namebuf);
}

/* Trimmed single-letter keyword value (e.g. $MODE "L"), upper-cased; 0 if not one letter. */
static char one_letter(const char *v)
{
    if (!v) return 0;
    while (*v == ' ') v++;
    char c = *v;
    if (!c) return 0;
    v++;
    while (*v == ' ') v++;
    if (*v) return 0;
    return (c >= 'a' && c <= 'z') ? (char)(c - 32) : c;
}

static int is_blank_str(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t') return 0;
    return 1;
}

/* Offset keyword ($BEGINDATA ...): 1 = present and a number, 0 = absent, -1 = not a number. */
static int offset_kw(const fcs_dataset *ds, const char *name, uint64_t *out)
{
    const char *v = kw(ds, name);
    int64_t x;
    if (!v) return 0;
    if (fcs_parse_i64(v, &x) != 0 || x < 0) return -1;
    *out = (uint64_t)x;
    return 1;
}

static int ranges_overlap(uint64_t a, uint64_t b, uint64_t x, uint64_t y)
{
    return a <= y && x <= b;
}

/* ---- fetching metadata bytes -------------------------------------------------- */

/* Bytes [off, off+len) for parsing at open. A stream keeps everything from
 * byte 0 (the view always starts there) so that the metadata of data set 0
 * can be read in any order before the DATA segment. */
static int fetch(fcs_reader *r, uint64_t off, uint64_t len, const uint8_t **p, size_t *got)
{
    fcs_error e;
    int rc;
    if (len > SIZE_MAX - off) return rerr(r, FCS_EFORMAT, "segment size overflows");
    if (fcs_source_seekable(r->src)) {
        rc = fcs_source_view(r->src, off, (size_t)len, p, got, &e);
    } else {
        size_t g;
        rc = fcs_source_view(r->src, 0, (size_t)(off + len), p, &g, &e);
        if (rc == FCS_OK) {
            *p += off;
            *got = g > off ? g - (size_t)off : 0;
        }
    }
    return rc ? from_err(r, &e) : FCS_OK;
}

static int file_size(const fcs_reader *r, uint64_t *size)
{
    return fcs_source_size(r->src, size) == FCS_OK;
}

/* ---- dataset lifetime ------------------------------------------------------------ */

static void ds_free(fcs_dataset *ds)
{
    fcs_kwlist_free(&ds->kw);
    free(ds->params);
    free(ds->names);
    free(ds->cols);
    free(ds->sc_scaled);
    free(ds->sc_time);
    fcs_matrix_free(ds->spill);
    for (size_t i = 0; i < ds->n_warn; i++) free(ds->warn[i]);
    free(ds->warn);
}

void fcs_read_opts_init(fcs_read_opts *opts)
{
    memset(opts, 0, sizeof *opts);
}

void fcs_close(fcs_reader *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->n_ds; i++) ds_free(&r->ds[i]);
    free(r->ds);
    fcs_source_close(r->src);
    free(r->scratch);
    free(r->name);
    free(r);
}

/* ---- HEADER, TEXT and supplemental TEXT ------------------------------------------ */

static int load_header(fcs_reader *r, fcs_dataset *ds)
{
    const uint8_t *p;
    size_t got;
    int rc = fetch(r, ds->offset, FCS_HEADER_LEN, &p, &got);
    if (rc) return rc;
    fcs_error e;
    rc = fcs_header_parse(p, got, &ds->hdr, &e);
    if (rc) return from_err(r, &e);
    ds->text_begin = ds->offset + ds->hdr.text_begin;
    ds->text_end = ds->offset + ds->hdr.text_end;
    return FCS_OK;
}

static int parse_segment(fcs_reader *r, fcs_dataset *ds, uint64_t b, uint64_t e,
                         fcs_text_quirks *q, const char *what)
{
    const uint8_t *p;
    size_t got;
    uint64_t len = e - b + 1;
    uint64_t size;
    if (file_size(r, &size) && e >= size)
        return rerr(r, FCS_ETRUNCATED,
                    "%s segment (bytes %llu-%llu) ends beyond the end of the file (%llu bytes)",
                    what, (unsigned long long)b, (unsigned long long)e, (unsigned long long)size);
    int rc = fetch(r, b, len, &p, &got);
    if (rc) return rc;
    if (got < len)
        return rerr(r, FCS_ETRUNCATED, "input ends inside the %s segment (bytes %llu-%llu)", what,
                    (unsigned long long)b, (unsigned long long)e);
    if (!ds->delim) ds->delim = p[0];
    fcs_error err;
    rc = fcs_text_parse(p, (size_t)len, &ds->kw, q, &err);
    return rc ? rerr(r, rc, "%s segment: %s", what, err.msg) : FCS_OK;
}

/* Supplemental TEXT ($BEGINSTEXT/$ENDSTEXT, FCS 3.x), parsed into the same
 * keyword list: primary TEXT keywords win. */
static int locate_stext(fcs_reader *r, fcs_dataset *ds)
{
    uint64_t b = 0, e = 0;
    int hb = offset_kw(ds, "$BEGINSTEXT", &b), he = offset_kw(ds, "$ENDSTEXT", &e);
    if (ds->hdr.major < 3 || (hb == 0 && he == 0) || (b == 0 && e == 0)) return FCS_OK;
    if (hb < 0 || he < 0 || hb == 0 || he == 0 || e < b)
        return warn(r, ds, "stext-invalid: $BEGINSTEXT/$ENDSTEXT (%s/%s) unusable; supplemental "
                    "TEXT ignored", kw(ds, "$BEGINSTEXT") ? kw(ds, "$BEGINSTEXT") : "absent",
                    kw(ds, "$ENDSTEXT") ? kw(ds, "$ENDSTEXT") : "absent");
    b += ds->offset;
    e += ds->offset;
    /* Accuri writes the primary TEXT's own range here: nothing new to read. */
    if (b >= ds->text_begin && e <= ds->text_end) return FCS_OK;
    if (ranges_overlap(b, e, ds->offset, ds->offset + FCS_HEADER_LEN - 1) ||
        ranges_overlap(b, e, ds->text_begin, ds->text_end))
        return warn(r, ds, "stext-invalid: supplemental TEXT %llu-%llu overlaps the HEADER or "
                    "TEXT; ignored", (unsigned long long)b, (unsigned long long)e);
    ds->stext_begin = b;
    ds->stext_end = e;
    return FCS_OK;
}

static int read_stext(fcs_reader *r, fcs_dataset *ds, fcs_text_quirks *q)
{
    if (!ds->stext_end) return FCS_OK;
    const uint8_t *p;
    size_t got;
    int rc = fetch(r, ds->stext_begin, 1, &p, &got);
    if (rc) return rc;
    /* FCS 3.1: the supplemental TEXT uses the primary TEXT's delimiter. A
     * segment that does not start with it is something else (CyFlow Cube
     * points $BEGINSTEXT at a ZIP archive). */
    if (got == 1 && p[0] != ds->delim) {
        uint64_t b = ds->stext_begin, e = ds->stext_end;
        ds->stext_begin = ds->stext_end = 0;
        return warn(r, ds, "stext-invalid: supplemental TEXT %llu-%llu does not start with the "
                    "TEXT delimiter; ignored", (unsigned long long)b, (unsigned long long)e);
    }
    return parse_segment(r, ds, ds->stext_begin, ds->stext_end, q, "supplemental TEXT");
}

static int text_warnings(fcs_reader *r, fcs_dataset *ds, const fcs_text_quirks *q)
{
    int rc = FCS_OK;
    if (q->n_empty_values)
        rc = warn(r, ds, "empty-keyword-value: %zu keyword(s) written as KEY// (doubled "
                  "delimiter) read with an empty value (first: %s)", q->n_empty_values,
                  q->first_empty);
    if (!rc && q->n_blank_keys)
        rc = warn(r, ds, "keyword-blanks: %zu keyword name(s) had surrounding blanks, trimmed "
                  "(first: '%s')", q->n_blank_keys, q->first_blank);
    if (!rc && q->missing_final_delim)
        rc = warn(r, ds, "missing-final-delimiter: TEXT ends without a final delimiter; last "
                  "value accepted");
    if (!rc && q->n_duplicates)
        rc = warn(r, ds, "duplicate-keyword: %zu repeated keyword(s) (first: %s; %s); first "
                  "occurrence kept", q->n_duplicates, q->first_dup,
                  q->n_dup_differ ? "values differ" : "same value");
    if (!rc && q->n_dangling)
        rc = warn(r, ds, "dangling-keyword: '%s' at the end of TEXT has no value; ignored",
                  q->first_dangling);
    return rc;
}

/* ---- structural keywords ------------------------------------------------------------ */

static int parse_mode_type(fcs_reader *r, fcs_dataset *ds)
{
    const char *m = kw(ds, "$MODE");
    char c = one_letter(m);
    int rc;
    if (!m) {
        ds->mode = 'L';
        if (ds->hdr.major == 3 && ds->hdr.minor >= 2) rc = FCS_OK; /* optional since 3.2 */
        else rc = warn(r, ds, "missing-mode: $MODE absent; list mode assumed");
        if (rc) return rc;
    } else if (c == 'C' || c == 'U') {
        return rerr(r, FCS_EUNSUPPORTED,
                    "$MODE %c (%s histograms) is not supported; only list mode (L) is", c,
                    c == 'C' ? "correlated" : "uncorrelated");
    } else if (c != 'L') {
        return rerr(r, FCS_EFORMAT, "$MODE '%s' is not L, C or U", m);
    } else {
        ds->mode = 'L';
    }
    const char *t = kw(ds, "$DATATYPE");
    c = one_letter(t);
    if (!t) return rerr(r, FCS_EFORMAT, "required keyword $DATATYPE is missing");
    if (c != 'I' && c != 'F' && c != 'D' && c != 'A')
        return rerr(r, FCS_EFORMAT, "$DATATYPE '%s' is not I, F, D or A", t);
    ds->datatype = c;
    return FCS_OK;
}

/* $BYTEORD: only the two orders that exist in practice; others are refused
 * rather than guessed (a wrong guess would give plausible garbage). */
static int parse_byteord(fcs_reader *r, fcs_dataset *ds, int *big, int needed)
{
    const char *v = kw(ds, "$BYTEORD");
    ds->byteord = v ? v : "";
    *big = 0;
    if (!v || is_blank_str(v)) {
        if (needed) return rerr(r, FCS_EFORMAT, "required keyword $BYTEORD is missing");
        return FCS_OK;
    }
    int vals[16], n = 0;
    const char *p = v;
    while (*p) {
        while (*p == ' ') p++;
        if (*p < '0' || *p > '9' || n == 16) goto bad;
        int x = 0;
        while (*p >= '0' && *p <= '9' && x < 100) x = x * 10 + (*p++ - '0');
        vals[n++] = x;
        while (*p == ' ') p++;
        if (*p == ',') p++;
        else if (*p) goto bad;
    }
    if (n == 0) goto bad;
    int asc = 1, desc = 1;
    for (int i = 0; i < n; i++) {
        if (vals[i] != i + 1) asc = 0;
        if (vals[i] != n - i) desc = 0;
    }
    if (asc) return FCS_OK;
    if (desc) {
        *big = 1;
        return FCS_OK;
    }
    if (!needed) return FCS_OK;
    return rerr(r, FCS_EUNSUPPORTED,
                "$BYTEORD %s is not supported (only 1,2,...,n little-endian and n,...,2,1 "
                "big-endian)", v);
bad:
    if (!needed) return FCS_OK;
    return rerr(r, FCS_EFORMAT, "$BYTEORD '%s' is not a list of byte numbers", v);
}

/* ---- parameters ------------------------------------------------------------------------ */

static int bit_length(uint64_t x)
{
    return x ? 64 - __builtin_clzll(x) : 0;
}

/* Mask of the corpus rule: v & (2^b - 1), b = bit_length(ceil($PnR) - 1),
 * applied only when b is smaller than the stored width. */
static uint64_t range_mask(double range, int width_bytes)
{
    if (!(range > 0) || range >= 18446744073709551615.0) return UINT64_MAX;
    uint64_t c = (uint64_t)ceil(range);
    int b = bit_length(c - 1);
    if (b >= width_bytes * 8) return UINT64_MAX;
    return b == 0 ? 0 : (UINT64_MAX >> (64 - b));
}

/* Stored width in bytes of an integer of `bits` bits: multiples of 8 as
 * they are, other widths in the next 8/16/32/64-bit word (FC500 $PnB=10). */
static int int_width(int bits)
{
    if (bits % 8 == 0) return bits / 8;
    return bits <= 8 ? 1 : bits <= 16 ? 2 : bits <= 32 ? 4 : 8;
}

static int param_type(fcs_reader *r, fcs_dataset *ds, size_t n, char *type)
{
    char nb[40];
    *type = ds->datatype;
    if (ds->hdr.major < 3 || (ds->hdr.major == 3 && ds->hdr.minor < 2)) return FCS_OK;
    const char *v = pkw(ds, n, "DATATYPE", nb, sizeof nb);
    if (!v) return FCS_OK;
    char c = one_letter(v);
    if (c != 'I' && c != 'F' && c != 'D')
        return rerr(r, FCS_EFORMAT, "%s '%s' is not I, F or D", nb, v);
    *type = c;
    return FCS_OK;
}

/* $PnB and the column layout of parameter n (1-based). */
static int param_bits(fcs_reader *r, fcs_dataset *ds, size_t n, fcs_param *p, fcs_col *c,
                      int big)
{
    char nb[40];
    const char *v = pkw(ds, n, "B", nb, sizeof nb);
    if (!v) return rerr(r, FCS_EFORMAT, "required keyword %s is missing", nb);
    int64_t bits = 0;
    if (one_letter(v) == '*') {
        if (p->datatype != 'A')
            return rerr(r, FCS_EFORMAT, "%s is '*' but the data type is %c, not A", nb, p->datatype);
        ds->delimited = 1;
        p->bits = 0;
        c->kind = FCS_COL_ASCII;
        return FCS_OK;
    }
    if (fcs_parse_i64(v, &bits) != 0 || bits < 1)
        return rerr(r, FCS_EFORMAT, "%s '%s' is not a bit count", nb, v);
    p->bits = (int)(bits > 1000000 ? 1000000 : bits);
    c->big = (uint8_t)big;
    c->mask = UINT64_MAX;
    switch (p->datatype) {
    case 'I':
        if (bits > 64) return rerr(r, FCS_EUNSUPPORTED, "%s=%lld: integers wider than 64 bits",
                                   nb, (long long)bits);
        c->kind = FCS_COL_UINT;
        c->width = (uint8_t)int_width((int)bits);
        break;
    case 'F':
    case 'D': {
        int want = p->datatype == 'F' ? 32 : 64;
        if (bits != want)
            return rerr(r, FCS_EFORMAT, "%s=%lld does not match data type %c (%d bits)", nb,
                        (long long)bits, p->datatype, want);
        c->kind = p->datatype == 'F' ? FCS_COL_F32 : FCS_COL_F64;
        c->width = (uint8_t)(want / 8);
        break;
    }
    default:
        if (bits > 63) return rerr(r, FCS_EUNSUPPORTED, "%s=%lld: ASCII values wider than 63 "
                                   "characters", nb, (long long)bits);
        c->kind = FCS_COL_ASCII;
        c->width = (uint8_t)bits;
        break;
    }
    return FCS_OK;
}

/* Per-parameter repairs, gathered so that 70 parameters without $PnN give
 * one warning line, not 70. */
enum { PW_RANGE, PW_GAIN, PW_LOGZERO, PW_E, PW_NAME, PW_N };
typedef struct param_warns {
    size_t n[PW_N];
    char first[PW_N][256];
} param_warns;

static void pnote(param_warns *w, int kind, const char *fmt, ...) FCS_PRINTF(3, 4);
static void pnote(param_warns *w, int kind, const char *fmt, ...)
{
    if (w->n[kind]++ == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->first[kind], sizeof w->first[kind], fmt, ap);
        va_end(ap);
    }
}

static int pflush(fcs_reader *r, fcs_dataset *ds, const param_warns *w)
{
    for (int k = 0; k < PW_N; k++) {
        if (!w->n[k]) continue;
        int rc = w->n[k] == 1 ? warn(r, ds, "%s", w->first[k])
                              : warn(r, ds, "%s (and %zu more parameter(s))", w->first[k],
                                     w->n[k] - 1);
        if (rc) return rc;
    }
    return FCS_OK;
}

static void param_scale_keys(fcs_dataset *ds, size_t n, fcs_param *p, param_warns *w)
{
    char nb[40];
    const char *v = pkw(ds, n, "R", nb, sizeof nb);
    p->range = 0;
    if (!v) pnote(w, PW_RANGE, "missing-range: %s absent; no range mask, no log scaling", nb);
    else if (fcs_parse_double(v, &p->range) != 0 || !(p->range >= 0) || !isfinite(p->range)) {
        p->range = 0;
        pnote(w, PW_RANGE, "missing-range: %s '%.60s' is not a number; treated as absent", nb, v);
    }
    p->gain = 1;
    v = pkw(ds, n, "G", nb, sizeof nb);
    if (v && !is_blank_str(v) && (fcs_parse_double(v, &p->gain) != 0 || !isfinite(p->gain))) {
        p->gain = 1;
        pnote(w, PW_GAIN, "bad-keyword: %s '%.60s' is not a number; gain 1 used", nb, v);
    }
    p->log_decades = p->log_offset = 0;
    v = pkw(ds, n, "E", nb, sizeof nb);
    if (!v) return;
    const char *comma = strchr(v, ',');
    char f1s[64];
    double f1, f2;
    size_t l1 = comma ? (size_t)(comma - v) : 0;
    if (!comma || l1 >= sizeof f1s) goto bad_e;
    memcpy(f1s, v, l1);
    f1s[l1] = '\0';
    if (fcs_parse_double(f1s, &f1) != 0 || fcs_parse_double(comma + 1, &f2) != 0 || f1 < 0 ||
        f2 < 0 || !isfinite(f1) || !isfinite(f2))
        goto bad_e;
    p->log_decades = f1;
    p->log_offset = f2;
    if (f1 > 0 && f2 == 0) {
        p->log_offset = 1;
        pnote(w, PW_LOGZERO, "log-offset-zero: %s '%.60s' has f1>0 and f2=0; read as %g,1", nb, v,
              f1);
    }
    return;
bad_e:
    pnote(w, PW_E, "bad-keyword: %s '%.60s' is not 'f1,f2'; linear scale used", nb, v);
}

static void param_names(fcs_dataset *ds, size_t n, fcs_param *p, param_warns *w)
{
    char nb[40];
    p->name = pkw(ds, n, "N", nb, sizeof nb);
    p->label = pkw(ds, n, "S", nb, sizeof nb);
    if (p->label && !p->label[0]) p->label = NULL;
    p->is_time = p->name && fcs_strcasecmp(p->name, "time") == 0;
    ds->names[n - 1] = p->name ? p->name : "";
    if (!p->name && ds->hdr.major >= 3)
        pnote(w, PW_NAME, "missing-name: $P%zuN absent (required by FCS 3.x)", n);
}

static int cmp_name_idx(const void *a, const void *b, void *ctx)
{
    const char *const *names = ctx;
    return strcmp(names[*(const size_t *)a], names[*(const size_t *)b]);
}

/* qsort_r is GNU; a tiny merge sort keeps this portable and O(n log n). */
static void sort_idx(size_t *v, size_t *tmp, size_t n, const char *const *names)
{
    if (n < 2) return;
    size_t h = n / 2;
    sort_idx(v, tmp, h, names);
    sort_idx(v + h, tmp, n - h, names);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n)
        tmp[k++] = cmp_name_idx(&v[i], &v[j], (void *)names) <= 0 ? v[i++] : v[j++];
    while (i < h) tmp[k++] = v[i++];
    while (j < n) tmp[k++] = v[j++];
    memcpy(v, tmp, n * sizeof *v);
}

static int check_duplicate_names(fcs_reader *r, fcs_dataset *ds)
{
    size_t n = ds->par;
    size_t *idx = malloc(2 * n * sizeof *idx);
    if (!idx) return rerr(r, FCS_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) idx[i] = i;
    sort_idx(idx, idx + n, n, ds->names);
    int rc = FCS_OK;
    for (size_t i = 1; i < n && rc == FCS_OK; i++) {
        size_t a = idx[i - 1], b = idx[i];
        if (!ds->params[a].name || !ds->params[b].name) continue;
        if (strcmp(ds->names[a], ds->names[b]) == 0) {
            size_t lo = a < b ? a : b, hi = a < b ? b : a;
            rc = warn(r, ds, "duplicate-name: $P%zuN and $P%zuN are both '%s' (kept as stored; "
                      "selecting by this name is ambiguous)", lo + 1, hi + 1, ds->names[a]);
        }
    }
    free(idx);
    return rc;
}

static void build_scales(fcs_dataset *ds)
{
    ds->scaled_noop = ds->time_noop = 1;
    for (size_t j = 0; j < ds->par; j++) {
        const fcs_param *p = &ds->params[j];
        fcs_scale s = {FCS_SC_NONE, 0, 0};
        if (p->datatype == 'I' && p->log_decades > 0 && p->range > 0)
            s = (fcs_scale){FCS_SC_LOG, p->log_decades / p->range, p->log_offset};
        else if (p->gain != 0 && p->gain != 1)
            s = (fcs_scale){FCS_SC_DIV, p->gain, 0};
        ds->sc_scaled[j] = s;
        if (p->is_time && ds->timestep > 0) s = (fcs_scale){FCS_SC_MUL, ds->timestep, 0};
        ds->sc_time[j] = s;
        if (ds->sc_scaled[j].kind != FCS_SC_NONE) ds->scaled_noop = 0;
        if (s.kind != FCS_SC_NONE) ds->time_noop = 0;
    }
}

static int parse_params(fcs_reader *r, fcs_dataset *ds)
{
    const char *v = kw(ds, "$PAR");
    int64_t par;
    if (!v) return rerr(r, FCS_EFORMAT, "required keyword $PAR is missing");
    if (fcs_parse_i64(v, &par) != 0) return rerr(r, FCS_EFORMAT, "$PAR '%s' is not a number", v);
    if (par < 1) return rerr(r, FCS_EFORMAT, "$PAR %lld: a data set needs at least 1 parameter",
                             (long long)par);
    /* Every parameter needs its own $PnB keyword: bound $PAR by the TEXT. */
    if ((uint64_t)par > ds->kw.n)
        return rerr(r, FCS_EFORMAT, "$PAR %lld exceeds the %zu keywords of the TEXT",
                    (long long)par, ds->kw.n);
    char nb[40];
    if (!pkw(ds, (size_t)par, "B", nb, sizeof nb))
        return rerr(r, FCS_EFORMAT, "$PAR is %lld but required keyword %s is missing",
                    (long long)par, nb);
    ds->par = (size_t)par;
    ds->params = calloc(ds->par, sizeof *ds->params);
    ds->names = calloc(ds->par, sizeof *ds->names);
    ds->cols = calloc(ds->par, sizeof *ds->cols);
    ds->sc_scaled = calloc(ds->par, sizeof *ds->sc_scaled);
    ds->sc_time = calloc(ds->par, sizeof *ds->sc_time);
    if (!ds->params || !ds->names || !ds->cols || !ds->sc_scaled || !ds->sc_time)
        return rerr(r, FCS_ENOMEM, "out of memory for %zu parameters", ds->par);
    int need_order = 0;
    for (size_t j = 0; j < ds->par; j++) {
        char t;
        int rc = param_type(r, ds, j + 1, &t);
        if (rc) return rc;
        ds->params[j].datatype = t;
        if (t != 'A') need_order = 1;
    }
    int big;
    int rc = parse_byteord(r, ds, &big, need_order);
    if (rc) return rc;
    param_warns w;
    memset(&w, 0, sizeof w);
    for (size_t j = 0; j < ds->par && rc == FCS_OK; j++) {
        fcs_param *p = &ds->params[j];
        rc = param_bits(r, ds, j + 1, p, &ds->cols[j], big);
        param_scale_keys(ds, j + 1, p, &w);
        param_names(ds, j + 1, p, &w);
        if (!rc && p->datatype == 'I')
            ds->cols[j].mask = p->mask = range_mask(p->range, ds->cols[j].width);
    }
    if (!rc) rc = pflush(r, ds, &w);
    if (rc) return rc;
    if (ds->delimited) {
        for (size_t j = 0; j < ds->par; j++)
            if (ds->params[j].bits != 0)
                return rerr(r, FCS_EFORMAT, "delimited ASCII data needs $PnB '*' on every "
                            "parameter ($P%zuB is %d)", j + 1, ds->params[j].bits);
    }
    ds->layout.n = ds->par;
    ds->layout.cols = ds->cols;
    if (fcs_layout_finish(&ds->layout) != 0)
        return rerr(r, FCS_EFORMAT, "event size overflows");
    return check_duplicate_names(r, ds);
}

static int parse_timestep(fcs_reader *r, fcs_dataset *ds)
{
    const char *v = kw(ds, "$TIMESTEP");
    ds->timestep = 0;
    if (!v) return FCS_OK;
    if (fcs_parse_double(v, &ds->timestep) != 0 || !isfinite(ds->timestep) || ds->timestep < 0) {
        ds->timestep = 0;
        return warn(r, ds, "bad-keyword: $TIMESTEP '%s' is not a number; ignored", v);
    }
    return FCS_OK;
}

/* ---- the DATA segment ---------------------------------------------------------------- */

typedef struct data_pair {
    uint64_t b, e; /* absolute, inclusive */
    const char *from;
} data_pair;

/* Why a candidate pair cannot be the DATA segment, or NULL when it fits. */
static const char *pair_problem(fcs_reader *r, const fcs_dataset *ds, const data_pair *p,
                                uint64_t needed, int know_len)
{
    uint64_t size;
    if (p->e < p->b) return "ends before it begins";
    if (ranges_overlap(p->b, p->e, ds->offset, ds->offset + FCS_HEADER_LEN - 1))
        return "overlaps HEADER";
    if (ranges_overlap(p->b, p->e, ds->text_begin, ds->text_end)) return "overlaps TEXT";
    if (ds->stext_end && ranges_overlap(p->b, p->e, ds->stext_begin, ds->stext_end))
        return "overlaps supplemental TEXT";
    if (file_size(r, &size) && (p->b + needed > size || p->e > size)) return "past end of file";
    uint64_t len = p->e - p->b + 1;
    if (know_len && len != needed && len != needed + 1) return "length does not match $TOT";
    return NULL;
}

/* HEADER vs $BEGINDATA/$ENDDATA: corpus README "Rules used". */
static int choose_pair(fcs_reader *r, fcs_dataset *ds, uint64_t needed, int know_len,
                       data_pair *out, int *have)
{
    const fcs_header *h = &ds->hdr;
    data_pair hp = {ds->offset + h->data_begin, ds->offset + h->data_end, "HEADER"};
    data_pair tp = {0, 0, "TEXT"};
    uint64_t tb = 0, te = 0;
    int kb = offset_kw(ds, "$BEGINDATA", &tb), ke = offset_kw(ds, "$ENDDATA", &te);
    int text_ok = kb == 1 && ke == 1 && !(tb == 0 && te == 0);
    tp.b = ds->offset + tb;
    tp.e = ds->offset + te;
    *have = 1;
    /* A writer that zeroes only the field above 99,999,999 leaves begin set
     * and end 0: the HEADER pair is then as absent as 0/0. */
    if (h->data_zero || (h->data_end == 0 && text_ok)) {
        if (!text_ok) {
            *have = 0;
            return FCS_OK;
        }
        *out = tp;
        if (te <= FCS_HEADER_OFFSET_MAX || (h->data_begin != 0 && h->data_begin != tb))
            return warn(r, ds, "header-offsets-zero: HEADER DATA offsets are 0 although they fit; "
                        "TEXT $BEGINDATA/$ENDDATA %llu-%llu used", (unsigned long long)tb,
                        (unsigned long long)te);
        return FCS_OK;
    }
    *out = hp;
    if (h->major < 3) return FCS_OK; /* FCS 2.0: HEADER offsets */
    if (kb == 1 && ke == 1 && tb == 0 && te == 0)
        return warn(r, ds, "placeholder-offsets: TEXT $BEGINDATA/$ENDDATA are 0; HEADER DATA "
                    "offsets %llu-%llu used", (unsigned long long)h->data_begin,
                    (unsigned long long)h->data_end);
    if (!text_ok || (tp.b == hp.b && tp.e == hp.e)) return FCS_OK;
    const char *hw = pair_problem(r, ds, &hp, needed, know_len);
    const char *tw = pair_problem(r, ds, &tp, needed, know_len);
    if (hw && tw)
        return rerr(r, FCS_EFORMAT,
                    "HEADER DATA offsets %llu-%llu (%s) and TEXT $BEGINDATA/$ENDDATA %llu-%llu "
                    "(%s) disagree and neither fits; the file is damaged",
                    (unsigned long long)h->data_begin, (unsigned long long)h->data_end, hw,
                    (unsigned long long)tb, (unsigned long long)te, tw);
    if (hw) *out = tp;
    return warn(r, ds, "offsets-header-text-disagree: HEADER DATA offsets %llu-%llu disagree with "
                "TEXT $BEGINDATA/$ENDDATA %llu-%llu; %s used (HEADER: %s; TEXT: %s)",
                (unsigned long long)h->data_begin, (unsigned long long)h->data_end,
                (unsigned long long)tb, (unsigned long long)te, out->from, hw ? hw : "ok",
                tw ? tw : "ok");
}

/* $TOT, or the event count the DATA length implies when $TOT is absent. */
static int resolve_tot(fcs_reader *r, fcs_dataset *ds, const data_pair *p, int have)
{
    const char *v = kw(ds, "$TOT");
    int64_t tot;
    if (v) {
        if (fcs_parse_i64(v, &tot) != 0) return rerr(r, FCS_EFORMAT, "$TOT '%s' is not a number", v);
        if (tot < 0) return rerr(r, FCS_EFORMAT, "$TOT %lld is negative", (long long)tot);
        ds->tot = tot;
        return FCS_OK;
    }
    uint64_t eb = ds->layout.event_bytes;
    if (ds->delimited || !have || eb == 0)
        return rerr(r, FCS_EFORMAT, "$TOT is missing and the event count cannot be derived");
    uint64_t len = p->e - p->b + 1;
    if (p->e < p->b || (len % eb != 0 && (len - 1) % eb != 0))
        return rerr(r, FCS_EFORMAT, "$TOT is missing and the DATA length %llu is not a whole "
                    "number of %llu-byte events", (unsigned long long)len, (unsigned long long)eb);
    ds->tot = (int64_t)(len / eb);
    if (ds->hdr.major >= 3)
        return warn(r, ds, "missing-tot: $TOT absent; %lld events from the DATA length",
                    (long long)ds->tot);
    return FCS_OK;
}

static int data_truncated(fcs_reader *r, fcs_dataset *ds, uint64_t size)
{
    if (r->opts.metadata_only) {
        ds->data_unreadable = 1;
        return warn(r, ds, "data-truncated: DATA segment %llu-%llu lies beyond the end of the file "
                    "(%llu bytes); events cannot be read", (unsigned long long)ds->data_begin,
                    (unsigned long long)ds->data_end, (unsigned long long)size);
    }
    return rerr(r, FCS_ETRUNCATED, "DATA segment (bytes %llu-%llu) ends beyond the end of the file "
                "(%llu bytes): file truncated", (unsigned long long)ds->data_begin,
                (unsigned long long)ds->data_end, (unsigned long long)size);
}

/* Checks on the chosen segment against $TOT: the off-by-one end, extra
 * bytes, a short segment, the end of the file. */
static int check_data_length(fcs_reader *r, fcs_dataset *ds, uint64_t needed)
{
    uint64_t b = ds->data_begin, e = ds->data_end, size;
    uint64_t len = e - b + 1;
    int known = file_size(r, &size);
    if (ranges_overlap(b, e, ds->offset, ds->offset + FCS_HEADER_LEN - 1) ||
        ranges_overlap(b, e, ds->text_begin, ds->text_end))
        return rerr(r, FCS_EFORMAT, "DATA segment %llu-%llu overlaps the HEADER or TEXT",
                    (unsigned long long)b, (unsigned long long)e);
    if (ds->stext_end && ranges_overlap(b, e, ds->stext_begin, ds->stext_end))
        return rerr(r, FCS_EFORMAT, "DATA segment %llu-%llu overlaps the supplemental TEXT",
                    (unsigned long long)b, (unsigned long long)e);
    if (ds->delimited) {
        ds->data_len = len;
        if (known && e >= size) return data_truncated(r, ds, size);
        return FCS_OK;
    }
    ds->data_len = needed;
    if (len < needed) {
        if (known && e >= size) return data_truncated(r, ds, size);
        return rerr(r, FCS_EFORMAT, "DATA segment has %llu bytes but $TOT %lld events of %zu "
                    "bytes need %llu", (unsigned long long)len, (long long)ds->tot,
                    ds->layout.event_bytes, (unsigned long long)needed);
    }
    if (known && (b + needed > size || e > size)) return data_truncated(r, ds, size);
    if (len == needed + 1)
        return warn(r, ds, "data-end-off-by-one: DATA end %llu is one byte past the last data "
                    "byte; %llu bytes read", (unsigned long long)e, (unsigned long long)needed);
    if (len > needed + 1)
        return warn(r, ds, "tot-mismatch: DATA segment has %llu bytes but $TOT %lld events need "
                    "%llu; extra bytes ignored", (unsigned long long)len, (long long)ds->tot,
                    (unsigned long long)needed);
    return FCS_OK;
}

static int resolve_data(fcs_reader *r, fcs_dataset *ds)
{
    data_pair p = {0, 0, "HEADER"};
    int have;
    /* $TOT first (the arbitration needs the expected length). */
    const char *tv = kw(ds, "$TOT");
    int64_t tot = -1;
    if (tv && fcs_parse_i64(tv, &tot) == 0 && tot >= 0) ds->tot = tot;
    uint64_t needed = 0;
    int know_len = !ds->delimited && tot >= 0;
    if (know_len && fcs_mul_ok((uint64_t)tot, ds->layout.event_bytes, &needed) != 0)
        return rerr(r, FCS_EFORMAT, "$TOT %lld events of %zu bytes overflow", (long long)tot,
                    ds->layout.event_bytes);
    int rc = choose_pair(r, ds, needed, know_len, &p, &have);
    if (!rc) rc = resolve_tot(r, ds, &p, have);
    if (rc) return rc;
    if (fcs_mul_ok((uint64_t)ds->tot, ds->layout.event_bytes, &needed) != 0)
        return rerr(r, FCS_EFORMAT, "$TOT %lld events overflow", (long long)ds->tot);
    ds->data_from = p.from;
    if (!have || (ds->tot == 0 && !ds->delimited)) {
        ds->data_begin = have ? p.b : 0;
        ds->data_end = have ? p.e : 0;
        ds->data_len = 0;
        if (ds->tot > 0)
            return rerr(r, FCS_EFORMAT, "no DATA segment offsets in HEADER or TEXT");
        return FCS_OK;
    }
    ds->data_begin = p.b;
    ds->data_end = p.e;
    if (p.e < p.b)
        return rerr(r, FCS_EFORMAT, "DATA segment %llu-%llu ends before it begins",
                    (unsigned long long)p.b, (unsigned long long)p.e);
    return check_data_length(r, ds, needed);
}

/* FCS 3.x puts an 8-character CRC field after each data set's DATA. */
static int check_crc(fcs_reader *r, fcs_dataset *ds)
{
    if (ds->hdr.major < 3 || ds->data_unreadable || ds->delimited) return FCS_OK;
    uint64_t size, crc = ds->data_begin + ds->data_len;
    if (!file_size(r, &size)) {
        ds->crc_pending = 1;
        return FCS_OK;
    }
    uint64_t limit = ds->next_abs ? ds->next_abs : size;
    if (limit >= crc + 8) return FCS_OK;
    return warn(r, ds, "missing-crc: no 8-byte CRC field after the DATA segment (FCS 3.x); "
                "not checked");
}

/* ---- spillover ---------------------------------------------------------------------- */

static const char *kw_lookup(void *ctx, const char *key)
{
    return fcs_kwlist_get(ctx, key);
}

static int load_spillover(fcs_reader *r, fcs_dataset *ds)
{
    fcs_error e;
    fcs_error_clear(&e);
    const char *which = NULL;
    int rc = fcs_matrix_from_keywords(kw_lookup, &ds->kw, ds->names, ds->par, &ds->spill, &which,
                                      &e);
    if (rc == FCS_OK) {
        ds->spill_kw = which;
        return FCS_OK;
    }
    ds->spill = NULL;
    if (rc == FCS_ENOTFOUND) return FCS_OK;
    if (rc == FCS_ENOMEM) return rerr(r, FCS_ENOMEM, "out of memory parsing the spillover");
    return warn(r, ds, "spillover-unparseable: %s; spillover treated as absent",
                e.msg[0] ? e.msg : fcs_strerror(rc));
}

/* ---- data set chain -------------------------------------------------------------------- */

static int parse_nextdata(fcs_reader *r, fcs_dataset *ds)
{
    const char *v = kw(ds, "$NEXTDATA");
    int64_t nd = 0;
    ds->next_abs = 0;
    if (!v || is_blank_str(v)) return FCS_OK;
    if (fcs_parse_i64(v, &nd) != 0) return rerr(r, FCS_EFORMAT, "$NEXTDATA '%s' is not a number", v);
    if (nd < 0) return rerr(r, FCS_EFORMAT, "$NEXTDATA %lld is negative", (long long)nd);
    if (nd == 0) return FCS_OK;
    if (fcs_add_ok(ds->offset, (uint64_t)nd, &ds->next_abs) != 0)
        return rerr(r, FCS_EFORMAT, "$NEXTDATA %lld overflows", (long long)nd);
    return FCS_OK;
}

/* Whether data set 0 of a sequential input can be read forward only. */
static int needs_random_access(const fcs_dataset *ds)
{
    if (ds->next_abs) return 1;
    uint64_t tb = 0, te = 0, db = ds->offset + ds->hdr.data_begin;
    if (ds->hdr.data_zero || ds->hdr.major < 3) {
        if (offset_kw(ds, "$BEGINDATA", &tb) == 1) db = ds->offset + tb;
    } else if (offset_kw(ds, "$BEGINDATA", &tb) == 1 && offset_kw(ds, "$ENDDATA", &te) == 1 &&
               !(tb == 0 && te == 0) &&
               (tb != ds->hdr.data_begin || te != ds->hdr.data_end)) {
        return 1; /* arbitration needs the file size */
    }
    /* Metadata far from the start would have to be buffered in memory. */
    if (ds->stext_end > STREAM_METADATA_MAX) return 1;
    return ds->stext_end && ds->stext_begin >= db;
}

static int load_dataset(fcs_reader *r, fcs_dataset *ds)
{
    fcs_text_quirks q;
    memset(&q, 0, sizeof q);
    int rc = load_header(r, ds);
    if (!rc) rc = parse_segment(r, ds, ds->text_begin, ds->text_end, &q, "TEXT");
    if (!rc) rc = parse_nextdata(r, ds);
    if (!rc) rc = locate_stext(r, ds);
    if (!rc && !fcs_source_seekable(r->src) && needs_random_access(ds)) {
        fcs_error e;
        rc = fcs_source_spill(r->src, &e);
        if (rc) rc = from_err(r, &e);
    }
    if (!rc) rc = read_stext(r, ds, &q);
    if (!rc) rc = text_warnings(r, ds, &q);
    if (!rc) rc = parse_mode_type(r, ds);
    if (!rc) rc = parse_params(r, ds);
    if (!rc) rc = parse_timestep(r, ds);
    if (!rc) rc = resolve_data(r, ds);
    if (!rc) rc = check_crc(r, ds);
    if (!rc) rc = load_spillover(r, ds);
    if (!rc) build_scales(ds);
    return rc;
}

/* The next data set must start after everything of the current one: this
 * rules out loops and overlapping chains. */
static int check_next(fcs_reader *r, const fcs_dataset *ds, int *stop)
{
    uint64_t n = ds->next_abs, size, end = ds->text_end;
    *stop = 0;
    if (ds->stext_end > end) end = ds->stext_end;
    if (ds->data_len && ds->data_begin + ds->data_len - 1 > end)
        end = ds->data_begin + ds->data_len - 1;
    if (n <= end)
        return rerr(r, FCS_EFORMAT, "$NEXTDATA points to byte %llu, inside this data set "
                    "(bytes %llu-%llu): loop or overlap", (unsigned long long)n,
                    (unsigned long long)ds->offset, (unsigned long long)end);
    if (file_size(r, &size) && n + FCS_HEADER_LEN > size) {
        if (r->opts.metadata_only) {
            *stop = 1;
            return FCS_OK;
        }
        return rerr(r, FCS_ETRUNCATED, "$NEXTDATA points to byte %llu, beyond the end of the file "
                    "(%llu bytes)", (unsigned long long)n, (unsigned long long)size);
    }
    return FCS_OK;
}

static int add_dataset(fcs_reader *r, uint64_t offset, fcs_dataset **out)
{
    if (r->n_ds == r->cap_ds) {
        size_t cap = r->cap_ds ? r->cap_ds * 2 : 2;
        fcs_dataset *d = realloc(r->ds, cap * sizeof *d);
        if (!d) return rerr(r, FCS_ENOMEM, "out of memory");
        r->ds = d;
        r->cap_ds = cap;
    }
    fcs_dataset *ds = &r->ds[r->n_ds++];
    memset(ds, 0, sizeof *ds);
    ds->offset = offset;
    *out = ds;
    return FCS_OK;
}

static int load_all(fcs_reader *r)
{
    uint64_t off = 0;
    for (;;) {
        fcs_dataset *ds = NULL;
        r->err_ds = r->n_ds;
        int rc = add_dataset(r, off, &ds);
        if (!rc) rc = load_dataset(r, ds);
        if (rc) return rc;
        if (!ds->next_abs) break;
        int stop;
        rc = check_next(r, ds, &stop);
        if (rc) return rc;
        if (stop) {
            rc = warn(r, ds, "data-truncated: $NEXTDATA points beyond the end of the file; "
                      "later data sets are missing");
            if (rc) return rc;
            break;
        }
        off = ds->next_abs;
    }
    r->cur = 0;
    r->err_ds = 0;
    r->ascii_pos = r->ds[0].data_begin;
    return FCS_OK;
}

/* ---- opening ---------------------------------------------------------------------------- */

static int reader_new(fcs_reader **out, const char *name, const fcs_read_opts *opts)
{
    fcs_reader *r = calloc(1, sizeof *r);
    if (!r) return FCS_ENOMEM;
    if (opts) r->opts = *opts;
    else fcs_read_opts_init(&r->opts);
    r->name = fcs_strdup(name);
    if (!r->name) {
        free(r);
        return FCS_ENOMEM;
    }
    *out = r;
    return FCS_OK;
}

static int finish_open(fcs_reader **out, fcs_reader *r, fcs_error *err)
{
    int rc = load_all(r);
    if (rc) {
        fcs_error_set(err, rc, "%s", r->errmsg);
        fcs_close(r);
        return rc;
    }
    fcs_error_clear(err);
    *out = r;
    return FCS_OK;
}

int fcs_open(fcs_reader **out, const char *path, const fcs_read_opts *opts, fcs_error *err)
{
    if (out) *out = NULL;
    if (!out || !path) return fcs_error_set(err, FCS_EINVAL, "fcs_open: NULL argument");
    const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
    fcs_reader *r;
    if (reader_new(&r, name, opts) != FCS_OK)
        return fcs_error_set(err, FCS_ENOMEM, "%s: out of memory", name);
    fcs_error e;
    int rc = fcs_source_open_path(&r->src, path, r->opts.no_mmap, &e);
    if (rc) {
        fcs_error_set(err, rc, "%s: %s", name, e.msg);
        fcs_close(r);
        return rc;
    }
    return finish_open(out, r, err);
}

int fcs_open_mem(fcs_reader **out, const void *data, size_t len, const char *name,
                 const fcs_read_opts *opts, fcs_error *err)
{
    if (out) *out = NULL;
    if (!out || (!data && len)) return fcs_error_set(err, FCS_EINVAL, "fcs_open_mem: NULL argument");
    if (!name) name = "<memory>";
    fcs_reader *r;
    if (reader_new(&r, name, opts) != FCS_OK)
        return fcs_error_set(err, FCS_ENOMEM, "%s: out of memory", name);
    fcs_error e;
    int rc = fcs_source_open_mem(&r->src, data ? data : "", len, r->opts.no_mmap, &e);
    if (rc) {
        fcs_error_set(err, rc, "%s: %s", name, e.msg);
        fcs_close(r);
        return rc;
    }
    return finish_open(out, r, err);
}

/* ---- queries -------------------------------------------------------------------------- */

static const fcs_dataset *cur(const fcs_reader *r) { return &r->ds[r->cur]; }

const char *fcs_errmsg(const fcs_reader *r) { return r ? r->errmsg : ""; }
const char *fcs_name(const fcs_reader *r) { return r->name; }
size_t fcs_n_datasets(const fcs_reader *r) { return r->n_ds; }
size_t fcs_dataset_index(const fcs_reader *r) { return r->cur; }
uint64_t fcs_dataset_offset(const fcs_reader *r) { return cur(r)->offset; }
const char *fcs_version(const fcs_reader *r) { return cur(r)->hdr.version; }
int64_t fcs_n_events(const fcs_reader *r) { return cur(r)->tot; }
size_t fcs_n_params(const fcs_reader *r) { return cur(r)->par; }
char fcs_datatype(const fcs_reader *r) { return cur(r)->datatype; }
const char *fcs_byteord(const fcs_reader *r) { return cur(r)->byteord; }
char fcs_mode(const fcs_reader *r) { return cur(r)->mode; }
double fcs_timestep(const fcs_reader *r) { return cur(r)->timestep; }
int fcs_is_seekable(const fcs_reader *r) { return fcs_source_seekable(r->src); }

void fcs_data_segment(const fcs_reader *r, uint64_t *begin, uint64_t *end, const char **from)
{
    const fcs_dataset *ds = cur(r);
    if (begin) *begin = ds->data_begin;
    if (end) *end = ds->data_end;
    if (from) *from = ds->data_from ? ds->data_from : "HEADER";
}

size_t fcs_n_keywords(const fcs_reader *r) { return cur(r)->kw.n; }

const char *fcs_keyword_name(const fcs_reader *r, size_t i)
{
    return i < cur(r)->kw.n ? cur(r)->kw.items[i].name : NULL;
}

const char *fcs_keyword_value(const fcs_reader *r, size_t i)
{
    return i < cur(r)->kw.n ? cur(r)->kw.items[i].value : NULL;
}

const char *fcs_keyword(const fcs_reader *r, const char *name)
{
    return name ? kw(cur(r), name) : NULL;
}

const fcs_param *fcs_param_info(const fcs_reader *r, size_t i)
{
    return i < cur(r)->par ? &cur(r)->params[i] : NULL;
}

int fcs_param_index(const fcs_reader *r, const char *name, int by_label)
{
    const fcs_dataset *ds = cur(r);
    if (!name) return -1;
    for (int pass = 0; pass < (by_label ? 4 : 2); pass++) {
        for (size_t j = 0; j < ds->par; j++) {
            const char *s = pass < 2 ? ds->params[j].name : ds->params[j].label;
            if (!s) continue;
            if ((pass % 2 == 0) ? strcmp(s, name) == 0 : fcs_strcasecmp(s, name) == 0)
                return (int)j;
        }
    }
    return -1;
}

const fcs_matrix *fcs_spillover(const fcs_reader *r, const char **keyword)
{
    const fcs_dataset *ds = cur(r);
    if (keyword) *keyword = ds->spill ? ds->spill_kw : NULL;
    return ds->spill;
}

size_t fcs_n_warnings(const fcs_reader *r) { return cur(r)->n_warn; }

const char *fcs_warning(const fcs_reader *r, size_t i)
{
    return i < cur(r)->n_warn ? cur(r)->warn[i] : NULL;
}

/* ---- selecting and rewinding -------------------------------------------------------------- */

int fcs_select_dataset(fcs_reader *r, size_t index)
{
    if (index >= r->n_ds)
        return rerr(r, FCS_ERANGE, "no data set %zu (the file has %zu)", index, r->n_ds);
    if (!fcs_source_seekable(r->src) && r->consumed)
        return rerr(r, FCS_EUNSUPPORTED, "cannot go back in a sequential input (pipe or gzip)");
    r->cur = index;
    r->next_event = 0;
    r->ascii_pos = r->ds[index].data_begin;
    return FCS_OK;
}

int fcs_rewind(fcs_reader *r)
{
    return fcs_select_dataset(r, r->cur);
}

/* ---- reading events ---------------------------------------------------------------------- */

static int ensure_scratch(fcs_reader *r, size_t n)
{
    if (r->scratch_cap >= n) return FCS_OK;
    double *s = realloc(r->scratch, n * sizeof *s);
    if (!s) return rerr(r, FCS_ENOMEM, "out of memory");
    r->scratch = s;
    r->scratch_cap = n;
    return FCS_OK;
}

/* Sequential inputs learn whether the CRC field exists only at the end. */
static int finish_events(fcs_reader *r, fcs_dataset *ds)
{
    if (!ds->crc_pending) return FCS_OK;
    ds->crc_pending = 0;
    const uint8_t *p;
    size_t got;
    fcs_error e;
    int rc = fcs_source_view(r->src, ds->data_begin + ds->data_len, 8, &p, &got, &e);
    if (rc) return from_err(r, &e);
    if (got == 8) return FCS_OK;
    return warn(r, ds, "missing-crc: no 8-byte CRC field after the DATA segment (FCS 3.x); "
                "not checked");
}

/* Next delimited-ASCII token as a number. */
static int ascii_next(fcs_reader *r, fcs_dataset *ds, double *v)
{
    uint64_t end = ds->data_begin + ds->data_len;
    for (;;) {
        if (r->ascii_pos >= end) break;
        uint64_t left = end - r->ascii_pos;
        const uint8_t *p;
        size_t got, i = 0, j;
        fcs_error e;
        int rc = fcs_source_view(r->src, r->ascii_pos, left < 256 ? (size_t)left : 256, &p, &got, &e);
        if (rc) return from_err(r, &e);
        if (got == 0) break;
        while (i < got && (p[i] == ' ' || p[i] == '\t' || p[i] == ',' || p[i] == '\r' ||
                           p[i] == '\n'))
            i++;
        if (i == got) {
            r->ascii_pos += got;
            continue;
        }
        for (j = i; j < got; j++)
            if (p[j] == ' ' || p[j] == '\t' || p[j] == ',' || p[j] == '\r' || p[j] == '\n') break;
        if (j == got && r->ascii_pos + got < end) {
            if (i == 0) return rerr(r, FCS_EFORMAT, "ASCII value at byte %llu is too long",
                                    (unsigned long long)r->ascii_pos);
            r->ascii_pos += i; /* re-view from the token's start */
            continue;
        }
        if (fcs_parse_ascii_value(p + i, j - i, v) != 0)
            return rerr(r, FCS_EFORMAT, "ASCII value '%.*s' at byte %llu is not a number",
                        (int)(j - i), (const char *)p + i, (unsigned long long)(r->ascii_pos + i));
        r->ascii_pos += j;
        return FCS_OK;
    }
    return rerr(r, FCS_ETRUNCATED, "DATA segment holds fewer values than $TOT x $PAR");
}

static int read_delimited(fcs_reader *r, fcs_dataset *ds, void *buf, size_t n, size_t ld,
                          int columns, int f32, const fcs_scale *sc)
{
    size_t np = ds->par;
    int rc = ensure_scratch(r, np);
    for (size_t i = 0; i < n && rc == FCS_OK; i++) {
        for (size_t j = 0; j < np && rc == FCS_OK; j++) rc = ascii_next(r, ds, &r->scratch[j]);
        if (rc) break;
        if (sc) fcs_scale_f64(sc, np, r->scratch, 1, 1, 0, 0);
        for (size_t j = 0; j < np; j++) {
            size_t at = columns ? j * ld + i : i * np + j;
            if (f32) ((float *)buf)[at] = (float)r->scratch[j];
            else ((double *)buf)[at] = r->scratch[j];
        }
    }
    return rc;
}

static int decode_chunk(fcs_reader *r, fcs_dataset *ds, const uint8_t *p, size_t k, void *buf,
                        size_t ld, int columns, size_t row0, int f32, const fcs_scale *sc)
{
    size_t be = 0, bc = 0, np = ds->par;
    int bad = 0;
    if (!f32) {
        bad = fcs_decode_f64(&ds->layout, p, k, buf, ld, columns, row0, &be, &bc);
        if (!bad && sc) fcs_scale_f64(sc, np, buf, k, ld, columns, row0);
    } else if (!sc) {
        bad = fcs_decode_f32(&ds->layout, p, k, buf, ld, columns, row0, &be, &bc);
    } else {
        int rc = ensure_scratch(r, SCRATCH_EVENTS * np);
        if (rc) return rc;
        for (size_t s = 0; s < k && !bad; s += SCRATCH_EVENTS) {
            size_t m = k - s < SCRATCH_EVENTS ? k - s : SCRATCH_EVENTS;
            bad = fcs_decode_f64(&ds->layout, p + s * ds->layout.event_bytes, m, r->scratch, 0, 0,
                                 0, &be, &bc);
            if (bad) {
                be += s;
                break;
            }
            fcs_scale_f64(sc, np, r->scratch, m, 0, 0, 0);
            fcs_rows_to_f32(r->scratch, np, m, buf, ld, columns, row0 + s);
        }
    }
    if (bad)
        return rerr(r, FCS_EFORMAT, "event %lld, parameter %zu: ASCII value is not a number",
                    (long long)(r->next_event + (int64_t)(row0 + be)), bc + 1);
    return FCS_OK;
}

static int64_t read_events(fcs_reader *r, void *buf, size_t max_events, unsigned flags, int f32)
{
    fcs_dataset *ds = &r->ds[r->cur];
    r->err_ds = r->cur;
    if (ds->data_unreadable)
        return rerr(r, FCS_ETRUNCATED, "DATA segment lies beyond the end of the file; events "
                    "cannot be read (opened metadata-only)");
    int64_t left = ds->tot - r->next_event;
    if (left <= 0) return finish_events(r, ds);
    size_t n = (uint64_t)left < max_events ? (size_t)left : max_events;
    if (n == 0) return 0;
    if (!buf) return rerr(r, FCS_EINVAL, "NULL event buffer");
    int columns = (flags & FCS_VALUES_COLUMNS) != 0;
    const fcs_scale *sc = NULL;
    if (flags & FCS_VALUES_SCALED) {
        int t = (flags & FCS_VALUES_TIME_SECONDS) != 0;
        if (!(t ? ds->time_noop : ds->scaled_noop)) sc = t ? ds->sc_time : ds->sc_scaled;
    }
    int rc = FCS_OK;
    if (ds->delimited) {
        rc = read_delimited(r, ds, buf, n, max_events, columns, f32, sc);
    } else {
        size_t eb = ds->layout.event_bytes;
        size_t per = VIEW_CHUNK / eb ? VIEW_CHUNK / eb : 1;
        for (size_t done = 0; done < n && rc == FCS_OK;) {
            size_t k = n - done < per ? n - done : per;
            uint64_t off = ds->data_begin + (uint64_t)(r->next_event + (int64_t)done) * eb;
            const uint8_t *p;
            size_t got;
            fcs_error e;
            rc = fcs_source_view(r->src, off, k * eb, &p, &got, &e);
            if (rc) {
                rc = from_err(r, &e);
                break;
            }
            if (got < k * eb) {
                rc = rerr(r, FCS_ETRUNCATED, "input ends inside the DATA segment, after %lld of "
                          "%lld events", (long long)(r->next_event + (int64_t)(done + got / eb)),
                          (long long)ds->tot);
                break;
            }
            rc = decode_chunk(r, ds, p, k, buf, max_events, columns, done, f32, sc);
            done += k;
        }
    }
    if (!fcs_source_seekable(r->src)) r->consumed = 1;
    if (rc) return rc;
    r->next_event += (int64_t)n;
    return (int64_t)n;
}

int64_t fcs_read_events(fcs_reader *r, double *buf, size_t max_events, unsigned flags)
{
    return read_events(r, buf, max_events, flags, 0);
}

int64_t fcs_read_events_f32(fcs_reader *r, float *buf, size_t max_events, unsigned flags)
{
    return read_events(r, buf, max_events, flags, 1);
}
