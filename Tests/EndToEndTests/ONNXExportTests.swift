import Foundation
import XCTest
import Model

/// `edgedistill export` on the tiny model: ONNX Runtime (the onnxruntime wheel, no PyTorch) runs
/// the file on a padded batch of sentences of different lengths and gives our logits, within
/// `fp32Tolerance` for fp32 and `int8Tolerance` for int8 (the exported graph quantizes each row as
/// we do and sums in int32 as we do, so only float rounding and rounding ties separate them).
final class ONNXExportTests: CLITestCase {
    static let fp32Tolerance: Float = 1e-4   // relative to the largest |logit|
    static let int8Tolerance: Float = 1e-2  // a value on a rounding tie may land one level apart

    /// ONNX Runtime's logits for `ids` (rows padded with 0, masked).
    func onnxRuntimeLogits(_ file: String, ids: [[Int32]]) throws -> [[Float]] {
        let width = ids.map(\.count).max() ?? 0
        let inputs: [String: Any] = [
            "input_ids": ids.map { $0.map(Int.init) + [Int](repeating: 0, count: width - $0.count) },
            "attention_mask": ids.map { [Int](repeating: 1, count: $0.count) + [Int](repeating: 0, count: width - $0.count) },
        ]
        let path = scratch.appendingPathComponent("inputs-\(UUID().uuidString.prefix(6)).json").path
        try JSONSerialization.data(withJSONObject: inputs).write(to: URL(fileURLWithPath: path))
        let script = Self.packageRoot.appendingPathComponent("scripts/onnx_run.py").path
        let result = try runToEnd(URL(fileURLWithPath: "/usr/bin/env"), ["python3", script, file, path])
        guard result.status == 0 else {
            XCTFail("ONNX Runtime could not run \(file) (make test installs the onnxruntime wheel; pip install onnxruntime): \(result.stderr)")
            throw CocoaError(.featureUnsupported)
        }
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        return try XCTUnwrap(object?["logits"] as? [[Double]]).map { $0.map(Float.init) }
    }

    func testExportedModelsGiveOurLogitsInONNXRuntime() throws {
        let model = try tinyModel()
        let int8 = scratch.appendingPathComponent("int8").path, int8Words = scratch.appendingPathComponent("int8-emb").path
        XCTAssertEqual(try run(["quantize", "--model", model, "--int8", "--out", int8]).status, 0)
        XCTAssertEqual(try run(["quantize", "--model", model, "--int8", "--int8-embeddings", "--out", int8Words]).status, 0)
        // Heads pruned by transformers (pruned_heads, narrower attention in each layer), fp32 and int8.
        let pruned = try tinyModel(fixture: "distilbert-pruned-heads"), prunedInt8 = scratch.appendingPathComponent("pruned-int8").path
        XCTAssertEqual(try run(["quantize", "--model", pruned, "--int8", "--out", prunedInt8]).status, 0)
        let out = scratch.appendingPathComponent("onnx").path
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let tokenizer = try BertTokenizer.load(directory: model)
        let sentences = ["a good film", "it is not a bad movie , and it is great !", "bad", "the film of the movie is good and not bad"]
        let ids = sentences.map { tokenizer.encode($0, maxLength: 32) }
        for (folder, tolerance) in [(model, Self.fp32Tolerance), (int8, Self.int8Tolerance), (int8Words, Self.int8Tolerance),
                                    (pruned, Self.fp32Tolerance), (prunedInt8, Self.int8Tolerance)] {
            let file = out + "/" + (folder as NSString).lastPathComponent + ".onnx"
            let exported = try run(["export", "--model", folder, "--onnx", file])
            XCTAssertEqual(exported.status, 0, exported.stderr)
            for name in ["vocab.txt", "config.json"] { XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/" + name), name) }
            let ours = try XCTUnwrap(try ClassifierLoader.load(directory: folder)).logits(TokenBatch(sequences: ids))
            let theirs = try onnxRuntimeLogits(file, ids: ids)
            let k = ours.count / ids.count
            let largest = ours.map(abs).max() ?? 1
            var worst: Float = 0
            for (row, values) in theirs.enumerated() {
                XCTAssertEqual(values.count, k)
                for (j, value) in values.enumerated() { worst = max(worst, abs(value - ours[row * k + j]) / largest) }
                let argmax = { (v: [Float]) in v.indices.max { v[$0] < v[$1] } }
                XCTAssertEqual(argmax(values), argmax(Array(ours[(row * k)..<((row + 1) * k)])), "row \(row) of \(file)")
            }
            print("onnx export: \(file): largest logit difference \(worst) of the largest logit")
            XCTAssertLessThan(worst, tolerance, file)
        }
    }

    func testBadExportsAreClearErrors() throws {
        let model = try tinyModel()
        let missing = scratch.appendingPathComponent("no/such/folder/model.onnx").path
        try assertFails(["export", "--model", model, "--onnx", missing], mentions: ["does not exist"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: missing))
        try assertFails(["export", "--model", model, "--onnx", scratch.appendingPathComponent("model.bin").path], mentions: [".onnx"])
        try assertFails(["export", "--model", try tinyEncoder(), "--onnx", scratch.appendingPathComponent("m.onnx").path],
                        mentions: ["no trained classification head"])
    }
}
