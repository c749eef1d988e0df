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
