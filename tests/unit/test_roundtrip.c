/*
 * test_roundtrip.c — writer and reader together: write -> read gives the
 * values and keywords back; read -> write (fcs_writer_copy_keywords) -> read
 * keeps every non-structural keyword and the channel values, for hand-made
 * files and for every file of the real-file corpus (when present).
 */
#include "testutil.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fcs/reader.h"
#include "fcs/writer.h"
#include "writer_internal.h"

/* ---- helpers --------------------------------------------------------------- */

static fcs_reader *open_path(const char *path, int strict)
{
    fcs_read_opts o;
    fcs_read_opts_init(&o);
    o.strict = strict;
    fcs_reader *r = NULL;
    fcs_error err;
    int rc = fcs_open(&r, path, &o, &err);
    if (rc != FCS_OK) fprintf(stderr, "open %s: %s\n", path, err.msg);
    assert_int_equal(rc, FCS_OK);
    return r;
}

static void assert_no_warnings(const fcs_reader *r)
{
    for (size_t i = 0; i < fcs_n_warnings(r); i++) fprintf(stderr, "warning: %s\n", fcs_warning(r, i));
    assert_int_equal(fcs_n_warnings(r), 0);
}

/* Same bits, or both NaN. */
static int same_float(float a, float b)
{
    return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0;
}

static int same_double(double a, double b)
{
    return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0;
}

/* Write n events of np parameters named P1..Pn with range `range`. */
static void write_file(const char *path, size_t np, const fcs_write_opts *o, const double *ev,
                       size_t n, double range, int64_t announce)
{
    fcs_writer *w;
    fcs_error err;
    assert_int_equal(fcs_writer_open(&w, path, np, o, &err), FCS_OK);
    for (size_t j = 0; j < np; j++) {
        char name[32];
        snprintf(name, sizeof name, "CH-%zu", j + 1);
        assert_int_equal(fcs_writer_set_param(w, j, name, j ? "label" : NULL, range), FCS_OK);
    }
    assert_int_equal(fcs_writer_begin(w, announce), FCS_OK);
    /* in two calls, to cross call boundaries */
    assert_int_equal(fcs_writer_write(w, ev, n / 2), FCS_OK);
    assert_int_equal(fcs_writer_write(w, ev + (n / 2) * np, n - n / 2), FCS_OK);
    assert_int_equal(fcs_writer_close(w, &err), FCS_OK);
}

/* ---- write -> read ---------------------------------------------------------- */

static void test_float_strict(void **state)
{
    (void)state;
    enum { NP = 5, N = 3001 };
    double *ev = malloc(NP * N * sizeof *ev);
    for (size_t i = 0; i < (size_t)NP * N; i++) ev[i] = sin((double)i) * 1e5;
    ev[7] = NAN;
    ev[8] = INFINITY;
    ev[9] = -0.0;
    const char *path = tu_tmp_path("rt-f.fcs");
    write_file(path, NP, NULL, ev, N, 262144, N);
    fcs_reader *r = open_path(path, 1); /* strict: no deviation at all */
    assert_no_warnings(r);
    assert_string_equal(fcs_version(r), "FCS3.1");
    assert_int_equal(fcs_n_events(r), N);
    assert_int_equal(fcs_n_params(r), NP);
    assert_int_equal(fcs_datatype(r), 'F');
    assert_string_equal(fcs_byteord(r), "1,2,3,4");
    assert_string_equal(fcs_param_info(r, 2)->name, "CH-3");
    assert_string_equal(fcs_param_info(r, 2)->label, "label");
    assert_null(fcs_param_info(r, 0)->label);
    assert_true(fcs_param_info(r, 0)->range == 262144);
    float *got = malloc(NP * N * sizeof *got);
    int64_t total = 0, n;
    while ((n = fcs_read_events_f32(r, got + total * NP, 1000, FCS_VALUES_RAW)) > 0) total += n;
    assert_int_equal(n, 0);
    assert_int_equal(total, N);
    for (size_t i = 0; i < (size_t)NP * N; i++) assert_true(same_float(got[i], (float)ev[i]));
    fcs_close(r);
    free(got);
    free(ev);
    unlink(path);
}

/* D and every integer width, both byte orders: raw values come back exactly. */
static void test_types(void **state)
{
    (void)state;
    enum { NP = 3, N = 500 };
    static const struct {
        char type;
        int bits;
        double range;
    } cases[] = {{'D', 0, 1e6}, {'I', 8, 256}, {'I', 16, 65536}, {'I', 32, 4294967296.0},
                 {'I', 64, 9007199254740992.0}};
    double ev[NP * N];
    for (int c = 0; c < 5; c++) {
        for (int be = 0; be < 2; be++) {
            fcs_write_opts o;
            fcs_write_opts_init(&o);
            o.datatype = cases[c].type;
            if (cases[c].bits) o.int_bits = cases[c].bits;
            o.big_endian = be;
            for (size_t i = 0; i < (size_t)NP * N; i++) {
                double frac = (double)((i * 2654435761u) % 1000003) / 1000003.0;
                ev[i] = cases[c].type == 'D' ? (frac - 0.5) * 1e300
                                             : floor(frac * (cases[c].range - 1));
            }
            ev[0] = cases[c].type == 'D' ? 5e-324 : cases[c].range - 1; /* the extremes */
            ev[1] = 0;
            const char *path = tu_tmp_path("rt-t.fcs");
            write_file(path, NP, &o, ev, N, cases[c].range, N);
            fcs_reader *r = open_path(path, 1);
            assert_no_warnings(r);
            assert_int_equal(fcs_datatype(r), cases[c].type);
            assert_string_equal(fcs_byteord(r), be ? "4,3,2,1" : "1,2,3,4");
            double got[NP * N];
            assert_int_equal(fcs_read_events(r, got, N, FCS_VALUES_RAW), N);
            for (size_t i = 0; i < (size_t)NP * N; i++) {
                if (!same_double(got[i], ev[i]))
                    fprintf(stderr, "type %c%d be %d: value %zu: %.17g != %.17g\n", cases[c].type,
                            cases[c].bits, be, i, got[i], ev[i]);
                assert_true(same_double(got[i], ev[i]));
            }
            fcs_close(r);
            unlink(path);
        }
    }
}

/* Keyword values that stress the delimiter rules come back byte for byte. */
static void test_keyword_values(void **state)
{
    (void)state;
    char all[300];
    size_t k = 0;
    all[k++] = 'x';
    for (int c = 1; c <= 255; c++) all[k++] = (char)c;
    all[k] = 0;
    static const char *const plain[][2] = {
        {"SLASH", "/"}, /* starts with '/': '/' cannot be the delimiter */
        {"PATHS", "C:\\data\\run/1|2"},
        {"ENDS", "ends/"},
        {"DOUBLE", "a//b"},
        {"UTF8", "CD19 \xce\xbc" "g/\xc2\xb5L \xe2\x80\x93 \xe6\x97\xa5\xe6\x9c\xac"},
        {"@VENDOR KEY", "spaces inside the name"},
        {"$SPILLOVER", "2,FL1-A,FL2-A,1,0.1,0.05,1"},
    };
    for (int round = 0; round < 2; round++) {
        const char *path = tu_tmp_path("rt-kw.fcs");
        fcs_writer *w;
        fcs_error err;
        assert_int_equal(fcs_writer_open(&w, path, 2, NULL, &err), FCS_OK);
        assert_int_equal(fcs_writer_set_param(w, 0, "FL1-A", NULL, 1024), FCS_OK);
        assert_int_equal(fcs_writer_set_param(w, 1, "FL2-A", "CD3 / CD4", 1024), FCS_OK);
        for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
            assert_int_equal(fcs_writer_set_keyword(w, plain[i][0], plain[i][1]), FCS_OK);
        /* round 1: a value holding every byte forces doubling */
        if (round) assert_int_equal(fcs_writer_set_keyword(w, "ALL", all), FCS_OK);
        assert_int_equal(fcs_writer_begin(w, 1), FCS_OK);
        double ev[2] = {1, 2};
        assert_int_equal(fcs_writer_write(w, ev, 1), FCS_OK);
        assert_int_equal(fcs_writer_close(w, &err), FCS_OK);

        fcs_reader *r = open_path(path, 1);
        assert_no_warnings(r);
        for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
            const char *v = fcs_keyword(r, plain[i][0]);
            assert_non_null(v);
            assert_string_equal(v, plain[i][1]);
        }
        if (round) assert_string_equal(fcs_keyword(r, "ALL"), all);
        assert_string_equal(fcs_param_info(r, 1)->label, "CD3 / CD4");
        const char *which = NULL;
        const fcs_matrix *m = fcs_spillover(r, &which);
        assert_non_null(m);
        assert_string_equal(which, "$SPILLOVER");
        assert_true(fcs_matrix_get(m, 0, 1) == 0.1);
        fcs_close(r);
        unlink(path);
    }
}

static void test_zero_and_unknown_count(void **state)
{
    (void)state;
    const char *path = tu_tmp_path("rt-0.fcs");
    double ev[6] = {1, 2, 3, 4, 5, 6};
    write_file(path, 2, NULL, ev, 0, 1024, 0);
    fcs_reader *r = open_path(path, 1);
    assert_no_warnings(r);
    assert_int_equal(fcs_n_events(r), 0);
    double got[6];
    assert_int_equal(fcs_read_events(r, got, 3, FCS_VALUES_RAW), 0);
    fcs_close(r);

    write_file(path, 2, NULL, ev, 3, 1024, -1);
    r = open_path(path, 1);
    assert_no_warnings(r);
    assert_int_equal(fcs_n_events(r), 3);
    assert_int_equal(fcs_read_events(r, got, 3, FCS_VALUES_RAW), 3);
    assert_memory_equal(got, ev, sizeof ev);
    fcs_close(r);
    unlink(path);
}

/* Unknown count to a pipe: the stream a tool produces, read from memory. */
static void test_stdout_stream(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        fcs_writer *w;
        fcs_error err;
        if (fcs_writer_open(&w, "-", 2, NULL, &err)) _exit(1);
        if (fcs_writer_set_param(w, 0, "A", NULL, 10) || fcs_writer_set_param(w, 1, "B", NULL, 10))
            _exit(2);
        if (fcs_writer_begin(w, -1)) _exit(3);
        double ev[2];
        for (int i = 0; i < 100000; i++) {
            ev[0] = i;
            ev[1] = -i;
            if (fcs_writer_write(w, ev, 1)) _exit(4);
        }
        _exit(fcs_writer_close(w, &err) == FCS_OK ? 0 : 5);
    }
    close(fds[1]);
    size_t cap = 1 << 20, len = 0;
    unsigned char *buf = malloc(cap);
    ssize_t k;
    while ((k = read(fds[0], buf + len, cap - len)) > 0) {
        len += (size_t)k;
        if (len == cap) buf = realloc(buf, cap *= 2);
    }
    close(fds[0]);
    int st;
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    fcs_reader *r;
    fcs_error err;
    assert_int_equal(fcs_open_mem(&r, buf, len, "pipe", NULL, &err), FCS_OK);
    assert_no_warnings(r);
    assert_int_equal(fcs_n_events(r), 100000);
    float got[2 * 1000];
    int64_t n, total = 0;
    while ((n = fcs_read_events_f32(r, got, 1000, FCS_VALUES_RAW)) > 0) {
        for (int64_t i = 0; i < n; i++) {
            assert_true(got[2 * i] == (float)(total + i));
            assert_true(got[2 * i + 1] == -(float)(total + i));
        }
        total += n;
    }
    assert_int_equal(total, 100000);
    fcs_close(r);
    free(buf);
}

/* HEADER rule for DATA beyond 99,999,999: the reader takes the TEXT offsets.
 * Only HEADER + TEXT are written (a metadata-only read needs nothing more). */
static void test_big_offsets(void **state)
{
    (void)state;
    const char *path = tu_tmp_path("rt-big.fcs");
    fcs_writer *w;
    fcs_error err;
    assert_int_equal(fcs_writer_open(&w, path, 20, NULL, &err), FCS_OK);
    for (size_t j = 0; j < 20; j++) {
        char name[16];
        snprintf(name, sizeof name, "P%zu", j + 1);
        assert_int_equal(fcs_writer_set_param(w, j, name, NULL, 262144), FCS_OK);
    }
    char *head;
    size_t len;
    uint64_t b, e;
    /* 10M events x 20 float32 = 800,000,000 bytes, as in the benchmark */
    assert_int_equal(fcs_writer_render_head(w, 10000000, &head, &len, &b, &e), FCS_OK);
    fcs_writer_abort(w);
    assert_int_equal(b, len);
    assert_int_equal(e, len + UINT64_C(800000000) - 1);
    assert_int_equal(tu_write_file(path, head, len), 0);
    free(head);

    fcs_read_opts o;
    fcs_read_opts_init(&o);
    o.metadata_only = 1;
    fcs_reader *r;
    assert_int_equal(fcs_open(&r, path, &o, &err), FCS_OK);
    assert_int_equal(fcs_n_events(r), 10000000);
    uint64_t rb, re;
    const char *from;
    fcs_data_segment(r, &rb, &re, &from);
    assert_int_equal(rb, b);
    assert_int_equal(re, e);
    assert_string_equal(from, "TEXT");
    /* the only warning: the DATA is not in this short file */
    assert_int_equal(fcs_n_warnings(r), 1);
    assert_memory_equal(fcs_warning(r, 0), "data-truncated: ", 16);
    fcs_close(r);
    assert_int_equal(fcs_open(&r, path, NULL, &err), FCS_ETRUNCATED);
    unlink(path);
}

/* ---- read -> write -> read ---------------------------------------------------- */

/* A hand-made FCS 3.0 file: TEXT at 256, DATA at 2048, 16-bit integers. */
static char *hand_made(size_t *len)
{
    static const char text[] =
        "/$BEGINANALYSIS/0/$ENDANALYSIS/0/$BEGINSTEXT/0/$ENDSTEXT/0"
        "/$BEGINDATA/2048/$ENDDATA/2059/$BYTEORD/1,2,3,4/$DATATYPE/I/$MODE/L/$NEXTDATA/0"
        "/$PAR/3/$TOT/2"
        "/$P1N/FSC-A/$P1B/16/$P1E/0,0/$P1R/1024/$P1G/1"
        "/$P2N/FL1-A/$P2S/CD3 FITC/$P2B/16/$P2E/4,1/$P2R/1024/$P2V/500"
        "/$P3N/FL2-A/$P3B/16/$P3E/0,0/$P3R/1024/$P3G/2/LIBFCS_P3X/old"
        "/$SPILLOVER/2,FL1-A,FL2-A,1,0.02,0.1,1/$CYT/Hand made/$DATE/01-JAN-2024"
        "/@ESCAPED/a//b/";
    size_t tl = strlen(text);
    char *f = calloc(1, 2048 + 12 + 8);
    memset(f, ' ', 2048);
    char hdr[96];
    snprintf(hdr, sizeof hdr, "FCS3.0    %8d%8zu%8d%8d%8d%8d", 256, 256 + tl - 1, 2048, 2059, 0, 0);
    memcpy(f, hdr, 58);
    memcpy(f + 256, text, tl);
    /* events (10, 256, 100) and (1023, 512, 7), little endian */
    static const uint16_t data[6] = {10, 256, 100, 1023, 512, 7};
    for (int i = 0; i < 6; i++) {
        f[2048 + 2 * i] = (char)(data[i] & 0xff);
        f[2048 + 2 * i + 1] = (char)(data[i] >> 8);
    }
    memcpy(f + 2060, "00000000", 8);
    *len = 2068;
    return f;
}

/* Copy r into a float32 file at path with the given map; values SCALED. */
static void copy_file(fcs_reader *r, const char *path, size_t np_out, const int *map)
{
    fcs_writer *w;
    fcs_error err;
    assert_int_equal(fcs_rewind(r), FCS_OK);
    assert_int_equal(fcs_writer_open(&w, path, np_out, NULL, &err), FCS_OK);
    int rc = fcs_writer_copy_keywords(w, r, map);
    if (rc) fprintf(stderr, "copy_keywords: %s\n", fcs_writer_errmsg(w));
    assert_int_equal(rc, FCS_OK);
    for (size_t i = 0; i < np_out; i++)
        if (map && map[i] < 0) assert_int_equal(fcs_writer_set_param(w, i, "NEW", NULL, 1), FCS_OK);
    rc = fcs_writer_begin(w, fcs_n_events(r));
    if (rc) fprintf(stderr, "begin: %s\n", fcs_writer_errmsg(w));
    assert_int_equal(rc, FCS_OK);
    size_t np = fcs_n_params(r);
    double *in = malloc(4096 * np * sizeof *in), *out = malloc(4096 * np_out * sizeof *out);
    int64_t n;
    while ((n = fcs_read_events(r, in, 4096, FCS_VALUES_SCALED)) > 0) {
        for (int64_t e = 0; e < n; e++)
            for (size_t i = 0; i < np_out; i++)
                out[(size_t)e * np_out + i] =
                    (map && map[i] < 0) ? 0 : in[(size_t)e * np + (size_t)(map ? map[i] : (int)i)];
        assert_int_equal(fcs_writer_write(w, out, (size_t)n), FCS_OK);
    }
    if (n < 0) fprintf(stderr, "read: %s\n", fcs_errmsg(r));
    assert_int_equal(n, 0);
    rc = fcs_writer_close(w, &err);
    if (rc) fprintf(stderr, "close: %s\n", err.msg);
    assert_int_equal(rc, FCS_OK);
    free(in);
    free(out);
}

static void test_copy_hand_made(void **state)
{
    (void)state;
    size_t len;
    char *img = hand_made(&len);
    fcs_reader *r;
    fcs_error err;
    assert_int_equal(fcs_open_mem(&r, img, len, "hand", NULL, &err), FCS_OK);
    assert_no_warnings(r);
    const char *path = tu_tmp_path("rt-copy.fcs");
    copy_file(r, path, 3, NULL);

    fcs_reader *o = open_path(path, 1);
    assert_no_warnings(o);
    /* channel values: raw, 10^(4*raw/1024), raw/2 */
    float got[6];
    assert_int_equal(fcs_read_events_f32(o, got, 2, FCS_VALUES_RAW), 2);
    const float want[6] = {10, (float)pow(10, 4.0 * 256 / 1024), 50,
                           1023, (float)pow(10, 4.0 * 512 / 1024), 3.5f};
    for (int i = 0; i < 6; i++) assert_close(got[i], want[i], 1e-6);
    /* scaled reading of the copy is the identity now */
    assert_int_equal(fcs_rewind(o), FCS_OK);
    float again[6];
    assert_int_equal(fcs_read_events_f32(o, again, 2, FCS_VALUES_SCALED), 2);
    assert_memory_equal(again, got, sizeof got);

    static const char *const same[] = {"$P1N", "$P1R", "$P2N", "$P2S", "$P2R", "$P2V", "$P3N",
                                       "$P3R", "LIBFCS_P3X", "$SPILLOVER", "$CYT", "$DATE",
                                       "@ESCAPED"};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
        assert_string_equal(fcs_keyword(o, same[i]), fcs_keyword(r, same[i]));
    assert_string_equal(fcs_keyword(o, "@ESCAPED"), "a/b");
    assert_string_equal(fcs_keyword(o, "$P1G"), "1");
    assert_null(fcs_keyword(o, "LIBFCS_P1G")); /* was 1 already */
    assert_null(fcs_keyword(o, "LIBFCS_P1E"));
    assert_null(fcs_keyword(o, "$P2G"));       /* absent in the input */
    assert_string_equal(fcs_keyword(o, "$P2E"), "0,0");
    assert_string_equal(fcs_keyword(o, "LIBFCS_P2E"), "4,1");
    assert_string_equal(fcs_keyword(o, "$P3G"), "1");
    assert_string_equal(fcs_keyword(o, "LIBFCS_P3G"), "2");
    assert_string_equal(fcs_keyword(o, "$P3B"), "32");
    assert_string_equal(fcs_keyword(o, "$DATATYPE"), "F");

    /* a second pass changes nothing but keeps the provenance */
    const char *path2 = tu_tmp_path("rt-copy2.fcs");
    copy_file(o, path2, 3, NULL);
    fcs_reader *o2 = open_path(path2, 1);
    assert_int_equal(fcs_n_keywords(o2), fcs_n_keywords(o));
    for (size_t i = 0; i < fcs_n_keywords(o); i++) {
        const char *name = fcs_keyword_name(o, i);
        if (!strcmp(name, "$BEGINDATA") || !strcmp(name, "$ENDDATA")) continue;
        assert_string_equal(fcs_keyword_name(o2, i), name);
        assert_string_equal(fcs_keyword_value(o2, i), fcs_keyword_value(o, i));
    }
    float third[6];
    assert_int_equal(fcs_read_events_f32(o2, third, 2, FCS_VALUES_SCALED), 2);
    assert_memory_equal(third, got, sizeof got);
    fcs_close(o2);
    fcs_close(o);
    fcs_close(r);
    free(img);
    unlink(path);
    unlink(path2);
}

static void test_copy_param_map(void **state)
{
    (void)state;
    size_t len;
    char *img = hand_made(&len);
    fcs_reader *r;
    fcs_error err;
    assert_int_equal(fcs_open_mem(&r, img, len, "hand", NULL, &err), FCS_OK);
    const char *path = tu_tmp_path("rt-map.fcs");

    /* output: input P3, a new parameter, input P2 */
    const int map[3] = {2, -1, 1};
    copy_file(r, path, 3, map);
    fcs_reader *o = open_path(path, 1);
    assert_no_warnings(o);
    assert_string_equal(fcs_keyword(o, "$P1N"), "FL2-A");
    assert_string_equal(fcs_keyword(o, "$P1G"), "1");
    assert_string_equal(fcs_keyword(o, "LIBFCS_P1G"), "2");
    assert_string_equal(fcs_keyword(o, "LIBFCS_P1X"), "old"); /* renumbered from P3 */
    assert_null(fcs_keyword(o, "LIBFCS_P3X"));
    assert_string_equal(fcs_keyword(o, "$P2N"), "NEW");
    assert_null(fcs_keyword(o, "$P2S"));
    assert_string_equal(fcs_keyword(o, "$P3N"), "FL1-A");
    assert_string_equal(fcs_keyword(o, "$P3S"), "CD3 FITC");
    assert_string_equal(fcs_keyword(o, "$P3V"), "500");
    assert_string_equal(fcs_keyword(o, "LIBFCS_P3E"), "4,1");
    assert_null(fcs_keyword(o, "$P2V")); /* input P2's keywords moved to P3 */
    float got[6];
    assert_int_equal(fcs_read_events_f32(o, got, 2, FCS_VALUES_RAW), 2);
    assert_true(got[0] == 50 && got[1] == 0 && got[3] == 3.5f);
    assert_close(got[2], pow(10, 1), 1e-6);
    fcs_close(o);

    /* a map naming a missing parameter; a NULL map with another count */
    fcs_writer *w;
    assert_int_equal(fcs_writer_open(&w, path, 2, NULL, &err), FCS_OK);
    const int bad[2] = {0, 3};
    assert_int_equal(fcs_writer_copy_keywords(w, r, bad), FCS_ERANGE);
    assert_int_equal(fcs_writer_copy_keywords(w, r, NULL), FCS_EINVAL);
    assert_non_null(strstr(fcs_writer_errmsg(w), "param_map"));
    /* -1 everywhere copies only the data-set keywords; begin needs names */
    const int none[2] = {-1, -1};
    assert_int_equal(fcs_writer_copy_keywords(w, r, none), FCS_OK);
    assert_int_equal(fcs_writer_begin(w, 0), FCS_EINVAL);
    fcs_writer_abort(w);
    fcs_close(r);
    free(img);
    unlink(path);
}

/* ---- the real-file corpus ---------------------------------------------------------- */

/* "$P<n><suffix>": the parameter number, or 0 when name is not one. */
static size_t param_num(const char *name, const char **suffix)
{
    if (strncasecmp(name, "$P", 2) != 0 || name[2] < '0' || name[2] > '9') return 0;
    char *end;
    unsigned long v = strtoul(name + 2, &end, 10);
    if (!((*end >= 'A' && *end <= 'Z') || (*end >= 'a' && *end <= 'z'))) return 0;
    *suffix = end;
    return (size_t)v;
}

static int is_param_kw(const char *name, const char *suffix, size_t *n)
{
    const char *sf;
    *n = param_num(name, &sf);
    return *n && strcasecmp(sf, suffix) == 0;
}

static int is_structural(const char *name)
{
    static const char *const fixed[] = {"$BEGINANALYSIS", "$ENDANALYSIS", "$BEGINSTEXT",
                                        "$ENDSTEXT",      "$BEGINDATA",   "$ENDDATA",
                                        "$BYTEORD",       "$DATATYPE",    "$MODE",
                                        "$NEXTDATA",      "$PAR",         "$TOT"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (strcasecmp(name, fixed[i]) == 0) return 1;
    size_t n;
    return is_param_kw(name, "B", &n) || is_param_kw(name, "E", &n) ||
           is_param_kw(name, "DATATYPE", &n);
}

/* Every non-structural keyword of r is in o with the same value, with the
 * documented exceptions ($PnG, $PnN repaired, unwritable names). */
/* Position of keyword name in o (exact spelling), or -1. */
static long kw_pos(const fcs_reader *o, const char *name)
{
    for (size_t k = 0; k < fcs_n_keywords(o); k++)
        if (strcmp(fcs_keyword_name(o, k), name) == 0) return (long)k;
    return -1;
}

static int keywords_kept(const fcs_reader *r, const fcs_reader *o, const char *file)
{
    int bad = 0;
    long last = -1; /* kept keywords keep their order */
    for (size_t i = 0; i < fcs_n_keywords(r); i++) {
        const char *name = fcs_keyword_name(r, i), *v = fcs_keyword_value(r, i);
        size_t n;
        const char *sf;
        if (is_structural(name)) continue;
        size_t pn = param_num(name, &sf);
        if (pn > fcs_n_params(r)) continue; /* names a parameter the data set lacks: dropped */
        const char *got = fcs_keyword(o, name);
        if (is_param_kw(name, "G", &n)) {
            if (!got || strcmp(got, "1") != 0) bad++;
            continue;
        }
        if (is_param_kw(name, "N", &n) && fcs_param_info(r, n - 1) &&
            fcs_param_info(r, n - 1)->name) {
            if (!got || strcmp(got, fcs_param_info(r, n - 1)->name) != 0) bad++;
            continue;
        }
        const char *want = *v ? v : " "; /* empty values are written as one blank */
        long pos = kw_pos(o, name);
        if (pos >= 0 && pos < last) {
            fprintf(stderr, "%s: keyword '%s' moved before an earlier one\n", file, name);
            bad++;
        }
        if (pos > last) last = pos;
        if (!got || strcmp(got, want) != 0) {
            int unwritable = 0;
            for (const char *p = name; *p; p++) unwritable |= (unsigned char)*p < 0x20;
            if (unwritable) continue;
            fprintf(stderr, "%s: keyword '%s': '%s' became '%s'\n", file, name, want,
                    got ? got : "(absent)");
            bad++;
        }
    }
    return bad;
}

/* Warnings of the copy must be ones the input had too (e.g. a copied
 * unparseable $SPILLOVER); a clean input gives a clean copy. */
static int warnings_inherited(const fcs_reader *r, const fcs_reader *o, const char *file)
{
    int bad = 0;
    for (size_t i = 0; i < fcs_n_warnings(o); i++) {
        const char *w = fcs_warning(o, i);
        size_t nl = strcspn(w, ":");
        int found = 0;
        for (size_t k = 0; k < fcs_n_warnings(r) && !found; k++)
            found = strncmp(fcs_warning(r, k), w, nl + 1) == 0;
        if (!found) {
            fprintf(stderr, "%s: copy has new warning: %s\n", file, w);
            bad++;
        }
    }
    return bad;
}

/* Values of the copy (raw float32) equal (float) of the input's scaled values. */
static int values_kept(fcs_reader *r, fcs_reader *o, const char *file)
{
    size_t np = fcs_n_params(r);
    double *a = malloc(4096 * np * sizeof *a);
    float *b = malloc(4096 * np * sizeof *b);
    int bad = 0;
    int64_t n, m, total = 0;
    assert_int_equal(fcs_rewind(r), FCS_OK);
    while ((n = fcs_read_events(r, a, 4096, FCS_VALUES_SCALED)) > 0) {
        m = fcs_read_events_f32(o, b, 4096, FCS_VALUES_RAW);
        if (m != n) {
            bad++;
            break;
        }
        for (size_t i = 0; i < (size_t)n * np; i++)
            if (!same_float(b[i], (float)a[i])) {
                if (!bad) fprintf(stderr, "%s: event %" PRId64 ": %.9g != %.9g\n", file,
                                  total + (int64_t)(i / np), b[i], (float)a[i]);
                bad++;
            }
        total += n;
    }
    if (n < 0 || fcs_read_events_f32(o, b, 4096, FCS_VALUES_RAW) != 0) bad++;
    free(a);
    free(b);
    return bad;
}

static int roundtrip_one(const char *file, int *n_done)
{
    fcs_reader *r;
    fcs_error err;
    if (fcs_open(&r, file, NULL, &err) != FCS_OK) {
        printf("# not readable, skipped: %s\n", err.msg);
        return 0;
    }
    int bad = 0;
    const char *out = tu_tmp_path("rt-corpus.fcs");
    for (size_t d = 0; d < fcs_n_datasets(r); d++) {
        assert_int_equal(fcs_select_dataset(r, d), FCS_OK);
        copy_file(r, out, fcs_n_params(r), NULL);
        fcs_reader *o = open_path(out, 0);
        assert_int_equal(fcs_n_events(o), fcs_n_events(r));
        assert_int_equal(fcs_n_params(o), fcs_n_params(r));
        bad += keywords_kept(r, o, file);
        bad += warnings_inherited(r, o, file);
        bad += values_kept(r, o, file);
        fcs_close(o);
        (*n_done)++;
    }
    fcs_close(r);
    unlink(out);
    return bad;
}

static void test_corpus(void **state)
{
    (void)state;
    const char *dir = tu_corpus_dir();
    if (!dir) return;
    char path[4096];
    snprintf(path, sizeof path, "%s/MANIFEST.tsv", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[16384];
    int bad = 0, n_done = 0;
    while (fgets(line, sizeof line, f)) {
        /* columns: id path bytes repo license fcs_version ... */
        char *cols[8] = {0};
        char *s = line;
        for (int c = 0; c < 8 && s; c++) {
            cols[c] = s;
            s = strchr(s, '\t');
            if (s) *s++ = 0;
        }
        if (!cols[5] || strncmp(cols[5], "FCS", 3) != 0) continue;
        if (strncmp(cols[1], "files/", 6) != 0 && strncmp(cols[1], "gatingml2/", 10) != 0) continue;
        snprintf(path, sizeof path, "%s/%s", dir, cols[1]);
        bad += roundtrip_one(path, &n_done);
    }
    fclose(f);
    printf("# corpus round trip: %d data sets\n", n_done);
    assert_true(n_done > 50);
    assert_int_equal(bad, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_float_strict),
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_keyword_values),
        cmocka_unit_test(test_zero_and_unknown_count),
        cmocka_unit_test(test_stdout_stream),
        cmocka_unit_test(test_big_offsets),
        cmocka_unit_test(test_copy_hand_made),
        cmocka_unit_test(test_copy_param_map),
        cmocka_unit_test(test_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
