import Foundation
import XCTest
import Model

/// `edgedistill prune-vocab` on the tiny model: the pruned folder keeps the special tokens, the
/// characters and the pieces of the texts, and gives exactly the original probabilities on texts
/// whose pieces were all kept; words with pruned pieces are spelled from kept ones, never lost.
final class VocabularyPruningTests: CLITestCase {
    func probabilities(_ model: String, _ texts: [String]) throws -> [[String: Double]] {
        let result = try run(["predict", "--model", model] + texts)
        XCTAssertEqual(result.status, 0, result.stderr)
        return try result.stdout.split(separator: "\n").map {
            try XCTUnwrap(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])["probabilities"] as? [String: Double] ?? [:]
        }
    }

    func testPrunedModelKeepsWhatTheTextsUseAndTheirPredictions() throws {
        let model = try tinyModel()
        let texts = try tinyData(["a good film\t0", "the movie is bad\t1", "it is not great !\t0", "good and bad\t1"])
        let out = scratch.appendingPathComponent("pruned").path
        let result = try run(["prune-vocab", "--model", model, "--texts", texts, "--eval", texts, "--out", out, "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let summary = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let before = try XCTUnwrap(summary["vocabulary_before"] as? Int), after = try XCTUnwrap(summary["vocabulary_after"] as? Int)
        XCTAssertLessThan(after, before)
        let vocabulary = try Vocabulary.load(directory: out)
        for token in ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "film", "!", "a", "##a"] {
            XCTAssertNotNil(vocabulary.id(of: token), "\(token) was pruned")
        }
        XCTAssertNil(vocabulary.id(of: "[unused100]"), "a token no text uses was kept")
        XCTAssertEqual(try ModelConfig.load(directory: out).vocabularySize, after)
        // Same predictions where every piece was kept (ids remapped, rows copied).
        let sentences = ["a good film", "the movie is bad", "good and bad"]
        XCTAssertEqual(try probabilities(out, sentences), try probabilities(model, sentences))
        let changes = try XCTUnwrap(summary["changed:" + texts] as? [String: Double])
        XCTAssertEqual(changes["tokens_with_a_pruned_piece"], 0, "the texts pruned with are unchanged")
        // A word whose piece is gone is spelled from kept pieces, not lost to [UNK].
        let spelled = try run(["predict", "--model", out, "--ids", "of"])
        let ids = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(spelled.stdout.utf8)) as? [String: Any])["ids"] as? [Int]
        XCTAssertEqual(ids?.count, 4, "[CLS] o ##f [SEP]: \(spelled.stdout)")
        XCTAssertFalse(ids?.contains(Int(vocabulary.unkID)) ?? true)
    }

    func testBadPruningInputsAreClearErrors() throws {
        let model = try tinyModel()
        let texts = try tinyData(["a good film\t0"])
        let out = scratch.appendingPathComponent("p").path
        try assertFails(["prune-vocab", "--model", model, "--texts", texts, "--min-count", "0", "--out", out], mentions: ["--min-count"])
        try assertFails(["prune-vocab", "--model", model, "--out", out], mentions: ["--texts"])
        let int8 = scratch.appendingPathComponent("int8").path
        XCTAssertEqual(try run(["quantize", "--model", model, "--int8", "--out", int8]).status, 0)
        try assertFails(["prune-vocab", "--model", int8, "--texts", texts, "--out", out], mentions: [int8])
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "a refused pruning wrote a folder")
    }

    /// A vocab.txt from another model beside a model: the original one beside a pruned model (larger
    /// than the embeddings), and the pruned one beside the original (smaller, so only the vocabulary
    /// recorded at writing catches it, as ids would silently name other rows). Every command that
    /// reads the folder refuses and names vocab.txt; nothing is written.
    func testAVocabularyFromAnotherModelIsRefused() throws {
        let model = try tinyModel()
        let texts = try tinyData(["a good film\t0", "the movie is bad\t1"])
        let pruned = scratch.appendingPathComponent("pruned").path, full = scratch.appendingPathComponent("full").path
        XCTAssertEqual(try run(["prune-vocab", "--model", model, "--texts", texts, "--out", pruned]).status, 0)
        XCTAssertEqual(try run(["quantize", "--model", model, "--fp16", "--out", full]).status, 0)
        let (prunedVocabulary, fullVocabulary) = (try String(contentsOfFile: pruned + "/vocab.txt", encoding: .utf8),
                                                  try String(contentsOfFile: model + "/vocab.txt", encoding: .utf8))
        // The fixture model was not written by EdgeDistill (no recorded vocabulary): its size is checked.
        let larger = fullVocabulary + "\n" + (0..<50).map { "[extra\($0)]" }.joined(separator: "\n")
        let swapped = [(model, larger, "does not belong to this model"), (pruned, fullVocabulary, "written with this model"),
                       (full, prunedVocabulary, "written with this model")]
        for (folder, vocabulary, message) in swapped {
            try vocabulary.write(toFile: folder + "/vocab.txt", atomically: true, encoding: .utf8)
            let out = scratch.appendingPathComponent("out-\(UUID().uuidString.prefix(6))").path
            for command in [["predict", "--model", folder, "good"], ["eval", "--model", folder, "--data", texts],
                            ["quantize", "--model", folder, "--int8", "--out", out], ["export", "--model", folder, "--onnx", out + ".onnx"],
                            ["prune-vocab", "--model", folder, "--texts", texts, "--out", out]] {
                try assertFails(command, mentions: [message])
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: out), "a refused command wrote \(out)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: out + ".onnx"))
        }
    }
}
