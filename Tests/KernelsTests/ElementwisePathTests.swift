import XCTest
@testable import Kernels

/// The AVX-512 element-wise kernels (CKernels/elementwise.c) against the Swift loops every other
/// path runs: int8 activation codes bit for bit, float kernels within named tolerances (sums run
/// in another order). Skipped, with a printed reason, on a CPU without the avx512 path.
final class ElementwisePathTests: XCTestCase {
    /// GELU uses the same polynomials in both: equal up to an ulp or two of the argument's scale.
    let geluTolerance = 1e-6
    /// LayerNorm, attention and the dequantizing epilogue: fp32 sums in another order.
    let sumTolerance = 2e-6

    override func setUpWithError() throws {
        guard ISA.detected >= .avx512 else {
            print("ElementwisePathTests: skipped: this CPU supports \(ISA.detected.rawValue), not avx512")
            throw XCTSkip("this CPU lacks the avx512 path")
        }
    }

    func testQuantizationCodesAreBitIdentical() {
        for (s, (rows, inputs)) in [(1, 384), (15, 384), (4, 1536), (3, 33), (2, 5), (5, 1537)].enumerated() {
            var x = randomFloats(rows * inputs, seed: 300 + UInt64(s), in: -3...2)
            // Row 0 all zero, row 1 (when there is one) positive only, and exact ties of the rounding.
            for i in 0..<inputs { x[i] = 0 }
            if rows > 1 { for i in 0..<inputs { x[inputs + i] = abs(x[inputs + i]) } }
            if rows > 2 {
                let r = 2 * inputs
                x[r] = -2.55; x[r + 1] = 0
                for i in 2..<inputs { x[r + i] = Float(i % 5) * 0.01 + 0.005 }
            }
            let stride = (inputs + 3) / 4 * 4
            for levels: Float in [127, 255] {
                var codes: [[UInt8]] = [], scales: [[Float]] = [], zeros: [[Int32]] = []
                for isa in [ISA.avx512, .generic] {
                    var q = [UInt8](repeating: 99, count: rows * stride)
                    var sc = [Float](repeating: .nan, count: rows), z = [Int32](repeating: -1, count: rows)
                    quantizeRowsAsymmetric(&q, scales: &sc, zeroPoints: &z, x, rows: rows, inputs: inputs, stride: stride,
                                           levels: levels, isa: isa)
                    codes.append(q); scales.append(sc); zeros.append(z)
                }
                XCTAssertEqual(codes[0], codes[1], "codes, \(rows) x \(inputs), levels \(levels)")
                XCTAssertEqual(scales[0], scales[1], "scales, \(rows) x \(inputs)")
                XCTAssertEqual(zeros[0], zeros[1], "zero points, \(rows) x \(inputs)")
                XCTAssertEqual(zeros[0][0], 0, "an all-zero row has zero point 0")
            }
        }
    }

    func testTheInt8EpilogueMatchesOnBothPaths() {
        let scratch = Int8LinearScratch()
        for (s, (rows, inputs, outputs)) in [(15, 384, 1536), (1, 384, 2), (7, 33, 70)].enumerated() {
            let seed = 400 + UInt64(s) * 10
            let x = randomFloats(rows * inputs, seed: seed, in: -3...3), w = randomFloats(outputs * inputs, seed: seed + 1, in: -0.2...0.2)
            let b = randomFloats(outputs, seed: seed + 2), residual = randomFloats(rows * outputs, seed: seed + 3)
            var q = [Int8](repeating: 0, count: outputs * inputs)
            var scales = [Float](repeating: 0, count: outputs), sums = [Int32](repeating: 0, count: outputs)
            quantizeWeightsPerChannel(&q, scales: &scales, columnSums: &sums, w, outputs: outputs, inputs: inputs)
            let packed = PackedInt8Weights(q, outputs: outputs, inputs: inputs)
            residual.withUnsafeBufferPointer { r in
                for epilogue in [Int8Epilogue(), Int8Epilogue(gelu: true), Int8Epilogue(residual: r.baseAddress),
                                 Int8Epilogue(gelu: true, residual: r.baseAddress)] {
                    var fused = [Float](repeating: .nan, count: rows * outputs)
                    int8LinearForward(&fused, x, packed, weightScales: scales, columnSums: sums, b, rows: rows,
                                      scratch: scratch, isa: .avx512, epilogue: epilogue)
                    // Against the plain avx512 layer (same codes) followed by Swift's GELU and add.
                    var plain = [Float](repeating: .nan, count: rows * outputs)
                    int8LinearForward(&plain, x, packed, weightScales: scales, columnSums: sums, b, rows: rows,
                                      scratch: scratch, isa: .avx512)
                    var expected = plain.map { epilogue.gelu ? Double(gelu($0)) : Double($0) }
                    if epilogue.residual != nil { for i in expected.indices { expected[i] += Double(residual[i]) } }
                    assertClose(fused, expected, tolerance: sumTolerance,
                                "avx512 epilogue gelu \(epilogue.gelu) residual \(epilogue.residual != nil), \(rows)x\(inputs)x\(outputs)")
                }
            }
        }
    }

    func testGELUMatches() {
        var x = randomFloats(1000, seed: 500, in: -6...6)
        x += [0, -0.0, 1, -1, 4, -4, 0.5, 30, -30, 1e-8]
        var fast = [Float](repeating: .nan, count: x.count), loop = fast
        geluForward(&fast, x, count: x.count, isa: .avx512)
        geluForward(&loop, x, count: x.count, isa: .generic)
        for i in x.indices {
            XCTAssertLessThanOrEqual(abs(Double(fast[i]) - Double(loop[i])), geluTolerance * max(1, abs(Double(x[i]))), "gelu(\(x[i]))")
        }
    }

    func testLayerNormMatches() {
        for (rows, features) in [(15, 384), (1, 384), (3, 37)] {
            let x = randomFloats(rows * features, seed: 600 + UInt64(features), in: -4...4).map { $0 + 3 }
            let gamma = randomFloats(features, seed: 601), beta = randomFloats(features, seed: 602)
            var outs: [[Float]] = [], means: [[Float]] = [], rstds: [[Float]] = []
            for isa in [ISA.avx512, .generic] {
                var out = [Float](repeating: .nan, count: rows * features)
                var mean = [Float](repeating: .nan, count: rows), rstd = mean
                layerNormForward(&out, &mean, &rstd, x, gamma, beta, rows: rows, features: features, epsilon: 1e-12, isa: isa)
                outs.append(out); means.append(mean); rstds.append(rstd)
            }
            assertClose(outs[0], widened(outs[1]), tolerance: sumTolerance, "layer norm \(rows)x\(features)")
            assertClose(means[0], widened(means[1]), tolerance: sumTolerance, "means")
            assertClose(rstds[0], widened(rstds[1]), tolerance: sumTolerance, "rstds")
        }
    }

    func testAttentionMatches() {
        // Head sizes of MiniLM (32), DistilBERT-base (64) and an odd one; sentences of 1 to 40 tokens.
        for (lengths, heads, headSize) in [([1, 17, 40], 4, 32), ([25], 12, 32), ([9, 3], 2, 64), ([6, 19], 3, 20)] {
            let layout = PackedBatch(lengths: lengths)
            let (c, t, g) = (heads * headSize, layout.sequence, lengths.count * heads)
            let qkv = randomFloats(layout.tokens * 3 * c, seed: 700 + UInt64(t), in: -2...2)
            var results: [[Float]] = [], probs: [[Float]] = []
            for isa in [ISA.avx512, .generic] {
                let p = UnsafeMutablePointer<Float>.allocate(capacity: g * t * t)
                p.initialize(repeating: 0, count: g * t * t)
                let scratchCount = AttentionSaved.scratchCount(matrices: g, rows: t, sequence: t, headSize: headSize)
                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchCount)
                defer { p.deallocate(); scratch.deallocate() }
                var out = [Float](repeating: .nan, count: layout.tokens * c)
                attentionForward(&out, AttentionSaved(probs: p, scratch: scratch), qkv, layout, heads: heads, headSize: headSize, isa: isa)
                results.append(out)
                probs.append(Array(UnsafeBufferPointer(start: p, count: g * t * t)))
            }
            assertClose(results[0], widened(results[1]), tolerance: sumTolerance, "attention \(lengths), \(heads) x \(headSize)")
            assertClose(probs[0], widened(probs[1]), tolerance: sumTolerance, "attention probabilities \(lengths)")
        }
    }
}
