import Kernels

// Shapes: N packed tokens, C hidden.
// Mirrors DistilBERT's Embeddings: LayerNorm(word + position), then dropout. A BERT checkpoint
// arrives here with token_type_embeddings[0] already folded into the position table.

extension SequenceClassifier {
    func embeddingsForward(_ batch: TokenBatch, dropoutSeed: UInt64?) {
        let a = activations, w = weights
        let (n, c) = (batch.tokenCount, config.hiddenSize)
        let sum = a.embeddingSum.reserve(n * c)
        let out = a.embedded.reserve(n * c)
        batch.ids.withUnsafeBufferPointer { ids in
            batch.positions.withUnsafeBufferPointer { positions in
                switch w.words {
                case .float(let table):
                    embeddingForward(sum, ids.baseAddress!, positions.baseAddress!, table, w.positions, tokens: n, hidden: c)
                case .int8(let table):
                    table.forward(sum, ids.baseAddress!, positions.baseAddress!, w.positions, tokens: n, hidden: c)
                }
            }
        }
        layerNormForward(out, a.embeddingMean.reserve(n), a.embeddingRstd.reserve(n), sum, w.normWeight, w.normBias,
                         rows: n, features: c, epsilon: Float(config.layerNormEpsilon))
        if let seed = dropoutSeed, config.hiddenDropout > 0 {
            dropoutForward(out, a.embeddingMask.reserve(n * c), out, count: n * c,
                           probability: Float(config.hiddenDropout), seed: seed, offset: batch.origin.tokens * c)
        }
    }

    /// `dout` (N, C) is the gradient of layer 0's input; it is consumed (overwritten).
    func embeddingsBackward(_ batch: TokenBatch, _ dout: UnsafeMutablePointer<Float>) {
        let a = activations
        let (n, c) = (batch.tokenCount, config.hiddenSize)
        if a.dropout, config.hiddenDropout > 0 {
            dropoutBackward(dout, dout, a.embeddingMask.p, count: n * c)
        }
        let dsum = a.dResidual.reserve(n * c)
        layerNormBackward(dsum, gradient("embeddings.LayerNorm.weight"), gradient("embeddings.LayerNorm.bias"),
                          dout, a.embeddingSum.p, parameter("embeddings.LayerNorm.weight"),
                          a.embeddingMean.p, a.embeddingRstd.p, rows: n, features: c)
        batch.ids.withUnsafeBufferPointer { ids in
            batch.positions.withUnsafeBufferPointer { positions in
                embeddingBackward(gradient("embeddings.word_embeddings.weight"),
                                  gradient("embeddings.position_embeddings.weight"), dsum,
                                  ids.baseAddress!, positions.baseAddress!, tokens: n, hidden: c)
            }
        }
        touchedRows.formUnion(batch.ids)
    }
}
