import Foundation
import XCTest
@testable import Pipeline
import Training

/// The run configuration: every key optional with its default, snake_case names, validation
/// messages that name the key.
final class PipelineConfigTests: XCTestCase {
    func decode(_ json: String) throws -> PipelineConfig {
        try JSONDecoder().decode(PipelineConfig.self, from: Data(json.utf8))
    }

    func testEmptyConfigIsTheDefaults() throws {
        let config = try decode("{}")
        XCTAssertEqual(config, PipelineConfig())
        XCTAssertEqual(config.distill.temperature, 2)
        XCTAssertEqual(config.distill.alpha, 0.5)
        XCTAssertEqual(config.distill.batchSize, 16)
        XCTAssertEqual(config.distill.epochs, 3)
        XCTAssertEqual(config.distill.evalEvery, 100)
        XCTAssertEqual(config.distill.learningRate, 5e-5)
        XCTAssertEqual(config.distill.studentLayers, 2)
        XCTAssertEqual(config.maxLength, 128)
        XCTAssertEqual(config.finetune.batchSize, 32)
        XCTAssertEqual(try config.validate(), [])
    }

    func testSnakeCaseKeysOverrideDefaults() throws {
        let config = try decode(#"{"max_length": 64, "distill": {"batch_size": 8, "layers": [1, 4], "hidden_weight": 0.5, "schedule": "linear", "average_last": 0.25}, "finetune": {"mode": "never"}}"#)
        XCTAssertEqual(config.maxLength, 64)
        XCTAssertEqual(config.distill.batchSize, 8)
        XCTAssertEqual(config.distill.layers, [1, 4])
        XCTAssertEqual(config.distill.hiddenWeight, 0.5)
        XCTAssertEqual(config.distill.schedule, "linear")
        XCTAssertEqual(config.distill.averageLast, 0.25)
        XCTAssertEqual(config.distill.epochs, 3, "keys not given keep their defaults")
        XCTAssertEqual(config.finetune.mode, "never")
    }

    func testRoundTripThroughJSON() throws {
        var config = PipelineConfig()
        config.eval = ["a.tsv", "b.csv"]
        config.distill.layers = [0, 5]
        let again = try JSONDecoder().decode(PipelineConfig.self, from: try JSONEncoder().encode(config))
        XCTAssertEqual(again, config)
    }

    func testValidationNamesEachBadKey() throws {
        let config = try decode(#"{"max_length": 1, "held_out": 1.5, "finetune": {"mode": "sometimes"}, "distill": {"alpha": -1, "temperature": 0, "batch_size": 0, "schedule": "cosine", "average_last": 1.5}}"#)
        let problems = try config.validate().joined(separator: "\n")
        for key in ["max_length", "held_out", "finetune.mode", "distill.alpha", "distill.temperature", "distill.batch_size", "distill.schedule", "distill.average_last"] {
            XCTAssertTrue(problems.contains(key), "no problem reported for \(key): \(problems)")
        }
    }

    func testWrongTypeIsAnError() {
        XCTAssertThrowsError(try decode(#"{"seed": "forty-two"}"#))
    }
}
