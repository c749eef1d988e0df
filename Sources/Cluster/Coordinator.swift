import Collective
import Foundation
import Model
import Training

/// How a coordinator listens and how it treats its workers.
public struct CoordinatorOptions: Sendable {
    /// Where workers connect, e.g. `tcp://0.0.0.0:5555` or `tcp://127.0.0.1:*`.
    public var bind: String
    /// Workers to wait for before the first step.
    public var workers: Int
    /// A worker silent for this long is taken as dead.
    public var heartbeatTimeout = 5.0
    /// Seconds between a worker's heartbeats (sent to workers when they are admitted).
    public var heartbeatInterval = 1.0
    /// How long to wait for the expected workers to connect before giving up.
    public var startupTimeout = 600.0
    /// How long one joiner may take to set up (receive the phase, load it, bind its ring
    /// listener); one that takes longer is dropped alone and training goes on without it.
    public var setupTimeout = 120.0
    /// The secret a worker must present in its hello. Without CURVE one is required: nil makes
    /// the coordinator draw one and print it. With CURVE, keys admit workers and a token is optional.
    public var joinToken: String?
    /// How long a worker waits on a ring neighbour before its step fails.
    public var ringTimeout = 15.0
    /// Compare the workers' parameter checksums every this many steps (0: never).
    public var checksumEvery = 50
    /// CURVE keys and the admitted worker keys; nil: plain TCP.
    public var security: ServerSecurity?
    /// Allow binding a non-loopback address without CURVE.
    public var insecure = false
    /// Stop the run when a worker is lost instead of going on with the others.
    public var failOnWorkerLoss = false

    public init(bind: String, workers: Int) {
        self.bind = bind
        self.workers = workers
    }
}

/// The coordinator of a distributed run: a `StepScheduler` that admits workers, sends each training
/// phase to them and runs each step of the training loop (`Trainer`, which keeps the books) on
/// them. It adds membership, rings and commits; the arithmetic of a step is the workers'
/// `TrainingStep`. When the loop must read the weights, the coordinator fetches them from a worker.
///
/// A step: every worker of the ring gets the whole batch (and the teacher's cached logits when the
/// coordinator has them) and computes its share; the workers sum their gradients over the ring and
/// report; only when all of them reported does the coordinator commit the step, and only then do
/// the workers apply it. A worker that dies (silent for `heartbeatTimeout`) or fails makes the
/// coordinator abort the step, re-form the ring from the survivors and redo the step with the
/// same batch shared among fewer workers: no example of the epoch is lost or seen twice, and the
/// update is the one a single worker would have made. A worker that connects late is sent the
/// current state and joins the ring at the next step.
public final class Coordinator: PhaseExecutor, StepScheduler {
    /// An admitted worker.
    final class Member {
        let id: String
        let routing: [UInt8]
        let order: Int
        var host: String
        var threads: Int
        var publicKey: String?
        var lastSeen = Date()
        /// The ring listener it bound for `endpointGeneration`.
        var endpoint: String?
        var endpointGeneration = -1
        /// Whether it holds the current phase.
        var configured = false

        init(id: String, routing: [UInt8], order: Int, host: String, threads: Int) {
            self.id = id
            self.routing = routing
            self.order = order
            self.host = host
            self.threads = threads
        }
    }

    public let options: CoordinatorOptions
    public let session = UInt64.random(in: 1...UInt64.max)
    /// The endpoint actually bound (with the port the OS chose for `:*`).
    public private(set) var endpoint = ""
    let log: (String) -> Void
    let context: ZMQContext
    let socket: ZMQSocket
    var authenticator: ZAPAuthenticator?

    var members: [String: Member] = [:]
    var ring: [Member] = []
    /// When the socket was last found empty: every heartbeat sent before then has been read.
    /// Silence is measured up to this moment, not up to now, so time the coordinator spent
    /// evaluating or checkpointing (with heartbeats queueing unread) never counts against a worker.
    var drainedAt = Date()
    var generation = 0
    var joined = 0
    var phasesRun = 0
    /// Workers lost so far and steps redone because of it (reported at the end).
    public private(set) var workersLost = 0, stepsRedone = 0
    /// Evaluations counted on the workers (`Coordinator+Evaluation.swift`), and the times the
    /// coordinator copied the whole state from a worker (to keep the best weights, average them,
    /// checkpoint, or set up a late joiner).
    public internal(set) var evaluationsOnWorkers = 0, statePulls = 0
    /// The largest peak resident set any worker reported with its steps (bytes, VmHWM; often reached
    /// while a phase is set up), and the largest resident set after a step (what training holds).
    public private(set) var workerPeakResidentBytes = 0, workerResidentBytes = 0
    var evaluationRounds = 0
    /// With a sharded optimizer: the workers whose shares of the moments make up the state (those of
    /// the ring since its last committed step); empty while every worker still holds the whole state.
    var shareHolders: [Member] = []
    /// Per committed step, summed: the slowest worker's forward/backward seconds, the fastest
    /// worker's all-reduce seconds (the others' include waiting for the slowest), and the coordinator's wall time from sending the step to the last report.
    public private(set) var timing = (steps: 0, compute: 0.0, communication: 0.0, wall: 0.0)

    // The phase in progress.
    var job: TrainingJob?
    var data: EncodedDataset?
    /// The step the run is at (for set-ups and messages).
    var currentStep = 0
    var phaseSections: [(name: String, bytes: [UInt8])] = []

    public init(options: CoordinatorOptions, log: @escaping (String) -> Void) throws {
        guard options.workers >= 1 else { throw ClusterError("--workers must be at least 1") }
        if options.security == nil, !options.insecure, !LocalAddress.isLoopbackOnly(options.bind) {
            throw ClusterError("refusing to listen on \(options.bind) without encryption: give --secret-key and --authorized-keys (see `edgedistill keygen`), or --insecure on a network you trust")
        }
        var options = options
        if options.security == nil, options.joinToken == nil {
            options.joinToken = Self.newJoinToken()
            log("coordinator: join token \(options.joinToken ?? ""): give it to workers with --token or EDGEDISTILL_JOIN_TOKEN")
        }
        if let token = options.joinToken, token.isEmpty { throw ClusterError("the join token must not be empty") }
        self.options = options
        self.log = log
        context = try ZMQContext()
        if let security = options.security {
            authenticator = try ZAPAuthenticator(context: context, authorizedKeys: security.authorized) { line in
                FileHandle.standardError.write(Data("coordinator: \(line)\n".utf8))
            }
        }
        socket = try ZMQSocket(context: context, type: .router)
        try socket.setOption(.receiveTimeout(100))
        try socket.setOption(.sendTimeout(60_000))
        // Every message a worker sends is small (a state travels in parts): a larger frame, from
        // anyone, is dropped by libzmq at its header; and at most a few messages per connection
        // wait unread while the coordinator evaluates or checkpoints.
        try socket.setOption(.maximumMessageSize(ClusterMessages.largestFromWorker))
        try socket.setOption(.receiveHighWaterMark(16))
        try options.security?.apply(to: socket)
        try socket.bind(options.bind)
        endpoint = try socket.lastEndpoint
        log("coordinator: listening on \(endpoint)\(options.security == nil ? "" : " (CURVE, \(options.security?.authorized.count ?? 0) authorized worker keys)")")
    }

    deinit {
        socket.close()
        authenticator?.stop()
    }

    /// Tells every worker to exit and closes the socket.
    public func shutdown(reason: String) {
        for member in members.values {
            try? send(.shutdown, ClusterMessages.Shutdown(session: session, reason: reason), to: member)
        }
        // Give the messages a moment to leave before the socket closes (linger is 0).
        Thread.sleep(forTimeInterval: 0.2)
        socket.close()
        authenticator?.stop()
    }

    // MARK: - Messages

    func send<H: Codable>(_ type: MessageType, _ header: H, sections: [(name: String, bytes: [UInt8])] = [],
                          to member: Member, sequence: Int = 0) throws {
        let frame = try WireMessage(type, header, sections: sections, sequence: sequence).encode()
        try socket.sendMultipart([member.routing, frame])
    }

    /// One message from an admitted worker of this session (hello and heartbeats are handled here).
    struct Incoming {
        let member: Member
        let message: WireMessage
    }

    /// Waits up to `timeout` seconds for the next message from an admitted worker.
    func next(timeout: Double) throws -> Incoming? {
        let deadline = Date().addingTimeInterval(timeout)
        repeat {
            guard let frames = try socket.receiveMultipart() else {
                drainedAt = Date()
                continue
            }
            guard frames.count == 2 else { log("coordinator: dropped a message of \(frames.count) frames"); continue }
            let sender = String(decoding: frames[0], as: UTF8.self)
            let message: WireMessage
            do {
                message = try WireMessage.decode(frames[1], maxPayload: Int(ClusterMessages.largestFromWorker))
            } catch {
                log("coordinator: dropped a malformed message from \(sender): \(error)")
                if case WireError.versionMismatch = error {
                    let refuse = try WireMessage(.refuse, ClusterMessages.Refuse(reason: "\(error)")).encode()
                    try? socket.sendMultipart([frames[0], refuse])
                }
                continue
            }
            if sender.hasSuffix("#hb") {
                let id = String(sender.dropLast(3))
                members[id]?.lastSeen = Date()
                // Membership is only news to a worker that was admitted in this session (its beats
                // carry the session once it was welcomed): then `false` means it was dropped.
                let beat = try? message.envelope(ClusterMessages.Heartbeat.self).header
                let member: Bool? = beat?.session == session ? members[id] != nil : nil
                let answer = try WireMessage(.heartbeat, ClusterMessages.Heartbeat(session: session, worker: id,
                                                                                   member: member)).encode()
                try? socket.sendMultipart([frames[0], answer])
                continue
            }
            if message.type == .hello {
                try admit(message, routing: frames[0])
                continue
            }
            guard let member = members[sender] else { continue }  // a worker of an earlier session or one we dropped
            member.lastSeen = Date()
            return Incoming(member: member, message: message)
        } while Date() < deadline
        return nil
    }

    func admit(_ message: WireMessage, routing: [UInt8]) throws {
        guard let hello = try? message.envelope(ClusterMessages.Hello.self).header,
              hello.worker == String(decoding: routing, as: UTF8.self) else {
            log("coordinator: dropped a malformed hello")
            return
        }
        if let old = members[hello.worker] {
            if !old.configured, old.routing == routing {
                // A hello repeated while this coordinator was busy (a worker says hello every 2 s
                // until welcomed): it holds nothing yet, so welcome it again and keep it.
                try send(.welcome, ClusterMessages.Welcome(session: session, worker: hello.worker,
                                                           heartbeatInterval: options.heartbeatInterval), to: old)
                return
            }
            // It introduced itself again: it lost its state (e.g. it restarted its job).
            drop(old, reason: "it reconnected without its state")
        }
        if let expected = options.joinToken, !Self.sameToken(hello.token, expected) {
            let reason = hello.token == nil
                ? "this coordinator admits only workers with its join token: pass --token (or EDGEDISTILL_JOIN_TOKEN) as the coordinator printed it"
                : "wrong join token: pass the token this run's coordinator printed"
            log("coordinator: refused \(hello.worker) from \(hello.host): \(hello.token == nil ? "no join token" : "wrong join token")")
            let refuse = try WireMessage(.refuse, ClusterMessages.Refuse(reason: reason)).encode()
            try? socket.sendMultipart([routing, refuse])
            return
        }
        joined += 1
        if let security = options.security {
            guard let key = hello.publicKey, security.authorized.contains(key) else {
                log("coordinator: refused worker \(hello.worker): its public key is not among the authorized keys")
                let refuse = try WireMessage(.refuse, ClusterMessages.Refuse(reason: "this worker's public key is not authorized")).encode()
                try? socket.sendMultipart([routing, refuse])
                return
            }
        }
        let member = Member(id: hello.worker, routing: routing, order: joined, host: hello.host, threads: hello.threads)
        member.publicKey = hello.publicKey
        members[hello.worker] = member
        try send(.welcome, ClusterMessages.Welcome(session: session, worker: hello.worker,
                                                   heartbeatInterval: options.heartbeatInterval), to: member)
        log("coordinator: worker \(hello.worker) joined from \(hello.host) (\(hello.threads) thread(s)); \(members.count) connected")
    }

    func drop(_ member: Member, reason: String) {
        guard members[member.id] === member else { return }
        members[member.id] = nil
        if ring.contains(where: { $0 === member }) { workersLost += 1 }
        log("coordinator: worker \(member.id) lost: \(reason); \(members.count) left")
    }

    /// Drops workers silent for longer than the heartbeat timeout; true when one of the ring was among them.
    @discardableResult
    func reapSilent() -> Bool {
        var ringHit = false
        for member in Array(members.values) where drainedAt.timeIntervalSince(member.lastSeen) > options.heartbeatTimeout {
            if ring.contains(where: { $0 === member }) { ringHit = true }
            drop(member, reason: String(format: "no heartbeat for %.1f s", drainedAt.timeIntervalSince(member.lastSeen)))
        }
        return ringHit
    }

    var ringIntact: Bool { ring.allSatisfy { members[$0.id] === $0 } }

    // MARK: - Phases

    /// The coordinator schedules the phase's steps itself: `Pipeline` hands it to the loop.
    public func scheduler(for job: TrainingJob, data: EncodedDataset) throws -> StepScheduler {
        self.job = job
        self.data = data
        return self
    }

    /// Sends the phase and `state` to the workers (waiting for them on the first phase) and forms the ring.
    public func begin(from state: TrainerState) throws {
        guard let job, let data else { throw ClusterError("no phase to begin: call scheduler(for:data:) first") }
        phaseSections = try JobPackage.folderSections(job.modelFolder) + JobPackage.dataSections(data)
        for member in members.values { member.configured = false }
        ring = []
        currentStep = state.step
        try waitForWorkers(phasesRun == 0 ? options.workers : 1)
        phasesRun += 1
        try configure(Array(members.values), state: state)
        shareHolders = []
        try formRing()
    }

    /// Runs step `number` on the ring until it commits: late joiners are set up first, and a step
    /// that a lost or failing worker interrupted is redone with the same batch on a re-formed ring.
    public func run(step number: Int, indices: [Int], teacherLogits: [Float]?) throws -> StepOutcome {
        currentStep = number
        while true {
            if options.failOnWorkerLoss, workersLost > 0 {
                throw ClusterError("a worker was lost and fail-on-worker-loss is set")
            }
            if shardedOptimizer, let lost = shareHolders.first(where: { members[$0.id] !== $0 }) {
                throw lostShard(lost)
            }
            let joiners = members.values.filter { !$0.configured }
            if !joiners.isEmpty || !ringIntact || ring.isEmpty {
                if !joiners.isEmpty {
                    let state = try pullState(optimizer: true)
                    // A sharded optimizer's shares change with the ring: everyone starts from the whole state.
                    try configure(shardedOptimizer ? Array(members.values) : joiners, state: state)
                    shareHolders = []
                }
                try formRing()
            }
            guard let results = try runStep(number, indices: indices, teacherLogits: teacherLogits) else {
                stepsRedone += 1
                continue
            }
            let checksum = options.checksumEvery > 0 && (number + 1) % options.checksumEvery == 0
            if shardedOptimizer { shareHolders = ring }
            for member in ring {
                try send(.commit, ClusterMessages.Decision(session: session, generation: generation, step: number,
                                                           reportChecksum: checksum), to: member, sequence: number)
            }
            if checksum { try verifyChecksums(step: number) }
            let reports = results.values.sorted { ($0.report.share.first ?? 0) < ($1.report.share.first ?? 0) }
            let first = reports.first?.report
            let loss = DistillationLoss.Value(total: first?.loss ?? 0, crossEntropy: first?.crossEntropy ?? 0,
                                              kl: first?.kl ?? 0, gradient: [])
            currentStep = number + 1
            return StepOutcome(loss: loss, shares: reports.map { ($0.report.share, $0.logits) })
        }
    }

    public func synchronize(into model: SequenceClassifier) throws {
        try pullState(optimizer: false).copyParameters(into: model)
    }

    public func state(optimizer: Bool) throws -> TrainerState { try pullState(optimizer: optimizer) }

    /// Waits until `count` workers are connected.
    func waitForWorkers(_ count: Int) throws {
        let deadline = Date().addingTimeInterval(options.startupTimeout)
        var announced = -1
        while members.count < count {
            if members.count != announced {
                log("coordinator: waiting for workers: \(members.count) of \(count) connected to \(endpoint)")
                announced = members.count
            }
            guard Date() < deadline else {
                throw ClusterError("only \(members.count) of \(count) workers connected to \(endpoint) within \(Int(options.startupTimeout)) s: check that they run `edgedistill worker --connect` with this address and can reach it")
            }
            _ = try next(timeout: 0.5)
            reapSilent()
        }
    }

    /// Sends the phase and `state` to `targets`, then waits until each has bound its ring listener.
    func configure(_ targets: [Member], state: TrainerState) throws {
        guard let job else { return }
        let sections = phaseSections + JobPackage.stateSections(state)
        let setup = ClusterMessages.Setup(session: session, job: job, step: state.step, optimizerStep: state.optimizerStep,
                                          ringTimeout: options.ringTimeout, generation: generation + 1)
        for member in targets {
            member.configured = true
            try send(.configuration, setup, sections: sections, to: member)
        }
        log("coordinator: sent the \(job.phase) phase (\(sections.reduce(0) { $0 + $1.bytes.count } / 1_000_000) MB) at step \(state.step) to \(targets.count) worker(s)")
        try awaitEndpoints(targets, generation: generation + 1)
    }

    /// Waits until every live one of `targets` reported its listener for `generation`; one that
    /// has not within `setupTimeout` is dropped alone (a stalled joiner never stops the run).
    func awaitEndpoints(_ targets: [Member], generation wanted: Int) throws {
        let deadline = Date().addingTimeInterval(options.setupTimeout)
        while targets.contains(where: { members[$0.id] === $0 && $0.endpointGeneration != wanted }) {
            if Date() >= deadline {
                for member in targets where members[member.id] === member && member.endpointGeneration != wanted {
                    drop(member, reason: "it did not finish setting up within \(Int(options.setupTimeout)) s")
                }
                return
            }
            reapSilent()
            guard let incoming = try next(timeout: 0.2) else { continue }
            switch incoming.message.type {
            case .ready, .ringEndpoint:
                let reply = try incoming.message.envelope(ClusterMessages.Endpoint.self).header
                guard reply.session == session else { continue }
                incoming.member.endpoint = reply.endpoint
                incoming.member.endpointGeneration = reply.generation
            case .reduced:
                continue  // a late report from a step that was aborted
            case .error:
                drop(incoming.member, reason: "set-up failed: \(String(decoding: incoming.message.payload, as: UTF8.self))")
            default:
                continue
            }
        }
    }

    /// Makes a new ring of every configured live worker, in the order they joined.
    func formRing() throws {
        let wanted = generation + 1
        var candidates = members.values.filter(\.configured).sorted { $0.order < $1.order }
        guard !candidates.isEmpty else {
            throw ClusterError("no workers left at step \(currentStep): start workers and run again with --resume to continue from the last checkpoint")
        }
        let stale = candidates.filter { $0.endpointGeneration != wanted }
        for member in stale {
            try send(.prepareRing, ClusterMessages.PrepareRing(session: session, generation: wanted), to: member)
        }
        try awaitEndpoints(stale, generation: wanted)
        candidates = candidates.filter { members[$0.id] === $0 && $0.endpointGeneration == wanted }
        guard !candidates.isEmpty else { return try formRing() }
        let endpoints = candidates.compactMap(\.endpoint)
        let keys = options.security == nil ? nil : candidates.map { $0.publicKey ?? "" }
        for (rank, member) in candidates.enumerated() {
            try send(.ring, ClusterMessages.Ring(session: session, generation: wanted, rank: rank, endpoints: endpoints,
                                                 publicKeys: keys), to: member)
        }
        generation = wanted
        ring = candidates
        log("coordinator: ring \(generation) of \(ring.count) worker(s): \(ring.map(\.host).joined(separator: ", "))")
    }

    /// Runs one step on the ring; nil when it failed (a worker died or failed) and must be redone.
    func runStep(_ step: Int, indices: [Int], teacherLogits: [Float]?)
        throws -> [String: (report: ClusterMessages.Reduced, logits: [Float]?)]? {
        var sections: [(name: String, bytes: [UInt8])] = []
        if let teacherLogits { sections.append(("teacher.logits", SectionCoding.bytes(of: teacherLogits))) }
        let command = ClusterMessages.Step(session: session, generation: generation, step: step, indices: indices)
        let sent = Date()
        for member in ring { try send(.step, command, sections: sections, to: member, sequence: step) }
        var results: [String: (report: ClusterMessages.Reduced, logits: [Float]?)] = [:]
        var failure: String?
        while results.count < ring.count, failure == nil {
            if reapSilent() || !ringIntact {
                failure = "a worker of the ring was lost"
                break
            }
            guard let incoming = try next(timeout: 0.1), incoming.message.type == .reduced else { continue }
            let envelope = try incoming.message.envelope(ClusterMessages.Reduced.self)
            let report = envelope.header
            guard report.session == session, report.generation == generation, report.step == step,
                  ring.contains(where: { $0 === incoming.member }) else { continue }
            if let problem = report.failure {
                failure = "worker \(incoming.member.id) failed: \(problem)"
                break
            }
            let logits = envelope.hasSection("teacher.logits")
                ? try SectionCoding.floats(try envelope.section("teacher.logits"), name: "teacher.logits") : nil
            results[incoming.member.id] = (report, logits)
        }
        guard let failure else {
            timing.steps += 1
            timing.compute += results.values.map { $0.report.computeSeconds ?? 0 }.max() ?? 0
            timing.communication += results.values.map { $0.report.communicationSeconds ?? 0 }.min() ?? 0
            timing.wall += Date().timeIntervalSince(sent)
            workerPeakResidentBytes = max(workerPeakResidentBytes, results.values.map { $0.report.peakResidentBytes ?? 0 }.max() ?? 0)
            workerResidentBytes = max(workerResidentBytes, results.values.map { $0.report.residentBytes ?? 0 }.max() ?? 0)
            return results
        }
        log("coordinator: step \(step) aborted (\(failure)); re-forming the ring and redoing it")
        for member in ring where members[member.id] === member {
            try send(.abort, ClusterMessages.Decision(session: session, generation: generation, step: step,
                                                      reportChecksum: false), to: member, sequence: step)
        }
        ring = []
        return nil
    }

    /// Collects every ring worker's parameter checksum after `step` and fails on any difference.
    func verifyChecksums(step: Int) throws {
        var sums: [String: UInt64] = [:]
        let deadline = Date().addingTimeInterval(options.ringTimeout + options.heartbeatTimeout)
        while sums.count < ring.filter({ members[$0.id] === $0 }).count, Date() < deadline {
            reapSilent()
            guard let incoming = try next(timeout: 0.1), incoming.message.type == .checksum else { continue }
            let reply = try incoming.message.envelope(ClusterMessages.Checksum.self).header
            guard reply.session == session, reply.step == step else { continue }
            sums[incoming.member.id] = reply.checksum
        }
        if Set(sums.values).count > 1 {
            let listing = sums.sorted { $0.key < $1.key }.map { "\($0.key): \(String($0.value, radix: 16))" }.joined(separator: ", ")
            throw ClusterError("the workers' weights differ after step \(step + 1) (parameter checksums \(listing)): stopping rather than training on diverged replicas")
        }
    }

    /// The training state of one live ring worker.
    func pullState(optimizer: Bool) throws -> TrainerState {
        statePulls += 1
        if optimizer, shardedOptimizer, ring.count > 1 { return try pullShardedState() }
        while true {
            guard let source = (ring + members.values.sorted { $0.order < $1.order }).first(where: { members[$0.id] === $0 && $0.configured }) else {
                throw ClusterError("no worker left to fetch the training state from")
            }
            if let state = try pullState(optimizer: optimizer, from: source) { return state }
        }
    }

    /// The state of `source` (with `trial`, the best weights of that sweep trial), received in
    /// parts; nil when it is lost or sends something malformed (it is then dropped).
    func pullState(optimizer: Bool, trial: Int? = nil, from source: Member, largest: Int? = nil) throws -> TrainerState? {
        try send(.stateRequest, ClusterMessages.StateRequest(session: session, optimizer: optimizer, trial: trial), to: source)
        let deadline = Date().addingTimeInterval(options.startupTimeout)
        var received: [UInt8] = [], nextPart = 0
        let largest = largest ?? Self.largestState(for: job)
        while members[source.id] === source, Date() < deadline {
            reapSilent()
            guard let incoming = try next(timeout: 0.2), incoming.member === source,
                  incoming.message.type == .parameters else { continue }
            let envelope = try incoming.message.envelope(ClusterMessages.StatePart.self)
            let part = envelope.header
            guard part.session == session else { continue }
            // Parts arrive in order on one connection; anything else is a broken sender.
            let bytes = try envelope.section("bytes")
            guard part.part == nextPart, part.parts >= 1, part.total >= 0, part.total <= largest,
                  received.count + bytes.count <= part.total else {
                drop(source, reason: "it sent a malformed state (part \(part.part) of \(part.parts), expected part \(nextPart))")
                return nil
            }
            received += bytes
            nextPart += 1
            guard nextPart == part.parts else { continue }
            guard received.count == part.total else {
                drop(source, reason: "its state was \(received.count) bytes, it announced \(part.total)")
                return nil
            }
            let state = try Envelope<ClusterMessages.State>.decode(received)
            return try JobPackage.state(from: state, step: state.header.step, optimizerStep: state.header.optimizerStep)
        }
        if members[source.id] === source { drop(source, reason: "it did not send its state") }
        return nil
    }
}

// MARK: - The sharded optimizer

extension Coordinator {
    /// Whether the phase shards Adam's moments over the ring (`TrainingOptions.shardOptimizer`).
    var shardedOptimizer: Bool { job?.options.shardOptimizer == true }

    /// The whole state of a sharded optimizer: the weights (the same on every worker) and each
    /// worker's share of the moments, merged. A worker that has not updated since it was set up still
    /// holds every moment, and its state is whole as it is.
    func pullShardedState() throws -> TrainerState {
        var merged: TrainerState?
        var shares: [[Range<Int>]] = []
        if let lost = shareHolders.first(where: { members[$0.id] !== $0 }) { throw lostShard(lost) }
        for member in ring {
            guard members[member.id] === member, let state = try pullState(optimizer: true, from: member) else { throw lostShard(member) }
            guard let shards = state.optimizerShards else { return state }
            shares.append(shards)
            guard var whole = merged else {
                merged = state
                merged?.optimizerShards = nil
                continue
            }
            guard let m = state.adamM, let v = state.adamV, var newM = whole.adamM, var newV = whole.adamV,
                  m.count == newM.count, v.count == newV.count, state.parameters.count == whole.parameters.count,
                  shards.allSatisfy({ $0.upperBound <= m.count }) else {
                throw ClusterError("worker \(member.id) sent a sharded optimizer state of another size")
            }
            for range in shards {
                newM.replaceSubrange(range, with: m[range])
                newV.replaceSubrange(range, with: v[range])
            }
            whole.adamM = newM
            whole.adamV = newV
            merged = whole
        }
        // Each sharded table is cut into one share per worker: together, side by side, they are the table.
        let tables = shares.first?.count ?? 0
        let whole = shares.allSatisfy { $0.count == tables } && (0..<tables).allSatisfy { t in
            let pieces = shares.map { $0[t] }.sorted { $0.lowerBound < $1.lowerBound }
            return zip(pieces, pieces.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound }
        }
        guard let merged, whole else { throw ClusterError("the workers' shares of the optimizer state do not fit together") }
        return merged
    }

    /// The error for a worker lost with its share of a sharded optimizer's moments.
    func lostShard(_ member: Member) -> ClusterError {
        let every = job?.options.checkpointEvery ?? 0
        return ClusterError("worker \(member.id) (\(member.host)) was lost, and with --shard-optimizer it held 1/\(max(shareHolders.count, ring.count, 1)) of Adam's moments: the step cannot be redone without them. Start the workers again and rerun the coordinator with --resume to go on from the last checkpoint"
                            + (every > 0 ? " (one every \(every) steps)" : " (this run writes none: set checkpoint_every)"))
    }
}

extension Coordinator {
    /// An upper bound on the encoded state of `job`'s model (parameters, two Adam moments, the
    /// embedding rows' steps, framing): a worker announcing more is refused before it is read.
    static func largestState(for job: TrainingJob?) -> Int {
        guard let job, var config = try? ModelConfig.load(directory: job.modelFolder) else { return Int(Int32.max) }
        config.labelCount = max(config.labelCount, job.labelNames.count)
        let parameters = ParameterLayout(config: config).count
        return 4 * (3 * parameters + config.vocabularySize) + (1 << 20)
    }

    /// 128 random bits as hex: a join token for one run.
    public static func newJoinToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<2).map { _ in String(generator.next() as UInt64, radix: 16).leftPadded(to: 16) }.joined()
    }

    /// Compares in time independent of where the tokens differ.
    static func sameToken(_ given: String?, _ expected: String) -> Bool {
        guard let given else { return false }
        let a = Array(given.utf8), b = Array(expected.utf8)
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for i in 0..<max(a.count, b.count) {
            difference |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
        }
        return difference == 0
    }
}

private extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
