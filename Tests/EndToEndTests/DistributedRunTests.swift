import Foundation
import XCTest
import Model

/// `edgedistill run --workers N`: a coordinator in the test's child process and N real worker
/// processes, over real ZeroMQ sockets on loopback.
final class DistributedRunTests: CLITestCase {
    /// A run configuration with a checkpoint after every step, so the final weights are on disk.
    func config() throws -> String {
        let path = scratch.appendingPathComponent("run-\(UUID().uuidString.prefix(6)).yaml").path
        try """
        finetune:
          epochs: 1
          learning_rate: 0.002
          eval_every: 10
        distill:
          learning_rate: 0.001
          eval_every: 10
        checkpoint_every: 1
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func finalParameters(_ out: String, _ phase: String) throws -> [Float] {
        let file = try SafetensorsFile(path: out + "/checkpoints/\(phase).ckpt")
        var values = [Float](repeating: 0, count: file.info("parameters")?.elementCount ?? 0)
        try values.withUnsafeMutableBufferPointer { try file.floats("parameters", into: $0) }
        return values
    }

    /// ||a - b|| / ||a||.
    func relativeDifference(_ a: [Float], _ b: [Float]) -> Double {
        precondition(a.count == b.count)
        var diff = 0.0, norm = 0.0
        for (x, y) in zip(a, b) { diff += Double(x - y) * Double(x - y); norm += Double(x) * Double(x) }
        return (diff / max(norm, 1e-30)).squareRoot()
    }

    /// Named tolerance: the 1e-5 relative, for sums over workers in a different order.
    static let equivalenceTolerance = 1e-5

    func testTwoAndThreeWorkersTrainTheSameModelsAsOne() throws {
        let teacher = try tinyEncoder()
        let train = try sentimentData(200, seed: 11), dev = try sentimentData(40, seed: 12)
        let config = try config()
        func runWith(_ workers: Int) throws -> (String, Result) {
            let out = scratch.appendingPathComponent("run\(workers)").path
            let result = try run(["run", "--config", config, "--teacher", teacher, "--train", train, "--eval", dev,
                                  "--out", out, "--epochs", "1", "--student-layers", "1", "--seed", "5", "--threads", "1",
                                  "--workers", String(workers), "--checksum-every", "3"])
            XCTAssertEqual(result.status, 0, "workers \(workers): \(result.stderr)")
            return (out, result)
        }
        let (one, _) = try runWith(1)
        for workers in [2, 3] {
            let (many, result) = try runWith(workers)
            XCTAssertTrue(result.stderr.contains("ring 1 of \(workers) worker(s)"), result.stderr)
            XCTAssertTrue(result.stderr.contains("each of the"), "coverage line missing: \(result.stderr)")
            for phase in ["teacher", "student"] {
                let a = try finalParameters(one, phase), b = try finalParameters(many, phase)
                let difference = relativeDifference(a, b)
                XCTAssertLessThan(difference, Self.equivalenceTolerance, "\(phase) with \(workers) workers differs by \(difference)")
                XCTAssertGreaterThan(a.count, 1000)
            }
        }
    }
}
