import Kernels

// A model whose weights will not change again (the teacher while it is distilled, a model being
// served) runs its linear layers on weights reordered once into oneDNN's preferred layout
// (`FrozenWeights`) instead of letting sgemm repack them on every call: the same products, faster.

extension SequenceClassifier {
    /// From now on the linear layers of forward passes use weights prepared once, on first use.
    /// The parameters must not change afterwards: a frozen model refuses a backward pass.
    ///
    /// `.bf16` rounds inputs and weights to bf16 for the products (fp32 sums and outputs): for a
    /// frozen teacher on a CPU with AVX-512 BF16, where it falls back to fp32 when oneDNN cannot.
    public func freeze(precision: FrozenWeights.Precision = .fp32) {
        guard !isFrozen else { return }
        isFrozen = true
        for layer in weights.linearLayers { layer.freeze(precision: precision) }
    }

    /// The precision the frozen layers run in, once they have run (nil before, or when not frozen).
    public var frozenPrecision: FrozenWeights.Precision? { weights.linearLayers.compactMap(\.frozenAs).first }

    /// Linear layers whose weights have been reordered for oneDNN so far (they are on first use).
    var frozenLayerCount: Int { weights.linearLayers.filter(\.isFrozen).count }
}
