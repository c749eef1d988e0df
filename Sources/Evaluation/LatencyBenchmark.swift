import Foundation
import Kernels
import Model

/// Serving latency of a classifier on real sentences, measured in this process.
public enum LatencyBenchmark {
    /// Percentiles of batch-1 latency and the throughput they imply.
    public struct Result: Sendable {
        public let p50Milliseconds: Double
        public let p95Milliseconds: Double
        public let p99Milliseconds: Double
        /// Sentences per second at batch 1 (sentences / total time of the timed calls).
        public let examplesPerSecond: Double
        /// Number of timed calls.
        public let count: Int

        public var jsonObject: [String: Any] {
            ["p50_ms": p50Milliseconds, "p95_ms": p95Milliseconds, "p99_ms": p99Milliseconds,
             "examples_per_s": examplesPerSecond, "sentences": count]
        }
    }

    /// Times one `logits` call per sentence (batch 1), after `warmup` untimed calls on the first
    /// sentences. `sequences` are token ids ([CLS] ... [SEP]); tokenization is outside the timer,
    /// as in PyTorch benchmarks that time `model(**inputs)`. Percentiles are nearest-rank.
    public static func batchOne(_ model: any TextClassifier, sequences: [[Int32]], warmup: Int = 20) -> Result {
        precondition(!sequences.isEmpty, "no sentences to time")
        let batches = sequences.map { TokenBatch(sequences: [$0]) }
        for i in 0..<min(warmup, batches.count) { _ = model.logits(batches[i]) }
        var times = [Double]()
        times.reserveCapacity(batches.count)
        for batch in batches {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = model.logits(batch)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        let total = times.reduce(0, +)
        return Result(p50Milliseconds: percentile(times, 50), p95Milliseconds: percentile(times, 95),
                      p99Milliseconds: percentile(times, 99),
                      examplesPerSecond: total > 0 ? Double(times.count) / (total / 1000) : 0, count: times.count)
    }

    /// Sentences per second through batches of `batchSize` consecutive sentences (one untimed batch first).
    public static func throughput(_ model: any TextClassifier, sequences: [[Int32]], batchSize: Int) -> Double {
        precondition(!sequences.isEmpty && batchSize > 0, "no sentences to time")
        let batches = stride(from: 0, to: sequences.count, by: batchSize).map {
            TokenBatch(sequences: Array(sequences[$0..<min($0 + batchSize, sequences.count)]))
        }
        _ = model.logits(batches[0])
        let start = DispatchTime.now().uptimeNanoseconds
        for batch in batches { _ = model.logits(batch) }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return seconds > 0 ? Double(sequences.count) / seconds : 0
    }

    /// Nearest-rank percentile of `values` (`p` in 0...100).
    public static func percentile(_ values: [Double], _ p: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
        return sorted[max(0, min(sorted.count - 1, rank - 1))]
    }
}
