import XCTest
import Kernels

/// `maskedSoftmaxForward`/`maskedSoftmaxBackward` against `Reference.maskedSoftmax` row by row and
/// its finite-difference gradient: valid rows sum to 1, masked keys and padded query rows are
/// exactly 0, +-80 scores do not overflow, and both passes may run in place.
final class SoftmaxTests: XCTestCase {
    let forwardTolerance = 1e-5
    let gradientTolerance = 1e-3
    let sumTolerance: Float = 1e-5

    struct Case {
        let lengths: [Int32]
        let heads, sequence: Int
        var matrices: Int { lengths.count * heads }
        var count: Int { matrices * sequence * sequence }
        init(lengths: [Int], heads: Int) {
            self.lengths = lengths.map { Int32($0) }
            self.heads = heads
            sequence = lengths.max() ?? 0
        }
        func length(ofMatrix bh: Int) -> Int { Int(lengths[bh / heads]) }
        /// (matrix, row, valid length) for every row.
        var rows: [(bh: Int, i: Int, length: Int)] {
            (0..<matrices).flatMap { bh in (0..<sequence).map { (bh, $0, length(ofMatrix: bh)) } }
        }
        func row(_ x: [Float], _ bh: Int, _ i: Int) -> ArraySlice<Float> {
            x[((bh * sequence + i) * sequence)..<((bh * sequence + i + 1) * sequence)]
        }
        func forward(_ scores: [Float]) -> [Float] {
            var probs = [Float](repeating: .nan, count: count)
            maskedSoftmaxForward(&probs, scores, lengths: lengths, matrices: matrices, heads: heads, sequence: sequence)
            return probs
        }
        func backward(_ dprobs: [Float], _ probs: [Float]) -> [Float] {
            var dscores = [Float](repeating: .nan, count: count)
            maskedSoftmaxBackward(&dscores, dprobs, probs, lengths: lengths, matrices: matrices,
                                  heads: heads, sequence: sequence)
            return dscores
        }
        /// The Float64 reference of the whole tensor: padded query rows are 0.
        func reference(_ scores: [Float]) -> [Double] {
            rows.flatMap { r in
                r.i < r.length ? Reference.maskedSoftmax(widened(Array(row(scores, r.bh, r.i))), length: r.length)
                               : [Double](repeating: 0, count: sequence)
            }
        }
    }

    // [5, 1, 3] x 2 heads like a small padded batch; one longer than 64 with a short and an empty sentence.
    let cases = [Case(lengths: [5, 1, 3], heads: 2), Case(lengths: [67, 30, 0], heads: 1)]

    /// Checks valid rows sum to 1 and every masked or padded entry is exactly 0 (one failure per kind).
    func checkMask(_ c: Case, _ probs: [Float], _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        var unmasked = [String](), badSums = [String]()
        for r in c.rows {
            let p = c.row(probs, r.bh, r.i)
            let masked = r.i < r.length ? p.dropFirst(r.length) : p[...]
            if !masked.allSatisfy({ $0 == 0 }) { unmasked.append("(\(r.bh), \(r.i))") }
            if r.i < r.length {
                let sum = p.prefix(r.length).reduce(0, +)
                if !(abs(sum - 1) <= sumTolerance) { badSums.append("(\(r.bh), \(r.i)): \(sum)") }
            }
        }
        XCTAssertEqual(unmasked, [], "\(label): (matrix, row) with nonzero masked or padded entries", file: file, line: line)
        XCTAssertEqual(badSums, [], "\(label): rows not summing to 1", file: file, line: line)
    }

    func testForwardMatchesReferenceAndMasks() {
        for (i, c) in cases.enumerated() {
            let scores = randomFloats(c.count, seed: 1 + UInt64(i), in: -4...4)
            let probs = c.forward(scores)
            assertClose(probs, c.reference(scores), tolerance: forwardTolerance, "softmax \(c.lengths)")
            checkMask(c, probs, "softmax \(c.lengths)")
        }
    }

    func testLargeScoresDoNotOverflow() {
        for (i, c) in cases.enumerated() {
            var scores = randomFloats(c.count, seed: 10 + UInt64(i), in: -80...80)
            scores[0] = 80; scores[1] = -80
            let probs = c.forward(scores)
            XCTAssertTrue(probs.allSatisfy { $0.isFinite }, "softmax of +-80 produced inf or NaN")
            assertClose(probs, c.reference(scores), tolerance: forwardTolerance, "softmax +-80 \(c.lengths)")
            checkMask(c, probs, "softmax +-80 \(c.lengths)")
        }
    }

    func testForwardInPlace() {
        let c = cases[0]
        let scores = randomFloats(c.count, seed: 20, in: -4...4)
        var inPlace = scores
        inPlace.withUnsafeMutableBufferPointer { p in
            maskedSoftmaxForward(p.baseAddress!, p.baseAddress!, lengths: c.lengths, matrices: c.matrices,
                                 heads: c.heads, sequence: c.sequence)
        }
        XCTAssertEqual(inPlace, c.forward(scores), "softmax forward with probs aliasing scores")
    }

    /// Row by row (rows are independent): d/dscores of sum(W * softmax(scores)).
    func testBackwardMatchesFiniteDifferences() {
        for (i, c) in cases.enumerated() {
            let scores = randomFloats(c.count, seed: 30 + UInt64(i), in: -4...4)
            let w = randomFloats(c.count, seed: 40 + UInt64(i))
            let dscores = c.backward(w, c.forward(scores))
            var expected = [Double]()
            for r in c.rows {
                let wr = widened(Array(c.row(w, r.bh, r.i)))
                expected += r.i < r.length
                    ? numericGradient(of: { Reference.maskedSoftmax($0, length: r.length) },
                                      at: widened(Array(c.row(scores, r.bh, r.i))), weights: wr)
                    : [Double](repeating: 0, count: c.sequence)
            }
            assertClose(dscores, expected, tolerance: gradientTolerance, "softmax backward \(c.lengths)")
            checkMaskedGradient(c, dscores)
        }
    }

    func checkMaskedGradient(_ c: Case, _ dscores: [Float], file: StaticString = #filePath, line: UInt = #line) {
        let bad = c.rows.filter { r in
            let d = c.row(dscores, r.bh, r.i)
            return !(r.i < r.length ? d.dropFirst(r.length) : d[...]).allSatisfy { $0 == 0 }
        }
        XCTAssertEqual(bad.map { "(\($0.bh), \($0.i))" }, [], "(matrix, row) with nonzero dscores at masked entries",
                       file: file, line: line)
    }

    func testBackwardInPlace() {
        let c = cases[0]
        let probs = c.forward(randomFloats(c.count, seed: 50, in: -4...4))
        let dprobs = randomFloats(c.count, seed: 51)
        var inPlace = dprobs
        inPlace.withUnsafeMutableBufferPointer { d in
            maskedSoftmaxBackward(d.baseAddress!, d.baseAddress!, probs, lengths: c.lengths, matrices: c.matrices,
                                  heads: c.heads, sequence: c.sequence)
        }
        XCTAssertEqual(inPlace, c.backward(dprobs, probs), "softmax backward with dscores aliasing dprobs")
    }
}
