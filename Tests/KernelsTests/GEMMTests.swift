import XCTest
import Kernels

/// `gemm` (oneDNN sgemm, row-major) against `Reference.gemm`: all transposes, non-square shapes,
/// sub-matrices (leading dimensions wider than the matrix), alpha/beta, and thread-count independence.
final class GEMMTests: XCTestCase {
    let forwardTolerance = 1e-5
    let threadTolerance = 1e-6
    let transposes = [(false, false), (false, true), (true, false), (true, true)]

    /// A (rows, cols) matrix stored with leading dimension `ld` >= cols; the padding is `pad`.
    func strided(_ packed: [Float], rows: Int, cols: Int, ld: Int, pad: Float) -> [Float] {
        var out = [Float](repeating: pad, count: rows * ld)
        for r in 0..<rows { for c in 0..<cols { out[r * ld + c] = packed[r * cols + c] } }
        return out
    }

    /// Runs gemm on strided operands and checks C against alpha * reference + beta * C0, with the
    /// padding of C untouched. A and B padding is NaN, so reading it would poison the result.
    func check(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
               padA: Int = 0, padB: Int = 0, padC: Int = 0, alpha: Float = 1, beta: Float = 0,
               seed: UInt64, file: StaticString = #filePath, line: UInt = #line) {
        let (rowsA, colsA) = transA ? (k, m) : (m, k)
        let (rowsB, colsB) = transB ? (n, k) : (k, n)
        let a = randomFloats(rowsA * colsA, seed: seed)
        let b = randomFloats(rowsB * colsB, seed: seed + 1)
        let c0 = randomFloats(m * n, seed: seed + 2)
        let (lda, ldb, ldc) = (colsA + padA, colsB + padB, n + padC)
        let sentinel: Float = 7777
        // With beta = 0 the old C must not be read: fill it with NaN.
        var c = strided(beta == 0 ? [Float](repeating: .nan, count: m * n) : c0,
                        rows: m, cols: n, ld: ldc, pad: sentinel)
        gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
             a: strided(a, rows: rowsA, cols: colsA, ld: lda, pad: .nan), lda: lda,
             b: strided(b, rows: rowsB, cols: colsB, ld: ldb, pad: .nan), ldb: ldb,
             beta: beta, c: &c, ldc: ldc)
        let product = Reference.gemm(transA: transA, transB: transB, m: m, n: n, k: k,
                                     a: widened(a), b: widened(b))
        let expected = zip(product, c0).map { Double(alpha) * $0 + (beta == 0 ? 0 : Double(beta) * Double($1)) }
        var actual = [Float](), padding = [Float]()
        for r in 0..<m {
            actual += c[(r * ldc)..<(r * ldc + n)]
            padding += c[(r * ldc + n)..<(r * ldc + ldc)]
        }
        assertClose(actual, expected, tolerance: forwardTolerance,
                    "gemm transA=\(transA) transB=\(transB) M=\(m) N=\(n) K=\(k) lda=\(lda) ldb=\(ldb) ldc=\(ldc)",
                    file: file, line: line)
        XCTAssertTrue(padding.allSatisfy { $0 == sentinel }, "gemm wrote outside the C sub-matrix", file: file, line: line)
    }

    func testAllTransposesOddSizes() {
        for (i, (ta, tb)) in transposes.enumerated() {
            check(transA: ta, transB: tb, m: 7, n: 5, k: 13, seed: 10 + UInt64(i) * 10)
        }
    }

    func testAllTransposesVectorSizes() {
        for (i, (ta, tb)) in transposes.enumerated() {
            check(transA: ta, transB: tb, m: 67, n: 71, k: 131, seed: 100 + UInt64(i) * 10)
        }
    }

    func testSubMatricesWithAlphaAndBeta() {
        for (i, (ta, tb)) in transposes.enumerated() {
            check(transA: ta, transB: tb, m: 9, n: 66, k: 17, padA: 3, padB: 5, padC: 2,
                  alpha: 0.5, beta: 0.75, seed: 200 + UInt64(i) * 10)
            check(transA: ta, transB: tb, m: 65, n: 3, k: 70, padA: 1, padB: 4, padC: 7,
                  alpha: -1.25, beta: 1, seed: 300 + UInt64(i) * 10)
        }
    }

    func testOneAndTwoThreadsAgree() {
        let previous = Threads.count
        defer { Threads.set(previous) }
        let (m, n, k) = (257, 129, 193)
        let a = randomFloats(m * k, seed: 400), b = randomFloats(n * k, seed: 401)
        func run(threads: Int) -> [Float] {
            Threads.set(threads)
            XCTAssertEqual(Threads.count, threads)
            var c = [Float](repeating: 0, count: m * n)
            gemm(transA: false, transB: true, m: m, n: n, k: k, a: a, lda: k, b: b, ldb: k,
                 beta: 0, c: &c, ldc: n)
            return c
        }
        let one = run(threads: 1), two = run(threads: 2)
        let error = maxRelativeError(two, widened(one))
        XCTAssertLessThanOrEqual(error, threadTolerance, "1 vs 2 threads: max relative difference \(error)")
        XCTAssertGreaterThan(one.map(abs).max() ?? 0, 1, "degenerate product")
    }
}
