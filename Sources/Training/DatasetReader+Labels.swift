import Foundation
import Model

// Labels: integer or string columns, a given label map, gaps and single-class checks.

extension DatasetReader {

    /// Maps the rows' labels to class ids, moving rows with unusable labels to `bad`.
    ///
    /// Without a given map the column is integer-typed when more than half of its labels parse as
    /// integers: all of them is the normal case, and a few stray names among thousands of ids are
    /// far likelier typos (reported at their line) than a label set that mixes ids and names.
    /// Integer labels keep their value and must cover 0 ..< K; string labels are numbered in
    /// sorted order of the distinct names.
    /// Problems with the label set as a whole come back as `problem`, thrown once bad rows are
    /// dealt with; a broken `labelNames` option throws at once.
    mutating func resolveLabels() throws -> (labels: [Int32], names: [String], problem: String?) {
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
