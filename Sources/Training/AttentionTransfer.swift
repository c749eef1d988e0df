import Model

/// Attention transfer (TinyBERT, Jiao et al. 2019): each student layer's attention probabilities
/// are pulled towards those of the teacher layer it stands in for, by a mean squared error over
/// every real (query, key) entry of every head of a sentence, averaged over the batch's sentences
/// (so that workers' shares add up to the whole batch's loss) and over the student's layers, and
/// weighted by `distill.attention_weight`. Student layer i, taken from teacher layer `layers[i]`, stands in for
/// the teacher layers up to the next one taken, and is compared with the last of them (the layer
/// whose output `SequenceClassifier.hiddenStateTargets` names). Heads are compared one to one, so
/// the student keeps all of its teacher's heads.
public enum AttentionTransfer {
    /// The teacher layer each student layer is compared with.
    public static func teacherLayers(_ layers: [Int], teacherLayerCount: Int) -> [Int] {
        SequenceClassifier.hiddenStateTargets(layers: layers, teacherLayerCount: teacherLayerCount).map { $0 - 1 }
    }

    /// The loss `weight * mean_i mean_b MSE_b(student layer i, teacher layer t_i)` of the last forward
    /// passes (both with every row of their last layers; `lengths` their sentences' lengths) and its
    /// gradients for `SequenceClassifier.backward`'s `attentionGradients`, times `scale` (a worker's
    /// share of the batch).
    public static func loss(student: SequenceClassifier, teacher: SequenceClassifier, layers: [Int], lengths: [Int],
                            weight: Float, scale: Float = 1) -> (value: Float, gradients: [Int: [Float]]) {
        let targets = teacherLayers(layers, teacherLayerCount: teacher.config.layerCount)
        var value: Float = 0, gradients: [Int: [Float]] = [:]
        for (i, t) in targets.enumerated() {
            let heads = student.config.heads(inLayer: i)
            precondition(heads == teacher.config.heads(inLayer: t),
                         "attention transfer compares heads one to one: student layer \(i) and teacher layer \(t) differ")
            let (s, h) = (student.attentionMaps(layer: i), teacher.attentionMaps(layer: t))
            precondition(s.count == h.count && s.count == lengths.reduce(0) { $0 + heads * $1 * $1 },
                         "student and teacher saw different batches")
            guard !lengths.isEmpty else { continue }
            let per = weight / Float(targets.count) / Float(lengths.count)
            var gradient = [Float](repeating: 0, count: s.count), at = 0
            for length in lengths {
                let n = heads * length * length
                var sum: Float = 0
                for e in at..<(at + n) {
                    let d = s[e] - h[e]
                    sum += d * d
                    gradient[e] = 2 * per * scale * d / Float(n)
                }
                value += per * sum / Float(n)
                at += n
            }
            gradients[i] = gradient
        }
        return (value, gradients)
    }
}
