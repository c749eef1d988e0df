import Foundation
import XCTest
@testable import Model

/// Tolerances for comparing EdgeDistill with PyTorch + transformers, named once.
enum Tolerance {
    /// Logits, losses and hidden states: max |ours - ref| / max |ref| over the tensor.
    static let output: Float = 1e-4
    /// Every parameter gradient, same measure.
    static let gradient: Float = 1e-3
    /// A gradient that is exactly zero in exact arithmetic (the key bias: softmax ignores a
    /// constant added to every score) is rounding noise in both; it must stay below this.
    static let zeroGradient: Float = 1e-6
}

/// Locates committed fixtures; a missing one fails with the command that rebuilds it.
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func path(_ relative: String, rebuild: String = "python3 scripts/make_model_fixtures.py",
                     file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let path = root.appendingPathComponent(relative).path
        guard FileManager.default.fileExists(atPath: path) else {
            XCTFail("missing fixture \(relative): run \(rebuild)", file: file, line: line)
            throw ModelError(file: path, "missing fixture")
        }
        return path
    }

    static func tensor(_ file: SafetensorsFile, _ name: String) throws -> [Float] {
        guard let info = file.info(name) else { throw ModelError(file: file.path, "fixture has no tensor \(name)") }
        var values = [Float](repeating: 0, count: info.elementCount)
        try values.withUnsafeMutableBufferPointer { try file.floats(name, into: $0) }
        return values
    }
}

/// max |a - b| / max |b|: the relative error of a whole tensor.
/// When the reference is all rounding noise (max |b| below `Tolerance.zeroGradient`), the absolute
/// difference is returned scaled so that `Tolerance.zeroGradient` maps to `Tolerance.gradient`.
func relativeError(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "sizes differ: \(a.count) vs \(b.count)")
    var diff: Float = 0, scale: Float = 0
    for (x, y) in zip(a, b) { diff = max(diff, abs(x - y)); scale = max(scale, abs(y)) }
    if scale < Tolerance.zeroGradient { return diff / Tolerance.zeroGradient * Tolerance.gradient }
    return diff / scale
}
