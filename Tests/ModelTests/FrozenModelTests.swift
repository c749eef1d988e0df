import XCTest
import Kernels
@testable import Model

/// A frozen model (`freeze()`: linear layers on weights reordered once for oneDNN's matmul) computes
/// the logits of the same model unfrozen, in both passes (every token's last layer and first tokens
/// only), on the tiny DistilBERT and BERT checkpoints; served models are frozen when loaded.
final class FrozenModelTests: XCTestCase {
    /// Same products in another kernel entry point: at most rounding apart (they are bit-equal here).
    let tolerance: Float = 1e-6

    func check(_ family: String) throws {
        let directory = try Fixtures.path("models/\(family)")
        let model = try SequenceClassifier.load(directory: directory).model
        let batch = TokenBatch(sequences: [[2, 17, 40, 55, 3], [2, 9, 3], [2, 5, 6, 7, 8, 9, 10, 11, 3], [2, 3]])
        let before = (model.forward(batch), model.forward(batch, allHiddenStates: true))
        XCTAssertFalse(model.isFrozen)
        model.freeze()
        XCTAssertTrue(model.isFrozen)
        let after = (model.forward(batch), model.forward(batch, allHiddenStates: true))
        XCTAssertEqual(model.frozenLayerCount, model.config.layerCount * 4 + 2 + 2,
                       "\(family): every linear layer's weights prepared (the first-token layer's q and kv blocks too)")
        XCTAssertLessThan(relativeError(after.0, before.0), tolerance, "\(family): first-token pass")
        XCTAssertLessThan(relativeError(after.1, before.1), tolerance, "\(family): every-token pass")
    }

    func testDistilBERTFrozenGivesTheSameLogits() throws { try check("distilbert") }
    func testBERTFrozenGivesTheSameLogits() throws { try check("bert") }
}
