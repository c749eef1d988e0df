import Foundation
import XCTest
import Model
import Training
@testable import Evaluation

/// A validation split over workers: the parts' confusion counts add up to the whole set's metrics.
final class ValidatorTests: XCTestCase {
    func model(labels: Int) -> SequenceClassifier {
        let config = ModelConfig(modelType: .bert, vocabularySize: 200, hiddenSize: 32, layerCount: 1,
                                 headCount: 4, intermediateSize: 64, maxPositions: 64, labelCount: labels)
        let model = SequenceClassifier(config: config, headActivation: .tanh)
        var rng = NormalGenerator(seed: 3)
        for entry in model.layout.entries {
            let p = model.parameters[entry]
            let isNorm = entry.name.contains("LayerNorm")
            for i in 0..<entry.count { p[i] = isNorm && entry.name.hasSuffix("weight") ? 1 : rng.next() * 0.5 }
        }
        return model
    }

    func testPartsAddUpToTheWholeSet() {
        let classes = 3
        var rng = NormalGenerator(seed: 11)
        let sequences: [[Int32]] = (0..<103).map { i in [101] + (0..<(1 + i % 17)).map { _ in Int32(110 + rng.nextUniform() * 80) } + [102] }
        let labels = (0..<103).map { Int32($0 % classes) }
        let data = EncodedDataset(sequences: sequences, labels: labels)
        let model = model(labels: classes)
        let validator = Evaluator.validator(on: data, batchSize: 8)
        let whole = validator(model)
        let reference = Evaluator.evaluate(model, on: data, batchSize: 8).metrics
        XCTAssertEqual(whole.accuracy, reference.accuracy)
        XCTAssertEqual(whole.macroF1, reference.macroF1, accuracy: 1e-12)
        XCTAssertGreaterThan(whole.accuracy, 0)
        XCTAssertLessThan(whole.accuracy, 1, "a random model should not be perfect: the test would not see a lost part")
        for parts in [1, 2, 3, 7] {
            let split = validator.split(into: parts)
            XCTAssertEqual(split.count, parts)
            XCTAssertEqual(split.flatMap { $0 }.sorted(), Array(0..<103), "every example in exactly one part")
            XCTAssertLessThanOrEqual(split.map(\.count).max()! - split.map(\.count).min()!, 1)
            var sum = [[Int]](repeating: [Int](repeating: 0, count: classes), count: classes)
            for part in split {
                let counts = validator.count(model, part)
                for t in 0..<classes { for p in 0..<classes { sum[t][p] += counts[t][p] } }
            }
            XCTAssertEqual(sum, reference.confusion, "\(parts) parts")
            let scored = validator.score(sum)
            XCTAssertEqual(scored.accuracy, whole.accuracy)
            XCTAssertEqual(scored.macroF1, whole.macroF1)
        }
    }
}
