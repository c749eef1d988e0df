#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// An element type a safetensors file can hold, spelled as the format spells it.
public enum DType: String, CaseIterable, Sendable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16", f64 = "F64"
    case i8 = "I8", u8 = "U8", i32 = "I32", i64 = "I64"

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .i8, .u8: return 1
        case .f16, .bf16: return 2
        case .f32, .i32: return 4
        case .f64, .i64: return 8
        }
    }

    /// The supported spellings, for error messages.
    static var supportedList: String { allCases.map(\.rawValue).joined(separator: ", ") }
}

/// Where one tensor lives in a safetensors file and how to read it.
public struct TensorInfo: Equatable, Sendable {
    public let dtype: DType
    public let shape: [Int]
    /// Byte range relative to the start of the data section (the byte after the header).
    public let byteRange: Range<Int>

    /// Number of elements: the product of the shape (1 for a scalar).
    public var elementCount: Int { shape.reduce(1, *) }
}

/// A read-only, memory-mapped safetensors file.
///
/// The header is parsed and every entry checked once in `init`, so later reads can trust
/// offsets and sizes. Tensor bytes are never copied until asked for; `rawBytes` hands out a
/// view into the map that is valid while this object lives.
public final class SafetensorsFile {
    /// Largest header we accept; real headers are kilobytes, so anything bigger is corruption.
    static let maximumHeaderLength = 100_000_000

    public let path: String
    /// The free-form `__metadata__` string map (empty when absent).
    public let metadata: [String: String]

    private let tensors: [String: TensorInfo]
    private let mapping: UnsafeMutableRawPointer
    private let mappedLength: Int
    private let dataStart: Int

    /// Opens and validates `path`; throws `ModelError` naming the file and the problem.
    public init(path: String) throws {
        self.path = path
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw ModelError(file: path, "cannot open safetensors file: \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }

        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw ModelError(file: path, "cannot stat safetensors file: \(String(cString: strerror(errno)))")
        }
        let fileSize = Int(status.st_size)
        // Checked before mmap: mapping zero bytes fails, and 8 bytes is the smallest valid file.
        guard fileSize >= 8 else {
            throw ModelError(file: path, "not a safetensors file: it is \(fileSize) bytes, shorter than the 8-byte header length")
        }
        guard let mapped = mmap(nil, fileSize, PROT_READ, MAP_PRIVATE, descriptor, 0),
              mapped != MAP_FAILED else {
            throw ModelError(file: path, "cannot memory-map safetensors file: \(String(cString: strerror(errno)))")
        }
        // From here on the map must be released on every error path.
        do {
            let parsed = try Self.parseHeader(UnsafeRawBufferPointer(start: mapped, count: fileSize), path: path)
            mapping = mapped
            mappedLength = fileSize
            dataStart = parsed.dataStart
            tensors = parsed.tensors
            metadata = parsed.metadata
        } catch {
            munmap(mapped, fileSize)
            throw error
        }
    }

    deinit {
        munmap(mapping, mappedLength)
    }

    /// Tensor names in sorted order.
    public var names: [String] { tensors.keys.sorted() }

    /// Type, shape and location of `name`, or nil when the file has no such tensor.
    public func info(_ name: String) -> TensorInfo? { tensors[name] }

    /// The bytes of `name` as stored (little-endian), viewed in place.
    ///
    /// The view is only valid while this `SafetensorsFile` is alive.
    public func rawBytes(_ name: String) throws -> UnsafeRawBufferPointer {
        let info = try requireInfo(name)
        return UnsafeRawBufferPointer(start: mapping + dataStart + info.byteRange.lowerBound,
                                      count: info.byteRange.count)
    }

    /// Converts the floating-point tensor `name` into `destination`, which must hold exactly its element count.
    public func floats(_ name: String, into destination: UnsafeMutableBufferPointer<Float>) throws {
        let info = try requireInfo(name)
        let count = info.elementCount
        guard destination.count == count else {
            throw ModelError(file: path, "tensor '\(name)' has \(count) elements (shape \(info.shape)) but the destination holds \(destination.count)")
        }
        let source = try rawBytes(name)
        guard count > 0, let output = destination.baseAddress, let input = source.baseAddress else { return }
        // Tensors need not be aligned in the file, so every read below is unaligned-safe.
        switch info.dtype {
        case .f32:
            UnsafeMutableRawPointer(output).copyMemory(from: input, byteCount: count * 4)
            // The format is little-endian; only big-endian hosts need the swap.
            #if _endian(big)
            for i in 0..<count { output[i] = Float(bitPattern: output[i].bitPattern.byteSwapped) }
            #endif
        case .f64:
            for i in 0..<count {
                let bits = UInt64(littleEndian: source.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self))
                output[i] = Float(Double(bitPattern: bits))
            }
        case .f16:
            for i in 0..<count {
                let bits = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))
                output[i] = Self.halfToFloat(bits)
            }
        case .bf16:
            for i in 0..<count {
                let bits = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))
                // bfloat16 is the top half of a float32.
                output[i] = Float(bitPattern: UInt32(bits) << 16)
            }
        case .i8, .u8, .i32, .i64:
            throw ModelError(file: path, "tensor '\(name)' has dtype \(info.dtype.rawValue), not a floating-point type (F32, F16, BF16, F64)")
        }
    }

    private func requireInfo(_ name: String) throws -> TensorInfo {
        guard let info = tensors[name] else {
            throw ModelError(file: path, "no tensor named '\(name)'")
        }
        return info
    }

    /// IEEE half to float.
    static func halfToFloat(_ bits: UInt16) -> Float {
        #if (os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64)
        // Float16 is unavailable on Intel macOS; widen the bit pattern by hand.
        let sign = UInt32(bits & 0x8000) << 16
        var exponent = Int32((bits >> 10) & 0x1F)
        var mantissa = UInt32(bits & 0x3FF)
        if exponent == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
        if exponent == 0 {
            if mantissa == 0 { return Float(bitPattern: sign) }
            // Subnormal: normalise the mantissa.
            exponent = 1
            while mantissa & 0x400 == 0 { mantissa <<= 1; exponent -= 1 }
            mantissa &= 0x3FF
        }
        return Float(bitPattern: sign | (UInt32(exponent + 112) << 23) | (mantissa << 13))
        #else
        return Float(Float16(bitPattern: bits))
        #endif
    }

    // MARK: - Header parsing

    private struct ParsedHeader {
        var dataStart: Int
        var tensors: [String: TensorInfo]
        var metadata: [String: String]
    }

    private static func parseHeader(_ file: UnsafeRawBufferPointer, path: String) throws -> ParsedHeader {
        let declared = UInt64(littleEndian: file.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        guard declared <= UInt64(maximumHeaderLength) else {
            throw ModelError(file: path, "header length \(declared) is absurd (more than \(maximumHeaderLength) bytes); the file is not safetensors or is corrupt")
        }
        let headerLength = Int(declared)
        guard 8 + headerLength <= file.count else {
            throw ModelError(file: path, "header length \(headerLength) runs past the end of the file (\(file.count) bytes); the file is truncated")
        }
        let headerBytes = UnsafeRawBufferPointer(rebasing: file[8 ..< 8 + headerLength])
        guard String(validating: headerBytes, as: UTF8.self) != nil else {
            throw ModelError(file: path, "header is not valid UTF-8")
        }
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(headerBytes))
        } catch {
            throw ModelError(file: path, "header is not valid JSON")
        }
        guard let object = json as? [String: Any] else {
            throw ModelError(file: path, "header is not a JSON object")
        }

        let dataLength = file.count - 8 - headerLength
        var metadata: [String: String] = [:]
        var tensors: [String: TensorInfo] = [:]
        for (name, value) in object {
            if name == "__metadata__" {
                metadata = try parseMetadata(value, path: path)
            } else {
                tensors[name] = try parseEntry(name: name, value, dataLength: dataLength, path: path)
            }
        }
        try checkNoOverlap(tensors, path: path)
        return ParsedHeader(dataStart: 8 + headerLength, tensors: tensors, metadata: metadata)
    }

    private static func parseMetadata(_ value: Any, path: String) throws -> [String: String] {
        guard let map = value as? [String: Any] else {
            throw ModelError(file: path, "'__metadata__' must be an object of strings")
        }
        var metadata: [String: String] = [:]
        for (key, item) in map {
            guard let text = item as? String else {
                throw ModelError(file: path, "'__metadata__' value for '\(key)' must be a string")
            }
            metadata[key] = text
        }
        return metadata
    }

    private static func parseEntry(name: String, _ value: Any, dataLength: Int, path: String) throws -> TensorInfo {
        func fail(_ problem: String) -> ModelError {
            ModelError(file: path, "tensor '\(name)': \(problem)")
        }
        guard let entry = value as? [String: Any] else { throw fail("entry must be an object") }

        guard let dtypeValue = entry["dtype"] else { throw fail("missing 'dtype'") }
        guard let dtypeName = dtypeValue as? String else { throw fail("'dtype' must be a string") }
        guard let dtype = DType(rawValue: dtypeName) else {
            throw fail("unsupported dtype '\(dtypeName)' (supported: \(DType.supportedList))")
        }

        guard let shapeValue = entry["shape"] else { throw fail("missing 'shape'") }
        guard let shapeItems = shapeValue as? [Any] else { throw fail("'shape' must be an array of integers") }
        var shape: [Int] = []
        for item in shapeItems {
            guard let dimension = integer(item) else { throw fail("'shape' must be an array of integers") }
            guard dimension >= 0 else { throw fail("negative dimension \(dimension) in shape") }
            shape.append(dimension)
        }

        guard let offsetsValue = entry["data_offsets"] else { throw fail("missing 'data_offsets'") }
        guard let offsets = offsetsValue as? [Any], offsets.count == 2,
              let begin = integer(offsets[0]), let end = integer(offsets[1]) else {
            throw fail("'data_offsets' must be [begin, end] integers")
        }
        guard begin >= 0, begin <= end else {
            throw fail("'data_offsets' [\(begin), \(end)] must satisfy 0 <= begin <= end")
        }
        guard end <= dataLength else {
            throw fail("data_offsets end \(end) is past the end of the data (\(dataLength) bytes); the file is truncated")
        }

        var expected = dtype.byteSize
        for dimension in shape {
            let (product, overflow) = expected.multipliedReportingOverflow(by: dimension)
            guard !overflow else { throw fail("shape \(shape) is too large") }
            expected = product
        }
        guard end - begin == expected else {
            throw fail("holds \(end - begin) bytes but shape \(shape) of \(dtype.rawValue) needs \(expected)")
        }
        return TensorInfo(dtype: dtype, shape: shape, byteRange: begin ..< end)
    }

    private static func checkNoOverlap(_ tensors: [String: TensorInfo], path: String) throws {
        // Empty tensors occupy no bytes and so cannot overlap anything.
        let sorted = tensors.filter { !$0.value.byteRange.isEmpty }
            .sorted { ($0.value.byteRange.lowerBound, $0.key) < ($1.value.byteRange.lowerBound, $1.key) }
        for (previous, next) in zip(sorted, sorted.dropFirst())
        where next.value.byteRange.lowerBound < previous.value.byteRange.upperBound {
            throw ModelError(file: path, "tensors '\(previous.key)' and '\(next.key)' overlap in the data section")
        }
    }

    /// An exact integer from a JSON number; nil for booleans, fractions and non-numbers.
    private static func integer(_ value: Any) -> Int? {
        // JSONSerialization returns booleans as NSNumber, which also casts to Int; its C type
        // 'c' tells them apart, as the parser never uses it for real numbers.
        guard let number = value as? NSNumber, String(cString: number.objCType) != "c" else { return nil }
        return value as? Int
    }
}
