import Collective
import Foundation
import Kernels
import Model

// Shapes: N examples, K classes, S shards.
//
// The teacher pass: before a student trains, the frozen teacher's logits for every input (labelled
// examples, teacher-labelled variants, unlabeled text) are computed once, in large batches of
// sentences of similar length, and kept on disk in the run folder (`TeacherLogitsFile`). The
// student stage then reads them and never runs the teacher. The work is cut into shards (runs of
// whole batches), which one process computes in turn or a coordinator hands to its workers
// (`TeacherPassExecutor`); a shard is the same batches wherever it runs, so the logits do not
// depend on who computed them.

/// Which examples each shard holds, in the order they are computed and stored.
public struct TeacherPassPlan: Sendable, Equatable {
    /// Examples sorted by length (then index): position p holds example `order[p]`.
    public let order: [Int]
    /// Sentences per batch.
    public let batchSize: Int
    /// Shard s covers positions `shards[s]`: whole batches, `batchesPerShard` of them.
    public let shards: [Range<Int>]

    /// Batches of `batchSize`; shards of `batchesPerShard` batches, or (nil) 16, fewer for small sets so
    /// that there are about 8 shards to share out. Which batches a shard groups changes no logit.
    public init(lengths: [Int], batchSize: Int = 64, batchesPerShard: Int? = nil) {
        let batches = (lengths.count + batchSize - 1) / max(batchSize, 1)
        let perShard = batchesPerShard ?? max(1, min(16, batches / 8))
        precondition(batchSize > 0 && perShard > 0, "batch size and batches per shard must be positive")
        let order = lengths.indices.sorted { (lengths[$0], $0) < (lengths[$1], $1) }
        let size = batchSize * perShard
        self.order = order
        self.batchSize = batchSize
        shards = stride(from: 0, to: order.count, by: size).map { $0..<min($0 + size, order.count) }
    }

    public var count: Int { order.count }

    /// The examples of shard `s`, in stored order.
    public func examples(ofShard s: Int) -> [Int] { Array(order[shards[s]]) }
}

public enum TeacherPass {
    /// The teacher's logits (n, K) for `examples` (in that order), in batches of `batchSize`.
    public static func logits(_ teacher: SequenceClassifier, examples: [Int], data: EncodedDataset, batchSize: Int) -> [Float] {
        var values: [Float] = []
        values.reserveCapacity(examples.count * teacher.config.labelCount)
        for start in stride(from: 0, to: examples.count, by: batchSize) {
            let batch = examples[start..<min(start + batchSize, examples.count)]
            values += teacher.forward(TokenBatch(sequences: batch.map { data.sequences[$0] }))
        }
        return values
    }

    /// A fingerprint of what the logits depend on: the teacher's parameters, the precision it runs
    /// in and every input's token ids. A file with another fingerprint is not reused.
    public static func fingerprint(_ teacher: SequenceClassifier, data: EncodedDataset, precision: FrozenWeights.Precision) -> UInt64 {
        let weights = CRC32C.checksum(UnsafeRawBufferPointer(start: teacher.parameters.base, count: teacher.parameters.count * 4))
        var inputs = CRC32C.checksum(Array(precision.rawValue.utf8))
        for sequence in data.sequences {
            var length = UInt32(sequence.count)
            inputs = withUnsafeBytes(of: &length) { CRC32C.checksum($0, continuing: inputs) }
            inputs = sequence.withUnsafeBytes { CRC32C.checksum($0, continuing: inputs) }
        }
        return UInt64(weights) << 32 | UInt64(inputs)
    }

    /// Runs the pass in this process over the shards `file` still lacks, reporting each to `progress`.
    public static func runLocally(_ teacher: SequenceClassifier, data: EncodedDataset, file: TeacherLogitsFile,
                                  progress: Progress? = nil) throws {
        var done = file.plan.count - file.pendingShards.reduce(0) { $0 + file.plan.shards[$1].count }
        let crash = FaultInjection.fromEnvironment("EDGEDISTILL_CRASH_AFTER", defaultAction: "stop")
        for (n, s) in file.pendingShards.enumerated() {
            let examples = file.plan.examples(ofShard: s)
            try file.write(shard: s, logits: logits(teacher, examples: examples, data: data, batchSize: file.plan.batchSize))
            done += examples.count
            progress?.update(done, status: "shard \(s + 1) of \(file.plan.shards.count)")
            if crash?.action(phase: "pass", step: n + 1) != nil {
                throw ModelError("stopped after \(n + 1) teacher-pass shard(s) (EDGEDISTILL_CRASH_AFTER)")
            }
        }
    }
}

/// Computes a teacher pass elsewhere (a coordinator's workers).
public protocol TeacherPassExecutor: AnyObject {
    /// Fills every pending shard of `file` with the logits of the teacher in `teacherFolder` (run in
    /// `precision`) on `data`.
    func teacherPass(teacherFolder: String, labelNames: [String], data: EncodedDataset, file: TeacherLogitsFile,
                     precision: FrozenWeights.Precision) throws
}
