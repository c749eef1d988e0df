import Kernels

// Shapes: N rows, I inputs, O outputs, V vocabulary, C hidden.
// The int8 forms a quantized `SequenceClassifier` holds in place of fp32 tensors: a linear layer's
// weights (`Int8Linear`, run through `LinearLayer`) and the word table (`Int8Embeddings`).

/// A linear layer with int8 weights (O, I), one fp32 scale per output channel, and an fp32 bias (O).
final class Int8Linear {
    let outputs: Int, inputs: Int
    let weight: UnsafeMutablePointer<Int8>      // (O, I)
    let scales: UnsafeMutablePointer<Float>     // (O)
    let sums: UnsafeMutablePointer<Int32>       // (O) row sums of `weight`, for the activations' zero point
    let bias: UnsafeMutablePointer<Float>       // (O)
    let packed: PackedInt8Weights               // `weight` laid out for the int8 kernel

    /// Takes quantized weights as stored (`weight` O * I values, `scales` and `bias` O values).
    init(weight: [Int8], scales: [Float], bias: [Float], outputs: Int, inputs: Int) {
        precondition(weight.count == outputs * inputs && scales.count == outputs && bias.count == outputs)
        self.outputs = outputs
        self.inputs = inputs
        self.weight = .allocate(capacity: max(outputs * inputs, 1))
        self.weight.initialize(from: weight, count: outputs * inputs)
        self.scales = .allocate(capacity: max(outputs, 1))
        self.scales.initialize(from: scales, count: outputs)
        self.bias = .allocate(capacity: max(outputs, 1))
        self.bias.initialize(from: bias, count: outputs)
        self.sums = .allocate(capacity: max(outputs, 1))
        int8RowSums(sums, self.weight, outputs: outputs, inputs: inputs)
        packed = PackedInt8Weights(self.weight, outputs: outputs, inputs: inputs)
    }

    /// Quantizes fp32 weights (O, I) per output channel.
    convenience init(quantizing weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, outputs: Int, inputs: Int) {
        var q = [Int8](repeating: 0, count: outputs * inputs)
        var scales = [Float](repeating: 0, count: outputs), sums = [Int32](repeating: 0, count: outputs)
        quantizeWeightsPerChannel(&q, scales: &scales, columnSums: &sums, weight, outputs: outputs, inputs: inputs)
        self.init(weight: q, scales: scales, bias: Array(UnsafeBufferPointer(start: bias, count: outputs)),
                  outputs: outputs, inputs: inputs)
    }

    deinit { weight.deallocate(); scales.deallocate(); sums.deallocate(); bias.deallocate() }

    func forward(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, rows: Int, scratch: Int8LinearScratch,
                 epilogue: Int8Epilogue = Int8Epilogue()) {
        int8LinearForward(out, inp, packed, weightScales: scales, columnSums: sums, bias, rows: rows, scratch: scratch,
                          epilogue: epilogue)
    }

    /// The layer restricted to outputs `range`: the same int8 values, scales and biases (the scales
    /// are per output, so slicing changes no value), packed anew.
    func outputs(_ range: Range<Int>) -> Int8Linear {
        Int8Linear(weight: Array(UnsafeBufferPointer(start: weight + range.lowerBound * inputs, count: range.count * inputs)),
                   scales: Array(UnsafeBufferPointer(start: scales + range.lowerBound, count: range.count)),
                   bias: Array(UnsafeBufferPointer(start: bias + range.lowerBound, count: range.count)),
                   outputs: range.count, inputs: inputs)
    }
}

/// Word embeddings stored as int8 (V, C) with one symmetric scale per row (V).
final class Int8Embeddings {
    let table: [Int8]    // (V, C)
    let scales: [Float]  // (V)

    init(table: [Int8], scales: [Float]) {
        self.table = table
        self.scales = scales
    }

    /// Quantizes an fp32 table (V, C), each row with its own scale.
    convenience init(quantizing words: UnsafePointer<Float>, rows: Int, columns: Int) {
        var table = [Int8](repeating: 0, count: rows * columns)
        var scales = [Float](repeating: 0, count: rows)
        quantizeRowsSymmetric(&table, scales: &scales, words, rows: rows, columns: columns)
        self.init(table: table, scales: scales)
    }

    /// out[n] = scale[ids[n]] * table[ids[n]] + positionTable[positions[n]] (see `int8EmbeddingForward`).
    func forward(_ out: UnsafeMutablePointer<Float>, _ ids: UnsafePointer<Int32>, _ positions: UnsafePointer<Int32>,
                 _ positionTable: UnsafePointer<Float>, tokens: Int, hidden: Int) {
        table.withUnsafeBufferPointer { t in
            scales.withUnsafeBufferPointer { s in
                int8EmbeddingForward(out, ids, positions, t.baseAddress!, s.baseAddress!, positionTable,
                                     tokens: tokens, hidden: hidden)
            }
        }
    }
}
