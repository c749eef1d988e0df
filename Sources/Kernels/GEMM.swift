// Shapes: row-major throughout. op(A) is (M, K), op(B) is (K, N), C is (M, N).

/// C = alpha * op(A) * op(B) + beta * C through oneDNN's `dnnl_sgemm` (row-major).
///
/// Shapes come from our own code, never from a file, so a rejected call is a bug: it traps
/// with the shapes rather than being thrown through every layer.
@inline(__always)
public func gemm(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    if m == 0 || n == 0 { return }
    do {
        try sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                  a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    } catch {
        preconditionFailure("\(error)")
    }
}

extension Reference {
    /// Plain-loop reference of `gemm` in Float64.
    public static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                            a: [Double], b: [Double]) -> [Double] {
        var c = [Double](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k {
                    let av = transA ? a[p * m + i] : a[i * k + p]
                    let bv = transB ? b[j * k + p] : b[p * n + j]
                    s += av * bv
                }
                c[i * n + j] = s
            }
        }
        return c
    }
}

/// Namespace for the plain-loop Float64 references of every kernel; used by tests only.
public enum Reference {}
