import Foundation
import Model
import Yams

extension PipelineConfig {
    /// This configuration with every key the YAML file at `path` sets replaced by the file's value;
    /// the keys it leaves out keep this configuration's values (a profile's or the defaults), so a
    /// file overrides a profile key by key, and flags then override the file.
    public func overlaid(withFile path: String) throws -> PipelineConfig {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ModelError(file: path, "cannot read the configuration file")
        }
        return try overlaid(withYAML: text, source: path)
    }

    /// As `overlaid(withFile:)`, from the file's text; `source` names it in errors.
    public func overlaid(withYAML text: String, source: String) throws -> PipelineConfig {
        let yaml = text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? "{}" : text
        let file: PipelineConfig, present: Any?
        do {
            file = try YAMLDecoder().decode(PipelineConfig.self, from: yaml)
            present = try Yams.load(yaml: yaml)
        } catch {
            throw ModelError(file: source, "not a valid configuration: \(error)")
        }
        guard let keys = present as? [String: Any] else {
            throw ModelError(file: source, "expected keys and values at the top level (e.g. `seed: 42`)")
        }
        try Self.checkKnown(keys, source: source)
        // Non-finite numbers pass through as strings here, so `validate` can name them.
        let floats = (positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        func object(_ config: PipelineConfig) throws -> [String: Any] {
            let encoder = JSONEncoder()
            encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: floats.positiveInfinity,
                                                                          negativeInfinity: floats.negativeInfinity, nan: floats.nan)
            return try JSONSerialization.jsonObject(with: encoder.encode(config)) as? [String: Any] ?? [:]
        }
        // Copies the file's typed value of every key it names (sections key by key).
        func copy(_ keys: [String: Any], from source: [String: Any], into target: inout [String: Any]) {
            for (key, value) in keys {
                if let nested = value as? [String: Any], var section = target[key] as? [String: Any],
                   let sourceSection = source[key] as? [String: Any] {
                    copy(nested, from: sourceSection, into: &section)
                    target[key] = section
                } else {
                    target[key] = source[key]  // absent from `source`: the file set it to null
                }
            }
        }
        var merged = try object(self)
        copy(keys, from: try object(file), into: &merged)
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: floats.positiveInfinity,
                                                                        negativeInfinity: floats.negativeInfinity, nan: floats.nan)
        return try decoder.decode(PipelineConfig.self, from: JSONSerialization.data(withJSONObject: merged))
    }

    /// Every key the file names must be one of ours: a misspelt key is an error naming the closest
    /// known one, not a setting silently ignored.
    static func checkKnown(_ keys: [String: Any], source: String) throws {
        let sections: [String: [String]] = [
            "": CodingKeys.allCases.map(\.rawValue),
            "finetune": FineTune.CodingKeys.allCases.map(\.rawValue),
            "distill": Distill.CodingKeys.allCases.map(\.rawValue),
        ]
        func check(_ keys: [String: Any], in section: String) throws {
            let known = sections[section] ?? []
            for key in keys.keys.sorted() {
                let name = section.isEmpty ? key : section + "." + key
                guard known.contains(key) else {
                    let closest = known.min { editDistance(key, $0) < editDistance(key, $1) }
                    throw ModelError(file: source, "unknown key '\(name)'" + (closest.map { "; did you mean '\(section.isEmpty ? $0 : section + "." + $0)'?" } ?? ""))
                }
                if section.isEmpty, let nested = keys[key] as? [String: Any], sections[key] != nil {
                    try check(nested, in: key)
                }
            }
        }
        try check(keys, in: "")
    }
}

/// Levenshtein distance: how many single-character edits turn `a` into `b`.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    var previous = Array(0...b.count)
    for i in 1...max(a.count, 1) where !a.isEmpty {
        var current = [i] + [Int](repeating: 0, count: b.count)
        for j in stride(from: 1, through: b.count, by: 1) {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return a.isEmpty ? b.count : previous[b.count]
}
