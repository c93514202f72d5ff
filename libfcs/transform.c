/*
 * transform.c — transform handles: parsing, parameter rules, canonical text,
 * evaluation of the closed-form transforms, logicle parameter estimation.
 * The biexponential family (logicle, hyperlog, biex) is evaluated by
 * logicle.c; the formulas and rules are documented in fcs/transform.h.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcs/transform.h"
#include "internal.h"
#include "logicle.h"

#define MAX_PAR 4

typedef struct par_spec {
    const char *name;
    double def;
    int required;
} par_spec;

typedef struct kind_spec {
    fcs_transform_kind kind;
    const char *name, *alias;
    int n_par, arity;
    par_spec par[MAX_PAR];
} kind_spec;

/* Defaults: FlowKit/FlowUtils' for the Gating-ML transforms (T = 262144
 * is the 18-bit range of most current cytometers), FlowJo's for biex. */
static const kind_spec KINDS[] = {
    {FCS_TRANSFORM_LINEAR, "linear", "lin", 2, 1, {{"scale", 1, 0}, {"offset", 0, 0}}},
    {FCS_TRANSFORM_LOG, "log", NULL, 1, 1, {{"base", 10, 0}}},
    {FCS_TRANSFORM_ASINH, "asinh", "arcsinh", 1, 1, {{"cofactor", 0, 1}}},
    {FCS_TRANSFORM_FLIN, "flin", NULL, 2, 1, {{"T", 262144, 0}, {"A", 0, 0}}},
    {FCS_TRANSFORM_FLOG, "flog", NULL, 2, 1, {{"T", 262144, 0}, {"M", 4.5, 0}}},
    {FCS_TRANSFORM_FASINH, "fasinh", NULL, 3, 1, {{"T", 262144, 0}, {"M", 4.5, 0}, {"A", 0, 0}}},
    {FCS_TRANSFORM_FRATIO, "fratio", NULL, 3, 2, {{"A", 1, 0}, {"B", 0, 0}, {"C", 0, 0}}},
    {FCS_TRANSFORM_LOGICLE,
     "logicle",
     NULL,
     4,
     1,
     {{"T", 262144, 0}, {"W", 0.5, 0}, {"M", 4.5, 0}, {"A", 0, 0}}},
    {FCS_TRANSFORM_HYPERLOG,
     "hyperlog",
     NULL,
     4,
     1,
     {{"T", 262144, 0}, {"W", 0.5, 0}, {"M", 4.5, 0}, {"A", 0, 0}}},
    {FCS_TRANSFORM_BIEX,
     "biex",
     NULL,
     4,
     1,
     {{"width", -10, 0}, {"pos", 4.41854, 0}, {"neg", 0, 0}, {"max", 262144.000029, 0}}},
};
#define N_KINDS (sizeof KINDS / sizeof KINDS[0])

struct fcs_transform {
    const kind_spec *spec;
    double par[MAX_PAR]; /* in the order of spec->par */
    double k[4];         /* derived constants of the closed forms */
    fcs_bx *bx;          /* logicle, hyperlog, biex */
    char *text;          /* canonical string */
};

static const kind_spec *spec_of(fcs_transform_kind kind)
{
    for (size_t i = 0; i < N_KINDS; i++)
        if (KINDS[i].kind == kind) return &KINDS[i];
    return NULL;
}

/* ---- canonical text ----------------------------------------------------------- */

/* Shortest %g form that strtod reads back to exactly v, without an exponent
 * for magnitudes in [1, 1e17) ("150", not "1.5e+02"). */
static void fmt_double(char *buf, size_t size, double v)
{
    int prec = 1;
    for (; prec < 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    double e10 = v != 0 ? floor(log10(fabs(v))) : 0;
    if (e10 >= 0 && e10 < 17 && prec < (int)e10 + 1) prec = (int)e10 + 1;
    snprintf(buf, size, "%.*g", prec, v);
}

static int make_text(fcs_transform *t)
{
    char buf[64 * (MAX_PAR + 1)], num[40];
    size_t len = (size_t)snprintf(buf, sizeof buf, "%s(", t->spec->name);
    for (int i = 0; i < t->spec->n_par; i++) {
        fmt_double(num, sizeof num, t->par[i]);
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s=%s", i ? "," : "",
                                t->spec->par[i].name, num);
    }
    snprintf(buf + len, sizeof buf - len, ")");
    t->text = fcs_strdup(buf);
    return t->text ? FCS_OK : FCS_ENOMEM;
}

/* ---- parameter rules ---------------------------------------------------------- */

static int bad(fcs_error *err, const char *kind, const char *fmt, double a, double b)
{
    char what[FCS_ERRMSG_MAX];
    snprintf(what, sizeof what, fmt, a, b);
    return fcs_error_set(err, FCS_EINVAL, "%s: %s", kind, what);
}

static int check_finite(const kind_spec *s, const double *p, fcs_error *err)
{
    for (int i = 0; i < s->n_par; i++)
        if (!isfinite(p[i]))
            return fcs_error_set(err, FCS_EINVAL, "%s: %s must be a finite number", s->name,
                                 s->par[i].name);
    return FCS_OK;
}

/* Gating-ML 2.0 rules for logicle (need_w: hyperlog needs W > 0). */
static int check_twma(const char *kind, const double *p, int need_w, fcs_error *err)
{
    double T = p[0], W = p[1], M = p[2], A = p[3];
    if (!(T > 0)) return bad(err, kind, "T must be > 0 (got %g)", T, 0);
    if (!(M > 0)) return bad(err, kind, "M must be > 0 (got %g)", M, 0);
    if (need_w && !(W > 0)) return bad(err, kind, "W must be > 0 (got %g)", W, 0);
    if (!(W >= 0 && W <= M / 2))
        return bad(err, kind, "W must be between 0 and M/2 (got W=%g, M=%g)", W, M);
    if (!(A >= -W && A <= M - 2 * W))
        return bad(err, kind, "A must be between -W and M-2W (got A=%g, W=%g)", A, W);
    return FCS_OK;
}

static int check_params(const kind_spec *s, const double *p, fcs_error *err)
{
    int rc = check_finite(s, p, err);
    if (rc) return rc;
    const char *k = s->name;
    switch (s->kind) {
    case FCS_TRANSFORM_LINEAR:
        if (p[0] == 0) return bad(err, k, "scale must not be 0", 0, 0);
        break;
    case FCS_TRANSFORM_LOG:
        if (!(p[0] > 0) || p[0] == 1)
            return bad(err, k, "base must be > 0 and != 1 (got %g)", p[0], 0);
        break;
    case FCS_TRANSFORM_ASINH:
        if (!(p[0] > 0)) return bad(err, k, "cofactor must be > 0 (got %g)", p[0], 0);
        break;
    case FCS_TRANSFORM_FLIN:
        if (!(p[0] > 0)) return bad(err, k, "T must be > 0 (got %g)", p[0], 0);
        if (!(p[1] >= 0 && p[1] <= p[0]))
            return bad(err, k, "A must be between 0 and T (got A=%g, T=%g)", p[1], p[0]);
        break;
    case FCS_TRANSFORM_FLOG:
        if (!(p[0] > 0)) return bad(err, k, "T must be > 0 (got %g)", p[0], 0);
        if (!(p[1] > 0)) return bad(err, k, "M must be > 0 (got %g)", p[1], 0);
        break;
    case FCS_TRANSFORM_FASINH:
        if (!(p[0] > 0)) return bad(err, k, "T must be > 0 (got %g)", p[0], 0);
        if (!(p[1] > 0)) return bad(err, k, "M must be > 0 (got %g)", p[1], 0);
        if (!(p[2] >= 0 && p[2] <= p[1]))
            return bad(err, k, "A must be between 0 and M (got A=%g, M=%g)", p[2], p[1]);
        break;
    case FCS_TRANSFORM_FRATIO:
        if (p[0] == 0) return bad(err, k, "A must not be 0", 0, 0);
        break;
    case FCS_TRANSFORM_LOGICLE: return check_twma(k, p, 0, err);
    case FCS_TRANSFORM_HYPERLOG: return check_twma(k, p, 1, err);
    case FCS_TRANSFORM_BIEX:
        if (!(p[0] <= -1)) return bad(err, k, "width must be <= -1 (got %g)", p[0], 0);
        if (!(p[1] > 0)) return bad(err, k, "pos must be > 0 (got %g)", p[1], 0);
        if (!(p[2] >= 0)) return bad(err, k, "neg must be >= 0 (got %g)", p[2], 0);
        if (!(p[3] > 0)) return bad(err, k, "max must be > 0 (got %g)", p[3], 0);
        if (!(log10(-p[0]) <= p[1]))
            return bad(err, k, "log10(-width) must not exceed pos (got width=%g, pos=%g)", p[0],
                       p[1]);
        break;
    }
    return FCS_OK;
}

/* ---- construction ------------------------------------------------------------- */

static void derive(fcs_transform *t)
{
    const double *p = t->par;
    double *k = t->k;
    switch (t->spec->kind) {
    case FCS_TRANSFORM_LOG: k[0] = log(p[0]); break;
    case FCS_TRANSFORM_FASINH:
        k[0] = sinh(p[1] * M_LN10) / p[0]; /* x scale */
        k[1] = log(k[0]);                  /* for huge |x| */
        k[2] = p[2] * M_LN10;              /* A ln 10 */
        k[3] = (p[1] + p[2]) * M_LN10;     /* (M + A) ln 10 */
        break;
    case FCS_TRANSFORM_ASINH: k[1] = -log(p[0]); break; /* log of the x scale 1/c */
    default: break;
    }
}

/* Validate, derive and build a handle of the given kind from p[]. */
static int create(const kind_spec *s, const double *p, fcs_transform **out, fcs_error *err)
{
    if (!out) return fcs_error_set(err, FCS_EINVAL, "%s: NULL output handle", s->name);
    *out = NULL;
    int rc = check_params(s, p, err);
    if (rc) return rc;
    fcs_transform *t = calloc(1, sizeof *t);
    if (!t) return fcs_error_set(err, FCS_ENOMEM, "%s: out of memory", s->name);
    t->spec = s;
    memcpy(t->par, p, sizeof t->par);
    derive(t);
    switch (s->kind) {
    case FCS_TRANSFORM_LOGICLE: rc = fcs_bx_new_logicle(p[0], p[1], p[2], p[3], &t->bx, err); break;
    case FCS_TRANSFORM_HYPERLOG:
        rc = fcs_bx_new_hyperlog(p[0], p[1], p[2], p[3], &t->bx, err);
        break;
    case FCS_TRANSFORM_BIEX: rc = fcs_bx_new_biex(p[0], p[1], p[2], p[3], &t->bx, err); break;
    default: break;
    }
    if (rc == FCS_OK && make_text(t) != FCS_OK)
        rc = fcs_error_set(err, FCS_ENOMEM, "%s: out of memory", s->name);
    if (rc != FCS_OK) {
        fcs_transform_free(t);
        return rc;
    }
    *out = t;
    return FCS_OK;
}

static int create_kind(fcs_transform_kind kind, double a, double b, double c, double d,
                       fcs_transform **out, fcs_error *err)
{
    double p[MAX_PAR] = {a, b, c, d};
    return create(spec_of(kind), p, out, err);
}

int fcs_transform_new_linear(double scale, double offset, fcs_transform **out, fcs_error *err)
{
    return create_kind(FCS_TRANSFORM_LINEAR, scale, offset, 0, 0, out, err);
}

int fcs_transform_new_log(double base, fcs_transform **out, fcs_error *err)
{
    return create_kind(FCS_TRANSFORM_LOG, base, 0, 0, 0, out, err);
}

int fcs_transform_new_asinh(double cofactor, fcs_transform **out, fcs_error *err)
{
    return create_kind(FCS_TRANSFORM_ASINH, cofactor, 0, 0, 0, out, err);
}

int fcs_transform_new_flin(double T, double A, fcs_transform **out, fcs_error *err)
{
    return create_kind(FCS_TRANSFORM_FLIN, T, A, 0, 0, out, err);
}

int fcs_transform_new_flog(double T, double M, fcs_transform **out, fcs_error *err)
{
    return create_kind(FCS_TRANSFORM_FLOG, T, M, 0, 0, out, err);
}

int fcs_transform_new_fasinh(double T, double M, double A, fcs_transform **out, fcs_error *err)
{
    return create_kind(FCS_TRANSFORM_FASINH, T, M, A, 0, out, err);
}

int fcs_transform_new_fratio(double A, double B, double C, fcs_transform **out, fcs_error *err)
{
    return create_kind(FCS_TRANSFORM_FRATIO, A, B, C, 0, out, err);
}

int fcs_transform_new_logicle(const fcs_logicle_params *p, fcs_transform **out, fcs_error *err)
{
    if (!p) return fcs_error_set(err, FCS_EINVAL, "logicle: NULL parameters");
    return create_kind(FCS_TRANSFORM_LOGICLE, p->T, p->W, p->M, p->A, out, err);
}

int fcs_transform_new_hyperlog(const fcs_logicle_params *p, fcs_transform **out, fcs_error *err)
{
    if (!p) return fcs_error_set(err, FCS_EINVAL, "hyperlog: NULL parameters");
    return create_kind(FCS_TRANSFORM_HYPERLOG, p->T, p->W, p->M, p->A, out, err);
}

int fcs_transform_new_biex(double width, double pos, double neg, double max_value,
                           fcs_transform **out, fcs_error *err)
{
    return create_kind(FCS_TRANSFORM_BIEX, width, pos, neg, max_value, out, err);
}

void fcs_transform_free(fcs_transform *t)
{
    if (!t) return;
    fcs_bx_free(t->bx);
    free(t->text);
    free(t);
}

/* ---- parsing ------------------------------------------------------------------- */

typedef struct parser {
    const char *text, *p;
    fcs_error *err;
} parser;

static int perr(parser *ps, const char *fmt, const char *a, const char *b)
{
    char what[FCS_ERRMSG_MAX];
    snprintf(what, sizeof what, fmt, a, b);
    return fcs_error_set(ps->err, FCS_EINVAL, "transform \"%s\": %s", ps->text, what);
}

static void skip_ws(parser *ps)
{
    while (isspace((unsigned char)*ps->p)) ps->p++;
}

/* Identifier at ps->p into buf (truncated); returns its length (0: none). */
static size_t read_ident(parser *ps, char *buf, size_t size)
{
    const char *s = ps->p;
    if (!isalpha((unsigned char)*s) && *s != '_') return 0;
    while (isalnum((unsigned char)*s) || *s == '_') s++;
    size_t n = (size_t)(s - ps->p);
    snprintf(buf, size, "%.*s", (int)n, ps->p);
    ps->p = s;
    return n;
}

static const kind_spec *find_kind(const char *name)
{
    for (size_t i = 0; i < N_KINDS; i++)
        if (!fcs_strcasecmp(name, KINDS[i].name) ||
            (KINDS[i].alias && !fcs_strcasecmp(name, KINDS[i].alias)))
            return &KINDS[i];
    return NULL;
}

static int find_par(const kind_spec *s, const char *name)
{
    for (int i = 0; i < s->n_par; i++)
        if (!fcs_strcasecmp(name, s->par[i].name)) return i;
    if (s->kind == FCS_TRANSFORM_BIEX && !fcs_strcasecmp(name, "maxRange")) return 3;
    return -1;
}

static const char *par_list(const kind_spec *s, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < s->n_par && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? ", " : "", s->par[i].name);
    return buf;
}

/* One argument: [KEY =] NUMBER. pos counts positional arguments seen. */
static int parse_arg(parser *ps, const kind_spec *s, double *p, int *set, int *pos, int *keyed)
{
    char key[64], list[128];
    const char *start = ps->p;
    int idx = -1;
    if (read_ident(ps, key, sizeof key)) {
        skip_ws(ps);
        if (*ps->p == '=') {
            ps->p++;
            idx = find_par(s, key);
            if (idx < 0)
                return perr(ps, "unknown parameter '%s' (expected %s)", key,
                            par_list(s, list, sizeof list));
            *keyed = 1;
        } else {
            ps->p = start; /* a value such as "inf": let the number parser see it */
        }
    }
    if (idx < 0) {
        if (*keyed)
            return perr(ps, "positional value after a KEY=VALUE parameter at '%s'", ps->p, "");
        if (*pos >= s->n_par) {
            char n[16];
            snprintf(n, sizeof n, "%d", s->n_par);
            return perr(ps, "too many parameters (%s takes %s)", s->name, n);
        }
        idx = (*pos)++;
    }
    if (set[idx]) return perr(ps, "parameter %s given twice", s->par[idx].name, "");
    skip_ws(ps);
    const char *v = ps->p;
    while (*ps->p && *ps->p != ',' && *ps->p != ')') ps->p++;
    char *num = fcs_strndup(v, (size_t)(ps->p - v));
    if (!num) return fcs_error_set(ps->err, FCS_ENOMEM, "transform: out of memory");
    int bad_num = fcs_parse_double(num, &p[idx]) != 0;
    if (bad_num) {
        int rc = perr(ps, "bad number '%s' for parameter %s", num, s->par[idx].name);
        free(num);
        return rc;
    }
    free(num);
    set[idx] = 1;
    return FCS_OK;
}

static int parse_args(parser *ps, const kind_spec *s, double *p, int *set)
{
    int pos = 0, keyed = 0, rc;
    ps->p++; /* '(' */
    skip_ws(ps);
    if (*ps->p == ')') {
        ps->p++;
        return FCS_OK;
    }
    for (;;) {
        skip_ws(ps);
        if ((rc = parse_arg(ps, s, p, set, &pos, &keyed))) return rc;
        if (*ps->p == ',') {
            ps->p++;
            continue;
        }
        if (*ps->p == ')') {
            ps->p++;
            return FCS_OK;
        }
        return perr(ps, "missing ')'", "", "");
    }
}

int fcs_transform_parse(const char *text, fcs_transform **out, fcs_error *err)
{
    if (out) *out = NULL;
    if (!text || !out) return fcs_error_set(err, FCS_EINVAL, "transform: NULL argument");
    parser ps = {text, text, err};
    char name[64];
    skip_ws(&ps);
    if (!read_ident(&ps, name, sizeof name))
        return perr(&ps, "expected a transform name (%s%s)",
                    "linear, log, asinh, flin, flog, fasinh, ", "fratio, logicle, hyperlog, biex");
    const kind_spec *s = find_kind(name);
    if (!s)
        return perr(&ps, "unknown transform '%s' (expected %s)", name,
                    "linear, log, asinh, flin, flog, fasinh, fratio, logicle, hyperlog, biex");
    double p[MAX_PAR] = {0};
    int set[MAX_PAR] = {0}, rc;
    skip_ws(&ps);
    if (*ps.p == '(' && (rc = parse_args(&ps, s, p, set))) return rc;
    skip_ws(&ps);
    if (*ps.p) return perr(&ps, "unexpected '%s' after the transform", ps.p, "");
    for (int i = 0; i < s->n_par; i++) {
        if (set[i]) continue;
        if (s->par[i].required)
            return perr(&ps, "missing parameter %s (e.g. %s(150))", s->par[i].name, s->name);
        p[i] = s->par[i].def;
    }
    fcs_error local;
    rc = create(s, p, out, &local);
    if (rc) {
        if (rc == FCS_ENOMEM) return fcs_error_set(err, rc, "%s", local.msg);
        return fcs_error_set(err, rc, "transform \"%s\": %s", text, local.msg);
    }
    return FCS_OK;
}

/* ---- inspection ------------------------------------------------------------------ */

fcs_transform_kind fcs_transform_get_kind(const fcs_transform *t)
{
    return t ? t->spec->kind : (fcs_transform_kind)0;
}

const char *fcs_transform_kind_name(fcs_transform_kind kind)
{
    const kind_spec *s = spec_of(kind);
    return s ? s->name : "";
}

int fcs_transform_arity(const fcs_transform *t) { return t ? t->spec->arity : 0; }

const char *fcs_transform_string(const fcs_transform *t) { return t ? t->text : NULL; }

int fcs_transform_param(const fcs_transform *t, const char *name, double *value)
{
    if (!t || !name) return FCS_EINVAL;
    int i = find_par(t->spec, name);
    if (i < 0) return FCS_ENOTFOUND;
    if (value) *value = t->par[i];
    return FCS_OK;
}

/* ---- closed forms ------------------------------------------------------------------- */

/* asinh(x * s) without overflow of x * s (log_s = log(s)). */
static inline double asinh_scaled(double x, double s, double log_s)
{
    double z = x * s;
    if (isinf(z) && isfinite(x)) return copysign(M_LN2 + log(fabs(x)) + log_s, x);
    return asinh(z);
}

/* sinh(y) / s without overflow of sinh(y) when the quotient is finite. */
static inline double sinh_scaled(double y, double s, double log_s)
{
    double z = sinh(y);
    if (isinf(z) && isfinite(y)) return copysign(exp(fabs(y) - M_LN2 - log_s), y);
    return z / s;
}

/* asinh(x / c) (dividing keeps asinh(150) of 150 exact); log_c = -log(c). */
static inline double asinh_div(double x, double c, double mlog_c)
{
    double z = x / c;
    if (isinf(z) && isfinite(x)) return copysign(M_LN2 + log(fabs(x)) + mlog_c, x);
    return asinh(z);
}

/* c sinh(y) without overflow of sinh(y) when the product is finite. */
static inline double sinh_mul(double y, double c, double mlog_c)
{
    double z = sinh(y);
    if (isinf(z) && isfinite(y)) return copysign(exp(fabs(y) - M_LN2 - mlog_c), y);
    return z * c;
}

static inline double log_fwd(const fcs_transform *t, double x)
{
    double base = t->par[0];
    if (base == 10) return log10(x);
    if (base == 2) return log2(x);
    return log(x) / t->k[0];
}

static inline double flog_fwd(const fcs_transform *t, double x)
{
    double T = t->par[0], M = t->par[1], q = x / T;
    if (q > 0 && isfinite(q) && q >= 0x1p-1022) return log10(q) / M + 1.0;
    return (log10(x) - log10(T)) / M + 1.0;
}

static inline double flog_inv(const fcs_transform *t, double y)
{
    double T = t->par[0], M = t->par[1], e = M * (y - 1.0), x = pow(10.0, e) * T;
    if ((x == 0 || isinf(x)) && isfinite(e)) x = exp(M_LN10 * e + log(T));
    return x;
}

static inline double fwd1(const fcs_transform *t, double x)
{
    const double *p = t->par, *k = t->k;
    switch (t->spec->kind) {
    case FCS_TRANSFORM_LINEAR: return p[0] * x + p[1];
    case FCS_TRANSFORM_LOG: return log_fwd(t, x);
    case FCS_TRANSFORM_ASINH: return asinh_div(x, p[0], k[1]);
    case FCS_TRANSFORM_FLIN: return (x + p[1]) / (p[0] + p[1]);
    case FCS_TRANSFORM_FLOG: return flog_fwd(t, x);
    case FCS_TRANSFORM_FASINH: return (asinh_scaled(x, k[0], k[1]) + k[2]) / k[3];
    default: return NAN;
    }
}

static inline double inv1(const fcs_transform *t, double y)
{
    const double *p = t->par, *k = t->k;
    switch (t->spec->kind) {
    case FCS_TRANSFORM_LINEAR: return (y - p[1]) / p[0];
    case FCS_TRANSFORM_LOG: return pow(p[0], y);
    case FCS_TRANSFORM_ASINH: return sinh_mul(y, p[0], k[1]);
    case FCS_TRANSFORM_FLIN: return y * (p[0] + p[1]) - p[1];
    case FCS_TRANSFORM_FLOG: return flog_inv(t, y);
    case FCS_TRANSFORM_FASINH: return sinh_scaled(y * k[3] - k[2], k[0], k[1]);
    default: return NAN;
    }
}

/* Whole-array loops; the kind switch is loop-invariant (GCC unswitches it). */
#define SIMPLE_LOOPS(SUF, TYPE)                                                                    \
    static void fwd_##SUF(const fcs_transform *t, TYPE *v, size_t n)                               \
    {                                                                                              \
        for (size_t i = 0; i < n; i++) v[i] = (TYPE)fwd1(t, (double)v[i]);                         \
    }                                                                                              \
    static void inv_##SUF(const fcs_transform *t, TYPE *v, size_t n)                               \
    {                                                                                              \
        for (size_t i = 0; i < n; i++) v[i] = (TYPE)inv1(t, (double)v[i]);                         \
    }

SIMPLE_LOOPS(d, double)
SIMPLE_LOOPS(f, float)

/* ---- evaluation ---------------------------------------------------------------------- */

static int check_apply(const fcs_transform *t, const void *v, size_t n, int arity)
{
    if (!t || (!v && n > 0)) return FCS_EINVAL;
    return t->spec->arity == arity ? FCS_OK : FCS_EINVAL;
}

int fcs_transform_apply(const fcs_transform *t, double *v, size_t n)
{
    int rc = check_apply(t, v, n, 1);
    if (rc) return rc;
    if (t->bx)
        fcs_bx_forward(t->bx, v, n);
    else
        fwd_d(t, v, n);
    return FCS_OK;
}

int fcs_transform_inverse(const fcs_transform *t, double *v, size_t n)
{
    int rc = check_apply(t, v, n, 1);
    if (rc) return rc;
    if (t->bx)
        fcs_bx_inverse(t->bx, v, n);
    else
        inv_d(t, v, n);
    return FCS_OK;
}

int fcs_transform_apply_f(const fcs_transform *t, float *v, size_t n)
{
    int rc = check_apply(t, v, n, 1);
    if (rc) return rc;
    if (t->bx)
        fcs_bx_forward_f(t->bx, v, n);
    else
        fwd_f(t, v, n);
    return FCS_OK;
}

int fcs_transform_inverse_f(const fcs_transform *t, float *v, size_t n)
{
    int rc = check_apply(t, v, n, 1);
    if (rc) return rc;
    if (t->bx)
        fcs_bx_inverse_f(t->bx, v, n);
    else
        inv_f(t, v, n);
    return FCS_OK;
}

double fcs_transform_value(const fcs_transform *t, double x)
{
    if (fcs_transform_apply(t, &x, 1) != FCS_OK) return NAN;
    return x;
}

double fcs_transform_inverse_value(const fcs_transform *t, double y)
{
    if (fcs_transform_inverse(t, &y, 1) != FCS_OK) return NAN;
    return y;
}

/* fratio: A (x - B) / (z - C) (Gating-ML 2.0). */
#define RATIO_LOOPS(SUF, TYPE)                                                                     \
    int fcs_transform_apply2##SUF(const fcs_transform *t, TYPE *x, const TYPE *z, size_t n)        \
    {                                                                                              \
        if (check_apply(t, x, n, 2) || (!z && n > 0)) return FCS_EINVAL;                           \
        double A = t->par[0], B = t->par[1], C = t->par[2];                                        \
        for (size_t i = 0; i < n; i++) x[i] = (TYPE)(A * ((double)x[i] - B) / ((double)z[i] - C)); \
        return FCS_OK;                                                                             \
    }                                                                                              \
    int fcs_transform_inverse2##SUF(const fcs_transform *t, TYPE *x, const TYPE *z, size_t n)      \
    {                                                                                              \
        if (check_apply(t, x, n, 2) || (!z && n > 0)) return FCS_EINVAL;                           \
        double A = t->par[0], B = t->par[1], C = t->par[2];                                        \
        for (size_t i = 0; i < n; i++) x[i] = (TYPE)((double)x[i] * ((double)z[i] - C) / A + B);   \
        return FCS_OK;                                                                             \
    }

RATIO_LOOPS(, double)
RATIO_LOOPS(_f, float)

/* ---- logicle estimation ----------------------------------------------------------------- */

/* k-th smallest of a[0..n-1] (0-based), reordering a: quickselect. */
static double select_kth(double *a, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        /* median of three as pivot keeps sorted input linear */
        size_t mid = lo + (hi - lo) / 2;
        double x = a[lo], y = a[mid], z = a[hi];
        double pivot = (x < y) ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
        size_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot) i++;
            while (a[j] > pivot) j--;
            if (i <= j) {
                double tmp = a[i];
                a[i] = a[j];
                a[j] = tmp;
                i++;
                if (j == 0) break;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return a[k];
    }
    return a[k];
}

static int estimate_from_neg(double *neg, size_t n_neg, double range, fcs_logicle_params *p)
{
    p->T = range;
    p->M = 4.5;
    p->A = 0.0;
    p->W = 0.0;
    if (n_neg == 0) return FCS_OK;
    /* nearest rank: the ceil(0.05 n)-th most negative value */
    size_t rank = (size_t)ceil(0.05 * (double)n_neg);
    if (rank < 1) rank = 1;
    double r = select_kth(neg, n_neg, rank - 1);
    double W = (p->M - log10(range / fabs(r))) / 2.0;
    if (!(W > 0)) W = 0.0;
    if (W > p->M / 2) W = p->M / 2;
    p->W = W;
    return FCS_OK;
}

#define ESTIMATE(SUF, TYPE)                                                                        \
    int fcs_logicle_estimate##SUF(const TYPE *values, size_t n, double range,                      \
                                  fcs_logicle_params *p)                                           \
    {                                                                                              \
        if (!p || (!values && n > 0) || !(range > 0) || !isfinite(range)) return FCS_EINVAL;       \
        size_t n_neg = 0;                                                                          \
        for (size_t i = 0; i < n; i++)                                                             \
            if ((double)values[i] < 0 && isfinite((double)values[i])) n_neg++;                     \
        double *neg = n_neg ? malloc(n_neg * sizeof *neg) : NULL;                                  \
        if (n_neg && !neg) return FCS_ENOMEM;                                                      \
        size_t j = 0;                                                                              \
        for (size_t i = 0; i < n; i++)                                                             \
            if ((double)values[i] < 0 && isfinite((double)values[i])) neg[j++] = values[i];        \
        int rc = estimate_from_neg(neg, n_neg, range, p);                                          \
        free(neg);                                                                                 \
        return rc;                                                                                 \
    }

ESTIMATE(, double)
ESTIMATE(_f, float)
