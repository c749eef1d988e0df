import Foundation
import XCTest
@testable import Model

/// Runs the real all-MiniLM-L6-v2 teacher on 16 SST-2 dev sentences and compares the last hidden
/// states and the logits of a stored head with transformers' (Tests/Fixtures/minilm).
final class RealCheckpointTests: XCTestCase {
    /// `make test` fetches the teacher and passes its folder in EDGEDISTILL_TEACHER.
    static var teacherDirectory: String {
        ProcessInfo.processInfo.environment["EDGEDISTILL_TEACHER"]
            ?? Fixtures.root.deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("models/all-MiniLM-L6-v2").path
    }

    func testMiniLMMatchesTransformers() throws {
        let directory = Self.teacherDirectory
        guard FileManager.default.fileExists(atPath: directory + "/model.safetensors") else {
            let reason = "skipped: no teacher at \(directory) (run `make teacher` or scripts/fetch_teacher.sh)"
            print(reason)
            throw XCTSkip(reason)
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
