import Kernels

// A model whose weights will not change again (the teacher while it is distilled, a model being
// served) runs its linear layers on weights reordered once into oneDNN's preferred layout
// (`FrozenWeights`) instead of letting sgemm repack them on every call: the same products, faster.

/// A linear layer's weights: where they start and the (outputs, inputs) block used from there.
struct FrozenKey: Hashable {
    let address: Int, outputs: Int, inputs: Int
}

extension SequenceClassifier {
    /// From now on the linear layers of forward passes use weights prepared once, on first use.
    /// The parameters must not change afterwards: a frozen model refuses a backward pass.
    public func freeze() {
        if frozenWeights == nil { frozenWeights = [:] }
    }

    public var isFrozen: Bool { frozenWeights != nil }

    /// `linearForward` on this model's weights, through their frozen form once the model is frozen.
    func linear(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, _ weight: UnsafePointer<Float>,
                _ bias: UnsafePointer<Float>?, rows: Int, inputs: Int, outputs: Int) {
        var frozen: FrozenWeights?
        if frozenWeights != nil {
            let key = FrozenKey(address: Int(bitPattern: weight), outputs: outputs, inputs: inputs)
            if let prepared = frozenWeights?[key] {
                frozen = prepared
            } else {
                // nil (remembered) when oneDNN offers no such primitive: sgemm then, as before.
                frozen = FrozenWeights(weight: weight, n: outputs, k: inputs)
                frozenWeights?[key] = .some(frozen)
            }
        }
        linearForward(out, inp, weight, bias, rows: rows, inputs: inputs, outputs: outputs, frozen: frozen)
    }
}
