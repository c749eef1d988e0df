@testable import Collective
import Foundation
import XCTest
@testable import Cluster
import Training

/// The pieces of the coordinator/worker protocol that need no processes: envelopes, launcher
/// variables, key files.
final class ClusterUnitTests: XCTestCase {
    func testEnvelopeRoundTripAndRejectsDamage() throws {
        let header = ClusterMessages.Step(session: 7, generation: 2, step: 41, indices: [3, 1, 4, 1, 5])
        let envelope = Envelope(header, sections: [("teacher.logits", SectionCoding.bytes(of: [Float](arrayLiteral: 1.5, -2, 0.25))),
                                                   ("empty", [])])
        let bytes = try envelope.encode()
        let back = try Envelope<ClusterMessages.Step>.decode(bytes)
        XCTAssertEqual(back.header.indices, [3, 1, 4, 1, 5])
        XCTAssertEqual(try SectionCoding.floats(try back.section("teacher.logits"), name: "x"), [1.5, -2, 0.25])
        XCTAssertEqual(try back.section("empty"), [])
        XCTAssertThrowsError(try back.section("missing"))
        // Truncated, padded, and a JSON length pointing past the end are errors, not crashes.
        XCTAssertThrowsError(try Envelope<ClusterMessages.Step>.decode(Array(bytes.dropLast())))
        XCTAssertThrowsError(try Envelope<ClusterMessages.Step>.decode(bytes + [0]))
        var lying = bytes
        lying[0] = 0xFF; lying[1] = 0xFF
        XCTAssertThrowsError(try Envelope<ClusterMessages.Step>.decode(lying))
        XCTAssertThrowsError(try Envelope<ClusterMessages.Step>.decode([1, 0]))
    }

    /// Trainer state travels with the rows' last-gradient steps; steps after the state's own are refused.
    func testStateSectionsRoundTripAndRefuseImpossibleSteps() throws {
        let header = ClusterMessages.Checksum(session: 1, step: 5, checksum: 0)
        let state = TrainerState(step: 5, optimizerStep: 5, parameters: [1, 2, 3], adamM: [0.1, 0.2, 0.3],
                                 adamV: [0.01, 0.02, 0.03], touchedAt: [0, 5, 3])
        let back = try JobPackage.state(from: Envelope(header, sections: JobPackage.stateSections(state)),
                                        step: 5, optimizerStep: 5)
        XCTAssertEqual(back.parameters, [1, 2, 3])
        XCTAssertEqual(back.adamV, [0.01, 0.02, 0.03])
        XCTAssertEqual(back.touchedAt, [0, 5, 3])
        var bad = state
        bad.touchedAt = [0, 6, 3]
        XCTAssertThrowsError(try JobPackage.state(from: Envelope(header, sections: JobPackage.stateSections(bad)),
                                                  step: 5, optimizerStep: 5)) { error in
            XCTAssertTrue("\(error)".contains("state.touched_at"), "\(error)")
        }
    }

    func testRandomEnvelopesNeverCrash() throws {
        var generator = SystemRandomNumberGenerator()
        let valid = try Envelope(ClusterMessages.Decision(session: 1, generation: 1, step: 1, reportChecksum: true),
                                 sections: [("a", [1, 2, 3, 4])]).encode()
        var rejected = 0
        for trial in 0..<20_000 {
            var bytes = trial % 2 == 0 ? valid : (0..<Int.random(in: 0..<64, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if trial % 2 == 0, !bytes.isEmpty {
                for _ in 0..<Int.random(in: 1...4, using: &generator) {
                    bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
                }
            }
            if (try? Envelope<ClusterMessages.Decision>.decode(bytes)) == nil { rejected += 1 }
        }
        XCTAssertGreaterThan(rejected, 10_000)
    }

    func testLaunchEnvironment() throws {
        XCTAssertNil(try LaunchEnvironment.detect([:]))
        XCTAssertNil(try LaunchEnvironment.detect(["WORLD_SIZE": "1", "RANK": "0"]))
        let torch = try LaunchEnvironment.detect(["RANK": "2", "WORLD_SIZE": "3", "MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "6000"])
        XCTAssertEqual(torch, LaunchEnvironment(rank: 2, worldSize: 3, masterAddress: "10.0.0.1", masterPort: 6000))
        XCTAssertEqual(torch?.coordinatorEndpoint, "tcp://10.0.0.1:6000")
        XCTAssertEqual(torch?.isCoordinator, false)
        let slurm = try LaunchEnvironment.detect(["SLURM_PROCID": "0", "SLURM_NTASKS": "4", "MASTER_ADDR": "node1"])
        XCTAssertEqual(slurm?.masterPort, 29500)
        XCTAssertEqual(slurm?.isCoordinator, true)
        XCTAssertThrowsError(try LaunchEnvironment.detect(["WORLD_SIZE": "2", "MASTER_ADDR": "x"])) {
            XCTAssertTrue("\($0)".contains("RANK"))
        }
        XCTAssertThrowsError(try LaunchEnvironment.detect(["WORLD_SIZE": "2", "RANK": "0"])) {
            XCTAssertTrue("\($0)".contains("MASTER_ADDR"))
        }
        XCTAssertThrowsError(try LaunchEnvironment.detect(["WORLD_SIZE": "two", "RANK": "0"]))
        XCTAssertThrowsError(try LaunchEnvironment.detect(["WORLD_SIZE": "2", "RANK": "5", "MASTER_ADDR": "x"]))
    }

    func testKeyFilesRoundTripAndErrors() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("keys-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let keys = try CurveKeyPair.generate()
        try keys.write(prefix: folder + "/w1")
        XCTAssertEqual(try CurveKeyPair.load(folder + "/w1.key"), keys)
        XCTAssertEqual(try CurveKeyPair.loadPublic(folder + "/w1.pub"), keys.publicKey)
        XCTAssertEqual(try CurveKeyPair.loadAuthorized(folder), [keys.publicKey])
        let attributes = try FileManager.default.attributesOfItem(atPath: folder + "/w1.key")
        XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600)
        XCTAssertThrowsError(try keys.write(prefix: folder + "/w1")) { XCTAssertTrue("\($0)".contains("exists")) }
        XCTAssertThrowsError(try CurveKeyPair.load(folder + "/w1.pub")) { XCTAssertTrue("\($0)".contains("secret-key")) }
        try "# keys\nnot-a-key\n".write(toFile: folder + "/list", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try CurveKeyPair.loadAuthorized(folder + "/list")) { XCTAssertTrue("\($0)".contains("list:2")) }
    }

    func testEndpointHelpers() throws {
        XCTAssertEqual(LocalAddress.host(ofEndpoint: "tcp://10.1.2.3:5555"), "10.1.2.3")
        XCTAssertEqual(LocalAddress.host(ofEndpoint: "tcp://[::1]:5555"), "::1")
        XCTAssertNil(LocalAddress.host(ofEndpoint: "ipc:///tmp/x"))
        XCTAssertTrue(LocalAddress.isLoopbackOnly("tcp://127.0.0.1:*"))
        XCTAssertFalse(LocalAddress.isLoopbackOnly("tcp://0.0.0.0:5555"))
        XCTAssertEqual(try LocalAddress.towards(endpoint: "tcp://127.0.0.1:1"), "127.0.0.1")
        XCTAssertThrowsError(try Coordinator(options: CoordinatorOptions(bind: "tcp://0.0.0.0:*", workers: 1), log: { _ in })) {
            XCTAssertTrue("\($0)".contains("--insecure"))
        }
    }
}

/// A coordinator's socket against peers that are not EdgeDistill workers of this version.
final class CoordinatorAdmissionTests: XCTestCase {
    final class Lines: @unchecked Sendable {
        let lock = NSLock()
        var all: [String] = []
        func add(_ line: String) { lock.withLock { all.append(line) } }
        var text: String { lock.withLock { all.joined(separator: "\n") } }
    }

    func testOtherVersionsAndGarbageAreRefusedWithoutHarm() throws {
        let lines = Lines()
        let coordinator = try Coordinator(options: CoordinatorOptions(bind: "tcp://127.0.0.1:*", workers: 1),
                                          log: { lines.add($0) })
        defer { coordinator.shutdown(reason: "test over") }
        let context = try ZMQContext()
        let peer = try ZMQSocket(context: context, type: .dealer)
        try peer.setOption(.routingID(Array("stranger".utf8)))
        try peer.setOption(.receiveTimeout(2000))
        try peer.connect(coordinator.endpoint)

        // A hello from a build speaking protocol 5.
        var frame = try WireMessage(.hello, ClusterMessages.Hello(worker: "stranger", host: "127.0.0.1", pid: 1, threads: 1)).encode()
        frame[4] = 5
        WireProtocol.seal(&frame)
        try peer.send(frame)
        XCTAssertNil(try coordinator.next(timeout: 0.5))
        XCTAssertTrue(lines.text.contains("peer speaks protocol 5, this build speaks 4"), lines.text)
        // The stranger is told why, in this build's version (a build of version 5 reports the mismatch itself).
        let answer = try WireMessage.decode(try XCTUnwrap(try peer.receive()))
        XCTAssertEqual(answer.type, .refuse)
        XCTAssertTrue(String(decoding: answer.payload, as: UTF8.self).contains("protocol 5"))

        // Garbage, then a truncated frame: dropped and logged, nobody admitted, the coordinator still serves.
        try peer.send(Array("GET / HTTP/1.1\r\n\r\n".utf8))
        try peer.send(Array(frame.prefix(20)))
        XCTAssertNil(try coordinator.next(timeout: 0.5))
        XCTAssertTrue(lines.text.contains("malformed message from stranger"), lines.text)
        XCTAssertTrue(coordinator.members.isEmpty)

        // A well-formed hello without the join token, or with another, is refused with the reason
        // and admits nobody: a stranger on the port is sent nothing of the job.
        for (token, reason) in [(nil, "admits only workers with its join token"), ("guess", "wrong join token")] as [(String?, String)] {
            try peer.send(try WireMessage(.hello, ClusterMessages.Hello(worker: "stranger", host: "127.0.0.1", pid: 1, threads: 1,
                                                                         token: token)).encode())
            XCTAssertNil(try coordinator.next(timeout: 0.5))
            XCTAssertTrue(coordinator.members.isEmpty)
            let refusal = try WireMessage.decode(try XCTUnwrap(try peer.receive()))
            XCTAssertEqual(refusal.type, .refuse)
            XCTAssertTrue(String(decoding: refusal.payload, as: UTF8.self).contains(reason), String(decoding: refusal.payload, as: UTF8.self))
        }
        // With the run's token (drawn by the coordinator and printed), it is admitted and welcomed.
        let token = try XCTUnwrap(coordinator.options.joinToken)
        XCTAssertTrue(lines.text.contains("join token \(token)"), lines.text)
        try peer.send(try WireMessage(.hello, ClusterMessages.Hello(worker: "stranger", host: "127.0.0.1", pid: 1, threads: 1,
                                                                     token: token)).encode())
        XCTAssertNil(try coordinator.next(timeout: 0.5))
        XCTAssertEqual(coordinator.members.count, 1)
        let welcome = try WireMessage.decode(try XCTUnwrap(try peer.receive()))
        XCTAssertEqual(welcome.type, .welcome)
        // Hellos repeated while the coordinator was busy (a worker says hello every 2 s until its
        // welcome arrives): welcomed again, the same member kept, nobody dropped.
        let member = try XCTUnwrap(coordinator.members["stranger"])
        for _ in 0..<2 {
            try peer.send(try WireMessage(.hello, ClusterMessages.Hello(worker: "stranger", host: "127.0.0.1", pid: 1, threads: 1,
                                                                         token: token)).encode())
        }
        XCTAssertNil(try coordinator.next(timeout: 0.5))
        XCTAssertTrue(coordinator.members["stranger"] === member)
        XCTAssertFalse(lines.text.contains("lost"), lines.text)
        for _ in 0..<2 { XCTAssertEqual(try WireMessage.decode(try XCTUnwrap(try peer.receive())).type, .welcome) }
    }
}
