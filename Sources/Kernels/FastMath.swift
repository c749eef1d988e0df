// Branch-free exp and erf on Float that LLVM can vectorize (libm calls cannot be), used by
// GELU and softmax. Accuracy is checked against Float64 libm in KernelsTests.

/// e^x with a relative error below 2e-7 on [-87, 88]; clamps outside that range.
@inline(__always)
public func fastExp(_ x: Float) -> Float {
    let x = min(max(x, -87.3), 88.3)
    // x = n ln2 + r with |r| <= ln2/2; e^x = 2^n e^r, e^r by its Taylor series to r^7.
    let n = (x * 1.442695041 + 12582912.0) - 12582912.0
    let r = (x - n * 0.693145752) - n * 1.42860677e-6
    var p: Float = 1.0 / 5040.0
    p = mulAdd(p, r, 1.0 / 720.0)
    p = mulAdd(p, r, 1.0 / 120.0)
    p = mulAdd(p, r, 1.0 / 24.0)
    p = mulAdd(p, r, 1.0 / 6.0)
    p = mulAdd(p, r, 0.5)
    p = mulAdd(p, r, 1.0)
    p = mulAdd(p, r, 1.0)
    let scale = Float(bitPattern: UInt32(bitPattern: Int32(n) &+ 127) << 23)
    return p * scale
}

/// erf(x) with an absolute error below 5e-7 on Float32.
///
/// erf(x) = x * P(x^2) / Q(x^2) on |x| <= 4 (beyond, erf is +-1 in Float32), P and Q of degree 5,
/// fitted here (iteratively reweighted least squares on 20,000 points, `scripts/fit_erf.py`);
/// evaluated in Float32 the error is below 3.5e-7. One division and twelve multiply-adds, no exp
/// and no branch, so it vectorizes to a short loop.
@inline(__always)
public func fastErf(_ x: Float) -> Float {
    let a = min(abs(x), 4)
    let u = a * a
    var p: Float = 1.9748905577265941e-06
    p = mulAdd(p, u, 2.8804179996710574e-04)
    p = mulAdd(p, u, 4.0035343712380832e-03)
    p = mulAdd(p, u, 5.3467144783686145e-02)
    p = mulAdd(p, u, 1.9624595762905464e-01)
    p = mulAdd(p, u, 1.1283789766486370e+00)
    var q: Float = 3.7481510134045048e-05
    q = mulAdd(q, u, 1.2163382392065547e-03)
    q = mulAdd(q, u, 1.5444197034147882e-02)
    q = mulAdd(q, u, 1.1647523666402677e-01)
    q = mulAdd(q, u, 5.0724961185031314e-01)
    q = mulAdd(q, u, 1)
    let y = min(a * p / q, 1)
    return x < 0 ? -y : y
}

/// a * b + c in one rounding (an FMA instruction in vectorized loops).
@inline(__always)
public func mulAdd(_ a: Float, _ b: Float, _ c: Float) -> Float { c.addingProduct(a, b) }
