import Foundation

/// Converting payloads to and from floats (little-endian IEEE 754) and small JSON documents.
///
/// Floats travel as their bit patterns, so NaN payloads, signed zeros and subnormals arrive
/// exactly as sent. On little-endian hosts (x86-64, ARM64: every machine we run on) both
/// directions are a single memcpy; the byte swap exists so a big-endian host stays correct.
public enum WirePayload {
    /// Writes `source.count * 4` bytes at `destination`, which need not be aligned.
    public static func storeFloats(_ source: UnsafeBufferPointer<Float>, to destination: UnsafeMutableRawPointer) {
        guard let base = source.baseAddress, source.count > 0 else { return }
        #if _endian(little)
        destination.copyMemory(from: base, byteCount: source.count * MemoryLayout<Float>.size)
        #else
        for (index, value) in source.enumerated() {
            destination.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: index * 4, as: UInt32.self)
        }
        #endif
    }

    /// Reads `destination.count` floats from the bytes at `source`, which need not be aligned.
    public static func loadFloats(from source: UnsafeRawPointer, into destination: UnsafeMutableBufferPointer<Float>) {
        guard let base = destination.baseAddress, destination.count > 0 else { return }
        #if _endian(little)
        UnsafeMutableRawPointer(base).copyMemory(from: source, byteCount: destination.count * MemoryLayout<Float>.size)
        #else
        for index in 0..<destination.count {
            let bits = UInt32(littleEndian: source.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self))
            destination[index] = Float(bitPattern: bits)
        }
        #endif
    }

    /// Adds the `destination.count` floats at `source` (which need not be aligned) into
    /// `destination`, element by element: the reduction of an all-reduce, read straight from a
    /// received frame.
    public static func addFloats(from source: UnsafeRawPointer, into destination: UnsafeMutableBufferPointer<Float>) {
        guard let base = destination.baseAddress else { return }
        let count = destination.count
        // A while loop over pointers: `for in` over a range is slow in debug builds.
        var index = 0
        while index < count {
            #if _endian(little)
            base[index] += source.loadUnaligned(fromByteOffset: index &* 4, as: Float.self)
            #else
            let bits = UInt32(littleEndian: source.loadUnaligned(fromByteOffset: index &* 4, as: UInt32.self))
            base[index] += Float(bitPattern: bits)
            #endif
            index += 1
        }
    }

    // The same three moves, checksumming the wire bytes in the same pass (continuing `crc`) and
    // returning the CRC-32C: what the ring does with every piece it sends or receives.

    /// `storeFloats`, returning the CRC-32C of the bytes written, continued from `crc`.
    public static func storeFloats(_ source: UnsafeBufferPointer<Float>, to destination: UnsafeMutableRawPointer,
                                   continuing crc: UInt32) -> UInt32 {
        #if _endian(little)
        return CRC32C.copy(UnsafeRawBufferPointer(source), to: destination, continuing: crc)
        #else
        storeFloats(source, to: destination)
        return CRC32C.checksum(UnsafeRawBufferPointer(start: destination, count: source.count * 4), continuing: crc)
        #endif
    }

    /// `loadFloats`, returning the CRC-32C of the bytes read, continued from `crc`.
    public static func loadFloats(from source: UnsafeRawPointer, into destination: UnsafeMutableBufferPointer<Float>,
                                  continuing crc: UInt32) -> UInt32 {
        #if _endian(little)
        guard let base = destination.baseAddress else { return crc }
        return CRC32C.copy(UnsafeRawBufferPointer(start: source, count: destination.count * 4), to: base, continuing: crc)
        #else
        loadFloats(from: source, into: destination)
        return CRC32C.checksum(UnsafeRawBufferPointer(start: source, count: destination.count * 4), continuing: crc)
        #endif
    }

    /// `addFloats`, returning the CRC-32C of the bytes read, continued from `crc`.
    public static func addFloats(from source: UnsafeRawPointer, into destination: UnsafeMutableBufferPointer<Float>,
                                 continuing crc: UInt32) -> UInt32 {
        CRC32C.addFloats(from: source, into: destination, continuing: crc)
    }

    // bf16 on the wire (`WirePrecision.bf16`): 2 little-endian bytes per value, the upper half of its
    // fp32 bit pattern after rounding to nearest even; the checksum covers those bytes.

    /// Writes `source.count * 2` bytes of bf16 at `destination`; returns the CRC-32C continued over them.
    public static func storeBF16(_ source: UnsafeBufferPointer<Float>, to destination: UnsafeMutableRawPointer,
                                 continuing crc: UInt32) -> UInt32 {
        var index = 0
        while index < source.count {
            let half = UInt16(truncatingIfNeeded: WirePrecision.roundedToBF16(source[index]).bitPattern >> 16)
            destination.storeBytes(of: half.littleEndian, toByteOffset: index &* 2, as: UInt16.self)
            index += 1
        }
        return CRC32C.checksum(UnsafeRawBufferPointer(start: destination, count: source.count * 2), continuing: crc)
    }

    /// Adds (`add`) or copies the `destination.count` bf16 values at `source` into `destination` as
    /// fp32; returns the CRC-32C continued over the bytes read.
    public static func readBF16(from source: UnsafeRawPointer, into destination: UnsafeMutableBufferPointer<Float>, add: Bool,
                                continuing crc: UInt32) -> UInt32 {
        let checked = CRC32C.checksum(UnsafeRawBufferPointer(start: source, count: destination.count * 2), continuing: crc)
        guard let base = destination.baseAddress else { return checked }
        var index = 0
        while index < destination.count {
            let half = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: index &* 2, as: UInt16.self))
            let value = Float(bitPattern: UInt32(half) << 16)
            if add { base[index] += value } else { base[index] = value }
            index += 1
        }
        return checked
    }

    /// The bytes of `values`, 4 per float.
    public static func bytes(of values: [Float]) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: values.count * MemoryLayout<Float>.size)
        values.withUnsafeBufferPointer { source in
            bytes.withUnsafeMutableBytes { destination in
                if let base = destination.baseAddress { storeFloats(source, to: base) }
            }
        }
        return bytes
    }

    /// The floats in `bytes`; throws unless the count is a multiple of 4.
    public static func floats(from bytes: UnsafeRawBufferPointer) throws -> [Float] {
        guard bytes.count % MemoryLayout<Float>.size == 0 else {
            throw WireError.malformedPayload("\(bytes.count) bytes is not a whole number of 4-byte floats")
        }
        var values = [Float](repeating: 0, count: bytes.count / MemoryLayout<Float>.size)
        if let source = bytes.baseAddress {
            values.withUnsafeMutableBufferPointer { loadFloats(from: source, into: $0) }
        }
        return values
    }

    /// `value` as compact JSON with sorted keys (so equal values give equal bytes).
    public static func json<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do {
            return Array(try encoder.encode(value))
        } catch {
            throw WireError.malformedPayload("cannot encode \(T.self) as JSON: \(error)")
        }
    }

    /// Decodes JSON bytes as `T`; throws `WireError.malformedPayload` saying what did not fit.
    public static func decodeJSON<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch {
            throw WireError.malformedPayload("not a valid \(T.self) JSON document: \(error)")
        }
    }
}

extension WireMessage {
    /// A message whose payload is `floats`, 4 little-endian bytes each.
    public init(type: MessageType, rank: UInt32, sequence: UInt64, floats: [Float]) {
        self.init(type: type, rank: rank, sequence: sequence, payload: WirePayload.bytes(of: floats))
    }

    /// A message whose payload is `value` as JSON.
    public init<T: Encodable>(type: MessageType, rank: UInt32, sequence: UInt64, json value: T) throws {
        self.init(type: type, rank: rank, sequence: sequence, payload: try WirePayload.json(value))
    }

    /// The payload read as floats; throws unless it is a whole number of them.
    public func floats() throws -> [Float] {
        try payload.withUnsafeBytes { try WirePayload.floats(from: $0) }
    }

    /// The payload decoded as JSON.
    public func decodeJSON<T: Decodable>(_ type: T.Type) throws -> T {
        try WirePayload.decodeJSON(type, from: payload)
    }
}
