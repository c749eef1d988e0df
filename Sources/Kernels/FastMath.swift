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

/// erf(x) within 1.75 units in the last place of Float32 (absolute error below 1.1e-7), unbiased:
/// the errors are rounding. Branch-free, so it vectorizes. With a = |x| and u = a^2:
///   a < 1:       erf = a + a R(u), R of degree 7 (small, so its rounding hardly reaches the result);
///   1 <= a < 4:  erf = 1 - exp(-a^2 + H(6t - 3)), t = 1 / (1 + a/2), H of degree 7, with a^2 = u + lo
///                split exactly by an FMA so that exp(-a^2) = exp(-u) (1 - lo);
///   a >= 4:      erf = 1 in Float32.
/// Coefficients and the error measured per interval: `scripts/fit_erf.py`. An earlier single rational
/// function had errors of 5.7 ulp, enough for a training run to drift measurably from PyTorch's.
@inline(__always)
public func fastErf(_ x: Float) -> Float {
    let a = min(abs(x), 4)
    let u = a * a
    var r: Float = -9.728257118e-06
    r = mulAdd(r, u, 1.128812328e-04)
    r = mulAdd(r, u, -8.487260801e-04)
    r = mulAdd(r, u, 5.221261027e-03)
    r = mulAdd(r, u, -2.686551728e-02)
    r = mulAdd(r, u, 1.128378411e-01)
    r = mulAdd(r, u, -3.761263859e-01)
    r = mulAdd(r, u, 1.283791671e-01)
    let small = mulAdd(a, r, a)
    let z = mulAdd(1 / mulAdd(a, 0.5, 1), 6, -3)
    var h: Float = 8.114903414e-05
    h = mulAdd(h, z, -2.697340462e-04)
    h = mulAdd(h, z, 8.440340775e-04)
    h = mulAdd(h, z, -3.179914445e-03)
    h = mulAdd(h, z, 1.061396337e-02)
    h = mulAdd(h, z, -5.030098947e-02)
    h = mulAdd(h, z, 5.575472581e-01)
    h = mulAdd(h, z, -1.364941081e+00)
    let lo = mulAdd(a, a, -u)
    let e = fastExp(h - u)
    let large = 1 - mulAdd(-e, lo, e)
    let y = a < 1 ? small : large
    return x < 0 ? -y : y
}

/// a * b + c in one rounding (an FMA instruction in vectorized loops).
@inline(__always)
public func mulAdd(_ a: Float, _ b: Float, _ c: Float) -> Float { c.addingProduct(a, b) }
