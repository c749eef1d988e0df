import ArgumentParser
import Files
import Foundation
import Kernels
import Model
import Training

/// `edgedistill bench train-step`: full classifier training steps (forward, backward, AdamW) on
/// real sentences, reported beside oneDNN's sgemm throughput at the model's own shapes.
struct BenchTrainStep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-step",
        abstract: "Time training steps of a classifier on sentences from a TSV file.")

    @Option(help: "A Hugging Face model folder.") var model: String
    @Option(help: "A GLUE-style TSV file (sentence<TAB>label with a header).") var data: String
    @Option(name: .customLong("batch-size"), help: "Sentences per step.") var batchSize = 32
    @Option(help: "Timed steps.") var steps = 20
    @Option(help: "Untimed warm-up steps.") var warmup = 3
    @Option(help: "oneDNN threads.") var threads = 2
    @Option(name: .customLong("max-length"), help: "Tokens per sentence, [CLS] and [SEP] included.") var maxLength = 128
    @Option(help: "Seed for the batch order and dropout.") var seed: UInt64 = 0
    @Flag(name: .customLong("dense-adam"), help: "Update every word-embedding row each step (default: only the rows a batch used).")
    var denseAdam = false
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        guard batchSize > 0, steps > 0, warmup >= 0, threads > 0, maxLength > 2 else {
            throw ValidationError("--batch-size, --steps and --threads must be positive, --max-length above 2")
        }
    }

    func run() throws {
        try reportingErrors {
            Threads.set(threads)
            let loaded = try SequenceClassifier.load(directory: model, seed: seed)
            let classifier = loaded.model
            let total = warmup + steps
            let (encoded, batches) = try benchBatches(model: model, classifier: classifier, data: data,
                                                      batchSize: batchSize, count: total, maxLength: maxLength, seed: seed)
            // The trainer's own step (`TrainingStep`), as a fine-tuning run takes it.
            var options = TrainingOptions()
            options.batchSize = batchSize
            options.learningRate = 5e-5
            options.weightDecay = 0.01
            options.lazyEmbeddings = !denseAdam
            options.seed = seed
            let step = TrainingStep(model: classifier, mode: .fineTune, data: encoded, options: options, totalSteps: total)
            var timed = 0.0, tokens = 0, flops = 0.0, lastLoss: Float = 0
            for (s, indices) in batches.enumerated() {
                let start = DispatchTime.now().uptimeNanoseconds
                lastLoss = try step.run(step: s, indices).value.total
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                if s >= warmup {
                    let batch = TokenBatch(sequences: indices.map { encoded.sequences[$0] })
                    timed += seconds
                    tokens += batch.tokenCount
                    flops += trainingFLOPs(classifier.config, batch)
                }
                if !json { printError("step \(s + 1)/\(total)\(s < warmup ? " (warm-up)" : ""): loss \(String(format: "%.4f", lastLoss)), \(String(format: "%.1f", seconds * 1000)) ms") }
            }
            let meanTokens = max(tokens / steps, 1)
            let peak = peakGEMMThroughput(config: classifier.config, rows: meanTokens)
            let achieved = flops / timed / 1e9
            let result: [String: Any] = [
                "benchmark": "train-step", "model": model, "batch_size": batchSize, "steps": steps,
                "threads": threads, "examples_per_s": Double(steps * batchSize) / timed,
                "tokens_per_s": Double(tokens) / timed, "step_ms": timed / Double(steps) * 1000,
                "gflops": achieved, "peak_gflops": peak, "peak_fraction": achieved / peak,
                "mean_tokens_per_batch": meanTokens, "peak_rss_mb": ProcessMemory.peakResidentMegabytes,
                "lazy_embeddings": !denseAdam, "final_loss": Double(lastLoss),
            ]
            try printResult(result, json: json)
        }
    }
}

/// Useful FLOPs of one training step (forward, then backward at twice the forward): linear layers
/// on the real tokens, attention per sentence on its own length, and the head. Padding is not work.
func trainingFLOPs(_ c: ModelConfig, _ batch: TokenBatch) -> Double {
    let (h, f, k) = (Double(c.hiddenSize), Double(c.intermediateSize), Double(c.labelCount))
    let n = Double(batch.tokenCount), b = Double(batch.batchSize), layers = Double(c.layerCount)
    let squares = batch.layout.lengths.reduce(0.0) { $0 + Double($1) * Double($1) }
    // Every layer but the last on all tokens; the last needs k and v of all tokens and the rest
    // (q, out_lin, FFN, attention) for first tokens only (`firstTokenLayerForward`).
    let linear = 2 * n * (4 * h * h + 2 * h * f) * (layers - 1) + 2 * (n * 2 * h * h + b * (2 * h * h + 2 * h * f))
    let attention = 4 * squares * h * (layers - 1) + 4 * n * h
    let head = 2 * b * (h * h + h * k)
    return 3 * (linear + attention + head)
}

/// oneDNN sgemm GFLOP/s at the model's linear-layer shapes (forward and both backward products)
/// with `rows` tokens, FLOP-weighted: the machine's limit for this model's work.
func peakGEMMThroughput(config: ModelConfig, rows: Int) -> Double {
    let (h, f) = (config.hiddenSize, config.intermediateSize)
    // (M, N, K, transA, transB) as the model issues them.
    var shapes: [(Int, Int, Int, Bool, Bool)] = []
    for (inputs, outputs) in [(h, 3 * h), (h, h), (h, f), (f, h)] {
        shapes.append((rows, outputs, inputs, false, true))    // forward
        shapes.append((rows, inputs, outputs, false, false))   // input gradient
        shapes.append((outputs, inputs, rows, true, false))    // weight gradient
    }
    let largest = shapes.map { max($0.0 * $0.2, $0.1 * $0.2, $0.0 * $0.1) }.max() ?? 1
    let buffer = UnsafeMutablePointer<Float>.allocate(capacity: 3 * largest)
    defer { buffer.deallocate() }
    for i in 0..<(3 * largest) { buffer[i] = Float(i % 7) * 0.01 }
    var totalFLOPs = 0.0, totalSeconds = 0.0
    for (m, n, k, ta, tb) in shapes {
        let a = buffer, b = buffer + largest, c = buffer + 2 * largest
        let run = {
            gemm(transA: ta, transB: tb, m: m, n: n, k: k, a: a, lda: ta ? m : k, b: b, ldb: tb ? k : n,
                 beta: 0, c: c, ldc: n)
        }
        totalFLOPs += 2 * Double(m) * Double(n) * Double(k)
        totalSeconds += bestSeconds(run)
    }
    return totalFLOPs / totalSeconds / 1e9
}

/// The fastest of 5 rounds of 4 calls of `run`, per call, after 3 untimed calls (GEMM peaks).
func bestSeconds(_ run: () -> Void) -> Double {
    for _ in 0..<3 { run() }
    var best = Double.infinity
    for _ in 0..<5 {
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<4 { run() }
        best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 4e9)
    }
    return best
}
