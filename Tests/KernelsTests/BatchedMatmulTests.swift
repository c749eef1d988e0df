import XCTest
import Kernels

/// `batchedMatmul` (oneDNN matmul, one cached primitive per shape) against `Reference.gemm` per
/// batch entry: every transpose combination, batch > 1, and repeated shapes served from the cache.
final class BatchedMatmulTests: XCTestCase {
    let forwardTolerance = 1e-5
    let transposes = [(false, false), (false, true), (true, false), (true, true)]

    /// Runs one batched product on fresh random data (seeded) and checks every matrix of C.
    @discardableResult
    func check(transA: Bool, transB: Bool, batch: Int, m: Int, n: Int, k: Int, seed: UInt64,
               file: StaticString = #filePath, line: UInt = #line) -> [Float] {
        let a = randomFloats(batch * m * k, seed: seed), b = randomFloats(batch * k * n, seed: seed + 1)
        var c = [Float](repeating: .nan, count: batch * m * n)
        batchedMatmul(transA: transA, transB: transB, batch: batch, m: m, n: n, k: k, a: a, b: b, c: &c)
        var expected = [Double]()
        for g in 0..<batch {
            expected += Reference.gemm(transA: transA, transB: transB, m: m, n: n, k: k,
                                       a: widened(Array(a[(g * m * k)..<((g + 1) * m * k)])),
                                       b: widened(Array(b[(g * k * n)..<((g + 1) * k * n)])))
        }
        assertClose(c, expected, tolerance: forwardTolerance,
                    "batchedMatmul G=\(batch) M=\(m) N=\(n) K=\(k) transA=\(transA) transB=\(transB)",
                    file: file, line: line)
        return c
    }

    func testAllTransposesOddSizes() {
        for (i, (ta, tb)) in transposes.enumerated() {
            check(transA: ta, transB: tb, batch: 3, m: 7, n: 5, k: 4, seed: 10 + UInt64(i) * 10)
        }
    }

    /// The attention shapes: scores q k^T (T, T, HS), context P v (T, HS, T), dv = P^T dc, and larger T.
    func testAttentionShapes() {
        let (g, t, hs) = (6, 67, 8)
        check(transA: false, transB: true, batch: g, m: t, n: t, k: hs, seed: 100)
        check(transA: false, transB: false, batch: g, m: t, n: hs, k: t, seed: 110)
        check(transA: true, transB: false, batch: g, m: t, n: hs, k: t, seed: 120)
        check(transA: true, transB: true, batch: g, m: hs, n: t, k: t, seed: 130)
    }

    /// The second call of a shape reuses the cached primitive: it must bind the new pointers and,
    /// on the same data, give the same result.
    func testRepeatedShapeUsesNewData() {
        let first = check(transA: false, transB: true, batch: 4, m: 9, n: 9, k: 6, seed: 200)
        for round in 1..<3 {
            check(transA: false, transB: true, batch: 4, m: 9, n: 9, k: 6, seed: 200 + UInt64(round) * 10)
            check(transA: true, transB: false, batch: 4, m: 9, n: 6, k: 9, seed: 300 + UInt64(round) * 10)
        }
        let again = check(transA: false, transB: true, batch: 4, m: 9, n: 9, k: 6, seed: 200)
        XCTAssertEqual(again, first, "same shape, same data, different result")
    }
}
