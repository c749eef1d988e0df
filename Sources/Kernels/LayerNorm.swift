import CKernels

// Shapes: N rows, C features. Statistics in Float32 accumulated per row, as PyTorch does on CPU.

/// out = (x - mean) * rstd * gamma + beta, saving mean and rstd for the backward pass. On the
/// `avx512` path in C, 16 lanes at a time (sums in another order: equal up to rounding).
public func layerNormForward(
    _ out: UnsafeMutablePointer<Float>,        // (N, C)
    _ mean: UnsafeMutablePointer<Float>,       // (N)
    _ rstd: UnsafeMutablePointer<Float>,       // (N)
    _ inp: UnsafePointer<Float>,               // (N, C)
    _ gamma: UnsafePointer<Float>,             // (C)
    _ beta: UnsafePointer<Float>,              // (C)
    rows: Int, features: Int, epsilon: Float, isa: ISA = .current
) {
    let inv = 1 / Float(features)
    parallelFor(rows, minimumPerThread: 16) { rowRange in
    if isa == .avx512 {
        let first = rowRange.lowerBound
        edgedistill_layernorm_avx512(out + first * features, mean + first, rstd + first, inp + first * features,
                                     gamma, beta, rowRange.count, features, epsilon)
        return
    }
    for r in rowRange {
        let x = inp + r * features
        var s: Float = 0
        for c in 0..<features { s += x[c] }
        let m = s * inv
        var v: Float = 0
        for c in 0..<features { let d = x[c] - m; v += d * d }
        let rs = 1 / (v * inv + epsilon).squareRoot()
        let o = out + r * features
        for c in 0..<features { o[c] = (x[c] - m) * rs * gamma[c] + beta[c] }
        mean[r] = m
        rstd[r] = rs
    }
    }
}

/// dinp (=/+=) the input gradient; dgamma, dbeta accumulate.
public func layerNormBackward(
    _ dinp: UnsafeMutablePointer<Float>,       // (N, C)
    _ dgamma: UnsafeMutablePointer<Float>,     // (C)
    _ dbeta: UnsafeMutablePointer<Float>,      // (C)
    _ dout: UnsafePointer<Float>,              // (N, C)
    _ inp: UnsafePointer<Float>,               // (N, C)
    _ gamma: UnsafePointer<Float>,             // (C)
    _ mean: UnsafePointer<Float>,              // (N)
    _ rstd: UnsafePointer<Float>,              // (N)
    rows: Int, features: Int, accumulate: Bool = false
) {
    let inv = 1 / Float(features)
    // Parameter gradients sum over rows: split the features between threads for those.
    parallelFor(features, minimumPerThread: 32) { columns in
        for r in 0..<rows {
            let x = inp + r * features, d = dout + r * features
            let m = mean[r], rs = rstd[r]
            for c in columns {
                dgamma[c] += d[c] * (x[c] - m) * rs
                dbeta[c] += d[c]
            }
        }
    }
    parallelFor(rows, minimumPerThread: 16) { rowRange in
    for r in rowRange {
        let x = inp + r * features
        let d = dout + r * features
        let m = mean[r], rs = rstd[r]
        // dnorm = dout * gamma; dx = rstd * (dnorm - mean(dnorm) - xhat * mean(dnorm * xhat))
        var sumD: Float = 0, sumDX: Float = 0
        for c in 0..<features {
            let xhat = (x[c] - m) * rs
            let dn = d[c] * gamma[c]
            sumD += dn
            sumDX += dn * xhat
        }
        sumD *= inv
        sumDX *= inv
        let o = dinp + r * features
        if accumulate {
            for c in 0..<features {
                let xhat = (x[c] - m) * rs
                o[c] += rs * (d[c] * gamma[c] - sumD - xhat * sumDX)
            }
        } else {
            for c in 0..<features {
                let xhat = (x[c] - m) * rs
                o[c] = rs * (d[c] * gamma[c] - sumD - xhat * sumDX)
            }
        }
    }
    }
}

extension Reference {
    /// Plain-loop reference of `layerNormForward`.
    public static func layerNorm(_ inp: [Double], gamma: [Double], beta: [Double],
                                 rows: Int, features: Int, epsilon: Double) -> [Double] {
        var out = [Double](repeating: 0, count: inp.count)
        for r in 0..<rows {
            let x = inp[(r * features)..<((r + 1) * features)]
            let m = x.reduce(0, +) / Double(features)
            let v = x.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(features)
            let rs = 1 / (v + epsilon).squareRoot()
            for c in 0..<features { out[r * features + c] = (inp[r * features + c] - m) * rs * gamma[c] + beta[c] }
        }
        return out
    }
}
