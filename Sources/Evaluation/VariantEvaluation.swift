import Foundation
import Kernels
import Model
import Report
import Training

/// Writes the quantized students of a run and measures every model variant for the edge report.
///
/// Variants, in order: "teacher fp32", "student fp32", "student fp16", "student int8",
/// "student int8 + int8 emb". Each becomes one `VariantFigures` row (a `report.json` entry):
/// - name, path (model folder), size of its model.safetensors, parameters;
/// - per evaluation file: accuracy, macro-F1, and retention = accuracy / the teacher's accuracy
///   on the same file;
/// - latency p50/p95/p99: batch 1, 1 thread, over the first `latencySentences` sentences of the
///   first evaluation file (cycled if it has fewer), after `warmup` untimed calls; the same at
///   `allThreads` threads;
/// - throughput: sentences/s in batches of `throughputBatchSize` at `allThreads` threads;
/// - speed-up: the teacher's 1-thread p50 / this variant's;
/// - peak RSS: VmHWM of a separate `edgedistill bench latency` process serving the variant, when
///   `servingExecutable` is set; 0 (not measured) otherwise, since this process's peak includes
///   training.
public enum VariantEvaluation {
    public struct Options: Sendable {
        /// Sentences timed at batch 1 (the issue asks for at least 200; tests use a handful).
        public var latencySentences = 200
        /// Untimed calls before timing.
        public var warmup = 20
        public var throughputBatchSize = 32
        /// The "all threads" count.
        public var allThreads = ProcessInfo.processInfo.activeProcessorCount
        /// Longest input in tokens, as for evaluation.
        public var maxLength = 128
        /// The `edgedistill` binary: latency and peak RSS are then measured by
        /// `edgedistill bench latency` in a child process per variant and thread count.
        public var servingExecutable: String?
        public var dataset = DatasetOptions()

        public init() {}
    }

    /// The folder names written under `outputFolder`.
    public static let folders = (int8: "student-int8", int8Embeddings: "student-int8-emb", fp16: "student-fp16")

    /// Quantizes `student` into `outputFolder`/{student-int8, student-int8-emb, student-fp16},
    /// evaluates the five variants on `evaluationFiles` and returns their rows (see the type's doc).
    public static func run(teacher: String, student: String, evaluationFiles: [String], outputFolder: String,
                           options: Options = Options(), log: (String) -> Void = { _ in }) throws -> [VariantFigures] {
        guard !evaluationFiles.isEmpty else {
            throw ModelError("variant evaluation needs at least one evaluation file (for accuracy and latency sentences)")
        }
        let fp32 = try SequenceClassifier.load(directory: student)
        if fp32.initializedHead { throw ModelError(file: student, "the student has no trained classification head") }
        func folder(_ name: String) -> String { (outputFolder as NSString).appendingPathComponent(name) }
        try QuantizedClassifier(quantizing: fp32.model, int8Embeddings: false).saveFolder(folder(folders.int8), vocabularyFrom: student)
        try QuantizedClassifier(quantizing: fp32.model, int8Embeddings: true).saveFolder(folder(folders.int8Embeddings), vocabularyFrom: student)
        try fp32.model.saveFP16Folder(folder(folders.fp16), vocabularyFrom: student)
        log("variants: wrote \(folders.int8), \(folders.int8Embeddings), \(folders.fp16) in \(outputFolder)")

        let variants = [("teacher fp32", teacher), ("student fp32", student), ("student fp16", folder(folders.fp16)),
                        ("student int8", folder(folders.int8)), ("student int8 + int8 emb", folder(folders.int8Embeddings))]
        var options = options
        options.dataset.labelNames = fp32.model.config.labelNames
        let datasets = try evaluationFiles.map { try Dataset.load($0, options: options.dataset) }
        guard !datasets[0].texts.isEmpty else {
            throw ModelError(file: evaluationFiles[0], "no sentences: the first evaluation file also gives the sentences timed for latency")
        }
        var rows: [VariantFigures] = []
        var teacherAccuracy: [Double] = [], teacherP50 = 0.0
        let savedThreads = Threads.count
        defer { Threads.set(savedThreads) }
        for (index, (name, path)) in variants.enumerated() {
            let model = try ClassifierLoader.load(directory: path)
            let tokenizer = try BertTokenizer.load(directory: path)
            try model.checkVocabulary(of: tokenizer, directory: path)
            let maxLength = model.maximumLength(options.maxLength)
            Threads.set(options.allThreads)
            var evaluations: [VariantFigures.FileFigures] = []
            for (f, (file, data)) in zip(evaluationFiles, datasets).enumerated() {
                let metrics = Evaluator.evaluate(model, on: EncodedDataset(data, tokenizer: tokenizer, maxLength: maxLength)).metrics
                if index == 0 { teacherAccuracy.append(metrics.accuracy) }
                evaluations.append(.init(file: file, accuracy: metrics.accuracy, macroF1: metrics.macroF1,
                                         retention: teacherAccuracy[f] > 0 ? metrics.accuracy / teacherAccuracy[f] : 0))
            }
            let serving: Serving
            if let executable = options.servingExecutable {
                serving = try measureInChild(executable, model: path, data: evaluationFiles[0], options: options)
            } else {
                let sentences = latencySentences(datasets[0], tokenizer: tokenizer, maxLength: maxLength, count: options.latencySentences)
                Threads.set(1)
                let one = LatencyBenchmark.batchOne(model, sequences: sentences, warmup: options.warmup)
                Threads.set(options.allThreads)
                let all = LatencyBenchmark.batchOne(model, sequences: sentences, warmup: options.warmup)
                let throughput = LatencyBenchmark.throughput(model, sequences: sentences, batchSize: options.throughputBatchSize)
                serving = Serving(one: [one.p50Milliseconds, one.p95Milliseconds, one.p99Milliseconds],
                                  all: [all.p50Milliseconds, all.p95Milliseconds, all.p99Milliseconds],
                                  throughput: throughput, peakRSS: 0)
            }
            if index == 0 { teacherP50 = serving.one[0] }
            let row = VariantFigures(
                name: name, path: path, sizeBytes: diskSize((path as NSString).appendingPathComponent("model.safetensors")),
                parameters: model.parameterCount, evaluations: evaluations,
                latencyP50Ms: serving.one[0], latencyP95Ms: serving.one[1], latencyP99Ms: serving.one[2],
                latencyP50MsAllThreads: serving.all[0], latencyP95MsAllThreads: serving.all[1], latencyP99MsAllThreads: serving.all[2],
                throughputExamplesPerS: serving.throughput, throughputBatchSize: options.throughputBatchSize,
                speedup: serving.one[0] > 0 ? teacherP50 / serving.one[0] : 0, peakRssBytes: serving.peakRSS)
            // The figures themselves are the run's summary, printed once at the end.
            log("variants: measured \(name) (\(index + 1) of \(variants.count))")
            rows.append(row)
        }
        return rows
    }

    struct Serving {
        var one: [Double], all: [Double]   // p50, p95, p99 in ms
        var throughput: Double
        var peakRSS: Int
    }

    /// The first `count` sentences of `data` (cycled when it has fewer), tokenized.
    static func latencySentences(_ data: Dataset, tokenizer: BertTokenizer, maxLength: Int, count: Int) -> [[Int32]] {
        guard !data.texts.isEmpty else { return [] }
        return (0..<max(1, count)).map { data.encoding($0 % data.count, tokenizer: tokenizer, maxLength: maxLength) }
    }

    /// Runs `executable bench latency` at 1 thread and at `allThreads`, each in its own process.
    static func measureInChild(_ executable: String, model: String, data: String, options: Options) throws -> Serving {
        func child(threads: Int, throughput: Int) throws -> [String: Any] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            var arguments: [String] = ["bench", "latency", "--model", model, "--data", data, "--threads", String(threads),
                                       "--sentences", String(options.latencySentences), "--warmup", String(options.warmup),
                                       "--max-length", String(options.maxLength),
                                       "--throughput-batch-size", String(throughput), "--json"]
            if let column = options.dataset.textColumn { arguments += ["--text-column", column] }
            if let column = options.dataset.textPairColumn { arguments += ["--text-pair-column", column] }
            if let column = options.dataset.labelColumn { arguments += ["--label-column", column] }
            if options.dataset.skipBadRows { arguments.append("--skip-bad-rows") }
            process.arguments = arguments
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            let output = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard process.terminationStatus == 0,
                  let object = try? JSONSerialization.jsonObject(with: output) as? [String: Any] else {
                throw ModelError(file: model, "'\(executable) bench latency' failed (status \(process.terminationStatus)) with output: \(String(decoding: output, as: UTF8.self))")
            }
            return object
        }
        let one = try child(threads: 1, throughput: 0)
        let all = try child(threads: options.allThreads, throughput: options.throughputBatchSize)
        func d(_ o: [String: Any], _ k: String) -> Double { (o[k] as? NSNumber)?.doubleValue ?? 0 }
        return Serving(one: [d(one, "p50_ms"), d(one, "p95_ms"), d(one, "p99_ms")],
                       all: [d(all, "p50_ms"), d(all, "p95_ms"), d(all, "p99_ms")],
                       throughput: d(all, "throughput_examples_per_s"),
                       // Batch-1 serving only: the all-threads child also runs batches of 32.
                       peakRSS: (one["peak_rss_bytes"] as? NSNumber)?.intValue ?? 0)
    }
}
