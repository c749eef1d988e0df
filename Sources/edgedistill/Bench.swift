import ArgumentParser

/// `edgedistill bench ...`: performance measurements printed as JSON for BENCHMARKS.md.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure throughput against the machine's oneDNN GEMM peak.",
        subcommands: [BenchTrainStep.self, BenchTeacherPrecision.self, BenchDistillStep.self, BenchAllReduce.self, BenchScaling.self, BenchTeacherPass.self,
                      BenchLatency.self, BenchVariants.self, BenchTokenizer.self])
}

import Foundation
import Model
import Training

/// `count` batches of real sentences from `data`, in a seeded shuffled order, tokenized by the
/// model's tokenizer (tokenization is outside every timer).
func benchBatches(model: String, classifier: SequenceClassifier, data: String, batchSize: Int, count: Int,
                  maxLength: Int, seed: UInt64) throws -> (data: EncodedDataset, batches: [[Int]]) {
    let labelCount = classifier.config.labelCount
    let tokenizer = try BertTokenizer.load(directory: model)
    try classifier.checkCompatible(with: tokenizer, directory: model)
    let maxLength = classifier.fittedLength(maxLength)
    let sentences = try Dataset.load(data)
    if sentences.labelNames.count > labelCount {
        throw ModelError(file: data, "the data has \(sentences.labelNames.count) labels but the model's head has \(labelCount) (num_labels)")
    }
    var order = Array(0..<sentences.texts.count)
    var rng = NormalGenerator(seed: seed)
    for i in stride(from: order.count - 1, to: 0, by: -1) {
        order.swapAt(i, Int(rng.nextUniform() * Double(i + 1)))
    }
    // Batch s is examples s * batchSize ..< (s + 1) * batchSize of the returned dataset.
    let picked = (0..<(count * batchSize)).map { order[$0 % order.count] }
    let encoded = EncodedDataset(sequences: picked.map { sentences.encoding($0, tokenizer: tokenizer, maxLength: maxLength) },
                                 labels: picked.map { sentences.labels[$0] })
    return (encoded, (0..<count).map { Array(($0 * batchSize)..<(($0 + 1) * batchSize)) })
}

/// Prints a benchmark result as one JSON object, or as `key: value` lines.
func printResult(_ result: [String: Any], json: Bool) throws {
    if json {
        print(try jsonString(result))
    } else {
        for (key, value) in result.sorted(by: { $0.key < $1.key }) { print("\(key): \(value)") }
    }
}
