import ArgumentParser
import Foundation
import Model
import Training

/// `edgedistill bench tokenizer --model DIR --data FILE [--json]`: how fast `BertTokenizer` encodes
/// a file's texts, on one thread.
///
/// Loads the model folder's tokenizer (vocab.txt or tokenizer.json; no weights are read) and the
/// file's texts (sentence pairs encoded as pairs), then encodes every text `--rounds` times, each
/// pass timed on its own, and prints the median pass: `sentences_per_s` (texts, a pair counting
/// once) and `tokens_per_s` (ids produced, [CLS] and [SEP] included), with every pass's seconds.
struct BenchTokenizer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer", abstract: "Sentences/s and tokens/s of the WordPiece tokenizer over a file's texts (one thread).")

    @Option(help: "A model folder with vocab.txt or tokenizer.json.") var model: String
    @Option(help: "Texts (TSV with header, CSV or JSONL, with labels).") var data: String
    @Option(help: "Timed passes over the file; the median is reported.") var rounds = 3
    @Option(name: .customLong("max-length")) var maxLength = 128
    @OptionGroup var columns: DataColumnOptions
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        guard rounds >= 1 else { throw ValidationError("--rounds must be at least 1") }
        guard maxLength >= 3 else { throw ValidationError("--max-length must be at least 3 ([CLS], one piece, [SEP]), got \(maxLength)") }
    }

    func run() throws {
        try reportingErrors {
            let tokenizer = try BertTokenizer.load(directory: model)
            let dataset = try Dataset.load(data, options: columns.datasetOptions())
            guard !dataset.texts.isEmpty else { throw ModelError(file: data, "no texts to tokenize") }
            let texts = dataset.texts, pairs = dataset.pairs
            var seconds: [Double] = [], tokens = 0
            for _ in 0..<rounds {
                var count = 0
                let start = DispatchTime.now().uptimeNanoseconds
                for i in texts.indices {
                    count += tokenizer.encode(texts[i], pair: pairs?[i], maxLength: maxLength).count
                }
                seconds.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
                tokens = count
            }
            let median = seconds.sorted()[seconds.count / 2]
            try printResult([
                "benchmark": "tokenizer", "model": model, "data": data, "vocabulary": tokenizer.vocabularySize,
                "sentences": texts.count, "sentence_pairs": pairs != nil, "tokens": tokens, "max_length": maxLength,
                "rounds": rounds, "round_seconds": seconds, "seconds": median,
                "sentences_per_s": Double(texts.count) / max(median, 1e-9),
                "tokens_per_s": Double(tokens) / max(median, 1e-9), "threads": 1,
            ], json: json)
        }
    }
}
