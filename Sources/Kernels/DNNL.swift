import CDNNL
import Synchronization

// The one file at the oneDNN (and OpenMP) boundary: every C call goes through here, status codes
// become typed Swift errors, and the engine, stream, thread count, the sgemm call, the matmul
// primitive and the OpenMP fork live here. Kernels above it never see a C type.

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

/// The process-wide CPU engine and stream oneDNN primitives run on.
final class DNNLRuntime: @unchecked Sendable {
    let engine: dnnl_engine_t
    let stream: dnnl_stream_t

    private init() throws {
        var engine: dnnl_engine_t?
        try check(dnnl_engine_create(&engine, dnnl_cpu, 0), "create the CPU engine")
        var stream: dnnl_stream_t?
        try check(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue), "create a CPU stream")
        guard let engine, let stream else {
            throw DNNLError(status: 5, operation: "create the CPU engine")
        }
        self.engine = engine
        self.stream = stream
    }

    /// Created on first use; oneDNN's CPU engine cannot fail short of a broken install.
    static let shared: Result<DNNLRuntime, Error> = Result { try DNNLRuntime() }

    static func get() throws -> DNNLRuntime { try shared.get() }
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

// MARK: - Matmul primitive

/// A created matmul primitive with memory objects whose data handles are swapped per call.
final class MatmulPrimitive: @unchecked Sendable {
    private let primitive: dnnl_primitive_t
    private let memories: [dnnl_memory_t]   // src (A), weights (B), dst (C)

    init(_ s: MatmulShape) throws {
        let runtime = try DNNLRuntime.get()
        let (g, m, n, k) = (Int64(s.batch), Int64(s.m), Int64(s.n), Int64(s.k))
        // A logical (G, M, K); stored (G, K, M) when transposed. Likewise B (G, K, N) / (G, N, K).
        var aDesc = try memoryDesc(dims: [g, m, k], strides: s.transA ? [m * k, 1, m] : [m * k, k, 1])
        var bDesc = try memoryDesc(dims: [g, k, n], strides: s.transB ? [k * n, 1, k] : [k * n, n, 1])
        var cDesc = try memoryDesc(dims: [g, m, n], strides: [m * n, n, 1])
        var op = dnnl_matmul_desc_t()
        try check(dnnl_matmul_desc_init(&op, &aDesc, &bDesc, nil, &cDesc), "describe matmul \(s)")
        var pd: dnnl_primitive_desc_t?
        try check(dnnl_primitive_desc_create(&pd, &op, nil, runtime.engine, nil), "create matmul \(s)")
        defer { dnnl_primitive_desc_destroy(pd) }
        var primitive: dnnl_primitive_t?
        try check(dnnl_primitive_create(&primitive, pd), "create matmul primitive \(s)")
        var memories: [dnnl_memory_t] = []
        for var desc in [aDesc, bDesc, cDesc] {
            var memory: dnnl_memory_t?
            try check(dnnl_memory_create(&memory, &desc, runtime.engine, nil), "create matmul memory \(s)")
            guard let memory else { throw DNNLError(status: 1, operation: "create matmul memory") }
            memories.append(memory)
        }
        guard let primitive else { throw DNNLError(status: 5, operation: "create matmul primitive \(s)") }
        self.primitive = primitive
        self.memories = memories
    }

    deinit {
        dnnl_primitive_destroy(primitive)
        for memory in memories { dnnl_memory_destroy(memory) }
    }

    /// The memory objects' data handles are swapped per call, so two threads must not run one
    /// primitive at once.
    private let lock = Mutex(())

    func run(a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>) throws {
        try lock.withLock { _ in try runLocked(a: a, b: b, c: c) }
    }

    private func runLocked(a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>) throws {
        let runtime = try DNNLRuntime.get()
        try check(dnnl_memory_set_data_handle(memories[0], UnsafeMutableRawPointer(mutating: a)), "bind A")
        try check(dnnl_memory_set_data_handle(memories[1], UnsafeMutableRawPointer(mutating: b)), "bind B")
        try check(dnnl_memory_set_data_handle(memories[2], UnsafeMutableRawPointer(c)), "bind C")
        var args = [
            dnnl_exec_arg_t(arg: DNNLArgument.source, memory: memories[0]),
            dnnl_exec_arg_t(arg: DNNLArgument.weights, memory: memories[1]),
            dnnl_exec_arg_t(arg: DNNLArgument.destination, memory: memories[2]),
        ]
        try check(dnnl_primitive_execute(primitive, runtime.stream, 3, &args), "run matmul")
        try check(dnnl_stream_wait(runtime.stream), "wait for matmul")
    }
}

/// oneDNN's execution argument indices (`DNNL_ARG_SRC`, ...), which Swift does not import.
enum DNNLArgument {
    static let source: Int32 = 1
    static let destination: Int32 = 17
    static let weights: Int32 = 33
    static let bias: Int32 = 41
}

func memoryDesc(dims: [Int64], strides: [Int64]) throws -> dnnl_memory_desc_t {
    var desc = dnnl_memory_desc_t()
    let d = dims + [Int64](repeating: 0, count: 12 - dims.count)
    let s = strides + [Int64](repeating: 0, count: 12 - strides.count)
    try check(dnnl_memory_desc_init_by_strides(&desc, Int32(dims.count), d, dnnl_f32, s),
              "describe a tensor of shape \(dims)")
    return desc
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
