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
    /// Heads and FFN neurons the student keeps per layer (nil: all).
    public var studentShape: StudentShape?

    public init(phase: String, modelFolder: String, labelNames: [String], seed: UInt64, options: TrainingOptions,
                studentLayers: [Int]? = nil, temperature: Double = 2, alpha: Double = 0.5, studentShape: StudentShape? = nil) {
        self.phase = phase
        self.modelFolder = modelFolder
        self.labelNames = labelNames
        self.seed = seed
        self.options = options
        self.studentLayers = studentLayers
        self.temperature = temperature
        self.alpha = alpha
        self.studentShape = studentShape
    }

    /// Builds the model this job trains (and, for a student, its teacher) from a model folder.
    public func buildModels(folder: String) throws -> (model: SequenceClassifier, mode: TrainingStep.Mode) {
        let loaded = try SequenceClassifier.load(directory: folder, seed: seed, labelNames: labelNames).model
        guard phase == "student" else { return (loaded, .fineTune) }
        let layers = studentLayers ?? SequenceClassifier.evenlySpacedLayers(2, of: loaded.config.layerCount)
        // The shape only: the coordinator's state overwrites every weight.
        let student = try (studentShape ?? StudentShape()).applyShapeOnly(to: try loaded.student(layers: layers))
        let loss = DistillationLoss(temperature: Float(temperature), alpha: Float(alpha))
        return (student, .distill(teacher: loaded, loss: loss, layers: layers))
    }
}

/// Makes the scheduler that runs a `Pipeline`'s training phase somewhere other than in this
/// process (a coordinator and its workers).
public protocol PhaseExecutor: AnyObject {
    /// A scheduler for `job`'s steps on `data`; the loop then drives it like any other.
    func scheduler(for job: TrainingJob, data: EncodedDataset) throws -> StepScheduler
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
    /// With the moments of a sharded optimizer's worker: the ranges outside the word embeddings whose
    /// moments it holds (the rest are zeros); nil: it holds them all.
    public var optimizerShards: [Range<Int>]?

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
