import Files
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// The shape and hyperparameters of a BERT-family classifier, read from a Hugging Face `config.json`.
///
/// Both DistilBERT and BERT configs decode into this one type with full-word names, so the
/// rest of EdgeDistill never deals with the two naming schemes.
public struct ModelConfig: Equatable, Sendable {
    /// The architecture families EdgeDistill can run.
    public enum ModelType: String, Sendable, CaseIterable {
        case distilbert, bert
    }

    /// Feed-forward activations EdgeDistill implements.
    public enum Activation: String, Sendable, CaseIterable {
        /// The exact (erf) GELU that both families use by default.
        case gelu
    }

    public var modelType: ModelType
    public var vocabularySize: Int
    public var hiddenSize: Int
    public var layerCount: Int
    public var headCount: Int
    public var intermediateSize: Int
    public var maxPositions: Int
    /// Token-type (segment) vocabulary; 0 for DistilBERT, which has no token-type embedding.
    public var typeVocabularySize: Int
    public var layerNormEpsilon: Double
    public var hiddenDropout: Double
    public var attentionDropout: Double
    public var classifierDropout: Double
    public var activation: Activation
    public var labelCount: Int
    public var id2label: [Int: String]
    public var padTokenID: Int
    public var initializerRange: Double
    public var architectures: [String]
    /// Attention heads removed from each layer (`pruned_heads` in transformers' config.json: layer ->
    /// original head indices, sorted). A layer keeps its other heads, each still `headSize` wide, so
    /// its q/k/v projections have `attentionWidth(l)` outputs and out_lin as many inputs.
    public var prunedHeads: [Int: [Int]] = [:]

    /// A config from values; `id2label` defaults to `LABEL_0 ... LABEL_{n-1}`.
    public init(modelType: ModelType, vocabularySize: Int, hiddenSize: Int, layerCount: Int,
                headCount: Int, intermediateSize: Int, maxPositions: Int = 512,
                typeVocabularySize: Int? = nil, layerNormEpsilon: Double = 1e-12,
                hiddenDropout: Double = 0.1, attentionDropout: Double = 0.1,
                classifierDropout: Double? = nil, activation: Activation = .gelu,
                labelCount: Int = 2, id2label: [Int: String]? = nil, padTokenID: Int = 0,
                initializerRange: Double = 0.02, architectures: [String]? = nil) {
        self.modelType = modelType
        self.vocabularySize = vocabularySize
        self.hiddenSize = hiddenSize
        self.layerCount = layerCount
        self.headCount = headCount
        self.intermediateSize = intermediateSize
        self.maxPositions = maxPositions
        self.typeVocabularySize = typeVocabularySize ?? (modelType == .bert ? 2 : 0)
        self.layerNormEpsilon = layerNormEpsilon
        self.hiddenDropout = hiddenDropout
        self.attentionDropout = attentionDropout
        self.classifierDropout = classifierDropout ?? (modelType == .bert ? hiddenDropout : 0.2)
        self.activation = activation
        self.labelCount = labelCount
        self.id2label = id2label ?? Self.defaultLabels(labelCount)
        self.padTokenID = padTokenID
        self.initializerRange = initializerRange
        self.architectures = architectures ?? [Self.classificationArchitecture(modelType)]
    }

    /// Size of one attention head.
    public var headSize: Int { hiddenSize / headCount }

    /// The attention heads layer `l` runs (all `headCount` unless some were pruned).
    public func heads(inLayer l: Int) -> Int { headCount - (prunedHeads[l]?.count ?? 0) }

    /// Width of layer `l`'s attention: its heads times the head size (q, k, v outputs; out_lin inputs).
    public func attentionWidth(_ l: Int) -> Int { heads(inLayer: l) * headSize }

    /// The original indices of the heads layer `l` keeps, in order.
    public func keptHeads(inLayer l: Int) -> [Int] {
        let pruned = Set(prunedHeads[l] ?? [])
        return (0..<headCount).filter { !pruned.contains($0) }
    }

    // MARK: - Loading

    /// Reads and validates `directory/config.json`.
    public static func load(directory: String) throws -> ModelConfig {
        let file = (directory as NSString).appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: file) else {
            throw ModelError(file: file, "missing config.json: a model directory needs the Hugging Face config.json next to its weights")
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: file))
        } catch {
            throw ModelError(file: file, "cannot read config.json: \(error.localizedDescription)")
        }
        return try ModelConfig(jsonData: data, file: file)
    }

    /// Decodes config JSON text; `file` names the source in errors.
    public init(jsonData: Data, file: String? = nil) throws {
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: jsonData)
        } catch {
            throw ModelError(file: file, "invalid JSON in model config")
        }
        guard let object = parsed as? [String: Any] else {
            throw ModelError(file: file, "model config must be a JSON object")
        }
        try self.init(json: object, file: file)
    }

    /// Decodes a parsed config object using Hugging Face key names.
    public init(json: [String: Any], file: String? = nil) throws {
        let keys = Keys(json: json, file: file)
        let supported = ModelType.allCases.map(\.rawValue).joined(separator: " and ")
        guard json["model_type"] != nil else {
            throw ModelError(file: file, "missing key 'model_type': EdgeDistill supports \(supported)")
        }
        let typeName = try keys.string("model_type")
        guard let modelType = ModelType(rawValue: typeName) else {
            throw ModelError(file: file, "unsupported model_type '\(typeName)': EdgeDistill supports \(supported)")
        }

        let activationKey: String
        let labels = try keys.labels()
        switch modelType {
        case .distilbert:
            if try keys.optionalBool("sinusoidal_pos_embds") == true {
                throw ModelError(file: file, "sinusoidal_pos_embds=true is not supported: EdgeDistill implements learned position embeddings only")
            }
            activationKey = "activation"
            let hiddenDropout = try keys.double("dropout", default: 0.1)
            self.init(modelType: .distilbert,
                      vocabularySize: try keys.int("vocab_size"),
                      hiddenSize: try keys.int("dim"),
                      layerCount: try keys.int("n_layers"),
                      headCount: try keys.int("n_heads"),
                      intermediateSize: try keys.int("hidden_dim"),
                      maxPositions: try keys.int("max_position_embeddings"),
                      typeVocabularySize: 0,
                      layerNormEpsilon: 1e-12,  // fixed in Hugging Face's DistilBERT
                      hiddenDropout: hiddenDropout,
                      attentionDropout: try keys.double("attention_dropout", default: 0.1),
                      classifierDropout: try keys.double("seq_classif_dropout", default: 0.2),
                      labelCount: labels.count, id2label: labels,
                      padTokenID: try keys.int("pad_token_id", default: 0),
                      initializerRange: try keys.double("initializer_range", default: 0.02),
                      architectures: try keys.strings("architectures"))
        case .bert:
            if let embedding = try keys.optionalString("position_embedding_type"), embedding != "absolute" {
                throw ModelError(file: file, "position_embedding_type '\(embedding)' is not supported: EdgeDistill implements 'absolute' only")
            }
            activationKey = "hidden_act"
            let hiddenDropout = try keys.double("hidden_dropout_prob", default: 0.1)
            self.init(modelType: .bert,
                      vocabularySize: try keys.int("vocab_size"),
                      hiddenSize: try keys.int("hidden_size"),
                      layerCount: try keys.int("num_hidden_layers"),
                      headCount: try keys.int("num_attention_heads"),
                      intermediateSize: try keys.int("intermediate_size"),
                      maxPositions: try keys.int("max_position_embeddings"),
                      // Hugging Face's BertConfig default, used when the key is absent.
                      typeVocabularySize: try keys.int("type_vocab_size", default: 2),
                      layerNormEpsilon: try keys.double("layer_norm_eps", default: 1e-12),
                      hiddenDropout: hiddenDropout,
                      attentionDropout: try keys.double("attention_probs_dropout_prob", default: 0.1),
                      classifierDropout: try keys.double("classifier_dropout", default: hiddenDropout),
                      labelCount: labels.count, id2label: labels,
                      padTokenID: try keys.int("pad_token_id", default: 0),
                      initializerRange: try keys.double("initializer_range", default: 0.02),
                      architectures: try keys.strings("architectures"))
        }
        let activationName = try keys.string(activationKey, default: "gelu")
        guard let activation = Activation(rawValue: activationName) else {
            let names = Activation.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", ")
            throw ModelError(file: file, "key '\(activationKey)' is '\(activationName)', which is not supported: EdgeDistill supports \(names)")
        }
        self.activation = activation
        self.prunedHeads = try keys.prunedHeads()
        try validate(file: file)
    }

    /// Checks the values make a buildable model; `file` names the source in errors.
    public func validate(file: String? = nil) throws {
        let names = modelType == .bert
            ? (vocabulary: "vocab_size", hidden: "hidden_size", layers: "num_hidden_layers", heads: "num_attention_heads",
               intermediate: "intermediate_size", epsilon: "layer_norm_eps",
               dropouts: ["hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout"])
            : (vocabulary: "vocab_size", hidden: "dim", layers: "n_layers", heads: "n_heads",
               intermediate: "hidden_dim", epsilon: "layer_norm_eps",
               dropouts: ["dropout", "attention_dropout", "seq_classif_dropout"])
        let sizes = [(names.vocabulary, vocabularySize), (names.hidden, hiddenSize), (names.layers, layerCount),
                     (names.heads, headCount), (names.intermediate, intermediateSize),
                     ("max_position_embeddings", maxPositions), ("num_labels", labelCount)]
            + (modelType == .bert ? [("type_vocab_size", typeVocabularySize)] : [])
        for (key, value) in sizes where value <= 0 {
            throw ModelError(file: file, "key '\(key)' must be positive, got \(value)")
        }
        guard hiddenSize % headCount == 0 else {
            throw ModelError(file: file, "hidden size \(hiddenSize) ('\(names.hidden)') is not divisible by the head count \(headCount) ('\(names.heads)')")
        }
        guard layerNormEpsilon > 0 else {
            throw ModelError(file: file, "key '\(names.epsilon)' must be positive, got \(layerNormEpsilon)")
        }
        for (key, value) in zip(names.dropouts, [hiddenDropout, attentionDropout, classifierDropout])
        where !(value >= 0 && value < 1) {
            throw ModelError(file: file, "key '\(key)' must be a probability in [0, 1), got \(value)")
        }
        guard initializerRange >= 0 else {
            throw ModelError(file: file, "key 'initializer_range' must not be negative, got \(initializerRange)")
        }
        guard padTokenID >= 0, padTokenID < vocabularySize else {
            throw ModelError(file: file, "key 'pad_token_id' is \(padTokenID), outside the vocabulary of \(vocabularySize) tokens")
        }
        guard Set(id2label.keys) == Set(0..<labelCount) else {
            throw ModelError(file: file, "'id2label' must map every label id 0..<\(labelCount)")
        }
        for (layer, heads) in prunedHeads {
            guard layer >= 0, layer < layerCount else {
                throw ModelError(file: file, "key 'pruned_heads' names layer \(layer), but the model has layers 0...\(layerCount - 1)")
            }
            if let bad = heads.first(where: { $0 < 0 || $0 >= headCount }) {
                throw ModelError(file: file, "key 'pruned_heads' names head \(bad) of layer \(layer), but layers have heads 0...\(headCount - 1)")
            }
            guard Set(heads).count == heads.count else {
                throw ModelError(file: file, "key 'pruned_heads' lists a head of layer \(layer) twice")
            }
            guard heads.count < headCount else {
                throw ModelError(file: file, "key 'pruned_heads' removes every head of layer \(layer): a layer keeps at least one")
            }
        }
    }

    // MARK: - Writing

    /// The config as a Hugging Face `config.json` object of this config's model type.
    public func jsonObject() -> [String: Any] {
        var object: [String: Any] = [
            "model_type": modelType.rawValue,
            "architectures": [Self.classificationArchitecture(modelType)],
            "vocab_size": vocabularySize,
            "max_position_embeddings": maxPositions,
            "initializer_range": initializerRange,
            "pad_token_id": padTokenID,
            // Hugging Face writes these with string keys; num_labels is derived from them.
            "id2label": Dictionary(uniqueKeysWithValues: id2label.map { (String($0.key), $0.value) }),
            "label2id": Dictionary(id2label.map { ($0.value, $0.key) }, uniquingKeysWith: { first, _ in first }),
        ]
        if !prunedHeads.isEmpty {
            object["pruned_heads"] = Dictionary(uniqueKeysWithValues: prunedHeads.map { (String($0.key), $0.value.sorted()) })
        }
        switch modelType {
        case .distilbert:
            object.merge([
                "dim": hiddenSize,
                "n_layers": layerCount,
                "n_heads": headCount,
                "hidden_dim": intermediateSize,
                "dropout": hiddenDropout,
                "attention_dropout": attentionDropout,
                "seq_classif_dropout": classifierDropout,
                "activation": activation.rawValue,
                "qa_dropout": 0.1,
                "sinusoidal_pos_embds": false,
                "tie_weights_": true,
            ]) { _, new in new }
        case .bert:
            object.merge([
                "hidden_size": hiddenSize,
                "num_hidden_layers": layerCount,
                "num_attention_heads": headCount,
                "intermediate_size": intermediateSize,
                "type_vocab_size": typeVocabularySize,
                "layer_norm_eps": layerNormEpsilon,
                "hidden_dropout_prob": hiddenDropout,
                "attention_probs_dropout_prob": attentionDropout,
                "classifier_dropout": classifierDropout,
                "hidden_act": activation.rawValue,
                "position_embedding_type": "absolute",
            ]) { _, new in new }
        }
        return object
    }

    /// Writes `directory/config.json` atomically (temporary file, then rename).
    public func write(directory: String) throws {
        let file = (directory as NSString).appendingPathComponent("config.json")
        var data: Data
        do {
            data = try JSONSerialization.data(withJSONObject: jsonObject(), options: [.prettyPrinted, .sortedKeys])
            data.append(UInt8(ascii: "\n"))
        } catch {
            throw ModelError(file: file, "cannot encode model config: \(error.localizedDescription)")
        }
        do {
            try AtomicFile.write(Array(data), to: file)
        } catch let failure as AtomicFile.Failure {
            throw ModelError(file: file, "cannot write model config: \(failure.reason)")
        }
    }

    // MARK: - Helpers

    private static func defaultLabels(_ count: Int) -> [Int: String] {
        Dictionary(uniqueKeysWithValues: (0..<max(count, 0)).map { ($0, "LABEL_\($0)") })
    }

    private static func classificationArchitecture(_ type: ModelType) -> String {
        type == .bert ? "BertForSequenceClassification" : "DistilBertForSequenceClassification"
    }
}

/// Typed access to config keys with errors that name the file, the key and what was found.
private struct Keys {
    let json: [String: Any]
    let file: String?

    /// A present, non-null value.
    private func value(_ key: String) -> Any? {
        guard let value = json[key], !(value is NSNull) else { return nil }
        return value
    }

    private func wrongType(_ key: String, _ expected: String, _ value: Any) -> ModelError {
        ModelError(file: file, "key '\(key)' must be \(expected), got \(Self.render(value))")
    }

    func int(_ key: String, default fallback: Int? = nil) throws -> Int {
        guard let value = value(key) else {
            if let fallback { return fallback }
            throw ModelError(file: file, "missing key '\(key)' (an integer)")
        }
        guard let number = value as? NSNumber, !Self.isBoolean(number), let integer = value as? Int else {
            throw wrongType(key, "an integer", value)
        }
        return integer
    }

    func double(_ key: String, default fallback: Double) throws -> Double {
        guard let value = value(key) else { return fallback }
        guard let number = value as? NSNumber, !Self.isBoolean(number) else {
            throw wrongType(key, "a number", value)
        }
        return number.doubleValue
    }

    func string(_ key: String, default fallback: String? = nil) throws -> String {
        guard let value = value(key) else {
            if let fallback { return fallback }
            throw ModelError(file: file, "missing key '\(key)' (a string)")
        }
        guard let text = value as? String else { throw wrongType(key, "a string", value) }
        return text
    }

    func optionalString(_ key: String) throws -> String? {
        guard value(key) != nil else { return nil }
        return try string(key)
    }

    func optionalBool(_ key: String) throws -> Bool? {
        guard let value = value(key) else { return nil }
        guard let number = value as? NSNumber, Self.isBoolean(number) else {
            throw wrongType(key, "true or false", value)
        }
        return number.boolValue
    }

    /// A string array; nil when absent, so the caller's default applies.
    func strings(_ key: String) throws -> [String]? {
        guard let value = value(key) else { return nil }
        guard let strings = value as? [String] else { throw wrongType(key, "an array of strings", value) }
        return strings
    }

    /// Labels from `id2label` (string keys "0", "1", ...) and/or `num_labels`; LABEL_i by default.
    func labels() throws -> [Int: String] {
        let declaredCount = value("num_labels") == nil ? nil : try int("num_labels")
        guard let raw = value("id2label") else {
            let count = declaredCount ?? 2
            guard count > 0 else { throw ModelError(file: file, "key 'num_labels' must be positive, got \(count)") }
            return Dictionary(uniqueKeysWithValues: (0..<count).map { ($0, "LABEL_\($0)") })
        }
        guard let map = raw as? [String: Any] else {
            throw wrongType("id2label", "an object of label names", raw)
        }
        var labels: [Int: String] = [:]
        for (key, name) in map {
            guard let id = Int(key), id >= 0 else {
                throw ModelError(file: file, "key 'id2label' has '\(key)', which is not a label id (a non-negative integer)")
            }
            guard let text = name as? String else { throw wrongType("id2label[\"\(key)\"]", "a string", name) }
            labels[id] = text
        }
        guard !labels.isEmpty, Set(labels.keys) == Set(0..<labels.count) else {
            throw ModelError(file: file, "key 'id2label' must map every label id from 0 to \(max(labels.count - 1, 0)) exactly once")
        }
        if let declaredCount, declaredCount != labels.count {
            throw ModelError(file: file, "key 'num_labels' is \(declaredCount) but 'id2label' has \(labels.count) labels")
        }
        return labels
    }

    /// `pruned_heads` (string layer keys, arrays of head indices), empty when absent; layers with no
    /// heads listed are left out.
    func prunedHeads() throws -> [Int: [Int]] {
        guard let raw = value("pruned_heads") else { return [:] }
        guard let map = raw as? [String: Any] else { throw wrongType("pruned_heads", "an object of layer -> head indices", raw) }
        var heads: [Int: [Int]] = [:]
        for (key, list) in map {
            guard let layer = Int(key) else {
                throw ModelError(file: file, "key 'pruned_heads' has '\(key)', which is not a layer index")
            }
            guard let numbers = list as? [Any], let indices = numbers as? [Int],
                  numbers.allSatisfy({ ($0 as? NSNumber).map { !Self.isBoolean($0) } ?? false }) else {
                throw wrongType("pruned_heads[\"\(key)\"]", "an array of head indices", list)
            }
            if !indices.isEmpty { heads[layer] = indices.sorted() }
        }
        return heads
    }

    /// JSONSerialization returns booleans as NSNumber, which also casts to Int; its C type
    /// 'c' tells them apart, as the parser never uses it for real numbers.
    static func isBoolean(_ number: NSNumber) -> Bool {
        String(cString: number.objCType) == "c"
    }

    /// A value as it would appear in JSON, for error messages.
    static func render(_ value: Any) -> String {
        if value is NSNull { return "null" }
        if let text = value as? String { return "\"\(text)\"" }
        if let number = value as? NSNumber {
            return isBoolean(number) ? (number.boolValue ? "true" : "false") : number.stringValue
        }
        if value is [Any] { return "an array" }
        if value is [String: Any] { return "an object" }
        return "\(value)"
    }
}
