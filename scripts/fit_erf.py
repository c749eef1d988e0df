#!/usr/bin/env python3
"""Fits the rational approximation of erf used by `fastErf` (Sources/Kernels/FastMath.swift).

erf(x) = x * P(x^2) / Q(x^2) on [0, 4], P and Q of degree 5, Q(0) = 1. The fit linearises
P(u) - f(u) Q(u) = 0 (f = erf(x) / x, u = x^2) and solves it by least squares, reweighting the
points by their error (Lawson) so the largest error shrinks. Then it evaluates the result in
Float32, as the Swift code does, and prints its largest absolute error over [-6, 6].

    python3 scripts/fit_erf.py          # needs numpy only
"""
from math import erf

import numpy as np

DEGREE_P, DEGREE_Q, ITERATIONS = 5, 5, 30


def fit():
    x = np.linspace(1e-4, 4.0, 20000)
    u = x * x
    f = np.array([erf(v) for v in x]) / x
    powers_p = np.vstack([u**i for i in range(DEGREE_P + 1)]).T
    powers_q = np.vstack([u**i for i in range(1, DEGREE_Q + 1)]).T
    weights, q_values = np.ones_like(u), np.ones_like(u)
    for _ in range(ITERATIONS):
        a = np.hstack([powers_p, -f[:, None] * powers_q])
        row_weights = weights / q_values
        coefficients, *_ = np.linalg.lstsq(a * row_weights[:, None], f * row_weights, rcond=None)
        p = coefficients[: DEGREE_P + 1]
        q = np.concatenate([[1.0], coefficients[DEGREE_P + 1 :]])
        q_values = np.polyval(q[::-1], u)
        error = np.abs(np.polyval(p[::-1], u) / q_values - f) * x
        weights = weights * (1 + 5 * error / error.max())
    return p, q


def erf32(p, q, x):
    """fastErf's arithmetic in Float32 (Horner, then a division and a clamp)."""
    x = x.astype(np.float32)
    a = np.minimum(np.abs(x), np.float32(4))
    u = a * a
    pv = np.float32(p[-1])
    for c in p[-2::-1]:
        pv = pv * u + np.float32(c)
    qv = np.float32(q[-1])
    for c in q[-2::-1]:
        qv = qv * u + np.float32(c)
    return np.sign(x) * np.minimum(a * pv / qv, np.float32(1))


def main():
    p, q = fit()
    xs = np.linspace(-6, 6, 400001)
    error = np.abs(erf32(p, q, xs) - np.array([erf(v) for v in xs]))
    print("P (u^0 first):", ", ".join(f"{c:.16e}" for c in p))
    print("Q (u^0 first):", ", ".join(f"{c:.16e}" for c in q))
    print(f"largest absolute error in Float32 over [-6, 6]: {error.max():.3g} at x = {xs[error.argmax()]:.5f}")


if __name__ == "__main__":
    main()
