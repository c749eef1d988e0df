import Foundation
import XCTest
import Model

/// `edgedistill sweep` from a fine-tuned tiny teacher: every trial shares the teacher logits
/// (computed once), successive halving stops the worse half after the first rung, and the
/// smallest good finished trial is chosen and copied out.
final class SweepTests: CLITestCase {
    func fineTunedTeacher() throws -> (options: [String], teacher: String) {
        let out = scratch.appendingPathComponent("teacher-run").path
        let options = try tinyRunOptions(out: out, seed: 12, epochs: 1)
        let result = try run(["finetune"] + options)
        XCTAssertEqual(result.status, 0, result.stderr)
        return (options, out + "/teacher")
    }

    func replacing(_ flag: String, with value: String, in arguments: [String]) -> [String] {
        var arguments = arguments
        if let index = arguments.firstIndex(of: flag) { arguments[index + 1] = value }
        return arguments
    }

    func testTrialsShareTheTeacherAndTheWorseHalfStopsEarly() throws {
        let (options, teacher) = try fineTunedTeacher()
        let out = scratch.appendingPathComponent("sweep").path
        let arguments = replacing("--out", with: out, in: replacing("--teacher", with: teacher, in: options))
        let result = try run(["sweep"] + arguments + ["--grid", "distill.temperature=1,4", "--grid", "distill.alpha=0.5,0.9",
                                                      "--rungs", "2", "--precisions", "fp32,int8-emb", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stderr.components(separatedBy: "teacher logits for").count - 1, 1, result.stderr)
        let rows = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
        // 2 stopped trials, and the 2 finished ones measured in both precisions.
        XCTAssertEqual(rows.count, 6)
        XCTAssertEqual(rows.filter { ($0["status"] as? String) == "stopped after rung 1" }.count, 2, "\(rows)")
        let finished = rows.filter { ($0["status"] as? String) == "finished" }
        XCTAssertEqual(finished.count, 4)
        XCTAssertEqual(Set(finished.compactMap { $0["precision"] as? String }), ["fp32", "int8-emb"])
        let size = { (precision: String) in finished.filter { $0["precision"] as? String == precision }.compactMap { $0["size_bytes"] as? Int } }
        XCTAssertLessThan(size("int8-emb").max() ?? .max, size("fp32").min() ?? 0, "int8 rows are smaller")
        XCTAssertTrue(finished.allSatisfy { ($0["size_bytes"] as? Int ?? 0) > 0 && ($0["latency_p50_ms"] as? Double ?? 0) > 0 })
        XCTAssertEqual(rows.filter { $0["chosen"] as? Bool == true }.count, 1)
        // The finished trials trained to the end; the stopped ones half way.
        let steps = Set(rows.compactMap { $0["steps"] as? Int })
        XCTAssertEqual(steps.count, 2, "\(rows)")
        for name in ["sweep.json", "sweep.md", "sweep.svg", "chosen/model.safetensors", "chosen/vocab.txt"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/" + name), name)
        }
        XCTAssertNoThrow(try ClassifierLoader.load(directory: out + "/chosen"))
        // A second sweep into the same folder needs --overwrite.
        try assertFails(["sweep"] + arguments + ["--grid", "distill.temperature=2"], mentions: ["--overwrite"])
    }

    func testBadSweepsAreClearErrors() throws {
        let (options, teacher) = try fineTunedTeacher()
        let out = scratch.appendingPathComponent("bad").path
        let arguments = replacing("--out", with: out, in: replacing("--teacher", with: teacher, in: options))
        try assertFails(["sweep"] + arguments + ["--grid", "distill.tempreature=1,2"], mentions: ["distill.temperature"])
        try assertFails(["sweep"] + arguments + ["--grid", "distill.alpha="], mentions: ["no values"])
        try assertFails(["sweep"] + arguments + ["--grid", "seed=1,2"], mentions: ["distill.*"])
        try assertFails(["sweep"] + arguments, mentions: ["at least one trial"])
        try assertFails(["sweep"] + arguments + ["--grid", "distill.alpha=2"], mentions: ["distill.alpha"])
        try assertFails(["sweep"] + arguments + ["--grid", "distill.alpha=0.5", "--precisions", "int4"], mentions: ["--precisions"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/sweep.json"), "a refused sweep wrote results")
    }
}
