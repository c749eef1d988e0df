import Foundation
import XCTest

/// `--attention-weight`: a run with attention transfer trains (the teacher runs every step, its
/// logits not cached), the same on two workers as in one process, and differs from a run without
/// it; it refuses a student with pruned heads, naming both keys.
final class AttentionTransferCommandTests: CLITestCase {
    /// Relative weight difference of a 2-worker run from a 1-worker one: float summation order only
    /// (measured 4e-8 here; a loss normalized by a worker's own share instead of the batch's gave 2e-5).
    static let workerTolerance = 1e-6

    func testAttentionTransferRunsTheSameOnWorkers() throws {
        let (one, two, off) = (scratch.appendingPathComponent("one").path, scratch.appendingPathComponent("two").path,
                               scratch.appendingPathComponent("off").path)
        let result = try run(["run"] + (try tinyRunOptions(out: one, seed: 4, epochs: 1)) + ["--attention-weight", "2"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let distributed = try run(["run"] + (try tinyRunOptions(out: two, seed: 4, epochs: 1)) + ["--attention-weight", "2", "--workers", "2"])
        XCTAssertEqual(distributed.status, 0, distributed.stderr)
        let difference = try studentWeightDifference(two, from: one)
        print("attention transfer, 2 workers against 1: \(difference)")
        XCTAssertLessThan(difference, Self.workerTolerance, "two workers train as one")
        XCTAssertEqual(try run(["run"] + (try tinyRunOptions(out: off, seed: 4, epochs: 1))).status, 0)
        XCTAssertGreaterThan(try studentWeightDifference(off, from: one), 1e-4, "the term changes training")
        let options = try tinyRunOptions(out: scratch.appendingPathComponent("bad").path, seed: 4, epochs: 1)
        let yaml = try XCTUnwrap(options.firstIndex(of: "--config")).advanced(by: 1)
        try (String(contentsOfFile: options[yaml], encoding: .utf8).replacingOccurrences(of: "distill:\n", with: "distill:\n  student_heads: 2\n"))
            .write(toFile: options[yaml], atomically: true, encoding: .utf8)
        try assertFails(["run"] + options + ["--attention-weight", "1"], mentions: ["distill.attention_weight", "distill.student_heads"])
    }

    /// Hidden-state distillation too: its mean is over the whole batch's tokens, so two workers
    /// (each with its own share of sentences of other lengths) train the student one process does.
    func testHiddenStateDistillationRunsTheSameOnWorkers() throws {
        var outs: [String] = []
        for workers in [1, 2] {
            let out = scratch.appendingPathComponent("hidden-\(workers)").path
            let options = try tinyRunOptions(out: out, seed: 8, epochs: 1)
            let yaml = try XCTUnwrap(options.firstIndex(of: "--config")).advanced(by: 1)
            try (String(contentsOfFile: options[yaml], encoding: .utf8).replacingOccurrences(of: "distill:\n", with: "distill:\n  hidden_weight: 5\n"))
                .write(toFile: options[yaml], atomically: true, encoding: .utf8)
            let result = try run(["run"] + options + (workers > 1 ? ["--workers", "2"] : []))
            XCTAssertEqual(result.status, 0, result.stderr)
            outs.append(out)
        }
        let difference = try studentWeightDifference(outs[1], from: outs[0])
        print("hidden-state distillation, 2 workers against 1: \(difference)")
        XCTAssertLessThan(difference, Self.workerTolerance)
    }
}
