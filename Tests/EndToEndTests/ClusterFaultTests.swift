import Foundation
import XCTest
import Collective
import Model

/// A coordinator and workers as separate real processes on loopback: a worker killed with
/// SIGKILL mid-epoch, a worker joining late, a coordinator restarted with --resume, corrupted
/// replicas, and CURVE keys.
final class ClusterFaultTests: CLITestCase {

    func freePort() throws -> Int { try LoopbackPort.free() }


    /// A tiny run: 2 distillation epochs of 20 steps, a checkpoint every 5 steps.
    func runOptions(out: String) throws -> [String] {
        try tinyRunOptions(out: out, seed: 2, checkpointEvery: 5)
    }

    static let fastFailure = ["--heartbeat-timeout", "2", "--ring-timeout", "3"]

    func testKilledWorkerIsReplacedByTheRestWithEveryExampleOncePerEpoch() throws {
        let reference = scratch.appendingPathComponent("reference").path
        let fine = try run(["run"] + (try runOptions(out: reference)))
        XCTAssertEqual(fine.status, 0, fine.stderr)

        let out = scratch.appendingPathComponent("faulty").path
        let port = try freePort()
        let coordinatorLog = scratch.appendingPathComponent("coordinator.log").path
        let coordinator = try start(["coordinator", "--bind", "tcp://127.0.0.1:\(port)", "--workers", "3", "--trace-steps"]
                                    + (try runOptions(out: out)) + Self.fastFailure, log: coordinatorLog)
        for w in 0..<3 {
            // Worker 1 dies mid-step; worker 2 on the third validation it is asked to count (the
            // student's at step 20), so another worker counts its part.
            let fault = w == 1 ? ["EDGEDISTILL_WORKER_FAULT": "student:27:kill"]
                : w == 2 ? ["EDGEDISTILL_WORKER_FAULT": "eval:3:kill"] : [:]
            _ = try start(["worker", "--connect", "tcp://127.0.0.1:\(port)"], environment: fault,
                          log: scratch.appendingPathComponent("worker\(w).log").path)
        }
        XCTAssertTrue(wait(coordinator, seconds: 120), "coordinator still running: \(text(coordinatorLog))")
        let log = text(coordinatorLog)
        XCTAssertEqual(coordinator.isRunning ? -1 : coordinator.terminationStatus, 0, log)
        XCTAssertTrue(log.contains("lost: no heartbeat"), log)
        XCTAssertTrue(log.contains("step 27 aborted"), log)
        XCTAssertTrue(log.contains("validation part") && log.contains("was on a lost worker; another will count it"), log)
        XCTAssertTrue(log.contains("of 2 worker(s)"), log)
        // Fine-tuning's epoch and both distillation epochs: every example exactly once.
        XCTAssertEqual(log.components(separatedBy: "was processed exactly once").count - 1, 3, log)
        XCTAssertFalse(log.contains("never processed"), log)
        // The redone step is logged once: one `step` record per step of each phase, in order.
        let records = try String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
            .compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        for phase in ["teacher", "student"] {
            let steps = records.filter { $0["kind"] as? String == "step" && $0["phase"] as? String == phase }.compactMap { $0["step"] as? Int }
            XCTAssertEqual(steps, Array(1...max(steps.count, 1)), "\(phase) step records: each step once, in order")
            if phase == "student" { XCTAssertEqual(steps.count, 40) }
        }
        XCTAssertEqual(records.filter { $0["kind"] as? String == "coverage" }.count, 3, "coverage of every epoch is recorded")
        // Every validation counted every held-out example once, the one a worker died on included.
        let evaluations = records.filter { $0["kind"] as? String == "eval" }
        XCTAssertGreaterThan(evaluations.count, 4)
        XCTAssertEqual(Set(evaluations.compactMap { $0["examples"] as? Int }).count, 1, "\(evaluations)")
        // The redone step is the update one worker would have made: the same model as the fault-free run.
        let difference = try studentWeightDifference(out, from: reference)
        print("killed worker: student weights \(difference) from the fault-free run's")
        XCTAssertLessThan(difference, Self.workerCountTolerance)
        XCTAssertEqual(studentAccuracy(out), studentAccuracy(reference), accuracy: 0.01)
    }

    func testWorkersKilledMidReduceScatterAndMidAllGatherWithBF16Gradients() throws {
        // The reference: the same bf16 run on 3 workers with no fault.
        func coordinated(_ name: String, faults: [Int: String]) throws -> (out: String, log: String) {
            let out = scratch.appendingPathComponent(name).path
            let port = try freePort()
            let logPath = scratch.appendingPathComponent("\(name)-coordinator.log").path
            let coordinator = try start(["coordinator", "--bind", "tcp://127.0.0.1:\(port)", "--workers", "3", "--trace-steps",
                                         "--gradient-precision", "bf16"] + (try runOptions(out: out)) + Self.fastFailure,
                                        log: logPath)
            for w in 0..<3 {
                _ = try start(["worker", "--connect", "tcp://127.0.0.1:\(port)"],
                              environment: faults[w].map { ["EDGEDISTILL_WORKER_FAULT": $0] } ?? [:],
                              log: scratch.appendingPathComponent("\(name)-worker\(w).log").path)
            }
            XCTAssertTrue(wait(coordinator, seconds: 150), "coordinator still running: \(text(logPath))")
            XCTAssertEqual(coordinator.isRunning ? -1 : coordinator.terminationStatus, 0, text(logPath))
            return (out, text(logPath))
        }
        let reference = try coordinated("bf16-reference", faults: [:])
        // Worker 1 dies after its first piece of student step 12's reduce-scatter has left; worker 2
        // once step 27's reduce-scatter is done, before its all-gather.
        let faulty = try coordinated("bf16-faulty", faults: [1: "student:12:kill-reduce-scatter", 2: "student:27:kill-all-gather"])
        let log = faulty.log
        XCTAssertTrue(log.contains("step 12 aborted") && log.contains("step 27 aborted"), log)
        XCTAssertTrue(log.contains("of 2 worker(s)") && log.contains("of 1 worker(s)"), log)
        XCTAssertEqual(log.components(separatedBy: "was processed exactly once").count - 1, 3, log)
        XCTAssertFalse(log.contains("never processed"), log)
        let records = try String(contentsOfFile: faulty.out + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
            .compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let steps = records.filter { $0["kind"] as? String == "step" && $0["phase"] as? String == "student" }.compactMap { $0["step"] as? Int }
        XCTAssertEqual(steps, Array(1...40), "each student step once, in order")
        // bf16 sums depend on how many workers add them, so the redone steps on 2 and then 1 worker
        // round differently from 3: the named tolerance of bf16 gradients over 40 steps.
        let a = try finalParameters(faulty.out, "student"), b = try finalParameters(reference.out, "student")
        XCTAssertEqual(a.count, b.count)
        var diff = 0.0, norm = 0.0
        for (x, y) in zip(a, b) { diff += Double(x - y) * Double(x - y); norm += Double(y) * Double(y) }
        let relative = (diff / max(norm, 1e-30)).squareRoot()
        print("bf16, workers killed mid reduce-scatter and mid all-gather: final student weights \(relative) from the fault-free run's")
        XCTAssertLessThan(relative, Self.bf16FaultTolerance)
    }

    /// ||faulty - reference|| / ||reference|| of the final student weights, bf16 gradients, 40 steps.
    static let bf16FaultTolerance = 5e-4

    func testLateWorkerJoinsAndCorruptedReplicaIsCaught() throws {
        // A late joiner: the coordinator starts with one worker; a second joins mid-run.
        let out = scratch.appendingPathComponent("late").path
        let port = try freePort()
        let coordinatorLog = scratch.appendingPathComponent("late.log").path
        let coordinator = try start(["coordinator", "--bind", "tcp://127.0.0.1:\(port)", "--workers", "1"]
                                    + (try runOptions(out: out)) + Self.fastFailure, log: coordinatorLog)
        // The first worker's distillation step 3 takes 3 s longer, so the second surely arrives mid-phase.
        _ = try start(["worker", "--connect", "tcp://127.0.0.1:\(port)"], environment: ["EDGEDISTILL_WORKER_FAULT": "student:3:pause"],
                      log: scratch.appendingPathComponent("first.log").path)
        let deadline = Date().addingTimeInterval(60)
        while !text(coordinatorLog).contains("student phase"), Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        _ = try start(["worker", "--connect", "tcp://127.0.0.1:\(port)"], log: scratch.appendingPathComponent("second.log").path)
        XCTAssertTrue(wait(coordinator, seconds: 120), text(coordinatorLog))
        let log = text(coordinatorLog)
        XCTAssertEqual(coordinator.isRunning ? -1 : coordinator.terminationStatus, 0, log)
        XCTAssertTrue(log.contains("of 2 worker(s)"), "the late worker never joined the ring: \(log)")
        XCTAssertFalse(log.contains("never processed"), log)

        // A replica whose weights drift is caught by the checksum, and the run stops saying so.
        let bad = scratch.appendingPathComponent("corrupt").path
        let port2 = try freePort()
        let badLog = scratch.appendingPathComponent("corrupt.log").path
        let failing = try start(["coordinator", "--bind", "tcp://127.0.0.1:\(port2)", "--workers", "2", "--checksum-every", "4"]
                                + (try runOptions(out: bad)) + Self.fastFailure, log: badLog)
        _ = try start(["worker", "--connect", "tcp://127.0.0.1:\(port2)"], log: scratch.appendingPathComponent("c0.log").path)
        _ = try start(["worker", "--connect", "tcp://127.0.0.1:\(port2)"], environment: ["EDGEDISTILL_WORKER_FAULT": "teacher:5:corrupt"],
                      log: scratch.appendingPathComponent("c1.log").path)
        XCTAssertTrue(wait(failing, seconds: 120), text(badLog))
        XCTAssertNotEqual(failing.isRunning ? 0 : failing.terminationStatus, 0)
        XCTAssertTrue(text(badLog).contains("weights differ after step 8"), text(badLog))
    }

    func testRestartedCoordinatorResumesAndWorkersReconnect() throws {
        let out = scratch.appendingPathComponent("resumed").path
        let port = try freePort()
        let options = try runOptions(out: out)
        // The same run uninterrupted, in one process.
        let reference = scratch.appendingPathComponent("uninterrupted").path
        let fine = try run(["run"] + options.map { $0 == out ? reference : $0 })
        XCTAssertEqual(fine.status, 0, fine.stderr)
        let firstLog = scratch.appendingPathComponent("first.log").path
        let first = try start(["coordinator", "--bind", "tcp://127.0.0.1:\(port)", "--workers", "2"] + options + Self.fastFailure,
                              environment: ["EDGEDISTILL_CRASH_AFTER": "student:12:kill"], log: firstLog)
        for w in 0..<2 {
            _ = try start(["worker", "--connect", "tcp://127.0.0.1:\(port)"], log: scratch.appendingPathComponent("w\(w).log").path)
        }
        XCTAssertTrue(wait(first, seconds: 120), text(firstLog))
        XCTAssertNotEqual(first.isRunning ? 0 : first.terminationStatus, 0, "the injected crash did not happen: \(text(firstLog))")
        let secondLog = scratch.appendingPathComponent("second.log").path
        let second = try start(["coordinator", "--bind", "tcp://127.0.0.1:\(port)", "--workers", "2", "--resume"] + options + Self.fastFailure,
                               log: secondLog)
        XCTAssertTrue(wait(second, seconds: 120), text(secondLog))
        let log = text(secondLog)
        XCTAssertEqual(second.isRunning ? -1 : second.terminationStatus, 0, log)
        XCTAssertTrue(log.contains("resumed from"), log)
        XCTAssertTrue(log.contains("teacher: already fine-tuned"), log)
        XCTAssertTrue(log.contains("resumed from") && log.contains("at step 10"), log)
        for w in 0..<2 {
            let workerLog = text(scratch.appendingPathComponent("w\(w).log").path)
            XCTAssertTrue(workerLog.contains("the coordinator restarted"), workerLog)
        }
        let difference = try studentWeightDifference(out, from: reference)
        print("restarted coordinator: student weights \(difference) from the uninterrupted run's")
        XCTAssertLessThan(difference, Self.workerCountTolerance)
        XCTAssertEqual(studentAccuracy(out), studentAccuracy(reference), accuracy: 0.01)
    }

    /// `--shard-optimizer`: a late worker makes everyone start again from the gathered state (the
    /// shares change with the ring); a lost worker takes its share of the moments with it, so the run
    /// stops saying how to go on, and `--resume` with new workers ends with the uninterrupted run's model.
    func testShardedOptimizerStopsOnALostWorkerAndResumesFromItsCheckpoint() throws {
        let out = scratch.appendingPathComponent("sharded").path
        let options = try runOptions(out: out) + ["--shard-optimizer"]
        let reference = scratch.appendingPathComponent("sharded-reference").path
        let fine = try run(["run"] + options.map { $0 == out ? reference : $0 })
        XCTAssertEqual(fine.status, 0, fine.stderr)

        let port = try freePort()
        let firstLog = scratch.appendingPathComponent("sharded-first.log").path
        let first = try start(["coordinator", "--bind", "tcp://127.0.0.1:\(port)", "--workers", "1"] + options + Self.fastFailure,
                              log: firstLog)
        // The first worker's student step 3 takes 3 s longer, so the second arrives mid-phase; it dies at step 14.
        _ = try start(["worker", "--connect", "tcp://127.0.0.1:\(port)"], environment: ["EDGEDISTILL_WORKER_FAULT": "student:3:pause"],
                      log: scratch.appendingPathComponent("sharded-w0.log").path)
        let deadline = Date().addingTimeInterval(60)
        while !text(firstLog).contains("student phase"), Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        _ = try start(["worker", "--connect", "tcp://127.0.0.1:\(port)"], environment: ["EDGEDISTILL_WORKER_FAULT": "student:14:kill"],
                      log: scratch.appendingPathComponent("sharded-w1.log").path)
        XCTAssertTrue(wait(first, seconds: 120), text(firstLog))
        let log = text(firstLog)
        XCTAssertTrue(log.contains("of 2 worker(s)"), "the late worker never joined the ring: \(log)")
        XCTAssertNotEqual(first.isRunning ? 0 : first.terminationStatus, 0, log)
        XCTAssertTrue(log.contains("with --shard-optimizer it held 1/2 of Adam's moments") && log.contains("--resume"), log)

        let secondLog = scratch.appendingPathComponent("sharded-second.log").path
        let second = try start(["coordinator", "--bind", "tcp://127.0.0.1:\(port)", "--workers", "2", "--resume"] + options + Self.fastFailure,
                               log: secondLog)
        for w in 2..<4 {
            _ = try start(["worker", "--connect", "tcp://127.0.0.1:\(port)"], log: scratch.appendingPathComponent("sharded-w\(w).log").path)
        }
        XCTAssertTrue(wait(second, seconds: 120), text(secondLog))
        let resumed = text(secondLog)
        XCTAssertEqual(second.isRunning ? -1 : second.terminationStatus, 0, resumed)
        XCTAssertTrue(resumed.contains("resumed from") && resumed.contains("at step 10"), resumed)
        let difference = try studentWeightDifference(out, from: reference)
        print("sharded optimizer, lost worker, resumed: student weights \(difference) from the uninterrupted run's")
        XCTAssertLessThan(difference, Self.workerCountTolerance)
    }

    func testCurveAdmitsOnlyListedWorkers() throws {
        let keys = scratch.appendingPathComponent("keys").path
        try FileManager.default.createDirectory(atPath: keys + "/workers", withIntermediateDirectories: true)
        for prefix in ["coordinator", "good1", "good2", "intruder"] {
            let made = try run(["keygen", "--out", keys + "/" + prefix])
            XCTAssertEqual(made.status, 0, made.stderr)
        }
        // The coordinator holds only the listed workers' public halves.
        for name in ["good1", "good2"] {
            try FileManager.default.copyItem(atPath: keys + "/\(name).pub", toPath: keys + "/workers/\(name).pub")
        }
        let out = scratch.appendingPathComponent("curve").path
        let port = try freePort()
        let log = scratch.appendingPathComponent("curve.log").path
        let coordinator = try start(["coordinator", "--bind", "tcp://127.0.0.1:\(port)", "--workers", "2",
                                     "--secret-key", keys + "/coordinator.key", "--authorized-keys", keys + "/workers"]
                                    + (try runOptions(out: out)) + Self.fastFailure, log: log)
        let intruderLog = scratch.appendingPathComponent("intruder.log").path
        // Told why at once, not after its give-up time.
        let intruder = try start(["worker", "--connect", "tcp://127.0.0.1:\(port)", "--give-up-after", "120",
                                  "--secret-key", keys + "/intruder.key", "--coordinator-key", keys + "/coordinator.pub"],
                                 log: intruderLog)
        XCTAssertTrue(wait(intruder, seconds: 20), "the intruder was not turned away")
        XCTAssertTrue(!intruder.isRunning && intruder.terminationStatus != 0, text(intruderLog))
        XCTAssertTrue(text(intruderLog).contains("refused this worker's CURVE key"), text(intruderLog))
        // A worker holding the wrong coordinator key is told to check it.
        let confusedLog = scratch.appendingPathComponent("confused.log").path
        let confused = try start(["worker", "--connect", "tcp://127.0.0.1:\(port)", "--give-up-after", "120",
                                  "--secret-key", keys + "/good1.key", "--coordinator-key", keys + "/intruder.pub"],
                                 log: confusedLog)
        XCTAssertTrue(wait(confused, seconds: 20), "a worker with the wrong coordinator key waited for its give-up time: \(text(confusedLog))")
        XCTAssertTrue(text(confusedLog).contains("--coordinator-key"), text(confusedLog))
        XCTAssertTrue(text(log).contains("is not authorized"), text(log))
        // Two listed workers train; their ring links are CURVE too (each admits only ring members).
        for name in ["good1", "good2"] {
            _ = try start(["worker", "--connect", "tcp://127.0.0.1:\(port)", "--secret-key", keys + "/\(name).key",
                           "--coordinator-key", keys + "/coordinator.pub"], log: scratch.appendingPathComponent("\(name).log").path)
        }
        XCTAssertTrue(wait(coordinator, seconds: 120), text(log))
        XCTAssertEqual(coordinator.isRunning ? -1 : coordinator.terminationStatus, 0, text(log))
        XCTAssertTrue(text(log).contains("ring 1 of 2 worker(s)"), text(log))
    }

    func testNonLoopbackBindNeedsKeysOrInsecure() throws {
        try assertFails(["coordinator", "--bind", "tcp://0.0.0.0:5999", "--workers", "1"] + (try runOptions(out: scratch.path + "/x")),
                        mentions: ["--insecure", "keygen"])
        try assertFails(["worker", "--connect", "tcp://127.0.0.1:1", "--secret-key", "/nonexistent.key", "--coordinator-key", "/x.pub"],
                        mentions: ["/nonexistent.key"])
    }

    /// torchrun's variables: three processes of `edgedistill run`, rank 0 coordinating.
    func testLauncherVariablesMakeOneCoordinatorAndAWorkerPerRank() throws {
        let out = scratch.appendingPathComponent("launched").path
        let port = try freePort()
        let options = try runOptions(out: out)
        var ranks: [Process] = []
        for rank in 0..<3 {
            ranks.append(try start(["run"] + options + Self.fastFailure,
                                   environment: ["RANK": String(rank), "WORLD_SIZE": "3", "MASTER_ADDR": "127.0.0.1",
                                                 "MASTER_PORT": String(port)],
                                   log: scratch.appendingPathComponent("rank\(rank).log").path))
        }
        for process in ranks { XCTAssertTrue(wait(process, seconds: 120)) }
        let log = text(scratch.appendingPathComponent("rank0.log").path)
        XCTAssertEqual(ranks[0].isRunning ? -1 : ranks[0].terminationStatus, 0, log)
        XCTAssertTrue(log.contains("ring 1 of 3 worker(s)"), log)
        for rank in 1..<3 {
            XCTAssertEqual(ranks[rank].isRunning ? -1 : ranks[rank].terminationStatus, 0,
                           text(scratch.appendingPathComponent("rank\(rank).log").path))
        }
        let reference = scratch.appendingPathComponent("one-process").path
        let fine = try run(["run"] + options.map { $0 == out ? reference : $0 })
        XCTAssertEqual(fine.status, 0, fine.stderr)
        XCTAssertLessThan(try studentWeightDifference(out, from: reference), Self.workerCountTolerance)
    }
}
