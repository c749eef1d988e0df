import Foundation
import XCTest
import Model

/// `predict` as a server on a pipe, and models that must not be served.
final class ServingTests: CLITestCase {
    /// The tiny model with one weight of `tensor` set to NaN (as a diverged run would leave it).
    func brokenModel(tensor: String) throws -> String {
        let dir = try tinyModel()
        let file = try SafetensorsFile(path: dir + "/model.safetensors")
        let tensors = try file.names.map { name -> SafetensorsWriter.Tensor in
            let info = try XCTUnwrap(file.info(name))
            var bytes = Array(try file.rawBytes(name))
            if name.hasSuffix(tensor) { withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { bytes.replaceSubrange(0..<4, with: $0) } }
            return SafetensorsWriter.Tensor(name: name, dtype: info.dtype, shape: info.shape, bytes: bytes)
        }
        try SafetensorsWriter.write(tensors, to: dir + "/model.safetensors")
        return dir
    }

    func testModelsWithNonFiniteWeightsAreRefusedNamingTheTensor() throws {
        let model = try brokenModel(tensor: "transformer.layer.1.ffn.lin1.weight")
        let data = try tinyData(["good film\t0", "bad film\t1"])
        try assertFails(["eval", "--model", model, "--data", data], mentions: ["transformer.layer.1.ffn.lin1.weight", "non-finite"])
        try assertFails(["predict", "--model", model, "good"], mentions: ["transformer.layer.1.ffn.lin1.weight", "non-finite"])
        // Quantizing it is refused the same way, and writes nothing.
        let out = scratch.appendingPathComponent("q").path
        try assertFails(["quantize", "--model", model, "--int8", "--out", out], mentions: ["non-finite"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }

    /// Each line is answered before the next is sent: the answer cannot come from reading all of stdin.
    func testPredictAnswersEachLineAsItArrives() throws {
        let process = Process()
        process.executableURL = try binary()
        process.arguments = ["predict", "--model", try tinyModel(), "--max-line-bytes", "64"]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        let reader = output.fileHandleForReading
        var received = Data()
        func answer(to line: String) throws -> [String: Any] {
            input.fileHandleForWriting.write(Data((line + "\n").utf8))
            let deadline = Date().addingTimeInterval(20)
            while !received.contains(UInt8(ascii: "\n")), Date() < deadline {
                received.append(reader.availableData)
            }
            let newline = try XCTUnwrap(received.firstIndex(of: UInt8(ascii: "\n")), "no answer to \(line)")
            let answer = received[..<newline]
            received = Data(received[(newline + 1)...])
            return try XCTUnwrap(try JSONSerialization.jsonObject(with: answer) as? [String: Any])
        }
        XCTAssertNotNil(try answer(to: #"{"text": "a good film"}"#)["label"])
        XCTAssertEqual(try answer(to: "")["line"] as? Int, 2, "a blank line gets an error line of its own")
        XCTAssertNotNil(try answer(to: #""bad""#)["probabilities"])
        let long = try answer(to: "\"" + String(repeating: "very ", count: 100) + "long\"")
        XCTAssertTrue((long["error"] as? String)?.contains("--max-line-bytes") == true, "\(long)")
        XCTAssertEqual(long["line"] as? Int, 4)
        XCTAssertEqual(try answer(to: "not json")["line"] as? Int, 5)
        XCTAssertNotNil(try answer(to: #"{"text": "the movie"}"#)["label"], "served on after errors")
        input.fileHandleForWriting.closeFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 1, "inputs that could not be classified make the exit status 1")
    }
}
