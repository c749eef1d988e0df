import XCTest
import Kernels

/// `attentionForward`/`attentionBackward` on a packed batch against a Float64 plain-loop reference
/// (per sentence and head, softmax over that sentence's keys, q scaled by 1/sqrt(HS)) and its
/// finite-difference gradient for qkv, with and without dropout on the probabilities; padding a
/// sentence inside a batch must not change its output rows at all.
final class AttentionTests: XCTestCase {
    let forwardTolerance = 1e-5
    let gradientTolerance = 1e-3
    let paddingTolerance = 0.0

    /// Float64 reference: out (N, C) from qkv (N, 3C). `mask` (G, T, T), when given, multiplies the
    /// probabilities (dropout with a fixed mask).
    static func reference(_ qkv: [Double], lengths: [Int], heads: Int, headSize hs: Int,
                          mask: [Float]? = nil) -> [Double] {
        let c = heads * hs, t = lengths.max() ?? 0
        var out = [Double](repeating: 0, count: lengths.reduce(0, +) * c)
        var offset = 0
        for (s, length) in lengths.enumerated() {
            for h in 0..<heads {
                let g = s * heads + h
                for i in 0..<length {
                    let qRow = (offset + i) * 3 * c + h * hs
                    var scores = [Double](repeating: 0, count: length)
                    for j in 0..<length {
                        let kRow = (offset + j) * 3 * c + c + h * hs
                        var dot = 0.0
                        for d in 0..<hs { dot += qkv[qRow + d] / Double(hs).squareRoot() * qkv[kRow + d] }
                        scores[j] = dot
                    }
                    var top = -Double.infinity
                    for j in 0..<length { top = max(top, scores[j]) }
                    var total = 0.0
                    for j in 0..<length { scores[j] = exp(scores[j] - top); total += scores[j] }
                    for j in 0..<length {
                        var p = scores[j] / total
                        if let mask { p *= Double(mask[(g * t + i) * t + j]) }
                        let vRow = (offset + j) * 3 * c + 2 * c + h * hs
                        for d in 0..<hs { out[(offset + i) * c + h * hs + d] += p * qkv[vRow + d] }
                    }
                }
            }
            offset += length
        }
        return out
    }

    /// Owns the scratch of one attention call and runs both passes.
    final class Run {
        let layout: PackedBatch
        let heads, headSize: Int
        let probs, dropMask, dropped, scratch: UnsafeMutablePointer<Float>
        let saved: AttentionSaved
        /// The last forward pass's input, which the backward pass reads.
        var qkv: [Float] = []
        var channels: Int { heads * headSize }

        init(lengths: [Int], heads: Int, headSize: Int, dropout: Bool) {
            layout = PackedBatch(lengths: lengths)
            (self.heads, self.headSize) = (heads, headSize)
            let g = layout.batch * heads, t = layout.sequence
            func buffer(_ n: Int) -> UnsafeMutablePointer<Float> {
                let p = UnsafeMutablePointer<Float>.allocate(capacity: max(n, 1))
                p.initialize(repeating: .nan, count: max(n, 1))
                return p
            }
            (probs, dropMask, dropped) = (buffer(g * t * t), buffer(g * t * t), buffer(g * t * t))
            scratch = buffer(AttentionSaved.scratchCount(matrices: g, rows: t, sequence: t, headSize: headSize))
            saved = AttentionSaved(probs: probs, dropMask: dropout ? dropMask : nil, dropped: dropout ? dropped : nil,
                                   scratch: scratch)
        }

        deinit { for p in [probs, dropMask, dropped, scratch] { p.deallocate() } }

        func forward(_ qkv: [Float], dropout: Float = 0, seed: UInt64 = 0) -> [Float] {
            self.qkv = qkv
            var out = [Float](repeating: .nan, count: layout.tokens * channels)
            attentionForward(&out, saved, qkv, layout, heads: heads, headSize: headSize, dropout: dropout, seed: seed)
            return out
        }

        func backward(_ dout: [Float]) -> [Float] {
            var dqkv = [Float](repeating: .nan, count: layout.tokens * 3 * channels)
            attentionBackward(&dqkv, dout, saved, qkv, layout, heads: heads, headSize: headSize)
            return dqkv
        }

        var mask: [Float] { Array(UnsafeBufferPointer(start: dropMask, count: layout.batch * heads * layout.sequence * layout.sequence)) }
    }

    let lengths = [5, 1, 3], heads = 2, headSize = 4

    func testForwardMatchesReference() {
        for (i, (lengths, heads, headSize)) in [(self.lengths, heads, headSize), ([67, 9, 30], 2, 8)].enumerated() {
            let run = Run(lengths: lengths, heads: heads, headSize: headSize, dropout: false)
            let qkv = randomFloats(run.layout.tokens * 3 * run.channels, seed: 1 + UInt64(i), in: -2...2)
            assertClose(run.forward(qkv),
                        Self.reference(widened(qkv), lengths: lengths, heads: heads, headSize: headSize),
                        tolerance: forwardTolerance, "attention \(lengths) heads \(heads) size \(headSize)")
        }
    }

    func testBackwardMatchesFiniteDifferences() {
        // The batch of the brief, then T > 64 (one head of size 3 keeps the finite differences cheap).
        for (i, (lengths, heads, headSize)) in [(self.lengths, heads, headSize), ([67, 5], 1, 3)].enumerated() {
            let run = Run(lengths: lengths, heads: heads, headSize: headSize, dropout: false)
            let qkv = randomFloats(run.layout.tokens * 3 * run.channels, seed: 10 + UInt64(i), in: -2...2)
            let w = randomFloats(run.layout.tokens * run.channels, seed: 20 + UInt64(i))
            _ = run.forward(qkv)
            let dqkv = run.backward(w)
            let expected = numericGradient(of: { Self.reference($0, lengths: lengths, heads: heads, headSize: headSize) },
                                           at: widened(qkv), weights: widened(w))
            assertClose(dqkv, expected, tolerance: gradientTolerance, "attention dqkv \(lengths) heads \(heads) size \(headSize)")
        }
    }

    /// With dropout the kernel's own mask (saved for backward) is the reference's fixed mask.
    func testDropoutForwardAndBackwardMatchReferenceWithItsMask() {
        let p: Float = 0.25
        let run = Run(lengths: lengths, heads: heads, headSize: headSize, dropout: true)
        let qkv = randomFloats(run.layout.tokens * 3 * run.channels, seed: 40, in: -2...2)
        let w = randomFloats(run.layout.tokens * run.channels, seed: 41)
        let out = run.forward(qkv, dropout: p, seed: 7)
        let mask = run.mask
        let keep = 1 / (1 - Double(p))
        // Only each matrix's real (L, L) corner is drawn; the rest stays as allocated (NaN).
        let real = mask.filter { !$0.isNaN }
        XCTAssertEqual(real.count, lengths.map { $0 * $0 }.reduce(0, +) * heads, "mask entries drawn")
        XCTAssertTrue(real.allSatisfy { $0 == 0 || abs(Double($0) - keep) <= 1e-6 * keep }, "mask values not 0 or 1/(1-p)")
        XCTAssertTrue(real.contains(0) && real.contains { $0 != 0 }, "degenerate dropout mask")
        let (lengths, heads, headSize) = (lengths, heads, headSize)
        let reference = { (x: [Double]) in Self.reference(x, lengths: lengths, heads: heads, headSize: headSize, mask: mask) }
        assertClose(out, reference(widened(qkv)), tolerance: forwardTolerance, "attention with dropout")
        assertClose(run.backward(w), numericGradient(of: reference, at: widened(qkv), weights: widened(w)),
                    tolerance: gradientTolerance, "attention dqkv with dropout")
    }

    /// Each sentence run alone (a batch of one, no padding) gets the same rows as in the padded batch:
    /// its probabilities and its output rows, bit for bit (each matrix's products run over its own
    /// length only); padded keys and padded query rows are never written (they stay NaN).
    func testPaddingDoesNotChangeOutputRows() {
        let run = Run(lengths: lengths, heads: heads, headSize: headSize, dropout: false)
        let (width, t) = (3 * run.channels, run.layout.sequence)
        let qkv = randomFloats(run.layout.tokens * width, seed: 30, in: -2...2)
        let batched = run.forward(qkv)
        var offset = 0
        for (s, length) in lengths.enumerated() {
            let alone = Run(lengths: [length], heads: heads, headSize: headSize, dropout: false)
            let rows = alone.forward(Array(qkv[(offset * width)..<((offset + length) * width)]))
            let label = "sentence \(s) of length \(length) padded to \(t)"
            let expected = Array(batched[(offset * run.channels)..<((offset + length) * run.channels)])
            let error = maxRelativeError(rows, widened(expected))
            print("attention: \(label): max relative difference alone vs padded \(error)")
            XCTAssertLessThanOrEqual(error, paddingTolerance, "\(label): output rows differ by \(error)")
            for h in 0..<heads {
                let g = s * heads + h
                for i in 0..<t {
                    let padded = (0..<t).map { run.probs[(g * t + i) * t + $0] }
                    if i >= length {
                        XCTAssertTrue(padded.allSatisfy { $0.isNaN }, "\(label) head \(h): padded query row \(i) written")
                        continue
                    }
                    let own = (0..<length).map { Double(alone.probs[(h * length + i) * length + $0]) }
                    XCTAssertLessThanOrEqual(maxRelativeError(Array(padded.prefix(length)), own), paddingTolerance,
                                             "\(label) head \(h) row \(i): probabilities differ")
                    XCTAssertTrue(padded.dropFirst(length).allSatisfy { $0.isNaN }, "\(label) head \(h) row \(i): padded keys written")
                }
            }
            offset += length
        }
    }
}
