import Foundation
import Model

// TSV and CSV (RFC 4180) records: physical line numbers, quoting, bad rows.

extension DatasetReader {

    /// Reads a header line and then one record per line (CSV: per record, which quoted newlines
    /// can stretch over several lines).
    mutating func readDelimited(separator: UInt8, name: String) throws {
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
        guard let textColumns = options.resolveTextColumns(columns.contains),
              let textIndex = columns.firstIndex(of: textColumns.text) else {
            throw error(BadRow(line: header.line, problem: "the header has no text column "
                + "\(options.wantedTextColumns); columns found: \(columnList)"))
        }
        var pairIndex: Int?
        if let pair = textColumns.pair {
            guard let index = columns.firstIndex(of: pair) else {
                throw error(BadRow(line: header.line, problem: "the header has no second text column '\(pair)'; "
                    + "columns found: \(columnList)"))
            }
            pairIndex = index
        }
        labelColumn = options.labelColumn ?? DatasetOptions.defaultLabelColumn
        let labelIndex = options.unlabelled ? nil : columns.firstIndex(of: labelColumn)
        if labelIndex == nil, !options.unlabelled {
            throw error(BadRow(line: header.line, problem: "the header has no label column '\(labelColumn)'; "
                + "columns found: \(columnList)"))
        }
        textColumn = textColumns.text
        pairColumn = textColumns.pair
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
            var text = "", pair = "", label = "", valid = true
            for (index, field) in record.fields.enumerated() {
                // Labels are trimmed on bytes: Foundation's trimming costs more than the rest of a row.
                guard let value = decodeUTF8(index == labelIndex ? trimmingASCIISpaces(field) : field) else {
                    bad.append(BadRow(line: record.line, problem: "invalid UTF-8 in column '\(columns[index])': "
                        + "expected UTF-8 text"))
                    valid = false
                    break
                }
                if index == textIndex { text = value }
                if index == pairIndex { pair = value }
                if index == labelIndex { label = value }
            }
            guard valid else { continue }
            if let row = checkedRow(line: record.line, text: text, pair: pairIndex == nil ? nil : pair, label: label) {
                rows.append(row)
            }
        }
    }

    /// Keeps a row with text and a label; records anything else as bad.
    mutating func checkedRow(line: Int, text: String, pair: String?, label: String) -> RawRow? {
        if text.allSatisfy(\.isWhitespace) {
            bad.append(BadRow(line: line, problem: "empty text in '\(textColumn)': expected the example's text"))
            return nil
        }
        if let pair, pair.allSatisfy(\.isWhitespace) {
            bad.append(BadRow(line: line, problem: "empty text in '\(pairColumn ?? "?")': expected the example's "
                + "second text"))
            return nil
        }
        if label.isEmpty, !options.unlabelled {
            bad.append(BadRow(line: line, problem: "missing label in '\(labelColumn)': expected a class name or id"))
            return nil
        }
        return RawRow(line: line, text: text, pair: pair, label: label)
    }

    /// A record: its fields as bytes, the physical line it starts on, and a structural problem.
    struct Record {
        let line: Int
        let fields: [ArraySlice<UInt8>]
        var problem: String?
    }

    /// GLUE-style TSV: one record per line, fields split on every tab, no quoting; a trailing CR
    /// (CRLF files) is dropped and blank lines are ignored.
    func tsvRecords() -> [Record] {
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
    func csvRecords() throws -> [Record] {
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

}
