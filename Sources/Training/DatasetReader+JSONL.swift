import Foundation
import Model

// JSONL: one object per line; text and label keys as configured.

extension DatasetReader {

    /// One JSON object per line; blank lines are ignored. The text key defaults to "sentence"
    /// when any object has it, else "text", so the whole file uses one key.
    mutating func readJSONLines() throws {
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
    mutating func jsonLabel(_ value: Any?, line: Int) -> String? {
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
    func isBoolean(_ number: NSNumber) -> Bool {
        String(cString: number.objCType) == "c"
    }

    func jsonKind(_ value: Any) -> String {
        switch value {
        case is String: return "a string"
        case let number as NSNumber: return isBoolean(number) ? "a boolean" : "a number"
        case is [Any]: return "an array"
        case is [String: Any]: return "an object"
        case is NSNull: return "null"
        default: return "\(type(of: value))"
        }
    }

}
