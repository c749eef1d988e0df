import Foundation
import Kernels
import Model

/// The training loop shared by fine-tuning and distillation, whoever computes the steps.
///
/// The loop owns the books: which batch each step takes (`Batcher`), the teacher-logit cache,
/// metrics, progress, evaluation and the best weights, the weight average, epoch coverage and
/// checkpoints. Each step is handed to a `StepScheduler`: `LocalScheduler` runs it in this process
/// (`TrainingStep`), a `Coordinator` on its workers, which run the same `TrainingStep`.
///
/// Distillation runs the frozen teacher without dropout; its logits are cached per example on first
/// use (the teacher never changes, so from the second epoch on it does not run at all). Every
/// source of randomness is derived from the seed, the epoch and the step, so a run resumed from a
/// checkpoint ends with the same weights as one that was never interrupted.
public final class Trainer {
    public typealias Mode = TrainingStep.Mode

    /// The weights the loop evaluates and saves: trained in place by a `LocalScheduler`, a copy
    /// refreshed by `StepScheduler.synchronize` otherwise.
    public let model: SequenceClassifier
    public let mode: Mode
    public let trainingSet: EncodedDataset
    /// Scores the weights on held-out data; nil: no evaluation (the last weights are the result).
    let validator: Validator?
    public let options: TrainingOptions
    let batcher: Batcher
    let schedule: LearningRateSchedule
    let checkpointPath: String?
    public let metricsLog: MetricsLog?
    /// The run's name for this stage ("teacher", "student"): the `phase` of its metrics records.
    public let phase: String
    /// Called with the model and its validation whenever they are the best so far.
    let onBest: (SequenceClassifier, Validation) throws -> Void
    public let progress: Progress
    /// Teacher logits per training example (distillation without the hidden-state term).
    public let logitCache: LogitCache?

    /// Steps done (the next step's number).
    public internal(set) var step = 0
    /// The batches of the epoch in progress (computing an epoch's order is O(examples)).
    var epochBatches: (epoch: Int, batches: [[Int]])?
    var bestAccuracy: Double?
    var bestStep: Int?
    var bestAveraged: Int?
    /// The running average of the last evaluations' weights (`options.averageLast`).
    var average: WeightAverage?
    /// The scheduler of a run stopped by `until`, which a later `run` continues.
    var started: StepScheduler?

    public init(model: SequenceClassifier, mode: Mode, train: EncodedDataset, validator: Validator?,
                options: TrainingOptions, checkpointPath: String? = nil, metrics: MetricsLog? = nil,
                label: String = "train", logitCache shared: LogitCache? = nil,
                onBest: @escaping (SequenceClassifier, Validation) throws -> Void = { _, _ in }) {
        self.model = model
        self.mode = mode
        self.trainingSet = train
        self.validator = validator
        self.options = options
        self.batcher = Batcher(count: train.sequences.count, batchSize: options.batchSize, seed: options.seed,
                               lengthBucketed: options.lengthBucketed, lengths: train.sequences.map(\.count))
        self.schedule = LearningRateSchedule(options: options, totalSteps: options.totalSteps(examples: train.sequences.count))
        self.checkpointPath = checkpointPath
        self.metricsLog = metrics
        self.onBest = onBest
        self.phase = label
        if case .distill(let teacher, _, _) = mode, !options.needsTeacherInternals {
            // A cache filled beforehand (several students of one teacher on one training set share it).
            logitCache = shared ?? LogitCache(count: train.sequences.count, classes: teacher.config.labelCount)
        } else {
            logitCache = nil
        }
        progress = Progress(label: label, total: options.totalSteps(examples: train.sequences.count))
        if options.averageLast > 0, validator != nil {
            average = WeightAverage(parameters: model.parameters.count, fraction: min(options.averageLast, 1),
                                    totalSteps: options.totalSteps(examples: train.sequences.count))
        }
    }

    public var stepsPerEpoch: Int { batcher.batchCount }
    /// The best validation accuracy seen so far (that of the weights `onBest` was last given).
    public var bestAccuracySoFar: Double? { bestAccuracy }
    public var totalSteps: Int { options.totalSteps(examples: trainingSet.count) }

    /// The examples of step `step`.
    public func batchIndices(step: Int) -> [Int] {
        let epoch = step / stepsPerEpoch
        let batches: [[Int]]
        if let cached = epochBatches, cached.epoch == epoch {
            batches = cached.batches
        } else {
            batches = batcher.batches(epoch: epoch)
            epochBatches = (epoch, batches)
        }
        return batches[step % stepsPerEpoch]
    }

    /// A scheduler that runs the steps in this process, on `model` itself.
    public func localScheduler() -> LocalScheduler {
        LocalScheduler(TrainingStep(model: model, mode: mode, data: trainingSet, options: options, totalSteps: totalSteps))
    }

    /// Trains to the end on `scheduler` (in this process when nil), first restoring the checkpoint
    /// when `resume` and one exists. `until` stops after that many steps in all, as an
    /// interruption would (tests use it); the weights are then left in the scheduler.
    ///
    /// Called again after a run stopped by `until`, it goes on from where that one stopped, on the
    /// same scheduler (a sweep trains its trials rung by rung).
    public func run(resume: Bool = false, until: Int? = nil, on given: StepScheduler? = nil) throws -> TrainingSummary {
        let scheduler: StepScheduler
        if let running = started, given == nil || given === running {
            scheduler = running
        } else {
            scheduler = given ?? localScheduler()
            let restored = resume ? try restoreCheckpoint() : nil
            try scheduler.begin(from: restored ?? TrainerState(step: 0, optimizerStep: 0, parameters: Array(model.parameters.buffer)))
            if restored != nil, let checkpointPath { progress.note("resumed from \(checkpointPath) at step \(step)") }
            started = scheduler
        }
        let crash = FaultInjection.fromEnvironment("EDGEDISTILL_CRASH_AFTER", defaultAction: "stop")
        var books = Books()
        var coverage = EpochCoverage(examples: trainingSet.count, startStep: step, stepsPerEpoch: stepsPerEpoch)
        while step < min(totalSteps, until ?? Int.max) {
            let indices = batchIndices(step: step)
            let outcome = try scheduler.run(step: step, indices: indices, teacherLogits: logitCache?.lookup(indices))
            for share in outcome.shares {
                if let logits = share.teacherLogits { logitCache?.store(logits, for: share.examples) }
                coverage.record(share.examples)
            }
            let rate = schedule.rate(at: step)
            step += 1
            try keepBooks(&books, outcome: outcome, learningRate: rate, indices: indices, scheduler: scheduler)
            if let line = coverage.finishStep(step) {
                progress.note(line.text)
                metricsLog?.append(line.record)
                if !line.exact { throw ModelError(line.text) }
            }
            switch crash?.action(phase: phase, step: step) {
            case "kill":
                progress.note("EDGEDISTILL_CRASH_AFTER: killing this process after \(phase) step \(step)")
                kill(getpid(), SIGKILL)
            case "stop":
                throw ModelError("stopped after \(phase) step \(step) (EDGEDISTILL_CRASH_AFTER)")
            default:
                break
            }
        }
        try scheduler.synchronize(into: model)
        let seconds = Date().timeIntervalSince(books.start)
        return TrainingSummary(steps: step, bestAccuracy: bestAccuracy, bestStep: bestStep, bestAveraged: bestAveraged,
                               lastLoss: books.lastLoss, examplesPerSecond: Double(books.examples) / max(seconds, 1e-9),
                               seconds: seconds)
    }

    /// Running totals of a run, for metrics lines and the summary.
    struct Books {
        let start = Date()
        var lastLoss: Float = 0, examples = 0, windowStart = Date(), windowExamples = 0, windowTokens = 0
    }

    /// Everything after an update has been applied: metrics, progress, evaluation and checkpoints.
    func keepBooks(_ b: inout Books, outcome: StepOutcome, learningRate: Float, indices: [Int], scheduler: StepScheduler) throws {
        let value = outcome.loss
        b.lastLoss = value.total
        b.examples += indices.count
        b.windowExamples += indices.count
        b.windowTokens += indices.reduce(0) { $0 + trainingSet.sequences[$1].count }
        if step % 10 == 0 || step == totalSteps {
            let seconds = Date().timeIntervalSince(b.windowStart)
            metricsLog?.append(["kind": "train", "phase": phase, "step": step, "epoch": Double(step) / Double(stepsPerEpoch),
                                "loss": Double(value.total), "ce": Double(value.crossEntropy), "kl": Double(value.kl),
                                "lr": Double(learningRate),
                                "examples_per_s": Double(b.windowExamples) / max(seconds, 1e-9),
                                "tokens_per_s": Double(b.windowTokens) / max(seconds, 1e-9)])
            b.windowStart = Date(); b.windowExamples = 0; b.windowTokens = 0
        }
        if options.traceSteps {
            metricsLog?.append(["kind": "step", "phase": phase, "step": step, "examples": indices, "loss": Double(value.total),
                                "ce": Double(value.crossEntropy), "kl": Double(value.kl), "lr": Double(learningRate)])
        }
        progress.update(step, status: String(format: "loss %.4f", value.total))
        let evaluate = validator != nil
            && ((options.evalEvery > 0 && step % options.evalEvery == 0) || step % stepsPerEpoch == 0 || step == totalSteps)
        if evaluate { try evaluateAndKeepBest(on: scheduler) }
        if let path = checkpointPath, options.checkpointEvery > 0, step % options.checkpointEvery == 0 {
            try saveCheckpoint(try scheduler.state(optimizer: true), to: path)
        }
    }

    /// Validates the current weights (on the scheduler's workers when it can, else here) and keeps
    /// them when they are the best so far. The weights are copied here only when they are needed:
    /// to validate, to keep as the best, or to average.
    func evaluateAndKeepBest(on scheduler: StepScheduler) throws {
        guard let validator else { return }
        var synchronized = false
        func synchronize() throws {
            if !synchronized { try scheduler.synchronize(into: model); synchronized = true }
        }
        let result: Validation
        if let remote = try scheduler.validate(validator) {
            result = remote
        } else {
            try synchronize()
            result = validator(model)
        }
        var record: [String: Any] = ["kind": "eval", "phase": phase, "step": step]
        for (key, value) in result.record { record[key] = value }
        metricsLog?.append(record)
        progress.note(String(format: "step %d: validation accuracy %.4f, macro-F1 %.4f", step,
                             result.accuracy, result.macroF1))
        if bestAccuracy.map({ result.accuracy > $0 }) ?? true {
            bestAccuracy = result.accuracy
            bestStep = step
            bestAveraged = nil
            try synchronize()
            try onBest(model, result)
        }
        if let average, average.covers(step: step) {
            try synchronize()
            average.add(UnsafeBufferPointer(model.parameters.buffer))
            if step == totalSteps, average.count > 1 { try evaluateAverage(average, by: validator) }
        }
    }

    /// Evaluates the average of the last evaluations' weights (the run's last step); it replaces
    /// the best checkpoint only when its validation accuracy is higher.
    func evaluateAverage(_ average: WeightAverage, by validator: Validator) throws {
        let result = average.withAverage(in: model) { validator(model) }
        var record: [String: Any] = ["kind": "average_eval", "phase": phase, "step": step, "averaged": average.count,
                                     "after_step": average.startAfter]
        for (key, value) in result.record { record[key] = value }
        metricsLog?.append(record)
        let better = bestAccuracy.map { result.accuracy > $0 } ?? true
        progress.note(String(format: "average of the %d evaluations after step %d: validation accuracy %.4f, macro-F1 %.4f (%@)",
                             average.count, average.startAfter, result.accuracy, result.macroF1,
                             better ? "kept: better than the best checkpoint" : "not kept: the best checkpoint is as good or better"))
        guard better else { return }
        bestAccuracy = result.accuracy
        bestStep = step
        bestAveraged = average.count
        try average.withAverage(in: model) { try onBest(model, result) }
    }
}

/// Which examples each epoch's steps processed, to prove each was seen exactly once (whatever
/// workers came and went).
struct EpochCoverage {
    let examples: Int
    let stepsPerEpoch: Int
    var counts: [UInt16]
    /// Coverage is only complete for epochs this process ran from their first step.
    var complete: Bool

    init(examples: Int, startStep: Int, stepsPerEpoch: Int) {
        self.examples = examples
        self.stepsPerEpoch = stepsPerEpoch
        counts = [UInt16](repeating: 0, count: examples)
        complete = startStep % stepsPerEpoch == 0
    }

    mutating func record(_ share: [Int]) {
        for i in share where i >= 0 && i < examples { counts[i] &+= 1 }
    }

    /// At the end of an epoch: a line and a metrics record about its coverage.
    mutating func finishStep(_ stepsDone: Int) -> (text: String, record: [String: Any], exact: Bool)? {
        guard stepsDone % stepsPerEpoch == 0 else { return nil }
        defer { counts = [UInt16](repeating: 0, count: examples); complete = true }
        guard complete else { return nil }
        let missing = counts.lazy.filter { $0 == 0 }.count, repeated = counts.lazy.filter { $0 > 1 }.count
        let epoch = stepsDone / stepsPerEpoch
        let exact = missing == 0 && repeated == 0
        let text = exact ? "epoch \(epoch): each of the \(examples) examples was processed exactly once"
            : "epoch \(epoch): \(missing) examples never processed and \(repeated) processed more than once"
        return (text, ["kind": "coverage", "epoch": epoch, "examples": examples, "missing": missing,
                       "repeated": repeated, "exactly_once": exact], exact)
    }
}
