import CKernels

// Shapes: N packed tokens of B sentences (no padding), C = NH * HS hidden, NH heads of size HS,
// T the longest sentence in the batch, G = B * NH attention matrices.
// Linear layers run on packed tokens; attention reads q, k and v in place from the packed (N, 3C)
// projections and writes each context row in place, one (sentence, head) matrix at a time
// (AttentionHead.swift), on the sentence's real L x L block only.

/// Where each sentence's tokens sit in a packed (N, C) buffer.
public struct PackedBatch {
    /// Tokens of sentence b are rows offsets[b] ..< offsets[b] + lengths[b].
    public let offsets: [Int32]   // (B)
    public let lengths: [Int32]   // (B)
    /// The longest sentence, T.
    public let sequence: Int
    public var batch: Int { lengths.count }
    public var tokens: Int { Int(lengths.reduce(0, +)) }

    public init(lengths: [Int]) {
        self.lengths = lengths.map { Int32($0) }
        var offsets = [Int32](), running: Int32 = 0
        for length in lengths { offsets.append(running); running += Int32(length) }
        self.offsets = offsets
        self.sequence = lengths.max() ?? 0
    }
}

/// What attention keeps for its backward pass, in buffers the caller owns and reuses. R query rows
/// per matrix: T for self-attention, 1 for the first token only; only each matrix's real (R, L)
/// corner is written.
public struct AttentionSaved {
    public let probs: UnsafeMutablePointer<Float>     // (G, R, T) softmax output
    public let dropMask: UnsafeMutablePointer<Float>? // (G, R, T) keep/(1-p) or 0; nil without dropout
    public let dropped: UnsafeMutablePointer<Float>?  // (G, R, T) probs * dropMask
    /// Work space of `scratchCount` floats, not kept between calls (shared by all layers).
    public let scratch: UnsafeMutablePointer<Float>
    public init(probs: UnsafeMutablePointer<Float>, dropMask: UnsafeMutablePointer<Float>? = nil,
                dropped: UnsafeMutablePointer<Float>? = nil, scratch: UnsafeMutablePointer<Float>) {
        self.probs = probs; self.dropMask = dropMask; self.dropped = dropped; self.scratch = scratch
    }

    /// Floats of work space for G matrices of R query rows, sequence T and head size HS.
    public static func scratchCount(matrices g: Int, rows r: Int, sequence t: Int, headSize hs: Int) -> Int {
        g * headScratchCount(rows: r, sequence: t, headSize: hs)
    }
}

/// Multi-head self-attention core: out = softmax(q k^T / sqrt(HS), masked) v, per sentence and head.
/// Without dropout on the `avx512` path, each matrix runs in C (`edgedistill_attention_head_avx512`).
///
/// Mirrors DistilBERT's MultiHeadSelfAttention after the q/k/v projections (and BERT's
/// BertSelfAttention): the query is scaled before the product, padded keys get probability 0.
/// Attention-probability dropout draws each element's mask from its place in a fixed grid per
/// matrix (`dropoutGridRow`), matrices numbered from `firstSentence * NH`.
public func attentionForward(
    _ out: UnsafeMutablePointer<Float>,        // (N, C) context, heads concatenated
    _ saved: AttentionSaved,
    _ qkv: UnsafePointer<Float>,               // (N, 3C): q | k | v per row
    _ layout: PackedBatch, heads: Int, headSize hs: Int,
    dropout: Float = 0, seed: UInt64 = 0, firstSentence: Int = 0, isa: ISA = .current
) {
    let (t, c) = (layout.sequence, heads * hs)
    let scratchPerMatrix = headScratchCount(rows: t, sequence: t, headSize: hs)
    let vectorized = isa == .avx512 && dropout == 0
    // One sentence's 12 heads are worth two threads when each sentence is long enough.
    let minimum = layout.batch == 1 && layout.sequence >= 16 ? 6 : 8
    forEachHead(layout, heads: heads, minimumPerThread: minimum) { m, offset, length in
        let q = qkv + offset * 3 * c + (m % heads) * hs, block = m * t * t
        if vectorized {
            edgedistill_attention_head_avx512(out + offset * c + (m % heads) * hs, c, q, 3 * c, q + c, q + 2 * c, 3 * c,
                                              length, length, hs, saved.probs + block, t)
            return
        }
        headForward(out + offset * c + (m % heads) * hs, outStride: c,
                    q: q, qStride: 3 * c, k: q + c, v: q + 2 * c, kvStride: 3 * c,
                    rows: length, length: length, headSize: hs,
                    probs: saved.probs + block, mask: saved.dropMask.map { $0 + block },
                    dropped: saved.dropped.map { $0 + block }, sequence: t,
                    scratch: saved.scratch + m * scratchPerMatrix,
                    dropout: dropout, seed: seed, matrix: firstSentence * heads + m)
    }
}

/// Backward of `attentionForward`: dqkv (N, 3C) is overwritten with the gradient of q, k and v.
/// `probGradient` (G, T, T), when given, is a loss's gradient on the attention probabilities.
public func attentionBackward(
    _ dqkv: UnsafeMutablePointer<Float>,       // (N, 3C)
    _ dout: UnsafePointer<Float>,              // (N, C)
    _ saved: AttentionSaved,
    _ qkv: UnsafePointer<Float>,               // (N, 3C) the forward pass's input
    _ layout: PackedBatch, heads: Int, headSize hs: Int,
    probGradient: UnsafePointer<Float>? = nil  // (G, T, T)
) {
    let (t, c) = (layout.sequence, heads * hs)
    let scratchPerMatrix = headScratchCount(rows: t, sequence: t, headSize: hs)
    forEachHead(layout, heads: heads) { m, offset, length in
        let column = offset * 3 * c + (m % heads) * hs, block = m * t * t
        let q = qkv + column, dq = dqkv + column
        headBackward(dq: dq, dqStride: 3 * c, dk: dq + c, dv: dq + 2 * c, dkvStride: 3 * c,
                     dout: dout + offset * c + (m % heads) * hs, doutStride: c,
                     q: q, qStride: 3 * c, k: q + c, v: q + 2 * c, kvStride: 3 * c,
                     rows: length, length: length, headSize: hs,
                     probs: saved.probs + block, mask: saved.dropMask.map { UnsafePointer($0 + block) },
                     dropped: saved.dropped.map { UnsafePointer($0 + block) }, sequence: t,
                     scratch: saved.scratch + m * scratchPerMatrix, probGradient: probGradient.map { $0 + block })
    }
}
