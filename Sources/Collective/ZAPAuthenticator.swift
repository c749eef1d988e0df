import CZeroMQ
import Foundation

extension Curve {
    /// The 32 key bytes of a Z85 key (40 characters); nil when it is not one.
    public static func decode(z85 text: String) -> [UInt8]? {
        guard text.utf8.count == 40 else { return nil }
        var bytes = [UInt8](repeating: 0, count: 32)
        let ok = text.withCString { zmq_z85_decode(&bytes, $0) != nil }
        return ok ? bytes : nil
    }

    /// The Z85 text of 32 key bytes.
    public static func encode(z85 bytes: [UInt8]) -> String? {
        guard bytes.count == 32 else { return nil }
        var text = [CChar](repeating: 0, count: 41)
        guard zmq_z85_encode(&text, bytes, 32) != nil else { return nil }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The public key that goes with a Z85 secret key; nil when the secret key is malformed.
    public static func publicKey(secretKey: String) -> String? {
        guard secretKey.utf8.count == 40 else { return nil }
        var text = [CChar](repeating: 0, count: 41)
        let ok = secretKey.withCString { zmq_curve_public(&text, $0) == 0 }
        return ok ? String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : nil
    }
}

/// A ZAP handler (ZeroMQ RFC 27) for one context: CURVE clients are admitted only when their
/// public key is in `authorized`; every refusal is reported through `log` with the peer address.
///
/// libzmq asks the handler bound at `inproc://zeromq.zap.01` of the socket's context about every
/// new connection to a CURVE server socket. Without a handler libzmq would admit any client that
/// knows the server's public key, which is not a secret.
public final class ZAPAuthenticator: @unchecked Sendable {  // `stopped` is guarded by `lock`
    private let lock = NSLock()
    private var stopped = false
    private let finished = DispatchSemaphore(value: 0)
    /// Keys admitted, as 32 raw bytes each (guarded by `lock`).
    private var authorized: Set<[UInt8]>

    /// Binds the handler in `context` and serves it on a thread until `stop()`.
    public init(context: ZMQContext, authorizedKeys: [String], log: @escaping @Sendable (String) -> Void) throws {
        var keys = Set<[UInt8]>()
        for key in authorizedKeys {
            guard let bytes = Curve.decode(z85: key) else {
                throw CollectiveError.invalidConfiguration("'\(key)' is not a CURVE public key (40 Z85 characters)")
            }
            keys.insert(bytes)
        }
        authorized = keys
        let socket = try ZMQSocket(context: context, type: .reply)
        try socket.setOption(.receiveTimeout(100))
        try socket.bind("inproc://zeromq.zap.01")
        let thread = Thread { [self] in
            serve(socket, log: log)
            socket.close()
            finished.signal()
        }
        thread.name = "zap"
        thread.start()
    }

    /// Replaces the admitted keys (a worker's ring changed members).
    public func authorize(_ keys: [String]) throws {
        var decoded = Set<[UInt8]>()
        for key in keys {
            guard let bytes = Curve.decode(z85: key) else {
                throw CollectiveError.invalidConfiguration("'\(key)' is not a CURVE public key (40 Z85 characters)")
            }
            decoded.insert(bytes)
        }
        lock.withLock { authorized = decoded }
    }

    /// Stops serving and waits for the thread; connections made afterwards are refused by libzmq.
    public func stop() {
        let first = lock.withLock { () -> Bool in
            defer { stopped = true }
            return !stopped
        }
        if first { finished.wait() }
    }

    private func serve(_ socket: ZMQSocket, log: (String) -> Void) {
        while !lock.withLock({ stopped }) {
            guard let request = try? socket.receiveMultipart() else { continue }
            // version, request id, domain, address, routing id, mechanism, credentials...
            guard request.count >= 6 else {
                try? socket.sendMultipart([Array("1.0".utf8), request.count > 1 ? request[1] : [], Array("500".utf8),
                                           Array("malformed ZAP request".utf8), [], []])
                continue
            }
            let address = String(decoding: request[3], as: UTF8.self)
            let mechanism = String(decoding: request[5], as: UTF8.self)
            var status = "400", text = "not authorized", user = ""
            if mechanism == "CURVE", request.count >= 7, lock.withLock({ authorized.contains(request[6]) }) {
                status = "200"; text = "OK"; user = Curve.encode(z85: request[6]) ?? ""
            } else {
                let key = request.count >= 7 ? (Curve.encode(z85: request[6]) ?? "?") : "none"
                log("refused a connection from \(address): \(mechanism) key \(key) is not authorized")
            }
            try? socket.sendMultipart([Array("1.0".utf8), request[1], Array(status.utf8), Array(text.utf8),
                                       Array(user.utf8), []])
        }
    }
}
