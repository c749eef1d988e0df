import Foundation
import XCTest

/// Wrong settings through the real binary: each is refused before anything is written, with the
/// key or flag named.
final class SettingsTests: CLITestCase {
    func testWrongSettingsAreRefusedNamingTheKey() throws {
        let out = scratch.appendingPathComponent("never").path
        let base = try tinyRunOptions(out: out, seed: 11, epochs: 1)
        func config(_ yaml: String) throws -> String {
            let path = scratch.appendingPathComponent("c-\(UUID().uuidString.prefix(6)).yaml").path
            try yaml.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        func replacing(_ flag: String, with value: String, in arguments: [String]) -> [String] {
            var arguments = arguments
            if let index = arguments.firstIndex(of: flag) { arguments[index + 1] = value }
            return arguments
        }
        let cases: [([String], [String])] = [
            (replacing("--config", with: try config("distill:\n  tempreature: 3\n"), in: base), ["tempreature", "distill.temperature"]),
            (replacing("--config", with: try config("distill:\n  learning_rate: -0.001\n"), in: base), ["distill.learning_rate", "above 0"]),
            (replacing("--config", with: try config("finetune:\n  learning_rate: .nan\n"), in: base), ["finetune.learning_rate", "finite"]),
            (replacing("--student-layers", with: "7", in: base), ["--student-layers", "only 2 layers"]),
            (base + ["--layers", "1,0"], ["distill.layers", "strictly increasing"]),
            (base + ["--layers", "1,1"], ["distill.layers", "strictly increasing"]),
            (base + ["--layers", "0,5"], ["--layers", "layers 0...1"]),
        ]
        for (arguments, mentions) in cases {
            try assertFails(["run"] + arguments, mentions: mentions)
            XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/student"), "\(arguments): a refused run trained")
        }
    }
}
