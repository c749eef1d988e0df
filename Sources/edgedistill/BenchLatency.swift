import ArgumentParser
import Evaluation
import Files
import Foundation
import Kernels
import Model
import Training

/// `edgedistill bench latency --model DIR --data FILE --threads N --json`: batch-1 serving latency.
///
/// Loads any model folder (fp32, fp16, int8), tokenizes the file's sentences (outside the timer),
/// runs `--warmup` untimed calls, then times one call per sentence at batch 1 and prints `p50_ms`,
/// `p95_ms`, `p99_ms` (nearest rank), `examples_per_s`, and `peak_rss_bytes` (VmHWM of this process:
/// the serving footprint, model and buffers included). With `--throughput-batch-size B` it also
/// times the sentences in batches of B (`throughput_examples_per_s`).
struct BenchLatency: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "latency", abstract: "Batch-1 latency percentiles of any model folder over a file's sentences.")

    @Option(help: "A model folder (fp32, fp16 or int8).") var model: String
    @Option(help: "Sentences (TSV with header, CSV or JSONL, with labels).") var data: String
    @Option(help: "oneDNN threads.") var threads = 1
    @Option(help: "Sentences to time (0: every sentence of the file; fewer are cycled).") var sentences = 0
    @Option(help: "Untimed calls before timing.") var warmup = 20
    @Option(name: .customLong("max-length")) var maxLength = 128
    @Option(name: .customLong("throughput-batch-size"), help: "Also time batches of this size (0: skip).") var throughputBatchSize = 0
    @OptionGroup var columns: DataColumnOptions
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard maxLength >= 3 else { throw ValidationError("--max-length must be at least 3 ([CLS], one piece, [SEP]), got \(maxLength)") }
        guard sentences >= 0, warmup >= 0, throughputBatchSize >= 0 else {
            throw ValidationError("--sentences, --warmup and --throughput-batch-size must not be negative")
        }
    }

    func run() throws {
        try reportingErrors {
            Threads.set(threads)
            let started = DispatchTime.now().uptimeNanoseconds
            let classifier = try ClassifierLoader.load(directory: model)
            let loadMilliseconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
            let tokenizer = try BertTokenizer.load(directory: model)
            try classifier.checkVocabulary(of: tokenizer, directory: model)
            let dataset = try Dataset.load(data, options: columns.datasetOptions())
            guard !dataset.texts.isEmpty else { throw ModelError(file: data, "no sentences to time") }
            let length = classifier.maximumLength(maxLength)
            let count = sentences == 0 ? dataset.texts.count : sentences
            let encoded = (0..<count).map { dataset.encoding($0 % dataset.count, tokenizer: tokenizer, maxLength: length) }
            let latency = LatencyBenchmark.batchOne(classifier, sequences: encoded, warmup: warmup)
            var result = latency.jsonObject
            result["threads"] = threads
            result["model"] = model
            result["load_ms"] = loadMilliseconds
            if throughputBatchSize > 0 {
                result["throughput_batch_size"] = throughputBatchSize
                result["throughput_examples_per_s"] = LatencyBenchmark.throughput(classifier, sequences: encoded, batchSize: throughputBatchSize)
            }
            result["peak_rss_bytes"] = ProcessMemory.peakResidentBytes()
            try printResult(result, json: json)
        }
    }
}
