import Foundation
import Model

/// Where a run's steps are computed: in this process (`LocalScheduler`), or on a coordinator's
/// workers (`Coordinator` in Cluster). The training loop (`Trainer`) asks it for each step and
/// for the weights whenever it must read them; the arithmetic of a step is `TrainingStep`'s, in
/// both cases.
public protocol StepScheduler: AnyObject {
    /// Starts the phase from `state` (the model's initial weights, or a checkpoint's).
    func begin(from state: TrainerState) throws
    /// Runs step `number` on the global batch `indices` and applies its update wherever the
    /// weights live. `teacherLogits`, (B, K), are the cached teacher logits of the whole batch.
    func run(step number: Int, indices: [Int], teacherLogits: [Float]?) throws -> StepOutcome
    /// Copies the current weights into `model` (the loop's model, which it evaluates and saves).
    func synchronize(into model: SequenceClassifier) throws
    /// The whole state: weights, and with `optimizer` Adam's moments (for checkpoints).
    func state(optimizer: Bool) throws -> TrainerState
    /// The validation of the current weights, computed where they live (a cluster's workers each
    /// count a part, and only the counts travel); nil when this scheduler does not, and the loop
    /// should copy the weights (`synchronize`) and validate them itself.
    func validate(_ validator: Validator) throws -> Validation?
}

extension StepScheduler {
    public func validate(_ validator: Validator) throws -> Validation? { nil }
}

/// A step as the loop sees it, whoever computed it.
public struct StepOutcome {
    /// The losses of the whole batch (no gradient).
    public var loss: DistillationLoss.Value
    /// Per worker: the examples it computed, and the teacher logits it had to compute for them (b, K).
    public var shares: [(examples: [Int], teacherLogits: [Float]?)]

    public init(loss: DistillationLoss.Value, shares: [(examples: [Int], teacherLogits: [Float]?)]) {
        self.loss = loss
        self.shares = shares
    }
}

/// Runs every step in this process: the single-node run, and the tests' reference.
public final class LocalScheduler: StepScheduler {
    public let step: TrainingStep

    public init(_ step: TrainingStep) { self.step = step }

    public func begin(from state: TrainerState) throws {
        if state.adamM != nil { try step.restore(state) }
    }

    public func run(step number: Int, indices: [Int], teacherLogits: [Float]?) throws -> StepOutcome {
        let result = try step.run(step: number, indices, teacherLogits: teacherLogits)
        return StepOutcome(loss: result.value, shares: [(result.share, result.teacherLogits)])
    }

    public func synchronize(into model: SequenceClassifier) throws {
        step.synchronizeWeights()
        if model !== step.model { try step.state(optimizer: false).copyParameters(into: model) }
    }

    public func state(optimizer: Bool) throws -> TrainerState { step.state(optimizer: optimizer) }
}

extension TrainerState {
    /// Writes the parameters into `model`'s arena.
    public func copyParameters(into model: SequenceClassifier) throws {
        guard parameters.count == model.parameters.count else {
            throw ModelError("state has \(parameters.count) parameters, this model \(model.parameters.count)")
        }
        _ = parameters.withUnsafeBufferPointer { model.parameters.buffer.update(fromContentsOf: $0) }
    }
}

/// Teacher logits per training example: filled the first time each example is seen, or read from a
/// complete teacher pass on disk (`TeacherLogitsFile`), in which case the teacher never runs.
public final class LogitCache {
    public let classes: Int
    var values: [Float]     // (count, K); empty when `file` holds them
    var filled: [Bool]      // (count)
    /// The teacher pass this cache reads (complete), if any.
    public let file: TeacherLogitsFile?
    /// Batches served from the cache, and batches for which the teacher had to run.
    public private(set) var hits = 0, misses = 0

    public init(count: Int, classes: Int) {
        self.classes = classes
        values = [Float](repeating: 0, count: count * classes)
        filled = [Bool](repeating: false, count: count)
        file = nil
    }

    /// Every example's logits, from a complete teacher pass.
    public init(file: TeacherLogitsFile) {
        precondition(file.isComplete, "the teacher pass is not complete")
        classes = file.classes
        values = []
        filled = [Bool](repeating: true, count: file.plan.count)
        self.file = file
    }

    /// The logits of these examples, (B, K), when every one is cached.
    public func lookup(_ indices: [Int]) -> [Float]? {
        if let file { hits += 1; return file.logits(indices) }
        guard indices.allSatisfy({ filled[$0] }) else { misses += 1; return nil }
        hits += 1
        return indices.flatMap { values[($0 * classes)..<(($0 + 1) * classes)] }
    }

    public func store(_ logits: [Float], for indices: [Int]) {
        guard file == nil, logits.count == indices.count * classes else { return }
        for (row, index) in indices.enumerated() {
            for k in 0..<classes { values[index * classes + k] = logits[row * classes + k] }
            filled[index] = true
        }
    }

    public var filledCount: Int { filled.reduce(0) { $0 + ($1 ? 1 : 0) } }
}
