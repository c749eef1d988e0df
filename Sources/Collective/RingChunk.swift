/// The 24-byte header that opens the payload of every ring message (gradient chunk, broadcast
/// chunk, barrier token), saying exactly which part of which buffer the data after it is.
///
/// Payload layout, little-endian:
///
///     offset  size  field
///          0     4  step: ring step within the call (reduce-scatter 0..<N-1, all-gather
///                   N-1..<2N-2; the piece index for broadcast)
///          4     4  chunk: which of the N chunks of the buffer (0 for broadcast)
///          8     8  offset: first element (floats) or byte (broadcast) carried
///         16     8  total: elements or bytes in the whole buffer
///         24     n  data: the elements (4 bytes each) or bytes
///
/// The receiver knows what it expects next and compares every field, so a rank that passed a
/// buffer of another size, or cut it into other pieces, is reported instead of silently
/// mixing up elements.
struct RingChunkHeader: Equatable {
    static let size = 24

    var step: UInt32
    var chunk: UInt32
    var offset: UInt64
    var total: UInt64

    func store(to destination: UnsafeMutableRawPointer) {
        destination.storeBytes(of: step.littleEndian, toByteOffset: 0, as: UInt32.self)
        destination.storeBytes(of: chunk.littleEndian, toByteOffset: 4, as: UInt32.self)
        destination.storeBytes(of: offset.littleEndian, toByteOffset: 8, as: UInt64.self)
        destination.storeBytes(of: total.littleEndian, toByteOffset: 16, as: UInt64.self)
    }

    /// The header at the start of `payload`; nil when the payload is shorter than the header.
    static func load(from payload: UnsafeRawBufferPointer) -> RingChunkHeader? {
        guard payload.count >= size, let base = payload.baseAddress else { return nil }
        return RingChunkHeader(
            step: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 0, as: UInt32.self)),
            chunk: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4, as: UInt32.self)),
            offset: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 8, as: UInt64.self)),
            total: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 16, as: UInt64.self)))
    }
}

/// How a buffer is cut: into `parts` near-equal chunks (one per rank), and each chunk into
/// pieces of at most `maxCount` elements (one per message).
public enum RingPartition {
    /// Chunk `index` of `count` elements cut into `parts`: the first `count % parts` chunks
    /// hold one element more, so sizes differ by at most one and chunks are empty only when
    /// `count < parts`. Computed without multiplying `count`, so no size can overflow.
    static func chunk(_ index: Int, of count: Int, parts: Int) -> Range<Int> {
        let base = count / parts, extra = count % parts
        let start = index * base + min(index, extra)
        return start..<(start + base + (index < extra ? 1 : 0))
    }

    /// The chunk rank `rank` of `worldSize` holds summed after a reduce-scatter of `count` elements,
    /// and sends to every other rank in an all-gather: chunk (rank + 1) mod N.
    public static func owned(rank: Int, worldSize: Int, count: Int) -> Range<Int> {
        chunk((rank + 1) % worldSize, of: count, parts: worldSize)
    }

    /// Messages needed for `range`: at least one, so an empty chunk still sends an (empty)
    /// message. That keeps every rank's message count independent of the buffer size, which
    /// is what makes `barrier` (a ring pass over an empty buffer) wait for everyone.
    static func pieceCount(of range: Range<Int>, maxCount: Int) -> Int {
        max(1, (range.count + maxCount - 1) / maxCount)
    }

    /// Piece `index` of `range`; the last piece holds the remainder.
    static func piece(_ index: Int, of range: Range<Int>, maxCount: Int) -> Range<Int> {
        let start = min(range.upperBound, range.lowerBound + index * maxCount)
        return start..<min(range.upperBound, start + maxCount)
    }
}
