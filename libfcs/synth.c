/*
 * synth.c — synthetic whole-blood samples for a CAR-T monitoring panel
 * (fcs/synth.h): the panel, the population phenotypes, the presets of the
 * patient time course, and a reproducible streaming generator.
 *
 * Every number of the model is in the tables below; docs/synth.md explains
 * them. Reproducibility rests on three things: our own PRNG, our own log and
 * exp (IEEE basic operations only, so no C library's last-bit differences
 * leak in), and a fixed order of draws per event.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcs/synth.h"
#include "internal.h"

/* Fused multiply-adds round differently from a multiply then an add; the
 * events must not depend on whether the compiler contracts. (GCC does not
 * contract in ISO C mode, which the build uses; clang obeys the pragma.) */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

/* ---- deterministic math ------------------------------------------------------- */

/* Not static so the unit test can check them against libm; hidden from the
 * shared library like every function without FCS_EXPORT. */
double fcs_synth_det_log(double x);
double fcs_synth_det_exp(double x);
#define det_log fcs_synth_det_log
#define det_exp fcs_synth_det_exp

/* ln 2 split so that k * LN2_HI is exact for |k| < 2^11 (fdlibm's split). */
static const double LN2_HI = 6.93147180369123816490e-01;
static const double LN2_LO = 1.90821492927058770002e-10;
static const double INV_LN2 = 1.44269504088896338700e+00;
static const double LN10 = 2.30258509299404568402e+00;

/* Natural log of a finite x > 0: x = m 2^e with m in [sqrt(1/2), sqrt(2)),
 * log m = 2 atanh(s), s = (m-1)/(m+1), |s| < 0.172, by its series to s^25
 * (the next term is below 2^-60 of the result). */
double fcs_synth_det_log(double x)
{
    int e;
    double m = frexp(x, &e); /* exact */
    if (m < 0.70710678118654752440) {
        m *= 2.0;
        e--;
    }
    double f = m - 1.0; /* exact (Sterbenz) */
    double s = f / (2.0 + f), s2 = s * s;
    double p = 1.0 / 25.0;
    for (int k = 23; k >= 3; k -= 2) p = p * s2 + 1.0 / (double)k;
    double lg = 2.0 * s + 2.0 * s * s2 * p; /* log(m) */
    return (double)e * LN2_HI + (lg + (double)e * LN2_LO);
}

/* exp(x): x = k ln2 + r with |r| <= ln2/2, exp(r) by Horner's form of its
 * Taylor series to r^17/17!, then scaled by 2^k (exact). */
double fcs_synth_det_exp(double x)
{
    static const double inv[18] = {0,        1.0 / 1,  1.0 / 2,  1.0 / 3,  1.0 / 4,  1.0 / 5,
                                   1.0 / 6,  1.0 / 7,  1.0 / 8,  1.0 / 9,  1.0 / 10, 1.0 / 11,
                                   1.0 / 12, 1.0 / 13, 1.0 / 14, 1.0 / 15, 1.0 / 16, 1.0 / 17};
    if (x > 709.0) return HUGE_VAL;
    if (x < -745.0) return 0.0;
    double kf = floor(x * INV_LN2 + 0.5);
    double r = (x - kf * LN2_HI) - kf * LN2_LO;
    double p = 1.0;
    for (int i = 17; i >= 1; i--) p = 1.0 + (r * inv[i]) * p;
    return ldexp(p, (int)kf); /* exact unless the result is subnormal */
}

static double det_pow10(double y) { return det_exp(y * LN10); }

/* ---- PRNG: xoshiro256** seeded by splitmix64 ------------------------------------- */

typedef struct rng {
    uint64_t s[4];
    int has_spare;
    double spare;
} rng;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static void rng_seed(rng *g, uint64_t seed)
{
    /* splitmix64 spreads any seed (0 included) over the 256-bit state, which
     * xoshiro needs to be not all zero. */
    for (int i = 0; i < 4; i++) g->s[i] = splitmix64(&seed);
    g->has_spare = 0;
    g->spare = 0;
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(rng *g)
{
    uint64_t *s = g->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in [0, 1) with 53 random bits. */
static double rng_uniform(rng *g) { return (double)(rng_next(g) >> 11) * 0x1.0p-53; }

/* Uniform integer in [0, n), n > 0, without modulo bias. */
static uint64_t rng_below(rng *g, uint64_t n)
{
    uint64_t threshold = (0 - n) % n; /* 2^64 mod n */
    for (;;) {
        uint64_t r = rng_next(g);
        if (r >= threshold) return r % n;
    }
}

/* Standard normal deviate, Marsaglia's polar method (no trigonometry). */
static double rng_normal(rng *g)
{
    if (g->has_spare) {
        g->has_spare = 0;
        return g->spare;
    }
    double u, v, s;
    do {
        u = 2.0 * rng_uniform(g) - 1.0;
        v = 2.0 * rng_uniform(g) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    double f = sqrt(-2.0 * det_log(s) / s); /* sqrt is correctly rounded by IEEE 754 */
    g->spare = v * f;
    g->has_spare = 1;
    return u * f;
}

/* ---- the panels ------------------------------------------------------------------- */

/* Every panel starts with FSC-A, FSC-H, SSC-A, then its fluorescence
 * channels, and ends with Time. */
enum { CH_FSC_A, CH_FSC_H, CH_SSC_A, FL0 };
#define MAX_FL 10
#define MAX_CH (FL0 + MAX_FL + 1)

#define RANGE 262144.0
#define FL_MIN (-1000.0) /* baseline restoration leaves negatives a few noise sd deep */

/* The CAR-T monitoring panel (a 3-laser, 10-colour instrument). */
static const fcs_synth_channel CART_CHANNELS[] = {
    {"FSC-A", NULL, FCS_SYNTH_SCATTER, RANGE, 0, RANGE - 1, 300, 0.5},
    {"FSC-H", NULL, FCS_SYNTH_HEIGHT, RANGE, 0, RANGE - 1, 300, 0.5},
    {"SSC-A", NULL, FCS_SYNTH_SCATTER, RANGE, 0, RANGE - 1, 200, 0.5},
    {"FITC-A", "CAR", FCS_SYNTH_FLUOR, RANGE, FL_MIN, RANGE - 1, 40, 4},
    {"PE-A", "CD20", FCS_SYNTH_FLUOR, RANGE, FL_MIN, RANGE - 1, 45, 3},
    {"PerCP-Cy5.5-A", "CD45", FCS_SYNTH_FLUOR, RANGE, FL_MIN, RANGE - 1, 35, 5},
    {"PE-Cy7-A", "CD19", FCS_SYNTH_FLUOR, RANGE, FL_MIN, RANGE - 1, 30, 4},
    {"APC-A", "CD8", FCS_SYNTH_FLUOR, RANGE, FL_MIN, RANGE - 1, 30, 3},
    {"APC-H7-A", "CD3", FCS_SYNTH_FLUOR, RANGE, FL_MIN, RANGE - 1, 35, 5},
    {"BV421-A", "CD4", FCS_SYNTH_FLUOR, RANGE, FL_MIN, RANGE - 1, 30, 3},
    {"BV510-A", "Viability", FCS_SYNTH_FLUOR, RANGE, FL_MIN, RANGE - 1, 45, 4},
    {"BV605-A", "CD14", FCS_SYNTH_FLUOR, RANGE, FL_MIN, RANGE - 1, 40, 4},
    {"BV711-A", "CD56", FCS_SYNTH_FLUOR, RANGE, FL_MIN, RANGE - 1, 35, 5},
    {"Time", NULL, FCS_SYNTH_TIME, RANGE, 0, RANGE, 0, 0},
};

/* Spillover of each dye (row, panel order from FITC) into each detector
 * (column): typical of a 3-laser instrument (FITC into PE, PE into PerCP,
 * tandem leakage, violet-laser dyes into their neighbours). */
static const double CART_SPILL[MAX_FL][MAX_FL] = {
    /*           FITC   PE     PerCP  PE-Cy7 APC    APC-H7 BV421  BV510  BV605  BV711 */
    /* FITC  */ {1,     0.22,  0.035, 0.006, 0,     0,     0,     0.015, 0.002, 0.001},
    /* PE    */ {0.012, 1,     0.14,  0.025, 0.001, 0.001, 0,     0.001, 0.045, 0.012},
    /* PerCP */ {0,     0.002, 1,     0.11,  0.015, 0.04,  0,     0,     0.003, 0.06},
    /* PECy7 */ {0,     0.012, 0.015, 1,     0.002, 0.035, 0,     0,     0.004, 0.015},
    /* APC   */ {0,     0,     0.012, 0.003, 1,     0.12,  0,     0,     0,     0.008},
    /* APCH7 */ {0,     0,     0.004, 0.06,  0.035, 1,     0,     0,     0,     0.002},
    /* BV421 */ {0.025, 0.002, 0,     0,     0,     0,     1,     0.13,  0.012, 0.004},
    /* BV510 */ {0.07,  0.03,  0.004, 0,     0,     0,     0.012, 1,     0.085, 0.018},
    /* BV605 */ {0.003, 0.05,  0.025, 0.01,  0.004, 0.002, 0,     0.004, 1,     0.12},
    /* BV711 */ {0,     0.002, 0.085, 0.03,  0.012, 0.03,  0,     0,     0.015, 1},
};

/* One population's phenotype: FSC-A (dist, a, b), SSC-A (dist, a, b), and
 * per fluorescence channel the log10 median and sd of the true signal
 * (negative = autofluorescence). */
struct pop_def {
    const char *name;
    int kind;
    int fsc_dist;
    double fsc_a, fsc_b;
    int ssc_dist;
    double ssc_a, ssc_b;
    double mu[MAX_FL], sd[MAX_FL];
};

#define N FCS_SYNTH_NORMAL
#define LN FCS_SYNTH_LOGNORMAL
/* Autofluorescence of lymphocyte-sized cells (CAR/FITC highest). */
#define LY_NEG 1.85, 1.7, 1.5, 1.5, 1.5, 1.5, 1.6, 1.9, 1.6, 1.5
#define NEG_SD 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2
static const double CART_NEG[MAX_FL] = {LY_NEG};

/* Marker order:                 CAR   CD20  CD45  CD19  CD8   CD3   CD4   Viab  CD14  CD56 */
static const struct pop_def CART_POPS[] = {
    {"debris", FCS_SYNTH_DEBRIS, LN, 3.9, 0.25, LN, 3.7, 0.35,
     {1.7, 1.6, 2.0, 1.5, 1.5, 1.5, 1.6, 2.6, 1.6, 1.5},
     {0.3, 0.3, 0.4, 0.3, 0.3, 0.3, 0.3, 0.5, 0.3, 0.3}},
    {"doublets", FCS_SYNTH_DOUBLET, N, 55000, 4500, LN, 4.18, 0.06, {LY_NEG}, {NEG_SD}},
    {"dead", FCS_SYNTH_DEAD, N, 32000, 9000, LN, 4.35, 0.15,
     {2.05, 1.9, 3.0, 1.7, 1.7, 1.7, 1.8, 3.9, 1.8, 1.7},
     {0.3, 0.3, 0.35, 0.3, 0.3, 0.3, 0.3, 0.15, 0.3, 0.3}},
    {"granulocytes", FCS_SYNTH_CELL, N, 105000, 10000, LN, 5.0, 0.07,
     {2.25, 2.1, 3.35, 1.9, 1.9, 1.9, 2.0, 2.2, 2.6, 1.9},
     {0.18, 0.18, 0.1, 0.18, 0.18, 0.18, 0.18, 0.18, 0.15, 0.18}},
    {"monocytes", FCS_SYNTH_CELL, N, 88000, 8000, LN, 4.62, 0.07,
     {2.05, 1.9, 3.75, 1.7, 1.7, 1.7, 2.85, 2.05, 3.95, 1.7},
     {0.2, 0.2, 0.1, 0.2, 0.2, 0.2, 0.12, 0.2, 0.12, 0.2}},
    {"NK", FCS_SYNTH_CELL, N, 62000, 5000, LN, 4.3, 0.06,
     {1.85, 1.7, 3.95, 1.5, 2.7, 1.5, 1.6, 1.9, 1.6, 3.45},
     {0.2, 0.2, 0.08, 0.2, 0.45, 0.2, 0.2, 0.2, 0.2, 0.15}},
    {"T-CD4", FCS_SYNTH_CELL, N, 55000, 4500, LN, 4.18, 0.06,
     {1.85, 1.7, 4.0, 1.5, 1.5, 3.65, 3.7, 1.9, 1.6, 1.5},
     {0.2, 0.2, 0.08, 0.2, 0.2, 0.1, 0.09, 0.2, 0.2, 0.2}},
    {"T-CD8", FCS_SYNTH_CELL, N, 54000, 4500, LN, 4.17, 0.06,
     {1.85, 1.7, 4.02, 1.5, 3.95, 3.7, 1.6, 1.9, 1.6, 1.5},
     {0.2, 0.2, 0.08, 0.2, 0.1, 0.1, 0.2, 0.2, 0.2, 0.2}},
    {"CAR-T-CD4", FCS_SYNTH_CELL, N, 66000, 7000, LN, 4.25, 0.07,
     {3.45, 1.7, 4.05, 1.5, 1.5, 3.5, 3.6, 1.9, 1.6, 1.5},
     {0.3, 0.2, 0.08, 0.2, 0.2, 0.12, 0.1, 0.2, 0.2, 0.2}},
    {"CAR-T-CD8", FCS_SYNTH_CELL, N, 64000, 7000, LN, 4.24, 0.07,
     {3.5, 1.7, 4.05, 1.5, 3.85, 3.55, 1.6, 1.9, 1.6, 1.5},
     {0.3, 0.2, 0.08, 0.2, 0.12, 0.12, 0.2, 0.2, 0.2, 0.2}},
    {"B-CD20+", FCS_SYNTH_CELL, N, 53000, 4500, LN, 4.15, 0.06,
     {1.85, 4.05, 3.9, 3.35, 1.5, 1.5, 1.6, 1.9, 1.6, 1.5},
     {0.2, 0.15, 0.08, 0.12, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2}},
    {"B-CD20-", FCS_SYNTH_CELL, N, 62000, 6000, LN, 4.25, 0.07,
     {1.85, 2.0, 3.7, 2.95, 1.5, 1.5, 1.6, 1.9, 1.6, 1.5},
     {0.2, 0.25, 0.1, 0.15, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2}},
    {"beads", FCS_SYNTH_BEAD, N, 24000, 1000, LN, 4.6, 0.02,
     {4.55, 4.6, 4.5, 4.45, 4.5, 4.45, 4.6, 4.55, 4.5, 4.45},
     {0.02, 0.02, 0.02, 0.02, 0.02, 0.02, 0.02, 0.02, 0.02, 0.02}},
};

/* The basic 4-colour panel of the first fcs-synth ("blood-basic-1"): no
 * spillover, no doublets or beads, normal scatter, markers 10^N(mu, 0.22)
 * plus electronic noise of sd 40; kept because tests of the other tools are
 * built on its layout. */
static const fcs_synth_channel BASIC_CHANNELS[] = {
    {"FSC-A", NULL, FCS_SYNTH_SCATTER, RANGE, 0, RANGE - 1, 0, 0},
    {"FSC-H", NULL, FCS_SYNTH_HEIGHT, RANGE, 0, RANGE - 1, 0, 0},
    {"SSC-A", NULL, FCS_SYNTH_SCATTER, RANGE, 0, RANGE - 1, 0, 0},
    {"FITC-A", "CD3", FCS_SYNTH_FLUOR, RANGE, -RANGE, RANGE - 1, 40, 0},
    {"PE-A", "CD19", FCS_SYNTH_FLUOR, RANGE, -RANGE, RANGE - 1, 40, 0},
    {"APC-A", "CD4", FCS_SYNTH_FLUOR, RANGE, -RANGE, RANGE - 1, 40, 0},
    {"BV421-A", "CD8", FCS_SYNTH_FLUOR, RANGE, -RANGE, RANGE - 1, 40, 0},
    {"Time", NULL, FCS_SYNTH_TIME, RANGE, 0, RANGE, 0, 0},
};

#define B4(x) {x, x, x, x}
/* Marker order:                                          CD3  CD19 CD4  CD8 */
static const struct pop_def BASIC_POPS[] = {
    {"debris", FCS_SYNTH_DEBRIS, N, 14000, 7000, N, 9000, 5000, B4(1.6), B4(0.22)},
    {"T CD4+", FCS_SYNTH_CELL, N, 60000, 6000, N, 16000, 3000, {3.8, 2.0, 3.9, 2.0}, B4(0.22)},
    {"T CD8+", FCS_SYNTH_CELL, N, 58000, 6000, N, 15000, 3000, {3.8, 2.0, 2.0, 4.0}, B4(0.22)},
    {"B cells", FCS_SYNTH_CELL, N, 56000, 5500, N, 14000, 3000, {2.0, 3.7, 2.0, 2.0}, B4(0.22)},
    {"NK cells", FCS_SYNTH_CELL, N, 62000, 6000, N, 20000, 4000, {2.0, 2.0, 2.0, 3.1}, B4(0.22)},
    {"monocytes", FCS_SYNTH_CELL, N, 95000, 10000, N, 45000, 8000, {2.1, 2.0, 3.3, 2.0},
     B4(0.22)},
    {"granulocytes", FCS_SYNTH_CELL, N, 110000, 12000, N, 120000, 20000, B4(2.3), B4(0.22)},
};
static const double BASIC_NEG[MAX_FL] = B4(2.0);
#undef N
#undef LN

struct panel {
    const char *model; /* LIBFCS_SYNTH_MODEL */
    size_t n_fl;
    const fcs_synth_channel *ch; /* n_fl + 4 */
    const double (*spill)[MAX_FL]; /* NULL: identity */
    const struct pop_def *pops;
    size_t n_pops;
    size_t template_pop; /* add_population(like -1): its scatter, ... */
    const double *neg;   /* ... these log10 medians in every fluorescence channel, */
    double neg_sd;       /* ... with this log10 sd */
    fcs_synth_acquisition acq;
};

static const struct panel CART = {
    "cart-blood-1", 10, CART_CHANNELS, CART_SPILL, CART_POPS,
    sizeof CART_POPS / sizeof CART_POPS[0], 6, CART_NEG, 0.2,
    {2000, 0.01, 0, 0.4, 0.92, 0.025, 1.05}};
static const struct panel BASIC = {
    "blood-basic-1", 4, BASIC_CHANNELS, NULL, BASIC_POPS,
    sizeof BASIC_POPS / sizeof BASIC_POPS[0], 1, BASIC_NEG, 0.22,
    {2000, 0.01, 0, 0, 0.82, 0.03, 1.05}};

/* ---- the presets --------------------------------------------------------------------- */

/* Default bead lot: BD Trucount-like tubes; 50 uL of blood per tube. */
#define LOT_NAME "SYN-TRU-2024-01"
#define LOT_BEADS 51800.0
#define LOT_VOLUME 50.0
/* Every CAR-T preset stops the acquisition at this many bead events (~6.8%
 * of the tube), so one event stands for LOT_BEADS / BEAD_EVENTS / LOT_VOLUME
 * = 0.296 cells/uL. */
#define BEAD_EVENTS 3500

struct preset {
    const char *name, *description;
    const struct panel *panel;
    /* per population but the last (beads): events per uL of blood when
     * bead_events > 0, else plain event counts (every population) */
    double amount[16];
    int64_t bead_events;
    const char *smno, *date, *day; /* sample keywords, NULL when none */
};

/* CAR-T populations: debris doublets dead gran  mono NK   T-CD4 T-CD8 CAR4 CAR8 B20+ B20- */
static const struct preset PRESETS[] = {
    {"baseline", "patient P01 before lymphodepletion and CAR-T infusion (day -6)", &CART,
     {400, 110, 150, 4600, 520, 140, 520, 380, 0, 0, 150, 20}, BEAD_EVENTS, "P01-D-6",
     "27-FEB-2024", "-6"},
    {"day7", "patient P01 day 7: B cells depleted, CAR-T expanding (CD8-dominant)", &CART,
     {600, 60, 220, 3300, 260, 60, 110, 150, 14, 38, 1, 0.3}, BEAD_EVENTS, "P01-D7",
     "11-MAR-2024", "7"},
    {"day14", "patient P01 day 14: CAR-T peak (~25% of T cells), B cells depleted", &CART,
     {400, 90, 150, 3600, 420, 110, 190, 300, 55, 115, 0.6, 0.3}, BEAD_EVENTS, "P01-D14",
     "18-MAR-2024", "14"},
    {"day28", "patient P01 day 28: CAR-T contracting, B cells still depleted", &CART,
     {400, 100, 130, 4000, 480, 160, 330, 420, 22, 26, 1.5, 0.3}, BEAD_EVENTS, "P01-D28",
     "01-APR-2024", "28"},
    {"day90", "patient P01 day 90: CAR-T ~1% of T cells, B cells reconstituting", &CART,
     {350, 110, 100, 4200, 500, 210, 560, 430, 6, 4, 75, 3}, BEAD_EVENTS, "P01-D90",
     "02-JUN-2024", "90"},
    {"healthy", "healthy donor HD01 (reference ranges)", &CART,
     {300, 100, 80, 3800, 450, 250, 800, 450, 0, 0, 230, 10}, BEAD_EVENTS, "HD01",
     "27-FEB-2024", NULL},
    /* debris, T CD4+, T CD8+, B cells, NK cells, monocytes, granulocytes */
    {"basic", "the basic 4-colour sample of the first fcs-synth (CD3/CD19/CD4/CD8, no "
              "spillover, no beads)",
     &BASIC, {800, 1500, 800, 500, 400, 1000, 5000}, 0, NULL, NULL, NULL},
};
#define N_PRESETS (sizeof PRESETS / sizeof PRESETS[0])

size_t fcs_synth_n_presets(void) { return N_PRESETS; }

const char *fcs_synth_preset_name(size_t i) { return i < N_PRESETS ? PRESETS[i].name : NULL; }

const char *fcs_synth_preset_description(size_t i)
{
    return i < N_PRESETS ? PRESETS[i].description : "";
}

/* ---- the model object ----------------------------------------------------------------- */

struct signal {
    int dist;
    double a, b;
};

struct population {
    char *name;
    int kind;
    int64_t count;
    struct signal sig[MAX_CH]; /* used for FSC-A, SSC-A and fluorescence */
};

struct keyword {
    char *name, *value;
};

struct fcs_synth_model {
    char preset[32];
    const char *model; /* static: the panel's LIBFCS_SYNTH_MODEL */
    size_t n_ch, n_fl;
    fcs_synth_channel ch[MAX_CH];
    double spill[MAX_FL][MAX_FL];
    fcs_matrix *spill_m; /* the same, as a named matrix for callers */
    struct population tmpl; /* add_population(like -1) (name unused) */
    struct population *pops;
    size_t n_pops, cap_pops;
    char *lot;
    double beads_per_test, volume_ul;
    fcs_synth_acquisition acq;
    struct keyword *kws;
    size_t n_kws;
};

#define MAX_COUNT (INT64_C(1) << 40)

static size_t time_ch(const fcs_synth_model *m) { return m->n_ch - 1; }
static int is_fluor(const fcs_synth_model *m, size_t ch) { return ch >= FL0 && ch < FL0 + m->n_fl; }
static int has_signal(const fcs_synth_model *m, size_t ch)
{
    return ch == CH_FSC_A || ch == CH_SSC_A || is_fluor(m, ch);
}

static void pop_from_def(struct population *p, const struct pop_def *d, size_t n_fl)
{
    p->kind = d->kind;
    p->count = 0;
    memset(p->sig, 0, sizeof p->sig);
    p->sig[CH_FSC_A] = (struct signal){d->fsc_dist, d->fsc_a, d->fsc_b};
    p->sig[CH_SSC_A] = (struct signal){d->ssc_dist, d->ssc_a, d->ssc_b};
    for (size_t j = 0; j < n_fl; j++)
        p->sig[FL0 + j] = (struct signal){FCS_SYNTH_LOGNORMAL, d->mu[j], d->sd[j]};
}

static int rebuild_spill_matrix(fcs_synth_model *m)
{
    fcs_matrix *s = fcs_matrix_new(m->n_fl, m->n_fl);
    if (!s) return FCS_ENOMEM;
    for (size_t i = 0; i < m->n_fl; i++) {
        if (fcs_matrix_set_name(s, i, m->ch[FL0 + i].name) != FCS_OK) {
            fcs_matrix_free(s);
            return FCS_ENOMEM;
        }
        for (size_t j = 0; j < m->n_fl; j++) fcs_matrix_set(s, i, j, m->spill[i][j]);
    }
    fcs_matrix_free(m->spill_m);
    m->spill_m = s;
    return FCS_OK;
}

static const struct preset *find_preset(const char *name)
{
    for (size_t i = 0; i < N_PRESETS; i++)
        if (fcs_strcasecmp(PRESETS[i].name, name) == 0) return &PRESETS[i];
    return NULL;
}

static int unknown_preset(const char *name, fcs_error *err)
{
    char list[256] = "";
    for (size_t i = 0; i < N_PRESETS; i++) {
        if (i) strncat(list, ", ", sizeof list - strlen(list) - 1);
        strncat(list, PRESETS[i].name, sizeof list - strlen(list) - 1);
    }
    return fcs_error_set(err, FCS_ENOTFOUND, "unknown preset '%s' (known: %s)", name, list);
}

/* The panel's channels, spillover, acquisition and populations (counts 0). */
static int load_panel(fcs_synth_model *m, const struct panel *pn)
{
    m->model = pn->model;
    m->n_fl = pn->n_fl;
    m->n_ch = pn->n_fl + 4;
    memcpy(m->ch, pn->ch, m->n_ch * sizeof *m->ch);
    for (size_t i = 0; i < m->n_fl; i++)
        for (size_t j = 0; j < m->n_fl; j++)
            m->spill[i][j] = pn->spill ? pn->spill[i][j] : (i == j ? 1.0 : 0.0);
    m->acq = pn->acq;
    struct pop_def d = pn->pops[pn->template_pop];
    memcpy(d.mu, pn->neg, sizeof d.mu);
    for (size_t j = 0; j < MAX_FL; j++) d.sd[j] = pn->neg_sd;
    pop_from_def(&m->tmpl, &d, m->n_fl);
    m->pops = calloc(pn->n_pops, sizeof *m->pops);
    if (!m->pops) return FCS_ENOMEM;
    m->cap_pops = pn->n_pops;
    for (size_t k = 0; k < pn->n_pops; k++) {
        pop_from_def(&m->pops[k], &pn->pops[k], m->n_fl);
        if (!(m->pops[k].name = fcs_strdup(pn->pops[k].name))) return FCS_ENOMEM;
        m->n_pops = k + 1;
    }
    return rebuild_spill_matrix(m);
}

/* Counts of a preset: events per uL x uL of blood whose beads were acquired
 * (the last population is the beads), or the counts as they are. */
static int apply_preset(fcs_synth_model *m, const struct preset *p)
{
    if (p->bead_events > 0) {
        double ul_acquired = LOT_VOLUME * (double)p->bead_events / LOT_BEADS;
        for (size_t k = 0; k + 1 < m->n_pops; k++)
            m->pops[k].count = (int64_t)floor(p->amount[k] * ul_acquired + 0.5);
        m->pops[m->n_pops - 1].count = p->bead_events;
    } else {
        for (size_t k = 0; k < m->n_pops; k++) m->pops[k].count = (int64_t)p->amount[k];
    }
    snprintf(m->preset, sizeof m->preset, "%s", p->name);
    int rc = FCS_OK;
    if (p->smno) rc = fcs_synth_set_keyword(m, "$SRC", "peripheral blood (synthetic)");
    if (rc == FCS_OK && p->smno) rc = fcs_synth_set_keyword(m, "$SMNO", p->smno);
    if (rc == FCS_OK && p->date) rc = fcs_synth_set_keyword(m, "$DATE", p->date);
    if (rc == FCS_OK && p->day) rc = fcs_synth_set_keyword(m, "LIBFCS_SYNTH_DAY", p->day);
    return rc;
}

int fcs_synth_model_new(fcs_synth_model **out, const char *preset, fcs_error *err)
{
    if (!out) return fcs_error_set(err, FCS_EINVAL, "fcs_synth_model_new: out is NULL");
    *out = NULL;
    const struct preset *p = NULL;
    if (preset && *preset && !(p = find_preset(preset))) return unknown_preset(preset, err);
    fcs_synth_model *m = calloc(1, sizeof *m);
    if (!m) return fcs_error_set(err, FCS_ENOMEM, "synthetic model: out of memory");
    m->beads_per_test = LOT_BEADS;
    m->volume_ul = LOT_VOLUME;
    m->lot = fcs_strdup(LOT_NAME);
    int rc = m->lot ? load_panel(m, p ? p->panel : &CART) : FCS_ENOMEM;
    if (rc == FCS_OK && p) rc = apply_preset(m, p);
    if (rc != FCS_OK) {
        fcs_synth_model_free(m);
        return fcs_error_set(err, rc, "synthetic model: out of memory");
    }
    *out = m;
    return FCS_OK;
}

void fcs_synth_model_free(fcs_synth_model *m)
{
    if (!m) return;
    for (size_t k = 0; k < m->n_pops; k++) free(m->pops[k].name);
    free(m->pops);
    for (size_t i = 0; i < m->n_kws; i++) {
        free(m->kws[i].name);
        free(m->kws[i].value);
    }
    free(m->kws);
    free(m->lot);
    fcs_matrix_free(m->spill_m);
    free(m);
}

fcs_synth_model *fcs_synth_model_copy(const fcs_synth_model *m)
{
    if (!m) return NULL;
    fcs_synth_model *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    *c = *m;
    c->pops = NULL;
    c->kws = NULL;
    c->n_pops = c->n_kws = 0;
    c->lot = fcs_strdup(m->lot ? m->lot : "");
    c->spill_m = fcs_matrix_copy(m->spill_m);
    c->pops = calloc(m->cap_pops ? m->cap_pops : 1, sizeof *c->pops);
    c->kws = calloc(m->n_kws ? m->n_kws : 1, sizeof *c->kws);
    int ok = c->lot && c->spill_m && c->pops && c->kws;
    for (size_t k = 0; ok && k < m->n_pops; k++) {
        c->pops[k] = m->pops[k];
        ok = (c->pops[k].name = fcs_strdup(m->pops[k].name)) != NULL;
        c->n_pops = k + 1;
    }
    for (size_t i = 0; ok && i < m->n_kws; i++) {
        c->kws[i].name = fcs_strdup(m->kws[i].name);
        c->kws[i].value = fcs_strdup(m->kws[i].value);
        c->n_kws = i + 1;
        ok = c->kws[i].name && c->kws[i].value;
    }
    if (!ok) {
        fcs_synth_model_free(c);
        return NULL;
    }
    return c;
}

const char *fcs_synth_model_preset(const fcs_synth_model *m) { return m ? m->preset : ""; }

/* ---- channels ------------------------------------------------------------------------------ */

size_t fcs_synth_n_channels(const fcs_synth_model *m) { return m ? m->n_ch : 0; }

const fcs_synth_channel *fcs_synth_channel_info(const fcs_synth_model *m, size_t i)
{
    return (m && i < m->n_ch) ? &m->ch[i] : NULL;
}

int fcs_synth_channel_index(const fcs_synth_model *m, const char *name)
{
    if (!m || !name) return FCS_EINVAL;
    for (size_t i = 0; i < m->n_ch; i++)
        if (fcs_strcasecmp(m->ch[i].name, name) == 0) return (int)i;
    for (size_t i = 0; i < m->n_ch; i++)
        if (m->ch[i].label && fcs_strcasecmp(m->ch[i].label, name) == 0) return (int)i;
    return FCS_ENOTFOUND;
}

int fcs_synth_set_noise(fcs_synth_model *m, size_t channel, double noise_sd, double photon_var)
{
    if (!m) return FCS_EINVAL;
    if (channel >= m->n_ch) return FCS_ERANGE;
    if (m->ch[channel].kind == FCS_SYNTH_TIME || !isfinite(noise_sd) || !isfinite(photon_var) ||
        noise_sd < 0 || photon_var < 0)
        return FCS_EINVAL;
    m->ch[channel].noise_sd = noise_sd;
    m->ch[channel].photon_var = photon_var;
    return FCS_OK;
}

const fcs_matrix *fcs_synth_spillover(const fcs_synth_model *m) { return m ? m->spill_m : NULL; }

/* Fluorescence index (0-based among the fluorescence channels) of a matrix
 * name, or -1. */
static int fluor_of_name(const fcs_synth_model *m, const char *name)
{
    int ch = fcs_synth_channel_index(m, name);
    return (ch >= 0 && is_fluor(m, (size_t)ch)) ? ch - FL0 : -1;
}

static int check_spillover(const fcs_synth_model *m, const fcs_matrix *s, int *map,
                           fcs_error *err)
{
    size_t n = fcs_matrix_rows(s);
    if (n == 0 || n != fcs_matrix_cols(s))
        return fcs_error_set(err, FCS_EINVAL, "spillover matrix: must be square and not empty");
    int used[MAX_FL] = {0};
    for (size_t i = 0; i < n; i++) {
        const char *name = fcs_matrix_name(s, i);
        int f = fluor_of_name(m, name);
        if (f < 0)
            return fcs_error_set(err, FCS_ENOTFOUND,
                                 "spillover matrix: '%s' is not a fluorescence channel", name);
        if (used[f]++)
            return fcs_error_set(err, FCS_EINVAL, "spillover matrix: channel '%s' named twice",
                                 name);
        map[i] = f;
        for (size_t j = 0; j < n; j++) {
            double v = fcs_matrix_get(s, i, j);
            if (!isfinite(v) || (i == j && v <= 0))
                return fcs_error_set(err, FCS_EINVAL,
                                     "spillover matrix: value (%zu,%zu) of '%s' must be finite%s",
                                     i + 1, j + 1, name, i == j ? " and > 0" : "");
        }
    }
    return FCS_OK;
}

int fcs_synth_set_spillover(fcs_synth_model *m, const fcs_matrix *s, fcs_error *err)
{
    if (!m || !s) return fcs_error_set(err, FCS_EINVAL, "spillover matrix: NULL argument");
    int map[MAX_FL];
    if (fcs_matrix_rows(s) > m->n_fl)
        return fcs_error_set(err, FCS_EINVAL, "spillover matrix: %zu channels, the panel has %zu",
                             fcs_matrix_rows(s), m->n_fl);
    int rc = check_spillover(m, s, map, err);
    if (rc != FCS_OK) return rc;
    double old[MAX_FL][MAX_FL];
    memcpy(old, m->spill, sizeof old);
    for (size_t i = 0; i < m->n_fl; i++)
        for (size_t j = 0; j < m->n_fl; j++) m->spill[i][j] = i == j ? 1.0 : 0.0;
    for (size_t i = 0; i < fcs_matrix_rows(s); i++)
        for (size_t j = 0; j < fcs_matrix_rows(s); j++)
            m->spill[map[i]][map[j]] = fcs_matrix_get(s, i, j);
    if ((rc = rebuild_spill_matrix(m)) != FCS_OK) {
        memcpy(m->spill, old, sizeof old);
        return fcs_error_set(err, rc, "spillover matrix: out of memory");
    }
    return FCS_OK;
}

/* ---- populations ----------------------------------------------------------------------------- */

size_t fcs_synth_n_populations(const fcs_synth_model *m) { return m ? m->n_pops : 0; }

const char *fcs_synth_population_name(const fcs_synth_model *m, size_t k)
{
    return (m && k < m->n_pops) ? m->pops[k].name : NULL;
}

int fcs_synth_population_kind(const fcs_synth_model *m, size_t k)
{
    return (m && k < m->n_pops) ? m->pops[k].kind : -1;
}

int64_t fcs_synth_count(const fcs_synth_model *m, size_t k)
{
    return (m && k < m->n_pops) ? m->pops[k].count : -1;
}

int fcs_synth_population_index(const fcs_synth_model *m, const char *name)
{
    if (!m || !name) return FCS_EINVAL;
    for (size_t k = 0; k < m->n_pops; k++)
        if (fcs_strcasecmp(m->pops[k].name, name) == 0) return (int)k;
    return FCS_ENOTFOUND;
}

int fcs_synth_set_count(fcs_synth_model *m, size_t k, int64_t count)
{
    if (!m) return FCS_EINVAL;
    if (k >= m->n_pops || count < 0 || count > MAX_COUNT) return FCS_ERANGE;
    m->pops[k].count = count;
    return FCS_OK;
}

static int unknown_population(const fcs_synth_model *m, const char *name, fcs_error *err)
{
    char list[1024] = "";
    for (size_t k = 0; k < m->n_pops; k++) {
        if (k) strncat(list, ", ", sizeof list - strlen(list) - 1);
        strncat(list, m->pops[k].name, sizeof list - strlen(list) - 1);
    }
    return fcs_error_set(err, FCS_ENOTFOUND, "unknown population '%s' (known: %s)", name, list);
}

int fcs_synth_set_count_by_name(fcs_synth_model *m, const char *name, int64_t count,
                                fcs_error *err)
{
    if (!m || !name) return fcs_error_set(err, FCS_EINVAL, "population count: NULL argument");
    int k = fcs_synth_population_index(m, name);
    if (k < 0) return unknown_population(m, name, err);
    if (fcs_synth_set_count(m, (size_t)k, count) != FCS_OK)
        return fcs_error_set(err, FCS_ERANGE, "population '%s': count %" PRId64
                             " outside 0..%" PRId64, m->pops[k].name, count, MAX_COUNT);
    return FCS_OK;
}

int64_t fcs_synth_total(const fcs_synth_model *m)
{
    int64_t t = 0;
    for (size_t k = 0; m && k < m->n_pops; k++) t += m->pops[k].count;
    return t; /* at most n_pops * 2^40: no overflow below 2^23 populations */
}

/* floor(a * b / c) and the remainder, exactly, for a, b <= 2^40 * n_pops. */
static int64_t muldiv(int64_t a, int64_t b, int64_t c, int64_t *rem)
{
#if defined(__SIZEOF_INT128__)
    __int128 p = (__int128)a * b;
    *rem = (int64_t)(p % c);
    return (int64_t)(p / c);
#else
    long double p = (long double)a * b, q = floorl(p / c);
    *rem = (int64_t)(p - q * c);
    return (int64_t)q;
#endif
}

int fcs_synth_scale_to(fcs_synth_model *m, int64_t n_events)
{
    if (!m) return FCS_EINVAL;
    if (n_events < 0 || n_events > MAX_COUNT) return FCS_ERANGE;
    int64_t total = fcs_synth_total(m), given = 0;
    if (total == 0) return n_events == 0 ? FCS_OK : FCS_EINVAL;
    int64_t *rem = malloc(m->n_pops * sizeof *rem);
    if (!rem) return FCS_ENOMEM;
    for (size_t k = 0; k < m->n_pops; k++) {
        m->pops[k].count = muldiv(m->pops[k].count, n_events, total, &rem[k]);
        given += m->pops[k].count;
    }
    /* Hand out the rest one by one to the largest remainders (lower index
     * first on ties): at most n_pops - 1 rounds. */
    while (given < n_events) {
        size_t best = 0;
        for (size_t k = 1; k < m->n_pops; k++)
            if (rem[k] > rem[best]) best = k;
        m->pops[best].count++;
        rem[best] = -1;
        given++;
    }
    free(rem);
    return FCS_OK;
}

static int valid_name(const char *s)
{
    if (!s || !*s) return 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f || c == ',' || c == '=') return 0;
    }
    return 1;
}

int fcs_synth_add_population(fcs_synth_model *m, const char *name, int kind, int64_t count,
                             int like, fcs_error *err)
{
    if (!m) return fcs_error_set(err, FCS_EINVAL, "add population: model is NULL");
    if (!valid_name(name))
        return fcs_error_set(err, FCS_EINVAL, "add population: bad name '%s' (empty, or has "
                             "',', '=' or control bytes)", name ? name : "(null)");
    if (fcs_synth_population_index(m, name) >= 0)
        return fcs_error_set(err, FCS_EINVAL, "add population: '%s' exists already", name);
    if (kind < FCS_SYNTH_CELL || kind > FCS_SYNTH_BEAD)
        return fcs_error_set(err, FCS_EINVAL, "add population '%s': unknown kind %d", name, kind);
    if (count < 0 || count > MAX_COUNT || like < -1 || (like >= 0 && (size_t)like >= m->n_pops))
        return fcs_error_set(err, FCS_ERANGE, "add population '%s': count or template out of "
                             "range", name);
    if (m->n_pops >= (size_t)INT32_MAX - 1)
        return fcs_error_set(err, FCS_ERANGE, "add population '%s': too many populations", name);
    if (m->n_pops == m->cap_pops) {
        size_t cap = m->cap_pops * 2;
        struct population *p = realloc(m->pops, cap * sizeof *p);
        if (!p) return fcs_error_set(err, FCS_ENOMEM, "add population '%s': out of memory", name);
        m->pops = p;
        m->cap_pops = cap;
    }
    struct population *p = &m->pops[m->n_pops];
    /* like -1: a lymphocyte-sized cell negative for every marker. */
    *p = like >= 0 ? m->pops[like] : m->tmpl;
    if (!(p->name = fcs_strdup(name)))
        return fcs_error_set(err, FCS_ENOMEM, "add population '%s': out of memory", name);
    p->kind = kind;
    p->count = count;
    return (int)m->n_pops++;
}

int fcs_synth_set_signal(fcs_synth_model *m, size_t k, size_t ch, int dist, double a, double b)
{
    if (!m) return FCS_EINVAL;
    if (k >= m->n_pops || ch >= m->n_ch) return FCS_ERANGE;
    if (!has_signal(m, ch) || !isfinite(a) || !isfinite(b) || b < 0) return FCS_EINVAL;
    if (dist == FCS_SYNTH_LOGNORMAL) {
        if (a < -3 || a > 7) return FCS_ERANGE;
    } else if (dist != FCS_SYNTH_NORMAL) {
        return FCS_EINVAL;
    }
    m->pops[k].sig[ch] = (struct signal){dist, a, b};
    return FCS_OK;
}

int fcs_synth_get_signal(const fcs_synth_model *m, size_t k, size_t ch, int *dist, double *a,
                         double *b)
{
    if (!m) return FCS_EINVAL;
    if (k >= m->n_pops || ch >= m->n_ch) return FCS_ERANGE;
    if (!has_signal(m, ch)) return FCS_EINVAL;
    const struct signal *s = &m->pops[k].sig[ch];
    if (dist) *dist = s->dist;
    if (a) *a = s->a;
    if (b) *b = s->b;
    return FCS_OK;
}

/* ---- beads ------------------------------------------------------------------------------------- */

int fcs_synth_set_beads(fcs_synth_model *m, const char *lot, double beads_per_test,
                        double volume_ul)
{
    if (!m || !isfinite(beads_per_test) || !isfinite(volume_ul) || beads_per_test <= 0 ||
        volume_ul <= 0)
        return FCS_EINVAL;
    for (const char *c = lot; c && *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) return FCS_EINVAL;
    char *copy = fcs_strdup(lot ? lot : "");
    if (!copy) return FCS_ENOMEM;
    free(m->lot);
    m->lot = copy;
    m->beads_per_test = beads_per_test;
    m->volume_ul = volume_ul;
    return FCS_OK;
}

const char *fcs_synth_bead_lot(const fcs_synth_model *m) { return m && m->lot ? m->lot : ""; }
double fcs_synth_beads_per_test(const fcs_synth_model *m) { return m ? m->beads_per_test : NAN; }
double fcs_synth_volume_ul(const fcs_synth_model *m) { return m ? m->volume_ul : NAN; }

int64_t fcs_synth_bead_events(const fcs_synth_model *m)
{
    int64_t n = 0;
    for (size_t k = 0; m && k < m->n_pops; k++)
        if (m->pops[k].kind == FCS_SYNTH_BEAD) n += m->pops[k].count;
    return n;
}

double fcs_synth_cells_per_ul(const fcs_synth_model *m, size_t k)
{
    int64_t beads = fcs_synth_bead_events(m);
    if (!m || k >= m->n_pops || beads <= 0) return NAN;
    return (double)m->pops[k].count / (double)beads * m->beads_per_test / m->volume_ul;
}

/* ---- acquisition, keywords ------------------------------------------------------------------------ */

void fcs_synth_get_acquisition(const fcs_synth_model *m, fcs_synth_acquisition *a)
{
    if (!a) return;
    *a = m ? m->acq : CART.acq;
}

static const char *bad_acquisition(const fcs_synth_acquisition *a)
{
    if (!(a->event_rate > 0) || !isfinite(a->event_rate)) return "event_rate must be > 0";
    if (!(a->timestep > 0) || !isfinite(a->timestep)) return "timestep must be > 0";
    if (!(a->drift >= -0.9 && a->drift <= 10)) return "drift must be in -0.9..10";
    if (!(a->size_correlation >= 0 && a->size_correlation <= 1))
        return "size_correlation must be in 0..1";
    if (!(a->pulse_ratio > 0) || !isfinite(a->pulse_ratio)) return "pulse_ratio must be > 0";
    if (!(a->pulse_ratio_sd >= 0) || !isfinite(a->pulse_ratio_sd))
        return "pulse_ratio_sd must be >= 0";
    if (!(a->doublet_height > 0) || !isfinite(a->doublet_height))
        return "doublet_height must be > 0";
    return NULL;
}

int fcs_synth_set_acquisition(fcs_synth_model *m, const fcs_synth_acquisition *a, fcs_error *err)
{
    if (!m || !a) return fcs_error_set(err, FCS_EINVAL, "acquisition: NULL argument");
    const char *why = bad_acquisition(a);
    if (why) return fcs_error_set(err, FCS_EINVAL, "acquisition: %s", why);
    m->acq = *a;
    return FCS_OK;
}

/* Keywords fcs_synth_describe writes itself (or the writer owns). */
static int reserved_keyword(const char *name)
{
    static const char *const own[] = {"$CYT",          "$TIMESTEP",           "$SPILLOVER",
                                      "LIBFCS_BEAD_LOT", "LIBFCS_BEADS_PER_TEST",
                                      "LIBFCS_VOLUME_UL"};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
        if (fcs_strcasecmp(name, own[i]) == 0) return 1;
    if (strncmp(name, "LIBFCS_SYNTH_", 13) == 0 && fcs_strcasecmp(name, "LIBFCS_SYNTH_DAY") != 0)
        return 1;
    /* Parameter keywords $Pn... are the panel's. */
    return (name[0] == '$' && (name[1] == 'P' || name[1] == 'p') && name[2] >= '0' &&
            name[2] <= '9');
}

static int valid_keyword_name(const char *s)
{
    if (!s || !*s || s[0] == ' ' || s[strlen(s) - 1] == ' ') return 0;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) return 0;
    return 1;
}

int fcs_synth_set_keyword(fcs_synth_model *m, const char *name, const char *value)
{
    if (!m || !valid_keyword_name(name) || reserved_keyword(name)) return FCS_EINVAL;
    size_t i = 0;
    while (i < m->n_kws && fcs_strcasecmp(m->kws[i].name, name) != 0) i++;
    if (!value) {
        if (i < m->n_kws) {
            free(m->kws[i].name);
            free(m->kws[i].value);
            memmove(&m->kws[i], &m->kws[i + 1], (m->n_kws - i - 1) * sizeof *m->kws);
            m->n_kws--;
        }
        return FCS_OK;
    }
    char *v = fcs_strdup(value);
    if (!v) return FCS_ENOMEM;
    if (i < m->n_kws) {
        free(m->kws[i].value);
        m->kws[i].value = v;
        return FCS_OK;
    }
    struct keyword *k = realloc(m->kws, (m->n_kws + 1) * sizeof *k);
    char *n = fcs_strdup(name);
    if (k) m->kws = k;
    if (!k || !n) {
        free(v);
        free(n);
        return FCS_ENOMEM;
    }
    m->kws[m->n_kws++] = (struct keyword){n, v};
    return FCS_OK;
}

const char *fcs_synth_keyword(const fcs_synth_model *m, const char *name)
{
    for (size_t i = 0; m && name && i < m->n_kws; i++)
        if (fcs_strcasecmp(m->kws[i].name, name) == 0) return m->kws[i].value;
    return NULL;
}

/* ---- the generator ----------------------------------------------------------------------------- */

struct fcs_synth {
    fcs_synth_model *m;
    fcs_synth_opts opts;
    rng r;
    int64_t *left;     /* events still to come per population */
    int64_t n_left, n_total;
    int64_t *cell_cum; /* cumulative counts of the cell populations (doublet members) */
    size_t *cell_pop, n_cells;
    double time;       /* Time of the last event, $TIMESTEP units */
    double duration;   /* expected acquisition time, s (for the drift) */
    double time_range; /* $PnR of Time */
};

void fcs_synth_opts_init(fcs_synth_opts *opts)
{
    if (!opts) return;
    memset(opts, 0, sizeof *opts);
    opts->seed = 1;
}

/* The cell populations doublets are made of, weighted by their counts. */
static int setup_doublets(fcs_synth *g, fcs_error *err)
{
    const fcs_synth_model *m = g->m;
    int64_t doublets = 0, acc = 0;
    g->cell_cum = malloc(m->n_pops * sizeof *g->cell_cum);
    g->cell_pop = malloc(m->n_pops * sizeof *g->cell_pop);
    if (!g->cell_cum || !g->cell_pop)
        return fcs_error_set(err, FCS_ENOMEM, "synthetic sample: out of memory");
    for (size_t k = 0; k < m->n_pops; k++) {
        if (m->pops[k].kind == FCS_SYNTH_DOUBLET) doublets += m->pops[k].count;
        if (m->pops[k].kind != FCS_SYNTH_CELL || m->pops[k].count == 0) continue;
        acc += m->pops[k].count;
        g->cell_cum[g->n_cells] = acc;
        g->cell_pop[g->n_cells++] = k;
    }
    if (doublets > 0 && g->n_cells == 0)
        return fcs_error_set(err, FCS_EINVAL,
                             "synthetic sample: doublets need a cell population with events");
    return FCS_OK;
}

int fcs_synth_new(fcs_synth **out, const fcs_synth_model *m, const fcs_synth_opts *opts,
                  fcs_error *err)
{
    if (!out || !m) return fcs_error_set(err, FCS_EINVAL, "fcs_synth_new: NULL argument");
    *out = NULL;
    fcs_synth *g = calloc(1, sizeof *g);
    if (!g) return fcs_error_set(err, FCS_ENOMEM, "synthetic sample: out of memory");
    fcs_synth_opts_init(&g->opts);
    if (opts) g->opts = *opts;
    g->m = fcs_synth_model_copy(m);
    g->left = g->m ? malloc(g->m->n_pops * sizeof *g->left) : NULL;
    if (!g->left) {
        fcs_synth_free(g);
        return fcs_error_set(err, FCS_ENOMEM, "synthetic sample: out of memory");
    }
    for (size_t k = 0; k < g->m->n_pops; k++) g->left[k] = g->m->pops[k].count;
    g->n_total = g->n_left = fcs_synth_total(g->m);
    int rc = setup_doublets(g, err);
    if (rc != FCS_OK) {
        fcs_synth_free(g);
        return rc;
    }
    rng_seed(&g->r, g->opts.seed);
    g->duration = (double)g->n_total / g->m->acq.event_rate;
    /* Room for 1.5x the expected duration: a Poisson process of many events
     * stays far closer to its mean than that. */
    g->time_range = RANGE;
    while (g->time_range < g->duration / g->m->acq.timestep * 1.5) g->time_range *= 2;
    *out = g;
    return FCS_OK;
}

void fcs_synth_free(fcs_synth *g)
{
    if (!g) return;
    fcs_synth_model_free(g->m);
    free(g->left);
    free(g->cell_cum);
    free(g->cell_pop);
    free(g);
}

const fcs_synth_model *fcs_synth_model_of(const fcs_synth *g) { return g ? g->m : NULL; }
size_t fcs_synth_n_params(const fcs_synth *g)
{
    return g ? g->m->n_ch + (g->opts.truth ? 1 : 0) : 0;
}
int64_t fcs_synth_n_events(const fcs_synth *g) { return g ? g->n_total : 0; }
int64_t fcs_synth_remaining(const fcs_synth *g) { return g ? g->n_left : 0; }
double fcs_synth_time_range(const fcs_synth *g) { return g ? g->time_range : 0; }

/* Next population by sequential sampling without replacement: exact counts. */
static size_t pick_population(fcs_synth *g)
{
    uint64_t r = rng_below(&g->r, (uint64_t)g->n_left);
    size_t k = 0;
    while (r >= (uint64_t)g->left[k]) r -= (uint64_t)g->left[k++];
    g->left[k]--;
    g->n_left--;
    return k;
}

static double draw(const struct signal *s, double z)
{
    return s->dist == FCS_SYNTH_LOGNORMAL ? det_pow10(s->a + s->b * z) : s->a + s->b * z;
}

/* True signals of one single particle of population p into sig (FSC-A,
 * FSC-H, SSC-A, fluorescence). FSC-A follows the size factor z exactly; the
 * others with correlation rho (none for beads, which are not cells). */
static void draw_single(fcs_synth *g, const struct population *p, double *sig)
{
    const fcs_synth_acquisition *a = &g->m->acq;
    double rho = p->kind == FCS_SYNTH_BEAD ? 0.0 : a->size_correlation;
    double c = sqrt(1.0 - rho * rho);
    double z = rng_normal(&g->r);
    size_t n_fl = g->m->n_fl;
    sig[CH_FSC_A] = draw(&p->sig[CH_FSC_A], z);
    sig[CH_SSC_A] = draw(&p->sig[CH_SSC_A], rho * z + c * rng_normal(&g->r));
    for (size_t ch = FL0; ch < FL0 + n_fl; ch++)
        sig[ch] = draw(&p->sig[ch], rho * z + c * rng_normal(&g->r));
    sig[CH_FSC_H] = sig[CH_FSC_A] * (a->pulse_ratio + a->pulse_ratio_sd * rng_normal(&g->r));
}

static const struct population *pick_cell(fcs_synth *g)
{
    uint64_t r = rng_below(&g->r, (uint64_t)g->cell_cum[g->n_cells - 1]);
    size_t i = 0;
    while (r >= (uint64_t)g->cell_cum[i]) i++;
    return &g->m->pops[g->cell_pop[i]];
}

/* Two cells at once: areas add, the pulse is longer but hardly taller. */
static void draw_doublet(fcs_synth *g, double *sig)
{
    double b[MAX_CH];
    draw_single(g, pick_cell(g), sig);
    draw_single(g, pick_cell(g), b);
    double h = sig[CH_FSC_H] > b[CH_FSC_H] ? sig[CH_FSC_H] : b[CH_FSC_H];
    const fcs_synth_acquisition *a = &g->m->acq;
    sig[CH_FSC_A] += b[CH_FSC_A];
    sig[CH_SSC_A] += b[CH_SSC_A];
    for (size_t ch = FL0; ch < FL0 + g->m->n_fl; ch++) sig[ch] += b[ch];
    sig[CH_FSC_H] = h * (a->doublet_height + a->pulse_ratio_sd * rng_normal(&g->r));
}

static double clamp(double v, double lo, double hi) { return v < lo ? lo : (v > hi ? hi : v); }

/* Detector noise: electronic baseline plus photon statistics. */
static double noisy(fcs_synth *g, const fcs_synth_channel *c, double signal)
{
    double var = c->noise_sd * c->noise_sd + c->photon_var * (signal > 0 ? signal : 0);
    return signal + sqrt(var) * rng_normal(&g->r);
}

/* What the instrument records of true signals sig: spillover, noise, clamping. */
static void observe(fcs_synth *g, const double *sig, double *ev)
{
    const fcs_synth_model *m = g->m;
    for (size_t ch = CH_FSC_A; ch <= CH_SSC_A; ch++)
        ev[ch] = clamp(noisy(g, &m->ch[ch], sig[ch]), m->ch[ch].min, m->ch[ch].max);
    for (size_t k = 0; k < m->n_fl; k++) {
        double o = 0;
        for (size_t j = 0; j < m->n_fl; j++) o += sig[FL0 + j] * m->spill[j][k];
        const fcs_synth_channel *c = &m->ch[FL0 + k];
        ev[FL0 + k] = clamp(noisy(g, c, o), c->min, c->max);
    }
    ev[time_ch(m)] = clamp(sig[time_ch(m)], 0, g->time_range);
}

/* One event: population, arrival time, true signals, what is recorded. */
static size_t make_event(fcs_synth *g, double *ev, double *sig)
{
    const fcs_synth_acquisition *a = &g->m->acq;
    size_t k = pick_population(g);
    const struct population *p = &g->m->pops[k];
    /* Exponential waiting times: a Poisson process at event_rate. */
    g->time += -det_log(1.0 - rng_uniform(&g->r)) / a->event_rate / a->timestep;
    if (p->kind == FCS_SYNTH_DOUBLET)
        draw_doublet(g, sig);
    else
        draw_single(g, p, sig);
    if (a->drift != 0) {
        double f = 1.0 + a->drift * (g->time * a->timestep / g->duration);
        for (size_t ch = FL0; ch < FL0 + g->m->n_fl; ch++) sig[ch] *= f;
    }
    sig[time_ch(g->m)] = g->time;
    observe(g, sig, ev);
    return k;
}

int64_t fcs_synth_next(fcs_synth *g, double *events, size_t max_events, int32_t *population,
                       double *true_values)
{
    if (!g || (!events && max_events > 0)) return FCS_EINVAL;
    size_t np = fcs_synth_n_params(g), nc = g->m->n_ch, n = 0;
    double sig[MAX_CH];
    for (; n < max_events && g->n_left > 0; n++) {
        double *ev = events + n * np;
        size_t k = make_event(g, ev, sig);
        if (g->opts.truth) ev[nc] = (double)(k + 1);
        if (population) population[n] = (int32_t)k;
        if (true_values) memcpy(true_values + n * nc, sig, nc * sizeof *sig);
    }
    return (int64_t)n;
}

/* ---- describing and writing the file ------------------------------------------------------------ */

/* Shortest decimal that reads back as v; integers without exponent or point. */
static void format_number(char *buf, size_t n, double v)
{
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(buf, n, "%.0f", v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        double back;
        if (fcs_parse_double(buf, &back) == 0 && back == v) return;
    }
}

/* "1=name1,2=name2,..." or, with counts, "1=count1,...": malloc'd. */
static char *population_list(const fcs_synth_model *m, int counts)
{
    size_t len = 1;
    for (size_t k = 0; k < m->n_pops; k++) len += strlen(m->pops[k].name) + 48;
    char *s = malloc(len), *p = s;
    if (!s) return NULL;
    *p = '\0';
    for (size_t k = 0; k < m->n_pops; k++) {
        if (counts)
            p += sprintf(p, "%s%zu=%" PRId64, k ? "," : "", k + 1, m->pops[k].count);
        else
            p += sprintf(p, "%s%zu=%s", k ? "," : "", k + 1, m->pops[k].name);
    }
    return s;
}

static int describe_params(const fcs_synth *g, fcs_writer *w)
{
    int rc = FCS_OK;
    for (size_t i = 0; i < g->m->n_ch && rc == FCS_OK; i++) {
        const fcs_synth_channel *c = &g->m->ch[i];
        double range = c->kind == FCS_SYNTH_TIME ? g->time_range : c->range;
        rc = fcs_writer_set_param(w, i, c->name, c->label, range);
    }
    if (rc == FCS_OK && g->opts.truth)
        rc = fcs_writer_set_param(w, g->m->n_ch, "TruePopulation", NULL,
                                  (double)g->m->n_pops + 1);
    return rc;
}

static int set_number(fcs_writer *w, const char *name, double v)
{
    char buf[40];
    format_number(buf, sizeof buf, v);
    return fcs_writer_set_keyword(w, name, buf);
}

static int set_owned(fcs_writer *w, const char *name, char *value)
{
    int rc = value ? fcs_writer_set_keyword(w, name, value) : FCS_ENOMEM;
    free(value);
    return rc;
}

static int is_identity(const fcs_synth_model *m)
{
    for (size_t i = 0; i < m->n_fl; i++)
        for (size_t j = 0; j < m->n_fl; j++)
            if (m->spill[i][j] != (i == j ? 1.0 : 0.0)) return 0;
    return 1;
}

static int has_beads(const fcs_synth_model *m)
{
    for (size_t k = 0; k < m->n_pops; k++)
        if (m->pops[k].kind == FCS_SYNTH_BEAD) return 1;
    return 0;
}

/* $SPILLOVER (unless there is nothing to compensate) and the bead lot
 * (when the model has counting beads). */
static int describe_spill_beads(const fcs_synth_model *m, fcs_writer *w)
{
    int rc = FCS_OK;
    if (!is_identity(m)) rc = set_owned(w, "$SPILLOVER", fcs_matrix_to_spillover(m->spill_m));
    if (!has_beads(m)) return rc;
    if (rc == FCS_OK && m->lot && *m->lot) rc = fcs_writer_set_keyword(w, "LIBFCS_BEAD_LOT", m->lot);
    if (rc == FCS_OK) rc = set_number(w, "LIBFCS_BEADS_PER_TEST", m->beads_per_test);
    if (rc == FCS_OK) rc = set_number(w, "LIBFCS_VOLUME_UL", m->volume_ul);
    return rc;
}

int fcs_synth_describe(const fcs_synth *g, fcs_writer *w)
{
    if (!g || !w) return FCS_EINVAL;
    const fcs_synth_model *m = g->m;
    char buf[32];
    int rc = describe_params(g, w);
    if (rc == FCS_OK) rc = fcs_writer_set_keyword(w, "$CYT", "libfcs synthetic cytometer");
    if (rc == FCS_OK) rc = set_number(w, "$TIMESTEP", m->acq.timestep);
    if (rc == FCS_OK) rc = describe_spill_beads(m, w);
    for (size_t i = 0; i < m->n_kws && rc == FCS_OK; i++)
        rc = fcs_writer_set_keyword(w, m->kws[i].name, m->kws[i].value);
    if (rc == FCS_OK) rc = fcs_writer_set_keyword(w, "LIBFCS_SYNTH_MODEL", m->model);
    if (rc == FCS_OK && m->preset[0])
        rc = fcs_writer_set_keyword(w, "LIBFCS_SYNTH_PRESET", m->preset);
    snprintf(buf, sizeof buf, "%" PRIu64, g->opts.seed);
    if (rc == FCS_OK) rc = fcs_writer_set_keyword(w, "LIBFCS_SYNTH_SEED", buf);
    if (rc == FCS_OK) rc = set_owned(w, "LIBFCS_SYNTH_POPULATIONS", population_list(m, 0));
    if (rc == FCS_OK) rc = set_owned(w, "LIBFCS_SYNTH_COUNTS", population_list(m, 1));
    return rc;
}

#define CHUNK 4096

static int write_events(fcs_synth *g, fcs_writer *w)
{
    double *buf = malloc(CHUNK * fcs_synth_n_params(g) * sizeof *buf);
    if (!buf) return FCS_ENOMEM;
    int64_t n;
    int rc = FCS_OK;
    while (rc == FCS_OK && (n = fcs_synth_next(g, buf, CHUNK, NULL, NULL)) > 0)
        rc = fcs_writer_write(w, buf, (size_t)n);
    free(buf);
    return rc;
}

int fcs_synth_write(const fcs_synth_model *m, const fcs_synth_opts *opts, const char *path,
                    const fcs_write_opts *write_opts, fcs_error *err)
{
    if (!m || !path) return fcs_error_set(err, FCS_EINVAL, "fcs_synth_write: NULL argument");
    fcs_synth *g;
    fcs_writer *w;
    int rc = fcs_synth_new(&g, m, opts, err);
    if (rc != FCS_OK) return rc;
    if ((rc = fcs_writer_open(&w, path, fcs_synth_n_params(g), write_opts, err)) != FCS_OK) {
        fcs_synth_free(g);
        return rc;
    }
    if ((rc = fcs_synth_describe(g, w)) == FCS_OK &&
        (rc = fcs_writer_begin(w, fcs_synth_n_events(g))) == FCS_OK)
        rc = write_events(g, w);
    fcs_synth_free(g);
    if (rc != FCS_OK) {
        if (rc == FCS_ENOMEM && !*fcs_writer_errmsg(w))
            fcs_error_set(err, rc, "%s: out of memory", path);
        else
            fcs_error_set(err, rc, "%s", fcs_writer_errmsg(w));
        fcs_writer_abort(w);
        return rc;
    }
    return fcs_writer_close(w, err);
}
