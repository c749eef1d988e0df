import Foundation
import XCTest
@testable import Model

/// Decoding Hugging Face DistilBERT and BERT configs, every rejection message, and writing back.
final class ModelConfigTests: XCTestCase {
    private var directory: String = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "model-config-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private var configPath: String { directory + "/config.json" }

    private func writeConfig(_ text: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: configPath))
    }

    /// `distilbert-base-uncased-finetuned-sst-2-english`'s config, as published.
    private let distilbert = """
    {
      "activation": "gelu",
      "architectures": ["DistilBertForSequenceClassification"],
      "attention_dropout": 0.1,
      "dim": 768,
      "dropout": 0.1,
      "finetuning_task": "sst-2",
      "hidden_dim": 3072,
      "id2label": {"0": "NEGATIVE", "1": "POSITIVE"},
      "initializer_range": 0.02,
      "label2id": {"NEGATIVE": 0, "POSITIVE": 1},
      "max_position_embeddings": 512,
      "model_type": "distilbert",
      "n_heads": 12,
      "n_layers": 6,
      "output_past": true,
      "pad_token_id": 0,
      "qa_dropout": 0.1,
      "seq_classif_dropout": 0.2,
      "sinusoidal_pos_embds": false,
      "tie_weights_": true,
      "vocab_size": 30522
    }
    """

    private let bert = """
    {
      "architectures": ["BertForSequenceClassification"],
      "attention_probs_dropout_prob": 0.1,
      "classifier_dropout": null,
      "hidden_act": "gelu",
      "hidden_dropout_prob": 0.15,
      "hidden_size": 256,
      "initializer_range": 0.02,
      "intermediate_size": 1024,
      "layer_norm_eps": 1e-12,
      "max_position_embeddings": 512,
      "model_type": "bert",
      "num_attention_heads": 4,
      "num_hidden_layers": 4,
      "num_labels": 3,
      "pad_token_id": 0,
      "position_embedding_type": "absolute",
      "type_vocab_size": 2,
      "vocab_size": 30522
    }
    """

    /// Loads `text` (a mutation of a valid config) and asserts the error names config.json and has `message`.
    private func assertRejected(_ text: String, _ message: String, line: UInt = #line) throws {
        try writeConfig(text)
        XCTAssertThrowsError(try ModelConfig.load(directory: directory), line: line) { error in
            XCTAssertEqual(error as? ModelError, ModelError(file: configPath, message), line: line)
        }
    }

    private func replacing(_ text: String, _ old: String, _ new: String) -> String {
        precondition(text.contains(old), "fixture lacks \(old)")
        return text.replacingOccurrences(of: old, with: new)
    }

    // MARK: - Decoding

    func testDecodesDistilBERT() throws {
        try writeConfig(distilbert)
        let config = try ModelConfig.load(directory: directory)
        XCTAssertEqual(config.modelType, .distilbert)
        XCTAssertEqual(config.vocabularySize, 30522)
        XCTAssertEqual(config.hiddenSize, 768)
        XCTAssertEqual(config.layerCount, 6)
        XCTAssertEqual(config.headCount, 12)
        XCTAssertEqual(config.headSize, 64)
        XCTAssertEqual(config.intermediateSize, 3072)
        XCTAssertEqual(config.maxPositions, 512)
        XCTAssertEqual(config.typeVocabularySize, 0)
        XCTAssertEqual(config.layerNormEpsilon, 1e-12)
        XCTAssertEqual(config.hiddenDropout, 0.1)
        XCTAssertEqual(config.attentionDropout, 0.1)
        XCTAssertEqual(config.classifierDropout, 0.2)
        XCTAssertEqual(config.activation, .gelu)
        XCTAssertEqual(config.labelCount, 2)
        XCTAssertEqual(config.id2label, [0: "NEGATIVE", 1: "POSITIVE"])
        XCTAssertEqual(config.padTokenID, 0)
        XCTAssertEqual(config.initializerRange, 0.02)
        XCTAssertEqual(config.architectures, ["DistilBertForSequenceClassification"])
    }

    func testDecodesBERTWithDefaults() throws {
        try writeConfig(bert)
        let config = try ModelConfig.load(directory: directory)
        XCTAssertEqual(config.modelType, .bert)
        XCTAssertEqual(config.hiddenSize, 256)
        XCTAssertEqual(config.layerCount, 4)
        XCTAssertEqual(config.headCount, 4)
        XCTAssertEqual(config.intermediateSize, 1024)
        XCTAssertEqual(config.typeVocabularySize, 2)
        XCTAssertEqual(config.hiddenDropout, 0.15)
        // classifier_dropout is null, so BERT falls back to hidden_dropout_prob.
        XCTAssertEqual(config.classifierDropout, 0.15)
        XCTAssertEqual(config.labelCount, 3)
        XCTAssertEqual(config.id2label, [0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"])

        try writeConfig(replacing(bert, #""classifier_dropout": null"#, #""classifier_dropout": 0.3"#))
        XCTAssertEqual(try ModelConfig.load(directory: directory).classifierDropout, 0.3)
    }

    func testMinimalConfigGetsDefaults() throws {
        try writeConfig(#"{"model_type": "distilbert", "vocab_size": 100, "dim": 32, "n_layers": 2, "n_heads": 4, "hidden_dim": 64, "max_position_embeddings": 64}"#)
        let config = try ModelConfig.load(directory: directory)
        XCTAssertEqual(config.labelCount, 2)
        XCTAssertEqual(config.id2label, [0: "LABEL_0", 1: "LABEL_1"])
        XCTAssertEqual(config.classifierDropout, 0.2)
        XCTAssertEqual(config.architectures, ["DistilBertForSequenceClassification"])
    }

    // MARK: - Rejections

    func testMissingConfigFile() {
        XCTAssertThrowsError(try ModelConfig.load(directory: directory)) { error in
            XCTAssertEqual((error as? ModelError)?.file, configPath)
            XCTAssertTrue("\(error)".contains("missing config.json"), "\(error)")
        }
    }

    func testInvalidJSON() throws {
        try assertRejected("{\"model_type\": ", "invalid JSON in model config")
        try assertRejected("[]", "model config must be a JSON object")
    }

    func testMissingAndUnknownModelType() throws {
        try assertRejected(replacing(distilbert, #""model_type": "distilbert","#, ""),
                           "missing key 'model_type': EdgeDistill supports distilbert and bert")
        try assertRejected(replacing(distilbert, #""model_type": "distilbert""#, #""model_type": "gpt2""#),
                           "unsupported model_type 'gpt2': EdgeDistill supports distilbert and bert")
    }

    func testMissingRequiredField() throws {
        try assertRejected(replacing(bert, #""hidden_size": 256,"#, ""), "missing key 'hidden_size' (an integer)")
        try assertRejected(replacing(distilbert, #""n_heads": 12,"#, ""), "missing key 'n_heads' (an integer)")
    }

    func testWrongType() throws {
        try assertRejected(replacing(distilbert, #""n_layers": 6"#, #""n_layers": "six""#),
                           #"key 'n_layers' must be an integer, got "six""#)
        try assertRejected(replacing(distilbert, #""n_layers": 6"#, #""n_layers": true"#),
                           "key 'n_layers' must be an integer, got true")
        try assertRejected(replacing(distilbert, #""n_layers": 6"#, #""n_layers": 6.5"#),
                           "key 'n_layers' must be an integer, got 6.5")
        try assertRejected(replacing(bert, #""hidden_dropout_prob": 0.15"#, #""hidden_dropout_prob": "0.1""#),
                           #"key 'hidden_dropout_prob' must be a number, got "0.1""#)
    }

    func testHiddenSizeNotDivisibleByHeads() throws {
        try assertRejected(replacing(distilbert, #""n_heads": 12"#, #""n_heads": 10"#),
                           "hidden size 768 ('dim') is not divisible by the head count 10 ('n_heads')")
    }

    func testNonPositiveSizes() throws {
        try assertRejected(replacing(distilbert, #""n_layers": 6"#, #""n_layers": 0"#), "key 'n_layers' must be positive, got 0")
        try assertRejected(replacing(bert, #""vocab_size": 30522"#, #""vocab_size": -5"#), "key 'vocab_size' must be positive, got -5")
    }

    func testUnsupportedActivationAndPositionEmbeddings() throws {
        try assertRejected(replacing(distilbert, #""activation": "gelu""#, #""activation": "relu""#),
                           "key 'activation' is 'relu', which is not supported: EdgeDistill supports 'gelu'")
        try assertRejected(replacing(bert, #""hidden_act": "gelu""#, #""hidden_act": "gelu_new""#),
                           "key 'hidden_act' is 'gelu_new', which is not supported: EdgeDistill supports 'gelu'")
        try assertRejected(replacing(distilbert, #""sinusoidal_pos_embds": false"#, #""sinusoidal_pos_embds": true"#),
                           "sinusoidal_pos_embds=true is not supported: EdgeDistill implements learned position embeddings only")
    }

    func testInconsistentLabels() throws {
        try assertRejected(replacing(distilbert, #""pad_token_id": 0"#, #""pad_token_id": 0, "num_labels": 3"#),
                           "key 'num_labels' is 3 but 'id2label' has 2 labels")
        try assertRejected(replacing(distilbert, #""1": "POSITIVE""#, #""5": "POSITIVE""#),
                           "key 'id2label' must map every label id from 0 to 1 exactly once")
    }

    // MARK: - Writing

    func testJSONObjectRoundTripsThroughWrite() throws {
        try writeConfig(distilbert)
        let original = try ModelConfig.load(directory: directory)
        let object = original.jsonObject()
        XCTAssertEqual(object["model_type"] as? String, "distilbert")
        XCTAssertEqual(object["architectures"] as? [String], ["DistilBertForSequenceClassification"])
        XCTAssertEqual(object["id2label"] as? [String: String], ["0": "NEGATIVE", "1": "POSITIVE"])
        XCTAssertEqual(object["label2id"] as? [String: Int], ["NEGATIVE": 0, "POSITIVE": 1])
        XCTAssertEqual(object["sinusoidal_pos_embds"] as? Bool, false)
        XCTAssertEqual(object["tie_weights_"] as? Bool, true)
        XCTAssertEqual(object["qa_dropout"] as? Double, 0.1)

        let output = directory + "/out"
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: false)
        try original.write(directory: output)
        XCTAssertEqual(try ModelConfig.load(directory: output), original)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: output), ["config.json"])

        var student = original
        student.layerCount = 3
        try student.write(directory: output)
        XCTAssertEqual(try ModelConfig.load(directory: output), student)
    }

    func testBERTJSONObjectRoundTrips() throws {
        try writeConfig(bert)
        let original = try ModelConfig.load(directory: directory)
        let data = try JSONSerialization.data(withJSONObject: original.jsonObject())
        XCTAssertEqual(try ModelConfig(jsonData: data), original)
        XCTAssertEqual(original.jsonObject()["hidden_size"] as? Int, 256)
    }

    func testWriteIntoMissingDirectoryThrowsNamingTheFile() {
        let output = directory + "/missing"
        XCTAssertThrowsError(try ModelConfig(modelType: .distilbert, vocabularySize: 10, hiddenSize: 8, layerCount: 1,
                                             headCount: 2, intermediateSize: 16).write(directory: output)) { error in
            XCTAssertEqual((error as? ModelError)?.file, output + "/config.json")
        }
    }
}
