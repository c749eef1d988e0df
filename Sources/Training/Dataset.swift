import Foundation
import Model

/// Labelled texts for a classifier, read from a TSV, CSV or JSONL file, with a fixed label map.
///
/// `labels[i]` is the class id of `texts[i]`, an index into `labelNames`. The map is
/// deterministic: integer labels keep their value, string labels are numbered in sorted order of
/// the distinct names, so the same set of labels always gets the same ids whatever the row order.
public struct Dataset: Sendable {
    /// The example texts, in file order.
    public let texts: [String]
    /// The class id of each text, in `0 ..< labelNames.count`.
    public let labels: [Int32]
    /// The name of each class; index = class id.
    public let labelNames: [String]
    /// Where the examples came from (the path as the user gave it), for messages.
    public let source: String
    /// How many bad rows were skipped when loading with `DatasetOptions.skipBadRows`.
    public let skippedRows: Int

    /// Number of examples.
    public var count: Int { texts.count }
    /// Number of classes in the label map.
    public var classCount: Int { labelNames.count }

    /// Wraps examples already in memory; `labels` must hold ids in `0 ..< labelNames.count`.
    public init(texts: [String], labels: [Int32], labelNames: [String], source: String, skippedRows: Int = 0) {
        precondition(texts.count == labels.count, "\(texts.count) texts but \(labels.count) labels")
        self.texts = texts
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
        let heldOut = Int((Double(count) * heldOutFraction).rounded())
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
        Dataset(texts: indices.map { texts[$0] }, labels: indices.map { labels[$0] },
                labelNames: labelNames, source: source, skippedRows: skippedRows)
    }
}

/// How `Dataset.load` reads a file: its format, which columns hold text and label, and what to do
/// with bad rows.
public struct DatasetOptions: Sendable {
    /// The file format; `.auto` goes by the extension (.tsv, .csv, .jsonl or .json), else sniffs.
    public enum Format: Sendable {
        case auto, tsv, csv, jsonl
    }

    /// The text column (JSONL: key); nil means "sentence" when present, else "text".
    public var textColumn: String?
    /// The label column (JSONL: key); nil means "label".
    public var labelColumn: String?
    public var format: Format
    /// Skip and count bad rows instead of throwing at the first.
    public var skipBadRows: Bool
    /// An existing label map (index = class id), e.g. a trained model's: every label must then be
    /// one of these names, or, in a column of integers, a class id below `labelNames.count`.
    public var labelNames: [String]?

    public init(textColumn: String? = nil, labelColumn: String? = nil, format: Format = .auto,
                skipBadRows: Bool = false, labelNames: [String]? = nil) {
        self.textColumn = textColumn
        self.labelColumn = labelColumn
        self.format = format
        self.skipBadRows = skipBadRows
        self.labelNames = labelNames
    }

    /// The text column names tried in order when `textColumn` is nil.
    static let defaultTextColumns = ["sentence", "text"]
    static let defaultLabelColumn = "label"
}

/// A data row whose text was read but whose label is not yet mapped to a class id.
private struct RawRow {
    let line: Int
    let text: String
    /// The label as written, trimmed; JSON integers are written out in decimal.
    let label: String
}

/// A row that could not be used: the line it starts on and what was wrong, for the message.
private struct BadRow {
    let line: Int
    let problem: String
}

/// One pass over a file's bytes: rows first, then labels, since the label type is decided from
/// the whole column.
///
/// The file is split into lines (CSV: records) on bytes and each is validated as UTF-8 on its
/// own, so one bad row is reported at its line instead of the whole file being rejected or,
/// worse, silently repaired with replacement characters.
private struct DatasetReader {
    let path: String
    let bytes: [UInt8]
    let options: DatasetOptions
    var rows: [RawRow] = []
    var bad: [BadRow] = []
    /// The label column's name as used in messages.
    var labelColumn = DatasetOptions.defaultLabelColumn
    /// Where data rows were expected, for the message when there are none.
    var afterHeader = ""

    init(path: String, bytes: [UInt8], options: DatasetOptions) {
        self.path = path
        self.bytes = bytes
        self.options = options
    }

    mutating func read() throws -> Dataset {
        switch resolvedFormat() {
        case .tsv: try readDelimited(separator: UInt8(ascii: "\t"), name: "tab")
        case .csv: try readDelimited(separator: UInt8(ascii: ","), name: "comma")
        case .jsonl, .auto: try readJSONLines()
        }
        let dataRows = rows.count + bad.count
        let (labels, names, labelProblem) = try resolveLabels()
        // Bad rows first: a stray label can cause the label-set problems checked after.
        if let first = bad.min(by: { $0.line < $1.line }) {
            if !options.skipBadRows {
                throw error(first, suffix: bad.count == 1
                    ? " (pass --skip-bad-rows, skip_bad_rows: true, to skip such rows)"
                    : " (\(bad.count) bad rows in all; pass --skip-bad-rows (skip_bad_rows: true) to skip them)")
            }
            if rows.isEmpty {
                throw error(first, prefix: "all \(dataRows) data rows are bad and were skipped; the first: ")
            }
        }
        guard dataRows > 0 else {
            throw ModelError(file: path, "no data rows\(afterHeader): expected at least one example")
        }
        if let labelProblem { throw ModelError(file: path, labelProblem) }
        return Dataset(texts: rows.map(\.text), labels: labels, labelNames: names, source: path,
                       skippedRows: bad.count)
    }

    private func error(_ row: BadRow, prefix: String = "", suffix: String = "") -> ModelError {
        ModelError(file: path, "\(prefix)line \(row.line): \(row.problem)\(suffix)")
    }

    /// The format asked for, else the extension's, else a guess from the first non-blank line:
    /// `{` starts JSONL, a tab means TSV, anything else is read as CSV.
    private func resolvedFormat() -> DatasetOptions.Format {
        if options.format != .auto { return options.format }
        switch URL(fileURLWithPath: path).pathExtension.lowercased() {
        case "tsv": return .tsv
        case "csv": return .csv
        case "jsonl", "json": return .jsonl
        default: break
        }
        let blank: Set<UInt8> = [0x20, 0x09, 0x0A, 0x0D]
        guard let start = bytes.firstIndex(where: { !blank.contains($0) }) else { return .tsv }
        if bytes[start] == UInt8(ascii: "{") { return .jsonl }
        let end = bytes[start...].firstIndex(of: 0x0A) ?? bytes.endIndex
        return bytes[start..<end].contains(0x09) ? .tsv : .csv
    }

    // MARK: TSV and CSV

    /// Reads a header line and then one record per line (CSV: per record, which quoted newlines
    /// can stretch over several lines).
    private mutating func readDelimited(separator: UInt8, name: String) throws {
        let records = separator == UInt8(ascii: ",") ? try csvRecords() : tsvRecords()
        guard let header = records.first else {
            throw ModelError(file: path, "empty file: expected a header line naming the columns")
        }
        if let problem = header.problem { throw error(BadRow(line: header.line, problem: "header: \(problem)")) }
        var columns: [String] = []
        for field in header.fields {
            guard let column = decodeUTF8(field) else {
                throw error(BadRow(line: header.line, problem: "the header is not valid UTF-8"))
            }
            columns.append(column.trimmingCharacters(in: .whitespaces))
        }
        let columnList = columns.map { "'\($0)'" }.joined(separator: ", ")
        let textCandidates = options.textColumn.map { [$0] } ?? DatasetOptions.defaultTextColumns
        guard let textIndex = textCandidates.lazy.compactMap({ columns.firstIndex(of: $0) }).first else {
            let wanted = textCandidates.map { "'\($0)'" }.joined(separator: " or ")
            throw error(BadRow(line: header.line, problem: "the header has no text column \(wanted); "
                + "columns found: \(columnList)"))
        }
        labelColumn = options.labelColumn ?? DatasetOptions.defaultLabelColumn
        guard let labelIndex = columns.firstIndex(of: labelColumn) else {
            throw error(BadRow(line: header.line, problem: "the header has no label column '\(labelColumn)'; "
                + "columns found: \(columnList)"))
        }
        let textColumn = columns[textIndex]
        afterHeader = " after the header on line \(header.line)"
        let expected = "expected \(columns.count) \(name)-separated fields (\(columns.joined(separator: ", ")))"
        rows.reserveCapacity(records.count - 1)
        for record in records.dropFirst() {
            if let problem = record.problem {
                bad.append(BadRow(line: record.line, problem: problem))
                continue
            }
            guard record.fields.count == columns.count else {
                bad.append(BadRow(line: record.line, problem: "\(expected), found \(record.fields.count)"))
                continue
            }
            var text = "", label = "", valid = true
            for (index, field) in record.fields.enumerated() {
                // Labels are trimmed on bytes: Foundation's trimming costs more than the rest of a row.
                guard let value = decodeUTF8(index == labelIndex ? trimmingASCIISpaces(field) : field) else {
                    bad.append(BadRow(line: record.line, problem: "invalid UTF-8 in column '\(columns[index])': "
                        + "expected UTF-8 text"))
                    valid = false
                    break
                }
                if index == textIndex { text = value }
                if index == labelIndex { label = value }
            }
            guard valid else { continue }
            if let row = checkedRow(line: record.line, text: text, label: label, textColumn: textColumn) {
                rows.append(row)
            }
        }
    }

    /// Keeps a row with text and a label; records anything else as bad.
    private mutating func checkedRow(line: Int, text: String, label: String, textColumn: String) -> RawRow? {
        if text.allSatisfy(\.isWhitespace) {
            bad.append(BadRow(line: line, problem: "empty text in '\(textColumn)': expected the example's text"))
            return nil
        }
        if label.isEmpty {
            bad.append(BadRow(line: line, problem: "missing label in '\(labelColumn)': expected a class name or id"))
            return nil
        }
        return RawRow(line: line, text: text, label: label)
    }

    /// A record: its fields as bytes, the physical line it starts on, and a structural problem.
    private struct Record {
        let line: Int
        let fields: [ArraySlice<UInt8>]
        var problem: String?
    }

    /// GLUE-style TSV: one record per line, fields split on every tab, no quoting; a trailing CR
    /// (CRLF files) is dropped and blank lines are ignored.
    private func tsvRecords() -> [Record] {
        var records: [Record] = []
        var line = 0
        var start = bytes.startIndex
        while start < bytes.endIndex {
            line += 1
            let newline = bytes[start...].firstIndex(of: 0x0A) ?? bytes.endIndex
            var end = newline
            if end > start && bytes[end - 1] == 0x0D { end -= 1 }
            if end > start {
                records.append(Record(line: line, fields: bytes[start..<end].split(
                    separator: 0x09, omittingEmptySubsequences: false)))
            }
            start = newline + 1
        }
        return records
    }

    /// RFC 4180 CSV: comma-separated fields, a field that starts with `"` is quoted and may hold
    /// commas, newlines and `""` (one quote); records end at LF or CRLF outside quotes; blank
    /// lines are ignored.
    ///
    /// A quote inside an unquoted field is kept as a character, as most writers and readers do.
    /// Text after a closing quote makes the record bad (skippable: reading resumes at the next
    /// line); a quote never closed throws even with skipBadRows, since the rest of the file
    /// cannot be split into records.
    private func csvRecords() throws -> [Record] {
        let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), lf: UInt8 = 0x0A, cr: UInt8 = 0x0D
        let n = bytes.count
        var records: [Record] = []
        var line = 1
        var i = 0
        while i < n {
            if bytes[i] == lf { line += 1; i += 1; continue }
            if bytes[i] == cr && i + 1 < n && bytes[i + 1] == lf { line += 1; i += 2; continue }
            let recordLine = line
            var fields: [ArraySlice<UInt8>] = []
            var problem: String?
            fieldLoop: while true {
                guard i < n, bytes[i] == quote else {
                    // Unquoted field: up to the next comma or end of line.
                    let start = i
                    while i < n && bytes[i] != comma && bytes[i] != lf { i += 1 }
                    if i < n && bytes[i] == comma {
                        fields.append(bytes[start..<i])
                        i += 1
                        continue fieldLoop
                    }
                    var end = i
                    if end > start && bytes[end - 1] == cr { end -= 1 }
                    fields.append(bytes[start..<end])
                    if i < n { i += 1; line += 1 }
                    break fieldLoop
                }
                // Quoted field: copied only when it holds an escaped quote.
                i += 1
                var segment = i
                var unescaped: [UInt8] = []
                var escaped = false
                var closed = false
                while i < n {
                    let byte = bytes[i]
                    if byte == quote {
                        if i + 1 < n && bytes[i + 1] == quote {
                            unescaped += bytes[segment...i]  // up to and including one quote
                            escaped = true
                            i += 2
                            segment = i
                            continue
                        }
                        closed = true
                        break
                    }
                    if byte == lf { line += 1 }
                    i += 1
                }
                guard closed else {
                    throw ModelError(file: path, "line \(recordLine): a quoted field is never closed: expected a "
                        + "closing \" (write a quote inside a quoted field as \"\")")
                }
                if escaped {
                    unescaped += bytes[segment..<i]
                    fields.append(unescaped[...])
                } else {
                    fields.append(bytes[segment..<i])
                }
                i += 1  // the closing quote
                if i >= n { break fieldLoop }
                if bytes[i] == comma { i += 1; continue fieldLoop }
                if bytes[i] == lf { i += 1; line += 1; break fieldLoop }
                if bytes[i] == cr && (i + 1 == n || bytes[i + 1] == lf) { i += 2; line += 1; break fieldLoop }
                problem = "text after the closing quote of field \(fields.count): expected a comma or the end "
                    + "of the line (write a quote inside a quoted field as \"\")"
                while i < n && bytes[i] != lf { i += 1 }
                if i < n { i += 1; line += 1 }
                break fieldLoop
            }
            records.append(Record(line: recordLine, fields: fields, problem: problem))
        }
        return records
    }

    // MARK: JSONL

    /// One JSON object per line; blank lines are ignored. The text key defaults to "sentence"
    /// when any object has it, else "text", so the whole file uses one key.
    private mutating func readJSONLines() throws {
        var objects: [(line: Int, object: [String: Any])] = []
        var line = 0
        var start = bytes.startIndex
        while start < bytes.endIndex {
            line += 1
            let newline = bytes[start...].firstIndex(of: 0x0A) ?? bytes.endIndex
            let content = bytes[start..<newline]
            start = newline + 1
            if content.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            guard decodeUTF8(content) != nil else {
                bad.append(BadRow(line: line, problem: "invalid UTF-8: expected UTF-8 text"))
                continue
            }
            let parsed: Any
            do {
                parsed = try JSONSerialization.jsonObject(with: Data(content), options: [.fragmentsAllowed])
            } catch {
                bad.append(BadRow(line: line, problem: "invalid JSON: expected one JSON object per line"))
                continue
            }
            guard let object = parsed as? [String: Any] else {
                bad.append(BadRow(line: line, problem: "expected a JSON object, found \(jsonKind(parsed))"))
                continue
            }
            objects.append((line, object))
        }
        guard !objects.isEmpty else {
            if bad.isEmpty { throw ModelError(file: path, "empty file: expected one JSON object per line") }
            return
        }
        let keysFound = objects[0].object.keys.sorted().map { "'\($0)'" }.joined(separator: ", ")
        let textCandidates = options.textColumn.map { [$0] } ?? DatasetOptions.defaultTextColumns
        guard let textKey = textCandidates.first(where: { key in objects.contains { $0.object[key] != nil } }) else {
            let wanted = textCandidates.map { "'\($0)'" }.joined(separator: " or ")
            throw ModelError(file: path, "no object has the text key \(wanted); keys found on line "
                + "\(objects[0].line): \(keysFound)")
        }
        labelColumn = options.labelColumn ?? DatasetOptions.defaultLabelColumn
        guard objects.contains(where: { $0.object[labelColumn] != nil }) else {
            throw ModelError(file: path, "no object has the label key '\(labelColumn)'; keys found on line "
                + "\(objects[0].line): \(keysFound)")
        }
        for (line, object) in objects {
            let text: String
            switch object[textKey] {
            case nil, is NSNull:
                bad.append(BadRow(line: line, problem: "missing text key '\(textKey)': expected the example's text"))
                continue
            case let value as String:
                text = value
            case let value?:
                bad.append(BadRow(line: line, problem: "text '\(textKey)' is \(jsonKind(value)): expected a string"))
                continue
            }
            guard let label = jsonLabel(object[labelColumn], line: line) else { continue }
            if let row = checkedRow(line: line, text: text, label: label, textColumn: textKey) {
                rows.append(row)
            }
        }
    }

    /// A JSON label as text: a string (trimmed), or an integer (an integral number) in decimal.
    private mutating func jsonLabel(_ value: Any?, line: Int) -> String? {
        switch value {
        case nil, is NSNull:
            return ""  // reported as a missing label by `checkedRow`
        case let string as String:
            return string.trimmingCharacters(in: .whitespaces)
        case let number as NSNumber where !isBoolean(number):
            let double = number.doubleValue
            if double.rounded() == double, abs(double) < 9e18 { return String(number.int64Value) }
            bad.append(BadRow(line: line, problem: "label \(number) is not an integer: expected a class id or name"))
            return nil
        case let other?:
            bad.append(BadRow(line: line, problem: "label '\(labelColumn)' is \(jsonKind(other)): "
                + "expected an integer or a string"))
            return nil
        }
    }

    /// Whether a number from JSONSerialization was `true` or `false` in the JSON (objCType "c"
    /// on both Darwin and swift-corelibs-foundation).
    private func isBoolean(_ number: NSNumber) -> Bool {
        String(cString: number.objCType) == "c"
    }

    private func jsonKind(_ value: Any) -> String {
        switch value {
        case is String: return "a string"
        case let number as NSNumber: return isBoolean(number) ? "a boolean" : "a number"
        case is [Any]: return "an array"
        case is [String: Any]: return "an object"
        case is NSNull: return "null"
        default: return "\(type(of: value))"
        }
    }

    // MARK: Labels

    /// Maps the rows' labels to class ids, moving rows with unusable labels to `bad`.
    ///
    /// Without a given map the column is integer-typed when more than half of its labels parse as
    /// integers: all of them is the normal case, and a few stray names among thousands of ids are
    /// far likelier typos (reported at their line) than a label set that mixes ids and names.
    /// Integer labels keep their value and must cover 0 ..< K; string labels are numbered in
    /// sorted order of the distinct names.
    /// Problems with the label set as a whole come back as `problem`, thrown once bad rows are
    /// dealt with; a broken `labelNames` option throws at once.
    private mutating func resolveLabels() throws -> (labels: [Int32], names: [String], problem: String?) {
        let integers = rows.map { Int($0.label) }
        let integerTyped = integers.reduce(0) { $0 + ($1 == nil ? 0 : 1) } * 2 > rows.count
        var ids = [Int32?](repeating: nil, count: rows.count)
        let names: [String]
        var problem: String?

        if let given = options.labelNames {
            guard given.count >= 2 else {
                throw ModelError(file: path, "the given label map has \(given.count) class(es): "
                    + "expected at least 2 for a classifier")
            }
            var index: [String: Int32] = [:]
            for (id, name) in given.enumerated() where index[name] == nil { index[name] = Int32(id) }
            guard index.count == given.count else {
                throw ModelError(file: path, "the given label map repeats a name: \(given)")
            }
            names = given
            let known = given.count <= 20 ? given.joined(separator: ", ")
                : given.prefix(20).joined(separator: ", ") + ", ..."
            // Names first, so a map of numerals ("0", "1") in any order means what it says; ids
            // only when the file's labels are integers that are not all names in the map.
            let byName = rows.allSatisfy { index[$0.label] != nil }
            for (r, row) in rows.enumerated() {
                if byName {
                    ids[r] = index[row.label]
                } else if integerTyped, let value = integers[r] {
                    if value >= 0 && value < given.count {
                        ids[r] = Int32(value)
                    } else {
                        bad.append(BadRow(line: row.line, problem: "unknown label \(value): expected a class id "
                            + "0 to \(given.count - 1) of the label map (\(known))"))
                    }
                } else if let id = index[row.label] {
                    ids[r] = id
                } else {
                    bad.append(BadRow(line: row.line, problem: "unknown label '\(row.label)': expected one of "
                        + "the label map (\(known))"))
                }
            }
        } else if integerTyped {
            var present = Set<Int>()
            for (r, row) in rows.enumerated() {
                guard let value = integers[r] else {
                    bad.append(BadRow(line: row.line, problem: "label '\(row.label)' is not an integer: expected "
                        + "a class id, as most labels in '\(labelColumn)' are (give labelNames to use names)"))
                    continue
                }
                guard value >= 0 && value < Int(Int32.max) else {
                    bad.append(BadRow(line: row.line, problem: "label \(value) is out of range: expected a class "
                        + "id 0, 1, 2, ..."))
                    continue
                }
                ids[r] = Int32(value)
                present.insert(value)
            }
            let classCount = (present.max() ?? -1) + 1
            if present.count < classCount {
                // Missing ids come early when the maximum is absurd, so stop after a few.
                let missing = (0..<classCount).lazy.filter { !present.contains($0) }.prefix(10).map(String.init)
                let more = classCount - present.count > 10 ? ", ..." : ""
                problem = "integer labels in '\(labelColumn)' must be the class ids 0 to \(classCount - 1) "
                    + "without gaps; missing: \(missing.joined(separator: ", "))\(more)"
            }
            names = (0..<classCount).map(String.init)
        } else {
            names = Set(rows.map(\.label)).sorted()
            let index = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, Int32($0)) })
            for r in rows.indices { ids[r] = index[rows[r].label] }
        }

        // Keep only rows whose label mapped; bad rows were recorded above.
        var kept: [RawRow] = [], labels: [Int32] = []
        kept.reserveCapacity(rows.count)
        labels.reserveCapacity(rows.count)
        for (row, id) in zip(rows, ids) {
            if let id { kept.append(row); labels.append(id) }
        }
        rows = kept
        if problem == nil && names.count < 2 && !rows.isEmpty {
            problem = "only 1 class (\(names.map { "'\($0)'" }.joined())) in '\(labelColumn)': "
                + "expected at least 2 for a classifier"
        }
        return (labels, names, problem)
    }
}

/// `bytes` without leading and trailing ASCII spaces, tabs and carriage returns.
private func trimmingASCIISpaces(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
    func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0D }
    guard let first = bytes.firstIndex(where: { !isSpace($0) }),
          let last = bytes.lastIndex(where: { !isSpace($0) }) else { return bytes[bytes.endIndex...] }
    return bytes[first...last]
}

/// `bytes` as a String if they are valid UTF-8, else nil (never repairs).
private func decodeUTF8(_ bytes: ArraySlice<UInt8>) -> String? {
    if #available(macOS 15, iOS 18, tvOS 18, watchOS 11, *) {
        return String(validating: bytes, as: UTF8.self)
    }
    // Older Darwin: decoding repairs invalid sequences with U+FFFD, which changes the bytes.
    let string = String(decoding: bytes, as: UTF8.self)
    return string.utf8.elementsEqual(bytes) ? string : nil
}
