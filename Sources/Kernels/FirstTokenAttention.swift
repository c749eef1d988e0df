import CKernels

// Shapes: N packed tokens of B sentences, C = NH * HS hidden, T the longest sentence, G = B * NH.
//
// Attention in which only each sentence's first token ([CLS]) asks: keys and values come from every
// token, the query from the first token alone. A classifier reads nothing of its last layer but the
// first token's output, so the last layer needs only this (queries (B, C) instead of (N, C)), and
// everything after it (out_lin, LayerNorms, FFN) runs on B rows instead of N. The result for the
// first token is exactly that of `attentionForward`, dropout masks included (row 0 of the same grid).
// Its `AttentionSaved` blocks are (G, 1, T): `AttentionSaved.scratchCount(matrices:rows: 1, ...)`.

/// out (B, C) = softmax(q k^T / sqrt(HS), masked) v for each sentence's first token.
public func firstTokenAttentionForward(
    _ out: UnsafeMutablePointer<Float>,        // (B, C) context of each first token, heads concatenated
    _ saved: AttentionSaved,
    _ query: UnsafePointer<Float>,             // (B, C) q of each first token
    _ keyValue: UnsafePointer<Float>,          // (N, 2C): k | v per row
    _ layout: PackedBatch, heads: Int, headSize hs: Int,
    dropout: Float = 0, seed: UInt64 = 0, firstSentence: Int = 0, isa: ISA = .current
) {
    let (t, c) = (layout.sequence, heads * hs)
    let scratchPerMatrix = headScratchCount(rows: 1, sequence: t, headSize: hs)
    let vectorized = isa == .avx512 && dropout == 0
    forEachHead(layout, heads: heads) { m, offset, length in
        let column = (m % heads) * hs, k = keyValue + offset * 2 * c + column
        if vectorized {
            edgedistill_attention_head_avx512(out + m * hs, c, query + m * hs, c, k, k + c, 2 * c, 1, length, hs,
                                              saved.probs + m * t, t)
            return
        }
        headForward(out + m * hs, outStride: c, q: query + m * hs, qStride: c, k: k, v: k + c, kvStride: 2 * c,
                    rows: 1, length: length, headSize: hs,
                    probs: saved.probs + m * t, mask: saved.dropMask.map { $0 + m * t },
                    dropped: saved.dropped.map { $0 + m * t }, sequence: t,
                    scratch: saved.scratch + m * scratchPerMatrix,
                    dropout: dropout, seed: seed, matrix: firstSentence * heads + m)
    }
}

/// Backward of `firstTokenAttentionForward`: writes the gradient of the queries into `dquery`
/// (B, C) and of keys and values into `dkeyValue` (N, 2C).
public func firstTokenAttentionBackward(
    _ dquery: UnsafeMutablePointer<Float>,     // (B, C)
    _ dkeyValue: UnsafeMutablePointer<Float>,  // (N, 2C)
    _ dout: UnsafePointer<Float>,              // (B, C)
    _ saved: AttentionSaved,
    _ query: UnsafePointer<Float>,             // (B, C) the forward pass's inputs
    _ keyValue: UnsafePointer<Float>,          // (N, 2C)
    _ layout: PackedBatch, heads: Int, headSize hs: Int
) {
    let (t, c) = (layout.sequence, heads * hs)
    let scratchPerMatrix = headScratchCount(rows: 1, sequence: t, headSize: hs)
    forEachHead(layout, heads: heads) { m, offset, length in
        let column = offset * 2 * c + (m % heads) * hs
        let k = keyValue + column, dk = dkeyValue + column
        // (G, 1, HS) is (B, C) with heads concatenated: row m * HS of the (B, C) buffers.
        headBackward(dq: dquery + m * hs, dqStride: c, dk: dk, dv: dk + c, dkvStride: 2 * c,
                     dout: dout + m * hs, doutStride: c,
                     q: query + m * hs, qStride: c, k: k, v: k + c, kvStride: 2 * c,
                     rows: 1, length: length, headSize: hs,
                     probs: saved.probs + m * t, mask: saved.dropMask.map { UnsafePointer($0 + m * t) },
                     dropped: saved.dropped.map { UnsafePointer($0 + m * t) }, sequence: t,
                     scratch: saved.scratch + m * scratchPerMatrix)
    }
}
