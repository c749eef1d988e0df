// Shapes: G = B * NH attention matrices, T the longest sentence, HS the head size. Matrix g belongs
// to sentence g / NH, whose length L = lengths[g / NH] is its number of real keys. R query rows per
// matrix: R = T (self-attention, where query i is real when i < L) or R = 1 (the first token only).
//   vectors: (G, T, HS) keys and values; (G, R, HS) queries and contexts
//   blocks:  (G, R, T) scores, probabilities and their gradients
//
// The products of attention restricted to each matrix's real block, L x L (or 1 x L): a batch's
// padded T x T blocks are mostly padding (a random SST-2 batch of 16 has T about 35 for a mean
// length of 13), and a batched GEMM over T x T does all of it. Entries outside the real block are
// neither read nor written; the softmax and the scatters around these calls read only real ones.

/// Real query rows of matrix `g`: L, or 1 with `firstTokenOnly`.
@inline(__always)
private func queryRows(_ length: Int, _ firstTokenOnly: Bool) -> Int { firstTokenOnly ? 1 : length }

/// out[g, i, j] = x[g, i] . y[g, j] for real i and j < L (scores, and dprobs = dcontext . v).
public func raggedScores(
    _ out: UnsafeMutablePointer<Float>,        // (G, R, T)
    _ x: UnsafePointer<Float>,                 // (G, R, HS)
    _ y: UnsafePointer<Float>,                 // (G, T, HS)
    lengths: [Int32], heads: Int, sequence t: Int, headSize hs: Int, firstTokenOnly: Bool = false
) {
    let r = firstTokenOnly ? 1 : t
    forEachMatrix(lengths, heads: heads) { m, length in
        for i in 0..<queryRows(length, firstTokenOnly) {
            let row = out + (m * r + i) * t, xi = x + (m * r + i) * hs
            for j in 0..<length { row[j] = dot(xi, y + (m * t + j) * hs, hs) }
        }
    }
}

/// out[g, i] = sum over j < L of w[g, i, j] y[g, j], for real i (context = P v, dq = dS k).
public func raggedWeightedSum(
    _ out: UnsafeMutablePointer<Float>,        // (G, R, HS)
    _ w: UnsafePointer<Float>,                 // (G, R, T)
    _ y: UnsafePointer<Float>,                 // (G, T, HS)
    lengths: [Int32], heads: Int, sequence t: Int, headSize hs: Int, firstTokenOnly: Bool = false
) {
    let r = firstTokenOnly ? 1 : t
    forEachMatrix(lengths, heads: heads) { m, length in
        for i in 0..<queryRows(length, firstTokenOnly) {
            let o = out + (m * r + i) * hs, wi = w + (m * r + i) * t
            o.update(repeating: 0, count: hs)
            for j in 0..<length { axpy(o, wi[j], y + (m * t + j) * hs, hs) }
        }
    }
}

/// out[g, j] = sum over real i of w[g, i, j] y[g, i], for j < L (dv = P^T dcontext, dk = dS^T q).
public func raggedTransposedWeightedSum(
    _ out: UnsafeMutablePointer<Float>,        // (G, T, HS)
    _ w: UnsafePointer<Float>,                 // (G, R, T)
    _ y: UnsafePointer<Float>,                 // (G, R, HS)
    lengths: [Int32], heads: Int, sequence t: Int, headSize hs: Int, firstTokenOnly: Bool = false
) {
    let r = firstTokenOnly ? 1 : t
    forEachMatrix(lengths, heads: heads) { m, length in
        for j in 0..<length { (out + (m * t + j) * hs).update(repeating: 0, count: hs) }
        for i in 0..<queryRows(length, firstTokenOnly) {
            let wi = w + (m * r + i) * t, yi = y + (m * r + i) * hs
            for j in 0..<length { axpy(out + (m * t + j) * hs, wi[j], yi, hs) }
        }
    }
}

/// Runs `body(g, L)` for every matrix g (L its sentence's length), matrices split over the threads.
@inline(__always)
private func forEachMatrix(_ lengths: [Int32], heads: Int, _ body: (Int, Int) -> Void) {
    parallelFor(lengths.count * heads, minimumPerThread: 8) { range in
        for m in range { body(m, Int(lengths[m / heads])) }
    }
}

/// a . b over n floats, eight lanes at a time.
@inline(__always)
private func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var lanes = SIMD8<Float>(), i = 0
    while i + 8 <= n {
        lanes += UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self)
            * UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self)
        i += 8
    }
    var sum = lanes.sum()
    while i < n { sum += a[i] * b[i]; i += 1 }
    return sum
}

/// y += alpha * x over n floats.
@inline(__always)
private func axpy(_ y: UnsafeMutablePointer<Float>, _ alpha: Float, _ x: UnsafePointer<Float>, _ n: Int) {
    var i = 0
    while i + 8 <= n {
        let sum = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD8<Float>.self)
            + alpha * UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(y + i).storeBytes(of: sum, as: SIMD8<Float>.self)
        i += 8
    }
    while i < n { y[i] += alpha * x[i]; i += 1 }
}
