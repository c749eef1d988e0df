import CChecksum

/// CRC-32C (Castagnoli): the checksum every wire frame carries.
///
/// Castagnoli's polynomial rather than zlib's CRC-32 because it detects more error patterns
/// at frame sizes up to a few kilobytes (Hamming distance 6 up to 5,243 bits, so any five
/// flipped bits in a small frame are caught) and it is what iSCSI, ext4 and SCTP use, so
/// reference values are easy to check. Computed with the SSE4.2 `crc32` instruction where the
/// CPU has it (CChecksum), else by software slicing-by-8 (about 1.3 GB/s), which also serves the
/// tests as the reference the hardware path must agree with.
public enum CRC32C {
    /// The reflected polynomial 0x1EDC6F41.
    static let polynomial: UInt32 = 0x82F6_3B78

    /// Eight 256-entry tables, `tables[k * 256 + b]`: table k advances the CRC of byte b by k
    /// further zero bytes, so eight bytes are folded in with eight look-ups and no loop-carried
    /// dependency between them.
    static let tables: [UInt32] = {
        var tables = [UInt32](repeating: 0, count: 8 * 256)
        for byte in 0..<256 {
            var crc = UInt32(byte)
            for _ in 0..<8 { crc = (crc >> 1) ^ ((crc & 1) == 0 ? 0 : polynomial) }
            tables[byte] = crc
        }
        for byte in 0..<256 {
            for k in 1..<8 {
                let previous = tables[(k - 1) * 256 + byte]
                tables[k * 256 + byte] = (previous >> 8) ^ tables[Int(previous & 0xFF)]
            }
        }
        return tables
    }()

    /// The CRC-32C of `bytes`, continuing from `crc` (the value a previous call returned, or 0
    /// to start), so a frame's header and payload can be checksummed without joining them.
    public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        if hardware, let base = bytes.baseAddress {
            return ~edgedistill_crc32c_update(~crc, base, bytes.count)
        }
        return software(bytes, continuing: crc)
    }

    /// The CRC-32C of `source`, continuing from `crc`, while copying it to `destination` (which
    /// must not overlap it): one pass over memory where the hardware path is available.
    public static func copy(_ source: UnsafeRawBufferPointer, to destination: UnsafeMutableRawPointer,
                            continuing crc: UInt32 = 0) -> UInt32 {
        guard let base = source.baseAddress, source.count > 0 else { return crc }
        if hardware { return ~edgedistill_crc32c_copy(~crc, destination, base, source.count) }
        destination.copyMemory(from: base, byteCount: source.count)
        return software(source, continuing: crc)
    }

    /// The CRC-32C of the `destination.count` little-endian floats at `source` (any alignment),
    /// continuing from `crc`, while adding them into `destination`: one pass where the hardware
    /// path is available.
    public static func addFloats(from source: UnsafeRawPointer, into destination: UnsafeMutableBufferPointer<Float>,
                                 continuing crc: UInt32 = 0) -> UInt32 {
        guard let base = destination.baseAddress, destination.count > 0 else { return crc }
        #if _endian(little)
        if hardware { return ~edgedistill_crc32c_add_floats(~crc, base, source, destination.count) }
        #endif
        WirePayload.addFloats(from: source, into: destination)
        return software(UnsafeRawBufferPointer(start: source, count: destination.count * MemoryLayout<Float>.size),
                        continuing: crc)
    }

    /// Whether the hardware instruction is used.
    public static let hardware = edgedistill_crc32c_hardware() != 0

    /// The table-driven CRC-32C, whatever the CPU.
    public static func software(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        var crc = ~crc
        guard let base = bytes.baseAddress, bytes.count > 0 else { return ~crc }
        let count = bytes.count
        tables.withUnsafeBufferPointer { table in
            guard let t = table.baseAddress else { return }
            var index = 0
            while index + 8 <= count {
                // Little-endian words: the reflected CRC consumes the lowest-addressed byte first.
                let low = UInt32(littleEndian: base.loadUnaligned(fromByteOffset: index, as: UInt32.self)) ^ crc
                let high = UInt32(littleEndian: base.loadUnaligned(fromByteOffset: index + 4, as: UInt32.self))
                crc = t[7 * 256 + Int(low & 0xFF)] ^ t[6 * 256 + Int((low >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((low >> 16) & 0xFF)] ^ t[4 * 256 + Int(low >> 24)]
                    ^ t[3 * 256 + Int(high & 0xFF)] ^ t[2 * 256 + Int((high >> 8) & 0xFF)]
                    ^ t[1 * 256 + Int((high >> 16) & 0xFF)] ^ t[Int(high >> 24)]
                index += 8
            }
            while index < count {
                let byte = base.load(fromByteOffset: index, as: UInt8.self)
                crc = (crc >> 8) ^ t[Int((crc ^ UInt32(byte)) & 0xFF)]
                index += 1
            }
        }
        return ~crc
    }

    /// The CRC-32C of `bytes`.
    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }
}
