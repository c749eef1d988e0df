/// The EdgeDistill wire format: one ZeroMQ frame per message, a fixed header then the payload.
///
/// Header, 34 bytes, every integer little-endian, no padding:
///
///     offset  size  field
///          0     4  magic "EDST"
///          4     2  protocol version (`WireProtocol.version`)
///          6     2  message type (`MessageType.rawValue`)
///          8     2  flags (none defined in version 1; any set bit is rejected)
///         10     4  sender rank
///         14     8  sequence: per-call counter (collectives) or step (control messages)
///         22     8  payload length in bytes
///         30     4  CRC-32C of bytes 0..<30 and of the payload
///         34     n  payload
///
/// The checksum covers the header fields before it as well as the payload, so a flipped bit
/// in the rank or sequence is caught like one in the data. ZeroMQ frames arrive whole over
/// TCP, so a mismatch means a bug, memory corruption or a hostile peer, never a short read.
public enum WireProtocol {
    /// The version this build speaks. Bump it whenever the header or any payload layout changes.
    /// 2: sweep trials on workers (`trialSetup` ... `trialRelease`; `stateRequest.trial`).
    /// 3: the teacher pass on workers (`passSetup`, `passShard`, `passReport`); bf16 gradient pieces.
    public static let version: UInt16 = 4
    /// "EDST": a frame that does not start with it is not from an EdgeDistill peer.
    public static let magic: [UInt8] = [0x45, 0x44, 0x53, 0x54]
    /// Bytes before the payload.
    public static let headerSize = 34
    /// The payload limit `decode` applies unless told otherwise: 64 MiB, far above a gradient
    /// chunk (about 1 MiB) and far below what would let a peer exhaust memory.
    public static let defaultMaxPayload = 64 << 20
    /// Flag bits this build understands (none yet).
    static let knownFlags: UInt16 = 0

    // Field offsets, spelled out once.
    static let versionOffset = 4
    static let typeOffset = 6
    static let flagsOffset = 8
    static let rankOffset = 10
    static let sequenceOffset = 14
    static let lengthOffset = 22
    static let checksumOffset = 30

    /// Writes a whole frame at the start of `frame` and returns its length: the header, then
    /// `fill` writes exactly `payloadCount` payload bytes, then the checksum over both.
    ///
    /// `frame` must hold at least `headerSize + payloadCount` bytes. The collectives write every
    /// chunk into one buffer allocated up front, so sending a gradient allocates nothing and
    /// never zero-fills the bytes it is about to overwrite.
    @discardableResult
    static func writeFrame(
        into frame: UnsafeMutableRawBufferPointer, type: MessageType, flags: UInt16 = 0, rank: UInt32,
        sequence: UInt64, payloadCount: Int, payload fill: (UnsafeMutableRawBufferPointer) throws -> Void
    ) rethrows -> Int {
        let count = headerSize + payloadCount
        precondition(payloadCount >= 0 && frame.count >= count, "frame buffer too small")  // a caller bug, not data
        guard let base = frame.baseAddress else { return 0 }
        writeHeader(base, type: type, flags: flags, rank: rank, sequence: sequence, payloadCount: payloadCount)
        try fill(UnsafeMutableRawBufferPointer(start: base + headerSize, count: payloadCount))
        let written = UnsafeRawBufferPointer(start: base, count: count)
        base.storeBytes(of: checksum(of: written).littleEndian, toByteOffset: checksumOffset, as: UInt32.self)
        return count
    }

    /// Writes a whole frame whose payload is `prefixCount` bytes written by `prefix`, then
    /// `dataCount` bytes that `data` moves into place while continuing the checksum it is given
    /// (e.g. `CRC32C.copy`), so the data is read once. Returns the frame's length.
    @discardableResult
    static func writeFrame(
        into frame: UnsafeMutableRawBufferPointer, type: MessageType, rank: UInt32, sequence: UInt64,
        prefixCount: Int, dataCount: Int, prefix: (UnsafeMutableRawPointer) -> Void,
        data: (UnsafeMutableRawPointer, UInt32) -> UInt32
    ) -> Int {
        let payloadCount = prefixCount + dataCount
        let count = headerSize + payloadCount
        precondition(prefixCount >= 0 && dataCount >= 0 && frame.count >= count, "frame buffer too small")  // a caller bug
        guard let base = frame.baseAddress else { return 0 }
        writeHeader(base, type: type, flags: 0, rank: rank, sequence: sequence, payloadCount: payloadCount)
        prefix(base + headerSize)
        var crc = CRC32C.checksum(UnsafeRawBufferPointer(start: base, count: checksumOffset))
        crc = CRC32C.checksum(UnsafeRawBufferPointer(start: base + headerSize, count: prefixCount), continuing: crc)
        crc = data(base + headerSize + prefixCount, crc)
        base.storeBytes(of: crc.littleEndian, toByteOffset: checksumOffset, as: UInt32.self)
        return count
    }

    static func writeHeader(_ base: UnsafeMutableRawPointer, type: MessageType, flags: UInt16, rank: UInt32,
                            sequence: UInt64, payloadCount: Int) {
        base.copyMemory(from: magic, byteCount: magic.count)
        base.storeBytes(of: version.littleEndian, toByteOffset: versionOffset, as: UInt16.self)
        base.storeBytes(of: type.rawValue.littleEndian, toByteOffset: typeOffset, as: UInt16.self)
        base.storeBytes(of: flags.littleEndian, toByteOffset: flagsOffset, as: UInt16.self)
        base.storeBytes(of: rank.littleEndian, toByteOffset: rankOffset, as: UInt32.self)
        base.storeBytes(of: sequence.littleEndian, toByteOffset: sequenceOffset, as: UInt64.self)
        base.storeBytes(of: UInt64(payloadCount).littleEndian, toByteOffset: lengthOffset, as: UInt64.self)
    }

    /// A new frame array; see `writeFrame(into:...)` on a raw buffer.
    static func frame(type: MessageType, flags: UInt16 = 0, rank: UInt32, sequence: UInt64, payloadCount: Int,
                      payload fill: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows -> [UInt8] {
        try [UInt8](unsafeUninitializedCapacity: headerSize + payloadCount) { buffer, initialized in
            initialized = try writeFrame(into: UnsafeMutableRawBufferPointer(buffer), type: type, flags: flags, rank: rank,
                                         sequence: sequence, payloadCount: payloadCount, payload: fill)
        }
    }

    /// The checksum a frame should carry: CRC-32C of the header before the checksum field,
    /// continued over the payload. `frame` holds at least the header (every caller checks).
    static func checksum(of frame: UnsafeRawBufferPointer) -> UInt32 {
        let head = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: frame[..<checksumOffset]))
        return CRC32C.checksum(UnsafeRawBufferPointer(rebasing: frame[headerSize...]), continuing: head)
    }

    /// Recomputes and stores the checksum of a frame whose fields were written or edited.
    /// Does nothing to a frame shorter than the header.
    static func seal(_ frame: inout [UInt8]) {
        guard frame.count >= headerSize else { return }
        frame.withUnsafeMutableBytes { bytes in
            guard let base = bytes.baseAddress else { return }
            let crc = checksum(of: UnsafeRawBufferPointer(bytes))
            base.storeBytes(of: crc.littleEndian, toByteOffset: checksumOffset, as: UInt32.self)
        }
    }
}

/// What a message is. The raw values are on the wire: never renumber, only append.
public enum MessageType: UInt16, CaseIterable, Sendable {
    /// A worker introduces itself to the coordinator.
    case hello = 1
    /// The coordinator admits a worker (its rank, the world).
    case welcome = 2
    /// The coordinator turns a worker away, saying why.
    case refuse = 3
    /// I am alive.
    case heartbeat = 4
    /// The run's configuration (JSON).
    case configuration = 5
    /// A piece of a buffer being all-reduced.
    case gradientChunk = 6
    /// A piece of a buffer being broadcast.
    case broadcastChunk = 7
    /// A full parameter set (e.g. for a worker that joins late).
    case parameters = 8
    /// Training metrics (JSON).
    case metrics = 9
    /// A token passed around the ring by `barrier`.
    case barrier = 10
    /// The sender has finished cleanly.
    case done = 11
    /// The sender failed; the payload says why.
    case error = 12
    /// A worker has set up its job and bound its ring listener (coordinator control).
    case ready = 13
    /// Bind a new ring listener for the next ring (membership changed).
    case prepareRing = 14
    /// The ring: this worker's rank and every rank's endpoint.
    case ring = 15
    /// Compute one step on your share of this batch.
    case step = 16
    /// A worker's gradients for a step are summed over the ring; the losses, its share.
    case reduced = 17
    /// Apply the summed update of a step (optionally reporting the parameter checksum after it).
    case commit = 18
    /// Forget the pending update of a step: it will be redone.
    case abort = 19
    /// Send your training state.
    case stateRequest = 20
    /// A parameter-arena checksum after a step.
    case checksum = 21
    /// The run is over: exit.
    case shutdown = 22
    /// A worker's ring listener endpoint for a new ring.
    case ringEndpoint = 23
    /// A sweep's shared inputs (teacher, training and validation sets, teacher logits).
    case trialSetup = 24
    /// Run one sweep trial on to a step.
    case trialRun = 25
    /// Where a trial stands after a run (or why it failed).
    case trialReport = 26
    /// Forget these trials.
    case trialRelease = 27
    /// A teacher pass's inputs (teacher folder, the inputs' token ids).
    case passSetup = 28
    /// Compute one shard of the teacher pass.
    case passShard = 29
    /// A shard's logits (or why it failed).
    case passReport = 30
    /// A piece of a gradient all-reduce with its values in bf16 (`WirePrecision.bf16`).
    case gradientChunkBF16 = 31
    /// Count one part of the validation set on the current weights.
    case evaluate = 32
    /// A part's confusion counts (or why they could not be computed).
    case evaluation = 33
}

/// The fixed header of a frame that has passed every check: magic, version, lengths, checksum,
/// type and flags.
public struct WireHeader: Equatable, Sendable {
    public var type: MessageType
    public var flags: UInt16
    public var rank: UInt32
    public var sequence: UInt64
    /// Payload bytes; equal to the frame's length minus `WireProtocol.headerSize`.
    public var payloadCount: Int

    /// Validates a whole frame and returns its header; the payload is
    /// `frame[WireProtocol.headerSize...]`.
    ///
    /// Checks run in the order that gives the most useful error: magic (is this ours at all?),
    /// version (a different version may lay out everything after it differently), lengths,
    /// checksum, and only then type and flags, so an unknown type is reported only for an
    /// intact frame, where it really means the peer sent something this build does not know.
    /// Never traps: all length arithmetic is in UInt64 against the bytes present.
    public static func validate(_ frame: UnsafeRawBufferPointer, maxPayload: Int) throws -> WireHeader {
        let magicCount = min(frame.count, WireProtocol.magic.count)
        if !frame[..<magicCount].elementsEqual(WireProtocol.magic[..<magicCount]) {
            throw WireError.badMagic(Array(frame[..<magicCount]))
        }
        guard frame.count >= WireProtocol.headerSize, let base = frame.baseAddress else {
            throw WireError.truncatedHeader(received: frame.count, needed: WireProtocol.headerSize)
        }
        func read<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T {
            T(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: T.self))
        }
        let version = read(WireProtocol.versionOffset, UInt16.self)
        guard version == WireProtocol.version else {
            throw WireError.versionMismatch(peer: version, local: WireProtocol.version)
        }
        let declared = read(WireProtocol.lengthOffset, UInt64.self)
        let limit = max(0, maxPayload)
        guard declared <= UInt64(limit) else { throw WireError.oversizedPayload(declared: declared, limit: limit) }
        let received = frame.count - WireProtocol.headerSize
        if declared > UInt64(received) { throw WireError.truncatedPayload(declared: declared, received: received) }
        if declared < UInt64(received) { throw WireError.lengthMismatch(declared: declared, received: received) }
        let stored = read(WireProtocol.checksumOffset, UInt32.self)
        let computed = WireProtocol.checksum(of: frame)
        guard stored == computed else { throw WireError.checksumMismatch(declared: stored, computed: computed) }
        let rawType = read(WireProtocol.typeOffset, UInt16.self)
        guard let type = MessageType(rawValue: rawType) else { throw WireError.unknownType(rawType) }
        let flags = read(WireProtocol.flagsOffset, UInt16.self)
        guard flags & ~WireProtocol.knownFlags == 0 else { throw WireError.unknownFlags(flags) }
        return WireHeader(type: type, flags: flags, rank: read(WireProtocol.rankOffset, UInt32.self),
                          sequence: read(WireProtocol.sequenceOffset, UInt64.self), payloadCount: received)
    }
}

extension WireHeader {
    /// The header of a frame that passes every check of `validate` except the checksum, and the
    /// checksum it declares; nil for any other frame. For a receiver that checksums the payload
    /// while consuming it and compares at the end (and falls back to `validate` whenever this is nil,
    /// so errors are reported exactly as `validate` reports them).
    static func unverified(_ frame: UnsafeRawBufferPointer, maxPayload: Int) -> (header: WireHeader, checksum: UInt32)? {
        guard frame.count >= WireProtocol.headerSize, let base = frame.baseAddress,
              frame[..<WireProtocol.magic.count].elementsEqual(WireProtocol.magic) else { return nil }
        func read<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T {
            T(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: T.self))
        }
        let received = frame.count - WireProtocol.headerSize
        guard read(WireProtocol.versionOffset, UInt16.self) == WireProtocol.version,
              received <= max(0, maxPayload), read(WireProtocol.lengthOffset, UInt64.self) == UInt64(received),
              let type = MessageType(rawValue: read(WireProtocol.typeOffset, UInt16.self)),
              read(WireProtocol.flagsOffset, UInt16.self) & ~WireProtocol.knownFlags == 0 else { return nil }
        let header = WireHeader(type: type, flags: read(WireProtocol.flagsOffset, UInt16.self),
                                rank: read(WireProtocol.rankOffset, UInt32.self),
                                sequence: read(WireProtocol.sequenceOffset, UInt64.self), payloadCount: received)
        return (header, read(WireProtocol.checksumOffset, UInt32.self))
    }
}

/// One typed message: what it is, who sent it, its sequence number and its payload bytes.
public struct WireMessage: Equatable, Sendable {
    public var type: MessageType
    /// The sender's rank.
    public var rank: UInt32
    /// The per-call counter of a collective, or the step of a control message.
    public var sequence: UInt64
    public var payload: [UInt8]

    public init(type: MessageType, rank: UInt32, sequence: UInt64, payload: [UInt8] = []) {
        self.type = type
        self.rank = rank
        self.sequence = sequence
        self.payload = payload
    }

    /// The frame: header (34 bytes) then payload.
    public func encode() -> [UInt8] {
        WireProtocol.frame(type: type, rank: rank, sequence: sequence, payloadCount: payload.count) { destination in
            payload.withUnsafeBytes { destination.copyMemory(from: $0) }
        }
    }

    /// Decodes one frame, rejecting anything that is not exactly a valid frame with a
    /// payload of at most `maxPayload` bytes; throws `WireError`, never traps.
    public static func decode(_ frame: UnsafeRawBufferPointer,
                              maxPayload: Int = WireProtocol.defaultMaxPayload) throws -> WireMessage {
        let header = try WireHeader.validate(frame, maxPayload: maxPayload)
        return WireMessage(type: header.type, rank: header.rank, sequence: header.sequence,
                           payload: Array(frame[WireProtocol.headerSize...]))
    }

    /// Decodes one frame; see `decode(_:maxPayload:)` on raw bytes.
    public static func decode(_ frame: [UInt8], maxPayload: Int = WireProtocol.defaultMaxPayload) throws -> WireMessage {
        try frame.withUnsafeBytes { try decode($0, maxPayload: maxPayload) }
    }
}
