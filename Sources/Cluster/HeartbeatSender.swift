import Collective
import Foundation

/// A worker's heartbeat: a thread with its own socket that tells the coordinator every
/// `interval` seconds that this worker lives, and notes the coordinator's answers.
///
/// It runs beside the training thread, so a worker busy with a long step or a large set-up is
/// still seen alive; only a dead or hung process (or a cut link) goes silent. The answers tell
/// the worker the coordinator's session, so a restarted coordinator is noticed (a new session)
/// as well as a vanished one (no answer).
final class HeartbeatSender: @unchecked Sendable {  // shared fields are guarded by `lock`
    private let lock = NSLock()
    private var stopped = false
    private var _session: UInt64 = 0
    private var _lastAnswer = Date()
    private var _answerSession: UInt64?
    private var _answerMember: Bool?

    /// The session heartbeats carry (0 before the worker is welcomed).
    var session: UInt64 {
        get { lock.withLock { _session } }
        set { lock.withLock { _session = newValue } }
    }

    /// When the coordinator last answered, with which session, and whether it counts this worker
    /// as a member (nil: the coordinator did not say).
    var lastAnswer: (date: Date, session: UInt64?, member: Bool?) {
        lock.withLock { (_lastAnswer, _answerSession, _answerMember) }
    }

    init(context: ZMQContext, endpoint: String, worker: String, interval: Double,
         configure: @escaping (ZMQSocket) throws -> Void) {
        let thread = Thread { [self] in
            loop(context: context, endpoint: endpoint, worker: worker, interval: interval, configure: configure)
        }
        thread.name = "heartbeat"
        thread.start()
    }

    func stop() { lock.withLock { stopped = true } }

    /// Forgets what the coordinator said of membership (the worker was just welcomed again).
    func forgetMembership() { lock.withLock { _answerMember = nil } }

    private func loop(context: ZMQContext, endpoint: String, worker: String, interval: Double,
                      configure: (ZMQSocket) throws -> Void) {
        guard let socket = try? ZMQSocket(context: context, type: .dealer) else { return }
        defer { socket.close() }
        let wait = Int32(max(1, interval * 1000))
        do {
            try socket.setOption(.routingID(Array((worker + "#hb").utf8)))
            try socket.setOption(.receiveTimeout(wait))
            try socket.setOption(.sendTimeout(wait))
            try socket.setOption(.sendHighWaterMark(4))
            try configure(socket)
            try socket.connect(endpoint)
        } catch { return }
        var nextBeat = Date()
        while !lock.withLock({ stopped }) {
            if Date() >= nextBeat {
                let beat = try? WireMessage(.heartbeat, ClusterMessages.Heartbeat(session: session, worker: worker))
                if let frame = beat?.encode() { try? socket.send(frame) }
                nextBeat = Date().addingTimeInterval(interval)
            }
            guard let frame = try? socket.receive(),
                  let message = try? WireMessage.decode(frame, maxPayload: 1 << 16), message.type == .heartbeat,
                  let answer = try? message.envelope(ClusterMessages.Heartbeat.self) else { continue }
            lock.withLock {
                _lastAnswer = Date()
                _answerSession = answer.header.session
                _answerMember = answer.header.member
            }
        }
    }
}
