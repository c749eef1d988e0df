import Foundation
import XCTest
import Model

/// Runs the real `edgedistill` binary: a short benchmark on a tiny model, and every kind of bad
/// model or data file, each of which must exit non-zero with one clear line naming the file.
final class CommandLineTests: CLITestCase {
    // MARK: - Working runs

    func testBenchTrainStepPrintsJSON() throws {
        let model = try tinyModel()
        let data = try tinyData(["the film is good .\t0", "a bad movie !\t1", "it is not great\t2", "good and bad\t1"])
        let result = try run(["bench", "train-step", "--model", model, "--data", data, "--batch-size", "2",
                              "--steps", "3", "--warmup", "1", "--threads", "1", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        for key in ["examples_per_s", "tokens_per_s", "gflops", "peak_gflops", "peak_rss_mb"] {
            let value = json?[key] as? Double
            XCTAssertNotNil(value, "missing \(key) in \(result.stdout)")
            XCTAssertGreaterThan(value ?? 0, 0, key)
        }
        XCTAssertEqual(json?["batch_size"] as? Int, 2)
    }

    func testInspectDescribesModel() throws {
        let result = try run(["inspect", "--model", try tinyModel(), "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        XCTAssertEqual(json?["layers"] as? Int, 2)
        XCTAssertEqual(json?["labels"] as? Int, 3)
        XCTAssertEqual(json?["source_family"] as? String, "distilbert")
    }

    // MARK: - Bad model folders

    func corrupt(_ body: (String) throws -> Void) throws -> String {
        let dir = try tinyModel()
        try body(dir)
        return dir
    }

    func testTruncatedSafetensors() throws {
        let dir = try corrupt { dir in
            let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/model.safetensors"))
            try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: dir + "/model.safetensors"))
        }
        try assertFails(["inspect", "--model", dir], mentions: ["model.safetensors"])
    }

    func testTinySafetensors() throws {
        let dir = try corrupt { try Data([1, 2, 3]).write(to: URL(fileURLWithPath: $0 + "/model.safetensors")) }
        try assertFails(["inspect", "--model", dir], mentions: ["model.safetensors"])
    }

    func testBadHeaderJSON() throws {
        let dir = try corrupt { dir in
            var bytes = [UInt8](repeating: 0, count: 8)
            let header = Array("{not json".utf8)
            bytes[0] = UInt8(header.count)
            try Data(bytes + header).write(to: URL(fileURLWithPath: dir + "/model.safetensors"))
        }
        try assertFails(["inspect", "--model", dir], mentions: ["model.safetensors", "JSON"])
    }

    func testUnsupportedDType() throws {
        let dir = try corrupt { dir in
            let header = Array(#"{"x":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}}"#.utf8)
            var bytes = [UInt8](repeating: 0, count: 8)
            bytes[0] = UInt8(header.count)
            try Data(bytes + header + [UInt8](repeating: 0, count: 8)).write(to: URL(fileURLWithPath: dir + "/model.safetensors"))
        }
        try assertFails(["inspect", "--model", dir], mentions: ["model.safetensors", "C64"])
    }

    func testConfigMissingField() throws {
        let dir = try corrupt { dir in
            var json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/config.json"))) as! [String: Any]
            json.removeValue(forKey: "dim")
            try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: dir + "/config.json"))
        }
        try assertFails(["inspect", "--model", dir], mentions: ["config.json", "dim"])
    }

    func testConfigUnknownModelType() throws {
        let dir = try corrupt { dir in
            try Data(#"{"model_type": "gpt2"}"#.utf8).write(to: URL(fileURLWithPath: dir + "/config.json"))
        }
        try assertFails(["inspect", "--model", dir], mentions: ["config.json", "gpt2"])
    }

    func testMissingVocabulary() throws {
        let dir = try corrupt { try FileManager.default.removeItem(atPath: $0 + "/vocab.txt") }
        try assertFails(["inspect", "--model", dir], mentions: ["vocab.txt"])
    }

    func testMissingModelFolder() throws {
        try assertFails(["inspect", "--model", scratch.appendingPathComponent("nowhere").path], mentions: ["config.json"])
    }

    func testVocabularyLargerThanTheModelIsRefused() throws {
        let dir = try corrupt { dir in
            let vocab = try String(contentsOfFile: dir + "/vocab.txt", encoding: .utf8)
            let extra = (0..<30).map { "extra\($0)" }.joined(separator: "\n")
            try (vocab + "\n" + extra).write(toFile: dir + "/vocab.txt", atomically: true, encoding: .utf8)
        }
        try assertFails(["inspect", "--model", dir], mentions: [dir, "vocab_size is 120"])
    }

    /// A sentence longer than the model's 64 positions is cut to fit instead of reading past the table.
    func testSentencesLongerThanThePositionTableAreCut() throws {
        let long = Array(repeating: "the good film", count: 40).joined(separator: " ")
        let data = try tinyData([long + "\t1", "a bad movie\t0", long + " !\t2"])
        let result = try run(["eval", "--model", try tinyModel(), "--data", data, "--json", "--max-length", "128"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        XCTAssertEqual(json?["examples"] as? Int, 3)
    }

    // MARK: - Bad data

    func testBadDataRowNamesLine() throws {
        let data = try tinyData(["a good film\t1", "no label here"])
        try assertFails(["bench", "train-step", "--model", try tinyModel(), "--data", data, "--steps", "1"],
                        mentions: [data, "line 3"])
    }

    func testLabelOutsideModel() throws {
        let data = try tinyData(["a good film\t7"])
        try assertFails(["bench", "train-step", "--model", try tinyModel(), "--data", data, "--steps", "1"],
                        mentions: [data, "label"])
    }
}
