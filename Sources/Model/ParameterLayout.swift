// Shapes: V vocabulary, P positions, C hidden, A = heads x head size (C unless heads were pruned),
// F intermediate (FFN), K labels, L layers.

/// Where each named tensor of a classifier lives in the one contiguous parameter arena.
///
/// Names are DistilBERT's Hugging Face names without the `distilbert.` prefix, whatever the
/// checkpoint's family. Within a layer q, k and v weights (then their biases) are adjacent, so the
/// fused (3C, C) projection is a plain view. The word embeddings come first: they are most of a
/// small model, and a contiguous block makes row-sparse updates and exchanges simple.
public struct ParameterLayout: Sendable {
    public struct Entry: Sendable, Equatable {
        public let name: String
        public let shape: [Int]
        public let offset: Int
        public var count: Int { shape.reduce(1, *) }
    }

    public let entries: [Entry]
    public let count: Int
    private let index: [String: Int]

    /// Every tensor starts at a multiple of 16 floats (64 bytes) for aligned vector loads.
    static let alignment = 16

    /// The layout of `config`'s tensors, less those named in `omitting`: a quantized model keeps
    /// only the tensors that stay fp32 in its arena (its int8 linear layers hold their own weights).
    public init(config: ModelConfig, omitting: Set<String> = []) {
        let (c, f) = (config.hiddenSize, config.intermediateSize)
        var specs: [(String, [Int])] = [
            ("embeddings.word_embeddings.weight", [config.vocabularySize, c]),
            ("embeddings.position_embeddings.weight", [config.maxPositions, c]),
            ("embeddings.LayerNorm.weight", [c]),
            ("embeddings.LayerNorm.bias", [c]),
        ]
        for l in 0..<config.layerCount {
            let p = "transformer.layer.\(l).", a = config.attentionWidth(l)
            specs += [
                (p + "attention.q_lin.weight", [a, c]),
                (p + "attention.k_lin.weight", [a, c]),
                (p + "attention.v_lin.weight", [a, c]),
                (p + "attention.q_lin.bias", [a]),
                (p + "attention.k_lin.bias", [a]),
                (p + "attention.v_lin.bias", [a]),
                (p + "attention.out_lin.weight", [c, a]),
                (p + "attention.out_lin.bias", [c]),
                (p + "sa_layer_norm.weight", [c]),
                (p + "sa_layer_norm.bias", [c]),
                (p + "ffn.lin1.weight", [f, c]),
                (p + "ffn.lin1.bias", [f]),
                (p + "ffn.lin2.weight", [c, f]),
                (p + "ffn.lin2.bias", [c]),
                (p + "output_layer_norm.weight", [c]),
                (p + "output_layer_norm.bias", [c]),
            ]
        }
        specs += [
            ("pre_classifier.weight", [c, c]),
            ("pre_classifier.bias", [c]),
            ("classifier.weight", [config.labelCount, c]),
            ("classifier.bias", [config.labelCount]),
        ]
        var entries: [Entry] = [], index: [String: Int] = [:], offset = 0
        for (name, shape) in specs where !omitting.contains(name) {
            // q|k|v weights and q|k|v biases must stay adjacent to form fused views: no padding there.
            let fused = name.hasSuffix("k_lin.weight") || name.hasSuffix("v_lin.weight")
                || name.hasSuffix("k_lin.bias") || name.hasSuffix("v_lin.bias")
            if !fused { offset = (offset + Self.alignment - 1) / Self.alignment * Self.alignment }
            index[name] = entries.count
            entries.append(Entry(name: name, shape: shape, offset: offset))
            offset += shape.reduce(1, *)
        }
        self.entries = entries
        self.index = index
        self.count = (offset + Self.alignment - 1) / Self.alignment * Self.alignment
    }

    public subscript(name: String) -> Entry? { index[name].map { entries[$0] } }

    /// The entry for a name this layout is known to have (names built from the config, not a file).
    func entry(_ name: String) -> Entry {
        guard let entry = self[name] else { preconditionFailure("no parameter named \(name)") }
        return entry
    }
}
