import Foundation
import XCTest
import Collective
@testable import Cluster

/// Hostile peers on a coordinator's port (no CURVE, loopback), played by a small ZeroMQ client
/// here against the real coordinator and worker processes.
final class AdmissionTests: CLITestCase {
    /// A DEALER socket that speaks the cluster protocol as `name`.
    final class Peer {
        let context: ZMQContext
        let socket: ZMQSocket
        let name: String

        init(name: String, endpoint: String) throws {
            self.name = name
            context = try ZMQContext()
            socket = try ZMQSocket(context: context, type: .dealer)
            try socket.setOption(.routingID(Array(name.utf8)))
            try socket.setOption(.receiveTimeout(200))
            try socket.connect(endpoint)
        }

        func hello(token: String?) throws {
            try socket.send(try WireMessage(.hello, ClusterMessages.Hello(worker: name, host: "127.0.0.1", pid: 1, threads: 1,
                                                                          token: token)).encode())
        }

        /// The types of every message that arrives within `seconds`.
        func received(for seconds: Double) throws -> [MessageType] {
            var types: [MessageType] = []
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if let frame = try socket.receive() { types.append(try WireMessage.decode(frame, maxPayload: Int(Int32.max)).type) }
            }
            return types
        }

        deinit { socket.close() }
    }

    /// A forged hello before the real worker joins: refused, sent nothing of the job, and the run
    /// goes on with the real worker.
    func testAStrangerWithoutTheTokenIsToldWhyAndGetsNothing() throws {
        let port = try LoopbackPort.free()
        let log = scratch.appendingPathComponent("coordinator.log").path
        let coordinator = try start(["coordinator", "--bind", "tcp://127.0.0.1:\(port)", "--workers", "1"]
                                    + (try tinyRunOptions(out: scratch.appendingPathComponent("run").path, seed: 6, epochs: 1)), log: log)
        let stranger = try Peer(name: "stranger", endpoint: "tcp://127.0.0.1:\(port)")
        let guesser = try Peer(name: "guesser", endpoint: "tcp://127.0.0.1:\(port)")
        try stranger.hello(token: nil)
        try guesser.hello(token: "not-the-token")
        XCTAssertEqual(try stranger.received(for: 2), [.refuse], "the stranger is only refused")
        XCTAssertEqual(try guesser.received(for: 0.5), [.refuse], "a wrong token is only refused")
        let workerLog = scratch.appendingPathComponent("worker.log").path
        _ = try start(["worker", "--connect", "tcp://127.0.0.1:\(port)"], log: workerLog)
        try stranger.hello(token: nil)   // again, mid-run
        XCTAssertTrue(wait(coordinator, seconds: 120), text(log))
        XCTAssertEqual(coordinator.terminationStatus, 0, text(log))
        XCTAssertTrue(text(log).contains("refused stranger from 127.0.0.1: no join token"), text(log))
        XCTAssertTrue(text(log).contains("ring 1 of 1 worker(s)"), text(log))
        XCTAssertFalse((try stranger.received(for: 0.5)).contains { $0 != .refuse && $0 != .shutdown })

        // A worker with the wrong token is told why and exits with that reason.
        let port2 = try LoopbackPort.free()
        let coordinator2 = try start(["coordinator", "--bind", "tcp://127.0.0.1:\(port2)", "--workers", "1", "--startup-timeout", "20"]
                                     + (try tinyRunOptions(out: scratch.appendingPathComponent("run2").path, seed: 6, epochs: 1)),
                                     log: scratch.appendingPathComponent("coordinator2.log").path)
        let refused = try run(["worker", "--connect", "tcp://127.0.0.1:\(port2)", "--token", "wrong", "--give-up-after", "20"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("refused this worker: wrong join token"), refused.stderr)
        kill(coordinator2.processIdentifier, SIGKILL)
    }

    /// A peer with the token that never finishes setting up is dropped alone after --setup-timeout,
    /// and the run completes with the others.
    func testAJoinerThatNeverSetsUpIsDroppedAlone() throws {
        let port = try LoopbackPort.free()
        let log = scratch.appendingPathComponent("coordinator.log").path
        let coordinator = try start(["coordinator", "--bind", "tcp://127.0.0.1:\(port)", "--workers", "2",
                                     "--setup-timeout", "3", "--heartbeat-timeout", "60"]
                                    + (try tinyRunOptions(out: scratch.appendingPathComponent("run").path, seed: 6, epochs: 1)), log: log)
        let stalling = try Peer(name: "stalling", endpoint: "tcp://127.0.0.1:\(port)")
        try stalling.hello(token: Self.joinToken)
        XCTAssertEqual(try stalling.received(for: 1).first, .welcome)
        _ = try start(["worker", "--connect", "tcp://127.0.0.1:\(port)"], log: scratch.appendingPathComponent("worker.log").path)
        XCTAssertTrue(wait(coordinator, seconds: 120), text(log))
        XCTAssertEqual(coordinator.terminationStatus, 0, text(log))
        XCTAssertTrue(text(log).contains("worker stalling lost: it did not finish setting up within 3 s"), text(log))
        XCTAssertTrue(text(log).contains("ring 1 of 1 worker(s)"), text(log))
    }
}

/// A worker paused (SIGSTOP) past the heartbeat timeout is dropped; when it continues it learns so
/// from the coordinator's heartbeat answers, says so, and joins again as a late joiner.
final class PausedWorkerTests: CLITestCase {
    func testAPausedWorkerRejoinsWhenItContinues() throws {
        let port = try LoopbackPort.free()
        let log = scratch.appendingPathComponent("coordinator.log").path
        let coordinator = try start(["coordinator", "--bind", "tcp://127.0.0.1:\(port)", "--workers", "2",
                                     "--heartbeat-timeout", "1.5", "--ring-timeout", "3"]
                                    + (try tinyRunOptions(out: scratch.appendingPathComponent("run").path, seed: 7, epochs: 40)), log: log)
        let pausedLog = scratch.appendingPathComponent("paused.log").path
        let paused = try start(["worker", "--connect", "tcp://127.0.0.1:\(port)"], log: pausedLog)
        _ = try start(["worker", "--connect", "tcp://127.0.0.1:\(port)"], log: scratch.appendingPathComponent("other.log").path)
        let deadline = Date().addingTimeInterval(60)
        while !text(log).contains("student phase"), Date() < deadline, coordinator.isRunning { Thread.sleep(forTimeInterval: 0.05) }
        kill(paused.processIdentifier, SIGSTOP)
        Thread.sleep(forTimeInterval: 3)
        kill(paused.processIdentifier, SIGCONT)
        XCTAssertTrue(wait(coordinator, seconds: 120), text(log))
        let coordinatorText = text(log), workerText = text(pausedLog)
        XCTAssertEqual(coordinator.terminationStatus, 0, coordinatorText)
        XCTAssertTrue(coordinatorText.contains("lost: no heartbeat"), coordinatorText)
        XCTAssertTrue(workerText.contains("dropped this worker"), workerText)
        XCTAssertEqual(coordinatorText.components(separatedBy: " joined from ").count - 1, 3, "the paused worker joined twice: \(coordinatorText)")
        let afterDrop = try XCTUnwrap(coordinatorText.range(of: "lost: no heartbeat"))
        XCTAssertTrue(coordinatorText[afterDrop.upperBound...].contains("of 2 worker(s)"), "the ring has both again: \(coordinatorText)")
        XCTAssertFalse(coordinatorText.contains("never processed"), coordinatorText)
    }
}
