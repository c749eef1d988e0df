import XCTest
import Kernels
@testable import Model

/// The last layer run on first tokens only (the default pass) against the same layer run on every
/// token (`allHiddenStates`), on the tiny DistilBERT and BERT checkpoints with dropout on and a
/// batch that is a share of a larger one (non-zero origin): equal logits and equal gradients for
/// every parameter, so the shortcut changes nothing but the work done.
final class FirstTokenLayerTests: XCTestCase {
    /// Both passes run in Float32 and differ only in GEMM shapes (summation order).
    let tolerance: Float = 1e-5

    func check(_ family: String) throws {
        let model = try SequenceClassifier.load(directory: try Fixtures.path("models/\(family)")).model
        XCTAssertGreaterThan(model.config.hiddenDropout, 0, "\(family): the check needs dropout on")
        XCTAssertGreaterThan(model.config.attentionDropout, 0, "\(family): the check needs dropout on")
        var batch = TokenBatch(sequences: [[2, 17, 40, 55, 3], [2, 9, 3], [2, 5, 6, 7, 8, 9, 10, 11, 3], [2, 3]])
        batch.origin = (sentences: 3, tokens: 21)
        var rng = NormalGenerator(seed: 12)
        let dlogits = (0..<(batch.batchSize * model.config.labelCount)).map { _ in rng.next() }

        func pass(allHiddenStates: Bool) -> (logits: [Float], gradients: [Float]) {
            let logits = model.forward(batch, dropoutSeed: 99, allHiddenStates: allHiddenStates)
            model.zeroGradients()
            model.backward(dlogits)
            return (logits, Array(UnsafeBufferPointer(start: model.gradients.base, count: model.gradients.count)))
        }
        let full = pass(allHiddenStates: true), first = pass(allHiddenStates: false)
        XCTAssertLessThan(relativeError(first.logits, full.logits), tolerance, "\(family): logits")
        var checked = 0
        for entry in model.layout.entries {
            let range = entry.offset..<(entry.offset + entry.count)
            let expected = Array(full.gradients[range])
            guard expected.contains(where: { $0 != 0 }) else { continue }
            if entry.name.hasSuffix("k_lin.bias") {
                // Zero in exact arithmetic (softmax ignores a constant added to every score): both are
                // rounding noise, so only their size is checked.
                XCTAssertLessThan(first.gradients[range].map(abs).max() ?? 0, Tolerance.zeroGradient, "\(family): \(entry.name)")
                continue
            }
            XCTAssertLessThan(relativeError(Array(first.gradients[range]), expected), tolerance, "\(family): \(entry.name)")
            checked += 1
        }
        XCTAssertGreaterThan(checked, 20, "\(family): too few non-zero gradients compared")
    }

    func testDistilBERTFirstTokenLayerEqualsFullLayer() throws { try check("distilbert") }
    func testBERTFirstTokenLayerEqualsFullLayer() throws { try check("bert") }
}
