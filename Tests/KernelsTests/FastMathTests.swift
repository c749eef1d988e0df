import XCTest
import Kernels
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// `fastExp` (relative error on [-80, 80]) and `fastErf` (absolute error and units in the last
/// place on [-6, 6], and bias) against Float64 libm on a million evenly spaced points each; prints
/// the measured maxima.
final class FastMathTests: XCTestCase {
    let expRelativeTolerance = 2e-6
    let erfAbsoluteTolerance = 1.2e-7
    /// fastErf's largest error in units in the last place of the Float32 result (glibc's erff: 1).
    let erfULPTolerance = 2.0
    /// Its mean signed error over (0, 4]: rounding averages out; a fitted function's bias would not
    /// (the single rational function used before had 5.7 ulp, and training drifted from PyTorch's).
    let erfBiasTolerance = 1e-8
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
        XCTAssertEqual(fastErf(0), 0)
        XCTAssertEqual(fastErf(8), 1)
    }

    func testFastErfUnitsInTheLastPlaceAndBias() {
        var worst = (ulps: 0.0, at: Float.nan), sum = 0.0
        for i in 1...samples {
            let x = Float(6 * Double(i) / Double(samples))
            let expected = erf(Double(x))
            let error = Double(fastErf(x)) - expected
            let ulps = abs(error) / Double(Float(expected).ulp)
            if !(ulps <= worst.ulps) { worst = (ulps, x) }
            if x <= 4 { sum += error }
        }
        let bias = sum / Double(samples * 2 / 3)
        print("fastErf: max \(worst.ulps) ulp at x = \(worst.at), mean signed error \(bias) over (0, 4]")
        XCTAssertLessThan(worst.ulps, erfULPTolerance, "fastErf error \(worst.ulps) ulp at \(worst.at)")
        XCTAssertLessThan(abs(bias), erfBiasTolerance, "fastErf's errors should average out: mean \(bias)")
    }
}
