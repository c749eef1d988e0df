#!/usr/bin/env python3
"""Fits the two polynomials of `fastErf` (Sources/Kernels/FastMath.swift) and measures the result as
the Swift code computes it, in Float32 with fused multiply-adds.

    |x| < 1:       erf(x) = a + a * R(a^2)                      (a = |x|; R small, so its rounding hardly shows)
    1 <= |x| < 4:  erf(x) = 1 - exp(-a^2 + H(z)),  z = the affine map of t = 1 / (1 + a / 2) onto [-1, 1]
    |x| >= 4:      erf(x) = +-1 in Float32

a^2 enters the exponent exactly (a * a = u + lo, lo from an FMA, exp(-u - lo) = exp(-u) (1 - lo)).
R and H are least-squares fits on Chebyshev points in double precision. The script prints the
coefficients (lowest degree first) and, over [0, 6], the largest error in units in the last place
and the mean signed error per interval: the errors are rounding, not a bias.

    python3 scripts/fit_erf.py          # needs numpy only
"""
from math import erf, erfc, log

import numpy as np

DEGREE_R, DEGREE_H, SPLIT, TOP = 7, 7, 1.0, 4.0
T_LOW, T_HIGH = 1 / (1 + TOP / 2), 1 / (1 + SPLIT / 2)   # t over [SPLIT, TOP]
F = np.float32


def chebyshev_points(lo, hi, n=4000):
    return np.cos(np.linspace(0, np.pi, n)) * (hi - lo) / 2 + (hi + lo) / 2


def fit():
    x = chebyshev_points(0, SPLIT)
    x = x[x > 1e-6]
    r = np.polynomial.polynomial.polyfit(x * x, [erf(v) / v - 1 for v in x], DEGREE_R)
    x = chebyshev_points(SPLIT, TOP)
    z = (1 / (1 + x / 2) - (T_LOW + T_HIGH) / 2) / ((T_HIGH - T_LOW) / 2)
    h = np.polynomial.polynomial.polyfit(z, [log(erfc(v)) + v * v for v in x], DEGREE_H)
    return r, h


def fma(a, b, c):
    """a * b + c with one rounding to Float32 (exact in double for these magnitudes)."""
    return (np.asarray(a, np.float64) * np.asarray(b, np.float64) + np.asarray(c, np.float64)).astype(F)


def horner(coefficients, u):
    result = np.full_like(u, F(coefficients[-1]))
    for c in coefficients[-2::-1]:
        result = fma(result, u, F(c))
    return result


def fast_exp(x):
    """`fastExp` in Float32."""
    x = np.clip(x, F(-87.3), F(88.3))
    n = (x * F(1.442695041) + F(12582912.0)) - F(12582912.0)
    r = (x - n * F(0.693145752)) - n * F(1.42860677e-6)
    p = horner([1.0, 1.0, 0.5, 1 / 6, 1 / 24, 1 / 120, 1 / 720, 1 / 5040], r)
    return (p * np.ldexp(F(1), n.astype(np.int32))).astype(F)


def fast_erf(x, r, h):
    """`fastErf` in Float32."""
    x = x.astype(F)
    a = np.minimum(np.abs(x), F(TOP))
    u = a * a
    small = fma(a, horner(r, u), a)
    t = F(1) / (F(1) + F(0.5) * a)
    z = fma(t, F(2 / (T_HIGH - T_LOW)), F(-(T_HIGH + T_LOW) / (T_HIGH - T_LOW)))
    lo = fma(a, a, -u)
    e = fast_exp(horner(h, z) - u)
    large = F(1) - (e - e * lo)
    return np.sign(x) * np.where(a < F(SPLIT), small, large)


def main():
    r, h = fit()
    print("R (u^0 first):", ", ".join(f"{c:.9e}" for c in r))
    print("H (z^0 first):", ", ".join(f"{c:.9e}" for c in h))
    print(f"t range [{T_LOW:.9e}, {T_HIGH:.9e}]: z = t * {2 / (T_HIGH - T_LOW):.9e} + {-(T_HIGH + T_LOW) / (T_HIGH - T_LOW):.9e}")
    xs = np.linspace(0, 6, 1_200_001).astype(F)
    reference = np.array([erf(float(v)) for v in xs])
    error = fast_erf(xs, r, h).astype(np.float64) - reference
    ulp = np.spacing(np.abs(reference).astype(F)).astype(np.float64)
    for lo, hi in [(0, 0.5), (0.5, 1), (1, 2), (2, 3), (3, 4), (4, 6)]:
        part = (xs >= lo) & (xs < hi)
        print(f"[{lo}, {hi}): largest error {np.max(np.abs(error[part]) / ulp[part]):.2f} ulp, "
              f"{np.max(np.abs(error[part])):.2e} absolute; mean signed error {error[part].mean():.1e}")


if __name__ == "__main__":
    main()
