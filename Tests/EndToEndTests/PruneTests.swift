import Foundation
import XCTest
import Model

/// `edgedistill prune` on a tiny distilled student: a smaller FFN in the standard layout, distilled
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
        let result = try self.run(["prune", "--model", run + "/student", "--ffn", "16", "--importance-batches", "5", "--json"] + arguments)
        XCTAssertEqual(result.status, 0, result.stderr)
        let summary = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(summary["ffn_after"] as? Int, 16)
        XCTAssertLessThan(summary["parameters_after"] as? Int ?? .max, summary["parameters_before"] as? Int ?? 0)
        XCTAssertGreaterThan(summary["steps"] as? Int ?? 0, 0, "the pruned student is distilled again")
        XCTAssertEqual(try ModelConfig.load(directory: out + "/student").intermediateSize, 16)
        let data = try XCTUnwrap(arguments.firstIndex(of: "--eval")).advanced(by: 1)
        XCTAssertEqual(try self.run(["eval", "--model", out + "/student", "--data", arguments[data]]).status, 0)
        XCTAssertEqual(try self.run(["export", "--model", out + "/student", "--onnx", scratch.appendingPathComponent("p.onnx").path]).status, 0)
        // Impossible targets, and an existing result without --overwrite.
        try assertFails(["prune", "--model", run + "/student", "--ffn", "0"] + arguments, mentions: ["--overwrite"])
        try assertFails(["prune", "--model", run + "/student", "--ffn", "0", "--overwrite"] + arguments, mentions: ["cannot remove every neuron"])
    }
}
