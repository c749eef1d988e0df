import Foundation
import TestSupport
import XCTest
@testable import Collective

/// Ring all-reduce, broadcast and barrier between real ZeroMQ sockets, one thread per rank,
/// over inproc, loopback TCP and IPC, checked against closed forms.
final class RingCommunicatorTests: XCTestCase {
    enum Transport { case inproc, tcp, ipc }

    /// Collects one value per rank from the rank threads.
    private final class Results<T>: @unchecked Sendable {
        private let lock = NSLock()
        private var values: [Result<T, Error>?]
        init(_ count: Int) { values = Array(repeating: nil, count: count) }
        func set(_ rank: Int, _ value: Result<T, Error>) { lock.lock(); values[rank] = value; lock.unlock() }
        var all: [Result<T, Error>?] { lock.lock(); defer { lock.unlock() }; return values }
    }

    private static var ipcCounter = 0

    /// Builds an `n`-rank ring over `transport` and runs `body` on each rank in `joining`, one
    /// thread per rank, each starting after its `startDelays` seconds; returns each rank's
    /// outcome (nil for ranks that did not join).
    ///
    /// TCP listeners bind `tcp://127.0.0.1:*` first and the ring is wired from the ports the
    /// OS chose, as a real rendezvous would. Ranks not joining never bind (inproc, IPC) or
    /// close their listener (TCP), so their neighbours talk into the void.
    private func runRing<T>(_ n: Int, over transport: Transport, options: RingCommunicator.Options,
                            joining: Set<Int>? = nil, startDelays: [Int: Double] = [:],
                            _ body: @escaping (RingCommunicator) throws -> T) throws
        -> [Result<T, Error>?] {
        let joining = joining ?? Set(0..<n)
        let shared = try ZMQContext()
        var endpoints: [String] = []
        var listeners: [RingListener?] = Array(repeating: nil, count: n)
        switch transport {
        case .inproc:
            let name = UUID().uuidString
            endpoints = (0..<n).map { "inproc://ring-\(name)-\($0)" }
        case .ipc:
            Self.ipcCounter += 1
            let directory = NSTemporaryDirectory().hasSuffix("/") ? NSTemporaryDirectory() : NSTemporaryDirectory() + "/"
            endpoints = (0..<n).map { "ipc://\(directory)edst-\(getpid())-\(Self.ipcCounter)-\($0)" }
        case .tcp:
            for rank in 0..<n {
                let listener = try RingListener(context: try ZMQContext(), endpoint: "tcp://127.0.0.1:*")
                endpoints.append(listener.endpoint)
                if joining.contains(rank) { listeners[rank] = listener } else { listener.close() }
            }
        }
        let results = Results<T>(n)
        let ringEndpoints = endpoints
        let finished = DispatchSemaphore(value: 0)
        for rank in joining.sorted() {
            let listener = listeners[rank]
            let delay = startDelays[rank] ?? 0
            let thread = Thread {
                defer { finished.signal() }
                if delay > 0 { Thread.sleep(forTimeInterval: delay) }
                results.set(rank, Result(catching: {
                    let ring: RingCommunicator
                    switch transport {
                    case .inproc: ring = try RingCommunicator(rank: rank, endpoints: ringEndpoints, context: shared, options: options)
                    case .ipc: ring = try RingCommunicator(rank: rank, endpoints: ringEndpoints, options: options)
                    case .tcp: ring = try RingCommunicator(rank: rank, endpoints: ringEndpoints, listener: listener, options: options)
                    }
                    defer { ring.close() }
                    return try body(ring)
                }))
            }
            thread.start()
        }
        for _ in joining {
            guard finished.wait(timeout: .now() + 120) == .success else {
                XCTFail("a rank did not finish within 120 s")
                break
            }
        }
        if transport == .ipc {
            // libzmq 4.3 leaves the socket file of a named IPC endpoint behind on close.
            for endpoint in endpoints { unlink(String(endpoint.dropFirst("ipc://".count))) }
        }
        return results.all
    }

    /// Unwraps every joined rank's value, failing the test for ranks that threw.
    private func values<T>(_ results: [Result<T, Error>?], file: StaticString = #filePath, line: UInt = #line) -> [T] {
        results.enumerated().compactMap { rank, result in
            switch result {
            case .success(let value): return value
            case .failure(let error): XCTFail("rank \(rank) threw: \(error)", file: file, line: line); return nil
            case nil: return nil
            }
        }
    }

    // MARK: - World of one

    func testAWorldOfOneNeedsNoSocketsAndChangesNothing() throws {
        // An address nobody listens on: a world of one must not even try to bind it.
        let ring = try RingCommunicator(rank: 0, endpoints: ["tcp://192.0.2.1:9"])
        let local = LocalCommunicator()
        for communicator in [ring, local] as [Communicator] {
            XCTAssertEqual(communicator.rank, 0)
            XCTAssertEqual(communicator.worldSize, 1)
            var floats: [Float] = [1.5, -2, .nan]
            try floats.withUnsafeMutableBufferPointer { try communicator.allReduceSum($0) }
            try floats.withUnsafeMutableBufferPointer { try communicator.allReduceMean($0) }
            XCTAssertEqual(floats.map(\.bitPattern), ([1.5, -2, .nan] as [Float]).map(\.bitPattern))
            var bytes: [UInt8] = [9, 8, 7]
            try bytes.withUnsafeMutableBytes { try communicator.broadcast($0, root: 0) }
            XCTAssertEqual(bytes, [9, 8, 7])
            try communicator.barrier()
            XCTAssertThrowsError(try bytes.withUnsafeMutableBytes { try communicator.broadcast($0, root: 1) }) {
                guard case .invalidRoot(1, worldSize: 1) = $0 as? CollectiveError else { return XCTFail("\($0)") }
            }
        }
        XCTAssertEqual(ring.callCount, 4, "sum, mean, broadcast, barrier; the refused broadcast does not count")
    }

    func testInvalidConfigurationsAreRejected() {
        let bad: [(Int, [String], RingCommunicator.Options)] = [
            (0, [], .init()),
            (2, ["inproc://a", "inproc://b"], .init()),
            (-1, ["inproc://a"], .init()),
            (0, ["inproc://a"], .init(timeout: 0)),
            (0, ["inproc://a"], .init(timeout: .infinity)),
            (0, ["inproc://a"], .init(timeout: .nan)),
            (0, ["inproc://a"], .init(maxChunkBytes: 0)),
        ]
        for (rank, endpoints, options) in bad {
            XCTAssertThrowsError(try RingCommunicator(rank: rank, endpoints: endpoints, options: options)) {
                guard case .invalidConfiguration = $0 as? CollectiveError else { return XCTFail("\($0)") }
            }
        }
        XCTAssertThrowsError(try RingCommunicator(rank: 0, endpoints: ["inproc://a", "inproc://b"], listener: nil))
    }

    // MARK: - All-reduce

    /// How many elements of `buffer` differ from `expected(index)`. Here and in `pattern`,
    /// pointer loops, because `for in` and `map` over a million elements take seconds in a
    /// debug build.
    private static func mismatches(_ buffer: [Float], _ expected: (Int) -> Float) -> Int {
        buffer.withUnsafeBufferPointer { pointer in
            guard let base = pointer.baseAddress else { return 0 }
            var wrong = 0, index = 0
            while index < pointer.count {
                if base[index] != expected(index) { wrong += 1 }
                index += 1
            }
            return wrong
        }
    }

    /// Rank `rank`'s input: r*1000 + i at index i.
    private static func pattern(rank: Int, count: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            guard let base = buffer.baseAddress else { return }
            var index = 0
            while index < count {
                (base + index).initialize(to: Float(rank * 1000 + index))
                index += 1
            }
            initialized = count
        }
    }

    /// The sum and the mean of buffers where rank r holds r*1000 + i at index i, for each size
    /// in turn on one ring.
    private func checkAllReduce(_ n: Int, over transport: Transport, sizes: [Int], maxChunkBytes: Int) throws {
        let results = try runRing(n, over: transport, options: .init(timeout: 20, maxChunkBytes: maxChunkBytes)) { ring in
            var problems: [String] = []
            // Every term and every sum is an integer below 2^24, so Float holds them exactly
            // and the closed form must match bit for bit whatever the order of addition.
            let offset = 1000 * n * (n - 1) / 2
            for size in sizes {
                var buffer = Self.pattern(rank: ring.rank, count: size)
                try buffer.withUnsafeMutableBufferPointer { try ring.allReduceSum($0) }
                var wrong = Self.mismatches(buffer) { Float(offset + n * $0) }
                if wrong > 0 { problems.append("sum of \(size): \(wrong) elements wrong") }

                buffer = Self.pattern(rank: ring.rank, count: size)
                try buffer.withUnsafeMutableBufferPointer { try ring.allReduceMean($0) }
                wrong = Self.mismatches(buffer) { Float(offset + n * $0) / Float(n) }
                if wrong > 0 { problems.append("mean of \(size): \(wrong) elements wrong") }
            }
            return (problems, ring.callCount)
        }
        for (rank, value) in values(results).enumerated() {
            XCTAssertEqual(value.0, [], "\(n) ranks over \(transport), rank \(rank)")
            XCTAssertEqual(value.1, UInt64(2 * sizes.count))
        }
    }

    func testAllReduceOverInproc() throws {
        for n in 1...4 {
            try checkAllReduce(n, over: .inproc, sizes: [1, 7, 2, 3, 0, 1000, 1_000_003], maxChunkBytes: 1 << 18)
        }
    }

    func testAllReduceOverTCP() throws {
        for n in 1...4 {
            try checkAllReduce(n, over: .tcp, sizes: [1, 7, 2, 3, 0, 1000, 1_000_003], maxChunkBytes: 1 << 18)
        }
    }

    func testAllReduceOverIPC() throws {
        try checkAllReduce(3, over: .ipc, sizes: [1, 7, 100_003], maxChunkBytes: 1 << 16)
    }

    func testAllReduceWithTinyPiecesAndEverySizeUpToForty() throws {
        // 12-byte messages (3 floats): chunks of 0 to 14 floats split into up to 5 pieces, and
        // neighbouring chunks with different piece counts.
        for n in 2...4 {
            try checkAllReduce(n, over: .inproc, sizes: Array(0...40), maxChunkBytes: 12)
        }
    }

    func testManyMorePiecesThanTheQueueHoldsDoNotStall() throws {
        // Hundreds of pieces per step against queues of 16 messages: sends must wait for the
        // neighbour now and then, and the ring must still never deadlock.
        try checkAllReduce(3, over: .tcp, sizes: [10_007], maxChunkBytes: 16)
        let results = try runRing(4, over: .tcp, options: .init(timeout: 20, maxChunkBytes: 64)) { ring in
            var buffer = [UInt8](repeating: UInt8(ring.rank), count: 20_001)
            try buffer.withUnsafeMutableBytes { try ring.broadcast($0, root: 2) }
            return buffer == [UInt8](repeating: 2, count: 20_001)
        }
        XCTAssertEqual(values(results), [true, true, true, true])
    }

    func testRanksMayStartInAnyOrder() throws {
        // Over IPC each rank binds in its own thread: rank 0 binds 0.3 s after the others have
        // connected to its path and sent to it, and rank 2 starts later still.
        let results = try runRing(3, over: .ipc, options: .init(timeout: 10), startDelays: [0: 0.3, 2: 0.6]) { ring in
            var buffer: [Float] = [Float(ring.rank), 1]
            try buffer.withUnsafeMutableBufferPointer { try ring.allReduceSum($0) }
            return buffer
        }
        XCTAssertEqual(values(results), [[3, 3], [3, 3], [3, 3]])
    }

    func testResultsAreBitIdenticalOnEveryRank() throws {
        // Random magnitudes from 1e-6 to 1e6 and both signs: here the order of additions
        // matters, so agreement means every rank really holds the owner's bits.
        for (n, transport) in [(3, Transport.tcp), (4, Transport.inproc)] {
            let results = try runRing(n, over: transport, options: .init(timeout: 20, maxChunkBytes: 4096)) { ring in
                var random = SeededGenerator(seed: UInt64(ring.rank + 1))
                var buffer = (0..<100_003).map { _ -> Float in
                    let magnitude = Float(random.below(1_000_000)) * pow(10, Float(random.below(13) - 12))
                    return random.below(2) == 0 ? magnitude : -magnitude
                }
                let inputs = buffer
                try buffer.withUnsafeMutableBufferPointer { try ring.allReduceSum($0) }
                return (inputs, buffer.map(\.bitPattern))
            }
            let ranks = values(results)
            guard ranks.count == n else { return }
            for rank in 1..<n { XCTAssertTrue(ranks[rank].1 == ranks[0].1, "rank \(rank) differs from rank 0 (\(n) ranks)") }
            // And it is the sum, to within rounding.
            var worst = 0.0
            for index in 0..<100_003 {
                let exact = ranks.reduce(0.0) { $0 + Double($1.0[index]) }
                let scale = ranks.reduce(0.0) { $0 + abs(Double($1.0[index])) }
                worst = max(worst, abs(Double(Float(bitPattern: ranks[0].1[index])) - exact) / max(scale, 1e-30))
            }
            XCTAssertLessThan(worst, 4e-7)
        }
    }

    /// The two halves of an all-reduce, called apart (the sharded optimizer's pattern): after the
    /// reduce-scatter each rank's own chunk holds the bits the all-reduce gives there; the all-gather
    /// then gives every rank the whole all-reduce result, to the bit. In bf16 the owner's chunk is the
    /// all-reduce's before its one rounding.
    func testReduceScatterThenAllGatherIsTheAllReduce() throws {
        for (n, transport, count) in [(2, Transport.tcp, 10_007), (3, Transport.inproc, 50_001), (4, Transport.inproc, 3)] {
            let results = try runRing(n, over: transport, options: .init(timeout: 20, maxChunkBytes: 4096)) { ring in
                var random = SeededGenerator(seed: UInt64(ring.rank + 5))
                let inputs = (0..<count).map { _ in WirePrecision.roundedToBF16(Float(random.below(2_000_001) - 1_000_000) * 1e-3) }
                var whole = inputs, halves = inputs, wholeBF16 = inputs, halvesBF16 = inputs
                try whole.withUnsafeMutableBufferPointer { try ring.allReduceSum($0) }
                try halves.withUnsafeMutableBufferPointer { try ring.reduceScatterSum($0, precision: .fp32) }
                let owned = RingPartition.owned(rank: ring.rank, worldSize: ring.worldSize, count: count)
                let ownedAfterScatter = Array(halves[owned])
                try halves.withUnsafeMutableBufferPointer { try ring.allGather($0) }
                try wholeBF16.withUnsafeMutableBufferPointer { try ring.allReduceSum($0, precision: .bf16) }
                try halvesBF16.withUnsafeMutableBufferPointer { try ring.reduceScatterSum($0, precision: .bf16) }
                return (whole, halves, Array(whole[owned]) == ownedAfterScatter,
                        Array(wholeBF16[owned]) == halvesBF16[owned].map(WirePrecision.roundedToBF16))
            }
            let ranks = values(results)
            XCTAssertEqual(ranks.count, n)
            for (rank, outcome) in ranks.enumerated() {
                XCTAssertTrue(outcome.0.map(\.bitPattern) == outcome.1.map(\.bitPattern), "rank \(rank) of \(n): all-gather result")
                XCTAssertTrue(outcome.2, "rank \(rank) of \(n): its chunk after the reduce-scatter")
                XCTAssertTrue(outcome.3, "rank \(rank) of \(n): its bf16 chunk before rounding")
            }
        }
        // The chunks the ranks own cover the buffer once.
        for n in 1...5 {
            let chunks = (0..<n).map { RingPartition.owned(rank: $0, worldSize: n, count: 17) }
            XCTAssertEqual(chunks.flatMap { Array($0) }.sorted(), Array(0..<17))
        }
    }

    /// bf16 on the wire: every rank holds the same bits, each a bf16 value, within bf16's rounding of
    /// the exact sum: the first hop is exact (inputs are bf16 values, as error feedback makes them),
    /// then each of the N - 1 hops and the finished chunk round once, 2^-9 of the running magnitude each.
    let bf16SumTolerance = 4.0 / 512

    func testBF16AllReduceIsIdenticalOnEveryRankAndCloseToTheSum() throws {
        for (n, transport) in [(2, Transport.tcp), (3, Transport.inproc)] {
            let results = try runRing(n, over: transport, options: .init(timeout: 20, maxChunkBytes: 4096)) { ring in
                var random = SeededGenerator(seed: UInt64(ring.rank + 11))
                var buffer = (0..<50_001).map { _ -> Float in
                    WirePrecision.roundedToBF16(Float(random.below(2_000_001) - 1_000_000) * 1e-4)
                }
                let inputs = buffer
                try buffer.withUnsafeMutableBufferPointer { try ring.allReduceSum($0, precision: .bf16) }
                return (inputs, buffer)
            }
            let ranks = values(results)
            guard ranks.count == n else { return }
            for rank in 1..<n {
                XCTAssertTrue(ranks[rank].1.map(\.bitPattern) == ranks[0].1.map(\.bitPattern), "rank \(rank) differs (\(n) ranks)")
            }
            XCTAssertTrue(ranks[0].1.allSatisfy { WirePrecision.roundedToBF16($0) == $0 }, "every result is a bf16 value")
            var worst = 0.0
            for index in 0..<50_001 {
                let exact = ranks.reduce(0.0) { $0 + Double($1.0[index]) }
                let scale = ranks.reduce(0.0) { $0 + abs(Double($1.0[index])) }
                worst = max(worst, abs(Double(ranks[0].1[index]) - exact) / max(scale, 1e-30))
            }
            XCTAssertLessThan(worst, bf16SumTolerance, "\(n) ranks")
            XCTAssertGreaterThan(worst, 1e-5, "bf16 rounding is visible (the test would pass on fp32 too otherwise)")
        }
    }

    func testAnFP32RankAndABF16RankAreToldApart() throws {
        let results = try runRing(2, over: .inproc, options: .init(timeout: 3)) { ring in
            var buffer = [Float](repeating: 1, count: 64)
            try buffer.withUnsafeMutableBufferPointer { try ring.allReduceSum($0, precision: ring.rank == 0 ? .fp32 : .bf16) }
            return buffer
        }
        let errors = results.compactMap { result -> String? in
            if case .failure(let error)? = result { return "\(error)" }
            return nil
        }
        XCTAssertFalse(errors.isEmpty, "mixing precisions must fail")
        XCTAssertTrue(errors.contains { $0.contains("gradientChunkBF16") || $0.contains("gradientChunk") }, "\(errors)")
    }

    func testBF16RoundingIsToNearestEven() {
        XCTAssertEqual(WirePrecision.roundedToBF16(1), 1)
        // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties go to the even one, 1.
        XCTAssertEqual(WirePrecision.roundedToBF16(1 + 1.0 / 256), 1)
        XCTAssertEqual(WirePrecision.roundedToBF16(1 + 3.0 / 256), 1 + 4.0 / 256)
        XCTAssertEqual(WirePrecision.roundedToBF16(-(1 + 3.0 / 256)), -(1 + 4.0 / 256))
        XCTAssertTrue(WirePrecision.roundedToBF16(.nan).isNaN)
        XCTAssertEqual(WirePrecision.roundedToBF16(.infinity), .infinity)
    }

    func testMeanOfEqualBuffersIsThatBuffer() throws {
        let results = try runRing(3, over: .inproc, options: .init(timeout: 20)) { ring in
            var buffer: [Float] = [0.1, -7.25, 1e-30, 3e30]
            try buffer.withUnsafeMutableBufferPointer { try ring.allReduceMean($0) }
            return buffer
        }
        // 0.1 * 3 / 3 is not 0.1 in general; the others are exact. Check the exact ones, and
        // that 0.1 is within two ulps (one for the sum, one for the division).
        for buffer in values(results) {
            XCTAssertEqual(Array(buffer[1...]), [-7.25, 1e-30, 3e30])
            XCTAssertEqual(buffer[0], 0.1, accuracy: 2 * Float(0.1).ulp)
        }
    }

    // MARK: - Broadcast and barrier

    func testBroadcastFromEveryRoot() throws {
        for transport in [Transport.inproc, .tcp] {
            for n in 1...4 {
                let results = try runRing(n, over: transport, options: .init(timeout: 20, maxChunkBytes: 4096)) { ring in
                    var problems: [String] = []
                    for root in 0..<n {
                        for size in [0, 1, 13, 4096, 20_001] {
                            var buffer = (0..<size).map { UInt8(truncatingIfNeeded: ring.rank * 31 + $0) }
                            try buffer.withUnsafeMutableBytes { try ring.broadcast($0, root: root) }
                            let expected = (0..<size).map { UInt8(truncatingIfNeeded: root * 31 + $0) }
                            if buffer != expected { problems.append("root \(root), \(size) bytes") }
                        }
                    }
                    return problems
                }
                for (rank, problems) in values(results).enumerated() {
                    XCTAssertEqual(problems, [], "\(n) ranks over \(transport), rank \(rank)")
                }
            }
        }
    }

    func testBarrierReturnsOnlyOnceEveryRankHasEntered() throws {
        let n = 4, rounds = 3
        let lock = NSLock()
        var entered = [Int](repeating: 0, count: rounds)
        let results = try runRing(n, over: .inproc, options: .init(timeout: 20)) { ring in
            var seen: [Int] = []
            for round in 0..<rounds {
                // Arrive staggered, a different rank last each round.
                usleep(UInt32(((ring.rank + round) % n) * 20_000))
                lock.lock(); entered[round] += 1; lock.unlock()
                try ring.barrier()
                lock.lock(); seen.append(entered[round]); lock.unlock()
            }
            return seen
        }
        for seen in values(results) { XCTAssertEqual(seen, Array(repeating: n, count: rounds)) }
    }

    func testMixedCallsStayInStep() throws {
        let results = try runRing(3, over: .tcp, options: .init(timeout: 20, maxChunkBytes: 64)) { ring in
            var log: [Float] = []
            for call in 0..<20 {
                var buffer = [Float(ring.rank + call), 1]
                switch call % 4 {
                case 0: try buffer.withUnsafeMutableBufferPointer { try ring.allReduceSum($0) }
                case 1: try buffer.withUnsafeMutableBufferPointer { try ring.allReduceMean($0) }
                case 2: try buffer.withUnsafeMutableBytes { try ring.broadcast($0, root: call % 3) }
                default:
                    try ring.barrier()
                    continue  // leaves the rank-dependent buffer as it was
                }
                log += buffer
            }
            return log
        }
        let logs = values(results)
        XCTAssertEqual(logs.count, 3)
        XCTAssertEqual(logs.first?[0], 3, "call 0: 0 + 1 + 2")
        XCTAssertEqual(logs.first?[2], 2, "call 1: mean of 1, 2, 3")
        XCTAssertEqual(logs.first?[4], 4, "call 2: root 2's 2 + 2")
        for log in logs.dropFirst() { XCTAssertEqual(log.map(\.bitPattern), logs[0].map(\.bitPattern)) }
    }

    // MARK: - Failures

    func testARankThatNeverJoinsMakesTheOthersTimeOut() throws {
        for transport in [Transport.inproc, .tcp] {
            let start = Date()
            let results = try runRing(3, over: transport, options: .init(timeout: 0.3), joining: [0, 1]) { ring in
                var buffer: [Float] = [1, 2, 3, 4, 5]
                try buffer.withUnsafeMutableBufferPointer { try ring.allReduceSum($0) }
            }
            XCTAssertLessThan(Date().timeIntervalSince(start), 5, "\(transport)")
            for rank in [0, 1] {
                guard case .failure(let error) = results[rank] else { XCTFail("rank \(rank) did not fail"); continue }
                guard case .peerSilent(let me, let peer, _, let seconds, let operation) = error as? CollectiveError else {
                    XCTFail("rank \(rank): \(error)"); continue
                }
                XCTAssertEqual(me, rank)
                XCTAssertEqual(seconds, 0.3)
                XCTAssertEqual(operation, "allReduceSum call 1")
                // Rank 0 waits on the absent rank 2; rank 1 then waits on rank 0, stuck behind it.
                XCTAssertEqual(peer, rank == 0 ? 2 : 0)
                XCTAssertTrue("\(error)".contains("heard nothing from rank \(peer)"), "\(error)")
            }
        }
    }

    func testBuffersOfDifferentSizesAreReported() throws {
        let results = try runRing(2, over: .inproc, options: .init(timeout: 5)) { ring in
            var buffer = [Float](repeating: 1, count: 10 + ring.rank)
            try buffer.withUnsafeMutableBufferPointer { try ring.allReduceSum($0) }
        }
        for rank in 0..<2 {
            guard case .failure(let error) = results[rank],
                  case .sizeMismatch(rank, 1 - rank, let peerCount, let localCount, _) = error as? CollectiveError else {
                XCTFail("rank \(rank): \(String(describing: results[rank]))"); continue
            }
            XCTAssertEqual(peerCount, UInt64(11 - rank))
            XCTAssertEqual(localCount, 10 + rank)
        }
    }

    /// Rank 0 of a world of two, and a raw PUSH socket posing as its left neighbour, rank 1.
    private func ringWithImpostor(timeout: Double = 2) throws -> (ring: RingCommunicator, impostor: ZMQSocket) {
        let context = try ZMQContext()
        let name = UUID().uuidString
        let endpoints = ["inproc://\(name)-0", "inproc://\(name)-1"]
        let ring = try RingCommunicator(rank: 0, endpoints: endpoints, context: context,
                                        options: .init(timeout: timeout, maxChunkBytes: 64))
        let impostor = try ZMQSocket(context: context, type: .push)
        try impostor.connect(endpoints[0])
        return (ring, impostor)
    }

    /// A ring frame as rank `rank` would send it.
    private func chunkFrame(_ type: MessageType = .gradientChunk, rank: UInt32 = 1, call: UInt64, step: UInt32 = 0,
                            chunk: UInt32 = 0, offset: UInt64 = 0, total: UInt64 = 2, floats: [Float] = [1]) -> [UInt8] {
        WireProtocol.frame(type: type, rank: rank, sequence: call, payloadCount: RingChunkHeader.size + 4 * floats.count) { payload in
            guard let base = payload.baseAddress else { return }
            RingChunkHeader(step: step, chunk: chunk, offset: offset, total: total).store(to: base)
            floats.withUnsafeBufferPointer { WirePayload.storeFloats($0, to: base + RingChunkHeader.size) }
        }
    }

    private func allReduceError(_ ring: RingCommunicator, count: Int = 2) -> CollectiveError? {
        var buffer = [Float](repeating: 0, count: count)
        do {
            try buffer.withUnsafeMutableBufferPointer { try ring.allReduceSum($0) }
            XCTFail("the all-reduce succeeded")
        } catch let error as CollectiveError {
            return error
        } catch {
            XCTFail("\(error)")
        }
        return nil
    }

    func testStaleFramesFromAnAbortedCallAreDropped() throws {
        let (ring, impostor) = try ringWithImpostor()
        // Rank 0 of two, 2 floats: reduce-scatter receives chunk 1 (element 1) at step 0, then
        // the all-gather receives chunk 0 (element 0) at step 1.
        try impostor.send(chunkFrame(call: 0, floats: [99]))  // stale: call 0 is before call 1
        try impostor.send(chunkFrame(call: 1, step: 0, chunk: 1, offset: 1, floats: [5]))
        try impostor.send(chunkFrame(call: 1, step: 1, chunk: 0, offset: 0, floats: [7]))
        var buffer: [Float] = [1, 2]
        try buffer.withUnsafeMutableBufferPointer { try ring.allReduceSum($0) }
        XCTAssertEqual(buffer, [7, 7], "element 1: 2 + 5; element 0: copied from its owner")
        XCTAssertEqual(ring.staleFramesDropped, 1)

        // Only stale frames, then silence: the call still ends after its timeout.
        let (quiet, impostor2) = try ringWithImpostor(timeout: 0.3)
        try impostor2.send(chunkFrame(call: 0))
        let start = Date()
        guard case .peerSilent(0, 1, _, _, _) = allReduceError(quiet) else { return XCTFail() }
        XCTAssertLessThan(Date().timeIntervalSince(start), 2)
        XCTAssertEqual(quiet.staleFramesDropped, 1)
    }

    func testFramesThatDoNotBelongToTheCallAreErrors() throws {
        var (ring, impostor) = try ringWithImpostor()
        try impostor.send(chunkFrame(call: 5))
        guard case .outOfStep(0, 1, peerCall: 5, localCall: 1) = allReduceError(ring) else { return XCTFail() }

        (ring, impostor) = try ringWithImpostor()
        var corrupt = chunkFrame(call: 1)
        corrupt[40] ^= 4
        try impostor.send(corrupt)
        guard case .corruptFrame(0, 1, .checksumMismatch, _) = allReduceError(ring) else { return XCTFail() }

        (ring, impostor) = try ringWithImpostor()
        try impostor.send(chunkFrame(rank: 7, call: 1))
        guard case .unexpectedSender(0, claimed: 7, expected: 1, _) = allReduceError(ring) else { return XCTFail() }

        (ring, impostor) = try ringWithImpostor()
        try impostor.send(chunkFrame(.broadcastChunk, call: 1))
        guard case .unexpectedMessage(0, 1, .broadcastChunk, .gradientChunk, _) = allReduceError(ring) else { return XCTFail() }

        (ring, impostor) = try ringWithImpostor()
        try impostor.send(chunkFrame(call: 1, step: 0, chunk: 0))  // chunk 1 was due
        guard case .chunkMismatch(0, 1, let detail, _) = allReduceError(ring) else { return XCTFail() }
        XCTAssertTrue(detail.contains("expected step 0, chunk 1"), detail)

        (ring, impostor) = try ringWithImpostor()
        try impostor.send(chunkFrame(call: 1, chunk: 1, offset: 1, floats: [1, 2]))  // one float too many
        guard case .chunkMismatch = allReduceError(ring) else { return XCTFail() }

        (ring, impostor) = try ringWithImpostor()
        try impostor.send(WireMessage(type: .gradientChunk, rank: 1, sequence: 1, payload: [1, 2, 3]).encode())
        guard case .chunkMismatch(0, 1, let short, _) = allReduceError(ring) else { return XCTFail() }
        XCTAssertTrue(short.contains("shorter than the 24-byte chunk header"), short)
    }

    /// A frame whose header and chunk header are as expected but whose data was corrupted in
    /// transit is checksummed while it is consumed (one pass), and still reported as corrupt:
    /// small pieces (the Swift path) and pieces long enough for the folded hardware CRC.
    func testCorruptDataInAnExpectedFrameIsReported() throws {
        for floats in [1, 300] {
            let context = try ZMQContext()
            let name = UUID().uuidString
            let endpoints = ["inproc://\(name)-0", "inproc://\(name)-1"]
            let ring = try RingCommunicator(rank: 0, endpoints: endpoints, context: context,
                                            options: .init(timeout: 2, maxChunkBytes: 4096))
            let impostor = try ZMQSocket(context: context, type: .push)
            try impostor.connect(endpoints[0])
            // Rank 0 of two with 2 * floats elements receives chunk 1 (the upper half) first.
            var frame = chunkFrame(call: 1, chunk: 1, offset: UInt64(floats), total: UInt64(2 * floats),
                                   floats: [Float](repeating: 1.5, count: floats))
            frame[frame.count - 2] ^= 0x10
            try impostor.send(frame)
            guard case .corruptFrame(0, 1, .checksumMismatch, _) = allReduceError(ring, count: 2 * floats) else {
                return XCTFail("\(floats) floats: the corruption was not reported")
            }
        }
    }
}
