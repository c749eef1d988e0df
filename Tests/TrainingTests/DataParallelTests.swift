import Collective
import Foundation
import XCTest
@testable import Model
@testable import Training

/// Data-parallel training: 2 and 3 workers (threads here, joined by the ZeroMQ ring over inproc)
/// splitting each batch of 16 end with the weights of 1 worker taking the whole batch.
final class DataParallelTests: XCTestCase {
    static let models = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/models")

    /// The tiny teacher, dropout on: masks are drawn by a sentence's place in the whole batch, so
    /// a worker's share gets the masks a single worker would.
    func teacher() throws -> SequenceClassifier {
        let source = Self.models.appendingPathComponent("teacher").path
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("edgedistill-dp-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: source + "/config.json"))) as? [String: Any] ?? [:]
        for key in ["dropout", "attention_dropout", "seq_classif_dropout"] { json[key] = 0.1 }
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: dir + "/config.json"))
        try FileManager.default.copyItem(atPath: source + "/model.safetensors", toPath: dir + "/model.safetensors")
        return try SequenceClassifier.load(directory: dir).model
    }

    func data() -> EncodedDataset {
        var rng = NormalGenerator(seed: 12)
        var sequences: [[Int32]] = [], labels: [Int32] = []
        for _ in 0..<100 {
            let length = 2 + Int(rng.nextUniform() * 12)
            sequences.append([2] + (0..<length).map { _ in Int32(5 + Int(rng.nextUniform() * 110)) } + [3])
            labels.append(Int32(rng.nextUniform() * 3))
        }
        return EncodedDataset(sequences: sequences, labels: labels)
    }

    func train(_ communicator: Communicator, steps: Int, precision: WirePrecision = .fp32,
               shard: Bool = false) throws -> SequenceClassifier {
        let t = try teacher()
        var options = TrainingOptions()
        options.gradientPrecision = precision
        options.shardOptimizer = shard
        options.batchSize = 16
        options.learningRate = 1e-4
        options.evalEvery = 0
        // Each worker runs the trainer's own step on the batches the loop would hand out.
        let train = data()
        let batcher = Batcher(count: train.count, batchSize: options.batchSize, seed: options.seed)
        let step = TrainingStep(model: try t.student(layers: [0, 2]),
                                mode: .distill(teacher: t, loss: DistillationLoss(), layers: [0, 2]), data: train,
                                options: options, totalSteps: options.totalSteps(examples: train.count),
                                communicator: communicator)
        for number in 0..<steps {
            let epoch = batcher.batches(epoch: number / batcher.batchCount)
            try step.run(step: number, epoch[number % batcher.batchCount])
        }
        step.synchronizeWeights()
        return step.model
    }

    /// What the worker threads hand back.
    final class Results: @unchecked Sendable {
        let lock = NSLock()
        var models: [SequenceClassifier?]
        var failures: [String] = []
        init(_ world: Int) { models = [SequenceClassifier?](repeating: nil, count: world) }
    }

    /// ||a - b|| / ||b|| over the parameter arena, leaving out the key-projection biases: their
    /// gradient is exactly zero in exact arithmetic (softmax ignores a constant added to a row of
    /// scores), so it is rounding noise, which Adam turns into steps of +-lr whose sign depends on
    /// the order gradients were summed in. They cannot change any output.
    func normRelative(_ model: SequenceClassifier, _ reference: SequenceClassifier) -> Double {
        let (a, b) = (model.parameters, reference.parameters)
        var excluded = Set<Int>()
        for entry in model.layout.entries where entry.name.hasSuffix("k_lin.bias") {
            excluded.formUnion(entry.offset..<(entry.offset + entry.count))
        }
        var diff = 0.0, norm = 0.0
        for i in 0..<b.count where !excluded.contains(i) {
            diff += Double(a.buffer[i] - b.buffer[i]) * Double(a.buffer[i] - b.buffer[i])
            norm += Double(b.buffer[i]) * Double(b.buffer[i])
        }
        return (diff / norm).squareRoot()
    }

    /// How far 2 workers sending bf16 gradients (error feedback) may end from 1 worker in fp32 after
    /// 9 steps, relative to the weights' norm (measured 1.2e-5; fp32 gradients: 7e-9, within 1e-5).
    static let bf16Tolerance = 1e-4

    func testWorkersMatchOneWorker() throws {
        try compareWorkers([2, 3], precision: .fp32, tolerance: 1e-5)
    }

    func testWorkersSendingBF16GradientsStayCloseToOneWorker() throws {
        // One worker sends nothing, so bf16 changes nothing there (the N == 1 case is exact).
        let alone = try train(LocalCommunicator(), steps: 3, precision: .bf16)
        XCTAssertEqual(alone.parameters.checksum(), try train(LocalCommunicator(), steps: 3).parameters.checksum())
        try compareWorkers([2], precision: .bf16, tolerance: Self.bf16Tolerance, atLeast: 1e-7)
    }

    static let steps = 9   // crosses an epoch boundary (7 batches per epoch)

    /// The models `world` worker threads end with, joined by a ring over inproc.
    func ringModels(_ world: Int, precision: WirePrecision, shard: Bool = false) throws -> [SequenceClassifier] {
        let context = try ZMQContext()
        let endpoints = (0..<world).map { "inproc://dp-\(world)-\($0)-\(UUID().uuidString)" }
        let results = Results(world)
        let group = DispatchGroup()
        for rank in 0..<world {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                do {
                    let ring = try RingCommunicator(rank: rank, endpoints: endpoints, context: context,
                                                    options: .init(timeout: 60))
                    defer { ring.close() }
                    let model = try self.train(ring, steps: Self.steps, precision: precision, shard: shard)
                    results.lock.withLock { results.models[rank] = model }
                } catch {
                    results.lock.withLock { results.failures.append("rank \(rank): \(error)") }
                }
            }
        }
        group.wait()
        XCTAssertEqual(results.failures, [])
        let trained = results.models.compactMap { $0 }
        XCTAssertEqual(trained.count, world)
        return trained
    }

    /// The sharded optimizer (ZeRO stage 1): each worker sums and updates only its share outside the
    /// word embeddings, then the shares are all-gathered. On 2 workers each sum is the one an
    /// all-reduce forms (a + b), so the weights are the unsharded ring's to the bit; on 3 the shares
    /// are cut from each table rather than from one packed buffer, so sums are added in another
    /// order: within rounding of one worker, as the unsharded ring is.
    func testShardedOptimizerTrainsTheUnshardedRingsWeights() throws {
        let single = try train(LocalCommunicator(), steps: Self.steps)
        let plain = try ringModels(2, precision: .fp32)
        for world in [2, 3] {
            let sharded = try ringModels(world, precision: .fp32, shard: true)
            guard let first = sharded.first else { continue }
            for model in sharded {
                XCTAssertEqual(model.parameters.checksum(), first.parameters.checksum(), "\(world) sharded workers differ")
            }
            if world == 2, let reference = plain.first {
                XCTAssertEqual(first.parameters.checksum(), reference.parameters.checksum(), "2 workers, sharded against unsharded")
            }
            let error = normRelative(first, single)
            print("data parallel: \(world) workers, sharded optimizer vs 1 after \(Self.steps) steps: \(error)")
            XCTAssertLessThan(error, 1e-5)
        }
        // bf16 gradients: the owner keeps its fp32 sum of bf16 pieces instead of rounding it once more.
        let bf16 = try ringModels(2, precision: .bf16, shard: true)
        if let first = bf16.first {
            for model in bf16 { XCTAssertEqual(model.parameters.checksum(), first.parameters.checksum()) }
            let error = normRelative(first, single)
            print("data parallel: 2 workers, sharded optimizer, bf16 gradients vs 1 after \(Self.steps) steps: \(error)")
            XCTAssertLessThan(error, Self.bf16Tolerance)
        }
    }

    /// `atLeast`: the difference the precision must show (bf16 that silently sent fp32 would not).
    func compareWorkers(_ worlds: [Int], precision: WirePrecision, tolerance: Double, atLeast: Double = 0) throws {
        let steps = Self.steps
        let single = try train(LocalCommunicator(), steps: steps)
        for world in worlds {
            let trained = try ringModels(world, precision: precision)
            guard let first = trained.first else { continue }
            for model in trained {
                XCTAssertEqual(model.parameters.checksum(), first.parameters.checksum(), "workers hold different weights")
            }
            let error = normRelative(first, single)
            print("data parallel: \(world) workers (\(precision.rawValue) gradients) vs 1 after \(steps) steps: relative difference \(error)")
            XCTAssertLessThan(error, tolerance)
            XCTAssertGreaterThanOrEqual(error, atLeast)
            XCTAssertNotEqual(first.parameters.checksum(), try teacher().student(layers: [0, 2]).parameters.checksum(),
                              "training must have moved the weights")
        }
    }
}
