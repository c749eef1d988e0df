/// A growable scratch buffer of Float32 reused across batches, so a training loop allocates only
/// when a batch is larger than every batch before it.
final class Buffer {
    private(set) var pointer: UnsafeMutablePointer<Float>
    private(set) var capacity: Int

    init(_ count: Int = 0) {
        capacity = max(count, 16)
        pointer = .allocate(capacity: capacity)
        pointer.initialize(repeating: 0, count: capacity)
    }

    deinit { pointer.deallocate() }

    /// The buffer with room for at least `count` floats (contents are not kept when it grows).
    @discardableResult
    func reserve(_ count: Int) -> UnsafeMutablePointer<Float> {
        if count > capacity {
            pointer.deallocate()
            capacity = count + count / 4
            pointer = .allocate(capacity: capacity)
            pointer.initialize(repeating: 0, count: capacity)
        }
        return pointer
    }

    var p: UnsafeMutablePointer<Float> { pointer }
}
