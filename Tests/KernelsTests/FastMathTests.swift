import XCTest
import Kernels
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// `fastExp` (relative error on [-80, 80]) and `fastErf` (absolute error on [-6, 6]) against
/// Float64 libm on a million evenly spaced points each; prints the measured maxima.
final class FastMathTests: XCTestCase {
    let expRelativeTolerance = 2e-6
    let erfAbsoluteTolerance = 5e-7
    let samples = 1_000_000

    /// The worst error of `f` vs `reference` over `samples + 1` evenly spaced Float points of `range`.
    func worstError(over range: ClosedRange<Double>, relative: Bool,
                    _ f: (Float) -> Float, _ reference: (Double) -> Double) -> (error: Double, at: Float) {
        var worst = (error: 0.0, at: Float.nan)
        for i in 0...samples {
            let x = Float(range.lowerBound + (range.upperBound - range.lowerBound) * Double(i) / Double(samples))
            let expected = reference(Double(x))
            var error = abs(Double(f(x)) - expected)
            if relative { error /= abs(expected) }
            if !(error <= worst.error) { worst = (error, x) }   // NaN counts as worst
        }
        return worst
    }

    func testFastExpRelativeError() {
        let (error, x) = worstError(over: -80...80, relative: true, fastExp, exp)
        print("fastExp: max relative error \(error) at x = \(x) over [-80, 80]")
        XCTAssertLessThan(error, expRelativeTolerance, "fastExp relative error \(error) at \(x)")
        XCTAssertEqual(fastExp(0), 1)
    }

    func testFastExpClampsOutsideItsRange() {
        for x: Float in [100, 1000, .infinity] {
            XCTAssertTrue(fastExp(x).isFinite && fastExp(x) > 1e38, "fastExp(\(x)) = \(fastExp(x))")
        }
        for x: Float in [-100, -1000, -.infinity] {
            XCTAssertTrue(fastExp(x) >= 0 && fastExp(x) < 1e-37, "fastExp(\(x)) = \(fastExp(x))")
        }
    }

    func testFastErfAbsoluteError() {
        let (error, x) = worstError(over: -6...6, relative: false, fastErf, erf)
        print("fastErf: max absolute error \(error) at x = \(x) over [-6, 6]")
        XCTAssertLessThan(error, erfAbsoluteTolerance, "fastErf absolute error \(error) at \(x)")
        for x: Float in [0.1, 0.5, 1, 2.5, 5] { XCTAssertEqual(fastErf(-x), -fastErf(x), "fastErf is odd") }
    }
}
