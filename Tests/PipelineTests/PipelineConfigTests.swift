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
        let config = try decode(#"{"max_length": 64, "distill": {"batch_size": 8, "layers": [1, 4], "hidden_weight": 0.5, "schedule": "linear", "average_last": 0.25, "student_heads": 8, "student_ffn": 1024, "teacher_precision": "bf16"}, "finetune": {"mode": "never"}}"#)
        XCTAssertEqual(config.studentShape, StudentShape(heads: 8, ffn: 1024))
        XCTAssertEqual(config.distillationOptions().teacherPrecision, .bf16)
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
        let config = try decode(#"{"max_length": 1, "held_out": 1.5, "finetune": {"mode": "sometimes"}, "distill": {"alpha": -1, "temperature": 0, "batch_size": 0, "schedule": "cosine", "average_last": 1.5, "student_heads": 0, "student_ffn": -2, "teacher_precision": "fp16"}}"#)
        let problems = try config.validate().joined(separator: "\n")
        for key in ["max_length", "held_out", "finetune.mode", "distill.alpha", "distill.temperature", "distill.batch_size", "distill.schedule", "distill.average_last",
                    "distill.student_heads", "distill.student_ffn", "distill.teacher_precision"] {
            XCTAssertTrue(problems.contains(key), "no problem reported for \(key): \(problems)")
        }
    }

    func testWrongTypeIsAnError() {
        XCTAssertThrowsError(try decode(#"{"seed": "forty-two"}"#))
    }

    /// One rule: defaults < profile < configuration file < flags (the CLI applies flags last).
    func testPrecedenceIsDefaultsThenProfileThenFile() throws {
        var quick = PipelineConfig()
        PipelineConfig.Profile.quick.apply(to: &quick)
        XCTAssertEqual(quick.distill.epochs, 1)
        XCTAssertEqual(quick.maxTrainExamples, 10000)
        // The file overrides the profile key by key, inside sections too; what it leaves out stays.
        let file = """
        seed: 7
        max_train_examples: 500
        distill:
          epochs: 2
          temperature: 3.0
        """
        let merged = try quick.overlaid(withYAML: file, source: "test.yaml")
        XCTAssertEqual(merged.distill.epochs, 2)
        XCTAssertEqual(merged.distill.temperature, 3.0)
        XCTAssertEqual(merged.maxTrainExamples, 500)
        XCTAssertEqual(merged.seed, 7)
        XCTAssertEqual(merged.distill.evalEvery, 100, "a profile key the file does not name")
        XCTAssertEqual(merged.finetune.epochs, 1)
        XCTAssertEqual(merged.distill.alpha, PipelineConfig().distill.alpha, "a default nobody set")
        // An explicit null clears an optional key; the full profile's keys fall to the file as well.
        var full = PipelineConfig()
        PipelineConfig.Profile.full.apply(to: &full)
        XCTAssertEqual(try full.overlaid(withYAML: "distill:\n  epochs: 5\n", source: "t").distill.epochs, 5)
        var sampled = PipelineConfig()
        sampled.maxTrainExamples = 10
        XCTAssertNil(try sampled.overlaid(withYAML: "max_train_examples: null", source: "t").maxTrainExamples)
        XCTAssertEqual(try quick.overlaid(withYAML: "", source: "t"), quick, "an empty file changes nothing")
        XCTAssertThrowsError(try quick.overlaid(withYAML: "- a list", source: "list.yaml")) { error in
            XCTAssertTrue("\(error)".contains("list.yaml"), "\(error)")
        }
    }

    /// The shipped configuration leaves the profile's keys to the profile.
    func testShippedConfigurationLetsTheProfileDecide() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("configs/sst2.yaml").path
        for profile in PipelineConfig.Profile.allCases {
            var config = PipelineConfig()
            profile.apply(to: &config)
            let merged = try config.overlaid(withFile: path)
            XCTAssertEqual(merged.distill.epochs, config.distill.epochs, "\(profile)")
            XCTAssertEqual(merged.maxTrainExamples, config.maxTrainExamples, "\(profile)")
        }
    }

    /// A misspelt key is an error naming the closest known key, at the top level and in sections.
    func testUnknownKeysNameTheClosestKnownOne() {
        for (yaml, expected) in [("distill:\n  tempreature: 3\n", "'distill.temperature'"),
                                 ("sed: 4\n", "'seed'"), ("finetune:\n  learningrate: 0.1\n", "'finetune.learning_rate'")] {
            XCTAssertThrowsError(try PipelineConfig().overlaid(withYAML: yaml, source: "typo.yaml"), yaml) { error in
                let text = "\(error)"
                XCTAssertTrue(text.contains("typo.yaml") && text.contains("unknown key") && text.contains(expected), text)
            }
        }
    }

    /// Every numeric setting has a stated range; a value outside it is named by its key.
    func testOutOfRangeSettingsAreNamed() throws {
        var c = PipelineConfig()
        c.distill.learningRate = -1e-4
        c.finetune.learningRate = .nan
        c.distill.temperature = .infinity
        c.finetune.warmup = 1
        c.checkpointEvery = -1
        c.maxTrainExamples = 0
        c.distill.hiddenWeight = -1
        let problems = try c.validate().joined(separator: "\n")
        for key in ["distill.learning_rate", "finetune.learning_rate", "distill.temperature", "finetune.warmup",
                    "checkpoint_every", "max_train_examples", "distill.hidden_weight"] {
            XCTAssertTrue(problems.contains(key), "no problem reported for \(key): \(problems)")
        }
        for layers in [[3, 0], [3, 3], [-1, 2], []] {
            var bad = PipelineConfig()
            bad.distill.layers = layers
            XCTAssertTrue(try bad.validate().contains { $0.contains("distill.layers") }, "\(layers) accepted")
        }
        var fine = PipelineConfig()
        fine.distill.layers = [0, 3]
        XCTAssertEqual(try fine.validate(), [])
    }

    /// A student takes each teacher layer at most once, and only layers the teacher has.
    func testStudentLayersFitTheTeacher() throws {
        var c = PipelineConfig()
        c.distill.studentLayers = 7
        XCTAssertThrowsError(try c.studentLayers(teacherLayers: 6)) { XCTAssertTrue("\($0)".contains("--student-layers"), "\($0)") }
        c.distill.studentLayers = 6
        XCTAssertEqual(try c.studentLayers(teacherLayers: 6), [0, 1, 2, 3, 4, 5])
        c.distill.layers = [0, 6]
        XCTAssertThrowsError(try c.studentLayers(teacherLayers: 6)) { XCTAssertTrue("\($0)".contains("--layers"), "\($0)") }
        c.distill.layers = [0, 3]
        XCTAssertEqual(try c.studentLayers(teacherLayers: 6), [0, 3])
    }
}
