/// Why bytes from the network are not a valid EdgeDistill frame or payload.
///
/// Each case carries what was found and what was expected, so the message in a log is enough
/// to tell a stray client (bad magic), an old build (version), a truncated send and bit rot
/// (checksum) apart without a packet capture.
public enum WireError: Error, Equatable, CustomStringConvertible {
    /// Fewer bytes than the fixed header.
    case truncatedHeader(received: Int, needed: Int)
    /// The frame does not start with "EDST": not an EdgeDistill peer at all.
    case badMagic([UInt8])
    /// The peer speaks another protocol version; nothing after the version field can be trusted.
    case versionMismatch(peer: UInt16, local: UInt16)
    /// An intact frame whose message type this build does not know.
    case unknownType(UInt16)
    /// An intact frame with flag bits this build does not know.
    case unknownFlags(UInt16)
    /// The declared payload is larger than the receiver accepts.
    case oversizedPayload(declared: UInt64, limit: Int)
    /// The declared payload is longer than the bytes that arrived.
    case truncatedPayload(declared: UInt64, received: Int)
    /// More bytes arrived than the header declares.
    case lengthMismatch(declared: UInt64, received: Int)
    /// The CRC-32C in the header is not that of the bytes that arrived.
    case checksumMismatch(declared: UInt32, computed: UInt32)
    /// The frame is intact but its payload is not what its type requires.
    case malformedPayload(String)

    public var description: String {
        switch self {
        case .truncatedHeader(let received, let needed):
            return "truncated frame: \(received) bytes, the header alone is \(needed)"
        case .badMagic(let bytes):
            let hex = bytes.map { String($0, radix: 16, uppercase: true) }.joined(separator: " ")
            return "not an EdgeDistill frame: starts with [\(hex)] instead of \"EDST\""
        case .versionMismatch(let peer, let local):
            return "protocol version mismatch: peer speaks protocol \(peer), this build speaks \(local)"
        case .unknownType(let type):
            return "unknown message type \(type) (this build knows 1...\(MessageType.allCases.count))"
        case .unknownFlags(let flags):
            return "unknown flag bits 0x\(String(flags, radix: 16)) in the header"
        case .oversizedPayload(let declared, let limit):
            return "payload of \(declared) bytes exceeds the limit of \(limit) bytes"
        case .truncatedPayload(let declared, let received):
            return "truncated payload: header declares \(declared) bytes, \(received) arrived"
        case .lengthMismatch(let declared, let received):
            return "length mismatch: header declares \(declared) payload bytes, \(received) arrived"
        case .checksumMismatch(let declared, let computed):
            return "checksum mismatch: header says CRC-32C \(hex32(declared)), the bytes give \(hex32(computed))"
        case .malformedPayload(let reason):
            return "malformed payload: \(reason)"
        }
    }
}

private func hex32(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
}
