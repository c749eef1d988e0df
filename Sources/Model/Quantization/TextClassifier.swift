import Foundation

/// Anything that turns a packed batch into logits: `SequenceClassifier`, whatever its weights
/// (fp32, fp16 files widened to fp32 on load, int8 linear layers; see `quantized(_:int8Embeddings:)`).
///
/// `eval`, `predict`, `bench latency` and `VariantEvaluation` take this type, so every model
/// variant is served by the same code.
public protocol TextClassifier: AnyObject {
    var config: ModelConfig { get }
    /// Number of parameters (elements of every weight, whatever their storage type).
    var parameterCount: Int { get }
    /// Logits (B, K) of an inference pass (no dropout), row-major.
    func logits(_ batch: TokenBatch) -> [Float]
}

extension SequenceClassifier: TextClassifier {
    public func logits(_ batch: TokenBatch) -> [Float] { forward(batch) }
}

extension TextClassifier {
    /// Checks that every token id `tokenizer` can produce has an embedding row in this model.
    public func checkVocabulary(of tokenizer: BertTokenizer, directory: String) throws {
        if tokenizer.vocabularySize > config.vocabularySize {
            throw ModelError(file: directory, "the vocabulary has \(tokenizer.vocabularySize) tokens but config.json's vocab_size is \(config.vocabularySize): the tokenizer does not belong to this model")
        }
    }

    /// The longest input this model takes: `requested`, or fewer with fewer position embeddings.
    public func maximumLength(_ requested: Int) -> Int { min(requested, config.maxPositions) }
}

/// Loads any model folder EdgeDistill writes or reads: a Hugging Face fp32/fp16/bf16 checkpoint,
/// or a quantized folder (`QuantizationScheme` in the safetensors metadata).
public enum ClassifierLoader {
    /// The model in `directory`; throws `ModelError` for an unknown scheme, a corrupt file, or a
    /// checkpoint without a trained classification head (a model that cannot classify).
    public static func load(directory: String) throws -> any TextClassifier {
        let path = (directory as NSString).appendingPathComponent("model.safetensors")
        guard FileManager.default.fileExists(atPath: path) else {
            throw ModelError(file: path, "missing model.safetensors")
        }
        let scheme = try QuantizationScheme(metadata: SafetensorsFile(path: path).metadata, file: path)
        switch scheme {
        case .int8Dynamic:
            return try SequenceClassifier.loadInt8(directory: directory)
        case .none, .fp16:
            if scheme == .fp16 { try QuantizationChecksum.verify(try SafetensorsFile(path: path)) }
            let loaded = try SequenceClassifier.load(directory: directory)
            if loaded.initializedHead {
                throw ModelError(file: directory, "this model has no trained classification head: fine-tune it first")
            }
            loaded.model.quantization = scheme
            loaded.model.freeze()  // served, never trained: linear layers on weights prepared once
            return loaded.model
        }
    }
}
