import Foundation
import Kernels
import XCTest

/// The kernel path from the command line: `--version` and `inspect` say which path runs, a forced
/// lower path (`EDGEDISTILL_ISA`) runs the int8 model with its own numerics and agrees with the fp32
/// model's predictions, and a path this CPU lacks, or a misspelt one, is a clear error.
final class ISACommandTests: CLITestCase {
    func testThePathIsReportedForcedAndChecked() throws {
        let version = try run(["--version"])
        XCTAssertTrue(version.stdout.contains("kernels: \(ISA.detected.rawValue)"), version.stdout)
        let model = try tinyModel(), int8 = scratch.appendingPathComponent("int8").path
        XCTAssertEqual(try run(["quantize", "--model", model, "--int8", "--out", int8]).status, 0)
        let sentences = ["a good film", "it is not a bad movie , and it is great !", "bad"]
        func probabilities(_ folder: String, _ isa: String?) throws -> [[Double]] {
            let result = try run(["predict", "--model", folder] + sentences, environment: isa.map { ["EDGEDISTILL_ISA": $0] } ?? [:])
            XCTAssertEqual(result.status, 0, result.stderr)
            return try result.stdout.split(separator: "\n").map { line in
                let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                return (object["probabilities"] as? [String: Double] ?? [:]).sorted { $0.key < $1.key }.map(\.value)
            }
        }
        let fp32 = try probabilities(model, nil)
        for isa in ISA.allCases {
            guard isa <= ISA.detected else {
                print("ISACommandTests: skipping \(isa.rawValue): this CPU supports \(ISA.detected.rawValue)")
                try assertFails(["inspect", "--model", model], mentions: ["EDGEDISTILL_ISA=\(isa.rawValue)", "lacks"], environment: ["EDGEDISTILL_ISA": isa.rawValue])
                continue
            }
            let inspected = try run(["inspect", "--model", model, "--json"], environment: ["EDGEDISTILL_ISA": isa.rawValue])
            XCTAssertTrue(inspected.stdout.contains("\"kernels\":\"\(isa.rawValue)\""), inspected.stdout)
            for (row, values) in try probabilities(int8, isa.rawValue).enumerated() {
                let worst = zip(values, fp32[row]).map { abs($0 - $1) }.max() ?? 1
                XCTAssertLessThan(worst, 0.05, "\(isa.rawValue): int8 probabilities of sentence \(row) against fp32")
            }
        }
        try assertFails(["inspect", "--model", model], mentions: ["EDGEDISTILL_ISA", "avx512, avx2 or generic"], environment: ["EDGEDISTILL_ISA": "neon"])
    }

    /// A run whose frozen teacher computes in bf16 (fp32 where the CPU lacks AVX-512 BF16) goes
    /// through; another precision name is refused, naming the key.
    func testTeacherPrecisionIsAnOption() throws {
        let options = try tinyRunOptions(out: scratch.appendingPathComponent("bf16").path, seed: 3, epochs: 1)
        let result = try run(["run"] + options + ["--teacher-precision", "bf16"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let config = try String(contentsOfFile: scratch.appendingPathComponent("bf16/run_config.json").path, encoding: .utf8)
        XCTAssertTrue(config.contains("\"teacher_precision\" : \"bf16\""), config)
        try assertFails(["run"] + (try tinyRunOptions(out: scratch.appendingPathComponent("fp16").path, seed: 3, epochs: 1))
                        + ["--teacher-precision", "fp16"], mentions: ["distill.teacher_precision"])
    }
}
