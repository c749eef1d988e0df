import ArgumentParser
import Foundation
import Kernels
import Model

/// `edgedistill predict --model DIR [TEXT ...]`: one JSON line per text.
///
/// Texts come from the arguments or, without arguments, from standard input as JSON lines: each
/// line `{"text": "..."}`, `{"text": "...", "text_pair": "..."}` for a sentence-pair model (as
/// transformers' text-classification pipeline takes them), or a JSON string; blank lines are skipped. Each output line is
/// `{"label": NAME, "label_id": I, "probabilities": {NAME: P, ...}, "tokens": N, "truncated": BOOL}`.
/// A text longer than `--max-length` tokens (at most the model's positions) is cut, classified,
/// and marked `"truncated": true` (with a note on stderr). An input that cannot be classified
/// (empty or whitespace-only text, a line that is not valid UTF-8 or not valid JSON) gives
/// `{"error": ..., "line": L}` instead, the other inputs are still classified, and the exit status is 1.
struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Classify texts; print labels and probabilities as JSON lines.")

    @Option(help: "A model folder (fp32, fp16 or int8).") var model: String
    @Option(name: .customLong("max-length")) var maxLength = 128
    @Option(help: "oneDNN threads.") var threads = 1
    @Argument(help: "Texts to classify (read JSON lines from stdin when none).") var texts: [String] = []

    func validate() throws {
        guard maxLength >= 3 else { throw ValidationError("--max-length must be at least 3 ([CLS], one piece, [SEP]), got \(maxLength)") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
    }

    /// One input: its text, or why it has none, with its 1-based line (or argument) number.
    enum Input { case text(String, pair: String?, Int), failure(String, Int) }

    func run() throws {
        try reportingErrors {
            Threads.set(threads)
            let classifier = try ClassifierLoader.load(directory: model)
            let tokenizer = try BertTokenizer.load(directory: model)
            try classifier.checkVocabulary(of: tokenizer, directory: model)
            let length = classifier.maximumLength(maxLength)
            let names = classifier.config.labelNames
            let inputs = texts.isEmpty
                ? Self.parseLines(FileHandle.standardInput.readDataToEndOfFile())
                : texts.enumerated().map { Input.text($0.element, pair: nil, $0.offset + 1) }
            var failed = false
            for input in inputs {
                switch input {
                case .failure(let message, let line):
                    failed = true
                    print(try jsonString(["error": message, "line": line]))
                case .text(let text, let pair, let line):
                    if text.allSatisfy({ $0.isWhitespace }) || pair?.allSatisfy({ $0.isWhitespace }) == true {
                        failed = true
                        print(try jsonString(["error": pair == nil ? "empty text" : "empty text or text_pair", "line": line]))
                        continue
                    }
                    let ids = tokenizer.encode(text, pair: pair, maxLength: length)
                    let truncated = tokenizer.encode(text, pair: pair, maxLength: length + 1).count > ids.count
                    if truncated { printError("note: input \(line) is longer than \(length) tokens; classified its first \(length)") }
                    let logits = classifier.logits(TokenBatch(sequences: [ids]))
                    let probabilities = softmaxRows(logits, classes: names.count)
                    var best = 0
                    for c in probabilities.indices where probabilities[c] > probabilities[best] { best = c }
                    var byName: [String: Double] = [:]
                    for (c, name) in names.enumerated() { byName[name] = Double(probabilities[c]) }
                    print(try jsonString(["label": names[best], "label_id": best, "probabilities": byName,
                                          "tokens": ids.count, "truncated": truncated]))
                }
            }
            if failed { throw ExitCode(1) }
        }
    }

    /// Splits stdin into JSON lines; each line is checked for UTF-8 and JSON on its own.
    static func parseLines(_ data: Data) -> [Input] {
        var inputs: [Input] = []
        let lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        for (index, raw) in lines.enumerated() {
            let line = index + 1
            var bytes = Data(raw)
            if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
            guard let text = String(data: bytes, encoding: .utf8), String(validating: Array(bytes), as: UTF8.self) != nil else {
                inputs.append(.failure("line is not valid UTF-8", line))
                continue
            }
            if text.allSatisfy({ $0.isWhitespace }) { continue }
            guard let value = try? JSONSerialization.jsonObject(with: bytes, options: [.fragmentsAllowed]) else {
                inputs.append(.failure("line is not valid JSON (expected {\"text\": \"...\"} or a JSON string)", line))
                continue
            }
            if let string = value as? String {
                inputs.append(.text(string, pair: nil, line))
            } else if let object = value as? [String: Any], let string = object["text"] as? String {
                if object["text_pair"] == nil || object["text_pair"] is NSNull {
                    inputs.append(.text(string, pair: nil, line))
                } else if let pair = object["text_pair"] as? String {
                    inputs.append(.text(string, pair: pair, line))
                } else {
                    inputs.append(.failure("\"text_pair\" must be a string", line))
                }
            } else {
                inputs.append(.failure("expected {\"text\": \"...\"} or a JSON string", line))
            }
        }
        return inputs
    }
}
