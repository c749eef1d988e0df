import TestSupport
import XCTest

// Shared by every kernel test: seeded random data, error measures and a Float64 central
// finite-difference gradient. Kernels run in Float32; references and gradients are Float64.

/// `count` Floats uniform in `range`, the same for the same seed.
func randomFloats(_ count: Int, seed: UInt64, in range: ClosedRange<Float> = -1...1) -> [Float] {
    var rng = SeededGenerator(seed: seed)
    return (0..<count).map { _ in Float.random(in: range, using: &rng) }
}

/// `count` integers uniform in `range` as Int32 (token ids, positions, labels).
func randomIndices(_ count: Int, seed: UInt64, below upper: Int) -> [Int32] {
    var rng = SeededGenerator(seed: seed)
    return (0..<count).map { _ in Int32(Int.random(in: 0..<upper, using: &rng)) }
}

/// Widens Float32 data exactly, so the reference sees the very values the kernel saw.
func widened(_ x: [Float]) -> [Double] { x.map(Double.init) }

/// max |actual - expected| / max |expected| (absolute when expected is all zero).
func maxRelativeError(_ actual: [Float], _ expected: [Double]) -> Double {
    maxRelativeError(widened(actual), expected)
}

func maxRelativeError(_ actual: [Double], _ expected: [Double]) -> Double {
    precondition(actual.count == expected.count, "sizes differ: \(actual.count) vs \(expected.count)")
    var diff = 0.0, scale = 0.0
    for (a, e) in zip(actual, expected) {
        if a.isNaN || e.isNaN { return .infinity }
        diff = max(diff, abs(a - e))
        scale = max(scale, abs(e))
    }
    return scale > 0 ? diff / scale : diff
}

/// Fails with the measured error when `actual` is farther than `tolerance` (relative to max |expected|).
func assertClose(_ actual: [Float], _ expected: [Double], tolerance: Double, _ what: String,
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.count, expected.count, "\(what): sizes", file: file, line: line)
    guard actual.count == expected.count else { return }
    let error = maxRelativeError(actual, expected)
    XCTAssertLessThanOrEqual(error, tolerance, "\(what): max relative error \(error)", file: file, line: line)
}

/// sum(w * y): the scalar loss whose gradient w.r.t. y is w, used to drive every backward pass.
func weightedSum(_ w: [Double], _ y: [Double]) -> Double {
    precondition(w.count == y.count)
    var s = 0.0
    for (a, b) in zip(w, y) { s += a * b }
    return s
}

/// Central finite-difference gradient of the scalar `f` at `x`, in Float64.
func numericGradient(at x: [Double], step h: Double = 1e-6, _ f: ([Double]) -> Double) -> [Double] {
    var x = x
    var gradient = [Double](repeating: 0, count: x.count)
    for i in x.indices {
        let saved = x[i]
        x[i] = saved + h
        let plus = f(x)
        x[i] = saved - h
        let minus = f(x)
        x[i] = saved
        gradient[i] = (plus - minus) / (2 * h)
    }
    return gradient
}

/// Finite-difference gradient of L = sum(w * forward(x)) w.r.t. x: what a backward pass given dout = w
/// must return.
func numericGradient(of forward: ([Double]) -> [Double], at x: [Double], weights w: [Double]) -> [Double] {
    numericGradient(at: x) { weightedSum(w, forward($0)) }
}
