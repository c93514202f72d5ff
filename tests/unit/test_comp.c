/* test_comp.c — compensation, decompensation and spectral unmixing, with
 * hand-computed inverses and least-squares solutions. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcs/comp.h"
#include "fcs/reader.h"

static fcs_matrix *square(size_t n, const double *v, const char *const *names)
{
    fcs_matrix *m = fcs_matrix_new(n, n);
    assert_non_null(m);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) fcs_matrix_set(m, i, j, v[i * n + j]);
        assert_int_equal(fcs_matrix_set_name(m, i, names[i]), FCS_OK);
    }
    return m;
}

static fcs_matrix *rect(size_t r, size_t c, const double *v, const char *const *rnames,
                        const char *const *cnames)
{
    fcs_matrix *m = fcs_matrix_new(r, c);
    assert_non_null(m);
    for (size_t i = 0; i < r; i++) {
        for (size_t j = 0; j < c; j++) fcs_matrix_set(m, i, j, v[i * c + j]);
        if (rnames) assert_int_equal(fcs_matrix_set_row_name(m, i, rnames[i]), FCS_OK);
    }
    for (size_t j = 0; j < c; j++) assert_int_equal(fcs_matrix_set_name(m, j, cnames[j]), FCS_OK);
    return m;
}

static fcs_comp *make(const fcs_matrix *m, const char *const *names, size_t np)
{
    fcs_comp *c = NULL;
    fcs_error err = {0};
    int rc = fcs_comp_new(&c, m, names, NULL, np, NULL, &err);
    if (rc != FCS_OK) fail_msg("fcs_comp_new: %d %s", rc, err.msg);
    return c;
}

/* ---- square compensation by hand ------------------------------------------------- */

/* S = [[1,0.2],[0.1,1]], det 0.98, S^-1 = [[1,-0.2],[-0.1,1]]/0.98.
 * True t = (100, 50): observed o = t S = (105, 70). */
static const double S2[] = {1, 0.2, 0.1, 1};
static const char *const AB[] = {"A", "B"};
static const char *const P4[] = {"FSC-A", "A", "B", "Time"};

static void test_2x2_rows_with_passthrough(void **state)
{
    (void)state;
    fcs_matrix *m = square(2, S2, AB);
    fcs_comp *c = make(m, P4, 4);
    assert_int_equal(fcs_comp_is_spectral(c), 0);
    assert_int_equal(fcs_comp_n_inputs(c), 2);
    assert_int_equal(fcs_comp_n_outputs(c), 2);
    assert_int_equal(fcs_comp_n_params(c), 4);
    assert_int_equal(fcs_comp_input_param(c, 0), 1);
    assert_int_equal(fcs_comp_input_param(c, 1), 2);
    assert_int_equal(fcs_comp_input_param(c, 2), -1);
    assert_string_equal(fcs_comp_output_name(c, 1), "B");
    assert_int_equal(fcs_comp_n_warnings(c), 0);
    /* ||S||_1 = 1.2, ||S^-1||_1 = 1.2/0.98 */
    assert_close(fcs_comp_condition(c), 1.44 / 0.98, 1e-14);

    double ev[] = {7, 105, 70, 3.5, /* event 2: t = (0, 10) -> o = (1, 10) */ -2, 1, 10, 9};
    assert_int_equal(fcs_comp_apply(c, ev, 2), FCS_OK);
    assert_true(ev[0] == 7 && ev[3] == 3.5 && ev[4] == -2 && ev[7] == 9); /* untouched */
    assert_close(ev[1], 100, 1e-14);
    assert_close(ev[2], 50, 1e-14);
    assert_close(ev[5], 0, 1e-14);
    assert_close(ev[6], 10, 1e-14);

    /* decompensation is the inverse: back to (105, 70) */
    assert_int_equal(fcs_comp_decompensate(c, ev, 2), FCS_OK);
    assert_close(ev[1], 105, 1e-14);
    assert_close(ev[2], 70, 1e-14);
    assert_close(ev[5], 1, 1e-14);
    assert_true(ev[0] == 7 && ev[3] == 3.5);
    fcs_comp_free(c);
    fcs_matrix_free(m);
}

static void test_2x2_columns(void **state)
{
    (void)state;
    fcs_matrix *m = square(2, S2, AB);
    fcs_comp *c = make(m, P4, 4);
    /* 2 events in a chunk of capacity 3: column j at buf[j*3 + i]; slot 2 unused */
    double buf[12] = {7, -2, 99, 105, 1, 99, 70, 10, 99, 3.5, 9, 99};
    assert_int_equal(fcs_comp_apply_columns(c, buf, 2, 3), FCS_OK);
    assert_close(buf[3], 100, 1e-14);
    assert_close(buf[4], 0, 1e-14);
    assert_close(buf[6], 50, 1e-14);
    assert_close(buf[7], 10, 1e-14);
    assert_true(buf[2] == 99 && buf[5] == 99 && buf[8] == 99 && buf[11] == 99);
    assert_true(buf[0] == 7 && buf[9] == 3.5);
    assert_int_equal(fcs_comp_decompensate_columns(c, buf, 2, 3), FCS_OK);
    assert_close(buf[3], 105, 1e-14);
    assert_close(buf[7], 10, 1e-14);
    assert_int_equal(fcs_comp_apply_columns(c, buf, 3, 2), FCS_EINVAL); /* stride < n */
    double small[8] = {0, 0, 105, 1, 70, 10, 0, 0};
    assert_int_equal(fcs_comp_apply_columns(c, small, 2, 0), FCS_OK); /* 0 = n_events */
    assert_close(small[2], 100, 1e-14);
    assert_close(small[5], 10, 1e-14);
    fcs_comp_free(c);
    fcs_matrix_free(m);
}

static void test_3x3_upper_by_hand(void **state)
{
    (void)state;
    /* S = I + N (0.5 on the superdiagonal): S^-1 = I - N + N^2 =
     * [[1,-0.5,0.25],[0,1,-0.5],[0,0,1]]. t = (8,4,2) -> o = t S = (8,8,4). */
    static const double s[] = {1, 0.5, 0, 0, 1, 0.5, 0, 0, 1};
    static const char *const n3[] = {"X", "Y", "Z"};
    fcs_matrix *m = square(3, s, n3);
    fcs_comp *c = make(m, n3, 3);
    double ev[] = {8, 8, 4};
    assert_int_equal(fcs_comp_apply(c, ev, 1), FCS_OK);
    assert_close(ev[0], 8, 1e-15);
    assert_close(ev[1], 4, 1e-15);
    assert_close(ev[2], 2, 1e-15);
    /* ||S||_1 = 1.5; ||S^-1||_1 = max(1, 1.5, 1.75) = 1.75 */
    assert_close(fcs_comp_condition(c), 1.5 * 1.75, 1e-14);
    fcs_comp_free(c);
    fcs_matrix_free(m);
}

static void test_3x3_needs_pivoting(void **state)
{
    (void)state;
    /* a zero first pivot: S = [[0,1,0],[1,0,0],[0,0,2]], S^-1 = [[0,1,0],[1,0,0],[0,0,0.5]].
     * t = (1,2,3) -> o = t S = (2,1,6). An unpivoted elimination divides by 0. */
    static const double s[] = {0, 1, 0, 1, 0, 0, 0, 0, 2};
    static const char *const n3[] = {"X", "Y", "Z"};
    fcs_matrix *m = square(3, s, n3);
    fcs_comp *c = make(m, n3, 3);
    double ev[] = {2, 1, 6};
    assert_int_equal(fcs_comp_apply(c, ev, 1), FCS_OK);
    assert_true(ev[0] == 1 && ev[1] == 2 && ev[2] == 3);
    fcs_comp_free(c);
    fcs_matrix_free(m);
}

/* Many events through the blocked product (non-multiple of the block size),
 * against a naive o = t S computed here. */
static void test_many_events_both_layouts(void **state)
{
    (void)state;
    enum { N = 1000, K = 5, NP = 7 };
    double s[K * K];
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++) s[i * K + j] = i == j ? 1 : 0.01 * ((i * 7 + j * 3) % 11);
    static const char *const kn[] = {"c0", "c1", "c2", "c3", "c4"};
    /* matrix channels in a different order than the parameters */
    static const char *const pn[] = {"c3", "t", "c0", "c4", "c1", "c2", "u"};
    fcs_matrix *m = square(K, s, kn);
    fcs_comp *c = make(m, pn, NP);
    static const int where[K] = {2, 4, 5, 0, 3}; /* parameter of channel ci */
    double *truth = malloc(N * K * sizeof *truth);
    double *rows = malloc(N * NP * sizeof *rows), *cols = malloc(N * NP * sizeof *cols);
    srand(42);
    for (int e = 0; e < N; e++) {
        for (int i = 0; i < K; i++) truth[e * K + i] = (rand() % 100000) / 7.0 - 2000;
        rows[e * NP + 1] = e, rows[e * NP + 6] = -e;
        for (int j = 0; j < K; j++) {
            double o = 0;
            for (int i = 0; i < K; i++) o += truth[e * K + i] * s[i * K + j];
            rows[e * NP + where[j]] = o;
        }
    }
    for (int e = 0; e < N; e++)
        for (int p = 0; p < NP; p++) cols[p * N + e] = rows[e * NP + p];
    assert_int_equal(fcs_comp_apply(c, rows, N), FCS_OK);
    assert_int_equal(fcs_comp_apply_columns(c, cols, N, N), FCS_OK);
    for (int e = 0; e < N; e++) {
        assert_true(rows[e * NP + 1] == e && rows[e * NP + 6] == -e);
        for (int i = 0; i < K; i++) {
            assert_close(rows[e * NP + where[i]], truth[e * K + i], 1e-12);
            assert_true(cols[where[i] * N + e] == rows[e * NP + where[i]]);
        }
    }
    free(truth);
    free(rows);
    free(cols);
    fcs_comp_free(c);
    fcs_matrix_free(m);
}

/* ---- partial matrices and name matching ------------------------------------------------ */

static void test_partial_and_unmatched(void **state)
{
    (void)state;
    /* X matches nothing but is decoupled: left out with a warning */
    static const double s[] = {1, 0, 0.2, 0, 1, 0, 0.1, 0, 1};
    static const char *const n3[] = {"A", "X", "B"};
    fcs_matrix *m = square(3, s, n3);
    fcs_comp *c = make(m, P4, 4);
    assert_int_equal(fcs_comp_n_inputs(c), 2);
    assert_int_equal(fcs_comp_n_warnings(c), 1);
    assert_non_null(strstr(fcs_comp_warning(c, 0), "comp-unmatched-channel: 'X'"));
    assert_string_equal(fcs_comp_warning(c, 1), "");
    const fcs_matrix *used = fcs_comp_matrix(c);
    assert_int_equal(fcs_matrix_rows(used), 2);
    assert_string_equal(fcs_matrix_name(used, 1), "B");
    assert_true(fcs_matrix_get(used, 0, 1) == 0.2 && fcs_matrix_get(used, 1, 0) == 0.1);
    double ev[] = {7, 105, 70, 3.5};
    assert_int_equal(fcs_comp_apply(c, ev, 1), FCS_OK);
    assert_close(ev[1], 100, 1e-14);
    assert_close(ev[2], 50, 1e-14);
    fcs_comp_free(c);

    /* strict_names refuses it */
    fcs_comp_opts o;
    fcs_comp_opts_init(&o);
    o.strict_names = 1;
    fcs_error err;
    assert_int_equal(fcs_comp_new(&c, m, P4, NULL, 4, &o, &err), FCS_ENOTFOUND);
    assert_null(c);
    assert_non_null(strstr(err.msg, "'X' matches no $PnN"));
    fcs_matrix_free(m);

    /* X coupled to A: refused even by default */
    static const double s2[] = {1, 0.05, 0.2, 0, 1, 0, 0.1, 0, 1};
    m = square(3, s2, n3);
    assert_int_equal(fcs_comp_new(&c, m, P4, NULL, 4, NULL, &err), FCS_ENOTFOUND);
    assert_non_null(strstr(err.msg, "coupled to other channels"));
    fcs_matrix_free(m);

    /* nothing matches */
    static const char *const xy[] = {"X", "Y"};
    m = square(2, S2, xy);
    assert_int_equal(fcs_comp_new(&c, m, P4, NULL, 4, NULL, &err), FCS_ENOTFOUND);
    assert_non_null(strstr(err.msg, "coupled")); /* X is coupled to Y */
    static const double id[] = {1, 0, 0, 1};
    fcs_matrix_free(m);
    m = square(2, id, xy);
    assert_int_equal(fcs_comp_new(&c, m, P4, NULL, 4, NULL, &err), FCS_ENOTFOUND);
    assert_non_null(strstr(err.msg, "none of the 2 matrix channels"));
    fcs_matrix_free(m);
}

static void test_name_matching_rules(void **state)
{
    (void)state;
    fcs_matrix *m = square(2, S2, (const char *const[]){"cd3", "CD4"});
    const char *names[] = {"FL1-A", "FL2-A", NULL};
    const char *labels[] = {"CD3", "CD4", "x"};
    fcs_comp *c = NULL;
    fcs_error err;
    assert_int_equal(fcs_comp_new(&c, m, names, labels, 3, NULL, &err), FCS_ENOTFOUND);
    fcs_comp_opts o;
    fcs_comp_opts_init(&o);
    o.match_labels = 1;
    assert_int_equal(fcs_comp_new(&c, m, names, labels, 3, &o, &err), FCS_OK);
    assert_int_equal(fcs_comp_input_param(c, 0), 0); /* "cd3" = $P1S ignoring case */
    assert_int_equal(fcs_comp_input_param(c, 1), 1);
    fcs_comp_free(c);
    fcs_matrix_free(m);

    /* $PnN beats $PnS; case-insensitive $PnN */
    m = square(2, S2, (const char *const[]){"fl2-a", "CD3"});
    const char *names2[] = {"CD3", "FL2-A"};
    const char *labels2[] = {"FL2-A", "CD3x"};
    assert_int_equal(fcs_comp_new(&c, m, names2, labels2, 2, &o, &err), FCS_OK);
    assert_int_equal(fcs_comp_input_param(c, 0), 1);
    assert_int_equal(fcs_comp_input_param(c, 1), 0);
    fcs_comp_free(c);
    fcs_matrix_free(m);

    /* two matrix channels landing on one parameter */
    m = square(2, S2, (const char *const[]){"A", "a"});
    assert_int_equal(fcs_comp_new(&c, m, P4, NULL, 4, NULL, &err), FCS_EINVAL);
    assert_non_null(strstr(err.msg, "both match parameter 2"));
    fcs_matrix_free(m);

    /* duplicate and empty matrix names */
    m = square(2, S2, (const char *const[]){"A", "A"});
    assert_int_equal(fcs_comp_new(&c, m, P4, NULL, 4, NULL, &err), FCS_EINVAL);
    assert_non_null(strstr(err.msg, "appears twice"));
    fcs_matrix_set_name(m, 1, NULL);
    assert_int_equal(fcs_comp_new(&c, m, P4, NULL, 4, NULL, &err), FCS_EINVAL);
    assert_non_null(strstr(err.msg, "channel 2 has no name"));
    fcs_matrix_free(m);
}

/* ---- refusing bad matrices ------------------------------------------------------------- */

static void test_singular_and_ill_conditioned(void **state)
{
    (void)state;
    fcs_comp *c = (fcs_comp *)&c;
    fcs_error err;
    fcs_matrix *m = square(2, (const double[]){1, 1, 1, 1}, AB);
    assert_int_equal(fcs_comp_new(&c, m, P4, NULL, 4, NULL, &err), FCS_ENUMERIC);
    assert_null(c);
    assert_non_null(strstr(err.msg, "singular"));
    fcs_comp_opts o;
    fcs_comp_opts_init(&o);
    o.force = 1; /* force never accepts a singular matrix */
    assert_int_equal(fcs_comp_new(&c, m, P4, NULL, 4, &o, &err), FCS_ENUMERIC);
    fcs_matrix_free(m);

    /* S = [[1,a],[1,1]], a = 1-1e-6: S^-1 = [[1,-a],[-1,1]]/(1-a),
     * kappa_1 = 2 * 2/(1-a) = 4e6 > 1e6 */
    const double a = 1 - 1e-6;
    m = square(2, (const double[]){1, a, 1, 1}, AB);
    assert_int_equal(fcs_comp_new(&c, m, P4, NULL, 4, NULL, &err), FCS_ENUMERIC);
    assert_non_null(strstr(err.msg, "ill-conditioned (condition number 4e+06 > 1e+06)"));
    assert_int_equal(fcs_comp_new(&c, m, P4, NULL, 4, &o, &err), FCS_OK);
    assert_close(fcs_comp_condition(c), 4e6, 1e-8);
    assert_int_equal(fcs_comp_n_warnings(c), 1);
    assert_memory_equal(fcs_comp_warning(c, 0), "comp-ill-conditioned: ", 22);
    fcs_comp_free(c);
    o.force = 0;
    o.max_condition = 1e7; /* a looser threshold accepts it silently */
    assert_int_equal(fcs_comp_new(&c, m, P4, NULL, 4, &o, &err), FCS_OK);
    assert_int_equal(fcs_comp_n_warnings(c), 0);
    fcs_comp_free(c);
    fcs_matrix_free(m);

    /* non-square, NaN, empty, NULL */
    m = fcs_matrix_new(2, 3);
    assert_int_equal(fcs_comp_new(&c, m, P4, NULL, 4, NULL, &err), FCS_EINVAL);
    assert_non_null(strstr(err.msg, "2x3, not square"));
    fcs_matrix_free(m);
    m = square(2, (const double[]){1, NAN, 0, 1}, AB);
    assert_int_equal(fcs_comp_new(&c, m, P4, NULL, 4, NULL, &err), FCS_EINVAL);
    assert_non_null(strstr(err.msg, "(1, 2) is not finite"));
    fcs_matrix_free(m);
    assert_int_equal(fcs_comp_new(&c, NULL, P4, NULL, 4, NULL, &err), FCS_EINVAL);
    assert_int_equal(fcs_comp_new(NULL, NULL, P4, NULL, 4, NULL, &err), FCS_EINVAL);
}

static void test_nan_events_and_bad_calls(void **state)
{
    (void)state;
    fcs_matrix *m = square(2, S2, AB);
    fcs_comp *c = make(m, P4, 4);
    double ev[] = {1, NAN, 70, 2};
    assert_int_equal(fcs_comp_apply(c, ev, 1), FCS_OK);
    assert_true(isnan(ev[1]) && isnan(ev[2]));
    assert_true(ev[0] == 1 && ev[3] == 2);
    assert_int_equal(fcs_comp_apply(c, NULL, 1), FCS_EINVAL);
    assert_int_equal(fcs_comp_apply(NULL, ev, 1), FCS_EINVAL);
    assert_int_equal(fcs_comp_apply(c, ev, 0), FCS_OK);
    double out[2];
    double e2[] = {7, 105, 70, 3.5};
    assert_int_equal(fcs_comp_unmix(c, e2, 1, out), FCS_OK); /* square: compensated pair */
    assert_close(out[0], 100, 1e-14);
    assert_close(out[1], 50, 1e-14);
    assert_true(e2[1] == 105); /* input untouched */
    fcs_comp_free(c);
    fcs_matrix_free(m);
    fcs_comp_free(NULL);
    fcs_comp_opts_init(NULL);
}

/* ---- spectral unmixing ------------------------------------------------------------------- */

/* A = [[1,0.5,0],[0,0.5,1]] (FITC, PE over detectors D1..D3).
 * a = (10,20) -> o = a A = (10,15,20): exact.
 * o = (10,18,20): normal equations (A A^T) a = A o, A A^T = [[1.25,.25],[.25,1.25]],
 * A o = (19, 29), det 1.5 -> a = ((1.25*19-.25*29)/1.5, (1.25*29-.25*19)/1.5) = (11, 21). */
static const double SPEC[] = {1, 0.5, 0, 0, 0.5, 1};
static const char *const FLUOR[] = {"FITC", "PE"};
static const char *const DET[] = {"D1", "D2", "D3"};

static void test_spectral_known_mixing(void **state)
{
    (void)state;
    fcs_matrix *m = rect(2, 3, SPEC, FLUOR, DET);
    const char *params[] = {"FSC", "D3", "D1", "D2"};
    fcs_comp *c = NULL;
    fcs_error err;
    assert_int_equal(fcs_comp_new_spectral(&c, m, params, NULL, 4, NULL, &err), FCS_OK);
    assert_int_equal(fcs_comp_is_spectral(c), 1);
    assert_int_equal(fcs_comp_n_inputs(c), 3);
    assert_int_equal(fcs_comp_n_outputs(c), 2);
    assert_string_equal(fcs_comp_output_name(c, 0), "FITC");
    assert_string_equal(fcs_comp_output_name(c, 1), "PE");
    assert_int_equal(fcs_comp_input_param(c, 0), 2);
    /* events: FSC, D3, D1, D2 */
    double ev[] = {5, 20, 10, 15, /* */ 6, 20, 10, 18};
    double out[4];
    assert_int_equal(fcs_comp_unmix(c, ev, 2, out), FCS_OK);
    assert_close(out[0], 10, 1e-13);
    assert_close(out[1], 20, 1e-13);
    assert_close(out[2], 11, 1e-13);
    assert_close(out[3], 21, 1e-13);
    /* in-place calls are for square objects only */
    assert_int_equal(fcs_comp_apply(c, ev, 2), FCS_EINVAL);
    assert_int_equal(fcs_comp_decompensate(c, ev, 2), FCS_EINVAL);
    /* kappa of R: A^T = QR, R^T R = A A^T; finite and small for these spectra */
    assert_true(fcs_comp_condition(c) > 1 && fcs_comp_condition(c) < 10);
    fcs_comp_free(c);
    fcs_matrix_free(m);
}

static void test_spectral_square_equals_compensation(void **state)
{
    (void)state;
    /* a square spectrum matrix unmixes exactly like compensation with it */
    fcs_matrix *m = rect(2, 2, S2, NULL, AB);
    fcs_comp *c = NULL;
    assert_int_equal(fcs_comp_new_spectral(&c, m, P4, NULL, 4, NULL, NULL), FCS_OK);
    assert_string_equal(fcs_comp_output_name(c, 0), "Unmixed1"); /* no row names */
    double ev[] = {7, 105, 70, 3.5};
    double out[2];
    assert_int_equal(fcs_comp_unmix(c, ev, 1, out), FCS_OK);
    assert_close(out[0], 100, 1e-13);
    assert_close(out[1], 50, 1e-13);
    fcs_comp_free(c);
    fcs_matrix_free(m);
}

static void test_spectral_many_events_and_noise_orthogonality(void **state)
{
    (void)state;
    /* 3 fluorochromes x 6 detectors; the LS residual o - a A must be
     * orthogonal to every spectrum (normal equations), for every event. */
    enum { F = 3, D = 6, N = 77 };
    double a[F * D];
    for (int i = 0; i < F; i++)
        for (int j = 0; j < D; j++) a[i * D + j] = exp(-0.5 * (j - 2.0 * i) * (j - 2.0 * i));
    static const char *const det[] = {"V1", "V2", "V3", "V4", "V5", "V6"};
    fcs_matrix *m = rect(F, D, a, NULL, det);
    fcs_comp *c = NULL;
    assert_int_equal(fcs_comp_new_spectral(&c, m, det, NULL, D, NULL, NULL), FCS_OK);
    double *ev = malloc(N * D * sizeof *ev), *out = malloc(N * F * sizeof *out);
    srand(7);
    for (int k = 0; k < N * D; k++) ev[k] = rand() % 1000;
    assert_int_equal(fcs_comp_unmix(c, ev, N, out), FCS_OK);
    for (int e = 0; e < N; e++)
        for (int i = 0; i < F; i++) {
            double dot = 0, scale = 0;
            for (int j = 0; j < D; j++) {
                double fit = 0;
                for (int r = 0; r < F; r++) fit += out[e * F + r] * a[r * D + j];
                dot += (ev[e * D + j] - fit) * a[i * D + j];
                scale += fabs(ev[e * D + j]);
            }
            assert_true(fabs(dot) <= 1e-11 * scale);
        }
    free(ev);
    free(out);
    fcs_comp_free(c);
    fcs_matrix_free(m);
}

static void test_spectral_errors(void **state)
{
    (void)state;
    fcs_comp *c = NULL;
    fcs_error err;
    /* more fluorochromes than detectors */
    fcs_matrix *m = rect(3, 2, (const double[]){1, 0, 0, 1, 1, 1}, NULL, AB);
    assert_int_equal(fcs_comp_new_spectral(&c, m, P4, NULL, 4, NULL, &err), FCS_EINVAL);
    assert_non_null(strstr(err.msg, "3 fluorochromes but only 2"));
    fcs_matrix_free(m);
    /* collinear spectra */
    m = rect(2, 3, (const double[]){1, 2, 3, 2, 4, 6}, FLUOR, DET);
    assert_int_equal(fcs_comp_new_spectral(&c, m, DET, NULL, 3, NULL, &err), FCS_ENUMERIC);
    assert_non_null(strstr(err.msg, "'PE'"));
    assert_null(c);
    fcs_matrix_free(m);
    /* unmatched all-zero detector: left out; unmatched used detector: refused */
    m = rect(2, 3, (const double[]){1, 0.5, 0, 0, 1, 0}, FLUOR, DET);
    const char *two[] = {"D1", "D2"};
    assert_int_equal(fcs_comp_new_spectral(&c, m, two, NULL, 2, NULL, &err), FCS_OK);
    assert_int_equal(fcs_comp_n_inputs(c), 2);
    assert_int_equal(fcs_comp_n_warnings(c), 1);
    fcs_comp_free(c);
    fcs_matrix_set(m, 1, 2, 0.3);
    assert_int_equal(fcs_comp_new_spectral(&c, m, two, NULL, 2, NULL, &err), FCS_ENOTFOUND);
    assert_non_null(strstr(err.msg, "'D3'"));
    fcs_matrix_free(m);
}

/* ---- provenance and the corpus --------------------------------------------------------- */

static void test_used_matrix_roundtrips_as_keyword(void **state)
{
    (void)state;
    static const double s[] = {1, 0.1, 1.0 / 3, 1};
    fcs_matrix *m = square(2, s, AB);
    fcs_comp *c = make(m, P4, 4);
    char *kw = fcs_matrix_to_spillover(fcs_comp_matrix(c));
    assert_non_null(kw);
    assert_string_equal(kw, "2,A,B,1,0.1,0.3333333333333333,1");
    fcs_matrix *back = NULL;
    assert_int_equal(fcs_matrix_parse_spillover(kw, NULL, 0, &back, NULL), FCS_OK);
    for (int k = 0; k < 4; k++) assert_true(fcs_matrix_data(back)[k] == s[k]);
    free(kw);
    fcs_matrix_free(back);
    fcs_comp_free(c);
    fcs_matrix_free(m);
}

static void test_corpus_flowkit_comp_csv(void **state)
{
    (void)state;
    const char *root = tu_corpus_dir();
    if (!root) skip();
    char path[1024];
    snprintf(path, sizeof path, "%s/files/FlowKit/data/comp_complete_example.csv", root);
    fcs_matrix *m = NULL;
    fcs_error err;
    int rc = fcs_matrix_read_file(path, &m, &err);
    if (rc != FCS_OK) fail_msg("%s", err.msg);
    assert_int_equal(fcs_matrix_rows(m), 14);
    assert_int_equal(fcs_matrix_cols(m), 14);
    assert_string_equal(fcs_matrix_name(m, 0), "Ax488-A");
    assert_string_equal(fcs_matrix_name(m, 13), "Qdot705-A");
    assert_true(fcs_matrix_get(m, 0, 1) == 0.2986);
    assert_true(fcs_matrix_get(m, 1, 0) == 0.007);
    assert_true(fcs_matrix_get(m, 3, 4) == 0.134);
    /* the $PnN of test_comp_example.fcs, whose events this matrix compensates */
    static const char *const params[] = {
        "FSC-A", "FSC-W", "SSC-A", "Ax488-A", "PE-A", "PE-TR-A", "PerCP-Cy55-A", "PE-Cy7-A",
        "Ax647-A", "Ax700-A", "Ax750-A", "PacBlu-A", "Qdot525-A", "PacOrange-A", "Qdot605-A",
        "Qdot655-A", "Qdot705-A", "Time"};
    enum { NP = 18, OFF = 3 };
    fcs_comp *c = make(m, params, NP);
    assert_int_equal(fcs_comp_n_inputs(c), 14);
    assert_true(fcs_comp_condition(c) > 1 && fcs_comp_condition(c) < 100);
    /* a pure single stain: observed = row i of S; compensated = unit vector */
    double ev[NP];
    for (size_t i = 0; i < 14; i++) {
        for (size_t p = 0; p < NP; p++) ev[p] = 1000.0 + (double)p;
        for (size_t j = 0; j < 14; j++) ev[OFF + j] = 1000 * fcs_matrix_get(m, i, j);
        assert_int_equal(fcs_comp_apply(c, ev, 1), FCS_OK);
        for (size_t j = 0; j < 14; j++) assert_close(ev[OFF + j], i == j ? 1000 : 0, 1e-12);
        assert_true(ev[0] == 1000 && ev[2] == 1002 && ev[NP - 1] == 1000 + NP - 1);
    }
    fcs_comp_free(c);
    fcs_matrix_free(m);
}

static void test_f32_variants(void **state)
{
    (void)state;
    fcs_matrix *m = square(2, S2, AB);
    fcs_comp *c = make(m, P4, 4);
    float ev[] = {7, 105, 70, 3.5f, -2, 1, 10, 9};
    assert_int_equal(fcs_comp_apply_f32(c, ev, 2), FCS_OK);
    /* computed in double, rounded once: exact where the result is representable */
    assert_true(ev[0] == 7 && ev[1] == 100 && ev[2] == 50 && ev[3] == 3.5f);
    assert_true(fabsf(ev[5]) < 1e-6f && ev[6] == 10 && ev[7] == 9);
    assert_int_equal(fcs_comp_decompensate_f32(c, ev, 2), FCS_OK);
    assert_true(ev[1] == 105 && ev[2] == 70);
    float cols[12] = {7, -2, 99, 105, 1, 99, 70, 10, 99, 3.5f, 9, 99};
    assert_int_equal(fcs_comp_apply_columns_f32(c, cols, 2, 3), FCS_OK);
    assert_true(cols[3] == 100 && cols[6] == 50 && cols[7] == 10 && cols[2] == 99);
    assert_int_equal(fcs_comp_decompensate_columns_f32(c, cols, 2, 3), FCS_OK);
    assert_true(cols[3] == 105 && cols[6] == 70);
    assert_int_equal(fcs_comp_apply_columns_f32(c, cols, 4, 3), FCS_EINVAL);
    float out[2];
    float e2[] = {7, 105, 70, 3.5f};
    assert_int_equal(fcs_comp_unmix_f32(c, e2, 1, out), FCS_OK);
    assert_true(out[0] == 100 && out[1] == 50);
    assert_int_equal(fcs_comp_apply_f32(NULL, ev, 1), FCS_EINVAL);
    fcs_comp_free(c);
    fcs_matrix_free(m);

    /* spectral, float32 in and out: the exact case of the known mixing */
    m = rect(2, 3, (const double[]){1, 0.5, 0, 0, 0.5, 1}, NULL,
             (const char *const[]){"D1", "D2", "D3"});
    assert_int_equal(fcs_comp_new_spectral(&c, m, (const char *const[]){"D1", "D2", "D3"},
                                           NULL, 3, NULL, NULL),
                     FCS_OK);
    float o[] = {10, 15, 20};
    assert_int_equal(fcs_comp_unmix_f32(c, o, 1, out), FCS_OK);
    assert_true(out[0] == 10 && out[1] == 20);
    assert_int_equal(fcs_comp_apply_f32(c, o, 1), FCS_EINVAL);
    fcs_comp_free(c);
    fcs_matrix_free(m);
}

/* Real events: test_comp_example.fcs compensated with FlowKit's
 * comp_complete_example.csv, checked against an independent algorithm:
 * the fixed-point iteration t = o - t (S - I), which converges because the
 * off-diagonal spillover is small. */
static void test_corpus_compensate_real_events(void **state)
{
    (void)state;
    const char *root = tu_corpus_dir();
    if (!root) skip();
    char path[1024];
    fcs_error err;
    snprintf(path, sizeof path, "%s/files/FlowKit/data/comp_complete_example.csv", root);
    fcs_matrix *m = NULL;
    if (fcs_matrix_read_file(path, &m, &err) != FCS_OK) fail_msg("%s", err.msg);
    snprintf(path, sizeof path, "%s/files/FlowKit/data/test_comp_example.fcs", root);
    fcs_reader *r = NULL;
    if (fcs_open(&r, path, NULL, &err) != FCS_OK) fail_msg("%s", err.msg);
    size_t np = fcs_n_params(r);
    const char **names = calloc(np, sizeof *names), **labels = calloc(np, sizeof *labels);
    for (size_t i = 0; i < np; i++) {
        names[i] = fcs_param_info(r, i)->name;
        labels[i] = fcs_param_info(r, i)->label;
    }
    fcs_comp *c = NULL;
    if (fcs_comp_new(&c, m, names, labels, np, NULL, &err) != FCS_OK) fail_msg("%s", err.msg);
    assert_int_equal(fcs_comp_n_inputs(c), 14);

    enum { CHUNK = 1000 };
    double *obs = malloc(CHUNK * np * sizeof *obs), *got = malloc(CHUNK * np * sizeof *got);
    float *got32 = malloc(CHUNK * np * sizeof *got32);
    const double *s = fcs_matrix_data(m);
    int64_t n, total = 0;
    double worst = 0;
    while ((n = fcs_read_events(r, obs, CHUNK, FCS_VALUES_SCALED)) > 0) {
        memcpy(got, obs, (size_t)n * np * sizeof *got);
        for (size_t k = 0; k < (size_t)n * np; k++) got32[k] = (float)obs[k];
        assert_int_equal(fcs_comp_apply(c, got, (size_t)n), FCS_OK);
        assert_int_equal(fcs_comp_apply_f32(c, got32, (size_t)n), FCS_OK);
        for (int64_t e = 0; e < n; e++) {
            double o[14], t[14], t2[14];
            for (size_t j = 0; j < 14; j++) o[j] = t[j] = obs[e * np + fcs_comp_input_param(c, j)];
            for (int it = 0; it < 200; it++) {
                for (size_t j = 0; j < 14; j++) {
                    double spill = 0;
                    for (size_t i = 0; i < 14; i++)
                        if (i != j) spill += t[i] * s[i * 14 + j];
                    t2[j] = o[j] - spill;
                }
                memcpy(t, t2, sizeof t);
            }
            double scale = 1;
            for (size_t j = 0; j < 14; j++) scale = fmax(scale, fabs(o[j]));
            for (size_t j = 0; j < 14; j++) {
                size_t p = (size_t)fcs_comp_input_param(c, j);
                double d = fabs(got[e * np + p] - t[j]) / scale;
                if (d > worst) worst = d;
                /* float32: the input was rounded to float once, the output too */
                assert_true(fabs(got32[e * np + p] - got[e * np + p]) <= 1e-5 * scale);
            }
            for (size_t p = 0; p < np; p++) { /* untouched parameters */
                int used = 0;
                for (size_t j = 0; j < 14; j++) used |= (size_t)fcs_comp_input_param(c, j) == p;
                if (!used) assert_true(got[e * np + p] == obs[e * np + p]);
            }
        }
        total += n;
    }
    assert_int_equal(n, 0);
    assert_int_equal(total, fcs_n_events(r));
    assert_true(total > 1000);
    if (worst > 1e-12) fail_msg("worst relative difference %.3g", worst);
    free(obs);
    free(got);
    free(got32);
    free(names);
    free(labels);
    fcs_comp_free(c);
    fcs_close(r);
    fcs_matrix_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_2x2_rows_with_passthrough),
        cmocka_unit_test(test_2x2_columns),
        cmocka_unit_test(test_3x3_upper_by_hand),
        cmocka_unit_test(test_3x3_needs_pivoting),
        cmocka_unit_test(test_many_events_both_layouts),
        cmocka_unit_test(test_partial_and_unmatched),
        cmocka_unit_test(test_name_matching_rules),
        cmocka_unit_test(test_singular_and_ill_conditioned),
        cmocka_unit_test(test_nan_events_and_bad_calls),
        cmocka_unit_test(test_spectral_known_mixing),
        cmocka_unit_test(test_spectral_square_equals_compensation),
        cmocka_unit_test(test_spectral_many_events_and_noise_orthogonality),
        cmocka_unit_test(test_spectral_errors),
        cmocka_unit_test(test_used_matrix_roundtrips_as_keyword),
        cmocka_unit_test(test_corpus_flowkit_comp_csv),
        cmocka_unit_test(test_f32_variants),
        cmocka_unit_test(test_corpus_compensate_real_events),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
