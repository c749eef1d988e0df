import Foundation

/// Free TCP ports on loopback, for processes that must agree on an endpoint before anyone binds
/// it (local workers started before their coordinator, ranks of a benchmark, tests).
public enum LoopbackPort {
    /// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
    public static func free() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw CollectiveError.invalidConfiguration("cannot create a socket to find a free port (errno \(errno))") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Int32 in
                guard bind(fd, pointer, length) == 0 else { return -1 }
                return getsockname(fd, pointer, &length)
            }
        }
        guard bound == 0 else { throw CollectiveError.invalidConfiguration("cannot find a free TCP port on 127.0.0.1 (errno \(errno))") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// `tcp://127.0.0.1:PORT` on a port that was free a moment ago.
    public static func freeEndpoint() throws -> String { "tcp://127.0.0.1:\(try free())" }
}
