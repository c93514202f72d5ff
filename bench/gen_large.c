/*
 * gen_large.c — write a synthetic list-mode FCS 3.1 file for benchmarks:
 * by default 10,000,000 events x 20 float32 parameters (800 MB of DATA),
 * byte-for-byte reproducible from the seed (no dates or host names in it).
 *
 *     bench_gen_large [-n EVENTS] [-p PARAMS] [-s SEED] PATH
 *
 * Events come from three populations (debris, lymphocytes, monocytes) with
 * bell-shaped channel values (sum of uniforms: cheap and deterministic);
 * the last parameter is "Time", increasing. Written through the library's
 * writer (PATH.tmp.<pid>, then renamed).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fcs/writer.h"

#define CHUNK 65536

/* splitmix64: a tiny, well-mixed, seedable generator. */
static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Uniform in [0, 1) from the top 24 bits. */
static float unit24(uint64_t r) { return (float)(r >> 40) * (1.0f / 16777216.0f); }

/* Approximately normal(0, 1): sum of 3 uniforms from one 64-bit draw, rescaled. */
static float bell(uint64_t *s)
{
    uint64_t r = next_u64(s);
    float u = (float)(r & 0x1fffff) + (float)((r >> 21) & 0x1fffff) + (float)((r >> 42) & 0x1fffff);
    return (u * (1.0f / 2097152.0f) - 1.5f) * 2.0f; /* variance 3/12*4 = 1 */
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_gen_large [-n EVENTS] [-p PARAMS] [-s SEED] PATH\n"
               "  default 10000000 events, 20 parameters (float32), seed 1\n");
}

static int set_params(fcs_writer *w, size_t np, uint64_t seed)
{
    char name[32], num[32];
    for (size_t j = 0; j < np; j++) {
        if (j == np - 1) snprintf(name, sizeof name, "Time");
        else if (j == 0) snprintf(name, sizeof name, "FSC-A");
        else if (j == 1) snprintf(name, sizeof name, "SSC-A");
        else snprintf(name, sizeof name, "FL%zu-A", j - 1);
        if (fcs_writer_set_param(w, j, name, NULL, 262144)) return -1;
    }
    snprintf(num, sizeof num, "%" PRIu64, seed);
    if (fcs_writer_set_keyword(w, "$CYT", "libfcs bench_gen_large") ||
        fcs_writer_set_keyword(w, "$TIMESTEP", "0.01") ||
        fcs_writer_set_keyword(w, "LIBFCS_GEN_SEED", num))
        return -1;
    return 0;
}

/* Fill n events of np parameters starting at event index first. */
static void fill(float *ev, size_t n, size_t np, uint64_t first, uint64_t *state)
{
    static const float centre[3] = {8000.0f, 60000.0f, 120000.0f};
    static const float spread[3] = {3000.0f, 8000.0f, 15000.0f};
    for (size_t i = 0; i < n; i++) {
        float *e = ev + i * np;
        uint64_t r = next_u64(state);
        int pop = (int)(unit24(r) * 10.0f);
        pop = pop < 2 ? 0 : pop < 8 ? 1 : 2; /* 20% debris, 60% lymphocytes, 20% monocytes */
        for (size_t j = 0; j + 1 < np; j++) {
            /* marker j is bright on a population-dependent subset of channels */
            float c = centre[pop] * (((j + (size_t)pop) % 3 == 0) ? 1.0f : 0.05f);
            e[j] = c + spread[pop] * bell(state);
        }
        e[np - 1] = (float)((first + i) / 100); /* 100 events per 0.01 s tick */
    }
}

int main(int argc, char **argv)
{
    uint64_t n_events = 10000000, seed = 1;
    size_t np = 20;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
            n_events = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "-p") == 0 && i + 1 < argc) {
            np = (size_t)strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc) {
            seed = strtoull(argv[++i], NULL, 10);
        } else if (!path && argv[i][0] != '-') {
            path = argv[i];
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!path || np < 2) {
        usage(stderr);
        return 2;
    }
    fcs_writer *w;
    fcs_error err;
    if (fcs_writer_open(&w, path, np, NULL, &err) != FCS_OK) {
        fprintf(stderr, "bench_gen_large: %s\n", err.msg);
        return 1;
    }
    float *ev = malloc(CHUNK * np * sizeof *ev);
    if (!ev || set_params(w, np, seed) != 0 || fcs_writer_begin(w, (int64_t)n_events) != FCS_OK) {
        fprintf(stderr, "bench_gen_large: %s\n", ev ? fcs_writer_errmsg(w) : "out of memory");
        fcs_writer_abort(w);
        free(ev);
        return 1;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t state = seed;
    for (uint64_t done = 0; done < n_events;) {
        size_t n = n_events - done < CHUNK ? (size_t)(n_events - done) : CHUNK;
        fill(ev, n, np, done, &state);
        if (fcs_writer_write_f32(w, ev, n) != FCS_OK) {
            fprintf(stderr, "bench_gen_large: %s\n", fcs_writer_errmsg(w));
            fcs_writer_abort(w);
            free(ev);
            return 1;
        }
        done += n;
    }
    free(ev);
    if (fcs_writer_close(w, &err) != FCS_OK) {
        fprintf(stderr, "bench_gen_large: %s\n", err.msg);
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    fprintf(stderr, "bench_gen_large: wrote %s: %" PRIu64 " events x %zu parameters in %.2f s\n",
            path, n_events, np, s);
    return 0;
}
