import Kernels

// Shapes: N packed tokens, B sentences, C hidden, F intermediate, NH heads of size HS.
//
// The last layer, computed for first tokens only. The head reads one row per sentence of the last
// layer's output (DistilBERT's hidden_state[:, 0], BERT's pooler input), so the other N - B rows
// are never used: only k and v need every token (the first token attends to all of them). Here
// q_lin, out_lin, both LayerNorms and the FFN run on B rows, which is 5/6 of a layer's products
// saved for 14-token sentences. Same function as `layerForward` restricted to those rows, same
// dropout masks (drawn by each row's place in the full batch), so the logits and every gradient
// equal those of the full layer up to rounding.
//
//   kv   = [k_lin | v_lin](x)                       (N, 2C)
//   x0   = x[first tokens]                          (B, C)
//   h1   = sa_layer_norm(out_lin(attention(q_lin x0, k, v)) + x0)
//   out  = output_layer_norm(dropout(lin2(gelu(lin1 h1))) + h1)   (B, C)

extension SequenceClassifier {
    func firstTokenLayerForward(_ l: Int, _ batch: TokenBatch, dropoutSeed: UInt64?) {
        let a = activations, s = a.layers[l], w = layerView(l, in: parameters)
        let (n, b, c, f, nh, hs) = (batch.tokenCount, batch.batchSize, config.hiddenSize,
                                    config.intermediateSize, config.headCount, config.headSize)
        let (g, t) = (b * nh, batch.layout.sequence)
        let eps = Float(config.layerNormEpsilon)
        let x = a.input(ofLayer: l)

        let kv = s.qkv.reserve(n * 2 * c)
        linearForward(kv, x, w.qkvWeight + c * c, w.qkvBias + c, rows: n, inputs: c, outputs: 2 * c)
        let x0 = s.firstInput.reserve(b * c)
        for r in 0..<b { (x0 + r * c).update(from: x + Int(batch.layout.offsets[r]) * c, count: c) }
        let q = s.firstQuery.reserve(b * c)
        linearForward(q, x0, w.qkvWeight, w.qkvBias, rows: b, inputs: c, outputs: c)

        let attentionDropout = dropoutSeed != nil ? Float(config.attentionDropout) : 0
        let saved = firstTokenSaved(s, matrices: g, sequence: t, dropout: attentionDropout > 0, reserve: true)
        let context = s.context.reserve(b * c)
        firstTokenAttentionForward(context, saved, q, kv, batch.layout, heads: nh, headSize: hs,
                                   dropout: attentionDropout, seed: (dropoutSeed ?? 0) &+ 1,
                                   firstSentence: batch.origin.sentences)
        let r1 = s.residual1.reserve(b * c)
        linearForward(r1, context, w.outWeight, w.outBias, rows: b, inputs: c, outputs: c)
        add(r1, x0, count: b * c)
        let h1 = s.hidden1.reserve(b * c)
        layerNormForward(h1, s.mean1.reserve(b), s.rstd1.reserve(b), r1, w.norm1Weight, w.norm1Bias,
                         rows: b, features: c, epsilon: eps)

        let f1 = s.ffn1.reserve(b * f), act = s.gelu.reserve(b * f)
        linearForward(f1, h1, w.ffn1Weight, w.ffn1Bias, rows: b, inputs: c, outputs: f)
        geluForward(act, f1, count: b * f)
        let r2 = s.residual2.reserve(b * c)
        linearForward(r2, act, w.ffn2Weight, w.ffn2Bias, rows: b, inputs: f, outputs: c)
        if let seed = dropoutSeed, config.hiddenDropout > 0 {
            dropoutForwardRows(r2, s.ffnMask.reserve(b * c), r2, rowIndices: batch.layout.offsets, width: c,
                               probability: Float(config.hiddenDropout), seed: seed &+ 2,
                               offset: batch.origin.tokens * c)
        }
        add(r2, h1, count: b * c)
        layerNormForward(s.output.reserve(b * c), s.mean2.reserve(b), s.rstd2.reserve(b), r2,
                         w.norm2Weight, w.norm2Bias, rows: b, features: c, epsilon: eps)
    }

    /// `dout` (B, C): gradient of the first tokens' outputs. Writes the gradient of the layer's
    /// input into `dinput` (N, C), which may be the same buffer as `dout`.
    func firstTokenLayerBackward(_ l: Int, _ batch: TokenBatch, _ dout: UnsafeMutablePointer<Float>,
                                 _ dinput: UnsafeMutablePointer<Float>) {
        let a = activations, s = a.layers[l]
        let w = layerView(l, in: parameters), dw = layerView(l, in: gradients)
        let (n, b, c, f, nh, hs) = (batch.tokenCount, batch.batchSize, config.hiddenSize,
                                    config.intermediateSize, config.headCount, config.headSize)
        let x = a.input(ofLayer: l)

        let dr2 = a.dResidual.reserve(b * c)
        layerNormBackward(dr2, dw.norm2Weight, dw.norm2Bias, dout, s.residual2.p, w.norm2Weight,
                          s.mean2.p, s.rstd2.p, rows: b, features: c)
        let dh1 = a.dHidden.reserve(b * c)
        dh1.update(from: dr2, count: b * c)
        if a.dropout, config.hiddenDropout > 0 { dropoutBackward(dr2, dr2, s.ffnMask.p, count: b * c) }
        let dgelu = a.dGELU.reserve(b * f), dffn = a.dFFN.reserve(b * f)
        linearBackward(dgelu, dw.ffn2Weight, dw.ffn2Bias, dr2, s.gelu.p, w.ffn2Weight, rows: b, inputs: f, outputs: c)
        geluBackward(dffn, dgelu, s.ffn1.p, count: b * f)
        linearBackward(dh1, dw.ffn1Weight, dw.ffn1Bias, dffn, s.hidden1.p, w.ffn1Weight,
                       rows: b, inputs: c, outputs: f, accumulate: true)

        // dx0 collects the residual's and q_lin's gradients; dr1 is the residual's.
        let dx0 = a.dResidual.p
        layerNormBackward(dx0, dw.norm1Weight, dw.norm1Bias, dh1, s.residual1.p, w.norm1Weight,
                          s.mean1.p, s.rstd1.p, rows: b, features: c)
        let dcontext = a.dContext.reserve(b * c)
        linearBackward(dcontext, dw.outWeight, dw.outBias, dx0, s.context.p, w.outWeight, rows: b, inputs: c, outputs: c)
        let dkv = a.dQKV.reserve(n * 2 * c + b * c), dq = dkv + n * 2 * c
        let g = b * nh, t = batch.layout.sequence
        let saved = firstTokenSaved(s, matrices: g, sequence: t, dropout: a.dropout && config.attentionDropout > 0,
                                    reserve: false)
        firstTokenAttentionBackward(dq, dkv, dcontext, saved, batch.layout, heads: nh, headSize: hs)
        linearBackward(dx0, dw.qkvWeight, dw.qkvBias, dq, s.firstInput.p, w.qkvWeight,
                       rows: b, inputs: c, outputs: c, accumulate: true)
        // dout is dead from here on, so dinput may be the same buffer.
        linearBackward(dinput, dw.qkvWeight + c * c, dw.qkvBias + c, dkv, x, w.qkvWeight + c * c,
                       rows: n, inputs: c, outputs: 2 * c)
        for r in 0..<b {
            let row = dinput + Int(batch.layout.offsets[r]) * c, from = dx0 + r * c
            for i in 0..<c { row[i] += from[i] }
        }
    }

    /// The first-token attention's saved tensors in layer `s`'s buffers (reserved in the forward pass).
    private func firstTokenSaved(_ s: Activations.Layer, matrices g: Int, sequence t: Int, dropout: Bool,
                                 reserve: Bool) -> FirstTokenAttentionSaved {
        let hs = config.headSize
        func buffer(_ b: Buffer, _ count: Int) -> UnsafeMutablePointer<Float> { reserve ? b.reserve(count) : b.p }
        return FirstTokenAttentionSaved(
            q: buffer(s.q, g * hs), k: buffer(s.k, g * t * hs), v: buffer(s.v, g * t * hs),
            probs: buffer(s.probs, g * t),
            dropMask: dropout ? buffer(s.dropMask, g * t) : nil, dropped: dropout ? buffer(s.dropped, g * t) : nil,
            scratch: activations.attentionScratch.reserve(
                FirstTokenAttentionSaved.scratchCount(matrices: g, sequence: t, headSize: hs)))
    }
}
