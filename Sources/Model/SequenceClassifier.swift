import Kernels

/// A DistilBERT/BERT-family sequence classifier: embeddings, L transformer layers, a two-layer head.
///
/// Teacher and student are this one type with different configurations. Parameters and their
/// gradients each live in one contiguous `Arena` with the same `ParameterLayout`.
///
/// A quantized model is this type too (`quantized(_:int8Embeddings:)`): the same forward pass, with
/// int8 linear layers (and word table) in place of fp32 ones. Its arena then holds only the tensors
/// that stay fp32 (`layout` omits the others), and it cannot be trained.
public final class SequenceClassifier {
    /// The activation between the head's two linear layers.
    public enum HeadActivation: String, Sendable {
        /// DistilBERT: pre_classifier -> ReLU -> dropout -> classifier.
        case relu
        /// BERT: pooler dense -> tanh -> dropout -> classifier (kept to reproduce a BERT checkpoint).
        case tanh
    }

    public let config: ModelConfig
    public let layout: ParameterLayout
    public let parameters: Arena
    /// Allocated on first use, so a model that only serves never holds a second copy of its size.
    public private(set) lazy var gradients = Arena(count: layout.count)
    public var headActivation: HeadActivation

    /// How the weights are stored: `.none` (fp32), `.fp16` (fp32 values that fp16 represents
    /// exactly, as an fp16 folder loads) or `.int8Dynamic` (int8 linear layers).
    public internal(set) var quantization: QuantizationScheme
    /// Number of parameters: every weight element, whatever its storage type (scales excluded).
    public let parameterCount: Int

    /// What the forward pass reads: views into `parameters` and the linear layers; see `ModelWeights`.
    let weights: ModelWeights
    /// Scratch reused across calls; see `Activations`.
    let activations: Activations
    /// The int8 linear layers' scratch (quantized activations, int32 sums), grown once, shared by all.
    let int8Scratch = Int8LinearScratch()
    /// Word-embedding rows that received gradient since the last `zeroGradients()`.
    var touchedRows = Set<Int32>()
    /// Set by `freeze()`.
    public internal(set) var isFrozen = false

    /// An fp32 model with every parameter zero.
    public convenience init(config: ModelConfig, headActivation: HeadActivation = .relu) {
        let layout = ParameterLayout(config: config)
        let parameters = Arena(count: layout.count)
        self.init(config: config, headActivation: headActivation, layout: layout, parameters: parameters,
                  weights: ModelWeights(float: parameters, layout: layout, config: config), quantization: .none)
    }

    init(config: ModelConfig, headActivation: HeadActivation, layout: ParameterLayout, parameters: Arena,
         weights: ModelWeights, quantization: QuantizationScheme) {
        self.config = config
        self.layout = layout
        self.parameters = parameters
        self.headActivation = headActivation
        self.weights = weights
        self.quantization = quantization
        self.parameterCount = ParameterLayout(config: config).entries.reduce(0) { $0 + $1.count }
        self.activations = Activations(config: config)
    }

    /// Pointer to a named parameter (names from `ParameterLayout`).
    public func parameter(_ name: String) -> UnsafeMutablePointer<Float> {
        parameters[layout.entry(name)]
    }

    /// Pointer to a named parameter's gradient.
    public func gradient(_ name: String) -> UnsafeMutablePointer<Float> {
        gradients[layout.entry(name)]
    }

    /// The arena range of layer `l`'s tensors (the last layer's range runs to the end of the arena,
    /// taking in the head): the gradients `backward` finishes together, in the order L-1 ... 0.
    public func layerRange(_ l: Int) -> Range<Int> {
        let start = layout.entry("transformer.layer.\(l).attention.q_lin.weight").offset
        let end = l + 1 < config.layerCount ? layout.entry("transformer.layer.\(l + 1).attention.q_lin.weight").offset : layout.count
        return start..<end
    }

    /// Sets every gradient to zero, touching only the word-embedding rows that were written.
    public func zeroGradients() {
        let words = layout.entry("embeddings.word_embeddings.weight")
        let c = config.hiddenSize
        if touchedRows.count * 8 < config.vocabularySize {
            for row in touchedRows { (gradients.base + words.offset + Int(row) * c).update(repeating: 0, count: c) }
        } else {
            zero(gradients.base + words.offset, count: words.count)
        }
        let rest = words.offset + words.count
        zero(gradients.base + rest, count: gradients.count - rest)
        touchedRows.removeAll(keepingCapacity: true)
    }

    /// Counts `rows` as written (their gradients were filled in from elsewhere, e.g. other workers),
    /// so `zeroGradients()` clears them and lazy optimizers update them.
    public func markTouched<Rows: Sequence>(_ rows: Rows) where Rows.Element == Int32 {
        touchedRows.formUnion(rows)
    }

    /// The word-embedding rows written by backward passes since the last `zeroGradients()`, sorted.
    public var touchedEmbeddingRows: [Int32] { touchedRows.sorted() }

    // MARK: - Views

    /// Pointers to one transformer layer's parameters (or gradients) in an fp32 model, for the
    /// backward pass (the forward pass reads `weights`).
    struct LayerView {
        let qkvWeight, qkvBias, outWeight, outBias: UnsafeMutablePointer<Float>  // (3C, C) (3C) (C, C) (C)
        let norm1Weight, norm1Bias: UnsafeMutablePointer<Float>                   // (C) (C)
        let ffn1Weight, ffn1Bias, ffn2Weight, ffn2Bias: UnsafeMutablePointer<Float> // (F, C) (F) (C, F) (C)
        let norm2Weight, norm2Bias: UnsafeMutablePointer<Float>                   // (C) (C)
    }

    func layerView(_ l: Int, in arena: Arena) -> LayerView {
        let p = "transformer.layer.\(l)."
        func at(_ name: String) -> UnsafeMutablePointer<Float> { arena[layout.entry(p + name)] }
        return LayerView(
            qkvWeight: at("attention.q_lin.weight"), qkvBias: at("attention.q_lin.bias"),
            outWeight: at("attention.out_lin.weight"), outBias: at("attention.out_lin.bias"),
            norm1Weight: at("sa_layer_norm.weight"), norm1Bias: at("sa_layer_norm.bias"),
            ffn1Weight: at("ffn.lin1.weight"), ffn1Bias: at("ffn.lin1.bias"),
            ffn2Weight: at("ffn.lin2.weight"), ffn2Bias: at("ffn.lin2.bias"),
            norm2Weight: at("output_layer_norm.weight"), norm2Bias: at("output_layer_norm.bias"))
    }
}
