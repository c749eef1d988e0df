// Shapes: one attention matrix: a sentence of L tokens, one head of size HS, R query rows (R = L
// for self-attention, R = 1 when only the first token asks). Queries, keys, values, contexts and
// their gradients are rows of the packed (N, *) buffers the linear layers read and write, used in
// place through row strides:
//   q, out, dq, dout  (R, HS), row strides qStride, outStride
//   k, v, dk, dv      (L, HS), row stride kvStride
//   probs, mask, dropped (R, T) rows of the batch's (G, R, T) block (T its longest sentence), of
//   which only the real (R, L) corner is read or written.
// No gather into padded (G, T, HS) copies, no padded T x T products: a random SST-2 batch of 16
// has T about 35 for a mean length of 13.

/// Scratch floats `headBackward` needs per matrix (`headForward` uses the first HS of them).
@inline(__always)
func headScratchCount(rows r: Int, sequence t: Int, headSize hs: Int) -> Int { r * t + 2 * hs }

/// out_i = sum over j < L of P[i, j] v_j, P = dropout(softmax(q_i k_j / sqrt(HS))), for i < R.
/// The query is scaled before the product, as DistilBERT does.
@inline(__always)
func headForward(
    _ out: UnsafeMutablePointer<Float>, outStride: Int,
    q: UnsafePointer<Float>, qStride: Int, k: UnsafePointer<Float>, v: UnsafePointer<Float>, kvStride: Int,
    rows r: Int, length l: Int, headSize hs: Int,
    probs: UnsafeMutablePointer<Float>, mask: UnsafeMutablePointer<Float>?, dropped: UnsafeMutablePointer<Float>?,
    sequence t: Int, scratch: UnsafeMutablePointer<Float>, dropout: Float, seed: UInt64, matrix: Int
) {
    let scale = 1 / Float(hs).squareRoot(), scaled = scratch   // (HS) the scaled query
    for i in 0..<r {
        let o = out + i * outStride
        o.update(repeating: 0, count: hs)
        guard l > 0 else { continue }
        let qi = q + i * qStride, p = probs + i * t
        for d in 0..<hs { scaled[d] = qi[d] * scale }
        for j in 0..<l { p[j] = dot(scaled, k + j * kvStride, hs) }
        softmaxRow(p, count: l)
        var w = UnsafePointer(p)
        if dropout > 0, let mask, let dropped {
            dropoutGridRow(dropped + i * t, mask + i * t, p, count: l, matrix: matrix, row: i,
                           probability: dropout, seed: seed)
            w = UnsafePointer(dropped + i * t)
        }
        for j in 0..<l { axpy(o, w[j], v + j * kvStride, hs) }
    }
}

/// Backward of `headForward`: overwrites dq (R, HS), dk and dv (L, HS) from dout (R, HS) and,
/// when given, `probGradient` (R, T rows like `probs`): a loss's gradient on the probabilities
/// themselves (attention transfer), added before the softmax's backward.
///   dv_j = sum_i W[i, j] dout_i,  dS = softmax'(mask * (dout_i . v_j) + dP[i, j]),
///   dq_i = sum_j dS[i, j] k_j / sqrt(HS),  dk_j = sum_i dS[i, j] q_i / sqrt(HS)
@inline(__always)
func headBackward(
    dq: UnsafeMutablePointer<Float>, dqStride: Int,
    dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>, dkvStride: Int,
    dout: UnsafePointer<Float>, doutStride: Int,
    q: UnsafePointer<Float>, qStride: Int, k: UnsafePointer<Float>, v: UnsafePointer<Float>, kvStride: Int,
    rows r: Int, length l: Int, headSize hs: Int,
    probs: UnsafePointer<Float>, mask: UnsafePointer<Float>?, dropped: UnsafePointer<Float>?,
    sequence t: Int, scratch: UnsafeMutablePointer<Float>, probGradient: UnsafePointer<Float>? = nil
) {
    let scale = 1 / Float(hs).squareRoot()
    let ds = scratch, scaled = scratch + r * t, sum = scaled + hs   // (R, T), (HS), (HS)
    let weights = dropped ?? probs
    for j in 0..<l {
        (dv + j * dkvStride).update(repeating: 0, count: hs)
        (dk + j * dkvStride).update(repeating: 0, count: hs)
    }
    for i in 0..<r {
        let di = dout + i * doutStride, dsi = ds + i * t
        for j in 0..<l { dsi[j] = dot(di, v + j * kvStride, hs) }
        for j in 0..<l { axpy(dv + j * dkvStride, weights[i * t + j], di, hs) }
        if let mask, dropped != nil { for j in 0..<l { dsi[j] *= mask[i * t + j] } }
        if let probGradient { for j in 0..<l { dsi[j] += probGradient[i * t + j] } }
        softmaxBackwardRow(dsi, dsi, probs + i * t, count: l)
    }
    for i in 0..<r {
        let qi = q + i * qStride, dsi = ds + i * t, dqi = dq + i * dqStride
        for d in 0..<hs { scaled[d] = qi[d] * scale }
        sum.update(repeating: 0, count: hs)
        for j in 0..<l { axpy(sum, dsi[j], k + j * kvStride, hs) }
        for d in 0..<hs { dqi[d] = sum[d] * scale }
        for j in 0..<l { axpy(dk + j * kvStride, dsi[j], scaled, hs) }
    }
}

/// Runs `body(m, offset, L)` for every attention matrix m = sentence * NH + head, with the
/// sentence's first packed row and its length; matrices split over the threads, at least
/// `minimumPerThread` each.
@inline(__always)
func forEachHead(_ layout: PackedBatch, heads: Int, minimumPerThread: Int = 8, _ body: (Int, Int, Int) -> Void) {
    parallelFor(layout.batch * heads, minimumPerThread: minimumPerThread) { range in
        for m in range {
            let s = m / heads
            body(m, Int(layout.offsets[s]), Int(layout.lengths[s]))
        }
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
