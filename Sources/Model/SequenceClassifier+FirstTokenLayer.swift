import Kernels

// Shapes: N packed tokens, B sentences, C hidden, F intermediate, NH heads of size HS, A = NH * HS.
//
// The last layer, computed for first tokens only. The head reads one row per sentence of the last
// layer's output (DistilBERT's hidden_state[:, 0], BERT's pooler input), so the other N - B rows
// are never used: only k and v need every token (the first token attends to all of them). Here
// q_lin, out_lin, both LayerNorms and the FFN run on B rows, which is 5/6 of a layer's products
// saved for 14-token sentences. Same function as `layerForward` restricted to those rows, same
// dropout masks (drawn by each row's place in the full batch), so the logits and every gradient
// equal those of the full layer up to rounding.
//
//   kv   = [k_lin | v_lin](x)                       (N, 2A)
//   x0   = x[first tokens]                          (B, C)
//   h1   = sa_layer_norm(out_lin(attention(q_lin x0, k, v)) + x0)
//   out  = output_layer_norm(dropout(lin2(gelu(lin1 h1))) + h1)   (B, C)

extension SequenceClassifier {
    func firstTokenLayerForward(_ l: Int, _ batch: TokenBatch, dropoutSeed: UInt64?) {
        guard l == config.layerCount - 1, let query = weights.lastQuery, let keyValue = weights.lastKeyValue else {
            preconditionFailure("only the last layer runs on first tokens only")
        }
        let a = activations, s = a.layers[l]
        let (n, b, c, hs) = (batch.tokenCount, batch.batchSize, config.hiddenSize, config.headSize)
        let (nh, aw) = (config.heads(inLayer: l), config.attentionWidth(l))
        let (g, t) = (b * nh, batch.layout.sequence)
        let x = a.input(ofLayer: l)

        let kv = s.qkv.reserve(n * 2 * aw)
        linear(keyValue, kv, x, rows: n)
        let x0 = s.firstInput.reserve(b * c)
        for r in 0..<b { (x0 + r * c).update(from: x + Int(batch.layout.offsets[r]) * c, count: c) }
        let q = s.firstQuery.reserve(b * aw)
        linear(query, q, x0, rows: b)

        let attentionDropout = dropoutSeed != nil ? Float(config.attentionDropout) : 0
        let saved = firstTokenSaved(s, matrices: g, sequence: t, dropout: attentionDropout > 0, reserve: true)
        let context = s.context.reserve(b * aw)
        firstTokenAttentionForward(context, saved, q, kv, batch.layout, heads: nh, headSize: hs,
                                   dropout: attentionDropout, seed: (dropoutSeed ?? 0) &+ 1,
                                   firstSentence: batch.origin.sentences)
        layerTailForward(l, batch, rows: b, context: context, input: x0, dropoutSeed: dropoutSeed, firstTokens: true)
    }

    /// `dout` (B, C): gradient of the first tokens' outputs. Writes the gradient of the layer's
    /// input into `dinput` (N, C), which may be the same buffer as `dout`.
    func firstTokenLayerBackward(_ l: Int, _ batch: TokenBatch, _ dout: UnsafeMutablePointer<Float>,
                                 _ dinput: UnsafeMutablePointer<Float>) {
        let a = activations, s = a.layers[l]
        let w = layerView(l, in: parameters), dw = layerView(l, in: gradients)
        let (n, b, c, hs) = (batch.tokenCount, batch.batchSize, config.hiddenSize, config.headSize)
        let (nh, aw) = (config.heads(inLayer: l), config.attentionWidth(l))
        let x = a.input(ofLayer: l)

        // dx0 collects the gradients of the residual and of q_lin's input.
        let (dcontext, dx0) = layerTailBackward(l, rows: b, dout)
        let dkv = a.dQKV.reserve(n * 2 * aw + b * aw), dq = dkv + n * 2 * aw
        let g = b * nh, t = batch.layout.sequence
        let saved = firstTokenSaved(s, matrices: g, sequence: t, dropout: a.dropout && config.attentionDropout > 0,
                                    reserve: false)
        firstTokenAttentionBackward(dq, dkv, dcontext, saved, s.firstQuery.p, s.qkv.p, batch.layout, heads: nh, headSize: hs)
        linearBackward(dx0, dw.qkvWeight, dw.qkvBias, dq, s.firstInput.p, w.qkvWeight,
                       rows: b, inputs: c, outputs: aw, accumulate: true)
        // dout is dead from here on, so dinput may be the same buffer.
        linearBackward(dinput, dw.qkvWeight + aw * c, dw.qkvBias + aw, dkv, x, w.qkvWeight + aw * c,
                       rows: n, inputs: c, outputs: 2 * aw)
        for r in 0..<b {
            let row = dinput + Int(batch.layout.offsets[r]) * c, from = dx0 + r * c
            for i in 0..<c { row[i] += from[i] }
        }
    }

    /// The first-token attention's saved tensors in layer `s`'s buffers (reserved in the forward pass).
    private func firstTokenSaved(_ s: Activations.Layer, matrices g: Int, sequence t: Int, dropout: Bool,
                                 reserve: Bool) -> AttentionSaved {
        let hs = config.headSize
        func buffer(_ b: Buffer, _ count: Int) -> UnsafeMutablePointer<Float> { reserve ? b.reserve(count) : b.p }
        return AttentionSaved(
            probs: buffer(s.probs, g * t),
            dropMask: dropout ? buffer(s.dropMask, g * t) : nil, dropped: dropout ? buffer(s.dropped, g * t) : nil,
            scratch: activations.attentionScratch.reserve(
                AttentionSaved.scratchCount(matrices: g, rows: 1, sequence: t, headSize: hs)))
    }
}
