import ArgumentParser
import Foundation
import Kernels
import Model
import Training

/// `edgedistill eval --model DIR --data FILE`: accuracy, macro-F1 and the confusion matrix.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Evaluate a classifier on a labelled file.")

    @Option(help: "A Hugging Face model folder with a trained head.") var model: String
    @Option(help: "Labelled data (TSV with header, CSV or JSONL).") var data: String
    @Option(name: .customLong("text-column")) var textColumn: String?
    @Option(name: .customLong("label-column")) var labelColumn: String?
    @Option(name: .customLong("max-length")) var maxLength = 128
    @Option(help: "oneDNN threads.") var threads = 2
    @Flag(name: .customLong("skip-bad-rows")) var skipBadRows = false
    @Flag(help: "Print {\"accuracy\", \"macro_f1\", \"examples\"} as JSON.") var json = false

    func run() throws {
        try reportingErrors {
            Threads.set(threads)
            let loaded = try SequenceClassifier.load(directory: model)
            if loaded.initializedHead {
                throw ModelError(file: model, "this model has no trained classification head: fine-tune it first")
            }
            let names = loaded.model.config.labelNames
            let dataset = try Dataset.load(data, options: DatasetOptions(
                textColumn: textColumn, labelColumn: labelColumn, skipBadRows: skipBadRows, labelNames: names))
            let tokenizer = try BertTokenizer.load(directory: model)
            try loaded.model.checkCompatible(with: tokenizer, directory: model)
            let encoded = EncodedDataset(dataset, tokenizer: tokenizer, maxLength: loaded.model.fittedLength(maxLength))
            let metrics = Evaluator.evaluate(loaded.model, on: encoded).metrics
            if json {
                print(try jsonString(["accuracy": metrics.accuracy, "macro_f1": metrics.macroF1,
                                      "examples": metrics.examples, "confusion_matrix": metrics.confusion,
                                      "skipped_rows": dataset.skippedRows]))
            } else {
                print(String(format: "accuracy %.4f  macro-F1 %.4f  examples %d", metrics.accuracy, metrics.macroF1, metrics.examples))
                print("confusion matrix (rows: true label, columns: predicted), labels \(names):")
                for row in metrics.confusion { print("  " + row.map { String($0) }.joined(separator: "\t")) }
            }
        }
    }
}
