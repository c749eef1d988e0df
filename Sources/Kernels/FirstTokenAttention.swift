// Shapes: N packed tokens of B sentences, C = NH * HS hidden, T the longest sentence, G = B * NH.
//
// Attention in which only each sentence's first token ([CLS]) asks: keys and values come from every
// token, the query from the first token alone. A classifier reads nothing of its last layer but the
// first token's output, so the last layer needs only this (queries (B, C) instead of (N, C)), and
// everything after it (out_lin, LayerNorms, FFN) runs on B rows instead of N. The result for the
// first token is exactly that of `attentionForward`, dropout masks included (row 0 of the same grid).

extension AttentionSaved {
    /// Floats of work space `firstTokenAttentionForward`/`Backward` need for G matrices of sequence T
    /// and head size HS. Their `AttentionSaved` holds q (G, 1, HS), k and v (G, T, HS) with padded
    /// rows zero, probs, dropMask and dropped (G, 1, T).
    public static func firstTokenScratchCount(matrices g: Int, sequence t: Int, headSize hs: Int) -> Int {
        2 * g * hs + 2 * g * t * hs + g * t
    }
}

/// out (B, C) = softmax(q k^T / sqrt(HS), masked) v for each sentence's first token.
public func firstTokenAttentionForward(
    _ out: UnsafeMutablePointer<Float>,        // (B, C) context of each first token, heads concatenated
    _ saved: AttentionSaved,
    _ query: UnsafePointer<Float>,             // (B, C) q of each first token
    _ keyValue: UnsafePointer<Float>,          // (N, 2C): k | v per row
    _ layout: PackedBatch, heads: Int, headSize: Int,
    dropout: Float = 0, seed: UInt64 = 0, firstSentence: Int = 0
) {
    let (b, t, hs, c) = (layout.batch, layout.sequence, headSize, heads * headSize)
    let g = b * heads
    let scale = 1 / Float(hs).squareRoot()
    for s in 0..<b {
        let offset = Int(layout.offsets[s]), length = Int(layout.lengths[s])
        for h in 0..<heads {
            let m = s * heads + h
            for d in 0..<hs { saved.q[m * hs + d] = query[s * c + h * hs + d] * scale }
            for i in 0..<t {
                let dk = saved.k + (m * t + i) * hs, dv = saved.v + (m * t + i) * hs
                if i < length {
                    let row = keyValue + (offset + i) * 2 * c + h * hs
                    dk.update(from: row, count: hs)
                    dv.update(from: row + c, count: hs)
                } else {
                    dk.update(repeating: 0, count: hs)
                    dv.update(repeating: 0, count: hs)
                }
            }
        }
    }
    raggedScores(saved.probs, saved.q, saved.k, lengths: layout.lengths, heads: heads, sequence: t, headSize: hs,
                 firstTokenOnly: true)
    for m in 0..<g {
        let length = Int(layout.lengths[m / heads]), p = saved.probs + m * t
        var largest = -Float.infinity
        for j in 0..<length { largest = max(largest, p[j]) }
        var sum: Float = 0
        for j in 0..<length { p[j] = fastExp(p[j] - largest); sum += p[j] }
        let inv = 1 / sum
        for j in 0..<length { p[j] *= inv }
        if length < t { (p + length).update(repeating: 0, count: t - length) }
    }
    var weights = UnsafePointer(saved.probs)
    if dropout > 0, let mask = saved.dropMask, let dropped = saved.dropped {
        dropoutForwardGrid(dropped, mask, saved.probs, matrices: g, side: t, rows: 1, probability: dropout,
                           seed: seed, firstMatrix: firstSentence * heads)
        weights = UnsafePointer(dropped)
    }
    let context = saved.scratch                                          // (G, 1, HS) = (B, C)
    raggedWeightedSum(context, weights, saved.v, lengths: layout.lengths, heads: heads, sequence: t, headSize: hs,
                      firstTokenOnly: true)
    out.update(from: context, count: b * c)
}

/// Backward of `firstTokenAttentionForward`: writes the gradient of the queries into `dquery`
/// (B, C) and of keys and values into `dkeyValue` (N, 2C).
public func firstTokenAttentionBackward(
    _ dquery: UnsafeMutablePointer<Float>,     // (B, C)
    _ dkeyValue: UnsafeMutablePointer<Float>,  // (N, 2C)
    _ dout: UnsafePointer<Float>,              // (B, C)
    _ saved: AttentionSaved,
    _ layout: PackedBatch, heads: Int, headSize: Int
) {
    let (b, t, hs, c) = (layout.batch, layout.sequence, headSize, heads * headSize)
    let g = b * heads
    let scale = 1 / Float(hs).squareRoot()
    // (G, 1, HS) is (B, C) with heads concatenated: dout is already the per-matrix layout.
    let dq = saved.scratch, dk = dq + g * hs, dv = dk + g * t * hs, dprobs = dv + g * t * hs
    let weights = saved.dropped.map { UnsafePointer($0) } ?? UnsafePointer(saved.probs)
    raggedScores(dprobs, dout, saved.v, lengths: layout.lengths, heads: heads, sequence: t, headSize: hs,
                 firstTokenOnly: true)
    raggedTransposedWeightedSum(dv, weights, dout, lengths: layout.lengths, heads: heads, sequence: t, headSize: hs,
                                firstTokenOnly: true)
    if let mask = saved.dropMask, saved.dropped != nil {
        for i in 0..<(g * t) { dprobs[i] *= mask[i] }
    }
    for m in 0..<g {
        let length = Int(layout.lengths[m / heads]), p = saved.probs + m * t, dp = dprobs + m * t
        var dot: Float = 0
        for j in 0..<length { dot += dp[j] * p[j] }
        for j in 0..<length { dp[j] = p[j] * (dp[j] - dot) }
        if length < t { (dp + length).update(repeating: 0, count: t - length) }
    }
    raggedWeightedSum(dq, dprobs, saved.k, lengths: layout.lengths, heads: heads, sequence: t, headSize: hs,
                      firstTokenOnly: true)
    raggedTransposedWeightedSum(dk, dprobs, saved.q, lengths: layout.lengths, heads: heads, sequence: t, headSize: hs,
                                firstTokenOnly: true)
    for i in 0..<(b * c) { dquery[i] = dq[i] * scale }
    for s in 0..<b {
        let offset = Int(layout.offsets[s]), length = Int(layout.lengths[s])
        for h in 0..<heads {
            let m = s * heads + h
            for i in 0..<length {
                let row = dkeyValue + (offset + i) * 2 * c + h * hs
                row.update(from: dk + (m * t + i) * hs, count: hs)
                (row + c).update(from: dv + (m * t + i) * hs, count: hs)
            }
        }
    }
}
