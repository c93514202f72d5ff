/*
 * bench/gate.c — gating throughput: events per second through
 * fcs_gating_run() for a polygon gate (the target: >= 50 M events/s per
 * core in a Release build), and for the other gate kinds for comparison.
 *
 *   bench_gate [-n EVENTS] [-v VERTICES] [-r REPEATS]
 *
 * Events are uniform in [0, 1000)^2 (about half of them inside the default
 * polygon), fed in chunks of 65536 events as a streaming tool would, one
 * thread. The figure reported is the best of REPEATS passes, in CPU time.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fcs/gate.h"

#define CHUNK 65536

/* CPU time of this process: the target is per core, and the machine may be
 * shared (wall time would count other processes' time slices). */
static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "bench_gate: %s: %s\n", what, msg);
    exit(1);
}

/* Best-of-r throughput of population pop of s over x, y (n events). */
static double run(const fcs_strategy *s, const double *x, const double *y, size_t n, int r,
                  size_t *inside)
{
    const char *ch[2] = {"X", "Y"};
    fcs_gating *g;
    fcs_error err;
    if (fcs_gating_new(&g, s, ch, 2, NULL, &err) != FCS_OK) die("bind", err.msg);
    size_t np = fcs_strategy_n_populations(s);
    uint8_t **mem = calloc(np, sizeof *mem);
    for (size_t p = 0; p < np; p++) mem[p] = malloc(CHUNK);
    double best = INFINITY;
    for (int rep = 0; rep < r; rep++) {
        size_t in = 0;
        double t0 = now();
        for (size_t off = 0; off < n; off += CHUNK) {
            size_t k = n - off < CHUNK ? n - off : CHUNK;
            const double *cols[2] = {x + off, y + off};
            if (fcs_gating_run(g, cols, k, mem) != FCS_OK) die("run", fcs_gating_errmsg(g));
            for (size_t i = 0; i < k; i++) in += mem[np - 1][i];
        }
        double dt = now() - t0;
        if (dt < best) best = dt;
        *inside = in;
    }
    for (size_t p = 0; p < np; p++) free(mem[p]);
    free(mem);
    fcs_gating_free(g);
    return (double)n / best / 1e6;
}

int main(int argc, char **argv)
{
    size_t n = 4000000;
    int nv = 8, reps = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "-n") == 0) n = (size_t)atol(argv[i + 1]);
        else if (strcmp(argv[i], "-v") == 0) nv = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "-r") == 0) reps = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "usage: bench_gate [-n EVENTS] [-v VERTICES] [-r REPEATS]\n");
            return 2;
        }
    }
    if (nv < 3 || n == 0 || reps < 1) return 2;
    double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    if (!x || !y) die("memory", "out of memory");
    uint64_t seed = 42;
    for (size_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (double)(seed >> 11) / 9007199254740992.0 * 1000;
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        y[i] = (double)(seed >> 11) / 9007199254740992.0 * 1000;
    }
    fcs_gate_dim dims[2] = {{"X", NULL, NULL, NULL}, {"Y", NULL, NULL, NULL}};
    size_t inside;

    /* A star-ish polygon of nv vertices around (500, 500). */
    double *xy = malloc(2 * (size_t)nv * sizeof *xy);
    for (int k = 0; k < nv; k++) {
        double a = 2 * M_PI * k / nv, rad = (k % 2) ? 300 : 450;
        xy[2 * k] = 500 + rad * cos(a);
        xy[2 * k + 1] = 500 + rad * sin(a);
    }
    fcs_strategy *s = fcs_strategy_new();
    if (fcs_strategy_add_polygon(s, "P", NULL, dims, (size_t)nv, xy)) die("polygon", fcs_strategy_errmsg(s));
    double r = run(s, x, y, n, reps, &inside);
    printf("polygon, %d vertices:      %7.1f M events/s  (%zu of %zu inside)\n", nv, r, inside, n);
    fcs_strategy_free(s);

    s = fcs_strategy_new();
    double lo[2] = {200, 300}, hi[2] = {700, NAN};
    if (fcs_strategy_add_rectangle(s, "R", NULL, 2, dims, lo, hi)) die("rect", fcs_strategy_errmsg(s));
    r = run(s, x, y, n, reps, &inside);
    printf("rectangle, 2 dimensions:   %7.1f M events/s  (%zu inside)\n", r, inside);
    fcs_strategy_free(s);

    s = fcs_strategy_new();
    const double mean[2] = {500, 500}, cov[4] = {40000, 10000, 10000, 20000};
    if (fcs_strategy_add_ellipsoid(s, "E", NULL, 2, dims, mean, cov, 1))
        die("ellipse", fcs_strategy_errmsg(s));
    r = run(s, x, y, n, reps, &inside);
    printf("ellipse:                   %7.1f M events/s  (%zu inside)\n", r, inside);
    fcs_strategy_free(s);

    /* Polygon under a rectangle parent: two gates and the parent mask. */
    s = fcs_strategy_new();
    if (fcs_strategy_add_rectangle(s, "R", NULL, 2, dims, lo, hi) ||
        fcs_strategy_add_polygon(s, "P", "R", dims, (size_t)nv, xy))
        die("tree", fcs_strategy_errmsg(s));
    r = run(s, x, y, n, reps, &inside);
    printf("rectangle > polygon:       %7.1f M events/s  (%zu inside both)\n", r, inside);
    fcs_strategy_free(s);
    free(xy), free(x), free(y);
    return 0;
}
