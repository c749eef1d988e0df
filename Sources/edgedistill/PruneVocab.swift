import ArgumentParser
import Foundation
import Model
import Training

/// `edgedistill prune-vocab --model DIR --texts FILE ... --out DIR`: the model with only the
/// WordPiece tokens its task uses (`VocabularyPruning`): the word-embedding table shrinks to them,
/// vocab.txt is rewritten, ids are remapped. Quantize the result afterwards for the smallest file.
struct PruneVocab: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune-vocab",
        abstract: "Keep only the vocabulary a task's texts use (smaller embeddings); writes a model folder.")

    @Option(help: "A trained fp32 model folder.") var model: String
    @Option(help: "The task's texts (training data; repeatable), any format the datasets read.") var texts: [String] = []
    @Option(help: "Data files to report the effect on (dev or held-out; repeatable).") var eval: [String] = []
    @Option(name: .customLong("min-count"), help: "Keep a token seen at least this many times.") var minCount = 1
    @Option(help: "The folder to write.") var out: String
    @OptionGroup var columns: DataColumnOptions
    @Flag(help: "Print a JSON summary.") var json = false

    func validate() throws {
        guard !texts.isEmpty else { throw ValidationError("give the task's texts with --texts FILE (repeatable)") }
        guard minCount >= 1 else { throw ValidationError("--min-count must be at least 1, got \(minCount)") }
        guard (model as NSString).standardizingPath != (out as NSString).standardizingPath else {
            throw ValidationError("--out must differ from --model")
        }
    }

    func run() throws {
        try reportingErrors {
            let loaded = try SequenceClassifier.load(directory: model)
            if loaded.initializedHead { throw ModelError(file: model, "this model has no trained classification head: fine-tune it first") }
            let tokenizer = try BertTokenizer.load(directory: model)
            try loaded.model.checkCompatible(with: tokenizer, directory: model)
            func read(_ files: [String]) throws -> [(String, String?)] {
                try files.flatMap { file -> [(String, String?)] in
                    let data = try Dataset.load(file, options: columns.datasetOptions())
                    return data.texts.indices.map { (data.texts[$0], data.pairs?[$0]) }
                }
            }
            let pruning = try VocabularyPruning(tokenizer: tokenizer, texts: try read(texts), minimumCount: minCount)
            let pruned = try loaded.model.pruningVocabulary(to: pruning)
            try pruned.savePrunedFolder(out, vocabulary: pruning.vocabulary)
            var result: [String: Any] = [
                "out": out, "vocabulary_before": tokenizer.vocabulary.count, "vocabulary_after": pruning.vocabulary.count,
                "parameters_before": loaded.model.parameterCount, "parameters_after": pruned.parameterCount,
                "size_bytes": diskSize((out as NSString).appendingPathComponent("model.safetensors")),
                "size_bytes_before": diskSize((model as NSString).appendingPathComponent("model.safetensors")),
            ]
            for file in eval {
                let change = pruning.changes(tokenizer: tokenizer, texts: try read([file]))
                result["changed:" + file] = ["tokens_with_a_pruned_piece": change.tokens, "texts_tokenized_differently": change.texts]
            }
            try printResult(result, json: json)
        }
    }
}
