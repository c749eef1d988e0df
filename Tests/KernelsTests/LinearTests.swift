import XCTest
import Kernels

/// `linearForward`/`linearBackward` against `Reference.linear` and its finite-difference gradient
/// for the input, weight and bias, plus the accumulate/overwrite contract.
final class LinearTests: XCTestCase {
    let forwardTolerance = 1e-5
    let gradientTolerance = 1e-3
    let contractTolerance = 1e-6

    struct Case {
        let rows, inputs, outputs: Int
        let inp, weight, bias: [Float]
        init(rows: Int, inputs: Int, outputs: Int, seed: UInt64) {
            (self.rows, self.inputs, self.outputs) = (rows, inputs, outputs)
            inp = randomFloats(rows * inputs, seed: seed)
            weight = randomFloats(outputs * inputs, seed: seed + 1)
            bias = randomFloats(outputs, seed: seed + 2)
        }
        func reference(_ inp: [Double], _ weight: [Double], _ bias: [Double]?) -> [Double] {
            Reference.linear(inp, weight, bias, rows: rows, inputs: inputs, outputs: outputs)
        }
    }

    let cases = [Case(rows: 7, inputs: 13, outputs: 5, seed: 1), Case(rows: 3, inputs: 67, outputs: 69, seed: 2)]

    func testForwardMatchesReference() {
        for c in cases {
            var out = [Float](repeating: .nan, count: c.rows * c.outputs)
            linearForward(&out, c.inp, c.weight, c.bias, rows: c.rows, inputs: c.inputs, outputs: c.outputs)
            assertClose(out, c.reference(widened(c.inp), widened(c.weight), widened(c.bias)),
                        tolerance: forwardTolerance, "linear \(c.rows)x\(c.inputs)x\(c.outputs)")
            // Without bias, out starts as NaN and must be overwritten (beta = 0).
            var plain = [Float](repeating: .nan, count: c.rows * c.outputs)
            linearForward(&plain, c.inp, c.weight, nil, rows: c.rows, inputs: c.inputs, outputs: c.outputs)
            assertClose(plain, c.reference(widened(c.inp), widened(c.weight), nil),
                        tolerance: forwardTolerance, "linear without bias \(c.rows)x\(c.inputs)x\(c.outputs)")
        }
    }

    /// Frozen weights (reordered once for oneDNN's matmul) give sgemm's products, with and without
    /// bias, for one row and for many, and for a block of rows of a larger weight matrix (as the
    /// first-token layer uses q_lin's and [k_lin | v_lin]'s parts of one qkv matrix).
    func testFrozenWeightsGiveTheSameProducts() throws {
        for c in cases + [Case(rows: 1, inputs: 384, outputs: 1152, seed: 3), Case(rows: 213, inputs: 384, outputs: 384, seed: 4)] {
            let frozen = try XCTUnwrap(c.weight.withUnsafeBufferPointer { FrozenWeights(weight: $0.baseAddress!, n: c.outputs, k: c.inputs) })
            for bias in [c.bias, nil] {
                var plain = [Float](repeating: .nan, count: c.rows * c.outputs)
                var fast = [Float](repeating: .nan, count: c.rows * c.outputs)
                linearForward(&plain, c.inp, c.weight, bias, rows: c.rows, inputs: c.inputs, outputs: c.outputs)
                linearForward(&fast, c.inp, c.weight, bias, rows: c.rows, inputs: c.inputs, outputs: c.outputs, frozen: frozen)
                assertClose(fast, widened(plain), tolerance: contractTolerance,
                            "frozen \(c.rows)x\(c.inputs)x\(c.outputs), bias \(bias != nil)")
                assertClose(fast, c.reference(widened(c.inp), widened(c.weight), bias.map(widened)),
                            tolerance: forwardTolerance, "frozen against the reference")
            }
        }
        // Rows 2..<5 of a (6, 8) matrix.
        let big = Case(rows: 4, inputs: 8, outputs: 6, seed: 5)
        let block = Array(big.weight[16..<40])
        let frozen = try XCTUnwrap(big.weight.withUnsafeBufferPointer { FrozenWeights(weight: $0.baseAddress! + 16, n: 3, k: 8) })
        var out = [Float](repeating: .nan, count: 4 * 3)
        linearForward(&out, big.inp, block, nil, rows: 4, inputs: 8, outputs: 3, frozen: frozen)
        assertClose(out, Reference.linear(widened(big.inp), widened(block), nil, rows: 4, inputs: 8, outputs: 3),
                    tolerance: forwardTolerance, "frozen block of rows")
    }

    func testBackwardMatchesFiniteDifferences() {
        for (i, c) in [cases[0], Case(rows: 3, inputs: 67, outputs: 5, seed: 3)].enumerated() {
            let w = randomFloats(c.rows * c.outputs, seed: 50 + UInt64(i))
            var dinp = [Float](repeating: .nan, count: c.rows * c.inputs)
            var dweight = [Float](repeating: 0, count: c.outputs * c.inputs)
            var dbias = [Float](repeating: 0, count: c.outputs)
            linearBackward(&dinp, &dweight, &dbias, w, c.inp, c.weight,
                           rows: c.rows, inputs: c.inputs, outputs: c.outputs)
            let (x, wt, b, dw) = (widened(c.inp), widened(c.weight), widened(c.bias), widened(w))
            let label = "linear \(c.rows)x\(c.inputs)x\(c.outputs)"
            assertClose(dinp, numericGradient(of: { c.reference($0, wt, b) }, at: x, weights: dw),
                        tolerance: gradientTolerance, "\(label) dinp")
            assertClose(dweight, numericGradient(of: { c.reference(x, $0, b) }, at: wt, weights: dw),
                        tolerance: gradientTolerance, "\(label) dweight")
            assertClose(dbias, numericGradient(of: { c.reference(x, wt, $0) }, at: b, weights: dw),
                        tolerance: gradientTolerance, "\(label) dbias")
        }
    }

    func testParameterGradientsAccumulateAndInputGradientOverwritesOrAccumulates() {
        let c = cases[0]
        let dout = randomFloats(c.rows * c.outputs, seed: 60)
        func backward(_ dinp: inout [Float], _ dweight: inout [Float], _ dbias: inout [Float], accumulate: Bool) {
            linearBackward(&dinp, &dweight, &dbias, dout, c.inp, c.weight,
                           rows: c.rows, inputs: c.inputs, outputs: c.outputs, accumulate: accumulate)
        }
        var dinp1 = [Float](repeating: 0, count: c.rows * c.inputs)
        var dw1 = [Float](repeating: 0, count: c.outputs * c.inputs), db1 = [Float](repeating: 0, count: c.outputs)
        backward(&dinp1, &dw1, &db1, accumulate: false)

        // Twice: parameters double, the input gradient is overwritten (same as once).
        var dinp2 = randomFloats(c.rows * c.inputs, seed: 61)
        var dw2 = [Float](repeating: 0, count: c.outputs * c.inputs), db2 = [Float](repeating: 0, count: c.outputs)
        backward(&dinp2, &dw2, &db2, accumulate: false)
        backward(&dinp2, &dw2, &db2, accumulate: false)
        assertClose(dw2, dw1.map { 2 * Double($0) }, tolerance: contractTolerance, "dweight twice")
        assertClose(db2, db1.map { 2 * Double($0) }, tolerance: contractTolerance, "dbias twice")
        assertClose(dinp2, widened(dinp1), tolerance: contractTolerance, "dinp overwritten")

        // accumulate: true adds to what is there.
        let existing = randomFloats(c.rows * c.inputs, seed: 62)
        var dinp3 = existing
        backward(&dinp3, &dw2, &db2, accumulate: true)
        assertClose(dinp3, zip(existing, dinp1).map { Double($0) + Double($1) },
                    tolerance: contractTolerance, "dinp accumulate")

        // No input gradient: parameters still accumulate.
        var dw4 = [Float](repeating: 0, count: c.outputs * c.inputs)
        linearBackward(nil, &dw4, nil, dout, c.inp, c.weight, rows: c.rows, inputs: c.inputs, outputs: c.outputs)
        assertClose(dw4, widened(dw1), tolerance: contractTolerance, "dweight without dinp")
    }
}
