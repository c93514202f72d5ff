/*
 * logicle.h — the biexponential engine behind logicle, hyperlog and biex.
 * Private to libfcs (transform.c, the unit tests and the benchmark).
 *
 * Every scale of the family is written around its zero point x1 as
 *     y = x1 + t  for data v = G(t) >= 0,   y = x1 - t  for data -v,
 *     G(t) = p1 * expm1(b t) - n1 * expm1(-d t) + l * t,   t >= 0,
 * i.e. exactly antisymmetric about x1 (the Moore & Parks reflection).
 *   logicle:  p1 = a e^(b x1), n1 = c e^(-d x1), l = 0
 *   hyperlog: p1 = a e^(b x1), n1 = 0,           l = c
 *   biex:     FlowJo's constants, same form as logicle.
 * Written this way G has no cancellation near zero (for t > 0 all three
 * terms are >= 0), so no Taylor series is needed, and G is convex and
 * increasing on t >= 0, so Newton's method started to the right of the root
 * converges monotonically (the exact solver relies on that).
 */
#ifndef FCS_LOGICLE_H
#define FCS_LOGICLE_H

#include <stddef.h>
#include <stdint.h>

#include "fcs/common.h"

typedef struct fcs_bx fcs_bx;

/* Constructors: parameters must already satisfy the public rules
 * (transform.c checks them); these only fail with FCS_ENUMERIC when the
 * coefficients are not finite, or FCS_ENOMEM. */
int fcs_bx_new_logicle(double T, double W, double M, double A, fcs_bx **out, fcs_error *err);
int fcs_bx_new_hyperlog(double T, double W, double M, double A, fcs_bx **out, fcs_error *err);
int fcs_bx_new_biex(double width, double pos, double neg, double max_value, fcs_bx **out,
                    fcs_error *err);
void fcs_bx_free(fcs_bx *bx);

/* Exact (slow, scalar) evaluation: the reference for the tables. */
double fcs_bx_forward_exact(const fcs_bx *bx, double x);
double fcs_bx_inverse_exact(const fcs_bx *bx, double y);

/* Fast evaluation in place (tables + one Newton step; exact path for values
 * outside the tables and when the tables failed their check). */
void fcs_bx_forward(const fcs_bx *bx, double *v, size_t n);
void fcs_bx_inverse(const fcs_bx *bx, double *v, size_t n);
void fcs_bx_forward_f(const fcs_bx *bx, float *v, size_t n);
void fcs_bx_inverse_f(const fcs_bx *bx, float *v, size_t n);

/* Code paths. FCS_BX_EXACT: the scalar solver for every value. */
enum { FCS_BX_EXACT = 0, FCS_BX_BASE = 1, FCS_BX_AVX2 = 2, FCS_BX_AVX512 = 3 };
/* Path used by this handle (chosen from the CPU when built). */
int fcs_bx_isa(const fcs_bx *bx);
/* Force a path (tests, benchmark). Returns 0, or -1 when the CPU lacks it or
 * the tables are unavailable. Not thread safe: only before sharing bx. */
int fcs_bx_set_isa(fcs_bx *bx, int isa);
/* Name of a path: "exact", "sse2", "avx2", "avx512". */
const char *fcs_bx_isa_name(int isa);

/* Construction-time check of the tables: upper bound of the forward start
 * error after the Newton step (in units of y), and of the inverse table's
 * relative error, over all buckets; table sizes in bytes. */
typedef struct fcs_bx_stats {
    double fwd_newton_bound; /* max over buckets of K * (4 e0)^2 / y */
    double fwd_start_err;    /* max start error e0 seen at bucket midpoints (y units) */
    double inv_rel_err;      /* max relative error / (1 + b t) of the inverse at node midpoints */
    size_t fwd_buckets, inv_nodes, bytes;
    double x_hi;  /* |x| at and above which the exact solver is used */
    double y_lim; /* |y - x1| at and above which the exact inverse is used */
} fcs_bx_stats;
void fcs_bx_get_stats(const fcs_bx *bx, fcs_bx_stats *st);

/* Zero point x1 and the coefficients (tests). */
double fcs_bx_x1(const fcs_bx *bx);

#endif
