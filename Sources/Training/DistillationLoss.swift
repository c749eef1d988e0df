import Kernels

/// `alpha * CE(student, labels) + (1 - alpha) * T^2 * KL(softmax(teacher/T) || softmax(student/T))`,
/// batch means, with its gradient with respect to the student's logits.
public struct DistillationLoss: Sendable {
    public var temperature: Float = 2
    public var alpha: Float = 0.5

    public init(temperature: Float = 2, alpha: Float = 0.5) {
        self.temperature = temperature
        self.alpha = alpha
    }

    public struct Value: Sendable {
        public let total: Float, crossEntropy: Float, kl: Float
        /// d total / d student logits, (B, K).
        public let gradient: [Float]

        public init(total: Float, crossEntropy: Float, kl: Float, gradient: [Float]) {
            self.total = total
            self.crossEntropy = crossEntropy
            self.kl = kl
            self.gradient = gradient
        }
    }

    /// Examples labelled `unlabelled` (teacher-labelled inputs: augmentation variants) train on the
    /// soft term alone at full weight, `T^2 * KL`; the others on `alpha * CE + (1 - alpha) * T^2 * KL`;
    /// the batch mean is over all of them.
    public func callAsFunction(student: [Float], teacher: [Float], labels: [Int32], classes: Int) -> Value {
        if labels.contains(where: { $0 < 0 }) { return mixed(student: student, teacher: teacher, labels: labels, classes: classes) }
        let b = labels.count
        var gradient = [Float](repeating: 0, count: student.count)
        let (ce, kl) = gradient.withUnsafeMutableBufferPointer { g in
            (Kernels.crossEntropy(logits: student, labels: labels, batch: b, classes: classes,
                                  gradient: g.baseAddress, weight: alpha),
             distillationKL(student: student, teacher: teacher, batch: b, classes: classes,
                            temperature: temperature, gradient: g.baseAddress, weight: 1 - alpha))
        }
        return Value(total: alpha * ce + (1 - alpha) * kl, crossEntropy: ce, kl: kl, gradient: gradient)
    }

    /// A batch with teacher-labelled examples: each group through the same kernels, weighted by its
    /// share of the batch, the gradients put back in their rows.
    private func mixed(student: [Float], teacher: [Float], labels: [Int32], classes k: Int) -> Value {
        let b = labels.count
        let labelled = labels.indices.filter { labels[$0] >= 0 }, soft = labels.indices.filter { labels[$0] < 0 }
        func rows(_ values: [Float], _ indices: [Int]) -> [Float] { indices.flatMap { values[($0 * k)..<(($0 + 1) * k)] } }
        var gradient = [Float](repeating: 0, count: student.count)
        var ce: Float = 0, klLabelled: Float = 0, klSoft: Float = 0
        for (indices, isLabelled) in [(labelled, true), (soft, false)] where !indices.isEmpty {
            let share = Float(indices.count) / Float(b)
            let (s, t) = (rows(student, indices), rows(teacher, indices))
            var g = [Float](repeating: 0, count: s.count)
            g.withUnsafeMutableBufferPointer { g in
                if isLabelled {
                    ce = Kernels.crossEntropy(logits: s, labels: indices.map { labels[$0] }, batch: indices.count, classes: k,
                                              gradient: g.baseAddress, weight: alpha * share)
                    klLabelled = distillationKL(student: s, teacher: t, batch: indices.count, classes: k, temperature: temperature,
                                                gradient: g.baseAddress, weight: (1 - alpha) * share)
                } else {
                    klSoft = distillationKL(student: s, teacher: t, batch: indices.count, classes: k, temperature: temperature,
                                            gradient: g.baseAddress, weight: share)
                }
            }
            for (row, index) in indices.enumerated() { for j in 0..<k { gradient[index * k + j] = g[row * k + j] } }
        }
        let (l, u) = (Float(labelled.count) / Float(b), Float(soft.count) / Float(b))
        return Value(total: l * (alpha * ce + (1 - alpha) * klLabelled) + u * klSoft, crossEntropy: ce,
                     kl: l * klLabelled + u * klSoft, gradient: gradient)
    }

    /// Plain cross-entropy (fine-tuning a teacher) in the same shape.
    public static func crossEntropy(logits: [Float], labels: [Int32], classes: Int) -> Value {
        var gradient = [Float](repeating: 0, count: logits.count)
        let ce = gradient.withUnsafeMutableBufferPointer {
            Kernels.crossEntropy(logits: logits, labels: labels, batch: labels.count, classes: classes, gradient: $0.baseAddress)
        }
        return Value(total: ce, crossEntropy: ce, kl: 0, gradient: gradient)
    }
}
