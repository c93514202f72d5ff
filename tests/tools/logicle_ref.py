"""Independent Gating-ML 2.0 logicle reference for the shell tests (gate.sh, plot.sh, xform.sh).

Written from the published formulas, by bisection, sharing no code with libfcs: the tests
compare the library's fast tabulated logicle against it.
"""
import math

LN10 = math.log(10.0)


class Logicle:
    """Gating-ML 2.0 logicle; y by bisection on B(y) (reflected below x1)."""

    def __init__(self, T, W, M, A):
        w = W / (M + A); x2 = A / (M + A)
        self.x1 = x2 + w; x0 = x2 + 2 * w; b = (M + A) * LN10
        if w == 0:
            d = b
        else:
            lo, hi = 0.0, b
            for _ in range(200):
                mid = (lo + hi) / 2
                if 2 * (math.log(mid) - math.log(b)) + w * (b + mid) < 0: lo = mid
                else: hi = mid
            d = (lo + hi) / 2
        ca = math.exp(x0 * (b + d)); fa = math.exp(b * self.x1) - ca * math.exp(-d * self.x1)
        self.a = T / (math.exp(b) - fa - ca * math.exp(-d)); self.c = ca * self.a
        self.f = -fa * self.a; self.b = b; self.d = d

    def B(self, y):
        if y < self.x1:
            return -self.B(2 * self.x1 - y)
        return self.a * math.exp(self.b * y) - self.c * math.exp(-self.d * y) + self.f

    def __call__(self, x):
        lo, hi = -3.0, 3.0
        for _ in range(120):
            mid = (lo + hi) / 2
            if self.B(mid) < x: lo = mid
            else: hi = mid
        return (lo + hi) / 2
