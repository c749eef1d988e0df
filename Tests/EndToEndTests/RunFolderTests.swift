import Foundation
import XCTest

/// A run folder is never lost: a folder holding a run is refused unless --resume or --overwrite,
/// --resume refuses a changed recipe naming the key and both values, and an --out that is a file
/// is a clear error. Nothing in the folder changes when a run is refused.
final class RunFolderTests: CLITestCase {
    func bytes(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

    func testAFolderHoldingARunIsNeverOverwrittenByAccident() throws {
        let out = scratch.appendingPathComponent("kept").path
        let options = try tinyRunOptions(out: out, seed: 4, epochs: 1)
        let first = try run(["run"] + options)
        XCTAssertEqual(first.status, 0, first.stderr)
        let files = ["student/model.safetensors", "run_config.json", "metrics.jsonl", "report.json"]
        let before = files.map { bytes(out + "/" + $0) }
        XCTAssertFalse(before.contains { $0 == nil }, "the first run wrote its files")

        // The same command again: refused, and the folder is as it was.
        let again = try run(["run"] + options)
        XCTAssertNotEqual(again.status, 0)
        for text in [out, "--resume", "--overwrite"] { XCTAssertTrue(again.stderr.contains(text), again.stderr) }
        XCTAssertEqual(files.map { bytes(out + "/" + $0) }, before, "a refused run changed the folder")

        // --resume with another recipe: refused by name, with both values.
        let changed = try run(["run"] + options + ["--resume", "--layers", "1"])
        XCTAssertNotEqual(changed.status, 0)
        XCTAssertTrue(changed.stderr.contains("distill.layers = unset, this one has [1]"), changed.stderr)
        let seed = try run(["run"] + options.map { $0 == "4" ? "5" : $0 } + ["--resume"])
        XCTAssertNotEqual(seed.status, 0)
        XCTAssertTrue(seed.stderr.contains("seed = 4") && seed.stderr.contains("has 5"), seed.stderr)
        XCTAssertEqual(files.map { bytes(out + "/" + $0) }, before, "a refused resume changed the folder")

        // What may change on resume does not stop it; --overwrite replaces the run.
        let resumed = try run(["run"] + options + ["--resume", "--threads", "2"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let replaced = try run(["run"] + options + ["--overwrite"])
        XCTAssertEqual(replaced.status, 0, replaced.stderr)
        XCTAssertFalse(replaced.stderr.contains("already fine-tuned"), "--overwrite starts afresh: \(replaced.stderr)")
    }

    func testAnOutThatIsAFileIsAClearError() throws {
        let file = scratch.appendingPathComponent("not-a-folder").path
        try "x".write(toFile: file, atomically: true, encoding: .utf8)
        try assertFails(["run"] + (try tinyRunOptions(out: file, seed: 4, epochs: 1)), mentions: [file, "is a file"])
        XCTAssertEqual(try String(contentsOfFile: file, encoding: .utf8), "x")
    }
}
