import Collective
import Foundation
import Model

/// Everything besides the data and the weights that another process needs to run a training phase
/// exactly as this one would: which model, how it is built, and the options.
///
/// A worker rebuilds the model from `modelFolder`'s files (sent to it, or read from a shared disk):
/// the teacher phase trains that model itself; the student phase takes `studentLayers` of it as the
/// student and keeps it as the frozen teacher. The coordinator then overwrites the parameters with
/// its own, so every worker starts from bit-identical weights however the folder was loaded.
public struct TrainingJob: Codable, Sendable {
    /// "teacher" (fine-tuning) or "student" (distillation).
    public var phase: String
    public var modelFolder: String
    public var labelNames: [String]
    public var seed: UInt64
    public var options: TrainingOptions
    public var studentLayers: [Int]?
    public var temperature: Double
    public var alpha: Double

    public init(phase: String, modelFolder: String, labelNames: [String], seed: UInt64, options: TrainingOptions,
                studentLayers: [Int]? = nil, temperature: Double = 2, alpha: Double = 0.5) {
        self.phase = phase
        self.modelFolder = modelFolder
        self.labelNames = labelNames
        self.seed = seed
        self.options = options
        self.studentLayers = studentLayers
        self.temperature = temperature
        self.alpha = alpha
    }

    /// Builds the model this job trains (and, for a student, its teacher) from a model folder.
    public func buildModels(folder: String) throws -> (model: SequenceClassifier, mode: Trainer.Mode) {
        let loaded = try SequenceClassifier.load(directory: folder, seed: seed, labelNames: labelNames).model
        guard phase == "student" else { return (loaded, .fineTune) }
        let layers = studentLayers ?? SequenceClassifier.evenlySpacedLayers(2, of: loaded.config.layerCount)
        let student = try loaded.student(layers: layers)
        let loss = DistillationLoss(temperature: Float(temperature), alpha: Float(alpha))
        return (student, .distill(teacher: loaded, loss: loss, layers: layers))
    }
}

/// Runs a training phase for a `Pipeline` somewhere other than in-process (a coordinator and its
/// workers). It drives `trainer`'s steps and bookkeeping and must leave the trained weights in
/// `trainer.model` when it returns.
public protocol PhaseExecutor: AnyObject {
    func train(_ trainer: Trainer, job: TrainingJob, resume: Bool) throws -> TrainingSummary
}

/// A trainer's full state, as workers exchange it: the step, the optimizer's step count, the
/// parameters and (optionally) the two Adam moments, each (count) floats in the arena layout.
public struct TrainerState: Sendable {
    public var step: Int
    public var optimizerStep: Int
    public var parameters: [Float]
    public var adamM: [Float]?
    public var adamV: [Float]?
    /// With the moments: each word-embedding row's last-gradient step (lazy AdamW; see `AdamW`).
    public var touchedAt: [Int32]?

    public init(step: Int, optimizerStep: Int, parameters: [Float], adamM: [Float]? = nil, adamV: [Float]? = nil,
                touchedAt: [Int32]? = nil) {
        self.step = step
        self.optimizerStep = optimizerStep
        self.parameters = parameters
        self.adamM = adamM
        self.adamV = adamV
        self.touchedAt = touchedAt
    }
}

extension Trainer {
    /// A copy of the state; the moments only when `optimizer` (a checkpoint or a joining worker needs them).
    /// Lazily updated embedding rows are brought up to date first (which changes no weight's value
    /// at any later step; see `AdamW`).
    public func exportState(optimizer includeOptimizer: Bool) -> TrainerState {
        optimizer.bringAllUpToDate(model)
        return TrainerState(step: step, optimizerStep: optimizer.step, parameters: Array(model.parameters.buffer),
                            adamM: includeOptimizer ? Array(optimizer.m.buffer) : nil,
                            adamV: includeOptimizer ? Array(optimizer.v.buffer) : nil,
                            touchedAt: includeOptimizer && optimizer.lazyEmbeddings ? optimizer.touchedAt : nil)
    }

    /// Replaces the parameters (and the moments and counters when the state has them).
    public func importState(_ state: TrainerState) throws {
        guard state.parameters.count == model.parameters.count else {
            throw ModelError("state has \(state.parameters.count) parameters, this model \(model.parameters.count)")
        }
        _ = state.parameters.withUnsafeBufferPointer { model.parameters.buffer.update(fromContentsOf: $0) }
        if let m = state.adamM, let v = state.adamV {
            guard m.count == optimizer.m.count, v.count == optimizer.v.count else {
                throw ModelError("state has optimizer moments of \(m.count)/\(v.count) values, this model \(optimizer.m.count)")
            }
            _ = m.withUnsafeBufferPointer { optimizer.m.buffer.update(fromContentsOf: $0) }
            _ = v.withUnsafeBufferPointer { optimizer.v.buffer.update(fromContentsOf: $0) }
            optimizer.restart(at: state.optimizerStep, touchedAt: state.touchedAt)
            step = state.step
        }
    }

    /// Sets the step counters without touching weights (a worker told where the run is).
    public func setCounters(step: Int, optimizerStep: Int) {
        self.step = step
        if optimizer.step != optimizerStep { optimizer.restart(at: optimizerStep, touchedAt: nil) }
    }

    public var optimizerStep: Int { optimizer.step }

    /// Evaluates on the validation set and keeps the best weights (the `onBest` callback).
    public func evaluateNow() throws { try evaluateAndKeepBest() }

    /// Checksum of the parameter arena (bit-identical weights give equal checksums).
    /// Lazily updated embedding rows are brought up to date first, so workers that caught up
    /// different rows along the way agree.
    public var parameterChecksum: UInt64 {
        optimizer.bringAllUpToDate(model)
        return model.parameters.checksum()
    }
}

extension Trainer {
    /// Uses `communicator` from the next step on (a worker joined a new ring).
    public func use(_ communicator: Communicator) {
        self.communicator = communicator
    }

    /// The training set this trainer draws batches from.
    public var trainingSet: EncodedDataset { train }
}

extension Trainer {
    /// The metrics log (rank 0 only).
    public var metricsLog: MetricsLog? { metrics }
}
