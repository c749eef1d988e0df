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
/// overflows; 127 * 127 * 2 does not): only the cross-check `int8GEMM` calls it, with activations in [0, 127].
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

// MARK: - Frozen weights: oneDNN's matmul primitive on weights reordered once

/// `C (M, N) += A (M, K) * W^T` for a fixed `W` (N, K) row-major, with M given per call.
///
/// `dnnl_sgemm` repacks `W` into its kernel's blocked layout on every call. A matmul primitive
/// created once with `format_tag_any` weights (and M a runtime dimension) lets oneDNN pick that
/// layout, into which `W` is reordered once: measured here (AVX-512, 2 threads) 226 against 185
/// GFLOP/s at M = 213 and 214 against 98 at M = 37, for the same products to the bit (same kernel,
/// same summation order). Only for weights that no longer change: a frozen teacher, a served model.
public final class FrozenWeights {
    /// How the products are computed: fp32, or bf16 inputs and weights with fp32 accumulation and
    /// output (AVX-512 BF16's vdpbf16ps; `ISA.hasBF16`), which halves the bytes and doubles the rate.
    public enum Precision: String, Sendable, CaseIterable, Codable {
        case fp32, bf16
    }

    static let engine: dnnl_engine_t? = {
        var engine: dnnl_engine_t?
        return dnnl_engine_create(&engine, dnnl_cpu, 0) == dnnl_success ? engine : nil
    }()
    static let stream: dnnl_stream_t? = {
        guard let engine else { return nil }
        var stream: dnnl_stream_t?
        return dnnl_stream_create(&stream, engine, UInt32(dnnl_stream_default_flags.rawValue)) == dnnl_success ? stream : nil
    }()

    public let n: Int, k: Int
    public let precision: Precision
    private var primitive: dnnl_primitive_t?
    private var weights: dnnl_memory_t?
    /// bf16: the input rounded to bf16 (grown to the largest call; one call at a time).
    private var converted: UnsafeMutablePointer<UInt16>?
    private var convertedCapacity = 0

    /// Reorders `weight` (N, K) into the primitive's layout (rounded to bf16 for `.bf16`); nil when
    /// oneDNN offers no such primitive on this CPU.
    public init?(weight: UnsafePointer<Float>, n: Int, k: Int, precision: Precision = .fp32) {
        self.n = n
        self.k = k
        self.precision = precision
        // bf16 only where the CPU multiplies it natively (oneDNN may emulate it elsewhere, slowly).
        guard precision == .fp32 || ISA.hasBF16 else { return nil }
        guard let engine = Self.engine, let stream = Self.stream else { return nil }
        let type = precision == .bf16 ? dnnl_bf16 : dnnl_f32
        var source = dnnl_memory_desc_t(), packed = dnnl_memory_desc_t(), plain = dnnl_memory_desc_t()
        var destination = dnnl_memory_desc_t()
        var sourceDims: [Int64] = [edgedistill_runtime_dim, Int64(k)], sourceStrides: [Int64] = [Int64(k), 1]
        var weightDims: [Int64] = [Int64(k), Int64(n)]
        var destinationDims: [Int64] = [edgedistill_runtime_dim, Int64(n)], destinationStrides: [Int64] = [Int64(n), 1]
        guard dnnl_memory_desc_init_by_strides(&source, 2, &sourceDims, type, &sourceStrides) == dnnl_success,
              dnnl_memory_desc_init_by_tag(&packed, 2, &weightDims, type, dnnl_format_tag_any) == dnnl_success,
              dnnl_memory_desc_init_by_tag(&plain, 2, &weightDims, dnnl_f32, dnnl_ba) == dnnl_success,
              dnnl_memory_desc_init_by_strides(&destination, 2, &destinationDims, dnnl_f32, &destinationStrides) == dnnl_success
        else { return nil }
        var attributes: dnnl_primitive_attr_t?, postOps: dnnl_post_ops_t?
        guard dnnl_primitive_attr_create(&attributes) == dnnl_success, dnnl_post_ops_create(&postOps) == dnnl_success else { return nil }
        defer { dnnl_post_ops_destroy(postOps); dnnl_primitive_attr_destroy(attributes) }
        // C += A W^T (what sgemm's beta = 1 does with the bias already in C).
        guard dnnl_post_ops_append_sum(postOps, 1) == dnnl_success,
              dnnl_primitive_attr_set_post_ops(attributes, postOps) == dnnl_success else { return nil }
        var description = dnnl_matmul_desc_t()
        var descriptor: dnnl_primitive_desc_t?
        guard dnnl_matmul_desc_init(&description, &source, &packed, nil, &destination) == dnnl_success,
              dnnl_primitive_desc_create(&descriptor, &description, attributes, engine, nil) == dnnl_success
        else { return nil }
        defer { dnnl_primitive_desc_destroy(descriptor) }
        guard let chosen = dnnl_primitive_desc_query_md(descriptor, dnnl_query_weights_md, 0),
              dnnl_primitive_create(&primitive, descriptor) == dnnl_success,
              dnnl_memory_create(&weights, chosen, engine, edgedistill_memory_allocate()) == dnnl_success
        else { return nil }
        // The one reorder: plain (N, K) row-major, i.e. (K, N) in "ba", into the chosen layout.
        var from: dnnl_memory_t?, reorderDescriptor: dnnl_primitive_desc_t?, reorder: dnnl_primitive_t?
        guard dnnl_memory_create(&from, &plain, engine, UnsafeMutableRawPointer(mutating: weight)) == dnnl_success else { return nil }
        defer { dnnl_memory_destroy(from) }
        guard dnnl_reorder_primitive_desc_create(&reorderDescriptor, &plain, engine, chosen, engine, nil) == dnnl_success else { return nil }
        defer { dnnl_primitive_desc_destroy(reorderDescriptor) }
        guard dnnl_primitive_create(&reorder, reorderDescriptor) == dnnl_success else { return nil }
        defer { dnnl_primitive_destroy(reorder) }
        var arguments = [dnnl_exec_arg_t(arg: DNNL_ARG_FROM, memory: from), dnnl_exec_arg_t(arg: DNNL_ARG_TO, memory: weights)]
        guard dnnl_primitive_execute(reorder, stream, 2, &arguments) == dnnl_success,
              dnnl_stream_wait(stream) == dnnl_success else { return nil }
    }

    deinit {
        if let primitive { dnnl_primitive_destroy(primitive) }
        if let weights { dnnl_memory_destroy(weights) }
        converted?.deallocate()
    }

    /// `c (m, N) += a (m, K) * W^T`, rows contiguous.
    func multiplyAdd(_ a: UnsafePointer<Float>, rows m: Int, into c: UnsafeMutablePointer<Float>) throws {
        guard let stream = Self.stream else { throw DNNLError(status: 5, operation: "find the CPU stream") }
        var aDesc = dnnl_memory_desc_t(), cDesc = dnnl_memory_desc_t()
        var aDims: [Int64] = [Int64(m), Int64(k)], aStrides: [Int64] = [Int64(k), 1]
        var cDims: [Int64] = [Int64(m), Int64(n)], cStrides: [Int64] = [Int64(n), 1]
        try check(dnnl_memory_desc_init_by_strides(&aDesc, 2, &aDims, precision == .bf16 ? dnnl_bf16 : dnnl_f32, &aStrides),
                  "describe a (\(m), \(k)) input")
        try check(dnnl_memory_desc_init_by_strides(&cDesc, 2, &cDims, dnnl_f32, &cStrides), "describe a (\(m), \(n)) output")
        var input = UnsafeMutableRawPointer(mutating: a)
        if precision == .bf16 {
            if convertedCapacity < m * k {
                converted?.deallocate()
                convertedCapacity = m * k + m * k / 4
                converted = .allocate(capacity: convertedCapacity)
            }
            guard let converted else { throw DNNLError(status: 5, operation: "allocate a bf16 input") }
            roundToBF16(converted, a, count: m * k)
            input = UnsafeMutableRawPointer(converted)
        }
        var aMemory: dnnl_memory_t?, cMemory: dnnl_memory_t?
        try check(dnnl_memory_create(&aMemory, &aDesc, Self.engine, input), "wrap an input")
        defer { dnnl_memory_destroy(aMemory) }
        try check(dnnl_memory_create(&cMemory, &cDesc, Self.engine, c), "wrap an output")
        defer { dnnl_memory_destroy(cMemory) }
        var arguments = [dnnl_exec_arg_t(arg: DNNL_ARG_SRC, memory: aMemory),
                         dnnl_exec_arg_t(arg: DNNL_ARG_WEIGHTS, memory: weights),
                         dnnl_exec_arg_t(arg: DNNL_ARG_DST, memory: cMemory)]
        try check(dnnl_primitive_execute(primitive, stream, 3, &arguments), "multiply M=\(m) N=\(n) K=\(k) with frozen weights")
    }
}

/// Rounds fp32 to bf16 (the upper 16 bits, round to nearest even; NaN stays NaN).
func roundToBF16(_ out: UnsafeMutablePointer<UInt16>, _ x: UnsafePointer<Float>, count: Int) {
    for i in 0..<count {
        let bits = x[i].bitPattern
        if x[i].isNaN { out[i] = UInt16(bits >> 16) | 0x40; continue }
        out[i] = UInt16((bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)
    }
}
