import CDNNL
import Synchronization

// Shapes: a batch of G independent products C[g] = op(A[g]) * op(B[g]), op(A) (M, K),
// op(B) (K, N), C (M, N), each matrix contiguous and row-major as stored.
// Used for attention, where G = batch * heads and M, N, K are the sequence length or head size.

/// C[g] = op(A[g]) * op(B[g]) for g in 0..<G, through oneDNN's matmul primitive.
///
/// oneDNN primitives are expensive to create and cheap to run, so one is made per distinct
/// shape and kept; a training run sees at most a few hundred shapes (one per sequence length).
public func batchedMatmul(
    transA: Bool, transB: Bool, batch: Int, m: Int, n: Int, k: Int,
    a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>
) {
    if batch == 0 || m == 0 || n == 0 { return }
    let key = MatmulShape(batch: batch, m: m, n: n, k: k, transA: transA, transB: transB)
    do {
        let primitive = try MatmulCache.shared.primitive(for: key)
        try primitive.run(a: a, b: b, c: c)
    } catch {
        // Shapes come from our own code; a failure here is a bug or a broken oneDNN install.
        preconditionFailure("batched matmul \(key): \(error)")
    }
}

struct MatmulShape: Hashable, CustomStringConvertible {
    let batch, m, n, k: Int
    let transA, transB: Bool
    var description: String { "G=\(batch) M=\(m) N=\(n) K=\(k) transA=\(transA) transB=\(transB)" }
}

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

    func run(a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>) throws {
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

/// Created primitives by shape, shared by the whole process.
final class MatmulCache: Sendable {
    static let shared = MatmulCache()
    private let entries = Mutex<[MatmulShape: MatmulPrimitive]>([:])

    func primitive(for shape: MatmulShape) throws -> MatmulPrimitive {
        if let found = entries.withLock({ $0[shape] }) { return found }
        let created = try MatmulPrimitive(shape)
        entries.withLock { $0[shape] = created }
        return created
    }
}
