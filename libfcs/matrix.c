/*
 * matrix.c — named matrices and the spillover keywords of FCS files:
 * $SPILLOVER (FCS 3.1), SPILL (BD, FCS 3.0), $COMP (FCS 2.0/3.0) and the
 * $DFCiTOj family (FCS 2.0, Beckman Coulter), with the vendor quirks seen in
 * real files (channel numbers for names, decimal commas, stray blanks).
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcs/matrix.h"
#include "internal.h"

struct fcs_matrix {
    size_t rows, cols;
    double *v;    /* rows*cols, row-major */
    char **names; /* cols entries; NULL = unset ("") */
    char **rnames; /* rows entries; NULL = unset */
};

/* ---- the object ------------------------------------------------------------ */

fcs_matrix *fcs_matrix_new(size_t n_rows, size_t n_cols)
{
    uint64_t cells, bytes;
    if (fcs_mul_ok(n_rows, n_cols, &cells) || fcs_mul_ok(cells, sizeof(double), &bytes) ||
        bytes > SIZE_MAX)
        return NULL;
    fcs_matrix *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->rows = n_rows;
    m->cols = n_cols;
    /* calloc(0) may legally return NULL: keep one cell so NULL means failure. */
    m->v = calloc(cells ? (size_t)cells : 1, sizeof(double));
    m->names = calloc(n_cols ? n_cols : 1, sizeof(char *));
    m->rnames = calloc(n_rows ? n_rows : 1, sizeof(char *));
    if (!m->v || !m->names || !m->rnames) {
        fcs_matrix_free(m);
        return NULL;
    }
    return m;
}

void fcs_matrix_free(fcs_matrix *m)
{
    if (!m) return;
    if (m->names)
        for (size_t i = 0; i < m->cols; i++) free(m->names[i]);
    free(m->names);
    if (m->rnames)
        for (size_t i = 0; i < m->rows; i++) free(m->rnames[i]);
    free(m->rnames);
    free(m->v);
    free(m);
}

fcs_matrix *fcs_matrix_copy(const fcs_matrix *m)
{
    if (!m) return NULL;
    fcs_matrix *c = fcs_matrix_new(m->rows, m->cols);
    if (!c) return NULL;
    if (m->rows && m->cols) memcpy(c->v, m->v, m->rows * m->cols * sizeof(double));
    for (size_t i = 0; i < m->cols; i++) {
        if (m->names[i] && fcs_matrix_set_name(c, i, m->names[i]) != FCS_OK) {
            fcs_matrix_free(c);
            return NULL;
        }
    }
    for (size_t i = 0; i < m->rows; i++) {
        if (m->rnames[i] && fcs_matrix_set_row_name(c, i, m->rnames[i]) != FCS_OK) {
            fcs_matrix_free(c);
            return NULL;
        }
    }
    return c;
}

size_t fcs_matrix_rows(const fcs_matrix *m) { return m ? m->rows : 0; }
size_t fcs_matrix_cols(const fcs_matrix *m) { return m ? m->cols : 0; }

double fcs_matrix_get(const fcs_matrix *m, size_t row, size_t col)
{
    if (!m || row >= m->rows || col >= m->cols) return NAN;
    return m->v[row * m->cols + col];
}

void fcs_matrix_set(fcs_matrix *m, size_t row, size_t col, double v)
{
    if (!m || row >= m->rows || col >= m->cols) return;
    m->v[row * m->cols + col] = v;
}

const double *fcs_matrix_data(const fcs_matrix *m) { return m ? m->v : NULL; }

const char *fcs_matrix_name(const fcs_matrix *m, size_t col)
{
    if (!m || col >= m->cols || !m->names[col]) return "";
    return m->names[col];
}

static int replace_name(char **slot, const char *name)
{
    char *copy = NULL;
    if (name && *name) {
        copy = fcs_strdup(name);
        if (!copy) return FCS_ENOMEM;
    }
    free(*slot);
    *slot = copy;
    return FCS_OK;
}

int fcs_matrix_set_name(fcs_matrix *m, size_t col, const char *name)
{
    if (!m) return FCS_EINVAL;
    if (col >= m->cols) return FCS_ERANGE;
    return replace_name(&m->names[col], name);
}

const char *fcs_matrix_row_name(const fcs_matrix *m, size_t row)
{
    if (!m || row >= m->rows || !m->rnames[row]) return "";
    return m->rnames[row];
}

int fcs_matrix_set_row_name(fcs_matrix *m, size_t row, const char *name)
{
    if (!m) return FCS_EINVAL;
    if (row >= m->rows) return FCS_ERANGE;
    return replace_name(&m->rnames[row], name);
}

/* Shortest of %.15g..%.17g that reads back to v exactly. */
static int format_shortest(char *buf, size_t size, double v)
{
    int len = 0;
    for (int prec = 15; prec <= 17; prec++) {
        len = snprintf(buf, size, "%.*g", prec, v);
        double back;
        if (fcs_parse_double(buf, &back) == 0 && back == v) break;
    }
    return len;
}

char *fcs_matrix_to_spillover(const fcs_matrix *m)
{
    if (!m || m->rows != m->cols || m->rows == 0) return NULL;
    size_t n = m->rows, cap = 32;
    for (size_t c = 0; c < n; c++) {
        const char *nm = fcs_matrix_name(m, c);
        if (!*nm || strchr(nm, ',')) return NULL;
        cap += strlen(nm) + 1;
    }
    for (size_t k = 0; k < n * n; k++)
        if (!isfinite(m->v[k])) return NULL;
    cap += n * n * 26; /* "%.17g" of a double is at most 24 chars, plus ',' */
    char *out = malloc(cap);
    if (!out) return NULL;
    size_t pos = (size_t)snprintf(out, cap, "%zu", n);
    for (size_t c = 0; c < n; c++)
        pos += (size_t)snprintf(out + pos, cap - pos, ",%s", fcs_matrix_name(m, c));
    for (size_t k = 0; k < n * n; k++) {
        char num[40];
        format_shortest(num, sizeof num, m->v[k]);
        pos += (size_t)snprintf(out + pos, cap - pos, ",%s", num);
    }
    return out;
}

/* ---- splitting a keyword value into fields -------------------------------- */

typedef struct fields {
    char *buf;   /* private copy of the value, cut in place */
    char **f;    /* trimmed fields */
    size_t n;
} fields;

static void fields_free(fields *fl)
{
    free(fl->buf);
    free(fl->f);
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') s++;
    size_t len = strlen(s);
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r' ||
                   s[len - 1] == '\n'))
        s[--len] = '\0';
    return s;
}

static int is_blank(const char *s)
{
    for (; *s; s++)
        if (!isspace((unsigned char)*s)) return 0;
    return 1;
}

/* Split on ',' and trim every field. A trailing empty field (value ending in
 * a comma, as some writers leave) is kept; callers decide. */
static int split_fields(const char *value, fields *fl)
{
    memset(fl, 0, sizeof *fl);
    size_t count = 1;
    for (const char *p = value; *p; p++) count += (*p == ',');
    fl->buf = fcs_strdup(value);
    fl->f = malloc(count * sizeof(char *));
    if (!fl->buf || !fl->f) {
        fields_free(fl);
        return FCS_ENOMEM;
    }
    char *start = fl->buf;
    for (char *p = fl->buf;; p++) {
        if (*p == ',' || *p == '\0') {
            int end = (*p == '\0');
            *p = '\0';
            fl->f[fl->n++] = trim(start);
            if (end) break;
            start = p + 1;
        }
    }
    return FCS_OK;
}

/* ---- numbers ----------------------------------------------------------------- */

static int parse_finite(const char *s, double *out)
{
    double v;
    if (fcs_parse_double(s, &v) != 0 || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

static int all_digits(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s)) return 0;
    return 1;
}

/* Integer part of a decimal-comma number: optional sign, digits. */
static int is_int_part(const char *s)
{
    if (*s == '+' || *s == '-') s++;
    return all_digits(s);
}

/* Fraction part of a decimal-comma number: digits, optional exponent. */
static int is_frac_part(const char *s)
{
    if (!isdigit((unsigned char)*s)) return 0;
    while (isdigit((unsigned char)*s)) s++;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-') s++;
        return all_digits(s);
    }
    return *s == '\0';
}

/* Join "int" and "frac" of a decimal-comma number and parse it. */
static int parse_comma_pair(const char *ip, const char *fp, double *out)
{
    char tmp[128];
    if (!is_int_part(ip) || !is_frac_part(fp)) return -1;
    if (snprintf(tmp, sizeof tmp, "%s.%s", ip, fp) >= (int)sizeof tmp) return -1;
    return parse_finite(tmp, out);
}

/* Parse n*n matrix values from fields f[0..nv-1] into m. Accepts the
 * standard form (nv == n*n) and decimal commas (nv == 2*n*n, every pair an
 * integer part and a fraction part): the count alone proves the commas are
 * decimal points, since names and count are already accounted for. */
static int parse_values(char **f, size_t nv, size_t n, fcs_matrix *m, const char *kw,
                        fcs_error *err)
{
    size_t nn = n * n;
    if (nv == nn) {
        for (size_t k = 0; k < nn; k++) {
            if (parse_finite(f[k], &m->v[k]) != 0)
                return fcs_error_set(err, FCS_EFORMAT,
                                     "%s: value %zu (row %zu, column %zu) '%.40s' is not a "
                                     "finite number",
                                     kw, k + 1, k / n + 1, k % n + 1, f[k]);
        }
        return FCS_OK;
    }
    if (nv == 2 * nn) {
        for (size_t k = 0; k < nn; k++) {
            if (parse_comma_pair(f[2 * k], f[2 * k + 1], &m->v[k]) != 0)
                return fcs_error_set(err, FCS_EFORMAT,
                                     "%s: %zu fields for %zu values suggest decimal commas, "
                                     "but '%.30s,%.30s' (row %zu, column %zu) is not such a "
                                     "number",
                                     kw, nv, nn, f[2 * k], f[2 * k + 1], k / n + 1, k % n + 1);
        }
        return FCS_OK;
    }
    return fcs_error_set(err, FCS_EFORMAT, "%s: %zu value field(s) for a %zux%zu matrix "
                         "(neither %zu values nor %zu decimal-comma halves)",
                         kw, nv, n, n, nn, 2 * nn);
}

/* First field of a matrix keyword: the matrix order n. Bounded by the
 * number of fields so n*n cannot overflow. */
static int parse_order(const fields *fl, const char *kw, size_t *n, fcs_error *err)
{
    int64_t v;
    if (fcs_parse_i64(fl->f[0], &v) != 0 || v < 1)
        return fcs_error_set(err, FCS_EFORMAT,
                             "%s: first field '%.40s' is not a positive parameter count", kw,
                             fl->f[0]);
    if ((uint64_t)v >= fl->n)
        return fcs_error_set(err, FCS_EFORMAT,
                             "%s: declares %lld parameters but holds only %zu field(s) after "
                             "the count",
                             kw, (long long)v, fl->n - 1);
    *n = (size_t)v;
    return FCS_OK;
}

/* Drop one trailing empty field ("...,0,1,") when the count then fits. */
static void drop_trailing_empty(fields *fl, size_t want)
{
    if (fl->n == want + 1 && fl->f[fl->n - 1][0] == '\0') fl->n--;
}

/* ---- names ------------------------------------------------------------------- */

static int name_is_param(const char *name, const char *const *param_names, size_t n_params)
{
    for (size_t i = 0; i < n_params; i++)
        if (param_names[i] && strcmp(param_names[i], name) == 0) return 1;
    return 0;
}

/* Accuri and Gallios write parameter numbers ("3","4") instead of $PnN.
 * Resolve only when every name is such a number, each names an existing
 * parameter with a $PnN, and none is itself a $PnN (a parameter really
 * called "3" wins). Otherwise names stay as written. */
static int resolve_channel_numbers(fcs_matrix *m, const char *const *param_names,
                                   size_t n_params)
{
    if (!param_names || !n_params) return FCS_OK;
    for (size_t c = 0; c < m->cols; c++) {
        const char *nm = fcs_matrix_name(m, c);
        int64_t k;
        if (!all_digits(nm) || fcs_parse_i64(nm, &k) != 0 || k < 1 || (uint64_t)k > n_params ||
            !param_names[k - 1] || !*param_names[k - 1] ||
            name_is_param(nm, param_names, n_params))
            return FCS_OK;
    }
    for (size_t c = 0; c < m->cols; c++) {
        int64_t k;
        fcs_parse_i64(fcs_matrix_name(m, c), &k);
        int rc = fcs_matrix_set_name(m, c, param_names[k - 1]);
        if (rc != FCS_OK) return rc;
    }
    return FCS_OK;
}

/* Name of parameter i (0-based) for matrices that carry no names: $PnN, or
 * "P<n>" (1-based) when the parameter has none, as fcs-export shows it. */
static int set_param_name(fcs_matrix *m, size_t col, size_t i, const char *const *param_names,
                          size_t n_params)
{
    char tmp[32];
    const char *nm = (param_names && i < n_params) ? param_names[i] : NULL;
    if (!nm || !*nm) {
        snprintf(tmp, sizeof tmp, "P%zu", i + 1);
        nm = tmp;
    }
    return fcs_matrix_set_name(m, col, nm);
}

/* ---- $SPILLOVER / SPILL -------------------------------------------------------- */

static int parse_spill(const char *value, const char *kw, const char *const *param_names,
                       size_t n_params, fcs_matrix **out, fcs_error *err)
{
    if (!out) return fcs_error_set(err, FCS_EINVAL, "%s: no output matrix given", kw);
    *out = NULL;
    if (!value) return fcs_error_set(err, FCS_EINVAL, "%s: no value given", kw);
    if (is_blank(value)) return fcs_error_set(err, FCS_EFORMAT, "%s: empty value", kw);

    fields fl;
    if (split_fields(value, &fl) != FCS_OK)
        return fcs_error_set(err, FCS_ENOMEM, "%s: out of memory", kw);
    size_t n = 0;
    int rc = parse_order(&fl, kw, &n, err);
    if (rc != FCS_OK) goto done;
    if (fl.n - 1 == n) { /* MACSQuant: names, no numbers */
        rc = fcs_error_set(err, FCS_EFORMAT,
                           "%s: declares %zu parameters but holds %zu name(s) and 0 of %zu "
                           "values",
                           kw, n, n, n * n);
        goto done;
    }
    drop_trailing_empty(&fl, 1 + n + n * n);
    drop_trailing_empty(&fl, 1 + n + 2 * n * n);

    fcs_matrix *m = fcs_matrix_new(n, n);
    if (!m) {
        rc = fcs_error_set(err, FCS_ENOMEM, "%s: out of memory for a %zux%zu matrix", kw, n, n);
        goto done;
    }
    for (size_t c = 0; c < n && rc == FCS_OK; c++) {
        const char *nm = fl.f[1 + c];
        if (!*nm)
            rc = fcs_error_set(err, FCS_EFORMAT, "%s: name %zu of %zu is empty", kw, c + 1, n);
        else if (fcs_matrix_set_name(m, c, nm) != FCS_OK)
            rc = fcs_error_set(err, FCS_ENOMEM, "%s: out of memory", kw);
    }
    if (rc == FCS_OK) rc = parse_values(fl.f + 1 + n, fl.n - 1 - n, n, m, kw, err);
    if (rc == FCS_OK && resolve_channel_numbers(m, param_names, n_params) != FCS_OK)
        rc = fcs_error_set(err, FCS_ENOMEM, "%s: out of memory", kw);
    if (rc == FCS_OK)
        *out = m;
    else
        fcs_matrix_free(m);
done:
    fields_free(&fl);
    return rc;
}

int fcs_matrix_parse_spillover(const char *value, const char *const *param_names,
                               size_t n_params, fcs_matrix **out, fcs_error *err)
{
    return parse_spill(value, "$SPILLOVER", param_names, n_params, out, err);
}

/* ---- $COMP --------------------------------------------------------------------- */

/* In-place inverse by Gauss-Jordan elimination with partial pivoting.
 * Only used to turn a (small) $COMP compensation matrix into spillover form;
 * returns -1 when a pivot vanishes relative to the matrix scale. */
static int invert_small(double *a, size_t n)
{
    double scale = 0;
    for (size_t k = 0; k < n * n; k++) scale = fmax(scale, fabs(a[k]));
    if (scale == 0) return -1;
    double *inv = calloc(n * n, sizeof *inv);
    if (!inv) return -2;
    for (size_t i = 0; i < n; i++) inv[i * n + i] = 1;
    for (size_t c = 0; c < n; c++) {
        size_t p = c;
        for (size_t r = c + 1; r < n; r++)
            if (fabs(a[r * n + c]) > fabs(a[p * n + c])) p = r;
        if (fabs(a[p * n + c]) <= 1e-12 * scale) {
            free(inv);
            return -1;
        }
        if (p != c)
            for (size_t k = 0; k < n; k++) {
                double t = a[c * n + k]; a[c * n + k] = a[p * n + k]; a[p * n + k] = t;
                t = inv[c * n + k]; inv[c * n + k] = inv[p * n + k]; inv[p * n + k] = t;
            }
        double d = a[c * n + c];
        for (size_t k = 0; k < n; k++) {
            a[c * n + k] /= d;
            inv[c * n + k] /= d;
        }
        for (size_t r = 0; r < n; r++) {
            double f = a[r * n + c];
            if (r == c || f == 0) continue;
            for (size_t k = 0; k < n; k++) {
                a[r * n + k] -= f * a[c * n + k];
                inv[r * n + k] -= f * inv[c * n + k];
            }
        }
    }
    memcpy(a, inv, n * n * sizeof *a);
    free(inv);
    return 0;
}

/* A channel the instrument does not compensate (Gallios writes the TIME
 * row and column of $COMP as all zeros) gets a 1 on the diagonal, so it
 * passes through unchanged instead of making the matrix singular. */
static void unit_diagonal_for_empty_channels(fcs_matrix *m)
{
    size_t n = m->rows;
    for (size_t i = 0; i < n; i++) {
        int empty = 1;
        for (size_t k = 0; k < n && empty; k++)
            empty = m->v[i * n + k] == 0 && m->v[k * n + i] == 0;
        if (empty) m->v[i * n + i] = 1;
    }
}

/* $COMP: "n,c11,...,cnn" over the first n parameters (FCS 2.0/3.0; some
 * writers insert n names as in $SPILLOVER). The values form a compensation
 * matrix (observed x C = compensated), so the spillover matrix is C^-1. */
static int parse_comp(const char *value, const char *const *param_names, size_t n_params,
                      fcs_matrix **out, fcs_error *err)
{
    const char *kw = "$COMP";
    *out = NULL;
    fields fl;
    if (split_fields(value, &fl) != FCS_OK)
        return fcs_error_set(err, FCS_ENOMEM, "%s: out of memory", kw);
    size_t n = 0;
    int rc = parse_order(&fl, kw, &n, err);
    if (rc != FCS_OK) goto done;
    drop_trailing_empty(&fl, 1 + n * n);
    drop_trailing_empty(&fl, 1 + 2 * n * n);
    drop_trailing_empty(&fl, 1 + n + n * n);
    double probe;
    int named = fl.n == 1 + n + n * n && parse_finite(fl.f[1], &probe) != 0;
    if (!named && n > n_params) {
        rc = fcs_error_set(err, FCS_EFORMAT,
                           "%s: declares %zu parameters but the data set has only %zu", kw, n,
                           n_params);
        goto done;
    }
    fcs_matrix *m = fcs_matrix_new(n, n);
    if (!m) {
        rc = fcs_error_set(err, FCS_ENOMEM, "%s: out of memory for a %zux%zu matrix", kw, n, n);
        goto done;
    }
    for (size_t c = 0; c < n && rc == FCS_OK; c++) {
        int r2 = named ? fcs_matrix_set_name(m, c, fl.f[1 + c])
                       : set_param_name(m, c, c, param_names, n_params);
        if (r2 != FCS_OK) rc = fcs_error_set(err, FCS_ENOMEM, "%s: out of memory", kw);
    }
    size_t skip = 1 + (named ? n : 0);
    if (rc == FCS_OK) rc = parse_values(fl.f + skip, fl.n - skip, n, m, kw, err);
    if (rc == FCS_OK) {
        unit_diagonal_for_empty_channels(m);
        int inv = invert_small(m->v, n);
        if (inv == -2)
            rc = fcs_error_set(err, FCS_ENOMEM, "%s: out of memory", kw);
        else if (inv != 0)
            rc = fcs_error_set(err, FCS_EFORMAT,
                               "%s: compensation matrix is singular, no spillover matrix", kw);
    }
    if (rc == FCS_OK && named && resolve_channel_numbers(m, param_names, n_params) != FCS_OK)
        rc = fcs_error_set(err, FCS_ENOMEM, "%s: out of memory", kw);
    if (rc == FCS_OK)
        *out = m;
    else
        fcs_matrix_free(m);
done:
    fields_free(&fl);
    return rc;
}

/* ---- $DFCiTOj -------------------------------------------------------------------- */

/* Highest detector number probed. The lookup interface cannot enumerate
 * keywords, so the family is found by probing: 10-colour Beckman files
 * carry detectors 1..10 even when fewer parameters were kept. */
#define FCS_DFC_MIN_PROBE 16
#define FCS_DFC_MAX_PROBE 64

/* One $DFCiTOj value: a percentage; a lone decimal comma is unambiguous. */
static int parse_percent(const char *value, double *out)
{
    char tmp[64];
    const char *comma = strchr(value, ',');
    if (comma && !strchr(comma + 1, ',') && !strchr(value, '.')) {
        size_t len = strlen(value);
        if (len >= sizeof tmp) return -1;
        memcpy(tmp, value, len + 1);
        tmp[comma - value] = '.';
        value = tmp;
    }
    return parse_finite(value, out);
}

/* $DFCiTOj numbers fluorescence detectors (FLi), not parameters. Name the
 * detector after the first parameter called "FLi" or "FLi<non-digit>..."
 * ("FL1 INT LOG", "FL1-H"), else "FLi". */
static int set_detector_name(fcs_matrix *m, size_t col, size_t det,
                             const char *const *param_names, size_t n_params)
{
    char want[32];
    int len = snprintf(want, sizeof want, "FL%zu", det);
    for (size_t i = 0; param_names && i < n_params; i++) {
        const char *nm = param_names[i];
        if (!nm || strlen(nm) < (size_t)len) continue;
        char head[32];
        memcpy(head, nm, (size_t)len);
        head[len] = '\0';
        if (fcs_strcasecmp(head, want) == 0 && !isdigit((unsigned char)nm[len]))
            return fcs_matrix_set_name(m, col, nm);
    }
    return fcs_matrix_set_name(m, col, want);
}

static int parse_dfc(fcs_keyword_lookup_fn lookup, void *ctx, const char *const *param_names,
                     size_t n_params, fcs_matrix **out, fcs_error *err)
{
    size_t d = n_params < FCS_DFC_MIN_PROBE ? FCS_DFC_MIN_PROBE
               : n_params > FCS_DFC_MAX_PROBE ? FCS_DFC_MAX_PROBE
                                              : n_params;
    double *pct = calloc(d * d, sizeof *pct);
    unsigned char *seen = calloc(d, 1);
    size_t *index = calloc(d, sizeof *index);
    int rc = FCS_OK;
    if (!pct || !seen || !index) {
        rc = fcs_error_set(err, FCS_ENOMEM, "$DFCiTOj: out of memory");
        goto done;
    }
    size_t found = 0;
    for (size_t i = 0; i < d && rc == FCS_OK; i++) {
        for (size_t j = 0; j < d; j++) {
            char key[48];
            snprintf(key, sizeof key, "$DFC%zuTO%zu", i + 1, j + 1);
            const char *v = lookup(ctx, key);
            if (!v || is_blank(v)) continue;
            if (parse_percent(v, &pct[i * d + j]) != 0) {
                rc = fcs_error_set(err, FCS_EFORMAT, "%s: value '%.40s' is not a percentage",
                                   key, v);
                break;
            }
            seen[i] = seen[j] = 1;
            found++;
        }
    }
    if (rc != FCS_OK) goto done;
    if (!found) {
        rc = FCS_ENOTFOUND;
        goto done;
    }
    size_t k = 0;
    for (size_t i = 0; i < d; i++)
        if (seen[i]) index[k++] = i;
    fcs_matrix *m = fcs_matrix_new(k, k);
    if (!m) {
        rc = fcs_error_set(err, FCS_ENOMEM, "$DFCiTOj: out of memory");
        goto done;
    }
    for (size_t a = 0; a < k && rc == FCS_OK; a++) {
        for (size_t b = 0; b < k; b++)
            m->v[a * k + b] = a == b ? 1.0 : pct[index[a] * d + index[b]] / 100.0;
        if (set_detector_name(m, a, index[a] + 1, param_names, n_params) != FCS_OK)
            rc = fcs_error_set(err, FCS_ENOMEM, "$DFCiTOj: out of memory");
    }
    if (rc == FCS_OK)
        *out = m;
    else
        fcs_matrix_free(m);
done:
    free(pct);
    free(seen);
    free(index);
    return rc;
}

/* ---- all of them ----------------------------------------------------------------- */

int fcs_matrix_from_keywords(fcs_keyword_lookup_fn lookup, void *ctx,
                             const char *const *param_names, size_t n_params,
                             fcs_matrix **out, const char **keyword, fcs_error *err)
{
    if (out) *out = NULL;
    if (keyword) *keyword = NULL;
    if (!lookup || !out)
        return fcs_error_set(err, FCS_EINVAL, "spillover: no keyword lookup or output given");
    if (!param_names) n_params = 0;

    static const char *const spill_keys[] = {"$SPILLOVER", "SPILL"};
    for (size_t i = 0; i < 2; i++) {
        const char *v = lookup(ctx, spill_keys[i]);
        if (!v || is_blank(v)) continue;
        if (keyword) *keyword = spill_keys[i];
        return parse_spill(v, spill_keys[i], param_names, n_params, out, err);
    }
    const char *v = lookup(ctx, "$COMP");
    if (v && !is_blank(v)) {
        if (keyword) *keyword = "$COMP";
        return parse_comp(v, param_names, n_params, out, err);
    }
    int rc = parse_dfc(lookup, ctx, param_names, n_params, out, err);
    if (rc == FCS_ENOTFOUND)
        return fcs_error_set(err, FCS_ENOTFOUND,
                             "no spillover keyword ($SPILLOVER, SPILL, $COMP, $DFCiTOj)");
    if (keyword) *keyword = "$DFCiTOj";
    return rc;
}
