import Foundation
import Model

// Parsing of TSV, CSV (RFC 4180) and JSONL files into rows, bad-row bookkeeping and label
// resolution, for `Dataset.load`.

/// A data row whose text was read but whose label is not yet mapped to a class id.
struct RawRow {
    let line: Int
    let text: String
    /// The second text of a sentence pair.
    let pair: String?
    /// The label as written, trimmed; JSON integers are written out in decimal.
    let label: String
}

/// A row that could not be used: the line it starts on and what was wrong, for the message.
struct BadRow {
    let line: Int
    let problem: String
}

/// One pass over a file's bytes: rows first, then labels, since the label type is decided from
/// the whole column.
///
/// The file is split into lines (CSV: records) on bytes and each is validated as UTF-8 on its
/// own, so one bad row is reported at its line instead of the whole file being rejected or,
/// worse, silently repaired with replacement characters.
struct DatasetReader {
    let path: String
    let bytes: [UInt8]
    let options: DatasetOptions
    var rows: [RawRow] = []
    var bad: [BadRow] = []
    /// The label column's name as used in messages.
    var labelColumn = DatasetOptions.defaultLabelColumn
    /// The text column's name as found.
    var textColumn = ""
    /// The second text column's name for sentence pairs, else nil.
    var pairColumn: String?
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
        let (labels, names, labelProblem) = options.unlabelled
            ? ([Int32](repeating: unlabelled, count: rows.count), options.labelNames ?? [], nil) : try resolveLabels()
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
        var dataset = Dataset(texts: rows.map(\.text), pairs: pairColumn == nil ? nil : rows.map { $0.pair ?? "" },
                              labels: labels, labelNames: names, source: path, skippedRows: bad.count)
        dataset.textColumns = [textColumn] + (pairColumn.map { [$0] } ?? [])
        return dataset
    }

    func error(_ row: BadRow, prefix: String = "", suffix: String = "") -> ModelError {
        ModelError(file: path, "\(prefix)line \(row.line): \(row.problem)\(suffix)")
    }

    /// The format asked for, else the extension's, else a guess from the first non-blank line:
    /// `{` starts JSONL, a tab means TSV, anything else is read as CSV.
    func resolvedFormat() -> DatasetOptions.Format {
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

}

/// `bytes` without leading and trailing ASCII spaces, tabs and carriage returns.
func trimmingASCIISpaces(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
    func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0D }
    guard let first = bytes.firstIndex(where: { !isSpace($0) }),
          let last = bytes.lastIndex(where: { !isSpace($0) }) else { return bytes[bytes.endIndex...] }
    return bytes[first...last]
}

/// `bytes` as a String if they are valid UTF-8, else nil (never repairs).
func decodeUTF8(_ bytes: ArraySlice<UInt8>) -> String? {
    if #available(macOS 15, iOS 18, tvOS 18, watchOS 11, *) {
        return String(validating: bytes, as: UTF8.self)
    }
    // Older Darwin: decoding repairs invalid sequences with U+FFFD, which changes the bytes.
    let string = String(decoding: bytes, as: UTF8.self)
    return string.utf8.elementsEqual(bytes) ? string : nil
}
