import Foundation

/// How a model folder's weights are stored, read from `model.safetensors`'s `__metadata__`.
///
/// Keys (all strings, as safetensors metadata must be):
/// - `edgedistill.quantization`: absent for a plain checkpoint, `fp16` or `int8-dynamic`;
/// - `edgedistill.int8_embeddings`: `true` when the word embeddings are int8 (int8-dynamic only);
/// - `edgedistill.head`: `relu` or `tanh` (int8-dynamic only; see `SequenceClassifier.HeadActivation`);
/// - `edgedistill.checksum`: FNV-1a 64 of every tensor's bytes in name order, 16 hex digits, so a
///   corrupted file is refused rather than served.
public enum QuantizationScheme: String, Sendable, CaseIterable {
    /// A plain fp32 (or fp16/bf16) Hugging Face checkpoint.
    case none
    /// Weights stored as IEEE fp16, widened to fp32 on load and computed in fp32.
    case fp16
    /// Linear weights int8 per output channel, activations quantized per row at run time.
    case int8Dynamic = "int8-dynamic"

    public static let metadataKey = "edgedistill.quantization"
    public static let embeddingsKey = "edgedistill.int8_embeddings"
    public static let headKey = "edgedistill.head"
    public static let checksumKey = "edgedistill.checksum"

    /// The scheme named in `metadata`; an unknown name is an error naming the file and the known ones.
    public init(metadata: [String: String], file: String) throws {
        guard let name = metadata[Self.metadataKey] else { self = .none; return }
        guard let scheme = QuantizationScheme(rawValue: name), scheme != .none else {
            throw ModelError(file: file, "unknown quantization scheme '\(name)' in metadata key '\(Self.metadataKey)' (known: fp16, int8-dynamic)")
        }
        self = scheme
    }
}

/// The checksum stored under `edgedistill.checksum`: FNV-1a 64 over each tensor's bytes, tensors in
/// sorted name order.
enum QuantizationChecksum {
    private static func hex(_ hash: UInt64) -> String {
        let digits = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    private static func update(_ hash: inout UInt64, _ bytes: UnsafeRawBufferPointer) {
        var h = hash
        for byte in bytes { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        hash = h
    }

    static func of(_ tensors: [SafetensorsWriter.Tensor]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for tensor in tensors.sorted(by: { $0.name < $1.name }) {
            tensor.bytes.withUnsafeBytes { update(&hash, $0) }
        }
        return hex(hash)
    }

    /// Throws when `file` carries a checksum that its bytes do not match (files without one pass).
    static func verify(_ file: SafetensorsFile) throws {
        guard let expected = file.metadata[QuantizationScheme.checksumKey] else { return }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for name in file.names { update(&hash, try file.rawBytes(name)) }
        let actual = hex(hash)
        if actual != expected {
            throw ModelError(file: file.path, "checksum mismatch: the metadata says \(expected) but the tensors hash to \(actual); the file is corrupt")
        }
    }
}
