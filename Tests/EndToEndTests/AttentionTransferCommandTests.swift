import Foundation
import XCTest

/// `--attention-weight`: a run with attention transfer trains (the teacher runs every step, its
/// logits not cached), the same on two workers as in one process, and differs from a run without
/// it; it refuses a student with pruned heads, naming both keys.
final class AttentionTransferCommandTests: CLITestCase {
    func testAttentionTransferRunsTheSameOnWorkers() throws {
        let (one, two, off) = (scratch.appendingPathComponent("one").path, scratch.appendingPathComponent("two").path,
                               scratch.appendingPathComponent("off").path)
        let result = try run(["run"] + (try tinyRunOptions(out: one, seed: 4, epochs: 1)) + ["--attention-weight", "2"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let distributed = try run(["run"] + (try tinyRunOptions(out: two, seed: 4, epochs: 1)) + ["--attention-weight", "2", "--workers", "2"])
        XCTAssertEqual(distributed.status, 0, distributed.stderr)
        XCTAssertLessThan(try studentWeightDifference(two, from: one), 1e-4, "two workers train as one")
        XCTAssertEqual(try run(["run"] + (try tinyRunOptions(out: off, seed: 4, epochs: 1))).status, 0)
        XCTAssertGreaterThan(try studentWeightDifference(off, from: one), 1e-4, "the term changes training")
        let options = try tinyRunOptions(out: scratch.appendingPathComponent("bad").path, seed: 4, epochs: 1)
        let yaml = try XCTUnwrap(options.firstIndex(of: "--config")).advanced(by: 1)
        try (String(contentsOfFile: options[yaml], encoding: .utf8).replacingOccurrences(of: "distill:\n", with: "distill:\n  student_heads: 2\n"))
            .write(toFile: options[yaml], atomically: true, encoding: .utf8)
        try assertFails(["run"] + options + ["--attention-weight", "1"], mentions: ["distill.attention_weight", "distill.student_heads"])
    }
}
