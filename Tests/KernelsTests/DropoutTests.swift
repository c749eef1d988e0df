import XCTest
import Kernels

/// `dropoutForward`/`dropoutBackward`: the mask is a function of the seed (same seed, same mask;
/// another seed, an independent one), keeps 1-p of the entries scaled by 1/(1-p), the backward
/// pass applies the same mask (checked against a Float64 reference with that mask and its finite
/// differences), p = 0 keeps everything, and both passes may run in place.
final class DropoutTests: XCTestCase {
    let fractionTolerance = 0.01          // relative to 1-p
    let scaleTolerance = 2e-7             // Float32 1/(1-p) vs Float64
    let gradientTolerance = 1e-3

    func forward(_ inp: [Float], p: Float, seed: UInt64) -> (out: [Float], mask: [Float]) {
        var out = [Float](repeating: .nan, count: inp.count), mask = out
        dropoutForward(&out, &mask, inp, count: inp.count, probability: p, seed: seed)
        return (out, mask)
    }

    /// Float64 reference forward for a given mask.
    static func reference(_ inp: [Double], mask: [Float]) -> [Double] {
        var out = [Double](repeating: 0, count: inp.count)
        for i in inp.indices { out[i] = inp[i] * Double(mask[i]) }
        return out
    }

    func testSameSeedSameMaskOtherSeedIndependent() {
        let p: Float = 0.1, n = 100_003
        let inp = randomFloats(n, seed: 1)
        let a = forward(inp, p: p, seed: 42), b = forward(inp, p: p, seed: 42), c = forward(inp, p: p, seed: 43)
        XCTAssertEqual(a.mask, b.mask, "same seed, different mask")
        XCTAssertEqual(a.out, b.out, "same seed, different output")
        // Independent masks disagree on a fraction 2 p (1 - p) of the entries.
        let differing = Double(zip(a.mask, c.mask).filter { ($0 == 0) != ($1 == 0) }.count) / Double(n)
        let expected = 2 * Double(p) * (1 - Double(p))
        XCTAssertEqual(differing, expected, accuracy: 0.01, "seeds 42 and 43: masks differ on \(differing)")
        // Nor is the next seed's mask a shifted copy (layers use seed, seed + 1, ...).
        for shift in 1...3 {
            let shifted = Double(zip(a.mask.dropFirst(shift), c.mask).filter { ($0 == 0) != ($1 == 0) }.count) / Double(n - shift)
            XCTAssertEqual(shifted, expected, accuracy: 0.01, "seed 43 is seed 42 shifted by \(shift): differ on \(shifted)")
        }
    }

    func testKeptFractionAndScaleOverAMillion() {
        let n = 1_000_000
        let inp = randomFloats(n, seed: 2)
        for p: Float in [0.1, 0.5] {
            let (out, mask) = forward(inp, p: p, seed: 9)
            let keep = 1 / (1 - Double(p))
            var kept = 0, badMask = 0, badOut = 0
            for i in 0..<n {
                if mask[i] != 0 {
                    kept += 1
                    if abs(Double(mask[i]) - keep) > scaleTolerance * keep { badMask += 1 }
                    if abs(Double(out[i]) - Double(inp[i]) * keep) > scaleTolerance * keep * Double(abs(inp[i])) { badOut += 1 }
                } else if out[i] != 0 {
                    badOut += 1
                }
            }
            let fraction = Double(kept) / Double(n)
            print("dropout p=\(p): kept fraction \(fraction) (expected \(1 - Double(p)))")
            XCTAssertEqual(fraction, 1 - Double(p), accuracy: fractionTolerance * (1 - Double(p)), "p=\(p): kept \(fraction)")
            XCTAssertEqual(badMask, 0, "p=\(p): mask values other than 0 and 1/(1-p)")
            XCTAssertEqual(badOut, 0, "p=\(p): outputs other than inp / (1-p) or 0")
        }
    }

    func testBackwardUsesTheSameMask() {
        let n = 257, p: Float = 0.3
        let inp = randomFloats(n, seed: 3), w = randomFloats(n, seed: 4)
        let (out, mask) = forward(inp, p: p, seed: 5)
        XCTAssertTrue(mask.contains(0) && mask.contains { $0 != 0 }, "degenerate mask")
        assertClose(out, Self.reference(widened(inp), mask: mask), tolerance: 1e-7, "dropout forward")
        var dinp = [Float](repeating: .nan, count: n)
        dropoutBackward(&dinp, w, mask, count: n)
        assertClose(dinp, numericGradient(of: { Self.reference($0, mask: mask) }, at: widened(inp), weights: widened(w)),
                    tolerance: gradientTolerance, "dropout backward")
        XCTAssertTrue(zip(dinp, out).allSatisfy { ($0 == 0) == ($1 == 0) }, "backward zeros differ from forward zeros")
    }

    func testZeroProbabilityKeepsEverything() {
        let inp = randomFloats(10_001, seed: 6)
        let (out, mask) = forward(inp, p: 0, seed: 7)
        XCTAssertEqual(out, inp)
        XCTAssertTrue(mask.allSatisfy { $0 == 1 })
    }

    func testInPlace() {
        let n = 1_003, p: Float = 0.2
        let inp = randomFloats(n, seed: 8), dout = randomFloats(n, seed: 9)
        let (out, mask) = forward(inp, p: p, seed: 10)
        var inPlace = inp, inPlaceMask = [Float](repeating: .nan, count: n)
        inPlace.withUnsafeMutableBufferPointer { x in
            dropoutForward(x.baseAddress!, &inPlaceMask, x.baseAddress!, count: n, probability: p, seed: 10)
        }
        XCTAssertEqual(inPlace, out, "dropout forward with out aliasing inp")
        XCTAssertEqual(inPlaceMask, mask)
        var separate = [Float](repeating: .nan, count: n), grad = dout
        dropoutBackward(&separate, dout, mask, count: n)
        grad.withUnsafeMutableBufferPointer { d in dropoutBackward(d.baseAddress!, d.baseAddress!, mask, count: n) }
        XCTAssertEqual(grad, separate, "dropout backward with dinp aliasing dout")
    }

    /// A slice computed with `offset` draws exactly the full tensor's mask for those elements,
    /// and an attention row's grid mask does not depend on how many of its entries are drawn.
    func testOffsetsAndGridMakeMasksIndependentOfTheSplit() {
        let p: Float = 0.3, n = 1000
        let inp = randomFloats(n, seed: 5)
        let full = forward(inp, p: p, seed: 9)
        var out = [Float](repeating: 0, count: 400), mask = out
        Array(inp[300..<700]).withUnsafeBufferPointer {
            dropoutForward(&out, &mask, $0.baseAddress!, count: 400, probability: p, seed: 9, offset: 300)
        }
        XCTAssertEqual(mask, Array(full.mask[300..<700]))

        // Attention rows: the mask of (matrix, row) is the same whatever the row's length, and differs
        // between rows and matrices.
        func gridRow(matrix: Int, row: Int, count: Int) -> [Float] {
            let input = [Float](repeating: 1, count: count)
            var out = input, mask = input
            dropoutGridRow(&out, &mask, input, count: count, matrix: matrix, row: row, probability: p, seed: 4)
            XCTAssertEqual(out, mask, "out = 1 * mask")
            return mask
        }
        let wide = (0..<9).flatMap { gridRow(matrix: 2, row: $0, count: 27) }
        for i in 0..<5 {
            XCTAssertEqual(gridRow(matrix: 2, row: i, count: 5), Array(wide[(i * 27)..<(i * 27 + 5)]), "row \(i)")
        }
        XCTAssertNotEqual(gridRow(matrix: 3, row: 0, count: 27), Array(wide.prefix(27)), "matrices 2 and 3 share a mask")
        XCTAssertNotEqual(Array(wide[27..<54]), Array(wide.prefix(27)), "rows 0 and 1 share a mask")
        let kept = wide.filter { $0 != 0 }.count
        XCTAssertGreaterThan(kept, 100)
        XCTAssertLessThan(kept, 243)
    }
}
