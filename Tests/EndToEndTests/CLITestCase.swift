import Foundation
import XCTest
import Model

/// Shared set-up of the end-to-end tests: the real `edgedistill` binary, a scratch folder, a tiny
/// model that can tokenize, tiny data files, and a check that a command fails cleanly.
class CLITestCase: XCTestCase {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("edgedistill-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: scratch) }

    /// The binary SwiftPM built beside this test bundle.
    func binary() throws -> URL {
        let beside = Bundle(for: Self.self).bundleURL.deletingLastPathComponent().appendingPathComponent("edgedistill")
        if FileManager.default.isExecutableFile(atPath: beside.path) { return beside }
        let debug = Self.packageRoot.appendingPathComponent(".build/debug/edgedistill")
        guard FileManager.default.isExecutableFile(atPath: debug.path) else {
            XCTFail("edgedistill not built: run `swift build` first")
            throw CocoaError(.fileNoSuchFile)
        }
        return debug
    }

    typealias Result = ProcessResult

    func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Result {
        try runToEnd(try binary(), arguments, environment: environment)
    }

    /// A copy of the tiny DistilBERT fixture with a 120-token vocabulary so it can tokenize.
    func tinyModel(fixture: String = "distilbert") throws -> String {
        let source = Self.packageRoot.appendingPathComponent("Tests/Fixtures/models/" + fixture).path
        let dir = scratch.appendingPathComponent("tiny-\(UUID().uuidString.prefix(6))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for name in ["config.json", "model.safetensors"] {
            try FileManager.default.copyItem(atPath: source + "/" + name, toPath: dir + "/" + name)
        }
        var vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        for w in ["the", "a", "film", "movie", "good", "bad", "great", "is", "it", "not", "and", "of", ",", ".", "!"] { vocab.append(w) }
        for c in "abcdefghijklmnopqrstuvwxyz" { vocab.append(String(c)); vocab.append("##" + String(c)) }
        while vocab.count < 120 { vocab.append("[unused\(vocab.count)]") }
        try vocab.joined(separator: "\n").write(toFile: dir + "/vocab.txt", atomically: true, encoding: .utf8)
        return dir
    }

    func tinyData(_ rows: [String]) throws -> String {
        let path = scratch.appendingPathComponent("data-\(UUID().uuidString.prefix(6)).tsv").path
        try (["sentence\tlabel"] + rows).joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func assertFails(_ arguments: [String], mentions expected: [String], environment: [String: String] = [:],
                     file: StaticString = #filePath, line: UInt = #line) throws {
        let result = try run(arguments, environment: environment)
        XCTAssertNotEqual(result.status, 0, "expected failure; stdout: \(result.stdout)", file: file, line: line)
        XCTAssertFalse(result.stderr.contains("Fatal error"), "crashed: \(result.stderr)", file: file, line: line)
        for text in expected {
            XCTAssertTrue(result.stderr.contains(text), "stderr lacks '\(text)': \(result.stderr)", file: file, line: line)
        }
    }

    /// The tiny DistilBERT fixture without its classification head (as a pretrained encoder is).
    func tinyEncoder() throws -> String {
        let dir = try tinyModel()
        let file = try SafetensorsFile(path: dir + "/model.safetensors")
        let kept = try file.names.filter { !$0.hasPrefix("pre_classifier") && !$0.hasPrefix("classifier") }.map { name in
            let info = file.info(name)!
            return SafetensorsWriter.Tensor(name: name, dtype: info.dtype, shape: info.shape, bytes: Array(try file.rawBytes(name)))
        }
        try SafetensorsWriter.write(kept, to: dir + "/model.safetensors")
        return dir
    }

    /// "good" sentences are positive, "bad" ones negative, with filler words around them.
    func sentimentData(_ count: Int, seed: Int) throws -> String {
        let filler = ["the", "a", "film", "movie", "is", "it", "and", "of"]
        var rows: [String] = [], state = UInt64(seed)
        func next(_ n: Int) -> Int { state = state &* 6364136223846793005 &+ 1442695040888963407; return Int(state >> 33) % n }
        for _ in 0..<count {
            let positive = next(2) == 1
            var words = (0..<(2 + next(6))).map { _ in filler[next(filler.count)] }
            words.insert(positive ? "good" : "bad", at: next(words.count + 1))
            rows.append(words.joined(separator: " ") + "\t" + (positive ? "1" : "0"))
        }
        return try tinyData(rows)
    }

    /// Options of a tiny whole run (fine-tune 1 epoch, distil `epochs` epochs of 20 steps on 320
    /// "good"/"bad" sentences) for `run` and `coordinator`; the data and config are written here.
    func tinyRunOptions(out: String, seed: Int, epochs: Int = 2, checkpointEvery: Int? = nil) throws -> [String] {
        let teacher = try tinyEncoder()
        let train = try sentimentData(320, seed: seed * 10 + 1), dev = try sentimentData(60, seed: seed * 10 + 2)
        let config = scratch.appendingPathComponent("tiny-\(UUID().uuidString.prefix(6)).yaml").path
        try """
        finetune:
          epochs: 1
          learning_rate: 0.002
          eval_every: 10
        distill:
          learning_rate: 0.001
          eval_every: 10
        \(checkpointEvery.map { "checkpoint_every: \($0)" } ?? "")
        """.write(toFile: config, atomically: true, encoding: .utf8)
        return ["--config", config, "--teacher", teacher, "--train", train, "--eval", dev, "--out", out,
                "--epochs", String(epochs), "--student-layers", "1", "--seed", String(seed), "--threads", "1"]
    }

    /// A tensor ("parameters", "adam.m", "adam.v") of a phase ("teacher", "student") at its last
    /// checkpoint in a run folder.
    func finalParameters(_ out: String, _ phase: String, tensor: String = "parameters") throws -> [Float] {
        let file = try SafetensorsFile(path: out + "/checkpoints/\(phase).ckpt")
        var values = [Float](repeating: 0, count: file.info(tensor)?.elementCount ?? 0)
        try values.withUnsafeMutableBufferPointer { try file.floats(tensor, into: $0) }
        return values
    }

    /// The student's accuracy on the first evaluation file of a run folder's report.json (-1 when absent).
    func studentAccuracy(_ out: String) -> Double {
        let report = (try? Data(contentsOf: URL(fileURLWithPath: out + "/report.json")))
            .flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
        let evaluation = (report?["evaluations"] as? [[String: Any]])?.first
        return (evaluation?["student"] as? [String: Any])?["accuracy"] as? Double ?? -1
    }

    /// How far apart the student weights of two runs may be when they differ only in how many
    /// workers summed each batch's gradients (the order of float sums), relative to their norm.
    static let workerCountTolerance = 1e-6

    /// ||a - b|| / ||b|| between the student weights of two run folders, leaving out the key
    /// projections' biases: their gradient is zero in exact arithmetic (softmax ignores a constant
    /// added to a row of scores), so what they hold is rounding noise that Adam turns into steps
    /// of +-lr, and they cannot change any output.
    func studentWeightDifference(_ out: String, from reference: String) throws -> Double {
        let a = try SequenceClassifier.load(directory: out + "/student").model
        let b = try SequenceClassifier.load(directory: reference + "/student").model
        XCTAssertEqual(a.parameters.count, b.parameters.count)
        var diff = 0.0, norm = 0.0
        for entry in b.layout.entries where !entry.name.hasSuffix("k_lin.bias") {
            for i in entry.offset..<(entry.offset + entry.count) {
                let d = Double(a.parameters.buffer[i]) - Double(b.parameters.buffer[i])
                diff += d * d
                norm += Double(b.parameters.buffer[i]) * Double(b.parameters.buffer[i])
            }
        }
        return (diff / max(norm, 1e-30)).squareRoot()
    }

    // MARK: - Processes that run alongside the test (coordinators, workers)

    /// The join token every coordinator and worker a test starts shares (EDGEDISTILL_JOIN_TOKEN).
    static let joinToken = "edgedistill-test-token"

    /// Starts the binary with stdout and stderr going to `log` (a file, so nothing blocks on a
    /// pipe), with the tests' join token in its environment; killed at the end of the test.
    func start(_ arguments: [String], environment: [String: String] = [:], log: String) throws -> Process {
        let process = Process()
        process.executableURL = try binary()
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment
            .merging(["EDGEDISTILL_JOIN_TOKEN": Self.joinToken]) { $1 }.merging(environment) { $1 }
        FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        addTeardownBlock { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        return process
    }

    /// Waits up to `seconds` for `process` to exit; true when it did.
    func wait(_ process: Process, seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        return !process.isRunning
    }

    func text(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
}
