import Foundation
import XCTest
@testable import Collective

/// The ZeroMQ wrapper against real libzmq sockets over inproc and loopback TCP.
final class ZeroMQTests: XCTestCase {
    private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    func testPairRoundTripsAMultipartMessageOverInproc() throws {
        let context = try ZMQContext()
        let server = try ZMQSocket(context: context, type: .pair)
        let client = try ZMQSocket(context: context, type: .pair)
        try server.bind("inproc://pair-test")
        try client.connect("inproc://pair-test")
        try server.setOption(.receiveTimeout(5000))

        try client.sendMultipart([bytes("header"), [], [0, 255, 7]])
        XCTAssertEqual(try server.receiveMultipart(), [bytes("header"), [], [0, 255, 7]])

        try server.send(bytes("back"))
        try client.setOption(.receiveTimeout(5000))
        XCTAssertEqual(try client.receive(), bytes("back"))
    }

    func testRequestReplyOverTCPWithAnOSChosenPort() throws {
        let context = try ZMQContext()
        let reply = try ZMQSocket(context: context, type: .reply)
        try reply.bind("tcp://127.0.0.1:*")
        let endpoint = try reply.lastEndpoint
        XCTAssertTrue(endpoint.hasPrefix("tcp://127.0.0.1:"), endpoint)
        XCTAssertFalse(endpoint.hasSuffix(":*"), endpoint)

        let request = try ZMQSocket(context: context, type: .request)
        try request.connect(endpoint)
        try reply.setOption(.receiveTimeout(5000))
        try request.setOption(.receiveTimeout(5000))

        try request.send(bytes("ping"))
        XCTAssertEqual(try reply.receive(), bytes("ping"))
        try reply.send(bytes("pong"))
        XCTAssertEqual(try request.receive(), bytes("pong"))

        try request.disconnect(endpoint)
        try reply.unbind(endpoint)
    }

    func testReceiveTimeoutReturnsNil() throws {
        let context = try ZMQContext()
        let socket = try ZMQSocket(context: context, type: .pull)
        try socket.bind("inproc://silent")
        try socket.setOption(.receiveTimeout(50))
        let start = Date()
        XCTAssertNil(try socket.receive())
        XCTAssertNil(try socket.receiveMultipart())
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(start), 0.09)
    }

    func testInvalidEndpointThrowsNamingTheOperation() throws {
        let context = try ZMQContext()
        let socket = try ZMQSocket(context: context, type: .pair)
        XCTAssertThrowsError(try socket.bind("bogus://nowhere")) { error in
            guard let error = error as? ZMQError else { return XCTFail("expected ZMQError, got \(error)") }
            XCTAssertEqual(error.operation, "bind bogus://nowhere")
            XCTAssertEqual(error.errno, EPROTONOSUPPORT)
            XCTAssertTrue(error.description.contains("bind bogus://nowhere"), error.description)
        }
        XCTAssertThrowsError(try socket.connect("tcp://no-port")) { error in
            XCTAssertEqual((error as? ZMQError)?.operation, "connect tcp://no-port")
        }
    }

    func testClosedSocketThrows() throws {
        let socket = try ZMQSocket(context: try ZMQContext(), type: .push)
        socket.close()
        socket.close()
        XCTAssertThrowsError(try socket.send(bytes("x"))) { error in
            XCTAssertEqual((error as? ZMQError)?.errno, ENOTSOCK)
        }
    }

    func testPublishSubscribeFiltersByPrefix() throws {
        let context = try ZMQContext()
        let publisher = try ZMQSocket(context: context, type: .publish)
        let subscriber = try ZMQSocket(context: context, type: .subscribe)
        try publisher.bind("inproc://pubsub")
        try subscriber.connect("inproc://pubsub")
        try subscriber.setOption(.subscribe(bytes("keep")))
        // A subscription reaches the publisher asynchronously; publish until one arrives.
        var received: [UInt8]?
        for _ in 0..<40 where received == nil {
            try publisher.send(bytes("drop me"))
            try publisher.send(bytes("keep me"))
            try subscriber.setOption(.receiveTimeout(50))
            received = try subscriber.receive()
        }
        XCTAssertEqual(received, bytes("keep me"))
    }

    func testMessagesAboveTheMaximumSizeAreNotDelivered() throws {
        let context = try ZMQContext()
        let pull = try ZMQSocket(context: context, type: .pull)
        try pull.setOption(.maximumMessageSize(64))
        try pull.bind("tcp://127.0.0.1:*")
        let push = try ZMQSocket(context: context, type: .push)
        try push.connect(try pull.lastEndpoint)
        try pull.setOption(.receiveTimeout(5000))
        try push.send([UInt8](repeating: 1, count: 64))
        XCTAssertEqual(try pull.receive()?.count, 64)
        // One byte over: libzmq drops the connection instead of delivering (or allocating) it.
        try push.send([UInt8](repeating: 2, count: 65))
        try pull.setOption(.receiveTimeout(300))
        XCTAssertNil(try pull.receive())
    }

    // MARK: - CURVE

    func testCurveKeypairIsZ85() throws {
        try XCTSkipUnless(Curve.hasCurve, "libzmq built without CURVE")
        let keys = try Curve.keypair()
        XCTAssertEqual(keys.publicKey.count, 40)
        XCTAssertEqual(keys.secretKey.count, 40)
        XCTAssertNotEqual(keys.publicKey, keys.secretKey)
    }

    /// A CURVE server bound on loopback TCP, and its public key.
    private func curveServer(_ context: ZMQContext) throws -> (socket: ZMQSocket, endpoint: String, publicKey: String) {
        let keys = try Curve.keypair()
        let server = try ZMQSocket(context: context, type: .pull)
        try server.setOption(.curveServer(true))
        try server.setOption(.curveSecretKey(keys.secretKey))
        try server.bind("tcp://127.0.0.1:*")
        return (server, try server.lastEndpoint, keys.publicKey)
    }

    private func curveClient(_ context: ZMQContext, serverKey: String, endpoint: String) throws -> ZMQSocket {
        let keys = try Curve.keypair()
        let client = try ZMQSocket(context: context, type: .push)
        try client.setOption(.curveServerKey(serverKey))
        try client.setOption(.curvePublicKey(keys.publicKey))
        try client.setOption(.curveSecretKey(keys.secretKey))
        try client.connect(endpoint)
        return client
    }

    func testCurveClientWithTheServerKeyIsHeard() throws {
        try XCTSkipUnless(Curve.hasCurve, "libzmq built without CURVE")
        let context = try ZMQContext()
        let server = try curveServer(context)
        let client = try curveClient(context, serverKey: server.publicKey, endpoint: server.endpoint)
        try server.socket.setOption(.receiveTimeout(5000))
        try client.send(bytes("secret gradient"))
        XCTAssertEqual(try server.socket.receive(), bytes("secret gradient"))
    }

    func testCurveClientWithTheWrongServerKeyIsNotHeard() throws {
        try XCTSkipUnless(Curve.hasCurve, "libzmq built without CURVE")
        let context = try ZMQContext()
        let server = try curveServer(context)
        let impostorKey = try Curve.keypair().publicKey
        let client = try curveClient(context, serverKey: impostorKey, endpoint: server.endpoint)
        try server.socket.setOption(.receiveTimeout(500))
        try client.send(bytes("should not arrive"))
        XCTAssertNil(try server.socket.receive())
    }
}
