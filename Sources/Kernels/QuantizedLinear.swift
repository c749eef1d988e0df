import CKernels

// Shapes: N rows (packed tokens or batch), I inputs, O outputs. Weights are (O, I) as in PyTorch.
//
// Dynamic int8 linear layers, as PyTorch's `quantize_dynamic` does them on x86:
// - weights: symmetric, one scale per output channel, int8 in [-127, 127], quantized offline;
// - activations: asymmetric, one scale and zero point per row, quantized at run time into
//   [0, levels]: 255 levels (8 bits) on AVX-512 VNNI, whose vpdpbusd sums u8 x s8 products
//   exactly; 127 (7 bits) on AVX2, because there a u8 x s8 multiply (vpmaddubsw, in our kernel
//   and in oneDNN's) saturates a pair of products above 32767, which 8-bit activations reach
//   (fbgemm's `reduce_range` exists for the same reason); the portable path keeps AVX2's 127
//   (`ISA.activationLevels`). The range always includes 0, so zero padding and ReLU zeros are exact;
// - int8 x int8 products are summed exactly in int32 by the packed kernels of CKernels
//   (`PackedInt8Weights`, the path `ISA.current`). oneDNN 2.6's `dnnl_gemm_u8s8s32` gives the same
//   integers (`int8GEMM`, kept as a cross-check in the tests), but on this AVX2 CPU it measured
//   2.1-2.8x slower than our kernel at batch-1 shapes with K = 384 (M = 25; on par at K = 1536),
//   and slower than oneDNN's own sgemm;
// - the int32 sums are dequantized with the bias in fp32:
//   out[r, o] = xScale[r] * wScale[o] * (acc[r, o] - xZero[r] * colSum[o]) + bias[o],
//   where colSum[o] is the sum of row o of the int8 weights (the zero point's contribution).

/// The largest quantized activation value on the path in use (see the file comment).
public var activationLevels: Float { ISA.current.activationLevels }

/// Quantizes `weight` (O, I) symmetrically per output channel: `q = round(w / scale)` in
/// [-127, 127] with `scale = max |w[o, :]| / 127` (1 for an all-zero row, so `q` is 0).
/// Writes `quantized` (O, I), `scales` (O) and `columnSums` (O): the sum of each row of `quantized`.
public func quantizeWeightsPerChannel(
    _ quantized: UnsafeMutablePointer<Int8>,   // (O, I)
    scales: UnsafeMutablePointer<Float>,       // (O)
    columnSums: UnsafeMutablePointer<Int32>,   // (O)
    _ weight: UnsafePointer<Float>,            // (O, I)
    outputs: Int, inputs: Int
) {
    for o in 0..<outputs {
        let row = weight + o * inputs, q = quantized + o * inputs
        var largest: Float = 0
        for i in 0..<inputs { largest = max(largest, abs(row[i])) }
        let scale = largest > 0 ? largest / 127 : 1
        scales[o] = scale
        var sum: Int32 = 0
        for i in 0..<inputs {
            let v = Int8(max(-127, min(127, (row[i] / scale).rounded())))
            q[i] = v
            sum += Int32(v)
        }
        columnSums[o] = sum
    }
}

/// Sums of each row of already quantized weights (O, I), for weights read from a file.
public func int8RowSums(_ columnSums: UnsafeMutablePointer<Int32>, _ quantized: UnsafePointer<Int8>,
                        outputs: Int, inputs: Int) {
    for o in 0..<outputs {
        var sum: Int32 = 0
        for i in 0..<inputs { sum += Int32(quantized[o * inputs + i]) }
        columnSums[o] = sum
    }
}

/// Quantizes each row of `x` (N, I) asymmetrically into [0, L] (L = `levels`, 127 or 255), rows
/// of `quantized` `stride` apart (padding columns set to 0, which the zero-padded weights ignore):
/// `scale = (max(x, 0) - min(x, 0)) / L`, `zero = rint(-min(x, 0) / scale)`,
/// `q = clamp(rint(x / scale) + zero, 0, L)`, ties to even (as ONNX Runtime's and fbgemm's dynamic
/// quantization round). An all-zero row gets scale 1 and zero point 0. On the `avx512` path the
/// C kernel does it 16 lanes at a time, with the same codes.
public func quantizeRowsAsymmetric(
    _ quantized: UnsafeMutablePointer<UInt8>,  // (N, stride)
    scales: UnsafeMutablePointer<Float>,       // (N)
    zeroPoints: UnsafeMutablePointer<Int32>,   // (N)
    _ x: UnsafePointer<Float>,                 // (N, I)
    rows: Int, inputs: Int, stride: Int? = nil, levels activationLevels: Float = activationLevels,
    isa: ISA = .current
) {
    let stride = stride ?? inputs
    if isa == .avx512 {
        edgedistill_quantize_rows_avx512(quantized, scales, zeroPoints, x, rows, inputs, stride, activationLevels)
        return
    }
    for r in 0..<rows {
        let row = x + r * inputs, q = quantized + r * stride
        for i in inputs..<stride { q[i] = 0 }
        var low: Float = 0, high: Float = 0
        for i in 0..<inputs { low = min(low, row[i]); high = max(high, row[i]) }
        let scale = high > low ? (high - low) / activationLevels : 1
        let zero = max(0, min(activationLevels, (-low / scale).rounded(.toNearestOrEven)))
        let inverse = 1 / scale
        scales[r] = scale
        zeroPoints[r] = Int32(zero)
        for i in 0..<inputs {
            let v = max(0, min(activationLevels, (row[i] * inverse).rounded(.toNearestOrEven) + zero))
            q[i] = UInt8(v)
        }
    }
}

/// Int8 weights (O, I) packed for the CKernels kernel (16 outputs x 4 inputs per 64-byte step).
public final class PackedInt8Weights {
    public let outputs: Int, inputs: Int
    /// Inputs padded to a multiple of 4: the row stride of quantized activations.
    public let paddedInputs: Int
    let packed: UnsafeMutablePointer<Int8>

    /// Packs `weight` (O, I), values in [-127, 127].
    public init(_ weight: UnsafePointer<Int8>, outputs: Int, inputs: Int) {
        self.outputs = outputs
        self.inputs = inputs
        paddedInputs = edgedistill_int8_padded_k(inputs)
        let size = edgedistill_int8_packed_size(outputs, inputs)
        packed = .allocate(capacity: max(size, 64))
        edgedistill_int8_pack_b(packed, weight, outputs, inputs)
    }

    deinit { packed.deallocate() }

    /// c (M, O) with row stride `ldc` = a (M, paddedInputs) * W^T, exactly, on path `isa`; `a` in
    /// [0, isa.activationLevels]. Output blocks of 16 are split over OpenMP's threads when each gets
    /// enough work; `then`, when given, runs on each thread after its columns are done, with them.
    public func multiply(_ c: UnsafeMutablePointer<Int32>, ldc: Int, _ a: UnsafePointer<UInt8>, rows: Int, isa: ISA = .current,
                         then: ((Range<Int>) -> Void)? = nil) {
        if rows == 0 || outputs == 0 { return }
        let code = isa.code
        let blocks = (outputs + 15) / 16
        // About 100k multiply-adds per thread at least: below that a fork costs more than it saves.
        let perBlock = max(rows * 16 * paddedInputs, 1)
        parallelFor(blocks, minimumPerThread: max(1, 100_000 / perBlock)) { range in
            let columns = (range.lowerBound * 16)..<min(range.upperBound * 16, outputs)
            edgedistill_int8_gemm(code, c, ldc, a, packed, rows, outputs, inputs, columns.lowerBound, columns.upperBound)
            then?(columns)
        }
    }
}

/// Scratch for `int8LinearForward`, grown to the largest call and reused (no allocation per call).
public final class Int8LinearScratch {
    private(set) var quantized: UnsafeMutablePointer<UInt8>
    private(set) var accumulators: UnsafeMutablePointer<Int32>
    private(set) var scales: UnsafeMutablePointer<Float>
    private(set) var zeroPoints: UnsafeMutablePointer<Int32>
    private var capacity = (inputs: 0, outputs: 0, rows: 0)

    public init() {
        quantized = .allocate(capacity: 1)
        accumulators = .allocate(capacity: 1)
        scales = .allocate(capacity: 1)
        zeroPoints = .allocate(capacity: 1)
    }

    deinit {
        quantized.deallocate(); accumulators.deallocate(); scales.deallocate(); zeroPoints.deallocate()
    }

    /// Makes room for `rows` rows of `inputs` quantized inputs and `outputs` accumulators.
    func reserve(rows: Int, inputs: Int, outputs: Int) {
        if rows * inputs > capacity.inputs {
            quantized.deallocate()
            capacity.inputs = rows * inputs + rows * inputs / 4
            quantized = .allocate(capacity: capacity.inputs)
        }
        if rows * outputs > capacity.outputs {
            accumulators.deallocate()
            capacity.outputs = rows * outputs + rows * outputs / 4
            accumulators = .allocate(capacity: capacity.outputs)
        }
        if rows > capacity.rows {
            scales.deallocate(); zeroPoints.deallocate()
            capacity.rows = rows + rows / 4
            scales = .allocate(capacity: capacity.rows)
            zeroPoints = .allocate(capacity: capacity.rows)
        }
    }
}

/// `C (M, N) = A (M, K) * B^T` in exact integer arithmetic through oneDNN's `dnnl_gemm_u8s8s32`,
/// `A` in [0, 127], `B` (N, K) int8. A cross-check of the packed kernel (see the file comment).
///
/// Shapes come from our code; a oneDNN failure is a bug and traps with the shapes.
public func int8GEMM(_ c: UnsafeMutablePointer<Int32>, _ a: UnsafePointer<UInt8>, _ b: UnsafePointer<Int8>,
                     m: Int, n: Int, k: Int) {
    if m == 0 || n == 0 { return }
    do {
        try gemmU8S8S32(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: k, c: c, ldc: n)
    } catch {
        preconditionFailure("\(error)")
    }
}

/// What follows the int8 layer's dequantization in the same pass over its outputs.
public struct Int8Epilogue {
    /// out = gelu(out) (the FFN's first layer; its pre-activation is then not kept).
    public var gelu = false
    /// out += residual (N, O), after GELU.
    public var residual: UnsafePointer<Float>? = nil
    public init(gelu: Bool = false, residual: UnsafePointer<Float>? = nil) {
        self.gelu = gelu
        self.residual = residual
    }
}

/// out = dequantize(quantize(inp) * W_q^T) + b, then the epilogue: the dynamic int8 linear layer
/// (see the file comment). Quantization and the epilogue run in C on the `avx512` path, in Swift
/// loops compiled for AVX2 on the others; the GEMM on `isa`'s kernel.
public func int8LinearForward(
    _ out: UnsafeMutablePointer<Float>,        // (N, O)
    _ inp: UnsafePointer<Float>,               // (N, I)
    _ weight: PackedInt8Weights,               // (O, I)
    weightScales: UnsafePointer<Float>,        // (O)
    columnSums: UnsafePointer<Int32>,          // (O)
    _ bias: UnsafePointer<Float>?,             // (O)
    rows: Int, scratch: Int8LinearScratch, isa: ISA = .current, epilogue: Int8Epilogue = Int8Epilogue()
) {
    if rows == 0 { return }
    let (inputs, outputs, stride) = (weight.inputs, weight.outputs, weight.paddedInputs)
    scratch.reserve(rows: rows, inputs: stride, outputs: outputs)
    let (q, acc, xs, xz) = (scratch.quantized, scratch.accumulators, scratch.scales, scratch.zeroPoints)
    quantizeRowsAsymmetric(q, scales: xs, zeroPoints: xz, inp, rows: rows, inputs: inputs, stride: stride,
                           levels: isa.activationLevels, isa: isa)
    if isa == .avx512 {
        // Each thread dequantizes the columns it has just multiplied, while they are in its cache.
        weight.multiply(acc, ldc: outputs, q, rows: rows, isa: isa) { columns in
            edgedistill_dequantize_avx512(out, acc, rows, outputs, columns.lowerBound, columns.upperBound, xs, xz,
                                          weightScales, columnSums, bias, epilogue.gelu ? 1 : 0, epilogue.residual)
        }
        return
    }
    weight.multiply(acc, ldc: outputs, q, rows: rows, isa: isa)
    for r in 0..<rows {
        let a = acc + r * outputs, o = out + r * outputs
        let (scale, zero) = (xs[r], xz[r])
        if let bias {
            for j in 0..<outputs { o[j] = Float(a[j] &- zero &* columnSums[j]) * (scale * weightScales[j]) + bias[j] }
        } else {
            for j in 0..<outputs { o[j] = Float(a[j] &- zero &* columnSums[j]) * (scale * weightScales[j]) }
        }
        if epilogue.gelu { for j in 0..<outputs { o[j] = gelu(o[j]) } }
        if let residual = epilogue.residual {
            let x = residual + r * outputs
            for j in 0..<outputs { o[j] += x[j] }
        }
    }
}

// MARK: - int8 embedding rows

/// Quantizes each row of a table (V, C) symmetrically: `q = round(x / scale)`, scale = max |row| / 127.
public func quantizeRowsSymmetric(_ quantized: UnsafeMutablePointer<Int8>, scales: UnsafeMutablePointer<Float>,
                                  _ table: UnsafePointer<Float>, rows: Int, columns: Int) {
    var sums = [Int32](repeating: 0, count: rows)
    sums.withUnsafeMutableBufferPointer {
        quantizeWeightsPerChannel(quantized, scales: scales, columnSums: $0.baseAddress!, table,
                                  outputs: rows, inputs: columns)
    }
}

/// out[n] = wordScales[ids[n]] * wordTable[ids[n]] + positionTable[positions[n]], with an int8 word table.
public func int8EmbeddingForward(
    _ out: UnsafeMutablePointer<Float>,        // (N, C)
    _ ids: UnsafePointer<Int32>,               // (N)
    _ positions: UnsafePointer<Int32>,         // (N)
    _ wordTable: UnsafePointer<Int8>,          // (V, C)
    _ wordScales: UnsafePointer<Float>,        // (V)
    _ positionTable: UnsafePointer<Float>,     // (P, C)
    tokens: Int, hidden: Int
) {
    for t in 0..<tokens {
        let o = out + t * hidden
        let id = Int(ids[t])
        let w = wordTable + id * hidden, scale = wordScales[id]
        let p = positionTable + Int(positions[t]) * hidden
        for c in 0..<hidden { o[c] = Float(w[c]) * scale + p[c] }
    }
}

extension Reference {
    /// Plain-loop integer reference of `int8GEMM`.
    public static func int8GEMM(_ a: [UInt8], _ b: [Int8], m: Int, n: Int, k: Int) -> [Int32] {
        var c = [Int32](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var s: Int64 = 0
                for p in 0..<k { s += Int64(a[i * k + p]) * Int64(b[j * k + p]) }
                c[i * n + j] = Int32(s)
            }
        }
        return c
    }

    /// Float64 reference of `int8LinearForward`: the same quantization, exact products.
    public static func int8Linear(_ inp: [Double], weight q: [Int8], weightScales: [Double], bias: [Double]?,
                                  rows: Int, inputs: Int, outputs: Int, levels: Float = activationLevels) -> [Double] {
        var out = [Double](repeating: 0, count: rows * outputs)
        for r in 0..<rows {
            let row = inp[(r * inputs)..<((r + 1) * inputs)]
            let low = min(0, row.min() ?? 0), high = max(0, row.max() ?? 0)
            // Same Float32 arithmetic as the kernel for the quantization step, so codes agree.
            let scale = high > low ? Float(high - low) / levels : 1
            let zero = max(0, min(levels, (Float(-low) / scale).rounded(.toNearestOrEven)))
            let inverse = 1 / scale
            let codes = row.map { Double(max(0, min(levels, (Float($0) * inverse).rounded(.toNearestOrEven) + zero))) - Double(zero) }
            for o in 0..<outputs {
                var s = 0.0
                for i in 0..<inputs { s += codes[i] * Double(q[o * inputs + i]) }
                out[r * outputs + o] = s * Double(scale) * weightScales[o] + (bias?[o] ?? 0)
            }
        }
        return out
    }
}
