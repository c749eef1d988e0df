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
/// frame whose payload is a `RingChunkHeader` and the floats. Within a step, ranks send piece
/// k, then receive piece k, so at most a few pieces are in flight per link: memory stays at
/// one piece per rank however large the buffer, and the next link is already busy while a
/// piece is being added. Each frame's sequence is the communicator's call counter: frames
/// left over from an aborted earlier call are recognised and dropped, and a frame from a
/// later call means the ranks disagree about the calls they make, which is an error.
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

        public init(timeout: Double = 30, maxChunkBytes: Int = 1 << 20) {
            self.timeout = timeout
            self.maxChunkBytes = maxChunkBytes
        }
    }

    /// Messages a link queues on each side before a send waits: few enough that a broadcast
    /// root or a fast rank cannot pile up more than about 2 x 16 pieces (32 MiB at the
    /// default chunk size) per link, and enough that the ring never deadlocks. Were every
    /// rank blocked sending, every queue would be full, so each rank would have received at
    /// least 16 messages fewer than its left neighbour sent; but send-then-receive keeps each
    /// rank at most two sends ahead of its own receives. Going once round the ring, both
    /// cannot hold for any queue length above 2.
    static let queueLength: Int32 = 16
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
    /// The outgoing frame, `WireProtocol.headerSize + maxPayload` bytes, reused for every
    /// message; empty in a world of one.
    private let frame: UnsafeMutableRawBufferPointer
    /// Incoming floats of one piece (`maxFloats`), before they are added into the buffer.
    private let scratch: UnsafeMutableBufferPointer<Float>

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
            frame = UnsafeMutableRawBufferPointer(start: nil, count: 0)
            scratch = UnsafeMutableBufferPointer(start: nil, count: 0)
            return
        }
        guard let listener else {
            throw CollectiveError.invalidConfiguration("rank \(rank) of \(worldSize) needs a listener")
        }
        let inbox = listener.socket
        try inbox.setOption(.receiveTimeout(timeoutMilliseconds))
        let outbox = try ZMQSocket(context: listener.context, type: .push)
        try outbox.setOption(.sendTimeout(timeoutMilliseconds))
        try outbox.setOption(.sendHighWaterMark(Self.queueLength))
        try outbox.connect(endpoints[right])
        self.inbox = inbox
        self.outbox = outbox
        frame = .allocate(byteCount: WireProtocol.headerSize + maxPayload, alignment: 16)
        scratch = .allocate(capacity: maxFloats)
    }

    deinit {
        frame.deallocate()
        scratch.deallocate()
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
    public func close() {
        inbox?.close()
        outbox?.close()
    }

    // MARK: - Collectives

    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        callCount += 1
        guard worldSize > 1 else { return }
        try ringPass(.gradientChunk, buffer, allGather: true, operation: "allReduceSum call \(callCount)")
    }

    public func allReduceMean(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        callCount += 1
        guard worldSize > 1 else { return }
        try ringPass(.gradientChunk, buffer, allGather: true, operation: "allReduceMean call \(callCount)")
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
                try receive(.broadcastChunk, expecting: header, byteCount: range.count, operation: operation) { data in
                    if let base = buffer.baseAddress { (base + range.lowerBound).copyMemory(from: data, byteCount: range.count) }
                }
            }
            if rank == root || forwards {
                try send(.broadcastChunk, header, byteCount: range.count, operation: operation) { destination in
                    if let base = buffer.baseAddress { destination.copyMemory(from: base + range.lowerBound, byteCount: range.count) }
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
        try ringPass(.barrier, empty, allGather: false, operation: "barrier call \(callCount)")
    }

    // MARK: - The ring

    /// Reduce-scatter, then (if `allGather`) all-gather, of `buffer` around the ring.
    private func ringPass(_ type: MessageType, _ buffer: UnsafeMutableBufferPointer<Float>, allGather: Bool,
                          operation: String) throws {
        let n = worldSize
        for step in 0..<(n - 1) {
            try exchange(type, step: step, send: (rank - step + n) % n, receive: (rank - step - 1 + 2 * n) % n,
                         buffer, add: true, operation: operation)
        }
        guard allGather else { return }
        for step in 0..<(n - 1) {
            try exchange(type, step: n - 1 + step, send: (rank + 1 - step + n) % n, receive: (rank - step + n) % n,
                         buffer, add: false, operation: operation)
        }
    }

    /// One ring step: sends chunk `sendChunk` to the right while receiving chunk
    /// `receiveChunk` from the left, adding it into the buffer (`add`) or copying it over.
    private func exchange(_ type: MessageType, step: Int, send sendChunk: Int, receive receiveChunk: Int,
                          _ buffer: UnsafeMutableBufferPointer<Float>, add: Bool, operation: String) throws {
        let floatSize = MemoryLayout<Float>.size
        let sendRange = RingPartition.chunk(sendChunk, of: buffer.count, parts: worldSize)
        let receiveRange = RingPartition.chunk(receiveChunk, of: buffer.count, parts: worldSize)
        // Neighbouring chunks may differ by one element and so by one piece.
        let sendPieces = RingPartition.pieceCount(of: sendRange, maxCount: maxFloats)
        let receivePieces = RingPartition.pieceCount(of: receiveRange, maxCount: maxFloats)
        for piece in 0..<max(sendPieces, receivePieces) {
            // Send before receiving: sends are queued, so no rank waits on a neighbour that is
            // itself waiting to send.
            if piece < sendPieces {
                let range = RingPartition.piece(piece, of: sendRange, maxCount: maxFloats)
                let header = RingChunkHeader(step: UInt32(step), chunk: UInt32(sendChunk),
                                             offset: UInt64(range.lowerBound), total: UInt64(buffer.count))
                try send(type, header, byteCount: range.count * floatSize, operation: operation) { destination in
                    WirePayload.storeFloats(UnsafeBufferPointer(rebasing: buffer[range]), to: destination)
                }
            }
            if piece < receivePieces {
                let range = RingPartition.piece(piece, of: receiveRange, maxCount: maxFloats)
                let expected = RingChunkHeader(step: UInt32(step), chunk: UInt32(receiveChunk),
                                               offset: UInt64(range.lowerBound), total: UInt64(buffer.count))
                try receive(type, expecting: expected, byteCount: range.count * floatSize, operation: operation) { data in
                    let target = UnsafeMutableBufferPointer(rebasing: buffer[range])
                    guard add else { return WirePayload.loadFloats(from: data, into: target) }
                    guard let local = target.baseAddress, let incoming = scratch.baseAddress else { return }
                    let count = target.count
                    WirePayload.loadFloats(from: data, into: UnsafeMutableBufferPointer(start: incoming, count: count))
                    // A while loop over pointers: `for in` over a range is slow in debug builds.
                    var index = 0
                    while index < count {
                        local[index] += incoming[index]
                        index += 1
                    }
                }
            }
        }
    }

    /// Frames `header` and `byteCount` data bytes (written by `data`) and sends them right.
    private func send(_ type: MessageType, _ header: RingChunkHeader, byteCount: Int, operation: String,
                      data: (UnsafeMutableRawPointer) -> Void) throws {
        guard let outbox else { return }
        let count = WireProtocol.writeFrame(into: frame, type: type, rank: UInt32(rank), sequence: callCount,
                                            payloadCount: RingChunkHeader.size + byteCount) { payload in
            guard let base = payload.baseAddress else { return }
            header.store(to: base)
            data(base + RingChunkHeader.size)
        }
        do {
            try outbox.send(UnsafeRawBufferPointer(rebasing: frame[..<count]))
        } catch let error as ZMQError where error.errno == EAGAIN {
            throw CollectiveError.peerNotReceiving(rank: rank, peer: right, endpoint: endpoints[right],
                                                   seconds: options.timeout, operation: operation)
        }
    }

    /// Receives the next frame of this call from the left, checks it is exactly the piece
    /// `expected` with `byteCount` data bytes, and hands the data to `consume`.
    private func receive(_ type: MessageType, expecting expected: RingChunkHeader, byteCount: Int, operation: String,
                         consume: (UnsafeRawPointer) -> Void) throws {
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
            guard let bytes = try inbox.receive() else { throw silent }
            let header: WireHeader
            do {
                header = try bytes.withUnsafeBytes { try WireHeader.validate($0, maxPayload: maxPayload) }
            } catch let error as WireError {
                throw CollectiveError.corruptFrame(rank: rank, peer: left, error, operation: operation)
            }
            if header.sequence < callCount {
                // Left over from a call that timed out or failed here or there: drop it, but
                // keep to this call's deadline so a stream of stale frames cannot stall it.
                staleFramesDropped += 1
                let remaining = ContinuousClock.now.duration(to: deadline)
                guard remaining > .zero else { throw silent }
                let milliseconds = remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000
                try inbox.setOption(.receiveTimeout(Int32(clamping: max(1, milliseconds))))
                shortened = true
                continue
            }
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
            try bytes.withUnsafeBytes { frame in
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
                consume(base + RingChunkHeader.size)
            }
            return
        }
    }
}
