import Files

/// Writes safetensors files that the Python `safetensors` library and `SafetensorsFile` read.
///
/// Files are written atomically: to a temporary file in the same directory, synced, then
/// renamed over the target, so a crash or error never leaves a half-written checkpoint.
public enum SafetensorsWriter {
    /// One tensor to write: its name, element type, shape and little-endian bytes.
    public struct Tensor: Sendable {
        public let name: String
        public let dtype: DType
        public let shape: [Int]
        /// Little-endian element bytes; must be `product(shape) * dtype.byteSize` long.
        public let bytes: [UInt8]

        public init(name: String, dtype: DType, shape: [Int], bytes: [UInt8]) {
            self.name = name
            self.dtype = dtype
            self.shape = shape
            self.bytes = bytes
        }

        /// An F32 tensor from `values`; a count that does not match `shape` is reported by `write`.
        public static func float32(name: String, shape: [Int], values: [Float]) -> Tensor {
            var bytes = [UInt8]()
            bytes.reserveCapacity(values.count * 4)
            for value in values {
                withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
            }
            return Tensor(name: name, dtype: .f32, shape: shape, bytes: bytes)
        }
    }

    /// Writes `tensors` (in name order) and `metadata` to `path`, replacing any existing file.
    public static func write(_ tensors: [Tensor], metadata: [String: String] = [:], to path: String) throws {
        let ordered = tensors.sorted { $0.name < $1.name }
        let header = try makeHeader(ordered, metadata: metadata, path: path)

        do {
            try AtomicFile.write(to: path) { file in
                var lengthField = [UInt8]()
                withUnsafeBytes(of: UInt64(header.count).littleEndian) { lengthField.append(contentsOf: $0) }
                try file.write(lengthField)
                try file.write(header)
                for tensor in ordered { try file.write(tensor.bytes) }
            }
        } catch let failure as AtomicFile.Failure {
            throw ModelError(file: path, failure.reason)
        }
    }

    /// The JSON header, padded with spaces to a multiple of 8 bytes as the reference writer does.
    static func makeHeader(_ tensors: [Tensor], metadata: [String: String], path: String) throws -> [UInt8] {
        var entries: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted().map { key in
                "\(jsonString(key)):\(jsonString(metadata[key] ?? ""))"
            }
            entries.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
        }
        var offset = 0
        var seen = Set<String>()
        for tensor in tensors {
            guard tensor.name != "__metadata__" else {
                throw ModelError(file: path, "a tensor cannot be named '__metadata__'")
            }
            guard seen.insert(tensor.name).inserted else {
                throw ModelError(file: path, "duplicate tensor name '\(tensor.name)'")
            }
            guard tensor.shape.allSatisfy({ $0 >= 0 }) else {
                throw ModelError(file: path, "tensor '\(tensor.name)' has a negative dimension in shape \(tensor.shape)")
            }
            var expected = tensor.dtype.byteSize
            for dimension in tensor.shape {
                let (product, overflow) = expected.multipliedReportingOverflow(by: dimension)
                guard !overflow else {
                    throw ModelError(file: path, "tensor '\(tensor.name)' shape \(tensor.shape) is too large")
                }
                expected = product
            }
            guard tensor.bytes.count == expected else {
                throw ModelError(file: path, "tensor '\(tensor.name)' has \(tensor.bytes.count) bytes but shape \(tensor.shape) of \(tensor.dtype.rawValue) needs \(expected)")
            }
            let end = offset + tensor.bytes.count
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            entries.append("\(jsonString(tensor.name)):{\"dtype\":\"\(tensor.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        var header = Array("{\(entries.joined(separator: ","))}".utf8)
        // Padding keeps the data section 8-byte aligned, so mapped F64/I64 tensors are aligned.
        while header.count % 8 != 0 { header.append(UInt8(ascii: " ")) }
        return header
    }

    /// `text` as a JSON string literal.
    static func jsonString(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}
