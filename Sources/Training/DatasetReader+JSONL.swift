import Foundation
import Model

// JSONL: one object per line; text and label keys as configured.

extension DatasetReader {

    /// One JSON object per line; blank lines are ignored. The text keys are chosen as for a
    /// header (`DatasetOptions.resolveTextColumns`) among the keys any object has, so the whole
    /// file uses the same keys.
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
        let present = { (key: String) in objects.contains { $0.object[key] != nil } }
        guard let (textKey, pairKey) = options.resolveTextColumns(present) else {
            throw ModelError(file: path, "no object has the text key \(options.wantedTextColumns); keys found on line "
                + "\(objects[0].line): \(keysFound)")
        }
        if let pairKey, !present(pairKey) {
            throw ModelError(file: path, "no object has the second text key '\(pairKey)'; keys found on line "
                + "\(objects[0].line): \(keysFound)")
        }
        textColumn = textKey
        pairColumn = pairKey
        labelColumn = options.labelColumn ?? DatasetOptions.defaultLabelColumn
        guard options.unlabelled || objects.contains(where: { $0.object[labelColumn] != nil }) else {
            throw ModelError(file: path, "no object has the label key '\(labelColumn)'; keys found on line "
                + "\(objects[0].line): \(keysFound)")
        }
        for (line, object) in objects {
            guard let text = jsonText(object[textKey], key: textKey, line: line, what: "text") else { continue }
            var pair: String?
            if let pairKey {
                guard let value = jsonText(object[pairKey], key: pairKey, line: line, what: "second text") else { continue }
                pair = value
            }
            guard let label = options.unlabelled ? "" : jsonLabel(object[labelColumn], line: line) else { continue }
            if let row = checkedRow(line: line, text: text, pair: pair, label: label) {
                rows.append(row)
            }
        }
    }

    /// A JSON text value (`what`: "text" or "second text"), or nil with the row recorded as bad.
    mutating func jsonText(_ value: Any?, key: String, line: Int, what: String) -> String? {
        switch value {
        case nil, is NSNull:
            bad.append(BadRow(line: line, problem: "missing \(what) key '\(key)': expected the example's \(what)"))
            return nil
        case let string as String:
            return string
        case let other?:
            bad.append(BadRow(line: line, problem: "\(what) '\(key)' is \(jsonKind(other)): expected a string"))
            return nil
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
