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
#include "growbuf.h"
#include "internal.h"

/* ======================================================================
 * Small helpers (the string builder and array growth are growbuf.h's)
 * ====================================================================== */

static void sb_spaces(fcs_sbuf *b, size_t n)
{
    while (n--) fcs_sb_putc(b, ' ');
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
    "transform", "matrix",   "inverted", "of", "ratio", "rectangle", "range",      "polygon",
    "ellipsoid", "quadrant", "and",      "or", "not",   "mean",      "covariance", "distance2"};

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
static void sb_name(fcs_sbuf *b, const char *name)
{
    int bare = *name != '\0' && *name != '<' && !is_reserved(name);
    for (const unsigned char *p = (const unsigned char *)name; bare && *p; p++)
        bare = is_word_byte(*p);
    if (bare) {
        fcs_sb_puts(b, name);
        return;
    }
    fcs_sb_putc(b, '"');
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
        fcs_sb_puts(b, esc);
    }
    fcs_sb_putc(b, '"');
}

static void sb_num(fcs_sbuf *b, double v)
{
    char buf[40];
    fmt_num(buf, sizeof buf, v);
    fcs_sb_puts(b, buf);
}

/* ======================================================================
 * Tokens
 * ====================================================================== */

typedef enum tok_kind { T_END, T_WORD, T_STR, T_PUNCT } tok_kind;

typedef struct tok {
    tok_kind kind;
    char punct; /* T_PUNCT: the character */
    int line, col;
    char *text; /* T_WORD, T_STR: decoded, NUL-terminated (owned) */
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
    char *id;   /* population or quadrant gate id */
    pmatrix *m; /* LV_MATRIX */
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
    char **declared; /* ids of transforms declared by a transform statement */
    size_t n_declared, cap_declared;
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

static int nomem(parser *p)
{
    return fcs_error_set(p->err, FCS_ENOMEM, "%s: out of memory", p->name);
}

static void free_tokens(parser *p)
{
    for (size_t i = 0; i < p->n_toks; i++) free(p->toks[i].text);
    p->n_toks = 0;
    p->cur = 0;
}

static tok *push_tok(parser *p, tok_kind kind, int line, int col)
{
    if (fcs_grow((void **)&p->toks, &p->cap_toks, p->n_toks + 1, sizeof(tok))) return NULL;
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

/* Bytes the format never contains outside comments: NUL, control bytes,
 * invalid UTF-8 (names go into Gating-ML, which is UTF-8). */
static int check_byte(parser *p)
{
    const unsigned char *u = (const unsigned char *)p->src + p->pos;
    if (*u == 0) return perr_at(p, p->line, col_here(p), FCS_EFORMAT, "NUL byte");
    if ((*u < ' ' && *u != '\t' && *u != '\r' && *u != '\n') || *u == 0x7f)
        return perr_at(p, p->line, col_here(p), FCS_EFORMAT, "control byte 0x%02x", *u);
    if (*u >= 0x80 && fcs_utf8_decode(u, p->len - p->pos, NULL) == 0)
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
        p->pos += fcs_utf8_decode((const unsigned char *)p->src + p->pos, p->len - p->pos, NULL);
    }
    tok *t = push_tok(p, T_WORD, p->line, col);
    if (!t || !(t->text = fcs_strndup(p->src + start, p->pos - start))) return nomem(p);
    return FCS_OK;
}

/* One escape after '\' in a quoted name; appends the byte to b. */
static int lex_escape(parser *p, fcs_sbuf *b)
{
    int col = col_here(p);
    if (p->pos + 1 >= p->len) return perr_at(p, p->line, col, FCS_EFORMAT, "unterminated name");
    char c = p->src[p->pos + 1];
    p->pos += 2;
    switch (c) {
    case '"':
    case '\\': fcs_sb_putc(b, c); return FCS_OK;
    case 'n': fcs_sb_putc(b, '\n'); return FCS_OK;
    case 't': fcs_sb_putc(b, '\t'); return FCS_OK;
    case 'r': fcs_sb_putc(b, '\r'); return FCS_OK;
    case 'x': {
        unsigned v = 0;
        for (int i = 0; i < 2; i++, p->pos++) {
            char h = p->pos < p->len ? p->src[p->pos] : 0;
            int d = h >= '0' && h <= '9'   ? h - '0'
                    : h >= 'a' && h <= 'f' ? h - 'a' + 10
                    : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                           : -1;
            if (d < 0)
                return perr_at(p, p->line, col, FCS_EFORMAT, "\\x needs two hexadecimal digits");
            v = v * 16 + (unsigned)d;
        }
        if (v == 0 || v >= 0x80)
            return perr_at(p, p->line, col, FCS_EFORMAT,
                           "\\x%02x: only control bytes 01-1f and 7f are escaped this way", v);
        fcs_sb_putc(b, (char)v);
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
    fcs_sbuf b = FCS_SBUF_INIT;
    p->pos++; /* opening quote */
    fcs_sb_put(&b, "", 0);
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
            size_t n =
                fcs_utf8_decode((const unsigned char *)p->src + p->pos, p->len - p->pos, NULL);
            fcs_sb_put(&b, p->src + p->pos, n);
            p->pos += n;
        }
        if (rc) {
            free(b.s);
            return rc;
        }
    }
    /* Kept at its exact size: the builder's first block is 4 KiB, and one statement may hold
     * many names. */
    char *text = b.nomem ? NULL : fcs_strndup(b.s, b.len);
    free(b.s);
    tok *t = text ? push_tok(p, T_STR, line, col) : NULL;
    if (!t) {
        free(text);
        return nomem(p);
    }
    t->text = text;
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
        return perr_at(p, open_line, open_col, FCS_EFORMAT, "bracket opened here is never closed");
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
static int is_kw(const tok *t, const char *kw)
{
    return t->kind == T_WORD && strcmp(t->text, kw) == 0;
}

/* "'x'" or "the end of the line", for messages. */
static const char *describe(const tok *t, char *buf, size_t n)
{
    if (t->kind == T_END) return "the end of the line";
    if (t->kind == T_PUNCT)
        snprintf(buf, n, "'%c'", t->punct);
    else
        snprintf(buf, n, "%s'%.60s'", t->kind == T_STR ? "name " : "", t->text);
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
    fcs_sbuf b = FCS_SBUF_INIT;
    fcs_sb_puts(&b, kind->text);
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
                fcs_sb_putc(&b, a->punct);
            } else {
                fcs_sb_puts(&b, a->text);
            }
        } while (depth > 0);
    }
    if (b.nomem) {
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
    for (unsigned k = 2; find_transform(s, name) >= 0; k++)
        snprintf(name, sizeof name, "%s_%u", kind, k);
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
        if (is_p(a, '('))
            depth++;
        else if (is_p(a, ')'))
            depth--;
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
static int is_declared(const parser *p, const char *id)
{
    for (size_t i = 0; i < p->n_declared; i++)
        if (strcmp(p->declared[i], id) == 0) return 1;
    return 0;
}

static int dim_transform(parser *p, const char **id)
{
    const tok *w = peek(p);
    int args = two_groups(p, p->cur + 1);
    /* a declared id first; then an (unquoted) kind name, which is always an
     * inline transform even when an earlier inline one took the kind's
     * name as its id; then an id made inline before (logicle_2) */
    long i = find_transform(p->s, w->text);
    int declared = is_declared(p, w->text);
    if (declared && args)
        return perr_at(p, w->line, w->col, FCS_EFORMAT,
                       "'%.60s' is a declared transform: it takes no parameters here", w->text);
    int kind = !declared && w->kind == T_WORD && is_transform_kind(w->text);
    if (!kind && !args && i >= 0) {
        take(p);
        return fcs_strategy_transform(p->s, (size_t)i, id, NULL, NULL, NULL);
    }
    if (!kind)
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
                           "fratio(...) of A, B)",
                           d->ratio, d->ratio);
        if ((rc = expect_p(p, ')', "')' after the ratio's id"))) return rc;
    } else {
        int rc = take_name(p, &d->name, "a channel name");
        if (rc) return rc;
    }
    if (!is_p(peek(p), '@')) return FCS_OK;
    take(p);
    const tok *c = peek(p);
    int rc = take_name(p, &d->compensation, "a compensation after '@' (FCS or a matrix id)");
    if (rc) return rc;
    int known = strcmp(c->text, FCS_COMP_FCS) == 0 || strcmp(c->text, FCS_COMP_UNCOMPENSATED) == 0;
    for (size_t i = 0; !known && i < fcs_strategy_n_matrices(p->s); i++) {
        fcs_gate_matrix_info mi;
        known = fcs_strategy_matrix(p->s, i, &mi) == FCS_OK && strcmp(mi.id, c->text) == 0;
    }
    if (!known)
        return perr_at(p, c->line, c->col, FCS_ENOTFOUND,
                       "unknown compensation '%.60s' (FCS, uncompensated, or a matrix declared "
                       "above)",
                       c->text);
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

typedef struct dimvec {
    fcs_gate_dim *d;
    size_t n, cap;
    double *a, *b; /* per-dimension numbers (rectangle sides) */
    size_t cap_a, cap_b;
} dimvec;

static void dims_free(dimvec *v)
{
    free(v->d);
    free(v->a);
    free(v->b);
}

static int dims_push(parser *p, dimvec *v, fcs_gate_dim **out)
{
    if (fcs_grow((void **)&v->d, &v->cap, v->n + 1, sizeof *v->d)) return nomem(p);
    *out = &v->d[v->n++];
    return FCS_OK;
}

typedef struct nums {
    double *v;
    size_t n, cap;
} nums;

static int nums_push(parser *p, nums *v, double x)
{
    if (fcs_grow((void **)&v->v, &v->cap, v->n + 1, sizeof *v->v)) return nomem(p);
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
    dimvec v = {0};
    size_t cap_lo = 0, cap_hi = 0;
    int rc = FCS_OK;
    do {
        fcs_gate_dim *d = NULL;
        double lo, hi;
        if ((rc = dims_push(p, &v, &d)) || (rc = parse_dim(p, d))) break;
        const tok *open = peek(p);
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
        /* [10, 0) holds no event: a typo, never a gate anyone means */
        if (lo >= hi) {
            rc = perr_at(p, open->line, open->col, FCS_EFORMAT,
                         "gate '%s': the interval [%g, %g) is empty (min must be below max)",
                         id->text, lo, hi);
            break;
        }
        if (fcs_grow((void **)&v.a, &cap_lo, v.n, sizeof *v.a) ||
            fcs_grow((void **)&v.b, &cap_hi, v.n, sizeof *v.b)) {
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
        const tok *t = peek(p);
        if ((rc = parse_tuple(p, &xy, "a vertex (x, y)"))) break;
        if (xy.n - before != 2) {
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
    dimvec v = {0};
    nums mean = {0}, cov = {0};
    double d2 = 0;
    int rc = FCS_OK;
    do {
        fcs_gate_dim *d = NULL;
        if ((rc = dims_push(p, &v, &d)) || (rc = parse_dim(p, d))) break;
    } while (is_p(peek(p), ',') && take(p));
    const tok *mt = peek(p);
    if (!rc && !is_kw(mt, "mean")) rc = unexpected(p, mt, "',' or 'mean'");
    if (!rc) take(p), rc = parse_tuple(p, &mean, "'(' and the mean (m1, m2, ...)");
    if (!rc && mean.n != v.n)
        rc = perr_at(p, mt->line, mt->col, FCS_EFORMAT, "the mean needs %zu values, found %zu", v.n,
                     mean.n);
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
    if (fcs_grow((void **)&v->d, &v->cap, v->n + 1, sizeof *v->d) ||
        fcs_grow((void **)&v->vals, &v->cap_vals, v->n + 1, sizeof *v->vals))
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
        if (fcs_grow((void **)&refs, &cap, n + 1, sizeof *refs)) {
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
        fcs_gate_bool_op op = t->text[0] == 'a'   ? FCS_GATE_AND
                              : t->text[0] == 'o' ? FCS_GATE_OR
                                                  : FCS_GATE_NOT;
        rc = parse_boolean(p, id, parent, op, &model);
    } else {
        return unexpected(p, t,
                          "a gate type (rectangle, range, polygon, ellipsoid, quadrant, "
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
    char b[96];
    return perr_at(p, t->line, t->col, FCS_EFORMAT,
                   "expected the end of the line after %s, found %s", after,
                   describe(t, b, sizeof b));
}

/* transform ID = KIND[(ARGS)] [of NUMERATOR, DENOMINATOR] */
static int parse_transform_decl(parser *p)
{
    const char *num = NULL, *den = NULL;
    fcs_transform *t = NULL;
    take(p); /* transform */
    const tok *id = peek(p);
    int rc = take_name(p, &(const char *){NULL}, "a transform id");
    if (!rc) rc = expect_p(p, '=', "'=' and the transform (e.g. logicle(T=262144))");
    if (!rc) rc = parse_spec(p, &t);
    if (rc) return rc;
    const tok *of = peek(p);
    if (is_kw(of, "of")) {
        take(p);
        rc = take_name(p, &num, "the numerator channel");
        if (!rc) rc = expect_p(p, ',', "',' and the denominator channel");
        if (!rc) rc = take_name(p, &den, "the denominator channel");
    } else if (fcs_transform_arity(t) == 2) {
        rc = unexpected(p, of, "'of NUMERATOR, DENOMINATOR' (an fratio takes two channels)");
    }
    if (!rc) rc = expect_end(p, "the transform");
    if (!rc) {
        rc = fcs_strategy_add_transform(p->s, id->text, t, num, den);
        if (rc)
            rc = model_err(p, id, rc);
        else
            fcs_strategy_set_last_transform_line(p->s, id->line);
    }
    fcs_transform_free(t);
    if (!rc &&
        (fcs_grow((void **)&p->declared, &p->cap_declared, p->n_declared + 1, sizeof(char *)) ||
         !(p->declared[p->n_declared++] = fcs_strdup(id->text))))
        rc = nomem(p);
    return rc;
}

static void pmatrix_free(pmatrix *m)
{
    if (!m) return;
    free(m->id);
    for (size_t i = 0; i < m->n_cols; i++) free(m->cols[i]);
    for (size_t i = 0; i < m->n_rows; i++) free(m->rows[i]);
    free(m->cols);
    free(m->rows);
    free(m->values);
    free(m);
}

/* matrix ID [inverted]: COLUMN, COLUMN, ...   (rows follow, indented) */
static int parse_matrix_decl(parser *p, pmatrix **out)
{
    take(p); /* matrix */
    const tok *id = peek(p);
    int rc = take_name(p, &(const char *){NULL}, "a matrix id");
    if (rc) return rc;
    pmatrix *m = calloc(1, sizeof *m);
    size_t cap = 0;
    if (!m || !(m->id = fcs_strdup(id->text))) {
        free(m);
        return nomem(p);
    }
    m->line = id->line, m->col = id->col;
    if (is_kw(peek(p), "inverted")) take(p), m->inverted = 1;
    rc = expect_p(p, ':', "':' and the column names");
    while (!rc) {
        const char *c;
        if ((rc = take_name(p, &c, "a column name"))) break;
        if (fcs_grow((void **)&m->cols, &cap, m->n_cols + 1, sizeof *m->cols) ||
            !(m->cols[m->n_cols] = fcs_strdup(c))) {
            rc = nomem(p);
            break;
        }
        m->n_cols++;
        if (peek(p)->kind == T_END) break;
        rc = expect_p(p, ',', "',' or the end of the line");
    }
    if (rc) {
        pmatrix_free(m);
        return rc;
    }
    *out = m;
    return FCS_OK;
}

/* NAME: v1, v2, ...   (a row of the open matrix) */
static int parse_matrix_row(parser *p, pmatrix *m)
{
    const tok *name = peek(p);
    int rc = take_name(p, &(const char *){NULL}, "a matrix row: NAME: values");
    if (!rc) rc = expect_p(p, ':', "':' and the row's values");
    if (rc) return rc;
    uint64_t need;
    if (fcs_add_ok(m->n_rows, 1, &need) || fcs_mul_ok(need, m->n_cols, &need) ||
        need > SIZE_MAX / sizeof(double))
        return nomem(p);
    size_t cap_v = m->cap_rows * m->n_cols;
    if (fcs_grow((void **)&m->rows, &m->cap_rows, m->n_rows + 1, sizeof *m->rows)) return nomem(p);
    double *v = realloc(m->values, (size_t)need * sizeof *v);
    if (!v) return nomem(p);
    (void)cap_v;
    m->values = v;
    size_t k = 0;
    while (!rc) {
        const tok *at = peek(p);
        double x;
        if ((rc = take_number(p, &x, "a number"))) break;
        if (k == m->n_cols) {
            rc = perr_at(p, at->line, at->col, FCS_EFORMAT,
                         "row '%.60s' has more values than the %zu columns", name->text, m->n_cols);
            break;
        }
        v[m->n_rows * m->n_cols + k++] = x;
        if (peek(p)->kind == T_END) break;
        rc = expect_p(p, ',', "',' or the end of the line");
    }
    if (!rc && k < m->n_cols)
        rc = perr_at(p, name->line, name->col, FCS_EFORMAT,
                     "row '%.60s' has %zu values for %zu columns", name->text, k, m->n_cols);
    if (rc) return rc;
    if (!(m->rows[m->n_rows] = fcs_strdup(name->text))) return nomem(p);
    m->n_rows++;
    return FCS_OK;
}

/* The matrix block ends: add it to the strategy. */
static int finish_matrix(parser *p, pmatrix *m)
{
    if (m->n_rows == 0)
        return perr_at(p, m->line, m->col, FCS_EFORMAT,
                       "matrix '%.60s' has no rows (indent them below it: NAME: values)", m->id);
    fcs_matrix *mx = fcs_matrix_new(m->n_rows, m->n_cols);
    int rc = mx ? FCS_OK : FCS_ENOMEM;
    for (size_t c = 0; !rc && c < m->n_cols; c++) rc = fcs_matrix_set_name(mx, c, m->cols[c]);
    for (size_t r = 0; !rc && r < m->n_rows; r++) {
        rc = fcs_matrix_set_row_name(mx, r, m->rows[r]);
        for (size_t c = 0; c < m->n_cols; c++)
            fcs_matrix_set(mx, r, c, m->values[r * m->n_cols + c]);
    }
    if (rc) {
        fcs_matrix_free(mx);
        return nomem(p);
    }
    rc = fcs_strategy_add_matrix(p->s, m->id, mx, m->inverted);
    fcs_matrix_free(mx);
    if (rc == FCS_ENOMEM) return nomem(p);
    if (rc) return perr_at(p, m->line, m->col, rc, "%s", fcs_strategy_errmsg(p->s));
    fcs_strategy_set_last_matrix_line(p->s, m->line);
    return FCS_OK;
}

static int remember_gate(parser *p, const tok *id)
{
    if (fcs_grow((void **)&p->gl, &p->cap_gl, p->n_gl + 1, sizeof *p->gl)) return nomem(p);
    p->gl[p->n_gl].line = id->line;
    p->gl[p->n_gl].col = id->col;
    p->n_gl++;
    fcs_strategy_set_last_gate_line(p->s, id->line);
    return FCS_OK;
}

/* Which interval of divider d a location falls in (0 .. n_values). */
static size_t divider_interval(const fcs_gate_divider *d, double x)
{
    size_t k = 0;
    while (k < d->n_values && x >= d->values[k]) k++;
    return k;
}

/* Whether the quadrant (n positions: divider ids and locations) selects
 * the cell of quadrant q of gate in. */
static int same_cell(const fcs_gate_info *in, const fcs_gate_quadrant *q, size_t n,
                     const char **div, const double *loc)
{
    if (q->n_positions != n) return 0;
    for (size_t i = 0; i < n; i++) {
        int found = 0;
        for (size_t j = 0; j < n && !found; j++) {
            const fcs_gate_divider *d = &in->dividers[q->dividers[j]];
            found = strcmp(d->id, div[i]) == 0 &&
                    divider_interval(d, loc[i]) == divider_interval(d, q->locations[j]);
        }
        if (!found) return 0;
    }
    return 1;
}

/* Two quadrants of one cell are the same population under two names: a
 * typo (q2: X = 1 copied from q1), never meant. */
static int check_quadrant_cell(parser *p, const char *gate_id, const tok *qid, size_t n,
                               const char **div, const double *loc)
{
    fcs_gate_info in;
    long g = fcs_strategy_find_gate(p->s, gate_id);
    if (g < 0 || fcs_strategy_gate(p->s, (size_t)g, &in) != FCS_OK) return FCS_OK;
    for (size_t q = 0; q < in.n_quadrants; q++)
        if (same_cell(&in, &in.quadrants[q], n, div, loc))
            return perr_at(p, qid->line, qid->col, FCS_EFORMAT,
                           "quadrant '%.60s' selects the same cell of '%.60s' as quadrant '%.60s'",
                           qid->text, gate_id, in.quadrants[q].id);
    return FCS_OK;
}

/* QUADRANT: DIVIDER = LOCATION, ...   (below its quadrant gate) */
static int parse_quadrant_def(parser *p, const char *gate_id, const tok **qid)
{
    const char **div = NULL;
    nums loc = {0};
    size_t n = 0, cap = 0;
    *qid = peek(p);
    int rc = take_name(p, &(const char *){NULL}, "a quadrant: ID: DIVIDER = LOCATION, ...");
    if (!rc) rc = expect_p(p, ':', "':' and the quadrant's positions");
    const tok *t = peek(p);
    static const char *const types[] = {"rectangle", "range", "polygon", "ellipsoid",
                                        "quadrant",  "and",   "or",      "not"};
    for (size_t k = 0; !rc && k < sizeof types / sizeof *types; k++)
        if (is_kw(t, types[k]) && !is_p(peek2(p), '='))
            rc = perr_at(p, (*qid)->line, (*qid)->col, FCS_EFORMAT,
                         "only quadrants (ID: DIVIDER = LOCATION, ...) go directly below quadrant "
                         "gate '%.60s'; indent gates below one of its quadrants",
                         gate_id);
    while (!rc) {
        if (fcs_grow((void **)&div, &cap, n + 1, sizeof *div)) {
            rc = nomem(p);
            break;
        }
        double x;
        if ((rc = take_name(p, &div[n], "a divider id")) ||
            (rc = expect_p(p, '=', "'=' and a location")) ||
            (rc = take_number(p, &x, "a location")) || (rc = nums_push(p, &loc, x)))
            break;
        n++;
        if (peek(p)->kind == T_END) break;
        rc = expect_p(p, ',', "',' or the end of the line");
    }
    if (!rc) rc = check_quadrant_cell(p, gate_id, *qid, n, div, loc.v);
    if (!rc) {
        rc = fcs_strategy_add_quadrant(p->s, gate_id, (*qid)->text, n, div, loc.v);
        if (rc) rc = model_err(p, *qid, rc);
    }
    free(div);
    free(loc.v);
    return rc;
}

static int check_pop_id(parser *p, const tok *id)
{
    if (strchr(id->text, '/'))
        return perr_at(p, id->line, id->col, FCS_EFORMAT,
                       "population id '%.60s' contains '/' (it separates population paths)",
                       id->text);
    return FCS_OK;
}

/* ID: TYPE ...   *quadrant says whether a quadrant gate was added. */
static int parse_gate(parser *p, const char *parent, const tok **gid, int *quadrant)
{
    *gid = peek(p);
    int rc = take_name(p, &(const char *){NULL}, "a gate: ID: TYPE ...");
    if (!rc) rc = expect_p(p, ':', "':' after the gate id");
    if (!rc) rc = check_pop_id(p, *gid);
    if (!rc) rc = parse_gate_body(p, *gid, parent, quadrant);
    if (!rc) rc = expect_end(p, "the gate");
    if (!rc) rc = remember_gate(p, *gid);
    return rc;
}

/* ======================================================================
 * Blocks and indentation
 * ====================================================================== */

static int close_level(parser *p)
{
    level *l = &p->lv[--p->n_lv];
    int rc = l->kind == LV_MATRIX ? finish_matrix(p, l->m) : FCS_OK;
    pmatrix_free(l->m);
    free(l->id);
    return rc;
}

static int push_level(parser *p, int indent, level_kind kind, const char *id, pmatrix *m)
{
    if (fcs_grow((void **)&p->lv, &p->cap_lv, p->n_lv + 1, sizeof *p->lv)) {
        pmatrix_free(m);
        return nomem(p);
    }
    level *l = &p->lv[p->n_lv];
    l->indent = indent;
    l->child_indent = -1;
    l->kind = kind;
    l->m = m;
    l->id = id ? fcs_strdup(id) : NULL;
    if (id && !l->id) {
        pmatrix_free(m);
        return nomem(p);
    }
    p->n_lv++;
    return FCS_OK;
}

/* Close the blocks this statement is not inside of; check that it lines
 * up with its siblings. *parent is the enclosing block or NULL. */
static int place(parser *p, int indent, level **parent)
{
    int rc = FCS_OK;
    while (!rc && p->n_lv > 0 && p->lv[p->n_lv - 1].indent >= indent) rc = close_level(p);
    if (rc) return rc;
    *parent = p->n_lv ? &p->lv[p->n_lv - 1] : NULL;
    const tok *t = &p->toks[0];
    if (!*parent && indent != 0)
        return perr_at(p, t->line, t->col, FCS_EFORMAT,
                       "unexpected indentation (a top-level statement starts in column 1)");
    if (*parent) {
        if ((*parent)->child_indent < 0)
            (*parent)->child_indent = indent;
        else if ((*parent)->child_indent != indent)
            return perr_at(p, t->line, t->col, FCS_EFORMAT,
                           "indentation does not match the lines above (%d blanks expected)",
                           (*parent)->child_indent);
    }
    return FCS_OK;
}

static int is_declaration(parser *p)
{
    const tok *t = peek(p);
    return (is_kw(t, "transform") || is_kw(t, "matrix")) && !is_p(peek2(p), ':');
}

static int statement(parser *p, int indent)
{
    level *parent;
    int rc = place(p, indent, &parent);
    if (rc) return rc;
    if (parent && parent->kind == LV_MATRIX) return parse_matrix_row(p, parent->m);
    if (is_declaration(p)) {
        const tok *t = peek(p);
        if (parent)
            return perr_at(p, t->line, t->col, FCS_EFORMAT,
                           "a %s declaration goes at the top level, not inside a gate", t->text);
        if (is_kw(t, "transform")) return parse_transform_decl(p);
        pmatrix *m = NULL;
        if ((rc = parse_matrix_decl(p, &m))) return rc;
        return push_level(p, indent, LV_MATRIX, NULL, m);
    }
    const tok *id;
    if (parent && parent->kind == LV_QUADGATE) {
        rc = parse_quadrant_def(p, parent->id, &id);
        if (!rc) rc = check_pop_id(p, id);
        if (!rc) rc = expect_end(p, "the quadrant");
        return rc ? rc : push_level(p, indent, LV_POP, id->text, NULL);
    }
    int quadrant;
    rc = parse_gate(p, parent ? parent->id : NULL, &id, &quadrant);
    if (rc) return rc;
    return push_level(p, indent, quadrant ? LV_QUADGATE : LV_POP, id->text, NULL);
}

/* Blanks before the first token of the line at p->pos; tabs are refused
 * (their width is a matter of taste, and the hierarchy depends on it). */
static int indentation(parser *p, int *indent)
{
    size_t k = p->pos;
    while (k < p->len && (p->src[k] == ' ' || p->src[k] == '\t' || p->src[k] == '\r')) {
        if (p->src[k] == '\t') {
            size_t rest = k;
            while (rest < p->len && (p->src[rest] == ' ' || p->src[rest] == '\t')) rest++;
            if (rest < p->len && p->src[rest] != '\n' && p->src[rest] != '#' &&
                p->src[rest] != '\r')
                return perr_at(p, p->line, (int)(k - p->line_start) + 1, FCS_EFORMAT,
                               "tab in the indentation (indent with blanks)");
        }
        k++;
    }
    if (k - p->pos > 100000)
        return perr_at(p, p->line, 1, FCS_EFORMAT, "indentation of more than 100000 blanks");
    *indent = (int)(k - p->pos);
    p->pos = k;
    return FCS_OK;
}

/* Where gate `line` was defined (for messages of the reference checks). */
static int gate_col(const parser *p, int line)
{
    for (size_t i = 0; i < p->n_gl; i++)
        if (p->gl[i].line == line) return p->gl[i].col;
    return 0;
}

static int parse_all(parser *p)
{
    int rc = FCS_OK;
    /* a UTF-8 byte order mark is not part of the first line */
    if (p->len >= 3 && memcmp(p->src, "\xef\xbb\xbf", 3) == 0) p->pos = 3, p->line_start = 3;
    while (!rc && p->pos < p->len) {
        int indent = 0;
        if ((rc = indentation(p, &indent))) break;
        if ((rc = lex_statement(p))) break;
        if (p->n_toks > 1) rc = statement(p, indent);
        if (!rc && p->pos < p->len) newline(p); /* the '\n' that ended the statement */
    }
    while (!rc && p->n_lv > 0) rc = close_level(p);
    if (rc) return rc;
    int line = 0;
    fcs_error e;
    rc = fcs_strategy_check(p->s, &line, &e);
    if (rc == FCS_ENOMEM) return nomem(p);
    if (rc) return perr_at(p, line, gate_col(p, line), rc, "%s", e.msg);
    return FCS_OK;
}

static int parse_text(fcs_strategy **out, const char *data, size_t len, const char *name,
                      fcs_error *err)
{
    parser p;
    memset(&p, 0, sizeof p);
    p.src = data;
    p.len = len;
    p.line = 1;
    p.name = name;
    p.err = err;
    p.s = fcs_strategy_new();
    int rc = p.s ? parse_all(&p) : fcs_error_set(err, FCS_ENOMEM, "%s: out of memory", name);
    free_tokens(&p);
    free(p.toks);
    while (p.n_lv > 0) {
        level *l = &p.lv[--p.n_lv];
        pmatrix_free(l->m);
        free(l->id);
    }
    free(p.lv);
    free(p.gl);
    for (size_t i = 0; i < p.n_declared; i++) free(p.declared[i]);
    free(p.declared);
    if (rc) {
        fcs_strategy_free(p.s);
        return rc;
    }
    fcs_error_clear(err);
    *out = p.s;
    return FCS_OK;
}

/* ======================================================================
 * The population tree
 * ====================================================================== */

/* Visits a gate (quad < 0) or one quadrant of a quadrant gate. tdepth is the
 * text indentation level, pdepth the population depth (quadrants are not
 * below their gate in the population tree). */
typedef int (*visit_fn)(void *ctx, size_t gate, long quad, size_t tdepth, size_t pdepth);

typedef struct frame {
    long pop;   /* whose children are listed; -1: the roots */
    size_t k;   /* next child */
    long qgate; /* >= 0: listing the quadrants of this gate instead */
    size_t q;
    size_t tdepth, pdepth;
} frame;

typedef struct tree {
    size_t n_gates;
    long *gate_pop; /* population of gate g; -1 for a quadrant gate */
    size_t *first;  /* children of population p-1 (p = 0: roots): kids[first[p]..first[p+1]) */
    size_t *kids;
} tree;

static void tree_free(tree *t)
{
    free(t->gate_pop);
    free(t->first);
    free(t->kids);
}

static int tree_build(const fcs_strategy *s, tree *t)
{
    size_t ng = fcs_strategy_n_gates(s), np = fcs_strategy_n_populations(s);
    memset(t, 0, sizeof *t);
    t->n_gates = ng;
    long *par = calloc(ng ? ng : 1, sizeof *par);
    t->gate_pop = calloc(ng ? ng : 1, sizeof *t->gate_pop);
    t->first = calloc(np + 2, sizeof *t->first);
    t->kids = calloc(ng ? ng : 1, sizeof *t->kids);
    if (!par || !t->gate_pop || !t->first || !t->kids) {
        free(par);
        tree_free(t);
        return FCS_ENOMEM;
    }
    for (size_t g = 0; g < ng; g++) {
        fcs_gate_info in;
        (void)fcs_strategy_gate(s, g, &in);
        t->gate_pop[g] =
            in.type == FCS_GATE_QUADRANT ? -1 : fcs_strategy_population_index(s, in.id);
        par[g] = in.parent ? fcs_strategy_population_index(s, in.parent) : -1;
        t->first[par[g] + 2]++; /* counting sort by parent */
    }
    for (size_t p = 1; p < np + 2; p++) t->first[p] += t->first[p - 1];
    for (size_t g = 0; g < ng; g++) t->kids[t->first[par[g] + 1]++] = g;
    /* first[p+1] now ends the children of p; shift back to starts */
    for (size_t p = np + 1; p > 0; p--) t->first[p] = t->first[p - 1];
    t->first[0] = 0;
    free(par);
    return FCS_OK;
}

static int walk_tree(const fcs_strategy *s, visit_fn visit, void *ctx)
{
    tree t;
    int rc = tree_build(s, &t);
    if (rc) return rc;
    size_t cap = 2 * t.n_gates + 2, sp = 0;
    frame *st = malloc(cap * sizeof *st);
    if (!st) {
        tree_free(&t);
        return FCS_ENOMEM;
    }
    st[sp++] = (frame){-1, 0, -1, 0, 0, 0};
    while (!rc && sp > 0) {
        frame *f = &st[sp - 1];
        if (f->qgate >= 0) {
            fcs_gate_info in;
            (void)fcs_strategy_gate(s, (size_t)f->qgate, &in);
            if (f->q >= in.n_quadrants) {
                sp--;
                continue;
            }
            size_t q = f->q++;
            rc = visit(ctx, (size_t)f->qgate, (long)q, f->tdepth, f->pdepth);
            long qp = fcs_strategy_population_index(s, in.quadrants[q].id);
            st[sp] = (frame){qp, 0, -1, 0, f->tdepth + 1, f->pdepth + 1};
            sp++;
            continue;
        }
        size_t lo = t.first[f->pop + 1], hi = t.first[f->pop + 2];
        if (lo + f->k >= hi) {
            sp--;
            continue;
        }
        size_t g = t.kids[lo + f->k++];
        rc = visit(ctx, g, -1, f->tdepth, f->pdepth);
        if (t.gate_pop[g] < 0)
            st[sp] = (frame){-2, 0, (long)g, 0, f->tdepth + 1, f->pdepth};
        else
            st[sp] = (frame){t.gate_pop[g], 0, -1, 0, f->tdepth + 1, f->pdepth + 1};
        sp++;
    }
    free(st);
    tree_free(&t);
    return rc;
}

typedef struct order_ctx {
    const fcs_strategy *s;
    size_t *order, *depth, k;
} order_ctx;

static int visit_order(void *vctx, size_t gate, long quad, size_t tdepth, size_t pdepth)
{
    order_ctx *c = vctx;
    fcs_gate_info in;
    (void)tdepth;
    (void)fcs_strategy_gate(c->s, gate, &in);
    if (in.type == FCS_GATE_QUADRANT && quad < 0) return FCS_OK; /* not a population */
    const char *id = quad >= 0 ? in.quadrants[quad].id : in.id;
    c->order[c->k] = (size_t)fcs_strategy_population_index(c->s, id);
    if (c->depth) c->depth[c->k] = pdepth;
    c->k++;
    return FCS_OK;
}

int fcs_strategy_population_tree(const fcs_strategy *s, size_t *order, size_t *depth)
{
    if (!s || (!order && fcs_strategy_n_populations(s))) return FCS_EINVAL;
    int rc = fcs_strategy_check(s, NULL, NULL);
    if (rc) return rc;
    order_ctx c = {s, order, depth, 0};
    return walk_tree(s, visit_order, &c);
}

/* ======================================================================
 * Writing the text format
 * ====================================================================== */

static void w_dim(fcs_sbuf *b, const fcs_gate_dim *d)
{
    if (d->transform) {
        sb_name(b, d->transform);
        fcs_sb_putc(b, '(');
    }
    if (d->ratio) {
        fcs_sb_puts(b, "ratio(");
        sb_name(b, d->ratio);
        fcs_sb_putc(b, ')');
    } else {
        sb_name(b, d->name);
    }
    if (d->compensation && strcmp(d->compensation, FCS_COMP_UNCOMPENSATED) != 0) {
        fcs_sb_putc(b, '@');
        sb_name(b, d->compensation);
    }
    if (d->transform) fcs_sb_putc(b, ')');
}

static void w_tuple(fcs_sbuf *b, const double *v, size_t n)
{
    fcs_sb_putc(b, '(');
    for (size_t i = 0; i < n; i++) {
        if (i) fcs_sb_puts(b, ", ");
        sb_num(b, v[i]);
    }
    fcs_sb_putc(b, ')');
}

#define WRAP_COLUMN 100

static void w_polygon(fcs_sbuf *b, const fcs_gate_info *in, size_t indent)
{
    size_t line_start = b->len;
    while (line_start > 0 && b->s[line_start - 1] != '\n') line_start--;
    fcs_sb_puts(b, "polygon ");
    w_dim(b, &in->dims[0]);
    fcs_sb_puts(b, ", ");
    w_dim(b, &in->dims[1]);
    fcs_sb_puts(b, " [");
    for (size_t v = 0; v < in->n_vertices; v++) {
        fcs_sbuf t = FCS_SBUF_INIT;
        w_tuple(&t, in->vertices + 2 * v, 2);
        if (t.nomem) b->nomem = 1;
        if (v) {
            fcs_sb_putc(b, ',');
            if (b->len - line_start + 1 + t.len + 1 > WRAP_COLUMN) {
                fcs_sb_putc(b, '\n');
                line_start = b->len;
                sb_spaces(b, indent + 4);
            } else {
                fcs_sb_putc(b, ' ');
            }
        }
        if (t.s) fcs_sb_puts(b, t.s);
        free(t.s);
    }
    fcs_sb_putc(b, ']');
}

static void w_rectangle(fcs_sbuf *b, const fcs_gate_info *in)
{
    fcs_sb_puts(b, "rectangle ");
    for (size_t i = 0; i < in->n_dims; i++) {
        if (i) fcs_sb_puts(b, ", ");
        w_dim(b, &in->dims[i]);
        fcs_sb_puts(b, " [");
        if (!isnan(in->min[i])) sb_num(b, in->min[i]);
        fcs_sb_puts(b, ", ");
        if (!isnan(in->max[i])) sb_num(b, in->max[i]);
        fcs_sb_putc(b, ')');
    }
}

static void w_ellipsoid(fcs_sbuf *b, const fcs_gate_info *in)
{
    size_t n = in->n_dims;
    fcs_sb_puts(b, "ellipsoid ");
    for (size_t i = 0; i < n; i++) {
        if (i) fcs_sb_puts(b, ", ");
        w_dim(b, &in->dims[i]);
    }
    fcs_sb_puts(b, " mean ");
    w_tuple(b, in->mean, n);
    fcs_sb_puts(b, " covariance [");
    for (size_t r = 0; r < n; r++) {
        if (r) fcs_sb_puts(b, ", ");
        w_tuple(b, in->covariance + r * n, n);
    }
    fcs_sb_puts(b, "] distance2 ");
    sb_num(b, in->distance_square);
}

static void w_quadrant_gate(fcs_sbuf *b, const fcs_gate_info *in)
{
    fcs_sb_puts(b, "quadrant ");
    for (size_t i = 0; i < in->n_dividers; i++) {
        const fcs_gate_divider *d = &in->dividers[i];
        if (i) fcs_sb_puts(b, ", ");
        sb_name(b, d->id);
        fcs_sb_puts(b, " = ");
        w_dim(b, &d->dim);
        fcs_sb_puts(b, " [");
        for (size_t k = 0; k < d->n_values; k++) {
            if (k) fcs_sb_puts(b, ", ");
            sb_num(b, d->values[k]);
        }
        fcs_sb_putc(b, ']');
    }
}

static void w_boolean(fcs_sbuf *b, const fcs_gate_info *in)
{
    fcs_sb_puts(b, in->op == FCS_GATE_AND ? "and " : in->op == FCS_GATE_OR ? "or " : "not ");
    for (size_t k = 0; k < in->n_refs; k++) {
        if (k) fcs_sb_puts(b, ", ");
        if (in->refs[k].complement) fcs_sb_puts(b, "not ");
        sb_name(b, in->refs[k].id);
    }
}

typedef struct wctx {
    const fcs_strategy *s;
    fcs_sbuf *b;
} wctx;

static int visit_write(void *vctx, size_t gate, long quad, size_t tdepth, size_t pdepth)
{
    wctx *c = vctx;
    fcs_sbuf *b = c->b;
    fcs_gate_info in;
    (void)pdepth;
    (void)fcs_strategy_gate(c->s, gate, &in);
    size_t indent = 2 * tdepth;
    sb_spaces(b, indent);
    if (quad >= 0) { /* QUADRANT: DIVIDER = LOCATION, ... */
        const fcs_gate_quadrant *q = &in.quadrants[quad];
        sb_name(b, q->id);
        fcs_sb_puts(b, ": ");
        for (size_t k = 0; k < q->n_positions; k++) {
            if (k) fcs_sb_puts(b, ", ");
            sb_name(b, in.dividers[q->dividers[k]].id);
            fcs_sb_puts(b, " = ");
            sb_num(b, q->locations[k]);
        }
        fcs_sb_putc(b, '\n');
        return FCS_OK;
    }
    sb_name(b, in.id);
    fcs_sb_puts(b, ": ");
    switch (in.type) {
    case FCS_GATE_RECTANGLE: w_rectangle(b, &in); break;
    case FCS_GATE_POLYGON: w_polygon(b, &in, indent); break;
    case FCS_GATE_ELLIPSOID: w_ellipsoid(b, &in); break;
    case FCS_GATE_QUADRANT: w_quadrant_gate(b, &in); break;
    case FCS_GATE_BOOLEAN: w_boolean(b, &in); break;
    }
    fcs_sb_putc(b, '\n');
    return FCS_OK;
}

static void w_matrix(fcs_sbuf *b, const fcs_gate_matrix_info *mi)
{
    const char *const *cols = mi->inverted ? mi->fluorochromes : mi->detectors;
    const char *const *rows = mi->inverted ? mi->detectors : mi->fluorochromes;
    size_t nr = fcs_matrix_rows(mi->matrix), nc = fcs_matrix_cols(mi->matrix);
    fcs_sb_puts(b, "matrix ");
    sb_name(b, mi->id);
    if (mi->inverted) fcs_sb_puts(b, " inverted");
    fcs_sb_puts(b, ": ");
    for (size_t c = 0; c < nc; c++) {
        if (c) fcs_sb_puts(b, ", ");
        sb_name(b, cols[c]);
    }
    fcs_sb_putc(b, '\n');
    for (size_t r = 0; r < nr; r++) {
        fcs_sb_puts(b, "  ");
        sb_name(b, rows[r]);
        fcs_sb_puts(b, ": ");
        for (size_t c = 0; c < nc; c++) {
            if (c) fcs_sb_puts(b, ", ");
            sb_num(b, fcs_matrix_get(mi->matrix, r, c));
        }
        fcs_sb_putc(b, '\n');
    }
}

static void w_transforms(fcs_sbuf *b, const fcs_strategy *s)
{
    for (size_t i = 0; i < fcs_strategy_n_transforms(s); i++) {
        const char *id, *num, *den;
        const fcs_transform *t;
        if (fcs_strategy_transform(s, i, &id, &t, &num, &den) != FCS_OK) continue;
        fcs_sb_puts(b, "transform ");
        sb_name(b, id);
        fcs_sb_puts(b, " = ");
        fcs_sb_puts(b, fcs_transform_string(t));
        if (num) {
            fcs_sb_puts(b, " of ");
            sb_name(b, num);
            fcs_sb_puts(b, ", ");
            sb_name(b, den);
        }
        fcs_sb_putc(b, '\n');
    }
}

static int write_text(const fcs_strategy *s, fcs_sbuf *b, fcs_error *err)
{
    int line, rc = fcs_strategy_check(s, &line, err);
    if (rc) return rc;
    fcs_sb_puts(b, "# libfcs gate file (docs/gate-file.md)\n");
    size_t nm = fcs_strategy_n_matrices(s);
    for (size_t i = 0; i < nm; i++) {
        fcs_gate_matrix_info mi;
        if (fcs_strategy_matrix(s, i, &mi) == FCS_OK) w_matrix(b, &mi);
    }
    w_transforms(b, s);
    if ((nm || fcs_strategy_n_transforms(s)) && fcs_strategy_n_gates(s)) fcs_sb_putc(b, '\n');
    wctx c = {s, b};
    rc = walk_tree(s, visit_write, &c);
    if (rc == FCS_OK && b->nomem) rc = FCS_ENOMEM;
    if (rc) return fcs_error_set(err, rc, "gate file: out of memory");
    return FCS_OK;
}

/* ======================================================================
 * Files
 * ====================================================================== */

/* libxml2's messages may span lines ("...\nBytes: 0x82 ..."): join them,
 * so that every refusal is one line. */
static void one_line(char *msg)
{
    char *w = msg;
    for (const char *r = msg; *r; r++) {
        char c = (*r == '\n' || *r == '\r' || *r == '\t') ? ' ' : *r;
        if (c == ' ' && (w == msg || w[-1] == ' ')) continue;
        *w++ = c;
    }
    while (w > msg && w[-1] == ' ') w--;
    *w = '\0';
}

fcs_gatefile_format fcs_gatefile_detect(const void *data, size_t len)
{
    const unsigned char *p = data, *end = p + len;
    if (!data) return FCS_GATEFILE_TEXT;
    if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) p += 3;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
    return (p < end && *p == '<') ? FCS_GATEFILE_GATINGML : FCS_GATEFILE_TEXT;
}

int fcs_gatefile_read_mem(fcs_strategy **out, const void *data, size_t len, const char *name,
                          fcs_gatefile_format format, fcs_error *err)
{
    if (!out) return fcs_error_set(err, FCS_EINVAL, "fcs_gatefile_read_mem: no output");
    *out = NULL;
    if (!name) name = "<gates>";
    if (!data && len) return fcs_error_set(err, FCS_EINVAL, "%s: no data", name);
    if (len > FCS_GATEFILE_MAX)
        return fcs_error_set(err, FCS_EFORMAT, "%s: larger than %zu MiB: not a gate file", name,
                             FCS_GATEFILE_MAX >> 20);
    if (format == FCS_GATEFILE_AUTO) format = fcs_gatefile_detect(data, len);
    if (format == FCS_GATEFILE_GATINGML) {
        int rc = fcs_gatingml_read_mem(out, data, len, name, err);
        if (rc && err) one_line(err->msg);
        return rc;
    }
    if (format != FCS_GATEFILE_TEXT)
        return fcs_error_set(err, FCS_EINVAL, "%s: unknown gate file format %d", name, (int)format);
    return parse_text(out, len ? data : "", len, name, err);
}

/* The whole file or stdin, at most FCS_GATEFILE_MAX bytes (+1 to detect more). */
static int slurp(const char *path, char **buf, size_t *len, fcs_error *err)
{
    int is_stdin = strcmp(path, "-") == 0;
    const char *shown = is_stdin ? "<stdin>" : path;
    int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fcs_error_set(err, FCS_EIO, "%s: cannot open: %s", shown, strerror(errno));
    size_t cap = 64 * 1024, n = 0;
    char *b = malloc(cap + 1);
    int rc = b ? FCS_OK : fcs_error_set(err, FCS_ENOMEM, "%s: out of memory", shown);
    while (rc == FCS_OK) {
        if (n == cap) {
            if (cap > FCS_GATEFILE_MAX) {
                rc = fcs_error_set(err, FCS_EFORMAT, "%s: larger than %zu MiB: not a gate file",
                                   shown, FCS_GATEFILE_MAX >> 20);
                break;
            }
            char *nb = realloc(b, 2 * cap + 1);
            if (!nb) {
                rc = fcs_error_set(err, FCS_ENOMEM, "%s: out of memory", shown);
                break;
            }
            b = nb;
            cap *= 2;
        }
        ssize_t k = read(fd, b + n, cap - n);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) rc = fcs_error_set(err, FCS_EIO, "%s: read failed: %s", shown, strerror(errno));
        if (k <= 0) break;
        n += (size_t)k;
    }
    if (!is_stdin) close(fd);
    if (rc) {
        free(b);
        return rc;
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return FCS_OK;
}

int fcs_gatefile_read(fcs_strategy **out, const char *path, fcs_error *err)
{
    if (!out || !path) return fcs_error_set(err, FCS_EINVAL, "fcs_gatefile_read: NULL argument");
    *out = NULL;
    char *buf = NULL;
    size_t len = 0;
    int rc = slurp(path, &buf, &len, err);
    if (rc) return rc;
    rc = fcs_gatefile_read_mem(out, buf, len, strcmp(path, "-") == 0 ? "<stdin>" : path,
                               FCS_GATEFILE_AUTO, err);
    free(buf);
    return rc;
}

int fcs_gatefile_write_mem(const fcs_strategy *s, fcs_gatefile_format format, char **out,
                           size_t *len, fcs_error *err)
{
    if (!s || !out || !len) return fcs_error_set(err, FCS_EINVAL, "fcs_gatefile_write_mem: NULL");
    *out = NULL;
    *len = 0;
    if (format == FCS_GATEFILE_GATINGML) return fcs_gatingml_write_mem(s, out, len, err);
    if (format != FCS_GATEFILE_TEXT)
        return fcs_error_set(err, FCS_EINVAL, "fcs_gatefile_write_mem: format %d cannot be written",
                             (int)format);
    fcs_sbuf b = FCS_SBUF_INIT;
    int rc = write_text(s, &b, err);
    if (rc) {
        free(b.s);
        return rc;
    }
    *out = b.s;
    *len = b.len;
    fcs_error_clear(err);
    return FCS_OK;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* PATH.tmp.<pid> in the same folder, synced and renamed into place. */
static int write_file(const char *path, const char *doc, size_t len, fcs_error *err)
{
    size_t pl = strlen(path) + 32;
    char *tmp = malloc(pl);
    if (!tmp) return fcs_error_set(err, FCS_ENOMEM, "%s: out of memory", path);
    snprintf(tmp, pl, "%s.tmp.%ld", path, (long)getpid());
    int rc = FCS_OK, fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) {
        rc = fcs_error_set(err, FCS_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    } else {
        int bad = write_all(fd, doc, len) != 0 || fsync(fd) != 0;
        int e = errno;
        if (close(fd) != 0 && !bad) bad = 1, e = errno;
        if (bad)
            rc = fcs_error_set(err, FCS_EIO, "%s: write failed: %s", path, strerror(e));
        else if (rename(tmp, path) != 0)
            rc = fcs_error_set(err, FCS_EIO, "%s: cannot rename into place: %s", path,
                               strerror(errno));
        if (rc) unlink(tmp);
    }
    free(tmp);
    return rc;
}

int fcs_gatefile_write(const fcs_strategy *s, const char *path, fcs_gatefile_format format,
                       fcs_error *err)
{
    if (!path) return fcs_error_set(err, FCS_EINVAL, "fcs_gatefile_write: no path");
    char *doc;
    size_t len;
    int rc = fcs_gatefile_write_mem(s, format, &doc, &len, err);
    if (rc) return rc;
    if (strcmp(path, "-") == 0)
        rc = write_all(STDOUT_FILENO, doc, len)
                 ? fcs_error_set(err, FCS_EIO, "<stdout>: write failed: %s", strerror(errno))
                 : FCS_OK;
    else
        rc = write_file(path, doc, len, err);
    free(doc);
    return rc;
}

int fcs_gatefile_convert(const char *in_path, const char *out_path, fcs_gatefile_format format,
                         fcs_error *err)
{
    fcs_strategy *s;
    if (!in_path || !out_path) return fcs_error_set(err, FCS_EINVAL, "fcs_gatefile_convert: NULL");
    int rc = fcs_gatefile_read(&s, in_path, err);
    if (rc) return rc;
    fcs_error local;
    rc = fcs_gatefile_write(s, out_path, format, &local);
    if (rc) {
        const char *shown = strcmp(out_path, "-") == 0 ? "<stdout>" : out_path;
        /* name the output unless the message already does */
        if (strncmp(local.msg, shown, strlen(shown)) == 0 || strncmp(local.msg, "<stdout>", 8) == 0)
            fcs_error_set(err, rc, "%s", local.msg);
        else
            fcs_error_set(err, rc, "%s: %s", shown, local.msg);
    }
    fcs_strategy_free(s);
    return rc;
}

/* ======================================================================
 * Copying a strategy with rewritten dimensions
 * ====================================================================== */

/* Rewrites one dimension of gate g into *out (strings stay the source's). */
typedef int (*dim_fn)(void *ctx, const fcs_gate_info *g, const fcs_gate_dim *in, fcs_gate_dim *out,
                      fcs_error *err);

static int copy_dims(const fcs_gate_info *g, const fcs_gate_dim *in, size_t n, dim_fn fn, void *ctx,
                     fcs_gate_dim **out, fcs_error *err)
{
    *out = calloc(n ? n : 1, sizeof **out);
    if (!*out) return fcs_error_set(err, FCS_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        (*out)[i] = in[i];
        int rc = fn ? fn(ctx, g, &in[i], &(*out)[i], err) : FCS_OK;
        if (rc) return rc;
    }
    return FCS_OK;
}

static int copy_quadrant_gate(fcs_strategy *d, const fcs_gate_info *in, dim_fn fn, void *ctx,
                              fcs_error *err)
{
    fcs_gate_divider *dv = calloc(in->n_dividers ? in->n_dividers : 1, sizeof *dv);
    int rc = dv ? FCS_OK : fcs_error_set(err, FCS_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < in->n_dividers; i++) {
        dv[i] = in->dividers[i];
        if (fn) rc = fn(ctx, in, &in->dividers[i].dim, &dv[i].dim, err);
    }
    if (!rc && (rc = fcs_strategy_add_quadrant_gate(d, in->id, in->parent, in->n_dividers, dv)))
        fcs_error_set(err, rc, "%s", fcs_strategy_errmsg(d));
    free(dv);
    size_t maxp = 1;
    for (size_t q = 0; q < in->n_quadrants; q++)
        if (in->quadrants[q].n_positions > maxp) maxp = in->quadrants[q].n_positions;
    const char **ids = rc ? NULL : calloc(maxp, sizeof *ids);
    if (!rc && !ids) rc = fcs_error_set(err, FCS_ENOMEM, "out of memory");
    for (size_t q = 0; !rc && q < in->n_quadrants; q++) {
        const fcs_gate_quadrant *qd = &in->quadrants[q];
        for (size_t k = 0; k < qd->n_positions; k++) ids[k] = in->dividers[qd->dividers[k]].id;
        if ((rc =
                 fcs_strategy_add_quadrant(d, in->id, qd->id, qd->n_positions, ids, qd->locations)))
            fcs_error_set(err, rc, "%s", fcs_strategy_errmsg(d));
    }
    free(ids);
    return rc;
}

static int copy_gate(fcs_strategy *d, const fcs_gate_info *in, dim_fn fn, void *ctx, fcs_error *err)
{
    if (in->type == FCS_GATE_QUADRANT) return copy_quadrant_gate(d, in, fn, ctx, err);
    fcs_gate_dim *dims = NULL;
    int rc = FCS_OK;
    if (in->type != FCS_GATE_BOOLEAN) rc = copy_dims(in, in->dims, in->n_dims, fn, ctx, &dims, err);
    if (!rc) {
        switch (in->type) {
        case FCS_GATE_RECTANGLE:
            rc = fcs_strategy_add_rectangle(d, in->id, in->parent, in->n_dims, dims, in->min,
                                            in->max);
            break;
        case FCS_GATE_POLYGON:
            rc =
                fcs_strategy_add_polygon(d, in->id, in->parent, dims, in->n_vertices, in->vertices);
            break;
        case FCS_GATE_ELLIPSOID:
            rc = fcs_strategy_add_ellipsoid(d, in->id, in->parent, in->n_dims, dims, in->mean,
                                            in->covariance, in->distance_square);
            break;
        case FCS_GATE_BOOLEAN:
            rc = fcs_strategy_add_boolean(d, in->id, in->parent, in->op, in->n_refs, in->refs);
            break;
        case FCS_GATE_QUADRANT: break;
        }
        if (rc) fcs_error_set(err, rc, "%s", fcs_strategy_errmsg(d));
    }
    free(dims);
    return rc;
}

/* A copy of s (matrices, transforms, gates in order, source lines) with
 * every gate dimension passed through fn (NULL: unchanged). */
static int copy_strategy(const fcs_strategy *s, dim_fn fn, void *ctx, fcs_strategy **out,
                         fcs_error *err)
{
    fcs_strategy *d = fcs_strategy_new();
    int rc = d ? FCS_OK : fcs_error_set(err, FCS_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < fcs_strategy_n_matrices(s); i++) {
        fcs_gate_matrix_info mi;
        if ((rc = fcs_strategy_matrix(s, i, &mi)) == FCS_OK &&
            (rc = fcs_strategy_add_matrix(d, mi.id, mi.matrix, mi.inverted)))
            fcs_error_set(err, rc, "%s", fcs_strategy_errmsg(d));
    }
    for (size_t i = 0; !rc && i < fcs_strategy_n_transforms(s); i++) {
        const char *id, *num, *den;
        const fcs_transform *t;
        if ((rc = fcs_strategy_transform(s, i, &id, &t, &num, &den)) == FCS_OK &&
            (rc = fcs_strategy_add_transform(d, id, t, num, den)))
            fcs_error_set(err, rc, "%s", fcs_strategy_errmsg(d));
    }
    for (size_t i = 0; !rc && i < fcs_strategy_n_gates(s); i++) {
        fcs_gate_info in;
        if ((rc = fcs_strategy_gate(s, i, &in)) == FCS_OK &&
            (rc = copy_gate(d, &in, fn, ctx, err)) == FCS_OK)
            fcs_strategy_set_last_gate_line(d, in.line);
    }
    if (rc) {
        fcs_strategy_free(d);
        return rc;
    }
    *out = d;
    return FCS_OK;
}

/* ======================================================================
 * No double application: what the stream already carries
 * ====================================================================== */

/* One record of LIBFCS_COMP (fcs-comp): "compensate;source=..;channels=a,b;
 * ..;spillover=S" or "unmix;source=..;detectors=..;fluorochromes=..". '\'
 * escapes ';' '|' and '\' (and ',' inside lists). */
typedef struct comp_rec {
    int unmix;
    int from_keyword; /* source is a spillover keyword ($SPILLOVER, SPILL, ...), not a file */
    char *source;
    char **chans; /* compensate: channels; unmix: fluorochromes */
    size_t n_chans;
    fcs_matrix *spill; /* compensate: the matrix used, or NULL */
} comp_rec;

typedef struct stream {
    const fcs_strategy *s;
    const fcs_reader *r;
    size_t np;
    const fcs_matrix *spill; /* the data set's own spillover (NULL: none) */
    comp_rec *recs;
    size_t n_recs, cap_recs;
} stream;

/* End of the field starting at f: the next unescaped sep or "|", or the end. */
static const char *field_end(const char *f, char sep)
{
    for (; *f && *f != sep && *f != '|'; f++)
        if (*f == '\\' && f[1]) f++;
    return f;
}

static char *unescape(const char *s, const char *end)
{
    char *out = malloc((size_t)(end - s) + 1), *w = out;
    if (!out) return NULL;
    for (; s < end; s++) {
        if (*s == '\\' && s + 1 < end) s++;
        *w++ = *s;
    }
    *w = '\0';
    return out;
}

/* The ','-separated list [v, end) into rec->chans. */
static int split_list(comp_rec *rec, const char *v, const char *end)
{
    size_t cap = 0;
    while (v < end) {
        const char *e = v;
        while (e < end && *e != ',') e += (*e == '\\' && e + 1 < end) ? 2 : 1;
        if (fcs_grow((void **)&rec->chans, &cap, rec->n_chans + 1, sizeof *rec->chans))
            return FCS_ENOMEM;
        if (!(rec->chans[rec->n_chans] = unescape(v, e))) return FCS_ENOMEM;
        rec->n_chans++;
        v = e < end ? e + 1 : end;
    }
    return FCS_OK;
}

static int parse_field(stream *st, comp_rec *rec, const char *f, const char *end, fcs_error *err)
{
    const char *eq = f;
    while (eq < end && *eq != '=') eq++;
    size_t kl = (size_t)(eq - f);
    if (eq == end) return FCS_OK; /* not key=value: nothing we use */
    const char *v = eq + 1;
    const char *list = rec->unmix ? "fluorochromes" : "channels";
    if (kl == strlen(list) && strncmp(f, list, kl) == 0) return split_list(rec, v, end);
    if (kl == 6 && strncmp(f, "source", 6) == 0) {
        free(rec->source);
        if (!(rec->source = unescape(v, end))) return FCS_ENOMEM;
        rec->from_keyword = strncmp(rec->source, "file:", 5) != 0;
        return FCS_OK;
    }
    if (!rec->unmix && kl == 9 && strncmp(f, "spillover", 9) == 0) {
        char *sv = unescape(v, end);
        if (!sv) return FCS_ENOMEM;
        fcs_error e;
        int rc = fcs_matrix_parse_spillover(sv, NULL, 0, &rec->spill, &e);
        free(sv);
        if (rc == FCS_ENOMEM) return rc;
        if (rc)
            return fcs_error_set(err, FCS_EFORMAT,
                                 "%s: LIBFCS_COMP: the recorded matrix is not "
                                 "readable (%s)",
                                 fcs_name(st->r), e.msg);
    }
    return FCS_OK;
}

static int parse_record(stream *st, const char *rec_start, const char **next, fcs_error *err)
{
    if (fcs_grow((void **)&st->recs, &st->cap_recs, st->n_recs + 1, sizeof *st->recs))
        return FCS_ENOMEM;
    comp_rec *rec = &st->recs[st->n_recs++];
    memset(rec, 0, sizeof *rec);
    const char *f = rec_start, *e = field_end(f, ';');
    if ((size_t)(e - f) == 10 && strncmp(f, "compensate", 10) == 0)
        rec->unmix = 0;
    else if ((size_t)(e - f) == 5 && strncmp(f, "unmix", 5) == 0)
        rec->unmix = 1;
    else
        return fcs_error_set(err, FCS_EFORMAT,
                             "%s: LIBFCS_COMP: record '%.*s' is neither "
                             "'compensate' nor 'unmix': refusing to guess what was applied",
                             fcs_name(st->r), (int)((e - f) > 60 ? 60 : (e - f)), f);
    while (*e == ';') {
        f = e + 1;
        e = field_end(f, ';');
        int rc = parse_field(st, rec, f, e, err);
        if (rc) return rc;
    }
    *next = *e == '|' ? e + 1 : NULL;
    return FCS_OK;
}

/* The records of LIBFCS_COMP (none when absent). */
static int parse_comp_keyword(stream *st, fcs_error *err)
{
    const char *v = fcs_keyword(st->r, "LIBFCS_COMP");
    if (!v) return FCS_OK;
    while (*v == ' ') v++;
    if (!*v) return FCS_OK;
    for (const char *rec = v; rec;) {
        int rc = parse_record(st, rec, &rec, err);
        if (rc == FCS_ENOMEM) return fcs_error_set(err, rc, "out of memory");
        if (rc) return rc;
    }
    return FCS_OK;
}

static void stream_free(stream *st)
{
    for (size_t i = 0; i < st->n_recs; i++) {
        comp_rec *r = &st->recs[i];
        free(r->source);
        for (size_t k = 0; k < r->n_chans; k++) free(r->chans[k]);
        free(r->chans);
        fcs_matrix_free(r->spill);
    }
    free(st->recs);
}

/* Channel (0-based) named name: exact, else ignoring case; -1 if none. */
static long stream_channel(const stream *st, const char *name)
{
    for (int pass = 0; pass < 2; pass++)
        for (size_t j = 0; j < st->np; j++) {
            const char *n = fcs_param_info(st->r, j)->name;
            if (n && (pass ? fcs_strcasecmp(n, name) == 0 : strcmp(n, name) == 0)) return (long)j;
        }
    return -1;
}

static const char *chan_name(const stream *st, long ch)
{
    const char *n = fcs_param_info(st->r, (size_t)ch)->name;
    return n ? n : "?";
}

/* LIBFCS_PnTRANSFORM of channel ch, NULL when it has none. */
static const char *chan_xform(const stream *st, long ch)
{
    char key[48];
    snprintf(key, sizeof key, "LIBFCS_P%ldTRANSFORM", ch + 1);
    const char *v = fcs_keyword(st->r, key);
    while (v && *v == ' ') v++;
    return v && *v ? v : NULL;
}

/* How many records name channel ch; *last is the last of them. */
static size_t chan_records(const stream *st, long ch, const comp_rec **last)
{
    const char *n = fcs_param_info(st->r, (size_t)ch)->name;
    size_t count = 0;
    *last = NULL;
    for (size_t i = 0; n && i < st->n_recs; i++)
        for (size_t k = 0; k < st->recs[i].n_chans; k++)
            if (strcmp(st->recs[i].chans[k], n) == 0) {
                count++;
                *last = &st->recs[i];
                break;
            }
    return count;
}

static int no_comp(const char *c) { return !c || strcmp(c, FCS_COMP_UNCOMPENSATED) == 0; }

static long strategy_matrix(const fcs_strategy *s, const char *id, fcs_gate_matrix_info *mi)
{
    for (size_t i = 0; i < fcs_strategy_n_matrices(s); i++)
        if (fcs_strategy_matrix(s, i, mi) == FCS_OK && strcmp(mi->id, id) == 0) return (long)i;
    return -1;
}

static int name_in(const char *name, const char *const *names, size_t n)
{
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n; i++)
            if (pass ? fcs_strcasecmp(names[i], name) == 0 : strcmp(names[i], name) == 0) return 1;
    return 0;
}

/* Whether compensation c changes the value of name at all (as gate.c
 * resolves it: an output of the compensation, else the channel as is). */
static int comp_covers(const stream *st, const char *c, const char *name)
{
    if (no_comp(c)) return 0;
    if (strcmp(c, FCS_COMP_FCS) == 0) {
        if (!st->spill) return 0;
        for (int pass = 0; pass < 2; pass++)
            for (size_t i = 0; i < fcs_matrix_cols(st->spill); i++) {
                const char *n = fcs_matrix_name(st->spill, i);
                if (pass ? fcs_strcasecmp(n, name) == 0 : strcmp(n, name) == 0) return 1;
            }
        return 0;
    }
    fcs_gate_matrix_info mi;
    return strategy_matrix(st->s, c, &mi) >= 0 &&
           name_in(name, mi.fluorochromes, mi.n_fluorochromes);
}

static long spill_index(const fcs_matrix *m, const char *name)
{
    for (size_t i = 0; i < fcs_matrix_cols(m); i++)
        if (strcmp(fcs_matrix_name(m, i), name) == 0) return (long)i;
    return -1;
}

/* A spillover-style strategy matrix equal to the recorded one: same
 * channels (any order) and exactly the same values. */
static int same_matrix(const fcs_gate_matrix_info *mi, const fcs_matrix *rec)
{
    size_t n = mi->n_detectors;
    if (!rec || mi->inverted || mi->n_fluorochromes != n || fcs_matrix_cols(rec) != n) return 0;
    for (size_t r = 0; r < n; r++) {
        long ri = spill_index(rec, mi->fluorochromes[r]);
        if (ri < 0) return 0;
        for (size_t c = 0; c < n; c++) {
            long ci = spill_index(rec, mi->detectors[c]);
            if (ci < 0 ||
                fcs_matrix_get(mi->matrix, r, c) != fcs_matrix_get(rec, (size_t)ri, (size_t)ci))
                return 0;
        }
    }
    return 1;
}

/* Whether compensation c is what record rec applied. */
static int record_is(const stream *st, const char *c, const comp_rec *rec)
{
    if (rec->unmix || no_comp(c)) return 0;
    if (strcmp(c, FCS_COMP_FCS) == 0) return rec->from_keyword;
    fcs_gate_matrix_info mi;
    return strategy_matrix(st->s, c, &mi) >= 0 && same_matrix(&mi, rec->spill);
}

typedef enum comp_state { CS_NONE, CS_DONE, CS_TODO } comp_state;

static const char *src_of(const comp_rec *r) { return r->source ? r->source : "an unnamed source"; }

/* What compensation c means for channel ch of the stream. */
static int comp_status(const stream *st, const char *gid, const char *c, long ch, comp_state *out,
                       fcs_error *err)
{
    const char *name = chan_name(st, ch), *shown = no_comp(c) ? FCS_COMP_UNCOMPENSATED : c;
    const comp_rec *rec;
    size_t nrec = chan_records(st, ch, &rec);
    int covers = comp_covers(st, c, name);
    *out = CS_NONE;
    if (nrec > 1)
        return fcs_error_set(err, FCS_EFORMAT,
                             "gate '%s': channel %s was compensated %zu times "
                             "(LIBFCS_COMP): refusing to guess which values the strategy means",
                             gid, name, nrec);
    if (nrec == 1 && rec->unmix) {
        if (!covers && (no_comp(c) || strcmp(c, FCS_COMP_FCS) == 0)) return FCS_OK;
        return fcs_error_set(err, FCS_EFORMAT,
                             "gate '%s': channel %s was made by spectral "
                             "unmixing (LIBFCS_COMP: unmix with %s), which cannot be checked "
                             "against compensation '%s' of the strategy; gate the stream before "
                             "fcs-comp, or give the dimension no compensation",
                             gid, name, src_of(rec), shown);
    }
    if (nrec == 1) {
        if (record_is(st, c, rec)) {
            *out = CS_DONE;
            return FCS_OK;
        }
        if (no_comp(c))
            return fcs_error_set(err, FCS_EFORMAT,
                                 "gate '%s': the dimension on %s asks for "
                                 "uncompensated values, but the stream's channel is compensated "
                                 "(LIBFCS_COMP: compensate with %s)",
                                 gid, name, src_of(rec));
        return fcs_error_set(err, FCS_EFORMAT,
                             "gate '%s': the dimension on %s asks for "
                             "compensation '%s', but the stream's channel was compensated with %s "
                             "(LIBFCS_COMP), which is not shown to be the same: refusing to guess",
                             gid, name, shown, src_of(rec));
    }
    if (!covers) return FCS_OK;
    for (size_t i = 0; i < st->n_recs; i++)
        if (record_is(st, c, &st->recs[i])) { /* it left this channel out: no effect */
            *out = CS_DONE;
            return FCS_OK;
        }
    *out = CS_TODO;
    return FCS_OK;
}

/* Compensation c is to be computed here: every channel it reads must be raw. */
static int check_comp_inputs(const stream *st, const char *gid, const char *c, fcs_error *err)
{
    const char *const *in = NULL;
    size_t n = 0;
    const char **spill_names = NULL;
    fcs_gate_matrix_info mi;
    if (strcmp(c, FCS_COMP_FCS) == 0) {
        n = st->spill ? fcs_matrix_cols(st->spill) : 0;
        spill_names = calloc(n ? n : 1, sizeof *spill_names);
        if (!spill_names) return fcs_error_set(err, FCS_ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) spill_names[i] = fcs_matrix_name(st->spill, i);
        in = spill_names;
    } else if (strategy_matrix(st->s, c, &mi) >= 0) {
        in = mi.detectors;
        n = mi.n_detectors;
    }
    int rc = FCS_OK;
    for (size_t i = 0; !rc && i < n; i++) {
        long ch = stream_channel(st, in[i]);
        if (ch < 0) continue;
        const comp_rec *rec;
        const char *x = chan_xform(st, ch);
        if (x)
            rc = fcs_error_set(err, FCS_EFORMAT,
                               "gate '%s': compensation '%s' needs linear "
                               "values of %s, but the stream carries LIBFCS_P%ldTRANSFORM=%.100s "
                               "(run fcs-comp before fcs-xform, or let the strategy transform)",
                               gid, c, chan_name(st, ch), ch + 1, x);
        else if (chan_records(st, ch, &rec))
            rc = fcs_error_set(err, FCS_EFORMAT,
                               "gate '%s': compensation '%s' reads %s, which "
                               "the stream carries compensated with %s (LIBFCS_COMP): refusing "
                               "to compensate twice",
                               gid, c, chan_name(st, ch), src_of(rec));
    }
    free(spill_names);
    return rc;
}

/* Whether the channel already carries exactly transform id tid. */
static int transform_status(const stream *st, const char *gid, const char *tid, long ch, int *done,
                            fcs_error *err)
{
    const char *have = chan_xform(st, ch), *name = chan_name(st, ch);
    *done = 0;
    if (!have && !tid) return FCS_OK;
    if (!tid)
        return fcs_error_set(err, FCS_EFORMAT,
                             "gate '%s': the dimension on %s asks for "
                             "untransformed values, but the stream carries LIBFCS_P%ldTRANSFORM="
                             "%.100s (fcs-xform); gate before fcs-xform, or give the dimension "
                             "that transform",
                             gid, name, ch + 1, have);
    long ti = find_transform(st->s, tid);
    const fcs_transform *t = NULL;
    if (ti < 0 || fcs_strategy_transform(st->s, (size_t)ti, NULL, &t, NULL, NULL) != FCS_OK)
        return fcs_error_set(err, FCS_ENOTFOUND, "gate '%s': no transformation '%s'", gid, tid);
    if (!have) return FCS_OK;
    fcs_transform *h = NULL;
    int same = fcs_transform_parse(have, &h, NULL) == FCS_OK &&
               strcmp(fcs_transform_string(h), fcs_transform_string(t)) == 0;
    fcs_transform_free(h);
    if (!same)
        return fcs_error_set(err, FCS_EFORMAT,
                             "gate '%s': the dimension on %s asks for "
                             "transform '%s' = %.100s, but the stream carries "
                             "LIBFCS_P%ldTRANSFORM=%.100s: refusing to guess",
                             gid, name, tid, fcs_transform_string(t), ch + 1, have);
    *done = 1;
    return FCS_OK;
}

static int adapt_ratio(const stream *st, const fcs_gate_info *g, const fcs_gate_dim *in,
                       fcs_gate_dim *out, fcs_error *err)
{
    long ti = find_transform(st->s, in->ratio);
    const char *ch_names[2] = {NULL, NULL};
    if (ti < 0) return FCS_OK; /* fcs_strategy_check reports it */
    (void)fcs_strategy_transform(st->s, (size_t)ti, NULL, NULL, &ch_names[0], &ch_names[1]);
    comp_state cs[2] = {CS_NONE, CS_NONE};
    for (int k = 0; k < 2; k++) {
        long ch = ch_names[k] ? stream_channel(st, ch_names[k]) : -1;
        if (ch < 0) continue;
        const char *x = chan_xform(st, ch);
        if (x)
            return fcs_error_set(err, FCS_EFORMAT,
                                 "gate '%s': ratio '%s' needs linear values of "
                                 "%s, but the stream carries LIBFCS_P%ldTRANSFORM=%.100s",
                                 g->id, in->ratio, chan_name(st, ch), ch + 1, x);
        int rc = comp_status(st, g->id, in->compensation, ch, &cs[k], err);
        if (rc) return rc;
    }
    if ((cs[0] == CS_DONE && cs[1] == CS_TODO) || (cs[0] == CS_TODO && cs[1] == CS_DONE))
        return fcs_error_set(err, FCS_EFORMAT,
                             "gate '%s': ratio '%s': one channel is compensated "
                             "in the stream and the other is not: refusing to mix",
                             g->id, in->ratio);
    if (cs[0] == CS_DONE || cs[1] == CS_DONE) out->compensation = NULL;
    if (cs[0] == CS_TODO || cs[1] == CS_TODO)
        return check_comp_inputs(st, g->id, in->compensation, err);
    return FCS_OK;
}

static int adapt_dim(void *ctx, const fcs_gate_info *g, const fcs_gate_dim *in, fcs_gate_dim *out,
                     fcs_error *err)
{
    const stream *st = ctx;
    if (in->ratio) return adapt_ratio(st, g, in, out, err);
    long ch = stream_channel(st, in->name);
    if (ch < 0) { /* a fluorochrome computed here, or missing: fcs_gating_new decides */
        if (!no_comp(in->compensation)) return check_comp_inputs(st, g->id, in->compensation, err);
        return FCS_OK;
    }
    comp_state cs;
    int xdone, rc = comp_status(st, g->id, in->compensation, ch, &cs, err);
    if (!rc) rc = transform_status(st, g->id, in->transform, ch, &xdone, err);
    if (rc) return rc;
    if (xdone && cs == CS_TODO)
        return fcs_error_set(err, FCS_EFORMAT,
                             "gate '%s': %s is transformed in the stream "
                             "(LIBFCS_P%ldTRANSFORM=%.100s) but not compensated, and compensation "
                             "'%s' needs linear values (run fcs-comp before fcs-xform)",
                             g->id, chan_name(st, ch), ch + 1, chan_xform(st, ch),
                             in->compensation);
    if (cs == CS_DONE) out->compensation = NULL;
    if (xdone) out->transform = NULL;
    if (cs == CS_TODO) return check_comp_inputs(st, g->id, in->compensation, err);
    return FCS_OK;
}

int fcs_strategy_for_stream(const fcs_strategy *s, const fcs_reader *r, fcs_strategy **out,
                            fcs_error *err)
{
    if (!out) return fcs_error_set(err, FCS_EINVAL, "fcs_strategy_for_stream: no output");
    *out = NULL;
    if (!s || !r) return fcs_error_set(err, FCS_EINVAL, "fcs_strategy_for_stream: NULL argument");
    int line, rc = fcs_strategy_check(s, &line, err);
    if (rc) return rc;
    stream st;
    memset(&st, 0, sizeof st);
    st.s = s;
    st.r = r;
    st.np = fcs_n_params(r);
    st.spill = fcs_spillover(r, NULL);
    rc = parse_comp_keyword(&st, err);
    if (!rc) rc = copy_strategy(s, adapt_dim, &st, out, err);
    stream_free(&st);
    if (rc == FCS_ENOMEM) fcs_error_set(err, rc, "out of memory");
    if (!rc) fcs_error_clear(err);
    return rc;
}
