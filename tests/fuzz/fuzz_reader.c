/*
 * fuzz_reader.c — libFuzzer harness for the FCS reader (fcs_open_mem and
 * everything a caller can ask of an open reader).
 *
 * Input layout: one option byte, then the FCS image (tests/fuzz/make_seeds.py
 * writes seeds in this layout):
 *   bit 0     opts.strict
 *   bit 1     opts.metadata_only
 *   bits 2-4  events per fcs_read_events call, minus 1 (1..8: small chunks
 *             cross every event/chunk boundary case)
 *   bit 5     also read through fcs_read_events_f32
 *   bit 6     read column-major (FCS_VALUES_COLUMNS)
 *   bit 7     open through a pipe (fcs_open("/dev/fd/N")) instead of
 *             fcs_open_mem: the sequential path tools take for stdin,
 *             including the spill to a temporary file for several data sets
 *
 * Besides the sanitizers, the harness checks contracts of reader.h and
 * aborts (a "crash" for libFuzzer) when one is broken:
 *   - strings the reader returns are non-NULL where documented;
 *   - a keyword listed by fcs_keyword_name is found by fcs_keyword;
 *   - fcs_param_info is non-NULL exactly for i < fcs_n_params;
 *   - fcs_read_events never returns more than asked, nor more events in
 *     total than fcs_n_events;
 *   - an uncompressed image cannot yield more values than it has bits
 *     (every stored value takes at least one bit, in practice a byte), which
 *     is what "sizes are checked against the input size" means for a caller;
 *   - data sets are chained forward, so there are fewer than input bytes.
 * Work is bounded: at most MAX_VALUES values are read per data set, so a
 * single input cannot hang the fuzzer even when it is gzip-compressed.
 *
 * Build: cmake -DFCS_FUZZ=ON -DCMAKE_C_COMPILER=clang; run: tests/fuzz/run.sh.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fcs/reader.h"

#define MAX_VALUES (1u << 22) /* values read per data set, all passes together */
#define MAX_PARAMS_FOR_READ (1u << 16)

/* A broken contract: say which, then abort so libFuzzer keeps the input. */
#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "fuzz_reader: contract broken: %s (%s:%d)\n", #cond,      \
                    __FILE__, __LINE__);                                              \
            abort();                                                                  \
        }                                                                             \
    } while (0)

/* Volatile sink so the compiler keeps every read of returned memory. */
static volatile size_t g_sink;

static void touch(const char *s)
{
    if (s)
        g_sink += strlen(s);
}

static void walk_keywords(const fcs_reader *r)
{
    size_t n = fcs_n_keywords(r);
    for (size_t i = 0; i < n; i++) {
        const char *name = fcs_keyword_name(r, i);
        const char *value = fcs_keyword_value(r, i);
        CHECK(name != NULL && value != NULL);
        touch(value);
        CHECK(fcs_keyword(r, name) != NULL);
    }
    touch(fcs_keyword(r, "$TOT"));
    touch(fcs_keyword(r, "no-such-keyword"));
}

static void walk_params(const fcs_reader *r)
{
    size_t np = fcs_n_params(r);
    for (size_t i = 0; i < np; i++) {
        const fcs_param *p = fcs_param_info(r, i);
        CHECK(p != NULL);
        touch(p->name);
        touch(p->label);
        g_sink += (size_t)p->bits + (size_t)p->mask + (size_t)p->is_time + (size_t)p->datatype;
        if (p->name)
            CHECK(fcs_param_index(r, p->name, 0) >= 0);
        if (p->label)
            (void)fcs_param_index(r, p->label, 1);
    }
    CHECK(fcs_param_info(r, np) == NULL);
    (void)fcs_param_index(r, "Time", 1);
}

static void walk_spillover(const fcs_reader *r)
{
    const char *kw = NULL;
    const fcs_matrix *m = fcs_spillover(r, &kw);
    if (!m)
        return;
    CHECK(kw != NULL);
    touch(kw);
    size_t rows = fcs_matrix_rows(m), cols = fcs_matrix_cols(m);
    const double *d = fcs_matrix_data(m);
    CHECK(d != NULL || rows * cols == 0);
    for (size_t c = 0; c < cols; c++)
        touch(fcs_matrix_name(m, c));
    for (size_t i = 0; i < rows * cols; i++)
        g_sink += d[i] != 0.0;
}

static void walk_metadata(const fcs_reader *r)
{
    uint64_t b = 0, e = 0;
    const char *from = NULL;
    touch(fcs_name(r));
    touch(fcs_version(r));
    touch(fcs_byteord(r));
    touch(fcs_errmsg(r));
    g_sink += (size_t)fcs_datatype(r) + (size_t)fcs_mode(r) + (size_t)fcs_n_events(r);
    g_sink += (size_t)fcs_dataset_offset(r) + (size_t)fcs_is_seekable(r);
    g_sink += fcs_timestep(r) != 0.0;
    fcs_data_segment(r, &b, &e, &from);
    touch(from);
    walk_keywords(r);
    walk_params(r);
    walk_spillover(r);
    for (size_t i = 0; i < fcs_n_warnings(r); i++) {
        CHECK(fcs_warning(r, i) != NULL);
        touch(fcs_warning(r, i));
    }
}

/* One pass over the selected data set's events; returns values read. */
static size_t read_pass(fcs_reader *r, unsigned flags, size_t chunk, int f32, size_t budget)
{
    size_t np = fcs_n_params(r);
    int64_t tot = fcs_n_events(r);
    double *buf = malloc(chunk * np * sizeof *buf);
    float *fbuf = malloc(chunk * np * sizeof *fbuf);
    size_t values = 0;
    int64_t events = 0;
    if (!buf || !fbuf)
        goto done;
    while (values < budget) {
        int64_t n = f32 ? fcs_read_events_f32(r, fbuf, chunk, flags)
                        : fcs_read_events(r, buf, chunk, flags);
        if (n <= 0) {
            if (n < 0)
                touch(fcs_errmsg(r));
            break;
        }
        CHECK((uint64_t)n <= chunk);
        events += n;
        CHECK(tot < 0 || events <= tot);
        for (size_t i = 0; i < (size_t)n * np; i++)
            g_sink += f32 ? fbuf[i] != 0.0f : buf[i] != 0.0;
        values += (size_t)n * np;
    }
done:
    free(buf);
    free(fbuf);
    return values;
}

static void walk_events(fcs_reader *r, unsigned opt, size_t input_len, int gzipped)
{
    size_t np = fcs_n_params(r);
    size_t chunk = ((opt >> 2) & 7u) + 1;
    unsigned layout = (opt & 64u) ? FCS_VALUES_COLUMNS : 0;
    if (np == 0 || np > MAX_PARAMS_FOR_READ)
        return;
    size_t got = read_pass(r, FCS_VALUES_RAW | layout, chunk, 0, MAX_VALUES);
    /* Every value takes at least one bit of the input (ASCII: a byte). */
    if (!gzipped && !(opt & 2u))
        CHECK(got <= 8 * input_len);
    if (fcs_rewind(r) != FCS_OK)
        return; /* sequential source: a second pass is not offered */
    (void)read_pass(r, FCS_VALUES_SCALED | layout, chunk, 0, MAX_VALUES);
    if ((opt & 32u) && fcs_rewind(r) == FCS_OK)
        (void)read_pass(r, FCS_VALUES_SCALED | FCS_VALUES_TIME_SECONDS | layout, chunk, 1,
                        MAX_VALUES);
}

/* Open the image as a pipe would deliver it. A pipe holds 64 KiB without a
 * reader, and -max_len=65536 keeps the image (input minus the option byte)
 * below that, so the whole image is written before fcs_open reads. Falls
 * back to memory when the pipe cannot be made or the image is larger. */
static int open_via_pipe(fcs_reader **r, const uint8_t *img, size_t len,
                         const fcs_read_opts *o, fcs_error *err)
{
    int fds[2];
    if (len >= 65536 || pipe(fds) != 0)
        return fcs_open_mem(r, img, len, "fuzz-input", o, err);
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fds[1], img + done, len - done);
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    close(fds[1]);
    char path[32];
    snprintf(path, sizeof path, "/dev/fd/%d", fds[0]);
    int rc = fcs_open(r, path, o, err);
    close(fds[0]); /* the reader opened its own descriptor on the pipe */
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned opt = data[0];
    const uint8_t *img = data + 1;
    size_t len = size - 1;
    int gzipped = len >= 2 && img[0] == 0x1f && img[1] == 0x8b;

    fcs_read_opts o;
    fcs_read_opts_init(&o);
    o.strict = (opt & 1u) != 0;
    o.metadata_only = (opt & 2u) != 0;

    fcs_reader *r = NULL;
    fcs_error err;
    memset(&err, 0, sizeof err);
    int rc = (opt & 128u) ? open_via_pipe(&r, img, len, &o, &err)
                          : fcs_open_mem(&r, img, len, "fuzz-input", &o, &err);
    if (rc != FCS_OK) {
        CHECK(r == NULL && rc < 0);
        touch(err.msg);
        CHECK(memchr(err.msg, '\0', sizeof err.msg) != NULL);
        return 0;
    }
    CHECK(r != NULL);
    size_t nds = fcs_n_datasets(r);
    CHECK(nds >= 1);
    /* $NEXTDATA only points forward: each data set starts at its own byte. */
    CHECK(gzipped || nds <= len);
    for (size_t i = 0; i < nds; i++) {
        if (fcs_select_dataset(r, i) != FCS_OK) {
            touch(fcs_errmsg(r));
            continue;
        }
        CHECK(fcs_dataset_index(r) == i);
        walk_metadata(r);
        walk_events(r, opt, len, gzipped);
    }
    CHECK(fcs_select_dataset(r, nds) != FCS_OK);
    fcs_close(r);
    return 0;
}
