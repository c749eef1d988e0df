import Foundation
import XCTest
import Kernels
@testable import Model

/// Int8 and fp16 model files: logits against the fp32 model, save/load round trips, and every
/// kind of bad file (corrupt, truncated, unknown scheme, missing or mistyped tensor) refused with
/// an error naming the file, never a crash.
final class QuantizationTests: XCTestCase {
    /// Int8 logits vs fp32, max |difference| / max |fp32 logit| over a batch: 8-bit weights and
    /// 7-bit activations through two layers of the tiny random model.
    let int8Tolerance: Float = 0.08
    /// fp16 storage only rounds the weights (about 5e-4 relative each).
    let fp16Tolerance: Float = 5e-3

    var scratch: String!

    override func setUpWithError() throws {
        scratch = NSTemporaryDirectory() + "edgedistill-quant-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: scratch) }

    /// The tiny DistilBERT fixture with a vocabulary file (the folders copy it beside the model).
    func fixture() throws -> (SequenceClassifier, String) {
        let source = try Fixtures.path("models/distilbert")
        let dir = scratch + "/fp32-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for name in ["config.json", "model.safetensors"] {
            try FileManager.default.copyItem(atPath: source + "/" + name, toPath: dir + "/" + name)
        }
        let vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + (5..<120).map { "w\($0)" }
        try vocab.joined(separator: "\n").write(toFile: dir + "/vocab.txt", atomically: true, encoding: .utf8)
        return (try SequenceClassifier.load(directory: dir).model, dir)
    }

    func batch() -> TokenBatch {
        var state: UInt64 = 7
        func next() -> Int32 { state = splitMix64(state); return Int32(5 + state % 115) }
        return TokenBatch(sequences: [5, 17, 1, 30, 9].map { n in [2] + (0..<n).map { _ in next() } + [3] })
    }

    func testInt8LogitsCloseToFP32AndRoundTripExactly() throws {
        let (model, dir) = try fixture()
        let reference = model.forward(batch())
        for embeddings in [false, true] {
            let quantized = try model.quantized(.int8Dynamic, int8Embeddings: embeddings)
            let logits = quantized.logits(batch())
            XCTAssertLessThan(relativeError(logits, reference), int8Tolerance, "int8 embeddings \(embeddings)")
            XCTAssertEqual(quantized.parameterCount, model.parameterCount)
            let out = scratch + "/int8-\(embeddings)"
            try quantized.saveFolder(out, vocabularyFrom: dir)
            let loaded = try ClassifierLoader.load(directory: out)
            XCTAssertEqual((loaded as? SequenceClassifier)?.quantization, .int8Dynamic)
            XCTAssertEqual((loaded as? SequenceClassifier)?.int8Embeddings, embeddings)
            XCTAssertEqual(loaded.logits(batch()), logits, "a saved int8 model computes the same logits")
            XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/vocab.txt"))
            let file = try SafetensorsFile(path: out + "/model.safetensors")
            XCTAssertEqual(file.metadata[QuantizationScheme.metadataKey], "int8-dynamic")
            XCTAssertEqual(file.info("distilbert.transformer.layer.0.attention.q_lin.weight")?.dtype, .i8)
            XCTAssertEqual(file.info("distilbert.embeddings.word_embeddings.weight")?.dtype, embeddings ? .i8 : .f32)
        }
        // Every row is quantized on its own and the int8 products are exact: a sentence alone gets
        // the logits it gets in a batch, up to the fp32 attention's rounding (padded to another length).
        let quantized = try model.quantized(.int8Dynamic)
        let together = quantized.logits(batch())
        let k = model.config.labelCount
        let sequences = (0..<5).map { s in Array(batch().ids[Int(batch().layout.offsets[s])..<(Int(batch().layout.offsets[s]) + Int(batch().layout.lengths[s]))]) }
        for (s, ids) in sequences.enumerated() {
            XCTAssertLessThan(relativeError(quantized.logits(TokenBatch(sequences: [ids])), Array(together[(s * k)..<((s + 1) * k)])),
                              1e-5, "sentence \(s)")
        }
    }

    /// PyTorch's `quantize_dynamic` on the same tiny model (scripts/make_quantization_fixtures.py):
    /// our int8 logits must be about as close to fp32 as torch's (its scheme differs: one scale per
    /// weight tensor and per activation tensor, where we use one per output channel and per row).
    func testInt8IsAsCloseToFP32AsTorchQuantizeDynamic() throws {
        let (model, _) = try fixture()
        let file = try SafetensorsFile(path: try Fixtures.path("models/distilbert/quantized_reference.safetensors",
                                                               rebuild: "python3 scripts/make_quantization_fixtures.py"))
        let ids = try Fixtures.tensor(file, "input_ids"), lengths = try Fixtures.tensor(file, "lengths")
        let fp32 = try Fixtures.tensor(file, "logits_fp32"), torchInt8 = try Fixtures.tensor(file, "logits_torch_int8")
        let width = ids.count / lengths.count
        let quantized = try model.quantized(.int8Dynamic)
        var ours: [Float] = [], fp32Ours: [Float] = []
        for (s, length) in lengths.enumerated() {
            let sentence = (0..<Int(length)).map { Int32(ids[s * width + $0]) }
            ours += quantized.logits(TokenBatch(sequences: [sentence]))
            fp32Ours += model.forward(TokenBatch(sequences: [sentence]))
        }
        XCTAssertLessThan(relativeError(fp32Ours, fp32), Tolerance.output, "the fp32 model matches transformers")
        let oursError = relativeError(ours, fp32), torchError = relativeError(torchInt8, fp32)
        XCTAssertLessThan(oursError, max(2 * torchError, 0.01),
                          "int8 error against fp32: ours \(oursError), torch quantize_dynamic \(torchError)")
        XCTAssertLessThan(relativeError(ours, torchInt8), int8Tolerance, "against torch's int8 logits")
    }

    func testFP16FolderLoadsAsFP32Model() throws {
        let (model, dir) = try fixture()
        let out = scratch + "/fp16"
        try model.saveFP16Folder(out, vocabularyFrom: dir)
        let file = try SafetensorsFile(path: out + "/model.safetensors")
        XCTAssertEqual(file.metadata[QuantizationScheme.metadataKey], "fp16")
        XCTAssertTrue(file.names.allSatisfy { file.info($0)?.dtype == .f16 })
        let loaded = try ClassifierLoader.load(directory: out)
        XCTAssertTrue(loaded is SequenceClassifier)
        XCTAssertLessThan(relativeError(loaded.logits(batch()), model.forward(batch())), fp16Tolerance)
    }

    /// Quantizing swaps the linear layers (and the word table) and keeps the rest: the int8 model is
    /// a `SequenceClassifier` whose arena holds only the tensors that stay fp32, which runs the
    /// passes the fp32 model runs (the full last layer too) and refuses what needs fp32 weights.
    func testInt8ModelIsTheSameClassifierWithInt8Layers() throws {
        let (model, _) = try fixture()
        let c = model.config.hiddenSize
        for embeddings in [false, true] {
            let quantized = try model.quantized(.int8Dynamic, int8Embeddings: embeddings)
            XCTAssertEqual(quantized.quantization, .int8Dynamic)
            XCTAssertEqual(quantized.int8Embeddings, embeddings)
            XCTAssertNil(quantized.layout["transformer.layer.0.attention.q_lin.weight"])
            XCTAssertNil(quantized.layout["transformer.layer.1.ffn.lin2.bias"])
            XCTAssertNil(quantized.layout["classifier.weight"])
            XCTAssertEqual(quantized.layout["embeddings.word_embeddings.weight"] == nil, embeddings)
            XCTAssertEqual(quantized.parameter("transformer.layer.1.output_layer_norm.bias")[3],
                           model.parameter("transformer.layer.1.output_layer_norm.bias")[3])

            let firstTokens = quantized.forward(batch())
            let allRows = quantized.forward(batch(), allHiddenStates: true)
            XCTAssertLessThan(relativeError(allRows, firstTokens), 1e-5, "every row of the last layer, or first tokens only")
            XCTAssertEqual(quantized.hiddenStates(after: model.config.layerCount).count, batch().tokenCount * c)
            quantized.freeze()
            XCTAssertEqual(quantized.frozenLayerCount, 0, "int8 layers have nothing to reorder")
            XCTAssertEqual(quantized.forward(batch()), firstTokens)

            XCTAssertThrowsError(try quantized.quantized(.int8Dynamic))
            XCTAssertThrowsError(try quantized.student(layers: [0]))
            XCTAssertThrowsError(try quantized.save(directory: scratch + "/fp32-of-int8"))
        }
        XCTAssertEqual(model.quantization, .none, "the fp32 model is unchanged")
        XCTAssertThrowsError(try model.quantized(.fp16, int8Embeddings: true))
    }

    /// `quantized(.fp16)` is the model an fp16 folder loads as, and saving it writes the same file
    /// as `saveFP16Folder` of the fp32 model.
    func testFP16ModelEqualsTheLoadedFP16Folder() throws {
        let (model, dir) = try fixture()
        let fp16 = try model.quantized(.fp16)
        XCTAssertEqual(fp16.quantization, .fp16)
        let (fromModel, fromFP16) = (scratch + "/fp16-a", scratch + "/fp16-b")
        try model.saveFP16Folder(fromModel, vocabularyFrom: dir)
        try fp16.saveFolder(fromFP16, vocabularyFrom: dir)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: fromModel + "/model.safetensors")),
                       try Data(contentsOf: URL(fileURLWithPath: fromFP16 + "/model.safetensors")))
        let loaded = try XCTUnwrap(try ClassifierLoader.load(directory: fromFP16) as? SequenceClassifier)
        XCTAssertEqual(loaded.quantization, .fp16)
        fp16.freeze()  // as served
        XCTAssertEqual(fp16.logits(batch()), loaded.logits(batch()))
    }

    // MARK: - Bad files

    func int8Folder() throws -> String {
        let (model, dir) = try fixture()
        let out = scratch + "/int8-\(UUID().uuidString.prefix(6))"
        try model.quantized(.int8Dynamic, int8Embeddings: true).saveFolder(out, vocabularyFrom: dir)
        return out
    }

    func assertRefused(_ dir: String, mentions text: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try ClassifierLoader.load(directory: dir), file: file, line: line) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains(text), "'\(message)' lacks '\(text)'", file: file, line: line)
            XCTAssertTrue(message.contains("model.safetensors"), "'\(message)' names no file", file: file, line: line)
        }
    }

    func testCorruptedTensorBytesAreRefused() throws {
        let dir = try int8Folder()
        let path = dir + "/model.safetensors"
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        data[data.count - 100] ^= 0x5A
        try data.write(to: URL(fileURLWithPath: path))
        assertRefused(dir, mentions: "checksum mismatch")
    }

    func testTruncatedFileIsRefused() throws {
        let dir = try int8Folder()
        let path = dir + "/model.safetensors"
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        for length in [data.count - 1, data.count / 2, 100, 4] {
            try data.prefix(length).write(to: URL(fileURLWithPath: path))
            assertRefused(dir, mentions: length == 4 ? "shorter than the 8-byte header" : "truncated")
        }
    }

    /// Rewrites the folder's safetensors with `edit` applied to its tensors and metadata.
    func rewrite(_ dir: String, _ edit: (inout [SafetensorsWriter.Tensor], inout [String: String]) -> Void) throws {
        let path = dir + "/model.safetensors"
        let file = try SafetensorsFile(path: path)
        var tensors = try file.names.map { name -> SafetensorsWriter.Tensor in
            let info = file.info(name)!
            return .init(name: name, dtype: info.dtype, shape: info.shape, bytes: Array(try file.rawBytes(name)))
        }
        var metadata = file.metadata
        edit(&tensors, &metadata)
        metadata[QuantizationScheme.checksumKey] = QuantizationChecksum.of(tensors)
        try SafetensorsWriter.write(tensors, metadata: metadata, to: path)
    }

    func testUnknownSchemeIsRefused() throws {
        let dir = try int8Folder()
        try rewrite(dir) { _, metadata in metadata[QuantizationScheme.metadataKey] = "int4-experimental" }
        assertRefused(dir, mentions: "unknown quantization scheme 'int4-experimental'")
    }

    func testMissingOrMistypedTensorIsRefused() throws {
        let dir = try int8Folder()
        try rewrite(dir) { tensors, _ in tensors.removeAll { $0.name == "distilbert.transformer.layer.1.ffn.lin2.weight_scale" } }
        assertRefused(dir, mentions: "missing tensor 'distilbert.transformer.layer.1.ffn.lin2.weight_scale'")

        let other = try int8Folder()
        try rewrite(other) { tensors, _ in
            let i = tensors.firstIndex { $0.name == "distilbert.transformer.layer.0.ffn.lin1.weight" }!
            let t = tensors[i]
            tensors[i] = .init(name: t.name, dtype: .u8, shape: t.shape, bytes: t.bytes)
        }
        assertRefused(other, mentions: "expected I8")
    }

    func testBadHeadMetadataIsRefused() throws {
        let dir = try int8Folder()
        try rewrite(dir) { _, metadata in metadata[QuantizationScheme.headKey] = "sigmoid" }
        assertRefused(dir, mentions: "expected relu or tanh")
    }
}
