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
    /// `allReduceSum` with the values on the wire in `precision`: in bf16 each hop sends its running
    /// sum rounded to bf16 (half the bytes) and sums are formed in fp32; the result, rounded to bf16
    /// once by the rank that finished it, is bit-identical on every rank.
    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>, precision: WirePrecision) throws
    /// The first half of `allReduceSum`: afterwards this rank's chunk of `buffer`
    /// (`RingPartition.owned(rank:worldSize:count:)`) holds the sum over all ranks, as
    /// `allReduceSum` would leave it before rounding (bf16: fp32 sums of bf16 pieces); the other
    /// chunks hold partial sums. Half the bytes of an all-reduce.
    func reduceScatterSum(_ buffer: UnsafeMutableBufferPointer<Float>, precision: WirePrecision) throws
    /// The second half of `allReduceSum`: every rank's own chunk of `buffer` is copied to all the
    /// others, exactly (fp32). Half the bytes of an all-reduce.
    func allGather(_ buffer: UnsafeMutableBufferPointer<Float>) throws
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

    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>, precision: WirePrecision) throws {}

    public func reduceScatterSum(_ buffer: UnsafeMutableBufferPointer<Float>, precision: WirePrecision) throws {}

    public func allGather(_ buffer: UnsafeMutableBufferPointer<Float>) throws {}

    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {
        // A root that does not exist is a caller bug on one node as on many; say so here too.
        guard root == 0 else { throw CollectiveError.invalidRoot(root, worldSize: 1) }
    }

    public func barrier() throws {}
}

/// How gradient values travel between ranks.
public enum WirePrecision: String, Codable, Sendable, CaseIterable {
    /// 4 bytes per value, exact.
    case fp32
    /// 2 bytes per value: the upper half of the fp32 bit pattern, rounded to nearest even.
    case bf16

    public var bytesPerValue: Int { self == .fp32 ? 4 : 2 }

    /// `value` rounded to the nearest bf16 (ties to even), as an fp32. NaN stays NaN.
    @inline(__always)
    public static func roundedToBF16(_ value: Float) -> Float {
        let bits = value.bitPattern
        if value.isNaN { return Float(bitPattern: (bits | 0x0040_0000) & 0xFFFF_0000) }
        let rounded = bits &+ 0x7FFF &+ ((bits >> 16) & 1)
        return Float(bitPattern: rounded & 0xFFFF_0000)
    }
}
