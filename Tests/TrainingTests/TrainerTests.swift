import Foundation
import XCTest
import Kernels
@testable import Model
@testable import Training
import Evaluation

/// The training loop on the tiny fixture models: fine-tuning learns, distillation caches the frozen
/// teacher's logits (and they equal recomputed ones), and an interrupted run resumed from its
/// checkpoint ends with exactly the weights of an uninterrupted one.
final class TrainerTests: XCTestCase {
    static let models = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/models")
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("edgedistill-trainer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: scratch) }

    func load(_ name: String) throws -> SequenceClassifier {
        try SequenceClassifier.load(directory: Self.models.appendingPathComponent(name).path).model
    }

    /// A trainer distilling the tiny teacher into a student of its layers 1 and 2.
    func distiller(_ train: EncodedDataset, validation: EncodedDataset?, options: TrainingOptions, checkpoint: String? = nil,
                   onBest: @escaping (SequenceClassifier, Validation) throws -> Void = { _, _ in }) throws -> Trainer {
        let teacher = try load("teacher")
        let t = Trainer(model: try teacher.student(layers: [1, 2]),
                        mode: .distill(teacher: teacher, loss: DistillationLoss(), layers: [1, 2]),
                        train: train, validator: validation.map { Evaluator.validator(on: $0) }, options: options, checkpointPath: checkpoint, onBest: onBest)
        t.progress.quiet = true
        return t
    }

    /// Sentences of random tokens; the label says which marker token (10 or 11) they hold, or neither.
    func syntheticTask(count: Int, seed: UInt64) -> EncodedDataset {
        var rng = NormalGenerator(seed: seed)
        var sequences: [[Int32]] = [], labels: [Int32] = []
        for _ in 0..<count {
            let length = 3 + Int(rng.nextUniform() * 10)
            var body = (0..<length).map { _ in Int32(20 + Int(rng.nextUniform() * 100)) }
            let label = Int32(rng.nextUniform() * 3)
            if label < 2 { body[Int(rng.nextUniform() * Double(length))] = 10 + label }
            sequences.append([2] + body + [3])
            labels.append(label)
        }
        return EncodedDataset(sequences: sequences, labels: labels)
    }

    func testFineTuningLearnsASyntheticTask() throws {
        let model = try load("distilbert")
        let train = syntheticTask(count: 384, seed: 1), validation = syntheticTask(count: 96, seed: 2)
        let before = Evaluator.evaluate(model, on: validation).metrics.accuracy
        var options = TrainingOptions()
        options.epochs = 10
        options.batchSize = 16
        options.learningRate = 2e-3
        options.evalEvery = 0
        options.linearDecay = true
        options.warmupFraction = 0.1
        var bestSeen = 0.0
        let trainer = Trainer(model: model, mode: .fineTune, train: train, validator: Evaluator.validator(on: validation), options: options,
                              onBest: { _, metrics in bestSeen = metrics.accuracy })
        trainer.progress.quiet = true
        let summary = try trainer.run()
        let after = Evaluator.evaluate(model, on: validation).metrics.accuracy
        print("fine-tuning: validation accuracy \(before) -> \(after), best \(bestSeen)")
        XCTAssertEqual(summary.steps, 10 * 24)
        XCTAssertGreaterThan(after, 0.8, "chance is 0.33")
        XCTAssertEqual(summary.bestAccuracy, bestSeen)
    }

    func testTeacherLogitsAreCachedAndEqualRecomputedOnes() throws {
        let teacher = try load("teacher")
        let student = try teacher.student(layers: [0, 2])
        let train = syntheticTask(count: 100, seed: 3)
        var options = TrainingOptions()
        options.epochs = 2
        options.batchSize = 16
        options.evalEvery = 0
        let trainer = Trainer(model: student, mode: .distill(teacher: teacher, loss: DistillationLoss(), layers: [0, 2]),
                              train: train, validator: nil, options: options)
        trainer.progress.quiet = true
        _ = try trainer.run()
        let cache = try XCTUnwrap(trainer.logitCache)
        XCTAssertEqual(cache.filledCount, 100, "every example cached after the first epoch")
        XCTAssertEqual(cache.misses, 7, "the teacher ran once per batch of the first epoch only")
        XCTAssertEqual(cache.hits, 7, "the second epoch used the cache alone")
        // Recompute every first-epoch batch as it was run: bit-for-bit the cached logits.
        for indices in trainer.batcher.batches(epoch: 0) {
            let (batch, _) = trainer.batcher.batch(indices, from: train)
            XCTAssertEqual(teacher.forward(batch), cache.lookup(indices))
        }
        // And one sentence alone agrees to rounding (GEMM blocking depends on the batch).
        let alone = teacher.forward(TokenBatch(sequences: [train.sequences[5]]))
        let cached = try XCTUnwrap(cache.lookup([5]))
        for (a, b) in zip(alone, cached) { XCTAssertEqual(a, b, accuracy: 1e-5 * max(1, abs(b))) }
    }

    /// Hidden-state distillation pulls each student layer's output towards its target teacher
    /// state (the next taken layer's input, then the teacher's last state): after the same steps,
    /// the distance to those targets is well below that of a run without the term.
    func testHiddenStateLossPullsStudentLayersTowardsTheirTargets() throws {
        let train = syntheticTask(count: 64, seed: 8)
        let layers = [0, 1]
        func distanceToTargets(hiddenWeight: Float) throws -> Double {
            let teacher = try load("teacher")
            var options = TrainingOptions()
            options.epochs = 4
            options.batchSize = 16
            options.evalEvery = 0
            options.learningRate = 3e-3
            options.hiddenWeight = hiddenWeight
            let trainer = Trainer(model: try teacher.student(layers: layers),
                                  mode: .distill(teacher: teacher, loss: DistillationLoss(), layers: layers),
                                  train: train, validator: nil, options: options)
            trainer.progress.quiet = true
            _ = try trainer.run()
            let (batch, _) = trainer.batcher.batch(Array(0..<train.sequences.count), from: train)
            trainer.model.forward(batch, allHiddenStates: true)
            teacher.forward(batch, allHiddenStates: true)
            let targets = SequenceClassifier.hiddenStateTargets(layers: layers, teacherLayerCount: teacher.config.layerCount)
            XCTAssertEqual(targets, [1, 3])
            return targets.enumerated().map { i, t in
                let s = trainer.model.hiddenStates(after: i + 1), h = teacher.hiddenStates(after: t)
                return zip(s, h).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) } / Double(s.count)
            }.reduce(0, +)
        }
        let without = try distanceToTargets(hiddenWeight: 0), with = try distanceToTargets(hiddenWeight: 5)
        XCTAssertLessThan(with, 0.5 * without, "distance to the targets: \(with) with the term, \(without) without")
    }

    func testResumedRunEndsWithTheSameWeights() throws {
        let train = syntheticTask(count: 120, seed: 4), validation = syntheticTask(count: 40, seed: 5)
        var options = TrainingOptions()
        options.epochs = 2
        options.batchSize = 16
        options.evalEvery = 5
        options.checkpointEvery = 5
        options.linearDecay = true
        options.warmupFraction = 0.2
        options.learningRate = 1e-3
        options.averageLast = 0.75   // evaluations after step 4: the checkpoint at 10 holds an average of 3
        func trainer(_ checkpoint: String) throws -> Trainer {
            try distiller(train, validation: validation, options: options, checkpoint: checkpoint)
        }
        let straight = try trainer(scratch.appendingPathComponent("a.ckpt").path)
        _ = try straight.run()

        let path = scratch.appendingPathComponent("b.ckpt").path
        let interrupted = try trainer(path)
        _ = try interrupted.run(until: 12)             // "killed" after step 12; last checkpoint at 10
        XCTAssertNotEqual(interrupted.model.parameters.checksum(), straight.model.parameters.checksum())
        let resumed = try trainer(path)
        let summary = try resumed.run(resume: true)
        XCTAssertEqual(summary.steps, 16)
        XCTAssertEqual(resumed.model.parameters.checksum(), straight.model.parameters.checksum(),
                       "resumed weights differ from the uninterrupted run")
        XCTAssertEqual(resumed.bestAccuracy, straight.bestAccuracy)
        XCTAssertEqual(resumed.average?.count, 5, "the evaluations at steps 5, 8 (epoch end), 10, 15 and 16")
        XCTAssertEqual(resumed.average?.count, straight.average?.count)
        XCTAssertEqual(resumed.average?.mean, straight.average?.mean, "the resumed weight average differs")
        XCTAssertEqual(resumed.bestAveraged, straight.bestAveraged)
    }

    /// A checkpoint written without weight averaging, resumed past the start of the average, is
    /// refused by name (the average of the evaluations before it is missing), and left as it was.
    func testResumeRefusesACheckpointWithoutTheWeightAverage() throws {
        let train = syntheticTask(count: 64, seed: 10), validation = syntheticTask(count: 20, seed: 11)
        var options = TrainingOptions()
        options.batchSize = 8
        options.evalEvery = 2
        options.checkpointEvery = 4
        let path = scratch.appendingPathComponent("avg.ckpt").path
        func trainer(averageLast: Double) throws -> Trainer {
            var o = options
            o.averageLast = averageLast
            let t = Trainer(model: try load("distilbert"), mode: .fineTune, train: train, validator: Evaluator.validator(on: validation),
                            options: o, checkpointPath: path)
            t.progress.quiet = true
            return t
        }
        _ = try trainer(averageLast: 0).run(until: 5)
        let before = FileManager.default.contents(atPath: path)
        // 24 steps: with 0.9 the evaluations after step 2 are averaged; the checkpoint is at step 4.
        XCTAssertThrowsError(try trainer(averageLast: 0.9).run(resume: true)) { error in
            XCTAssertTrue("\(error)".contains("without weight averaging"), "\(error)")
            XCTAssertTrue("\(error)".contains(path), "the message names the file: \(error)")
        }
        XCTAssertEqual(FileManager.default.contents(atPath: path), before, "the checkpoint was changed")
    }

    /// The weight average is the mean of the weights at the evaluations of the run's last share;
    /// it is kept (handed to `onBest`) only when it beats the best checkpoint on validation; and
    /// averaging leaves training itself unchanged.
    func testWeightAverageOfTheLastEvaluationsIsACandidateCheckpoint() throws {
        let train = syntheticTask(count: 96, seed: 8), validation = syntheticTask(count: 40, seed: 9)
        var options = TrainingOptions()
        options.epochs = 2
        options.batchSize = 16
        options.evalEvery = 2
        options.learningRate = 1e-3
        func trainer(averageLast: Double, onBest: @escaping (SequenceClassifier, Validation) throws -> Void = { _, _ in })
            throws -> Trainer {
            var o = options
            o.averageLast = averageLast
            return try distiller(train, validation: validation, options: o, onBest: onBest)
        }
        // The weights at every evaluation (steps 2, 4, ..., 12), from a run that stops at each.
        var samples: [[Float]] = []
        for stop in stride(from: 2, through: 12, by: 2) {
            let t = try trainer(averageLast: 0)
            _ = try t.run(until: stop)
            samples.append(Array(t.model.parameters.buffer))
        }
        var kept: [Float]?
        let averaging = try trainer(averageLast: 0.5) { model, _ in kept = Array(model.parameters.buffer) }
        _ = try averaging.run()
        let average = try XCTUnwrap(averaging.average)
        XCTAssertEqual(average.startAfter, 6)
        XCTAssertEqual(average.count, 3, "the evaluations at steps 8, 10 and 12")
        var worst: Float = 0
        for i in 0..<average.mean.count {
            let mean = (samples[3][i] + samples[4][i] + samples[5][i]) / 3
            worst = max(worst, abs(average.mean[i] - mean))
        }
        XCTAssertLessThan(worst, 1e-6, "the running mean differs from the mean of the evaluated weights")
        XCTAssertEqual(Array(averaging.model.parameters.buffer), samples[5], "averaging changed the training trajectory")

        // Kept only when better than the best checkpoint: first pretend nothing was better, then everything.
        let validationSet = validation
        averaging.bestAccuracy = 1.01
        kept = nil
        try averaging.evaluateAverage(average, by: Evaluator.validator(on: validationSet))
        XCTAssertNil(kept, "an average no better than the best checkpoint is not kept")
        XCTAssertNil(averaging.bestAveraged)
        averaging.bestAccuracy = -1
        try averaging.evaluateAverage(average, by: Evaluator.validator(on: validationSet))
        XCTAssertEqual(kept, average.mean, "the kept model holds the average")
        XCTAssertEqual(averaging.bestAveraged, 3)
        XCTAssertEqual(Array(averaging.model.parameters.buffer), samples[5], "the last weights are put back after the average")
    }

    /// A fine-tuning run on a synthetic task stopped after 2 steps, with its checkpoint at `path`.
    func checkpointAfterTwoSteps() throws -> (train: EncodedDataset, options: TrainingOptions, path: String) {
        let train = syntheticTask(count: 40, seed: 6)
        var options = TrainingOptions()
        options.batchSize = 8
        options.checkpointEvery = 2
        let path = scratch.appendingPathComponent("c.ckpt").path
        let first = Trainer(model: try load("distilbert"), mode: .fineTune, train: train, validator: nil,
                            options: options, checkpointPath: path)
        first.progress.quiet = true
        _ = try first.run(until: 2)
        return (train, options, path)
    }

    /// A checkpoint whose rows' last-gradient steps are not steps of the run is refused by name,
    /// and the file is left as it was.
    func testResumeRefusesCorruptLastGradientSteps() throws {
        let (train, options, path) = try checkpointAfterTwoSteps()
        // Rewrite the checkpoint with one row's last-gradient step after the checkpoint's step.
        let file = try SafetensorsFile(path: path)
        XCTAssertNotNil(file.info("adam.touched_at"))
        let tensors = try file.names.map { name -> SafetensorsWriter.Tensor in
            var values = [Float](repeating: 0, count: file.info(name)!.elementCount)
            try values.withUnsafeMutableBufferPointer { try file.floats(name, into: $0) }
            if name == "adam.touched_at" { values[7] = 99 }
            return .float32(name: name, shape: file.info(name)!.shape, values: values)
        }
        try SafetensorsWriter.write(tensors, metadata: file.metadata, to: path)
        let written = try Data(contentsOf: URL(fileURLWithPath: path))
        let resumed = Trainer(model: try load("distilbert"), mode: .fineTune, train: train, validator: nil,
                              options: options, checkpointPath: path)
        XCTAssertThrowsError(try resumed.run(resume: true)) { error in
            XCTAssertTrue("\(error)".contains("adam.touched_at"), "\(error)")
            XCTAssertTrue("\(error)".contains(path), "\(error)")
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), written, "the checkpoint is left as it was")
    }

    func testResumeRefusesACheckpointOfAnotherRun() throws {
        let (train, checkpointed, path) = try checkpointAfterTwoSteps()
        var options = checkpointed
        options.seed = 7
        let other = Trainer(model: try load("distilbert"), mode: .fineTune, train: train, validator: nil,
                            options: options, checkpointPath: path)
        XCTAssertThrowsError(try other.run(resume: true)) { error in
            XCTAssertTrue("\(error)".contains("seed"), "\(error)")
            XCTAssertTrue("\(error)".contains(path), "\(error)")
        }
    }
}
