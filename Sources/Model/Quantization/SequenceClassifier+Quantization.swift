import Kernels

// Shapes: V vocabulary, C hidden, F intermediate, K labels.
//
// Quantization turns one classifier into another of the same type: the linear layers' weights are
// swapped for int8 ones (`LinearLayer`), optionally the word table too, and the forward pass is the
// one every model runs. In the int8 model, as in PyTorch's `quantize_dynamic`, every linear layer
// (q|k|v fused, out_lin, lin1, lin2, pre_classifier, classifier) has int8 weights quantized per output
// channel; its input is quantized per row at run time and the int32 products are dequantized with
// the bias in fp32 (`int8LinearForward`). Embeddings (fp32, or int8 with a scale per row),
// LayerNorm, attention, softmax and GELU stay fp32.

extension SequenceClassifier {
    /// This classifier with its weights in `scheme`, as a new model (this one is unchanged):
    /// - `.int8Dynamic`: int8 linear layers, and with `int8Embeddings` an int8 word table (one
    ///   symmetric scale per row). It serves, and cannot be trained.
    /// - `.fp16`: every tensor rounded to fp16 and computed in fp32: the model an fp16 folder loads
    ///   as. A value beyond fp16's range (65504) is an error, not an infinity.
    /// - `.none`: an fp32 copy.
    public func quantized(_ scheme: QuantizationScheme, int8Embeddings: Bool = false) throws -> SequenceClassifier {
        guard quantization != .int8Dynamic else {
            throw ModelError("this model is already int8: quantize the fp32 model it came from")
        }
        guard !int8Embeddings || scheme == .int8Dynamic else {
            throw ModelError("int8 word embeddings need the int8-dynamic scheme, not \(scheme.rawValue)")
        }
        switch scheme {
        case .none, .fp16:
            let copy = SequenceClassifier(config: config, headActivation: headActivation)
            copy.parameters.base.update(from: parameters.base, count: parameters.count)
            if scheme == .fp16 {
                for entry in layout.entries {
                    let p = copy.parameters[entry]
                    for i in 0..<entry.count {
                        let half = Float16(p[i])
                        guard half.isFinite || !p[i].isFinite else {
                            throw ModelError("tensor '\(entry.name)' has value \(p[i]), outside fp16's range")
                        }
                        p[i] = Float(half)
                    }
                }
            }
            copy.quantization = scheme
            return copy
        case .int8Dynamic:
            return int8Model(int8Embeddings: int8Embeddings)
        }
    }

    /// True when the word embeddings are int8.
    public var int8Embeddings: Bool {
        if case .int8 = weights.words { return true }
        return false
    }

    private func int8Model(int8Embeddings: Bool) -> SequenceClassifier {
        let (c, f, k, v) = (config.hiddenSize, config.intermediateSize, config.labelCount, config.vocabularySize)
        func int8(_ weight: UnsafePointer<Float>, _ bias: UnsafePointer<Float>, _ outputs: Int, _ inputs: Int) -> Int8Linear {
            Int8Linear(quantizing: weight, bias: bias, outputs: outputs, inputs: inputs)
        }
        let layers = (0..<config.layerCount).map { l in
            let w = layerView(l, in: parameters), a = config.attentionWidth(l)
            // q, k and v quantized as one (3A, C) layer: the scales are per output, so this is
            // quantizing each apart, and the fused layer runs in one call as the fp32 model's does.
            return (qkv: int8(w.qkvWeight, w.qkvBias, 3 * a, c), out: int8(w.outWeight, w.outBias, c, a),
                    ffn1: int8(w.ffn1Weight, w.ffn1Bias, f, c), ffn2: int8(w.ffn2Weight, w.ffn2Bias, c, f))
        }
        let linears = ModelWeights.Int8Layers(
            layers: layers,
            preClassifier: int8(parameter("pre_classifier.weight"), parameter("pre_classifier.bias"), c, c),
            classifier: int8(parameter("classifier.weight"), parameter("classifier.bias"), k, c))
        let words = int8Embeddings
            ? Int8Embeddings(quantizing: parameter("embeddings.word_embeddings.weight"), rows: v, columns: c) : nil
        return SequenceClassifier(int8: config, headActivation: headActivation, linears: linears, words: words) { arena, layout in
            for entry in layout.entries { arena[entry].update(from: parameter(entry.name), count: entry.count) }
        }
    }

    /// An int8 model (`QuantizationScheme.int8Dynamic`) made of `linears`, `words` (nil: the word
    /// table stays fp32) and the tensors that stay fp32, which `fill` writes into the arena it is
    /// given, laid out by the layout it is given (`int8Layout`).
    convenience init(int8 config: ModelConfig, headActivation: HeadActivation, linears: ModelWeights.Int8Layers,
                     words: Int8Embeddings?, fill: (Arena, ParameterLayout) throws -> Void) rethrows {
        let layout = Self.int8Layout(config, int8Embeddings: words != nil)
        let parameters = Arena(count: layout.count)
        try fill(parameters, layout)
        self.init(config: config, headActivation: headActivation, layout: layout, parameters: parameters,
                  weights: ModelWeights(int8: linears, words: words, arena: parameters, layout: layout, config: config),
                  quantization: .int8Dynamic)
    }

    /// The fp32 tensors of an int8 model: every tensor but the linear layers' weights and biases
    /// (`Int8Linear` holds those) and, with int8 embeddings, the word table.
    static func int8Layout(_ config: ModelConfig, int8Embeddings: Bool) -> ParameterLayout {
        var omitted = Set(int8LinearNames(config).flatMap { [$0 + ".weight", $0 + ".bias"] })
        if int8Embeddings { omitted.insert("embeddings.word_embeddings.weight") }
        return ParameterLayout(config: config, omitting: omitted)
    }

    /// Internal names of the linear layers (weight `.weight`, bias `.bias`, scale `.weight_scale`),
    /// q, k and v apart as checkpoints store them.
    static func int8LinearNames(_ config: ModelConfig) -> [String] {
        var names: [String] = []
        for l in 0..<config.layerCount {
            let p = "transformer.layer.\(l)."
            names += ["q_lin", "k_lin", "v_lin", "out_lin"].map { p + "attention.\($0)" }
            names += [p + "ffn.lin1", p + "ffn.lin2"]
        }
        return names + ["pre_classifier", "classifier"]
    }
}
