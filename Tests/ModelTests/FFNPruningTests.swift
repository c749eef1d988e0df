import Foundation
import XCTest
@testable import Model

/// Model surgery of FFN pruning on the tiny DistilBERT fixture: keeping every neuron changes no
/// logit; removing neurons that contribute nothing (their lin2 columns zero) changes none beyond
/// float summation order; the kept neurons are the most important ones; impossible targets refuse.
final class FFNPruningTests: XCTestCase {
    func model() throws -> SequenceClassifier {
        try SequenceClassifier.load(directory: try Fixtures.path("models/distilbert")).model
    }

    let batch = TokenBatch(sequences: [[2, 10, 11, 12, 3], [2, 40, 3], [2, 7, 8, 9, 10, 11, 12, 3]])

    func testKeepingEveryNeuronIsTheSameModel() throws {
        let m = try model()
        let f = m.config.intermediateSize
        let all = try m.pruningFFN(keep: f, importance: Array(repeating: (0..<f).map(Double.init), count: m.config.layerCount))
        XCTAssertEqual(all.forward(batch), m.forward(batch))
    }

    func testRemovingSilentNeuronsKeepsTheLogits() throws {
        let m = try model()
        let (c, f) = (m.config.hiddenSize, m.config.intermediateSize)
        var importance = [[Double]]()
        for l in 0..<m.config.layerCount {
            // Every third neuron made silent: its lin2 column zero, and ranked last.
            let w2 = m.parameter("transformer.layer.\(l).ffn.lin2.weight")
            var scores = [Double](repeating: 1, count: f)
            for n in stride(from: 0, to: f, by: 3) {
                for out in 0..<c { w2[out * f + n] = 0 }
                scores[n] = 0
            }
            importance.append(scores)
        }
        let silent = (f + 2) / 3
        let pruned = try m.pruningFFN(keep: f - silent, importance: importance)
        XCTAssertEqual(pruned.config.intermediateSize, f - silent)
        XCTAssertLessThan(pruned.parameterCount, m.parameterCount)
        let (a, b) = (pruned.forward(batch), m.forward(batch))
        let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 1
        XCTAssertLessThan(worst, 1e-5, "removing silent neurons changed the logits by \(worst)")
    }

    func testImpossibleTargetsAreRefused() throws {
        let m = try model()
        let scores = Array(repeating: [Double](repeating: 1, count: m.config.intermediateSize), count: m.config.layerCount)
        XCTAssertThrowsError(try m.pruningFFN(keep: 0, importance: scores)) { XCTAssertTrue("\($0)".contains("cannot remove every neuron")) }
        XCTAssertThrowsError(try m.pruningFFN(keep: m.config.intermediateSize + 1, importance: scores))
        XCTAssertThrowsError(try m.pruningFFN(keep: 4, importance: [[1]]))
    }
}
