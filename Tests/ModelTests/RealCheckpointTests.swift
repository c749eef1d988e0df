import Foundation
import XCTest
@testable import Model

/// Runs the real all-MiniLM-L6-v2 teacher on 16 SST-2 dev sentences and compares the last hidden
/// states and the logits of a stored head with transformers' (Tests/Fixtures/minilm).
final class RealCheckpointTests: XCTestCase {
    /// Why the real-checkpoint test cannot run: a failure, never a skip.
    struct MissingTeacher: Error, CustomStringConvertible {
        let description: String
    }

    /// The folder under models/ that `make teacher` fills, used when EDGEDISTILL_TEACHER is not set.
    static let defaultTeacherDirectory = Fixtures.root.deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("models/all-MiniLM-L6-v2").path

    /// Where the teacher is, given the environment: `make test` fetches it (checked against
    /// scripts/teacher.sha256) and passes its folder in EDGEDISTILL_TEACHER.
    ///
    /// - EDGEDISTILL_TEACHER set: that folder must hold the model, else `MissingTeacher` (fail).
    /// - CI set (CI runs `make test`) without EDGEDISTILL_TEACHER: `MissingTeacher` (fail), so CI
    ///   can never pass without having run this test.
    /// - Neither (a developer's `swift test`): models/all-MiniLM-L6-v2 when it is there, else
    ///   `XCTSkip` with the reason (XCTest prints it on the "Test skipped" line).
    static func teacherDirectory(environment: [String: String], exists: (String) -> Bool) throws -> String {
        let hint = "run `make teacher` or scripts/fetch_teacher.sh DIR"
        if let directory = environment["EDGEDISTILL_TEACHER"], !directory.isEmpty {
            guard exists(directory + "/model.safetensors") else {
                throw MissingTeacher(description: "EDGEDISTILL_TEACHER=\(directory) has no model.safetensors (\(hint))")
            }
            return directory
        }
        if let ci = environment["CI"], !ci.isEmpty {
            throw MissingTeacher(description: "CI=\(ci) but EDGEDISTILL_TEACHER is not set: CI must run the real-checkpoint test (`make test` fetches the teacher and sets it)")
        }
        let directory = defaultTeacherDirectory
        guard exists(directory + "/model.safetensors") else {
            throw XCTSkip("skipped: no teacher at \(directory) and EDGEDISTILL_TEACHER is not set (\(hint))")
        }
        return directory
    }

    func testTeacherLocationFailsRatherThanSkipsWhenTheTeacherIsExpected() throws {
        let nowhere: (String) -> Bool = { _ in false }
        let everywhere: (String) -> Bool = { _ in true }
        XCTAssertThrowsError(try Self.teacherDirectory(environment: ["EDGEDISTILL_TEACHER": "/no/such/teacher"], exists: nowhere)) {
            XCTAssertTrue($0 is MissingTeacher, "a missing EDGEDISTILL_TEACHER folder must fail, got \($0)")
            XCTAssertTrue("\($0)".contains("/no/such/teacher"), "\($0)")
        }
        XCTAssertThrowsError(try Self.teacherDirectory(environment: ["CI": "true"], exists: everywhere)) {
            XCTAssertTrue($0 is MissingTeacher, "CI without EDGEDISTILL_TEACHER must fail, got \($0)")
            XCTAssertTrue("\($0)".contains("EDGEDISTILL_TEACHER is not set"), "\($0)")
        }
        XCTAssertThrowsError(try Self.teacherDirectory(environment: ["CI": "true", "EDGEDISTILL_TEACHER": "/t"], exists: nowhere)) {
            XCTAssertTrue($0 is MissingTeacher, "\($0)")
        }
        XCTAssertEqual(try Self.teacherDirectory(environment: ["CI": "true", "EDGEDISTILL_TEACHER": "/t"], exists: everywhere), "/t")
        // Only a developer's run without the teacher may skip, and it says why.
        XCTAssertThrowsError(try Self.teacherDirectory(environment: [:], exists: nowhere)) {
            XCTAssertTrue($0 is XCTSkip, "\($0)")
        }
        XCTAssertEqual(try Self.teacherDirectory(environment: [:], exists: everywhere), Self.defaultTeacherDirectory)
    }

    func testMiniLMMatchesTransformers() throws {
        let directory = try Self.teacherDirectory(environment: ProcessInfo.processInfo.environment) {
            FileManager.default.fileExists(atPath: $0)
        }
        let reference = try SafetensorsFile(path: try Fixtures.path("minilm/reference.safetensors",
            rebuild: "python3 scripts/make_model_fixtures.py --minilm models/all-MiniLM-L6-v2"))
        let sentencesData = try Data(contentsOf: URL(fileURLWithPath: try Fixtures.path("minilm/sentences.json")))
        let sentences = try JSONDecoder().decode([String].self, from: sentencesData)

        let loaded = try SequenceClassifier.load(directory: directory)
        XCTAssertTrue(loaded.initializedHead, "all-MiniLM-L6-v2 has no classification head")
        XCTAssertEqual(loaded.sourceFamily, "bert")
        XCTAssertEqual(loaded.unusedKeys, ["pooler.dense.bias", "pooler.dense.weight"])
        let model = loaded.model
        for name in ["pre_classifier.weight", "pre_classifier.bias", "classifier.weight", "classifier.bias"] {
            let values = try Fixtures.tensor(reference, "head." + name)
            model.parameter(name).update(from: values, count: values.count)
        }

        // Our tokenizer must produce the same ids as transformers' did for the reference.
        let tokenizer = try BertTokenizer.load(directory: directory)
        let sequences = sentences.map { tokenizer.encode($0, maxLength: 128) }
        XCTAssertEqual(sequences.flatMap { $0 }, try Fixtures.tensor(reference, "input_ids").map { Int32($0) })

        // The full last layer for its hidden states; the default pass (first tokens only) for the logits.
        model.forward(TokenBatch(sequences: sequences), allHiddenStates: true)
        let hidden = model.hiddenStates(after: model.config.layerCount)
        let logits = model.forward(TokenBatch(sequences: sequences))
        let hiddenError = relativeError(hidden, try Fixtures.tensor(reference, "last_hidden_state"))
        let logitError = relativeError(logits, try Fixtures.tensor(reference, "logits"))
        print("MiniLM: last hidden state relative error \(hiddenError), logits \(logitError)")
        XCTAssertLessThan(hiddenError, Tolerance.output)
        XCTAssertLessThan(logitError, Tolerance.output)
    }
}
