import Foundation
import XCTest
import Model

/// `edgedistill prune` on a tiny distilled student: fewer heads and a smaller FFN in the standard layout, distilled
/// again from its teacher, that `eval` and `export` take like any model.
final class PruneTests: CLITestCase {
    func testPrunedStudentIsSmallerAndLoadsEverywhere() throws {
        let run = scratch.appendingPathComponent("run").path
        let options = try tinyRunOptions(out: run, seed: 13, epochs: 1)
        XCTAssertEqual(try self.run(["run"] + options).status, 0)
        var arguments = options
        if let index = arguments.firstIndex(of: "--teacher") { arguments[index + 1] = run + "/teacher" }
        let out = scratch.appendingPathComponent("pruned").path
        if let index = arguments.firstIndex(of: "--out") { arguments[index + 1] = out }
        let result = try self.run(["prune", "--model", run + "/student", "--heads", "2", "--ffn", "16", "--importance-batches", "5", "--json"] + arguments)
        XCTAssertEqual(result.status, 0, result.stderr)
        let summary = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(summary["ffn_after"] as? Int, 16)
        XCTAssertLessThan(summary["parameters_after"] as? Int ?? .max, summary["parameters_before"] as? Int ?? 0)
        XCTAssertGreaterThan(summary["steps"] as? Int ?? 0, 0, "the pruned student is distilled again")
        let config = try ModelConfig.load(directory: out + "/student")
        XCTAssertEqual(config.intermediateSize, 16)
        let two = [Int](repeating: 2, count: config.layerCount)
        XCTAssertEqual((0..<config.layerCount).map { config.heads(inLayer: $0) }, two)
        XCTAssertEqual(summary["heads_after"] as? [Int], two)
        let data = try XCTUnwrap(arguments.firstIndex(of: "--eval")).advanced(by: 1)
        XCTAssertEqual(try self.run(["eval", "--model", out + "/student", "--data", arguments[data]]).status, 0)
        XCTAssertEqual(try self.run(["export", "--model", out + "/student", "--onnx", scratch.appendingPathComponent("p.onnx").path]).status, 0)
        // Impossible targets, and an existing result without --overwrite.
        try assertFails(["prune", "--model", run + "/student", "--ffn", "0"] + arguments, mentions: ["--overwrite"])
        try assertFails(["prune", "--model", run + "/student", "--ffn", "0", "--overwrite"] + arguments, mentions: ["cannot remove every neuron"])
        try assertFails(["prune", "--model", run + "/student", "--heads", "0", "--overwrite"] + arguments, mentions: ["cannot remove every head"])
        try assertFails(["prune", "--model", run + "/student", "--overwrite"] + arguments, mentions: ["--heads N, --ffn N or both"])
    }
}
