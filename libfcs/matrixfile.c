/*
 * matrixfile.c — spillover / spectrum matrices from CSV and TSV text, in
 * the layouts FlowJo, FlowKit, flowCore and spreadsheets write:
 *
 *     FlowKit CSV           flowCore (blank-separated, quoted, row names)
 *     A,B,C                 "FL1-H" "FL2-H"
 *     1,0.29,0              "FL1-H" 1 0.24
 *     0.007,1,0             "FL2-H" 0.0077 1
 *     0,0,1
 *
 *     old FlowJo export (CR line ends, name and marker lines first, TSV)
 *     Lipo088#2matrix \r <\t> \r FL1-H\tFL2-H \r 1\t0.24 \r 7.77e-3\t1 \r
 *
 * The parser finds the block of numeric rows, takes the line before it as
 * the header, and checks every row against it (see fcs/comp.h).
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcs/comp.h"
#include "internal.h"

#define FCS_MATRIX_FILE_MAX (64u << 20)

typedef struct field {
    char *s;     /* unquoted, trimmed text (points into the line copy) */
    int quoted;  /* quoted fields are always text */
} field;

typedef struct row {
    size_t line; /* 1-based line number in the text */
    field *f;
    size_t nf;
} row;

typedef struct table {
    const char *name;
    char *buf;   /* the text, split into lines in place */
    char **lines;
    size_t *line_no;
    size_t n_lines;
    row *rows;   /* rows of the current delimiter attempt */
    char *work;  /* copy of the lines the tokenizer cuts up */
} table;

/* ---- lines ------------------------------------------------------------------------ */

static int is_space_or_tab(int c) { return c == ' ' || c == '\t'; }

/* Split into lines (LF, CRLF, CR), drop blank and '#' comment lines. */
static int split_lines(table *t, const char *text, size_t len)
{
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) text += 3, len -= 3;
    t->buf = malloc(len + 1);
    size_t cap = 1;
    for (size_t i = 0; i < len; i++) cap += text[i] == '\n' || text[i] == '\r';
    t->lines = malloc(cap * sizeof *t->lines);
    t->line_no = malloc(cap * sizeof *t->line_no);
    if (!t->buf || !t->lines || !t->line_no) return FCS_ENOMEM;
    memcpy(t->buf, text, len);
    t->buf[len] = '\0';
    size_t no = 1;
    char *p = t->buf, *end = t->buf + len;
    while (p <= end) {
        char *e = p;
        while (e < end && *e != '\n' && *e != '\r') e++;
        char *next = e + 1;
        if (e < end && *e == '\r' && e + 1 < end && e[1] == '\n') next++;
        *e = '\0';
        char *s = p;
        while (is_space_or_tab((unsigned char)*s)) s++;
        if (*s && *s != '#') {
            t->lines[t->n_lines] = p;
            t->line_no[t->n_lines++] = no;
        }
        no++;
        if (e >= end) break;
        p = next;
    }
    return FCS_OK;
}

/* ---- fields ---------------------------------------------------------------------- */

static void rows_free(table *t)
{
    if (t->rows)
        for (size_t i = 0; i < t->n_lines; i++) free(t->rows[i].f);
    free(t->rows);
    free(t->work);
    t->rows = NULL;
    t->work = NULL;
}

/* Read a quoted field starting at *pp (on the opening quote); the text is
 * unescaped in place. Returns the end of the field or NULL when unterminated. */
static char *read_quoted(char *p, char **text)
{
    char *w = p + 1, *r = p + 1;
    *text = w;
    for (;;) {
        if (*r == '\0') return NULL;
        if (*r == '"') {
            if (r[1] == '"') {
                *w++ = '"';
                r += 2;
                continue;
            }
            *w = '\0';
            return r + 1;
        }
        *w++ = *r++;
    }
}

static char *rtrim(char *s, char *end)
{
    while (end > s && is_space_or_tab((unsigned char)end[-1])) end--;
    *end = '\0';
    return s;
}

/* Tokenize one line. delim 0 means runs of blanks. */
static int tokenize(char *line, int delim, row *out, const table *t, size_t line_no,
                    fcs_error *err)
{
    size_t cap = 8;
    out->f = malloc(cap * sizeof *out->f);
    out->nf = 0;
    out->line = line_no;
    if (!out->f) return fcs_error_set(err, FCS_ENOMEM, "%s: out of memory", t->name);
    char *p = line;
    for (;;) {
        while (is_space_or_tab((unsigned char)*p) && *p != delim) p++;
        if (delim == 0 && *p == '\0') break;
        field f = {p, 0};
        char *stop, *next;
        int last;
        if (*p == '"') {
            stop = read_quoted(p, &f.s); /* NUL-terminates the text */
            if (!stop)
                return fcs_error_set(err, FCS_EFORMAT, "%s: line %zu, column %zu: unterminated "
                                     "quote", t->name, line_no, out->nf + 1);
            f.quoted = 1;
            if (*stop && !is_space_or_tab((unsigned char)*stop) && *stop != delim)
                return fcs_error_set(err, FCS_EFORMAT, "%s: line %zu, column %zu: text after "
                                     "the closing quote", t->name, line_no, out->nf + 1);
            while (is_space_or_tab((unsigned char)*stop) && *stop != delim) stop++;
            if (delim != 0 && *stop && *stop != delim)
                return fcs_error_set(err, FCS_EFORMAT, "%s: line %zu, column %zu: text after "
                                     "the closing quote", t->name, line_no, out->nf + 1);
            last = *stop == '\0';
            next = delim == 0 ? stop : stop + 1; /* blanks: stop is the next field */
        } else {
            stop = p;
            if (delim == 0)
                while (*stop && !is_space_or_tab((unsigned char)*stop)) stop++;
            else
                while (*stop && *stop != delim) stop++;
            last = *stop == '\0';
            next = stop + 1;
            rtrim(f.s, stop); /* cuts at stop (the delimiter) or before */
        }
        if (out->nf == cap) {
            field *nf = realloc(out->f, 2 * cap * sizeof *nf);
            if (!nf) return fcs_error_set(err, FCS_ENOMEM, "%s: out of memory", t->name);
            out->f = nf;
            cap *= 2;
        }
        out->f[out->nf++] = f;
        if (last) break;
        p = next;
    }
    /* a trailing delimiter leaves empty unquoted fields: not columns */
    while (out->nf > 1 && !out->f[out->nf - 1].quoted && out->f[out->nf - 1].s[0] == '\0')
        out->nf--;
    return FCS_OK;
}

static int tokenize_all(table *t, int delim, fcs_error *err)
{
    rows_free(t);
    size_t total = 0;
    for (size_t i = 0; i < t->n_lines; i++) total += strlen(t->lines[i]) + 1;
    t->rows = calloc(t->n_lines ? t->n_lines : 1, sizeof *t->rows);
    t->work = malloc(total ? total : 1);
    if (!t->rows || !t->work) return fcs_error_set(err, FCS_ENOMEM, "%s: out of memory", t->name);
    char *w = t->work;
    for (size_t i = 0; i < t->n_lines; i++) {
        size_t l = strlen(t->lines[i]);
        memcpy(w, t->lines[i], l + 1);
        int rc = tokenize(w, delim, &t->rows[i], t, t->line_no[i], err);
        if (rc != FCS_OK) return rc;
        w += l + 1;
    }
    return FCS_OK;
}

/* ---- numbers -------------------------------------------------------------------------- */

/* A finite number; with a delimiter other than ',' a single decimal comma
 * is a decimal point (European spreadsheets). */
static int field_number(const field *f, int delim, double *out)
{
    if (f->quoted || !f->s[0]) return -1;
    const char *s = f->s;
    char tmp[64];
    const char *comma = strchr(s, ',');
    if (delim != ',' && comma && !strchr(comma + 1, ',') && !strchr(s, '.')) {
        size_t len = strlen(s);
        if (len >= sizeof tmp) return -1;
        memcpy(tmp, s, len + 1);
        tmp[comma - s] = '.';
        s = tmp;
    }
    double v;
    if (fcs_parse_double(s, &v) != 0 || !isfinite(v)) return -1;
    /* "inf"/"nan"-like names are excluded above; reject hex floats too */
    if (strchr(s, 'x') || strchr(s, 'X')) return -1;
    *out = v;
    return 0;
}

/* 0: not numeric; 1: all fields numbers; 2: a name then numbers. */
static int row_kind(const row *r, int delim)
{
    double v;
    size_t first_num = 0;
    if (r->nf == 0) return 0;
    if (field_number(&r->f[0], delim, &v) != 0) {
        if (r->nf < 2) return 0;
        first_num = 1;
    }
    for (size_t i = first_num; i < r->nf; i++)
        if (field_number(&r->f[i], delim, &v) != 0) return 0;
    return first_num ? 2 : 1;
}

/* First field at or after `from` that is not a number, or nf. */
static size_t first_non_number(const row *r, size_t from, int delim)
{
    double v;
    for (size_t i = from; i < r->nf; i++)
        if (field_number(&r->f[i], delim, &v) != 0) return i;
    return r->nf;
}

/* A broken data row looks like the others but holds a word: say which. */
static int bad_value_error(const table *t, const row *r, size_t from, int delim, fcs_error *err)
{
    size_t c = first_non_number(r, from, delim);
    if (c >= r->nf) c = from;
    return fcs_error_set(err, FCS_EFORMAT, "%s: line %zu, column %zu: '%.40s' is not a finite "
                         "number", t->name, r->line, c + 1, c < r->nf ? r->f[c].s : "");
}

/* ---- building the matrix ----------------------------------------------------------------- */

typedef struct shape {
    size_t r0, r1;  /* numeric block: rows [r0, r1) */
    int named;      /* rows start with a name */
    size_t cols;    /* values per row */
    const row *header; /* NULL: names from row names (square, no header) */
    size_t h0;      /* first header field used as a column name */
} shape;

static int find_block(const table *t, int delim, shape *sh, fcs_error *err)
{
    size_t r0 = 0;
    while (r0 < t->n_lines && row_kind(&t->rows[r0], delim) == 0) r0++;
    if (r0 == t->n_lines)
        return fcs_error_set(err, FCS_EFORMAT, "%s: no row of numbers found", t->name);
    int kind = row_kind(&t->rows[r0], delim);
    sh->r0 = r0;
    sh->named = kind == 2;
    sh->cols = t->rows[r0].nf - (size_t)sh->named;
    size_t r1 = r0 + 1;
    for (; r1 < t->n_lines; r1++) {
        const row *r = &t->rows[r1];
        int k = row_kind(r, delim);
        if (k == 0) break;
        if (k != kind)
            return fcs_error_set(err, FCS_EFORMAT, "%s: line %zu: %s, unlike line %zu",
                                 t->name, r->line,
                                 k == 2 ? "starts with a row name" : "has no row name",
                                 t->rows[r0].line);
        if (r->nf - (size_t)sh->named != sh->cols)
            return fcs_error_set(err, FCS_EFORMAT, "%s: line %zu: %zu values, but line %zu has "
                                 "%zu", t->name, r->line, r->nf - (size_t)sh->named,
                                 t->rows[r0].line, sh->cols);
    }
    sh->r1 = r1;
    if (r1 < t->n_lines) {
        const row *r = &t->rows[r1];
        if (r->nf == t->rows[r0].nf) return bad_value_error(t, r, (size_t)sh->named, delim, err);
        return fcs_error_set(err, FCS_EFORMAT, "%s: line %zu: unexpected text after the matrix "
                             "(it ended at line %zu)", t->name, r->line, t->rows[r1 - 1].line);
    }
    return FCS_OK;
}

static int find_header(const table *t, int delim, shape *sh, fcs_error *err)
{
    size_t nrows = sh->r1 - sh->r0;
    if (sh->r0 == 0) {
        if (sh->named && nrows == sh->cols) { /* square with row names only */
            sh->header = NULL;
            return FCS_OK;
        }
        return fcs_error_set(err, FCS_EFORMAT, "%s: line %zu: no header line of channel names "
                             "before the first row of numbers", t->name, t->rows[0].line);
    }
    const row *h = &t->rows[sh->r0 - 1];
    const row *first = &t->rows[sh->r0];
    double v;
    /* a number in the header line means it is really a broken data row */
    for (size_t i = 0; i < h->nf; i++)
        if (field_number(&h->f[i], delim, &v) == 0) {
            if (h->nf == first->nf) return bad_value_error(t, h, (size_t)sh->named, delim, err);
            return fcs_error_set(err, FCS_EFORMAT, "%s: line %zu, column %zu: expected a "
                                 "channel name, found the number '%.40s'", t->name, h->line,
                                 i + 1, h->f[i].s);
        }
    if (h->nf == sh->cols)
        sh->h0 = 0;
    else if (h->nf == sh->cols + 1 && sh->named)
        sh->h0 = 1; /* corner cell above the row names */
    else
        return fcs_error_set(err, FCS_EFORMAT, "%s: line %zu: %zu channel name(s) for %zu "
                             "column(s) of numbers (line %zu)", t->name, h->line, h->nf,
                             sh->cols, first->line);
    for (size_t i = sh->h0; i < h->nf; i++) {
        if (!h->f[i].s[0])
            return fcs_error_set(err, FCS_EFORMAT, "%s: line %zu, column %zu: empty channel "
                                 "name", t->name, h->line, i + 1);
        for (size_t k = sh->h0; k < i; k++)
            if (strcmp(h->f[k].s, h->f[i].s) == 0)
                return fcs_error_set(err, FCS_EFORMAT, "%s: line %zu, column %zu: channel "
                                     "'%.40s' already named in column %zu", t->name, h->line,
                                     i + 1, h->f[i].s, k + 1);
    }
    sh->header = h;
    return FCS_OK;
}

/* Row names that are the column names in another order: reorder rows so
 * that row i is channel i. Returns 1 when reordered or already in order. */
static int reorder_rows(fcs_matrix *m)
{
    size_t n = fcs_matrix_rows(m);
    if (n != fcs_matrix_cols(m)) return 0;
    size_t *where = malloc(n * sizeof *where);
    fcs_matrix *tmp = fcs_matrix_copy(m);
    int ok = where && tmp;
    for (size_t i = 0; ok && i < n; i++) {
        size_t j = 0;
        while (j < n && strcmp(fcs_matrix_row_name(m, j), fcs_matrix_name(m, i)) != 0) j++;
        if (j == n) ok = 0;
        else where[i] = j;
    }
    if (ok)
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < n; j++)
                fcs_matrix_set(m, i, j, fcs_matrix_get(tmp, where[i], j));
    if (ok)
        for (size_t i = 0; i < n; i++) /* names of distinct rows: all present, permuted */
            if (fcs_matrix_set_row_name(m, i, fcs_matrix_name(m, i)) != FCS_OK) ok = 0;
    free(where);
    fcs_matrix_free(tmp);
    return ok;
}

/* Percent when square with every diagonal element exactly 100. */
static void percent_to_fraction(fcs_matrix *m)
{
    size_t n = fcs_matrix_rows(m);
    if (n == 0 || n != fcs_matrix_cols(m)) return;
    for (size_t i = 0; i < n; i++)
        if (fcs_matrix_get(m, i, i) != 100.0) return;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) fcs_matrix_set(m, i, j, fcs_matrix_get(m, i, j) / 100.0);
}

static int build(const table *t, int delim, const shape *sh, fcs_matrix **out, fcs_error *err)
{
    size_t nrows = sh->r1 - sh->r0;
    fcs_matrix *m = fcs_matrix_new(nrows, sh->cols);
    if (!m) return fcs_error_set(err, FCS_ENOMEM, "%s: out of memory", t->name);
    int rc = FCS_OK;
    for (size_t i = 0; i < nrows && rc == FCS_OK; i++) {
        const row *r = &t->rows[sh->r0 + i];
        for (size_t j = 0; j < sh->cols; j++) {
            double v = 0;
            field_number(&r->f[j + (size_t)sh->named], delim, &v); /* checked by row_kind */
            fcs_matrix_set(m, i, j, v);
        }
        if (sh->named && fcs_matrix_set_row_name(m, i, r->f[0].s) != FCS_OK) rc = FCS_ENOMEM;
        if (!sh->header && fcs_matrix_set_name(m, i, r->f[0].s) != FCS_OK) rc = FCS_ENOMEM;
    }
    for (size_t j = 0; sh->header && j < sh->cols && rc == FCS_OK; j++)
        if (fcs_matrix_set_name(m, j, sh->header->f[sh->h0 + j].s) != FCS_OK) rc = FCS_ENOMEM;
    if (rc != FCS_OK) {
        fcs_matrix_free(m);
        return fcs_error_set(err, FCS_ENOMEM, "%s: out of memory", t->name);
    }
    if (sh->named) reorder_rows(m);
    percent_to_fraction(m);
    *out = m;
    return FCS_OK;
}

static int parse_with(table *t, int delim, fcs_matrix **out, fcs_error *err)
{
    int rc = tokenize_all(t, delim, err);
    shape sh = {0};
    if (rc == FCS_OK) rc = find_block(t, delim, &sh, err);
    if (rc == FCS_OK) rc = find_header(t, delim, &sh, err);
    if (rc == FCS_OK) rc = build(t, delim, &sh, out, err);
    return rc;
}

/* Does the line hold c outside quoted text? */
static int has_unquoted(const char *line, int c)
{
    int in_quotes = 0;
    for (; *line; line++) {
        if (*line == '"') in_quotes = !in_quotes;
        else if (*line == c && !in_quotes) return 1;
    }
    return 0;
}

/* The delimiter: of tab, ';' and ',', the one found (outside quotes) on the
 * most lines, ties going to that order; blanks when none occurs. One choice,
 * no guessing afterwards: a failed parse is reported, never retried with
 * another delimiter (which would turn a broken CSV into a wrong matrix). */
static int choose_delimiter(const table *t)
{
    static const int order[] = {'\t', ';', ','};
    int best = 0;
    size_t best_count = 0;
    for (size_t k = 0; k < 3; k++) {
        size_t count = 0;
        for (size_t i = 0; i < t->n_lines; i++) count += (size_t)has_unquoted(t->lines[i], order[k]);
        if (count > best_count) best = order[k], best_count = count;
    }
    return best;
}

int fcs_matrix_parse_text(const char *text, size_t len, const char *name, fcs_matrix **out,
                          fcs_error *err)
{
    if (!name) name = "<matrix>";
    if (!out) return fcs_error_set(err, FCS_EINVAL, "%s: no output given", name);
    *out = NULL;
    if (!text && len) return fcs_error_set(err, FCS_EINVAL, "%s: no text given", name);
    table t = {0};
    t.name = name;
    int rc = split_lines(&t, text ? text : "", len);
    if (rc != FCS_OK)
        rc = fcs_error_set(err, FCS_ENOMEM, "%s: out of memory", name);
    else if (t.n_lines == 0)
        rc = fcs_error_set(err, FCS_EFORMAT, "%s: empty matrix file", name);
    else
        rc = parse_with(&t, choose_delimiter(&t), out, err);
    rows_free(&t);
    free(t.buf);
    free(t.lines);
    free(t.line_no);
    return rc;
}

/* ---- files ------------------------------------------------------------------------------ */

static int slurp(FILE *fp, const char *path, char **data, size_t *len, fcs_error *err)
{
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    if (!buf) return fcs_error_set(err, FCS_ENOMEM, "%s: out of memory", path);
    for (;;) {
        if (n == cap) {
            if (cap >= FCS_MATRIX_FILE_MAX) {
                free(buf);
                return fcs_error_set(err, FCS_EFORMAT, "%s: larger than %u MiB: not a matrix "
                                     "file", path, FCS_MATRIX_FILE_MAX >> 20);
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                return fcs_error_set(err, FCS_ENOMEM, "%s: out of memory", path);
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, fp);
        n += got;
        if (got == 0) break;
    }
    if (ferror(fp)) {
        int e = errno;
        free(buf);
        return fcs_error_set(err, FCS_EIO, "%s: read error: %s", path, strerror(e));
    }
    *data = buf;
    *len = n;
    return FCS_OK;
}

int fcs_matrix_read_file(const char *path, fcs_matrix **out, fcs_error *err)
{
    if (out) *out = NULL;
    if (!path || !out) return fcs_error_set(err, FCS_EINVAL, "matrix file: no path or output");
    int is_stdin = strcmp(path, "-") == 0;
    const char *name = is_stdin ? "<stdin>" : path;
    FILE *fp = is_stdin ? stdin : fopen(path, "rb");
    if (!fp) return fcs_error_set(err, FCS_EIO, "%s: cannot open: %s", path, strerror(errno));
    char *data = NULL;
    size_t len = 0;
    int rc = slurp(fp, name, &data, &len, err);
    if (!is_stdin) fclose(fp);
    if (rc != FCS_OK) return rc;
    rc = fcs_matrix_parse_text(data, len, name, out, err);
    free(data);
    return rc;
}
