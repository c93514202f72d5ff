/*
 * bench/comp.c — compensation throughput: events/s for N events x K channels
 * (default 10M x 20), processed in reader-sized chunks, in both layouts, and
 * spectral unmixing of K fluorochromes from 2K detectors.
 *
 *     bench_comp [N_EVENTS [K_CHANNELS [CHUNK]]]
 *
 * Each chunk is first copied from a 64K-event source (as the reader would
 * decode it), so the time includes touching fresh memory; the copy alone is
 * timed too and reported separately. Times are process CPU seconds (one
 * thread), which stay meaningful on a machine shared with other jobs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fcs/comp.h"

#define SOURCE_EVENTS 65536

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef int (*apply_fn)(const fcs_comp *, double *, size_t, size_t, int);

static int apply_rows(const fcs_comp *c, double *buf, size_t n, size_t chunk, int cols)
{
    (void)chunk;
    return cols ? FCS_EINVAL : fcs_comp_apply(c, buf, n);
}

static int apply_cols(const fcs_comp *c, double *buf, size_t n, size_t chunk, int cols)
{
    (void)cols;
    return fcs_comp_apply_columns(c, buf, n, chunk);
}

/* Time n_total events through fn (NULL: copy only). Returns seconds. */
static double run(const fcs_comp *c, apply_fn fn, int cols, const double *src, double *buf,
                  size_t np, size_t n_total, size_t chunk, double *checksum)
{
    double t0 = now(), sum = 0;
    size_t off = 0;
    for (size_t done = 0; done < n_total; done += chunk) {
        size_t n = n_total - done < chunk ? n_total - done : chunk;
        if (off + n > SOURCE_EVENTS) off = 0;
        memcpy(buf, src + off * np, n * np * sizeof *buf);
        off += n;
        if (fn && fn(c, buf, n, chunk, cols) != FCS_OK) {
            fprintf(stderr, "bench_comp: apply failed\n");
            exit(1);
        }
        sum += buf[0] + buf[n * np - 1];
    }
    *checksum += sum;
    return now() - t0;
}

static fcs_matrix *random_matrix(size_t rows, size_t cols, int square, const char *prefix)
{
    fcs_matrix *m = fcs_matrix_new(rows, cols);
    char name[32];
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++) {
            double v = (double)(rand() % 1000) / 10000.0; /* 0 .. 0.1 */
            if (square && i == j) v = 1;
            if (!square && j == 2 * i) v = 1; /* each fluorochrome peaks in its own detector */
            fcs_matrix_set(m, i, j, v);
        }
    for (size_t j = 0; j < cols; j++) {
        snprintf(name, sizeof name, "%s%zu", prefix, j + 1);
        fcs_matrix_set_name(m, j, name);
    }
    return m;
}

static void report(const char *what, size_t n, size_t k, double secs, double copy)
{
    double apply = secs - copy > 0 ? secs - copy : 1e-9;
    printf("%-22s %zu events x %zu ch: %.3f s CPU total (copy %.3f s), apply %.3f s = %.1f M "
           "events/s\n",
           what, n, k, secs, copy, apply, (double)n / apply / 1e6);
}

int main(int argc, char **argv)
{
    size_t n_total = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000;
    size_t k = argc > 2 ? strtoull(argv[2], NULL, 10) : 20;
    size_t chunk = argc > 3 ? strtoull(argv[3], NULL, 10) : 4096;
    if (!n_total || !k || !chunk || chunk > SOURCE_EVENTS) {
        fprintf(stderr, "usage: bench_comp [N_EVENTS [K_CHANNELS [CHUNK<=%d]]]\n", SOURCE_EVENTS);
        return 2;
    }
    srand(1);
    size_t np = 2 * k; /* room for the spectral case's detectors */
    char **names = malloc(np * sizeof *names);
    for (size_t j = 0; j < np; j++) {
        names[j] = malloc(32);
        snprintf(names[j], 32, "D%zu", j + 1);
    }
    double *src = malloc(SOURCE_EVENTS * np * sizeof *src);
    double *buf = malloc(chunk * np * sizeof *buf);
    double *out = malloc(chunk * k * sizeof *out);
    if (!src || !buf || !out) return 1;
    for (size_t i = 0; i < SOURCE_EVENTS * np; i++) src[i] = (double)(rand() % 262144);

    fcs_error err;
    fcs_matrix *s = random_matrix(k, k, 1, "D");
    fcs_comp *c = NULL;
    if (fcs_comp_new(&c, s, (const char *const *)names, NULL, k, NULL, &err) != FCS_OK) {
        fprintf(stderr, "bench_comp: %s\n", err.msg);
        return 1;
    }
    double check = 0;
    printf("spillover %zux%zu, condition number %.2f, chunk %zu events\n", k, k,
           fcs_comp_condition(c), chunk);
    double copy = run(c, NULL, 0, src, buf, k, n_total, chunk, &check);
    report("compensate (rows)", n_total, k,
           run(c, apply_rows, 0, src, buf, k, n_total, chunk, &check), copy);
    report("compensate (columns)", n_total, k,
           run(c, apply_cols, 1, src, buf, k, n_total, chunk, &check), copy);

    /* float32 rows (the pipe format), from a float copy of the source */
    float *src32 = malloc(SOURCE_EVENTS * k * sizeof *src32), *buf32 = malloc(chunk * k * sizeof *buf32);
    if (!src32 || !buf32) return 1;
    for (size_t i = 0; i < SOURCE_EVENTS * k; i++) src32[i] = (float)src[i];
    for (int pass = 0; pass < 2; pass++) { /* pass 0: copy only */
        double t0 = now();
        size_t off = 0;
        for (size_t done = 0; done < n_total; done += chunk) {
            size_t n = n_total - done < chunk ? n_total - done : chunk;
            if (off + n > SOURCE_EVENTS) off = 0;
            memcpy(buf32, src32 + off * k, n * k * sizeof *buf32);
            off += n;
            if (pass) fcs_comp_apply_f32(c, buf32, n);
            check += buf32[0];
        }
        double t = now() - t0;
        if (!pass) copy = t;
        else report("compensate f32 (rows)", n_total, k, t, copy);
    }
    free(src32);
    free(buf32);

    /* spectral: k fluorochromes from 2k detectors, out of place */
    fcs_matrix *a = random_matrix(k, np, 0, "D");
    fcs_comp *u = NULL;
    if (fcs_comp_new_spectral(&u, a, (const char *const *)names, NULL, np, NULL, &err) != FCS_OK) {
        fprintf(stderr, "bench_comp: %s\n", err.msg);
        return 1;
    }
    double copy2 = run(u, NULL, 0, src, buf, np, n_total, chunk, &check);
    double t0 = now();
    size_t off = 0;
    for (size_t done = 0; done < n_total; done += chunk) {
        size_t n = n_total - done < chunk ? n_total - done : chunk;
        if (off + n > SOURCE_EVENTS) off = 0;
        memcpy(buf, src + off * np, n * np * sizeof *buf);
        off += n;
        fcs_comp_unmix(u, buf, n, out);
        check += out[0];
    }
    double t = now() - t0;
    printf("unmix %zu fluorochromes from %zu detectors, condition number %.2f\n", k, np,
           fcs_comp_condition(u));
    report("unmix (rows)", n_total, np, t, copy2);
    printf("(checksum %g)\n", check);

    fcs_comp_free(c);
    fcs_comp_free(u);
    fcs_matrix_free(s);
    fcs_matrix_free(a);
    for (size_t j = 0; j < np; j++) free(names[j]);
    free(names);
    free(src);
    free(buf);
    free(out);
    return 0;
}
