import ArgumentParser
import Foundation
import Model

/// `edgedistill quantize --model DIR (--int8 [--int8-embeddings] | --fp16) --out DIR`.
///
/// `--int8`: dynamic int8 (`QuantizationScheme.int8Dynamic`): linear weights int8 per output channel,
/// activations quantized per row at run time. `--int8-embeddings` also stores the word embeddings as
/// int8 with a scale per row. `--fp16`: weights stored as fp16, computed in fp32. The output folder
/// is complete (config, weights, vocabulary, tokenizer files) and loads in eval, predict and bench.
struct Quantize: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write an int8 or fp16 copy of a trained fp32 classifier.")

    @Option(help: "A trained fp32 model folder.") var model: String
    @Option(help: "The folder to write (replaced if it exists).") var out: String
    @Flag(help: "Dynamic int8: int8 linear weights, activations quantized at run time.") var int8 = false
    @Flag(name: .customLong("int8-embeddings"), help: "With --int8: int8 word embeddings too.") var int8Embeddings = false
    @Flag(help: "fp16 weights, computed in fp32.") var fp16 = false
    @Flag(help: "Print a JSON summary.") var json = false

    func validate() throws {
        guard int8 != fp16 else { throw ValidationError("choose exactly one of --int8 and --fp16") }
        guard !int8Embeddings || int8 else { throw ValidationError("--int8-embeddings needs --int8") }
        guard (model as NSString).standardizingPath != (out as NSString).standardizingPath else {
            throw ValidationError("--out must differ from --model")
        }
    }

    func run() throws {
        try reportingErrors {
            let loaded = try SequenceClassifier.load(directory: model)
            if loaded.initializedHead {
                throw ModelError(file: model, "this model has no trained classification head: fine-tune it first")
            }
            try loaded.model.checkVocabulary(of: BertTokenizer.load(directory: model), directory: model)
            let scheme: QuantizationScheme = int8 ? .int8Dynamic : .fp16
            try loaded.model.quantized(scheme, int8Embeddings: int8Embeddings).saveFolder(out, vocabularyFrom: model)
            let before = diskSize((model as NSString).appendingPathComponent("model.safetensors"))
            let after = diskSize((out as NSString).appendingPathComponent("model.safetensors"))
            let result: [String: Any] = ["scheme": scheme.rawValue, "int8_embeddings": int8Embeddings, "out": out,
                                         "size_bytes": after, "fp32_size_bytes": before,
                                         "parameters": loaded.model.parameterCount]
            try printResult(result, json: json)
        }
    }
}
