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

    public func callAsFunction(student: [Float], teacher: [Float], labels: [Int32], classes: Int) -> Value {
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

    /// Plain cross-entropy (fine-tuning a teacher) in the same shape.
    public static func crossEntropy(logits: [Float], labels: [Int32], classes: Int) -> Value {
        var gradient = [Float](repeating: 0, count: logits.count)
        let ce = gradient.withUnsafeMutableBufferPointer {
            Kernels.crossEntropy(logits: logits, labels: labels, batch: labels.count, classes: classes, gradient: $0.baseAddress)
        }
        return Value(total: ce, crossEntropy: ce, kl: 0, gradient: gradient)
    }
}
