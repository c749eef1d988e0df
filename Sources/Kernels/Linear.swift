// Shapes: N rows (packed tokens or batch), I inputs, O outputs. Weights are (O, I) as in PyTorch.
// Gradient contract: parameter gradients accumulate (+=); the input gradient overwrites unless
// `accumulate` is set, which lets a residual branch add into the same buffer.

/// out = inp * W^T + b; with `frozen` (W reordered once, `FrozenWeights`) through oneDNN's matmul
/// primitive instead of sgemm: the same products, without repacking W on every call.
public func linearForward(
    _ out: UnsafeMutablePointer<Float>,        // (N, O)
    _ inp: UnsafePointer<Float>,               // (N, I)
    _ weight: UnsafePointer<Float>,            // (O, I)
    _ bias: UnsafePointer<Float>?,             // (O)
    rows: Int, inputs: Int, outputs: Int, frozen: FrozenWeights? = nil
) {
    if let bias {
        parallelFor(rows, minimumPerThread: max(1, 4096 / max(outputs, 1))) { range in
            for r in range { (out + r * outputs).update(from: bias, count: outputs) }
        }
    }
    if let frozen, rows > 0 {
        precondition(frozen.n == outputs && frozen.k == inputs, "frozen weights (\(frozen.n), \(frozen.k)) used as (\(outputs), \(inputs))")
        if bias == nil { out.update(repeating: 0, count: rows * outputs) }
        do {
            try frozen.multiplyAdd(inp, rows: rows, into: out)
        } catch {
            preconditionFailure("\(error)")
        }
        return
    }
    gemm(transA: false, transB: true, m: rows, n: outputs, k: inputs,
         a: inp, lda: inputs, b: weight, ldb: inputs,
         beta: bias == nil ? 0 : 1, c: out, ldc: outputs)
}

/// dinp (=/+=) dout * W, dW += dout^T * inp, db += column sums of dout.
public func linearBackward(
    _ dinp: UnsafeMutablePointer<Float>?,      // (N, I), nil when not needed
    _ dweight: UnsafeMutablePointer<Float>,    // (O, I)
    _ dbias: UnsafeMutablePointer<Float>?,     // (O)
    _ dout: UnsafePointer<Float>,              // (N, O)
    _ inp: UnsafePointer<Float>,               // (N, I)
    _ weight: UnsafePointer<Float>,            // (O, I)
    rows: Int, inputs: Int, outputs: Int, accumulate: Bool = false
) {
    if let dinp {
        gemm(transA: false, transB: false, m: rows, n: inputs, k: outputs,
             a: dout, lda: outputs, b: weight, ldb: inputs,
             beta: accumulate ? 1 : 0, c: dinp, ldc: inputs)
    }
    gemm(transA: true, transB: false, m: outputs, n: inputs, k: rows,
         a: dout, lda: outputs, b: inp, ldb: inputs, beta: 1, c: dweight, ldc: inputs)
    if let dbias {
        // Column sums: each thread owns a range of outputs.
        parallelFor(outputs, minimumPerThread: max(8, 4096 / max(rows, 1))) { columns in
            for r in 0..<rows {
                let row = dout + r * outputs
                for o in columns { dbias[o] += row[o] }
            }
        }
    }
}

extension Reference {
    /// Plain-loop reference of `linearForward`.
    public static func linear(_ inp: [Double], _ weight: [Double], _ bias: [Double]?,
                              rows: Int, inputs: Int, outputs: Int) -> [Double] {
        var out = [Double](repeating: 0, count: rows * outputs)
        for r in 0..<rows {
            for o in 0..<outputs {
                var s = bias?[o] ?? 0
                for i in 0..<inputs { s += inp[r * inputs + i] * weight[o * inputs + i] }
                out[r * outputs + o] = s
            }
        }
        return out
    }
}
