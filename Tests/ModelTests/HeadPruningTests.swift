import Foundation
import XCTest
@testable import Model

/// Model surgery of attention-head pruning against transformers 4.x's own `prune_heads`
/// (Tests/Fixtures/models/*-pruned-heads, scripts/make_head_pruning_fixtures.py; their logits and
/// gradients are checked in ReferenceTests): the same tensors bit for bit, the same `pruned_heads`;
/// heads that contribute nothing rank last and leave the logits alone; the pruned model saves,
/// reloads and quantizes; impossible targets and bad configs refuse with the key and the layer.
final class HeadPruningTests: XCTestCase {
    let batch = TokenBatch(sequences: [[2, 10, 11, 12, 3], [2, 40, 3], [2, 7, 8, 9, 10, 11, 12, 3]])
    /// What the fixtures removed, as transformers' `prune_heads` was given it.
    let removed = [[1, 3], [2]]

    func load(_ folder: String) throws -> SequenceClassifier {
        try SequenceClassifier.load(directory: try Fixtures.path("models/" + folder, rebuild: "scripts/make_head_pruning_fixtures.py")).model
    }

    func testPruningGivesTransformersTensorsExactly() throws {
        for family in ["distilbert", "bert"] {
            let ours = try load(family).pruningHeads(removing: removed)
            let theirs = try load(family + "-pruned-heads")
            XCTAssertEqual(ours.config.prunedHeads, [0: [1, 3], 1: [2]], family)
            XCTAssertEqual(ours.config.prunedHeads, theirs.config.prunedHeads, family)
            XCTAssertEqual(ours.layout.entries, theirs.layout.entries, family)
            for entry in ours.layout.entries {
                XCTAssertEqual(ours.parameters.values(entry), theirs.parameters.values(entry), "\(family) \(entry.name)")
            }
            XCTAssertEqual(ours.forward(batch), theirs.forward(batch), family)
        }
    }

    func testPruningInTwoStepsIsPruningOnce() throws {
        let m = try load("bert")
        // Layer 0: remove head 1, then what is now head 2 (originally 3); layer 1: head 2, then nothing.
        let twice = try m.pruningHeads(removing: [[1], [2]]).pruningHeads(removing: [[2], []])
        XCTAssertEqual(twice.config.prunedHeads, [0: [1, 3], 1: [2]])
        XCTAssertEqual(twice.forward(batch), try m.pruningHeads(removing: removed).forward(batch))
    }

    func testSilentHeadsRankLastAndLeaveTheLogits() throws {
        let m = try load("distilbert")
        let (c, hs, h) = (m.config.hiddenSize, m.config.headSize, m.config.headCount)
        let silent = [0: 2, 1: 0]   // per layer, a head whose out_lin columns are zero
        for (l, head) in silent {
            let w = m.parameter("transformer.layer.\(l).attention.out_lin.weight")
            for out in 0..<c { (w + out * c + head * hs).update(repeating: 0, count: hs) }
        }
        let logits = m.forward(batch)
        m.zeroGradients()
        m.backward(logits.map { $0 * 0.1 })   // any loss gradient: the silent heads get none
        let importance = m.headImportance()
        for (l, head) in silent {
            XCTAssertEqual(importance[l][head], 0, "layer \(l) head \(head)")
            XCTAssertTrue(importance[l].enumerated().allSatisfy { $0.offset == head || $0.element > 0 }, "layer \(l): \(importance[l])")
        }
        let pruned = try m.pruningHeads(keep: h - 1, importance: importance)
        XCTAssertEqual(pruned.config.prunedHeads, [0: [2], 1: [0]])
        XCTAssertEqual(pruned.parameterCount, m.parameterCount - m.config.layerCount * (4 * hs * c + 3 * hs))
        let worst = zip(pruned.forward(batch), logits).map { abs($0 - $1) }.max() ?? 1
        XCTAssertLessThan(worst, 1e-5, "removing silent heads changed the logits by \(worst)")
    }

    func testPrunedModelSavesReloadsAndQuantizes() throws {
        let pruned = try load("bert").pruningHeads(removing: removed)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("heads-\(UUID().uuidString.prefix(6))").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try pruned.save(directory: folder)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/config.json"))) as? [String: Any])
        XCTAssertEqual(json["pruned_heads"] as? [String: [Int]], ["0": [1, 3], "1": [2]])
        let reloaded = try SequenceClassifier.load(directory: folder).model
        XCTAssertEqual(reloaded.forward(batch), pruned.forward(batch))

        let int8 = try pruned.quantized(.int8Dynamic)
        let int8Folder = folder + "-int8"
        try (0..<pruned.config.vocabularySize).map { "[unused\($0)]" }.joined(separator: "\n").write(toFile: folder + "/vocab.txt", atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: int8Folder) }
        try int8.saveInt8Folder(int8Folder, vocabularyFrom: folder)
        let back = try XCTUnwrap(try ClassifierLoader.load(directory: int8Folder))
        XCTAssertEqual(back.logits(batch), int8.forward(batch))
        let worst = zip(int8.forward(batch), pruned.forward(batch)).map { abs($0 - $1) }.max() ?? 1
        XCTAssertLessThan(worst, 0.05, "int8 against fp32 of the pruned model")
    }

    func testImpossibleTargetsAndBadConfigsAreRefused() throws {
        let m = try load("distilbert")
        let h = m.config.headCount
        let scores = Array(repeating: [Double](repeating: 1, count: h), count: m.config.layerCount)
        XCTAssertThrowsError(try m.pruningHeads(keep: 0, importance: scores)) { XCTAssertTrue("\($0)".contains("cannot remove every head"), "\($0)") }
        XCTAssertThrowsError(try m.pruningHeads(keep: h + 1, importance: scores))
        XCTAssertThrowsError(try m.pruningHeads(keep: 2, importance: [[1]]))
        XCTAssertThrowsError(try m.pruningHeads(removing: [[0, 1, 2, 3], []])) { XCTAssertTrue("\($0)".contains("layer 0"), "\($0)") }
        XCTAssertThrowsError(try m.pruningHeads(removing: [[4], []])) { XCTAssertTrue("\($0)".contains("not 4"), "\($0)") }

        var json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath:
            try Fixtures.path("models/distilbert/config.json")))) as? [String: Any])
        for (value, message) in [(["0": [0, 1, 2, 3]], "removes every head of layer 0"), (["5": [0]], "names layer 5"),
                                 (["1": [7]], "names head 7 of layer 1"), (["x": [0]], "not a layer index")] as [([String: [Any]], String)] {
            json["pruned_heads"] = value
            XCTAssertThrowsError(try ModelConfig(json: json, file: "config.json")) { XCTAssertTrue("\($0)".contains(message), "\($0)") }
        }
        json["pruned_heads"] = ["0": ["a"]]
        XCTAssertThrowsError(try ModelConfig(json: json, file: "config.json")) { XCTAssertTrue("\($0)".contains("pruned_heads[\"0\"]"), "\($0)") }
    }
}
