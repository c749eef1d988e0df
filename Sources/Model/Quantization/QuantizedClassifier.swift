#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import Kernels

// Shapes: N packed tokens, B sentences, C hidden, F intermediate, K labels, V vocabulary, P positions.

/// Floats owned by a quantized model (fp32 parameters that stay fp32: biases, LayerNorm, positions).
final class OwnedFloats {
    let p: UnsafeMutablePointer<Float>
    let count: Int
    init(_ values: [Float]) {
        count = values.count
        p = .allocate(capacity: max(count, 1))
        p.initialize(from: values, count: count)
    }
    /// `count` floats filled by `fill` (reading a tensor straight in, without a temporary array).
    init(count: Int, _ fill: (UnsafeMutableBufferPointer<Float>) throws -> Void) rethrows {
        self.count = count
        p = .allocate(capacity: max(count, 1))
        p.initialize(repeating: 0, count: count)
        do { try fill(UnsafeMutableBufferPointer(start: p, count: count)) } catch { p.deallocate(); throw error }
    }
    deinit { p.deallocate() }
}

/// A linear layer with int8 weights (O, I), one fp32 scale per output channel, and an fp32 bias (O).
final class Int8Linear {
    let outputs: Int, inputs: Int
    let weight: UnsafeMutablePointer<Int8>      // (O, I)
    let scales: UnsafeMutablePointer<Float>     // (O)
    let sums: UnsafeMutablePointer<Int32>       // (O) row sums of `weight`, for the activations' zero point
    let bias: UnsafeMutablePointer<Float>       // (O)
    let packed: PackedInt8Weights               // `weight` laid out for the int8 kernel

    /// Takes quantized weights as stored (`weight` O * I values, `scales` and `bias` O values).
    init(weight: [Int8], scales: [Float], bias: [Float], outputs: Int, inputs: Int) {
        precondition(weight.count == outputs * inputs && scales.count == outputs && bias.count == outputs)
        self.outputs = outputs
        self.inputs = inputs
        self.weight = .allocate(capacity: max(outputs * inputs, 1))
        self.weight.initialize(from: weight, count: outputs * inputs)
        self.scales = .allocate(capacity: max(outputs, 1))
        self.scales.initialize(from: scales, count: outputs)
        self.bias = .allocate(capacity: max(outputs, 1))
        self.bias.initialize(from: bias, count: outputs)
        self.sums = .allocate(capacity: max(outputs, 1))
        int8RowSums(sums, self.weight, outputs: outputs, inputs: inputs)
        packed = PackedInt8Weights(self.weight, outputs: outputs, inputs: inputs)
    }

    /// Quantizes fp32 weights (O, I) per output channel.
    convenience init(quantizing weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, outputs: Int, inputs: Int) {
        var q = [Int8](repeating: 0, count: outputs * inputs)
        var scales = [Float](repeating: 0, count: outputs), sums = [Int32](repeating: 0, count: outputs)
        quantizeWeightsPerChannel(&q, scales: &scales, columnSums: &sums, weight, outputs: outputs, inputs: inputs)
        self.init(weight: q, scales: scales, bias: Array(UnsafeBufferPointer(start: bias, count: outputs)),
                  outputs: outputs, inputs: inputs)
    }

    deinit { weight.deallocate(); scales.deallocate(); sums.deallocate(); bias.deallocate() }

    func forward(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, rows: Int, scratch: Int8LinearScratch) {
        int8LinearForward(out, inp, packed, weightScales: scales, columnSums: sums, bias, rows: rows, scratch: scratch)
    }

    /// The layer restricted to outputs `range`: the same int8 values, scales and biases (the scales
    /// are per output, so slicing changes no value), packed anew.
    func outputs(_ range: Range<Int>) -> Int8Linear {
        Int8Linear(weight: Array(UnsafeBufferPointer(start: weight + range.lowerBound * inputs, count: range.count * inputs)),
                   scales: Array(UnsafeBufferPointer(start: scales + range.lowerBound, count: range.count)),
                   bias: Array(UnsafeBufferPointer(start: bias + range.lowerBound, count: range.count)),
                   outputs: range.count, inputs: inputs)
    }
}

/// An inference-only classifier with dynamic int8 linear layers (`QuantizationScheme.int8Dynamic`).
///
/// Every linear layer (q|k|v fused, out_lin, lin1, lin2, pre_classifier, classifier) has int8
/// weights quantized per output channel; its input is quantized per row at run time and the int32
/// products are dequantized with the bias in fp32 (see `int8LinearForward`). Embeddings (fp32, or
/// int8 with a scale per row), LayerNorm, attention, softmax and GELU run in fp32, as in PyTorch's
/// `quantize_dynamic`. The forward pass reuses its buffers: after the largest batch has been seen
/// it allocates only the returned logits array. Like `SequenceClassifier`, one instance runs one
/// batch at a time (its buffers are shared between calls).
public final class QuantizedClassifier: TextClassifier {
    struct Layer {
        let qkv, out, ffn1, ffn2: Int8Linear                    // (3C, C) (C, C) (F, C) (C, F)
        let norm1Weight, norm1Bias, norm2Weight, norm2Bias: OwnedFloats  // (C) each
    }

    /// The word table: fp32 (V, C), or int8 (V, C) with a scale per row (V).
    enum WordEmbeddings {
        case float(OwnedFloats)
        case int8(table: [Int8], scales: [Float])
    }

    public let config: ModelConfig
    public let headActivation: SequenceClassifier.HeadActivation
    let words: WordEmbeddings
    let positions: OwnedFloats                         // (P, C)
    let embeddingNormWeight, embeddingNormBias: OwnedFloats  // (C)
    let layers: [Layer]
    let preClassifier, classifier: Int8Linear          // (C, C) (K, C)
    /// The last layer's q_lin (C, C) and k_lin | v_lin (2C, C), split from its fused qkv: the
    /// last layer runs for first tokens only (see `firstTokenLayerForward` in the fp32 model).
    let lastQuery, lastKeyValue: Int8Linear?

    // Scratch reused across calls.
    private let scratch = Int8LinearScratch()
    private let x = Buffer(), qkv = Buffer(), context = Buffer(), residual = Buffer(), hidden = Buffer()
    private let ffn = Buffer(), gelu = Buffer(), mean = Buffer(), rstd = Buffer()
    private let probs = Buffer(), attentionScratch = Buffer()
    private let pooled = Buffer(), pre = Buffer(), logitsBuffer = Buffer()

    /// True when the word embeddings are int8.
    public var int8Embeddings: Bool {
        if case .int8 = words { return true }
        return false
    }

    init(config: ModelConfig, headActivation: SequenceClassifier.HeadActivation, words: WordEmbeddings,
         positions: OwnedFloats, embeddingNormWeight: OwnedFloats, embeddingNormBias: OwnedFloats,
         layers: [Layer], preClassifier: Int8Linear, classifier: Int8Linear) {
        self.config = config
        self.headActivation = headActivation
        self.words = words
        self.positions = positions
        self.embeddingNormWeight = embeddingNormWeight
        self.embeddingNormBias = embeddingNormBias
        self.layers = layers
        self.preClassifier = preClassifier
        self.classifier = classifier
        let c = config.hiddenSize
        lastQuery = layers.last.map { $0.qkv.outputs(0..<c) }
        lastKeyValue = layers.last.map { $0.qkv.outputs(c..<(3 * c)) }
    }

    /// Quantizes an fp32 classifier; `int8Embeddings` also stores the word embeddings as int8
    /// with one symmetric scale per row (V, C).
    public convenience init(quantizing model: SequenceClassifier, int8Embeddings: Bool) {
        let cfg = model.config
        let (c, f, k) = (cfg.hiddenSize, cfg.intermediateSize, cfg.labelCount)
        func floats(_ name: String) -> OwnedFloats {
            OwnedFloats(model.parameters.values(model.layout.entry(name)))
        }
        let wordEntry = model.layout.entry("embeddings.word_embeddings.weight")
        let words: WordEmbeddings
        if int8Embeddings {
            var table = [Int8](repeating: 0, count: wordEntry.count)
            var scales = [Float](repeating: 0, count: cfg.vocabularySize)
            quantizeRowsSymmetric(&table, scales: &scales, model.parameters[wordEntry], rows: cfg.vocabularySize, columns: c)
            words = .int8(table: table, scales: scales)
        } else {
            words = .float(floats("embeddings.word_embeddings.weight"))
        }
        let layers = (0..<cfg.layerCount).map { l -> Layer in
            let w = model.layerView(l, in: model.parameters)
            let p = "transformer.layer.\(l)."
            return Layer(
                qkv: Int8Linear(quantizing: w.qkvWeight, bias: w.qkvBias, outputs: 3 * c, inputs: c),
                out: Int8Linear(quantizing: w.outWeight, bias: w.outBias, outputs: c, inputs: c),
                ffn1: Int8Linear(quantizing: w.ffn1Weight, bias: w.ffn1Bias, outputs: f, inputs: c),
                ffn2: Int8Linear(quantizing: w.ffn2Weight, bias: w.ffn2Bias, outputs: c, inputs: f),
                norm1Weight: floats(p + "sa_layer_norm.weight"), norm1Bias: floats(p + "sa_layer_norm.bias"),
                norm2Weight: floats(p + "output_layer_norm.weight"), norm2Bias: floats(p + "output_layer_norm.bias"))
        }
        self.init(config: cfg, headActivation: model.headActivation, words: words,
                  positions: floats("embeddings.position_embeddings.weight"),
                  embeddingNormWeight: floats("embeddings.LayerNorm.weight"),
                  embeddingNormBias: floats("embeddings.LayerNorm.bias"), layers: layers,
                  preClassifier: Int8Linear(quantizing: model.parameter("pre_classifier.weight"),
                                            bias: model.parameter("pre_classifier.bias"), outputs: c, inputs: c),
                  classifier: Int8Linear(quantizing: model.parameter("classifier.weight"),
                                         bias: model.parameter("classifier.bias"), outputs: k, inputs: c))
    }

    /// Same count as the fp32 model: every weight element, whatever its storage type (scales excluded).
    public var parameterCount: Int { ParameterLayout(config: config).entries.reduce(0) { $0 + $1.count } }

    /// Logits (B, K) of an inference pass.
    public func logits(_ batch: TokenBatch) -> [Float] {
        precondition(batch.layout.sequence <= config.maxPositions, "sentence longer than max_position_embeddings")
        let (n, c, b, kk) = (batch.tokenCount, config.hiddenSize, batch.batchSize, config.labelCount)
        let (nh, hs, t) = (config.headCount, config.headSize, batch.layout.sequence)
        let g = b * nh
        let eps = Float(config.layerNormEpsilon)
        let stream = x.reserve(n * c), sum = residual.reserve(n * c)
        let means = mean.reserve(n), rstds = rstd.reserve(n)
        batch.ids.withUnsafeBufferPointer { ids in
            batch.positions.withUnsafeBufferPointer { positionIDs in
                switch words {
                case .float(let table):
                    embeddingForward(sum, ids.baseAddress!, positionIDs.baseAddress!, table.p, positions.p, tokens: n, hidden: c)
                case .int8(let table, let scales):
                    table.withUnsafeBufferPointer { t in
                        scales.withUnsafeBufferPointer { s in
                            int8EmbeddingForward(sum, ids.baseAddress!, positionIDs.baseAddress!, t.baseAddress!,
                                                 s.baseAddress!, positions.p, tokens: n, hidden: c)
                        }
                    }
                }
            }
        }
        layerNormForward(stream, means, rstds, sum, embeddingNormWeight.p, embeddingNormBias.p, rows: n, features: c, epsilon: eps)

        for layer in layers.dropLast() {
            let fused = qkv.reserve(n * 3 * c)
            layer.qkv.forward(fused, stream, rows: n, scratch: scratch)
            let saved = AttentionSaved(
                probs: probs.reserve(g * t * t),
                scratch: attentionScratch.reserve(AttentionSaved.scratchCount(matrices: g, rows: t, sequence: t, headSize: hs)))
            let ctx = context.reserve(n * c)
            attentionForward(ctx, saved, fused, batch.layout, heads: nh, headSize: hs)
            feedForward(layer, context: ctx, input: stream, rows: n)
        }

        // The first tokens' rows (B, C) of the last layer's input, then of its output: only they
        // reach the head, so q, out_lin and the FFN run on B rows, k and v on all N.
        let first = pooled.reserve(b * c)
        for s in 0..<b { (first + s * c).update(from: stream + Int(batch.layout.offsets[s]) * c, count: c) }
        if let layer = layers.last, let lastQuery, let lastKeyValue {
            let kv = qkv.reserve(n * 2 * c), query = hidden.reserve(b * c)
            lastKeyValue.forward(kv, stream, rows: n, scratch: scratch)
            lastQuery.forward(query, first, rows: b, scratch: scratch)
            let saved = AttentionSaved(
                probs: probs.reserve(g * t),
                scratch: attentionScratch.reserve(AttentionSaved.scratchCount(matrices: g, rows: 1, sequence: t, headSize: hs)))
            let ctx = context.reserve(b * c)
            firstTokenAttentionForward(ctx, saved, query, kv, batch.layout, heads: nh, headSize: hs)
            feedForward(layer, context: ctx, input: first, rows: b)
        }
        let head = pre.reserve(b * c)
        preClassifier.forward(head, first, rows: b, scratch: scratch)
        switch headActivation {
        case .relu: for i in 0..<(b * c) { head[i] = max(head[i], 0) }
        case .tanh: for i in 0..<(b * c) { head[i] = tanhf(head[i]) }
        }
        let out = logitsBuffer.reserve(b * kk)
        classifier.forward(out, head, rows: b, scratch: scratch)
        return Array(UnsafeBufferPointer(start: out, count: b * kk))
    }

    /// The rest of a layer after attention, on `rows` rows: `input` (rows, C), the layer's input,
    /// is overwritten with its output, output_layer_norm(lin2(gelu(lin1 h1)) + h1) with
    /// h1 = sa_layer_norm(out_lin(context) + input).
    private func feedForward(_ layer: Layer, context ctx: UnsafePointer<Float>, input: UnsafeMutablePointer<Float>, rows n: Int) {
        let (c, f) = (config.hiddenSize, config.intermediateSize)
        let eps = Float(config.layerNormEpsilon)
        let means = mean.reserve(n), rstds = rstd.reserve(n)
        let r1 = residual.reserve(n * c)
        layer.out.forward(r1, ctx, rows: n, scratch: scratch)
        add(r1, input, count: n * c)
        let h1 = hidden.reserve(n * c)
        layerNormForward(h1, means, rstds, r1, layer.norm1Weight.p, layer.norm1Bias.p, rows: n, features: c, epsilon: eps)
        let f1 = ffn.reserve(n * f), act = gelu.reserve(n * f)
        layer.ffn1.forward(f1, h1, rows: n, scratch: scratch)
        geluForward(act, f1, count: n * f)
        let r2 = residual.p
        layer.ffn2.forward(r2, act, rows: n, scratch: scratch)
        add(r2, h1, count: n * c)
        layerNormForward(input, means, rstds, r2, layer.norm2Weight.p, layer.norm2Bias.p, rows: n, features: c, epsilon: eps)
    }
}
