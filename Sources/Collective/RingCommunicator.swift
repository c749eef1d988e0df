#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Ring all-reduce and broadcast over ZeroMQ between `worldSize` ranks.
///
/// Rank r binds `endpoints[r]` with a PULL socket that only its left neighbour (r - 1 mod N)
/// connects to, and connects a PUSH socket to its right neighbour's endpoint (r + 1 mod N).
/// Data flows one way round the ring, so one-way sockets are enough. PUSH/PULL rather than
/// PAIR because PAIR over TCP does not reconnect after its peer restarts and is documented
/// as meant for inproc; PUSH queues messages while the peer is not yet up (so ranks can start
/// in any order), and every message arrives whole and in order on the one connection.
///
/// `allReduceSum` over a buffer of `count` floats: the buffer is cut into N chunks
/// (`RingPartition`), sizes differing by at most one element. Reduce-scatter: N-1 steps; at
/// step s rank r sends chunk (r - s) to the right and adds the chunk (r - s - 1) arriving from
/// the left, so after N-1 steps rank r holds the full sum of chunk (r + 1). All-gather: N-1
/// steps in which each rank passes on the finished chunks, which are copied, not added. Every
/// rank therefore ends with the bit pattern its chunk's owner computed: the result is
/// bit-identical on all ranks. Each rank sends and receives 2(N-1)/N of the buffer in total,
/// independent of N, which is why the ring is bandwidth-optimal.
///
/// A chunk travels as pieces of at most `maxChunkBytes` data bytes, each one `WireMessage`
/// frame whose payload is a `RingChunkHeader` and the floats. The whole call is one pipeline of
/// pieces: piece k of step s leaves as soon as piece k of step s-1 has arrived, and sends run up
/// to `piecesInFlight` pieces ahead of receives, so the link stays busy while a piece is checked
/// and added, and memory stays bounded however large the buffer. Frames are written straight into
/// libzmq messages and read where libzmq received them: the only copies of the data are the one
/// into an outgoing frame and the add (or copy) out of an incoming one, each checksummed in the
/// same pass (`CRC32C.copy`, `CRC32C.addFloats`). Each frame's sequence is
/// the communicator's call counter: frames left over from an aborted earlier call are recognised
/// and dropped, and a frame from a later call means the ranks disagree about the calls they
/// make, which is an error.
///
/// Receives and sends wait at most `Options.timeout` and then throw an error naming the
/// silent neighbour; recovering from that (rejoining, shrinking the ring) is left to the
/// caller. Use from one thread at a time.
public final class RingCommunicator: Communicator {
    /// Settings every rank of one ring must share.
    public struct Options: Sendable {
        /// Seconds to wait for the left neighbour's next message, or for the right neighbour
        /// to take one, before throwing. Finite and positive: a collective never hangs forever.
        public var timeout: Double
        /// Data bytes per message at most (a multiple of 4 for floats is best): 1 MiB keeps a
        /// message under 1 ms on 10 GbE and 9 ms on 1 GbE while amortising per-message costs
        /// (header, checksum set-up, one ZeroMQ message) over 262,144 floats.
        public var maxChunkBytes: Int
        /// CURVE on the link to the right neighbour: this rank's keypair and the right
        /// neighbour's public key (its listener was bound with `curveSecretKey`). nil: plain TCP.
        public var curve: (publicKey: String, secretKey: String, rightPublicKey: String)?

        public init(timeout: Double = 30, maxChunkBytes: Int = 1 << 20) {
            self.timeout = timeout
            self.maxChunkBytes = maxChunkBytes
        }
    }

    /// Messages a link queues on each side before a send waits: few enough that a broadcast
    /// root or a fast rank cannot pile up more than about 2 x 16 pieces (32 MiB at the
    /// default chunk size) per link, and enough that the ring never deadlocks. Were every
    /// rank blocked sending, every queue would be full, so each rank would have received at
    /// least 16 messages fewer than its left neighbour sent; but a rank sends at most
    /// `piecesInFlight` (8) messages more than it has received. Summed once round the ring, both
    /// cannot hold while `piecesInFlight` is below the queue length.
    static let queueLength: Int32 = 16
    /// How many pieces an all-reduce sends beyond those it has received (see `queueLength`).
    static let piecesInFlight = 8
    /// The largest frame any valid configuration sends: header, chunk header, 256 MiB of data.
    static let largestFrame = WireProtocol.headerSize + RingChunkHeader.size + maxChunkBytesLimit
    /// The largest `Options.maxChunkBytes` accepted.
    static let maxChunkBytesLimit = 256 << 20

    public let rank: Int
    public let worldSize: Int
    /// Every rank's endpoint, indexed by rank.
    public let endpoints: [String]
    public let options: Options
    /// Collective calls made so far; the frames of call k carry sequence number k.
    public private(set) var callCount: UInt64 = 0
    /// Frames from earlier, aborted calls that arrived late and were discarded.
    public private(set) var staleFramesDropped = 0

    /// Where a test's fault strikes (`EDGEDISTILL_WORKER_FAULT=PHASE:STEP:kill-reduce-scatter`, or
    /// `kill-all-gather`): the next all-reduce SIGKILLs this process part-way, as a crashed machine
    /// would vanish with its neighbours waiting.
    public enum Fault: Sendable {
        /// After its first piece has left, before its reduce-scatter has received everything.
        case reduceScatter
        /// Once its reduce-scatter is done, before its first all-gather piece leaves.
        case allGather
    }
    /// The fault to strike in the next all-reduce; nil: none (always, outside tests).
    public var killDuring: Fault?

    private let left: Int
    private let right: Int
    /// Receives from the left neighbour; nil in a world of one.
    private let inbox: ZMQSocket?
    /// Sends to the right neighbour; nil in a world of one.
    private let outbox: ZMQSocket?
    private let timeoutMilliseconds: Int32
    /// Floats per message: `maxChunkBytes / 4`, at least 1.
    private let maxFloats: Int
    /// The largest payload a valid ring frame has: chunk header and one piece.
    private let maxPayload: Int

    /// Binds `endpoints[rank]` (unless the world is one rank) and connects to the right
    /// neighbour.
    ///
    /// For `inproc://` endpoints all ranks must pass the same `context`; otherwise each rank
    /// may have its own (a new one is made when nil).
    public convenience init(rank: Int, endpoints: [String], context: ZMQContext? = nil,
                            options: Options = Options()) throws {
        try Self.validate(rank: rank, endpoints: endpoints, options: options)
        if endpoints.count == 1 {
            try self.init(rank: rank, endpoints: endpoints, listener: nil, options: options)
        } else {
            let listener = try RingListener(context: context ?? ZMQContext(), endpoint: endpoints[rank])
            try self.init(rank: rank, endpoints: endpoints, listener: listener, options: options)
        }
    }

    /// Wires the ring with a listener bound beforehand (e.g. on an OS-chosen port), whose
    /// endpoint the other ranks know as `endpoints[rank]`. The communicator takes over the
    /// listener's socket. `listener` may be nil only in a world of one.
    public init(rank: Int, endpoints: [String], listener: RingListener?, options: Options = Options()) throws {
        try Self.validate(rank: rank, endpoints: endpoints, options: options)
        self.rank = rank
        self.worldSize = endpoints.count
        self.endpoints = endpoints
        self.options = options
        left = (rank + worldSize - 1) % worldSize
        right = (rank + 1) % worldSize
        // Whole milliseconds, at least 1 (0 would mean "do not wait"), at most ~24 days.
        timeoutMilliseconds = Int32(min(Double(Int32.max), max(1, (options.timeout * 1000).rounded(.up))))
        maxFloats = max(1, options.maxChunkBytes / MemoryLayout<Float>.size)
        maxPayload = RingChunkHeader.size + max(options.maxChunkBytes, MemoryLayout<Float>.size)
        guard worldSize > 1 else {
            // One rank: the collectives are identities and need no sockets.
            inbox = nil
            outbox = nil
            return
        }
        guard let listener else {
            throw CollectiveError.invalidConfiguration("rank \(rank) of \(worldSize) needs a listener")
        }
        AllocatorTuning.keepMessageMemory
        let inbox = listener.socket
        try inbox.setOption(.receiveTimeout(timeoutMilliseconds))
        let outbox = try ZMQSocket(context: listener.context, type: .push)
        try outbox.setOption(.sendTimeout(timeoutMilliseconds))
        try outbox.setOption(.sendHighWaterMark(Self.queueLength))
        if let curve = options.curve {
            try outbox.setOption(.curveServerKey(curve.rightPublicKey))
            try outbox.setOption(.curvePublicKey(curve.publicKey))
            try outbox.setOption(.curveSecretKey(curve.secretKey))
        }
        try outbox.connect(endpoints[right])
        self.inbox = inbox
        self.outbox = outbox
    }

    private static func validate(rank: Int, endpoints: [String], options: Options) throws {
        guard !endpoints.isEmpty else { throw CollectiveError.invalidConfiguration("no endpoints") }
        guard endpoints.indices.contains(rank) else {
            throw CollectiveError.invalidConfiguration("rank \(rank) is not in 0..<\(endpoints.count)")
        }
        guard options.timeout.isFinite, options.timeout > 0 else {
            throw CollectiveError.invalidConfiguration("timeout must be a positive number of seconds, not \(options.timeout)")
        }
        guard (1...maxChunkBytesLimit).contains(options.maxChunkBytes) else {
            throw CollectiveError.invalidConfiguration(
                "maxChunkBytes must be in 1...\(maxChunkBytesLimit), not \(options.maxChunkBytes)")
        }
    }

    /// Closes both sockets; later collectives in a world of more than one throw.
    ///
    /// Frames still queued for the right neighbour are delivered first, for up to the timeout: a
    /// rank whose last act was to send (a broadcast's root) returns before its frames have left,
    /// and with the sockets' default linger of 0 closing would drop them, leaving the neighbour
    /// waiting for data that never comes. libzmq sends them in the background after the close;
    /// terminating the context waits for them, at most the timeout if the neighbour is gone.
    public func close() {
        inbox?.close()
        try? outbox?.setOption(.linger(timeoutMilliseconds))
        outbox?.close()
    }

    // MARK: - Collectives

    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        callCount += 1
        guard worldSize > 1 else { return }
        try ringPass(.gradientChunk, buffer, steps: 0..<(2 * worldSize - 2), operation: "allReduceSum call \(callCount)")
    }

    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>, precision: WirePrecision) throws {
        callCount += 1
        guard worldSize > 1 else { return }
        try ringPass(precision == .bf16 ? .gradientChunkBF16 : .gradientChunk, buffer, steps: 0..<(2 * worldSize - 2),
                     operation: "allReduceSum (\(precision.rawValue)) call \(callCount)", precision: precision)
    }

    public func reduceScatterSum(_ buffer: UnsafeMutableBufferPointer<Float>, precision: WirePrecision) throws {
        callCount += 1
        guard worldSize > 1 else { return }
        try ringPass(precision == .bf16 ? .gradientChunkBF16 : .gradientChunk, buffer, steps: 0..<(worldSize - 1),
                     operation: "reduceScatterSum (\(precision.rawValue)) call \(callCount)", precision: precision)
    }

    public func allGather(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        callCount += 1
        guard worldSize > 1 else { return }
        try ringPass(.gradientChunk, buffer, steps: (worldSize - 1)..<(2 * worldSize - 2),
                     operation: "allGather call \(callCount)")
    }

    public func allReduceMean(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        callCount += 1
        guard worldSize > 1 else { return }
        try ringPass(.gradientChunk, buffer, steps: 0..<(2 * worldSize - 2), operation: "allReduceMean call \(callCount)")
        // Division rather than multiplication by 1/N: it is correctly rounded, so a mean that
        // is representable comes out exact, and its cost is nothing next to the network.
        let count = Float(worldSize)
        guard let base = buffer.baseAddress else { return }
        let elements = buffer.count
        var index = 0
        while index < elements {
            base[index] /= count
            index += 1
        }
    }

    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {
        guard (0..<worldSize).contains(root) else { throw CollectiveError.invalidRoot(root, worldSize: worldSize) }
        callCount += 1
        guard worldSize > 1 else { return }
        let operation = "broadcast from rank \(root) call \(callCount)"
        // The root's bytes travel right, piece by piece, each rank copying and passing them on
        // until they reach the rank before the root: N-1 hops, pipelined over the pieces.
        let whole = 0..<buffer.count
        let forwards = right != root
        for piece in 0..<RingPartition.pieceCount(of: whole, maxCount: options.maxChunkBytes) {
            let range = RingPartition.piece(piece, of: whole, maxCount: options.maxChunkBytes)
            let header = RingChunkHeader(step: UInt32(truncatingIfNeeded: piece), chunk: 0,
                                         offset: UInt64(range.lowerBound), total: UInt64(buffer.count))
            if rank != root {
                try receive(.broadcastChunk, expecting: header, byteCount: range.count, operation: operation) { data, crc in
                    guard let base = buffer.baseAddress else { return crc }
                    return CRC32C.copy(UnsafeRawBufferPointer(start: data, count: range.count), to: base + range.lowerBound,
                                       continuing: crc)
                }
            }
            if rank == root || forwards {
                try send(.broadcastChunk, header, byteCount: range.count, operation: operation) { destination, crc in
                    guard let base = buffer.baseAddress else { return crc }
                    return CRC32C.copy(UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count),
                                       to: destination, continuing: crc)
                }
            }
        }
    }

    public func barrier() throws {
        callCount += 1
        guard worldSize > 1 else { return }
        // A reduce-scatter over an empty buffer: N-1 steps of one empty message each. The
        // message a rank receives at step s was sent after its sender received step s-1, so
        // the last one depends on every other rank having entered the barrier.
        let empty = UnsafeMutableBufferPointer<Float>(start: nil, count: 0)
        try ringPass(.barrier, empty, steps: 0..<(worldSize - 1), operation: "barrier call \(callCount)")
    }

    // MARK: - The ring

    /// Reduce-scatter, then all-gather, of `buffer` around the ring (or one of the two halves), as
    /// one pipeline of pieces.
    ///
    /// Step g (0..<N-1 reduce-scatter, N-1..<2N-2 all-gather) sends chunk `sendChunk(g)` and
    /// receives chunk `receiveChunk(g)`; the chunk a rank sends at step g is the one it received at
    /// step g-1, so piece k of step g may leave as soon as piece k of step g-1 has arrived, without
    /// waiting for the rest of that step. Sends run up to `piecesInFlight` ahead of receives, which
    /// keeps the link busy while a piece is checked and added, and keeps memory bounded.
    ///
    /// `stages` names the steps taken: 0..<2N-2 (all-reduce), 0..<N-1 (reduce-scatter only) or
    /// N-1..<2N-2 (all-gather only, each rank starting from its own chunk).
    private func ringPass(_ type: MessageType, _ buffer: UnsafeMutableBufferPointer<Float>, steps stages: Range<Int>,
                          operation: String, precision: WirePrecision = .fp32) throws {
        let width = precision.bytesPerValue
        let n = worldSize
        let first = stages.lowerBound, steps = stages.upperBound
        let reduces = first < n - 1, gathers = steps > n - 1
        func sendChunk(_ step: Int) -> Int {
            step < n - 1 ? (rank - step + n) % n : (rank + 1 - (step - (n - 1)) + 2 * n) % n
        }
        func receiveChunk(_ step: Int) -> Int {
            step < n - 1 ? (rank - step - 1 + 2 * n) % n : (rank - (step - (n - 1)) + 2 * n) % n
        }
        func chunkRange(_ chunk: Int) -> Range<Int> { RingPartition.chunk(chunk, of: buffer.count, parts: n) }
        func pieces(_ chunk: Int) -> Int { RingPartition.pieceCount(of: chunkRange(chunk), maxCount: maxFloats) }

        var sendStep = first, sendPiece = 0, receiveStep = first, receivePiece = 0
        var sent = 0, received = 0
        /// Whether piece `piece` of step `step` has arrived.
        func arrived(_ step: Int, _ piece: Int) -> Bool {
            receiveStep > step || (receiveStep == step && receivePiece > piece)
        }
        while sendStep < steps || receiveStep < steps {
            // Send whatever is ready, up to the window (everything once all has been received).
            while sendStep < steps, sent - received < Self.piecesInFlight || receiveStep >= steps,
                  sendStep == first || arrived(sendStep - 1, sendPiece) {
                if gathers, type != .barrier, killDuring == .allGather, sendStep == n - 1 { kill(getpid(), SIGKILL) }
                let chunk = sendChunk(sendStep)
                let range = RingPartition.piece(sendPiece, of: chunkRange(chunk), maxCount: maxFloats)
                let header = RingChunkHeader(step: UInt32(sendStep), chunk: UInt32(chunk),
                                             offset: UInt64(range.lowerBound), total: UInt64(buffer.count))
                if precision == .bf16, reduces, sendStep == n - 1 {
                    // This rank finished this piece of its chunk: it keeps the bf16 value it sends, so
                    // every rank ends with the same bits.
                    for i in range { buffer[i] = WirePrecision.roundedToBF16(buffer[i]) }
                }
                try send(type, header, byteCount: range.count * width, operation: operation) { destination, crc in
                    precision == .bf16
                        ? WirePayload.storeBF16(UnsafeBufferPointer(rebasing: buffer[range]), to: destination, continuing: crc)
                        : WirePayload.storeFloats(UnsafeBufferPointer(rebasing: buffer[range]), to: destination, continuing: crc)
                }
                sent += 1
                sendPiece += 1
                if sendPiece == pieces(chunk) { sendStep += 1; sendPiece = 0 }
            }
            guard receiveStep < steps else { continue }
            if reduces, type != .barrier, killDuring == .reduceScatter, sent > 0, receiveStep < n - 1 { kill(getpid(), SIGKILL) }
            let chunk = receiveChunk(receiveStep)
            let range = RingPartition.piece(receivePiece, of: chunkRange(chunk), maxCount: maxFloats)
            let expected = RingChunkHeader(step: UInt32(receiveStep), chunk: UInt32(chunk),
                                           offset: UInt64(range.lowerBound), total: UInt64(buffer.count))
            let add = receiveStep < n - 1
            try receive(type, expecting: expected, byteCount: range.count * width,
                        operation: operation) { data, crc in
                let target = UnsafeMutableBufferPointer(rebasing: buffer[range])
                if precision == .bf16 { return WirePayload.readBF16(from: data, into: target, add: add, continuing: crc) }
                return add ? WirePayload.addFloats(from: data, into: target, continuing: crc)
                           : WirePayload.loadFloats(from: data, into: target, continuing: crc)
            }
            received += 1
            receivePiece += 1
            if receivePiece == pieces(chunk) { receiveStep += 1; receivePiece = 0 }
        }
    }

    /// Frames `header` and `byteCount` data bytes and sends them right. `data` moves the bytes into
    /// the frame and returns the checksum continued over them, in one pass; the frame is written
    /// straight into a libzmq message, which libzmq sends from without another copy.
    private func send(_ type: MessageType, _ header: RingChunkHeader, byteCount: Int, operation: String,
                      data: (UnsafeMutableRawPointer, UInt32) -> UInt32) throws {
        guard let outbox else { return }
        do {
            try outbox.sendMessage(count: WireProtocol.headerSize + RingChunkHeader.size + byteCount) { frame in
                WireProtocol.writeFrame(into: frame, type: type, rank: UInt32(rank), sequence: callCount,
                                        prefixCount: RingChunkHeader.size, dataCount: byteCount,
                                        prefix: { header.store(to: $0) }, data: data)
            }
        } catch let error as ZMQError where error.errno == EAGAIN {
            throw CollectiveError.peerNotReceiving(rank: rank, peer: right, endpoint: endpoints[right],
                                                   seconds: options.timeout, operation: operation)
        }
    }

    /// Receives the next frame of this call from the left, checks it is exactly the piece
    /// `expected` with `byteCount` data bytes, and hands the data to `consume`.
    private func receive(_ type: MessageType, expecting expected: RingChunkHeader, byteCount: Int, operation: String,
                         consume: (UnsafeRawPointer, UInt32) -> UInt32) throws {
        guard let inbox else { return }
        let deadline = ContinuousClock.now + .milliseconds(Int64(timeoutMilliseconds))
        var shortened = false
        defer {
            // A stale frame shortened the wait; the next receive gets the full timeout again.
            if shortened { try? inbox.setOption(.receiveTimeout(timeoutMilliseconds)) }
        }
        let silent = CollectiveError.peerSilent(rank: rank, peer: left, endpoint: endpoints[left],
                                                seconds: options.timeout, operation: operation)
        while true {
            // The frame is read where libzmq received it: checked, then added or copied from there.
            guard let consumed = try inbox.withReceivedMessage({ frame in
                try take(frame, type, expecting: expected, byteCount: byteCount, operation: operation, consume: consume)
            }) else { throw silent }
            if consumed { return }
            // Left over from a call that timed out or failed here or there: dropped, but this
            // call's deadline holds, so a stream of stale frames cannot stall it.
            staleFramesDropped += 1
            let remaining = ContinuousClock.now.duration(to: deadline)
            guard remaining > .zero else { throw silent }
            let milliseconds = remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000
            try inbox.setOption(.receiveTimeout(Int32(clamping: max(1, milliseconds))))
            shortened = true
        }
    }

    /// Checks one received frame: false for a stale frame of an earlier call (to be dropped);
    /// true once it was exactly the piece `expected` and `consume` has taken its data; throws
    /// for anything else.
    ///
    /// The expected case is one pass over the data: once the header and chunk header are exactly
    /// as expected, `consume` adds or copies the data into place while continuing the checksum,
    /// which is compared at the end. A corrupt frame is still reported as corrupt, but its data has
    /// then already been consumed: after any error, the call's buffer holds unspecified values (as
    /// it does after a timeout half-way). Any other frame takes the checks in `validate`'s order,
    /// so every error is the one a full validation gives.
    private func take(_ frame: UnsafeRawBufferPointer, _ type: MessageType, expecting expected: RingChunkHeader,
                      byteCount: Int, operation: String, consume: (UnsafeRawPointer, UInt32) -> UInt32) throws -> Bool {
        if let (header, declared) = WireHeader.unverified(frame, maxPayload: maxPayload),
           header.sequence == callCount, header.rank == UInt32(left), header.type == type,
           header.payloadCount == RingChunkHeader.size + byteCount, let base = frame.baseAddress,
           RingChunkHeader.load(from: UnsafeRawBufferPointer(rebasing: frame[WireProtocol.headerSize...])) == expected {
            var crc = CRC32C.checksum(UnsafeRawBufferPointer(start: base, count: WireProtocol.checksumOffset))
            crc = CRC32C.checksum(UnsafeRawBufferPointer(start: base + WireProtocol.headerSize, count: RingChunkHeader.size),
                                  continuing: crc)
            crc = consume(base + WireProtocol.headerSize + RingChunkHeader.size, crc)
            guard crc == declared else {
                throw CollectiveError.corruptFrame(rank: rank, peer: left, .checksumMismatch(declared: declared, computed: crc),
                                                   operation: operation)
            }
            return true
        }
        let header: WireHeader
        do {
            header = try WireHeader.validate(frame, maxPayload: maxPayload)
        } catch let error as WireError {
            throw CollectiveError.corruptFrame(rank: rank, peer: left, error, operation: operation)
        }
        if header.sequence < callCount { return false }
        guard header.sequence == callCount else {
            throw CollectiveError.outOfStep(rank: rank, peer: left, peerCall: header.sequence, localCall: callCount)
        }
        guard header.rank == UInt32(left) else {
            throw CollectiveError.unexpectedSender(rank: rank, claimed: header.rank, expected: left, operation: operation)
        }
        guard header.type == type else {
            throw CollectiveError.unexpectedMessage(rank: rank, peer: left, received: header.type, expected: type,
                                                    operation: operation)
        }
        let payload = UnsafeRawBufferPointer(rebasing: frame[WireProtocol.headerSize...])
        guard let chunk = RingChunkHeader.load(from: payload), let base = payload.baseAddress else {
            throw CollectiveError.chunkMismatch(
                rank: rank, peer: left,
                detail: "payload of \(payload.count) bytes is shorter than the \(RingChunkHeader.size)-byte chunk header",
                operation: operation)
        }
        guard chunk.total == expected.total else {
            throw CollectiveError.sizeMismatch(rank: rank, peer: left, peerCount: chunk.total,
                                               localCount: Int(expected.total), operation: operation)
        }
        let dataCount = payload.count - RingChunkHeader.size
        guard chunk == expected, dataCount == byteCount else {
            throw CollectiveError.chunkMismatch(
                rank: rank, peer: left,
                detail: "expected step \(expected.step), chunk \(expected.chunk), offset \(expected.offset), "
                    + "\(byteCount) bytes; received step \(chunk.step), chunk \(chunk.chunk), "
                    + "offset \(chunk.offset), \(dataCount) bytes",
                operation: operation)
        }
        // Unreachable in practice (such a frame takes the path above), but harmless.
        _ = consume(base + RingChunkHeader.size, 0)
        return true
    }
}
