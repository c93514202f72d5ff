/* test_reader_corpus.c — open every FCS file of the shared corpus (MANIFEST.tsv,
 * categories other than companion) and every malformed file: no crash, every
 * event readable in every output mode, the same events through gzip, and the
 * behaviour malformed/CASES.tsv asks for. Skips when the corpus is absent.
 * (Value-by-value comparison with expected/<id>.json is in tests/corpus/.) */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "fcs/reader.h"

static char *corpus_path(const char *rel)
{
    const char *dir = tu_corpus_dir();
    if (!dir) return NULL;
    size_t n = strlen(dir) + strlen(rel) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", dir, rel);
    return p;
}

/* Sum of every raw value of the selected data set (order-sensitive hash too). */
static int read_all(fcs_reader *r, unsigned flags, int f32, double *sum, double *hash,
                    int64_t *events)
{
    size_t np = fcs_n_params(r), chunk = 1000;
    double *d = malloc(chunk * np * sizeof *d);
    float *f = malloc(chunk * np * sizeof *f);
    int64_t n, total = 0;
    *sum = *hash = 0;
    while ((n = f32 ? fcs_read_events_f32(r, f, chunk, flags) : fcs_read_events(r, d, chunk, flags)) > 0) {
        for (size_t k = 0; k < (size_t)n * np; k++) {
            double v = f32 ? f[k] : d[k];
            if (!isfinite(v)) continue;
            *sum += v;
            *hash = *hash * 0.999 + v;
        }
        total += n;
    }
    free(d);
    free(f);
    *events = total;
    return n < 0 ? (int)n : 0;
}

static unsigned char *gzip_file(const char *path, size_t *out_len)
{
    size_t n;
    char *data = tu_read_file(path, &n);
    if (!data) return NULL;
    uLongf cap = compressBound(n) + 64;
    unsigned char *o = malloc(cap);
    z_stream z;
    memset(&z, 0, sizeof z);
    deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)n;
    z.next_out = o;
    z.avail_out = (uInt)cap;
    int rc = deflate(&z, Z_FINISH);
    *out_len = cap - z.avail_out;
    deflateEnd(&z);
    free(data);
    if (rc != Z_STREAM_END) {
        free(o);
        return NULL;
    }
    return o;
}

/* A regular corpus file: opens, announces what the manifest says, every
 * data set reads fully in every mode, gzip gives the same events. */
static void check_file(const char *rel, long want_par, long want_tot, long bytes)
{
    char *path = corpus_path(rel);
    fcs_reader *r;
    fcs_error e;
    int rc = fcs_open(&r, path, NULL, &e);
    if (rc) fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(rc, FCS_OK);
    if (want_par > 0) assert_int_equal(fcs_n_params(r), want_par);
    if (want_tot >= 0) assert_int_equal(fcs_n_events(r), want_tot);
    size_t nds = fcs_n_datasets(r);
    double raw_sum[8] = {0}, raw_hash[8] = {0};
    for (size_t k = 0; k < nds; k++) {
        assert_int_equal(fcs_select_dataset(r, k), FCS_OK);
        int64_t tot = fcs_n_events(r), got;
        double s, h, s2, h2;
        assert_int_equal(read_all(r, FCS_VALUES_RAW, 0, &s, &h, &got), 0);
        assert_int_equal(got, tot);
        if (k < 8) {
            raw_sum[k] = s;
            raw_hash[k] = h;
        }
        static const unsigned modes[3] = {FCS_VALUES_SCALED | FCS_VALUES_COLUMNS,
                                          FCS_VALUES_SCALED | FCS_VALUES_TIME_SECONDS,
                                          FCS_VALUES_RAW | FCS_VALUES_COLUMNS};
        for (int m = 0; m < 3; m++) {
            assert_int_equal(fcs_rewind(r), FCS_OK);
            assert_int_equal(read_all(r, modes[m], m != 1, &s2, &h2, &got), 0);
            assert_int_equal(got, tot);
        }
    }
    fcs_close(r);
    if (bytes > 0 && bytes < 3000000) {
        size_t zl;
        unsigned char *z = gzip_file(path, &zl);
        assert_non_null(z);
        assert_int_equal(fcs_open_mem(&r, z, zl, rel, NULL, &e), FCS_OK);
        assert_int_equal(fcs_n_datasets(r), nds);
        for (size_t k = 0; k < nds && k < 8; k++) {
            assert_int_equal(fcs_select_dataset(r, k), FCS_OK);
            double s, h;
            int64_t got;
            assert_int_equal(read_all(r, FCS_VALUES_RAW, 0, &s, &h, &got), 0);
            assert_true(s == raw_sum[k] && h == raw_hash[k]);
        }
        fcs_close(r);
        free(z);
    }
    free(path);
}

static int has_warning(const fcs_reader *r, const char *name)
{
    for (size_t i = 0; i < fcs_n_warnings(r); i++)
        if (strncmp(fcs_warning(r, i), name, strlen(name)) == 0) return 1;
    return 0;
}

static int open_corpus(fcs_reader **r, const char *rel, int strict, int metadata_only,
                       fcs_error *e)
{
    char *path = corpus_path(rel);
    fcs_read_opts o;
    fcs_read_opts_init(&o);
    o.strict = strict;
    o.metadata_only = metadata_only;
    int rc = fcs_open(r, path, &o, e);
    if (rc == FCS_OK) assert_non_null(*r);
    else assert_null(*r);
    free(path);
    return rc;
}

static void read_rows(fcs_reader *r, double *buf, size_t n)
{
    assert_int_equal(fcs_read_events(r, buf, n, FCS_VALUES_RAW), (int64_t)n);
}

/* The rows of malformed/CASES.tsv. */
static void check_malformed(void)
{
    fcs_reader *r;
    fcs_error e;
    double buf[64];
    double s, h;
    int64_t got;
    /* offset discrepancies: TEXT offsets used with a warning, strict refuses */
    const char *disc[2] = {"malformed/FlowKit/data_start_offset_discrepancy_example.fcs",
                           "malformed/FlowKit/data_stop_offset_discrepancy_example.fcs"};
    for (int k = 0; k < 2; k++) {
        assert_int_equal(open_corpus(&r, disc[k], 0, 0, &e), FCS_OK);
        uint64_t b, en;
        const char *from;
        fcs_data_segment(r, &b, &en, &from);
        assert_int_equal(b, 6081);
        assert_int_equal(en, 6188);
        assert_string_equal(from, "TEXT");
        assert_true(has_warning(r, "offsets-header-text-disagree"));
        assert_int_equal(fcs_n_events(r), 2);
        assert_int_equal(fcs_n_params(r), 26);
        read_rows(r, buf, 2);
        assert_true(buf[0] == 49135 && buf[1] == 61373 && buf[2] == 48575);
        assert_true(buf[24] == 5969 && buf[25] == 8265081);
        assert_true(buf[25] + buf[51] == 23956683);
        fcs_close(r);
        assert_int_equal(open_corpus(&r, disc[k], 1, 0, &e), FCS_ESTRICT);
    }
    /* not FCS files */
    assert_int_equal(open_corpus(&r, "malformed/fcsparser/corrupted.fcs", 0, 0, &e), FCS_EFORMAT);
    assert_non_null(strstr(e.msg, "not an FCS file"));
    assert_int_equal(open_corpus(&r, "malformed/FCSFiles.jl/testFCS2.fcs", 0, 0, &e), FCS_EFORMAT);
    /* header-only stub: events refused, metadata-only works */
    const char *stub = "malformed/fcsparser/sample_header.fcs";
    assert_int_equal(open_corpus(&r, stub, 0, 0, &e), FCS_ETRUNCATED);
    assert_int_equal(open_corpus(&r, stub, 0, 1, &e), FCS_OK);
    assert_string_equal(fcs_version(r), "FCS3.1");
    assert_int_equal(fcs_n_events(r), 20000);
    assert_int_equal(fcs_n_params(r), 27);
    assert_int_equal(fcs_datatype(r), 'F');
    assert_string_equal(fcs_byteord(r), "1,2,3,4");
    assert_string_equal(fcs_param_info(r, 0)->name, "Time");
    assert_string_equal(fcs_param_info(r, 5)->name, "B1-A");
    assert_string_equal(fcs_param_info(r, 26)->name, "R8-A");
    assert_true(has_warning(r, "data-truncated"));
    assert_int_equal(fcs_read_events(r, buf, 1, FCS_VALUES_RAW), FCS_ETRUNCATED);
    fcs_close(r);
    /* no CRC, no $PnN: strict refuses, lenient reads with warnings */
    const char *nocrc = "malformed/FACEJava/invalid-no_crc.fcs";
    assert_int_equal(open_corpus(&r, nocrc, 1, 0, &e), FCS_ESTRICT);
    assert_int_equal(open_corpus(&r, nocrc, 0, 0, &e), FCS_OK);
    assert_true(has_warning(r, "missing-crc"));
    assert_true(has_warning(r, "missing-name"));
    assert_null(fcs_param_info(r, 0)->name);
    assert_null(fcs_param_info(r, 1)->name);
    assert_true(fcs_param_info(r, 0)->range == 1000);
    read_rows(r, buf, 4);
    const double nc[8] = {100, 200, 100, 200, 300, 400, 300, 400};
    for (int i = 0; i < 8; i++) assert_true(buf[i] == nc[i]);
    fcs_close(r);
    /* $MODE U */
    assert_int_equal(open_corpus(&r, "malformed/FACEJava/invalid-bad_data_set_type.fcs", 0, 0, &e),
                     FCS_EUNSUPPORTED);
    /* duplicate $PnN: strict refuses, lenient reads with a warning */
    const char *dup = "malformed/FACEJava/invalid-duplicate_parameter_name.fcs";
    assert_int_equal(open_corpus(&r, dup, 1, 0, &e), FCS_ESTRICT);
    assert_int_equal(open_corpus(&r, dup, 0, 0, &e), FCS_OK);
    assert_true(has_warning(r, "duplicate-name"));
    assert_int_equal(fcs_n_events(r), 15);
    read_rows(r, buf, 2);
    assert_true(buf[0] == 400 && buf[1] == 300 && buf[2] == 600 && buf[3] == 300);
    assert_int_equal(fcs_rewind(r), FCS_OK);
    double cols[30];
    assert_int_equal(fcs_read_events(r, cols, 15, FCS_VALUES_RAW | FCS_VALUES_COLUMNS), 15);
    double c0 = 0, c1 = 0;
    for (int i = 0; i < 15; i++) c0 += cols[i], c1 += cols[15 + i];
    assert_true(c0 == 7500 && c1 == 7300);
    fcs_close(r);
    /* DATA 209 bytes short: refused, never the shifted events */
    const char *mangled = "malformed/readfcs/example.fcs";
    assert_int_equal(open_corpus(&r, mangled, 0, 0, &e), FCS_ETRUNCATED);
    assert_non_null(strstr(e.msg, "example.fcs"));
    assert_int_equal(open_corpus(&r, mangled, 0, 1, &e), FCS_OK);
    assert_int_equal(read_all(r, FCS_VALUES_RAW, 0, &s, &h, &got), FCS_ETRUNCATED);
    fcs_close(r);
}

static void test_corpus(void **state)
{
    (void)state;
    char *manifest = corpus_path("MANIFEST.tsv");
    if (!manifest) {
        skip();
        return;
    }
    size_t len;
    char *text = tu_read_file(manifest, &len);
    free(manifest);
    assert_non_null(text);
    size_t n_files = 0, n_malformed = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *col[13] = {0};
        int nc = 0;
        for (char *p = line; nc < 13; nc++) {
            col[nc] = p;
            char *tab = strchr(p, '\t');
            if (!tab) {
                nc++;
                break;
            }
            *tab = '\0';
            p = tab + 1;
        }
        if (nc < 11 || strcmp(col[0], "id") == 0) continue;
        const char *path = col[1], *version = col[5], *category = col[10];
        if (strcmp(category, "companion") == 0 || strcmp(version, "-") == 0) continue;
        if (strcmp(category, "malformed") == 0) {
            n_malformed++;
            continue; /* checked case by case below */
        }
        char *endp;
        long par = strtol(col[7], &endp, 10);
        if (*endp) par = -1;
        long tot = strtol(col[8], &endp, 10);
        if (*endp) tot = -1;
        check_file(path, par, tot, strtol(col[2], NULL, 10));
        n_files++;
    }
    free(text);
    printf("# %zu corpus files read, %zu malformed cases\n", n_files, n_malformed);
    assert_true(n_files >= 104);
    assert_int_equal(n_malformed, 9);
    check_malformed();
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_corpus)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
