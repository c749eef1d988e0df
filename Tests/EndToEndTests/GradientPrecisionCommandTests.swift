import Foundation
import XCTest

/// `--gradient-precision` through the real binary: 2 local workers sending bf16 gradients train the
/// tiny run to the accuracy of the fp32 run in one process; an unknown name is refused by key.
final class GradientPrecisionCommandTests: CLITestCase {
    func testTwoWorkersWithBF16GradientsTrainLikeOneProcess() throws {
        let reference = scratch.appendingPathComponent("fp32").path
        let alone = try run(["run"] + (try tinyRunOptions(out: reference, seed: 7)))
        XCTAssertEqual(alone.status, 0, alone.stderr)

        let out = scratch.appendingPathComponent("bf16").path
        let workers = try run(["run"] + (try tinyRunOptions(out: out, seed: 7)) + ["--workers", "2", "--gradient-precision", "bf16"])
        XCTAssertEqual(workers.status, 0, workers.stderr)
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/run_config.json"))) as? [String: Any]
        XCTAssertEqual(config?["gradient_precision"] as? String, "bf16")
        XCTAssertEqual(studentAccuracy(out), studentAccuracy(reference), accuracy: 0.05)
        // bf16 rounding moves the weights, a little: the run really sent bf16.
        let difference = try studentWeightDifference(out, from: reference)
        print("bf16 gradients on 2 workers: student weights \(difference) from the fp32 single process's")
        XCTAssertGreaterThan(difference, Self.workerCountTolerance)
        XCTAssertLessThan(difference, 0.05)
    }

    func testAnUnknownPrecisionIsRefusedByKey() throws {
        try assertFails(["run"] + (try tinyRunOptions(out: scratch.appendingPathComponent("x").path, seed: 7))
                        + ["--gradient-precision", "fp16"],
                        mentions: ["gradient_precision must be fp32 or bf16", "'fp16'"])
    }
}
