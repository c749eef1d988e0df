// Shapes: N packed tokens of B sentences (no padding), C = NH * HS hidden, NH heads of size HS,
// T the longest sentence in the batch, G = B * NH attention matrices.
// Linear layers run on packed tokens; attention gathers q, k and v per sentence and head into
// (G, T, HS) blocks padded to T, and its products (RaggedAttention.swift) use only each sentence's
// real L x L corner of them.

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

/// Scratch a single attention call reads and writes; the caller owns and reuses it.
public struct AttentionSaved {
    public let q, k, v: UnsafeMutablePointer<Float>   // (G, T, HS) each; q is pre-scaled by 1/sqrt(HS)
    public let probs: UnsafeMutablePointer<Float>     // (G, T, T) softmax output
    public let dropMask: UnsafeMutablePointer<Float>? // (G, T, T) keep/(1-p) or 0; nil without dropout
    public let dropped: UnsafeMutablePointer<Float>?  // (G, T, T) probs * dropMask
    /// Work space of `scratchCount` floats, not kept between calls (shared by all layers).
    public let scratch: UnsafeMutablePointer<Float>
    public init(q: UnsafeMutablePointer<Float>, k: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>,
                probs: UnsafeMutablePointer<Float>, dropMask: UnsafeMutablePointer<Float>? = nil,
                dropped: UnsafeMutablePointer<Float>? = nil, scratch: UnsafeMutablePointer<Float>) {
        self.q = q; self.k = k; self.v = v; self.probs = probs; self.dropMask = dropMask; self.dropped = dropped
        self.scratch = scratch
    }

    /// Floats of work space attention needs for G matrices of sequence T and head size HS.
    public static func scratchCount(matrices g: Int, sequence t: Int, headSize hs: Int) -> Int {
        4 * g * t * hs + g * t * t
    }
}

/// Multi-head self-attention core: out = softmax(q k^T / sqrt(HS), masked) v, per sentence and head.
///
/// Mirrors DistilBERT's MultiHeadSelfAttention after the q/k/v projections (and BERT's
/// BertSelfAttention): the query is scaled before the product, padded keys get probability 0.
public func attentionForward(
    _ out: UnsafeMutablePointer<Float>,        // (N, C) context, heads concatenated
    _ saved: AttentionSaved,
    _ qkv: UnsafePointer<Float>,               // (N, 3C): q | k | v per row
    _ layout: PackedBatch, heads: Int, headSize: Int,
    dropout: Float = 0, seed: UInt64 = 0, firstSentence: Int = 0
) {
    let (b, t, hs, c) = (layout.batch, layout.sequence, headSize, heads * headSize)
    let g = b * heads
    let scale = 1 / Float(hs).squareRoot()
    // Gather q, k, v into (G, T, HS), zero-filling padded rows so no junk reaches a product.
    for s in 0..<b {
        let offset = Int(layout.offsets[s]), length = Int(layout.lengths[s])
        for h in 0..<heads {
            let base = (s * heads + h) * t * hs
            for i in 0..<t {
                let dq = saved.q + base + i * hs, dk = saved.k + base + i * hs, dv = saved.v + base + i * hs
                if i < length {
                    let row = qkv + (offset + i) * 3 * c + h * hs
                    for d in 0..<hs {
                        dq[d] = row[d] * scale
                        dk[d] = row[c + d]
                        dv[d] = row[2 * c + d]
                    }
                } else {
                    dq.update(repeating: 0, count: hs)
                    dk.update(repeating: 0, count: hs)
                    dv.update(repeating: 0, count: hs)
                }
            }
        }
    }
    raggedScores(saved.probs, saved.q, saved.k, lengths: layout.lengths, heads: heads, sequence: t, headSize: hs)
    layout.lengths.withUnsafeBufferPointer { lengths in
        maskedSoftmaxForward(saved.probs, saved.probs, lengths: lengths.baseAddress!,
                             matrices: g, heads: heads, sequence: t)
    }
    var weights = UnsafePointer(saved.probs)
    if dropout > 0, let mask = saved.dropMask, let dropped = saved.dropped {
        dropoutForwardGrid(dropped, mask, saved.probs, matrices: g, side: t, probability: dropout, seed: seed,
                           firstMatrix: firstSentence * heads)
        weights = UnsafePointer(dropped)
    }
    // Context (G, T, HS), then scattered back to packed rows.
    let context = saved.scratch                                         // (G, T, HS)
    raggedWeightedSum(context, weights, saved.v, lengths: layout.lengths, heads: heads, sequence: t, headSize: hs)
    for s in 0..<b {
        let offset = Int(layout.offsets[s]), length = Int(layout.lengths[s])
        for h in 0..<heads {
            let base = (s * heads + h) * t * hs
            for i in 0..<length {
                (out + (offset + i) * c + h * hs).update(from: context + base + i * hs, count: hs)
            }
        }
    }
}

/// Backward of `attentionForward`: dqkv (N, 3C) is overwritten with the gradient of q, k and v.
public func attentionBackward(
    _ dqkv: UnsafeMutablePointer<Float>,       // (N, 3C)
    _ dout: UnsafePointer<Float>,              // (N, C)
    _ saved: AttentionSaved,
    _ layout: PackedBatch, heads: Int, headSize: Int
) {
    let (b, t, hs, c) = (layout.batch, layout.sequence, headSize, heads * headSize)
    let g = b * heads
    let scale = 1 / Float(hs).squareRoot()
    let vectors = g * t * hs, matrices = g * t * t
    let scratch = saved.scratch
    let dcontext = scratch, dq = scratch + vectors, dk = scratch + 2 * vectors, dv = scratch + 3 * vectors
    let dprobs = scratch + 4 * vectors                                  // (G, T, T)
    for s in 0..<b {
        let offset = Int(layout.offsets[s]), length = Int(layout.lengths[s])
        for h in 0..<heads {
            let base = (s * heads + h) * t * hs
            for i in 0..<t {
                let dst = dcontext + base + i * hs
                if i < length { dst.update(from: dout + (offset + i) * c + h * hs, count: hs) }
                else { dst.update(repeating: 0, count: hs) }
            }
        }
    }
    let weights = saved.dropped.map { UnsafePointer($0) } ?? UnsafePointer(saved.probs)
    raggedScores(dprobs, dcontext, saved.v, lengths: layout.lengths, heads: heads, sequence: t, headSize: hs)
    raggedTransposedWeightedSum(dv, weights, dcontext, lengths: layout.lengths, heads: heads, sequence: t, headSize: hs)
    if let mask = saved.dropMask, saved.dropped != nil {
        for i in 0..<matrices { dprobs[i] *= mask[i] }
    }
    layout.lengths.withUnsafeBufferPointer { lengths in
        maskedSoftmaxBackward(dprobs, dprobs, saved.probs, lengths: lengths.baseAddress!,
                              matrices: g, heads: heads, sequence: t)
    }
    raggedWeightedSum(dq, dprobs, saved.k, lengths: layout.lengths, heads: heads, sequence: t, headSize: hs)
    raggedTransposedWeightedSum(dk, dprobs, saved.q, lengths: layout.lengths, heads: heads, sequence: t, headSize: hs)
    for s in 0..<b {
        let offset = Int(layout.offsets[s]), length = Int(layout.lengths[s])
        for h in 0..<heads {
            let base = (s * heads + h) * t * hs
            for i in 0..<length {
                let row = dqkv + (offset + i) * 3 * c + h * hs
                let q = dq + base + i * hs, k = dk + base + i * hs, v = dv + base + i * hs
                for d in 0..<hs {
                    row[d] = q[d] * scale
                    row[c + d] = k[d]
                    row[2 * c + d] = v[d]
                }
            }
        }
    }
}
