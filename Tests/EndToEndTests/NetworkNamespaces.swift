import Foundation
import XCTest

/// A LAN of `hosts` network namespaces on this machine (scripts/netns.sh): host i is the namespace
/// `prefix-i` with address `address(i)`, all on one bridge in `prefix-sw`, so processes started on
/// different hosts talk over real TCP through real interfaces, with optional delay, loss and rate
/// limits. Nothing touches the root namespace's network.
///
///     let cluster = try NamespaceCluster(hosts: 3, prefix: "edtbench")   // throws XCTSkip unless root
///     addTeardownBlock { cluster.tearDown() }
///     try cluster.rateLimit(host: 0, rate: "1gbit")
///     let p = try cluster.start(host: 1, executable: path, arguments: [...], environment: [:])
///
/// `tearDown` (also run by deinit) kills every process started here and removes the namespaces,
/// so a failed test leaves nothing behind; `init` first removes stale namespaces of the same prefix
/// left by a test run that was killed.
final class NamespaceCluster {
    let hosts: Int
    let prefix: String
    /// Where each started process's output goes: `host-I-N.out` and `.err`.
    let logDirectory: URL
    private var addresses: [String] = []
    private var processes: [Process] = []
    private var outputs: [(host: Int, out: URL, err: URL)] = []
    private var tornDown = false

    static let script = CLITestCase.packageRoot.appendingPathComponent("scripts/netns.sh").path

    /// Why namespaces cannot be used here, or nil when they can.
    static var unavailableReason: String? {
        if getuid() != 0 { return "network namespace tests need root (uid is \(getuid()))" }
        guard let ip = ipPath else { return "network namespace tests need iproute2's `ip`, which is not installed" }
        guard let result = try? Self.execute(ip, ["netns", "list"]), result.status == 0 else {
            return "`ip netns list` fails here: network namespaces are unavailable"
        }
        return nil
    }

    static let ipPath: String? = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Creates the namespaces. Throws XCTSkip (after printing why) where namespaces are unavailable.
    init(hosts: Int, prefix: String) throws {
        if let reason = Self.unavailableReason {
            print("NamespaceCluster: skipping: \(reason)")
            throw XCTSkip(reason)
        }
        self.hosts = hosts
        self.prefix = prefix
        logDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("netns-\(prefix)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: logDirectory, withIntermediateDirectories: true)
        try script(["down", prefix])   // stale namespaces of a killed earlier run
        do {
            try script(["up", prefix, String(hosts)])
            addresses = try (0..<hosts).map { try script(["address", prefix, String($0)]).trimmingCharacters(in: .whitespacesAndNewlines) }
        } catch {
            tearDown()
            throw error
        }
    }

    deinit { tearDown() }

    /// Host `host`'s IPv4 address, e.g. 10.77.85.1 for host 0.
    func address(_ host: Int) -> String {
        addresses.indices.contains(host) ? addresses[host] : "invalid-host-\(host)"
    }

    /// The namespace of `host`.
    func namespace(_ host: Int) -> String { "\(prefix)-\(host)" }

    /// Starts `executable` inside `host`'s namespace through `ip netns exec`, which enters the
    /// namespace and execs, so the returned Process's pid is the program's own (the tests check it).
    /// `environment` is added to this process's environment; output goes to files under
    /// `logDirectory`, read with `standardOutput(of:)` and `standardError(of:)`.
    func start(host: Int, executable: String, arguments: [String], environment: [String: String]) throws -> Process {
        guard (0..<hosts).contains(host), !tornDown else {
            throw ClusterError("host \(host) is not in 0..<\(hosts) of a live cluster \(prefix)")
        }
        guard let ip = Self.ipPath else { throw ClusterError("iproute2's `ip` is not installed") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ip)
        process.arguments = ["netns", "exec", namespace(host), executable] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let name = "host-\(host)-\(outputs.count)"
        let out = logDirectory.appendingPathComponent(name + ".out"), err = logDirectory.appendingPathComponent(name + ".err")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        FileManager.default.createFile(atPath: err.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        processes.append(process)
        outputs.append((host, out, err))
        return process
    }

    /// What `process` (started here) has written to stdout so far.
    func standardOutput(of process: Process) -> String { read(process, \.out) }
    func standardError(of process: Process) -> String { read(process, \.err) }

    private func read(_ process: Process, _ path: KeyPath<(host: Int, out: URL, err: URL), URL>) -> String {
        guard let index = processes.firstIndex(where: { $0 === process }),
              let data = FileManager.default.contents(atPath: outputs[index][keyPath: path].path) else { return "" }
        return String(decoding: data, as: UTF8.self)
    }

    /// Delay and loss on `host`'s outgoing traffic (tc netem). Throws when the kernel lacks netem.
    func netem(host: Int, delayMs: Double, lossPercent: Double) throws {
        try script(["netem", prefix, String(host), String(delayMs), String(lossPercent)])
    }

    /// Limits `host`'s link to `rate` (tc syntax: 100mbit, 1gbit) in both directions.
    func rateLimit(host: Int, rate: String) throws {
        try script(["rate", prefix, String(host), rate])
    }

    /// Kills what was started here (SIGTERM, then SIGKILL after a second) and removes the
    /// namespaces. Safe to call more than once.
    func tearDown() {
        guard !tornDown else { return }
        tornDown = true
        for process in processes where process.isRunning { process.terminate() }
        let deadline = Date().addingTimeInterval(1)
        for process in processes {
            while process.isRunning && Date() < deadline { usleep(10_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        }
        if !prefix.isEmpty { _ = try? script(["down", prefix]) }
        try? FileManager.default.removeItem(at: logDirectory)
    }

    struct ClusterError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    @discardableResult
    private func script(_ arguments: [String]) throws -> String {
        let result = try Self.execute("/bin/bash", [Self.script] + arguments)
        guard result.status == 0 else {
            throw ClusterError("scripts/netns.sh \(arguments.joined(separator: " ")) failed (\(result.status)): \(result.stderr)")
        }
        return result.stdout
    }

    private static func execute(_ executable: String, _ arguments: [String]) throws -> ProcessResult {
        try runToEnd(URL(fileURLWithPath: executable), arguments)
    }
}
