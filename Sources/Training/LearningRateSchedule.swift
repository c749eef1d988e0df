/// Linear warm-up to the peak rate, then linear decay to 0 at the last step, as transformers'
/// `get_linear_schedule_with_warmup` except that the first update uses peak/warmup rather than 0
/// (an update at rate 0 is a wasted step).
public struct LearningRateSchedule: Sendable, Equatable {
    public let peak: Float
    public let warmupSteps: Int
    public let totalSteps: Int

    public init(peak: Float, warmupSteps: Int, totalSteps: Int) {
        self.peak = peak
        self.warmupSteps = max(0, warmupSteps)
        self.totalSteps = max(1, totalSteps)
    }

    /// A constant rate (the distillation recipe: Adam at 5e-5 throughout).
    public static func constant(_ rate: Float) -> LearningRateSchedule {
        LearningRateSchedule(peak: rate, warmupSteps: 0, totalSteps: Int.max)
    }

    /// The rate for the update numbered `step` (0-based).
    public func rate(at step: Int) -> Float {
        if totalSteps == Int.max { return peak }
        if step < warmupSteps { return peak * Float(step + 1) / Float(warmupSteps) }
        let remaining = Float(totalSteps - step) / Float(max(1, totalSteps - warmupSteps))
        return peak * max(0, remaining)
    }
}

extension LearningRateSchedule {
    /// The schedule `options` ask for over a run of `totalSteps`: constant, or linear warm-up and
    /// (with `linearDecay`) decay to 0.
    public init(options: TrainingOptions, totalSteps: Int) {
        let warmup = Int(options.warmupFraction * Double(totalSteps))
        self = options.linearDecay || warmup > 0
            ? LearningRateSchedule(peak: options.learningRate, warmupSteps: warmup,
                                   totalSteps: options.linearDecay ? totalSteps : Int.max - 1)
            : .constant(options.learningRate)
    }
}
