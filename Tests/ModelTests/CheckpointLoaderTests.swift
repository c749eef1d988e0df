import Foundation
import XCTest
@testable import Model

/// Loading checkpoints of each supported class and layout, conversion, saving, students, and
/// every kind of bad checkpoint giving an error that names the file and the problem.
final class CheckpointLoaderTests: XCTestCase {
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("edgedistill-loader-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: scratch) }

    /// Copies a fixture model folder and lets the test rewrite its tensors.
    func copyFixture(_ family: String, transform: ([String: (DType, [Int], [UInt8])]) -> [String: (DType, [Int], [UInt8])] = { $0 }) throws -> String {
        let source = try Fixtures.path("models/\(family)")
        let dir = scratch.appendingPathComponent(family + "-\(UUID().uuidString.prefix(6))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: source + "/config.json", toPath: dir + "/config.json")
        let file = try SafetensorsFile(path: source + "/model.safetensors")
        var tensors: [String: (DType, [Int], [UInt8])] = [:]
        for name in file.names {
            let info = file.info(name)!
            tensors[name] = (info.dtype, info.shape, Array(try file.rawBytes(name)))
        }
        let written = transform(tensors).map { SafetensorsWriter.Tensor(name: $0.key, dtype: $0.value.0, shape: $0.value.1, bytes: $0.value.2) }
        try SafetensorsWriter.write(written, to: dir + "/model.safetensors")
        return dir
    }

    func assertLoadFails(_ dir: String, contains expected: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try SequenceClassifier.load(directory: dir), file: file, line: line) { error in
            guard let error = error as? ModelError else { return XCTFail("not a ModelError: \(error)", file: file, line: line) }
            XCTAssertTrue(error.description.contains(expected), "\(error) lacks '\(expected)'", file: file, line: line)
            XCTAssertNotNil(error.file, file: file, line: line)
        }
    }

    func testDistilBERTModelWithoutHeadGetsSeededHead() throws {
        let dir = try copyFixture("distilbert") { $0.filter { !$0.key.hasPrefix("pre_classifier") && !$0.key.hasPrefix("classifier") } }
        let a = try SequenceClassifier.load(directory: dir, seed: 5), b = try SequenceClassifier.load(directory: dir, seed: 5)
        let c = try SequenceClassifier.load(directory: dir, seed: 6)
        XCTAssertTrue(a.initializedHead)
        let w = a.model.layout["classifier.weight"]!
        XCTAssertEqual(a.model.parameters.values(w), b.model.parameters.values(w))
        XCTAssertNotEqual(a.model.parameters.values(w), c.model.parameters.values(w))
        // transformers' init: N(0, initializer_range); biases zero.
        let pre = a.model.parameters.values(a.model.layout["pre_classifier.weight"]!)
        let std = (pre.map { $0 * $0 }.reduce(0, +) / Float(pre.count)).squareRoot()
        XCTAssertEqual(std, Float(a.model.config.initializerRange), accuracy: 0.1 * Float(a.model.config.initializerRange))
        XCTAssertEqual(a.model.parameters.values(a.model.layout["classifier.bias"]!), [0, 0, 0])
    }

    func testPrefixlessAndPrefixedKeysLoadTheSame() throws {
        let plain = try copyFixture("distilbert") {
            Dictionary(uniqueKeysWithValues: $0.map { (CheckpointKeys.stripPrefix($0.key), $0.value) })
        }
        let a = try SequenceClassifier.load(directory: plain).model
        let b = try SequenceClassifier.load(directory: try Fixtures.path("models/distilbert")).model
        XCTAssertEqual(a.parameters.checksum(), b.parameters.checksum())
    }

    func testSaveAndReloadKeepsLogits() throws {
        for family in ["distilbert", "bert"] {
            let model = try SequenceClassifier.load(directory: try Fixtures.path("models/\(family)")).model
            let batch = TokenBatch(sequences: [[2, 17, 40, 3], [2, 9, 3]])
            let before = model.forward(batch)
            let dir = scratch.appendingPathComponent("saved-\(family)").path
            try model.save(directory: dir)
            let reloaded = try SequenceClassifier.load(directory: dir).model
            XCTAssertEqual(reloaded.headActivation, model.headActivation)
            XCTAssertLessThan(relativeError(reloaded.forward(batch), before), 1e-6, family)
            XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: dir).contains { $0.contains(".tmp") })
        }
    }

    func testStudentTakesChosenTeacherLayers() throws {
        let teacher = try SequenceClassifier.load(directory: try Fixtures.path("models/teacher")).model
        XCTAssertEqual(SequenceClassifier.evenlySpacedLayers(2, of: 6), [0, 3])
        XCTAssertEqual(SequenceClassifier.evenlySpacedLayers(6, of: 12), [0, 2, 4, 6, 8, 10])
        // Hidden-state targets: the input of the next taken layer, and the teacher's last state.
        XCTAssertEqual(SequenceClassifier.hiddenStateTargets(layers: [0, 3], teacherLayerCount: 6), [3, 6])
        XCTAssertEqual(SequenceClassifier.hiddenStateTargets(layers: [0, 5], teacherLayerCount: 6), [5, 6])
        XCTAssertEqual(SequenceClassifier.hiddenStateTargets(layers: [2, 0], teacherLayerCount: 3), [0, 3])
        XCTAssertEqual(SequenceClassifier.hiddenStateTargets(layers: [1], teacherLayerCount: 3), [3])
        let student = try teacher.student(layers: [2, 0])
        XCTAssertEqual(student.config.layerCount, 2)
        for suffix in ["attention.q_lin.weight", "ffn.lin2.bias", "output_layer_norm.weight"] {
            let s0 = student.parameters.values(student.layout["transformer.layer.0." + suffix]!)
            let t2 = teacher.parameters.values(teacher.layout["transformer.layer.2." + suffix]!)
            XCTAssertEqual(s0, t2)
        }
        XCTAssertEqual(student.parameters.values(student.layout["classifier.weight"]!),
                       teacher.parameters.values(teacher.layout["classifier.weight"]!))
        XCTAssertThrowsError(try teacher.student(layers: [3])) { XCTAssertTrue("\($0)".contains("layer 3 does not exist")) }
        XCTAssertThrowsError(try teacher.student(layers: []))
    }

    // MARK: - Bad checkpoints

    func testMissingTensorIsNamed() throws {
        let dir = try copyFixture("bert") { $0.filter { $0.key != "encoder.layer.1.output.dense.weight" } }
        assertLoadFails(dir, contains: "encoder.layer.1.output.dense.weight")
    }

    func testWrongShapeIsNamed() throws {
        let dir = try copyFixture("distilbert") { t in
            var t = t
            t["distilbert.transformer.layer.0.ffn.lin1.bias"] = (.f32, [63], [UInt8](repeating: 0, count: 63 * 4))
            return t
        }
        assertLoadFails(dir, contains: "'distilbert.transformer.layer.0.ffn.lin1.bias' has shape [63], expected [64]")
    }

    func testUnknownArchitecture() throws {
        let dir = try copyFixture("distilbert") { _ in ["h.0.attn.c_attn.weight": (.f32, [2], [UInt8](repeating: 0, count: 8))] }
        assertLoadFails(dir, contains: "unknown architecture")
    }

    func testMissingSafetensors() throws {
        let dir = scratch.appendingPathComponent("empty").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: try Fixtures.path("models/distilbert/config.json"), toPath: dir + "/config.json")
        assertLoadFails(dir, contains: "missing model.safetensors")
    }

    func testUnusedKeysAreReported() throws {
        let dir = try copyFixture("distilbert") { t in
            var t = t
            t["distilbert.extra.weight"] = (.f32, [1], [0, 0, 0, 0])
            return t
        }
        XCTAssertEqual(try SequenceClassifier.load(directory: dir).unusedKeys, ["distilbert.extra.weight"])
    }
}
