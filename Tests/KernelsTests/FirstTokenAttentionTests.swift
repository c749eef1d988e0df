import XCTest
import Kernels

/// `firstTokenAttentionForward`/`Backward` against `attentionForward`/`Backward` (itself checked
/// against a Float64 reference in AttentionTests) restricted to first tokens: the same context rows,
/// and, for an upstream gradient that is zero except on first tokens, the same gradient of q at
/// first tokens and of k and v everywhere; with dropout, the same masks.
final class FirstTokenAttentionTests: XCTestCase {
    /// Both kernels run the same per-head code on the same rows: equal up to the last bit in practice;
    /// the tolerance only allows for a compiler vectorizing the two call sites differently.
    let tolerance = 1e-6

    func check(lengths: [Int], heads: Int, headSize: Int, dropout: Float, seed: UInt64) {
        let full = AttentionTests.Run(lengths: lengths, heads: heads, headSize: headSize, dropout: dropout > 0)
        let layout = full.layout, c = full.channels, n = layout.tokens, b = layout.batch
        let (g, t) = (b * heads, layout.sequence)
        let qkv = randomFloats(n * 3 * c, seed: seed, in: -2...2)
        let label = "lengths \(lengths) heads \(heads) size \(headSize) dropout \(dropout)"
        let expected = full.forward(qkv, dropout: dropout, seed: 5)

        // Inputs split as the model splits them: q of first tokens (B, C), k | v of all tokens (N, 2C).
        let firstRows = layout.offsets.map { Int($0) }
        let query = Self.rows(qkv, firstRows, width: 3 * c, columns: 0..<c)
        let keyValue = Self.rows(qkv, Array(0..<n), width: 3 * c, columns: c..<(3 * c))
        var allocated: [UnsafeMutablePointer<Float>] = []
        func buffer(_ count: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: count)
            p.initialize(repeating: .nan, count: count)
            allocated.append(p)
            return p
        }
        defer { allocated.forEach { $0.deallocate() } }
        let saved = AttentionSaved(
            probs: buffer(g * t), dropMask: dropout > 0 ? buffer(g * t) : nil, dropped: dropout > 0 ? buffer(g * t) : nil,
            scratch: buffer(AttentionSaved.scratchCount(matrices: g, rows: 1, sequence: t, headSize: headSize)))
        var out = [Float](repeating: .nan, count: b * c)
        firstTokenAttentionForward(&out, saved, query, keyValue, layout, heads: heads, headSize: headSize,
                                   dropout: dropout, seed: 5)
        let expectedRows = Self.rows(expected, firstRows, width: c, columns: 0..<c)
        XCTAssertLessThanOrEqual(maxRelativeError(out, widened(expectedRows)), tolerance, "\(label): context")
        if dropout > 0 {
            let fullMask = full.mask
            // Row 0 of each full matrix; entries past the sentence's length are never drawn (NaN in both).
            let rowMask = Self.rows(fullMask, (0..<g).map { $0 * t }, width: t, columns: 0..<t)
            let mask = Array(UnsafeBufferPointer(start: saved.dropMask, count: g * t))
            XCTAssertTrue(zip(mask, rowMask).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }, "\(label): masks")
        }

        let dout = randomFloats(b * c, seed: seed + 1)
        var fullDout = [Float](repeating: 0, count: n * c)
        for (r, row) in firstRows.enumerated() {
            for i in 0..<c { fullDout[row * c + i] = dout[r * c + i] }
        }
        let fullGradient = full.backward(fullDout)
        var dquery = [Float](repeating: .nan, count: b * c), dkeyValue = [Float](repeating: .nan, count: n * 2 * c)
        firstTokenAttentionBackward(&dquery, &dkeyValue, dout, saved, query, keyValue, layout, heads: heads, headSize: headSize)
        let expectedQuery = Self.rows(fullGradient, firstRows, width: 3 * c, columns: 0..<c)
        let expectedKeyValue = Self.rows(fullGradient, Array(0..<n), width: 3 * c, columns: c..<(3 * c))
        XCTAssertLessThanOrEqual(maxRelativeError(dquery, widened(expectedQuery)), tolerance, "\(label): dq")
        XCTAssertLessThanOrEqual(maxRelativeError(dkeyValue, widened(expectedKeyValue)), tolerance, "\(label): dk, dv")
    }

    /// Columns `columns` of rows `rows` of a row-major matrix `width` wide, concatenated.
    static func rows(_ x: [Float], _ rows: [Int], width: Int, columns: Range<Int>) -> [Float] {
        var out: [Float] = []
        for r in rows { out += x[(r * width + columns.lowerBound)..<(r * width + columns.upperBound)] }
        return out
    }

    func testMatchesFullAttentionOnFirstTokens() {
        check(lengths: [5, 1, 3], heads: 2, headSize: 4, dropout: 0, seed: 1)
        check(lengths: [67, 9, 30], heads: 3, headSize: 8, dropout: 0, seed: 2)
    }

    func testMatchesFullAttentionWithDropout() {
        check(lengths: [5, 1, 3], heads: 2, headSize: 4, dropout: 0.25, seed: 3)
        check(lengths: [12, 40, 7, 1], heads: 2, headSize: 8, dropout: 0.1, seed: 4)
    }
}
