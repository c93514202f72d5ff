/*
 * text.c — FCS HEADER and TEXT parsing.
 *
 * TEXT rules follow the corpus README ("Rules used"), which documents what
 * real instruments write: CellQuest/Attune/Partec write empty values as
 * KEY//NEXTKEY, Partec pads keyword names with blanks, Cytek NL-2000 omits
 * the final delimiter, Accuri ends the TEXT with a doubled delimiter.
 */
#include "text.h"

#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- HEADER ------------------------------------------------------------- */

/* One right-justified ASCII offset field of 8 bytes; blanks mean 0. */
static int header_field(const uint8_t *p, uint64_t *out, int *blank)
{
    size_t a = 0, b = 8;
    while (a < b && p[a] == ' ') a++;
    while (b > a && p[b - 1] == ' ') b--;
    uint64_t v = 0;
    for (size_t i = a; i < b; i++) {
        if (p[i] < '0' || p[i] > '9') return -1;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    *out = v;
    *blank = (a == b);
    return 0;
}

int fcs_header_parse(const uint8_t *p, size_t n, fcs_header *h, fcs_error *err)
{
    memset(h, 0, sizeof *h);
    if (n < 6 || memcmp(p, "FCS", 3) != 0)
        return fcs_error_set(err, FCS_EFORMAT, "not an FCS file (no \"FCS\" signature)");
    if (p[3] < '0' || p[3] > '9' || p[4] != '.' || p[5] < '0' || p[5] > '9')
        return fcs_error_set(err, FCS_EFORMAT, "not an FCS file (bad version \"%.6s\")",
                             (const char *)p);
    memcpy(h->version, p, 6);
    h->version[6] = '\0';
    h->major = p[3] - '0';
    h->minor = p[5] - '0';
    if (h->major < 2 || h->major > 3 || (h->major == 2 && h->minor != 0) ||
        (h->major == 3 && h->minor > 2))
        return fcs_error_set(err, FCS_EUNSUPPORTED, "%s is not supported (FCS 2.0 to 3.2 are)",
                             h->version);
    if (n < FCS_HEADER_LEN)
        return fcs_error_set(err, FCS_ETRUNCATED,
                             "file too short for an FCS HEADER (%zu of 58 bytes)", n);
    static const char *const names[6] = {"TEXT begin", "TEXT end",     "DATA begin",
                                         "DATA end",   "ANALYSIS begin", "ANALYSIS end"};
    uint64_t v[6];
    int blank[6];
    for (int i = 0; i < 6; i++) {
        if (header_field(p + 10 + 8 * i, &v[i], &blank[i]) != 0)
            return fcs_error_set(err, FCS_EFORMAT, "HEADER field %s (bytes %d-%d) is not a number",
                                 names[i], 10 + 8 * i, 17 + 8 * i);
    }
    h->text_begin = v[0];
    h->text_end = v[1];
    h->data_begin = v[2];
    h->data_end = v[3];
    h->anal_begin = v[4];
    h->anal_end = v[5];
    h->data_zero = (v[2] == 0 && v[3] == 0);
    if (blank[0] || blank[1] || h->text_begin < FCS_HEADER_LEN || h->text_end < h->text_begin)
        return fcs_error_set(err, FCS_EFORMAT,
                             "HEADER TEXT offsets %llu-%llu are invalid",
                             (unsigned long long)h->text_begin, (unsigned long long)h->text_end);
    return FCS_OK;
}

/* ---- keyword list ----------------------------------------------------------- */

static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) {
        unsigned c = (unsigned char)*s;
        if (c >= 'A' && c <= 'Z') c += 32;
        h = (h ^ c) * 16777619u;
    }
    return h;
}

void fcs_kwlist_free(fcs_kwlist *kw)
{
    if (!kw) return;
    for (size_t i = 0; i < kw->n; i++) {
        free(kw->items[i].name);
        free(kw->items[i].value);
    }
    free(kw->items);
    free(kw->slots);
    memset(kw, 0, sizeof *kw);
}

long fcs_kwlist_find(const fcs_kwlist *kw, const char *name)
{
    if (!kw->nslots) return -1;
    size_t mask = kw->nslots - 1;
    for (size_t i = name_hash(name) & mask;; i = (i + 1) & mask) {
        uint32_t s = kw->slots[i];
        if (!s) return -1;
        if (fcs_strcasecmp(kw->items[s - 1].name, name) == 0) return (long)(s - 1);
    }
}

const char *fcs_kwlist_get(const fcs_kwlist *kw, const char *name)
{
    long i = fcs_kwlist_find(kw, name);
    return i < 0 ? NULL : kw->items[i].value;
}

static void slots_insert(uint32_t *slots, size_t nslots, const char *name, uint32_t v)
{
    size_t mask = nslots - 1;
    size_t i = name_hash(name) & mask;
    while (slots[i]) i = (i + 1) & mask;
    slots[i] = v;
}

/* Keep the table at most half full so probes stay short. */
static int kwlist_grow(fcs_kwlist *kw)
{
    if (kw->n == kw->cap) {
        size_t cap = kw->cap ? kw->cap * 2 : 64;
        fcs_kw *it = realloc(kw->items, cap * sizeof *it);
        if (!it) return FCS_ENOMEM;
        kw->items = it;
        kw->cap = cap;
    }
    if ((kw->n + 1) * 2 > kw->nslots) {
        size_t ns = kw->nslots ? kw->nslots * 2 : 128;
        uint32_t *sl = calloc(ns, sizeof *sl);
        if (!sl) return FCS_ENOMEM;
        for (size_t i = 0; i < kw->n; i++) slots_insert(sl, ns, kw->items[i].name, (uint32_t)i + 1);
        free(kw->slots);
        kw->slots = sl;
        kw->nslots = ns;
    }
    return FCS_OK;
}

int fcs_kwlist_add(fcs_kwlist *kw, const char *name, size_t name_len, const char *value,
                   size_t value_len)
{
    char *n = fcs_strndup(name, name_len);
    if (!n) return FCS_ENOMEM;
    if (fcs_kwlist_find(kw, n) >= 0) {
        free(n);
        return 0;
    }
    char *v = fcs_strndup(value, value_len);
    if (!v || kwlist_grow(kw) != FCS_OK) {
        free(n);
        free(v);
        return FCS_ENOMEM;
    }
    kw->items[kw->n].name = n;
    kw->items[kw->n].value = v;
    kw->n++;
    slots_insert(kw->slots, kw->nslots, n, (uint32_t)kw->n);
    return 1;
}

/* ---- TEXT ------------------------------------------------------------------ */

static int is_blank(uint8_t c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static void note_first(char *dst, const uint8_t *s, size_t n)
{
    if (dst[0]) return;
    if (n > 63) n = 63;
    memcpy(dst, s, n);
    dst[n] = '\0';
    if (!dst[0]) strcpy(dst, "?");
}

/* Parser state: the segment, the cursor and a scratch buffer for unescaped values. */
typedef struct text_cursor {
    const uint8_t *s;
    size_t len, pos;
    uint8_t d;
    char *val;
    size_t val_len;
} text_cursor;

/* Read a keyword name up to the next delimiter. *empty_value is set when the
 * name ends with a doubled delimiter (KEY//). Returns 0 at end of segment
 * without a delimiter (dangling keyword). */
static int read_key(text_cursor *c, size_t *a, size_t *b, int *empty_value)
{
    size_t start = c->pos;
    *empty_value = 0;
    while (c->pos < c->len && c->s[c->pos] != c->d) c->pos++;
    *a = start;
    *b = c->pos;
    if (c->pos >= c->len) return 0;
    c->pos++; /* the delimiter */
    if (c->pos < c->len && c->s[c->pos] == c->d) {
        *empty_value = 1;
        c->pos++;
    }
    return 1;
}

/* Read a value into c->val, making doubled delimiters single. Returns 1 when
 * the value ended with a delimiter, 0 when it ran to the end of the segment. */
static int read_value(text_cursor *c)
{
    c->val_len = 0;
    while (c->pos < c->len) {
        uint8_t ch = c->s[c->pos];
        if (ch != c->d) {
            c->val[c->val_len++] = (char)ch;
            c->pos++;
            continue;
        }
        /* A doubled delimiter as the segment's last two bytes ends the
         * value: Accuri writes "...value//" at the end of its TEXT. */
        if (c->pos + 1 < c->len && c->s[c->pos + 1] == c->d && c->pos + 2 < c->len) {
            c->val[c->val_len++] = (char)ch;
            c->pos += 2;
            continue;
        }
        c->pos += (c->pos + 1 < c->len && c->s[c->pos + 1] == c->d) ? 2 : 1;
        return 1;
    }
    return 0;
}

static int add_pair(fcs_kwlist *kw, fcs_text_quirks *q, const uint8_t *k, size_t ka, size_t kb,
                    const char *v, size_t vlen)
{
    size_t ta = ka, tb = kb;
    while (ta < tb && is_blank(k[ta])) ta++;
    while (tb > ta && is_blank(k[tb - 1])) tb--;
    if (ta == tb) return FCS_OK; /* no name: nothing to store */
    if (ta != ka || tb != kb) {
        q->n_blank_keys++;
        note_first(q->first_blank, k + ta, tb - ta);
    }
    char *name = fcs_strndup((const char *)k + ta, tb - ta);
    if (!name) return FCS_ENOMEM;
    long old = fcs_kwlist_find(kw, name);
    if (old >= 0) {
        const char *first = kw->items[old].value;
        q->n_duplicates++;
        if (strlen(first) != vlen || memcmp(first, v, vlen) != 0) q->n_dup_differ++;
        note_first(q->first_dup, k + ta, tb - ta);
        free(name);
        return FCS_OK;
    }
    int rc = fcs_kwlist_add(kw, name, tb - ta, v, vlen);
    free(name);
    if (rc < 0) return rc;
    return FCS_OK;
}

int fcs_text_parse(const uint8_t *seg, size_t len, fcs_kwlist *kw, fcs_text_quirks *q,
                   fcs_error *err)
{
    if (len < 2) return fcs_error_set(err, FCS_EFORMAT, "TEXT segment is empty");
    text_cursor c = {seg, len, 1, seg[0], NULL, 0};
    c.val = malloc(len);
    if (!c.val) return fcs_error_set(err, FCS_ENOMEM, "out of memory reading TEXT");
    int rc = FCS_OK;
    while (c.pos < c.len && rc == FCS_OK) {
        size_t ka, kb;
        int empty;
        if (!read_key(&c, &ka, &kb, &empty)) {
            size_t a = ka, b = kb;
            while (a < b && is_blank(seg[a])) a++;
            while (b > a && is_blank(seg[b - 1])) b--;
            if (a < b) { /* trailing blanks are padding; anything else is a lost keyword */
                q->n_dangling++;
                note_first(q->first_dangling, seg + a, b - a);
            }
            break;
        }
        if (empty) {
            q->n_empty_values++;
            note_first(q->first_empty, seg + ka, kb - ka);
            rc = add_pair(kw, q, seg, ka, kb, "", 0);
            continue;
        }
        if (!read_value(&c)) q->missing_final_delim = 1;
        rc = add_pair(kw, q, seg, ka, kb, c.val, c.val_len);
    }
    free(c.val);
    if (rc == FCS_ENOMEM) return fcs_error_set(err, FCS_ENOMEM, "out of memory reading TEXT");
    return rc;
}
