import Foundation
import XCTest
import Model

/// `edgedistill run`, `finetune`, `distill` and `eval` end to end on a tiny model and a tiny
/// synthetic sentiment task, through the real binary.
final class PipelineCommandTests: CLITestCase {
    func testRunFineTunesDistilsAndEvaluates() throws {
        let teacher = try tinyEncoder()
        let train = try sentimentData(320, seed: 1), dev = try sentimentData(60, seed: 2)
        let out = scratch.appendingPathComponent("run").path
        let config = scratch.appendingPathComponent("run.yaml").path
        try """
        finetune:
          epochs: 3
          learning_rate: 0.002
          eval_every: 5
        distill:
          learning_rate: 0.001
          eval_every: 10
          schedule: linear
          average_last: 0.5
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let result = try run(["run", "--config", config, "--teacher", teacher, "--train", train, "--eval", dev,
                              "--out", out, "--epochs", "2", "--student-layers", "1", "--seed", "3", "--threads", "1",
                              "--trace-steps"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("retention"), "summary: \(result.stdout)")
        // The final figures are printed once, in the summary, not also while they are measured.
        let everything = result.stdout + result.stderr
        for line in ["retention", "student int8 + int8 emb accuracy", "report: "] {
            XCTAssertEqual(everything.components(separatedBy: line).count - 1, 1, "'\(line)' printed more than once: \(everything)")
        }
        // Precedence: the file's distill.eval_every (10) over the default; the --epochs flag over everything.
        let resolved = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/run_config.json"))) as? [String: Any]
        let distill = resolved?["distill"] as? [String: Any]
        XCTAssertEqual(distill?["eval_every"] as? Int, 10)
        XCTAssertEqual(distill?["epochs"] as? Int, 2)
        XCTAssertTrue(result.stderr.contains("chosen on only 6 validation examples"), "a tiny held-out share is flagged")
        for name in ["teacher/config.json", "teacher/model.safetensors", "teacher/vocab.txt", "teacher/tokenizer_config.json",
                     "student/config.json", "student/model.safetensors", "student/vocab.txt",
                     "metrics.jsonl", "run_config.json", "report.json", "report.md", "model_comparison.svg",
                     "model_comparison.png", "student-int8/model.safetensors", "student-int8-emb/model.safetensors",
                     "student-fp16/model.safetensors"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/" + name), "missing \(name)")
        }
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/report.json"))) as? [String: Any]
        let names = (report?["variants"] as? [[String: Any]])?.compactMap { $0["name"] as? String } ?? []
        XCTAssertEqual(names, ["teacher fp32", "student fp32", "student fp16", "student int8", "student int8 + int8 emb"])
        let markdown = try String(contentsOfFile: out + "/report.md", encoding: .utf8)
        for name in names { XCTAssertTrue(markdown.contains(name), "report.md lacks \(name)") }
        let evaluation = (report?["evaluations"] as? [[String: Any]])?.first
        let teacherAccuracy = (evaluation?["teacher"] as? [String: Any])?["accuracy"] as? Double ?? 0
        let studentAccuracy = (evaluation?["student"] as? [String: Any])?["accuracy"] as? Double ?? 0
        XCTAssertGreaterThan(teacherAccuracy, 0.9, "the teacher should learn 'good' vs 'bad'")
        XCTAssertGreaterThan(studentAccuracy, 0.8)
        XCTAssertEqual((report?["student"] as? [String: Any])?["layers"] as? [Int], [0])
        let studentConfig = try ModelConfig.load(directory: out + "/student")
        XCTAssertEqual(studentConfig.modelType, .distilbert)
        XCTAssertEqual(studentConfig.layerCount, 1)

        // metrics.jsonl: training lines and evaluations of both phases.
        let lines = try String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        let kinds = lines.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["kind"] as? String }
        XCTAssertEqual(kinds.count, lines.count, "every line is JSON")
        XCTAssertTrue(kinds.contains("train") && kinds.contains("eval"))
        // The distillation phase (after the step count restarts) follows `schedule: linear`.
        let trainLines = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .filter { $0["kind"] as? String == "train" }
        let steps = trainLines.map { $0["step"] as? Int ?? 0 }
        let restart = try XCTUnwrap(steps.indices.dropFirst().first { steps[$0] < steps[$0 - 1] }, "steps: \(steps)")
        let rates = trainLines[restart...].map { $0["lr"] as? Double ?? -1 }
        XCTAssertGreaterThan(rates.count, 1)
        XCTAssertEqual(rates, rates.sorted(by: >), "the distillation rate decays: \(rates)")
        XCTAssertLessThan(rates.last ?? 1, 0.5e-3, "the distillation rate decays towards 0: \(rates)")
        try checkStepTrace(lines, trainLines: trainLines, examples: 320 - 6, batchSize: 16, epochs: 2)
        // average_last: the weights of the distillation's last evaluations (after step 20 of 40) averaged and evaluated once.
        let averages = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .filter { $0["kind"] as? String == "average_eval" }
        XCTAssertEqual(averages.count, 1)
        XCTAssertEqual(averages.first?["averaged"] as? Int, 2, "evaluations at steps 30 and 40")
        XCTAssertEqual(averages.first?["phase"] as? String, "student")
        XCTAssertNotNil((report?["student"] as? [String: Any])?["averaged_checkpoints"] as? Int)

        // eval agrees with the report.
        let eval = try run(["eval", "--model", out + "/student", "--data", dev, "--json", "--threads", "1"])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        let json = try JSONSerialization.jsonObject(with: Data(eval.stdout.utf8)) as? [String: Any]
        XCTAssertEqual(json?["accuracy"] as? Double ?? -1, studentAccuracy, accuracy: 1e-12)
        XCTAssertEqual(json?["examples"] as? Int, 60)
        XCTAssertNotNil(json?["macro_f1"] as? Double)

        // Resuming a finished run does no more training and reports the same.
        let again = try run(["run", "--config", config, "--teacher", teacher, "--train", train, "--eval", dev,
                             "--out", out, "--epochs", "2", "--student-layers", "1", "--seed", "3", "--threads", "1", "--resume"])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stderr.contains("already fine-tuned"), again.stderr)
    }

    /// A sentence-pair task no single text can solve: the label says whether both texts carry the
    /// same sentiment word. The columns are found from the header (sentence1, sentence2), and eval
    /// and predict read pairs too.
    func testSentencePairTaskIsLearnedFromBothTexts() throws {
        func pairData(_ count: Int, seed: UInt64) throws -> String {
            let filler = ["the", "a", "film", "movie", "is", "it", "and", "of"]
            var state = seed
            func next(_ n: Int) -> Int { state = state &* 6364136223846793005 &+ 1442695040888963407; return Int(state >> 33) % n }
            func sentence(_ positive: Bool) -> String {
                var words = (0..<(2 + next(4))).map { _ in filler[next(filler.count)] }
                words.insert(positive ? "good" : "bad", at: next(words.count + 1))
                return words.joined(separator: " ")
            }
            var rows = ["sentence1\tsentence2\tlabel"]
            for _ in 0..<count {
                let (first, second) = (next(2) == 1, next(2) == 1)
                rows.append("\(sentence(first))\t\(sentence(second))\t\(first == second ? "same" : "different")")
            }
            let path = scratch.appendingPathComponent("pairs-\(seed).tsv").path
            try rows.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let train = try pairData(400, seed: 1), dev = try pairData(60, seed: 2)
        let out = scratch.appendingPathComponent("pairs").path
        let config = scratch.appendingPathComponent("pairs.yaml").path
        // XOR takes the tiny teacher longer than one word does (seeds 3, 4, 5: 100%, 100%, 98% on dev), and a
        // held-out share big enough to tell checkpoints apart.
        try "held_out: 0.2\nfinetune:\n  epochs: 20\n  learning_rate: 0.004\n  eval_every: 5\ndistill:\n  learning_rate: 0.001\n  eval_every: 10\n"
            .write(toFile: config, atomically: true, encoding: .utf8)
        let arguments = ["run", "--config", config, "--teacher", try tinyEncoder(), "--train", train, "--eval", dev,
                         "--out", out, "--epochs", "2", "--student-layers", "1", "--seed", "3", "--threads", "1"]
        let result = try run(arguments)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("sentence pairs (sentence1 + sentence2)"), result.stderr)
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/report.json"))) as? [String: Any]
        XCTAssertEqual(report?["text_columns"] as? [String], ["sentence1", "sentence2"])
        let evaluation = (report?["evaluations"] as? [[String: Any]])?.first
        let teacherAccuracy = (evaluation?["teacher"] as? [String: Any])?["accuracy"] as? Double ?? 0
        // Either text alone predicts the label no better than chance (0.5).
        XCTAssertGreaterThan(teacherAccuracy, 0.85, "the teacher should compare the two texts")

        let eval = try run(["eval", "--model", out + "/teacher", "--data", dev, "--json", "--threads", "1"])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        let json = try JSONSerialization.jsonObject(with: Data(eval.stdout.utf8)) as? [String: Any]
        XCTAssertEqual(json?["accuracy"] as? Double ?? -1, teacherAccuracy, accuracy: 1e-12)
        let predict = try runToEnd(try binary(), ["predict", "--model", out + "/teacher"], input: Data("""
            {"text": "the good film", "text_pair": "it is good"}
            {"text": "the good film", "text_pair": "it is bad"}
            {"text": "the good film", "text_pair": 3}
            """.utf8))
        XCTAssertEqual(predict.status, 1, "the third line is bad: \(predict.stdout)")
        let answers = predict.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        XCTAssertEqual(answers.prefix(2).map { $0["label"] as? String }, ["same", "different"], predict.stdout)
        XCTAssertEqual(answers.last?["line"] as? Int, 3)

        // Every file must have the same text columns as train.
        let single = try sentimentData(20, seed: 9)
        try assertFails(arguments.map { $0 == dev ? single : $0 == out ? out + "-mixed" : $0 },
                        mentions: [single, "one text per example", "sentence pairs"])
    }

    /// `--trace-steps`: every distillation step is logged with its examples (each epoch uses every
    /// training example once) and the losses the periodic `train` lines report for the same step.
    private func checkStepTrace(_ lines: [Substring], trainLines: [[String: Any]], examples: Int, batchSize: Int,
                                epochs: Int) throws {
        let records = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        XCTAssertEqual(Set(records.compactMap { $0["phase"] as? String }), ["teacher", "student"])
        let trace = records.filter { $0["kind"] as? String == "step" && $0["phase"] as? String == "student" }
        let perEpoch = (examples + batchSize - 1) / batchSize
        XCTAssertEqual(trace.map { $0["step"] as? Int ?? 0 }, Array(1...(perEpoch * epochs)))
        for epoch in 0..<epochs {
            let used = trace[(epoch * perEpoch)..<((epoch + 1) * perEpoch)].flatMap { $0["examples"] as? [Int] ?? [] }
            XCTAssertEqual(used.sorted(), Array(0..<examples), "epoch \(epoch + 1) uses every example once")
        }
        let periodic = trainLines.filter { $0["phase"] as? String == "student" }
        XCTAssertFalse(periodic.isEmpty)
        for line in periodic {
            let step = try XCTUnwrap(line["step"] as? Int)
            XCTAssertEqual(trace[step - 1]["loss"] as? Double, line["loss"] as? Double, "step \(step)")
        }
    }

    /// A run killed mid-way (in either phase) and resumed ends with the very files of a run that
    /// was never interrupted.
    func testInterruptedRunResumesToTheSameModels() throws {
        let teacher = try tinyEncoder()
        let train = try sentimentData(200, seed: 6), dev = try sentimentData(30, seed: 7)
        let config = scratch.appendingPathComponent("resume.yaml").path
        try "checkpoint_every: 4\nfinetune:\n  epochs: 2\n  eval_every: 3\ndistill:\n  eval_every: 5\n  average_last: 0.75\n"
            .write(toFile: config, atomically: true, encoding: .utf8)
        func arguments(_ out: String) -> [String] {
            ["run", "--config", config, "--teacher", teacher, "--train", train, "--eval", dev, "--out", out,
             "--epochs", "2", "--student-layers", "1", "--threads", "1", "--json"]
        }
        let straight = scratch.appendingPathComponent("straight").path
        XCTAssertEqual(try run(arguments(straight)).status, 0)
        for crash in ["teacher:6", "student:13"] {
            let out = scratch.appendingPathComponent("crash-\(crash.prefix(7))").path
            let killed = try run(arguments(out), environment: ["EDGEDISTILL_CRASH_AFTER": crash])
            XCTAssertNotEqual(killed.status, 0, "the injected crash must stop the run")
            let resumed = try run(arguments(out) + ["--resume"])
            XCTAssertEqual(resumed.status, 0, resumed.stderr)
            XCTAssertTrue(resumed.stderr.contains("resumed from"), resumed.stderr)
            for file in ["teacher/model.safetensors", "student/model.safetensors"] {
                XCTAssertEqual(FileManager.default.contents(atPath: out + "/" + file),
                               FileManager.default.contents(atPath: straight + "/" + file),
                               "\(file) differs after a crash at \(crash) and --resume")
            }
        }
    }

    func testDistillRefusesATeacherWithoutAHead() throws {
        try assertFails(["distill", "--teacher", try tinyEncoder(), "--train", try sentimentData(20, seed: 4),
                         "--eval", try sentimentData(10, seed: 5), "--out", scratch.appendingPathComponent("d").path],
                        mentions: ["no trained classification head", "finetune"])
    }

    func testEvalRefusesUnknownLabel() throws {
        let data = try tinyData(["good film\t0", "bad film\t7"])
        try assertFails(["eval", "--model", try tinyModel(), "--data", data], mentions: [data, "line 3"])
    }

    func testBadConfigFileIsNamed() throws {
        let config = scratch.appendingPathComponent("bad.yaml").path
        try "distill: [1, 2".write(toFile: config, atomically: true, encoding: .utf8)
        try assertFails(["run", "--config", config], mentions: [config])
    }

    func testInvalidConfigValuesAreNamed() throws {
        let config = scratch.appendingPathComponent("values.yaml").path
        try "distill:\n  alpha: 1.5\nmax_length: 1\n".write(toFile: config, atomically: true, encoding: .utf8)
        try assertFails(["run", "--config", config, "--teacher", try tinyModel()], mentions: ["distill.alpha", "max_length"])
    }
}
