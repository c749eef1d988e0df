#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

// Shapes: BH = batch * heads attention matrices of (T, T), T the longest sentence in the batch.
// Row i of matrix bh belongs to sentence b = bh / heads of length L = lengths[b]: keys j >= L are
// padding and get probability 0 (transformers fills them with the dtype minimum, which underflows
// to exactly 0); query rows i >= L are padding too and are set to 0 so nothing downstream reads junk.

/// probs = softmax over valid keys of scores, row by row.
public func maskedSoftmaxForward(
    _ probs: UnsafeMutablePointer<Float>,      // (BH, T, T)
    _ scores: UnsafePointer<Float>,            // (BH, T, T), may alias probs
    lengths: UnsafePointer<Int32>,             // (B)
    matrices: Int, heads: Int, sequence: Int
) {
    let t = sequence
    parallelFor(matrices, minimumPerThread: max(1, 2048 / max(t * t, 1))) { range in
    for bh in range {
        let length = Int(lengths[bh / heads])
        for i in 0..<t {
            let s = scores + (bh * t + i) * t
            let p = probs + (bh * t + i) * t
            if i >= length {
                p.update(repeating: 0, count: t)
                continue
            }
            var m = -Float.infinity
            for j in 0..<length { m = max(m, s[j]) }
            var sum: Float = 0
            for j in 0..<length {
                let e = fastExp(s[j] - m)
                p[j] = e
                sum += e
            }
            let inv = 1 / sum
            for j in 0..<length { p[j] *= inv }
            if length < t { (p + length).update(repeating: 0, count: t - length) }
        }
    }
    }
}

/// dscores = probs * (dprobs - sum_j dprobs_j probs_j). Overwrites dscores (may alias dprobs).
public func maskedSoftmaxBackward(
    _ dscores: UnsafeMutablePointer<Float>,    // (BH, T, T)
    _ dprobs: UnsafePointer<Float>,            // (BH, T, T)
    _ probs: UnsafePointer<Float>,             // (BH, T, T)
    lengths: UnsafePointer<Int32>,             // (B)
    matrices: Int, heads: Int, sequence: Int
) {
    let t = sequence
    parallelFor(matrices, minimumPerThread: max(1, 2048 / max(t * t, 1))) { range in
    for bh in range {
        let length = Int(lengths[bh / heads])
        for i in 0..<t {
            let row = (bh * t + i) * t
            let p = probs + row, dp = dprobs + row, ds = dscores + row
            if i >= length {
                ds.update(repeating: 0, count: t)
                continue
            }
            var dot: Float = 0
            for j in 0..<length { dot += dp[j] * p[j] }
            for j in 0..<length { ds[j] = p[j] * (dp[j] - dot) }
            if length < t { (ds + length).update(repeating: 0, count: t - length) }
        }
    }
    }
}

extension Reference {
    /// Float64 softmax of one row over its first `length` entries (the rest get 0).
    public static func maskedSoftmax(_ row: [Double], length: Int) -> [Double] {
        let m = row[0..<length].max() ?? 0
        let e = row[0..<length].map { exp($0 - m) }
        let s = e.reduce(0, +)
        return e.map { $0 / s } + [Double](repeating: 0, count: row.count - length)
    }
}
