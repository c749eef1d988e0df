#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

// Shapes: one row of n attention scores, the real keys of one query (entries from n on are the
// padding of the batch's (R, T) block: neither read nor written; transformers fills masked scores
// with the dtype minimum, which underflows to exactly 0, so leaving them out is the same softmax).

/// p = softmax(p) over its first n entries, in place.
@inline(__always)
public func softmaxRow(_ p: UnsafeMutablePointer<Float>, count n: Int) {
    var largest = -Float.infinity
    for j in 0..<n { largest = max(largest, p[j]) }
    var sum: Float = 0
    for j in 0..<n {
        let e = fastExp(p[j] - largest)
        p[j] = e
        sum += e
    }
    let inv = 1 / sum
    for j in 0..<n { p[j] *= inv }
}

/// ds = p * (dp - sum_j dp_j p_j) over the first n entries. ds may alias dp.
@inline(__always)
public func softmaxBackwardRow(_ ds: UnsafeMutablePointer<Float>, _ dp: UnsafePointer<Float>,
                               _ p: UnsafePointer<Float>, count n: Int) {
    var dot: Float = 0
    for j in 0..<n { dot += dp[j] * p[j] }
    for j in 0..<n { ds[j] = p[j] * (dp[j] - dot) }
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
