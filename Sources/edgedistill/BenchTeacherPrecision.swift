import ArgumentParser
import Foundation
import Kernels
import Model
import Training

/// `edgedistill bench teacher-precision --model TEACHER --data FILE`: the frozen teacher's forward
/// pass in fp32 and in bf16 (`FrozenWeights.Precision`) on the same sentences, in the length-sorted
/// batches the teacher pass of distillation uses: how often the argmax agrees, how far the
/// distillation targets move (KL of the softened fp32 distribution to the bf16 one, T = 1 and 2), the
/// accuracy of each, and examples per second of each, interleaved over `--rounds`; also GFLOP/s
/// of each against oneDNN's matmul on frozen weights at the teacher's forward shapes in the same
/// precision, measured in the same run (the machine's limit for teacher labelling).
struct BenchTeacherPrecision: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "teacher-precision", abstract: "A frozen teacher's logits and speed in fp32 and bf16 on the same sentences.")

    @Option(help: "A model folder with a trained head (fp32).") var model: String
    @Option(help: "Labelled sentences (TSV with header, CSV or JSONL).") var data: String
    @Option(help: "oneDNN threads.") var threads = 2
    @Option(name: .customLong("batch-size")) var batchSize = 64
    @Option(help: "Timed passes over the data for each precision, interleaved.") var rounds = 2
    @Option(name: .customLong("max-length")) var maxLength = 128
    @OptionGroup var columns: DataColumnOptions
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        guard threads >= 1, batchSize >= 1, rounds >= 1 else { throw ValidationError("--threads, --batch-size and --rounds must be at least 1") }
    }

    func run() throws {
        try reportingErrors {
            Threads.set(threads)
            let tokenizer = try BertTokenizer.load(directory: model)
            let dataset = try Dataset.load(data, options: columns.datasetOptions())
            var models: [(FrozenWeights.Precision, SequenceClassifier)] = []
            for precision in FrozenWeights.Precision.allCases {
                let loaded = try SequenceClassifier.load(directory: model)
                if loaded.initializedHead { throw ModelError(file: model, "this model has no trained classification head") }
                try loaded.model.checkCompatible(with: tokenizer, directory: model)
                loaded.model.freeze(precision: precision)
                models.append((precision, loaded.model))
            }
            let encoded = EncodedDataset(dataset, tokenizer: tokenizer, maxLength: models[0].1.fittedLength(maxLength))
            let order = encoded.sequences.indices.sorted { encoded.sequences[$0].count < encoded.sequences[$1].count }
            let batches = stride(from: 0, to: order.count, by: batchSize).map { Array(order[$0..<min($0 + batchSize, order.count)]) }
            let k = models[0].1.config.labelCount
            var logits: [[Float]] = [[], []], seconds: [[Double]] = [[], []]
            // Useful forward FLOPs of the pass (the training step's count over 3: the forward alone).
            let flops = batches.reduce(0.0) { total, batch in
                total + trainingFLOPs(models[0].1.config, TokenBatch(sequences: batch.map { encoded.sequences[$0] })) / 3
            }
            let meanRows = max(1, encoded.sequences.reduce(0) { $0 + $1.count } / max(batches.count, 1))
            // Untimed: the primitives, the reordered weights and the buffers at their largest shapes.
            for (_, classifier) in models {
                for batch in [batches.first, batches.last].compactMap({ $0 }) {
                    classifier.forward(TokenBatch(sequences: batch.map { encoded.sequences[$0] }))
                }
            }
            for round in 0..<rounds {
                for (m, (_, classifier)) in models.enumerated() {
                    var all = [Float](repeating: 0, count: encoded.count * k)
                    let started = DispatchTime.now().uptimeNanoseconds
                    for batch in batches {
                        let values = classifier.forward(TokenBatch(sequences: batch.map { encoded.sequences[$0] }))
                        for (row, index) in batch.enumerated() { for j in 0..<k { all[index * k + j] = values[row * k + j] } }
                    }
                    seconds[m].append(Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
                    if round == 0 { logits[m] = all }
                }
            }
            func softmax(_ row: ArraySlice<Float>, _ t: Double) -> [Double] {
                let scaled = row.map { Double($0) / t }, top = scaled.max() ?? 0
                let e = scaled.map { exp($0 - top) }, sum = e.reduce(0, +)
                return e.map { $0 / sum }
            }
            var agree = 0, correct = [0, 0]
            var kl: [Double: (mean: Double, max: Double)] = [1: (0, 0), 2: (0, 0)]
            for i in 0..<encoded.count {
                let (a, b) = (logits[0][(i * k)..<((i + 1) * k)], logits[1][(i * k)..<((i + 1) * k)])
                let argmax = { (v: ArraySlice<Float>) in v.indices.max { v[$0] < v[$1] }.map { $0 - v.startIndex } ?? 0 }
                if argmax(a) == argmax(b) { agree += 1 }
                if argmax(a) == Int(encoded.labels[i]) { correct[0] += 1 }
                if argmax(b) == Int(encoded.labels[i]) { correct[1] += 1 }
                for t in [1.0, 2.0] {
                    let (p, q) = (softmax(a, t), softmax(b, t))
                    let d = zip(p, q).reduce(0.0) { $0 + ($1.0 > 0 ? $1.0 * log($1.0 / max($1.1, 1e-300)) : 0) }
                    kl[t] = ((kl[t]?.mean ?? 0) + d / Double(encoded.count), max(kl[t]?.max ?? 0, d))
                }
            }
            let n = Double(encoded.count)
            // The limit: oneDNN's matmul on frozen weights at the teacher's forward shapes, rows = the
            // mean tokens of a batch, in each precision, measured now.
            let peaks = models.map { precision, classifier in
                peakFrozenMatmulThroughput(config: classifier.config, rows: meanRows,
                                           precision: classifier.frozenPrecision ?? precision)
            }
            let achieved = (0..<2).map { m in seconds[m].map { flops / $0 / 1e9 } }
            let result: [String: Any] = [
                "examples": encoded.count, "threads": threads, "batch_size": batchSize,
                "bf16_in_use": models[1].1.frozenPrecision?.rawValue ?? "none", "cpu": ISA.summary,
                "argmax_agreement": Double(agree) / n,
                "accuracy_fp32": Double(correct[0]) / n, "accuracy_bf16": Double(correct[1]) / n,
                "kl_t1_mean": kl[1]?.mean ?? 0, "kl_t1_max": kl[1]?.max ?? 0, "kl_t2_mean": kl[2]?.mean ?? 0, "kl_t2_max": kl[2]?.max ?? 0,
                "examples_per_s_fp32": seconds[0].map { n / $0 }, "examples_per_s_bf16": seconds[1].map { n / $0 },
                "gflops_fp32": achieved[0], "gflops_bf16": achieved[1],
                "matmul_peak_gflops_fp32": peaks[0], "matmul_peak_gflops_bf16": peaks[1], "peak_rows": meanRows,
                "peak_fraction_fp32": achieved[0].map { $0 / peaks[0] }, "peak_fraction_bf16": achieved[1].map { $0 / peaks[1] },
            ]
            try printResult(result, json: json)
        }
    }
}

/// oneDNN matmul GFLOP/s on frozen weights (`FrozenWeights`, `precision`) at the forward shapes of
/// the model's linear layers with `rows` rows, FLOP-weighted.
func peakFrozenMatmulThroughput(config: ModelConfig, rows: Int, precision: FrozenWeights.Precision) -> Double {
    let (h, f) = (config.hiddenSize, config.intermediateSize)
    var totalFLOPs = 0.0, totalSeconds = 0.0
    for (inputs, outputs) in [(h, 3 * h), (h, h), (h, f), (f, h)] {
        let weight = (0..<(inputs * outputs)).map { Float($0 % 13) * 0.01 - 0.06 }
        let input = (0..<(rows * inputs)).map { Float($0 % 7) * 0.01 }
        let bias = [Float](repeating: 0, count: outputs)
        var out = [Float](repeating: 0, count: rows * outputs)
        let frozen = weight.withUnsafeBufferPointer { FrozenWeights(weight: $0.baseAddress!, n: outputs, k: inputs, precision: precision) }
        let run = {
            linearForward(&out, input, weight, bias, rows: rows, inputs: inputs, outputs: outputs, frozen: frozen)
        }
        totalFLOPs += 2 * Double(rows) * Double(inputs) * Double(outputs)
        totalSeconds += bestSeconds(run)
    }
    return totalFLOPs / totalSeconds / 1e9
}
