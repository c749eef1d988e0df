/// Collective operations over a group of `worldSize` processes, each knowing its `rank`.
///
/// Horovod style: the trainer hands over flat buffers of floats or bytes and gets them back
/// combined; nothing here knows what a model or a gradient is. Every rank must make the same
/// calls in the same order with buffers of the same size (the implementations check the size
/// and the call count and throw rather than mix up two calls). A communicator is used from
/// one thread at a time.
public protocol Communicator: AnyObject {
    /// This process's index, 0..<worldSize.
    var rank: Int { get }
    /// How many processes take part.
    var worldSize: Int { get }
    /// Replaces `buffer` on every rank by the element-wise mean over all ranks' buffers.
    /// Every rank ends with bit-identical values. The sum is formed first, so it must fit in
    /// a Float (below about 3.4e38) for the mean to be finite.
    func allReduceMean(_ buffer: UnsafeMutableBufferPointer<Float>) throws
    /// Replaces `buffer` on every rank by the element-wise sum over all ranks' buffers.
    /// Every rank ends with bit-identical values.
    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws
    /// Copies rank `root`'s bytes into `buffer` on every other rank.
    func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws
    /// Returns only once every rank has called it.
    func barrier() throws
}

/// The single-process communicator: world size 1, so every collective leaves its buffer as
/// it is (the sum and the mean of one buffer are that buffer).
///
/// This is what training uses when no cluster is configured, so the distributed code path is
/// the only code path.
public final class LocalCommunicator: Communicator {
    public let rank = 0
    public let worldSize = 1

    public init() {}

    public func allReduceMean(_ buffer: UnsafeMutableBufferPointer<Float>) throws {}

    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {}

    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {
        // A root that does not exist is a caller bug on one node as on many; say so here too.
        guard root == 0 else { throw CollectiveError.invalidRoot(root, worldSize: 1) }
    }

    public func barrier() throws {}
}
