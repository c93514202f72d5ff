/*
 * bench/transform.c — values per second of every transform, forward and
 * inverse, on double and float arrays, on one core; for logicle, hyperlog and
 * biex also every code path (exact solver, SSE2, AVX2, AVX-512) and the
 * measured maximum error of the table path against the exact solver.
 *
 * Build with -DCMAKE_BUILD_TYPE=Release, then:
 *     build/bench_transform [-n VALUES] [-t SECONDS]
 * Data: 1 Mi values shaped like compensated flow data (a log-normal bulk
 * from 10 to 1e5, a spread around zero, a negative tail); the inverse is
 * timed on the forward results. Each figure is the best of 3 runs of at
 * least -t seconds (default 0.2).
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fcs/transform.h"
#include "logicle.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* xorshift64*: deterministic data */
static double urand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (double)((*s * 0x2545F4914F6CDD1DULL) >> 11) * 0x1p-53;
}

static double nrand(uint64_t *s)
{
    double u = urand(s), v = urand(s);
    return sqrt(-2 * log(u + 1e-300)) * cos(2 * M_PI * v);
}

static void make_data(double *x, size_t n)
{
    uint64_t s = 88172645463325252ULL;
    for (size_t i = 0; i < n; i++) {
        double u = urand(&s);
        if (u < 0.70)
            x[i] = pow(10.0, 1.0 + 4.0 * urand(&s)); /* positive bulk */
        else if (u < 0.95)
            x[i] = 150.0 * nrand(&s); /* around zero */
        else
            x[i] = -pow(10.0, 1.0 + 2.5 * urand(&s)); /* negative tail */
    }
}

typedef void (*run_fn)(const void *ctx, void *buf, size_t n);

/* Best-of-3 rate (values/s) of fn over buf, refreshed from src each pass. */
static double rate(run_fn fn, const void *ctx, void *buf, const void *src, size_t n, size_t esz,
                   double min_s)
{
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        size_t done = 0;
        double t0 = now(), t = t0, copy = 0;
        while (t - t0 < min_s) {
            double c0 = now();
            memcpy(buf, src, n * esz);
            copy += now() - c0;
            fn(ctx, buf, n);
            done += n;
            t = now();
        }
        double r = (double)done / (t - t0 - copy);
        if (r > best) best = r;
    }
    return best;
}

static void t_fwd_d(const void *c, void *b, size_t n) { (void)fcs_transform_apply(c, b, n); }
static void t_inv_d(const void *c, void *b, size_t n) { (void)fcs_transform_inverse(c, b, n); }
static void t_fwd_f(const void *c, void *b, size_t n) { (void)fcs_transform_apply_f(c, b, n); }
static void t_inv_f(const void *c, void *b, size_t n) { (void)fcs_transform_inverse_f(c, b, n); }
static void bx_fwd_d(const void *c, void *b, size_t n) { fcs_bx_forward(c, b, n); }
static void bx_inv_d(const void *c, void *b, size_t n) { fcs_bx_inverse(c, b, n); }
static void bx_fwd_f(const void *c, void *b, size_t n) { fcs_bx_forward_f(c, b, n); }
static void bx_inv_f(const void *c, void *b, size_t n) { fcs_bx_inverse_f(c, b, n); }

typedef struct bufs {
    double *x, *y, *buf;
    float *xf, *yf, *buff;
    size_t n;
} bufs;

static void bench_transform(const char *text, bufs *B, double min_s)
{
    fcs_transform *t;
    fcs_error err;
    double t0 = now();
    if (fcs_transform_parse(text, &t, &err) != FCS_OK) {
        fprintf(stderr, "bench_transform: %s\n", err.msg);
        exit(1);
    }
    double build_ms = 1e3 * (now() - t0);
    memcpy(B->y, B->x, B->n * sizeof *B->x);
    (void)fcs_transform_apply(t, B->y, B->n);
    for (size_t i = 0; i < B->n; i++) B->yf[i] = (float)B->y[i];
    double fd = rate(t_fwd_d, t, B->buf, B->x, B->n, sizeof(double), min_s);
    double id = rate(t_inv_d, t, B->buf, B->y, B->n, sizeof(double), min_s);
    double ff = rate(t_fwd_f, t, B->buff, B->xf, B->n, sizeof(float), min_s);
    double iff = rate(t_inv_f, t, B->buff, B->yf, B->n, sizeof(float), min_s);
    printf("%-40s %9.1f %9.1f %9.1f %9.1f %8.2f\n", fcs_transform_string(t), fd / 1e6, id / 1e6,
           ff / 1e6, iff / 1e6, build_ms);
    fcs_transform_free(t);
}

/* The biexponential engine alone: every code path, and the table error. */
static void bench_paths(const char *text, bufs *B, double min_s)
{
    fcs_transform *t;
    if (fcs_transform_parse(text, &t, NULL) != FCS_OK) exit(1);
    double p[4];
    fcs_bx *bx = NULL;
    if (fcs_transform_get_kind(t) == FCS_TRANSFORM_LOGICLE) {
        (void)fcs_transform_param(t, "T", &p[0]);
        (void)fcs_transform_param(t, "W", &p[1]);
        (void)fcs_transform_param(t, "M", &p[2]);
        (void)fcs_transform_param(t, "A", &p[3]);
        (void)fcs_bx_new_logicle(p[0], p[1], p[2], p[3], &bx, NULL);
    }
    fcs_transform_free(t);
    if (!bx) return;
    /* error of the table path against the exact solver on the bench data */
    memcpy(B->y, B->x, B->n * sizeof *B->x);
    fcs_bx_forward(bx, B->y, B->n);
    double x1 = fcs_bx_x1(bx), worst = 0, worst_inv = 0;
    for (size_t i = 0; i < B->n; i++) {
        double e = fcs_bx_forward_exact(bx, B->x[i]);
        double scale = fmax(fmax(fabs(e), x1), fabs(e - x1));
        double err = fabs(B->y[i] - e) / (DBL_EPSILON * scale);
        if (err > worst) worst = err;
    }
    memcpy(B->buf, B->y, B->n * sizeof *B->y);
    fcs_bx_inverse(bx, B->buf, B->n);
    for (size_t i = 0; i < B->n; i++) {
        double e = fcs_bx_inverse_exact(bx, B->y[i]);
        double err = fabs(B->buf[i] - e) / (DBL_EPSILON * fabs(e));
        if (e != 0 && err > worst_inv) worst_inv = err;
    }
    fcs_bx_stats st;
    fcs_bx_get_stats(bx, &st);
    printf("\n%s: tables %zu + %zu entries (%zu KiB), |x| < %.3g; Newton bound %.2g of y\n", text,
           st.fwd_buckets, st.inv_nodes, st.bytes / 1024, st.x_hi, st.fwd_newton_bound);
    printf("max error of the table path on these %zu values: forward %.2f ulp of max(|y|,x1), "
           "inverse %.2f ulp\n",
           B->n, worst, worst_inv);
    printf("%-10s %9s %9s %9s %9s   (M values/s)\n", "path", "fwd f64", "inv f64", "fwd f32",
           "inv f32");
    for (size_t i = 0; i < B->n; i++) B->yf[i] = (float)B->y[i];
    for (int isa = FCS_BX_EXACT; isa <= FCS_BX_AVX512; isa++) {
        if (fcs_bx_set_isa(bx, isa) != 0) continue;
        double ms = isa == FCS_BX_EXACT ? min_s / 4 : min_s;
        printf("%-10s %9.1f %9.1f %9.1f %9.1f\n", fcs_bx_isa_name(isa),
               rate(bx_fwd_d, bx, B->buf, B->x, B->n, sizeof(double), ms) / 1e6,
               rate(bx_inv_d, bx, B->buf, B->y, B->n, sizeof(double), ms) / 1e6,
               rate(bx_fwd_f, bx, B->buff, B->xf, B->n, sizeof(float), ms) / 1e6,
               rate(bx_inv_f, bx, B->buff, B->yf, B->n, sizeof(float), ms) / 1e6);
    }
    fcs_bx_free(bx);
}

int main(int argc, char **argv)
{
    size_t n = 1 << 20;
    double min_s = 0.2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-n") && i + 1 < argc)
            n = (size_t)strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "-t") && i + 1 < argc)
            min_s = strtod(argv[++i], NULL);
        else {
            fprintf(stderr, "usage: bench_transform [-n VALUES] [-t SECONDS]\n");
            return 2;
        }
    }
    if (n < 1) n = 1;
    bufs B = {malloc(n * sizeof(double)),
              malloc(n * sizeof(double)),
              malloc(n * sizeof(double)),
              malloc(n * sizeof(float)),
              malloc(n * sizeof(float)),
              malloc(n * sizeof(float)),
              n};
    if (!B.x || !B.y || !B.buf || !B.xf || !B.yf || !B.buff) return 1;
    make_data(B.x, n);
    for (size_t i = 0; i < n; i++) B.xf[i] = (float)B.x[i];

    const char *texts[] = {
        "linear(2,1)",
        "log",
        "asinh(150)",
        "flin(T=262144,A=1000)",
        "flog(T=262144,M=4.5)",
        "fasinh(T=262144,M=4.5,A=0)",
        "logicle(T=262144,W=0.5,M=4.5,A=0)",
        "logicle(T=262144,W=1,M=4.5,A=1)",
        "hyperlog(T=262144,W=0.5,M=4.5,A=0)",
        "biex",
    };
    printf("one core, %zu values per array, best of 3 x %.2f s; M values/s\n", n, min_s);
    printf("%-40s %9s %9s %9s %9s %8s\n", "transform", "fwd f64", "inv f64", "fwd f32", "inv f32",
           "build ms");
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        bench_transform(texts[i], &B, min_s);

    /* fratio: two channels */
    fcs_transform *r;
    if (fcs_transform_parse("fratio(A=1,B=0,C=-1)", &r, NULL) == FCS_OK) {
        double best = 0;
        for (int rep = 0; rep < 3; rep++) {
            size_t done = 0;
            double t0 = now();
            while (now() - t0 < min_s) {
                memcpy(B.buf, B.x, n * sizeof *B.x);
                (void)fcs_transform_apply2(r, B.buf, B.y, n);
                done += n;
            }
            double rt = (double)done / (now() - t0);
            if (rt > best) best = rt;
        }
        printf("%-40s %9.1f   (forward f64, incl. copy)\n", fcs_transform_string(r), best / 1e6);
        fcs_transform_free(r);
    }
    bench_paths("logicle(T=262144,W=0.5,M=4.5,A=0)", &B, min_s);
    free(B.x);
    free(B.y);
    free(B.buf);
    free(B.xf);
    free(B.yf);
    free(B.buff);
    return 0;
}
