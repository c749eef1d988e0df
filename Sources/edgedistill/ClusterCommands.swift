import ArgumentParser
import Evaluation
import Cluster
import Foundation
import Pipeline
import Training

/// CURVE and join-token options shared by `coordinator`, `worker` and `run`.
struct SecurityOptions: ParsableArguments {
    @Option(help: "The run's join token: a coordinator admits only workers that present it (default: EDGEDISTILL_JOIN_TOKEN; a coordinator without CURVE draws and prints one).")
    var token: String?
    @Option(name: .customLong("secret-key"), help: "This process's key file from `edgedistill keygen` (NAME.key).")
    var secretKey: String?
    @Option(name: .customLong("authorized-keys"), help: "Coordinator: a folder of worker .pub files, or a file of public keys.")
    var authorizedKeys: String?
    @Option(name: .customLong("coordinator-key"), help: "Worker: the coordinator's public key file (NAME.pub).")
    var coordinatorKey: String?
    @Flag(help: "Allow a coordinator to listen on a non-loopback address without CURVE encryption.")
    var insecure = false

    /// The token given with --token, or else in EDGEDISTILL_JOIN_TOKEN.
    var joinToken: String? {
        token ?? ProcessInfo.processInfo.environment["EDGEDISTILL_JOIN_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
    }

    func server() throws -> ServerSecurity? {
        guard let secretKey else {
            if authorizedKeys != nil { throw ValidationError("--authorized-keys needs --secret-key (the coordinator's key)") }
            return nil
        }
        guard let authorizedKeys else { throw ValidationError("--secret-key needs --authorized-keys (the workers' public keys)") }
        return ServerSecurity(keys: try CurveKeyPair.load(secretKey), authorized: try CurveKeyPair.loadAuthorized(authorizedKeys))
    }

    func client() throws -> ClientSecurity? {
        guard let secretKey else {
            if coordinatorKey != nil { throw ValidationError("--coordinator-key needs --secret-key (this worker's key)") }
            return nil
        }
        guard let coordinatorKey else { throw ValidationError("--secret-key needs --coordinator-key (the coordinator's .pub file)") }
        return ClientSecurity(keys: try CurveKeyPair.load(secretKey), serverKey: try CurveKeyPair.loadPublic(coordinatorKey))
    }
}

/// Options of a coordinator's behaviour towards its workers.
struct MembershipOptions: ParsableArguments {
    @Option(name: .customLong("heartbeat-timeout"), help: "Seconds of silence after which a worker is taken as dead.")
    var heartbeatTimeout = 5.0
    @Option(name: .customLong("ring-timeout"), help: "Seconds a worker waits on a ring neighbour before its step fails.")
    var ringTimeout = 15.0
    @Option(name: .customLong("checksum-every"), help: "Compare the workers' parameter checksums every N steps (0: never).")
    var checksumEvery = 50
    @Option(name: .customLong("startup-timeout"), help: "Seconds to wait for the workers to connect.")
    var startupTimeout = 600.0
    @Option(name: .customLong("setup-timeout"), help: "Seconds one joining worker may take to set up before it is dropped (training goes on).")
    var setupTimeout = 120.0
    @Flag(name: .customLong("fail-on-worker-loss"), help: "Stop the run when a worker is lost instead of going on without it.")
    var failOnWorkerLoss = false

    func apply(to options: inout CoordinatorOptions) {
        options.heartbeatTimeout = heartbeatTimeout
        options.ringTimeout = ringTimeout
        options.checksumEvery = checksumEvery
        options.startupTimeout = startupTimeout
        options.setupTimeout = setupTimeout
        options.failOnWorkerLoss = failOnWorkerLoss
    }
}

let logLine: (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }

/// How a worker judges sweep trials on the validation set it is sent: as `edgedistill sweep` does.
let sweepValidator: (EncodedDataset) -> Validator = { Evaluator.validator(on: $0, batchSize: 64) }

/// `edgedistill coordinator`: the pipeline of `run`, its training phases spread over workers.
struct CoordinatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Run the pipeline with its training on workers that connect over ZeroMQ (`edgedistill worker`).")

    @Option(help: "Where workers connect, e.g. tcp://0.0.0.0:5555.") var bind: String
    @Option(help: "Workers to wait for before training starts.") var workers: Int
    @OptionGroup var pipeline: PipelineOptions
    @OptionGroup var security: SecurityOptions
    @OptionGroup var membership: MembershipOptions

    func run() throws {
        try reportingErrors {
            var options = CoordinatorOptions(bind: bind, workers: workers)
            options.security = try security.server()
            options.joinToken = security.joinToken
            options.insecure = security.insecure
            membership.apply(to: &options)
            try runCoordinated(pipeline: pipeline, options: options, localWorkers: [])
        }
    }
}

/// Runs the pipeline with `options` as coordinator; `localWorkers` are child processes to stop at the end.
func runCoordinated(pipeline: PipelineOptions, options: CoordinatorOptions, localWorkers: [Process]) throws {
    let config = try pipeline.resolve()
    let coordinator = try Coordinator(options: options, log: logLine)
    defer {
        coordinator.shutdown(reason: "the run is over")
        for child in localWorkers {
            let deadline = Date().addingTimeInterval(5)
            while child.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
            if child.isRunning { child.terminate() }
        }
    }
    let run = Pipeline(config: config)
    run.executor = coordinator
    var report = try run.run(resume: pipeline.resume, overwrite: pipeline.overwrite, stages: [.fineTune, .distill, .evaluate])
    report["cluster"] = ["workers_expected": options.workers, "workers_lost": coordinator.workersLost,
                         "steps_redone": coordinator.stepsRedone, "endpoint": coordinator.endpoint,
                         "evaluations_on_workers": coordinator.evaluationsOnWorkers, "state_pulls": coordinator.statePulls]
    try writeJSON(report, to: (config.out as NSString).appendingPathComponent("report.json"))
    print(pipeline.json ? try jsonString(report) : summary(report, out: config.out))
}

/// `edgedistill worker`: serve a coordinator.
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Compute training steps for a coordinator (`edgedistill coordinator` or `run --workers N`).")

    @Option(help: "The coordinator's endpoint, e.g. tcp://10.0.0.1:5555.") var connect: String
    @Option(help: "oneDNN threads for this worker.") var threads = 1
    @Option(help: "The address other workers reach this one at (default: the local address towards the coordinator).")
    var advertise: String?
    @Option(name: .customLong("give-up-after"), help: "Exit after this many seconds without an answer from the coordinator.")
    var giveUpAfter = 300.0
    @OptionGroup var security: SecurityOptions

    func run() throws {
        try reportingErrors {
            var options = WorkerOptions(coordinator: connect)
            options.threads = threads
            options.advertise = advertise
            options.giveUpAfter = giveUpAfter
            options.security = try security.client()
            options.token = security.joinToken
            try Worker(options: options, validator: sweepValidator, log: logLine).run()
        }
    }
}

/// `edgedistill keygen`: a CURVE keypair for a coordinator or a worker.
struct Keygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a CURVE keypair: PREFIX.key (secret, mode 0600) and PREFIX.pub (public).")

    @Option(help: "Path prefix of the two files, e.g. keys/worker1.") var out: String

    func run() throws {
        try reportingErrors {
            let keys = try CurveKeyPair.generate()
            try keys.write(prefix: out)
            print("wrote \(out).key (keep it private) and \(out).pub (public key \(keys.publicKey))")
        }
    }
}

/// Starts `count` workers of this binary connecting to `endpoint`.
func startLocalWorkers(_ count: Int, endpoint: String, threads: Int, token: String?, extra: [String] = []) throws -> [Process] {
    try (0..<count).map { _ in
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        child.arguments = ["worker", "--connect", endpoint, "--threads", String(threads)] + extra
        // The token travels in the environment, not on the command line other users can read.
        var environment = ProcessInfo.processInfo.environment
        environment["EDGEDISTILL_JOIN_TOKEN"] = token
        child.environment = environment
        try child.run()
        return child
    }
}
