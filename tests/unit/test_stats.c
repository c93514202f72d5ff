/*
 * test_stats.c — population statistics (fcs/stats.h) against values
 * computed by hand, and the selection-based percentiles against a full sort.
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fcs/fcs.h"

static fcs_stat_spec spec(const char *name)
{
    fcs_stat_spec s;
    fcs_error err;
    int rc = fcs_stat_parse(name, &s, &err);
    if (rc != FCS_OK) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, FCS_OK);
    return s;
}

static double val(const fcs_stats *s, size_t pop, size_t chan, const char *name)
{
    fcs_stat_spec sp = spec(name);
    return fcs_stats_value(s, pop, chan, &sp);
}

/* ---- names ------------------------------------------------------------------ */

static void test_stat_names(void **state)
{
    (void)state;
    fcs_stat_spec s;
    fcs_error err;
    char buf[48];
    assert_int_equal(fcs_stat_parse("median", &s, NULL), FCS_OK);
    assert_int_equal(s.kind, FCS_STAT_MEDIAN);
    assert_true(s.percentile == 50);
    assert_int_equal(fcs_stat_parse("P2.5", &s, NULL), FCS_OK);
    assert_int_equal(s.kind, FCS_STAT_PERCENTILE);
    assert_true(s.percentile == 2.5);
    assert_string_equal(fcs_stat_name(&s, buf, sizeof buf), "p2.5");
    assert_int_equal(fcs_stat_parse("p84.13", &s, NULL), FCS_OK);
    assert_string_equal(fcs_stat_name(&s, buf, sizeof buf), "p84.13");
    assert_int_equal(fcs_stat_parse("p100", &s, NULL), FCS_OK);
    assert_int_equal(fcs_stat_parse("p0", &s, NULL), FCS_OK);
    assert_int_equal(fcs_stat_parse("%Parent", &s, NULL), FCS_OK);
    assert_int_equal(s.kind, FCS_STAT_PCT_PARENT);
    assert_string_equal(fcs_stat_name(&s, buf, sizeof buf), "pct_parent");
    assert_int_equal(fcs_stat_parse("robust_cv", &s, NULL), FCS_OK);
    assert_int_equal(s.kind, FCS_STAT_RCV);
    assert_false(fcs_stat_is_channel(FCS_STAT_COUNT));
    assert_false(fcs_stat_is_channel(FCS_STAT_CELLS_PER_UL));
    assert_true(fcs_stat_is_channel(FCS_STAT_MEAN));
    assert_true(fcs_stat_is_channel(FCS_STAT_PERCENTILE));
    /* names read back: p20 must not become "p2e+01" (found by fuzz_summary) */
    const char *names[] = {"p20", "p100", "p0", "p0.001", "p1e-3", "p99.99", "p0.00001"};
    const char *canon[] = {"p20", "p100", "p0", "p0.001", "p0.001", "p99.99", "p0.00001"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        fcs_stat_spec back;
        assert_int_equal(fcs_stat_parse(names[i], &s, NULL), FCS_OK);
        assert_string_equal(fcs_stat_name(&s, buf, sizeof buf), canon[i]);
        assert_int_equal(fcs_stat_parse(buf, &back, NULL), FCS_OK);
        assert_true(back.percentile == s.percentile);
    }
    const char *bad[] = {"p101", "p-1", "p", "pfoo", "pinf", "pnan", "p1e3", "mode", "", "p 5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(fcs_stat_parse(bad[i], &s, &err), FCS_EINVAL);
        assert_non_null(strstr(err.msg, "statistic"));
    }
}

/* ---- percentiles ------------------------------------------------------------- */

static void test_percentile_by_hand(void **state)
{
    (void)state;
    double v[10];
    /* type 7 of 1..10: h = 9p; p25 -> h 2.25 -> 3.25; p50 -> 5.5; p90 -> h 8.1 -> 9.1 */
    const double p[] = {0, 25, 50, 90, 100, 15.87};
    const double want[] = {1, 3.25, 5.5, 9.1, 10, 1 + 9 * 0.1587};
    for (size_t k = 0; k < sizeof p / sizeof p[0]; k++) {
        for (int i = 0; i < 10; i++) v[i] = 10 - i; /* reversed input */
        assert_close(fcs_percentile(v, 10, p[k]), want[k], 1e-14);
    }
    double one = 7;
    assert_true(fcs_percentile(&one, 1, 30) == 7);
    assert_true(isnan(fcs_percentile(v, 0, 50)));
    assert_true(isnan(fcs_percentile(v, 10, 100.5)));
    assert_true(isnan(fcs_percentile(v, 10, NAN)));
    float f[4] = {4, 1, 3, 2};
    assert_close(fcs_percentile_f(f, 4, 50), 2.5, 0);
    /* duplicates: 1 1 1 2 2 -> p50 = 1; p75: h = 3 -> 2 */
    double d[5] = {2, 1, 2, 1, 1};
    assert_true(fcs_percentile(d, 5, 50) == 1);
    double d2[5] = {2, 1, 2, 1, 1};
    assert_true(fcs_percentile(d2, 5, 75) == 2);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double type7_sorted(const double *sorted, size_t n, double p)
{
    double h = (double)(n - 1) * (p / 100);
    size_t lo = (size_t)floor(h);
    if (lo + 1 >= n) return sorted[n - 1];
    return sorted[lo] + (h - (double)lo) * (sorted[lo + 1] - sorted[lo]);
}

/* Selection against a full sort, on inputs that defeat naive quickselect. */
static void test_percentile_vs_sort(void **state)
{
    (void)state;
    size_t sizes[] = {2, 3, 15, 16, 17, 100, 1001, 20000};
    uint64_t x = 12345;
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        size_t n = sizes[si];
        double *v = malloc(n * sizeof *v), *w = malloc(n * sizeof *w), *ref = malloc(n * sizeof *ref);
        for (int pattern = 0; pattern < 6; pattern++) {
            for (size_t i = 0; i < n; i++) {
                x = x * 6364136223846793005u + 1442695040888963407u;
                double r = (double)(x >> 11) / 9007199254740992.0;
                switch (pattern) {
                case 0: v[i] = r; break;                              /* random */
                case 1: v[i] = (double)i; break;                      /* sorted */
                case 2: v[i] = (double)(n - i); break;                /* reversed */
                case 3: v[i] = 3; break;                              /* all equal */
                case 4: v[i] = (double)(i < n / 2 ? i : n - i); break; /* organ pipe */
                default: v[i] = floor(r * 4); break;                  /* few values */
                }
            }
            memcpy(ref, v, n * sizeof *v);
            qsort(ref, n, sizeof *ref, cmp_double);
            const double ps[] = {0, 1, 15.87, 50, 84.13, 99, 100};
            for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++) {
                memcpy(w, v, n * sizeof *v);
                double got = fcs_percentile(w, n, ps[k]);
                assert_close(got, type7_sorted(ref, n, ps[k]), 1e-15);
            }
        }
        free(v);
        free(w);
        free(ref);
    }
}

/* The selection used at fcs_stats_finish (radix on order-preserving keys
 * above 4096 values) against a full sort, on distributions that stress it:
 * ties, everything in one radix bucket, a huge dynamic range, signed zeros
 * and subnormals; float and double stores. */
static void test_order_stats_radix(void **state)
{
    (void)state;
    size_t n = 50000;
    const char *ps[] = {"p0", "p0.1", "p15.87", "median", "p84.13", "p99.9", "p100"};
    enum { NPS = 7 };
    fcs_stat_spec sp[NPS];
    for (int i = 0; i < NPS; i++) sp[i] = spec(ps[i]);
    double *ev = malloc(n * sizeof *ev), *ref = malloc(n * sizeof *ref);
    uint64_t x = 7;
    for (int f32 = 0; f32 < 2; f32++) {
        for (int pattern = 0; pattern < 6; pattern++) {
            for (size_t i = 0; i < n; i++) {
                x = x * 6364136223846793005u + 1442695040888963407u;
                double u = (double)(x >> 11) / 9007199254740992.0;
                switch (pattern) {
                case 0: ev[i] = (u - 0.3) * 1e4; break;                      /* both signs */
                case 1: ev[i] = 42; break;                                   /* all equal */
                case 2: ev[i] = floor(u * 3) - 1; break;                     /* -1, 0, 1 */
                case 3: ev[i] = (u < 0.5 ? -1 : 1) * exp(u * 600 - 300); break; /* 1e-130..1e130 */
                case 4: ev[i] = 1000 + u * 1e-9; break;                      /* one bucket */
                default: ev[i] = (i % 3 == 0) ? -0.0 : (i % 3 == 1 ? 0.0 : u * 1e-310); break;
                }
                if (f32) ev[i] = (double)(float)ev[i]; /* pattern 3: some become +-Inf */
            }
            size_t m = 0;
            for (size_t i = 0; i < n; i++)
                if (isfinite(ev[i])) ref[m++] = ev[i]; /* the statistics skip +-Inf */
            fcs_stats_opts o;
            fcs_stats_opts_init(&o);
            o.stats = sp;
            o.n_stats = NPS;
            o.f32 = f32;
            fcs_stats *s;
            assert_int_equal(fcs_stats_new(&s, 1, &o, NULL), FCS_OK);
            assert_int_equal(fcs_stats_add_channel(s, 0, "V", NULL, NULL, NULL), 0);
            assert_int_equal(fcs_stats_push(s, ev, n), FCS_OK);
            assert_int_equal(fcs_stats_finish(s), FCS_OK);
            qsort(ref, m, sizeof *ref, cmp_double);
            assert_true(m > 4096);
            for (int i = 0; i < NPS; i++) {
                double want = type7_sorted(ref, m, sp[i].percentile);
                double got = fcs_stats_value(s, 0, 0, &sp[i]);
                if (!(got == want || fabs(got - want) <= 1e-15 * fabs(want)))
                    fprintf(stderr, "f32 %d pattern %d %s: got %.17g want %.17g\n", f32, pattern,
                            ps[i], got, want);
                assert_true(got == want || fabs(got - want) <= 1e-15 * fabs(want));
            }
            fcs_stats_free(s);
        }
    }
    free(ev);
    free(ref);
}

/* ---- a small hand-computed population tree -------------------------------------- */

/* Parameters: A (values 1..10), POP:/P, POP:/P/Q, B (NaN, Inf, negatives). */
enum { PA, PP, PQ, PB, NP };
static const double tree_events[10][NP] = {
    {1, 1, 1, -1},  {2, 1, 0, 2},  {3, 1, 1, NAN}, {4, 1, 0, 4}, {5, 1, 1, 8},
    {6, 0, 1, 16}, {7, 0, 1, INFINITY}, {8, 0, 0, 0}, {9, 0, 0, 1}, {10, 0, 0, 1},
};

static const char *const tree_stats[] = {"mean", "median", "geomean", "sd", "cv",
                                         "rsd", "rcv", "p25", "p90"};
#define N_TREE_STATS (sizeof tree_stats / sizeof tree_stats[0])

static fcs_stats *tree_new(int f32, int geomode)
{
    fcs_stat_spec sp[N_TREE_STATS];
    for (size_t i = 0; i < N_TREE_STATS; i++) sp[i] = spec(tree_stats[i]);
    fcs_stats_opts o;
    fcs_stats_opts_init(&o);
    o.stats = sp;
    o.n_stats = N_TREE_STATS;
    o.f32 = f32;
    o.geomean_nonpositive = geomode;
    fcs_stats *s;
    fcs_error err;
    assert_int_equal(fcs_stats_new(&s, NP, &o, &err), FCS_OK);
    assert_int_equal(fcs_stats_add_population(s, "/P", "/", PP, FCS_STATS_BOOLEAN), 1);
    assert_int_equal(fcs_stats_add_population(s, "/P/Q", "/P", PQ, FCS_STATS_BOOLEAN), 2);
    assert_int_equal(fcs_stats_add_channel(s, PA, "A", "CD3", "linear", NULL), 0);
    assert_int_equal(fcs_stats_add_channel(s, PB, "B", NULL, NULL, NULL), 1);
    return s;
}

static void check_tree(const fcs_stats *s)
{
    /* counts: / 10, P = events 1-5, Q = P and Q-flag = events 1,3,5 (6 and 7
     * carry the Q flag but are outside P: nesting wins) */
    assert_int_equal(fcs_stats_total(s), 10);
    assert_int_equal(fcs_stats_count(s, 0), 10);
    assert_int_equal(fcs_stats_count(s, 1), 5);
    assert_int_equal(fcs_stats_count(s, 2), 3);
    assert_true(val(s, 2, 0, "count") == 3);
    assert_close(val(s, 1, 0, "pct_parent"), 50, 1e-15);
    assert_close(val(s, 2, 0, "pct_parent"), 60, 1e-15);
    assert_close(val(s, 2, 0, "pct_grandparent"), 30, 1e-15);
    assert_true(isnan(val(s, 1, 0, "pct_grandparent"))); /* top level: none */
    assert_true(isnan(val(s, 0, 0, "pct_parent")));      /* the root: none */
    assert_close(val(s, 2, 0, "pct_total"), 30, 1e-15);
    assert_close(val(s, 0, 0, "pct_total"), 100, 1e-15);
    assert_true(isnan(val(s, 2, 0, "cells_per_ul"))); /* no beads set */

    /* A over Q = {1, 3, 5}: mean 3, sd 2, cv 66.67, geomean 15^(1/3);
     * P15.87: h = 2*0.1587 = 0.3174 -> 1.6348; P84.13: h 1.6826 -> 4.3652 */
    assert_close(val(s, 2, 0, "mean"), 3, 1e-15);
    assert_close(val(s, 2, 0, "median"), 3, 1e-15);
    assert_close(val(s, 2, 0, "sd"), 2, 1e-15);
    assert_close(val(s, 2, 0, "cv"), 200.0 / 3, 1e-14);
    assert_close(val(s, 2, 0, "geomean"), cbrt(15), 1e-14);
    assert_close(val(s, 2, 0, "rsd"), (4.3652 - 1.6348) / 2, 1e-12);
    assert_close(val(s, 2, 0, "rcv"), (4.3652 - 1.6348) / 2 / 3 * 100, 1e-12);
    assert_close(val(s, 2, 0, "p25"), 2, 1e-15);
    assert_close(val(s, 2, 0, "p90"), 4.6, 1e-14);
    /* A over all 10: mean 5.5, sd sqrt(55/6), median 5.5, p90 9.1 */
    assert_close(val(s, 0, 0, "mean"), 5.5, 1e-15);
    assert_close(val(s, 0, 0, "sd"), sqrt(55.0 / 6), 1e-14);
    assert_close(val(s, 0, 0, "median"), 5.5, 1e-15);
    assert_close(val(s, 0, 0, "p90"), 9.1, 1e-14);
    /* B over P = {-1, 2, NaN, 4, 8}: NaN skipped -> {-1, 2, 4, 8}: mean 3.25,
     * median 3; geomean excludes -1: (2*4*8)^(1/3) = 4 */
    assert_close(val(s, 1, 1, "mean"), 3.25, 1e-15);
    assert_close(val(s, 1, 1, "median"), 3, 1e-15);
    assert_close(val(s, 1, 1, "geomean"), 4, 1e-14);
    /* B over / = {-1,2,4,8,16,0,1,1} (NaN, Inf skipped): mean 31/8 */
    assert_close(val(s, 0, 1, "mean"), 31.0 / 8, 1e-15);
    assert_close(val(s, 0, 1, "median"), 1.5, 1e-15);
    /* geomean of 2,4,8,16,1,1 (-1 and 0 excluded): 2^(10/6) */
    assert_close(val(s, 0, 1, "geomean"), pow(2, 10.0 / 6), 1e-14);
    /* a statistic that was not requested, or out of range: NaN */
    assert_true(isnan(val(s, 0, 0, "p50.5")));
    assert_true(isnan(val(s, 0, 2, "mean")));
    assert_true(isnan(val(s, 3, 0, "count")));
}

static void push_tree(fcs_stats *s, int one_by_one, int f32)
{
    float fe[10][NP];
    for (int i = 0; i < 10; i++)
        for (int j = 0; j < NP; j++) fe[i][j] = (float)tree_events[i][j];
    for (int i = 0; i < 10; i += one_by_one ? 1 : 10) {
        size_t n = one_by_one ? 1 : 10;
        int rc = f32 ? fcs_stats_push_f32(s, fe[i], n) : fcs_stats_push(s, tree_events[i], n);
        assert_int_equal(rc, FCS_OK);
    }
}

static void test_tree_by_hand(void **state)
{
    (void)state;
    for (int mode = 0; mode < 4; mode++) {
        int f32 = mode & 1, one = mode >> 1;
        fcs_stats *s = tree_new(f32, FCS_GEOMEAN_EXCLUDE);
        push_tree(s, one, f32);
        assert_int_equal(fcs_stats_finish(s), FCS_OK);
        assert_int_equal(fcs_stats_finish(s), FCS_OK); /* second call: nothing */
        check_tree(s);
        assert_int_equal(fcs_stats_push(s, tree_events[0], 1), FCS_EINVAL);
        fcs_stats_free(s);
    }
}

static void test_tree_queries(void **state)
{
    (void)state;
    fcs_stats *s = tree_new(0, FCS_GEOMEAN_EXCLUDE);
    assert_int_equal(fcs_stats_n_populations(s), 3);
    assert_string_equal(fcs_stats_population_path(s, 0), "/");
    assert_string_equal(fcs_stats_population_name(s, 0), "");
    assert_string_equal(fcs_stats_population_path(s, 2), "/P/Q");
    assert_string_equal(fcs_stats_population_name(s, 2), "Q");
    assert_int_equal(fcs_stats_population_parent(s, 2), 1);
    assert_int_equal(fcs_stats_population_parent(s, 0), -1);
    assert_int_equal(fcs_stats_population_depth(s, 2), 2);
    assert_int_equal(fcs_stats_find_population(s, "/P"), 1);
    assert_int_equal(fcs_stats_find_population(s, "/X"), -1);
    assert_null(fcs_stats_population_path(s, 3));
    assert_int_equal(fcs_stats_n_channels(s), 2);
    assert_string_equal(fcs_stats_channel_marker(s, 0), "CD3");
    assert_string_equal(fcs_stats_channel_marker(s, 1), "");
    assert_string_equal(fcs_stats_channel_unit(s, 0), "linear");
    assert_string_equal(fcs_stats_channel_transform(s, 0), "");
    assert_int_equal(fcs_stats_n_stats(s), N_TREE_STATS);
    assert_int_equal(fcs_stats_stat(s, 1)->kind, FCS_STAT_MEDIAN);
    /* channel statistics are NaN before finish; counts are live */
    push_tree(s, 0, 0);
    assert_true(isnan(val(s, 0, 0, "mean")));
    assert_int_equal(fcs_stats_count(s, 2), 3);
    /* adding after the first push is refused */
    assert_int_equal(fcs_stats_add_population(s, "/R", "/", PP, FCS_STATS_BOOLEAN), FCS_EINVAL);
    assert_int_equal(fcs_stats_add_channel(s, PA, "A2", NULL, NULL, NULL), FCS_EINVAL);
    fcs_stats_free(s);
}

static void test_geomean_nan_rule(void **state)
{
    (void)state;
    fcs_stats *s = tree_new(0, FCS_GEOMEAN_NAN);
    push_tree(s, 0, 0);
    assert_int_equal(fcs_stats_finish(s), FCS_OK);
    assert_true(isnan(val(s, 1, 1, "geomean"))); /* -1 among P's B values */
    assert_close(val(s, 2, 0, "geomean"), cbrt(15), 1e-14);
    fcs_stats_free(s);
}

static void test_population_errors(void **state)
{
    (void)state;
    fcs_stats *s;
    assert_int_equal(fcs_stats_new(&s, 2, NULL, NULL), FCS_OK);
    assert_int_equal(fcs_stats_add_population(s, "P", "/", 0, FCS_STATS_BOOLEAN), FCS_EINVAL);
    assert_int_equal(fcs_stats_add_population(s, "/", "/", 0, FCS_STATS_BOOLEAN), FCS_EINVAL);
    assert_int_equal(fcs_stats_add_population(s, "/P/", "/", 0, FCS_STATS_BOOLEAN), FCS_EINVAL);
    assert_int_equal(fcs_stats_add_population(s, "//P", "/", 0, FCS_STATS_BOOLEAN), FCS_EINVAL);
    assert_int_equal(fcs_stats_add_population(s, "/P/Q", "/P", 0, FCS_STATS_BOOLEAN), FCS_EINVAL);
    assert_non_null(strstr(fcs_stats_errmsg(s), "parent /P"));
    assert_int_equal(fcs_stats_add_population(s, "/P", "/", 2, FCS_STATS_BOOLEAN), FCS_ERANGE);
    assert_int_equal(fcs_stats_add_population(s, "/P", "/", 1, FCS_STATS_BOOLEAN), 1);
    assert_int_equal(fcs_stats_add_population(s, "/P", "/", 1, FCS_STATS_BOOLEAN), FCS_EINVAL);
    assert_non_null(strstr(fcs_stats_errmsg(s), "twice"));
    assert_int_equal(fcs_stats_add_channel(s, 2, "X", NULL, NULL, NULL), FCS_ERANGE);
    assert_int_equal(fcs_stats_set_beads(s, 5, 1000, 50), FCS_ERANGE);
    assert_int_equal(fcs_stats_set_beads(s, 1, 0, 50), FCS_EINVAL);
    assert_int_equal(fcs_stats_set_beads(s, 1, 1000, NAN), FCS_EINVAL);
    fcs_stats_free(s);
    /* a population statistic is not a channel statistic */
    fcs_stat_spec sp = spec("count");
    fcs_stats_opts o;
    fcs_error err;
    fcs_stats_opts_init(&o);
    o.stats = &sp;
    o.n_stats = 1;
    assert_int_equal(fcs_stats_new(&s, 2, &o, &err), FCS_EINVAL);
    assert_null(s);
    sp.kind = FCS_STAT_PERCENTILE;
    sp.percentile = 120;
    assert_int_equal(fcs_stats_new(&s, 2, &o, &err), FCS_EINVAL);
}

/* Empty population and empty stream: counts 0, ratios 0 or NaN, no crash. */
static void test_empty(void **state)
{
    (void)state;
    for (int pushed = 0; pushed < 2; pushed++) {
        fcs_stats *s = tree_new(0, FCS_GEOMEAN_EXCLUDE);
        double none[3][NP] = {{1, 0, 1, 1}, {2, 0, 0, 2}, {3, 0, 1, 3}}; /* nobody in P */
        if (pushed) assert_int_equal(fcs_stats_push(s, none[0], 3), FCS_OK);
        assert_int_equal(fcs_stats_finish(s), FCS_OK);
        assert_int_equal(fcs_stats_count(s, 1), 0);
        assert_int_equal(fcs_stats_count(s, 2), 0);
        if (pushed) {
            assert_true(val(s, 1, 0, "pct_parent") == 0);
            assert_close(val(s, 0, 0, "median"), 2, 0);
        } else {
            assert_true(isnan(val(s, 1, 0, "pct_parent")));
            assert_true(isnan(val(s, 0, 0, "pct_total")));
            assert_true(isnan(val(s, 0, 0, "median")));
        }
        assert_true(isnan(val(s, 2, 0, "pct_parent"))); /* 0 / 0 */
        for (size_t k = 0; k < N_TREE_STATS; k++) {
            assert_true(isnan(val(s, 1, 0, tree_stats[k])));
            assert_true(isnan(val(s, 2, 1, tree_stats[k])));
        }
        fcs_stats_free(s);
    }
}

/* One value: mean and median defined, SD (n-1) not. */
static void test_single_event(void **state)
{
    (void)state;
    fcs_stats *s = tree_new(0, FCS_GEOMEAN_EXCLUDE);
    assert_int_equal(fcs_stats_push(s, tree_events[0], 1), FCS_OK);
    assert_int_equal(fcs_stats_finish(s), FCS_OK);
    assert_close(val(s, 2, 0, "mean"), 1, 0);
    assert_close(val(s, 2, 0, "median"), 1, 0);
    assert_true(isnan(val(s, 2, 0, "sd")));
    assert_true(isnan(val(s, 2, 0, "cv")));
    assert_true(val(s, 2, 0, "rsd") == 0);
    fcs_stats_free(s);
}

/* Large offset: a one-pass sum of squares would lose every digit. */
static void test_moments_stable(void **state)
{
    (void)state;
    fcs_stat_spec sp[3] = {spec("mean"), spec("sd"), spec("cv")};
    fcs_stats_opts o;
    fcs_stats_opts_init(&o);
    o.stats = sp;
    o.n_stats = 3;
    fcs_stats *s;
    assert_int_equal(fcs_stats_new(&s, 1, &o, NULL), FCS_OK);
    assert_int_equal(fcs_stats_add_channel(s, 0, "X", NULL, NULL, NULL), 0);
    /* 1e9 + {4, 7, 13, 16}, repeated 3000 times across chunk boundaries:
     * mean 1e9+10, sample variance 30 * n/(n-1)*(3/4) ... computed below */
    const double base[4] = {4, 7, 13, 16};
    size_t n = 12000;
    double *ev = malloc(n * sizeof *ev);
    for (size_t i = 0; i < n; i++) ev[i] = 1e9 + base[i % 4];
    for (size_t done = 0; done < n; done += 1000) assert_int_equal(fcs_stats_push(s, ev + done, 1000), FCS_OK);
    assert_int_equal(fcs_stats_finish(s), FCS_OK);
    /* sum of squared deviations: 3000 * (36 + 9 + 9 + 36) = 270000 */
    assert_close(val(s, 0, 0, "mean"), 1e9 + 10, 1e-15);
    assert_close(val(s, 0, 0, "sd"), sqrt(270000.0 / (double)(n - 1)), 1e-9);
    assert_false(fcs_stats_value(s, 0, 0, &sp[2]) != fcs_stats_value(s, 0, 0, &sp[2]));
    free(ev);
    fcs_stats_free(s);
}

/* Many events across chunks: percentiles and moments against a direct computation. */
static void test_many_events(void **state)
{
    (void)state;
    size_t n = 30011, np = 3;
    double *ev = malloc(n * np * sizeof *ev), *a = malloc(n * sizeof *a);
    uint64_t x = 99;
    size_t m = 0;
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        x = x * 6364136223846793005u + 1442695040888963407u;
        double u = (double)(x >> 11) / 9007199254740992.0;
        ev[i * np] = (double)(i % 7) + u;      /* label 0..6 */
        ev[i * np + 1] = exp(4 * u) - 2;       /* skewed, some negative */
        ev[i * np + 2] = floor(ev[i * np]) == 3 ? 1 : 0;
        if (floor(ev[i * np]) == 3) {
            a[m++] = ev[i * np + 1];
            sum += ev[i * np + 1];
        }
    }
    fcs_stat_spec sp[4] = {spec("median"), spec("p5"), spec("p99"), spec("mean")};
    fcs_stats_opts o;
    fcs_stats_opts_init(&o);
    o.stats = sp;
    o.n_stats = 4;
    o.expected_events = (int64_t)n;
    fcs_stats *s;
    assert_int_equal(fcs_stats_new(&s, np, &o, NULL), FCS_OK);
    assert_int_equal(fcs_stats_add_population(s, "/three", "/", 2, FCS_STATS_BOOLEAN), 1);
    assert_int_equal(fcs_stats_add_channel(s, 1, "V", NULL, NULL, NULL), 0);
    for (size_t done = 0; done < n;) {
        size_t k = n - done < 5000 ? n - done : 5000;
        assert_int_equal(fcs_stats_push(s, ev + done * np, k), FCS_OK);
        done += k;
    }
    assert_int_equal(fcs_stats_finish(s), FCS_OK);
    assert_int_equal(fcs_stats_count(s, 1), (int64_t)m);
    qsort(a, m, sizeof *a, cmp_double);
    assert_close(val(s, 1, 0, "median"), type7_sorted(a, m, 50), 1e-15);
    assert_close(val(s, 1, 0, "p5"), type7_sorted(a, m, 5), 1e-15);
    assert_close(val(s, 1, 0, "p99"), type7_sorted(a, m, 99), 1e-15);
    assert_close(val(s, 1, 0, "mean"), sum / (double)m, 1e-12);
    free(ev);
    free(a);
    fcs_stats_free(s);
}

/* Label populations (fcs-synth's TruePopulation) and a transform. */
static void test_labels_and_transform(void **state)
{
    (void)state;
    double ev[6][2] = {{1, 10}, {2, 100}, {1, 1000}, {3, 10}, {2, 10000}, {1, 100000}};
    fcs_stat_spec sp[2] = {spec("mean"), spec("median")};
    fcs_stats_opts o;
    fcs_stats_opts_init(&o);
    o.stats = sp;
    o.n_stats = 2;
    fcs_stats *s;
    fcs_transform *t;
    assert_int_equal(fcs_transform_parse("log(10)", &t, NULL), FCS_OK);
    assert_int_equal(fcs_stats_new(&s, 2, &o, NULL), FCS_OK);
    assert_int_equal(fcs_stats_add_population(s, "/one", "/", 0, 1), 1);
    assert_int_equal(fcs_stats_add_population(s, "/two", "/", 0, 2), 2);
    assert_int_equal(fcs_stats_add_channel(s, 1, "V", NULL, "linear", NULL), 0);
    assert_int_equal(fcs_stats_add_channel(s, 1, "V", NULL, "log", t), 1);
    fcs_transform_free(t); /* the stats keep their own copy */
    assert_string_equal(fcs_stats_channel_transform(s, 1), "log(base=10)");
    assert_int_equal(fcs_stats_push(s, ev[0], 6), FCS_OK);
    assert_int_equal(fcs_stats_finish(s), FCS_OK);
    assert_int_equal(fcs_stats_count(s, 1), 3);
    assert_int_equal(fcs_stats_count(s, 2), 2);
    assert_close(val(s, 1, 0, "mean"), 101010.0 / 3, 1e-15);
    assert_close(val(s, 1, 1, "mean"), 3, 1e-15); /* log10: 1, 3, 5 */
    assert_close(val(s, 2, 1, "median"), 3, 1e-15); /* log10: 2, 4 */
    fcs_stats_free(s);
}

/* ---- absolute counts and bead lots ---------------------------------------------- */

static void test_absolute_counts(void **state)
{
    (void)state;
    /* 500 cells, 1000 beads, 50000 beads in 50 uL: 500/1000*50000/50 = 500 */
    assert_close(fcs_absolute_count(500, 1000, 50000, 50), 500, 1e-15);
    assert_close(fcs_absolute_rel_error(1000), 1 / sqrt(1000.0), 1e-15);
    assert_true(isnan(fcs_absolute_count(500, 0, 50000, 50)));
    assert_true(isnan(fcs_absolute_count(500, 10, 0, 50)));
    assert_true(isnan(fcs_absolute_count(500, 10, 50000, -1)));
    assert_true(isnan(fcs_absolute_rel_error(0)));
    /* through the stats object: beads are /B (2 events), cells /C (3 events) */
    double ev[6][2] = {{1, 0}, {1, 0}, {0, 1}, {0, 1}, {0, 1}, {0, 0}};
    fcs_stats *s;
    assert_int_equal(fcs_stats_new(&s, 2, NULL, NULL), FCS_OK);
    assert_int_equal(fcs_stats_add_population(s, "/B", "/", 0, FCS_STATS_BOOLEAN), 1);
    assert_int_equal(fcs_stats_add_population(s, "/C", "/", 1, FCS_STATS_BOOLEAN), 2);
    assert_int_equal(fcs_stats_set_beads(s, 1, 1000, 20), FCS_OK);
    assert_int_equal(fcs_stats_push(s, ev[0], 6), FCS_OK);
    assert_int_equal(fcs_stats_finish(s), FCS_OK);
    assert_close(val(s, 2, 0, "cells_per_ul"), 3.0 / 2 * 1000 / 20, 1e-15);
    assert_int_equal(fcs_stats_bead_population(s), 1);
    assert_true(fcs_stats_beads_per_test(s) == 1000);
    assert_true(fcs_stats_volume_ul(s) == 20);
    fcs_stats_free(s);
}

static void test_bead_lot_parse(void **state)
{
    (void)state;
    fcs_bead_lot lot;
    fcs_error err;
    const char *good = "# CountBright lot 12345\n\n lot = 12345-A \nbeads_per_test=51800\r\n"
                       "VOLUME_UL = 50\n";
    assert_int_equal(fcs_bead_lot_parse(good, strlen(good), "lot.txt", &lot, &err), FCS_OK);
    assert_string_equal(lot.lot, "12345-A");
    assert_true(lot.beads_per_test == 51800);
    assert_true(lot.volume_ul == 50);
    const char *no_lot = "beads_per_test=1000\nvolume_ul=100";
    assert_int_equal(fcs_bead_lot_parse(no_lot, strlen(no_lot), NULL, &lot, &err), FCS_OK);
    assert_string_equal(lot.lot, "");
    struct {
        const char *text, *msg;
    } bad[] = {
        {"beads_per_test=1000\n", "needs beads_per_test and volume_ul"},
        {"beads_per_test=1000\nvolume_ul=0\n", "line 2: volume_ul '0' is not a number > 0"},
        {"beads_per_test=abc\nvolume_ul=5\n", "line 1: beads_per_test 'abc'"},
        {"beads_per_test=10\nbeads_per_test=10\nvolume_ul=5\n", "line 2: beads_per_test given twice"},
        {"beads=10\n", "line 1: unknown key 'beads'"},
        {"lot 7\n", "line 1: expected key=value"},
        {"beads_per_test=inf\nvolume_ul=5\n", "not a number > 0"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(fcs_bead_lot_parse(bad[i].text, strlen(bad[i].text), "L", &lot, &err),
                         FCS_EFORMAT);
        if (!strstr(err.msg, bad[i].msg)) fprintf(stderr, "got: %s\n", err.msg);
        assert_non_null(strstr(err.msg, bad[i].msg));
        assert_true(strncmp(err.msg, "L: ", 3) == 0);
    }
    const char *path = tu_tmp_path("lot.txt");
    assert_int_equal(tu_write_file(path, good, strlen(good)), 0);
    assert_int_equal(fcs_bead_lot_read(path, &lot, &err), FCS_OK);
    assert_true(lot.volume_ul == 50);
    unlink(path);
    assert_int_equal(fcs_bead_lot_read(path, &lot, &err), FCS_EIO);
    assert_non_null(strstr(err.msg, path));
}

/* ---- populations from a gated stream (written with the library's writer) --------- */

/* A stream: V, POP:/L/T (listed before its parent), POP:/L, and
 * keywords as fcs-gate writes them (PAR numbers deliberately stale). */
static const char *write_gated(const char *name, int with_keywords, int bad_parent)
{
    const char *path = tu_tmp_path(name);
    fcs_writer *w;
    fcs_error err;
    assert_int_equal(fcs_writer_open(&w, path, 3, NULL, &err), FCS_OK);
    assert_int_equal(fcs_writer_set_param(w, 0, "V", "CD3", 1024), FCS_OK);
    assert_int_equal(fcs_writer_set_param(w, 1, "POP:/L/T", "T", 2), FCS_OK);
    assert_int_equal(fcs_writer_set_param(w, 2, bad_parent ? "POP:/X" : "POP:/L", "L", 2), FCS_OK);
    if (with_keywords) {
        assert_int_equal(fcs_writer_set_keyword(w, "LIBFCS_POPULATIONS", "2"), FCS_OK);
        assert_int_equal(fcs_writer_set_keyword(w, "LIBFCS_POP1_PATH", "/L/T"), FCS_OK);
        assert_int_equal(fcs_writer_set_keyword(w, "LIBFCS_POP1_PARENT", "/L"), FCS_OK);
        assert_int_equal(fcs_writer_set_keyword(w, "LIBFCS_POP1_PAR", "3"), FCS_OK);
        assert_int_equal(fcs_writer_set_keyword(w, "LIBFCS_POP2_PATH", "/L"), FCS_OK);
        assert_int_equal(fcs_writer_set_keyword(w, "LIBFCS_POP2_PAR", "2"), FCS_OK);
    }
    assert_int_equal(fcs_writer_set_keyword(w, "LIBFCS_BEADS_PER_TEST", "50000"), FCS_OK);
    assert_int_equal(fcs_writer_set_keyword(w, "LIBFCS_VOLUME_UL", "50"), FCS_OK);
    double ev[5][3] = {{10, 1, 1}, {20, 0, 1}, {30, 1, 1}, {40, 1, 0}, {50, 0, 0}};
    assert_int_equal(fcs_writer_begin(w, 5), FCS_OK);
    assert_int_equal(fcs_writer_write(w, ev[0], 5), FCS_OK);
    assert_int_equal(fcs_writer_close(w, &err), FCS_OK);
    return path;
}

static void test_stream_populations(void **state)
{
    (void)state;
    for (int kw = 0; kw < 2; kw++) {
        const char *path = write_gated(kw ? "gated_kw.fcs" : "gated_names.fcs", kw, 0);
        fcs_reader *r;
        fcs_error err;
        assert_int_equal(fcs_open(&r, path, NULL, &err), FCS_OK);
        fcs_stat_spec sp = spec("median");
        fcs_stats_opts o;
        fcs_stats_opts_init(&o);
        o.stats = &sp;
        o.n_stats = 1;
        o.f32 = 1;
        fcs_stats *s;
        assert_int_equal(fcs_stats_new(&s, fcs_n_params(r), &o, NULL), FCS_OK);
        assert_int_equal(fcs_stats_add_stream_populations(s, r), 2);
        assert_string_equal(fcs_stats_population_path(s, 1), "/L"); /* parent first */
        assert_string_equal(fcs_stats_population_path(s, 2), "/L/T");
        assert_int_equal(fcs_stats_population_parent(s, 2), 1);
        assert_int_equal(fcs_stats_add_channel(s, 0, "V", "CD3", NULL, NULL), 0);
        float buf[15];
        int64_t n = fcs_read_events_f32(r, buf, 5, FCS_VALUES_SCALED);
        assert_int_equal(n, 5);
        assert_int_equal(fcs_stats_push_f32(s, buf, 5), FCS_OK);
        assert_int_equal(fcs_stats_finish(s), FCS_OK);
        assert_int_equal(fcs_stats_count(s, 1), 3); /* /L: 10 20 30 */
        assert_int_equal(fcs_stats_count(s, 2), 2); /* /L/T: 10 30 (40 is outside /L) */
        assert_close(val(s, 2, 0, "median"), 20, 0);
        fcs_bead_lot lot;
        assert_int_equal(fcs_bead_lot_from_keywords(r, &lot, &err), FCS_OK);
        assert_true(lot.beads_per_test == 50000 && lot.volume_ul == 50);
        fcs_stats_free(s);
        fcs_close(r);
        unlink(path);
    }
    /* a child whose parent is not a population */
    const char *path = write_gated("gated_bad.fcs", 0, 1);
    fcs_reader *r;
    assert_int_equal(fcs_open(&r, path, NULL, NULL), FCS_OK);
    fcs_stats *s;
    assert_int_equal(fcs_stats_new(&s, fcs_n_params(r), NULL, NULL), FCS_OK);
    assert_int_equal(fcs_stats_add_stream_populations(s, r), FCS_EFORMAT);
    assert_non_null(strstr(fcs_stats_errmsg(s), "population /L/T: parent /L"));
    fcs_stats_free(s);
    fcs_close(r);
    unlink(path);
}

/* Keywords that name a population whose parameter is missing. */
static void test_stream_keyword_errors(void **state)
{
    (void)state;
    const char *path = tu_tmp_path("gated_kwbad.fcs");
    fcs_writer *w;
    fcs_error err;
    assert_int_equal(fcs_writer_open(&w, path, 1, NULL, &err), FCS_OK);
    assert_int_equal(fcs_writer_set_param(w, 0, "V", NULL, 1024), FCS_OK);
    assert_int_equal(fcs_writer_set_keyword(w, "LIBFCS_POPULATIONS", "1"), FCS_OK);
    assert_int_equal(fcs_writer_set_keyword(w, "LIBFCS_POP1_PATH", "/A"), FCS_OK);
    assert_int_equal(fcs_writer_begin(w, 0), FCS_OK);
    assert_int_equal(fcs_writer_close(w, &err), FCS_OK);
    fcs_reader *r;
    assert_int_equal(fcs_open(&r, path, NULL, NULL), FCS_OK);
    fcs_stats *s;
    assert_int_equal(fcs_stats_new(&s, fcs_n_params(r), NULL, NULL), FCS_OK);
    assert_int_equal(fcs_stats_add_stream_populations(s, r), FCS_EFORMAT);
    assert_non_null(strstr(fcs_stats_errmsg(s), "no parameter POP:/A and no LIBFCS_POP1_PAR"));
    fcs_bead_lot lot;
    assert_int_equal(fcs_bead_lot_from_keywords(r, &lot, &err), FCS_ENOTFOUND);
    fcs_stats_free(s);
    fcs_close(r);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stat_names),
        cmocka_unit_test(test_percentile_by_hand),
        cmocka_unit_test(test_percentile_vs_sort),
        cmocka_unit_test(test_order_stats_radix),
        cmocka_unit_test(test_tree_by_hand),
        cmocka_unit_test(test_tree_queries),
        cmocka_unit_test(test_geomean_nan_rule),
        cmocka_unit_test(test_population_errors),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_single_event),
        cmocka_unit_test(test_moments_stable),
        cmocka_unit_test(test_many_events),
        cmocka_unit_test(test_labels_and_transform),
        cmocka_unit_test(test_absolute_counts),
        cmocka_unit_test(test_bead_lot_parse),
        cmocka_unit_test(test_stream_populations),
        cmocka_unit_test(test_stream_keyword_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
