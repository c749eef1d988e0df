import Kernels

extension SequenceClassifier {
    /// Runs the model on a batch and returns the logits (B, K), row-major.
    ///
    /// With `dropoutSeed` the pass is a training pass: dropout is on, with masks drawn from the
    /// seed (so a step can be replayed exactly). Without it, as in evaluation, dropout is off.
    /// The activations are kept for `backward`.
    ///
    /// The logits need only the first token's row of the last layer, so that layer runs on first
    /// tokens only (`firstTokenLayerForward`) unless `allHiddenStates` asks for every row of it
    /// (for `hiddenStates(after: layerCount)` and losses on it).
    @discardableResult
    public func forward(_ batch: TokenBatch, dropoutSeed: UInt64? = nil, allHiddenStates: Bool = false) -> [Float] {
        // Callers check inputs with `checkCompatible`; this guards the tables against a bug.
        precondition(batch.layout.sequence <= config.maxPositions, "sentence longer than max_position_embeddings")
        activations.batch = batch
        activations.dropout = dropoutSeed != nil
        activations.firstTokensOnly = !allHiddenStates && config.layerCount > 0
        embeddingsForward(batch, dropoutSeed: dropoutSeed.map { splitMix64($0) })
        for l in 0..<config.layerCount {
            let seed = dropoutSeed.map { splitMix64($0 &+ UInt64(l + 1) &* 0x1000) }
            if activations.firstTokensOnly && l == config.layerCount - 1 {
                firstTokenLayerForward(l, batch, dropoutSeed: seed)
            } else {
                layerForward(l, batch, dropoutSeed: seed)
            }
        }
        headForward(batch, dropoutSeed: dropoutSeed.map { splitMix64($0 &+ 0xFFFF_0000) })
        return Array(UnsafeBufferPointer(start: activations.logits.p, count: batch.batchSize * config.labelCount))
    }

    /// `out (rows, O) = inp (rows, I) W^T + b (+ residual)` through `layer`, whatever form its weights take.
    @inline(__always)
    func linear(_ layer: LinearLayer, _ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, rows: Int,
                residual: UnsafePointer<Float>? = nil) {
        layer.forward(out, inp, rows: rows, scratch: int8Scratch, residual: residual)
    }

    /// Accumulates (+=) into `gradients` the gradient of a loss whose gradient with respect to the
    /// logits of the last `forward` is `dlogits` (B, K).
    ///
    /// `hiddenGradients[l]` (N, C), when given, is added to the gradient of the hidden states after
    /// layer `l` (numbered as in `hiddenStates(after:)`), for losses on intermediate layers.
    ///
    /// `layerDone(l)`, when given, is called as soon as layer `l`'s gradients (and, for the last
    /// layer, the head's) are final, so they can travel while the rest of the pass runs.
    ///
    /// `attentionGradients[l]`, when given, is a loss's gradient on layer `l`'s attention
    /// probabilities, in `attentionMaps(layer:)` order (attention transfer).
    public func backward(_ dlogits: [Float], hiddenGradients: [Int: [Float]] = [:], attentionGradients: [Int: [Float]] = [:],
                         layerDone: ((Int) -> Void)? = nil) {
        guard let batch = activations.batch else {
            preconditionFailure("backward called before forward")
        }
        precondition(quantization != .int8Dynamic,
                     "an int8 model cannot be trained: its linear layers hold int8 weights, not the fp32 parameters a backward pass updates")
        precondition(!isFrozen, "a frozen model cannot be trained: its linear layers use weights prepared once (freeze())")
        precondition(dlogits.count == batch.batchSize * config.labelCount, "dlogits must be (B, K)")
        let firstTokensOnly = activations.firstTokensOnly
        precondition(!firstTokensOnly || hiddenGradients[config.layerCount] == nil,
                     "a loss on the last layer's hidden states needs forward(allHiddenStates: true)")
        precondition(!firstTokensOnly || attentionGradients[config.layerCount - 1] == nil,
                     "a loss on the last layer's attention needs forward(allHiddenStates: true)")
        let dstream = activations.dStream.reserve(batch.tokenCount * config.hiddenSize)
        dlogits.withUnsafeBufferPointer { headBackward(batch, $0.baseAddress!, dstream) }
        let count = batch.tokenCount * config.hiddenSize
        func inject(_ l: Int) {
            guard let extra = hiddenGradients[l] else { return }
            precondition(extra.count == count, "hidden-state gradient must be (N, C)")
            for i in 0..<count { dstream[i] += extra[i] }
        }
        for l in stride(from: config.layerCount - 1, through: 0, by: -1) {
            inject(l + 1)
            if firstTokensOnly && l == config.layerCount - 1 {
                firstTokenLayerBackward(l, batch, dstream, dstream)
            } else if let extra = attentionGradients[l] {
                attentionBlock(extra, layer: l, batch: batch).withUnsafeBufferPointer {
                    layerBackward(l, batch, dstream, dstream, probGradient: $0.baseAddress)
                }
            } else {
                layerBackward(l, batch, dstream, dstream)
            }
            layerDone?(l)
        }
        inject(0)
        embeddingsBackward(batch, dstream)
    }

    /// Hidden states (N, C) after layer `l` of the last forward pass (l = 0 is the embeddings'
    /// output, l = layerCount the last layer's), for tests and hidden-state distillation. The last
    /// layer's need a forward pass with `allHiddenStates`.
    public func hiddenStates(after l: Int) -> [Float] {
        guard let batch = activations.batch else { return [] }
        precondition(l < config.layerCount || !activations.firstTokensOnly,
                     "the last layer ran on first tokens only: call forward(_:allHiddenStates: true)")
        let pointer = l == 0 ? activations.embedded.p : activations.layers[l - 1].output.p
        return Array(UnsafeBufferPointer(start: pointer, count: batch.tokenCount * config.hiddenSize))
    }
}
