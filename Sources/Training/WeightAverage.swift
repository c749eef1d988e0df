import Model

/// The equal-weight average of the parameters seen at the evaluations of a run's last stretch
/// (stochastic weight averaging, Izmailov et al. 2018, sampled once per evaluation).
///
/// With a constant learning rate the weights keep moving around a region of low loss; their
/// average sits nearer its centre than any one of them. The trainer evaluates the average once at
/// the end and keeps it only when it beats the best checkpoint on the validation set, so it is one
/// more candidate, chosen the same way as the others. Training itself is unchanged.
///
/// The average is kept as a running mean, `mean += (w - mean) / n`, in float32 (a few dozen samples:
/// the rounding is far below the samples' spread).
public final class WeightAverage {
    /// The average so far, (parameters).
    public private(set) var mean: [Float]
    /// Samples averaged so far.
    public private(set) var count = 0
    /// Evaluations after this step are averaged.
    public let startAfter: Int

    /// Averages the evaluations of the last `fraction` of `totalSteps` (0 < fraction <= 1).
    public init(parameters: Int, fraction: Double, totalSteps: Int) {
        mean = [Float](repeating: 0, count: parameters)
        startAfter = totalSteps - Int((fraction * Double(totalSteps)).rounded())
    }

    /// True when an evaluation at `step` belongs in the average.
    public func covers(step: Int) -> Bool { step > startAfter }

    /// Adds one sample of the parameters.
    public func add(_ parameters: UnsafeBufferPointer<Float>) {
        precondition(parameters.count == mean.count, "the average holds \(mean.count) parameters, got \(parameters.count)")
        count += 1
        let scale = 1 / Float(count)
        mean.withUnsafeMutableBufferPointer { m in
            for i in 0..<m.count { m[i] += (parameters[i] - m[i]) * scale }
        }
    }

    /// Restores a saved average of `count` samples (a checkpoint's; same size, checked by the caller).
    func restore(mean saved: [Float], count savedCount: Int) {
        mean = saved
        count = savedCount
    }

    /// Runs `body` with the model's parameters replaced by the average, then puts them back.
    public func withAverage<T>(in model: SequenceClassifier, _ body: () throws -> T) rethrows -> T {
        let saved = Array(model.parameters.buffer)
        _ = mean.withUnsafeBufferPointer { model.parameters.buffer.update(fromContentsOf: $0) }
        defer { _ = saved.withUnsafeBufferPointer { model.parameters.buffer.update(fromContentsOf: $0) } }
        return try body()
    }
}
