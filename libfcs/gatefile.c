/*
 * gatefile.c — the libfcs gate file (docs/gate-file.md): parser with
 * line:column errors, canonical writer, file I/O and conversion with
 * Gating-ML, the population tree, and the adaptation of a strategy to a
 * stream that fcs-comp / fcs-xform have already compensated / transformed.
 *
 * The parser reads one logical line (a statement; newlines inside '(' or
 * '[' continue it) into tokens, then parses the tokens by recursive
 * descent. Indentation gives the hierarchy: a stack of open blocks (gates,
 * quadrant gates, matrices) says what each statement's parent is.
 * Everything the model checks (ids, vertex counts, references) is left to
 * fcs/gate.h; its messages are prefixed with the statement's location.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fcs/gatefile.h"
#include "fcs/matrix.h"
#include "fcs/transform.h"
#include "gate_internal.h"
#include "internal.h"

/* ======================================================================
 * Small helpers: a growable string, growable arrays
 * ====================================================================== */

typedef struct sbuf {
    char *s;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_add(sbuf *b, const char *p, size_t n)
{
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + n + 1) {
            if (cap > SIZE_MAX / 2) {
                b->oom = 1;
                return;
            }
            cap *= 2;
        }
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s + b->n, p, n);
    b->n += n;
    b->s[b->n] = '\0';
}

static void sb_puts(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }
static void sb_putc(sbuf *b, char c) { sb_add(b, &c, 1); }

static void sb_spaces(sbuf *b, size_t n)
{
    while (n--) sb_putc(b, ' ');
}

/* Make room for need elements of size el in *buf (capacity *cap). */
static int grow(void **buf, size_t *cap, size_t need, size_t el)
{
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap : 8;
    while (nc < need) {
        if (nc > SIZE_MAX / 2) return -1;
        nc *= 2;
    }
    uint64_t bytes;
    if (fcs_mul_ok(nc, el, &bytes) || bytes > SIZE_MAX) return -1;
    void *p = realloc(*buf, (size_t)bytes);
    if (!p) return -1;
    *buf = p;
    *cap = nc;
    return 0;
}

/* Shortest decimal that reads back to the same double (integral values
 * below 1e15 without exponent), as the Gating-ML writer prints numbers. */
static void fmt_num(char *buf, size_t size, double v)
{
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(buf, size, "%.0f", v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) return;
    }
}

/* ======================================================================
 * Words of the format
 * ====================================================================== */

/* Bytes that end a bare word (besides blanks and control bytes). */
static int is_special(unsigned char c)
{
    return c == ',' || c == '(' || c == ')' || c == '[' || c == ']' || c == ':' || c == '=' ||
           c == '@' || c == '"' || c == '#';
}

static int is_word_byte(unsigned char c) { return c > ' ' && c != 0x7f && !is_special(c); }

/* Words with a meaning somewhere in the grammar; names equal to one are
 * written quoted, so that they never read as the keyword. */
static const char *const RESERVED[] = {
    "transform", "matrix", "inverted", "of",   "ratio", "rectangle", "range",     "polygon",
    "ellipsoid", "quadrant", "and",    "or",   "not",   "mean",      "covariance", "distance2"};

static int is_reserved(const char *w)
{
    for (size_t i = 0; i < sizeof RESERVED / sizeof *RESERVED; i++)
        if (strcmp(w, RESERVED[i]) == 0) return 1;
    return 0;
}

/* Whether w is the name of a transform kind (or an alias) of fcs/transform.h. */
static int is_transform_kind(const char *w)
{
    if (fcs_strcasecmp(w, "lin") == 0 || fcs_strcasecmp(w, "arcsinh") == 0) return 1;
    for (int k = FCS_TRANSFORM_LINEAR; k <= FCS_TRANSFORM_BIEX; k++)
        if (fcs_strcasecmp(w, fcs_transform_kind_name((fcs_transform_kind)k)) == 0) return 1;
    return 0;
}

/* A name as the writer spells it: bare when it is one word that cannot be
 * mistaken for anything else, else quoted with \" \\ \n \t \r \xHH. */
static void sb_name(sbuf *b, const char *name)
{
    int bare = *name != '\0' && *name != '<' && !is_reserved(name);
    for (const unsigned char *p = (const unsigned char *)name; bare && *p; p++)
        bare = is_word_byte(*p);
    if (bare) {
        sb_puts(b, name);
        return;
    }
    sb_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\', esc[1] = (char)*p, esc[2] = 0;
        } else if (*p == '\n') {
            strcpy(esc, "\\n");
        } else if (*p == '\t') {
            strcpy(esc, "\\t");
        } else if (*p == '\r') {
            strcpy(esc, "\\r");
        } else if (*p < ' ' || *p == 0x7f) {
            snprintf(esc, sizeof esc, "\\x%02x", *p);
        } else {
            esc[0] = (char)*p, esc[1] = 0;
        }
        sb_puts(b, esc);
    }
    sb_putc(b, '"');
}

static void sb_num(sbuf *b, double v)
{
    char buf[40];
    fmt_num(buf, sizeof buf, v);
    sb_puts(b, buf);
}

/* ======================================================================
 * Tokens
 * ====================================================================== */

typedef enum tok_kind { T_END, T_WORD, T_STR, T_PUNCT } tok_kind;

typedef struct tok {
    tok_kind kind;
    char punct;   /* T_PUNCT: the character */
    int line, col;
    char *text;   /* T_WORD, T_STR: decoded, NUL-terminated (owned) */
} tok;

/* Open blocks: what a more indented statement belongs to. */
typedef enum level_kind { LV_POP, LV_QUADGATE, LV_MATRIX } level_kind;

/* A matrix being read: the header line and the rows below it. */
typedef struct pmatrix {
    char *id;
    int inverted;
    char **cols;
    size_t n_cols;
    char **rows;
    double *values; /* n_rows x n_cols */
    size_t n_rows, cap_rows;
    int line, col;
} pmatrix;

typedef struct level {
    int indent;       /* columns of blanks before the statement */
    int child_indent; /* of its children: -1 until the first one */
    level_kind kind;
    char *id;         /* population or quadrant gate id */
    pmatrix *m;       /* LV_MATRIX */
} level;

typedef struct gline {
    int line, col;
} gline;

typedef struct parser {
    const char *src;
    size_t len, pos;
    int line;          /* of src[pos] */
    size_t line_start; /* offset of the current line */
    const char *name;
    fcs_error *err;
    fcs_strategy *s;
    tok *toks;
    size_t n_toks, cap_toks, cur;
    level *lv;
    size_t n_lv, cap_lv;
    gline *gl; /* where each gate was defined, for reference errors */
    size_t n_gl, cap_gl;
} parser;

static int perr_at(parser *p, int line, int col, int code, const char *fmt, ...) FCS_PRINTF(5, 6);
static int perr_at(parser *p, int line, int col, int code, const char *fmt, ...)
{
    char msg[FCS_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (col > 0) return fcs_error_set(p->err, code, "%s:%d:%d: %s", p->name, line, col, msg);
    return fcs_error_set(p->err, code, "%s:%d: %s", p->name, line, msg);
}

static int col_here(const parser *p) { return (int)(p->pos - p->line_start) + 1; }

static int nomem(parser *p) { return fcs_error_set(p->err, FCS_ENOMEM, "%s: out of memory", p->name); }

static void free_tokens(parser *p)
{
    for (size_t i = 0; i < p->n_toks; i++) free(p->toks[i].text);
    p->n_toks = 0;
    p->cur = 0;
}

static tok *push_tok(parser *p, tok_kind kind, int line, int col)
{
    if (grow((void **)&p->toks, &p->cap_toks, p->n_toks + 1, sizeof(tok))) return NULL;
    tok *t = &p->toks[p->n_toks++];
    memset(t, 0, sizeof *t);
    t->kind = kind;
    t->line = line;
    t->col = col;
    return t;
}

static void newline(parser *p)
{
    p->pos++;
    p->line++;
    p->line_start = p->pos;
}

/* Length of the valid UTF-8 sequence at s (1..4), 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t cp;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) n = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef) n = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4) n = 4, cp = c & 0x07;
    else return 0;
    if (avail < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* Bytes the format never contains outside comments: NUL, control bytes,
 * invalid UTF-8 (names go into Gating-ML, which is UTF-8). */
static int check_byte(parser *p)
{
    const unsigned char *u = (const unsigned char *)p->src + p->pos;
    if (*u == 0) return perr_at(p, p->line, col_here(p), FCS_EFORMAT, "NUL byte");
    if ((*u < ' ' && *u != '\t' && *u != '\r' && *u != '\n') || *u == 0x7f)
        return perr_at(p, p->line, col_here(p), FCS_EFORMAT, "control byte 0x%02x", *u);
    if (*u >= 0x80 && utf8_len(u, p->len - p->pos) == 0)
        return perr_at(p, p->line, col_here(p), FCS_EFORMAT,
                       "invalid UTF-8 byte 0x%02x (gate files are UTF-8)", *u);
    return FCS_OK;
}

static int lex_word(parser *p)
{
    size_t start = p->pos;
    int col = col_here(p);
    while (p->pos < p->len && is_word_byte((unsigned char)p->src[p->pos])) {
        int rc = check_byte(p);
        if (rc) return rc;
        p->pos += utf8_len((const unsigned char *)p->src + p->pos, p->len - p->pos);
    }
    tok *t = push_tok(p, T_WORD, p->line, col);
    if (!t || !(t->text = fcs_strndup(p->src + start, p->pos - start))) return nomem(p);
    return FCS_OK;
}

/* One escape after '\' in a quoted name; appends the byte to b. */
static int lex_escape(parser *p, sbuf *b)
{
    int col = col_here(p);
    if (p->pos + 1 >= p->len) return perr_at(p, p->line, col, FCS_EFORMAT, "unterminated name");
    char c = p->src[p->pos + 1];
    p->pos += 2;
    switch (c) {
    case '"':
    case '\\': sb_putc(b, c); return FCS_OK;
    case 'n': sb_putc(b, '\n'); return FCS_OK;
    case 't': sb_putc(b, '\t'); return FCS_OK;
    case 'r': sb_putc(b, '\r'); return FCS_OK;
    case 'x': {
        unsigned v = 0;
        for (int i = 0; i < 2; i++, p->pos++) {
            char h = p->pos < p->len ? p->src[p->pos] : 0;
            int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10
                                                   : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
            if (d < 0)
                return perr_at(p, p->line, col, FCS_EFORMAT, "\\x needs two hexadecimal digits");
            v = v * 16 + (unsigned)d;
        }
        if (v == 0 || v >= 0x80)
            return perr_at(p, p->line, col, FCS_EFORMAT,
                           "\\x%02x: only control bytes 01-1f and 7f are escaped this way", v);
        sb_putc(b, (char)v);
        return FCS_OK;
    }
    default:
        return perr_at(p, p->line, col, FCS_EFORMAT,
                       "unknown escape '\\%c' in a quoted name (use \\\" \\\\ \\n \\t \\r \\xHH)",
                       c >= ' ' && c < 0x7f ? c : '?');
    }
}

static int lex_string(parser *p)
{
    int line = p->line, col = col_here(p);
    sbuf b = {0};
    p->pos++; /* opening quote */
    sb_add(&b, "", 0);
    for (;;) {
        if (p->pos >= p->len || p->src[p->pos] == '\n') {
            free(b.s);
            return perr_at(p, line, col, FCS_EFORMAT, "unterminated name (no closing '\"')");
        }
        char c = p->src[p->pos];
        int rc = FCS_OK;
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c == '\\') {
            rc = lex_escape(p, &b);
        } else if ((rc = check_byte(p)) == FCS_OK) {
            size_t n = utf8_len((const unsigned char *)p->src + p->pos, p->len - p->pos);
            sb_add(&b, p->src + p->pos, n);
            p->pos += n;
        }
        if (rc) {
            free(b.s);
            return rc;
        }
    }
    if (b.oom) {
        free(b.s);
        return nomem(p);
    }
    tok *t = push_tok(p, T_STR, line, col);
    if (!t) {
        free(b.s);
        return nomem(p);
    }
    t->text = b.s;
    return FCS_OK;
}

/* Tokens of one statement, from p->pos (just after the indentation) to the
 * end of the line, continued over newlines while a bracket is open. */
static int lex_statement(parser *p)
{
    int depth = 0, open_line = 0, open_col = 0;
    free_tokens(p);
    while (p->pos < p->len) {
        unsigned char c = (unsigned char)p->src[p->pos];
        int rc = FCS_OK;
        if (c == '\n') {
            if (depth == 0) break;
            newline(p);
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\r') {
            p->pos++;
        } else if (c == '#') {
            while (p->pos < p->len && p->src[p->pos] != '\n') p->pos++;
        } else if (c == '"') {
            rc = lex_string(p);
        } else if (is_special(c)) {
            if (c == '(' || c == '[') {
                if (depth++ == 0) open_line = p->line, open_col = col_here(p);
            } else if (c == ')' || c == ']') {
                if (depth == 0)
                    return perr_at(p, p->line, col_here(p), FCS_EFORMAT, "unmatched '%c'", c);
                depth--;
            }
            tok *t = push_tok(p, T_PUNCT, p->line, col_here(p));
            if (!t) return nomem(p);
            t->punct = (char)c;
            p->pos++;
        } else if ((rc = check_byte(p)) == FCS_OK) {
            rc = lex_word(p);
        }
        if (rc) return rc;
    }
    if (depth > 0)
        return perr_at(p, open_line, open_col, FCS_EFORMAT,
                       "bracket opened here is never closed");
    tok *end = push_tok(p, T_END, p->line, col_here(p));
    return end ? FCS_OK : nomem(p);
}

/* ======================================================================
 * Token access
 * ====================================================================== */

static tok *peek(parser *p) { return &p->toks[p->cur]; }
static tok *peek2(parser *p) { return p->cur + 1 < p->n_toks ? &p->toks[p->cur + 1] : peek(p); }
static tok *take(parser *p)
{
    tok *t = &p->toks[p->cur];
    if (t->kind != T_END) p->cur++;
    return t;
}

static int is_p(const tok *t, char c) { return t->kind == T_PUNCT && t->punct == c; }
static int is_name(const tok *t) { return t->kind == T_WORD || t->kind == T_STR; }
static int is_kw(const tok *t, const char *kw) { return t->kind == T_WORD && strcmp(t->text, kw) == 0; }

/* "'x'" or "the end of the line", for messages. */
static const char *describe(const tok *t, char *buf, size_t n)
{
    if (t->kind == T_END) return "the end of the line";
    if (t->kind == T_PUNCT) snprintf(buf, n, "'%c'", t->punct);
    else snprintf(buf, n, "%s'%.60s'", t->kind == T_STR ? "name " : "", t->text);
    return buf;
}

static int unexpected(parser *p, const tok *t, const char *wanted)
{
    char b[96];
    return perr_at(p, t->line, t->col, FCS_EFORMAT, "expected %s, found %s", wanted,
                   describe(t, b, sizeof b));
}

static int expect_p(parser *p, char c, const char *wanted)
{
    const tok *t = peek(p);
    if (!is_p(t, c)) return unexpected(p, t, wanted);
    take(p);
    return FCS_OK;
}

static int take_name(parser *p, const char **out, const char *what)
{
    const tok *t = peek(p);
    if (!is_name(t)) return unexpected(p, t, what);
    take(p);
    *out = t->text;
    return FCS_OK;
}

/* A decimal number: [+-]digits[.digits][(e|E)[+-]digits], finite. */
static int is_decimal(const char *s)
{
    size_t digits = 0;
    if (*s == '+' || *s == '-') s++;
    while (*s >= '0' && *s <= '9') s++, digits++;
    if (*s == '.') {
        s++;
        while (*s >= '0' && *s <= '9') s++, digits++;
    }
    if (!digits) return 0;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-') s++;
        if (!(*s >= '0' && *s <= '9')) return 0;
        while (*s >= '0' && *s <= '9') s++;
    }
    return *s == '\0';
}

static int take_number(parser *p, double *out, const char *what)
{
    const tok *t = peek(p);
    if (t->kind != T_WORD || !is_decimal(t->text)) return unexpected(p, t, what);
    double v = strtod(t->text, NULL);
    if (!isfinite(v))
        return perr_at(p, t->line, t->col, FCS_EFORMAT, "number '%.60s' is out of range", t->text);
    take(p);
    *out = v;
    return FCS_OK;
}

/* ======================================================================
 * Transforms: declarations, references, inline definitions
 * ====================================================================== */

static long find_transform(const fcs_strategy *s, const char *id)
{
    for (size_t i = 0; i < fcs_strategy_n_transforms(s); i++) {
        const char *tid;
        if (fcs_strategy_transform(s, i, &tid, NULL, NULL, NULL) == FCS_OK && strcmp(tid, id) == 0)
            return (long)i;
    }
    return -1;
}

/* "kind(args)" from the tokens: KIND, then, when the next token is '(',
 * everything up to the matching ')' (words and punctuation, no blanks).
 * *t receives the parsed transform. */
static int parse_spec(parser *p, fcs_transform **t)
{
    const tok *kind = peek(p);
    if (kind->kind != T_WORD) return unexpected(p, kind, "a transform (e.g. logicle(T=262144))");
    take(p);
    sbuf b = {0};
    sb_puts(&b, kind->text);
    if (is_p(peek(p), '(')) {
        int depth = 0;
        do {
            const tok *a = take(p);
            if (a->kind == T_END || a->kind == T_STR) {
                free(b.s);
                return unexpected(p, a, "numbers and ')' in the transform parameters");
            }
            if (a->kind == T_PUNCT) {
                depth += a->punct == '(' ? 1 : a->punct == ')' ? -1 : 0;
                sb_putc(&b, a->punct);
            } else {
                sb_puts(&b, a->text);
            }
        } while (depth > 0);
    }
    if (b.oom) {
        free(b.s);
        return nomem(p);
    }
    fcs_error e;
    int rc = fcs_transform_parse(b.s, t, &e);
    free(b.s);
    if (rc == FCS_ENOMEM) return nomem(p);
    if (rc) return perr_at(p, kind->line, kind->col, FCS_EFORMAT, "%s", e.msg);
    return FCS_OK;
}

/* Id of an inline transform: an existing one with the same canonical text,
 * else a new one named after its kind (kind, kind_2, kind_3, ...). */
static int inline_transform(parser *p, const tok *at, fcs_transform *t, const char **id)
{
    fcs_strategy *s = p->s;
    const char *txt = fcs_transform_string(t);
    for (size_t i = 0; i < fcs_strategy_n_transforms(s); i++) {
        const fcs_transform *o;
        const char *oid;
        if (fcs_strategy_transform(s, i, &oid, &o, NULL, NULL) == FCS_OK &&
            strcmp(fcs_transform_string(o), txt) == 0) {
            *id = oid;
            return FCS_OK;
        }
    }
    const char *kind = fcs_transform_kind_name(fcs_transform_get_kind(t));
    char name[64];
    snprintf(name, sizeof name, "%s", kind);
    for (unsigned k = 2; find_transform(s, name) >= 0; k++) snprintf(name, sizeof name, "%s_%u", kind, k);
    int rc = fcs_strategy_add_transform(s, name, t, NULL, NULL);
    if (rc == FCS_ENOMEM) return nomem(p);
    if (rc) return perr_at(p, at->line, at->col, rc, "%s", fcs_strategy_errmsg(s));
    fcs_strategy_set_last_transform_line(s, at->line);
    return fcs_strategy_transform(s, fcs_strategy_n_transforms(s) - 1, id, NULL, NULL, NULL);
}

/* Index just after the ')' matching the '(' at token k (n_toks if none). */
static size_t group_end(const parser *p, size_t k)
{
    size_t depth = 0;
    do {
        const tok *a = &p->toks[k++];
        if (is_p(a, '(')) depth++;
        else if (is_p(a, ')')) depth--;
    } while (depth > 0 && k < p->n_toks);
    return k;
}

/* Whether the token at k is '(' and its group is followed by another '(':
 * NAME(ARGS)(VALUE) rather than NAME(VALUE). */
static int two_groups(const parser *p, size_t k)
{
    if (k >= p->n_toks || !is_p(&p->toks[k], '(')) return 0;
    size_t e = group_end(p, k);
    return e < p->n_toks && is_p(&p->toks[e], '(');
}

/* The transform a dimension names before '(': a declared id, or an inline
 * kind with or without parameters. On return the cursor is at the '(' that
 * opens the dimension's value. */
static int dim_transform(parser *p, const char **id)
{
    const tok *w = peek(p);
    long i = find_transform(p->s, w->text);
    if (i >= 0) {
        if (two_groups(p, p->cur + 1))
            return perr_at(p, w->line, w->col, FCS_EFORMAT,
                           "'%.60s' is a declared transform: it takes no parameters here",
                           w->text);
        take(p);
        return fcs_strategy_transform(p->s, (size_t)i, id, NULL, NULL, NULL);
    }
    if (w->kind == T_STR || !is_transform_kind(w->text))
        return perr_at(p, w->line, w->col, FCS_ENOTFOUND,
                       "unknown transform '%.60s' (declare it first: transform %.60s = ...)",
                       w->text, w->text);
    fcs_transform *t = NULL;
    int rc;
    if (two_groups(p, p->cur + 1)) {
        rc = parse_spec(p, &t);
    } else {
        fcs_error e;
        take(p);
        rc = fcs_transform_parse(w->text, &t, &e);
        if (rc == FCS_ENOMEM) return nomem(p);
        if (rc)
            return perr_at(p, w->line, w->col, FCS_EFORMAT,
                           "%s (give the parameters: %s(...)(CHANNEL))", e.msg, w->text);
    }
    if (rc) return rc;
    if (fcs_transform_arity(t) == 2) {
        fcs_transform_free(t);
        return perr_at(p, w->line, w->col, FCS_EFORMAT,
                       "fratio takes two channels: declare it (transform R = fratio(...) of "
                       "NUMERATOR, DENOMINATOR) and use ratio(R)");
    }
    rc = inline_transform(p, w, t, id);
    fcs_transform_free(t);
    return rc;
}

/* ======================================================================
 * Dimensions
 * ====================================================================== */

/* VALUE: NAME or ratio(R), then optionally @COMPENSATION. */
static int parse_value(parser *p, fcs_gate_dim *d)
{
    const tok *t = peek(p);
    if (is_kw(t, "ratio") && is_p(peek2(p), '(')) {
        take(p);
        take(p);
        const tok *r = peek(p);
        int rc = take_name(p, &d->ratio, "the id of an fratio transform");
        if (rc) return rc;
        if (find_transform(p->s, d->ratio) < 0)
            return perr_at(p, r->line, r->col, FCS_ENOTFOUND,
                           "unknown transform '%.60s' (declare it first: transform %.60s = "
                           "fratio(...) of A, B)", d->ratio, d->ratio);
        if ((rc = expect_p(p, ')', "')' after the ratio's id"))) return rc;
    } else {
        int rc = take_name(p, &d->name, "a channel name");
        if (rc) return rc;
    }
    if (is_p(peek(p), '@')) {
        take(p);
        return take_name(p, &d->compensation, "a compensation after '@' (FCS or a matrix id)");
    }
    return FCS_OK;
}

/* DIM: TRANSFORM(VALUE) or VALUE. */
static int parse_dim(parser *p, fcs_gate_dim *d)
{
    memset(d, 0, sizeof *d);
    const tok *t = peek(p);
    if (is_name(t) && is_p(peek2(p), '(') && !is_kw(t, "ratio")) {
        int rc = dim_transform(p, &d->transform);
        if (rc) return rc;
        if ((rc = expect_p(p, '(', "'(' before the channel"))) return rc;
        if ((rc = parse_value(p, d))) return rc;
        const tok *c = peek(p);
        if (is_p(c, '('))
            return perr_at(p, c->line, c->col, FCS_EFORMAT,
                           "one transform per dimension (declare a combined one if needed)");
        return expect_p(p, ')', "')' after the channel");
    }
    return parse_value(p, d);
}

/* ======================================================================
 * Gates
 * ====================================================================== */

typedef struct dims {
    fcs_gate_dim *d;
    size_t n, cap;
    double *a, *b; /* per-dimension numbers (rectangle sides) */
    size_t cap_a, cap_b;
} dims;

static void dims_free(dims *v)
{
    free(v->d);
    free(v->a);
    free(v->b);
}

static int dims_push(parser *p, dims *v, fcs_gate_dim **out)
{
    if (grow((void **)&v->d, &v->cap, v->n + 1, sizeof *v->d)) return nomem(p);
    *out = &v->d[v->n++];
    return FCS_OK;
}

typedef struct nums {
    double *v;
    size_t n, cap;
} nums;

static int nums_push(parser *p, nums *v, double x)
{
    if (grow((void **)&v->v, &v->cap, v->n + 1, sizeof *v->v)) return nomem(p);
    v->v[v->n++] = x;
    return FCS_OK;
}

/* "(x1, x2, ...)" into v. */
static int parse_tuple(parser *p, nums *v, const char *what)
{
    int rc = expect_p(p, '(', what);
    while (!rc) {
        double x;
        if ((rc = take_number(p, &x, "a number"))) break;
        if ((rc = nums_push(p, v, x))) break;
        if (is_p(peek(p), ')')) {
            take(p);
            return FCS_OK;
        }
        rc = expect_p(p, ',', "',' or ')'");
    }
    return rc;
}

/* Message of a strategy refusal, at the gate's id. */
static int model_err(parser *p, const tok *at, int rc)
{
    if (rc == FCS_ENOMEM) return nomem(p);
    return perr_at(p, at->line, at->col, rc, "%s", fcs_strategy_errmsg(p->s));
}

/* A side of a rectangle: a number, or nothing (open side) before sep. */
static int optional_number(parser *p, double *v, char sep)
{
    *v = NAN;
    if (is_p(peek(p), sep)) return FCS_OK;
    return take_number(p, v, sep == ',' ? "a minimum or ','" : "a maximum or ')'");
}

static int parse_rectangle(parser *p, const tok *id, const char *parent, int *model)
{
    dims v = {0};
    size_t cap_lo = 0, cap_hi = 0;
    int rc = FCS_OK;
    do {
        fcs_gate_dim *d;
        double lo, hi;
        if ((rc = dims_push(p, &v, &d)) || (rc = parse_dim(p, d))) break;
        if ((rc = expect_p(p, '[', "'[' and the interval [min, max)")) ||
            (rc = optional_number(p, &lo, ',')) || (rc = expect_p(p, ',', "','")) ||
            (rc = optional_number(p, &hi, ')')))
            break;
        const tok *close = peek(p);
        if (is_p(close, ']')) {
            rc = perr_at(p, close->line, close->col, FCS_EFORMAT,
                         "a rectangle side is [min, max): close it with ')'");
            break;
        }
        if ((rc = expect_p(p, ')', "')' closing [min, max)"))) break;
        if (grow((void **)&v.a, &cap_lo, v.n, sizeof *v.a) ||
            grow((void **)&v.b, &cap_hi, v.n, sizeof *v.b)) {
            rc = nomem(p);
            break;
        }
        v.a[v.n - 1] = lo;
        v.b[v.n - 1] = hi;
    } while (is_p(peek(p), ',') && take(p));
    if (!rc) {
        *model = 1;
        rc = fcs_strategy_add_rectangle(p->s, id->text, parent, v.n, v.d, v.a, v.b);
    }
    dims_free(&v);
    return rc;
}

/* Two dimensions "D1, D2". */
static int two_dims(parser *p, fcs_gate_dim d[2])
{
    int rc = parse_dim(p, &d[0]);
    if (!rc) rc = expect_p(p, ',', "',' and the second dimension");
    if (!rc) rc = parse_dim(p, &d[1]);
    return rc;
}

static int parse_polygon(parser *p, const tok *id, const char *parent, int *model)
{
    fcs_gate_dim d[2];
    nums xy = {0};
    int rc = two_dims(p, d);
    if (!rc) rc = expect_p(p, '[', "'[' and the vertices [(x, y), ...]");
    while (!rc) {
        size_t before = xy.n;
        if ((rc = parse_tuple(p, &xy, "a vertex (x, y)"))) break;
        if (xy.n - before != 2) {
            const tok *t = &p->toks[p->cur - 1];
            rc = perr_at(p, t->line, t->col, FCS_EFORMAT, "a vertex has two coordinates (x, y)");
            break;
        }
        if (is_p(peek(p), ']')) {
            take(p);
            break;
        }
        rc = expect_p(p, ',', "',' or ']' after a vertex");
    }
    if (!rc) {
        *model = 1;
        rc = fcs_strategy_add_polygon(p->s, id->text, parent, d, xy.n / 2, xy.v);
    }
    free(xy.v);
    return rc;
}

/* "[(row1), (row2), ...]" of an n x n matrix. */
static int parse_square(parser *p, size_t n, nums *m)
{
    int rc = expect_p(p, '[', "'[' and the covariance rows [(a, b), (c, d)]");
    for (size_t r = 0; !rc; r++) {
        size_t before = m->n;
        const tok *at = peek(p);
        if ((rc = parse_tuple(p, m, "a covariance row (...)"))) break;
        if (m->n - before != n || r >= n) {
            rc = perr_at(p, at->line, at->col, FCS_EFORMAT,
                         "the covariance matrix is %zu x %zu (one row per dimension)", n, n);
            break;
        }
        if (is_p(peek(p), ']')) {
            take(p);
            if (r + 1 != n)
                rc = perr_at(p, at->line, at->col, FCS_EFORMAT,
                             "the covariance matrix needs %zu rows, found %zu", n, r + 1);
            break;
        }
        rc = expect_p(p, ',', "',' or ']' after a covariance row");
    }
    return rc;
}

static int parse_ellipsoid(parser *p, const tok *id, const char *parent, int *model)
{
    dims v = {0};
    nums mean = {0}, cov = {0};
    double d2 = 0;
    int rc = FCS_OK;
    do {
        fcs_gate_dim *d;
        if ((rc = dims_push(p, &v, &d)) || (rc = parse_dim(p, d))) break;
    } while (is_p(peek(p), ',') && take(p));
    const tok *mt = peek(p);
    if (!rc && !is_kw(mt, "mean")) rc = unexpected(p, mt, "',' or 'mean'");
    if (!rc) take(p), rc = parse_tuple(p, &mean, "'(' and the mean (m1, m2, ...)");
    if (!rc && mean.n != v.n)
        rc = perr_at(p, mt->line, mt->col, FCS_EFORMAT, "the mean needs %zu values, found %zu",
                     v.n, mean.n);
    const tok *ct = peek(p);
    if (!rc && !is_kw(ct, "covariance")) rc = unexpected(p, ct, "'covariance'");
    if (!rc) take(p), rc = parse_square(p, v.n, &cov);
    const tok *dt = peek(p);
    if (!rc && !is_kw(dt, "distance2")) rc = unexpected(p, dt, "'distance2' (the distance square)");
    if (!rc) take(p), rc = take_number(p, &d2, "the distance square");
    if (!rc) {
        *model = 1;
        rc = fcs_strategy_add_ellipsoid(p->s, id->text, parent, v.n, v.d, mean.v, cov.v, d2);
    }
    dims_free(&v);
    free(mean.v);
    free(cov.v);
    return rc;
}

typedef struct divs {
    fcs_gate_divider *d;
    nums *vals;
    size_t n, cap, cap_vals;
} divs;

static int parse_divider(parser *p, divs *v)
{
    if (grow((void **)&v->d, &v->cap, v->n + 1, sizeof *v->d) ||
        grow((void **)&v->vals, &v->cap_vals, v->n + 1, sizeof *v->vals))
        return nomem(p);
    fcs_gate_divider *d = &v->d[v->n];
    nums *vals = &v->vals[v->n];
    memset(d, 0, sizeof *d);
    memset(vals, 0, sizeof *vals);
    v->n++;
    int rc = take_name(p, &d->id, "a divider id");
    if (!rc) rc = expect_p(p, '=', "'=' and the divider's dimension");
    if (!rc) rc = parse_dim(p, &d->dim);
    if (!rc) rc = expect_p(p, '[', "'[' and the divider's values [v1, ...]");
    while (!rc) {
        double x;
        if ((rc = take_number(p, &x, "a divider value")) || (rc = nums_push(p, vals, x))) break;
        if (is_p(peek(p), ']')) {
            take(p);
            break;
        }
        rc = expect_p(p, ',', "',' or ']'");
    }
    d->values = vals->v;
    d->n_values = vals->n;
    return rc;
}

static int parse_quadrant_gate(parser *p, const tok *id, const char *parent, int *model)
{
    divs v = {0};
    int rc = FCS_OK;
    do rc = parse_divider(p, &v);
    while (!rc && is_p(peek(p), ',') && take(p));
    if (!rc) {
        *model = 1;
        rc = fcs_strategy_add_quadrant_gate(p->s, id->text, parent, v.n, v.d);
    }
    for (size_t i = 0; i < v.n; i++) free(v.vals[i].v);
    free(v.vals);
    free(v.d);
    return rc;
}

static int parse_operand(parser *p, fcs_gate_ref *r)
{
    r->complement = 0;
    if (is_kw(peek(p), "not") && is_name(peek2(p))) {
        take(p);
        r->complement = 1;
    }
    return take_name(p, &r->id, "a population id");
}

static int parse_boolean(parser *p, const tok *id, const char *parent, fcs_gate_bool_op op,
                         int *model)
{
    fcs_gate_ref *refs = NULL;
    size_t n = 0, cap = 0;
    int rc = FCS_OK;
    do {
        if (grow((void **)&refs, &cap, n + 1, sizeof *refs)) {
            rc = nomem(p);
            break;
        }
        rc = parse_operand(p, &refs[n++]);
    } while (!rc && op != FCS_GATE_NOT && is_p(peek(p), ',') && take(p));
    if (!rc) {
        *model = 1;
        rc = fcs_strategy_add_boolean(p->s, id->text, parent, op, n, refs);
    }
    free(refs);
    return rc;
}

/* The body after "ID:". *model is set when rc comes from the strategy. */
static int parse_gate_body(parser *p, const tok *id, const char *parent, int *quadrant)
{
    const tok *t = peek(p);
    int model = 0, rc;
    *quadrant = 0;
    if (is_kw(t, "rectangle") || is_kw(t, "range")) {
        take(p);
        rc = parse_rectangle(p, id, parent, &model);
    } else if (is_kw(t, "polygon")) {
        take(p);
        rc = parse_polygon(p, id, parent, &model);
    } else if (is_kw(t, "ellipsoid")) {
        take(p);
        rc = parse_ellipsoid(p, id, parent, &model);
    } else if (is_kw(t, "quadrant")) {
        take(p);
        rc = parse_quadrant_gate(p, id, parent, &model);
        *quadrant = 1;
    } else if (is_kw(t, "and") || is_kw(t, "or") || is_kw(t, "not")) {
        take(p);
        fcs_gate_bool_op op = t->text[0] == 'a' ? FCS_GATE_AND
                              : t->text[0] == 'o' ? FCS_GATE_OR
                                                  : FCS_GATE_NOT;
        rc = parse_boolean(p, id, parent, op, &model);
    } else {
        return unexpected(p, t, "a gate type (rectangle, range, polygon, ellipsoid, quadrant, "
                                "and, or, not)");
    }
    if (rc && model) return model_err(p, id, rc);
    return rc;
}

/* ======================================================================
 * Statements
 * ====================================================================== */

static int expect_end(parser *p, const char *after)
{
    const tok *t = peek(p);
    if (t->kind == T_END) return FCS_OK;
    char b[96], w[128];
    snprintf(w, sizeof w, "the end of the line after %s", after);
    return perr_at(p, t->line, t->col, FCS_EFORMAT, "expected %s, found %s", w,
                   describe(t, b, sizeof b));
}

/* transform ID = KIND[(ARGS)] [of NUMERATOR, DENOMINATOR] */
static int parse_transform_decl(parser *p)
{
    const tok *id = NULL;
    const char *num = NULL, *den = NULL;
    fcs_transform *t = NULL;
    take(p); /* transform */
    id = peek(p);
    int rc = take_name(p, &id->text ? (const char **)&(const char *){NULL} : NULL, "a transform id");
    (void)rc;
    return FCS_OK;
}
