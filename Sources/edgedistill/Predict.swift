import ArgumentParser
import Foundation
import Kernels
import Model

/// `edgedistill predict --model DIR [TEXT ...]`: one JSON line per text.
///
/// Texts come from the arguments or, without arguments, from standard input as JSON lines: each
/// line `{"text": "..."}`, `{"text": "...", "text_pair": "..."}` for a sentence-pair model (as
/// transformers' text-classification pipeline takes them), or a JSON string. Standard input is
/// served as a stream: each line is answered (and flushed) as soon as it arrives, one output line
/// per input line, so a pipe can hold a conversation with it. A line longer than
/// `--max-line-bytes` is answered with an error without being held in memory. Each output line is
/// `{"label": NAME, "label_id": I, "probabilities": {NAME: P, ...}, "tokens": N, "truncated": BOOL}`.
/// A text longer than `--max-length` tokens (at most the model's positions) is cut, classified,
/// and marked `"truncated": true` (with a note on stderr). An input that cannot be classified
/// (a blank line, empty text, a line that is not valid UTF-8 or not valid JSON, or too long) gives
/// `{"error": ..., "line": L}` instead, the other inputs are still classified, and the exit status is 1.
struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Classify texts; print labels and probabilities as JSON lines.")

    @Option(help: "A model folder (fp32, fp16 or int8).") var model: String
    @Option(name: .customLong("max-length")) var maxLength = 128
    @Option(help: "oneDNN threads.") var threads = 1
    @Flag(help: "Also print each input's token ids (\"ids\"), e.g. to feed the same inputs to an exported ONNX file.")
    var ids = false
    @Option(name: .customLong("max-line-bytes"), help: "Longest stdin line accepted, in bytes; longer ones get an error line.")
    var maxLineBytes = 1 << 20
    @Argument(help: "Texts to classify (read JSON lines from stdin when none).") var texts: [String] = []

    func validate() throws {
        guard maxLineBytes >= 16 else { throw ValidationError("--max-line-bytes must be at least 16, got \(maxLineBytes)") }
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
            var failed = false
            func answer(_ input: Input) throws {
                switch input {
                case .failure(let message, let line):
                    failed = true
                    emit(try jsonString(["error": message, "line": line]))
                case .text(let text, let pair, let line):
                    if text.allSatisfy({ $0.isWhitespace }) || pair?.allSatisfy({ $0.isWhitespace }) == true {
                        failed = true
                        emit(try jsonString(["error": pair == nil ? "empty text" : "empty text or text_pair", "line": line]))
                        return
                    }
                    let encoded = tokenizer.encode(text, pair: pair, maxLength: length)
                    let truncated = tokenizer.encode(text, pair: pair, maxLength: length + 1).count > encoded.count
                    if truncated { printError("note: input \(line) is longer than \(length) tokens; classified its first \(length)") }
                    let logits = classifier.logits(TokenBatch(sequences: [encoded]))
                    let probabilities = softmaxRows(logits, classes: names.count)
                    var best = 0
                    for c in probabilities.indices where probabilities[c] > probabilities[best] { best = c }
                    var byName: [String: Double] = [:]
                    for (c, name) in names.enumerated() { byName[name] = Double(probabilities[c]) }
                    var answer: [String: Any] = ["label": names[best], "label_id": best, "probabilities": byName,
                                                 "tokens": encoded.count, "truncated": truncated]
                    if ids { answer["ids"] = encoded.map(Int.init) }
                    emit(try jsonString(answer))
                }
            }
            if texts.isEmpty {
                var reader = LineReader(fileDescriptor: 0, maxLineBytes: maxLineBytes)
                var number = 0
                while let line = reader.next() {
                    number += 1
                    switch line {
                    case .line(let bytes): try answer(Self.parse(bytes, line: number))
                    case .tooLong(let count):
                        try answer(.failure("line is longer than --max-line-bytes \(maxLineBytes) (\(count) bytes or more)", number))
                    }
                }
            } else {
                for (index, text) in texts.enumerated() { try answer(.text(text, pair: nil, index + 1)) }
            }
            if failed { throw ExitCode(1) }
        }
    }

    /// Writes one output line and flushes it, so a reader on a pipe gets it at once.
    func emit(_ line: String) {
        print(line)
        fflush(stdout)
    }

    /// One stdin line (without its newline), checked for UTF-8 and JSON on its own.
    static func parse(_ raw: [UInt8], line: Int) -> Input {
        var bytes = raw
        if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            return .failure("line is not valid UTF-8", line)
        }
        if text.allSatisfy({ $0.isWhitespace }) { return .failure("blank line (expected {\"text\": \"...\"} or a JSON string)", line) }
        guard let value = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]) else {
            return .failure("line is not valid JSON (expected {\"text\": \"...\"} or a JSON string)", line)
        }
        if let string = value as? String { return .text(string, pair: nil, line) }
        guard let object = value as? [String: Any], let string = object["text"] as? String else {
            return .failure("expected {\"text\": \"...\"} or a JSON string", line)
        }
        if object["text_pair"] == nil || object["text_pair"] is NSNull { return .text(string, pair: nil, line) }
        guard let pair = object["text_pair"] as? String else { return .failure("\"text_pair\" must be a string", line) }
        return .text(string, pair: pair, line)
    }
}

/// Lines from a file descriptor as they arrive, never holding more than `maxLineBytes` of one line:
/// the rest of a longer line is read and dropped, and reported as `.tooLong`.
struct LineReader {
    enum Line { case line([UInt8]), tooLong(Int) }

    let fd: Int32
    let maxLineBytes: Int
    var buffer = [UInt8](repeating: 0, count: 65_536)
    var pending: [UInt8] = []
    var start = 0, end = 0
    var finished = false

    init(fileDescriptor: Int32, maxLineBytes: Int) {
        fd = fileDescriptor
        self.maxLineBytes = maxLineBytes
    }

    /// The next line, or nil at the end of input (a last line without a newline still counts).
    mutating func next() -> Line? {
        var dropped = 0  // bytes of an over-long line read and thrown away
        while true {
            if start < end {
                if let newline = buffer[start..<end].firstIndex(of: UInt8(ascii: "\n")) {
                    let chunk = buffer[start..<newline]
                    start = newline + 1
                    if dropped > 0 || pending.count + chunk.count > maxLineBytes {
                        let count = dropped + pending.count + chunk.count
                        pending = []
                        return .tooLong(count)
                    }
                    defer { pending = [] }
                    return .line(pending + chunk)
                }
                let chunk = buffer[start..<end]
                start = end
                if dropped > 0 || pending.count + chunk.count > maxLineBytes {
                    dropped += pending.count + chunk.count
                    pending = []
                } else {
                    pending += chunk
                }
            }
            if finished {
                if dropped > 0 { return .tooLong(dropped) }
                guard !pending.isEmpty else { return nil }
                defer { pending = [] }
                return .line(pending)
            }
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { finished = true; continue }
            start = 0
            end = count
        }
    }
}
