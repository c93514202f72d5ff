/*
 * bench/hierarchy.c — gating throughput of a 10-population hierarchy (the
 * shape of a real panel: scatter rectangle and polygons, lineage
 * rectangles, a double-positive polygon, an ellipse, a boolean) through
 * fcs_gating_run(), one thread, in events per second of CPU time; and, for
 * the record, a single polygon gate (target: >= 50 M events/s per core).
 *
 *   bench_hierarchy [-n EVENTS] [-r REPEATS]      (default 10,000,000 and 3)
 *
 * The strategies are written in the gate-file text format and parsed by
 * fcs_gatefile_read_mem (so the benchmark also shows the format in use).
 * Two variants: gates on the channel values as they are ("linear", the
 * case of a stream that fcs-xform already transformed) and the same gates
 * on logicle-transformed values computed by the gating (a raw stream).
 * Events: a pool of 1,048,576 events x 6 channels (48 MiB of doubles, more
 * than the last-level cache) from a mixture of three populations, fed in
 * chunks of 65,536 events as fcs-gate does, cycling through the pool until
 * EVENTS events were gated. The figure is the best of REPEATS passes.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fcs/gatefile.h"

#define CHUNK 65536
#define POOL (1u << 20)
#define NCH 6

static const char *const NAMES[NCH] = {"FSC-A", "SSC-A", "FL1-A", "FL2-A", "FL3-A", "FL4-A"};

/* The hierarchy on linear values (channel units up to 262144). */
static const char LINEAR[] =
    "Cells: rectangle FSC-A [8000, 250000), SSC-A [, 250000)\n"
    "  Lymph: polygon FSC-A, SSC-A [(20000, 5000), (70000, 4000), (110000, 12000), (120000, "
    "40000),\n"
    "                               (90000, 60000), (50000, 62000), (25000, 45000), (15000, "
    "20000)]\n"
    "    T: rectangle FL1-A [3000, )\n"
    "      CD4: rectangle FL2-A [3000, ), FL3-A [, 2000)\n"
    "        Act: ellipsoid FL1-A, FL4-A mean (20000, 20000) covariance [(4e7, 1e7), (1e7, 3e7)] "
    "distance2 1\n"
    "      CD8: rectangle FL3-A [3000, ), FL2-A [, 2000)\n"
    "      DP: polygon FL2-A, FL3-A [(3000, 3000), (60000, 3000), (80000, 40000), (40000, 70000), "
    "(3000, 60000)]\n"
    "    B: rectangle FL4-A [3000, ), FL1-A [, 2000)\n"
    "    NotT: not T\n"
    "  Mono: polygon FSC-A, SSC-A [(100000, 50000), (200000, 60000), (220000, 150000), "
    "(120000, 160000), (90000, 100000), (95000, 70000)]\n";

/* The same populations on logicle values (the gating transforms). */
static const char LOGICLE[] =
    "transform L = logicle(T=262144, W=0.5, M=4.5, A=0)\n"
    "Cells: rectangle FSC-A [8000, 250000), SSC-A [, 250000)\n"
    "  Lymph: polygon FSC-A, SSC-A [(20000, 5000), (70000, 4000), (110000, 12000), (120000, "
    "40000),\n"
    "                               (90000, 60000), (50000, 62000), (25000, 45000), (15000, "
    "20000)]\n"
    "    T: rectangle L(FL1-A) [0.6, )\n"
    "      CD4: rectangle L(FL2-A) [0.6, ), L(FL3-A) [, 0.55)\n"
    "        Act: ellipsoid L(FL1-A), L(FL4-A) mean (0.75, 0.75) covariance [(0.01, 0.002), "
    "(0.002, 0.01)] distance2 1\n"
    "      CD8: rectangle L(FL3-A) [0.6, ), L(FL2-A) [, 0.55)\n"
    "      DP: polygon L(FL2-A), L(FL3-A) [(0.6, 0.6), (0.95, 0.6), (0.95, 0.8), (0.8, 0.95), "
    "(0.6, 0.95)]\n"
    "    B: rectangle L(FL4-A) [0.6, ), L(FL1-A) [, 0.55)\n"
    "    NotT: not T\n"
    "  Mono: polygon FSC-A, SSC-A [(100000, 50000), (200000, 60000), (220000, 150000), "
    "(120000, 160000), (90000, 100000), (95000, 70000)]\n";

static const char POLYGON[] =
    "P: polygon FSC-A, SSC-A [(20000, 5000), (70000, 4000), (110000, 12000), (120000, 40000),\n"
    "                         (90000, 60000), (50000, 62000), (25000, 45000), (15000, 20000)]\n";

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "bench_hierarchy: %s: %s\n", what, msg);
    exit(1);
}

static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static double unit(uint64_t *s) { return (double)(next_u64(s) >> 11) / 9007199254740992.0; }

/* Log-normal-ish positive channel around centre c (spread in decades). */
static double around(uint64_t *s, double c, double decades)
{
    double g = unit(s) + unit(s) + unit(s) - 1.5; /* ~N(0, 0.25) */
    return c * pow(10.0, 2 * decades * g);
}

/* Debris, lymphocytes (T CD4, T CD8, B), monocytes. */
static void make_pool(double *col[NCH])
{
    uint64_t s = 1;
    for (size_t i = 0; i < POOL; i++) {
        double u = unit(&s), ev[NCH];
        if (u < 0.15) { /* debris */
            ev[0] = around(&s, 4000, 0.4), ev[1] = around(&s, 3000, 0.5);
            for (int k = 2; k < NCH; k++) ev[k] = around(&s, 300, 0.6);
        } else if (u < 0.75) { /* lymphocytes */
            ev[0] = around(&s, 60000, 0.15), ev[1] = around(&s, 25000, 0.2);
            double v = unit(&s);
            int t = v < 0.7, cd4 = t && v < 0.45, dp = t && v >= 0.65, b = !t && v < 0.9;
            ev[2] = around(&s, t ? 20000 : 500, 0.3);
            ev[3] = around(&s, cd4 || dp ? 15000 : 400, 0.3);
            ev[4] = around(&s, t && !cd4 ? 12000 : 400, 0.3);
            ev[5] = around(&s, b ? 18000 : (cd4 && v < 0.2 ? 25000 : 600), 0.3);
        } else { /* monocytes */
            ev[0] = around(&s, 140000, 0.1), ev[1] = around(&s, 100000, 0.12);
            for (int k = 2; k < NCH; k++) ev[k] = around(&s, 2000, 0.4);
        }
        for (int k = 0; k < NCH; k++) col[k][i] = ev[k];
    }
}

/* Best-of-r events/s gating n events of the pool with the strategy text;
 * *counts receives the population counts of the last pass. */
static double run(const char *text, double *col[NCH], size_t n, int r, size_t *counts, size_t *npop)
{
    fcs_strategy *s;
    fcs_gating *g;
    fcs_error err;
    if (fcs_gatefile_read_mem(&s, text, strlen(text), "bench", FCS_GATEFILE_TEXT, &err))
        die("parse", err.msg);
    if (fcs_gating_new(&g, s, NAMES, NCH, NULL, &err) != FCS_OK) die("bind", err.msg);
    size_t np = fcs_strategy_n_populations(s);
    uint8_t *buf = malloc(np * CHUNK), **mem = malloc(np * sizeof *mem);
    for (size_t p = 0; p < np; p++) mem[p] = buf + p * CHUNK;
    double best = INFINITY;
    for (int rep = 0; rep < r; rep++) {
        memset(counts, 0, np * sizeof *counts);
        double t0 = now();
        for (size_t done = 0; done < n;) {
            size_t off = done % POOL, k = CHUNK;
            if (k > n - done) k = n - done;
            if (k > POOL - off) k = POOL - off;
            const double *cols[NCH];
            for (int c = 0; c < NCH; c++) cols[c] = col[c] + off;
            if (fcs_gating_run(g, cols, k, mem) != FCS_OK) die("run", fcs_gating_errmsg(g));
            for (size_t p = 0; p < np; p++) /* what a tool does with the result */
                for (size_t i = 0; i < k; i++) counts[p] += mem[p][i];
            done += k;
        }
        double dt = now() - t0;
        if (dt < best) best = dt;
    }
    *npop = np;
    free(buf), free(mem);
    fcs_gating_free(g);
    fcs_strategy_free(s);
    return (double)n / best;
}

static void report(const char *what, const char *text, double *col[NCH], size_t n, int reps)
{
    size_t counts[16], np;
    double r = run(text, col, n, reps, counts, &np);
    printf("%-34s %8.1f M events/s  (%2zu populations, %.2f ns/event)\n", what, r / 1e6, np,
           1e9 / r);
    if (np > 1) {
        printf("   counts:");
        for (size_t p = 0; p < np; p++) printf(" %zu", counts[p]);
        printf(" of %zu\n", n);
    }
}

int main(int argc, char **argv)
{
    size_t n = 10000000;
    int reps = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "-n") == 0)
            n = (size_t)atol(argv[i + 1]);
        else if (strcmp(argv[i], "-r") == 0)
            reps = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "usage: bench_hierarchy [-n EVENTS] [-r REPEATS]\n");
            return 2;
        }
    }
    if (n == 0 || reps < 1) return 2;
    double *col[NCH];
    for (int k = 0; k < NCH; k++)
        if (!(col[k] = malloc(POOL * sizeof(double)))) die("memory", "out of memory");
    make_pool(col);
    printf("%zu events, best of %d, one thread (CPU time)\n", n, reps);
    report("polygon, 8 vertices:", POLYGON, col, n, reps);
    report("10 populations, linear values:", LINEAR, col, n, reps);
    report("10 populations, logicle in gating:", LOGICLE, col, n, reps);
    for (int k = 0; k < NCH; k++) free(col[k]);
    return 0;
}
