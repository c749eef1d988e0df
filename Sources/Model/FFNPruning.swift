// Shapes: C hidden, F intermediate (FFN) neurons, F' kept.

extension SequenceClassifier {
    /// The same model with `keep` FFN neurons in every layer (the standard layout, with a smaller
    /// `intermediate_size`/`hidden_dim`, which transformers and the ONNX export load as they are):
    /// layer l keeps the `keep` neurons of highest `importance[l]` (F values), in their original
    /// order; each neuron's lin1 row and bias and its lin2 column go with it.
    public func pruningFFN(keep: Int, importance: [[Double]]) throws -> SequenceClassifier {
        let (c, f) = (config.hiddenSize, config.intermediateSize)
        guard quantization == .none else { throw ModelError("prune the fp32 model, then quantize it") }
        guard keep >= 1, keep <= f else {
            throw ModelError("--ffn must be between 1 and the model's \(f) FFN neurons, got \(keep): pruning cannot remove every neuron")
        }
        guard importance.count == config.layerCount, importance.allSatisfy({ $0.count == f }) else {
            throw ModelError("importance must give \(f) values for each of the \(config.layerCount) layers")
        }
        var prunedConfig = config
        prunedConfig.intermediateSize = keep
        let pruned = SequenceClassifier(config: prunedConfig, headActivation: headActivation)
        for entry in pruned.layout.entries where !entry.name.contains(".ffn.lin1.") && !entry.name.hasSuffix("ffn.lin2.weight") {
            pruned.parameters[entry].update(from: parameter(entry.name), count: entry.count)
        }
        for l in 0..<config.layerCount {
            let p = "transformer.layer.\(l).ffn."
            // Ties keep the earlier neuron, so the choice is deterministic.
            let kept = importance[l].indices.sorted { (importance[l][$0], -$0) > (importance[l][$1], -$1) }.prefix(keep).sorted()
            let (w1, b1, w2) = (parameter(p + "lin1.weight"), parameter(p + "lin1.bias"), parameter(p + "lin2.weight"))
            let (v1, u1, v2) = (pruned.parameter(p + "lin1.weight"), pruned.parameter(p + "lin1.bias"), pruned.parameter(p + "lin2.weight"))
            for (row, neuron) in kept.enumerated() {
                (v1 + row * c).update(from: w1 + neuron * c, count: c)      // lin1 (F', C)
                u1[row] = b1[neuron]
                for out in 0..<c { v2[out * keep + row] = w2[out * f + neuron] }  // lin2 (C, F')
            }
        }
        return pruned
    }

    /// Per layer, per FFN neuron: |w * dL/dw| summed over the neuron's lin1 row and bias and its
    /// lin2 column (the first-order estimate of the loss change if the neuron were removed), from
    /// the gradients now in `gradients`. Add it up over batches for a ranking.
    public func ffnImportance() -> [[Double]] {
        let (c, f) = (config.hiddenSize, config.intermediateSize)
        return (0..<config.layerCount).map { l in
            let p = "transformer.layer.\(l).ffn."
            let (w1, g1, b1, gb1) = (parameter(p + "lin1.weight"), gradient(p + "lin1.weight"), parameter(p + "lin1.bias"), gradient(p + "lin1.bias"))
            let (w2, g2) = (parameter(p + "lin2.weight"), gradient(p + "lin2.weight"))
            return (0..<f).map { n in
                var score = Double(b1[n] * gb1[n])
                for i in 0..<c { score += Double(w1[n * c + i] * g1[n * c + i]) + Double(w2[i * f + n] * g2[i * f + n]) }
                return abs(score)
            }
        }
    }
}
