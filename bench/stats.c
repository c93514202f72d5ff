/*
 * bench/stats.c — throughput and memory of fcs_stats: P populations x C
 * channels over N events (default 10 x 10 x 10,000,000), float32 events
 * pushed in chunks of 8192 as fcs-stats does.
 *
 *   bench_stats [-n EVENTS] [-p POPS] [-c CHANNELS] [--double] [--moments-only]
 *
 * Events come from a pre-generated pool of 1,000,000 (cycled), so the
 * generator's cost is not measured. The populations form a tree (each one's
 * own test keeps ~70% of its parent's events): /P1, /P1/P2, /P1/P3, /P4,
 * /P4/P5, ... Reported: seconds for pushing (streaming moments, membership,
 * keeping values) and for fcs_stats_finish (selection), events per second,
 * and the peak resident memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "fcs/fcs.h"

#define POOL 1000000
#define CHUNK 8192

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static uint64_t rng = 88172645463325252u;
static double uniform(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

static long peak_rss_mb(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss / 1024;
}

int main(int argc, char **argv)
{
    long long n_events = 10000000;
    int n_pops = 10, n_chans = 10, dbl = 0, moments = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-n") && i + 1 < argc) n_events = atoll(argv[++i]);
        else if (!strcmp(argv[i], "-p") && i + 1 < argc) n_pops = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-c") && i + 1 < argc) n_chans = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--double")) dbl = 1;
        else if (!strcmp(argv[i], "--moments-only")) moments = 1;
        else {
            fprintf(stderr, "usage: %s [-n EVENTS] [-p POPS] [-c CHANNELS] [--double] [--moments-only]\n", argv[0]);
            return 2;
        }
    }
    size_t np = (size_t)(n_chans + n_pops);
    float *pool = malloc((size_t)POOL * np * sizeof *pool);
    double *dchunk = malloc((size_t)CHUNK * np * sizeof *dchunk);
    if (!pool || !dchunk) return 1;
    for (size_t e = 0; e < POOL; e++) {
        float *v = pool + e * np;
        for (int c = 0; c < n_chans; c++) v[c] = (float)(1000 * (uniform() + uniform() + uniform()) - 200);
        for (int p = 0; p < n_pops; p++) v[n_chans + p] = uniform() < 0.7 ? 1.0f : 0.0f;
    }

    const char *names_all[] = {"mean", "sd", "cv", "geomean", "median", "rsd", "rcv", "p5", "p95"};
    size_t n_stats = moments ? 4 : 9;
    fcs_stat_spec spec[9];
    for (size_t i = 0; i < n_stats; i++) fcs_stat_parse(names_all[i], &spec[i], NULL);
    fcs_stats_opts o;
    fcs_stats_opts_init(&o);
    o.stats = spec;
    o.n_stats = n_stats;
    o.f32 = !dbl;
    o.expected_events = n_events;
    fcs_stats *s;
    fcs_error err;
    if (fcs_stats_new(&s, np, &o, &err) != FCS_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    /* the tree: every third population starts a new top-level branch */
    char paths[64][128];
    for (int p = 0; p < n_pops && p < 64; p++) {
        const char *parent = "/";
        if (p % 3 != 0) parent = paths[p - (p % 3)];
        snprintf(paths[p], sizeof paths[p], "%.100s%sP%d", parent, strcmp(parent, "/") ? "/" : "", p + 1);
        if (fcs_stats_add_population(s, paths[p], parent, (size_t)(n_chans + p), FCS_STATS_BOOLEAN) < 0) {
            fprintf(stderr, "%s\n", fcs_stats_errmsg(s));
            return 1;
        }
    }
    for (int c = 0; c < n_chans; c++) {
        char name[16];
        snprintf(name, sizeof name, "C%d", c + 1);
        if (fcs_stats_add_channel(s, (size_t)c, name, NULL, "linear", NULL) < 0) return 1;
    }

    double t0 = now();
    for (long long done = 0; done < n_events;) {
        size_t k = (size_t)(n_events - done < CHUNK ? n_events - done : CHUNK);
        size_t at = (size_t)(done % (POOL - CHUNK));
        int rc;
        if (dbl) {
            for (size_t i = 0; i < k * np; i++) dchunk[i] = pool[at * np + i];
            rc = fcs_stats_push(s, dchunk, k);
        } else {
            rc = fcs_stats_push_f32(s, pool + at * np, k);
        }
        if (rc != FCS_OK) {
            fprintf(stderr, "%s\n", fcs_stats_errmsg(s));
            return 1;
        }
        done += (long long)k;
    }
    double t1 = now();
    if (fcs_stats_finish(s) != FCS_OK) {
        fprintf(stderr, "%s\n", fcs_stats_errmsg(s));
        return 1;
    }
    double t2 = now();
    fcs_stat_spec med;
    fcs_stat_parse(moments ? "mean" : "median", &med, NULL);
    printf("%lld events, %d populations (+ /), %d channels, %s, %s\n", n_events, n_pops, n_chans,
           dbl ? "double" : "float32", moments ? "mean sd cv geomean" : "mean sd cv geomean median rsd rcv p5 p95");
    printf("push   %.2f s  (%.1f M events/s)\n", t1 - t0, (double)n_events / (t1 - t0) / 1e6);
    printf("finish %.2f s  (selection of %s)\n", t2 - t1, moments ? "nothing" : "5 percentiles per population x channel");
    printf("total  %.2f s, peak RSS %ld MB (event pool %zu MB)\n", t2 - t0, peak_rss_mb(),
           (size_t)POOL * np * sizeof(float) >> 20);
    printf("check: %s of %s C1 = %.6g, count %lld\n", moments ? "mean" : "median", paths[n_pops - 1],
           fcs_stats_value(s, (size_t)n_pops, 0, &med), (long long)fcs_stats_count(s, (size_t)n_pops));
    fcs_stats_free(s);
    free(pool);
    free(dchunk);
    return 0;
}
