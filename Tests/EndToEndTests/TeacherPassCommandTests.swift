import Foundation
import XCTest
import Collective

/// The teacher pass through the real binary: in one process it leaves teacher_logits.bin only when
/// asked to; on a coordinator's workers, with one of them SIGKILLed while it holds a shard, it
/// writes the same bytes; interrupted, `--resume` keeps the shards already written.
final class TeacherPassCommandTests: CLITestCase {
    func logits(_ out: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: out + "/teacher_logits.bin")) }

    /// `tinyRunOptions` with the teacher replaced by `teacher` (already fine-tuned, so every run
    /// distils from the same weights).
    func options(out: String, teacher: String, seed: Int) throws -> [String] {
        var options = try tinyRunOptions(out: out, seed: seed, epochs: 1)
        if let i = options.firstIndex(of: "--teacher") { options[i + 1] = teacher }
        return options
    }

    func testThePassOnWorkersWritesTheSameLogitsDespiteAKilledWorker() throws {
        // Without --keep-teacher-logits the file is gone once the student is trained.
        let first = scratch.appendingPathComponent("first").path
        let removed = try run(["run"] + (try tinyRunOptions(out: first, seed: 5, epochs: 1)))
        XCTAssertEqual(removed.status, 0, removed.stderr)
        XCTAssertTrue(removed.stderr.contains("teacher pass: logits of"), removed.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: first + "/teacher_logits.bin"))

        let teacher = first + "/teacher"
        let reference = scratch.appendingPathComponent("reference").path
        let local = try run(["run"] + (try options(out: reference, teacher: teacher, seed: 5)) + ["--keep-teacher-logits"])
        XCTAssertEqual(local.status, 0, local.stderr)
        let expected = try logits(reference)

        let out = scratch.appendingPathComponent("workers").path
        let port = try LoopbackPort.free()
        let coordinatorLog = scratch.appendingPathComponent("coordinator.log").path
        let coordinator = try start(["coordinator", "--bind", "tcp://127.0.0.1:\(port)", "--workers", "2", "--keep-teacher-logits",
                                     "--heartbeat-timeout", "2", "--ring-timeout", "3"] + (try options(out: out, teacher: teacher, seed: 5)),
                                    log: coordinatorLog)
        for w in 0..<2 {
            // Worker 1 dies as it receives its first shard, which the other then computes.
            let fault = w == 1 ? ["EDGEDISTILL_WORKER_FAULT": "pass:0:kill"] : [:]
            _ = try start(["worker", "--connect", "tcp://127.0.0.1:\(port)"], environment: fault,
                          log: scratch.appendingPathComponent("worker\(w).log").path)
        }
        XCTAssertTrue(wait(coordinator, seconds: 120), "coordinator still running: \(text(coordinatorLog)) workers: "
                      + (0..<2).map { text(scratch.appendingPathComponent("worker\($0).log").path) }.joined(separator: " | "))
        let log = text(coordinatorLog)
        XCTAssertEqual(coordinator.isRunning ? -1 : coordinator.terminationStatus, 0, log)
        XCTAssertTrue(log.contains("teacher pass of"), log)
        XCTAssertTrue(log.contains("computed again after a worker was lost"), log)
        XCTAssertEqual(try logits(out), expected, "the workers' teacher logits are the single process's, byte for byte")
    }

    func testAnInterruptedPassResumesFromItsShards() throws {
        let reference = scratch.appendingPathComponent("reference").path
        let whole = try run(["run"] + (try tinyRunOptions(out: reference, seed: 6, epochs: 1)) + ["--keep-teacher-logits"])
        XCTAssertEqual(whole.status, 0, whole.stderr)

        let out = scratch.appendingPathComponent("interrupted").path
        let options = try tinyRunOptions(out: out, seed: 6, epochs: 1) + ["--keep-teacher-logits"]
        let stopped = try run(["run"] + options, environment: ["EDGEDISTILL_CRASH_AFTER": "pass:2"])
        XCTAssertNotEqual(stopped.status, 0)
        XCTAssertTrue(stopped.stderr.contains("stopped after 2 teacher-pass shard(s)"), stopped.stderr)
        let resumed = try run(["run"] + options + ["--resume"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("2 of 5 shards kept"), resumed.stderr)
        XCTAssertEqual(try logits(out), try logits(reference))
    }
}
