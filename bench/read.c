/*
 * read.c — time the reader over a whole file:
 *   1. fcs_open (HEADER + TEXT, mapping),
 *   2. fcs_read_events_f32 over every event (the pipe format's type): the
 *      first pass, which also pays the page faults of a fresh mapping, as a
 *      tool reading the file once does,
 *   3. fcs_read_events_f32 again after fcs_rewind (mapping warm),
 *   4. fcs_read_events (double) over every event, after fcs_rewind.
 * Prints seconds, MB/s of DATA and million events/s for each, and the best
 * of --repeat runs (default 3; each run reopens the file). A checksum of the
 * values keeps the compiler from dropping the work and lets runs be compared.
 *
 *     bench_read [--repeat N] [--raw] [--no-mmap] [--chunk EVENTS] FILE
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fcs/reader.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

struct result {
    double open_s, f32_s, f32b_s, f64_s;
    double sum32, sum64;
    int64_t events;
};

/* One full run; returns 0 or prints the error and returns 1. */
static int run_once(const char *path, const fcs_read_opts *o, unsigned flags, size_t chunk,
                    struct result *res, size_t *n_params, uint64_t *data_bytes)
{
    fcs_reader *r;
    fcs_error err;
    double t0 = now();
    if (fcs_open(&r, path, o, &err) != FCS_OK) {
        fprintf(stderr, "bench_read: %s\n", err.msg);
        return 1;
    }
    double t1 = now();
    size_t np = fcs_n_params(r);
    float *b32 = malloc(chunk * np * sizeof *b32);
    double *b64 = malloc(chunk * np * sizeof *b64);
    if (!b32 || !b64) {
        fprintf(stderr, "bench_read: out of memory\n");
        free(b32);
        free(b64);
        fcs_close(r);
        return 1;
    }
    int64_t n, total = 0;
    double sum32 = 0, sum64 = 0;
    while ((n = fcs_read_events_f32(r, b32, chunk, flags)) > 0) {
        total += n;
        sum32 += b32[0] + b32[(size_t)n * np - 1];
    }
    double t2 = now();
    if (n == 0 && fcs_rewind(r) == FCS_OK) {
        while ((n = fcs_read_events_f32(r, b32, chunk, flags)) > 0) sum32 -= b32[0];
    }
    double t2b = now();
    if (n == 0 && fcs_rewind(r) == FCS_OK) {
        while ((n = fcs_read_events(r, b64, chunk, flags)) > 0)
            sum64 += b64[0] + b64[(size_t)n * np - 1];
    }
    double t3 = now();
    if (n < 0) {
        fprintf(stderr, "bench_read: %s\n", fcs_errmsg(r));
        fcs_close(r);
        free(b32);
        free(b64);
        return 1;
    }
    uint64_t b, e;
    const char *from;
    fcs_data_segment(r, &b, &e, &from);
    *data_bytes = e >= b && e ? e - b + 1 : 0;
    *n_params = np;
    fcs_close(r);
    free(b32);
    free(b64);
    res->open_s = t1 - t0;
    res->f32_s = t2 - t1;
    res->f32b_s = t2b - t2;
    res->f64_s = t3 - t2b;
    res->sum32 = sum32;
    res->sum64 = sum64;
    res->events = total;
    return 0;
}

static void line(const char *what, double s, uint64_t bytes, int64_t events)
{
    printf("%-16s %8.4f s  %8.1f MB/s  %7.2f Mevents/s\n", what, s, (double)bytes / s / 1e6,
           (double)events / s / 1e6);
}

int main(int argc, char **argv)
{
    int repeat = 3;
    unsigned flags = FCS_VALUES_SCALED;
    fcs_read_opts o;
    fcs_read_opts_init(&o);
    size_t chunk = 65536;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) repeat = atoi(argv[++i]);
        else if (strcmp(argv[i], "--chunk") == 0 && i + 1 < argc) chunk = (size_t)atol(argv[++i]);
        else if (strcmp(argv[i], "--raw") == 0) flags = FCS_VALUES_RAW;
        else if (strcmp(argv[i], "--no-mmap") == 0) o.no_mmap = 1;
        else if (!path && argv[i][0] != '-') path = argv[i];
        else {
            fprintf(stderr, "usage: bench_read [--repeat N] [--raw] [--no-mmap] [--chunk EVENTS] FILE\n");
            return 2;
        }
    }
    if (!path || repeat < 1 || chunk < 1) {
        fprintf(stderr, "usage: bench_read [--repeat N] [--raw] [--no-mmap] [--chunk EVENTS] FILE\n");
        return 2;
    }
    struct result best = {0}, cur;
    size_t np = 0;
    uint64_t bytes = 0;
    for (int k = 0; k < repeat; k++) {
        if (run_once(path, &o, flags, chunk, &cur, &np, &bytes)) return 1;
        if (k == 0 || cur.open_s < best.open_s) best.open_s = cur.open_s;
        if (k == 0 || cur.f32_s < best.f32_s) best.f32_s = cur.f32_s;
        if (k == 0 || cur.f32b_s < best.f32b_s) best.f32b_s = cur.f32b_s;
        if (k == 0 || cur.f64_s < best.f64_s) best.f64_s = cur.f64_s;
        best.events = cur.events;
        best.sum32 = cur.sum32;
        best.sum64 = cur.sum64;
    }
    printf("file %s: %" PRId64 " events x %zu parameters, DATA %" PRIu64
           " bytes, %s values, %s, best of %d, chunk %zu events\n",
           path, best.events, np, bytes, flags ? "scaled" : "raw", o.no_mmap ? "read(2)" : "mmap",
           repeat, chunk);
    printf("%-16s %8.4f s\n", "open", best.open_s);
    line("read_events_f32", best.f32_s, bytes, best.events);
    line("f32_2nd_pass", best.f32b_s, bytes, best.events);
    line("read_events", best.f64_s, bytes, best.events);
    printf("checksum %.9g %.9g\n", best.sum32, best.sum64);
    return 0;
}
