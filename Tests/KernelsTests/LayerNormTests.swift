import XCTest
import Kernels

/// `layerNormForward`/`layerNormBackward` against `Reference.layerNorm` (output, mean, rstd) and its
/// finite-difference gradient for the input, gamma and beta, plus the accumulate contract.
final class LayerNormTests: XCTestCase {
    let forwardTolerance = 1e-5
    let gradientTolerance = 1e-3
    let contractTolerance = 1e-6
    let epsilon: Float = 1e-5

    struct Case {
        let rows, features: Int
        let inp, gamma, beta: [Float]
        init(rows: Int, features: Int, seed: UInt64) {
            (self.rows, self.features) = (rows, features)
            // An offset and a spread per row, so the mean and variance matter.
            let raw = randomFloats(rows * features, seed: seed)
            inp = raw.indices.map { raw[$0] * Float(1 + $0 / features) + 0.5 * Float($0 / features) }
            gamma = randomFloats(features, seed: seed + 1, in: 0.5...1.5)
            beta = randomFloats(features, seed: seed + 2)
        }
    }

    let cases = [Case(rows: 7, features: 13, seed: 1), Case(rows: 3, features: 67, seed: 2)]

    func reference(_ c: Case, _ inp: [Double], _ gamma: [Double], _ beta: [Double]) -> [Double] {
        Reference.layerNorm(inp, gamma: gamma, beta: beta, rows: c.rows, features: c.features,
                            epsilon: Double(epsilon))
    }

    func forward(_ c: Case) -> (out: [Float], mean: [Float], rstd: [Float]) {
        var out = [Float](repeating: .nan, count: c.rows * c.features)
        var mean = [Float](repeating: .nan, count: c.rows), rstd = mean
        layerNormForward(&out, &mean, &rstd, c.inp, c.gamma, c.beta, rows: c.rows, features: c.features,
                         epsilon: epsilon)
        return (out, mean, rstd)
    }

    func testForwardMatchesReference() {
        for c in cases {
            let (out, mean, rstd) = forward(c)
            assertClose(out, reference(c, widened(c.inp), widened(c.gamma), widened(c.beta)),
                        tolerance: forwardTolerance, "layerNorm \(c.rows)x\(c.features)")
            let x = widened(c.inp), n = Double(c.features)
            let means = (0..<c.rows).map { r in x[(r * c.features)..<((r + 1) * c.features)].reduce(0, +) / n }
            let rstds = (0..<c.rows).map { r in
                1 / (x[(r * c.features)..<((r + 1) * c.features)].map { ($0 - means[r]) * ($0 - means[r]) }
                        .reduce(0, +) / n + Double(epsilon)).squareRoot()
            }
            assertClose(mean, means, tolerance: forwardTolerance, "layerNorm mean")
            assertClose(rstd, rstds, tolerance: forwardTolerance, "layerNorm rstd")
        }
    }

    func testBackwardMatchesFiniteDifferences() {
        for (i, c) in cases.enumerated() {
            let (_, mean, rstd) = forward(c)
            let w = randomFloats(c.rows * c.features, seed: 50 + UInt64(i))
            var dinp = [Float](repeating: .nan, count: c.rows * c.features)
            var dgamma = [Float](repeating: 0, count: c.features), dbeta = dgamma
            layerNormBackward(&dinp, &dgamma, &dbeta, w, c.inp, c.gamma, mean, rstd,
                              rows: c.rows, features: c.features)
            let (x, g, b, dw) = (widened(c.inp), widened(c.gamma), widened(c.beta), widened(w))
            let label = "layerNorm \(c.rows)x\(c.features)"
            assertClose(dinp, numericGradient(of: { self.reference(c, $0, g, b) }, at: x, weights: dw),
                        tolerance: gradientTolerance, "\(label) dinp")
            assertClose(dgamma, numericGradient(of: { self.reference(c, x, $0, b) }, at: g, weights: dw),
                        tolerance: gradientTolerance, "\(label) dgamma")
            assertClose(dbeta, numericGradient(of: { self.reference(c, x, g, $0) }, at: b, weights: dw),
                        tolerance: gradientTolerance, "\(label) dbeta")
        }
    }

    func testParameterGradientsAccumulateAndInputGradientOverwritesOrAccumulates() {
        let c = cases[0]
        let (_, mean, rstd) = forward(c)
        let dout = randomFloats(c.rows * c.features, seed: 60)
        func backward(_ dinp: inout [Float], _ dgamma: inout [Float], _ dbeta: inout [Float], accumulate: Bool) {
            layerNormBackward(&dinp, &dgamma, &dbeta, dout, c.inp, c.gamma, mean, rstd,
                              rows: c.rows, features: c.features, accumulate: accumulate)
        }
        let zeros = [Float](repeating: 0, count: c.features)
        var dinp1 = [Float](repeating: 0, count: c.rows * c.features), dg1 = zeros, db1 = zeros
        backward(&dinp1, &dg1, &db1, accumulate: false)

        var dinp2 = randomFloats(c.rows * c.features, seed: 61), dg2 = zeros, db2 = zeros
        backward(&dinp2, &dg2, &db2, accumulate: false)
        backward(&dinp2, &dg2, &db2, accumulate: false)
        assertClose(dg2, dg1.map { 2 * Double($0) }, tolerance: contractTolerance, "dgamma twice")
        assertClose(db2, db1.map { 2 * Double($0) }, tolerance: contractTolerance, "dbeta twice")
        assertClose(dinp2, widened(dinp1), tolerance: contractTolerance, "dinp overwritten")

        let existing = randomFloats(c.rows * c.features, seed: 62)
        var dinp3 = existing
        backward(&dinp3, &dg2, &db2, accumulate: true)
        assertClose(dinp3, zip(existing, dinp1).map { Double($0) + Double($1) },
                    tolerance: contractTolerance, "dinp accumulate")
    }
}
