import Foundation
import XCTest
import Model
@testable import Training

/// `VariantEvaluation.run` on the tiny fixture (teacher and student are the same tiny model): the
/// three quantized folders are written, and every row has exactly the keys the report renderer reads.
final class VariantEvaluationTests: XCTestCase {
    static let keys: Set<String> = [
        "name", "path", "size_bytes", "parameters", "evaluations", "latency_p50_ms", "latency_p95_ms",
        "latency_p99_ms", "latency_p50_ms_all_threads", "latency_p95_ms_all_threads", "latency_p99_ms_all_threads",
        "throughput_batch32", "speedup", "peak_rss_bytes",
    ]

    func testWritesVariantsAndReportsEveryKey() throws {
        let scratch = NSTemporaryDirectory() + "edgedistill-variants-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let model = scratch + "/student"
        try FileManager.default.createDirectory(atPath: model, withIntermediateDirectories: true)
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/models/distilbert").path
        for name in ["config.json", "model.safetensors"] {
            try FileManager.default.copyItem(atPath: fixtures + "/" + name, toPath: model + "/" + name)
        }
        let vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "film", "the", "not"]
            + (10..<120).map { "w\($0)" }
        try vocab.joined(separator: "\n").write(toFile: model + "/vocab.txt", atomically: true, encoding: .utf8)
        let data = scratch + "/dev.tsv"
        try "sentence\tlabel\nthe good film\tLABEL_0\nnot bad\tLABEL_1\nbad film\tLABEL_2\n"
            .write(toFile: data, atomically: true, encoding: .utf8)

        var options = VariantEvaluation.Options()
        options.latencySentences = 4
        options.warmup = 1
        options.allThreads = 2
        let rows = try VariantEvaluation.run(teacher: model, student: model, evaluationFiles: [data],
                                             outputFolder: scratch, options: options)
        XCTAssertEqual(rows.map { $0["name"] as? String },
                       ["teacher fp32", "student fp32", "student fp16", "student int8", "student int8 + int8 emb"])
        for folder in ["student-int8", "student-int8-emb", "student-fp16"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: scratch + "/" + folder + "/model.safetensors"), folder)
            XCTAssertFalse(FileManager.default.fileExists(atPath: scratch + "/" + folder + ".partial"), folder)
        }
        for row in rows {
            XCTAssertEqual(Set(row.keys), Self.keys, "\(row["name"] ?? "")")
            let evaluations = try XCTUnwrap(row["evaluations"] as? [[String: Any]])
            XCTAssertEqual(evaluations.count, 1)
            XCTAssertEqual(Set(evaluations[0].keys), ["file", "accuracy", "macro_f1", "retention"])
            XCTAssertGreaterThan(row["latency_p50_ms"] as? Double ?? 0, 0)
            XCTAssertGreaterThan(row["throughput_batch32"] as? Double ?? 0, 0)
            XCTAssertEqual(row["parameters"] as? Int, rows[0]["parameters"] as? Int)
        }
        XCTAssertEqual(rows[0]["speedup"] as? Double, 1)
        XCTAssertEqual((rows[1]["evaluations"] as? [[String: Any]])?.first?["retention"] as? Double, 1)
        let size = { (i: Int) in rows[i]["size_bytes"] as? Int ?? 0 }
        XCTAssertLessThan(size(2), size(1), "fp16 is smaller than fp32")
        XCTAssertLessThan(size(4), size(3), "int8 embeddings shrink the int8 file")
        XCTAssertTrue(JSONSerialization.isValidJSONObject(rows))
    }
}
