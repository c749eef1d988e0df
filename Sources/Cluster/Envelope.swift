import Collective
import Foundation

/// The payload of a coordinator/worker control message: a JSON header, then binary sections.
///
/// Layout: `u32 little-endian JSON length`, the JSON document, then the sections' bytes back to
/// back. The JSON names the sections and their lengths (`Section`), so a receiver can check every
/// length against the bytes present before touching them: a short or padded payload is an error,
/// never a crash or a misread.
struct Envelope<Header: Codable> {
    var header: Header
    var sections: [(name: String, bytes: [UInt8])]

    init(_ header: Header, sections: [(name: String, bytes: [UInt8])] = []) {
        self.header = header
        self.sections = sections
    }

    /// The section table written into the JSON beside the header.
    struct Table: Codable {
        var header: Header
        var sections: [SectionInfo]
    }

    struct SectionInfo: Codable {
        var name: String
        var bytes: Int
    }

    func encode() throws -> [UInt8] {
        let table = Table(header: header, sections: sections.map { SectionInfo(name: $0.name, bytes: $0.bytes.count) })
        let json = try WirePayload.json(table)
        var out = [UInt8]()
        out.reserveCapacity(4 + json.count + sections.reduce(0) { $0 + $1.bytes.count })
        withUnsafeBytes(of: UInt32(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: json)
        for section in sections { out.append(contentsOf: section.bytes) }
        return out
    }

    static func decode(_ payload: [UInt8]) throws -> Envelope {
        guard payload.count >= 4 else { throw WireError.malformedPayload("payload of \(payload.count) bytes has no JSON length") }
        let jsonCount = Int(UInt32(payload[0]) | UInt32(payload[1]) << 8 | UInt32(payload[2]) << 16 | UInt32(payload[3]) << 24)
        guard jsonCount <= payload.count - 4 else {
            throw WireError.malformedPayload("JSON length \(jsonCount) exceeds the \(payload.count - 4) bytes present")
        }
        let table = try WirePayload.decodeJSON(Table.self, from: Array(payload[4..<(4 + jsonCount)]))
        var offset = 4 + jsonCount
        var sections: [(String, [UInt8])] = []
        for info in table.sections {
            guard info.bytes >= 0, info.bytes <= payload.count - offset else {
                throw WireError.malformedPayload("section '\(info.name)' of \(info.bytes) bytes exceeds the \(payload.count - offset) bytes left")
            }
            sections.append((info.name, Array(payload[offset..<(offset + info.bytes)])))
            offset += info.bytes
        }
        guard offset == payload.count else {
            throw WireError.malformedPayload("\(payload.count - offset) bytes after the last section")
        }
        return Envelope(table.header, sections: sections)
    }

    /// The bytes of a named section; throws naming it when absent.
    func section(_ name: String) throws -> [UInt8] {
        guard let found = sections.first(where: { $0.name == name }) else {
            throw WireError.malformedPayload("missing section '\(name)'")
        }
        return found.bytes
    }

    func hasSection(_ name: String) -> Bool { sections.contains { $0.name == name } }
}

/// Binary arrays in sections: little-endian 4-byte values (8-byte for `Int64`).
enum SectionCoding {
    static func bytes(of values: [Int32]) -> [UInt8] {
        values.withUnsafeBytes { Array($0) }
    }

    static func int32s(_ bytes: [UInt8], name: String) throws -> [Int32] {
        guard bytes.count % 4 == 0 else { throw WireError.malformedPayload("section '\(name)' is not whole 4-byte integers") }
        return bytes.withUnsafeBytes { raw in (0..<(bytes.count / 4)).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self) } }
    }

    static func bytes(of values: [Int64]) -> [UInt8] {
        values.map { $0.littleEndian }.withUnsafeBytes { Array($0) }
    }

    static func int64s(_ bytes: [UInt8], name: String) throws -> [Int64] {
        guard bytes.count % 8 == 0 else { throw WireError.malformedPayload("section '\(name)' is not whole 8-byte integers") }
        return bytes.withUnsafeBytes { raw in (0..<(bytes.count / 8)).map { Int64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self)) } }
    }

    static func bytes(of values: [Float]) -> [UInt8] { WirePayload.bytes(of: values) }

    static func floats(_ bytes: [UInt8], name: String) throws -> [Float] {
        do { return try bytes.withUnsafeBytes { try WirePayload.floats(from: $0) } } catch {
            throw WireError.malformedPayload("section '\(name)' is not whole 4-byte floats")
        }
    }
}
