import Collective
import Files
import Foundation
import Kernels
import Model
import Training

/// How a worker reaches its coordinator.
public struct WorkerOptions: Sendable {
    /// The coordinator's endpoint, e.g. `tcp://10.0.0.1:5555`.
    public var coordinator: String
    /// oneDNN threads for this worker's steps.
    public var threads = 1
    /// The address other workers reach this one's ring listener at (default: the local address
    /// on the route to the coordinator).
    public var advertise: String?
    /// CURVE keys; nil: plain TCP.
    public var security: ClientSecurity?
    /// Exit with an error after this many seconds without any answer from the coordinator.
    public var giveUpAfter = 300.0
    /// Seconds between heartbeats.
    public var heartbeatInterval = 1.0
    /// The run's join token (printed by the coordinator; required when it does not use CURVE).
    public var token: String?

    public init(coordinator: String) { self.coordinator = coordinator }
}

/// A worker process: it introduces itself to the coordinator, receives a training phase (model
/// files, tokenized data, state), joins the ring of workers, and computes steps on its share of
/// each batch until told to shut down.
///
/// The coordinator decides everything; a worker only ever applies an update the coordinator
/// committed, after every worker of the ring reported its gradients summed, so the workers'
/// weights stay bit-identical (the coordinator checks their checksums every few steps). When the
/// coordinator goes away and comes back (a new session), the worker introduces itself again.
public final class Worker {
    public let options: WorkerOptions
    public let id: String
    let log: (String) -> Void
    let context: ZMQContext
    let socket: ZMQSocket

    var session: UInt64?
    /// The phase this worker was set up for, and its step.
    var phase = ""
    var step: TrainingStep?
    var ring: RingCommunicator?
    var listener: (generation: Int, listener: RingListener)?
    var generation = -1
    var pendingStep: Int?
    var ringTimeout = 30.0
    var address = "127.0.0.1"
    /// Admits the ring's left neighbour when the run uses CURVE.
    var authenticator: ZAPAuthenticator?
    /// Watches the CURVE handshake with the coordinator, so a refusal is reported at once.
    var handshakes: HandshakeMonitor?
    /// A sweep's shared inputs and the trials this worker holds (`Worker+Trials.swift`).
    var trials = Trials()
    /// The teacher pass's inputs, while one runs (`Worker+TeacherPass.swift`).
    var pass: Pass?
    /// Validation requests received (`EDGEDISTILL_WORKER_FAULT=eval:N:kill`).
    var evaluationsReceived = 0
    /// Judges weights on validation data: a sweep trial's, and the phase's part of a validation
    /// (the CLI gives the Evaluation module's).
    let validator: ((EncodedDataset) -> Validator)?

    public init(options: WorkerOptions, validator: ((EncodedDataset) -> Validator)? = nil, log: @escaping (String) -> Void) throws {
        self.options = options
        self.validator = validator
        self.log = log
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "host"
        id = "\(host)-\(getpid())-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
        context = try ZMQContext()
        socket = try ZMQSocket(context: context, type: .dealer)
        try socket.setOption(.routingID(Array(id.utf8)))
        try socket.setOption(.receiveTimeout(200))
        // Sends wait at most 2 s: with no connection up (the coordinator is down, or the CURVE
        // handshake was refused) a DEALER has nowhere to queue, and a hello is simply retried.
        try socket.setOption(.sendTimeout(2_000))
        try options.security?.apply(to: socket)
        if options.security != nil { handshakes = try HandshakeMonitor(socket, name: id) }
        try socket.connect(options.coordinator)
        address = try options.advertise ?? LocalAddress.towards(endpoint: options.coordinator)
        if options.security != nil {
            let log = self.log
            let name = id
            authenticator = try ZAPAuthenticator(context: context, authorizedKeys: []) { log("worker \(name): ring: \($0)") }
        }
    }

    /// Serves the coordinator until it says shut down (returns) or cannot be reached (throws).
    public func run() throws {
        Threads.set(options.threads)
        let heartbeat = HeartbeatSender(context: context, endpoint: options.coordinator, worker: id,
                                        interval: options.heartbeatInterval) { [options] in try options.security?.apply(to: $0) }
        defer { heartbeat.stop(); ring?.close(); listener?.listener.close(); socket.close(); authenticator?.stop() }
        var lastHello = Date.distantPast
        let started = Date()
        log("worker \(id): connecting to \(options.coordinator) (ring address \(address), \(options.threads) thread(s))")
        while true {
            let answer = heartbeat.lastAnswer
            if let session, let heard = answer.session, heard != session {
                log("worker \(id): the coordinator restarted (new session); introducing myself again")
                reset()
            } else if session != nil, answer.session == session, answer.member == false {
                // Paused or cut off past the heartbeat timeout, this worker was dropped; its step
                // was redone by the others. It joins again, as a late joiner, from their state.
                log("worker \(id): the coordinator dropped this worker (silent past its heartbeat timeout); joining again")
                reset()
            }
            switch try handshakes?.failure() {
            case .refused?:
                throw ClusterError("the coordinator at \(options.coordinator) refused this worker's CURVE key: its public key is not among the coordinator's authorized keys (--authorized-keys)")
            case .protocolError?, .unspecified?:
                throw ClusterError("the CURVE handshake with \(options.coordinator) failed: check that --coordinator-key is that coordinator's public key (.pub) and that it uses CURVE")
            case nil:
                break
            }
            let silentSince = session == nil && answer.session == nil ? started : answer.date
            if Date().timeIntervalSince(silentSince) > options.giveUpAfter {
                throw ClusterError("no answer from the coordinator at \(options.coordinator) for \(Int(options.giveUpAfter)) s: is it running, and is the address reachable from this host?")
            }
            if session == nil, Date().timeIntervalSince(lastHello) > 2 {
                let hello = ClusterMessages.Hello(worker: id, host: address, pid: getpid(), threads: options.threads,
                                                  publicKey: options.security?.keys.publicKey, token: options.token)
                try send(try WireMessage(.hello, hello))
                lastHello = Date()
            }
            guard let frame = try socket.receive() else { continue }
            let message: WireMessage
            do {
                message = try WireMessage.decode(frame, maxPayload: Int(Int32.max))
            } catch let error as WireError {
                if case .versionMismatch = error {
                    throw ClusterError("the coordinator speaks another protocol version: \(error); run the same EdgeDistill build everywhere")
                }
                log("worker \(id): dropped a malformed message: \(error)")
                continue
            }
            do {
                if try handle(message, heartbeat: heartbeat) == false { return }
            } catch let error as WireError {
                log("worker \(id): dropped a malformed \(message.type) message: \(error)")
            }
        }
    }

    /// Sends `state` to the coordinator as an encoded `State` envelope in parts of at most
    /// `ClusterMessages.partBytes`.
    func sendState(_ state: TrainerState, session: UInt64) throws {
        let whole = try Envelope(ClusterMessages.State(session: session, step: state.step, optimizerStep: state.optimizerStep),
                                 sections: JobPackage.stateSections(state)).encode()
        let parts = max(1, (whole.count + ClusterMessages.partBytes - 1) / ClusterMessages.partBytes)
        for part in 0..<parts {
            let range = (part * ClusterMessages.partBytes)..<min(whole.count, (part + 1) * ClusterMessages.partBytes)
            try send(try WireMessage(.parameters, ClusterMessages.StatePart(session: session, part: part, parts: parts, total: whole.count),
                                     sections: [("bytes", Array(whole[range]))]))
        }
    }

    /// Forgets the job and the ring (the coordinator restarted).
    func reset() {
        trials = Trials()
        pass = nil
        session = nil
        step = nil
        ring?.close(); ring = nil
        listener?.listener.close(); listener = nil
        generation = -1
        pendingStep = nil
    }

    /// Sends to the coordinator; a send that times out (no connection) is logged, not fatal: the
    /// coordinator notices the missing message and redoes or re-sends what it needs.
    func send(_ message: WireMessage) throws {
        do {
            try socket.send(message.encode())
        } catch let error as ZMQError where error.errno == EAGAIN {
            if message.type != .hello { log("worker \(id): could not send \(message.type) to the coordinator: \(error)") }
        }
    }

    /// Handles one message; false when the worker should exit.
    func handle(_ message: WireMessage, heartbeat: HeartbeatSender) throws -> Bool {
        switch message.type {
        case .welcome:
            let welcome = try message.envelope(ClusterMessages.Welcome.self).header
            guard welcome.worker == id else { return true }
            session = welcome.session
            heartbeat.session = welcome.session
            heartbeat.forgetMembership()
            log("worker \(id): admitted by the coordinator")
        case .refuse:
            let reason = (try? message.envelope(ClusterMessages.Refuse.self).header.reason) ?? "no reason given"
            throw ClusterError("the coordinator refused this worker: \(reason)")
        case .configuration:
            let envelope = try message.envelope(ClusterMessages.Setup.self)
            guard envelope.header.session == session else { return true }
            try setUp(envelope)
        case .prepareRing:
            let request = try message.envelope(ClusterMessages.PrepareRing.self).header
            guard request.session == session else { return true }
            try bindListener(generation: request.generation, reply: .ringEndpoint)
        case .ring:
            let assignment = try message.envelope(ClusterMessages.Ring.self).header
            guard assignment.session == session, let step, let bound = listener,
                  bound.generation == assignment.generation else { return true }
            ring?.close()
            var ringOptions = RingCommunicator.Options(timeout: ringTimeout)
            if let keys = options.security?.keys {
                guard let peers = assignment.publicKeys, peers.count == assignment.endpoints.count else {
                    throw ClusterError("the coordinator sent a ring without the workers' public keys")
                }
                try authenticator?.authorize(peers)
                ringOptions.curve = (keys.publicKey, keys.secretKey, peers[(assignment.rank + 1) % peers.count])
            }
            let communicator = try RingCommunicator(rank: assignment.rank, endpoints: assignment.endpoints,
                                                    listener: bound.listener, options: ringOptions)
            listener = nil
            ring = communicator
            step.communicator = communicator
            generation = assignment.generation
            pendingStep = nil
            log("worker \(id): rank \(assignment.rank) of \(assignment.endpoints.count) (ring generation \(assignment.generation))")
        case .step:
            let envelope = try message.envelope(ClusterMessages.Step.self)
            let command = envelope.header
            guard command.session == session, command.generation == generation, let step else { return true }
            injectFault(step: command.step)
            try compute(command, logits: envelope.hasSection("teacher.logits")
                        ? try SectionCoding.floats(try envelope.section("teacher.logits"), name: "teacher.logits") : nil,
                        on: step)
        case .commit:
            let decision = try message.envelope(ClusterMessages.Decision.self).header
            guard decision.session == session, let step, pendingStep == decision.step else { return true }
            pendingStep = nil
            do {
                try step.apply(step: decision.step)
            } catch {
                // Only a sharded optimizer's all-gather can fail here: this worker's weights are now
                // incomplete, so it holds no phase until the coordinator sets one up again.
                log("worker \(id): the update of step \(decision.step) failed, dropping this phase's weights: \(error)")
                self.step = nil
                return true
            }
            if decision.reportChecksum {
                try send(try WireMessage(.checksum, ClusterMessages.Checksum(session: decision.session, step: decision.step,
                                                                             checksum: step.parameterChecksum)))
            }
        case .abort:
            let decision = try message.envelope(ClusterMessages.Decision.self).header
            if decision.session == session, pendingStep == decision.step { pendingStep = nil }
        case .stateRequest:
            let request = try message.envelope(ClusterMessages.StateRequest.self).header
            guard request.session == session else { return true }
            if let trial = request.trial {
                guard let run = trials.runs[trial] else { return true }
                try sendState(TrainerState(step: run.trainer.step, optimizerStep: 0, parameters: run.bestParameters), session: request.session)
            } else if let step {
                try sendState(step.state(optimizer: request.optimizer), session: request.session)
            }
        case .trialSetup:
            let envelope = try message.envelope(ClusterMessages.TrialSetup.self)
            guard envelope.header.session == session else { return true }
            try setUpTrials(envelope)
        case .trialRun:
            let command = try message.envelope(ClusterMessages.TrialRun.self).header
            guard command.session == session else { return true }
            try runTrial(command)
        case .trialRelease:
            let release = try message.envelope(ClusterMessages.TrialRelease.self).header
            guard release.session == session else { return true }
            for trial in release.trials { trials.runs[trial] = nil }
        case .passSetup:
            let envelope = try message.envelope(ClusterMessages.PassSetup.self)
            guard envelope.header.session == session else { return true }
            try setUpPass(envelope)
        case .passShard:
            let command = try message.envelope(ClusterMessages.PassShard.self).header
            guard command.session == session else { return true }
            try computeShard(command)
        case .evaluate:
            let envelope = try message.envelope(ClusterMessages.Evaluate.self)
            guard envelope.header.session == session else { return true }
            try evaluate(envelope)
        case .shutdown:
            let reason = (try? message.envelope(ClusterMessages.Shutdown.self).header.reason) ?? ""
            log("worker \(id): shut down by the coordinator (\(reason))")
            return false
        case .heartbeat:
            break
        default:
            log("worker \(id): ignored an unexpected \(message.type) message")
        }
        return true
    }

    func setUp(_ envelope: Envelope<ClusterMessages.Setup>) throws {
        let setup = envelope.header
        ring?.close(); ring = nil
        step = nil
        pass = nil   // the teacher pass is over once a phase starts
        let started = Date()
        let folder = try JobPackage.writeFolder(from: envelope)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let tokenizer = try BertTokenizer.load(directory: folder)
        let (model, mode) = try setup.job.buildModels(folder: folder)
        try model.checkCompatible(with: tokenizer, directory: folder)
        let data = try JobPackage.dataset(from: envelope, vocabularySize: model.config.vocabularySize)
        let step = TrainingStep(model: model, mode: mode, data: data, options: setup.job.options,
                                totalSteps: setup.job.options.totalSteps(examples: data.count))
        try step.restore(try JobPackage.state(from: envelope, step: setup.step, optimizerStep: setup.optimizerStep))
        self.step = step
        phase = setup.job.phase
        ringTimeout = setup.ringTimeout
        generation = -1
        pendingStep = nil
        log(String(format: "worker %@: %@ phase set up in %.1f s (%d examples, step %d)", id, setup.job.phase,
                   Date().timeIntervalSince(started), data.count, setup.step))
        try bindListener(generation: setup.generation, reply: .ready)
    }

    /// Binds a ring listener on an OS-chosen port and tells the coordinator its endpoint.
    func bindListener(generation: Int, reply: MessageType) throws {
        guard let session else { return }
        listener?.listener.close()
        let bound = try RingListener(context: context, endpoint: "tcp://\(address):*",
                                     curveSecretKey: options.security?.keys.secretKey)
        listener = (generation, bound)
        try send(try WireMessage(reply, ClusterMessages.Endpoint(session: session, generation: generation, endpoint: bound.endpoint)))
    }

    /// Fault injection for tests (`FaultInjection`, `EDGEDISTILL_WORKER_FAULT=PHASE:STEP:ACTION`):
    /// `kill` SIGKILLs this worker on receiving that step (as a crashed machine would vanish,
    /// mid-step), `kill-reduce-scatter` and `kill-all-gather` part-way through that step's first
    /// all-reduce, `corrupt` changes one of its weights, which the checksum must catch, and `pause`
    /// makes that step take 3 s longer.
    func injectFault(step number: Int) {
        switch FaultInjection.fromEnvironment("EDGEDISTILL_WORKER_FAULT", defaultAction: "kill")?.action(phase: phase, step: number) {
        case "kill":
            log("worker \(id): EDGEDISTILL_WORKER_FAULT: killing myself at \(phase) step \(number)")
            kill(getpid(), SIGKILL)
        case "pause":
            Thread.sleep(forTimeInterval: 3)  // a slow step: heartbeats go on, the coordinator waits
        case "corrupt":
            step?.model.parameters.base[0] += 1
        case "kill-reduce-scatter":
            log("worker \(id): EDGEDISTILL_WORKER_FAULT: killing myself in the middle of step \(number)'s reduce-scatter")
            ring?.killDuring = .reduceScatter
        case "kill-all-gather":
            log("worker \(id): EDGEDISTILL_WORKER_FAULT: killing myself in the middle of step \(number)'s all-gather")
            ring?.killDuring = .allGather
        default:
            break
        }
    }

    func compute(_ command: ClusterMessages.Step, logits: [Float]?, on step: TrainingStep) throws {
        var report = ClusterMessages.Reduced(session: command.session, generation: command.generation, step: command.step,
                                             loss: 0, crossEntropy: 0, kl: 0, share: [], failure: nil)
        var sections: [(name: String, bytes: [UInt8])] = []
        do {
            guard command.indices.allSatisfy({ $0 >= 0 && $0 < step.data.count }) else {
                throw ClusterError("step \(command.step) names examples outside the \(step.data.count) this worker holds")
            }
            let result = try step.gradients(step: command.step, command.indices, teacherLogits: logits)
            report.loss = result.value.total
            report.crossEntropy = result.value.crossEntropy
            report.kl = result.value.kl
            report.share = result.share
            report.computeSeconds = result.computeSeconds
            report.communicationSeconds = result.communicationSeconds
            report.peakResidentBytes = ProcessMemory.peakResidentBytes()
            report.residentBytes = ProcessMemory.residentBytes()
            if let computed = result.teacherLogits { sections.append(("teacher.logits", SectionCoding.bytes(of: computed))) }
            pendingStep = command.step
        } catch {
            report.failure = "\(error)"
            pendingStep = nil
            log("worker \(id): step \(command.step) failed: \(error)")
        }
        try send(try WireMessage(.reduced, report, sections: sections, sequence: command.step))
    }
}
