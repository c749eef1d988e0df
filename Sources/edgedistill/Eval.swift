import ArgumentParser
import Evaluation
import Foundation
import Kernels
import Model
import Pipeline
import Training

/// `edgedistill eval --model DIR --data FILE`: accuracy, macro-F1 and the confusion matrix.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Evaluate a classifier on a labelled file.")

    @Option(help: "A Hugging Face model folder with a trained head.") var model: String
    @Option(help: "Labelled data (TSV with header, CSV or JSONL).") var data: String?
    @Option(name: .customLong("held-out-of"), help: "A run folder: evaluate on the held-out examples that run chose checkpoints on (its run_config.json).")
    var heldOutOf: String?
    @OptionGroup var columns: DataColumnOptions
    @Option(name: .customLong("max-length")) var maxLength = 128
    @Option(help: "oneDNN threads.") var threads = 2
    @Flag(help: "Print {\"accuracy\", \"macro_f1\", \"examples\"} as JSON.") var json = false

    func validate() throws {
        guard (data == nil) != (heldOutOf == nil) else { throw ValidationError("give exactly one of --data FILE and --held-out-of RUN_FOLDER") }
    }

    func run() throws {
        try reportingErrors {
            Threads.set(threads)
            // Any model folder: fp32, fp16 or int8 (ClassifierLoader refuses an untrained head).
            let classifier = try ClassifierLoader.load(directory: model)
            let names = classifier.config.labelNames
            let dataset: Dataset
            if let run = heldOutOf {
                let config = try PipelineConfig().overlaid(withFile: (run as NSString).appendingPathComponent("run_config.json"))
                dataset = try Pipeline(config: config, log: { _ in }).heldOutSet()
            } else {
                dataset = try Dataset.load(data ?? "", options: columns.datasetOptions(labelNames: names))
            }
            let tokenizer = try BertTokenizer.load(directory: model)
            try classifier.checkVocabulary(of: tokenizer, directory: model)
            let encoded = EncodedDataset(dataset, tokenizer: tokenizer, maxLength: classifier.maximumLength(maxLength))
            let metrics = Evaluator.evaluate(classifier, on: encoded).metrics
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
