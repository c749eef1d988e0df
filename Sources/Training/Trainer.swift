import Collective
import Foundation
import Kernels
import Model

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
    /// Weight of the hidden-state MSE term (distillation only); 0 turns it off.
    public var hiddenWeight: Float = 0
    /// Average the weights evaluated in this last share of the steps and keep the average when it
    /// beats the best checkpoint on the validation set (`WeightAverage`); 0 turns it off.
    public var averageLast = 0.0
    /// With several workers, all-reduce each layer's gradients on a second thread as soon as the
    /// backward pass has finished them, while it goes on with the layers below.
    public var overlapCommunication = true
    public var evalBatchSize = 64
    /// Log each step's global example indices and losses (`kind: step` in metrics.jsonl).
    public var traceSteps = false

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

/// The training loop shared by fine-tuning and distillation.
///
/// Fine-tuning minimises cross-entropy; distillation minimises `DistillationLoss` against a frozen
/// teacher that runs without dropout, whose logits are cached per example on first use (the
/// teacher never changes, so from the second epoch on it does not run at all). Every source of
/// randomness is derived from the seed, the epoch and the step, so a run resumed from a
/// checkpoint ends with the same weights as one that was never interrupted.
public final class Trainer {
    public enum Mode {
        case fineTune
        /// `layers[i]`: the teacher layer student layer i was taken from (for the hidden-state loss's
        /// targets, `SequenceClassifier.hiddenStateTargets`).
        case distill(teacher: SequenceClassifier, loss: DistillationLoss, layers: [Int])
    }

    public let model: SequenceClassifier
    let mode: Mode
    let train: EncodedDataset
    let validation: EncodedDataset?
    public let options: TrainingOptions
    let optimizer: AdamW
    let batcher: Batcher
    let checkpointPath: String?
    let metrics: MetricsLog?
    /// The run's name for this stage ("teacher", "student"): the `phase` of its metrics records.
    let phase: String
    /// Called with the model and its validation metrics whenever they are the best so far.
    let onBest: (SequenceClassifier, ClassificationMetrics) throws -> Void
    public let progress: Progress
    public let logitCache: LogitCache?
    /// Data parallelism: each step's batch is split between `communicator.worldSize` workers, whose
    /// gradients are summed (each pre-scaled by its share) so every worker applies the same update.
    public internal(set) var communicator: Communicator

    public internal(set) var step = 0
    /// Packed gradients for the all-reduce (touched embedding rows, then the rest), reused.
    var packed: [Float] = []
    /// The batches of the epoch in progress (computing an epoch's order is O(examples)).
    var epochBatches: (epoch: Int, batches: [[Int]])?
    var bestAccuracy: Double?
    var bestStep: Int?
    var bestAveraged: Int?
    /// The running average of the last evaluations' weights (`options.averageLast`; evaluating trainer only).
    var average: WeightAverage?

    public init(model: SequenceClassifier, mode: Mode, train: EncodedDataset, validation: EncodedDataset?,
                options: TrainingOptions, checkpointPath: String? = nil, metrics: MetricsLog? = nil,
                label: String = "train", communicator: Communicator = LocalCommunicator(),
                onBest: @escaping (SequenceClassifier, ClassificationMetrics) throws -> Void = { _, _ in }) {
        self.model = model
        self.mode = mode
        self.train = train
        self.validation = validation
        self.options = options
        self.optimizer = AdamW(model: model, learningRate: options.learningRate,
                               weightDecay: options.weightDecay, lazyEmbeddings: options.lazyEmbeddings)
        self.batcher = Batcher(count: train.sequences.count, batchSize: options.batchSize, seed: options.seed,
                               lengthBucketed: options.lengthBucketed, lengths: train.sequences.map(\.count))
        self.communicator = communicator
        // Only the first worker writes checkpoints and metrics.
        self.checkpointPath = communicator.rank == 0 ? checkpointPath : nil
        self.metrics = communicator.rank == 0 ? metrics : nil
        self.onBest = onBest
        self.phase = label
        if case .distill(let teacher, _, _) = mode, options.hiddenWeight == 0 {
            logitCache = LogitCache(count: train.sequences.count, classes: teacher.config.labelCount)
        } else {
            logitCache = nil
        }
        // The teacher is frozen: its linear layers run on weights reordered once.
        if case .distill(let teacher, _, _) = mode { teacher.freeze() }
        progress = Progress(label: label, total: min(options.maxSteps ?? Int.max, batcher.batchCount * options.epochs))
        progress.quiet = communicator.rank != 0
        if options.averageLast > 0, validation != nil {
            average = WeightAverage(parameters: model.parameters.count, fraction: min(options.averageLast, 1), totalSteps: totalSteps)
        }
    }

    public var stepsPerEpoch: Int { batcher.batchCount }

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
    public var totalSteps: Int { min(options.maxSteps ?? Int.max, stepsPerEpoch * options.epochs) }

    var schedule: LearningRateSchedule {
        let warmup = Int(options.warmupFraction * Double(totalSteps))
        return options.linearDecay || warmup > 0
            ? LearningRateSchedule(peak: options.learningRate, warmupSteps: warmup,
                                   totalSteps: options.linearDecay ? totalSteps : Int.max - 1)
            : .constant(options.learningRate)
    }

    /// Restores the checkpoint when `resume` and one exists; true when it did.
    @discardableResult
    public func resumeIfPossible(_ resume: Bool) throws -> Bool {
        guard resume, let path = checkpointPath, FileManager.default.fileExists(atPath: path) else { return false }
        try restore(from: path)
        progress.note("resumed from \(path) at step \(step)")
        return true
    }

    /// Trains to the end (or resumes from the checkpoint when `resume` and one exists).
    ///
    /// `until` stops early after that many steps in all, as an interruption would (tests use it).
    public func run(resume: Bool = false, until: Int? = nil) throws -> TrainingSummary {
        try resumeIfPossible(resume)
        var bookkeeping = StepBookkeeping()
        while step < min(totalSteps, until ?? Int.max) {
            let indices = batchIndices(step: step)
            let value = try trainStep(indices)
            try finishStepBookkeeping(&bookkeeping, value: value, indices: indices) {
                // One process: the weights evaluated and saved are these.
            }
        }
        optimizer.bringAllUpToDate(model)
        return bookkeeping.summary(steps: step, trainer: self)
    }

    /// Running totals of a run, for metrics lines and the summary.
    public struct StepBookkeeping {
        let start = Date()
        var lastLoss: Float = 0, examples = 0, windowStart = Date(), windowExamples = 0, windowTokens = 0

        public init() {}

        public func summary(steps: Int, trainer: Trainer) -> TrainingSummary {
            let seconds = Date().timeIntervalSince(start)
            return TrainingSummary(steps: steps, bestAccuracy: trainer.bestAccuracy, bestStep: trainer.bestStep,
                                   bestAveraged: trainer.bestAveraged, lastLoss: lastLoss, examplesPerSecond: Double(examples) / max(seconds, 1e-9),
                                   seconds: seconds)
        }
    }

    /// Everything after an update has been applied: the step count, metrics, progress, evaluation
    /// and checkpoints. `synchronize` runs first whenever the model's weights are about to be read
    /// (a coordinator fetches them from its workers there).
    public func finishStepBookkeeping(_ b: inout StepBookkeeping, value: DistillationLoss.Value, indices: [Int],
                                      synchronize: () throws -> Void) throws {
        let total = totalSteps
        b.lastLoss = value.total
        step += 1
        b.examples += indices.count
        b.windowExamples += indices.count
        b.windowTokens += indices.reduce(0) { $0 + train.sequences[$1].count }
        if step % 10 == 0 || step == total {
            let seconds = Date().timeIntervalSince(b.windowStart)
            metrics?.append(["kind": "train", "phase": phase, "step": step, "epoch": Double(step) / Double(stepsPerEpoch),
                             "loss": Double(value.total), "ce": Double(value.crossEntropy), "kl": Double(value.kl),
                             "lr": Double(optimizer.learningRate),
                             "examples_per_s": Double(b.windowExamples) / max(seconds, 1e-9),
                             "tokens_per_s": Double(b.windowTokens) / max(seconds, 1e-9)])
            b.windowStart = Date(); b.windowExamples = 0; b.windowTokens = 0
        }
        if options.traceSteps {
            metrics?.append(["kind": "step", "phase": phase, "step": step, "examples": indices, "loss": Double(value.total),
                             "ce": Double(value.crossEntropy), "kl": Double(value.kl), "lr": Double(optimizer.learningRate)])
        }
        progress.update(step, status: String(format: "loss %.4f", value.total))
        let epochEnd = step % stepsPerEpoch == 0
        let evaluate = validation != nil && ((options.evalEvery > 0 && step % options.evalEvery == 0) || epochEnd || step == total)
        let checkpoint = checkpointPath != nil && options.checkpointEvery > 0 && step % options.checkpointEvery == 0
        if evaluate || checkpoint {
            optimizer.bringAllUpToDate(model)
            try synchronize()
        }
        if evaluate { try evaluateAndKeepBest() }
        if let path = checkpointPath, checkpoint { try saveCheckpoint(to: path) }
    }

    /// One update on the examples `globalIndices` (this worker takes its contiguous share of them).
    @discardableResult
    func trainStep(_ globalIndices: [Int]) throws -> DistillationLoss.Value {
        let result = try reducedGradients(globalIndices)
        applyUpdate()
        return result.value
    }

    /// What one worker computed for a step, once gradients are summed over all workers.
    public struct StepResult {
        /// Losses of the whole batch (the sum over workers of each worker's share-weighted loss).
        public var value: DistillationLoss.Value
        /// The examples this worker computed (its share of the batch).
        public var share: [Int]
        /// Teacher logits this worker had to compute for its share, (share, K); nil when they were given or cached.
        public var teacherLogits: [Float]?
        /// Seconds of the forward and backward passes, and of summing over the workers.
        public var computeSeconds = 0.0, communicationSeconds = 0.0
    }

    /// This worker's share of a global batch: the `rank`-th of `worldSize` contiguous slices.
    public func share(of globalIndices: [Int]) -> [Int] {
        let (rank, world) = (communicator.rank, communicator.worldSize)
        return Array(globalIndices[(globalIndices.count * rank / world)..<(globalIndices.count * (rank + 1) / world)])
    }

    /// Forward and backward on this worker's share of `globalIndices`, then the gradients summed
    /// over the workers; the update is not applied yet (`applyUpdate`). `teacherLogits`, when
    /// given, are the teacher's logits for the share (a coordinator's cache).
    public func reducedGradients(_ globalIndices: [Int], teacherLogits given: [Float]? = nil) throws -> StepResult {
        let indices = share(of: globalIndices)
        let started = Date()
        guard !indices.isEmpty else {
            model.zeroGradients()
            let value = try reduce(DistillationLoss.Value(total: 0, crossEntropy: 0, kl: 0, gradient: []),
                                   positions: positionsUsed(by: globalIndices))
            return StepResult(value: value, share: [], teacherLogits: nil)
        }
        // Losses are means over this worker's examples; scaled by its share, the sum over workers
        // is the mean over the whole batch, as one worker would have computed it.
        let share = Float(indices.count) / Float(globalIndices.count)
        var (batch, labels) = batcher.batch(indices, from: train)
        let first = globalIndices.count * communicator.rank / communicator.worldSize
        batch.origin = (first, globalIndices[..<first].reduce(0) { $0 + train.sequences[$1].count })
        let k = model.config.labelCount
        let hidden = options.hiddenWeight > 0
        // The rows of the whole batch (every worker brings the same ones, so they stay identical).
        optimizer.bringUpToDate(model, rows: globalIndices.lazy.flatMap { self.train.sequences[$0] })
        let logits = model.forward(batch, dropoutSeed: splitMix64(options.seed &+ UInt64(step) &* 0x9E37),
                                   allHiddenStates: hidden)
        var hiddenGradients: [Int: [Float]] = [:]
        var computed: [Float]?
        let value: DistillationLoss.Value
        switch mode {
        case .fineTune:
            value = DistillationLoss.crossEntropy(logits: logits, labels: labels, classes: k)
        case .distill(let teacher, let loss, let layers):
            let teacherLogits: [Float]
            if let given, given.count == indices.count * k, options.hiddenWeight == 0 {
                teacherLogits = given
            } else if let cache = logitCache, let cached = cache.lookup(indices) {
                teacherLogits = cached
            } else {
                teacherLogits = teacher.forward(batch, allHiddenStates: hidden)
                logitCache?.store(teacherLogits, for: indices)
                computed = teacherLogits
            }
            value = loss(student: logits, teacher: teacherLogits, labels: labels, classes: k)
            if options.hiddenWeight > 0 {
                // MSE between student layer i's output and the teacher hidden state it stands for.
                let targets = SequenceClassifier.hiddenStateTargets(layers: layers, teacherLayerCount: teacher.config.layerCount)
                for (i, t) in targets.enumerated() {
                    let s = model.hiddenStates(after: i + 1), h = teacher.hiddenStates(after: t)
                    let scale = 2 * options.hiddenWeight * share / Float(s.count * layers.count)
                    hiddenGradients[i + 1] = zip(s, h).map { scale * ($0 - $1) }
                }
            }
        }
        model.zeroGradients()
        let buckets = communicator.worldSize > 1 && options.overlapCommunication ? LayerBuckets(communicator) : nil
        model.backward(value.gradient.map { $0 * share }, hiddenGradients: hiddenGradients,
                       layerDone: buckets.map { buckets in { [model] l in buckets.reduce(model.gradients, model.layerRange(l)) } })
        let computedAt = Date()
        try buckets?.wait()
        let reduced = try reduce(DistillationLoss.Value(total: value.total * share, crossEntropy: value.crossEntropy * share,
                                                        kl: value.kl * share, gradient: value.gradient),
                                 layersDone: buckets != nil, positions: positionsUsed(by: globalIndices))
        var result = StepResult(value: reduced, share: indices, teacherLogits: computed)
        result.computeSeconds = computedAt.timeIntervalSince(started)
        result.communicationSeconds = Date().timeIntervalSince(computedAt)
        return result
    }

    /// Sums gradients (and the losses, already scaled by each worker's share) over the workers.
    ///
    /// Word-embedding gradients travel as touched rows only: the workers first agree on the union
    /// of the rows any of them touched (a 0/1 mask over the vocabulary, summed), then all-reduce
    /// those rows packed together with every other gradient, a few hundred rows instead of the
    /// whole (V, C) matrix.
    ///
    /// With `layersDone` the layers' and head's gradients were already summed (`LayerBuckets`):
    /// only the embeddings' remain.
    func reduce(_ local: DistillationLoss.Value, layersDone: Bool = false, positions: Int? = nil) throws -> DistillationLoss.Value {
        guard communicator.worldSize > 1 else { return local }
        let v = model.config.vocabularySize, c = model.config.hiddenSize
        var shared = [Float](repeating: 0, count: v + 3)
        for row in model.touchedEmbeddingRows { shared[Int(row)] = 1 }
        shared[v] = local.total; shared[v + 1] = local.crossEntropy; shared[v + 2] = local.kl
        try shared.withUnsafeMutableBufferPointer { try communicator.allReduceSum($0) }
        let rows = (0..<v).filter { shared[$0] > 0 }
        model.markTouched(rows.lazy.map { Int32($0) })
        // Dense regions besides the touched word rows: the position rows the batch can have used
        // (no token sits at a later position, so the rest are zero everywhere), LayerNorm, and the
        // layers and head unless their buckets were already summed.
        let words = model.layout["embeddings.word_embeddings.weight"]!
        let table = model.layout["embeddings.position_embeddings.weight"]!
        let usedRows = min(positions ?? table.shape[0], table.shape[0])
        let end = layersDone ? model.layerRange(0).lowerBound : model.gradients.count
        let regions = [0..<words.offset, (words.offset + words.count)..<(table.offset + usedRows * c),
                       (table.offset + table.count)..<end].filter { !$0.isEmpty }
        let packedCount = rows.count * c + regions.reduce(0) { $0 + $1.count }
        if packed.count < packedCount { packed = [Float](repeating: 0, count: packedCount) }
        let g = model.gradients.base
        packed.withUnsafeMutableBufferPointer { p in
            var at = p.baseAddress!
            for row in rows { at.update(from: g + words.offset + row * c, count: c); at += c }
            for region in regions { at.update(from: g + region.lowerBound, count: region.count); at += region.count }
        }
        try packed.withUnsafeMutableBufferPointer {
            try communicator.allReduceSum(UnsafeMutableBufferPointer(rebasing: $0[0..<packedCount]))
        }
        packed.withUnsafeBufferPointer { p in
            var at = p.baseAddress!
            for row in rows { (g + words.offset + row * c).update(from: at, count: c); at += c }
            for region in regions { (g + region.lowerBound).update(from: at, count: region.count); at += region.count }
        }
        return DistillationLoss.Value(total: shared[v], crossEntropy: shared[v + 1], kl: shared[v + 2], gradient: local.gradient)
    }

    /// Position-table rows a batch of these examples can touch: its longest sequence.
    func positionsUsed(by globalIndices: [Int]) -> Int {
        globalIndices.map { train.sequences[$0].count }.max() ?? 0
    }

    /// Applies the summed gradients with this step's learning rate.
    public func applyUpdate() {
        optimizer.learningRate = schedule.rate(at: step)
        optimizer.update(model)
    }

    func evaluateAndKeepBest() throws {
        guard let validation else { return }
        let result = Evaluator.evaluate(model, on: validation, batchSize: options.evalBatchSize)
        var record: [String: Any] = ["kind": "eval", "phase": phase, "step": step]
        for (key, value) in result.metrics.jsonObject { record[key] = value }
        metrics?.append(record)
        progress.note(String(format: "step %d: validation accuracy %.4f, macro-F1 %.4f", step,
                             result.metrics.accuracy, result.metrics.macroF1))
        if bestAccuracy.map({ result.metrics.accuracy > $0 }) ?? true {
            bestAccuracy = result.metrics.accuracy
            bestStep = step
            bestAveraged = nil
            if communicator.rank == 0 { try onBest(model, result.metrics) }
        }
        if let average, average.covers(step: step) {
            average.add(UnsafeBufferPointer(model.parameters.buffer))
            if step == totalSteps, average.count > 1 { try evaluateAverage(average, on: validation) }
        }
    }

    /// Evaluates the average of the last evaluations' weights (the run's last step); it replaces
    /// the best checkpoint only when its validation accuracy is higher.
    func evaluateAverage(_ average: WeightAverage, on validation: EncodedDataset) throws {
        let result = average.withAverage(in: model) {
            Evaluator.evaluate(model, on: validation, batchSize: options.evalBatchSize)
        }
        var record: [String: Any] = ["kind": "average_eval", "phase": phase, "step": step, "averaged": average.count,
                                     "after_step": average.startAfter]
        for (key, value) in result.metrics.jsonObject { record[key] = value }
        metrics?.append(record)
        let better = bestAccuracy.map { result.metrics.accuracy > $0 } ?? true
        progress.note(String(format: "average of the %d evaluations after step %d: validation accuracy %.4f, macro-F1 %.4f (%@)",
                             average.count, average.startAfter, result.metrics.accuracy, result.metrics.macroF1,
                             better ? "kept: better than the best checkpoint" : "not kept: the best checkpoint is as good or better"))
        guard better else { return }
        bestAccuracy = result.metrics.accuracy
        bestStep = step
        bestAveraged = average.count
        if communicator.rank == 0 { try average.withAverage(in: model) { try onBest(model, result.metrics) } }
    }
}

/// Teacher logits per training example, filled the first time each example is seen.
public final class LogitCache {
    public let classes: Int
    var values: [Float]     // (count, K)
    var filled: [Bool]      // (count)
    /// Batches served from the cache, and batches for which the teacher had to run.
    public private(set) var hits = 0, misses = 0

    public init(count: Int, classes: Int) {
        self.classes = classes
        values = [Float](repeating: 0, count: count * classes)
        filled = [Bool](repeating: false, count: count)
    }

    /// The logits of these examples, (B, K), when every one is cached.
    public func lookup(_ indices: [Int]) -> [Float]? {
        guard indices.allSatisfy({ filled[$0] }) else { misses += 1; return nil }
        hits += 1
        return indices.flatMap { values[($0 * classes)..<(($0 + 1) * classes)] }
    }

    public func store(_ logits: [Float], for indices: [Int]) {
        for (row, index) in indices.enumerated() {
            for k in 0..<classes { values[index * classes + k] = logits[row * classes + k] }
            filled[index] = true
        }
    }

    public var filledCount: Int { filled.reduce(0) { $0 + ($1 ? 1 : 0) } }
}

/// Summing each layer's gradients over the workers on a second thread while the backward pass
/// continues below it (Horovod's tensor fusion in its simplest form: one bucket per layer, in the
/// order backward finishes them). The communicator is used by that thread only until `wait`
/// returns, so it is never used by two threads at once.
final class LayerBuckets: @unchecked Sendable {  // `failure` is guarded by `lock`
    let communicator: Communicator
    let queue = DispatchQueue(label: "edgedistill.buckets")
    let group = DispatchGroup()
    let lock = NSLock()
    var failure: Error?

    init(_ communicator: Communicator) { self.communicator = communicator }

    /// Queues the all-reduce of `range` of `arena`.
    func reduce(_ arena: Arena, _ range: Range<Int>) {
        queue.async(group: group) { [self] in
            guard lock.withLock({ failure == nil }) else { return }
            do {
                try communicator.allReduceSum(UnsafeMutableBufferPointer(start: arena.base + range.lowerBound, count: range.count))
            } catch {
                lock.withLock { failure = error }
            }
        }
    }

    /// Waits for every queued bucket; throws the first failure.
    func wait() throws {
        group.wait()
        if let failure = lock.withLock({ failure }) { throw failure }
    }
}
