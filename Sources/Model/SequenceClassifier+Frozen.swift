import Kernels

// A model whose weights will not change again (the teacher while it is distilled, a model being
// served) runs its linear layers on weights reordered once into oneDNN's preferred layout
// (`FrozenWeights`) instead of letting sgemm repack them on every call: the same products, faster.

extension SequenceClassifier {
    /// From now on the linear layers of forward passes use weights prepared once, on first use.
    /// The parameters must not change afterwards: a frozen model refuses a backward pass.
    public func freeze() {
        guard !isFrozen else { return }
        isFrozen = true
        for layer in weights.linearLayers { layer.freeze() }
    }

    /// Linear layers whose weights have been reordered for oneDNN so far (they are on first use).
    var frozenLayerCount: Int { weights.linearLayers.filter(\.isFrozen).count }
}
