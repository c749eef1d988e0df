/// Maps Hugging Face checkpoint keys of the supported classes to EdgeDistill's internal names
/// (DistilBERT's, without the `distilbert.` prefix).
///
/// Accepted: `DistilBertForSequenceClassification`, `DistilBertModel`, `BertModel` and
/// `BertForSequenceClassification`, with or without their `distilbert.` / `bert.` prefix.
enum CheckpointKeys {
    enum Family: String { case distilbert, bert }

    /// Which family a set of (prefix-stripped) keys belongs to, or nil when neither.
    static func family(of keys: Set<String>) -> Family? {
        if keys.contains("transformer.layer.0.attention.q_lin.weight") { return .distilbert }
        if keys.contains("encoder.layer.0.attention.self.query.weight") { return .bert }
        if keys.contains("embeddings.word_embeddings.weight") {
            return keys.contains("embeddings.token_type_embeddings.weight") ? .bert : .distilbert
        }
        return nil
    }

    /// The key without its model prefix (`distilbert.`, `bert.`); heads keep their names.
    static func stripPrefix(_ key: String) -> String {
        for prefix in ["distilbert.", "bert."] where key.hasPrefix(prefix) {
            return String(key.dropFirst(prefix.count))
        }
        return key
    }

    /// The internal name of a BERT key, or nil when it has no counterpart.
    static func internalName(ofBERT key: String) -> String? {
        if key.hasPrefix("embeddings.") {
            switch key {
            case "embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
                 "embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias": return key
            default: return nil   // token_type_embeddings is folded separately
            }
        }
        if key.hasPrefix("pooler.dense.") { return "pre_classifier." + key.dropFirst("pooler.dense.".count) }
        if key.hasPrefix("classifier.") { return key }
        guard key.hasPrefix("encoder.layer.") else { return nil }
        let rest = key.dropFirst("encoder.layer.".count)
        guard let dot = rest.firstIndex(of: "."), let layer = Int(rest[..<dot]) else { return nil }
        let tail = String(rest[rest.index(after: dot)...])
        let renames = [
            "attention.self.query.": "attention.q_lin.",
            "attention.self.key.": "attention.k_lin.",
            "attention.self.value.": "attention.v_lin.",
            "attention.output.dense.": "attention.out_lin.",
            "attention.output.LayerNorm.": "sa_layer_norm.",
            "intermediate.dense.": "ffn.lin1.",
            "output.dense.": "ffn.lin2.",
            "output.LayerNorm.": "output_layer_norm.",
        ]
        for (from, to) in renames where tail.hasPrefix(from) {
            return "transformer.layer.\(layer)." + to + tail.dropFirst(from.count)
        }
        return nil
    }

    /// The BERT key of an internal name (the inverse of `internalName(ofBERT:)`).
    static func bertName(ofInternal name: String) -> String {
        if name.hasPrefix("pre_classifier.") { return "bert.pooler.dense." + name.dropFirst("pre_classifier.".count) }
        if name.hasPrefix("classifier.") { return name }
        if name.hasPrefix("embeddings.") { return "bert." + name }
        let rest = name.dropFirst("transformer.layer.".count)
        guard let dot = rest.firstIndex(of: ".") else { return name }
        let layer = rest[..<dot], tail = String(rest[rest.index(after: dot)...])
        let renames = [
            "attention.q_lin.": "attention.self.query.", "attention.k_lin.": "attention.self.key.",
            "attention.v_lin.": "attention.self.value.", "attention.out_lin.": "attention.output.dense.",
            "sa_layer_norm.": "attention.output.LayerNorm.", "ffn.lin1.": "intermediate.dense.",
            "ffn.lin2.": "output.dense.", "output_layer_norm.": "output.LayerNorm.",
        ]
        for (from, to) in renames where tail.hasPrefix(from) {
            return "bert.encoder.layer.\(layer)." + to + tail.dropFirst(from.count)
        }
        return name
    }

    /// Keys that are buffers, not parameters, in some transformers versions: never "unused".
    static func isBuffer(_ key: String) -> Bool {
        key.hasSuffix("position_ids") || key.hasSuffix("token_type_ids")
    }
}
