import CDNNL

// The one file at the oneDNN (and OpenMP) boundary: every C call goes through here, status codes
// become typed Swift errors, and the thread count, the sgemm and int8 GEMM calls and the OpenMP
// fork live here. Kernels above it never see a C type.

/// A oneDNN call that did not succeed, with what we were doing when it failed.
public struct DNNLError: Error, CustomStringConvertible {
    /// The raw `dnnl_status_t` value.
    public let status: Int32
    /// What EdgeDistill was asking oneDNN to do.
    public let operation: String

    public var description: String {
        let reason: String
        switch status {
        case 1: reason = "out of memory"
        case 2: reason = "invalid arguments"
        case 3: reason = "unimplemented for these shapes or types"
        case 5: reason = "runtime error"
        default: reason = "status \(status)"
        }
        return "oneDNN failed to \(operation): \(reason)"
    }
}

/// Turns a oneDNN status into a thrown `DNNLError` that names the operation.
@inline(__always)
func check(_ status: dnnl_status_t, _ operation: @autoclosure () -> String) throws {
    if status != dnnl_success {
        throw DNNLError(status: Int32(status.rawValue), operation: operation())
    }
}

/// Controls how many threads oneDNN (and so every GEMM) uses.
public enum Threads {
    /// Sets the thread count for all later oneDNN calls (OpenMP underneath).
    public static func set(_ count: Int) {
        omp_set_num_threads(Int32(max(1, count)))
    }

    /// The thread count oneDNN will use.
    public static var count: Int { Int(omp_get_max_threads()) }
}

// MARK: - sgemm

/// Row-major `C = alpha * op(A) * op(B) + beta * C` through `dnnl_sgemm`.
func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
           a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
           beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) throws {
    try check(dnnl_sgemm(transA ? 84 : 78, transB ? 84 : 78, Int64(m), Int64(n), Int64(k), alpha,
                         a, Int64(lda), b, Int64(ldb), beta, c, Int64(ldc)),
              "multiply M=\(m) N=\(n) K=\(k) (lda \(lda), ldb \(ldb), ldc \(ldc))")
}

// MARK: - int8 GEMM

/// Row-major `C (M, N) = A (M, K) * B^T` with `A` unsigned 8-bit, `B` (N, K) signed 8-bit and `C`
/// 32-bit, through `dnnl_gemm_u8s8s32` (no offsets, alpha 1, beta 0).
///
/// On AVX2 without VNNI oneDNN multiplies with `vpmaddubsw`, which saturates a pair of u8 x s8
/// products at 32767: the result is exact only while every `A` is at most 127 (255 * 127 * 2
/// overflows; 127 * 127 * 2 does not). `int8LinearForward` keeps activations in [0, 127].
func gemmU8S8S32(m: Int, n: Int, k: Int, a: UnsafePointer<UInt8>, lda: Int,
                 b: UnsafePointer<Int8>, ldb: Int, c: UnsafeMutablePointer<Int32>, ldc: Int) throws {
    var offset: Int32 = 0
    // oneDNN's BLAS-like functions are row-major: 'N' for A, 'T' for B, 'F' for one fixed C offset (0).
    try check(dnnl_gemm_u8s8s32(78, 84, 70, Int64(m), Int64(n), Int64(k), 1, a, Int64(lda), 0,
                                b, Int64(ldb), 0, 0, c, Int64(ldc), &offset),
              "multiply int8 M=\(m) N=\(n) K=\(k)")
}

// MARK: - OpenMP

/// Runs `body(context)` on `threads` threads of OpenMP's pool (libgomp's `GOMP_parallel`), the
/// threads oneDNN's GEMMs use; `body` reads its thread number and count from the arguments.
func ompFork(threads: Int, context: UnsafeMutableRawPointer,
             _ body: @convention(c) (UnsafeMutableRawPointer?) -> Void) {
    GOMP_parallel(body, context, UInt32(threads), 0)
}

/// This thread's number and the team size, inside an `ompFork` body.
func ompThread() -> (index: Int, count: Int) {
    (Int(omp_get_thread_num()), Int(omp_get_num_threads()))
}
