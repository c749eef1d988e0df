import ArgumentParser
import Foundation
import Kernels
import Model

/// `edgedistill inspect --model DIR`: loads a model folder and says what it holds.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load a model folder (config.json, model.safetensors, vocab.txt) and describe it.")

    @Option(help: "A Hugging Face model folder.") var model: String
    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "Also read sentences (one per line) from stdin and print their logits.") var logits = false

    func run() throws {
        try reportingErrors {
            let loaded = try SequenceClassifier.load(directory: model)
            let tokenizer = try BertTokenizer.load(directory: model)
            try loaded.model.checkCompatible(with: tokenizer, directory: model)
            let c = loaded.model.config
            var info: [String: Any] = [
                "source_family": loaded.sourceFamily, "layers": c.layerCount, "hidden_size": c.hiddenSize,
                "heads": c.headCount, "intermediate_size": c.intermediateSize, "labels": c.labelCount,
                "parameters": loaded.model.parameterCount, "vocabulary": tokenizer.vocabularySize,
                "head": loaded.initializedHead ? "initialized" : "loaded",
                "head_activation": loaded.model.headActivation.rawValue, "unused_keys": loaded.unusedKeys,
                "kernels": ISA.current.rawValue, "cpu": ISA.detected.rawValue + (ISA.hasBF16 ? "+bf16" : ""),
            ]
            if logits {
                var lines: [String] = []
                while let line = readLine() { lines.append(line) }
                let batch = TokenBatch(sequences: lines.map { tokenizer.encode($0, maxLength: loaded.model.fittedLength(128)) })
                let values = lines.isEmpty ? [] : loaded.model.forward(batch)
                info["logits"] = (0..<lines.count).map { Array(values[($0 * c.labelCount)..<(($0 + 1) * c.labelCount)]).map(Double.init) }
            }
            if json {
                print(try jsonString(info))
            } else {
                for (key, value) in info.sorted(by: { $0.key < $1.key }) { print("\(key): \(value)") }
            }
        }
    }
}
