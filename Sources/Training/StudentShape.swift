import Foundation
import Model

/// A student narrower than the teacher layers it is made of: `heads` attention heads and `ffn`
/// FFN neurons per layer (nil: all of them), the rest removed by importance before or after
/// distillation. Importance is the gradient-times-weight criterion (`headImportance`,
/// `ffnImportance`) summed over distillation batches of the training data, gradients never applied.
public struct StudentShape: Codable, Sendable, Equatable {
    public var heads: Int?
    public var ffn: Int?

    public init(heads: Int? = nil, ffn: Int? = nil) {
        self.heads = heads
        self.ffn = ffn
    }

    /// Whether it removes anything.
    public var narrows: Bool { heads != nil || ffn != nil }

    /// Summed importance of every head and FFN neuron of `model` on `batches` distillation batches
    /// (seeded from `options.seed`, so the same model ranks the same way everywhere).
    public static func importance(of model: SequenceClassifier, teacher: SequenceClassifier, loss: DistillationLoss,
                                  data: EncodedDataset, options: TrainingOptions, batches: Int) throws
        -> (heads: [[Double]], ffn: [[Double]]) {
        var options = options
        options.hiddenWeight = 0
        options.attentionWeight = 0
        options.checkpointEvery = 0
        let ranking = TrainingStep(model: model, mode: .distill(teacher: teacher, loss: loss, layers: []), data: data,
                                   options: options, totalSteps: batches)
        let order = Batcher(count: data.count, batchSize: options.batchSize, seed: options.seed &+ 7).batches(epoch: 0)
        func add(_ total: inout [[Double]], _ scores: [[Double]]) {
            if total.isEmpty { total = scores } else { for l in scores.indices { for i in scores[l].indices { total[l][i] += scores[l][i] } } }
        }
        var heads: [[Double]] = [], ffn: [[Double]] = []
        for (i, batch) in order.prefix(batches).enumerated() {
            _ = try ranking.gradients(step: i, batch)
            add(&heads, model.headImportance())
            add(&ffn, model.ffnImportance())
        }
        model.zeroGradients()
        return (heads, ffn)
    }

    /// `model` with this shape: its least important heads and FFN neurons removed.
    public func apply(to model: SequenceClassifier, importance: (heads: [[Double]], ffn: [[Double]])) throws -> SequenceClassifier {
        var shaped = model
        if let heads { shaped = try shaped.pruningHeads(keep: heads, importance: importance.heads) }
        if let ffn { shaped = try shaped.pruningFFN(keep: ffn, importance: importance.ffn) }
        return shaped
    }

    /// `model` with this shape, ranked on `batches` distillation batches of `data`.
    public func apply(to model: SequenceClassifier, teacher: SequenceClassifier, loss: DistillationLoss, data: EncodedDataset,
                      options: TrainingOptions, batches: Int = 20) throws -> SequenceClassifier {
        guard narrows else { return model }
        return try apply(to: model, importance: try Self.importance(of: model, teacher: teacher, loss: loss, data: data,
                                                                     options: options, batches: batches))
    }

    /// A model of this shape whatever its weights (a worker's copy, overwritten by the coordinator's state).
    public func applyShapeOnly(to model: SequenceClassifier) throws -> SequenceClassifier {
        guard narrows else { return model }
        let heads = (0..<model.config.layerCount).map { [Double](repeating: 0, count: model.config.heads(inLayer: $0)) }
        let ffn = [[Double]](repeating: [Double](repeating: 0, count: model.config.intermediateSize), count: model.config.layerCount)
        return try apply(to: model, importance: (heads, ffn))
    }
}
