// Shapes: C hidden, HS head size, NH a layer's heads now, A = NH * HS, A' = the kept heads * HS.

extension SequenceClassifier {
    /// The same model with `keep` attention heads in every layer: layer l keeps the `keep` heads of
    /// highest `importance[l]` (one value per head it has now), in their original order.
    public func pruningHeads(keep: Int, importance: [[Double]]) throws -> SequenceClassifier {
        let fewest = (0..<config.layerCount).map { config.heads(inLayer: $0) }.min() ?? 0
        guard keep >= 1, keep <= fewest else {
            throw ModelError("--heads must be between 1 and the \(fewest) heads a layer has, got \(keep): pruning cannot remove every head")
        }
        guard importance.count == config.layerCount,
              importance.indices.allSatisfy({ importance[$0].count == config.heads(inLayer: $0) }) else {
            throw ModelError("importance must give one value for each head of each of the \(config.layerCount) layers")
        }
        let removed = importance.map { scores in
            // Ties keep the earlier head, so the choice is deterministic.
            Array(scores.indices.sorted { (scores[$0], -$0) > (scores[$1], -$1) }.dropFirst(keep)).sorted()
        }
        return try pruningHeads(removing: removed)
    }

    /// The same model without the heads `removed[l]` of layer l (indices among the heads the layer
    /// has now). The result records every removed head, by its original index, in
    /// `config.prunedHeads` (transformers' `pruned_heads`); each kept head's q, k and v rows and
    /// biases and its out_lin columns go with it. Removing heads h of a layer gives the logits of
    /// this model with out_lin's columns for h set to zero.
    public func pruningHeads(removing removed: [[Int]]) throws -> SequenceClassifier {
        guard quantization == .none else { throw ModelError("prune the fp32 model, then quantize it") }
        guard removed.count == config.layerCount else {
            throw ModelError("name the heads to remove for each of the \(config.layerCount) layers")
        }
        let (c, hs) = (config.hiddenSize, config.headSize)
        var prunedConfig = config
        var kept: [[Int]] = []   // per layer, the current indices of the heads that stay
        for l in 0..<config.layerCount {
            let heads = config.heads(inLayer: l), drop = Set(removed[l])
            if let bad = drop.first(where: { $0 < 0 || $0 >= heads }) {
                throw ModelError("layer \(l) has heads 0...\(heads - 1), not \(bad)")
            }
            guard drop.count < heads else {
                throw ModelError("removing every head of layer \(l) leaves nothing: a layer keeps at least one head")
            }
            let original = config.keptHeads(inLayer: l)
            kept.append((0..<heads).filter { !drop.contains($0) })
            let gone = (config.prunedHeads[l] ?? []) + drop.map { original[$0] }
            prunedConfig.prunedHeads[l] = gone.isEmpty ? nil : gone.sorted()
        }
        let pruned = SequenceClassifier(config: prunedConfig, headActivation: headActivation)
        let attention = [".attention.q_lin.", ".attention.k_lin.", ".attention.v_lin.", ".attention.out_lin.weight"]
        for entry in pruned.layout.entries where !attention.contains(where: entry.name.contains) {
            pruned.parameters[entry].update(from: parameter(entry.name), count: entry.count)
        }
        for l in 0..<config.layerCount {
            let p = "transformer.layer.\(l).attention.", (a, a2) = (config.attentionWidth(l), prunedConfig.attentionWidth(l))
            for name in ["q_lin", "k_lin", "v_lin"] {
                let (w, b) = (parameter(p + name + ".weight"), parameter(p + name + ".bias"))
                let (v, u) = (pruned.parameter(p + name + ".weight"), pruned.parameter(p + name + ".bias"))
                for (slot, head) in kept[l].enumerated() {
                    (v + slot * hs * c).update(from: w + head * hs * c, count: hs * c)   // rows (A', C)
                    (u + slot * hs).update(from: b + head * hs, count: hs)
                }
            }
            let (w, v) = (parameter(p + "out_lin.weight"), pruned.parameter(p + "out_lin.weight"))
            for out in 0..<c {                                                        // columns (C, A')
                for (slot, head) in kept[l].enumerated() {
                    (v + out * a2 + slot * hs).update(from: w + out * a + head * hs, count: hs)
                }
            }
        }
        return pruned
    }

    /// Per layer, per head it has now: |w * dL/dw| summed over the head's q, k and v rows and
    /// biases and its out_lin columns (the first-order estimate of the loss change if the head were
    /// removed; the out_lin part alone is the gradient of a gate on the head, Michel et al. 2019),
    /// from the gradients now in `gradients`. Add it up over batches for a ranking.
    public func headImportance() -> [[Double]] {
        let (c, hs) = (config.hiddenSize, config.headSize)
        return (0..<config.layerCount).map { l in
            let p = "transformer.layer.\(l).attention.", a = config.attentionWidth(l)
            var scores = [Double](repeating: 0, count: config.heads(inLayer: l))
            for name in ["q_lin", "k_lin", "v_lin"] {
                let (w, g) = (parameter(p + name + ".weight"), gradient(p + name + ".weight"))
                let (b, gb) = (parameter(p + name + ".bias"), gradient(p + name + ".bias"))
                for h in scores.indices {
                    for i in (h * hs * c)..<((h + 1) * hs * c) { scores[h] += Double(w[i] * g[i]) }
                    for i in (h * hs)..<((h + 1) * hs) { scores[h] += Double(b[i] * gb[i]) }
                }
            }
            let (w, g) = (parameter(p + "out_lin.weight"), gradient(p + "out_lin.weight"))
            for out in 0..<c {
                for h in scores.indices {
                    for i in (out * a + h * hs)..<(out * a + (h + 1) * hs) { scores[h] += Double(w[i] * g[i]) }
                }
            }
            return scores.map(abs)
        }
    }
}
