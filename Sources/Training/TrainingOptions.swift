import Collective
import Foundation
import Kernels

/// Options of a training run (fine-tuning a teacher or distilling a student).
public struct TrainingOptions: Sendable, Codable {
    public var epochs = 3
    public var batchSize = 16
    public var learningRate: Float = 5e-5
    /// Share of the steps spent warming up linearly; with `linearDecay` the rate then falls to 0.
    public var warmupFraction = 0.0
    public var linearDecay = false
    public var weightDecay: Float = 0
    /// Evaluate on the validation set every this many steps (0: only at the end of each epoch).
    public var evalEvery = 100
    /// Write a resumable checkpoint every this many steps (0: never).
    public var checkpointEvery = 0
    public var seed: UInt64 = 42
    public var lengthBucketed = false
    /// Update only the word-embedding rows a batch used, applying the steps other rows sat out when
    /// they are next needed (see `AdamW`); false: dense AdamW over every row each step.
    public var lazyEmbeddings = true
    /// Stop after this many steps in all (quick runs and tests); nil: all epochs.
    public var maxSteps: Int?
    /// Train for more epochs than `epochs` when they would be fewer than this many steps (small
    /// data: a handful of steps leaves a model untrained); 0: exactly `epochs`.
    public var minSteps = 0
    /// Weight of the hidden-state MSE term (distillation only); 0 turns it off.
    public var hiddenWeight: Float = 0
    /// Weight of the attention-transfer term (`AttentionTransfer`, distillation only); 0 turns it off.
    public var attentionWeight: Float = 0
    /// Whether the loss needs more of the teacher than its logits (so they cannot be cached).
    public var needsTeacherInternals: Bool { hiddenWeight > 0 || attentionWeight > 0 }
    /// Average the weights evaluated in this last share of the steps and keep the average when it
    /// beats the best checkpoint on the validation set (`WeightAverage`); 0 turns it off.
    public var averageLast = 0.0
    /// With several workers, all-reduce each layer's gradients on a second thread as soon as the
    /// backward pass has finished them, while it goes on with the layers below.
    public var overlapCommunication = true
    public var evalBatchSize = 64
    /// Log each step's global example indices and losses (`kind: step` in metrics.jsonl).
    public var traceSteps = false
    /// The frozen teacher's products (distillation): fp32, or bf16 where the CPU has AVX-512 BF16
    /// (1.3-1.4x faster; logits within bf16 rounding, see BENCHMARKS.md), fp32 elsewhere.
    public var teacherPrecision = FrozenWeights.Precision.fp32
    /// How gradients travel between workers: fp32, or bf16 (half the bytes) with error feedback
    /// (`TrainingStep.feedBackError`). One process, or one worker, sends nothing: no effect.
    public var gradientPrecision = WirePrecision.fp32
    /// With several workers, shard the optimizer (ZeRO stage 1): gradients are reduce-scattered, each
    /// worker updates its 1/N of the parameters outside the word embeddings and keeps only that share
    /// of Adam's moments, and the updated parameters are all-gathered: the bytes of an all-reduce, 1/N
    /// of the update. Word-embedding rows stay replicated (their moments catch rows up lazily wherever
    /// a batch uses them). A lost worker takes its share of the moments with it, so the run stops and
    /// resumes from its last checkpoint instead of redoing the step.
    public var shardOptimizer = false
    /// The names `gradientPrecision` takes in configuration files and flags.
    public static let gradientPrecisionNames = WirePrecision.allCases.map(\.rawValue)
    /// Sets `gradientPrecision` from its name; false for an unknown name (nothing changes).
    @discardableResult
    public mutating func setGradientPrecision(_ name: String) -> Bool {
        guard let precision = WirePrecision(rawValue: name) else { return false }
        gradientPrecision = precision
        return true
    }

    public init() {}
}

/// What a run produced.
public struct TrainingSummary: Sendable {
    public let steps: Int
    public let bestAccuracy: Double?
    public let bestStep: Int?
    /// When the weights kept are an average (`WeightAverage`): how many evaluations it averaged.
    public let bestAveraged: Int?
    public let lastLoss: Float
    public let examplesPerSecond: Double
    public let seconds: Double
}

extension TrainingOptions {
    /// Steps of a run over `examples`: every epoch's batches (the last one partial), or `maxSteps` when fewer.
    public func totalSteps(examples: Int) -> Int {
        min(maxSteps ?? Int.max, (examples + batchSize - 1) / batchSize * effectiveEpochs(examples: examples))
    }

    /// The epochs a run over `examples` takes: `epochs`, or as many whole epochs more as reach `minSteps`.
    public func effectiveEpochs(examples: Int) -> Int {
        let perEpoch = max(1, (examples + batchSize - 1) / batchSize)
        return max(epochs, (minSteps + perEpoch - 1) / perEpoch)
    }
}
