/*
 * logicle.c — logicle, hyperlog and FlowJo biex: coefficients, the exact
 * solver, and the fast table evaluation used for whole arrays.
 *
 * Representation (see logicle.h): y = x1 +- t, data = +-G(t),
 *     G(t) = p1 expm1(b t) - n1 expm1(-d t) + l t,  t >= 0.
 *
 * Fast forward (data -> scale). |x| is split into buckets by its binary
 * exponent and the top q mantissa bits (2^q buckets per octave: q = 6, or 7
 * or 8 where 6 fails the check below), so the bucket index is a shift of
 * the IEEE bits: no search, no log. Bucket j
 * stores t_j = t(left edge), G_j = G(t_j), P_j = p1 e^(b t_j),
 * N_j = n1 e^(-d t_j) and a cubic Hermite interpolant of t(v) - t_j built from
 * the exact values and slopes 1/G' at both edges. The cubic gives a start
 * dt0 (error e0 ~ 1e-10); one Newton step on the exact biexponential,
 *     G(t_j + dt) - v = (G_j - v) + P_j em1(b dt) - N_j em1(-d dt) + l dt,
 * squares that error (K e0^2 ~ 1e-19, K = max G'' / (2 min G') over the
 * bucket). em1 is the Taylor polynomial of expm1 to degree 10, exact to
 * < 3e-20 relative for |z| <= ZMAX, which the bucket widths guarantee. All
 * terms of the residual except (G_j - v) have the sign of dt, so it has no
 * cancellation beyond the residual itself. Each bucket's start error is
 * measured at its midpoint when the table is built (bound K (4 e0)^2 checked
 * to be below 2^-56 of y, and the Newton step redone there against the exact
 * root); if a bucket still fails with q = 8, the handle falls back to the
 * exact solver.
 *
 * Fast inverse (scale -> data): a uniform grid t_k = k H with H a power of
 * two (b H <= 2^-6), so k = floor(|y - x1| / H) and dt = |y - x1| - t_k are
 * exact, and G(t_k + dt) = G_k + P_k em1(b dt) - N_k em1(-d dt) + l dt is a
 * sum of non-negative terms: a few ulps.
 *
 * The kernels are plain C loops that GCC vectorises; they are compiled three
 * times (baseline SSE2, AVX2, AVX-512) and the handle picks one from the CPU
 * at creation. None uses FMA contraction or reassociation, so every path
 * gives bit-identical results. Values outside the tables (|x| >= x_hi,
 * |y - x1| >= t_lim, NaN, Inf) are redone by the exact solver per block.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "logicle.h"

/* The code paths must round identically: no a*b+c fused into an FMA on the
 * AVX-512 path only. GCC does not contract in ISO C mode (-std=c11, as the
 * build uses); clang contracts within expressions unless told not to. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define FWD_Q 6 /* 64 buckets per octave of |x|; 128, 256 if the check fails */
#define FWD_Q_MAX 8
#define FWD_MAX_BUCKETS 16384  /* 1 MiB */
#define FWD_OCTAVES_ABOVE_T 20 /* table covers |x| < ~2^20 T */
#define INV_MAX_NODES 65536    /* 2 MiB */
#define ZMAX 0x1p-4            /* |b dt| bound for the em1 polynomial */
#define FWD_BOUND 0x1p-56      /* accepted Newton error bound, relative to y */
#define INV_BOUND 0x1p-50      /* accepted inverse table error, relative / (1 + b t) */
#define BLK 256                /* values per block (slow-path fix-ups) */

typedef struct fwd_bucket {
    double g, c1, c2, c3, t, p, n, pad; /* 64 bytes: one cache line */
} fwd_bucket;

typedef struct inv_node {
    double g, p, n, pad;
} inv_node;

struct fcs_bx {
    double x1, b, d, p1, n1, l;
    double g1;    /* G'(0) */
    double v_big; /* from here on t = log(v / p1) / b to full precision */
    fwd_bucket *fwd;
    size_t n_fwd;
    int fwd_shift;   /* 52 - q for 2^q buckets per octave */
    int64_t fwd_off; /* bucket = (bits >> fwd_shift) - fwd_off, clamped */
    double x_hi;
    inv_node *inv;
    size_t n_inv;
    double inv_h, inv_rh, t_lim;
    int isa;
    int tables_ok;
    fcs_bx_stats st;
};

/* ---- exact evaluation ------------------------------------------------------ */

/* G(t) for t >= 0, and G'(t) if gp != NULL. */
static double g_eval(const fcs_bx *bx, double t, double *gp)
{
    double bt = bx->b * t;
    if (bt > 700.0) {
        /* expm1 would overflow; p1 e^(bt) exceeds the other terms by > 1e290 */
        double e = exp(bt + log(bx->p1));
        if (gp) *gp = bx->b * e;
        return e;
    }
    double eb = expm1(bt), ed = expm1(-bx->d * t);
    if (gp) *gp = bx->b * bx->p1 * (eb + 1.0) + bx->d * bx->n1 * (ed + 1.0) + bx->l;
    return bx->p1 * eb - bx->n1 * ed + bx->l * t;
}

static double g_second(const fcs_bx *bx, double t)
{
    return bx->b * bx->b * bx->p1 * exp(bx->b * t) - bx->d * bx->d * bx->n1 * exp(-bx->d * t);
}

/* t >= 0 with G(t) = v, for finite v > 0. G is increasing (G' > 0), so a
 * Newton iteration kept inside a shrinking bracket [lo, hi] converges from any
 * start; G(t) >= p1 expm1(b t) gives the upper end. */
static double solve_t(const fcs_bx *bx, double v)
{
    if (v >= bx->v_big) return (log(v) - log(bx->p1)) / bx->b;
    double lo = 0.0, hi = log1p(v / bx->p1) / bx->b;
    double t = fmin(v / bx->g1, hi);
    for (int i = 0; i < 200; i++) {
        double gp, f = g_eval(bx, t, &gp) - v;
        if (f == 0.0) break;
        if (f < 0.0)
            lo = t;
        else
            hi = t;
        double tn = t - f / gp;
        if (!(tn > lo && tn < hi)) tn = 0.5 * (lo + hi);
        if (fabs(tn - t) <= 0x1p-60 * tn || !(hi - lo > 0x1p-53 * hi)) {
            t = tn;
            break;
        }
        t = tn;
    }
    return t;
}

double fcs_bx_forward_exact(const fcs_bx *bx, double x)
{
    if (isnan(x)) return x;
    double v = fabs(x);
    if (v == 0.0) return bx->x1;
    double t = isinf(v) ? INFINITY : solve_t(bx, v);
    return bx->x1 + copysign(t, x);
}

double fcs_bx_inverse_exact(const fcs_bx *bx, double y)
{
    if (isnan(y)) return y;
    double t = y - bx->x1;
    double at = fabs(t);
    double v = isinf(at) ? INFINITY : g_eval(bx, at, NULL);
    return copysign(v, t);
}

double fcs_bx_x1(const fcs_bx *bx) { return bx->x1; }

/* ---- coefficients ----------------------------------------------------------- */

/* d > 0 with 2 (ln d - ln b) + w (b + d) = 0 (Gating-ML 2.0 logicle). In
 * u = ln d the left side is increasing and convex, and positive at u = ln b,
 * so Newton from there decreases monotonically to the root. */
static double solve_d(double b, double w)
{
    if (w <= 0.0) return b;
    double lb = log(b), u = lb;
    for (int i = 0; i < 200; i++) {
        double e = exp(u);
        double step = (2.0 * (u - lb) + w * (b + e)) / (2.0 + w * e);
        if (!(step > 0.0)) break;
        double un = u - step;
        if (!(un < u)) break;
        u = un;
    }
    return exp(u);
}

static int bx_finish(fcs_bx *bx, fcs_bx **out, fcs_error *err);

static fcs_bx *bx_alloc(void)
{
    fcs_bx *bx = calloc(1, sizeof *bx);
    return bx;
}

int fcs_bx_new_logicle(double T, double W, double M, double A, fcs_bx **out, fcs_error *err)
{
    fcs_bx *bx = bx_alloc();
    if (!bx) return fcs_error_set(err, FCS_ENOMEM, "logicle: out of memory");
    double MA = M + A, w = W / MA, x2 = A / MA;
    bx->x1 = x2 + w;
    bx->b = MA * M_LN10;
    bx->d = solve_d(bx->b, w);
    /* a, c, f of Gating-ML, divided through by e^(b x1) so nothing overflows:
     * B(x1 + t) = p1 expm1(b t) - n1 expm1(-d t), B(1) = T. */
    double r = 1.0 - bx->x1, ew = exp((bx->b + bx->d) * w);
    double K = expm1(bx->b * r) - ew * expm1(-bx->d * r);
    bx->p1 = T / K;
    bx->n1 = T * ew / K;
    bx->l = 0.0;
    return bx_finish(bx, out, err);
}

int fcs_bx_new_hyperlog(double T, double W, double M, double A, fcs_bx **out, fcs_error *err)
{
    fcs_bx *bx = bx_alloc();
    if (!bx) return fcs_error_set(err, FCS_ENOMEM, "hyperlog: out of memory");
    double MA = M + A, w = W / MA, x2 = A / MA;
    bx->x1 = x2 + w;
    bx->b = MA * M_LN10;
    bx->d = 0.0;
    /* EH(x1 + t) = a e^(b x1) expm1(b t) + c t with c = a e^(b x0) / w. */
    double r = 1.0 - bx->x1, ebw = exp(bx->b * w);
    double K = expm1(bx->b * r) + ebw * r / w;
    bx->p1 = T / K;
    bx->n1 = 0.0;
    bx->l = bx->p1 * ebw / w;
    return bx_finish(bx, out, err);
}

/* FlowJo's biex, as the legacy TreeStar table generator (channel range 4096,
 * table index i at exponent i/4097) defines it, written as a continuous
 * function of y = channel / 4096. */
int fcs_bx_new_biex(double width, double pos, double neg, double max_value, fcs_bx **out,
                    fcs_error *err)
{
    fcs_bx *bx = bx_alloc();
    if (!bx) return fcs_error_set(err, FCS_ENOMEM, "biex: out of memory");
    double W0 = log10(-width);
    double decades = pos - W0 / 2, extra = neg + W0 / 2;
    double zp = floor(extra * 4096.0 / (extra + decades)); /* zero channel */
    if (zp > 2048.0) zp = 2048.0;
    if (zp > 0.0) decades = extra * 4096.0 / zp;
    double w = W0 / (2.0 * decades), b = M_LN10 * decades;
    double d = solve_d(b, w);
    double uz = zp / 4097.0; /* exponent position of the zero channel */
    bx->p1 = max_value * exp(b * (uz - 1.0));
    bx->n1 = max_value * exp(-b + (b + d) * (w + extra / decades) - d * uz);
    bx->l = 0.0;
    /* y = channel/4096 = u * 4097/4096: rescale the exponents */
    bx->b = b * (4096.0 / 4097.0);
    bx->d = d * (4096.0 / 4097.0);
    bx->x1 = zp / 4096.0;
    return bx_finish(bx, out, err);
}

/* ---- tables ----------------------------------------------------------------- */

static inline __attribute__((always_inline)) double em1p(double z)
{
    /* expm1(z) for |z| <= ZMAX: Taylor to degree 10, error < |z|^11/11!
     * (< 3e-20 |z| at ZMAX) */
    double p = 1.0 / 3628800.0;
    p = p * z + 1.0 / 362880.0;
    p = p * z + 1.0 / 40320.0;
    p = p * z + 1.0 / 5040.0;
    p = p * z + 1.0 / 720.0;
    p = p * z + 1.0 / 120.0;
    p = p * z + 1.0 / 24.0;
    p = p * z + 1.0 / 6.0;
    p = p * z + 0.5;
    return z + (z * z) * p;
}

static inline uint64_t dbits(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

static inline double bitsd(uint64_t u)
{
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}

static void *alloc_lines(size_t n, size_t size)
{
    size_t bytes = n * size;
    bytes = (bytes + 63) & ~(size_t)63;
    return aligned_alloc(64, bytes);
}

/* The fast forward step for one bucket, exactly as the kernels compute it. */
static double fwd_bucket_eval(const fcs_bx *bx, const fwd_bucket *B, double v)
{
    double du = v - B->g;
    double dt = du * (B->c1 + du * (B->c2 + du * B->c3));
    double eb = em1p(bx->b * dt), ed = em1p(-bx->d * dt);
    double r = (B->p * eb - B->n * ed + bx->l * dt) - du;
    double gp = bx->b * (B->p + B->p * eb) + bx->d * (B->n + B->n * ed) + bx->l;
    return B->t + (dt - r / gp);
}

static int build_fwd_q(fcs_bx *bx, int q)
{
    const int shift = 52 - q;
    double tz = 0x1p-6 / bx->b;
    double e1 = g_eval(bx, tz, NULL);
    double top = g_eval(bx, fmax(1.0 - bx->x1, tz), NULL);
    double xhi = ldexp(top, FWD_OCTAVES_ABOVE_T);
    if (!(e1 > DBL_MIN) || !(xhi < 0x1p1000) || !(xhi > e1)) return -1;
    int64_t key1 = (int64_t)(dbits(e1) >> shift);
    int64_t keyhi = (int64_t)(dbits(xhi) >> shift) + 1;
    if (keyhi - key1 + 1 > FWD_MAX_BUCKETS) key1 = keyhi + 1 - FWD_MAX_BUCKETS;
    size_t n = (size_t)(keyhi - key1 + 1);
    double *edge = malloc((n + 1) * sizeof *edge), *te = malloc((n + 1) * sizeof *te);
    bx->fwd = alloc_lines(n, sizeof *bx->fwd);
    if (!edge || !te || !bx->fwd) {
        free(edge);
        free(te);
        return -2;
    }
    edge[0] = 0.0;
    te[0] = 0.0;
    for (size_t j = 1; j <= n; j++) {
        edge[j] = bitsd((uint64_t)(key1 + (int64_t)j - 1) << shift);
        te[j] = solve_t(bx, edge[j]);
    }
    double worst = 0.0, worst_e0 = 0.0;
    int ok = 1;
    for (size_t j = 0; j < n; j++) {
        fwd_bucket *B = &bx->fwd[j];
        double h = edge[j + 1] - edge[j], t0 = te[j], t1 = te[j + 1], gp0, gp1;
        B->t = t0;
        B->g = g_eval(bx, t0, &gp0);
        g_eval(bx, t1, &gp1);
        double s0 = 1.0 / gp0, s1 = 1.0 / gp1, D = (t1 - t0) / h;
        B->c1 = s0;
        B->c2 = (3.0 * D - 2.0 * s0 - s1) / h;
        B->c3 = (s0 + s1 - 2.0 * D) / (h * h);
        B->p = bx->p1 * exp(bx->b * t0);
        B->n = bx->n1 * exp(-bx->d * t0);
        B->pad = 0.0;
        /* check: start error at the midpoint, Newton bound, em1 range */
        double vm = edge[j] + 0.5 * h, tm = solve_t(bx, vm);
        double du = vm - B->g;
        double e0 = fabs(t0 + du * (B->c1 + du * (B->c2 + du * B->c3)) - tm);
        double K = fabs(g_second(bx, t1)) / (2.0 * gp0);
        if (j == 0) K = fmax(K, fabs(g_second(bx, 0.0)) / (2.0 * gp0));
        double y = bx->x1 + t1;
        double bound = K * (4.0 * e0) * (4.0 * e0) / y;
        double check = fabs(fwd_bucket_eval(bx, B, vm) - tm) / y;
        if (bound > worst) worst = bound;
        if (e0 > worst_e0) worst_e0 = e0;
        if (!(bx->b * (t1 - t0) * 1.0625 <= ZMAX) || !(bound <= FWD_BOUND) || !(check <= 0x1p-50) ||
            !isfinite(B->c2) || !isfinite(B->c3))
            ok = 0;
    }
    bx->n_fwd = n;
    bx->fwd_off = key1 - 1;
    bx->fwd_shift = shift;
    bx->x_hi = edge[n];
    bx->st.fwd_newton_bound = worst;
    bx->st.fwd_start_err = worst_e0;
    bx->st.fwd_buckets = n;
    bx->st.x_hi = bx->x_hi;
    free(edge);
    free(te);
    return ok ? 0 : -1;
}

/* Finer buckets where the coarse ones fail their check (very wide linear
 * regions: W of 3 decades and more). */
static int build_fwd(fcs_bx *bx)
{
    int rc = -1;
    for (int q = FWD_Q; q <= FWD_Q_MAX; q++) {
        free(bx->fwd);
        bx->fwd = NULL;
        rc = build_fwd_q(bx, q);
        if (rc != -1) break;
    }
    return rc;
}

static int build_inv(fcs_bx *bx)
{
    int m = (int)ceil(log2(bx->b) + 6.0);
    double h = ldexp(1.0, -m);
    double t_need = solve_t(bx, bx->x_hi);
    double nn = ceil(t_need / h) + 1.0;
    if (!(nn >= 1.0)) return -1;
    size_t n = nn > INV_MAX_NODES ? INV_MAX_NODES : (size_t)nn;
    bx->inv = alloc_lines(n, sizeof *bx->inv);
    if (!bx->inv) return -2;
    double worst = 0.0;
    for (size_t k = 0; k < n; k++) {
        inv_node *N = &bx->inv[k];
        double tk = (double)k * h;
        N->g = g_eval(bx, tk, NULL);
        N->p = bx->p1 * exp(bx->b * tk);
        N->n = bx->n1 * exp(-bx->d * tk);
        N->pad = 0.0;
        double dl = 0.5 * h, exact = g_eval(bx, tk + dl, NULL);
        double approx = N->g + (N->p * em1p(bx->b * dl) - N->n * em1p(-bx->d * dl) + bx->l * dl);
        /* relative to the conditioning: rounding b t alone moves e^(bt) by b t eps */
        double rel = fabs(approx - exact) / exact / (1.0 + bx->b * (tk + dl));
        if (rel > worst) worst = rel;
    }
    bx->n_inv = n;
    bx->inv_h = h;
    bx->inv_rh = ldexp(1.0, m);
    bx->t_lim = (double)n * h;
    bx->st.inv_rel_err = worst;
    bx->st.inv_nodes = n;
    bx->st.y_lim = bx->t_lim;
    return worst <= INV_BOUND ? 0 : -1;
}

static int cpu_isa(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl"))
        return FCS_BX_AVX512;
    if (__builtin_cpu_supports("avx2")) return FCS_BX_AVX2;
#endif
    return FCS_BX_BASE;
}

static int bx_finish(fcs_bx *bx, fcs_bx **out, fcs_error *err)
{
    bx->g1 = bx->b * bx->p1 + bx->d * bx->n1 + bx->l;
    if (!isfinite(bx->x1) || !(bx->p1 > 0) || !isfinite(bx->p1) || !(bx->n1 >= 0) ||
        !isfinite(bx->n1) || !isfinite(bx->l) || !(bx->g1 > 0) || !isfinite(bx->g1) ||
        !(bx->b > 0)) {
        free(bx);
        return fcs_error_set(err, FCS_ENUMERIC,
                             "biexponential coefficients are not finite for these parameters");
    }
    bx->v_big = ldexp(bx->p1 + bx->n1 + bx->l * (800.0 / bx->b), 60);
    int rf = build_fwd(bx);
    int ri = rf == -2 ? -2 : build_inv(bx);
    if (rf == -2 || ri == -2) {
        fcs_bx_free(bx);
        return fcs_error_set(err, FCS_ENOMEM, "biexponential tables: out of memory");
    }
    bx->tables_ok = rf == 0 && ri == 0;
    bx->isa = bx->tables_ok ? cpu_isa() : FCS_BX_EXACT;
    bx->st.bytes = bx->n_fwd * sizeof *bx->fwd + bx->n_inv * sizeof *bx->inv;
    *out = bx;
    return FCS_OK;
}

void fcs_bx_free(fcs_bx *bx)
{
    if (!bx) return;
    free(bx->fwd);
    free(bx->inv);
    free(bx);
}

void fcs_bx_get_stats(const fcs_bx *bx, fcs_bx_stats *st) { *st = bx->st; }

int fcs_bx_isa(const fcs_bx *bx) { return bx->isa; }

const char *fcs_bx_isa_name(int isa)
{
    switch (isa) {
    case FCS_BX_EXACT: return "exact";
    case FCS_BX_BASE: return "sse2";
    case FCS_BX_AVX2: return "avx2";
    case FCS_BX_AVX512: return "avx512";
    default: return "?";
    }
}

int fcs_bx_set_isa(fcs_bx *bx, int isa)
{
    if (isa == FCS_BX_EXACT) {
        bx->isa = isa;
        return 0;
    }
    if (!bx->tables_ok || isa < FCS_BX_BASE || isa > cpu_isa()) return -1;
    bx->isa = isa;
    return 0;
}

/* ---- kernels ------------------------------------------------------------------ */

#define AI static inline __attribute__((always_inline))

typedef struct fwd_ctx {
    const fwd_bucket *tab;
    double x1, b, d, l, x_hi;
    int64_t off, kmax;
    int shift;
} fwd_ctx;

typedef struct inv_ctx {
    const inv_node *tab;
    double x1, b, d, l, t_lim, h, rh;
} inv_ctx;

AI fwd_ctx fwd_ctx_of(const fcs_bx *bx)
{
    fwd_ctx c = {bx->fwd,      bx->x1,   bx->b,       bx->d,
                 bx->l,        bx->x_hi, bx->fwd_off, (int64_t)bx->n_fwd - 1,
                 bx->fwd_shift};
    return c;
}

AI inv_ctx inv_ctx_of(const fcs_bx *bx)
{
    inv_ctx c = {bx->inv, bx->x1, bx->b, bx->d, bx->l, bx->t_lim, bx->inv_h, bx->inv_rh};
    return c;
}

AI double fwd_elem(const fwd_ctx *c, double x)
{
    double v = fabs(x);
    int64_t k = (int64_t)(dbits(v) >> c->shift) - c->off;
    k = k < 0 ? 0 : k;
    k = k > c->kmax ? c->kmax : k;
    const fwd_bucket *B = c->tab + k;
    double du = v - B->g;
    double dt = du * (B->c1 + du * (B->c2 + du * B->c3));
    double eb = em1p(c->b * dt), ed = em1p(-c->d * dt);
    double r = (B->p * eb - B->n * ed + c->l * dt) - du;
    double gp = c->b * (B->p + B->p * eb) + c->d * (B->n + B->n * ed) + c->l;
    double t = B->t + (dt - r / gp);
    return c->x1 + copysign(t, x); /* (a ?: would stop GCC vectorising for AVX2) */
}

AI double inv_elem(const inv_ctx *c, double y)
{
    double t = y - c->x1;
    double at = fabs(t);
    double atc = at < c->t_lim ? at : 0.0;
    int32_t k = (int32_t)(atc * c->rh);
    double dl = atc - (double)k * c->h;
    const inv_node *N = c->tab + k;
    double v = N->g + (N->p * em1p(c->b * dl) - N->n * em1p(-c->d * dl) + c->l * dl);
    return copysign(v, t);
}

/* Whether the table path covers an input; outside, the exact (scalar) path takes over.
 * (Macros, not inline functions: GCC then allocates registers in the loops below exactly as
 * when they were written out four times; the functions cost a few instructions.) */
#define fwd_in_table(c, x) (fabs(x) < (c)->x_hi)
#define inv_in_table(c, y) (fabs((y) - (c)->x1) < (c)->t_lim)

/* One blocked loop, for one direction (DIR: fwd or inv) and element type T: the whole block
 * through the branch-free table kernel (so that it vectorises), then, only when some input
 * fell outside the table, those elements again through the exact path. */
#define BX_LOOP(NAME, DIR, T, ATTR)                                                                \
    ATTR static void NAME(const fcs_bx *bx, T *v, size_t n)                                        \
    {                                                                                              \
        const DIR##_ctx c = DIR##_ctx_of(bx);                                                      \
        T tmp[BLK];                                                                                \
        for (size_t off = 0; off < n; off += BLK) {                                                \
            size_t m = n - off < BLK ? n - off : BLK;                                              \
            const T *in = v + off;                                                                 \
            int slow = 0;                                                                          \
            for (size_t i = 0; i < m; i++) {                                                       \
                double x = in[i];                                                                  \
                tmp[i] = (T)DIR##_elem(&c, x);                                                     \
                slow |= !DIR##_in_table(&c, x);                                                    \
            }                                                                                      \
            if (slow)                                                                              \
                for (size_t i = 0; i < m; i++)                                                     \
                    if (!DIR##_in_table(&c, in[i])) tmp[i] = (T)DIR##_exact(bx, in[i]);            \
            memcpy(v + off, tmp, m * sizeof *tmp);                                                 \
        }                                                                                          \
    }

/* The exact path of each direction, by the names BX_LOOP pastes. */
#define fwd_exact fcs_bx_forward_exact
#define inv_exact fcs_bx_inverse_exact

/* The four loops (direction x element type), instantiated per ISA below. */
#define BX_LOOPS(SUF, ATTR)                                                                        \
    BX_LOOP(fwd_d_##SUF, fwd, double, ATTR)                                                        \
    BX_LOOP(fwd_f_##SUF, fwd, float, ATTR)                                                         \
    BX_LOOP(inv_d_##SUF, inv, double, ATTR)                                                        \
    BX_LOOP(inv_f_##SUF, inv, float, ATTR)

BX_LOOPS(base, )
#if defined(__x86_64__) && defined(__GNUC__)
BX_LOOPS(avx2, __attribute__((target("avx2"))))
#if defined(__clang__)
#define AVX512_ATTR __attribute__((target("avx512f,avx512dq,avx512vl"), min_vector_width(512)))
#else
#define AVX512_ATTR __attribute__((target("avx512f,avx512dq,avx512vl,prefer-vector-width=512")))
#endif
BX_LOOPS(avx512, AVX512_ATTR)
#define BX_DISPATCH(dir, bx, v, n)                                                                 \
    do {                                                                                           \
        switch ((bx)->isa) {                                                                       \
        case FCS_BX_AVX512: dir##_avx512(bx, v, n); return;                                        \
        case FCS_BX_AVX2: dir##_avx2(bx, v, n); return;                                            \
        case FCS_BX_BASE: dir##_base(bx, v, n); return;                                            \
        default: break;                                                                            \
        }                                                                                          \
    } while (0)
#else
#define BX_DISPATCH(dir, bx, v, n)                                                                 \
    do {                                                                                           \
        if ((bx)->isa != FCS_BX_EXACT) {                                                           \
            dir##_base(bx, v, n);                                                                  \
            return;                                                                                \
        }                                                                                          \
    } while (0)
#endif

void fcs_bx_forward(const fcs_bx *bx, double *v, size_t n)
{
    BX_DISPATCH(fwd_d, bx, v, n);
    for (size_t i = 0; i < n; i++) v[i] = fcs_bx_forward_exact(bx, v[i]);
}

void fcs_bx_inverse(const fcs_bx *bx, double *v, size_t n)
{
    BX_DISPATCH(inv_d, bx, v, n);
    for (size_t i = 0; i < n; i++) v[i] = fcs_bx_inverse_exact(bx, v[i]);
}

void fcs_bx_forward_f(const fcs_bx *bx, float *v, size_t n)
{
    BX_DISPATCH(fwd_f, bx, v, n);
    for (size_t i = 0; i < n; i++) v[i] = (float)fcs_bx_forward_exact(bx, v[i]);
}

void fcs_bx_inverse_f(const fcs_bx *bx, float *v, size_t n)
{
    BX_DISPATCH(inv_f, bx, v, n);
    for (size_t i = 0; i < n; i++) v[i] = (float)fcs_bx_inverse_exact(bx, v[i]);
}
