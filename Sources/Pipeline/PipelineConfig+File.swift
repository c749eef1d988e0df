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
        func object(_ config: PipelineConfig) throws -> [String: Any] {
            try JSONSerialization.jsonObject(with: JSONEncoder().encode(config)) as? [String: Any] ?? [:]
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
        return try JSONDecoder().decode(PipelineConfig.self, from: JSONSerialization.data(withJSONObject: merged))
    }
}
