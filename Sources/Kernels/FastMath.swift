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
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    let scale = Float(bitPattern: UInt32(bitPattern: Int32(n) &+ 127) << 23)
    return p * scale
}

/// erf(x) with an absolute error below 5e-7 on Float32.
///
/// Abramowitz and Stegun 7.1.26 (error 1.4e-7 in exact arithmetic) for |x| >= 0.5; below that its
/// `1 - ...` cancels in Float32, so the Taylor series x * P(x^2) (to x^13, error < 2e-9) is used.
@inline(__always)
public func fastErf(_ x: Float) -> Float {
    let a = abs(x)
    let t = 1 / (1 + 0.3275911 * a)
    var p: Float = 1.061405429
    p = p * t - 1.453152027
    p = p * t + 1.421413741
    p = p * t - 0.284496736
    p = p * t + 0.254829592
    let far = 1 - p * t * fastExp(-a * a)
    let x2 = a * a
    // Horner form of 1 - x^2/3 + x^4/10 - x^6/42 + ... (the series of erf(x) / (2x / sqrt(pi))).
    var q: Float = -1.0 / 75600
    q = q * x2 + 1.0 / 9360
    q = q * x2 - 1.0 / 1320
    q = q * x2 + 1.0 / 216
    q = q * x2 - 1.0 / 42
    q = q * x2 + 1.0 / 10
    q = q * x2 - 1.0 / 3
    q = q * x2 + 1
    let near = 1.1283791670955126 * a * q
    let y = a < 0.5 ? near : far
    return x < 0 ? -y : y
}
