import Kernels

// Shapes: B sentences of lengths L_b, NH a layer's heads, T the longest sentence. A layer's
// attention probabilities live in a (B * NH, T, T) block of which only each matrix's real (L_b, L_b)
// corner is meaningful; the maps here hold just those entries, sentence by sentence, head by head,
// row by row: sum over b of NH * L_b^2 floats.

extension SequenceClassifier {
    /// Layer `l`'s attention probabilities of the last forward pass (before attention dropout), as
    /// described above: the maps attention transfer compares between a student and its teacher. The
    /// last layer's need a forward pass with `allHiddenStates` (every row of it).
    public func attentionMaps(layer l: Int) -> [Float] {
        guard let batch = activations.batch else { return [] }
        precondition(l < config.layerCount - 1 || !activations.firstTokensOnly,
                     "the last layer ran on first tokens only: call forward(_:allHiddenStates: true)")
        let (nh, t, probs) = (config.heads(inLayer: l), batch.layout.sequence, activations.layers[l].probs.p)
        var maps: [Float] = []
        maps.reserveCapacity(batch.layout.lengths.reduce(0) { $0 + nh * Int($1) * Int($1) })
        for (b, length) in batch.layout.lengths.enumerated() {
            let n = Int(length)
            for h in 0..<nh {
                let block = probs + (b * nh + h) * t * t
                for i in 0..<n { maps.append(contentsOf: UnsafeBufferPointer(start: block + i * t, count: n)) }
            }
        }
        return maps
    }

    /// A gradient in `attentionMaps` order spread into the (B * NH, T, T) layout of layer `l`'s
    /// probabilities (zero outside the real corners), for `attentionBackward`.
    func attentionBlock(_ compact: [Float], layer l: Int, batch: TokenBatch) -> [Float] {
        let (nh, t) = (config.heads(inLayer: l), batch.layout.sequence)
        var block = [Float](repeating: 0, count: batch.batchSize * nh * t * t)
        var at = 0
        for (b, length) in batch.layout.lengths.enumerated() {
            let n = Int(length)
            for h in 0..<nh {
                let base = (b * nh + h) * t * t
                for i in 0..<n {
                    for j in 0..<n { block[base + i * t + j] = compact[at + j] }
                    at += n
                }
            }
        }
        precondition(at == compact.count, "an attention gradient must be in attentionMaps(layer: \(l)) order and size")
        return block
    }
}
