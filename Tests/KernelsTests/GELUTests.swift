import XCTest
import Kernels

/// `geluForward`/`geluBackward` (exact-erf GELU on fastErf/fastExp) against `Reference.gelu` and its
/// finite-difference derivative, with the backward overwriting and allowed to run in place.
final class GELUTests: XCTestCase {
    let forwardTolerance = 1e-5
    let gradientTolerance = 1e-3

    let sizes = [7 * 13, 1001]

    func testForwardMatchesReference() {
        for (i, n) in sizes.enumerated() {
            let x = randomFloats(n, seed: 1 + UInt64(i), in: -6...6)
            var out = [Float](repeating: .nan, count: n)
            geluForward(&out, x, count: n)
            assertClose(out, Reference.gelu(widened(x)), tolerance: forwardTolerance, "gelu n=\(n)")
        }
    }

    func testBackwardMatchesFiniteDifferences() {
        for (i, n) in sizes.enumerated() {
            let x = randomFloats(n, seed: 10 + UInt64(i), in: -5...5)
            let w = randomFloats(n, seed: 20 + UInt64(i))
            var dinp = [Float](repeating: .nan, count: n)
            geluBackward(&dinp, w, x, count: n)
            assertClose(dinp, numericGradient(of: Reference.gelu, at: widened(x), weights: widened(w)),
                        tolerance: gradientTolerance, "gelu backward n=\(n)")
        }
    }

    func testBackwardInPlace() {
        let n = sizes[1]
        let x = randomFloats(n, seed: 30, in: -5...5), dout = randomFloats(n, seed: 31)
        var separate = [Float](repeating: 0, count: n)
        geluBackward(&separate, dout, x, count: n)
        var inPlace = dout
        inPlace.withUnsafeMutableBufferPointer { d in
            geluBackward(d.baseAddress!, d.baseAddress!, x, count: n)
        }
        XCTAssertEqual(inPlace, separate, "gelu backward with dinp aliasing dout")
    }
}
