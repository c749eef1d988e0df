import Foundation
import XCTest

/// Processes on separate network namespaces (NamespaceCluster) talking over real TCP: the helper
/// itself, then `edgedistill bench allreduce` with one rank per namespace.
final class NamespaceClusterTests: CLITestCase {
    private func cluster(_ hosts: Int, _ prefix: String) throws -> NamespaceCluster {
        let cluster = try NamespaceCluster(hosts: hosts, prefix: prefix)
        addTeardownBlock { cluster.tearDown() }
        return cluster
    }

    private func namespaceInode(_ path: String) throws -> UInt64 {
        var info = stat()
        guard stat(path, &info) == 0 else { throw NamespaceCluster.ClusterError("cannot stat \(path)") }
        return UInt64(info.st_ino)
    }

    func testStartedProcessIsTheProgramItselfInsideTheHostNamespace() throws {
        let cluster = try cluster(2, "edtns")
        let process = try cluster.start(host: 1, executable: "/bin/sleep", arguments: ["30"], environment: [:])
        // `ip netns exec` execs: the pid we hold becomes `sleep` itself, in namespace edtns-1.
        let deadline = Date().addingTimeInterval(5)
        var exe = ""
        while Date() < deadline {
            exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(process.processIdentifier)/exe")) ?? ""
            if exe.hasSuffix("/sleep") { break }
            usleep(10_000)
        }
        XCTAssertTrue(exe.hasSuffix("/sleep"), "pid \(process.processIdentifier) runs \(exe), not sleep")
        XCTAssertEqual(try namespaceInode("/proc/\(process.processIdentifier)/ns/net"), try namespaceInode("/run/netns/edtns-1"))
        XCTAssertNotEqual(try namespaceInode("/proc/self/ns/net"), try namespaceInode("/run/netns/edtns-1"))
        XCTAssertEqual(cluster.address(0).split(separator: ".").last, "1")
        XCTAssertEqual(cluster.address(1).split(separator: ".").last, "2")
        cluster.tearDown()
        XCTAssertFalse(process.isRunning, "tearDown must end the processes it started")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/run/netns/edtns-1"), "tearDown must remove the namespaces")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/run/netns/edtns-sw"))
    }

    func testStaleNamespacesOfTheSamePrefixAreReplaced() throws {
        let first = try NamespaceCluster(hosts: 3, prefix: "edtstale")
        _ = try first.start(host: 2, executable: "/bin/sleep", arguments: ["30"], environment: [:])
        // A second cluster of the same prefix (as after a killed test run) starts from scratch.
        let second = try cluster(2, "edtstale")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/run/netns/edtstale-2"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: "/run/netns/edtstale-1"))
        _ = second
        first.tearDown()   // the processes of the first; its namespaces are already gone
    }

    func testRateLimitAndNetemAreAppliedOrExplained() throws {
        let cluster = try cluster(2, "edtqdisc")
        try cluster.rateLimit(host: 0, rate: "100mbit")
        XCTAssertThrowsError(try cluster.rateLimit(host: 0, rate: "fast")) { error in
            XCTAssertTrue("\(error)".contains("rate 'fast'"), "\(error)")
        }
        do {
            try cluster.netem(host: 1, delayMs: 2, lossPercent: 0)
        } catch {
            // Some kernels (e.g. minimal VM kernels) are built without sch_netem: say so, loudly.
            XCTAssertTrue("\(error)".contains("sch_netem"), "\(error)")
            throw XCTSkip("netem unavailable on this kernel: \(error)")
        }
    }

    /// `edgedistill bench allreduce` with ranks 0, 1, 2 on three namespaces, over TCP on their
    /// veth interfaces, each rank a separate process given the endpoint list and its rank.
    func testBenchAllReduceAcrossThreeNamespaces() throws {
        let cluster = try cluster(3, "edtring")
        let binary = try binary().path
        let endpoints = (0..<3).map { "tcp://\(cluster.address($0)):29500" }.joined(separator: ",")
        var ranks: [Process] = []
        // Rank 0 last, so the others are already waiting (any order works: PUSH queues).
        for rank in [1, 2, 0] {
            ranks.append(try cluster.start(host: rank, executable: binary,
                                           arguments: ["bench", "allreduce", "--endpoints", endpoints, "--rank", String(rank),
                                                       "--sizes", "0.5,2", "--repeats", "2", "--json"],
                                           environment: [:]))
        }
        let deadline = Date().addingTimeInterval(60)
        for process in ranks {
            while process.isRunning && Date() < deadline { usleep(20_000) }
            XCTAssertFalse(process.isRunning, "a rank did not finish in 60 s: \(cluster.standardError(of: process))")
            XCTAssertEqual(process.terminationStatus, 0, cluster.standardError(of: process))
        }
        guard let rank0 = ranks.last else { return }
        let output = cluster.standardOutput(of: rank0)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], output)
        XCTAssertEqual(json["ranks"] as? Int, 3)
        XCTAssertEqual(json["endpoints"] as? [String], endpoints.split(separator: ",").map(String.init))
        let results = try XCTUnwrap(json["results"] as? [[String: Any]])
        XCTAssertEqual(results.map { $0["megabytes"] as? Double }, [0.5, 2])
        for result in results {
            let bus = try XCTUnwrap(result["bus_gbps"] as? Double)
            XCTAssertGreaterThan(bus, 0.001, "\(result)")
        }
        for process in ranks.dropLast() {
            XCTAssertEqual(cluster.standardOutput(of: process), "", "only rank 0 reports")
        }
    }
}
