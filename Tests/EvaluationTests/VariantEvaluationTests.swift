import Foundation
import XCTest
import Model
import Report
@testable import Evaluation
import Training

/// `VariantEvaluation.run` with a 3-layer teacher and a different 2-layer student (the tiny
/// fixtures): the three quantized folders are written, and every figure that relates the student
/// to the teacher (retention, speed-up) is the ratio of two independently measured values.
final class VariantEvaluationTests: XCTestCase {
    func folder(_ fixture: String, in scratch: String) throws -> String {
        let model = scratch + "/" + fixture
        try FileManager.default.createDirectory(atPath: model, withIntermediateDirectories: true)
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/models/" + fixture).path
        for name in ["config.json", "model.safetensors"] {
            try FileManager.default.copyItem(atPath: fixtures + "/" + name, toPath: model + "/" + name)
        }
        let vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "film", "the", "not"]
            + (10..<120).map { "w\($0)" }
        try vocab.joined(separator: "\n").write(toFile: model + "/vocab.txt", atomically: true, encoding: .utf8)
        return model
    }

    func testWritesVariantsAndRelatesThemToTheTeacher() throws {
        let scratch = NSTemporaryDirectory() + "edgedistill-variants-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let teacher = try folder("teacher", in: scratch), student = try folder("distilbert", in: scratch)
        let data = scratch + "/dev.tsv"
        let words = ["good", "bad", "film", "the", "not"]
        var rows = ["sentence\tlabel"]
        for i in 0..<30 { rows.append("\(words[i % 5]) \(words[(i * 3 + 1) % 5]) \(words[(i * 7 + 2) % 5])\tLABEL_\(i % 3)") }
        try (rows.joined(separator: "\n") + "\n").write(toFile: data, atomically: true, encoding: .utf8)

        var options = VariantEvaluation.Options()
        options.latencySentences = 8
        options.warmup = 2
        options.allThreads = 2
        options.throughputBatchSize = 4
        let variants = try VariantEvaluation.run(teacher: teacher, student: student, evaluationFiles: [data],
                                                 outputFolder: scratch, options: options)
        XCTAssertEqual(variants.map(\.name),
                       ["teacher fp32", "student fp32", "student fp16", "student int8", "student int8 + int8 emb"])
        for name in ["student-int8", "student-int8-emb", "student-fp16"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: scratch + "/" + name + "/model.safetensors"), name)
            XCTAssertFalse(FileManager.default.fileExists(atPath: scratch + "/" + name + ".partial"), name)
        }
        // Accuracy is the model's own: the same as evaluating the folder directly.
        let tokenizer = try BertTokenizer.load(directory: student)
        let encoded = EncodedDataset(try Dataset.load(data, options: DatasetOptions(labelNames: ["LABEL_0", "LABEL_1", "LABEL_2"])),
                                     tokenizer: tokenizer, maxLength: 32)
        let direct = Evaluator.evaluate(try SequenceClassifier.load(directory: student).model, on: encoded).metrics
        XCTAssertEqual(variants[1].evaluations[0].accuracy, direct.accuracy)
        let teacherAccuracy = variants[0].evaluations[0].accuracy
        XCTAssertGreaterThan(teacherAccuracy, 0)
        for variant in variants {
            XCTAssertEqual(variant.evaluations.count, 1)
            let evaluation = variant.evaluations[0]
            XCTAssertEqual(evaluation.retention, evaluation.accuracy / teacherAccuracy, accuracy: 1e-12, variant.name)
            XCTAssertEqual(variant.speedup, variants[0].latencyP50Ms / variant.latencyP50Ms, accuracy: 1e-9, variant.name)
            XCTAssertGreaterThan(variant.latencyP50Ms, 0)
            XCTAssertLessThanOrEqual(variant.latencyP50Ms, variant.latencyP95Ms, variant.name)
            XCTAssertLessThanOrEqual(variant.latencyP95Ms, variant.latencyP99Ms, variant.name)
            XCTAssertGreaterThan(variant.throughputExamplesPerS, 0)
            XCTAssertEqual(variant.throughputBatchSize, 4)
        }
        XCTAssertEqual(variants[0].speedup, 1)
        XCTAssertGreaterThan(variants[0].parameters, variants[1].parameters, "the teacher has a layer more")
        XCTAssertEqual(Set(variants[1...].map(\.parameters)).count, 1, "every student variant has the student's parameters")
        XCTAssertLessThan(variants[2].sizeBytes, variants[1].sizeBytes, "fp16 is smaller than fp32")
        XCTAssertLessThan(variants[4].sizeBytes, variants[3].sizeBytes, "int8 embeddings shrink the int8 file")
        // report.json's rows carry the batch size as a value, not in a key's name.
        let objects = try VariantReport.jsonObjects(variants)
        let first = try XCTUnwrap(objects.first as? [String: Any])
        XCTAssertEqual(first["throughput_batch_size"] as? Int, 4)
        XCTAssertNil(first["throughput_batch32"])
        XCTAssertEqual(try VariantFigures(json: first), variants[0])
    }
}
