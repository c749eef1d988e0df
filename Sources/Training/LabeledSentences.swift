import Foundation
import Model

/// Sentences with integer labels read from a GLUE-style TSV file (`sentence<TAB>label`, header line).
///
/// The full dataset reader (CSV, JSONL, string labels, bad-row policy) builds on this; the
/// benchmark needs only this much.
public struct LabeledSentences: Sendable {
    public let texts: [String]
    public let labels: [Int32]
    public var count: Int { texts.count }

    /// Reads `path`; the header names the columns (`sentence` and `label` by default).
    public static func readTSV(_ path: String, textColumn: String = "sentence",
                               labelColumn: String = "label") throws -> LabeledSentences {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelError(file: path, "cannot read the file (does it exist?)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ModelError(file: path, "not valid UTF-8")
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last == "" { lines.removeLast() }
        guard let header = lines.first else { throw ModelError(file: path, "empty file: expected a header line") }
        let columns = header.split(separator: "\t", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        guard let t = columns.firstIndex(of: textColumn), let l = columns.firstIndex(of: labelColumn) else {
            throw ModelError(file: path, "line 1: header \(columns) has no '\(textColumn)' and '\(labelColumn)' columns")
        }
        var texts: [String] = [], labels: [Int32] = []
        for (i, line) in lines.enumerated().dropFirst() {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard fields.count == columns.count else {
                throw ModelError(file: path, "line \(i + 1): expected \(columns.count) tab-separated fields, found \(fields.count)")
            }
            guard let label = Int32(fields[l].trimmingCharacters(in: .whitespacesAndNewlines)) else {
                throw ModelError(file: path, "line \(i + 1): label '\(fields[l])' is not an integer")
            }
            texts.append(String(fields[t]))
            labels.append(label)
        }
        guard !texts.isEmpty else { throw ModelError(file: path, "no examples after the header") }
        return LabeledSentences(texts: texts, labels: labels)
    }
}
