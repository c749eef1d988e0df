/// Why a collective operation failed, naming this rank, the peer involved and the call.
///
/// `operation` reads like "allReduceSum call 7", the per-communicator call counter that also
/// travels as each frame's sequence number, so logs from two machines can be lined up.
public enum CollectiveError: Error, CustomStringConvertible {
    /// The communicator was set up with impossible arguments.
    case invalidConfiguration(String)
    /// `broadcast` was asked for a root outside 0..<worldSize.
    case invalidRoot(Int, worldSize: Int)
    /// Nothing arrived from `peer` within the timeout: it crashed, hung, never joined, or is
    /// stuck behind another rank that did.
    case peerSilent(rank: Int, peer: Int, endpoint: String, seconds: Double, operation: String)
    /// `peer` stopped taking messages: the send queue towards it stayed full for the timeout.
    case peerNotReceiving(rank: Int, peer: Int, endpoint: String, seconds: Double, operation: String)
    /// A frame from `peer` failed validation.
    case corruptFrame(rank: Int, peer: Int, WireError, operation: String)
    /// `peer` is in a later call than this rank: the ranks did not make the same calls.
    case outOfStep(rank: Int, peer: Int, peerCall: UInt64, localCall: UInt64)
    /// `peer` sent a different kind of message than this call exchanges.
    case unexpectedMessage(rank: Int, peer: Int, received: MessageType, expected: MessageType, operation: String)
    /// A frame claimed to come from a rank that is not this rank's left neighbour.
    case unexpectedSender(rank: Int, claimed: UInt32, expected: Int, operation: String)
    /// `peer` passed a buffer of another size to the same call.
    case sizeMismatch(rank: Int, peer: Int, peerCount: UInt64, localCount: Int, operation: String)
    /// `peer` cut the buffer differently (step, chunk, offset or length disagree), e.g. because
    /// the ranks were configured with different `maxChunkBytes`.
    case chunkMismatch(rank: Int, peer: Int, detail: String, operation: String)

    public var description: String {
        switch self {
        case .invalidConfiguration(let reason):
            return "invalid communicator configuration: \(reason)"
        case .invalidRoot(let root, let worldSize):
            return "broadcast root \(root) is not a rank of a world of \(worldSize)"
        case .peerSilent(let rank, let peer, let endpoint, let seconds, let operation):
            return "rank \(rank) heard nothing from rank \(peer) (\(endpoint)) for \(format(seconds)) s during "
                + "\(operation): that rank, or one before it in the ring, has crashed, hung or never joined"
        case .peerNotReceiving(let rank, let peer, let endpoint, let seconds, let operation):
            return "rank \(rank) could not send to rank \(peer) (\(endpoint)) for \(format(seconds)) s during "
                + "\(operation): that rank is not taking messages"
        case .corruptFrame(let rank, let peer, let error, let operation):
            return "rank \(rank) received a bad frame from rank \(peer) during \(operation): \(error)"
        case .outOfStep(let rank, let peer, let peerCall, let localCall):
            return "rank \(rank) is at collective call \(localCall) but rank \(peer) sent call \(peerCall): "
                + "the ranks did not make the same sequence of collective calls"
        case .unexpectedMessage(let rank, let peer, let received, let expected, let operation):
            return "rank \(rank) expected a \(expected) message from rank \(peer) during \(operation), got \(received)"
        case .unexpectedSender(let rank, let claimed, let expected, let operation):
            return "rank \(rank) received a frame from rank \(claimed) during \(operation); only its left "
                + "neighbour, rank \(expected), sends to it"
        case .sizeMismatch(let rank, let peer, let peerCount, let localCount, let operation):
            return "rank \(rank) passed \(localCount) elements to \(operation) but rank \(peer) passed \(peerCount)"
        case .chunkMismatch(let rank, let peer, let detail, let operation):
            return "rank \(rank) and rank \(peer) split the buffer differently in \(operation): \(detail) "
                + "(do all ranks use the same maxChunkBytes?)"
        }
    }
}

private func format(_ seconds: Double) -> String {
    // Int(_:) would trap on infinity; a timeout is user input, so only whole, sane values shorten.
    guard seconds.isFinite, abs(seconds) < 1e15, seconds == seconds.rounded() else { return String(seconds) }
    return String(Int(seconds))
}
