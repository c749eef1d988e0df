import XCTest
@testable import Model

/// Gradients injected at intermediate hidden states (used by hidden-state distillation) reach the
/// parameters correctly: checked against central finite differences of the Float32 model.
final class HiddenGradientTests: XCTestCase {
    func testInjectedHiddenGradientMatchesFiniteDifferences() throws {
        let model = try SequenceClassifier.load(directory: try Fixtures.path("models/distilbert")).model
        let batch = TokenBatch(sequences: [[2, 17, 40, 55, 3], [2, 9, 3]])
        let layer = 1
        model.forward(batch)
        let count = model.hiddenStates(after: layer).count
        var rng = NormalGenerator(seed: 9)
        let weights = (0..<count).map { _ in rng.next() }
        // Loss = sum(weights * hidden states after `layer`); its gradient there is `weights`.
        func loss() -> Double {
            model.forward(batch)
            return zip(model.hiddenStates(after: layer), weights).reduce(0.0) { $0 + Double($1.0 * $1.1) }
        }
        _ = loss()
        model.zeroGradients()
        model.backward([Float](repeating: 0, count: 2 * model.config.labelCount), hiddenGradients: [layer: weights])
        var checked = 0
        for name in ["transformer.layer.0.ffn.lin1.weight", "transformer.layer.0.attention.q_lin.weight",
                     "transformer.layer.1.output_layer_norm.bias", "embeddings.position_embeddings.weight"] {
            let entry = model.layout[name]!
            let analytic = model.gradients.values(entry)
            // The largest few analytic entries: well above Float32 finite-difference noise.
            let picks = analytic.indices.sorted { abs(analytic[$0]) > abs(analytic[$1]) }.prefix(3)
            for i in picks {
                let p = model.parameters[entry] + i
                let saved = p.pointee, h: Float = 1e-2
                p.pointee = saved + h; let up = loss()
                p.pointee = saved - h; let down = loss()
                p.pointee = saved
                let numeric = (up - down) / Double(2 * h)
                XCTAssertEqual(Double(analytic[i]), numeric, accuracy: 2e-2 * max(1, abs(numeric)), "\(name)[\(i)]")
                checked += 1
            }
        }
        XCTAssertEqual(checked, 12)
        // Layers above `layer` and the head get nothing from a loss on `layer`'s output.
        let above = model.gradients.values(model.layout["classifier.weight"]!)
        XCTAssertEqual(above.map(abs).max(), 0)
    }
}
