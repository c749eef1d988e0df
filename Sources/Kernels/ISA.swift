import CKernels
import Foundation

/// The instruction-set path of the hand-written kernels (the int8 GEMM), chosen once at start: the
/// best the CPU supports (CPUID), or a lower one forced with `EDGEDISTILL_ISA=avx512|avx2|generic`
/// (tests, and users on odd hardware). One binary serves every x86-64 CPU from Haswell on.
///
/// The path also sets how finely int8 activations are quantized: VNNI's `vpdpbusd` is exact for
/// 8-bit activations (255 levels), AVX2's `vpmaddubsw` only for 7 bits (127 levels; see
/// QuantizedLinear.swift), and the portable path keeps AVX2's numerics so it can stand in for it.
public enum ISA: String, CaseIterable, Comparable, Sendable {
    case generic, avx2, avx512

    var code: Int32 {
        switch self {
        case .generic: EDGEDISTILL_ISA_GENERIC
        case .avx2: EDGEDISTILL_ISA_AVX2
        case .avx512: EDGEDISTILL_ISA_AVX512_VNNI
        }
    }

    public static func < (a: ISA, b: ISA) -> Bool { a.code < b.code }

    /// What the CPU supports: AVX-512 means F, BW, VL, DQ and VNNI together.
    public static let detected: ISA = {
        switch edgedistill_cpu_isa() {
        case EDGEDISTILL_ISA_AVX512_VNNI: .avx512
        case EDGEDISTILL_ISA_AVX2: .avx2
        default: .generic
        }
    }()

    /// Whether the CPU has AVX-512 BF16.
    public static let hasBF16 = edgedistill_cpu_has_bf16() != 0

    /// The path `EDGEDISTILL_ISA` asks for (nil when unset), checked against what the CPU has.
    public static func requested(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ISA? {
        guard let text = environment["EDGEDISTILL_ISA"], !text.isEmpty else { return nil }
        guard let isa = ISA(rawValue: text.lowercased()) else {
            throw ISAError("EDGEDISTILL_ISA is '\(text)': expected avx512, avx2 or generic")
        }
        guard isa <= detected else {
            throw ISAError("EDGEDISTILL_ISA=\(isa.rawValue) asks for a path this CPU lacks (it supports \(detected.rawValue)\(detected == .generic ? "" : " and below")); unset it or choose a lower one")
        }
        return isa
    }

    /// The path at start: the requested one when it is valid, else the detected one. Commands check
    /// the request first (`requested()`), so a bad value is an error, not a silent fallback.
    static let initial: ISA = (try? requested()) ?? detected
    nonisolated(unsafe) private static var chosen: ISA?

    /// The path in use.
    public static var current: ISA { chosen ?? initial }

    /// Uses `isa` from now on (nil: back to the path at start); a path the CPU lacks is an error.
    /// For tests that pin one path's numerics; set it before running models, not during.
    public static func use(_ isa: ISA?) throws {
        if let isa, isa > detected { throw ISAError("this CPU lacks the \(isa.rawValue) path (it supports \(detected.rawValue))") }
        chosen = isa
    }

    /// The largest quantized activation value on this path.
    public var activationLevels: Float { self == .avx512 ? 255 : 127 }

    /// A line for `--version` and `inspect`: the path in use and what the CPU has.
    public static var summary: String {
        "kernels: \(current.rawValue) (CPU: \(detected.rawValue)\(hasBF16 ? ", bf16" : ""))"
    }
}

/// A bad `EDGEDISTILL_ISA`, in words a user can act on.
public struct ISAError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
