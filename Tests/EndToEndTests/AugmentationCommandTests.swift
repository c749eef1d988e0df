import Foundation
import XCTest

/// `run --augment N`: the training set grows by teacher-labelled variants (reported, every one
/// seen once per epoch), the same on two workers as in one process; a sweep refuses to vary it
/// (the trials share one training set), and rates out of range are errors naming the key.
final class AugmentationCommandTests: CLITestCase {
    func testAugmentedRunsTrainOnVariantsTheSameOnWorkers() throws {
        let one = scratch.appendingPathComponent("one").path, two = scratch.appendingPathComponent("two").path
        let result = try run(["run"] + (try tinyRunOptions(out: one, seed: 5, epochs: 1)) + ["--augment", "2"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("teacher-labelled variants"), result.stderr)
        XCTAssertTrue(result.stderr.contains("was processed exactly once"), result.stderr)
        let distributed = try run(["run"] + (try tinyRunOptions(out: two, seed: 5, epochs: 1)) + ["--augment", "2", "--workers", "2"])
        XCTAssertEqual(distributed.status, 0, distributed.stderr)
        XCTAssertLessThan(try studentWeightDifference(two, from: one), 1e-4, "two workers train the augmented student as one")
        let config = try tinyRunOptions(out: scratch.appendingPathComponent("bad").path, seed: 5, epochs: 1)
        try assertFails(["run"] + config + ["--augment=-1"], mentions: ["distill.augment"])
        let yaml = try XCTUnwrap(config.firstIndex(of: "--config")).advanced(by: 1)
        var sweep = config
        sweep[yaml + 2] = one + "/teacher"   // --teacher: a fine-tuned one
        try assertFails(["sweep"] + sweep + ["--grid", "distill.augment=1,2"], mentions: ["'distill.augment' would change the data"])
        // Rates from the configuration file (the tiny options' own file, with the rates added).
        try (String(contentsOfFile: config[yaml], encoding: .utf8).replacingOccurrences(of: "distill:\n", with: "distill:\n  augment: 2\n  augment_mask: 1.5\n"))
            .write(toFile: config[yaml], atomically: true, encoding: .utf8)
        try assertFails(["run"] + config, mentions: ["distill.augment_mask"])
    }
}
