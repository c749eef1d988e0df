#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CZeroMQ

/// A failed libzmq call: the C `errno` and the operation that failed.
public struct ZMQError: Error, CustomStringConvertible {
    public let errno: Int32
    /// What was being done, e.g. `bind tcp://127.0.0.1:5555`.
    public let operation: String

    public init(errno: Int32, operation: String) {
        self.errno = errno
        self.operation = operation
    }

    public var description: String {
        "ZeroMQ \(operation) failed: \(String(cString: zmq_strerror(errno)))"
    }
}

/// Runs a libzmq call until it does not fail with EINTR and returns its non-negative result.
///
/// A signal interrupting a blocking call is not a failure: libzmq did nothing and the call
/// can simply be repeated, so every call site shares this retry.
@discardableResult
func check(_ call: @autoclosure () -> Int32, _ what: @autoclosure () -> String) throws -> Int32 {
    while true {
        let result = call()
        if result >= 0 { return result }
        let code = zmq_errno()
        if code != EINTR { throw ZMQError(errno: code, operation: what()) }
    }
}

/// A libzmq context: the I/O threads behind a group of sockets.
///
/// Each socket holds its context strongly, so the context is terminated only after every
/// socket made from it has closed; `zmq_ctx_term` would otherwise block forever.
public final class ZMQContext: @unchecked Sendable {  // libzmq contexts are thread-safe
    let handle: UnsafeMutableRawPointer

    public init() throws {
        guard let handle = zmq_ctx_new() else {
            throw ZMQError(errno: zmq_errno(), operation: "create context")
        }
        self.handle = handle
    }

    deinit {
        _ = try? check(zmq_ctx_term(handle), "terminate context")
    }
}

/// One libzmq socket. Not thread-safe: use each socket from one thread at a time.
public final class ZMQSocket {
    /// The socket patterns EdgeDistill may use.
    public enum SocketType {
        case pair, request, reply, dealer, router, push, pull, publish, subscribe

        var rawValue: Int32 {
            switch self {
            case .pair: return ZMQ_PAIR
            case .request: return ZMQ_REQ
            case .reply: return ZMQ_REP
            case .dealer: return ZMQ_DEALER
            case .router: return ZMQ_ROUTER
            case .push: return ZMQ_PUSH
            case .pull: return ZMQ_PULL
            case .publish: return ZMQ_PUB
            case .subscribe: return ZMQ_SUB
            }
        }
    }

    /// Socket options EdgeDistill sets. Times are in milliseconds; -1 means forever.
    public enum Option {
        /// How long unsent messages are kept after close (0: drop them at once).
        case linger(Int32)
        /// How long `receive` waits before returning nil.
        case receiveTimeout(Int32)
        /// How long `send` waits before throwing EAGAIN.
        case sendTimeout(Int32)
        case receiveHighWaterMark(Int32)
        case sendHighWaterMark(Int32)
        /// Larger incoming messages make libzmq drop the connection before allocating them
        /// (-1: no limit). Not enforced on inproc.
        case maximumMessageSize(Int64)
        case routingID([UInt8])
        /// Whether this socket is the CURVE server (it then needs `curveSecretKey`).
        case curveServer(Bool)
        /// A Z85 (40-character) CURVE key.
        case curvePublicKey(String)
        case curveSecretKey(String)
        /// The server's public key, set on a CURVE client.
        case curveServerKey(String)
        /// A SUB socket receives only messages starting with a subscribed prefix ([] for all).
        case subscribe([UInt8])
        case unsubscribe([UInt8])
    }

    /// The context this socket belongs to, kept alive while the socket is open.
    public let context: ZMQContext
    private var handle: UnsafeMutableRawPointer?

    /// Opens a socket with linger 0, so closing it never blocks on undelivered messages.
    public init(context: ZMQContext, type: SocketType) throws {
        guard let handle = zmq_socket(context.handle, type.rawValue) else {
            throw ZMQError(errno: zmq_errno(), operation: "create \(type) socket")
        }
        self.context = context
        self.handle = handle
        try setOption(.linger(0))
    }

    deinit {
        close()
    }

    /// Closes the socket; later calls on it throw ENOTSOCK. Safe to call twice.
    public func close() {
        guard let handle else { return }
        zmq_close(handle)
        self.handle = nil
    }

    fileprivate func open(_ what: @autoclosure () -> String) throws -> UnsafeMutableRawPointer {
        guard let handle else { throw ZMQError(errno: ENOTSOCK, operation: what()) }
        return handle
    }

    public func bind(_ endpoint: String) throws {
        let socket = try open("bind \(endpoint)")
        try check(zmq_bind(socket, endpoint), "bind \(endpoint)")
    }

    public func connect(_ endpoint: String) throws {
        let socket = try open("connect \(endpoint)")
        try check(zmq_connect(socket, endpoint), "connect \(endpoint)")
    }

    public func unbind(_ endpoint: String) throws {
        let socket = try open("unbind \(endpoint)")
        try check(zmq_unbind(socket, endpoint), "unbind \(endpoint)")
    }

    public func disconnect(_ endpoint: String) throws {
        let socket = try open("disconnect \(endpoint)")
        try check(zmq_disconnect(socket, endpoint), "disconnect \(endpoint)")
    }

    public func setOption(_ option: Option) throws {
        let socket = try open("set option \(option)")
        switch option {
        case .linger(let value): try set(socket, ZMQ_LINGER, value, "linger")
        case .receiveTimeout(let value): try set(socket, ZMQ_RCVTIMEO, value, "receive timeout")
        case .sendTimeout(let value): try set(socket, ZMQ_SNDTIMEO, value, "send timeout")
        case .receiveHighWaterMark(let value): try set(socket, ZMQ_RCVHWM, value, "receive high-water mark")
        case .sendHighWaterMark(let value): try set(socket, ZMQ_SNDHWM, value, "send high-water mark")
        case .maximumMessageSize(let value): try set64(socket, ZMQ_MAXMSGSIZE, value, "maximum message size")
        case .curveServer(let value): try set(socket, ZMQ_CURVE_SERVER, value ? 1 : 0, "CURVE server")
        case .routingID(let bytes): try set(socket, ZMQ_ROUTING_ID, bytes, "routing id")
        case .curvePublicKey(let key): try set(socket, ZMQ_CURVE_PUBLICKEY, Array(key.utf8), "CURVE public key")
        case .curveSecretKey(let key): try set(socket, ZMQ_CURVE_SECRETKEY, Array(key.utf8), "CURVE secret key")
        case .curveServerKey(let key): try set(socket, ZMQ_CURVE_SERVERKEY, Array(key.utf8), "CURVE server key")
        case .subscribe(let prefix): try set(socket, ZMQ_SUBSCRIBE, prefix, "subscribe")
        case .unsubscribe(let prefix): try set(socket, ZMQ_UNSUBSCRIBE, prefix, "unsubscribe")
        }
    }

    private func set(_ socket: UnsafeMutableRawPointer, _ name: Int32, _ value: Int32, _ what: String) throws {
        var value = value
        try check(zmq_setsockopt(socket, name, &value, MemoryLayout<Int32>.size), "set \(what)")
    }

    /// For the few options libzmq takes as int64_t; a separate name keeps `1` unambiguous above.
    private func set64(_ socket: UnsafeMutableRawPointer, _ name: Int32, _ value: Int64, _ what: String) throws {
        var value = value
        try check(zmq_setsockopt(socket, name, &value, MemoryLayout<Int64>.size), "set \(what)")
    }

    private func set(_ socket: UnsafeMutableRawPointer, _ name: Int32, _ bytes: [UInt8], _ what: String) throws {
        // A Z85 key is passed as its 40 characters without a terminator; libzmq tells it from
        // a 32-byte binary key by the length.
        _ = try bytes.withUnsafeBytes { buffer in
            try check(zmq_setsockopt(socket, name, buffer.baseAddress, buffer.count), "set \(what)")
        }
    }

    /// The endpoint last bound, with the port the OS chose for `tcp://host:*`.
    public var lastEndpoint: String {
        get throws {
            let socket = try open("get last endpoint")
            var buffer = [CChar](repeating: 0, count: 1024)
            var size = buffer.count
            try check(zmq_getsockopt(socket, ZMQ_LAST_ENDPOINT, &buffer, &size), "get last endpoint")
            return text(buffer)
        }
    }

    /// Sends one frame; `more` marks it as not the last of a multipart message.
    ///
    /// Throws ZMQError with EAGAIN when a send timeout is set and expires.
    public func send(_ bytes: UnsafeRawBufferPointer, more: Bool = false) throws {
        let socket = try open("send")
        let flags = more ? ZMQ_SNDMORE : 0
        try check(zmq_send(socket, bytes.baseAddress, bytes.count, flags), "send")
    }

    public func send(_ data: [UInt8], more: Bool = false) throws {
        try data.withUnsafeBytes { try send($0, more: more) }
    }

    /// Sends all frames as one multipart message.
    public func sendMultipart(_ frames: [[UInt8]]) throws {
        for (index, frame) in frames.enumerated() {
            try send(frame, more: index < frames.count - 1)
        }
    }

    /// Sends one frame of `count` bytes that `fill` writes straight into a libzmq message, which
    /// libzmq then owns and sends from: no copy of the bytes after `fill`, unlike `send`, which
    /// copies its buffer into a new message. Throws ZMQError with EAGAIN when a send timeout expires.
    func sendMessage(count: Int, fill: (UnsafeMutableRawBufferPointer) throws -> Void) throws {
        let socket = try open("send")
        var message = zmq_msg_t()
        try check(zmq_msg_init_size(&message, count), "allocate a \(count)-byte message")
        var sent = false
        defer { if !sent { zmq_msg_close(&message) } }
        try fill(UnsafeMutableRawBufferPointer(start: zmq_msg_data(&message), count: count))
        try check(zmq_msg_send(&message, socket, 0), "send")
        sent = true   // libzmq took the message and will free it
    }

    /// Receives one frame and lends its bytes to `body` for the duration of the call, without
    /// copying them out of libzmq's message; nil when the receive timeout expires first.
    func withReceivedMessage<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) throws -> Result? {
        let socket = try open("receive")
        var message = zmq_msg_t()
        zmq_msg_init(&message)
        defer { zmq_msg_close(&message) }
        do {
            try check(zmq_msg_recv(&message, socket, 0), "receive")
        } catch let error as ZMQError where error.errno == EAGAIN {
            return nil
        }
        return try body(UnsafeRawBufferPointer(start: zmq_msg_data(&message), count: zmq_msg_size(&message)))
    }

    /// Receives one frame; nil when the receive timeout expires first.
    public func receive() throws -> [UInt8]? {
        try receiveFrame()?.bytes
    }

    /// Receives every frame of one message; nil when the receive timeout expires first.
    public func receiveMultipart() throws -> [[UInt8]]? {
        guard var frame = try receiveFrame() else { return nil }
        var frames = [frame.bytes]
        while frame.more {
            // libzmq delivers multipart messages atomically, so the rest is already here.
            guard let next = try receiveFrame() else {
                throw ZMQError(errno: EAGAIN, operation: "receive the rest of a multipart message")
            }
            frame = next
            frames.append(frame.bytes)
        }
        return frames
    }

    private func receiveFrame() throws -> (bytes: [UInt8], more: Bool)? {
        let socket = try open("receive")
        var message = zmq_msg_t()
        zmq_msg_init(&message)
        defer { zmq_msg_close(&message) }
        do {
            try check(zmq_msg_recv(&message, socket, 0), "receive")
        } catch let error as ZMQError where error.errno == EAGAIN {
            return nil
        }
        let size = zmq_msg_size(&message)
        var bytes = [UInt8](repeating: 0, count: size)
        if size > 0, let data = zmq_msg_data(&message) {
            bytes.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(start: data, count: size)) }
        }
        return (bytes, zmq_msg_more(&message) != 0)
    }
}

/// Why a connection's security handshake failed, as libzmq's socket monitor reports it.
public enum HandshakeFailure: Sendable, Equatable {
    /// The peer's authenticator refused this side (a ZAP status code such as 400).
    case refused(status: Int)
    /// The handshake broke off: for CURVE, usually the wrong server key.
    case protocolError(code: Int)
    /// The handshake failed without a reason.
    case unspecified
}

/// Watches a socket's security handshakes (libzmq's socket monitor over inproc), so a client that
/// is turned away can say why instead of waiting for an answer that will not come.
public final class HandshakeMonitor {
    let socket: ZMQSocket

    /// Starts monitoring `watched`; `name` makes the inproc endpoint unique in its context.
    public init(_ watched: ZMQSocket, name: String) throws {
        let endpoint = "inproc://monitor-\(name)"
        let events = ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
        try watched.startMonitor(endpoint, events: events)
        socket = try ZMQSocket(context: watched.context, type: .pair)
        try socket.setOption(.receiveTimeout(0))
        try socket.connect(endpoint)
    }

    /// The first handshake failure seen since the last call, if any (never blocks).
    public func failure() throws -> HandshakeFailure? {
        while let frames = try socket.receiveMultipart() {
            guard let first = frames.first, first.count >= 6 else { continue }
            let event = Int32(UInt16(first[0]) | UInt16(first[1]) << 8)
            let value = Int(UInt32(first[2]) | UInt32(first[3]) << 8 | UInt32(first[4]) << 16 | UInt32(first[5]) << 24)
            switch event {
            case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH: return .refused(status: value)
            case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL: return .protocolError(code: value)
            case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL: return .unspecified
            default: continue
            }
        }
        return nil
    }

    deinit { socket.close() }
}

extension ZMQSocket {
    /// Publishes `events` of this socket on the inproc `endpoint` (zmq_socket_monitor).
    func startMonitor(_ endpoint: String, events: Int32) throws {
        let socket = try open("monitor \(endpoint)")
        try check(zmq_socket_monitor(socket, endpoint, events), "monitor \(endpoint)")
    }
}

/// CURVE (elliptic-curve) authentication and encryption keys.
public enum Curve {
    /// Whether this libzmq was built with CURVE support.
    public static var hasCurve: Bool { zmq_has("curve") == 1 }

    /// A new keypair, each key in Z85 text (40 characters).
    public static func keypair() throws -> (publicKey: String, secretKey: String) {
        // Z85 keys are 40 characters plus the terminator libzmq writes.
        var publicKey = [CChar](repeating: 0, count: 41)
        var secretKey = [CChar](repeating: 0, count: 41)
        try check(zmq_curve_keypair(&publicKey, &secretKey), "generate CURVE keypair")
        return (text(publicKey), text(secretKey))
    }
}

/// The NUL-terminated C string in `buffer`.
private func text(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
