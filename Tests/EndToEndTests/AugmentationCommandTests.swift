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

    /// `--unlabeled FILE`: texts without labels (a TSV with only a sentence column, or JSONL whose
    /// label key is absent) join distillation as teacher-labelled inputs; a file without the text
    /// column is an error naming the file.
    func testUnlabeledTextJoinsDistillation() throws {
        let out = scratch.appendingPathComponent("unlabeled").path
        let tsv = scratch.appendingPathComponent("extra.tsv").path, jsonl = scratch.appendingPathComponent("extra.jsonl").path
        try "sentence\na good movie\nnot bad at all\nthe film is great\n".write(toFile: tsv, atomically: true, encoding: .utf8)
        try "{\"text\": \"it is a bad film\"}\n{\"text\": \"good\", \"label\": \"ignored\"}\n".write(toFile: jsonl, atomically: true, encoding: .utf8)
        let options = try tinyRunOptions(out: out, seed: 6, epochs: 1)
        let result = try run(["run"] + options + ["--unlabeled", tsv, "--unlabeled", jsonl])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("3 unlabeled texts from \(tsv)"), result.stderr)
        XCTAssertTrue(result.stderr.contains("2 unlabeled texts from \(jsonl)"), result.stderr)
        let bad = scratch.appendingPathComponent("bad.tsv").path
        try "words\nsomething\n".write(toFile: bad, atomically: true, encoding: .utf8)
        try assertFails(["run"] + (try tinyRunOptions(out: scratch.appendingPathComponent("u2").path, seed: 6, epochs: 1)) + ["--unlabeled", bad],
                        mentions: [bad, "sentence"])
    }
}
