import Foundation
import XCTest
import Collective
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

    /// The trials on workers, each on one, give the sweep the in-process run gives: the same
    /// trials stopped, the same steps and held-out accuracies, the same chosen model. One worker
    /// is SIGKILLed as its second trial run arrives, holding the trial of its first: both trials
    /// run again from their start on the other worker, and nothing changes.
    func testTrialsOnWorkersMatchTheLocalSweepEvenWhenAWorkerIsLost() throws {
        let (options, teacher) = try fineTunedTeacher()
        let grid = ["--grid", "distill.temperature=1,4", "--grid", "distill.alpha=0.5,0.9", "--rungs", "2", "--json"]
        func rows(_ stdout: String) throws -> [String] {
            let rows = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [[String: Any]])
            return rows.map { row in ["name", "status", "steps", "held_out_accuracy", "chosen"].map { "\(row[$0] ?? "-")" }.joined(separator: " ") }
        }
        func arguments(_ name: String) -> [String] {
            replacing("--out", with: scratch.appendingPathComponent(name).path, in: replacing("--teacher", with: teacher, in: options))
        }
        let local = try run(["sweep"] + arguments("local") + grid)
        XCTAssertEqual(local.status, 0, local.stderr)
        let expected = try rows(local.stdout)
        XCTAssertEqual(expected.count, 4)

        let spawned = try run(["sweep"] + arguments("spawned") + grid + ["--workers", "2"])
        XCTAssertEqual(spawned.status, 0, spawned.stderr)
        XCTAssertEqual(try rows(spawned.stdout), expected, "local worker processes")
        XCTAssertTrue(spawned.stderr.contains("sweep set up"), spawned.stderr)

        let port = try LoopbackPort.free()
        let log = scratch.appendingPathComponent("coordinator.log").path
        let coordinator = try start(["sweep"] + arguments("lost") + grid + ["--workers", "2", "--bind", "tcp://127.0.0.1:\(port)",
                                     "--heartbeat-timeout", "2"], log: log)
        _ = try start(["worker", "--connect", "tcp://127.0.0.1:\(port)"], environment: ["EDGEDISTILL_WORKER_FAULT": "trial:1:kill"],
                      log: scratch.appendingPathComponent("doomed.log").path)
        _ = try start(["worker", "--connect", "tcp://127.0.0.1:\(port)"], log: scratch.appendingPathComponent("survivor.log").path)
        XCTAssertTrue(wait(coordinator, seconds: 180), text(log))
        XCTAssertEqual(coordinator.isRunning ? -1 : coordinator.terminationStatus, 0, text(log))
        XCTAssertTrue(text(scratch.appendingPathComponent("doomed.log").path).contains("killing myself on trial run 1"))
        XCTAssertTrue(text(log).contains("will run again from its start"), text(log))
        let json = try XCTUnwrap(text(log).split(separator: "\n").last { $0.hasPrefix("[") })
        XCTAssertEqual(try rows(String(json)), expected, "a worker lost mid-sweep")
        // The chosen model itself is the same, bit for bit.
        let chosen = { (name: String) in FileManager.default.contents(atPath: self.scratch.appendingPathComponent(name + "/chosen/model.safetensors").path) }
        XCTAssertNotNil(chosen("local"))
        XCTAssertEqual(chosen("lost"), chosen("local"))
        XCTAssertEqual(chosen("spawned"), chosen("local"))
    }

    /// The student's width is a recipe key like any other: a trial with `distill.student_heads` and
    /// `distill.student_ffn` distils a narrower student (its least important heads and neurons
    /// removed first), the same on workers as in this process, and is measured at its own size.
    func testNarrowerStudentsAreTrialsLikeAnyOther() throws {
        let (options, teacher) = try fineTunedTeacher()
        let trials = ["--trial", "distill.student_heads=2;distill.student_ffn=16", "--trial", "distill.temperature=2", "--rungs", "1", "--json"]
        var sizes: [[String: Int]] = []
        var accuracies: [[Double]] = []
        for (name, extra) in [("narrow-local", [String]()), ("narrow-workers", ["--workers", "2"])] {
            let out = scratch.appendingPathComponent(name).path
            let result = try run(["sweep"] + replacing("--out", with: out, in: replacing("--teacher", with: teacher, in: options)) + trials + extra)
            XCTAssertEqual(result.status, 0, result.stderr)
            let rows = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
            sizes.append(Dictionary(uniqueKeysWithValues: rows.map { ($0["name"] as? String ?? "", $0["size_bytes"] as? Int ?? 0) }))
            accuracies.append(rows.compactMap { $0["held_out_accuracy"] as? Double })
            let narrow = try ModelConfig.load(directory: out + "/trials/student_heads_2_student_ffn_16/student")
            XCTAssertEqual(narrow.intermediateSize, 16)
            XCTAssertEqual((0..<narrow.layerCount).map { narrow.heads(inLayer: $0) }, [Int](repeating: 2, count: narrow.layerCount))
        }
        XCTAssertEqual(sizes[0], sizes[1])
        XCTAssertEqual(accuracies[0], accuracies[1])
        XCTAssertLessThan(sizes[0]["student_heads=2,student_ffn=16"] ?? .max, sizes[0]["temperature=2"] ?? 0)
        try assertFails(["sweep"] + replacing("--out", with: scratch.appendingPathComponent("bad-width").path,
                                              in: replacing("--teacher", with: teacher, in: options)) + ["--grid", "distill.student_heads=0"],
                        mentions: ["distill.student_heads"])
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
