/*
 * fuzz_summary.c — libFuzzer harness for what fcs-stats parses and computes
 * from untrusted input: bead-lot files, statistic names, and the statistics
 * of arbitrary event values (NaN, Inf, subnormals, ties) over arbitrary
 * membership columns, then the in-memory summary built from them. Every
 * percentile is checked against a full sort (an oracle: a mismatch aborts).
 * (HDF5's own file parser is not ours to fuzz; the reader's refusal of
 * foreign, truncated and damaged files is tested in test_summary.c.)
 *
 * Input layout: byte 0 selects the mode (bead-lot text / statistic name /
 * events); for events, byte 1 = number of parameters (1..8), then float32
 * values, event by event.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcs/fcs.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double type7(const double *v, size_t n, double p)
{
    double h = (double)(n - 1) * (p / 100);
    size_t lo = (size_t)floor(h);
    if (lo + 1 >= n) return v[n - 1];
    double a = v[lo], b = v[lo + 1], t = h - (double)lo;
    return t >= 0.5 ? b - (b - a) * (1 - t) : a + (b - a) * t;
}

static void text_modes(const uint8_t *data, size_t size, int mode)
{
    char *t = malloc(size + 1);
    if (!t) return;
    memcpy(t, data, size);
    t[size] = '\0';
    if (mode == 0) {
        fcs_bead_lot lot;
        fcs_error err;
        if (fcs_bead_lot_parse(t, size, "fuzz", &lot, &err) == FCS_OK &&
            !(lot.beads_per_test > 0 && lot.volume_ul > 0))
            abort();
    } else {
        fcs_stat_spec s;
        char buf[64];
        if (fcs_stat_parse(t, &s, NULL) == FCS_OK) {
            fcs_stat_name(&s, buf, sizeof buf);
            fcs_stat_spec back;
            if (fcs_stat_parse(buf, &back, NULL) != FCS_OK || back.kind != s.kind ||
                back.percentile != s.percentile)
                abort(); /* the canonical name reads back */
        }
    }
    free(t);
}

/* Check population p's channel-0 percentiles against a sort of its values. */
static void oracle(const fcs_stats *s, const float *ev, size_t n, size_t np, int pop_param,
                   const fcs_stat_spec *sp, size_t nsp)
{
    double *v = malloc((n + 1) * sizeof *v);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        double x = ev[i * np];
        if (pop_param >= 0 && !(ev[i * np + (size_t)pop_param] >= 0.5)) continue;
        if (isfinite(x)) v[m++] = x == 0 ? 0 : x;
    }
    qsort(v, m, sizeof *v, cmp_double);
    for (size_t k = 0; k < nsp; k++) {
        double got = fcs_stats_value(s, pop_param >= 0 ? 1 : 0, 0, &sp[k]);
        double want = m ? type7(v, m, sp[k].percentile) : NAN;
        if (!(got == want || (isnan(got) && isnan(want)))) {
            fprintf(stderr, "p%g: got %.17g want %.17g (m %zu)\n", sp[k].percentile, got, want, m);
            abort();
        }
    }
    free(v);
}

static void events_mode(const uint8_t *data, size_t size)
{
    if (size < 2) return;
    size_t np = 1 + data[1] % 8, n = (size - 2) / (4 * np);
    float *ev = malloc((n * np + 1) * sizeof *ev);
    if (!ev) return;
    memcpy(ev, data + 2, n * np * sizeof *ev);
    fcs_stat_spec sp[6];
    const char *names[6] = {"p0", "p15.87", "median", "p84.13", "p100", "p33.3"};
    for (int i = 0; i < 6; i++) fcs_stat_parse(names[i], &sp[i], NULL);
    fcs_stat_spec all[11];
    memcpy(all, sp, sizeof sp);
    const char *more[5] = {"mean", "sd", "cv", "geomean", "rcv"};
    for (int i = 0; i < 5; i++) fcs_stat_parse(more[i], &all[6 + i], NULL);
    fcs_stats_opts o;
    fcs_stats_opts_init(&o);
    o.stats = all;
    o.n_stats = 11;
    o.f32 = data[1] & 8 ? 0 : 1;
    fcs_stats *s;
    if (fcs_stats_new(&s, np, &o, NULL) != FCS_OK) abort();
    int pop_param = np > 1 ? 1 : -1;
    if (np > 1 && fcs_stats_add_population(s, "/A", "/", 1, FCS_STATS_BOOLEAN) != 1) abort();
    if (np > 2 && fcs_stats_add_population(s, "/A/B", "/A", 2, FCS_STATS_BOOLEAN) != 2) abort();
    if (fcs_stats_add_channel(s, 0, "X", NULL, NULL, NULL) != 0) abort();
    if (np > 3 && fcs_stats_add_channel(s, 3, "Y", "m", "u", NULL) != 1) abort();
    if (np > 2) (void)fcs_stats_set_beads(s, 2, 1000, 50);
    for (size_t done = 0; done < n;) {
        size_t k = (size_t)(data[0] >> 2) + 1;
        if (k > n - done) k = n - done;
        if (fcs_stats_push_f32(s, ev + done * np, k) != FCS_OK) abort();
        done += k;
    }
    if (fcs_stats_finish(s) != FCS_OK) abort();
    oracle(s, ev, n, np, -1, sp, 6);
    if (pop_param >= 0) oracle(s, ev, n, np, pop_param, sp, 6);
    for (size_t p = 0; p + 1 < fcs_stats_n_populations(s); p++)
        if (fcs_stats_count(s, p + 1) > fcs_stats_count(s, p)) abort(); /* nesting */
    fcs_summary *sum;
    if (fcs_summary_new(&sum, NULL) == FCS_OK) {
        fcs_summary_sample d;
        fcs_summary_sample_init(&d);
        d.id = "fuzz";
        d.sha256 = "0000000000000000000000000000000000000000000000000000000000000000";
        if (fcs_summary_add(sum, &d, s, 0) != FCS_OK) abort();
        if (fcs_summary_add(sum, &d, s, 0) != FCS_EINVAL) abort(); /* duplicate */
        if (fcs_summary_add(sum, &d, s, FCS_SUMMARY_REPLACE) != FCS_OK) abort();
        for (size_t i = 0; i < fcs_summary_n_rows(sum); i++) {
            fcs_summary_row r;
            if (fcs_summary_row_info(sum, i, &r) != FCS_OK || !r.sample || !r.statistic) abort();
        }
        fcs_summary_free(sum);
    }
    fcs_stats_free(s);
    free(ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int mode = data[0] % 3;
    if (mode == 2) events_mode(data, size);
    else text_modes(data + 1, size - 1, mode);
    return 0;
}
