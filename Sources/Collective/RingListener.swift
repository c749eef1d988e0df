/// The bound receiving end of one ring rank: a PULL socket its left neighbour will connect to.
///
/// Separate from `RingCommunicator` so a rank can bind first (for instance to
/// `tcp://10.0.0.5:*`, letting the OS choose a free port), publish `endpoint` to the others,
/// and wire the ring once it knows every rank's endpoint.
public final class RingListener {
    /// The context the ring's sockets belong to; inproc endpoints only reach sockets of the
    /// same context.
    public let context: ZMQContext
    /// The endpoint actually bound: for a `tcp://host:*` request, with the port the OS chose.
    public let endpoint: String
    let socket: ZMQSocket

    /// Binds a PULL socket to `endpoint` (`tcp://host:port`, `tcp://host:*`, `ipc://path` or
    /// `inproc://name`). With `curveSecretKey` the socket is a CURVE server: the left neighbour
    /// must connect with this rank's public key, and the context's ZAP handler decides whom to admit.
    public init(context: ZMQContext, endpoint: String, curveSecretKey: String? = nil) throws {
        self.context = context
        socket = try ZMQSocket(context: context, type: .pull)
        // Both options apply to connections accepted after bind, so they are set before it.
        try socket.setOption(.receiveHighWaterMark(RingCommunicator.queueLength))
        // Anything larger than the largest frame any ring configuration sends is dropped by
        // libzmq before it allocates it: a stray client cannot make a rank allocate gigabytes.
        try socket.setOption(.maximumMessageSize(Int64(RingCommunicator.largestFrame)))
        if let curveSecretKey {
            try socket.setOption(.curveServer(true))
            try socket.setOption(.curveSecretKey(curveSecretKey))
        }
        try socket.bind(endpoint)
        self.endpoint = try socket.lastEndpoint
    }

    /// Closes the socket; the port is free again once this returns. A communicator wired
    /// with this listener uses the same socket, so close the communicator instead.
    public func close() {
        socket.close()
    }
}
