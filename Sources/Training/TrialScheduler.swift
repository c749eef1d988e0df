import Foundation
import Kernels
import Model

/// One trial of a sweep: a distillation phase with its own recipe. `job` carries everything a
/// worker needs besides the shared inputs (the teacher, the training and validation sets and the
/// teacher's logits, which every trial of a sweep shares).
public struct TrialSpec: Codable, Sendable {
    /// The trial's place in the sweep (its identity on every worker).
    public var index: Int
    public var name: String
    public var job: TrainingJob

    public init(index: Int, name: String, job: TrainingJob) {
        self.index = index
        self.name = name
        self.job = job
    }
}

/// Where a trial stands after a rung: its step, the held-out accuracy of its best checkpoint so
/// far (nil before its first evaluation) and that of its weights now.
public struct TrialProgress: Codable, Sendable, Equatable {
    public var step: Int
    public var best: Double?
    public var now: Double
    /// What the rung is judged on: the better of the two.
    public var score: Double { max(now, best ?? now) }

    public init(step: Int, best: Double?, now: Double) {
        self.step = step
        self.best = best
        self.now = now
    }
}

/// Runs a sweep's trials, rung by rung: in this process one after another, or on a coordinator's
/// workers, each trial on one worker, several at once.
public protocol TrialScheduler: AnyObject {
    /// Runs every trial of `work` on from where it stands up to its step `until`. A trial whose
    /// worker is lost is run again elsewhere from its start: trials are deterministic, so its
    /// progress is what it would have been.
    func run(_ work: [(trial: TrialSpec, until: Int)]) throws -> [Int: TrialProgress]
    /// The weights (the arena, `parameters.count` floats) of the trial's best held-out checkpoint,
    /// or of its weights now when it has none.
    func bestParameters(of trial: TrialSpec) throws -> [Float]
    /// The trials stop here: whoever holds them may free them.
    func release(_ trials: [TrialSpec]) throws
}

/// Makes the scheduler that runs a sweep's trials somewhere other than in this process.
public protocol TrialExecutor: AnyObject {
    /// A scheduler for trials that all distil from the teacher in `teacherFolder` on `train`, judged
    /// on `validation`, from the teacher's logits `teacherLogits` for every training example.
    func trialScheduler(teacherFolder: String, labelNames: [String], train: EncodedDataset, validation: EncodedDataset,
                        teacherLogits: LogitCache, teacherPrecision: FrozenWeights.Precision) throws -> TrialScheduler
}

/// One trial in the process that runs it: its trainer, continued rung by rung, and its best
/// checkpoint's weights kept in memory. The same code runs a trial locally and on a worker.
public final class TrialRun {
    public let spec: TrialSpec
    public let trainer: Trainer
    let validator: Validator
    /// The weights of the best checkpoint so far (the trainer's `onBest` fills it).
    private final class Kept { var parameters: [Float]? }
    private let kept = Kept()

    /// The student of `teacher` (`spec.job.studentLayers`) distilled with the trial's recipe.
    public init(spec: TrialSpec, teacher: SequenceClassifier, train: EncodedDataset, validator: Validator,
                teacherLogits: LogitCache) throws {
        let layers = spec.job.studentLayers ?? SequenceClassifier.evenlySpacedLayers(2, of: teacher.config.layerCount)
        let loss = DistillationLoss(temperature: Float(spec.job.temperature), alpha: Float(spec.job.alpha))
        var options = spec.job.options
        options.checkpointEvery = 0
        self.spec = spec
        self.validator = validator
        let kept = self.kept
        let student = try (spec.job.studentShape ?? StudentShape()).apply(to: try teacher.student(layers: layers), teacher: teacher,
                                                                         loss: loss, data: train, options: options)
        trainer = Trainer(model: student, mode: .distill(teacher: teacher, loss: loss, layers: layers),
                          train: train, validator: validator, options: options, label: spec.name,
                          logitCache: options.needsTeacherInternals ? nil : teacherLogits) { model, _ in
            kept.parameters = Array(model.parameters.buffer)
        }
        trainer.progress.quiet = true
    }

    /// Trains on to step `until` (at most the trial's last) and judges the weights.
    public func run(until: Int) throws -> TrialProgress {
        let summary = try trainer.run(until: max(1, min(until, trainer.totalSteps)))
        return TrialProgress(step: trainer.step, best: summary.bestAccuracy, now: validator(trainer.model).accuracy)
    }

    /// The best checkpoint's weights, or the weights now when none was kept.
    public var bestParameters: [Float] { kept.parameters ?? Array(trainer.model.parameters.buffer) }
}
