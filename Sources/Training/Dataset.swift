import Foundation
import Model

/// Labelled texts for a classifier, read from a TSV, CSV or JSONL file, with a fixed label map.
///
/// `labels[i]` is the class id of `texts[i]` (with `pairs[i]` for sentence-pair tasks), an index
/// into `labelNames`. The map is deterministic: integer labels keep their value, string labels are
/// numbered in sorted order of the distinct names, so the same set of labels always gets the same
/// ids whatever the row order.
public struct Dataset: Sendable {
    /// The example texts, in file order.
    public let texts: [String]
    /// The second text of each example for sentence-pair tasks (entailment, paraphrase, question
    /// answering), else nil.
    public let pairs: [String]?
    /// The class id of each text, in `0 ..< labelNames.count`.
    public let labels: [Int32]
    /// The name of each class; index = class id.
    public let labelNames: [String]
    /// Where the examples came from (the path as the user gave it), for messages.
    public let source: String
    /// How many bad rows were skipped when loading with `DatasetOptions.skipBadRows`.
    public let skippedRows: Int
    /// The columns (JSONL: keys) the texts were read from: one, or two for sentence pairs; empty
    /// for examples made in memory.
    public internal(set) var textColumns: [String] = []

    /// Number of examples.
    public var count: Int { texts.count }
    /// Number of classes in the label map.
    public var classCount: Int { labelNames.count }

    /// Wraps examples already in memory; `labels` must hold ids in `0 ..< labelNames.count`.
    public init(texts: [String], pairs: [String]? = nil, labels: [Int32], labelNames: [String], source: String,
                skippedRows: Int = 0) {
        precondition(texts.count == labels.count, "\(texts.count) texts but \(labels.count) labels")
        precondition(pairs == nil || pairs?.count == texts.count, "\(texts.count) texts but \(pairs?.count ?? 0) pairs")
        self.texts = texts
        self.pairs = pairs
        self.labels = labels
        self.labelNames = labelNames
        self.source = source
        self.skippedRows = skippedRows
    }

    /// Reads the examples in `path`.
    ///
    /// Every problem is a `ModelError` naming `path` and, for a row, its line (the line a CSV
    /// record starts on) and what was expected. A bad row (wrong field count, empty text, missing
    /// or unknown label, invalid UTF-8, invalid JSON) throws unless `options.skipBadRows`, which
    /// skips and counts it; a file that yields no examples or fewer than two classes always throws.
    public static func load(_ path: String, options: DatasetOptions = DatasetOptions()) throws -> Dataset {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ModelError(file: path, "no such file: expected a TSV, CSV or JSONL data file")
        }
        guard !isDirectory.boolValue else {
            throw ModelError(file: path, "is a directory: expected a TSV, CSV or JSONL data file")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelError(file: path, "cannot read the file (permissions?)")
        }
        var bytes = [UInt8](data)
        // A UTF-8 byte-order mark (spreadsheet exports write one) would otherwise glue onto the
        // first column name.
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        var reader = DatasetReader(path: path, bytes: bytes, options: options)
        return try reader.read()
    }

    /// Splits off a held-out part: a seeded random `heldOutFraction` of the examples (rounded)
    /// goes to `validation`, the rest to `train`.
    ///
    /// The same seed always gives the same split. Each part keeps file order, the label map,
    /// `source` and `skippedRows` (both describe the file the part came from). Not stratified:
    /// with thousands of examples the class balance of a random part is close to the whole's.
    public func split(heldOutFraction: Double, seed: UInt64) throws -> (train: Dataset, validation: Dataset) {
        guard heldOutFraction > 0, heldOutFraction < 1 else {
            throw ModelError(file: source, "held-out fraction \(heldOutFraction) must be between 0 and 1, both excluded")
        }
        // At least one example each way: a tiny validation set beats refusing a small run.
        let heldOut = min(count - 1, max(1, Int((Double(count) * heldOutFraction).rounded())))
        guard heldOut >= 1, heldOut < count else {
            throw ModelError(file: source, "holding out \(heldOutFraction) of \(count) examples gives \(heldOut) "
                + "for validation and \(count - heldOut) for training: expected at least 1 in each")
        }
        let order = SeededShuffle.permutation(count: count, seed: seed)
        // Sorting each part restores file order, so a part reads like a filtered copy of the file.
        let validationIndices = order[..<heldOut].sorted()
        let trainIndices = order[heldOut...].sorted()
        return (subset(trainIndices), subset(validationIndices))
    }

    private func subset(_ indices: [Int]) -> Dataset {
        var part = Dataset(texts: indices.map { texts[$0] }, pairs: pairs.map { p in indices.map { p[$0] } },
                           labels: indices.map { labels[$0] }, labelNames: labelNames, source: source,
                           skippedRows: skippedRows)
        part.textColumns = textColumns
        return part
    }

    /// The token ids of example `index`: `[CLS] text [SEP]`, or `[CLS] text [SEP] pair [SEP]`,
    /// truncated to `maxLength` ids.
    public func encoding(_ index: Int, tokenizer: BertTokenizer, maxLength: Int) -> [Int32] {
        tokenizer.encode(texts[index], pair: pairs?[index], maxLength: maxLength)
    }
}

/// How `Dataset.load` reads a file: its format, which columns hold text and label, and what to do
/// with bad rows.
public struct DatasetOptions: Sendable {
    /// The file format; `.auto` goes by the extension (.tsv, .csv, .jsonl or .json), else sniffs.
    public enum Format: Sendable {
        case auto, tsv, csv, jsonl
    }

    /// The text column (JSONL: key); nil means the first text of a known sentence-pair header
    /// (`knownPairColumns`) when the file has one, else "sentence" when present, else "text".
    public var textColumn: String?
    /// The second text column of a sentence-pair task; nil means the second column of a known pair
    /// when `textColumn` is nil too, else none (one text per example).
    public var textPairColumn: String?
    /// The label column (JSONL: key); nil means "label".
    public var labelColumn: String?
    public var format: Format
    /// Skip and count bad rows instead of throwing at the first.
    public var skipBadRows: Bool
    /// An existing label map (index = class id), e.g. a trained model's: every label must then be
    /// one of these names, or, in a column of integers, a class id below `labelNames.count`.
    public var labelNames: [String]?
    /// Texts only the teacher labels (`--unlabeled`): the label column may be absent and is ignored;
    /// every example gets the label `unlabelled`.
    public var unlabelled = false

    public init(textColumn: String? = nil, textPairColumn: String? = nil, labelColumn: String? = nil,
                format: Format = .auto, skipBadRows: Bool = false, labelNames: [String]? = nil) {
        self.textColumn = textColumn
        self.textPairColumn = textPairColumn
        self.labelColumn = labelColumn
        self.format = format
        self.skipBadRows = skipBadRows
        self.labelNames = labelNames
    }

    /// The text column names tried in order when `textColumn` is nil and no known pair is found.
    static let defaultTextColumns = ["sentence", "text"]
    /// Sentence-pair headers of GLUE-style files (RTE, MNLI, WNLI; QQP; QNLI; SNLI-style; MRPC),
    /// tried in order when neither text column is given.
    public static let knownPairColumns = [("sentence1", "sentence2"), ("question1", "question2"),
                                          ("question", "sentence"), ("premise", "hypothesis"),
                                          ("#1 String", "#2 String")]

    /// The text column and, for sentence pairs, the second text column, among the names for which
    /// `has` is true; nil when no text column is found.
    func resolveTextColumns(_ has: (String) -> Bool) -> (text: String, pair: String?)? {
        switch (textColumn, textPairColumn) {
        case let (text?, pair):
            return has(text) ? (text, pair) : nil
        case let (nil, pair?):
            // The first text of the known pair ending in `pair`, else a default single column.
            let first = Self.knownPairColumns.first { $0.1 == pair }.map { [$0.0] } ?? []
            return (first + Self.defaultTextColumns).first { has($0) && $0 != pair }.map { ($0, pair) }
        case (nil, nil):
            if let known = Self.knownPairColumns.first(where: { has($0.0) && has($0.1) }) { return known }
            return Self.defaultTextColumns.first(where: has).map { ($0, nil) }
        }
    }

    /// What `resolveTextColumns` looked for, for the message when it finds nothing.
    var wantedTextColumns: String {
        if let textColumn { return "'\(textColumn)'" }
        return Self.defaultTextColumns.map { "'\($0)'" }.joined(separator: " or ") + ", or a sentence pair "
            + Self.knownPairColumns.map { "'\($0.0)' + '\($0.1)'" }.joined(separator: ", ")
    }
    static let defaultLabelColumn = "label"
}
