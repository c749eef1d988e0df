import Kernels

// Shapes: N rows (packed tokens or sentences), I inputs, O outputs. Weights are (O, I) as in PyTorch.

/// The weights of one linear layer, in the form the model runs them.
enum LinearWeights {
    /// fp32 weights (O, I) and bias (O) in the parameter arena, multiplied through sgemm: a model
    /// being trained, and any model not frozen.
    case float(weight: UnsafeMutablePointer<Float>, bias: UnsafeMutablePointer<Float>)
    /// The same fp32 weights reordered once for oneDNN's matmul (`SequenceClassifier.freeze()`):
    /// the same products, without sgemm's repacking on every call. Bias still in the arena.
    case frozen(FrozenWeights, weight: UnsafeMutablePointer<Float>, bias: UnsafeMutablePointer<Float>)
    /// Dynamic int8: weights int8 per output channel, activations quantized per row at run time.
    case int8(Int8Linear)
}

/// One linear layer of a classifier, `out = inp W^T + b`, whatever form `W` takes.
///
/// The encoder calls `forward` and never asks which form that is: quantizing a model swaps its
/// layers' weights (as mlx's `quantize(model:)` swaps `Linear` for `QuantizedLinear`), and fp32,
/// frozen fp32 and int8 models run the same forward pass.
final class LinearLayer {
    let outputs: Int, inputs: Int
    private(set) var weights: LinearWeights
    /// Set by `freeze()`: the fp32 weights are reordered on the next forward pass (so a layer that
    /// never runs, such as a fused q|k|v only ever used split, costs nothing).
    private var freezePending = false
    private var frozenPrecision = FrozenWeights.Precision.fp32

    /// A view of fp32 weights (O, I) and bias (O) in a parameter arena.
    init(weight: UnsafeMutablePointer<Float>, bias: UnsafeMutablePointer<Float>, outputs: Int, inputs: Int) {
        self.outputs = outputs
        self.inputs = inputs
        weights = .float(weight: weight, bias: bias)
    }

    init(_ int8: Int8Linear) {
        outputs = int8.outputs
        inputs = int8.inputs
        weights = .int8(int8)
    }

    /// out (N, O) = inp (N, I) W^T + b (+ residual (N, O) when given). Allocates nothing once the
    /// int8 scratch has grown. Int8 layers add the residual in the pass that dequantizes.
    @inline(__always)
    func forward(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, rows: Int, scratch: Int8LinearScratch,
                 residual: UnsafePointer<Float>? = nil) {
        if freezePending { prepareFrozen() }
        switch weights {
        case .float(let weight, let bias):
            linearForward(out, inp, weight, bias, rows: rows, inputs: inputs, outputs: outputs)
        case .frozen(let frozen, let weight, let bias):
            linearForward(out, inp, weight, bias, rows: rows, inputs: inputs, outputs: outputs, frozen: frozen)
        case .int8(let layer):
            layer.forward(out, inp, rows: rows, scratch: scratch, epilogue: Int8Epilogue(residual: residual))
            return
        }
        if let residual { add(out, residual, count: rows * outputs) }
    }

    /// act (N, O) = gelu(inp (N, I) W^T + b). fp32 layers write the pre-activation into `pre` (N, O),
    /// which the backward pass reads; int8 layers, never trained, apply GELU as they dequantize and
    /// leave `pre` untouched.
    @inline(__always)
    func forwardGELU(_ act: UnsafeMutablePointer<Float>, pre: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>,
                     rows: Int, scratch: Int8LinearScratch) {
        if case .int8(let layer) = weights {
            layer.forward(act, inp, rows: rows, scratch: scratch, epilogue: Int8Epilogue(gelu: true))
            return
        }
        forward(pre, inp, rows: rows, scratch: scratch)
        geluForward(act, pre, count: rows * outputs)
    }

    /// From the next forward pass on, fp32 weights run through oneDNN's matmul on weights reordered
    /// once; they must not change afterwards. Int8 weights are already in their kernel's layout.
    func freeze(precision: FrozenWeights.Precision = .fp32) {
        if case .float = weights {
            freezePending = true
            frozenPrecision = precision
        }
    }

    private func prepareFrozen() {
        freezePending = false
        // When oneDNN offers no such primitive the layer stays on sgemm, as before freezing (bf16
        // falls back to fp32 first).
        guard case .float(let weight, let bias) = weights,
              let frozen = FrozenWeights(weight: weight, n: outputs, k: inputs, precision: frozenPrecision)
                ?? FrozenWeights(weight: weight, n: outputs, k: inputs) else { return }
        weights = .frozen(frozen, weight: weight, bias: bias)
    }

    var isFrozen: Bool {
        if case .frozen = weights { return true }
        return false
    }

    /// The precision of the frozen products (nil: not frozen yet).
    var frozenAs: FrozenWeights.Precision? {
        if case .frozen(let frozen, _, _) = weights { return frozen.precision }
        return nil
    }

    /// The int8 weights, when the layer is int8.
    var int8: Int8Linear? {
        if case .int8(let layer) = weights { return layer }
        return nil
    }

    /// The layer restricted to outputs `range` (q, or k|v, of a fused q|k|v projection): a view of
    /// the same fp32 rows, or the same int8 rows, scales and biases packed anew. Either way each
    /// output is computed exactly as in the whole layer.
    func outputs(_ range: Range<Int>) -> LinearLayer {
        let part: LinearLayer
        switch weights {
        case .float(let weight, let bias), .frozen(_, let weight, let bias):
            part = LinearLayer(weight: weight + range.lowerBound * inputs, bias: bias + range.lowerBound,
                               outputs: range.count, inputs: inputs)
            if isFrozen || freezePending { part.freeze() }
        case .int8(let layer):
            part = LinearLayer(layer.outputs(range))
        }
        return part
    }
}
