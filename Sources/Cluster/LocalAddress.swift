import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Which of this machine's addresses other hosts reach it by.
enum LocalAddress {
    /// The host part of `tcp://HOST:PORT` (brackets stripped from IPv6); nil for other transports.
    static func host(ofEndpoint endpoint: String) -> String? {
        guard endpoint.hasPrefix("tcp://") else { return nil }
        let rest = endpoint.dropFirst("tcp://".count)
        if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
            return String(rest[rest.index(after: rest.startIndex)..<close])
        }
        guard let colon = rest.lastIndex(of: ":") else { return String(rest) }
        return String(rest[..<colon])
    }

    /// The local IPv4 address the kernel would use to reach `host` (a UDP socket is connected,
    /// which sends nothing, and asked for its own address). Loopback for loopback or non-TCP.
    static func towards(endpoint: String) throws -> String {
        guard let host = host(ofEndpoint: endpoint), host != "localhost", !host.hasPrefix("127.") else { return "127.0.0.1" }
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, "9", &hints, &result) == 0, let info = result else {
            throw ClusterError("cannot resolve the coordinator's host '\(host)' (use --advertise to name this worker's address)")
        }
        defer { freeaddrinfo(result) }
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw ClusterError("cannot open a socket to find the local address") }
        defer { close(fd) }
        guard connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
            throw ClusterError("no route to the coordinator's host '\(host)'")
        }
        var local = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) == 0 }
        }
        guard ok else { throw ClusterError("cannot read the local address towards '\(host)'") }
        var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
        var address = local.sin_addr
        guard inet_ntop(AF_INET, &address, &text, socklen_t(text.count)) != nil else {
            throw ClusterError("cannot format the local address towards '\(host)'")
        }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Whether binding `endpoint` only accepts connections from this machine.
    static func isLoopbackOnly(_ endpoint: String) -> Bool {
        if endpoint.hasPrefix("ipc://") || endpoint.hasPrefix("inproc://") { return true }
        guard let host = host(ofEndpoint: endpoint) else { return false }
        return host == "localhost" || host.hasPrefix("127.") || host == "::1" || host == "lo"
    }
}
