/*
 * test_report.c — fcs_gating_dim_values / fcs_gating_dim_source (the gate
 * engine's values of one dimension), the pieces fcs-plot and fcs-report
 * share (fcs_report_draw_gate, fcs_report_axis_range) and the report page
 * (fcs/report.h). Every expectation is computed by hand from ten events:
 *
 *   event  0   1   2   3   4   5   6   7   8   9
 *   A      1   3   5   7   2   4   6   8   9   0
 *   B      2   4   8   2   6  10   3   9   1   5
 *   C     10  20  30  40  50  60  70  80  90 100
 *
 * with the spillover A -> B 0.5 ($SPILLOVER 2,A,B,1,0.5,0,1), so B
 * compensated ("B@FCS") is B - 0.5 A:
 *   B'   1.5 2.5 5.5 -1.5  5   8   0   5 -3.5  5
 * and the strategy STRATEGY below:
 *   Lo    A in [0, 6)                                 {0,1,2,4,5,9}  6  60%
 *   Box   Lo & A in [1, 5) & B' in [1, 6)             {0,1,4}        3  50%
 *   Tri   Lo & (x=B', y=A) in triangle (0,0)(10,0)(0,10), edges in
 *                                                     {0,1,4,9}      4  66.67%
 *   Cube  Lo & A [0,5) & B [0,9) & C [0,55)           {0,1,4}        3  50%
 *   QA    Lo & D(C)=2C+1 >= 61 & A < 3                {4,9}          2  33.33%
 *   QB    Lo & D(C) < 61 & A >= 3                     {1}            1  16.67%
 *   Ratio A/B >= 1                                    {3,6,8}        3  30%
 *   Both  Box and Tri                                 {0,1,4}        3  30% (of all)
 * With Ratio as the "beads", 1000 beads per test in 10 uL: cells/uL of a
 * population of n events = n / 3 x 100, e.g. Lo 200, Box 100.
 *
 * Panels (fcs/report.h): all events: Lo (A), Ratio (ratio); Lo: Box+Tri
 * (A x B', Tri swapped), Cube (A x B), Cube (C), Q (C x A) = 6.
 */
#include <libxml/parser.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcs/fcs.h"
#include "testutil.h"

static const double A[10] = {1, 3, 5, 7, 2, 4, 6, 8, 9, 0};
static const double B[10] = {2, 4, 8, 2, 6, 10, 3, 9, 1, 5};
static const double C[10] = {10, 20, 30, 40, 50, 60, 70, 80, 90, 100};
static const double BC[10] = {1.5, 2.5, 5.5, -1.5, 5, 8, 0, 5, -3.5, 5};

static const char STRATEGY[] = "transform D = linear(scale=2, offset=1)\n"
                               "transform R = fratio(A=1, B=0, C=0) of A, B\n"
                               "Lo: rectangle A [0, 6)\n"
                               "  Box: rectangle A [1, 5), B@FCS [1, 6)\n"
                               "  Tri: polygon B@FCS, A [(0, 0), (10, 0), (0, 10)]\n"
                               "  Cube: rectangle A [0, 5), B [0, 9), C [0, 55)\n"
                               "  Q: quadrant X = D(C) [61], Y = A [3]\n"
                               "    QA: X = 100, Y = 0\n"
                               "    QB: X = 0, Y = 5\n"
                               "Ratio: rectangle ratio(R) [1, )\n"
                               "Both: and Box, Tri\n";

/* Gate indices in STRATEGY (fcs_strategy_gate order). */
enum { G_LO, G_BOX, G_TRI, G_CUBE, G_Q, G_RATIO, G_BOTH };

static fcs_strategy *strategy(const char *text)
{
    fcs_strategy *s = NULL;
    fcs_error err;
    int rc = fcs_gatefile_read_mem(&s, text, strlen(text), "test", FCS_GATEFILE_TEXT, &err);
    if (rc != FCS_OK) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, FCS_OK);
    return s;
}

static fcs_matrix *spillover(void)
{
    fcs_matrix *m = fcs_matrix_new(2, 2);
    assert_non_null(m);
    fcs_matrix_set(m, 0, 0, 1);
    fcs_matrix_set(m, 0, 1, 0.5);
    fcs_matrix_set(m, 1, 0, 0);
    fcs_matrix_set(m, 1, 1, 1);
    assert_int_equal(fcs_matrix_set_name(m, 0, "A"), FCS_OK);
    assert_int_equal(fcs_matrix_set_name(m, 1, "B"), FCS_OK);
    return m;
}

static const char *const NAMES[3] = {"A", "B", "C"};

static fcs_gating *bind(const fcs_strategy *s, const fcs_matrix *spill)
{
    fcs_gating *g = NULL;
    fcs_error err;
    int rc = fcs_gating_new(&g, s, NAMES, 3, spill, &err);
    if (rc != FCS_OK) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, FCS_OK);
    return g;
}

/* ---- fcs_gating_dim_values / _source ------------------------------------------------ */

static void expect_values(fcs_gating *g, size_t gate, size_t dim, int stage, const double *want)
{
    const double *cols[3] = {A, B, C};
    double v[10];
    int rc = fcs_gating_dim_values(g, gate, dim, stage, cols, 10, v);
    if (rc != FCS_OK) fprintf(stderr, "%s\n", fcs_gating_errmsg(g));
    assert_int_equal(rc, FCS_OK);
    for (int i = 0; i < 10; i++) assert_true(v[i] == want[i]);
}

static void test_dim_values(void **state)
{
    (void)state;
    fcs_strategy *s = strategy(STRATEGY);
    fcs_matrix *m = spillover();
    fcs_gating *g = bind(s, m);
    double dc[10], ratio[10];
    for (int i = 0; i < 10; i++) dc[i] = 2 * C[i] + 1, ratio[i] = A[i] / B[i];

    expect_values(g, G_LO, 0, FCS_GATE_DIM_SCALED, A);
    expect_values(g, G_BOX, 1, FCS_GATE_DIM_SCALED, BC); /* compensated by $SPILLOVER */
    expect_values(g, G_TRI, 0, FCS_GATE_DIM_UNTRANSFORMED, BC);
    expect_values(g, G_CUBE, 1, FCS_GATE_DIM_SCALED, B); /* the same channel uncompensated */
    expect_values(g, G_Q, 0, FCS_GATE_DIM_UNTRANSFORMED, C);
    expect_values(g, G_Q, 0, FCS_GATE_DIM_SCALED, dc); /* D = 2x + 1 */
    expect_values(g, G_RATIO, 0, FCS_GATE_DIM_SCALED, ratio);

    fcs_gate_dim_source lo, box_b, tri_b, tri_a, cube_b, cube_c, q_c, r;
    assert_int_equal(fcs_gating_dim_source(g, G_LO, 0, &lo), FCS_OK);
    assert_int_equal(fcs_gating_dim_source(g, G_BOX, 1, &box_b), FCS_OK);
    assert_int_equal(fcs_gating_dim_source(g, G_TRI, 0, &tri_b), FCS_OK);
    assert_int_equal(fcs_gating_dim_source(g, G_TRI, 1, &tri_a), FCS_OK);
    assert_int_equal(fcs_gating_dim_source(g, G_CUBE, 1, &cube_b), FCS_OK);
    assert_int_equal(fcs_gating_dim_source(g, G_CUBE, 2, &cube_c), FCS_OK);
    assert_int_equal(fcs_gating_dim_source(g, G_Q, 0, &q_c), FCS_OK);
    assert_int_equal(fcs_gating_dim_source(g, G_RATIO, 0, &r), FCS_OK);
    assert_int_equal(lo.kind, FCS_GATE_DIM_CHANNEL);
    assert_int_equal(lo.channel, 0);
    assert_int_equal(lo.transformed, 0);
    assert_int_equal(box_b.kind, FCS_GATE_DIM_COMPENSATED);
    assert_int_equal(box_b.channel, -1);
    assert_true(box_b.id == tri_b.id); /* same compensated values: one source */
    assert_true(lo.id == tri_a.id);
    assert_int_equal(cube_b.kind, FCS_GATE_DIM_CHANNEL);
    assert_int_equal(cube_b.channel, 1);
    assert_true(cube_b.id != box_b.id);
    assert_int_equal(q_c.kind, FCS_GATE_DIM_CHANNEL);
    assert_int_equal(q_c.channel, 2);
    assert_int_equal(q_c.transformed, 1);
    assert_true(q_c.id == cube_c.id); /* the same values before Q's own transform */
    assert_int_equal(r.kind, FCS_GATE_DIM_RATIO);

    /* The engine decides on exactly these values: Box from its dims. */
    const double *cols[3] = {A, B, C};
    size_t np = fcs_strategy_n_populations(s);
    uint8_t mbuf[16][10], *mem[16];
    assert_true(np <= 16);
    for (size_t p = 0; p < np; p++) mem[p] = mbuf[p];
    assert_int_equal(fcs_gating_run(g, cols, 10, mem), FCS_OK);
    long box = fcs_strategy_population_index(s, "Box");
    int n_box = 0;
    for (int i = 0; i < 10; i++) n_box += mem[box][i];
    assert_int_equal(n_box, 3);
    assert_int_equal(mem[box][0] + mem[box][1] + mem[box][4], 3);

    /* Errors: a boolean has no dimension, out of range, bad stage, NULL. */
    double v[10];
    assert_int_equal(fcs_gating_dim_values(g, G_BOTH, 0, 0, cols, 10, v), FCS_ERANGE);
    assert_non_null(strstr(fcs_gating_errmsg(g), "no dimension"));
    assert_int_equal(fcs_gating_dim_values(g, G_LO, 1, 0, cols, 10, v), FCS_ERANGE);
    assert_int_equal(fcs_gating_dim_values(g, 99, 0, 0, cols, 10, v), FCS_ERANGE);
    assert_int_equal(fcs_gating_dim_values(g, G_LO, 0, 7, cols, 10, v), FCS_EINVAL);
    assert_int_equal(fcs_gating_dim_values(g, G_LO, 0, 0, NULL, 10, v), FCS_EINVAL);
    assert_int_equal(fcs_gating_dim_values(g, G_LO, 0, 0, cols, 0, NULL), FCS_OK);
    assert_int_equal(fcs_gating_dim_source(g, G_BOTH, 0, &r), FCS_ERANGE);
    assert_int_equal(fcs_gating_dim_source(NULL, 0, 0, &r), FCS_EINVAL);
    /* A column the dimension needs is missing. */
    const double *nocol[3] = {A, NULL, C};
    assert_int_equal(fcs_gating_dim_values(g, G_CUBE, 1, 0, nocol, 10, v), FCS_EINVAL);
    /* ... one it does not read may be missing. */
    expect_values(g, G_LO, 0, FCS_GATE_DIM_SCALED, A);
    fcs_gating_free(g);

    /* Without a spillover "FCS" means uncompensated: B@FCS is channel B. */
    g = bind(s, NULL);
    expect_values(g, G_BOX, 1, FCS_GATE_DIM_SCALED, B);
    assert_int_equal(fcs_gating_dim_source(g, G_BOX, 1, &box_b), FCS_OK);
    assert_int_equal(fcs_gating_dim_source(g, G_CUBE, 1, &cube_b), FCS_OK);
    assert_int_equal(box_b.kind, FCS_GATE_DIM_CHANNEL);
    assert_true(box_b.id == cube_b.id);
    fcs_gating_free(g);
    fcs_matrix_free(m);
    fcs_strategy_free(s);
}

/* A channel the compensation does not cover is the channel itself; a
 * divider no quadrant mentions is never bound. */
static void test_dim_source_special(void **state)
{
    (void)state;
    fcs_strategy *s = strategy("Cc: rectangle C@FCS [0, 1000)\n"
                               "Q2: quadrant X = A [3], Y = B [5]\n"
                               "  Left: X = 0\n"
                               "  Right: X = 9\n");
    fcs_matrix *m = spillover();
    fcs_gating *g = bind(s, m);
    fcs_gate_dim_source c, x;
    assert_int_equal(fcs_gating_dim_source(g, 0, 0, &c), FCS_OK);
    assert_int_equal(c.kind, FCS_GATE_DIM_CHANNEL);
    assert_int_equal(c.channel, 2);
    expect_values(g, 0, 0, FCS_GATE_DIM_SCALED, C);
    assert_int_equal(fcs_gating_dim_source(g, 1, 0, &x), FCS_OK);
    expect_values(g, 1, 0, FCS_GATE_DIM_SCALED, A);
    assert_int_equal(fcs_gating_dim_source(g, 1, 1, &x), FCS_ENOTFOUND);
    const double *cols[3] = {A, B, C};
    double v[10];
    assert_int_equal(fcs_gating_dim_values(g, 1, 1, 0, cols, 10, v), FCS_ENOTFOUND);
    assert_non_null(strstr(fcs_gating_errmsg(g), "used by no quadrant"));
    fcs_gating_free(g);
    fcs_matrix_free(m);
    fcs_strategy_free(s);
}

/* More events than one internal block (1024): every block computed. */
static void test_dim_values_blocks(void **state)
{
    (void)state;
    enum { N = 2500 };
    fcs_strategy *s = strategy(STRATEGY);
    fcs_matrix *m = spillover();
    fcs_gating *g = bind(s, m);
    double *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b), *c = malloc(N * sizeof *c);
    double *v = malloc(N * sizeof *v);
    assert_true(a && b && c && v);
    for (int i = 0; i < N; i++) a[i] = i, b[i] = 2.0 * i, c[i] = i % 7;
    const double *cols[3] = {a, b, c};
    assert_int_equal(fcs_gating_dim_values(g, G_BOX, 1, 0, cols, N, v), FCS_OK);
    for (int i = 0; i < N; i++) assert_true(v[i] == 1.5 * i);
    assert_int_equal(fcs_gating_dim_values(g, G_Q, 0, FCS_GATE_DIM_SCALED, cols, N, v), FCS_OK);
    for (int i = 0; i < N; i++) assert_true(v[i] == 2.0 * (i % 7) + 1);
    free(a), free(b), free(c), free(v);
    fcs_gating_free(g);
    fcs_matrix_free(m);
    fcs_strategy_free(s);
}

/* ---- fcs_report_axis_range ------------------------------------------------------------ */

static void test_axis_range(void **state)
{
    (void)state;
    fcs_param p;
    memset(&p, 0, sizeof p);
    p.range = 1024, p.gain = 1, p.datatype = 'F';
    fcs_plot_scale s = {NULL, NULL};
    double lo, hi;
    assert_int_equal(fcs_report_axis_range(&p, &s, &lo, &hi), FCS_OK);
    assert_true(lo == 0 && hi == 1024);
    fcs_transform *t;
    assert_int_equal(fcs_transform_parse("logicle", &t, NULL), FCS_OK);
    s.display = t;
    assert_int_equal(fcs_report_axis_range(&p, &s, &lo, &hi), FCS_OK);
    assert_true(lo == 0 && hi == 1); /* a Gating-ML scale runs over [0, 1] */
    assert_int_equal(fcs_report_axis_range(NULL, &s, &lo, &hi), FCS_OK);
    fcs_transform_free(t);
    assert_int_equal(fcs_transform_parse("log", &t, NULL), FCS_OK);
    s.display = t;
    assert_int_equal(fcs_report_axis_range(&p, &s, &lo, &hi), FCS_OK);
    assert_close(lo, 0, 1e-15); /* log10(1) */
    assert_close(hi, log10(1024), 1e-15);
    fcs_transform_free(t);
    assert_int_equal(fcs_transform_parse("asinh(1)", &t, NULL), FCS_OK);
    s.display = t;
    assert_int_equal(fcs_report_axis_range(&p, &s, &lo, &hi), FCS_OK);
    assert_close(hi, asinh(1024), 1e-15);
    assert_close(lo, -0.2 * asinh(1024), 1e-15);
    fcs_transform_free(t);
    s.display = NULL;
    assert_int_equal(fcs_report_axis_range(NULL, &s, &lo, &hi), FCS_EINVAL); /* no $PnR */
    p.gain = 2; /* channel values are $PnR / gain at most */
    assert_int_equal(fcs_report_axis_range(&p, &s, &lo, &hi), FCS_OK);
    assert_true(lo == 0 && hi == 512);
    p.gain = 1, p.datatype = 'I', p.log_decades = 4, p.log_offset = 1;
    assert_int_equal(fcs_report_axis_range(&p, &s, &lo, &hi), FCS_OK);
    assert_close(hi, 1e4, 1e-12);
    p.log_decades = 0, p.datatype = 'F', p.range = 0; /* unusable: 262144 */
    assert_int_equal(fcs_report_axis_range(&p, &s, &lo, &hi), FCS_OK);
    assert_true(hi == 262144);
}

/* ---- fcs_report_draw_gate -------------------------------------------------------------- */

static fcs_plot *plot(int two_d)
{
    fcs_plot_axis ax = {"A", {NULL, NULL}, -1, 12}, ay = {"B", {NULL, NULL}, -5, 12};
    fcs_plot *p = NULL;
    assert_int_equal(fcs_plot_new(&p, &ax, two_d ? &ay : NULL, NULL, NULL), FCS_OK);
    return p;
}

static char *svg_of(fcs_plot *p)
{
    char *svg;
    size_t len;
    assert_int_equal(fcs_plot_svg(p, &svg, &len), FCS_OK);
    return svg;
}

static void test_draw_gate(void **state)
{
    (void)state;
    fcs_strategy *s = strategy(STRATEGY);
    size_t np = fcs_strategy_n_populations(s);
    int64_t count[16] = {0};
    double pct[16];
    for (size_t i = 0; i < np; i++) count[i] = 10 + (int64_t)i, pct[i] = 12.34;
    long box = fcs_strategy_population_index(s, "Box"), qa = fcs_strategy_population_index(s, "QA");
    count[box] = 3, pct[box] = 50;
    count[qa] = 2, pct[qa] = 100.0 / 3;
    const size_t d01[2] = {0, 1}, d10[2] = {1, 0}, d0[2] = {0, 0};

    fcs_plot *p = plot(1);
    assert_int_equal(fcs_report_draw_gate(p, s, G_BOX, d01, count, pct), FCS_OK);
    assert_int_equal(fcs_report_draw_gate(p, s, G_TRI, d10, count, pct), FCS_OK);
    assert_int_equal(fcs_report_draw_gate(p, s, G_Q, d10, count, pct), FCS_OK);
    assert_int_equal(fcs_report_draw_gate(p, s, G_BOTH, d01, count, pct), FCS_EINVAL);
    assert_int_equal(fcs_report_draw_gate(p, s, 99, d01, count, pct), FCS_ERANGE);
    assert_int_equal(fcs_report_draw_gate(p, s, G_TRI, d0, count, pct), FCS_EINVAL);
    assert_int_equal(fcs_report_draw_gate(p, s, G_BOX, (const size_t[2]){0, 2}, count, pct),
                     FCS_EINVAL);
    char *svg = svg_of(p);
    assert_non_null(strstr(svg, ">Box 3 (50.0%)<"));
    assert_non_null(strstr(svg, ">QA 2 (33.3%)<"));
    /* 2 quadrant dividers, 2 shapes */
    int dividers = 0, gates = 0;
    for (const char *q = svg; (q = strstr(q, "class=\"divider\"")); q++) dividers++;
    for (const char *q = svg; (q = strstr(q, "class=\"gate\"")); q++) gates++;
    assert_int_equal(dividers, 2);
    assert_int_equal(gates, 2);
    free(svg);
    fcs_plot_free(p);

    /* A histogram takes 1-D slots; a polygon has none there. No labels
     * without counts. */
    p = plot(0);
    assert_int_equal(fcs_report_draw_gate(p, s, G_LO, d0, NULL, NULL), FCS_OK);
    assert_int_equal(fcs_report_draw_gate(p, s, G_CUBE, (const size_t[2]){2, 0}, count, pct),
                     FCS_OK);
    assert_int_equal(fcs_report_draw_gate(p, s, G_TRI, d01, count, pct), FCS_EINVAL);
    svg = svg_of(p);
    assert_null(strstr(svg, ">Lo "));
    assert_non_null(strstr(svg, ">Cube "));
    free(svg);
    fcs_plot_free(p);
    fcs_strategy_free(s);
}

/* ---- the report ------------------------------------------------------------------------- */

/* The ten events as an FCS file, with the spillover and a few keywords. */
static const char *write_sample(const char *name, const char *cyt, int with_beads)
{
    const char *path = tu_tmp_path(name);
    fcs_writer *w;
    fcs_error err;
    assert_int_equal(fcs_writer_open(&w, path, 3, NULL, &err), FCS_OK);
    for (int j = 0; j < 3; j++)
        assert_int_equal(fcs_writer_set_param(w, j, NAMES[j], NULL, 1024), FCS_OK);
    assert_int_equal(fcs_writer_set_keyword(w, "$SPILLOVER", "2,A,B,1,0.5,0,1"), FCS_OK);
    assert_int_equal(fcs_writer_set_keyword(w, "$CYT", cyt), FCS_OK);
    assert_int_equal(fcs_writer_set_keyword(w, "$DATE", "01-JAN-2024"), FCS_OK);
    assert_int_equal(fcs_writer_set_keyword(w, "LIBFCS_TEST", "provenance"), FCS_OK);
    if (with_beads) {
        assert_int_equal(fcs_writer_set_keyword(w, "LIBFCS_BEADS_PER_TEST", "1000"), FCS_OK);
        assert_int_equal(fcs_writer_set_keyword(w, "LIBFCS_VOLUME_UL", "10"), FCS_OK);
    }
    assert_int_equal(fcs_writer_begin(w, 10), FCS_OK);
    double ev[30];
    for (int i = 0; i < 10; i++) ev[3 * i] = A[i], ev[3 * i + 1] = B[i], ev[3 * i + 2] = C[i];
    assert_int_equal(fcs_writer_write(w, ev, 10), FCS_OK);
    assert_int_equal(fcs_writer_close(w, &err), FCS_OK);
    return path;
}

static fcs_reader *open_file(const char *path)
{
    fcs_reader *r = NULL;
    fcs_error err;
    assert_int_equal(fcs_open(&r, path, NULL, &err), FCS_OK);
    return r;
}

static fcs_report *new_report(const fcs_strategy *s, const char *beads, const fcs_bead_lot *lot)
{
    fcs_report_opts o;
    fcs_report_opts_init(&o);
    o.strategy_name = "test <gates>";
    o.bead_population = beads;
    o.bead_lot = lot;
    fcs_report *rep = NULL;
    fcs_error err;
    int rc = fcs_report_new(&rep, s, &o, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, FCS_OK);
    return rep;
}

static void add(fcs_report *rep, const char *path, const char *name)
{
    fcs_reader *r = open_file(path);
    int rc = fcs_report_add_sample(rep, r, name);
    if (rc) fprintf(stderr, "%s\n", fcs_report_errmsg(rep));
    assert_int_equal(rc, FCS_OK);
    fcs_close(r);
}

static char *page(fcs_report *rep)
{
    char *html;
    size_t len;
    assert_int_equal(fcs_report_html(rep, &html, &len), FCS_OK);
    assert_int_equal(strlen(html), len);
    return html;
}

static int count_of(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *q = hay; (q = strstr(q, needle)); q += strlen(needle)) n++;
    return n;
}

/* Well-formed XML, parsed by libxml2 without network access. */
static void assert_well_formed(const char *html)
{
    xmlDocPtr doc = xmlReadMemory(html, (int)strlen(html), "report.html", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    assert_non_null(doc);
    xmlFreeDoc(doc);
}

/* Every id is unique, and the only URIs are XML namespace names. */
static void assert_ids_unique_no_urls(const char *html)
{
    char seen[256][80];
    int n = 0;
    for (const char *q = html; (q = strstr(q, " id=\"")); q++) {
        const char *v = q + 5, *e = strchr(v, '"');
        assert_non_null(e);
        char id[80];
        snprintf(id, sizeof id, "%.*s", (int)(e - v), v);
        for (int k = 0; k < n; k++) assert_string_not_equal(seen[k], id);
        assert_true(n < 256);
        snprintf(seen[n++], sizeof seen[0], "%s", id);
    }
    assert_true(n > 0);
    for (const char *q = html; (q = strstr(q, "http")); q++) {
        int ns = (q - html >= 7 && strncmp(q - 7, "xmlns=\"", 7) == 0) ||
                 (q - html >= 13 && strncmp(q - 13, "xmlns:xlink=\"", 13) == 0);
        assert_true(ns);
    }
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "<link"));
    assert_null(strstr(html, "@import"));
}

static void test_report_sample(void **state)
{
    (void)state;
    const char *path = write_sample("report1.fcs", "Cyt <1> & \xe9\x01", 0);
    fcs_strategy *s = strategy(STRATEGY);
    fcs_bead_lot lot;
    memset(&lot, 0, sizeof lot);
    snprintf(lot.lot, sizeof lot.lot, "LOT-7");
    lot.beads_per_test = 1000, lot.volume_ul = 10;
    fcs_report *rep = new_report(s, "Ratio", &lot); /* an id works as well as a path */
    add(rep, path, "report1.fcs");
    assert_int_equal(fcs_report_n_samples(rep), 1);
    assert_int_equal(fcs_report_n_panels(rep, 0), 6);
    assert_int_equal(fcs_report_n_panels(rep, 1), 0);

    const fcs_stats *st = fcs_report_stats(rep, 0);
    assert_non_null(st);
    static const struct {
        const char *path;
        int64_t n;
    } want[] = {{"/", 10},     {"/Lo", 6},    {"/Lo/Box", 3}, {"/Lo/Tri", 4}, {"/Lo/Cube", 3},
                {"/Lo/QA", 2}, {"/Lo/QB", 1}, {"/Ratio", 3},  {"/Both", 3}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        int k = fcs_stats_find_population(st, want[i].path);
        assert_true(k >= 0);
        assert_int_equal(fcs_stats_count(st, (size_t)k), want[i].n);
    }

    char *html = page(rep);
    assert_well_formed(html);
    assert_ids_unique_no_urls(html);
    assert_int_equal(count_of(html, "<figure class=\"panel\""), 6);
    assert_int_equal(count_of(html, "<svg "), 6);
    assert_null(strstr(html, "<?xml"));            /* the SVGs are inline elements */
    assert_null(strstr(html, "class=\"cohort\"")); /* one sample: no cohort table */
    /* panels in order, each with its gates */
    const char *p1 = strstr(html, "data-parent=\"/\" data-gates=\"Lo\"");
    const char *p2 = strstr(html, "data-parent=\"/\" data-gates=\"Ratio\"");
    const char *p3 = strstr(html, "data-parent=\"/Lo\" data-gates=\"Box Tri\"");
    const char *p4 = strstr(html, "data-parent=\"/Lo\" data-gates=\"Cube\"");
    const char *p6 = strstr(html, "data-parent=\"/Lo\" data-gates=\"Q\"");
    assert_true(p1 && p2 && p3 && p4 && p6);
    assert_true(p1 < p2 && p2 < p3 && p3 < p4 && p4 < p6);
    assert_int_equal(count_of(html, "data-parent=\"/Lo\" data-gates=\"Cube\""), 2);
    /* the labels drawn are the statistics' numbers */
    assert_non_null(strstr(html, ">Box 3 (50.0%)<"));
    assert_non_null(strstr(html, ">Tri 4 (66.7%)<"));
    assert_non_null(strstr(html, ">QB 1 (16.7%)<"));
    assert_non_null(strstr(html, ">Ratio 3 (30.0%)<"));
    /* axis titles: compensation named; a ratio by its channels */
    assert_non_null(strstr(html, ">B [comp. FCS]<"));
    assert_non_null(strstr(html, ">R A/B<"));
    assert_non_null(strstr(html, ">C [linear]<"));
    /* the statistics table, with cells/uL = n / 3 x 1000 / 10 */
    assert_non_null(strstr(html, "<tr data-population=\"/Lo\"><td class=\"pop\" "
                                 "style=\"padding-left:22px\" title=\"/Lo\">Lo</td>"
                                 "<td class=\"num count\">6</td><td class=\"num pct-parent\">"
                                 "60.00</td><td class=\"num pct-total\">60.00</td>"
                                 "<td class=\"num cells-per-ul\">200.0</td></tr>"));
    assert_non_null(strstr(html, "title=\"/Lo/QA\">QA</td><td class=\"num count\">2</td>"
                                 "<td class=\"num pct-parent\">33.33</td>"));
    assert_non_null(strstr(html, "title=\"/Both\">Both</td><td class=\"num count\">3</td>"
                                 "<td class=\"num pct-parent\">30.00</td>"));
    assert_non_null(strstr(html, "<td class=\"num pct-parent\">NA</td>")); /* "/" */
    assert_non_null(strstr(html, "Counting beads /Ratio: 3 events, lot LOT-7, 1000 beads per "
                                 "test in 10 &#181;L"));
    /* keywords: escaped, Latin-1 read as such, control characters replaced */
    assert_non_null(strstr(html, "<td>$CYT</td><td class=\"v\">Cyt &lt;1&gt; &amp; "
                                 "\xc3\xa9\xef\xbf\xbd</td>"));
    assert_non_null(strstr(html, "<td>$SPILLOVER</td><td class=\"v\">present: 2 x 2 "
                                 "($SPILLOVER)</td>"));
    assert_non_null(strstr(html, "<td>LIBFCS_TEST</td><td class=\"v\">provenance</td>"));
    assert_non_null(strstr(html, "<td>$TOT</td><td class=\"v\">10</td>"));
    assert_non_null(strstr(html, "class=\"no-warnings\""));
    assert_non_null(strstr(html, "Gating strategy <b>test &lt;gates&gt;</b>"));
    assert_non_null(strstr(html, "<title>QC report: report1.fcs</title>"));
    free(html);
    fcs_report_free(rep);
    fcs_strategy_free(s);
}

/* Two samples: the cohort table, a section each, ids still unique; beads
 * from each file's keywords. */
static void test_report_cohort(void **state)
{
    (void)state;
    const char *path = write_sample("report2.fcs", "Cyt", 1);
    fcs_strategy *s = strategy(STRATEGY);
    fcs_report *rep = new_report(s, "/Ratio", NULL);
    add(rep, path, "a.fcs");
    add(rep, path, "b.fcs");
    assert_int_equal(fcs_report_n_samples(rep), 2);
    char *html = page(rep);
    assert_well_formed(html);
    assert_ids_unique_no_urls(html);
    assert_int_equal(count_of(html, "<figure class=\"panel\""), 12);
    assert_int_equal(count_of(html, "<table class=\"cohort\">"), 1);
    assert_non_null(strstr(html, "<section class=\"sample\" id=\"sample-1\" data-file=\"a.fcs\">"));
    assert_non_null(strstr(html, "<section class=\"sample\" id=\"sample-2\" data-file=\"b.fcs\">"));
    assert_non_null(strstr(html, "<title>Cohort of 2 samples</title>"));
    /* cohort cell of /Lo/Box: 50% of parent, 3 events, 100 cells/uL */
    const char *row = strstr(html, "<tr data-population=\"/Lo/Box\"><td style=");
    assert_non_null(row);
    assert_non_null(strstr(row, "<b>50.00%</b><br/><small>3 &#183; 100.0/&#181;L</small>"));
    assert_true(strstr(row, "</tr>") > strstr(row, "100.0/&#181;L"));
    free(html);
    fcs_report_free(rep);
    fcs_strategy_free(s);
}

static void test_report_warnings(void **state)
{
    (void)state;
    /* The HEADER's DATA end one byte past $ENDDATA: the reader repairs it
     * with a warning, which the page lists. */
    const char *path = write_sample("report3.fcs", "Cyt", 0);
    size_t len;
    char *bytes = tu_read_file(path, &len);
    assert_non_null(bytes);
    long end = strtol(bytes + 34, NULL, 10);
    char field[32];
    assert_int_equal(snprintf(field, sizeof field, "%8ld", end + 1), 8);
    memcpy(bytes + 34, field, 8);
    const char *bad = tu_tmp_path("report3b.fcs");
    assert_int_equal(tu_write_file(bad, bytes, len), 0);
    free(bytes);
    fcs_reader *r = open_file(bad);
    assert_true(fcs_n_warnings(r) > 0);
    fcs_strategy *s = strategy(STRATEGY);
    fcs_report *rep = new_report(s, NULL, NULL);
    assert_int_equal(fcs_report_add_sample(rep, r, "bad.fcs"), FCS_OK);
    char *html = page(rep);
    char want[1024];
    snprintf(want, sizeof want, "<li class=\"warning\">%s</li>", fcs_warning(r, 0));
    assert_non_null(strstr(html, want));
    assert_null(strstr(html, "cells-per-ul")); /* no beads, no column */
    free(html);
    fcs_close(r);
    fcs_report_free(rep);
    fcs_strategy_free(s);
}

static void test_report_errors(void **state)
{
    (void)state;
    const char *path = write_sample("report4.fcs", "Cyt", 0);
    fcs_strategy *s = strategy(STRATEGY);
    fcs_report_opts o;
    fcs_report *rep = NULL;
    fcs_error err;
    /* bad options and an unknown bead population */
    fcs_report_opts_init(&o);
    o.plot_width = 100;
    assert_int_equal(fcs_report_new(&rep, s, &o, &err), FCS_EINVAL);
    assert_null(rep);
    fcs_report_opts_init(&o);
    o.bins = 1;
    assert_int_equal(fcs_report_new(&rep, s, &o, &err), FCS_EINVAL);
    fcs_report_opts_init(&o);
    o.bead_population = "/Nope";
    assert_int_equal(fcs_report_new(&rep, s, &o, &err), FCS_ENOTFOUND);
    assert_non_null(strstr(err.msg, "/Nope"));
    fcs_bead_lot lot;
    memset(&lot, 0, sizeof lot);
    o.bead_population = "Ratio";
    o.bead_lot = &lot; /* no numbers */
    assert_int_equal(fcs_report_new(&rep, s, &o, &err), FCS_EINVAL);
    assert_int_equal(fcs_report_new(&rep, NULL, NULL, &err), FCS_EINVAL);

    /* beads without numbers in the file: the sample is refused */
    rep = new_report(s, "Ratio", NULL);
    fcs_reader *r = open_file(path);
    assert_int_equal(fcs_report_add_sample(rep, r, "x.fcs"), FCS_ENOTFOUND);
    assert_non_null(strstr(fcs_report_errmsg(rep), "x.fcs"));
    assert_non_null(strstr(fcs_report_errmsg(rep), "LIBFCS_BEADS_PER_TEST"));
    assert_int_equal(fcs_report_n_samples(rep), 0);
    char *html;
    size_t len;
    assert_int_equal(fcs_report_html(rep, &html, &len), FCS_EINVAL);
    fcs_close(r);
    fcs_report_free(rep);
    fcs_strategy_free(s);

    /* a gate channel the file lacks: refused, the report unchanged */
    s = strategy("Z: rectangle Z [0, 1)\n");
    rep = new_report(s, NULL, NULL);
    r = open_file(path);
    assert_int_equal(fcs_report_add_sample(rep, r, "-"), FCS_ENOTFOUND);
    assert_non_null(strstr(fcs_report_errmsg(rep), "<stdin>"));
    assert_non_null(strstr(fcs_report_errmsg(rep), "'Z'"));
    assert_int_equal(fcs_report_n_samples(rep), 0);
    assert_int_equal(fcs_report_add_sample(rep, NULL, "x"), FCS_EINVAL);
    assert_int_equal(fcs_report_add_sample(NULL, r, "x"), FCS_EINVAL);
    fcs_close(r);
    fcs_report_free(rep);
    fcs_strategy_free(s);

    /* a population id with '/' would make paths ambiguous */
    s = fcs_strategy_new();
    fcs_gate_dim d = {"A", NULL, NULL, NULL};
    double lo = 0, hi = 1;
    assert_int_equal(fcs_strategy_add_rectangle(s, "a/b", NULL, 1, &d, &lo, &hi), FCS_OK);
    assert_int_equal(fcs_report_new(&rep, s, NULL, &err), FCS_EINVAL);
    assert_non_null(strstr(err.msg, "a/b"));
    fcs_strategy_free(s);
    fcs_report_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dim_values),        cmocka_unit_test(test_dim_source_special),
        cmocka_unit_test(test_dim_values_blocks), cmocka_unit_test(test_axis_range),
        cmocka_unit_test(test_draw_gate),         cmocka_unit_test(test_report_sample),
        cmocka_unit_test(test_report_cohort),     cmocka_unit_test(test_report_warnings),
        cmocka_unit_test(test_report_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
