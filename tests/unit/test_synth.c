/* test_synth.c — the synthetic sample generator (fcs/synth.h): presets and
 * their absolute counts, exact population counts, reproducibility, the
 * spillover written to $SPILLOVER, noise, ranges, doublets, beads, drift. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fcs/comp.h"
#include "fcs/reader.h"
#include "fcs/stats.h"
#include "fcs/synth.h"
#include "testutil.h"

/* Internal (libfcs/synth.c): the generator's own log and exp. */
double fcs_synth_det_log(double x);
double fcs_synth_det_exp(double x);

enum { NCH = 14, FL0 = 3, NFL = 10, TIME = 13 };

static fcs_synth_model *preset(const char *name)
{
    fcs_synth_model *m = NULL;
    fcs_error err;
    assert_int_equal(fcs_synth_model_new(&m, name, &err), FCS_OK);
    assert_non_null(m);
    return m;
}

static int pop(const fcs_synth_model *m, const char *name)
{
    int k = fcs_synth_population_index(m, name);
    assert_true(k >= 0);
    return k;
}

/* All events of a generator at once (small models only). */
struct run {
    int64_t n;
    size_t np;
    double *ev, *truev;
    int32_t *pop;
};

static struct run run_model(const fcs_synth_model *m, uint64_t seed, int truth, size_t chunk)
{
    fcs_synth *g;
    fcs_synth_opts o;
    fcs_error err;
    fcs_synth_opts_init(&o);
    o.seed = seed;
    o.truth = truth;
    assert_int_equal(fcs_synth_new(&g, m, &o, &err), FCS_OK);
    struct run r = {fcs_synth_n_events(g), fcs_synth_n_params(g), NULL, NULL, NULL};
    size_t n = (size_t)r.n ? (size_t)r.n : 1;
    r.ev = malloc(n * r.np * sizeof *r.ev);
    r.truev = malloc(n * NCH * sizeof *r.truev);
    r.pop = malloc(n * sizeof *r.pop);
    assert_non_null(r.ev);
    int64_t done = 0, got;
    while ((got = fcs_synth_next(g, r.ev + done * r.np, chunk, r.pop + done,
                                 r.truev + done * NCH)) > 0)
        done += got;
    assert_int_equal(got, 0);
    assert_int_equal(done, r.n);
    assert_int_equal(fcs_synth_remaining(g), 0);
    fcs_synth_free(g);
    return r;
}

static void free_run(struct run *r)
{
    free(r->ev);
    free(r->truev);
    free(r->pop);
}

/* ---- presets and absolute counts ---------------------------------------------- */

static void test_presets(void **state)
{
    (void)state;
    const char *want[] = {"baseline", "day7", "day14", "day28", "day90", "healthy"};
    assert_int_equal(fcs_synth_n_presets(), 7);
    assert_string_equal(fcs_synth_preset_name(6), "basic");
    for (size_t i = 0; i < 6; i++) {
        assert_string_equal(fcs_synth_preset_name(i), want[i]);
        assert_true(strlen(fcs_synth_preset_description(i)) > 10);
        fcs_synth_model *m = preset(want[i]);
        assert_string_equal(fcs_synth_model_preset(m), want[i]);
        /* Small files: ~15-50k events, < 2 MB as float32 with the truth
         * parameter (15 values of 4 bytes per event, plus the TEXT). */
        int64_t n = fcs_synth_total(m);
        assert_true(n >= 15000 && n <= 50000);
        assert_true(n * 15 * 4 + 16384 < 2000000);
        assert_int_equal(fcs_synth_bead_events(m), 3500);
        fcs_synth_model_free(m);
    }
    assert_null(fcs_synth_preset_name(7));
    fcs_synth_model *m = NULL;
    fcs_error err;
    assert_int_equal(fcs_synth_model_new(&m, "day8", &err), FCS_ENOTFOUND);
    assert_null(m);
    assert_non_null(strstr(err.msg, "day8"));
    assert_non_null(strstr(err.msg, "healthy"));
    /* Case-insensitive; NULL gives the panel with every count 0. */
    m = preset("DAY14");
    fcs_synth_model_free(m);
    m = preset(NULL);
    assert_int_equal(fcs_synth_total(m), 0);
    assert_int_equal(fcs_synth_n_populations(m), 13);
    assert_true(isnan(fcs_synth_cells_per_ul(m, 0)));
    assert_string_equal(fcs_synth_model_preset(m), "");
    fcs_synth_model_free(m);
}

/* Counts come from events/uL x 50 uL x 3500 / 51800 beads; cells/uL back
 * from count / 3500 x 51800 / 50 = count x 0.296. */
static void test_absolute_counts(void **state)
{
    (void)state;
    fcs_synth_model *m = preset("healthy");
    /* B-CD20+: 230/uL x 3.378378 = 777.03 -> 777 events -> 229.992/uL. */
    int b = pop(m, "B-CD20+");
    assert_int_equal(fcs_synth_count(m, (size_t)b), 777);
    assert_close(fcs_synth_cells_per_ul(m, (size_t)b), 229.992, 1e-12);
    /* T-CD4: 800 x 3.378378 = 2702.7 -> 2703 -> 800.088/uL. */
    assert_int_equal(fcs_synth_count(m, (size_t)pop(m, "T-CD4")), 2703);
    assert_close(fcs_synth_cells_per_ul(m, (size_t)pop(m, "beads")), 1036.0, 1e-12);
    assert_close(fcs_synth_beads_per_test(m), 51800, 0);
    assert_close(fcs_synth_volume_ul(m), 50, 0);
    assert_true(strlen(fcs_synth_bead_lot(m)) > 0);
    assert_int_equal(fcs_synth_count(m, (size_t)pop(m, "CAR-T-CD4")), 0);
    /* A new lot changes the absolute counts, not the events. */
    assert_int_equal(fcs_synth_set_beads(m, "L2", 25900, 100), FCS_OK);
    assert_close(fcs_synth_cells_per_ul(m, (size_t)b), 777.0 / 3500 * 25900 / 100, 1e-12);
    assert_int_equal(fcs_synth_set_beads(m, "L2", 0, 100), FCS_EINVAL);
    assert_int_equal(fcs_synth_set_beads(m, "L2", NAN, 100), FCS_EINVAL);
    assert_int_equal(fcs_synth_set_beads(m, "a\tb", 1, 1), FCS_EINVAL);
    fcs_synth_model_free(m);
}

/* The clinical story the presets tell. */
static void test_time_course(void **state)
{
    (void)state;
    const char *names[] = {"baseline", "day7", "day14", "day28", "day90", "healthy"};
    double car_pct[6], b_ul[6], cd4cd8[6];
    for (int i = 0; i < 6; i++) {
        fcs_synth_model *m = preset(names[i]);
        double t = 0, car = 0, car4, car8;
        const char *tpops[] = {"T-CD4", "T-CD8", "CAR-T-CD4", "CAR-T-CD8"};
        for (int j = 0; j < 4; j++) t += fcs_synth_cells_per_ul(m, (size_t)pop(m, tpops[j]));
        car4 = fcs_synth_cells_per_ul(m, (size_t)pop(m, "CAR-T-CD4"));
        car8 = fcs_synth_cells_per_ul(m, (size_t)pop(m, "CAR-T-CD8"));
        car = car4 + car8;
        car_pct[i] = 100 * car / t;
        cd4cd8[i] = car8 > 0 ? car4 / car8 : NAN;
        b_ul[i] = fcs_synth_cells_per_ul(m, (size_t)pop(m, "B-CD20+")) +
                  fcs_synth_cells_per_ul(m, (size_t)pop(m, "B-CD20-"));
        fcs_synth_model_free(m);
    }
    assert_true(car_pct[0] == 0 && car_pct[5] == 0);
    assert_true(b_ul[0] >= 100 && b_ul[0] <= 500 && b_ul[5] >= 100 && b_ul[5] <= 500);
    for (int i = 1; i <= 3; i++) assert_true(b_ul[i] > 0 && b_ul[i] < 5);
    assert_true(b_ul[4] > 20 && b_ul[4] < b_ul[0]);
    assert_true(car_pct[1] >= 10 && car_pct[1] <= 30);
    assert_true(car_pct[2] >= 10 && car_pct[2] <= 30 && car_pct[2] > car_pct[1]);
    assert_true(car_pct[3] < car_pct[2] && car_pct[4] < car_pct[3]);
    assert_true(car_pct[4] >= 0.5 && car_pct[4] <= 2);
    /* CD4:CD8 of CAR-T shifts from CD8- to CD4-dominant. */
    assert_true(cd4cd8[1] < 0.5 && cd4cd8[2] < cd4cd8[3] && cd4cd8[3] < cd4cd8[4]);
    assert_true(cd4cd8[4] > 1);
}

/* ---- counts ----------------------------------------------------------------------- */

static void test_counts_exact(void **state)
{
    (void)state;
    fcs_synth_model *m = preset(NULL);
    const int64_t want[13] = {17, 9, 5, 100, 31, 0, 64, 40, 3, 1, 22, 2, 50};
    for (size_t k = 0; k < 13; k++) assert_int_equal(fcs_synth_set_count(m, k, want[k]), FCS_OK);
    assert_int_equal(fcs_synth_total(m), 344);
    struct run r = run_model(m, 42, 1, 7);
    assert_int_equal(r.n, 344);
    assert_int_equal(r.np, NCH + 1);
    int64_t got[13] = {0};
    for (int64_t i = 0; i < r.n; i++) {
        assert_true(r.pop[i] >= 0 && r.pop[i] < 13);
        got[r.pop[i]]++;
        /* The truth parameter is the population number. */
        assert_true(r.ev[i * r.np + NCH] == (double)(r.pop[i] + 1));
    }
    for (size_t k = 0; k < 13; k++) assert_int_equal(got[k], want[k]);
    /* Events are shuffled, not in blocks: the first 50 are not all one kind. */
    int first = r.pop[0], mixed = 0;
    for (int i = 1; i < 50; i++) mixed |= r.pop[i] != first;
    assert_true(mixed);
    free_run(&r);
    fcs_synth_model_free(m);
}

static void test_scale_to(void **state)
{
    (void)state;
    fcs_synth_model *m = preset(NULL);
    /* {1,1,1} to 10: shares 3.33 each, floors 3+3+3, the one left goes to the
     * lowest index among equal remainders. */
    for (size_t k = 0; k < 3; k++) assert_int_equal(fcs_synth_set_count(m, k, 1), FCS_OK);
    assert_int_equal(fcs_synth_scale_to(m, 10), FCS_OK);
    assert_int_equal(fcs_synth_count(m, 0), 4);
    assert_int_equal(fcs_synth_count(m, 1), 3);
    assert_int_equal(fcs_synth_count(m, 2), 3);
    /* {2,3,5} to 7: 1.4, 2.1, 3.5 -> 1, 2, 3 and the largest remainder (.5) +1. */
    assert_int_equal(fcs_synth_set_count(m, 0, 2), FCS_OK);
    assert_int_equal(fcs_synth_set_count(m, 1, 3), FCS_OK);
    assert_int_equal(fcs_synth_set_count(m, 2, 5), FCS_OK);
    assert_int_equal(fcs_synth_scale_to(m, 7), FCS_OK);
    assert_int_equal(fcs_synth_count(m, 0), 1);
    assert_int_equal(fcs_synth_count(m, 1), 2);
    assert_int_equal(fcs_synth_count(m, 2), 4);
    assert_int_equal(fcs_synth_total(m), 7);
    assert_int_equal(fcs_synth_scale_to(m, -1), FCS_ERANGE);
    assert_int_equal(fcs_synth_scale_to(m, 0), FCS_OK);
    assert_int_equal(fcs_synth_total(m), 0);
    assert_int_equal(fcs_synth_scale_to(m, 5), FCS_EINVAL); /* no fractions left */
    fcs_synth_model_free(m);
    /* A preset scaled keeps its proportions (to rounding). */
    m = preset("day90");
    double before = (double)fcs_synth_count(m, (size_t)pop(m, "T-CD4")) / fcs_synth_total(m);
    assert_int_equal(fcs_synth_scale_to(m, 1000000), FCS_OK);
    assert_int_equal(fcs_synth_total(m), 1000000);
    assert_close(fcs_synth_count(m, (size_t)pop(m, "T-CD4")) / 1e6, before, 1e-5);
    fcs_synth_model_free(m);
}

/* ---- reproducibility ---------------------------------------------------------------- */

static uint64_t fnv1a(const void *p, size_t n, uint64_t h)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * UINT64_C(0x100000001b3);
    return h;
}

/* FNV-1a of the float32 values (as the file stores them). */
static uint64_t hash_run(const struct run *r)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (int64_t i = 0; i < r->n * (int64_t)r->np; i++) {
        float f = (float)r->ev[i];
        h = fnv1a(&f, sizeof f, h);
    }
    return h;
}

static void test_reproducible(void **state)
{
    (void)state;
    fcs_synth_model *m = preset("day14");
    assert_int_equal(fcs_synth_scale_to(m, 3000), FCS_OK);
    struct run a = run_model(m, 7, 1, 4096), b = run_model(m, 7, 1, 1), c = run_model(m, 7, 1, 333);
    assert_memory_equal(a.ev, b.ev, (size_t)a.n * a.np * sizeof *a.ev);
    assert_memory_equal(a.ev, c.ev, (size_t)a.n * a.np * sizeof *a.ev);
    assert_memory_equal(a.truev, c.truev, (size_t)a.n * NCH * sizeof *a.truev);
    struct run d = run_model(m, 8, 1, 4096);
    assert_true(memcmp(a.ev, d.ev, (size_t)a.n * a.np * sizeof *a.ev) != 0);
    /* The same on every machine: the generator uses only IEEE basic
     * operations, so this value (recorded when the generator was written)
     * must never change unless the model does on purpose. */
    uint64_t h = hash_run(&a);
    if (h != UINT64_C(0xaeb01880df21cf43))
        print_message("day14/3000/seed 7 hash: 0x%016llx\n", (unsigned long long)h);
    assert_true(h == UINT64_C(0xaeb01880df21cf43));
    free_run(&a);
    free_run(&b);
    free_run(&c);
    free_run(&d);
    fcs_synth_model_free(m);
}

static void test_det_math(void **state)
{
    (void)state;
    /* Within a few ulp of the C library, over the range the generator uses. */
    for (double x = -700; x <= 700; x += 0.37) {
        double e = exp(x);
        assert_true(fabs(fcs_synth_det_exp(x) - e) <= 4e-16 * e);
        double l = log(e);
        assert_true(fabs(fcs_synth_det_log(e) - l) <= 4e-16 * fabs(l) + 1e-300);
    }
    for (double x = 0.5; x < 2.0; x += 0.001)
        assert_true(fabs(fcs_synth_det_log(x) - log(x)) <= 3e-16 * fmax(fabs(log(x)), 1e-3));
    assert_true(fcs_synth_det_log(1.0) == 0.0);
    assert_true(fcs_synth_det_exp(0.0) == 1.0);
    assert_true(fcs_synth_det_exp(-800) == 0.0);
    assert_true(isinf(fcs_synth_det_exp(800)));
}

/* ---- what the events look like -------------------------------------------------------- */

static void test_values_in_range(void **state)
{
    (void)state;
    fcs_synth_model *m = preset("baseline");
    struct run r = run_model(m, 3, 1, 1000);
    double prev_time = 0;
    for (int64_t i = 0; i < r.n; i++) {
        const double *ev = r.ev + i * r.np;
        for (size_t j = 0; j < NCH; j++) {
            const fcs_synth_channel *c = fcs_synth_channel_info(m, j);
            assert_true(isfinite(ev[j]));
            assert_true(ev[j] >= c->min && ev[j] <= c->max);
            assert_true(ev[j] < c->range);
        }
        assert_true(ev[TIME] >= prev_time); /* arrivals in order */
        prev_time = ev[TIME];
    }
    /* ~27k events at 2000/s in 0.01 s units: about 1356 units (+-3%). */
    assert_true(prev_time > 1356 * 0.97 && prev_time < 1356 * 1.03);
    free_run(&r);
    fcs_synth_model_free(m);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of channel ch (from values, stride np) over events of population k. */
static double median_of(const struct run *r, const double *v, size_t np, int k, size_t ch)
{
    double *t = malloc((size_t)r->n * sizeof *t);
    size_t q = 0;
    for (int64_t i = 0; i < r->n; i++)
        if (r->pop[i] == k) t[q++] = v[i * np + ch];
    assert_true(q > 0);
    qsort(t, q, sizeof *t, cmp_double);
    double med = q % 2 ? t[q / 2] : (t[q / 2 - 1] + t[q / 2]) / 2;
    free(t);
    return med;
}

static void test_phenotypes(void **state)
{
    (void)state;
    fcs_synth_model *m = preset("day14");
    struct run r = run_model(m, 11, 0, 4096);
    int t4 = pop(m, "T-CD4"), car8 = pop(m, "CAR-T-CD8"), gran = pop(m, "granulocytes");
    int beads = pop(m, "beads"), dbl = pop(m, "doublets"), dead = pop(m, "dead");
    int cd3 = fcs_synth_channel_index(m, "CD3"), car = fcs_synth_channel_index(m, "CAR");
    int viab = fcs_synth_channel_index(m, "Viability"), cd45 = fcs_synth_channel_index(m, "CD45");
    assert_int_equal(cd3, 8);
    assert_int_equal(fcs_synth_channel_index(m, "apc-h7-a"), 8);
    assert_int_equal(fcs_synth_channel_index(m, "CD999"), FCS_ENOTFOUND);
    /* True medians are the model's log10 medians: T-CD4 CD3 10^3.65. */
    assert_close(median_of(&r, r.truev, NCH, t4, (size_t)cd3), pow(10, 3.65), 0.03);
    assert_close(median_of(&r, r.truev, NCH, car8, (size_t)car), pow(10, 3.5), 0.08);
    assert_true(median_of(&r, r.truev, NCH, t4, (size_t)car) < 150);
    assert_true(median_of(&r, r.truev, NCH, dead, (size_t)viab) > 5000);
    assert_true(median_of(&r, r.truev, NCH, gran, (size_t)viab) < 500);
    assert_true(median_of(&r, r.truev, NCH, gran, 2) > 5 * median_of(&r, r.truev, NCH, t4, 2));
    assert_true(median_of(&r, r.truev, NCH, gran, (size_t)cd45) <
                median_of(&r, r.truev, NCH, t4, (size_t)cd45) / 3);
    /* Singlets: FSC-A/FSC-H ~ 1/0.92; doublets ~ 2 (1.5..2.2 by member sizes). */
    double *ratio = malloc((size_t)r.n * sizeof *ratio);
    for (int64_t i = 0; i < r.n; i++) ratio[i] = r.ev[i * r.np + 0] / r.ev[i * r.np + 1];
    double single = median_of(&r, ratio, 1, t4, 0), dratio = median_of(&r, ratio, 1, dbl, 0);
    assert_true(single > 1.03 && single < 1.15);
    assert_true(dratio > 1.5 && dratio < 2.3);
    free(ratio);
    /* Beads: brighter than any cell population in every fluorescence channel. */
    for (size_t ch = FL0; ch < FL0 + NFL; ch++) {
        double b = median_of(&r, r.ev, r.np, beads, ch);
        assert_true(b > 20000);
        for (int k = 0; k < 13; k++)
            if (k != beads && k != dbl && fcs_synth_count(m, (size_t)k) > 0)
                assert_true(median_of(&r, r.ev, r.np, k, ch) < b / 2);
    }
    free_run(&r);
    fcs_synth_model_free(m);
}

/* The basic 4-colour preset of the first fcs-synth: its layout, no
 * $SPILLOVER (identity), no bead keywords, 10000 events by share. */
static void test_basic_preset(void **state)
{
    (void)state;
    fcs_synth_model *m = preset("basic");
    const char *names[] = {"FSC-A", "FSC-H", "SSC-A", "FITC-A", "PE-A", "APC-A", "BV421-A", "Time"};
    const char *labels[] = {NULL, NULL, NULL, "CD3", "CD19", "CD4", "CD8", NULL};
    assert_int_equal(fcs_synth_n_channels(m), 8);
    for (size_t j = 0; j < 8; j++) {
        assert_string_equal(fcs_synth_channel_info(m, j)->name, names[j]);
        if (labels[j])
            assert_string_equal(fcs_synth_channel_info(m, j)->label, labels[j]);
        else
            assert_null(fcs_synth_channel_info(m, j)->label);
    }
    const int64_t want[7] = {800, 1500, 800, 500, 400, 1000, 5000};
    assert_int_equal(fcs_synth_n_populations(m), 7);
    for (size_t k = 0; k < 7; k++) assert_int_equal(fcs_synth_count(m, k), want[k]);
    assert_string_equal(fcs_synth_population_name(m, 1), "T CD4+");
    assert_int_equal(fcs_synth_bead_events(m), 0);
    assert_int_equal(fcs_synth_scale_to(m, 2000), FCS_OK);
    fcs_synth_opts o;
    fcs_synth_opts_init(&o);
    o.truth = 1;
    const char *path = tu_tmp_path("synth-basic.fcs");
    fcs_error err;
    assert_int_equal(fcs_synth_write(m, &o, path, NULL, &err), FCS_OK);
    fcs_reader *r;
    assert_int_equal(fcs_open(&r, path, NULL, &err), FCS_OK);
    assert_int_equal(fcs_n_params(r), 9);
    assert_null(fcs_keyword(r, "$SPILLOVER"));
    assert_null(fcs_spillover(r, NULL));
    assert_null(fcs_keyword(r, "LIBFCS_BEADS_PER_TEST"));
    assert_null(fcs_keyword(r, "$SMNO"));
    assert_string_equal(fcs_keyword(r, "LIBFCS_SYNTH_MODEL"), "blood-basic-1");
    assert_string_equal(fcs_keyword(r, "$P9R"), "8");
    assert_true(strncmp(fcs_keyword(r, "LIBFCS_SYNTH_POPULATIONS"), "1=debris,2=T CD4+,3=T CD8+", 26) ==
                0);
    fcs_close(r);
    unlink(path);
    /* Singlet pulse ratio 0.82 of this panel; CD3 bright on T cells only. */
    struct run x = run_model(m, 5, 1, 500);
    double *ratio = malloc((size_t)x.n * sizeof *ratio);
    for (int64_t i = 0; i < x.n; i++) ratio[i] = x.ev[i * x.np + 1] / x.ev[i * x.np + 0];
    assert_close(median_of(&x, ratio, 1, 1, 0), 0.82, 0.01);
    free(ratio);
    assert_true(median_of(&x, x.ev, x.np, 1, 3) > 3000 && median_of(&x, x.ev, x.np, 3, 3) < 400);
    free_run(&x);
    fcs_synth_model_free(m);
}

/* ---- spillover -------------------------------------------------------------------------- */

static fcs_comp *comp_for(const fcs_synth_model *m, const fcs_matrix *s, size_t np)
{
    const char *names[NCH + 1];
    for (size_t j = 0; j < np; j++)
        names[j] = j < NCH ? fcs_synth_channel_info(m, j)->name : "TruePopulation";
    fcs_comp *c;
    fcs_error err;
    assert_int_equal(fcs_comp_new(&c, s, names, NULL, np, NULL, &err), FCS_OK);
    assert_int_equal(fcs_comp_n_inputs(c), NFL);
    return c;
}

static void noise_off(fcs_synth_model *m)
{
    for (size_t j = 0; j < TIME; j++) assert_int_equal(fcs_synth_set_noise(m, j, 0, 0), FCS_OK);
    assert_int_equal(fcs_synth_set_noise(m, TIME, 0, 0), FCS_EINVAL);
    assert_int_equal(fcs_synth_set_noise(m, NCH, 0, 0), FCS_ERANGE);
    assert_int_equal(fcs_synth_set_noise(m, 3, -1, 0), FCS_EINVAL);
}

/* No event of the panel is clamped in these samples, except saturation in scatter. */
static int fluor_clamped(const fcs_synth_model *m, const double *ev)
{
    for (size_t j = FL0; j < FL0 + NFL; j++) {
        const fcs_synth_channel *c = fcs_synth_channel_info(m, j);
        if (ev[j] <= c->min || ev[j] >= c->max) return 1;
    }
    return 0;
}

static void test_spillover_applied(void **state)
{
    (void)state;
    fcs_synth_model *m = preset("day7");
    assert_int_equal(fcs_synth_scale_to(m, 5000), FCS_OK);
    noise_off(m);
    const fcs_matrix *s = fcs_synth_spillover(m);
    assert_int_equal(fcs_matrix_rows(s), NFL);
    assert_string_equal(fcs_matrix_name(s, 0), "FITC-A");
    assert_close(fcs_matrix_get(s, 0, 1), 0.22, 0); /* FITC into PE */
    struct run r = run_model(m, 5, 0, 4096);
    /* Observed = true x S exactly (no noise); check one channel by hand. */
    for (int64_t i = 0; i < 50; i++) {
        double o = 0;
        for (size_t j = 0; j < NFL; j++) o += r.truev[i * NCH + FL0 + j] * fcs_matrix_get(s, j, 1);
        assert_close(r.ev[i * r.np + FL0 + 1], o, 1e-12);
    }
    /* Compensating with the model's matrix gives back the true values. */
    fcs_comp *c = comp_for(m, s, r.np);
    assert_int_equal(fcs_comp_apply(c, r.ev, (size_t)r.n), FCS_OK);
    int64_t checked = 0;
    for (int64_t i = 0; i < r.n; i++) {
        for (size_t j = FL0; j < FL0 + NFL; j++)
            assert_close(r.ev[i * r.np + j], r.truev[i * NCH + j], 1e-9);
        checked++;
    }
    assert_int_equal(checked, 5000);
    fcs_comp_free(c);
    free_run(&r);
    fcs_synth_model_free(m);
}

/* Through a file: the $SPILLOVER the reader parses compensates the stored
 * float32 values back to the true ones (to float32 rounding). */
static void test_spillover_in_file(void **state)
{
    (void)state;
    fcs_synth_model *m = preset("healthy");
    assert_int_equal(fcs_synth_scale_to(m, 4000), FCS_OK);
    noise_off(m);
    fcs_synth_opts o;
    fcs_synth_opts_init(&o);
    o.seed = 99;
    o.truth = 1;
    const char *path = tu_tmp_path("synth-spill.fcs");
    fcs_error err;
    assert_int_equal(fcs_synth_write(m, &o, path, NULL, &err), FCS_OK);
    struct run r = run_model(m, 99, 1, 4096);

    fcs_reader *rd;
    assert_int_equal(fcs_open(&rd, path, NULL, &err), FCS_OK);
    assert_int_equal(fcs_n_events(rd), 4000);
    assert_int_equal(fcs_n_params(rd), NCH + 1);
    const char *kw;
    const fcs_matrix *fs = fcs_spillover(rd, &kw);
    assert_non_null(fs);
    assert_string_equal(kw, "$SPILLOVER");
    const fcs_matrix *ms = fcs_synth_spillover(m);
    for (size_t i = 0; i < NFL; i++) {
        assert_string_equal(fcs_matrix_name(fs, i), fcs_matrix_name(ms, i));
        for (size_t j = 0; j < NFL; j++)
            assert_true(fcs_matrix_get(fs, i, j) == fcs_matrix_get(ms, i, j));
    }
    double *buf = malloc(4000 * (NCH + 1) * sizeof *buf);
    assert_int_equal(fcs_read_events(rd, buf, 4000, FCS_VALUES_SCALED), 4000);
    for (int64_t i = 0; i < 4000 * (NCH + 1); i++) assert_true(buf[i] == (double)(float)r.ev[i]);
    fcs_comp *c = comp_for(m, fs, NCH + 1);
    assert_int_equal(fcs_comp_apply(c, buf, 4000), FCS_OK);
    for (int64_t i = 0; i < 4000; i++) {
        double big = 0;
        for (size_t j = FL0; j < FL0 + NFL; j++) big = fmax(big, fabs(r.ev[i * r.np + j]));
        /* float32 keeps 2^-24 of each stored value; S^-1 (kappa ~1.7) spreads it. */
        for (size_t j = FL0; j < FL0 + NFL; j++)
            assert_true(fabs(buf[i * (NCH + 1) + j] - r.truev[i * NCH + j]) <= 4e-7 * big);
        assert_true(buf[i * (NCH + 1) + NCH] == (double)(r.pop[i] + 1));
    }
    fcs_comp_free(c);
    free(buf);
    fcs_close(rd);
    unlink(path);
    free_run(&r);
    fcs_synth_model_free(m);
}

/* Detector noise: (observed - true x S) / sqrt(sd^2 + photon_var x signal)
 * is standard normal. */
static void test_noise(void **state)
{
    (void)state;
    fcs_synth_model *m = preset("baseline");
    assert_int_equal(fcs_synth_scale_to(m, 20000), FCS_OK);
    struct run r = run_model(m, 21, 0, 4096);
    const fcs_matrix *s = fcs_synth_spillover(m);
    double sum = 0, sum2 = 0;
    int64_t n = 0;
    for (int64_t i = 0; i < r.n; i++) {
        if (fluor_clamped(m, r.ev + i * r.np)) continue;
        for (size_t k = 0; k < NFL; k++) {
            const fcs_synth_channel *c = fcs_synth_channel_info(m, FL0 + k);
            double o = 0;
            for (size_t j = 0; j < NFL; j++) o += r.truev[i * NCH + FL0 + j] * fcs_matrix_get(s, j, k);
            double z = (r.ev[i * r.np + FL0 + k] - o) /
                       sqrt(c->noise_sd * c->noise_sd + c->photon_var * o);
            sum += z;
            sum2 += z * z;
            n++;
        }
    }
    assert_true(n > 190000);
    double mean = sum / n, sd = sqrt(sum2 / n - mean * mean);
    assert_true(fabs(mean) < 0.01);
    assert_true(fabs(sd - 1) < 0.01);
    /* Noise spreads the compensated negatives below zero, as real data do:
     * CD8- cells' true APC signal is ~32, its noise sd ~40 after spillover. */
    fcs_comp *c = comp_for(m, s, r.np);
    assert_int_equal(fcs_comp_apply(c, r.ev, (size_t)r.n), FCS_OK);
    int64_t negative = 0;
    for (int64_t i = 0; i < r.n; i++) negative += r.ev[i * r.np + FL0 + 4] < 0; /* APC */
    if (negative <= r.n / 40) print_message("negative APC: %lld of %lld\n", (long long)negative, (long long)r.n);
    assert_true(negative > r.n / 40);
    fcs_comp_free(c);
    free_run(&r);
    fcs_synth_model_free(m);
}

/* ---- the file ------------------------------------------------------------------------------ */

static void test_file_keywords(void **state)
{
    (void)state;
    fcs_synth_model *m = preset("day28");
    assert_int_equal(fcs_synth_scale_to(m, 2000), FCS_OK);
    fcs_synth_opts o;
    fcs_synth_opts_init(&o);
    o.seed = 12345678901234567890u;
    const char *path = tu_tmp_path("synth-kw.fcs");
    fcs_error err;
    assert_int_equal(fcs_synth_write(m, &o, path, NULL, &err), FCS_OK);
    fcs_reader *r;
    assert_int_equal(fcs_open(&r, path, NULL, &err), FCS_OK);
    assert_string_equal(fcs_version(r), "FCS3.1");
    assert_int_equal(fcs_n_params(r), NCH); /* no truth parameter */
    assert_int_equal(fcs_n_warnings(r), 0);
    assert_string_equal(fcs_param_info(r, 0)->name, "FSC-A");
    assert_string_equal(fcs_param_info(r, 6)->name, "PE-Cy7-A");
    assert_string_equal(fcs_param_info(r, 6)->label, "CD19");
    assert_null(fcs_param_info(r, 2)->label);
    assert_true(fcs_param_info(r, TIME)->is_time);
    assert_close(fcs_param_info(r, 3)->range, 262144, 0);
    assert_close(fcs_timestep(r), 0.01, 0);
    assert_string_equal(fcs_keyword(r, "LIBFCS_SYNTH_PRESET"), "day28");
    assert_string_equal(fcs_keyword(r, "LIBFCS_SYNTH_SEED"), "12345678901234567890");
    assert_string_equal(fcs_keyword(r, "LIBFCS_SYNTH_DAY"), "28");
    assert_string_equal(fcs_keyword(r, "$DATE"), "01-APR-2024");
    assert_non_null(fcs_keyword(r, "$SMNO"));
    assert_non_null(fcs_keyword(r, "$CYT"));
    const char *pops = fcs_keyword(r, "LIBFCS_SYNTH_POPULATIONS");
    assert_non_null(pops);
    assert_true(strncmp(pops, "1=debris,2=doublets,3=dead,4=granulocytes,", 42) == 0);
    assert_non_null(strstr(pops, ",13=beads"));
    /* Counts keyword: the scaled counts, summing to 2000. */
    const char *counts = fcs_keyword(r, "LIBFCS_SYNTH_COUNTS");
    int64_t total = 0;
    for (const char *p = counts; p && *p;) {
        const char *eq = strchr(p, '=');
        assert_non_null(eq);
        total += strtoll(eq + 1, (char **)&p, 10);
        if (*p == ',') p++;
    }
    assert_int_equal(total, 2000);
    /* The bead lot as fcs-stats reads it. */
    fcs_bead_lot lot;
    assert_int_equal(fcs_bead_lot_from_keywords(r, &lot, &err), FCS_OK);
    assert_close(lot.beads_per_test, 51800, 0);
    assert_close(lot.volume_ul, 50, 0);
    assert_string_equal(lot.lot, fcs_synth_bead_lot(m));
    fcs_close(r);
    unlink(path);
    fcs_synth_model_free(m);
}

/* ---- the model API -------------------------------------------------------------------------- */

static void test_model_edits(void **state)
{
    (void)state;
    fcs_error err;
    fcs_synth_model *m = preset(NULL);
    int t4 = pop(m, "t-cd4"); /* case-insensitive */
    int k = fcs_synth_add_population(m, "gd-T", FCS_SYNTH_CELL, 60, t4, &err);
    assert_int_equal(k, 13);
    assert_string_equal(fcs_synth_population_name(m, 13), "gd-T");
    int dist;
    double a, b;
    assert_int_equal(fcs_synth_get_signal(m, 13, 9, &dist, &a, &b), FCS_OK); /* CD4 */
    assert_int_equal(dist, FCS_SYNTH_LOGNORMAL);
    assert_close(a, 3.7, 0);
    /* Make it CD4-negative and CD8-dim, and only that population. */
    assert_int_equal(fcs_synth_set_signal(m, 13, 9, FCS_SYNTH_LOGNORMAL, 1.6, 0.2), FCS_OK);
    assert_int_equal(fcs_synth_set_signal(m, 13, 7, FCS_SYNTH_LOGNORMAL, 3.0, 0.1), FCS_OK);
    assert_int_equal(fcs_synth_set_signal(m, 13, 1, FCS_SYNTH_NORMAL, 1, 1), FCS_EINVAL);
    assert_int_equal(fcs_synth_set_signal(m, 13, TIME, FCS_SYNTH_NORMAL, 1, 1), FCS_EINVAL);
    assert_int_equal(fcs_synth_set_signal(m, 13, 3, FCS_SYNTH_LOGNORMAL, 9, 1), FCS_ERANGE);
    assert_int_equal(fcs_synth_set_signal(m, 13, 3, FCS_SYNTH_NORMAL, 1, -1), FCS_EINVAL);
    assert_int_equal(fcs_synth_set_signal(m, 14, 3, FCS_SYNTH_NORMAL, 1, 1), FCS_ERANGE);
    assert_int_equal(fcs_synth_set_signal(m, 13, 3, 7, 1, 1), FCS_EINVAL);
    fcs_synth_model *copy = fcs_synth_model_copy(m);
    assert_int_equal(fcs_synth_set_count(m, 13, 0), FCS_OK); /* the copy keeps 60 */
    struct run r = run_model(copy, 1, 1, 64);
    assert_int_equal(r.n, 60);
    for (int64_t i = 0; i < r.n; i++) {
        assert_int_equal(r.pop[i], 13);
        assert_true(r.ev[i * r.np + NCH] == 14);
    }
    assert_close(median_of(&r, r.truev, NCH, 13, 7), 1000, 0.1);
    free_run(&r);
    /* A default template: negative for every marker. */
    k = fcs_synth_add_population(m, "odd cells", FCS_SYNTH_DEAD, 1, -1, &err);
    assert_int_equal(k, 14);
    assert_int_equal(fcs_synth_population_kind(m, 14), FCS_SYNTH_DEAD);
    assert_int_equal(fcs_synth_get_signal(m, 14, 8, NULL, &a, &b), FCS_OK); /* CD3 */
    assert_close(a, 1.5, 0);
    assert_close(b, 0.2, 0);
    /* Bad names, duplicates, kinds, templates. */
    assert_int_equal(fcs_synth_add_population(m, "a,b", 0, 1, -1, &err), FCS_EINVAL);
    assert_int_equal(fcs_synth_add_population(m, "a=b", 0, 1, -1, &err), FCS_EINVAL);
    assert_int_equal(fcs_synth_add_population(m, "", 0, 1, -1, &err), FCS_EINVAL);
    assert_int_equal(fcs_synth_add_population(m, "GD-t", 0, 1, -1, &err), FCS_EINVAL);
    assert_non_null(strstr(err.msg, "GD-t"));
    assert_int_equal(fcs_synth_add_population(m, "x", 9, 1, -1, &err), FCS_EINVAL);
    assert_int_equal(fcs_synth_add_population(m, "x", 0, 1, 99, &err), FCS_ERANGE);
    assert_int_equal(fcs_synth_add_population(m, "x", 0, -1, -1, &err), FCS_ERANGE);
    /* Counts by name. */
    assert_int_equal(fcs_synth_set_count_by_name(m, "beads", 10, &err), FCS_OK);
    assert_int_equal(fcs_synth_count(m, 12), 10);
    assert_int_equal(fcs_synth_set_count_by_name(m, "bead", 10, &err), FCS_ENOTFOUND);
    assert_non_null(strstr(err.msg, "CAR-T-CD8"));
    assert_int_equal(fcs_synth_set_count_by_name(m, "beads", -2, &err), FCS_ERANGE);
    assert_int_equal(fcs_synth_set_count(m, 99, 1), FCS_ERANGE);
    assert_int_equal(fcs_synth_set_count(m, 0, (INT64_C(1) << 40) + 1), FCS_ERANGE);
    assert_int_equal(fcs_synth_count(m, 99), -1);
    assert_int_equal(fcs_synth_population_kind(m, 99), -1);
    assert_null(fcs_synth_population_name(m, 99));
    fcs_synth_model_free(copy);
    fcs_synth_model_free(m);
}

static void test_set_spillover(void **state)
{
    (void)state;
    fcs_error err;
    fcs_synth_model *m = preset(NULL);
    fcs_matrix *s = fcs_matrix_new(2, 2);
    assert_int_equal(fcs_matrix_set_name(s, 0, "PE"), FCS_OK); /* neither $PnN nor marker */
    assert_int_equal(fcs_synth_set_spillover(m, s, &err), FCS_ENOTFOUND);
    assert_non_null(strstr(err.msg, "PE"));
    assert_int_equal(fcs_matrix_set_name(s, 0, "CD20"), FCS_OK); /* by marker */
    assert_int_equal(fcs_matrix_set_name(s, 1, "fitc-a"), FCS_OK);
    fcs_matrix_set(s, 0, 0, 1);
    fcs_matrix_set(s, 1, 1, 1);
    fcs_matrix_set(s, 1, 0, 0.3); /* FITC into PE */
    assert_int_equal(fcs_synth_set_spillover(m, s, &err), FCS_OK);
    const fcs_matrix *got = fcs_synth_spillover(m);
    for (size_t i = 0; i < NFL; i++)
        for (size_t j = 0; j < NFL; j++) {
            double want = i == j ? 1 : (i == 0 && j == 1 ? 0.3 : 0);
            assert_true(fcs_matrix_get(got, i, j) == want);
        }
    fcs_matrix_set(s, 1, 1, 0);
    assert_int_equal(fcs_synth_set_spillover(m, s, &err), FCS_EINVAL);
    fcs_matrix_set(s, 1, 1, 1);
    fcs_matrix_set(s, 0, 1, NAN);
    assert_int_equal(fcs_synth_set_spillover(m, s, &err), FCS_EINVAL);
    fcs_matrix_set(s, 0, 1, 0);
    assert_int_equal(fcs_matrix_set_name(s, 1, "PE-A"), FCS_OK); /* twice */
    assert_int_equal(fcs_synth_set_spillover(m, s, &err), FCS_EINVAL);
    assert_int_equal(fcs_matrix_set_name(s, 1, "FSC-A"), FCS_OK); /* not fluorescence */
    assert_int_equal(fcs_synth_set_spillover(m, s, &err), FCS_ENOTFOUND);
    /* The model kept the last good matrix. */
    assert_true(fcs_matrix_get(fcs_synth_spillover(m), 0, 1) == 0.3);
    fcs_matrix_free(s);
    fcs_synth_model_free(m);
}

static void test_acquisition_and_keywords(void **state)
{
    (void)state;
    fcs_error err;
    fcs_synth_model *m = preset("healthy");
    fcs_synth_acquisition a;
    fcs_synth_get_acquisition(m, &a);
    assert_close(a.event_rate, 2000, 0);
    assert_close(a.timestep, 0.01, 0);
    a.drift = -1;
    assert_int_equal(fcs_synth_set_acquisition(m, &a, &err), FCS_EINVAL);
    assert_non_null(strstr(err.msg, "drift"));
    fcs_synth_get_acquisition(m, &a);
    a.event_rate = 0;
    assert_int_equal(fcs_synth_set_acquisition(m, &a, &err), FCS_EINVAL);
    assert_non_null(strstr(err.msg, "event_rate"));
    fcs_synth_get_acquisition(m, &a);
    a.size_correlation = 1.5;
    assert_int_equal(fcs_synth_set_acquisition(m, &a, &err), FCS_EINVAL);
    /* Keywords: presets set the sample's; generator-owned ones are refused. */
    assert_string_equal(fcs_synth_keyword(m, "$smno"), "HD01");
    assert_null(fcs_synth_keyword(m, "LIBFCS_SYNTH_DAY"));
    assert_int_equal(fcs_synth_set_keyword(m, "$SPILLOVER", "x"), FCS_EINVAL);
    assert_int_equal(fcs_synth_set_keyword(m, "LIBFCS_SYNTH_SEED", "1"), FCS_EINVAL);
    assert_int_equal(fcs_synth_set_keyword(m, "$P3S", "x"), FCS_EINVAL);
    assert_int_equal(fcs_synth_set_keyword(m, " X", "x"), FCS_EINVAL);
    assert_int_equal(fcs_synth_set_keyword(m, "$PROJ", "CAR-T SLE"), FCS_OK);
    assert_int_equal(fcs_synth_set_keyword(m, "$proj", "CAR-T lupus"), FCS_OK);
    assert_string_equal(fcs_synth_keyword(m, "$PROJ"), "CAR-T lupus");
    assert_int_equal(fcs_synth_set_keyword(m, "$SMNO", NULL), FCS_OK);
    assert_null(fcs_synth_keyword(m, "$SMNO"));
    fcs_synth_model_free(m);
}

/* Drift: fluorescence grows by 1 + drift x t/T over the run. */
static void test_drift(void **state)
{
    (void)state;
    fcs_error err;
    fcs_synth_model *m = preset(NULL);
    assert_int_equal(fcs_synth_set_count_by_name(m, "beads", 20000, &err), FCS_OK);
    fcs_synth_acquisition a;
    fcs_synth_get_acquisition(m, &a);
    a.drift = 0.5;
    assert_int_equal(fcs_synth_set_acquisition(m, &a, &err), FCS_OK);
    struct run r = run_model(m, 2, 0, 4096);
    double early = 0, late = 0;
    int ne = 0, nl = 0;
    for (int64_t i = 0; i < r.n; i++) {
        if (i < r.n / 10) early += r.truev[i * NCH + FL0], ne++;
        if (i >= r.n - r.n / 10) late += r.truev[i * NCH + FL0], nl++;
    }
    /* Means over the first and last tenth: (1 + 0.5 x 0.95) / (1 + 0.5 x 0.05). */
    assert_close((late / nl) / (early / ne), 1.475 / 1.025, 0.02);
    free_run(&r);
    fcs_synth_model_free(m);
}

static void test_generator_errors(void **state)
{
    (void)state;
    fcs_error err;
    fcs_synth *g = NULL;
    fcs_synth_model *m = preset(NULL);
    /* Doublets without cells to make them of. */
    assert_int_equal(fcs_synth_set_count_by_name(m, "doublets", 5, &err), FCS_OK);
    assert_int_equal(fcs_synth_set_count_by_name(m, "debris", 5, &err), FCS_OK);
    assert_int_equal(fcs_synth_new(&g, m, NULL, &err), FCS_EINVAL);
    assert_null(g);
    assert_non_null(strstr(err.msg, "doublets"));
    assert_int_equal(fcs_synth_set_count_by_name(m, "doublets", 0, &err), FCS_OK);
    assert_int_equal(fcs_synth_new(&g, m, NULL, &err), FCS_OK);
    assert_int_equal(fcs_synth_n_params(g), NCH);
    assert_close(fcs_synth_time_range(g), 262144, 0);
    assert_int_equal(fcs_synth_next(g, NULL, 5, NULL, NULL), FCS_EINVAL);
    assert_int_equal(fcs_synth_next(g, NULL, 0, NULL, NULL), 0);
    assert_int_equal(fcs_synth_model_of(g) != m, 1);
    fcs_synth_free(g);
    fcs_synth_free(NULL);
    fcs_synth_model_free(NULL);
    assert_null(fcs_synth_model_copy(NULL));
    /* An empty model writes a valid empty file. */
    assert_int_equal(fcs_synth_set_count_by_name(m, "debris", 0, &err), FCS_OK);
    const char *path = tu_tmp_path("synth-empty.fcs");
    assert_int_equal(fcs_synth_write(m, NULL, path, NULL, &err), FCS_OK);
    fcs_reader *r;
    assert_int_equal(fcs_open(&r, path, NULL, &err), FCS_OK);
    assert_int_equal(fcs_n_events(r), 0);
    fcs_close(r);
    unlink(path);
    /* A folder that does not exist: the writer's error. */
    assert_int_not_equal(fcs_synth_write(m, NULL, "/nonexistent-dir/x.fcs", NULL, &err), FCS_OK);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/x.fcs"));
    /* Time's range grows for long runs: 10^7 events at 2000/s = 5000 s =
     * 500000 units, x1.5 = 750000 -> 1048576. */
    assert_int_equal(fcs_synth_set_count_by_name(m, "beads", 10000000, &err), FCS_OK);
    assert_int_equal(fcs_synth_new(&g, m, NULL, &err), FCS_OK);
    assert_close(fcs_synth_time_range(g), 1048576, 0);
    fcs_synth_free(g);
    fcs_synth_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_presets),
        cmocka_unit_test(test_absolute_counts),
        cmocka_unit_test(test_time_course),
        cmocka_unit_test(test_counts_exact),
        cmocka_unit_test(test_scale_to),
        cmocka_unit_test(test_reproducible),
        cmocka_unit_test(test_det_math),
        cmocka_unit_test(test_values_in_range),
        cmocka_unit_test(test_phenotypes),
        cmocka_unit_test(test_basic_preset),
        cmocka_unit_test(test_spillover_applied),
        cmocka_unit_test(test_spillover_in_file),
        cmocka_unit_test(test_noise),
        cmocka_unit_test(test_file_keywords),
        cmocka_unit_test(test_model_edits),
        cmocka_unit_test(test_set_spillover),
        cmocka_unit_test(test_acquisition_and_keywords),
        cmocka_unit_test(test_drift),
        cmocka_unit_test(test_generator_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
