import Kernels

// Shapes: N packed tokens, C hidden, F intermediate, NH heads of size HS (the layer's own NH, fewer
// where heads were pruned), A = NH * HS the attention width.
// Mirrors DistilBERT's TransformerBlock (post-norm):
//   h1  = sa_layer_norm(out_lin(attention(q_lin x, k_lin x, v_lin x)) + x)
//   out = output_layer_norm(dropout(lin2(gelu(lin1 h1))) + h1)
// Attention-probability dropout is inside `attentionForward`.

extension SequenceClassifier {
    func layerForward(_ l: Int, _ batch: TokenBatch, dropoutSeed: UInt64?) {
        let a = activations, s = a.layers[l], w = weights.layers[l]
        let (n, nh, aw) = (batch.tokenCount, config.heads(inLayer: l), config.attentionWidth(l))
        let (g, t) = (batch.batchSize * nh, batch.layout.sequence)
        let x = a.input(ofLayer: l)

        let qkv = s.qkv.reserve(n * 3 * aw)
        linear(w.qkv, qkv, x, rows: n)
        let attentionDropout = dropoutSeed != nil ? Float(config.attentionDropout) : 0
        let saved = AttentionSaved(
            probs: s.probs.reserve(g * t * t),
            dropMask: attentionDropout > 0 ? s.dropMask.reserve(g * t * t) : nil,
            dropped: attentionDropout > 0 ? s.dropped.reserve(g * t * t) : nil,
            scratch: a.attentionScratch.reserve(
                AttentionSaved.scratchCount(matrices: g, rows: t, sequence: t, headSize: config.headSize)))
        let context = s.context.reserve(n * aw)
        attentionForward(context, saved, qkv, batch.layout, heads: nh, headSize: config.headSize,
                         dropout: attentionDropout, seed: (dropoutSeed ?? 0) &+ 1, firstSentence: batch.origin.sentences)
        layerTailForward(l, batch, rows: n, context: context, input: x, dropoutSeed: dropoutSeed, firstTokens: false)
    }

    /// The layer after attention, on `rows` rows: all N tokens, or (`firstTokens`) the B first tokens:
    ///   h1 = sa_layer_norm(out_lin(context) + input),  out = output_layer_norm(dropout(lin2(gelu(lin1 h1))) + h1)
    /// `context` is (rows, A), `input` (rows, C); the output goes to the layer's `output` (rows, C). Each
    /// row's dropout mask is drawn by its place in the whole (N, C) batch either way.
    func layerTailForward(_ l: Int, _ batch: TokenBatch, rows n: Int, context: UnsafePointer<Float>,
                          input x: UnsafePointer<Float>, dropoutSeed: UInt64?, firstTokens: Bool) {
        let s = activations.layers[l], w = weights.layers[l]
        let (c, f, eps) = (config.hiddenSize, config.intermediateSize, Float(config.layerNormEpsilon))
        let r1 = s.residual1.reserve(n * c)
        linear(w.out, r1, context, rows: n, residual: x)
        let h1 = s.hidden1.reserve(n * c)
        layerNormForward(h1, s.mean1.reserve(n), s.rstd1.reserve(n), r1, w.norm1Weight, w.norm1Bias,
                         rows: n, features: c, epsilon: eps)

        let f1 = s.ffn1.reserve(n * f), act = s.gelu.reserve(n * f)
        w.ffn1.forwardGELU(act, pre: f1, h1, rows: n, scratch: int8Scratch)
        let r2 = s.residual2.reserve(n * c)
        if let seed = dropoutSeed, config.hiddenDropout > 0 {
            linear(w.ffn2, r2, act, rows: n)
            let (p, mask, offset) = (Float(config.hiddenDropout), s.ffnMask.reserve(n * c), batch.origin.tokens * c)
            if firstTokens {
                dropoutForwardRows(r2, mask, r2, rowIndices: batch.layout.offsets, width: c, probability: p,
                                   seed: seed &+ 2, offset: offset)
            } else {
                dropoutForward(r2, mask, r2, count: n * c, probability: p, seed: seed &+ 2, offset: offset)
            }
            add(r2, h1, count: n * c)
        } else {
            linear(w.ffn2, r2, act, rows: n, residual: h1)
        }
        layerNormForward(s.output.reserve(n * c), s.mean2.reserve(n), s.rstd2.reserve(n), r2,
                         w.norm2Weight, w.norm2Bias, rows: n, features: c, epsilon: eps)
    }

    /// `dout` (N, C): gradient of this layer's output, consumed. Writes the gradient of the
    /// layer's input into `dinput` (N, C), which may be the same buffer as `dout`.
    func layerBackward(_ l: Int, _ batch: TokenBatch, _ dout: UnsafeMutablePointer<Float>,
                       _ dinput: UnsafeMutablePointer<Float>, probGradient: UnsafePointer<Float>? = nil) {
        let a = activations, s = a.layers[l]
        let w = layerView(l, in: parameters), dw = layerView(l, in: gradients)
        let (n, c) = (batch.tokenCount, config.hiddenSize)
        let x = a.input(ofLayer: l)

        let (dcontext, dr1) = layerTailBackward(l, rows: n, dout)
        let (nh, aw) = (config.heads(inLayer: l), config.attentionWidth(l))
        let dqkv = a.dQKV.reserve(n * 3 * aw)
        let hs = config.headSize
        let t = batch.layout.sequence
        let saved = AttentionSaved(probs: s.probs.p,
                                   dropMask: a.dropout && config.attentionDropout > 0 ? s.dropMask.p : nil,
                                   dropped: a.dropout && config.attentionDropout > 0 ? s.dropped.p : nil,
                                   scratch: a.attentionScratch.reserve(AttentionSaved.scratchCount(
                                       matrices: batch.batchSize * nh, rows: t, sequence: t, headSize: hs)))
        attentionBackward(dqkv, dcontext, saved, s.qkv.p, batch.layout, heads: nh, headSize: hs, probGradient: probGradient)
        if dinput != dr1 { dinput.update(from: dr1, count: n * c) }
        linearBackward(dinput, dw.qkvWeight, dw.qkvBias, dqkv, x, w.qkvWeight,
                       rows: n, inputs: c, outputs: 3 * aw, accumulate: true)
    }

    /// Backward of `layerTailForward` on `rows` rows, from `dout` (rows, C), the gradient of the
    /// layer's output (read before anything is written). Returns the gradients of the context
    /// (`dContext`, (rows, A)) and of the tail's residual input (`dResidual`, (rows, C)).
    func layerTailBackward(_ l: Int, rows n: Int, _ dout: UnsafePointer<Float>)
        -> (dcontext: UnsafeMutablePointer<Float>, dinput: UnsafeMutablePointer<Float>) {
        let a = activations, s = a.layers[l]
        let w = layerView(l, in: parameters), dw = layerView(l, in: gradients)
        let (c, f) = (config.hiddenSize, config.intermediateSize)
        // out = LN2(r2): dr2 is the gradient of both lin2's (dropped-out) output and of h1.
        let dr2 = a.dResidual.reserve(n * c)
        layerNormBackward(dr2, dw.norm2Weight, dw.norm2Bias, dout, s.residual2.p, w.norm2Weight,
                          s.mean2.p, s.rstd2.p, rows: n, features: c)
        let dh1 = a.dHidden.reserve(n * c)
        dh1.update(from: dr2, count: n * c)
        if a.dropout, config.hiddenDropout > 0 { dropoutBackward(dr2, dr2, s.ffnMask.p, count: n * c) }
        let dgelu = a.dGELU.reserve(n * f), dffn = a.dFFN.reserve(n * f)
        linearBackward(dgelu, dw.ffn2Weight, dw.ffn2Bias, dr2, s.gelu.p, w.ffn2Weight,
                       rows: n, inputs: f, outputs: c)
        geluBackward(dffn, dgelu, s.ffn1.p, count: n * f)
        linearBackward(dh1, dw.ffn1Weight, dw.ffn1Bias, dffn, s.hidden1.p, w.ffn1Weight,
                       rows: n, inputs: c, outputs: f, accumulate: true)

        // h1 = LN1(r1), r1 = out_lin(context) + input.
        let dr1 = a.dResidual.p
        layerNormBackward(dr1, dw.norm1Weight, dw.norm1Bias, dh1, s.residual1.p, w.norm1Weight,
                          s.mean1.p, s.rstd1.p, rows: n, features: c)
        let aw = config.attentionWidth(l)
        let dcontext = a.dContext.reserve(n * aw)
        linearBackward(dcontext, dw.outWeight, dw.outBias, dr1, s.context.p, w.outWeight,
                       rows: n, inputs: aw, outputs: c)
        return (dcontext, dr1)
    }
}
