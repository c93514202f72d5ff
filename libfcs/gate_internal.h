/*
 * gate_internal.h — what gate.c shares with gatingml.c and the unit tests.
 * Not installed, not public.
 */
#ifndef FCS_GATE_INTERNAL_H
#define FCS_GATE_INTERNAL_H

#include "fcs/gate.h"
#include "internal.h"

/* Source line of the item added last (gate, transformation or matrix), so
 * that messages about it can say where it came from. */
void fcs_strategy_set_last_gate_line(fcs_strategy *s, int line);
void fcs_strategy_set_last_transform_line(fcs_strategy *s, int line);
void fcs_strategy_set_last_matrix_line(fcs_strategy *s, int line);

/* Reference checks of fcs_strategy_validate without touching s: on failure
 * err holds the message (without location) and *line (may be NULL) the
 * source line of the offending item, 0 when unknown. */
int fcs_strategy_check(const fcs_strategy *s, int *line, fcs_error *err);

/* Exact sign (-1, 0, +1) of the orientation determinant
 * (bx-ax)*(py-ay) - (px-ax)*(by-ay) for finite doubles: positive when p lies
 * left of the directed line a->b. No rounding, overflow or underflow. */
int fcs_orient2d_exact(double ax, double ay, double bx, double by, double px, double py);

/* Point-in-polygon by the exact slow path (the reference for the fast
 * kernel): 1 inside (odd winding number) or on the boundary, 0 outside or
 * not finite. xy: n vertices x0,y0,... */
int fcs_polygon_contains_exact(const double *xy, size_t n, double px, double py);

/* Invert the n x n row-major matrix a into inv (Gauss-Jordan with partial
 * pivoting). FCS_ENUMERIC when singular or not finite. */
int fcs_matrix_invert_small(const double *a, size_t n, double *inv);

#endif
