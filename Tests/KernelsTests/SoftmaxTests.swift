import XCTest
import Kernels

/// `softmaxRow`/`softmaxBackwardRow` against `Reference.maskedSoftmax` and its finite-difference
/// gradient, on rows of the lengths attention sees (1, a few, more than 64): rows sum to 1, +-80
/// scores do not overflow, entries past the row's length are neither read nor written.
final class SoftmaxTests: XCTestCase {
    let forwardTolerance = 1e-5
    let gradientTolerance = 1e-3
    let sumTolerance: Float = 1e-5
    /// Row lengths, each stored in a row of `width` floats whose tail must stay untouched.
    let lengths = [1, 5, 13, 67], width = 70

    func forward(_ scores: [Float], length: Int) -> [Float] {
        var row = scores
        for j in length..<row.count { row[j] = .nan }
        row.withUnsafeMutableBufferPointer { softmaxRow($0.baseAddress!, count: length) }
        return row
    }

    func testForwardMatchesReferenceAndLeavesTheTail() {
        for (i, length) in lengths.enumerated() {
            for range: ClosedRange<Float> in [-4...4, -80...80] {
                var scores = randomFloats(width, seed: 1 + UInt64(i), in: range)
                if range.upperBound == 80 { scores[0] = 80; scores[min(1, length - 1)] = -80 }
                let probs = forward(scores, length: length)
                let label = "softmax of length \(length) in \(range)"
                let head = Array(probs.prefix(length))
                XCTAssertTrue(head.allSatisfy { $0.isFinite }, "\(label): inf or NaN")
                assertClose(head, Reference.maskedSoftmax(widened(Array(scores.prefix(length))), length: length),
                            tolerance: forwardTolerance, label)
                XCTAssertLessThanOrEqual(abs(head.reduce(0, +) - 1), sumTolerance, "\(label): sum")
                XCTAssertTrue(probs.dropFirst(length).allSatisfy { $0.isNaN }, "\(label): wrote past the row's length")
            }
        }
    }

    /// d/dscores of sum(W * softmax(scores)), in place (ds aliasing dp) and into a separate row.
    func testBackwardMatchesFiniteDifferences() {
        for (i, length) in lengths.enumerated() {
            let scores = randomFloats(length, seed: 30 + UInt64(i), in: -4...4)
            let w = randomFloats(length, seed: 40 + UInt64(i))
            let probs = forward(scores, length: length)
            var separate = [Float](repeating: .nan, count: width), inPlace = w + [Float](repeating: .nan, count: width - length)
            separate.withUnsafeMutableBufferPointer { softmaxBackwardRow($0.baseAddress!, w, probs, count: length) }
            inPlace.withUnsafeMutableBufferPointer { softmaxBackwardRow($0.baseAddress!, $0.baseAddress!, probs, count: length) }
            let expected = numericGradient(of: { Reference.maskedSoftmax($0, length: length) },
                                           at: widened(scores), weights: widened(w))
            assertClose(Array(separate.prefix(length)), expected, tolerance: gradientTolerance, "softmax backward \(length)")
            XCTAssertEqual(inPlace.prefix(length), separate.prefix(length), "softmax backward in place, length \(length)")
            XCTAssertTrue(separate.dropFirst(length).allSatisfy { $0.isNaN }, "backward wrote past the row's length")
        }
    }
}
