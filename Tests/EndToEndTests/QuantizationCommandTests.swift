import Foundation
import XCTest
import Model

/// `quantize`, `predict` and `bench latency` through the real binary on the tiny model: every
/// variant loads in eval, predict and bench; bad inputs (corrupt file, unknown scheme, empty text,
/// over-long text, invalid UTF-8 or JSON on stdin) give a clear error or a defined result.
final class QuantizationCommandTests: CLITestCase {
    /// Runs the binary with `input` on standard input.
    func run(_ arguments: [String], input: Data) throws -> Result {
        try runToEnd(try binary(), arguments, input: input)
    }

    func jsonLines(_ text: String) throws -> [[String: Any]] {
        try text.split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any], String($0))
        }
    }

    /// The tiny model quantized with `flags` into a new folder.
    func quantized(_ model: String, _ flags: [String]) throws -> String {
        let out = scratch.appendingPathComponent("q-\(UUID().uuidString.prefix(6))").path
        let result = try run(["quantize", "--model", model, "--out", out, "--json"] + flags)
        XCTAssertEqual(result.status, 0, result.stderr)
        return out
    }

    func testEveryVariantServesEvalPredictAndBench() throws {
        let model = try tinyModel()
        let data = try tinyData(["the film is good .\t0", "a bad movie !\t1", "it is not great\t2", "good and bad\t1"])
        for flags in [["--int8"], ["--int8", "--int8-embeddings"], ["--fp16"]] {
            let dir = try quantized(model, flags)
            let eval = try run(["eval", "--model", dir, "--data", data, "--json"])
            XCTAssertEqual(eval.status, 0, "\(flags): \(eval.stderr)")
            let metrics = try JSONSerialization.jsonObject(with: Data(eval.stdout.utf8)) as? [String: Any]
            XCTAssertEqual(metrics?["examples"] as? Int, 4)

            let predict = try run(["predict", "--model", dir, "the film is good", "bad"])
            XCTAssertEqual(predict.status, 0, predict.stderr)
            let lines = try jsonLines(predict.stdout)
            XCTAssertEqual(lines.count, 2)
            for line in lines {
                let probabilities = try XCTUnwrap(line["probabilities"] as? [String: Double])
                XCTAssertEqual(probabilities.count, 3)
                XCTAssertEqual(probabilities.values.reduce(0, +), 1, accuracy: 1e-5)
                XCTAssertNotNil(line["label"] as? String)
                XCTAssertEqual(line["truncated"] as? Bool, false)
            }

            let bench = try run(["bench", "latency", "--model", dir, "--data", data, "--threads", "1",
                                 "--sentences", "6", "--warmup", "2", "--throughput-batch-size", "2", "--json"])
            XCTAssertEqual(bench.status, 0, bench.stderr)
            let json = try JSONSerialization.jsonObject(with: Data(bench.stdout.utf8)) as? [String: Any]
            for key in ["p50_ms", "p95_ms", "p99_ms", "examples_per_s", "throughput_examples_per_s"] {
                XCTAssertGreaterThan((json?[key] as? Double) ?? 0, 0, "\(flags) \(key): \(bench.stdout)")
            }
            XCTAssertGreaterThan((json?["peak_rss_bytes"] as? Int) ?? 0, 0)
            XCTAssertEqual(json?["sentences"] as? Int, 6)
        }
    }

    /// `bench variants` quantizes, measures every variant and writes variants.json and its report.
    func testBenchVariantsWritesEveryRow() throws {
        let model = try tinyModel()
        let data = try tinyData(["the film is good .\t0", "a bad movie !\t1", "it is not great\t2", "good and bad\t1"])
        let out = scratch.appendingPathComponent("variants").path
        let result = try run(["bench", "variants", "--teacher", model, "--student", model, "--eval", data, "--out", out,
                              "--latency-sentences", "4", "--all-threads", "1", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let rows = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]], result.stdout)
        XCTAssertEqual(rows.count, 5, result.stdout)
        let written = try Data(contentsOf: URL(fileURLWithPath: out + "/variants.json"))
        XCTAssertEqual((try JSONSerialization.jsonObject(with: written) as? [Any])?.count, 5)
        for file in ["report.md", "model_comparison.svg", "model_comparison.png"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/" + file), file)
        }
    }

    func testPredictReadsJSONLinesAndReportsBadLines() throws {
        let dir = try quantized(try tinyModel(), ["--int8"])
        var input = Data("{\"text\": \"a good movie\"}\n\"it is bad\"\n\n{\"text\": \"\"}\n".utf8)
        input.append(contentsOf: [0x7B, 0x22, 0x74, 0xFF, 0xFE, 0x0A])   // invalid UTF-8 line
        input.append(Data("not json\n{\"other\": 1}\n".utf8))
        input.append(Data(("{\"text\": \"" + Array(repeating: "good film", count: 200).joined(separator: " ") + "\"}\n").utf8))
        let result = try run(["predict", "--model", dir, "--max-length", "16"], input: input)
        XCTAssertEqual(result.status, 1, "bad lines make the exit status 1")
        XCTAssertFalse(result.stderr.contains("Fatal error"), result.stderr)
        let lines = try jsonLines(result.stdout)
        // One output line per input line, a blank one included, so outputs line up with inputs.
        XCTAssertEqual(lines.count, 8, result.stdout)
        XCTAssertNotNil(lines[0]["label"]); XCTAssertNotNil(lines[1]["label"])
        XCTAssertTrue((lines[2]["error"] as? String)?.hasPrefix("blank line") == true); XCTAssertEqual(lines[2]["line"] as? Int, 3)
        XCTAssertEqual(lines[3]["error"] as? String, "empty text"); XCTAssertEqual(lines[3]["line"] as? Int, 4)
        XCTAssertEqual(lines[4]["error"] as? String, "line is not valid UTF-8"); XCTAssertEqual(lines[4]["line"] as? Int, 5)
        XCTAssertTrue((lines[5]["error"] as? String)?.contains("not valid JSON") == true)
        XCTAssertTrue((lines[6]["error"] as? String)?.contains("expected {\"text\"") == true)
        XCTAssertEqual(lines[7]["truncated"] as? Bool, true)
        XCTAssertEqual(lines[7]["tokens"] as? Int, 16)
        XCTAssertTrue(result.stderr.contains("longer than 16 tokens"), result.stderr)
    }

    func testEmptyTextArgumentIsAnError() throws {
        let result = try run(["predict", "--model", try tinyModel(), "", "good"])
        XCTAssertEqual(result.status, 1)
        let lines = try jsonLines(result.stdout)
        XCTAssertEqual(lines.first?["error"] as? String, "empty text")
        XCTAssertNotNil(lines.last?["label"])
    }

    func testCorruptAndUnknownQuantizedFilesFailCleanly() throws {
        let model = try tinyModel()
        let data = try tinyData(["good\t0"])
        let dir = try quantized(model, ["--int8"])
        let path = dir + "/model.safetensors"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[bytes.count - 10] ^= 0x11
        try bytes.write(to: URL(fileURLWithPath: path))
        for command in [["eval", "--model", dir, "--data", data], ["predict", "--model", dir, "good"],
                        ["bench", "latency", "--model", dir, "--data", data]] {
            try assertFails(command, mentions: ["model.safetensors", "checksum mismatch"])
        }
        try bytes.prefix(bytes.count / 3).write(to: URL(fileURLWithPath: path))
        try assertFails(["predict", "--model", dir, "good"], mentions: ["model.safetensors", "truncated"])

        // An unknown scheme: the header's metadata rewritten in place (same length, so offsets hold).
        let fresh = try quantized(model, ["--int8"])
        var header = try Data(contentsOf: URL(fileURLWithPath: fresh + "/model.safetensors"))
        let range = try XCTUnwrap(header.range(of: Data("int8-dynamic".utf8)))
        header.replaceSubrange(range, with: Data("int4-magical".utf8))
        try header.write(to: URL(fileURLWithPath: fresh + "/model.safetensors"))
        try assertFails(["eval", "--model", fresh, "--data", data], mentions: ["unknown quantization scheme 'int4-magical'"])
    }

    func testPredictAndBenchRejectBadLengthsAndThreads() throws {
        let model = try tinyModel()
        let data = try tinyData(["good\t0"])
        for flags in [["--max-length", "0"], ["--max-length", "2"], ["--threads", "0"]] {
            for command in [["predict", "--model", model, "good"], ["bench", "latency", "--model", model, "--data", data]] {
                let result = try run(command + flags)
                XCTAssertNotEqual(result.status, 0, "\(command) \(flags)")
                XCTAssertTrue(result.stderr.contains(flags[0]), result.stderr)
                XCTAssertFalse(result.stderr.contains("Fatal error"))
            }
        }
    }

    func testQuantizeRejectsBadFlags() throws {
        let model = try tinyModel()
        for flags in [[String](), ["--int8", "--fp16"], ["--int8-embeddings"]] {
            let result = try run(["quantize", "--model", model, "--out", scratch.appendingPathComponent("x").path] + flags)
            XCTAssertNotEqual(result.status, 0, "\(flags)")
            XCTAssertFalse(result.stderr.contains("Fatal error"))
        }
    }
}
