import Collective
import Foundation
import Kernels
import Model

/// One optimizer step on one global batch: this worker's share of it, forward, backward, the sum
/// of gradients over the workers, and the update.
///
/// Every driver runs steps through this type and nothing else: the in-process loop
/// (`LocalScheduler`), each worker of a distributed run (the coordinator only tells it which step,
/// which examples and when to commit), and `bench train-step` / `distill-step`.
///
/// A step is two calls so that a coordinator can stand between them: `gradients` computes and
/// sums, `apply` commits. A step that is aborted between the two is simply computed again
/// (`gradients` starts by zeroing them). `run` does both.
///
/// Shapes: B examples in the global batch, b in this worker's share, K labels.
public final class TrainingStep {
    /// What fine-tuning or distillation adds to the student's forward pass.
    public enum Mode {
        case fineTune
        /// `layers[i]`: the teacher layer student layer i was taken from (for the hidden-state loss's
        /// targets, `SequenceClassifier.hiddenStateTargets`).
        case distill(teacher: SequenceClassifier, loss: DistillationLoss, layers: [Int])
    }

    /// What one worker computed for a step, once gradients are summed over all workers.
    public struct Result {
        /// Losses of the whole batch (the sum over workers of each worker's share-weighted loss).
        public var value: DistillationLoss.Value
        /// The examples this worker computed (its share of the batch).
        public var share: [Int]
        /// Teacher logits this worker had to compute for its share, (b, K); nil when they were given.
        public var teacherLogits: [Float]?
        /// Seconds of the forward and backward passes, and of summing over the workers.
        public var computeSeconds = 0.0, communicationSeconds = 0.0
    }

    public let model: SequenceClassifier
    public let mode: Mode
    public let data: EncodedDataset
    public let options: TrainingOptions
    let optimizer: AdamW
    let schedule: LearningRateSchedule
    /// The workers this step's gradients are summed over; a worker that joins a new ring replaces it.
    public var communicator: Communicator
    /// Steps applied so far (the next step's number).
    public private(set) var completed = 0
    /// Packed gradients for the all-reduce (touched embedding rows, then the rest), reused.
    var packed: [Float] = []
    /// With bf16 gradients: per parameter, what rounding this worker's gradient to bf16 left out,
    /// added to its next gradient (error feedback). Allocated on first use.
    var wireError: UnsafeMutablePointer<Float>?
    /// With a sharded optimizer: the ring (rank, size) whose share of the moments this worker keeps,
    /// once the others' shares have been released.
    var shardedFor: (rank: Int, world: Int)?

    /// A step over `data` with `options`; `totalSteps` of the whole run fixes the rate schedule.
    public init(model: SequenceClassifier, mode: Mode, data: EncodedDataset, options: TrainingOptions,
                totalSteps: Int, communicator: Communicator = LocalCommunicator()) {
        self.model = model
        self.mode = mode
        self.data = data
        self.options = options
        self.communicator = communicator
        optimizer = AdamW(model: model, learningRate: options.learningRate,
                          weightDecay: options.weightDecay, lazyEmbeddings: options.lazyEmbeddings)
        schedule = LearningRateSchedule(options: options, totalSteps: totalSteps)
        // The teacher is frozen: its linear layers run on weights reordered once.
        if case .distill(let teacher, _, _) = mode { teacher.freeze(precision: options.teacherPrecision) }
    }

    deinit { wireError?.deallocate() }

    /// The classes of the task (K).
    public var labelCount: Int { model.config.labelCount }

    /// Whether the teacher's logits alone are enough for the loss (no hidden-state term), so that
    /// logits computed once can stand in for the teacher from then on.
    public var teacherLogitsSuffice: Bool {
        if case .distill = mode { return !options.needsTeacherInternals }
        return false
    }

    /// The `rank`-th of `world` contiguous slices of a batch of `count` examples: every worker's
    /// share, and so the first example each one starts at, comes from this one formula.
    public static func share(count: Int, rank: Int, world: Int) -> Range<Int> {
        (count * rank / world)..<(count * (rank + 1) / world)
    }

    /// This worker's share of a global batch.
    public func share(of globalIndices: [Int]) -> Range<Int> {
        Self.share(count: globalIndices.count, rank: communicator.rank, world: communicator.worldSize)
    }

    /// Forward and backward of step `number` on this worker's share of `globalIndices`, then the
    /// gradients summed over the workers; the update is not applied yet (`apply`).
    ///
    /// `teacherLogits`, when given, are the teacher's logits for the whole batch, (B, K) (a cache's);
    /// otherwise the teacher runs on the share and its logits come back in the result.
    public func gradients(step number: Int, _ globalIndices: [Int], teacherLogits given: [Float]? = nil) throws -> Result {
        let range = share(of: globalIndices)
        let indices = Array(globalIndices[range])
        let started = Date()
        guard !indices.isEmpty else {
            model.zeroGradients()
            let value = try reduce(DistillationLoss.Value(total: 0, crossEntropy: 0, kl: 0, gradient: []),
                                   positions: positionsUsed(by: globalIndices))
            return Result(value: value, share: [], teacherLogits: nil)
        }
        // Losses are means over this worker's examples; scaled by its share, the sum over workers
        // is the mean over the whole batch, as one worker would have computed it.
        let share = Float(indices.count) / Float(globalIndices.count)
        var batch = TokenBatch(sequences: indices.map { data.sequences[$0] })
        let labels = indices.map { data.labels[$0] }
        // Dropout masks are drawn by a sentence's place in the whole batch.
        batch.origin = (range.lowerBound, globalIndices[..<range.lowerBound].reduce(0) { $0 + data.sequences[$1].count })
        let k = labelCount
        let hidden = options.needsTeacherInternals
        // The rows of the whole batch (every worker brings the same ones, so they stay identical).
        optimizer.bringUpToDate(model, rows: globalIndices.lazy.flatMap { self.data.sequences[$0] })
        let logits = model.forward(batch, dropoutSeed: splitMix64(options.seed &+ UInt64(number) &* 0x9E37),
                                   allHiddenStates: hidden)
        var hiddenGradients: [Int: [Float]] = [:], attentionGradients: [Int: [Float]] = [:]
        var computed: [Float]?
        let value: DistillationLoss.Value
        switch mode {
        case .fineTune:
            value = DistillationLoss.crossEntropy(logits: logits, labels: labels, classes: k)
        case .distill(let teacher, let loss, let layers):
            let teacherLogits: [Float]
            if let given, given.count == globalIndices.count * k, teacherLogitsSuffice {
                teacherLogits = Array(given[(range.lowerBound * k)..<(range.upperBound * k)])
            } else {
                teacherLogits = teacher.forward(batch, allHiddenStates: hidden)
                computed = teacherLogits
            }
            value = loss(student: logits, teacher: teacherLogits, labels: labels, classes: k)
            if options.attentionWeight > 0 {
                attentionGradients = AttentionTransfer.loss(student: model, teacher: teacher, layers: layers,
                                                            lengths: batch.layout.lengths.map(Int.init),
                                                            weight: options.attentionWeight, scale: share).gradients
            }
            if options.hiddenWeight > 0 {
                // MSE between student layer i's output and the teacher hidden state it stands for.
                let targets = SequenceClassifier.hiddenStateTargets(layers: layers, teacherLayerCount: teacher.config.layerCount)
                for (i, t) in targets.enumerated() {
                    // A mean over every token of the whole batch (not this worker's share of it), so
                    // that the workers' gradients add up to one worker's.
                    let s = model.hiddenStates(after: i + 1), h = teacher.hiddenStates(after: t)
                    let globalTokens = globalIndices.reduce(0) { $0 + data.sequences[$1].count }
                    let scale = 2 * options.hiddenWeight / Float(globalTokens * model.config.hiddenSize * layers.count)
                    hiddenGradients[i + 1] = zip(s, h).map { scale * ($0 - $1) }
                }
            }
        }
        model.zeroGradients()
        let buckets = communicator.worldSize > 1 && options.overlapCommunication
            ? LayerBuckets(communicator, precision: options.gradientPrecision, scatterOnly: sharded) : nil
        model.backward(value.gradient.map { $0 * share }, hiddenGradients: hiddenGradients, attentionGradients: attentionGradients,
                       layerDone: buckets.map { buckets in { [self, model] l in
                           feedBackError(model.layerRange(l))
                           buckets.reduce(model.gradients, model.layerRange(l))
                       } })
        let computedAt = Date()
        try buckets?.wait()
        let reduced = try reduce(DistillationLoss.Value(total: value.total * share, crossEntropy: value.crossEntropy * share,
                                                        kl: value.kl * share, gradient: value.gradient),
                                 layersDone: buckets != nil, positions: positionsUsed(by: globalIndices))
        var result = Result(value: reduced, share: indices, teacherLogits: computed)
        result.computeSeconds = computedAt.timeIntervalSince(started)
        result.communicationSeconds = Date().timeIntervalSince(computedAt)
        return result
    }

    /// Applies the summed gradients of step `number` with that step's learning rate. With a sharded
    /// optimizer this worker updates its own share and the shares are then all-gathered, which throws
    /// when a worker of the ring is gone.
    public func apply(step number: Int) throws {
        optimizer.learningRate = schedule.rate(at: number)
        guard sharded else {
            optimizer.update(model)
            completed = number + 1
            return
        }
        let owned = ownedRanges
        if shardedFor.map({ $0 != (communicator.rank, communicator.worldSize) }) ?? true {
            // The other workers' shares of the moments (restored whole, or never written) are theirs.
            optimizer.release(zip(shardRanges, owned).flatMap { [$0.lowerBound..<$1.lowerBound, $1.upperBound..<$0.upperBound] })
            shardedFor = (communicator.rank, communicator.worldSize)
        }
        optimizer.update(model, only: owned)
        for range in shardRanges {
            try communicator.allGather(UnsafeMutableBufferPointer(start: model.parameters.base + range.lowerBound, count: range.count))
        }
        completed = number + 1
    }

    /// Both halves of step `number`: what an in-process run and the benchmarks call.
    @discardableResult
    public func run(step number: Int, _ globalIndices: [Int], teacherLogits: [Float]? = nil) throws -> Result {
        let result = try gradients(step: number, globalIndices, teacherLogits: teacherLogits)
        try apply(step: number)
        return result
    }

    /// Position-table rows a batch of these examples can touch: its longest sequence.
    func positionsUsed(by globalIndices: [Int]) -> Int {
        globalIndices.map { data.sequences[$0].count }.max() ?? 0
    }
}

// MARK: - Summing over the workers

extension TrainingStep {
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
        if sharded { return try reduceSharded(local, rows: rows, layersDone: layersDone, losses: shared[v..<(v + 3)]) }
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
        for row in rows { feedBackError((words.offset + row * c)..<(words.offset + (row + 1) * c)) }
        for region in regions { feedBackError(region) }
        packed.withUnsafeMutableBufferPointer { p in
            guard var at = p.baseAddress else { return }
            for row in rows { at.update(from: g + words.offset + row * c, count: c); at += c }
            for region in regions { at.update(from: g + region.lowerBound, count: region.count); at += region.count }
        }
        try packed.withUnsafeMutableBufferPointer {
            try communicator.allReduceSum(UnsafeMutableBufferPointer(rebasing: $0[0..<packedCount]), precision: options.gradientPrecision)
        }
        packed.withUnsafeBufferPointer { p in
            guard var at = p.baseAddress else { return }
            for row in rows { (g + words.offset + row * c).update(from: at, count: c); at += c }
            for region in regions { (g + region.lowerBound).update(from: at, count: region.count); at += region.count }
        }
        return DistillationLoss.Value(total: shared[v], crossEntropy: shared[v + 1], kl: shared[v + 2], gradient: local.gradient)
    }
}

// MARK: - The sharded optimizer

extension TrainingStep {
    /// Whether the optimizer is sharded over this step's workers (`TrainingOptions.shardOptimizer`).
    var sharded: Bool { options.shardOptimizer && communicator.worldSize > 1 }

    /// The parameters outside the word embeddings as the buffers a sharded optimizer reduce-scatters
    /// and all-gathers: the embeddings' other tables, then each layer (the last with the head): the
    /// ranges the layer buckets send.
    var shardRanges: [Range<Int>] {
        let words = model.layout["embeddings.word_embeddings.weight"]!
        let first = model.layerRange(0).lowerBound
        return ([0..<words.offset, (words.offset + words.count)..<first]
                + (0..<model.config.layerCount).map { model.layerRange($0) }).filter { !$0.isEmpty }
    }

    /// This worker's share of each of `shardRanges`: the chunk a reduce-scatter leaves summed here.
    var ownedRanges: [Range<Int>] {
        shardRanges.map { range in
            let chunk = RingPartition.owned(rank: communicator.rank, worldSize: communicator.worldSize, count: range.count)
            return (range.lowerBound + chunk.lowerBound)..<(range.lowerBound + chunk.upperBound)
        }
    }

    /// `reduce` with a sharded optimizer: the touched word rows are all-reduced (every worker updates
    /// them), every other gradient is reduce-scattered, so this worker ends with the sums of its share.
    func reduceSharded(_ local: DistillationLoss.Value, rows: [Int], layersDone: Bool,
                       losses: ArraySlice<Float>) throws -> DistillationLoss.Value {
        let c = model.config.hiddenSize
        let words = model.layout["embeddings.word_embeddings.weight"]!
        let g = model.gradients.base
        if packed.count < rows.count * c { packed = [Float](repeating: 0, count: rows.count * c) }
        for row in rows { feedBackError((words.offset + row * c)..<(words.offset + (row + 1) * c)) }
        packed.withUnsafeMutableBufferPointer { p in
            guard var at = p.baseAddress else { return }
            for row in rows { at.update(from: g + words.offset + row * c, count: c); at += c }
        }
        try packed.withUnsafeMutableBufferPointer {
            try communicator.allReduceSum(UnsafeMutableBufferPointer(rebasing: $0[0..<(rows.count * c)]), precision: options.gradientPrecision)
        }
        packed.withUnsafeBufferPointer { p in
            guard var at = p.baseAddress else { return }
            for row in rows { (g + words.offset + row * c).update(from: at, count: c); at += c }
        }
        let layersStart = model.layerRange(0).lowerBound
        for range in shardRanges where !(layersDone && range.lowerBound >= layersStart) {
            feedBackError(range)
            try communicator.reduceScatterSum(UnsafeMutableBufferPointer(start: g + range.lowerBound, count: range.count),
                                              precision: options.gradientPrecision)
        }
        let l = Array(losses)
        return DistillationLoss.Value(total: l[0], crossEntropy: l[1], kl: l[2], gradient: local.gradient)
    }
}

// MARK: - bf16 gradients

extension TrainingStep {
    /// With bf16 gradients on several workers: replaces this worker's gradient g on `range` of the
    /// arena by bf16(g + e) and keeps e = (g + e) - bf16(g + e) for the next step (error feedback), so
    /// what rounding drops is delayed, not lost. The ring then sends exact bf16 values on its first
    /// hop; the running sums it forwards are rounded again (not fed back).
    func feedBackError(_ range: Range<Int>) {
        guard options.gradientPrecision == .bf16, communicator.worldSize > 1, !range.isEmpty else { return }
        let count = model.gradients.count
        let e: UnsafeMutablePointer<Float>
        if let existing = wireError {
            e = existing
        } else {
            e = .allocate(capacity: count)
            e.initialize(repeating: 0, count: count)
            wireError = e
        }
        let g = model.gradients.base
        for i in range {
            let v = g[i] + e[i]
            let q = WirePrecision.roundedToBF16(v)
            e[i] = v - q
            g[i] = q
        }
    }
}

// MARK: - State

extension TrainingStep {
    /// A copy of the state; the moments only when `optimizer` (a checkpoint or a joining worker needs them).
    /// Lazily updated embedding rows are brought up to date first (which changes no weight's value
    /// at any later step; see `AdamW`).
    public func state(optimizer includeOptimizer: Bool) -> TrainerState {
        optimizer.bringAllUpToDate(model)
        var state = TrainerState(step: completed, optimizerStep: optimizer.step, parameters: Array(model.parameters.buffer),
                                 adamM: includeOptimizer ? Array(optimizer.m.buffer) : nil,
                                 adamV: includeOptimizer ? Array(optimizer.v.buffer) : nil,
                                 touchedAt: includeOptimizer && optimizer.lazyEmbeddings ? optimizer.touchedAt : nil)
        if includeOptimizer, sharded, shardedFor != nil { state.optimizerShards = ownedRanges }
        return state
    }

    /// Replaces the parameters, and with the moments also the optimizer and the step counter.
    public func restore(_ state: TrainerState) throws {
        guard state.parameters.count == model.parameters.count else {
            throw ModelError("state has \(state.parameters.count) parameters, this model \(model.parameters.count)")
        }
        _ = state.parameters.withUnsafeBufferPointer { model.parameters.buffer.update(fromContentsOf: $0) }
        guard let m = state.adamM, let v = state.adamV else { return }
        guard m.count == optimizer.m.count, v.count == optimizer.v.count else {
            throw ModelError("state has optimizer moments of \(m.count)/\(v.count) values, this model \(optimizer.m.count)")
        }
        _ = m.withUnsafeBufferPointer { optimizer.m.buffer.update(fromContentsOf: $0) }
        _ = v.withUnsafeBufferPointer { optimizer.v.buffer.update(fromContentsOf: $0) }
        optimizer.restart(at: state.optimizerStep, touchedAt: state.touchedAt)
        completed = state.step
    }

    /// Brings every lazily updated row up to date, so `model` holds the weights of the last step.
    public func synchronizeWeights() { optimizer.bringAllUpToDate(model) }

    /// Checksum of the parameter arena (bit-identical weights give equal checksums), rows up to date.
    public var parameterChecksum: UInt64 {
        optimizer.bringAllUpToDate(model)
        return model.parameters.checksum()
    }
}

/// Summing each layer's gradients over the workers on a second thread while the backward pass
/// continues below it (Horovod's tensor fusion in its simplest form: one bucket per layer, in the
/// order backward finishes them). The communicator is used by that thread only until `wait`
/// returns, so it is never used by two threads at once.
final class LayerBuckets: @unchecked Sendable {  // `failure` is guarded by `lock`
    let communicator: Communicator
    let precision: WirePrecision
    /// Reduce-scatter only (a sharded optimizer): each worker needs the sums of its own share alone.
    let scatterOnly: Bool
    let queue = DispatchQueue(label: "edgedistill.buckets")
    let group = DispatchGroup()
    let lock = NSLock()
    var failure: Error?

    init(_ communicator: Communicator, precision: WirePrecision, scatterOnly: Bool = false) {
        self.communicator = communicator
        self.precision = precision
        self.scatterOnly = scatterOnly
    }

    /// Queues the all-reduce of `range` of `arena`.
    func reduce(_ arena: Arena, _ range: Range<Int>) {
        queue.async(group: group) { [self] in
            guard lock.withLock({ failure == nil }) else { return }
            do {
                let buffer = UnsafeMutableBufferPointer(start: arena.base + range.lowerBound, count: range.count)
                if scatterOnly {
                    try communicator.reduceScatterSum(buffer, precision: precision)
                } else {
                    try communicator.allReduceSum(buffer, precision: precision)
                }
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
