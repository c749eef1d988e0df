#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import Kernels

// Shapes: B sentences, C hidden, K labels.
// Mirrors DistilBertForSequenceClassification: first token -> pre_classifier -> ReLU -> dropout ->
// classifier; with `.tanh` it is BertForSequenceClassification's pooler (dense + tanh) instead.

extension SequenceClassifier {
    func headForward(_ batch: TokenBatch, dropoutSeed: UInt64?) {
        let a = activations
        let (b, c, k) = (batch.batchSize, config.hiddenSize, config.labelCount)
        let hidden = a.layers.last?.output.p ?? a.embedded.p
        let pooled = a.pooled.reserve(b * c)
        for s in 0..<b {
            let row = a.firstTokensOnly ? s : Int(batch.layout.offsets[s])
            (pooled + s * c).update(from: hidden + row * c, count: c)
        }
        let pre = a.preHead.reserve(b * c), act = a.headActivated.reserve(b * c)
        linear(weights.preClassifier, pre, pooled, rows: b)
        switch headActivation {
        case .relu: for i in 0..<(b * c) { act[i] = max(pre[i], 0) }
        case .tanh: for i in 0..<(b * c) { act[i] = tanhf(pre[i]) }
        }
        if let seed = dropoutSeed, config.classifierDropout > 0 {
            dropoutForward(act, a.headMask.reserve(b * c), act, count: b * c,
                           probability: Float(config.classifierDropout), seed: seed &+ 3, offset: batch.origin.sentences * c)
        }
        linear(weights.classifier, a.logits.reserve(b * k), act, rows: b)
    }

    /// Writes the gradient of the last hidden state into `dhidden`: (N, C), zero except first
    /// tokens; or (B, C) when the last layer ran on first tokens only.
    func headBackward(_ batch: TokenBatch, _ dlogits: UnsafePointer<Float>,
                      _ dhidden: UnsafeMutablePointer<Float>) {
        let a = activations
        let (b, c, k, n) = (batch.batchSize, config.hiddenSize, config.labelCount, batch.tokenCount)
        let dact = a.dHead.reserve(b * c), dpre = a.dPre.reserve(b * c), dpooled = a.dPooled.reserve(b * c)
        linearBackward(dact, gradient("classifier.weight"), gradient("classifier.bias"), dlogits,
                       a.headActivated.p, parameter("classifier.weight"), rows: b, inputs: c, outputs: k)
        if a.dropout, config.classifierDropout > 0 { dropoutBackward(dact, dact, a.headMask.p, count: b * c) }
        let pre = a.preHead.p
        switch headActivation {
        case .relu: for i in 0..<(b * c) { dpre[i] = pre[i] > 0 ? dact[i] : 0 }
        case .tanh: for i in 0..<(b * c) { let y = tanhf(pre[i]); dpre[i] = dact[i] * (1 - y * y) }
        }
        linearBackward(dpooled, gradient("pre_classifier.weight"), gradient("pre_classifier.bias"), dpre,
                       a.pooled.p, parameter("pre_classifier.weight"), rows: b, inputs: c, outputs: c)
        if a.firstTokensOnly {
            dhidden.update(from: dpooled, count: b * c)
            return
        }
        dhidden.update(repeating: 0, count: n * c)
        for s in 0..<b { (dhidden + Int(batch.layout.offsets[s]) * c).update(from: dpooled + s * c, count: c) }
    }
}
