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

    /// bf16 products keep 8 bits of mantissa: logits within this of fp32's, relative to the largest.
    let bf16Tolerance: Float = 3e-2

    /// A teacher frozen in bf16 runs bf16 products where the CPU has AVX-512 BF16 and gives fp32's
    /// logits to bf16 rounding; elsewhere it falls back to fp32 and gives fp32's logits exactly.
    func testBF16FrozenModelIsCloseToFP32OrFallsBack() throws {
        let directory = try Fixtures.path("models/teacher")
        let fp32 = try SequenceClassifier.load(directory: directory).model, bf16 = try SequenceClassifier.load(directory: directory).model
        let batch = TokenBatch(sequences: [[2, 17, 40, 55, 3], [2, 9, 3], [2, 5, 6, 7, 8, 9, 10, 11, 3], [2, 3]])
        fp32.freeze()
        bf16.freeze(precision: .bf16)
        let (a, b) = (fp32.forward(batch), bf16.forward(batch))
        if ISA.hasBF16 {
            XCTAssertEqual(bf16.frozenPrecision, .bf16)
            XCTAssertNotEqual(a, b, "bf16 products round differently")
            XCTAssertLessThan(relativeError(b, a), bf16Tolerance)
        } else {
            print("FrozenModelTests: this CPU has no AVX-512 BF16: checking the fp32 fallback instead")
            XCTAssertEqual(bf16.frozenPrecision, .fp32)
            XCTAssertEqual(a, b)
        }
    }
}
