import ArgumentParser
import Foundation
import Model

/// `edgedistill export --model DIR --onnx OUT.onnx`: the classifier as an ONNX file that ONNX
/// Runtime (and the runtimes built on it) load, with the tokenizer files beside it.
///
/// Any model folder: fp32 (and fp16, computed in fp32) as MatMul layers, int8 as ONNX's standard
/// dynamic quantization operators (DynamicQuantizeLinear, MatMulInteger). Inputs `input_ids` and
/// `attention_mask` (int64, dynamic batch and sequence), output `logits`, as transformers'
/// exporters name them; `[CLS] text [SEP]` ids come from the vocab.txt written beside the file.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write a trained classifier (fp32, fp16 or int8) as an ONNX file.")

    @Option(help: "A trained model folder (fp32, fp16 or int8).") var model: String
    @Option(help: "The ONNX file to write; its folder must exist, and gets the tokenizer files.") var onnx: String
    @Flag(help: "Print a JSON summary.") var json = false

    func validate() throws {
        guard onnx.hasSuffix(".onnx") else { throw ValidationError("--onnx must name a .onnx file, got \(onnx)") }
    }

    func run() throws {
        try reportingErrors {
            guard let classifier = try ClassifierLoader.load(directory: model) as? SequenceClassifier else {
                throw ModelError(file: model, "cannot export this kind of model")
            }
            try classifier.checkVocabulary(of: BertTokenizer.load(directory: model), directory: model)
            try classifier.exportONNX(to: onnx, tokenizerFrom: model)
            try printResult(["onnx": onnx, "scheme": classifier.quantization.rawValue, "size_bytes": diskSize(onnx),
                             "opset": 17, "inputs": ["input_ids", "attention_mask"], "outputs": ["logits"]], json: json)
        }
    }
}
