import Foundation
import Model

// A resumable checkpoint is one safetensors file, written to a temporary name then renamed: the
// parameter arena, AdamW's two moment arenas and its rows' last-gradient steps, the teacher-logit cache, and in the metadata the
// step, the optimizer's step count and the best validation result so far. The data position and
// every random stream are functions of (seed, epoch, step), so the step is all that is needed.

extension Trainer {
    /// Writes `state` (weights and Adam's moments, from the scheduler) with the loop's own books.
    func saveCheckpoint(_ state: TrainerState, to path: String) throws {
        var tensors: [SafetensorsWriter.Tensor] = [
            .float32(name: "parameters", shape: [state.parameters.count], values: state.parameters),
            .float32(name: "adam.m", shape: [state.adamM?.count ?? 0], values: state.adamM ?? []),
            .float32(name: "adam.v", shape: [state.adamV?.count ?? 0], values: state.adamV ?? []),
        ]
        if let touchedAt = state.touchedAt {
            // Steps below 2^24 are exact in float32.
            tensors.append(.float32(name: "adam.touched_at", shape: [touchedAt.count], values: touchedAt.map(Float.init)))
        }
        if let cache = logitCache, cache.file == nil {   // a teacher pass's file outlives the checkpoint
            tensors.append(.float32(name: "logit_cache.values", shape: [cache.values.count], values: cache.values))
            tensors.append(.float32(name: "logit_cache.filled", shape: [cache.filled.count], values: cache.filled.map { $0 ? 1 : 0 }))
        }
        if let average, average.count > 0 {
            tensors.append(.float32(name: "average.mean", shape: [average.mean.count], values: average.mean))
        }
        var metadata = ["format": "edgedistill-checkpoint-1", "step": String(step),
                        "optimizer_step": String(state.optimizerStep), "seed": String(options.seed),
                        "batch_size": String(options.batchSize), "examples": String(trainingSet.count)]
        if let best = bestAccuracy, let at = bestStep {
            metadata["best_accuracy"] = String(best)
            metadata["best_step"] = String(at)
        }
        if let average { metadata["average_count"] = String(average.count) }
        if let n = bestAveraged { metadata["best_averaged"] = String(n) }
        try SafetensorsWriter.write(tensors, metadata: metadata, to: path)
    }

    /// Reads the checkpoint when there is one: the loop's books are restored here, the returned
    /// state (weights, moments, counters) goes to the scheduler.
    func restoreCheckpoint() throws -> TrainerState? {
        guard let path = checkpointPath, FileManager.default.fileExists(atPath: path) else { return nil }
        let file = try SafetensorsFile(path: path)
        guard file.metadata["format"] == "edgedistill-checkpoint-1" else {
            throw ModelError(file: path, "not an EdgeDistill training checkpoint (metadata format is \(file.metadata["format"] ?? "missing"))")
        }
        for (key, expected) in [("seed", String(options.seed)), ("batch_size", String(options.batchSize)),
                                ("examples", String(trainingSet.count))] where file.metadata[key] != expected {
            throw ModelError(file: path, "checkpoint was written with \(key) \(file.metadata[key] ?? "?"), this run has \(expected): resume with the same data and options, or start afresh without --resume")
        }
        guard let savedStep = file.metadata["step"].flatMap(Int.init),
              let optimizerStep = file.metadata["optimizer_step"].flatMap(Int.init) else {
            throw ModelError(file: path, "checkpoint metadata lacks step counts")
        }
        let count = model.parameters.count
        var arrays: [[Float]] = []
        for name in ["parameters", "adam.m", "adam.v"] {
            guard file.info(name)?.elementCount == count else {
                throw ModelError(file: path, "tensor '\(name)' does not match this model's \(count) parameters")
            }
            var values = [Float](repeating: 0, count: count)
            try values.withUnsafeMutableBufferPointer { try file.floats(name, into: $0) }
            arrays.append(values)
        }
        if let cache = logitCache, cache.file == nil, let info = file.info("logit_cache.values"), info.elementCount == cache.values.count {
            try cache.values.withUnsafeMutableBufferPointer { try file.floats("logit_cache.values", into: $0) }
            var filled = [Float](repeating: 0, count: cache.filled.count)
            try filled.withUnsafeMutableBufferPointer { try file.floats("logit_cache.filled", into: $0) }
            cache.filled = filled.map { $0 != 0 }
        }
        var touchedAt: [Int32]?
        if options.lazyEmbeddings, let info = file.info("adam.touched_at"), info.elementCount == model.config.vocabularySize {
            var steps = [Float](repeating: 0, count: info.elementCount)
            try steps.withUnsafeMutableBufferPointer { try file.floats("adam.touched_at", into: $0) }
            guard steps.allSatisfy({ $0 >= 0 && $0 <= Float(optimizerStep) && $0 == $0.rounded() }) else {
                throw ModelError(file: path, "tensor 'adam.touched_at' holds values that are not steps between 0 and \(optimizerStep)")
            }
            touchedAt = steps.map { Int32($0) }
        }
        if let average {
            // The average of the evaluations so far; none is needed before its first one.
            let count = file.metadata["average_count"].flatMap(Int.init) ?? 0
            var mean = [Float](repeating: 0, count: average.mean.count)
            if count > 0 {
                guard file.info("average.mean")?.elementCount == mean.count else {
                    throw ModelError(file: path, "checkpoint has no weight average of this model's \(mean.count) parameters (tensor 'average.mean'), though this run averages the evaluations after step \(average.startAfter): resume with the same options, or start afresh without --resume")
                }
                try mean.withUnsafeMutableBufferPointer { try file.floats("average.mean", into: $0) }
            } else if savedStep > average.startAfter, file.metadata["average_count"] == nil {
                throw ModelError(file: path, "checkpoint was written without weight averaging, this run averages the evaluations after step \(average.startAfter): resume with the same options, or start afresh without --resume")
            }
            average.restore(mean: mean, count: count)
        }
        step = savedStep
        bestAccuracy = file.metadata["best_accuracy"].flatMap(Double.init)
        bestStep = file.metadata["best_step"].flatMap(Int.init)
        bestAveraged = file.metadata["best_averaged"].flatMap(Int.init)
        return TrainerState(step: savedStep, optimizerStep: optimizerStep, parameters: arrays[0],
                            adamM: arrays[1], adamV: arrays[2], touchedAt: touchedAt)
    }
}
