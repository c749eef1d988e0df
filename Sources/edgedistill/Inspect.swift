import ArgumentParser
import Foundation
import Model

/// `edgedistill inspect --model DIR`: loads a model folder and says what it holds.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load a model folder (config.json, model.safetensors, vocab.txt) and describe it.")

    @Option(help: "A Hugging Face model folder.") var model: String
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        try reportingErrors {
            let loaded = try SequenceClassifier.load(directory: model)
            let tokenizer = try BertTokenizer.load(directory: model)
            let c = loaded.model.config
            let info: [String: Any] = [
                "source_family": loaded.sourceFamily, "layers": c.layerCount, "hidden_size": c.hiddenSize,
                "heads": c.headCount, "intermediate_size": c.intermediateSize, "labels": c.labelCount,
                "parameters": loaded.model.parameterCount, "vocabulary": tokenizer.vocabularySize,
                "head": loaded.initializedHead ? "initialized" : "loaded",
                "head_activation": loaded.model.headActivation.rawValue, "unused_keys": loaded.unusedKeys,
            ]
            if json {
                print(try jsonString(info))
            } else {
                for key in info.keys.sorted() { print("\(key): \(info[key]!)") }
            }
        }
    }
}
