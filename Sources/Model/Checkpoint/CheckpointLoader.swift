import Foundation
import Kernels

/// A classifier read from a Hugging Face model folder, with what the loader had to say about it.
public struct LoadedCheckpoint {
    public let model: SequenceClassifier
    /// Checkpoint keys that matched nothing (reported, not fatal: e.g. a BERT pooler without a head).
    public let unusedKeys: [String]
    /// True when the checkpoint had no classification head and a fresh one was initialised.
    public let initializedHead: Bool
    /// The family of the checkpoint's keys.
    public let sourceFamily: String
}

extension SequenceClassifier {
    /// Loads `config.json` and `model.safetensors` from a Hugging Face model folder.
    ///
    /// A BERT encoder is converted to the DistilBERT layout (token_type_embeddings[0] folded into
    /// the position table, keys renamed). A checkpoint with no classification head gets one
    /// initialised as transformers does (normal, std `initializerRange`, zero bias) from `seed`.
    ///
    /// `labelNames`, when given, is the label map of the data the model will see: a fresh head gets
    /// that many outputs (and the names), and a trained head must have as many.
    public static func load(directory: String, seed: UInt64 = 42, labelNames: [String]? = nil) throws -> LoadedCheckpoint {
        let config = try ModelConfig.load(directory: directory)
        let path = (directory as NSString).appendingPathComponent("model.safetensors")
        guard FileManager.default.fileExists(atPath: path) else {
            let hint = FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent("pytorch_model.bin"))
                ? " (found pytorch_model.bin: convert it with transformers' save_pretrained(safe_serialization=True))" : ""
            throw ModelError(file: path, "missing model.safetensors\(hint)")
        }
        let file = try SafetensorsFile(path: path)
        try VocabularyFingerprint.check(directory: directory, metadata: file.metadata)
        return try load(config: config, file: file, seed: seed, labelNames: labelNames)
    }

    static func load(config: ModelConfig, file: SafetensorsFile, seed: UInt64, labelNames: [String]? = nil) throws -> LoadedCheckpoint {
        var config = config
        var byInternal: [String: String] = [:]   // internal name -> checkpoint key
        var unused: [String] = []
        var stripped: [String: String] = [:]     // stripped key -> original key
        for key in file.names { stripped[CheckpointKeys.stripPrefix(key)] = key }
        guard let family = CheckpointKeys.family(of: Set(stripped.keys)) else {
            throw ModelError(file: file.path, "unknown architecture: no DistilBERT (transformer.layer.0.attention.q_lin.weight) or BERT (encoder.layer.0.attention.self.query.weight) keys; EdgeDistill loads DistilBertForSequenceClassification, DistilBertModel, BertModel and BertForSequenceClassification checkpoints")
        }
        let hasHead = stripped["classifier.weight"] != nil
        if let names = labelNames {
            if hasHead, let rows = stripped["classifier.weight"].flatMap({ file.info($0)?.shape.first }), rows != names.count {
                throw ModelError(file: file.path, "the classification head has \(rows) labels but the data has \(names.count) (\(names.joined(separator: ", "))): fine-tune a fresh head from the encoder, or use data with the model's labels")
            }
            config.labelCount = names.count
            // A trained head keeps the names it was trained with; a fresh one takes the data's.
            if !hasHead { config.id2label = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($0.offset, $0.element) }) }
        }
        let known = Set(ParameterLayout(config: config).entries.map(\.name))
        for (key, original) in stripped {
            let name: String?
            switch family {
            case .distilbert: name = key
            case .bert: name = CheckpointKeys.internalName(ofBERT: key)
            }
            // A BERT pooler without a classifier is not a head we can use: start a fresh one.
            if let name, name.hasPrefix("pre_classifier."), family == .bert, !hasHead {
                unused.append(original); continue
            }
            if let name, known.contains(name) {
                byInternal[name] = original
            } else if key == "embeddings.token_type_embeddings.weight" {
                continue
            } else if !CheckpointKeys.isBuffer(key) {
                unused.append(original)
            }
        }

        let model = SequenceClassifier(config: config, headActivation: family == .bert && hasHead ? .tanh : .relu)
        let headNames: Set<String> = ["pre_classifier.weight", "pre_classifier.bias", "classifier.weight", "classifier.bias"]
        let required = model.layout.entries.map(\.name).filter { hasHead || !headNames.contains($0) }
        let missing = required.filter { byInternal[$0] == nil }
        if !missing.isEmpty {
            let shown = missing.prefix(5).map { family == .bert ? CheckpointKeys.bertName(ofInternal: $0) : $0 }
            throw ModelError(file: file.path, "missing \(missing.count) tensor(s) for a \(config.layerCount)-layer \(family.rawValue) model: \(shown.joined(separator: ", "))\(missing.count > 5 ? ", ..." : "")")
        }
        for name in required {
            guard let key = byInternal[name], let info = file.info(key) else { continue }
            let entry = model.layout.entry(name)
            guard info.shape == entry.shape else {
                throw ModelError(file: file.path, "tensor '\(key)' has shape \(info.shape), expected \(entry.shape) from config.json")
            }
            let values = UnsafeMutableBufferPointer(start: model.parameters[entry], count: entry.count)
            try file.floats(key, into: values)
            // A broken model (a diverged run, a corrupt export) is refused here, by tensor, rather
            // than serving NaN logits or training from them.
            if let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw ModelError(file: file.path, "tensor '\(key)' holds a non-finite value (\(values[bad]) at element \(bad)): the model is broken; retrain or re-export it")
            }
        }
        if family == .bert, let key = stripped["embeddings.token_type_embeddings.weight"] {
            try foldTokenType(key: key, file: file, into: model)
        }
        if !hasHead { model.initializeHead(seed: seed) }
        return LoadedCheckpoint(model: model, unusedKeys: unused.sorted(), initializedHead: !hasHead,
                                sourceFamily: family.rawValue)
    }

    /// Adds token_type_embeddings[0] to every position embedding: exact for inputs of token type 0,
    /// which is all a single-sentence classifier ever sees.
    static func foldTokenType(key: String, file: SafetensorsFile, into model: SequenceClassifier) throws {
        guard let info = file.info(key), info.shape.count == 2, info.shape[1] == model.config.hiddenSize,
              info.shape[0] >= 1 else {
            throw ModelError(file: file.path, "tensor '\(key)' must have shape [types, \(model.config.hiddenSize)]")
        }
        var table = [Float](repeating: 0, count: info.elementCount)
        try table.withUnsafeMutableBufferPointer { try file.floats(key, into: $0) }
        let c = model.config.hiddenSize
        let positions = model.parameter("embeddings.position_embeddings.weight")
        for p in 0..<model.config.maxPositions {
            for i in 0..<c { positions[p * c + i] += table[i] }
        }
    }

    /// Initialises pre_classifier and classifier as transformers' `_init_weights` does for Linear:
    /// weights from N(0, initializerRange), biases zero.
    public func initializeHead(seed: UInt64) {
        var rng = NormalGenerator(seed: seed)
        let std = Float(config.initializerRange)
        for name in ["pre_classifier.weight", "classifier.weight"] {
            let entry = layout.entry(name)
            let p = parameters[entry]
            for i in 0..<entry.count { p[i] = rng.next() * std }
        }
        for name in ["pre_classifier.bias", "classifier.bias"] {
            let entry = layout.entry(name)
            parameters[entry].update(repeating: 0, count: entry.count)
        }
    }
}

/// Standard normal samples from a seeded SplitMix64 stream (Box-Muller).
public struct NormalGenerator {
    private var state: UInt64
    private var spare: Float?

    public init(seed: UInt64) { state = seed }

    public mutating func nextUniform() -> Double {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Double(splitMix64(state) >> 11) / Double(1 << 53)
    }

    public mutating func next() -> Float {
        if let s = spare { spare = nil; return s }
        let u1 = max(nextUniform(), 1e-300), u2 = nextUniform()
        let r = (-2 * log(u1)).squareRoot()
        spare = Float(r * sin(2 * .pi * u2))
        return Float(r * cos(2 * .pi * u2))
    }
}
