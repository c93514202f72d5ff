/* test_gate.c — the gate model: geometry at its boundaries, hierarchy,
 * boolean logic, compensation and transformation references, binding
 * errors. Every expectation is worked out by hand (or by an independent
 * integer computation) in the comments. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcs/comp.h"
#include "fcs/gate.h"
#include "gate_internal.h"
#include "testutil.h"

static fcs_gate_dim D(const char *name)
{
    fcs_gate_dim d = {name, NULL, NULL, NULL};
    return d;
}

/* Bind s to the given channels, gate n events given column by column and
 * return the membership of population pop (malloc'd, n bytes). */
static uint8_t *gate_cols(fcs_strategy *s, const char *const *ch, size_t nch,
                          const double *const *cols, size_t n, const char *pop)
{
    fcs_gating *g = NULL;
    fcs_error err;
    int rc = fcs_gating_new(&g, s, ch, nch, NULL, &err);
    if (rc) fprintf(stderr, "bind: %s\n", err.msg);
    assert_int_equal(rc, FCS_OK);
    size_t np = fcs_strategy_n_populations(s);
    uint8_t **mem = calloc(np, sizeof *mem);
    for (size_t p = 0; p < np; p++) mem[p] = calloc(n ? n : 1, 1);
    rc = fcs_gating_run(g, cols, n, mem);
    assert_int_equal(rc, FCS_OK);
    long pi = fcs_strategy_population_index(s, pop);
    assert_true(pi >= 0);
    uint8_t *res = mem[pi];
    for (size_t p = 0; p < np; p++)
        if ((long)p != pi) free(mem[p]);
    free(mem);
    fcs_gating_free(g);
    return res;
}

/* Same for 2-D points (x[i], y[i]) on channels "X" and "Y". */
static uint8_t *gate_xy(fcs_strategy *s, const double *x, const double *y, size_t n,
                        const char *pop)
{
    const char *ch[2] = {"X", "Y"};
    const double *cols[2] = {x, y};
    return gate_cols(s, ch, 2, cols, n, pop);
}

static void expect(const uint8_t *got, const int *want, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (got[i] != want[i]) fprintf(stderr, "event %zu: got %d want %d\n", i, got[i], want[i]);
        assert_int_equal(got[i], want[i]);
    }
}

/* ---- rectangles ---------------------------------------------------------- */

static void test_rectangle_boundaries(void **state)
{
    (void)state;
    fcs_strategy *s = fcs_strategy_new();
    fcs_gate_dim dims[2] = {D("X"), D("Y")};
    double lo[2] = {1, NAN}, hi[2] = {2, 5}; /* 1 <= x < 2, y < 5 (no lower side) */
    assert_int_equal(fcs_strategy_add_rectangle(s, "R", NULL, 2, dims, lo, hi), FCS_OK);
    double x[] = {1, 2, 1.5, nextafter(2, 0), nextafter(1, 0), 1.5, 1.5, NAN, 1.5, 1.5};
    double y[] = {0, 0, 5, 4.999, 0, -INFINITY, NAN, 0, nextafter(5, 0), INFINITY};
    int want[] = {1, 0, 0, 1, 0, 1, 0, 0, 1, 0};
    uint8_t *m = gate_xy(s, x, y, 10, "R");
    expect(m, want, 10);
    free(m);
    fcs_strategy_free(s);
}

static void test_rectangle_needs_a_side(void **state)
{
    (void)state;
    fcs_strategy *s = fcs_strategy_new();
    fcs_gate_dim d = D("X");
    double lo = NAN, hi = NAN;
    assert_int_equal(fcs_strategy_add_rectangle(s, "R", NULL, 1, &d, &lo, &hi), FCS_EINVAL);
    assert_non_null(strstr(fcs_strategy_errmsg(s), "neither min nor max"));
    fcs_gate_dim bad = {"X", "ratio", NULL, NULL}; /* both a name and a ratio */
    lo = 0;
    assert_int_equal(fcs_strategy_add_rectangle(s, "R", NULL, 1, &bad, &lo, &hi), FCS_EINVAL);
    assert_int_equal(fcs_strategy_n_gates(s), 0);
    fcs_strategy_free(s);
}

/* ---- polygons ------------------------------------------------------------- */

static fcs_strategy *polygon(const double *xy, size_t n)
{
    fcs_strategy *s = fcs_strategy_new();
    fcs_gate_dim dims[2] = {D("X"), D("Y")};
    int rc = fcs_strategy_add_polygon(s, "P", NULL, dims, n, xy);
    if (rc) fprintf(stderr, "%s\n", fcs_strategy_errmsg(s));
    assert_int_equal(rc, FCS_OK);
    return s;
}

static void test_polygon_edges_are_inside(void **state)
{
    (void)state;
    /* Triangle (0,0) (3,0) (3,1): its hypotenuse is y = x/3. */
    const double tri[] = {0, 0, 3, 0, 3, 1};
    fcs_strategy *s = polygon(tri, 3);
    double x[] = {1.5, 1.5, 1.5, 0.75, 3 * 0x1p-30, 0, 3, 3, 2, 3, nextafter(3, 4), 2, 1,
                  0.3};
    double y[] = {0.5, nextafter(0.5, 1), nextafter(0.5, 0), 0.25, 0x1p-30, 0, 1, 0.5, 0,
                  nextafter(1, 2), 0.5, -0x1p-1074, 1.0 / 3, 0.1};
    /* 1.5,0.5 and 0.75,0.25 and 3*2^-30,2^-30 lie exactly on the hypotenuse;
     * one ulp above it is outside, one below inside. Vertices, a point on the
     * vertical edge and on the bottom edge are inside; just beyond them is not.
     * (1, 1/3): 1/3 rounds below the exact third, so the point is inside.
     * (0.3, 0.1): the double 0.3 is 0.29999999999999998889..., a third of it
     * 0.09999999999999999630..., below the double 0.1 = 0.10000000000000000555...,
     * so the point is just above the hypotenuse: outside. */
    int want[] = {1, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0};
    uint8_t *m = gate_xy(s, x, y, 14, "P");
    expect(m, want, 14);
    free(m);
    fcs_strategy_free(s);
}

static void test_polygon_nonfinite_points(void **state)
{
    (void)state;
    const double sq[] = {0, 0, 10, 0, 10, 10, 0, 10};
    fcs_strategy *s = polygon(sq, 4);
    double x[] = {NAN, 5, INFINITY, -INFINITY, 5, 5, 5};
    double y[] = {5, NAN, 5, 5, INFINITY, -INFINITY, 5};
    int want[] = {0, 0, 0, 0, 0, 0, 1};
    uint8_t *m = gate_xy(s, x, y, 7, "P");
    expect(m, want, 7);
    free(m);
    fcs_strategy_free(s);
}

static void test_polygon_self_crossing_even_odd(void **state)
{
    (void)state;
    /* Pentagram drawn in one stroke: the centre pentagon is wound twice, so
     * it is a hole (Gating-ML: odd winding is inside; non-zero would fill
     * it); the arms are wound once. Vertices of a regular star, rounded. */
    const double star[] = {0, 10, 5.88, -8.09, -9.51, 3.09, 9.51, 3.09, -5.88, -8.09};
    fcs_strategy *s = polygon(star, 5);
    double x[] = {0, 0, 20, 0, 0};
    double y[] = {0, 7, 0, -9, 3.09}; /* centre; arm; far; below; on the centre's top edge */
    int want[] = {0, 1, 0, 0, 1};
    uint8_t *m = gate_xy(s, x, y, 4, "P");
    expect(m, want, 4);
    free(m);
    fcs_strategy_free(s);
    /* Bow tie (0,0)(2,2)(2,0)(0,2): two triangles meeting at (1,1), wound
     * in opposite directions; both are inside, the crossing point too. */
    const double bow[] = {0, 0, 2, 2, 2, 0, 0, 2};
    s = polygon(bow, 4);
    double bx[] = {1.9, 0.1, 1, 1, 1};
    double by[] = {1, 1, 1, 1.5, 0.5};
    int bwant[] = {1, 1, 1, 0, 0};
    m = gate_xy(s, bx, by, 5, "P");
    expect(m, bwant, 5);
    free(m);
    fcs_strategy_free(s);
}

static void test_polygon_non_simple_hole(void **state)
{
    (void)state;
    /* The shape of Gating-ML compliance gate Polygon3NS: its tail
     * (100,390)-(100,180)-(200,180)-(200,300)-(10,300) crosses itself at
     * (100,300), winding the square [100,200]x[180,300] twice: a hole. */
    const double v[] = {10, 10, 500, 10, 500, 390, 100, 390, 100, 180, 200, 180, 200, 300, 10, 300};
    fcs_strategy *s = polygon(v, 8);
    double x[] = {150, 150, 300, 50, 150, 200, 100, 600};
    double y[] = {250, 100, 300, 350, 350, 250, 250, 100};
    /* in the hole; below it; right part; top-left, outside the tail (a ray
     * to +x crosses x=100 and x=500); between the hole and the top edge; on
     * the hole's right edge; on its left edge; right of everything */
    int want[] = {0, 1, 1, 0, 1, 1, 1, 0};
    uint8_t *m = gate_xy(s, x, y, 8, "P");
    expect(m, want, 8);
    free(m);
    fcs_strategy_free(s);
}

static void test_polygon_degenerate(void **state)
{
    (void)state;
    /* Collinear vertices: zero area; only points on the segment are inside. */
    const double line[] = {0, 0, 1, 1, 2, 2};
    fcs_strategy *s = polygon(line, 3);
    double x[] = {0.5, 2, 2.5, 1, 0.5};
    double y[] = {0.5, 2, 2.5, 1.0000001, 0.4};
    int want[] = {1, 1, 0, 0, 0};
    uint8_t *m = gate_xy(s, x, y, 5, "P");
    expect(m, want, 5);
    free(m);
    fcs_strategy_free(s);
    /* Repeated vertices (zero-length edges) change nothing. */
    const double tri[] = {0, 0, 0, 0, 4, 0, 4, 4, 4, 4};
    s = polygon(tri, 5);
    double tx[] = {3, 1, 0, 4};
    double ty[] = {1, 3, 0, 4};
    int twant[] = {1, 0, 1, 1};
    m = gate_xy(s, tx, ty, 4, "P");
    expect(m, twant, 4);
    free(m);
    fcs_strategy_free(s);
    /* Fewer than 3 vertices, or a non-finite one, is refused. */
    s = fcs_strategy_new();
    fcs_gate_dim dims[2] = {D("X"), D("Y")};
    assert_int_equal(fcs_strategy_add_polygon(s, "P", NULL, dims, 2, line), FCS_EINVAL);
    const double bad[] = {0, 0, 1, NAN, 2, 2};
    assert_int_equal(fcs_strategy_add_polygon(s, "P", NULL, dims, 3, bad), FCS_EINVAL);
    fcs_strategy_free(s);
}

static void test_polygon_huge_and_tiny(void **state)
{
    (void)state;
    /* The triangle of the first test scaled by B = 2^996 (about 6.7e299):
     * every product of the orientation test (3 B * B) overflows, so only
     * exact arithmetic can decide; the scale is a power of two, so the
     * points below are exactly on the hypotenuse or one ulp off it. */
    const double B = 0x1p996;
    const double big[] = {0, 0, 3 * B, 0, 3 * B, B};
    fcs_strategy *s = polygon(big, 3);
    double x[] = {1.5 * B, 1.5 * B, 1.5 * B, 3 * B, 2.9 * B, 1e308};
    double y[] = {0.5 * B, nextafter(0.5 * B, 1e308), nextafter(0.5 * B, 0), B, 0.1 * B, 0};
    int want[] = {1, 0, 1, 1, 1, 0};
    uint8_t *m = gate_xy(s, x, y, 6, "P");
    expect(m, want, 6);
    free(m);
    fcs_strategy_free(s);
    /* Subnormal scale: vertices 0, 3*2^-1074*k... the triangle (0,0)
     * (3 d, 0) (3 d, d) with d = 2^-1060 (products underflow to 0). */
    double d = 0x1p-1060;
    const double tiny[] = {0, 0, 3 * d, 0, 3 * d, d};
    s = polygon(tiny, 3);
    double tx[] = {1.5 * d, 1.5 * d, 1.5 * d, 3 * d};
    double ty[] = {0.5 * d, 0.5 * d + 0x1p-1074, 0.5 * d - 0x1p-1074, 0.5 * d};
    int twant[] = {1, 0, 1, 1};
    m = gate_xy(s, tx, ty, 4, "P");
    expect(m, twant, 4);
    free(m);
    fcs_strategy_free(s);
}

static void test_orient_exact(void **state)
{
    (void)state;
    assert_int_equal(fcs_orient2d_exact(0, 0, 1, 0, 0, 1), 1);
    assert_int_equal(fcs_orient2d_exact(0, 0, 1, 0, 0, -1), -1);
    assert_int_equal(fcs_orient2d_exact(0, 0, 3, 1, 1.5, 0.5), 0);
    /* Shewchuk's classic: points near the line y = x at 0.5 + k ulp. Exact
     * answer: sign(py - px) for a = (12,12), b = (24,24). */
    double base = 0.5;
    for (int i = 0; i < 32; i++)
        for (int j = 0; j < 32; j++) {
            double px = base, py = base;
            for (int k = 0; k < i; k++) px = nextafter(px, 1);
            for (int k = 0; k < j; k++) py = nextafter(py, 1);
            int want = (py > px) - (py < px);
            assert_int_equal(fcs_orient2d_exact(12, 12, 24, 24, px, py), want);
        }
    /* Overflowing and subnormal magnitudes. */
    assert_int_equal(fcs_orient2d_exact(-1e308, -1e308, 1e308, 1e308, 0, 0), 0);
    assert_int_equal(fcs_orient2d_exact(-1e308, -1e308, 1e308, 1e308, 0, 0x1p-1074), 1);
    assert_int_equal(fcs_orient2d_exact(0, 0, 0x1p-1074, 0x1p-1074, 1e308, 1e308), 0);
    assert_int_equal(fcs_orient2d_exact(0, 0, 0x1p-1074, 0x1p-1074, 1e308, nextafter(1e308, 0)),
                     -1);
}

/* Independent reference: integer winding number (odd = inside) plus
 * on-segment test, all in exact int64 arithmetic. */
static int int_inside(const long *v, int n, long px, long py)
{
    int wn = 0;
    for (int i = 0; i < n; i++) {
        long ax = v[2 * i], ay = v[2 * i + 1], bx = v[2 * ((i + 1) % n)],
             by = v[2 * ((i + 1) % n) + 1];
        long cr = (bx - ax) * (py - ay) - (px - ax) * (by - ay);
        if (cr == 0 && px >= (ax < bx ? ax : bx) && px <= (ax > bx ? ax : bx) &&
            py >= (ay < by ? ay : by) && py <= (ay > by ? ay : by))
            return 1;
        if (ay <= py && by > py && cr > 0) wn++;
        if (ay > py && by <= py && cr < 0) wn--;
    }
    return (wn & 1) != 0;
}

static void test_polygon_random_integer_grid(void **state)
{
    (void)state;
    /* Random polygons with integer vertices and every grid point around
     * them: many points fall exactly on edges; the double kernel (vector
     * pass + exact fallback) must agree with the integer reference. */
    uint64_t seed = 12345;
    for (int trial = 0; trial < 40; trial++) {
        int n = 3 + trial % 9;
        long v[24];
        double xy[24];
        for (int i = 0; i < 2 * n; i++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            v[i] = (long)((seed >> 33) % 21) - 10;
            xy[i] = (double)v[i];
        }
        fcs_strategy *s = polygon(xy, (size_t)n);
        size_t np = 0;
        double px[25 * 25], py[25 * 25];
        for (long gx = -12; gx <= 12; gx++)
            for (long gy = -12; gy <= 12; gy++) px[np] = (double)gx, py[np++] = (double)gy;
        uint8_t *m = gate_xy(s, px, py, np, "P");
        for (size_t i = 0; i < np; i++) {
            int want = int_inside(v, n, (long)px[i], (long)py[i]);
            if (m[i] != want)
                fprintf(stderr, "trial %d point (%g,%g): got %d want %d\n", trial, px[i], py[i],
                        m[i], want);
            assert_int_equal(m[i], want);
            assert_int_equal(fcs_polygon_contains_exact(xy, (size_t)n, px[i], py[i]), want);
        }
        free(m);
        fcs_strategy_free(s);
    }
}

static double ulps(double x, int k)
{
    for (; k > 0; k--) x = nextafter(x, INFINITY);
    for (; k < 0; k++) x = nextafter(x, -INFINITY);
    return x;
}

static void test_polygon_near_edges_agree_with_exact(void **state)
{
    (void)state;
    /* A polygon with "ugly" coordinates, and points a few ulps from its
     * edges and vertices, where the naive floating-point orientation can
     * have the wrong sign. The vector kernel (with its error filter) must
     * classify each point as the exact predicate does. */
    const double v[] = {0.1, 0.7, 17.3, 0.30000000000000004, 23.9, 19.1, 9.7, 29.3,
                        13.37, 11.1, 1.0 / 3, 23.0 / 7};
    size_t nv = 6, np = 0;
    fcs_strategy *s = polygon(v, nv);
    enum { MAXP = 6 * 9 * 49 + 6 * 49 };
    static double px[MAXP], py[MAXP];
    for (size_t e = 0; e < nv; e++) {
        double ax = v[2 * e], ay = v[2 * e + 1];
        double bx = v[2 * ((e + 1) % nv)], by = v[2 * ((e + 1) % nv) + 1];
        for (int t = 0; t <= 9; t++) {
            double fx = t < 9 ? ax + (t + 1) / 10.0 * (bx - ax) : ax;
            double fy = t < 9 ? ay + (t + 1) / 10.0 * (by - ay) : ay;
            for (int i = -3; i <= 3; i++)
                for (int j = -3; j <= 3; j++) px[np] = ulps(fx, i), py[np++] = ulps(fy, j);
        }
    }
    assert_int_equal(np, MAXP);
    uint8_t *m = gate_xy(s, px, py, np, "P");
    size_t in = 0, disagree_naive = 0;
    for (size_t i = 0; i < np; i++) {
        int want = fcs_polygon_contains_exact(v, nv, px[i], py[i]);
        if (m[i] != want) fprintf(stderr, "point %zu (%.17g, %.17g): got %d\n", i, px[i], py[i], m[i]);
        assert_int_equal(m[i], want);
        in += want;
        /* how often would the naive orientation sign have been wrong? */
        for (size_t e = 0; e < nv; e++) {
            double ax = v[2 * e], ay = v[2 * e + 1];
            double bx = v[2 * ((e + 1) % nv)], by = v[2 * ((e + 1) % nv) + 1];
            double d = (bx - ax) * (py[i] - ay) - (px[i] - ax) * (by - ay);
            int naive = (d > 0) - (d < 0);
            if (naive != fcs_orient2d_exact(ax, ay, bx, by, px[i], py[i])) disagree_naive++;
        }
    }
    /* the set is not trivial: both sides are present, and naive arithmetic
     * gets some orientations wrong */
    assert_true(in > np / 4 && in < np);
    assert_true(disagree_naive > 0);
    free(m);
    fcs_strategy_free(s);
}

static void test_polygon_many_events_blocks(void **state)
{
    (void)state;
    /* More events than one internal block, with a result pattern that a
     * block offset error would shift: x = i mod 7, inside iff x in [1,3]. */
    const double sq[] = {1, -1, 3, -1, 3, 1, 1, 1};
    fcs_strategy *s = polygon(sq, 4);
    size_t n = 5000;
    double *x = malloc(n * sizeof *x), *y = calloc(n, sizeof *y);
    for (size_t i = 0; i < n; i++) x[i] = (double)(i % 7);
    uint8_t *m = gate_xy(s, x, y, n, "P");
    for (size_t i = 0; i < n; i++) assert_int_equal(m[i], (i % 7) >= 1 && (i % 7) <= 3);
    free(m), free(x), free(y);
    fcs_strategy_free(s);
}

/* ---- ellipsoids ------------------------------------------------------------- */

static void test_ellipsoid(void **state)
{
    (void)state;
    fcs_strategy *s = fcs_strategy_new();
    fcs_gate_dim dims[3] = {D("X"), D("Y"), D("Z")};
    /* Unit circle: C = I, D = 1. Boundary points are inside. */
    const double mean[2] = {0, 0}, eye[4] = {1, 0, 0, 1};
    assert_int_equal(fcs_strategy_add_ellipsoid(s, "C", NULL, 2, dims, mean, eye, 1), FCS_OK);
    /* Gating-ML compliance Ellipse1: half axes 10 and 5 rotated by 45 deg:
     * C = R diag(100,25) R' = [[62.5,37.5],[37.5,62.5]], D = 1. */
    const double m2[2] = {10, 20}, c2[4] = {62.5, 37.5, 37.5, 62.5};
    assert_int_equal(fcs_strategy_add_ellipsoid(s, "E", NULL, 2, dims, m2, c2, 1), FCS_OK);
    double r = sqrt(0.5);
    double x[] = {1, nextafter(1, 2), 0.6, NAN, 10 + 9.9 * r, 10 + 10.1 * r, 10 - 4.9 * r,
                  10 - 5.1 * r};
    double y[] = {0, 0, 0.79, 0, 20 + 9.9 * r, 20 + 10.1 * r, 20 + 4.9 * r, 20 + 5.1 * r};
    int wantC[] = {1, 0, 1, 0, 0, 0, 0, 0};
    int wantE[] = {0, 0, 0, 0, 1, 0, 1, 0};
    uint8_t *m = gate_xy(s, x, y, 8, "C");
    expect(m, wantC, 8);
    free(m);
    m = gate_xy(s, x, y, 8, "E");
    expect(m, wantE, 8);
    free(m);
    /* 3-D: diag(1,4,9) → semi-axes 1,2,3; D = 1. */
    const double m3[3] = {0, 0, 0}, c3[9] = {1, 0, 0, 0, 4, 0, 0, 0, 9};
    assert_int_equal(fcs_strategy_add_ellipsoid(s, "S", NULL, 3, dims, m3, c3, 1), FCS_OK);
    const char *ch[3] = {"X", "Y", "Z"};
    double ex[] = {0, 0, 0, 0.5, 0.6};
    double ey[] = {0, 2, 0, 1, 1};
    double ez[] = {3, 0, 3.01, 1.5, 1.5};
    /* 0.25+0.25+0.25 = 0.75 in; 0.36+0.25+0.25 = 0.86 in */
    const double *cols[3] = {ex, ey, ez};
    int want3[] = {1, 1, 0, 1, 1};
    m = gate_cols(s, ch, 3, cols, 5, "S");
    expect(m, want3, 5);
    free(m);
    /* Singular covariance and negative distance are refused. */
    const double sing[4] = {1, 2, 2, 4};
    assert_int_equal(fcs_strategy_add_ellipsoid(s, "Z", NULL, 2, dims, mean, sing, 1),
                     FCS_ENUMERIC);
    assert_int_equal(fcs_strategy_add_ellipsoid(s, "Z", NULL, 2, dims, mean, eye, -1),
                     FCS_EINVAL);
    fcs_strategy_free(s);
}

/* ---- quadrants ---------------------------------------------------------------- */

static void test_quadrants(void **state)
{
    (void)state;
    fcs_strategy *s = fcs_strategy_new();
    const double fv[2] = {70, 28}, sv[1] = {17.75}; /* unsorted on purpose */
    fcs_gate_divider div[2] = {{"F", D("X"), 2, fv}, {"S", D("Y"), 1, sv}};
    assert_int_equal(fcs_strategy_add_quadrant_gate(s, "Q", NULL, 2, div), FCS_OK);
    const char *fs[2] = {"F", "S"};
    const double low[2] = {10, 10}, mid[2] = {30, 10}, high[2] = {80, 20};
    assert_int_equal(fcs_strategy_add_quadrant(s, "Q", "FN-SN", 2, fs, low), FCS_OK);
    assert_int_equal(fcs_strategy_add_quadrant(s, "Q", "FD-SN", 2, fs, mid), FCS_OK);
    assert_int_equal(fcs_strategy_add_quadrant(s, "Q", "FP-SP", 2, fs, high), FCS_OK);
    const char *only_f[1] = {"F"};
    assert_int_equal(fcs_strategy_add_quadrant(s, "Q", "FD", 1, only_f, mid + 0), FCS_OK);
    /* A location exactly on a cut value picks the interval starting there:
     * 28 -> [28, 70), 70 -> [70, inf). */
    const double at28 = 28, at70 = 70;
    assert_int_equal(fcs_strategy_add_quadrant(s, "Q", "AT28", 1, only_f, &at28), FCS_OK);
    assert_int_equal(fcs_strategy_add_quadrant(s, "Q", "AT70", 1, only_f, &at70), FCS_OK);
    /* Errors: unknown divider, divider twice, id in use, quadrant gate missing. */
    const char *bad[1] = {"Z"};
    assert_int_equal(fcs_strategy_add_quadrant(s, "Q", "X1", 1, bad, low), FCS_ENOTFOUND);
    const char *twice[2] = {"F", "F"};
    assert_int_equal(fcs_strategy_add_quadrant(s, "Q", "X1", 2, twice, low), FCS_EINVAL);
    assert_int_equal(fcs_strategy_add_quadrant(s, "Q", "FD", 1, only_f, low), FCS_EINVAL);
    assert_int_equal(fcs_strategy_add_quadrant(s, "NoSuch", "X1", 1, only_f, low),
                     FCS_ENOTFOUND);
    /* Populations: the quadrants, not the quadrant gate. */
    assert_int_equal(fcs_strategy_n_populations(s), 6);
    assert_int_equal(fcs_strategy_population_index(s, "Q"), -1);
    assert_string_equal(fcs_strategy_population_id(s, 1), "FD-SN");
    /* Intervals: x < 28 | 28 <= x < 70 | x >= 70; y < 17.75 | y >= 17.75. */
    double x[] = {27.9, 28, 69.9, 70, 30, 5, NAN};
    double y[] = {0, 0, 17.7, 17.75, 100, 17.75, 0};
    int wFN[] = {1, 0, 0, 0, 0, 0, 0};
    int wFD[] = {0, 1, 1, 0, 0, 0, 0};
    int wFP[] = {0, 0, 0, 1, 0, 0, 0};
    int wD[] = {0, 1, 1, 0, 1, 0, 0};
    uint8_t *m = gate_xy(s, x, y, 7, "FN-SN");
    expect(m, wFN, 7);
    free(m);
    m = gate_xy(s, x, y, 7, "FD-SN");
    expect(m, wFD, 7);
    free(m);
    m = gate_xy(s, x, y, 7, "FP-SP");
    expect(m, wFP, 7);
    free(m);
    m = gate_xy(s, x, y, 7, "FD");
    expect(m, wD, 7);
    free(m);
    m = gate_xy(s, x, y, 7, "AT28");
    expect(m, wD, 7);
    free(m);
    int w70[] = {0, 0, 0, 1, 0, 0, 0};
    m = gate_xy(s, x, y, 7, "AT70");
    expect(m, w70, 7);
    free(m);
    fcs_strategy_free(s);
}

/* ---- booleans and hierarchy ------------------------------------------------------ */

/* Ranges on X: A = [0,10), B = [5,15); events x = 0..19. */
static fcs_strategy *two_ranges(void)
{
    fcs_strategy *s = fcs_strategy_new();
    fcs_gate_dim d = D("X");
    double a0 = 0, a1 = 10, b0 = 5, b1 = 15;
    assert_int_equal(fcs_strategy_add_rectangle(s, "A", NULL, 1, &d, &a0, &a1), FCS_OK);
    assert_int_equal(fcs_strategy_add_rectangle(s, "B", NULL, 1, &d, &b0, &b1), FCS_OK);
    return s;
}

static uint8_t *gate_x(fcs_strategy *s, const char *pop)
{
    static double x[20];
    for (int i = 0; i < 20; i++) x[i] = i;
    const char *ch[1] = {"X"};
    const double *cols[1] = {x};
    return gate_cols(s, ch, 1, cols, 20, pop);
}

static void test_boolean(void **state)
{
    (void)state;
    fcs_strategy *s = two_ranges();
    fcs_gate_ref ab[2] = {{"A", 0}, {"B", 0}}, anb[2] = {{"A", 0}, {"B", 1}}, na[1] = {{"A", 0}};
    assert_int_equal(fcs_strategy_add_boolean(s, "AND", NULL, FCS_GATE_AND, 2, ab), FCS_OK);
    assert_int_equal(fcs_strategy_add_boolean(s, "OR", NULL, FCS_GATE_OR, 2, ab), FCS_OK);
    assert_int_equal(fcs_strategy_add_boolean(s, "AnotB", NULL, FCS_GATE_AND, 2, anb), FCS_OK);
    assert_int_equal(fcs_strategy_add_boolean(s, "NOT", NULL, FCS_GATE_NOT, 1, na), FCS_OK);
    fcs_gate_ref onb[2] = {{"A", 0}, {"B", 1}};
    assert_int_equal(fcs_strategy_add_boolean(s, "AorNotB", NULL, FCS_GATE_OR, 2, onb), FCS_OK);
    /* A boolean of booleans, defined before its operand exists. */
    fcs_gate_ref fw[2] = {{"NOT", 0}, {"LATER", 0}};
    assert_int_equal(fcs_strategy_add_boolean(s, "FWD", NULL, FCS_GATE_OR, 2, fw), FCS_OK);
    fcs_gate_ref lt[1] = {{"OR", 0}};
    assert_int_equal(fcs_strategy_add_boolean(s, "LATER", NULL, FCS_GATE_AND, 1, lt),
                     FCS_EINVAL); /* and needs two */
    assert_int_equal(fcs_strategy_add_boolean(s, "LATER", NULL, FCS_GATE_NOT, 1, lt), FCS_OK);
    uint8_t *m;
    int w[20];
    for (int i = 0; i < 20; i++) w[i] = i >= 5 && i < 10;
    m = gate_x(s, "AND"), expect(m, w, 20), free(m);
    for (int i = 0; i < 20; i++) w[i] = i < 15;
    m = gate_x(s, "OR"), expect(m, w, 20), free(m);
    for (int i = 0; i < 20; i++) w[i] = i < 5;
    m = gate_x(s, "AnotB"), expect(m, w, 20), free(m);
    for (int i = 0; i < 20; i++) w[i] = i >= 10;
    m = gate_x(s, "NOT"), expect(m, w, 20), free(m);
    for (int i = 0; i < 20; i++) w[i] = i < 10 || i >= 15; /* A or not B */
    m = gate_x(s, "AorNotB"), expect(m, w, 20), free(m);
    /* FWD = (not A) or LATER = x >= 10 or not(x < 15) = x >= 10 */
    for (int i = 0; i < 20; i++) w[i] = i >= 10;
    m = gate_x(s, "FWD"), expect(m, w, 20), free(m);
    fcs_strategy_free(s);
}

static void test_hierarchy(void **state)
{
    (void)state;
    fcs_strategy *s = two_ranges();
    fcs_gate_dim d = D("X");
    double c0 = 8, c1 = 100;
    /* C = [8,100) with parent B = [5,15): events 8..14. D inside C: x<12. */
    assert_int_equal(fcs_strategy_add_rectangle(s, "C", "B", 1, &d, &c0, &c1), FCS_OK);
    double d0 = NAN, d1 = 12;
    assert_int_equal(fcs_strategy_add_rectangle(s, "D", "C", 1, &d, &d0, &d1), FCS_OK);
    /* Boolean with a parent: (not A) restricted to C = 10..14. */
    fcs_gate_ref na[1] = {{"A", 0}};
    assert_int_equal(fcs_strategy_add_boolean(s, "E", "C", FCS_GATE_NOT, 1, na), FCS_OK);
    int w[20];
    uint8_t *m;
    for (int i = 0; i < 20; i++) w[i] = i >= 8 && i < 15;
    m = gate_x(s, "C"), expect(m, w, 20), free(m);
    for (int i = 0; i < 20; i++) w[i] = i >= 8 && i < 12;
    m = gate_x(s, "D"), expect(m, w, 20), free(m);
    for (int i = 0; i < 20; i++) w[i] = i >= 10 && i < 15;
    m = gate_x(s, "E"), expect(m, w, 20), free(m);
    char path[64];
    long pi = fcs_strategy_population_index(s, "D");
    assert_int_equal(fcs_strategy_population_path(s, (size_t)pi, path, sizeof path), 6);
    assert_string_equal(path, "/B/C/D");
    assert_int_equal(fcs_strategy_population_path(s, (size_t)pi, path, 6), FCS_ERANGE);
    assert_string_equal(fcs_strategy_population_parent(s, (size_t)pi), "C");
    fcs_strategy_free(s);
}

static void test_quadrant_as_parent_and_operand(void **state)
{
    (void)state;
    fcs_strategy *s = fcs_strategy_new();
    const double v[1] = {10};
    fcs_gate_divider div[1] = {{"D", D("X"), 1, v}};
    /* The child is added first: references may point forward. */
    fcs_gate_dim d = D("X");
    double lo = 12, hi = NAN;
    assert_int_equal(fcs_strategy_add_rectangle(s, "R", "HI", 1, &d, &lo, &hi), FCS_OK);
    assert_int_equal(fcs_strategy_add_quadrant_gate(s, "Q", NULL, 1, div), FCS_OK);
    const char *dv[1] = {"D"};
    const double l5 = 5, l15 = 15;
    assert_int_equal(fcs_strategy_add_quadrant(s, "Q", "LO", 1, dv, &l5), FCS_OK);
    assert_int_equal(fcs_strategy_add_quadrant(s, "Q", "HI", 1, dv, &l15), FCS_OK);
    /* Population order: R, then Q's quadrants in their order. */
    assert_string_equal(fcs_strategy_population_id(s, 0), "R");
    assert_string_equal(fcs_strategy_population_id(s, 1), "LO");
    assert_string_equal(fcs_strategy_population_id(s, 2), "HI");
    fcs_gate_ref r[2] = {{"LO", 0}, {"R", 0}};
    assert_int_equal(fcs_strategy_add_boolean(s, "EITHER", NULL, FCS_GATE_OR, 2, r), FCS_OK);
    int w[20];
    uint8_t *m;
    for (int i = 0; i < 20; i++) w[i] = i >= 12;
    m = gate_x(s, "R"), expect(m, w, 20), free(m);
    for (int i = 0; i < 20; i++) w[i] = i < 10 || i >= 12;
    m = gate_x(s, "EITHER"), expect(m, w, 20), free(m);
    assert_int_equal(fcs_strategy_validate(s), FCS_OK);
    /* Naming the quadrant gate itself as an operand is an error. */
    fcs_gate_ref q[1] = {{"Q", 0}};
    assert_int_equal(fcs_strategy_add_boolean(s, "BAD", NULL, FCS_GATE_NOT, 1, q), FCS_OK);
    assert_int_equal(fcs_strategy_validate(s), FCS_EFORMAT);
    assert_non_null(strstr(fcs_strategy_errmsg(s), "quadrant gate"));
    fcs_strategy_free(s);
}

static void test_validation_errors(void **state)
{
    (void)state;
    fcs_strategy *s = two_ranges();
    fcs_gate_dim d = D("X");
    double lo = 0, hi = 1;
    /* duplicate id */
    assert_int_equal(fcs_strategy_add_rectangle(s, "A", NULL, 1, &d, &lo, &hi), FCS_EINVAL);
    assert_non_null(strstr(fcs_strategy_errmsg(s), "already used"));
    /* dangling parent */
    assert_int_equal(fcs_strategy_add_rectangle(s, "C", "Nope", 1, &d, &lo, &hi), FCS_OK);
    assert_int_equal(fcs_strategy_validate(s), FCS_ENOTFOUND);
    assert_non_null(strstr(fcs_strategy_errmsg(s), "parent 'Nope' not found"));
    fcs_gating *g = NULL;
    fcs_error err;
    const char *ch[1] = {"X"};
    assert_int_equal(fcs_gating_new(&g, s, ch, 1, NULL, &err), FCS_ENOTFOUND);
    assert_null(g);
    fcs_strategy_free(s);
    /* cycle through a parent and an operand: P1 parent P2, P2 = not P1 */
    s = fcs_strategy_new();
    assert_int_equal(fcs_strategy_add_rectangle(s, "P1", "P2", 1, &d, &lo, &hi), FCS_OK);
    fcs_gate_ref r[1] = {{"P1", 0}};
    assert_int_equal(fcs_strategy_add_boolean(s, "P2", NULL, FCS_GATE_NOT, 1, r), FCS_OK);
    assert_int_equal(fcs_strategy_validate(s), FCS_EFORMAT);
    assert_non_null(strstr(fcs_strategy_errmsg(s), "cycle"));
    char path[64];
    assert_int_equal(fcs_strategy_population_path(s, 0, path, sizeof path), 6); /* "/P2/P1" */
    assert_int_equal(fcs_gating_new(&g, s, ch, 1, NULL, &err), FCS_EFORMAT);
    fcs_strategy_free(s);
    /* a pure parent cycle: Q1 parent Q2, Q2 parent Q1 */
    s = fcs_strategy_new();
    assert_int_equal(fcs_strategy_add_rectangle(s, "Q1", "Q2", 1, &d, &lo, &hi), FCS_OK);
    assert_int_equal(fcs_strategy_add_rectangle(s, "Q2", "Q1", 1, &d, &lo, &hi), FCS_OK);
    assert_int_equal(fcs_strategy_validate(s), FCS_EFORMAT);
    assert_int_equal(fcs_strategy_population_path(s, 0, path, sizeof path), FCS_EFORMAT);
    fcs_strategy_free(s);
    /* unknown compensation and transformation references; missing channel */
    s = fcs_strategy_new();
    fcs_gate_dim dc = {"X", NULL, "NoMatrix", NULL};
    assert_int_equal(fcs_strategy_add_rectangle(s, "R", NULL, 1, &dc, &lo, &hi), FCS_OK);
    assert_int_equal(fcs_strategy_validate(s), FCS_ENOTFOUND);
    assert_non_null(strstr(fcs_strategy_errmsg(s), "NoMatrix"));
    fcs_strategy_free(s);
    s = fcs_strategy_new();
    fcs_gate_dim dt = {"X", NULL, NULL, "NoXform"};
    assert_int_equal(fcs_strategy_add_rectangle(s, "R", NULL, 1, &dt, &lo, &hi), FCS_OK);
    assert_int_equal(fcs_strategy_validate(s), FCS_ENOTFOUND);
    fcs_strategy_free(s);
    s = fcs_strategy_new();
    fcs_gate_dim dm = D("FL9-H");
    assert_int_equal(fcs_strategy_add_rectangle(s, "R", NULL, 1, &dm, &lo, &hi), FCS_OK);
    assert_int_equal(fcs_gating_new(&g, s, ch, 1, NULL, &err), FCS_ENOTFOUND);
    assert_non_null(strstr(err.msg, "FL9-H"));
    fcs_strategy_free(s);
}

/* ---- compensation and transformations ------------------------------------------------ */

static void test_compensation_refs(void **state)
{
    (void)state;
    /* Spillover S = [[1, 0.5], [0, 1]]: channel A spills half into B.
     * Observed o = t S, so t = o S^-1 with S^-1 = [[1,-0.5],[0,1]]:
     * tA = oA, tB = oB - 0.5 oA. */
    fcs_matrix *S = fcs_matrix_new(2, 2);
    fcs_matrix_set(S, 0, 0, 1), fcs_matrix_set(S, 0, 1, 0.5);
    fcs_matrix_set(S, 1, 0, 0), fcs_matrix_set(S, 1, 1, 1);
    assert_int_equal(fcs_matrix_set_name(S, 0, "A"), FCS_OK);
    assert_int_equal(fcs_matrix_set_name(S, 1, "B"), FCS_OK);
    fcs_strategy *s = fcs_strategy_new();
    assert_int_equal(fcs_strategy_add_matrix(s, "FCS", S, 0), FCS_EINVAL); /* reserved */
    /* As a named spectrum matrix with fluorochromes "fa", "fb". */
    fcs_matrix *Sp = fcs_matrix_copy(S);
    assert_int_equal(fcs_matrix_set_row_name(Sp, 0, "fa"), FCS_OK);
    assert_int_equal(fcs_matrix_set_row_name(Sp, 1, "fb"), FCS_OK);
    assert_int_equal(fcs_strategy_add_matrix(s, "M", Sp, 0), FCS_OK);
    /* The inverse itself, given as matrix-inverted-already (rows = detectors). */
    fcs_matrix *Inv = fcs_matrix_new(2, 2);
    fcs_matrix_set(Inv, 0, 0, 1), fcs_matrix_set(Inv, 0, 1, -0.5);
    fcs_matrix_set(Inv, 1, 0, 0), fcs_matrix_set(Inv, 1, 1, 1);
    assert_int_equal(fcs_matrix_set_name(Inv, 0, "ia"), FCS_OK); /* columns: fluorochromes */
    assert_int_equal(fcs_matrix_set_name(Inv, 1, "ib"), FCS_OK);
    assert_int_equal(fcs_matrix_set_row_name(Inv, 0, "A"), FCS_OK);
    assert_int_equal(fcs_matrix_set_row_name(Inv, 1, "B"), FCS_OK);
    assert_int_equal(fcs_strategy_add_matrix(s, "I", Inv, 1), FCS_OK);
    fcs_gate_info info;
    fcs_gate_matrix_info mi;
    assert_int_equal(fcs_strategy_matrix(s, 1, &mi), FCS_OK);
    assert_string_equal(mi.detectors[1], "B");
    assert_string_equal(mi.fluorochromes[0], "ia");
    /* Range tB in [9, 11) under each reference; C (not in the matrix) as is. */
    double lo[2] = {9, 0}, hi[2] = {11, 1};
    fcs_gate_dim f[2] = {{"B", NULL, "FCS", NULL}, {"C", NULL, "FCS", NULL}};
    fcs_gate_dim m[2] = {{"fb", NULL, "M", NULL}, {"C", NULL, "M", NULL}};
    fcs_gate_dim iv[2] = {{"ib", NULL, "I", NULL}, {"C", NULL, "I", NULL}};
    fcs_gate_dim un[2] = {{"B", NULL, "uncompensated", NULL}, {"C", NULL, NULL, NULL}};
    assert_int_equal(fcs_strategy_add_rectangle(s, "F", NULL, 2, f, lo, hi), FCS_OK);
    assert_int_equal(fcs_strategy_add_rectangle(s, "Mx", NULL, 2, m, lo, hi), FCS_OK);
    assert_int_equal(fcs_strategy_add_rectangle(s, "Iv", NULL, 2, iv, lo, hi), FCS_OK);
    assert_int_equal(fcs_strategy_add_rectangle(s, "U", NULL, 2, un, lo, hi), FCS_OK);
    assert_int_equal(fcs_strategy_gate(s, 0, &info), FCS_OK);
    assert_string_equal(info.dims[0].compensation, "FCS");
    /* events (A, B, C): tB = B - A/2 */
    double A[] = {0, 2, 4, 4, 0};
    double B[] = {10, 11, 11.5, 13.5, 11.5};
    double C[] = {0.5, 0.5, 0.5, 0.5, 0.5};
    /* tB: 10, 10, 9.5, 11.5, 11.5 (away from the bounds: the unmixing is a
     * numerical solve) → 1,1,1,0,0; uncompensated B in [9,11): 1,0,0,0,0 */
    const char *ch[3] = {"A", "B", "C"};
    const double *cols[3] = {A, B, C};
    int wc[] = {1, 1, 1, 0, 0}, wu[] = {1, 0, 0, 0, 0};
    fcs_gating *g;
    fcs_error err;
    int rc = fcs_gating_new(&g, s, ch, 3, S, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, FCS_OK);
    uint8_t mem[4][5];
    uint8_t *mp[4] = {mem[0], mem[1], mem[2], mem[3]};
    assert_int_equal(fcs_gating_run(g, cols, 5, mp), FCS_OK);
    expect(mem[0], wc, 5);
    expect(mem[1], wc, 5);
    expect(mem[2], wc, 5);
    expect(mem[3], wu, 5);
    fcs_gating_free(g);
    /* Without a spillover, "FCS" means uncompensated. */
    assert_int_equal(fcs_gating_new(&g, s, ch, 3, NULL, &err), FCS_OK);
    assert_int_equal(fcs_gating_run(g, cols, 5, mp), FCS_OK);
    expect(mem[0], wu, 5);
    fcs_gating_free(g);
    /* A detector the data lacks: binding names it. */
    const char *ch2[3] = {"A", "Bx", "C"};
    assert_int_equal(fcs_gating_new(&g, s, ch2, 3, S, &err) < 0, 1);
    assert_null(g);
    fcs_strategy_free(s);
    fcs_matrix_free(S), fcs_matrix_free(Sp), fcs_matrix_free(Inv);
}

static void test_transform_refs(void **state)
{
    (void)state;
    fcs_strategy *s = fcs_strategy_new();
    fcs_transform *lin, *ratio;
    fcs_error err;
    /* flin T=100, A=0: y = x/100. fratio A=2, B=1, C=0: 2(x1-1)/x2. */
    assert_int_equal(fcs_transform_new_flin(100, 0, &lin, &err), FCS_OK);
    assert_int_equal(fcs_transform_new_fratio(2, 1, 0, &ratio, &err), FCS_OK);
    assert_int_equal(fcs_strategy_add_transform(s, "lin", lin, NULL, NULL), FCS_OK);
    assert_int_equal(fcs_strategy_add_transform(s, "rat", ratio, "X", "Y"), FCS_OK);
    assert_int_equal(fcs_strategy_add_transform(s, "rat2", ratio, NULL, NULL), FCS_EINVAL);
    assert_int_equal(fcs_strategy_add_transform(s, "lin", lin, NULL, NULL), FCS_EINVAL);
    fcs_transform_free(lin);
    fcs_transform_free(ratio);
    const fcs_transform *t;
    const char *num;
    assert_int_equal(fcs_strategy_transform(s, 1, NULL, &t, &num, NULL), FCS_OK);
    assert_string_equal(num, "X");
    assert_int_equal(fcs_transform_get_kind(t), FCS_TRANSFORM_FRATIO);
    /* T: flin(x) in [0.2, 0.5) → x in [20, 50). R: ratio in [1, 3).
     * RT: flin(ratio) in [0.01, 0.03): the transformation applies to the ratio. */
    fcs_gate_dim dt = {"X", NULL, NULL, "lin"}, dr = {NULL, "rat", NULL, NULL},
                 drt = {NULL, "rat", NULL, "lin"};
    double t0 = 0.2, t1 = 0.5, r0 = 1, r1 = 3, q0 = 0.01, q1 = 0.03;
    assert_int_equal(fcs_strategy_add_rectangle(s, "T", NULL, 1, &dt, &t0, &t1), FCS_OK);
    assert_int_equal(fcs_strategy_add_rectangle(s, "R", NULL, 1, &dr, &r0, &r1), FCS_OK);
    assert_int_equal(fcs_strategy_add_rectangle(s, "RT", NULL, 1, &drt, &q0, &q1), FCS_OK);
    /* A transformation used as a ratio, and a ratio as a transformation: errors. */
    fcs_gate_dim bad1 = {NULL, "lin", NULL, NULL}, bad2 = {"X", NULL, NULL, "rat"};
    assert_int_equal(fcs_strategy_add_rectangle(s, "B1", NULL, 1, &bad1, &t0, &t1), FCS_OK);
    assert_int_equal(fcs_strategy_validate(s), FCS_EFORMAT);
    assert_non_null(strstr(fcs_strategy_errmsg(s), "not an fratio"));
    fcs_strategy_free(s);
    s = fcs_strategy_new();
    assert_int_equal(fcs_transform_new_fratio(2, 1, 0, &ratio, &err), FCS_OK);
    assert_int_equal(fcs_strategy_add_transform(s, "rat", ratio, "X", "Y"), FCS_OK);
    fcs_transform_free(ratio);
    assert_int_equal(fcs_strategy_add_rectangle(s, "B2", NULL, 1, &bad2, &t0, &t1), FCS_OK);
    assert_int_equal(fcs_strategy_validate(s), FCS_EFORMAT);
    fcs_strategy_free(s);

    s = fcs_strategy_new();
    assert_int_equal(fcs_transform_new_flin(100, 0, &lin, &err), FCS_OK);
    assert_int_equal(fcs_transform_new_fratio(2, 1, 0, &ratio, &err), FCS_OK);
    assert_int_equal(fcs_strategy_add_transform(s, "lin", lin, NULL, NULL), FCS_OK);
    assert_int_equal(fcs_strategy_add_transform(s, "rat", ratio, "X", "Y"), FCS_OK);
    fcs_transform_free(lin), fcs_transform_free(ratio);
    assert_int_equal(fcs_strategy_add_rectangle(s, "T", NULL, 1, &dt, &t0, &t1), FCS_OK);
    assert_int_equal(fcs_strategy_add_rectangle(s, "R", NULL, 1, &dr, &r0, &r1), FCS_OK);
    assert_int_equal(fcs_strategy_add_rectangle(s, "RT", NULL, 1, &drt, &q0, &q1), FCS_OK);
    double x[] = {19, 20, 49, 50, 2, 3};
    double y[] = {1, 38, 48, 4, 2, 1};
    /* ratio = 2(x-1)/y: 36, 1, 2, 24.5, 1, 4 */
    int wT[] = {0, 1, 1, 0, 0, 0}, wR[] = {0, 1, 1, 0, 1, 0}, wRT[] = {0, 1, 1, 0, 1, 0};
    uint8_t *m = gate_xy(s, x, y, 6, "T");
    expect(m, wT, 6), free(m);
    m = gate_xy(s, x, y, 6, "R");
    expect(m, wR, 6), free(m);
    m = gate_xy(s, x, y, 6, "RT");
    expect(m, wRT, 6), free(m);
    fcs_strategy_free(s);
}

static void test_gate_info(void **state)
{
    (void)state;
    const double tri[] = {0, 0, 3, 0, 3, 1};
    fcs_strategy *s = polygon(tri, 3);
    fcs_gate_info in;
    assert_int_equal(fcs_strategy_gate(s, 0, &in), FCS_OK);
    assert_int_equal(in.type, FCS_GATE_POLYGON);
    assert_int_equal(in.n_vertices, 3);
    assert_true(in.vertices[4] == 3 && in.vertices[5] == 1);
    assert_string_equal(in.dims[1].name, "Y");
    assert_null(in.parent);
    assert_int_equal(fcs_strategy_gate(s, 1, &in), FCS_ERANGE);
    assert_int_equal(fcs_strategy_find_gate(s, "P"), 0);
    assert_int_equal(fcs_strategy_find_gate(s, "nope"), -1);
    fcs_strategy_free(s);
    fcs_strategy_free(NULL);
    fcs_gating_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rectangle_boundaries),
        cmocka_unit_test(test_rectangle_needs_a_side),
        cmocka_unit_test(test_polygon_edges_are_inside),
        cmocka_unit_test(test_polygon_nonfinite_points),
        cmocka_unit_test(test_polygon_self_crossing_even_odd),
        cmocka_unit_test(test_polygon_non_simple_hole),
        cmocka_unit_test(test_polygon_degenerate),
        cmocka_unit_test(test_polygon_huge_and_tiny),
        cmocka_unit_test(test_orient_exact),
        cmocka_unit_test(test_polygon_random_integer_grid),
        cmocka_unit_test(test_polygon_near_edges_agree_with_exact),
        cmocka_unit_test(test_polygon_many_events_blocks),
        cmocka_unit_test(test_ellipsoid),
        cmocka_unit_test(test_quadrants),
        cmocka_unit_test(test_boolean),
        cmocka_unit_test(test_hierarchy),
        cmocka_unit_test(test_quadrant_as_parent_and_operand),
        cmocka_unit_test(test_validation_errors),
        cmocka_unit_test(test_compensation_refs),
        cmocka_unit_test(test_transform_refs),
        cmocka_unit_test(test_gate_info),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
