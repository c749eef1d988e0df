import Kernels

// Shapes: V vocabulary, P positions, C hidden, A a layer's attention width (heads x head size), F
// intermediate, K labels.

/// What a forward pass reads, resolved once when the model is made: pointers to the tensors that
/// stay fp32 (in the parameter arena) and each linear layer in the form this model runs it.
///
/// The encoder reads only this, so an fp32 model, a frozen one and an int8 one run the same code;
/// they differ in the `LinearLayer`s and the word table built here.
struct ModelWeights {
    /// The word table.
    enum Words {
        case float(UnsafeMutablePointer<Float>)  // (V, C) in the arena
        case int8(Int8Embeddings)                // (V, C) int8, a scale per row
    }

    struct Layer {
        let qkv, out, ffn1, ffn2: LinearLayer                                    // (3A, C) (C, A) (F, C) (C, F)
        let norm1Weight, norm1Bias, norm2Weight, norm2Bias: UnsafeMutablePointer<Float>  // (C) each
    }

    /// The int8 linear layers of a quantized model, by place.
    struct Int8Layers {
        var layers: [(qkv: Int8Linear, out: Int8Linear, ffn1: Int8Linear, ffn2: Int8Linear)]
        var preClassifier, classifier: Int8Linear
    }

    let words: Words
    let positions: UnsafeMutablePointer<Float>              // (P, C)
    let normWeight, normBias: UnsafeMutablePointer<Float>   // (C) the embeddings' LayerNorm
    let layers: [Layer]
    /// The last layer's q (A, C) and k | v (2A, C) apart, for a last layer run on first tokens
    /// only (`firstTokenLayerForward`); nil without layers.
    let lastQuery, lastKeyValue: LinearLayer?
    let preClassifier, classifier: LinearLayer              // (C, C) (K, C)

    /// Every linear layer, the split ones included.
    var linearLayers: [LinearLayer] {
        layers.flatMap { [$0.qkv, $0.out, $0.ffn1, $0.ffn2] } + [lastQuery, lastKeyValue].compactMap { $0 }
            + [preClassifier, classifier]
    }

    /// The weights of a model whose tensors are all in `arena` (laid out by `layout`): fp32.
    init(float arena: Arena, layout: ParameterLayout, config: ModelConfig) {
        let (c, f, k) = (config.hiddenSize, config.intermediateSize, config.labelCount)
        func at(_ name: String) -> UnsafeMutablePointer<Float> { arena[layout.entry(name)] }
        // q, k and v weights (and biases) are adjacent in the arena: q_lin's entry starts the fused (3C, C) view.
        func linear(_ name: String, _ outputs: Int, _ inputs: Int) -> LinearLayer {
            LinearLayer(weight: at(name + ".weight"), bias: at(name + ".bias"), outputs: outputs, inputs: inputs)
        }
        self.init(words: .float(at("embeddings.word_embeddings.weight")), arena: arena, layout: layout, config: config,
                  layers: (0..<config.layerCount).map { l in
                      let p = "transformer.layer.\(l).", a = config.attentionWidth(l)
                      return (linear(p + "attention.q_lin", 3 * a, c), linear(p + "attention.out_lin", c, a),
                              linear(p + "ffn.lin1", f, c), linear(p + "ffn.lin2", c, f))
                  },
                  preClassifier: linear("pre_classifier", c, c), classifier: linear("classifier", k, c))
    }

    /// The weights of an int8 model: `int8` linear layers, `words` or (nil) the fp32 word table in
    /// `arena`, and the other fp32 tensors (positions, LayerNorms) in `arena`.
    init(int8: Int8Layers, words: Int8Embeddings?, arena: Arena, layout: ParameterLayout, config: ModelConfig) {
        self.init(words: words.map { .int8($0) } ?? .float(arena[layout.entry("embeddings.word_embeddings.weight")]),
                  arena: arena, layout: layout, config: config,
                  layers: int8.layers.map { (LinearLayer($0.qkv), LinearLayer($0.out), LinearLayer($0.ffn1), LinearLayer($0.ffn2)) },
                  preClassifier: LinearLayer(int8.preClassifier), classifier: LinearLayer(int8.classifier))
    }

    private init(words: Words, arena: Arena, layout: ParameterLayout, config: ModelConfig,
                 layers linears: [(qkv: LinearLayer, out: LinearLayer, ffn1: LinearLayer, ffn2: LinearLayer)],
                 preClassifier: LinearLayer, classifier: LinearLayer) {
        func at(_ name: String) -> UnsafeMutablePointer<Float> { arena[layout.entry(name)] }
        self.words = words
        positions = at("embeddings.position_embeddings.weight")
        normWeight = at("embeddings.LayerNorm.weight")
        normBias = at("embeddings.LayerNorm.bias")
        layers = linears.enumerated().map { l, linear in
            let p = "transformer.layer.\(l)."
            return Layer(qkv: linear.qkv, out: linear.out, ffn1: linear.ffn1, ffn2: linear.ffn2,
                         norm1Weight: at(p + "sa_layer_norm.weight"), norm1Bias: at(p + "sa_layer_norm.bias"),
                         norm2Weight: at(p + "output_layer_norm.weight"), norm2Bias: at(p + "output_layer_norm.bias"))
        }
        let a = config.layerCount > 0 ? config.attentionWidth(config.layerCount - 1) : 0
        lastQuery = layers.last?.qkv.outputs(0..<a)
        lastKeyValue = layers.last?.qkv.outputs(a..<(3 * a))
        self.preClassifier = preClassifier
        self.classifier = classifier
    }
}
