import XCTest
@testable import Kernels

/// Every int8 GEMM path this CPU has against the portable one and plain integer arithmetic,
/// bit for bit, at the student's batch-1 shapes and at awkward ones; the int8 layer on each path
/// against its Float64 reference with that path's activation levels; `EDGEDISTILL_ISA` parsing.
/// Paths the CPU lacks are skipped with a printed reason.
final class ISATests: XCTestCase {
    /// (M, N, K): one sentence's tokens through q|k|v, out_lin, lin1 and lin2; the [CLS] row; tails.
    let shapes = [(m: 15, n: 1152, k: 384), (m: 15, n: 384, k: 384), (m: 15, n: 1536, k: 384), (m: 15, n: 384, k: 1536),
                  (m: 1, n: 384, k: 384), (m: 1, n: 2, k: 384), (m: 3, n: 17, k: 5), (m: 7, n: 70, k: 33), (m: 9, n: 130, k: 1537)]

    func available() -> [ISA] {
        let paths = ISA.allCases.filter { $0 <= ISA.detected }
        for lacking in ISA.allCases where lacking > ISA.detected {
            print("ISATests: skipping the \(lacking.rawValue) path: this CPU supports \(ISA.detected.rawValue)")
        }
        return paths
    }

    func testEveryPathGivesTheSameIntegers() {
        for (s, shape) in shapes.enumerated() {
            let (m, n, k) = shape
            let b = randomIndices(n * k, seed: 70 + UInt64(s), below: 255).map { Int8(Int($0) - 127) }
            let packed = PackedInt8Weights(b, outputs: n, inputs: k)
            let kp = packed.paddedInputs
            for isa in available() {
                // Codes up to the path's levels, the extremes included.
                var a = randomIndices(m * k, seed: 90 + UInt64(s), below: Int(isa.activationLevels) + 1).map { UInt8($0) }
                for i in 0..<min(k, m * k) { a[i] = UInt8(isa.activationLevels) }
                let expected = Reference.int8GEMM(a, b, m: m, n: n, k: k)
                var padded = [UInt8](repeating: 0, count: m * kp)
                for i in 0..<m { for p in 0..<k { padded[i * kp + p] = a[i * k + p] } }
                for threads in [1, 2] {
                    Threads.set(threads)
                    for path in available() where path.activationLevels >= isa.activationLevels {
                        var c = [Int32](repeating: -1, count: m * n)
                        packed.multiply(&c, ldc: n, padded, rows: m, isa: path)
                        XCTAssertEqual(c, expected, "\(path.rawValue) path, codes to \(isa.activationLevels), \(shape), \(threads) thread(s)")
                    }
                }
            }
        }
    }

    func testTheInt8LayerOnEachPathMatchesItsReference() {
        let scratch = Int8LinearScratch()
        let (n, i, o) = (13, 384, 70)
        let x = randomFloats(n * i, seed: 81, in: -3...3), w = randomFloats(o * i, seed: 82, in: -0.2...0.2)
        let b = randomFloats(o, seed: 83)
        var q = [Int8](repeating: 0, count: o * i), scales = [Float](repeating: 0, count: o), sums = [Int32](repeating: 0, count: o)
        quantizeWeightsPerChannel(&q, scales: &scales, columnSums: &sums, w, outputs: o, inputs: i)
        let packed = PackedInt8Weights(q, outputs: o, inputs: i)
        let fp32 = Reference.linear(widened(x), widened(w), widened(b), rows: n, inputs: i, outputs: o)
        var errors: [ISA: Double] = [:]
        for isa in available() {
            var out = [Float](repeating: .nan, count: n * o)
            int8LinearForward(&out, x, packed, weightScales: scales, columnSums: sums, b, rows: n, scratch: scratch, isa: isa)
            assertClose(out, Reference.int8Linear(widened(x), weight: q, weightScales: widened(scales), bias: widened(b),
                                                  rows: n, inputs: i, outputs: o, levels: isa.activationLevels),
                        tolerance: 1e-5, "\(isa.rawValue) int8 layer vs its reference")
            errors[isa] = zip(out, fp32).map { abs(Double($0) - $1) }.max() ?? 0
        }
        // 8-bit activations (VNNI) are closer to fp32 than 7-bit ones.
        if let eight = errors[.avx512], let seven = errors[.avx2] { XCTAssertLessThan(eight, seven) }
    }

    func testTheRequestedPathIsCheckedAgainstTheCPU() throws {
        XCTAssertNil(try ISA.requested([:]))
        XCTAssertEqual(try ISA.requested(["EDGEDISTILL_ISA": "generic"]), .generic)
        XCTAssertThrowsError(try ISA.requested(["EDGEDISTILL_ISA": "sse9"])) { XCTAssertTrue("\($0)".contains("avx512, avx2 or generic"), "\($0)") }
        for isa in ISA.allCases {
            if isa <= ISA.detected {
                XCTAssertEqual(try ISA.requested(["EDGEDISTILL_ISA": isa.rawValue.uppercased()]), isa)
            } else {
                XCTAssertThrowsError(try ISA.requested(["EDGEDISTILL_ISA": isa.rawValue])) { XCTAssertTrue("\($0)".contains("lacks"), "\($0)") }
            }
        }
        XCTAssertEqual(ISA.generic.activationLevels, 127)
        XCTAssertEqual(ISA.avx512.activationLevels, 255)
        print("ISATests: this CPU: \(ISA.summary)")
    }
}
