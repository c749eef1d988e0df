import Foundation
import XCTest
import Kernels
@testable import Model
@testable import Training

/// The teacher pass on the tiny fixture teacher: the plan covers every example once, in length
/// order; the file's logits are the teacher's; a pass resumes from the shards whose checksums hold
/// and recomputes a damaged one; a file for other inputs is not reused; a student trained from the
/// file never runs the teacher.
final class TeacherPassTests: XCTestCase {
    var scratch: URL!
    /// Logits of an example computed in another batch (another M for the GEMMs): equal up to rounding.
    let batchingTolerance: Float = 1e-5

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("edgedistill-pass-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: scratch) }

    func teacher() throws -> SequenceClassifier {
        let folder = TrainerTests.models.appendingPathComponent("teacher").path
        let model = try SequenceClassifier.load(directory: folder).model
        model.freeze()
        return model
    }

    func inputs(_ count: Int, seed: UInt64) -> EncodedDataset {
        var rng = NormalGenerator(seed: seed)
        var sequences: [[Int32]] = []
        for _ in 0..<count {
            let length = 2 + Int(rng.nextUniform() * 20)
            sequences.append([2] + (0..<length).map { _ in Int32(20 + Int(rng.nextUniform() * 100)) } + [3])
        }
        return EncodedDataset(sequences: sequences, labels: [Int32](repeating: 0, count: count))
    }

    func testThePlanCoversEveryExampleOnceInLengthOrder() {
        let lengths = (0..<1000).map { ($0 * 7919) % 37 + 1 }
        let plan = TeacherPassPlan(lengths: lengths, batchSize: 16)
        XCTAssertEqual(plan.order.sorted(), Array(0..<1000))
        XCTAssertTrue(zip(plan.order, plan.order.dropFirst()).allSatisfy { (lengths[$0], $0) < (lengths[$1], $1) })
        XCTAssertEqual(plan.shards.map(\.count).reduce(0, +), 1000)
        XCTAssertEqual(plan.shards.first?.lowerBound, 0)
        XCTAssertTrue(zip(plan.shards, plan.shards.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
        // 63 batches of 16: 7 per shard, so about 8 shards, each of whole batches.
        XCTAssertEqual(plan.shards.count, 9)
        XCTAssertTrue(plan.shards.dropLast().allSatisfy { $0.count == 7 * 16 })
    }

    func testTheFileHoldsTheTeachersLogitsAndResumesFromVerifiedShards() throws {
        let teacher = try teacher(), data = inputs(300, seed: 3)
        let plan = TeacherPassPlan(lengths: data.sequences.map(\.count), batchSize: 16, batchesPerShard: 2)
        let path = scratch.appendingPathComponent("logits.bin").path
        let fingerprint = TeacherPass.fingerprint(teacher, data: data, precision: .fp32)
        let classes = teacher.config.labelCount

        let file = try TeacherLogitsFile(path: path, plan: plan, classes: classes, fingerprint: fingerprint)
        XCTAssertEqual(file.pendingShards, Array(plan.shards.indices))
        // Two shards written, then "interrupted".
        for s in [0, 3] {
            try file.write(shard: s, logits: TeacherPass.logits(teacher, examples: plan.examples(ofShard: s), data: data, batchSize: 16))
        }
        XCTAssertThrowsError(try file.write(shard: 1, logits: [1, 2, 3])) { XCTAssertTrue("\($0)".contains("needs"), "\($0)") }

        let reopened = try TeacherLogitsFile(path: path, plan: plan, classes: classes, fingerprint: fingerprint)
        XCTAssertEqual(reopened.pendingShards, plan.shards.indices.filter { ![0, 3].contains($0) })
        try TeacherPass.runLocally(teacher, data: data, file: reopened)
        XCTAssertTrue(reopened.isComplete)

        // Every example's logits equal the teacher's on that example alone.
        let cache = LogitCache(file: reopened)
        let all = try XCTUnwrap(cache.lookup(Array(0..<data.count)))
        for i in stride(from: 0, to: data.count, by: 13) {
            let alone = teacher.forward(TokenBatch(sequences: [data.sequences[i]]))
            for k in 0..<classes { XCTAssertEqual(all[i * classes + k], alone[k], accuracy: batchingTolerance, "example \(i)") }
        }
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))

        // A flipped byte in shard 2's values: that shard alone is computed again, to the same bytes.
        var damaged = bytes
        let valuesStart = (64 + plan.shards.count * 8 + 63) / 64 * 64
        damaged[valuesStart + plan.shards[2].lowerBound * classes * 4 + 5] ^= 0x40
        try damaged.write(to: URL(fileURLWithPath: path))
        let repaired = try TeacherLogitsFile(path: path, plan: plan, classes: classes, fingerprint: fingerprint)
        XCTAssertEqual(repaired.pendingShards, [2])
        try TeacherPass.runLocally(teacher, data: data, file: repaired)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), bytes)

        // Other inputs (one token changed): nothing is reused.
        var other = data.sequences
        other[7][1] = 99
        let changed = EncodedDataset(sequences: other, labels: data.labels)
        let fresh = try TeacherLogitsFile(path: path, plan: plan, classes: classes,
                                          fingerprint: TeacherPass.fingerprint(teacher, data: changed, precision: .fp32))
        XCTAssertEqual(fresh.pendingShards.count, plan.shards.count)
        XCTAssertNotEqual(TeacherPass.fingerprint(teacher, data: data, precision: .bf16), fingerprint)
    }

    func testAStudentTrainedFromThePassNeverRunsTheTeacher() throws {
        let teacher = try teacher(), data = inputs(96, seed: 4)
        let labelled = EncodedDataset(sequences: data.sequences, labels: (0..<96).map { Int32($0 % 3) })
        let plan = TeacherPassPlan(lengths: labelled.sequences.map(\.count), batchSize: 32)
        let file = try TeacherLogitsFile(path: scratch.appendingPathComponent("l.bin").path, plan: plan,
                                         classes: teacher.config.labelCount,
                                         fingerprint: TeacherPass.fingerprint(teacher, data: labelled, precision: .fp32))
        try TeacherPass.runLocally(teacher, data: labelled, file: file)
        var options = TrainingOptions()
        options.epochs = 2
        options.batchSize = 16
        options.evalEvery = 0
        let cache = LogitCache(file: file)
        let trainer = Trainer(model: try teacher.student(layers: [0]), mode: .distill(teacher: teacher, loss: DistillationLoss(), layers: [0]),
                              train: labelled, validator: nil, options: options, logitCache: cache)
        trainer.progress.quiet = true
        _ = try trainer.run()
        XCTAssertEqual(cache.misses, 0, "every batch's logits came from the file")
        XCTAssertEqual(cache.hits, 12)
    }
}
