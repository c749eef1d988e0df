import Foundation
import XCTest
import Kernels
@testable import Model
@testable import Training

/// Lazy word-embedding rows in AdamW: applying the steps a row sat out when it is next needed gives
/// dense AdamW's weights (bit for bit for rows used every step), however the catching up is split.
final class AdamWTests: XCTestCase {
    /// Lazy against dense AdamW, after 120 steps with a changing rate: float rounding of the
    /// tabulated powers (about 1e-7 of a weight per step) and the moment's pull past the horizon.
    static let lazyAgreement: Float = 5e-7

    func load() throws -> SequenceClassifier {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/models/distilbert")
        return try SequenceClassifier.load(directory: url.path).model
    }

    /// Which rows get a gradient at `step`: row 5 every step, rows 6-9 every 3, 17, 30 and 45
    /// steps, rows 10-19 once (at steps 10, 15, ... 55), a few random rows, never rows 100-119.
    /// With β1 = 0.25 the horizon is 20 steps, so most gaps outlast it.
    func rows(at step: Int, rng: inout NormalGenerator) -> [Int32] {
        var rows: Set<Int32> = [5]
        for (row, every) in [(6, 3), (7, 17), (8, 30), (9, 45)] where step % every == 0 { rows.insert(Int32(row)) }
        for row in 10..<20 where step == 5 * (row - 8) { rows.insert(Int32(row)) }
        for _ in 0..<3 { rows.insert(Int32(20 + Int(rng.nextUniform() * 80))) }
        return rows.sorted()
    }

    /// Fills `model`'s gradients for one step: every dense parameter, and the word-embedding rows
    /// `rows` (the others stay zero, as after a backward pass that did not use them).
    func fillGradients(_ model: SequenceClassifier, rows: [Int32], rng: inout NormalGenerator) {
        model.zeroGradients()
        let words = model.layout["embeddings.word_embeddings.weight"]!
        let c = model.config.hiddenSize, g = model.gradients.base
        let rest = (words.offset + words.count)..<model.gradients.count
        // Slices of a pool of normal draws at random offsets (drawing each value is slow unoptimised).
        func take(_ count: Int, into target: UnsafeMutablePointer<Float>) {
            let start = Int(rng.nextUniform() * Double(Self.pool.count - count))
            Self.pool.withUnsafeBufferPointer { target.update(from: $0.baseAddress! + start, count: count) }
        }
        for row in rows { take(c, into: g + words.offset + Int(row) * c) }
        take(rest.count, into: g + rest.lowerBound)
        model.markTouched(rows)
    }

    /// Normal draws scaled to gradient-like sizes (1e-3).
    static let pool: [Float] = {
        var rng = NormalGenerator(seed: 99)
        return (0..<100_000).map { _ in rng.next() * 1e-3 }
    }()

    /// Runs `steps` updates of one optimizer on a fresh model; `between` runs after each update.
    func train(lazy: Bool, weightDecay: Float, steps: Int = 120,
               between: (AdamW, SequenceClassifier, Int, inout NormalGenerator) -> Void = { _, _, _, _ in })
        throws -> (model: SequenceClassifier, optimizer: AdamW) {
        let model = try load()
        let optimizer = AdamW(model: model, learningRate: 1e-3, beta1: 0.25, weightDecay: weightDecay, lazyEmbeddings: lazy)
        XCTAssertEqual(optimizer.horizon, 20)
        var schedule = NormalGenerator(seed: 7), side = NormalGenerator(seed: 11)
        for step in 1...steps {
            let rows = rows(at: step, rng: &schedule)
            optimizer.bringUpToDate(model, rows: rows)
            fillGradients(model, rows: rows, rng: &schedule)
            optimizer.learningRate = 1e-3 * Float(1 + step % 5) / 3  // a rate that changes every step
            optimizer.update(model)
            between(optimizer, model, step, &side)
        }
        optimizer.bringAllUpToDate(model)
        return (model, optimizer)
    }

    func testLazyRowsMatchDenseAdamW() throws {
        for decay: Float in [0, 0.01] {
            let dense = try train(lazy: false, weightDecay: decay).model
            let lazy = try train(lazy: true, weightDecay: decay).model
            let initial = try load()
            let words = dense.layout["embeddings.word_embeddings.weight"]!
            let c = dense.config.hiddenSize
            func row(_ model: SequenceClassifier, _ r: Int) -> [Float] {
                let start: Int = words.offset + r * c
                return Array(model.parameters.buffer[start..<(start + c)])
            }
            // Every parameter outside the word embeddings, and the row used every step: bit for bit.
            let rest = (words.offset + words.count)..<dense.parameters.count
            XCTAssertEqual(Array(lazy.parameters.buffer[rest]), Array(dense.parameters.buffer[rest]), "decay \(decay)")
            XCTAssertEqual(row(lazy, 5), row(dense, 5), "decay \(decay): the row used every step")
            var worst: Float = 0
            for r in 0..<dense.config.vocabularySize {
                for (a, b) in zip(row(lazy, r), row(dense, r)) { worst = max(worst, abs(a - b)) }
            }
            // The rows that sat out steps moved like dense ones (far more than the tolerance) ...
            for r in [7, 9, 12, 19] {
                let moved = zip(row(dense, r), row(initial, r)).map { abs($0 - $1) }.max() ?? 0
                XCTAssertGreaterThan(moved, 100 * Self.lazyAgreement, "decay \(decay): row \(r) should have moved")
            }
            // ... and never-used rows moved only by the weight decay (not at all without it).
            if decay == 0 { XCTAssertEqual(row(lazy, 110), row(initial, 110)) }
            XCTAssertLessThan(worst, Self.lazyAgreement, "decay \(decay): largest lazy-dense difference \(worst)")
            print("decay \(decay): lazy rows within \(worst) of dense AdamW")
        }
    }

    /// Skipping the catching up of steps a row sat out (TensorFlow's LazyAdam) is what the lazy
    /// rows must not do: a row used once keeps moving for about `horizon` steps in dense Adam.
    func testARowUsedOnceKeepsMovingAfterwards() throws {
        let model = try load()
        let optimizer = AdamW(model: model, learningRate: 1e-3, weightDecay: 0, lazyEmbeddings: true)
        let words = model.layout["embeddings.word_embeddings.weight"]!
        let c = model.config.hiddenSize
        var rng = NormalGenerator(seed: 3)
        fillGradients(model, rows: [40], rng: &rng)
        let before = model.parameters.buffer[words.offset + 40 * c]
        optimizer.update(model)
        let afterOne = model.parameters.buffer[words.offset + 40 * c]
        for _ in 0..<50 {
            fillGradients(model, rows: [41], rng: &rng)
            optimizer.update(model)
        }
        XCTAssertEqual(model.parameters.buffer[words.offset + 40 * c], afterOne, "row 40 is only caught up when needed")
        optimizer.bringUpToDate(model, rows: [40])
        let caughtUp = model.parameters.buffer[words.offset + 40 * c]
        // Dense Adam's pull after one gradient sums to about 1/(1 - β1) = 10 first steps' worth.
        XCTAssertGreaterThan(abs(caughtUp - before), 5 * abs(afterOne - before))
        XCTAssertEqual(optimizer.horizon, 263)
    }

    /// Catching rows up at arbitrary moments (forward passes, evaluations, checkpoints, another
    /// worker's export) changes no bit of the weights at the end.
    func testCatchingUpInPiecesGivesTheSameBits() throws {
        for decay: Float in [0, 0.01] {
            let once = try train(lazy: true, weightDecay: decay).model
            let pieces = try train(lazy: true, weightDecay: decay) { optimizer, model, step, rng in
                if step % 13 == 0 { optimizer.bringAllUpToDate(model) }
                optimizer.bringUpToDate(model, rows: (0..<5).map { _ in Int32(Int(rng.nextUniform() * 120)) })
            }.model
            XCTAssertEqual(once.parameters.checksum(), pieces.parameters.checksum(), "decay \(decay)")
        }
    }

    /// A restart from exported state (a checkpoint, a joining worker) continues bit for bit.
    func testRestartFromExportedStateContinuesExactly() throws {
        let reference = try train(lazy: true, weightDecay: 0.01, steps: 120).model
        var saved: (parameters: [Float], m: [Float], v: [Float], touched: [Int32])?
        let first = try train(lazy: true, weightDecay: 0.01, steps: 120) { optimizer, model, step, _ in
            if step == 60 {
                optimizer.bringAllUpToDate(model)
                saved = (Array(model.parameters.buffer), Array(optimizer.m.buffer), Array(optimizer.v.buffer),
                         optimizer.touchedAt)
            }
        }.model
        XCTAssertEqual(first.parameters.checksum(), reference.parameters.checksum())
        let state = try XCTUnwrap(saved)
        XCTAssertTrue(state.touched.contains { $0 > 0 && $0 < 40 }, "some rows were last used before the export")
        // A second model and optimizer that start from the exported state at step 60.
        let resumed = try train(lazy: true, weightDecay: 0.01, steps: 120) { optimizer, model, step, _ in
            if step == 60 {
                _ = state.parameters.withUnsafeBufferPointer { model.parameters.buffer.update(fromContentsOf: $0) }
                _ = state.m.withUnsafeBufferPointer { optimizer.m.buffer.update(fromContentsOf: $0) }
                _ = state.v.withUnsafeBufferPointer { optimizer.v.buffer.update(fromContentsOf: $0) }
                optimizer.restart(at: 60, touchedAt: state.touched)
            }
        }.model
        XCTAssertEqual(resumed.parameters.checksum(), reference.parameters.checksum())
    }
}
