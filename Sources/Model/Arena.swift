/// One contiguous, 64-byte-aligned block of Float32, owned by a model: its parameters, or
/// their gradients in the same layout.
///
/// Averaging gradients is then one call on one buffer, and a checksum of the block proves two
/// processes hold the same weights.
public final class Arena: @unchecked Sendable {
    public let buffer: UnsafeMutableBufferPointer<Float>
    public var count: Int { buffer.count }
    public var base: UnsafeMutablePointer<Float> { buffer.baseAddress! }

    public init(count: Int) {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
        let pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
        buffer = UnsafeMutableBufferPointer(start: pointer, count: count)
    }

    deinit { UnsafeMutableRawPointer(buffer.baseAddress!).deallocate() }

    public func zero() { base.update(repeating: 0, count: count) }

    /// Pointer to a layout entry's first element.
    public subscript(entry: ParameterLayout.Entry) -> UnsafeMutablePointer<Float> { base + entry.offset }

    /// A copy of one entry's values.
    public func values(_ entry: ParameterLayout.Entry) -> [Float] {
        Array(UnsafeBufferPointer(start: base + entry.offset, count: entry.count))
    }

    /// FNV-1a over the raw bytes: equal exactly when the floats are bit-identical.
    public func checksum() -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        let words = UnsafeRawPointer(base).bindMemory(to: UInt32.self, capacity: count)
        for i in 0..<count {
            hash = (hash ^ UInt64(words[i])) &* 0x0000_0100_0000_01B3
        }
        return hash
    }
}
