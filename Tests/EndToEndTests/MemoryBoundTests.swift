import Foundation
import XCTest
import Collective

/// A flood of oversized frames before authentication: three raw TCP connections speak just enough
/// ZMTP 3 (greeting, NULL handshake) to announce a 1 GB message each and stream it. The coordinator
/// refuses any frame above the largest a worker sends, at its header, so its memory stays within
/// `allowedGrowth` of where it was.
final class MemoryBoundTests: CLITestCase {
    static let allowedGrowth = 64 << 20   // bytes of resident memory the flood may add

    /// VmHWM (peak resident set) and VmRSS of a process, in bytes.
    func memory(of pid: Int32) -> (peak: Int, resident: Int) {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        func field(_ name: String) -> Int {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }),
                  let kb = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") else { return 0 }
            return kb * 1024
        }
        return (field("VmHWM"), field("VmRSS"))
    }

    /// Connects to 127.0.0.1:`port`, completes a ZMTP 3.0 NULL handshake as a DEALER, announces a
    /// message of `announced` bytes and writes up to `limit` of them; returns the bytes written.
    func flood(port: Int, announced: UInt64, limit: Int) -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return 0 }
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        func write(_ bytes: [UInt8]) -> Bool { bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == bytes.count }
        // Greeting: signature, version 3.0, mechanism NULL, as-server 0, filler.
        var greeting: [UInt8] = [0xFF] + [UInt8](repeating: 0, count: 8) + [0x7F, 3, 0]
        greeting += Array("NULL".utf8) + [UInt8](repeating: 0, count: 16) + [0] + [UInt8](repeating: 0, count: 31)
        guard write(greeting) else { return 0 }
        var reply = [UInt8](repeating: 0, count: 64)
        _ = recv(fd, &reply, 64, Int32(MSG_WAITALL))
        let ready: [UInt8] = [5] + Array("READY".utf8) + [11] + Array("Socket-Type".utf8) + [0, 0, 0, 6] + Array("DEALER".utf8)
        guard write([0x04, UInt8(ready.count)] + ready) else { return 0 }
        // A long message frame: flags 0x02, then its 8-byte size, big-endian.
        guard write([0x02] + withUnsafeBytes(of: announced.bigEndian) { Array($0) }) else { return 0 }
        let chunk = [UInt8](repeating: 0x41, count: 1 << 20)
        var sent = 0
        while sent < limit, write(chunk) { sent += chunk.count }
        return sent
    }

    func testAFloodOfOversizedFramesLeavesTheCoordinatorsMemoryBounded() throws {
        let port = try LoopbackPort.free()
        let log = scratch.appendingPathComponent("coordinator.log").path
        let coordinator = try start(["coordinator", "--bind", "tcp://127.0.0.1:\(port)", "--workers", "1", "--startup-timeout", "60"]
                                    + (try tinyRunOptions(out: scratch.appendingPathComponent("run").path, seed: 8, epochs: 1)), log: log)
        let deadline = Date().addingTimeInterval(30)
        while !text(log).contains("waiting for workers"), Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        Thread.sleep(forTimeInterval: 0.5)
        let before = memory(of: coordinator.processIdentifier)
        let results = NSMutableArray()
        let group = DispatchGroup()
        for _ in 0..<3 {
            group.enter()
            Thread.detachNewThread {
                let sent = self.flood(port: port, announced: 1 << 30, limit: 1 << 30)
                results.add(sent)
                group.leave()
            }
        }
        group.wait()
        Thread.sleep(forTimeInterval: 0.5)
        let after = memory(of: coordinator.processIdentifier)
        XCTAssertTrue(coordinator.isRunning, "the flood must not stop the coordinator: \(text(log))")
        let growth = after.peak - before.resident
        print("memory bound: coordinator resident \(before.resident >> 20) MB before, peak \(after.peak >> 20) MB after; bytes the flood got to send: \(results)")
        XCTAssertLessThan(growth, Self.allowedGrowth, "the coordinator's peak memory grew by \(growth >> 20) MB")
        // It still admits a real worker and trains.
        _ = try start(["worker", "--connect", "tcp://127.0.0.1:\(port)"], log: scratch.appendingPathComponent("worker.log").path)
        XCTAssertTrue(wait(coordinator, seconds: 120), text(log))
        XCTAssertEqual(coordinator.terminationStatus, 0, text(log))
    }
}
