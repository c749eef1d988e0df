import Foundation
import XCTest
import Kernels
import Model
@testable import Evaluation

/// Latency orderings that must hold whatever the machine and build: at the student's real shapes
/// (hidden 384, FFN 1536, 12 heads, sentences of 16 tokens) a model with twice the layers is slower,
/// measured in the same run, and percentiles are ordered. (int8 against fp32 is compared where the
/// build cannot tilt it, on the products themselves: `QuantizedLinearTests`.) Rounds alternate
/// between the models and each keeps its best p50, so a burst of load on the shared machine cannot
/// land on one side only.
final class LatencyOrderingTests: XCTestCase {
    func randomModel(layers: Int) -> SequenceClassifier {
        let config = ModelConfig(modelType: .distilbert, vocabularySize: 2_000, hiddenSize: 384, layerCount: layers,
                                 headCount: 12, intermediateSize: 1_536, maxPositions: 128, labelCount: 2)
        let model = SequenceClassifier(config: config, headActivation: .relu)
        var rng = NormalGenerator(seed: UInt64(layers))
        for entry in model.layout.entries {
            let p = model.parameters[entry]
            let isNorm = entry.name.contains("layer_norm") || entry.name.contains("LayerNorm")
            for i in 0..<entry.count { p[i] = isNorm && entry.name.hasSuffix("weight") ? 1 : rng.next() * 0.02 }
        }
        return model
    }

    func testMoreLayersAreSlowerAndPercentilesAreOrdered() throws {
        let saved = Threads.count
        Threads.set(1)
        defer { Threads.set(saved) }
        var rng = NormalGenerator(seed: 9)
        let sentences: [[Int32]] = (0..<20).map { _ in [101] + (0..<14).map { _ in Int32(200 + rng.nextUniform() * 1_700) } + [102] }
        let fp32 = randomModel(layers: 2)
        let int8 = try fp32.quantized(.int8Dynamic)
        fp32.freeze()   // served fp32 models run on weights prepared once, as ClassifierLoader serves them
        let deeper = randomModel(layers: 4)
        deeper.freeze()
        var best = (fp32: Double.infinity, deeper: Double.infinity)
        for _ in 0..<3 {
            best.fp32 = min(best.fp32, LatencyBenchmark.batchOne(fp32, sequences: sentences, warmup: 5).p50Milliseconds)
            best.deeper = min(best.deeper, LatencyBenchmark.batchOne(deeper, sequences: sentences, warmup: 5).p50Milliseconds)
        }
        print(String(format: "latency ordering: p50 2 layers %.3f ms, 4 layers %.3f ms", best.fp32, best.deeper))
        XCTAssertGreaterThan(best.deeper, best.fp32, "4 layers no slower than 2")
        let one = LatencyBenchmark.batchOne(int8, sequences: sentences, warmup: 5)
        XCTAssertLessThanOrEqual(one.p50Milliseconds, one.p95Milliseconds)
        XCTAssertLessThanOrEqual(one.p95Milliseconds, one.p99Milliseconds)
        XCTAssertEqual(one.count, sentences.count)
    }
}
