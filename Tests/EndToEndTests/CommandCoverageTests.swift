import Foundation
import XCTest
import Collective
import Model

/// Commands and flags that had no test, run through the real binary on the tiny model:
/// `bench tokenizer`, `bench scaling`, `bench distill-step`, `inspect --logits` (against
/// `predict`), `--profile quick`, `--fail-on-worker-loss` and `--startup-timeout`.
final class CommandCoverageTests: CLITestCase {

    // MARK: - Helpers

    func json(_ text: String, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
        return try XCTUnwrap(object, "not one JSON object: \(text)", file: file, line: line)
    }

    /// The texts of a file written by `tinyData`/`sentimentData` (header dropped, label cut off).
    func texts(of data: String) throws -> [String] {
        try String(contentsOfFile: data, encoding: .utf8).split(separator: "\n").dropFirst()
            .map { String($0.split(separator: "\t", omittingEmptySubsequences: false)[0]) }
    }

    /// The value after `flag` in an argument list.
    func value(of flag: String, in arguments: [String]) throws -> String {
        let index = try XCTUnwrap(arguments.firstIndex(of: flag), "no \(flag) in \(arguments)")
        return arguments[index + 1]
    }


    // MARK: - bench tokenizer

    func testBenchTokenizer() throws {
        let model = try tinyModel()
        let data = try sentimentData(40, seed: 7)
        let result = try run(["bench", "tokenizer", "--model", model, "--data", data, "--rounds", "2", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let report = try json(result.stdout)
        XCTAssertEqual(report["benchmark"] as? String, "tokenizer")
        XCTAssertEqual(report["sentences"] as? Int, 40)
        XCTAssertEqual((report["round_seconds"] as? [Double])?.count, 2)
        let sentencesPerSecond = try XCTUnwrap(report["sentences_per_s"] as? Double, result.stdout)
        let tokensPerSecond = try XCTUnwrap(report["tokens_per_s"] as? Double, result.stdout)
        let seconds = try XCTUnwrap(report["seconds"] as? Double, result.stdout)
        XCTAssertGreaterThan(sentencesPerSecond, 0)
        XCTAssertGreaterThan(tokensPerSecond, sentencesPerSecond, "every sentence is at least [CLS] [SEP]")
        XCTAssertEqual(sentencesPerSecond * seconds, 40, accuracy: 1e-6)
        // The ids counted are the ones `predict` reports for the same texts (its "tokens").
        let predicted = try run(["predict", "--model", model] + (try texts(of: data)))
        XCTAssertEqual(predicted.status, 0, predicted.stderr)
        let predictTokens = try predicted.stdout.split(separator: "\n").map { try json(String($0))["tokens"] as? Int ?? -1 }
        XCTAssertEqual(predictTokens.count, 40)
        XCTAssertEqual(report["tokens"] as? Int, predictTokens.reduce(0, +))
        XCTAssertEqual(tokensPerSecond * seconds, Double(predictTokens.reduce(0, +)), accuracy: 1e-3)

        // Without --json: key: value lines.
        let plain = try run(["bench", "tokenizer", "--model", model, "--data", data, "--rounds", "1"])
        XCTAssertEqual(plain.status, 0, plain.stderr)
        XCTAssertTrue(plain.stdout.contains("sentences_per_s: "), plain.stdout)
        // Failures: a folder without a vocabulary, an empty file, no rounds.
        let empty = scratch.appendingPathComponent("empty").path
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        try assertFails(["bench", "tokenizer", "--model", empty, "--data", data], mentions: ["no vocab.txt or tokenizer.json"])
        try assertFails(["bench", "tokenizer", "--model", model, "--data", try tinyData([])], mentions: ["no data rows"])
        try assertFails(["bench", "tokenizer", "--model", model, "--data", data, "--rounds", "0"], mentions: ["--rounds"])
    }

    // MARK: - bench scaling

    func testBenchScaling() throws {
        // A fine-tuned tiny teacher first: bench scaling refuses one without a trained head.
        let out = scratch.appendingPathComponent("teacher-run").path
        let options = try tinyRunOptions(out: out, seed: 5)
        let train = try value(of: "--train", in: options)
        let finetune = try run(["finetune"] + options)
        XCTAssertEqual(finetune.status, 0, finetune.stderr)
        let teacher = out + "/teacher"
        try assertFails(["bench", "scaling", "--teacher", try value(of: "--teacher", in: options), "--data", train,
                         "--workers", "1", "--steps", "3"], mentions: ["no trained head"])

        let result = try run(["bench", "scaling", "--teacher", teacher, "--data", train, "--student-layers", "1",
                              "--batch-size", "8", "--workers", "1", "--steps", "3", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let report = try json(result.stdout)
        XCTAssertEqual(report["benchmark"] as? String, "scaling")
        XCTAssertEqual(report["steps"] as? Int, 3)
        let results = try XCTUnwrap(report["results"] as? [[String: Any]], result.stdout)
        XCTAssertEqual(results.map { $0["workers"] as? Int ?? -1 }, [0, 1], result.stdout)
        XCTAssertEqual(results.map { $0["mode"] as? String ?? "" }, ["in-process", "processes"], result.stdout)
        for entry in results {
            let rate = entry["examples_per_s"] as? Double ?? 0
            XCTAssertGreaterThan(rate, 0, "\(entry)")
            XCTAssertTrue(rate.isFinite, "\(entry)")
        }
        XCTAssertEqual(results[1]["speedup_vs_one_worker"] as? Double ?? 0, 1, accuracy: 1e-12)
        XCTAssertGreaterThan(results[1]["step_ms"] as? Double ?? 0, 0, "\(results[1])")
        // Peak memory: this process's, and the worker process's (reported with its steps).
        XCTAssertGreaterThan(results[0]["peak_rss_mb"] as? Double ?? 0, 1, "\(results[0])")
        XCTAssertGreaterThan(results[1]["worker_peak_rss_mb"] as? Double ?? 0, 1, "\(results[1])")
        XCTAssertGreaterThan(results[1]["worker_training_rss_mb"] as? Double ?? 0, 1, "\(results[1])")

        // The other phases, 2 workers with bf16 gradients; the scaling model reads such results.
        for phase in ["cached", "finetune"] {
            let other = try run(["bench", "scaling", "--teacher", teacher, "--data", train, "--student-layers", "1", "--batch-size", "8",
                                 "--workers", "2", "--steps", "3", "--phase", phase, "--gradient-precision", "bf16", "--json"])
            XCTAssertEqual(other.status, 0, other.stderr)
            let report = try json(other.stdout)
            XCTAssertEqual(report["phase"] as? String, phase)
            XCTAssertEqual(report["gradient_precision"] as? String, "bf16")
            XCTAssertGreaterThan(report["gradient_floats"] as? Int ?? 0, 0, other.stdout)
            let rows = try XCTUnwrap(report["results"] as? [[String: Any]], other.stdout)
            XCTAssertGreaterThan(rows.last?["allreduce_ms"] as? Double ?? 0, 0, "2 workers all-reduce: \(other.stdout)")
        }
        try assertFails(["bench", "scaling", "--teacher", teacher, "--data", train, "--phase", "warmup"], mentions: ["--phase", "warmup"])
        try assertFails(["bench", "scaling", "--teacher", teacher, "--data", train, "--gradient-precision", "fp8"],
                        mentions: ["--gradient-precision", "fp8"])
    }

    // MARK: - bench teacher-pass

    func testBenchTeacherPass() throws {
        let out = scratch.appendingPathComponent("pass-teacher").path
        let options = try tinyRunOptions(out: out, seed: 6)
        let finetune = try run(["finetune"] + options)
        XCTAssertEqual(finetune.status, 0, finetune.stderr)
        let result = try run(["bench", "teacher-pass", "--teacher", out + "/teacher", "--data", try value(of: "--train", in: options),
                              "--threads", "1", "--workers", "2", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let report = try json(result.stdout)
        let rows = try XCTUnwrap(report["results"] as? [[String: Any]], result.stdout)
        XCTAssertEqual(rows.map { $0["workers"] as? Int ?? -1 }, [0, 2])
        XCTAssertEqual(rows.last?["identical_to_in_process"] as? Bool, true, result.stdout)
        XCTAssertGreaterThan(rows.first?["sentences_per_s"] as? Double ?? 0, 0)
    }

    // MARK: - bench distill-step

    func testBenchDistillStep() throws {
        let model = try tinyModel()
        let data = try sentimentData(40, seed: 8)
        let result = try run(["bench", "distill-step", "--teacher", model, "--student-layers", "1", "--data", data,
                              "--batch-size", "4", "--steps", "3", "--warmup", "1", "--threads", "1", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let report = try json(result.stdout)
        XCTAssertEqual(report["benchmark"] as? String, "distill-step")
        XCTAssertEqual(report["steps"] as? Int, 3)
        XCTAssertEqual(report["batch_size"] as? Int, 4)
        XCTAssertEqual(report["student_layers"] as? [Int], [0], "one layer of two, evenly spaced")
        for key in ["examples_per_s", "cached_examples_per_s", "tokens_per_s", "step_ms"] {
            let rate = try XCTUnwrap(report[key] as? Double, "missing \(key) in \(result.stdout)")
            XCTAssertGreaterThan(rate, 0, key)
            XCTAssertTrue(rate.isFinite, key)
        }
        let loss = try XCTUnwrap(report["final_loss"] as? Double, result.stdout)
        XCTAssertTrue(loss.isFinite, "final_loss \(loss)")
        XCTAssertGreaterThan(loss, 0, "a distillation loss (cross-entropy + KL) is positive")
        let share = try XCTUnwrap(report["teacher_forward_share"] as? Double, result.stdout)
        XCTAssertTrue(share >= 0 && share <= 1, "teacher_forward_share \(share)")
        // A data file with more labels than the teacher's head is refused.
        let wide = try tinyData(["good\t0", "bad\t1", "a\t2", "it\t3"])
        try assertFails(["bench", "distill-step", "--teacher", model, "--data", wide, "--steps", "1", "--warmup", "0"],
                        mentions: ["the data has 4 labels"])
    }

    // MARK: - inspect --logits against predict

    func testInspectLogitsAgreeWithPredict() throws {
        let model = try tinyModel()
        let sentences = ["the film is good", "a bad movie !", "it is not great and the film is bad , not good", "movie"]
        let inspected = try runToEnd(try binary(), ["inspect", "--model", model, "--logits", "--json"],
                                     input: Data((sentences.joined(separator: "\n") + "\n").utf8))
        XCTAssertEqual(inspected.status, 0, inspected.stderr)
        let logits = try XCTUnwrap(try json(inspected.stdout)["logits"] as? [[Double]], inspected.stdout)
        XCTAssertEqual(logits.count, sentences.count)
        XCTAssertTrue(logits.allSatisfy { $0.count == 3 }, "\(logits)")
        XCTAssertNotEqual(logits[0], logits[1], "different sentences should give different logits: \(logits)")

        let predicted = try run(["predict", "--model", model] + sentences)
        XCTAssertEqual(predicted.status, 0, predicted.stderr)
        let lines = try predicted.stdout.split(separator: "\n").map { try json(String($0)) }
        XCTAssertEqual(lines.count, sentences.count)
        let names = ["LABEL_0", "LABEL_1", "LABEL_2"]   // the fixture's id2label
        for (row, line) in zip(logits, lines) {
            let top = row.max()!
            let exps = row.map { Foundation.exp($0 - top) }
            let softmax = exps.map { $0 / exps.reduce(0, +) }
            let probabilities = try XCTUnwrap(line["probabilities"] as? [String: Double], "\(line)")
            for (c, name) in names.enumerated() {
                XCTAssertEqual(probabilities[name] ?? -1, softmax[c], accuracy: 1e-5, "\(name): inspect \(row), predict \(line)")
            }
            XCTAssertEqual(line["label_id"] as? Int, row.firstIndex(of: top), "inspect \(row), predict \(line)")
            XCTAssertEqual(line["label"] as? String, names[row.firstIndex(of: top)!])
        }

        // No sentences on stdin: no logits, and no failure.
        let none = try runToEnd(try binary(), ["inspect", "--model", model, "--logits", "--json"], input: Data())
        XCTAssertEqual(none.status, 0, none.stderr)
        XCTAssertEqual((try json(none.stdout)["logits"] as? [Any])?.count, 0)
    }

    // MARK: - --profile

    /// The resolved run_config.json of a `finetune` run (the cheapest stage that writes it).
    func resolvedConfig(_ extra: [String], name: String) throws -> [String: Any] {
        let teacher = try tinyEncoder()
        let train = try sentimentData(120, seed: 9), dev = try sentimentData(20, seed: 10)
        let out = scratch.appendingPathComponent(name).path
        // A configuration file that sets none of the keys a profile sets, so only the profile and the flags differ.
        let config = scratch.appendingPathComponent(name + ".yaml").path
        try "finetune:\n  learning_rate: 0.002\n  batch_size: 16\n".write(toFile: config, atomically: true, encoding: .utf8)
        let result = try run(["finetune", "--config", config, "--teacher", teacher, "--train", train, "--eval", dev,
                              "--out", out, "--seed", "1", "--threads", "1"] + extra)
        XCTAssertEqual(result.status, 0, result.stderr)
        let data = try Data(contentsOf: URL(fileURLWithPath: out + "/run_config.json"))
        var resolved = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        resolved["_log"] = result.stderr
        return resolved
    }

    func testProfileQuickIsResolvedIntoRunConfig() throws {
        func distill(_ c: [String: Any]) -> [String: Any] { c["distill"] as? [String: Any] ?? [:] }
        func finetune(_ c: [String: Any]) -> [String: Any] { c["finetune"] as? [String: Any] ?? [:] }

        let plain = try resolvedConfig([], name: "default")
        XCTAssertNil(plain["max_train_examples"], "no sample without a profile")
        XCTAssertEqual(distill(plain)["epochs"] as? Int, 3)
        XCTAssertEqual(distill(plain)["eval_every"] as? Int, 100)
        XCTAssertEqual(finetune(plain)["epochs"] as? Int, 1)
        XCTAssertEqual(finetune(plain)["batch_size"] as? Int, 16, "the file's value")
        XCTAssertTrue((plain["_log"] as? String ?? "").contains("data: 118 training"), plain["_log"] as? String ?? "")

        let quick = try resolvedConfig(["--profile", "quick"], name: "quick")
        XCTAssertEqual(quick["max_train_examples"] as? Int, 10000)
        XCTAssertEqual(distill(quick)["epochs"] as? Int, 1)
        XCTAssertEqual(distill(quick)["eval_every"] as? Int, 100)
        XCTAssertEqual(finetune(quick)["epochs"] as? Int, 1)
        XCTAssertEqual(finetune(quick)["batch_size"] as? Int, 16, "the file's value is kept")
        XCTAssertEqual(finetune(quick)["learning_rate"] as? Double, 0.002)
        // Small data: the profile's minimum steps make more epochs, and the log says so.
        XCTAssertEqual(finetune(quick)["min_steps"] as? Int, 300)
        XCTAssertEqual(distill(quick)["min_steps"] as? Int, 600)
        XCTAssertTrue((quick["_log"] as? String ?? "").contains("finetune.min_steps 300 makes it 38 epochs instead of 1"),
                      quick["_log"] as? String ?? "")
        XCTAssertTrue((plain["_log"] as? String ?? "").contains("too few to train well"), plain["_log"] as? String ?? "")

        // Flags win over the profile, and the sample it resolves to is the one trained on.
        let overridden = try resolvedConfig(["--profile", "quick", "--epochs", "2", "--max-train-examples", "100"], name: "flags")
        XCTAssertEqual(overridden["max_train_examples"] as? Int, 100)
        XCTAssertEqual(distill(overridden)["epochs"] as? Int, 2)
        XCTAssertTrue((overridden["_log"] as? String ?? "").contains("data: 98 training"), overridden["_log"] as? String ?? "")

        let full = try resolvedConfig(["--profile", "full"], name: "full")
        XCTAssertNil(full["max_train_examples"])
        XCTAssertEqual(distill(full)["epochs"] as? Int, 3)
    }

    // MARK: - Coordinator flags

    func testFailOnWorkerLossStopsTheRun() throws {
        let out = scratch.appendingPathComponent("fail-on-loss").path
        let port = try LoopbackPort.free()
        let log = scratch.appendingPathComponent("coordinator.log").path
        let coordinator = try start(["coordinator", "--bind", "tcp://127.0.0.1:\(port)", "--workers", "2", "--fail-on-worker-loss",
                                     "--heartbeat-timeout", "2", "--ring-timeout", "3"]
                                    + (try tinyRunOptions(out: out, seed: 3)), log: log)
        var workers: [Process] = []
        for w in 0..<2 {
            let fault = w == 1 ? ["EDGEDISTILL_WORKER_FAULT": "student:5:kill"] : [:]
            workers.append(try start(["worker", "--connect", "tcp://127.0.0.1:\(port)", "--give-up-after", "30"], environment: fault,
                                     log: scratch.appendingPathComponent("worker\(w).log").path))
        }
        XCTAssertTrue(wait(coordinator, seconds: 120), "coordinator still running: \(text(log))")
        let output = text(log)
        print("fail-on-worker-loss: the coordinator's last lines:\n" + output.split(separator: "\n").suffix(4).map { "  | " + $0 }.joined(separator: "\n"))
        // The worker really died at the injected fault (else the coordinator stopped for another reason).
        XCTAssertTrue(wait(workers[1], seconds: 5))
        XCTAssertEqual(workers[1].terminationReason, .uncaughtSignal, "worker 1 was not killed by its fault: \(text(scratch.appendingPathComponent("worker1.log").path))")
        XCTAssertNotEqual(coordinator.isRunning ? 0 : coordinator.terminationStatus, 0, output)
        XCTAssertTrue(output.contains("lost: no heartbeat"), output)
        XCTAssertTrue(output.contains("step 5 aborted"), output)
        XCTAssertTrue(output.contains("error: a worker was lost and fail-on-worker-loss is set"), output)
        XCTAssertFalse(output.contains("Fatal error"), output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/report.json"), "the run should not have finished")
    }

    func testStartupTimeoutNamesTheMissingWorkers() throws {
        let out = scratch.appendingPathComponent("no-workers").path
        let port = try LoopbackPort.free()
        let log = scratch.appendingPathComponent("coordinator.log").path
        let started = Date()
        let coordinator = try start(["coordinator", "--bind", "tcp://127.0.0.1:\(port)", "--workers", "1", "--startup-timeout", "2"]
                                    + (try tinyRunOptions(out: out, seed: 4)), log: log)
        XCTAssertTrue(wait(coordinator, seconds: 30), "coordinator still waiting after 30 s: \(text(log))")
        let elapsed = Date().timeIntervalSince(started)
        let output = text(log)
        XCTAssertNotEqual(coordinator.isRunning ? 0 : coordinator.terminationStatus, 0, output)
        XCTAssertLessThan(elapsed, 10, "took \(elapsed) s: \(output)")
        XCTAssertGreaterThanOrEqual(elapsed, 2, "gave up before the timeout: \(output)")
        XCTAssertTrue(output.contains("only 0 of 1 workers connected to tcp://127.0.0.1:\(port) within 2 s"), output)
        XCTAssertTrue(output.contains("edgedistill worker --connect"), output)
        XCTAssertFalse(output.contains("Fatal error"), output)
    }
}
