/*
 * test_summary.c — HDF5 cohort summaries (fcs/summary.h): write, read back,
 * add / replace / merge rules, refusal of foreign, damaged and temporary
 * files, crash-safe replacement; SHA-256 against the FIPS 180-2 vectors.
 * (tests/corpus/test_h5_python.py reads the files with h5py and anndata.)
 */
#include "testutil.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fcs/fcs.h"

/* ---- SHA-256 ------------------------------------------------------------------ */

static void digest(const void *data, size_t len, size_t step, char hex[65])
{
    fcs_sha256 *h = fcs_sha256_new();
    assert_non_null(h);
    const char *p = data;
    for (size_t done = 0; done < len;) {
        size_t k = len - done < step ? len - done : step;
        fcs_sha256_update(h, p + done, k);
        done += k;
    }
    fcs_sha256_final(h, hex);
    fcs_sha256_free(h);
}

static void test_sha256_vectors(void **state)
{
    (void)state;
    char hex[65];
    digest("", 0, 1, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    digest("abc", 3, 1, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    size_t steps[] = {1, 7, 55, 56, 64, 1000};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        digest(two, strlen(two), steps[i], hex);
        assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    }
    char *mil = malloc(1000000);
    memset(mil, 'a', 1000000);
    digest(mil, 1000000, 4099, hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    const char *path = tu_tmp_path("mil.txt");
    assert_int_equal(tu_write_file(path, mil, 1000000), 0);
    char fh[65];
    assert_int_equal(fcs_sha256_file(path, fh, NULL), FCS_OK);
    assert_string_equal(fh, hex);
    unlink(path);
    fcs_error err;
    assert_int_equal(fcs_sha256_file(path, fh, &err), FCS_EIO);
    assert_non_null(strstr(err.msg, "cannot open"));
    free(mil);
    /* the state is reset after final: a second message hashes alone */
    fcs_sha256 *h = fcs_sha256_new();
    fcs_sha256_update(h, "xyz", 3);
    fcs_sha256_final(h, hex);
    fcs_sha256_update(h, "abc", 3);
    fcs_sha256_final(h, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    fcs_sha256_free(h);
}

/* ---- fixtures ----------------------------------------------------------------- */

static const char SHA_A[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char SHA_B[] = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/* Events: V, POP:/L, POP:/L/T, POP:/Beads. pops_variant 1 adds /L/B
 * (member flag in column 4). */
static fcs_stats *make_stats(int variant, int beads)
{
    fcs_stat_spec sp[3];
    fcs_stat_parse("median", &sp[0], NULL);
    fcs_stat_parse("cv", &sp[1], NULL);
    fcs_stat_parse("p95", &sp[2], NULL);
    fcs_stats_opts o;
    fcs_stats_opts_init(&o);
    o.stats = sp;
    o.n_stats = 3;
    fcs_stats *s;
    assert_int_equal(fcs_stats_new(&s, 5, &o, NULL), FCS_OK);
    assert_int_equal(fcs_stats_add_population(s, "/L", "/", 1, FCS_STATS_BOOLEAN), 1);
    assert_int_equal(fcs_stats_add_population(s, "/L/T", "/L", 2, FCS_STATS_BOOLEAN), 2);
    assert_int_equal(fcs_stats_add_population(s, "/Beads", "/", 3, FCS_STATS_BOOLEAN), 3);
    if (variant) assert_int_equal(fcs_stats_add_population(s, "/L/B", "/L", 4, FCS_STATS_BOOLEAN), 4);
    assert_int_equal(fcs_stats_add_channel(s, 0, "FITC-A", "CD3", "linear", NULL), 0);
    if (beads) assert_int_equal(fcs_stats_set_beads(s, 3, 50000, 50), FCS_OK);
    double ev[8][5] = {{10, 1, 1, 0, 0}, {20, 1, 0, 0, 1}, {30, 1, 1, 0, 1}, {40, 1, 1, 0, 0},
                       {50, 0, 0, 1, 0}, {60, 0, 0, 1, 0}, {70, 0, 0, 0, 0}, {80, 0, 1, 0, 0}};
    assert_int_equal(fcs_stats_push(s, ev[0], variant ? 8 : 7), FCS_OK);
    assert_int_equal(fcs_stats_finish(s), FCS_OK);
    return s;
}

static void describe(fcs_summary_sample *d, const char *id, const char *sha)
{
    static const char *kn[] = {"$FIL", "PATIENT/ID", "file"};
    static const char *kv[] = {"a.fcs", "P-7", "kw-called-file"};
    fcs_summary_sample_init(d);
    d->id = id;
    d->file = "in/a.fcs";
    d->source = "a.fcs";
    d->sha256 = sha;
    d->date = "01-JAN-2024";
    d->btim = "10:00:00";
    d->cyt = "Synth";
    d->strategy = "strategy.xml sha256=1234";
    d->bead_lot = "LOT-9";
    d->tool = "fcs-stats 0.1.0";
    d->n_keywords = 3;
    d->keyword_names = kn;
    d->keyword_values = kv;
}

static fcs_summary *one_sample_summary(void)
{
    fcs_summary *sum;
    assert_int_equal(fcs_summary_new(&sum, NULL), FCS_OK);
    fcs_stats *st = make_stats(0, 1);
    fcs_summary_sample d;
    describe(&d, "A", SHA_A);
    int rc = fcs_summary_add(sum, &d, st, 0);
    if (rc) fprintf(stderr, "%s\n", fcs_summary_errmsg(sum));
    assert_int_equal(rc, FCS_OK);
    fcs_stats_free(st);
    return sum;
}

static const fcs_summary_row *find_row(const fcs_summary *s, const char *sample, const char *pop,
                                       const char *stat)
{
    static fcs_summary_row r;
    for (size_t i = 0; i < fcs_summary_n_rows(s); i++) {
        assert_int_equal(fcs_summary_row_info(s, i, &r), FCS_OK);
        if (!strcmp(r.sample, sample) && !strcmp(r.population, pop) && !strcmp(r.statistic, stat))
            return &r;
    }
    return NULL;
}

/* What one_sample_summary holds, computed by hand: / = 7 events,
 * /L = {10,20,30,40}, /L/T = {10,30,40}, /Beads = {50,60}. */
static void check_one(const fcs_summary *s)
{
    assert_int_equal(fcs_summary_n_samples(s), 1);
    fcs_summary_sample d;
    assert_int_equal(fcs_summary_sample_info(s, 0, &d), FCS_OK);
    assert_string_equal(d.id, "A");
    assert_string_equal(d.file, "in/a.fcs");
    assert_string_equal(d.source, "a.fcs");
    assert_string_equal(d.sha256, SHA_A);
    assert_string_equal(d.date, "01-JAN-2024");
    assert_string_equal(d.cyt, "Synth");
    assert_string_equal(d.strategy, "strategy.xml sha256=1234");
    assert_string_equal(d.bead_population, "/Beads");
    assert_string_equal(d.bead_lot, "LOT-9");
    assert_int_equal(d.total_events, 7);
    assert_int_equal(d.bead_events, 2);
    assert_true(d.beads_per_test == 50000 && d.volume_ul == 50);
    assert_int_equal(d.dataset, 0);
    assert_int_equal(d.n_keywords, 3);
    assert_string_equal(d.keyword_names[0], "$FIL");
    assert_string_equal(d.keyword_names[1], "PATIENT_ID");     /* no '/' in HDF5 names */
    assert_string_equal(d.keyword_names[2], "keyword_file");   /* not our column "file" */
    assert_string_equal(d.keyword_values[2], "kw-called-file");
    assert_int_equal(fcs_summary_n_populations(s), 4);
    fcs_summary_population p;
    assert_int_equal(fcs_summary_population_info(s, 0, &p), FCS_OK);
    assert_string_equal(p.path, "/");
    assert_int_equal(fcs_summary_population_info(s, 2, &p), FCS_OK);
    assert_string_equal(p.path, "/L/T");
    assert_string_equal(p.name, "T");
    assert_string_equal(p.parent, "/L");
    assert_int_equal(p.depth, 2);
    fcs_summary_cell c;
    assert_int_equal(fcs_summary_cell_info(s, 0, 2, &c), FCS_OK);
    assert_int_equal(c.count, 3);
    assert_int_equal(c.parent_count, 4);
    assert_close(c.fraction_parent, 0.75, 1e-15);
    assert_close(c.fraction_total, 3.0 / 7, 1e-15);
    assert_close(c.cells_per_ul, 3.0 / 2 * 50000 / 50, 1e-15);
    assert_int_equal(fcs_summary_cell_info(s, 0, 0, &c), FCS_OK);
    assert_int_equal(c.count, 7);
    assert_int_equal(c.parent_count, -1);
    assert_true(isnan(c.fraction_parent));
    /* rows: per population count, pct_parent (not for /), pct_grandparent
     * (depth >= 2), pct_total, cells_per_ul; bead_rel_error once; 3 channel
     * statistics per population: / 3, /L 4, /L/T 5, /Beads 4 + 1, and
     * 4 x 3 channel rows = 29 */
    assert_int_equal(fcs_summary_n_rows(s), 29);
    const fcs_summary_row *r = find_row(s, "A", "/L/T", "median");
    assert_non_null(r);
    assert_close(r->value, 30, 0);
    assert_string_equal(r->channel, "FITC-A");
    assert_string_equal(r->marker, "CD3");
    assert_string_equal(r->unit, "linear");
    assert_string_equal(r->parent, "/L");
    r = find_row(s, "A", "/L/T", "cv");
    assert_string_equal(r->unit, "%");
    r = find_row(s, "A", "/L/T", "pct_grandparent");
    assert_close(r->value, 300.0 / 7, 1e-14);
    assert_string_equal(r->channel, "");
    r = find_row(s, "A", "/Beads", "bead_rel_error");
    assert_close(r->value, 1 / sqrt(2.0), 1e-15);
    assert_null(find_row(s, "A", "/", "pct_parent"));
    assert_null(find_row(s, "A", "/L", "pct_grandparent"));
    r = find_row(s, "A", "/", "count");
    assert_string_equal(r->unit, "events");
    assert_string_equal(r->parent, "");
    assert_int_equal(fcs_summary_n_strategies(s), 1);
    assert_string_equal(fcs_summary_strategy(s, 0), "strategy.xml sha256=1234");
}

/* ---- write and read back -------------------------------------------------------- */

static void test_roundtrip(void **state)
{
    (void)state;
    fcs_summary *sum = one_sample_summary();
    check_one(sum);
    assert_int_equal(fcs_summary_set_tool(sum, "fcs-stats 0.1.0"), FCS_OK);
    const char *path = tu_tmp_path("one.h5ad");
    unlink(path);
    assert_int_equal(fcs_summary_write(sum, path), FCS_OK);
    fcs_summary_free(sum);
    fcs_error err;
    assert_int_equal(fcs_summary_read(&sum, path, &err), FCS_OK);
    check_one(sum);
    assert_string_equal(fcs_summary_tool(sum), "fcs-stats 0.1.0");
    /* the temporary file is gone */
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    assert_int_equal(access(tmp, F_OK), -1);
    /* write what was read: the same again (read -> write is lossless) */
    const char *path2 = tu_tmp_path("one_again.h5ad");
    assert_int_equal(fcs_summary_write(sum, path2), FCS_OK);
    fcs_summary_free(sum);
    assert_int_equal(fcs_summary_read(&sum, path2, &err), FCS_OK);
    check_one(sum);
    fcs_summary_free(sum);
    unlink(path);
    unlink(path2);
}

static void test_empty_summary(void **state)
{
    (void)state;
    fcs_summary *sum;
    assert_int_equal(fcs_summary_new(&sum, NULL), FCS_OK);
    const char *path = tu_tmp_path("empty.h5ad");
    assert_int_equal(fcs_summary_write(sum, path), FCS_OK);
    fcs_summary_free(sum);
    assert_int_equal(fcs_summary_read(&sum, path, NULL), FCS_OK);
    assert_int_equal(fcs_summary_n_samples(sum), 0);
    assert_int_equal(fcs_summary_n_populations(sum), 1);
    assert_int_equal(fcs_summary_n_rows(sum), 0);
    fcs_summary_free(sum);
    unlink(path);
}

/* ---- identity: duplicates, replacement, id collisions ---------------------------- */

static void test_duplicates_and_replace(void **state)
{
    (void)state;
    fcs_summary *sum = one_sample_summary();
    fcs_stats *st = make_stats(1, 0);
    fcs_summary_sample d;
    /* same SHA-256, data set and strategy under another id: refused */
    describe(&d, "A2", SHA_A);
    assert_int_equal(fcs_summary_add(sum, &d, st, 0), FCS_EINVAL);
    assert_non_null(strstr(fcs_summary_errmsg(sum), "already in the summary as 'A'"));
    /* same id, other content: refused */
    describe(&d, "A", SHA_B);
    assert_int_equal(fcs_summary_add(sum, &d, st, 0), FCS_EINVAL);
    assert_non_null(strstr(fcs_summary_errmsg(sum), "sample id 'A' is already used"));
    /* another data set of the same file is another sample */
    describe(&d, "A-d1", SHA_A);
    d.dataset = 1;
    assert_int_equal(fcs_summary_add(sum, &d, st, 0), FCS_OK);
    /* the same content under another strategy too */
    describe(&d, "A-s2", SHA_A);
    d.strategy = "other";
    assert_int_equal(fcs_summary_add(sum, &d, st, 0), FCS_OK);
    assert_int_equal(fcs_summary_n_samples(sum), 3);
    assert_int_equal(fcs_summary_n_strategies(sum), 2);
    size_t rows = fcs_summary_n_rows(sum);
    /* replace sample A: in place, its old rows gone, no duplicates */
    describe(&d, "A", SHA_A);
    assert_int_equal(fcs_summary_add(sum, &d, st, FCS_SUMMARY_REPLACE), FCS_OK);
    assert_int_equal(fcs_summary_n_samples(sum), 3);
    assert_int_equal(fcs_summary_find_sample(sum, "A"), 0);
    /* variant 1: no beads (5 rows fewer), one more population /L/B (4 + 3
     * rows): 31 rows instead of 29 */
    assert_int_equal(fcs_summary_n_rows(sum), rows + 2);
    fcs_summary_sample info;
    assert_int_equal(fcs_summary_sample_info(sum, 0, &info), FCS_OK);
    assert_int_equal(info.total_events, 8);
    assert_string_equal(info.bead_population, ""); /* no beads this time */
    /* replacing one while the id is another's content is refused */
    describe(&d, "A", SHA_A);
    d.dataset = 1; /* content of A-d1, id of A */
    assert_int_equal(fcs_summary_add(sum, &d, st, FCS_SUMMARY_REPLACE), FCS_EINVAL);
    /* bad descriptors */
    describe(&d, "", SHA_B);
    assert_int_equal(fcs_summary_add(sum, &d, st, 0), FCS_EINVAL);
    describe(&d, "X", "ABC");
    assert_int_equal(fcs_summary_add(sum, &d, st, 0), FCS_EINVAL);
    describe(&d, "X\tY", SHA_B);
    assert_int_equal(fcs_summary_add(sum, &d, st, 0), FCS_EINVAL);
    fcs_stats_free(st);
    fcs_summary_free(sum);
}

static void test_merge(void **state)
{
    (void)state;
    fcs_summary *a = one_sample_summary(), *b;
    assert_int_equal(fcs_summary_new(&b, NULL), FCS_OK);
    fcs_stats *st = make_stats(1, 0);
    fcs_summary_sample d;
    describe(&d, "B", SHA_B);
    d.strategy = "";
    d.n_keywords = 0;
    assert_int_equal(fcs_summary_add(b, &d, st, 0), FCS_OK);
    fcs_stats_free(st);
    /* through files, as fcs-h5 merge does */
    const char *pa = tu_tmp_path("ma.h5ad"), *pb = tu_tmp_path("mb.h5ad"), *pm = tu_tmp_path("mm.h5ad");
    assert_int_equal(fcs_summary_write(a, pa), FCS_OK);
    assert_int_equal(fcs_summary_write(b, pb), FCS_OK);
    fcs_summary_free(a);
    fcs_summary_free(b);
    assert_int_equal(fcs_summary_read(&a, pa, NULL), FCS_OK);
    assert_int_equal(fcs_summary_read(&b, pb, NULL), FCS_OK);
    fcs_summary *m;
    assert_int_equal(fcs_summary_new(&m, NULL), FCS_OK);
    assert_int_equal(fcs_summary_merge(m, a, 0), FCS_OK);
    assert_int_equal(fcs_summary_merge(m, b, 0), FCS_OK);
    assert_int_equal(fcs_summary_write(m, pm), FCS_OK);
    fcs_summary_free(m);
    assert_int_equal(fcs_summary_read(&m, pm, NULL), FCS_OK);
    assert_int_equal(fcs_summary_n_samples(m), 2);
    assert_int_equal(fcs_summary_n_populations(m), 5); /* / /L /L/T /Beads /L/B */
    fcs_summary_population p;
    assert_int_equal(fcs_summary_population_info(m, 4, &p), FCS_OK);
    assert_string_equal(p.path, "/L/B");
    fcs_summary_cell c;
    assert_int_equal(fcs_summary_cell_info(m, 0, 4, &c), FCS_OK); /* A lacks /L/B */
    assert_int_equal(c.count, -1);
    assert_true(isnan(c.fraction_total));
    assert_int_equal(fcs_summary_cell_info(m, 1, 4, &c), FCS_OK); /* B: 20, 30 */
    assert_int_equal(c.count, 2);
    assert_int_equal(fcs_summary_n_rows(m), fcs_summary_n_rows(a) + fcs_summary_n_rows(b));
    fcs_summary_sample info;
    assert_int_equal(fcs_summary_sample_info(m, 1, &info), FCS_OK);
    assert_int_equal(info.n_keywords, 0); /* B had none: "" in A's keyword columns */
    assert_int_equal(fcs_summary_sample_info(m, 0, &info), FCS_OK);
    assert_int_equal(info.n_keywords, 3);
    /* merging again: every sample is a duplicate */
    assert_int_equal(fcs_summary_merge(m, b, 0), FCS_EINVAL);
    assert_int_equal(fcs_summary_merge(m, b, FCS_SUMMARY_REPLACE), FCS_OK);
    assert_int_equal(fcs_summary_n_samples(m), 2);
    assert_int_equal(fcs_summary_merge(m, m, 0), FCS_EINVAL);
    fcs_summary_free(a);
    fcs_summary_free(b);
    fcs_summary_free(m);
    unlink(pa);
    unlink(pb);
    unlink(pm);
}

/* ---- foreign, damaged and temporary files ----------------------------------------- */

static void expect_read_error(const char *path, int code, const char *msg)
{
    fcs_summary *s = (fcs_summary *)&s;
    fcs_error err;
    int rc = fcs_summary_read(&s, path, &err);
    if (rc != code || !strstr(err.msg, msg)) fprintf(stderr, "rc %d: %s\n", rc, err.msg);
    assert_int_equal(rc, code);
    assert_null(s);
    assert_non_null(strstr(err.msg, msg));
    assert_non_null(strstr(err.msg, path));
    assert_null(strchr(err.msg, '\n'));
}

static void test_foreign_files(void **state)
{
    (void)state;
    const char *missing = tu_tmp_path("missing.h5ad");
    unlink(missing);
    expect_read_error(missing, FCS_ENOTFOUND, "cannot open");
    const char *text = tu_tmp_path("text.h5ad");
    assert_int_equal(tu_write_file(text, "sample\tcount\n", 13), 0);
    expect_read_error(text, FCS_EFORMAT, "not an HDF5 file");
    /* a real summary cut short */
    fcs_summary *sum = one_sample_summary();
    const char *good = tu_tmp_path("good.h5ad");
    assert_int_equal(fcs_summary_write(sum, good), FCS_OK);
    fcs_summary_free(sum);
    size_t len;
    char *bytes = tu_read_file(good, &len);
    assert_non_null(bytes);
    const char *cut = tu_tmp_path("cut.h5ad");
    assert_int_equal(tu_write_file(cut, bytes, len / 2), 0);
    expect_read_error(cut, FCS_EFORMAT, "truncated or damaged HDF5 file");
    /* an HDF5 file without our attribute: rename it in the bytes (old-style
     * object headers carry no checksum) */
    char *hit = NULL;
    for (size_t i = 0; i + 14 <= len; i++)
        if (memcmp(bytes + i, "libfcs-format", 14) == 0) hit = bytes + i; /* with its NUL */
    assert_non_null(hit);
    hit[12] = 'X';
    const char *foreign = tu_tmp_path("foreign.h5ad");
    assert_int_equal(tu_write_file(foreign, bytes, len), 0);
    expect_read_error(foreign, FCS_EFORMAT, "not a libfcs summary");
    /* what a killed writer leaves is never taken for a summary */
    char tmpname[1100];
    snprintf(tmpname, sizeof tmpname, "%s.tmp.4242", good);
    assert_int_equal(tu_write_file(tmpname, bytes, len), 0);
    expect_read_error(tmpname, FCS_EFORMAT, "unfinished temporary file");
    free(bytes);
    const char *dir = tu_tmp_path("adir.h5ad");
    mkdir(dir, 0777);
    expect_read_error(dir, FCS_EIO, "not a regular file");
    rmdir(dir);
    unlink(text);
    unlink(good);
    unlink(cut);
    unlink(foreign);
    unlink(tmpname);
}

/* ---- crash safety ----------------------------------------------------------------------- */

static void test_write_failures(void **state)
{
    (void)state;
    fcs_summary *sum = one_sample_summary();
    assert_int_equal(fcs_summary_write(sum, "-"), FCS_EINVAL);
    assert_non_null(strstr(fcs_summary_errmsg(sum), "not to a pipe"));
    const char *nodir = tu_tmp_path("no/such/dir/x.h5ad");
    assert_int_equal(fcs_summary_write(sum, nodir), FCS_EIO);
    assert_non_null(strstr(fcs_summary_errmsg(sum), "temporary file"));
    /* a stale temporary file of our pid: another name is used, it stays */
    const char *path = tu_tmp_path("stale.h5ad");
    char stale[1100];
    snprintf(stale, sizeof stale, "%s.tmp.%ld", path, (long)getpid());
    assert_int_equal(tu_write_file(stale, "junk", 4), 0);
    assert_int_equal(fcs_summary_write(sum, path), FCS_OK);
    size_t n;
    char *junk = tu_read_file(stale, &n);
    assert_int_equal(n, 4);
    free(junk);
    fcs_summary *back;
    assert_int_equal(fcs_summary_read(&back, path, NULL), FCS_OK);
    fcs_summary_free(back);
    unlink(stale);
    unlink(path);
    fcs_summary_free(sum);
}

/* A writer killed mid-write leaves the previous file exactly as it was. */
static void test_kill_during_write(void **state)
{
    (void)state;
    const char *path = tu_tmp_path("killed.h5ad");
    fcs_summary *sum = one_sample_summary();
    assert_int_equal(fcs_summary_write(sum, path), FCS_OK);
    size_t len0;
    char *before = tu_read_file(path, &len0);
    /* a big summary: many samples with many rows */
    fcs_stats *st = make_stats(1, 1);
    for (int i = 0; i < 3000; i++) {
        char id[32], sha[65];
        snprintf(id, sizeof id, "S%d", i);
        snprintf(sha, sizeof sha, "%064x", i + 1);
        fcs_summary_sample d;
        describe(&d, id, sha);
        assert_int_equal(fcs_summary_add(sum, &d, st, 0), FCS_OK);
    }
    fcs_stats_free(st);
    int killed_mid_write = 0;
    for (int attempt = 0; attempt < 20 && !killed_mid_write; attempt++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) _exit(fcs_summary_write(sum, path) == FCS_OK ? 0 : 1);
        char tmp[1100];
        snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)pid);
        /* wait for the temporary file, then kill */
        for (int k = 0; k < 20000 && access(tmp, F_OK) != 0; k++) usleep(50);
        usleep(1000 * (attempt % 5));
        int st2;
        kill(pid, SIGKILL);
        waitpid(pid, &st2, 0);
        if (WIFSIGNALED(st2)) {
            killed_mid_write = access(tmp, F_OK) == 0;
            size_t len1;
            char *after = tu_read_file(path, &len1);
            assert_int_equal(len1, len0);
            assert_memory_equal(before, after, len0);
            free(after);
            fcs_summary *s2;
            fcs_error err;
            assert_int_equal(fcs_summary_read(&s2, path, &err), FCS_OK);
            check_one(s2);
            fcs_summary_free(s2);
            if (access(tmp, F_OK) == 0)
                assert_int_not_equal(fcs_summary_read(&s2, tmp, &err), FCS_OK);
            unlink(tmp);
        } else {
            /* the child finished first: restore the small file and retry */
            assert_int_equal(tu_write_file(path, before, len0), 0);
        }
    }
    assert_true(killed_mid_write);
    free(before);
    fcs_summary_free(sum);
    unlink(path);
}

/* The strategy is identified by its SHA-256 and format, not by the path it
 * was read from, and its text survives write, read and merge. */
#define STRAT_SHA "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
static void test_strategy_identity_and_text(void **state)
{
    (void)state;
    fcs_summary *sum, *back, *merged;
    assert_int_equal(fcs_summary_new(&sum, NULL), FCS_OK);
    fcs_stats *st = make_stats(0, 1);
    fcs_summary_sample d;
    describe(&d, "A", SHA_A);
    d.strategy = "source=file:/abs/st.txt;sha256=" STRAT_SHA ";format=text";
    d.strategy_text = "L: rectangle FSC-A [0, 50)\n";
    assert_int_equal(fcs_summary_add(sum, &d, st, 0), FCS_OK);
    /* the same bytes, the same strategy read from another path: a duplicate */
    describe(&d, "A2", SHA_A);
    d.strategy = "source=file:st.txt;sha256=" STRAT_SHA ";format=text";
    assert_int_equal(fcs_summary_add(sum, &d, st, 0), FCS_EINVAL);
    assert_non_null(strstr(fcs_summary_errmsg(sum), "already in the summary as 'A'"));
    /* another strategy (another SHA-256, or the same bytes read as another format) is not */
    d.strategy = "source=file:st.txt;sha256=" STRAT_SHA ";format=gatingml";
    assert_int_equal(fcs_summary_add(sum, &d, st, 0), FCS_OK);
    assert_int_equal(fcs_summary_n_samples(sum), 2);
    assert_int_equal(fcs_summary_n_strategies(sum), 2);
    assert_string_equal(fcs_summary_strategy_text(sum, 0), "L: rectangle FSC-A [0, 50)\n");
    assert_string_equal(fcs_summary_strategy_text(sum, 1), ""); /* none given */
    assert_null(fcs_summary_strategy_text(sum, 2));
    const char *path = tu_tmp_path("strat.h5ad");
    assert_int_equal(fcs_summary_write(sum, path), FCS_OK);
    fcs_error err;
    assert_int_equal(fcs_summary_read(&back, path, &err), FCS_OK);
    assert_int_equal(fcs_summary_n_strategies(back), 2);
    assert_string_equal(fcs_summary_strategy_text(back, 0), "L: rectangle FSC-A [0, 50)\n");
    fcs_summary_sample info;
    assert_int_equal(fcs_summary_sample_info(back, 0, &info), FCS_OK);
    assert_string_equal(info.strategy_text, "L: rectangle FSC-A [0, 50)\n");
    assert_int_equal(fcs_summary_new(&merged, NULL), FCS_OK);
    assert_int_equal(fcs_summary_merge(merged, back, 0), FCS_OK);
    assert_string_equal(fcs_summary_strategy_text(merged, 0), "L: rectangle FSC-A [0, 50)\n");
    /* merging the first sample again, by another name and path: refused */
    describe(&d, "A3", SHA_A);
    d.strategy = "source=file:../x/st.txt;sha256=" STRAT_SHA ";format=text";
    assert_int_equal(fcs_summary_add(merged, &d, st, 0), FCS_EINVAL);
    fcs_summary_free(merged);
    fcs_summary_free(back);
    fcs_summary_free(sum);
    fcs_stats_free(st);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_empty_summary),
        cmocka_unit_test(test_duplicates_and_replace),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_foreign_files),
        cmocka_unit_test(test_write_failures),
        cmocka_unit_test(test_kill_during_write),
        cmocka_unit_test(test_strategy_identity_and_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
