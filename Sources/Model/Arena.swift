#if canImport(Glibc)
import Glibc
#endif
/// One contiguous, 64-byte-aligned block of Float32, owned by a model: its parameters, or
/// their gradients in the same layout.
///
/// Averaging gradients is then one call on one buffer, and a checksum of the block proves two
/// processes hold the same weights.
public final class Arena: @unchecked Sendable {
    public let buffer: UnsafeMutableBufferPointer<Float>
    public var count: Int { buffer.count }
    public var base: UnsafeMutablePointer<Float> { buffer.baseAddress! }

    /// Bytes mapped straight from the kernel (large arenas), or 0 for a heap allocation.
    private let mappedBytes: Int

    /// `count` zeros. A large arena (1 MiB or more) is mapped from the kernel, page-aligned, so its
    /// pages take memory only once written: Adam's moments for rows a run never uses, or for the
    /// parameters another worker updates (`TrainingOptions.shardOptimizer`), cost nothing.
    public init(count: Int) {
        let bytes = max(count, 1) * 4
        if bytes >= 1 << 20, let mapped = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
           mapped != MAP_FAILED {
            mappedBytes = bytes
            buffer = UnsafeMutableBufferPointer(start: mapped.bindMemory(to: Float.self, capacity: max(count, 1)), count: count)
        } else {
            let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
            let pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
            pointer.initialize(repeating: 0, count: max(count, 1))
            mappedBytes = 0
            buffer = UnsafeMutableBufferPointer(start: pointer, count: count)
        }
    }

    deinit {
        if mappedBytes > 0 {
            munmap(UnsafeMutableRawPointer(buffer.baseAddress!), mappedBytes)
        } else {
            UnsafeMutableRawPointer(buffer.baseAddress!).deallocate()
        }
    }

    public func zero() { base.update(repeating: 0, count: count) }

    /// Sets `range` to zeros and gives the memory of the whole pages inside it back to the system
    /// (a mapped arena), so that values this process no longer keeps cost nothing until written again.
    public func release(_ range: Range<Int>) {
        let range = range.clamped(to: 0..<count)
        guard !range.isEmpty else { return }
        guard mappedBytes > 0 else { (base + range.lowerBound).update(repeating: 0, count: range.count); return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = Int(bitPattern: base + range.lowerBound), end = Int(bitPattern: base + range.upperBound)
        let pagesStart = (start + page - 1) / page * page, pagesEnd = end / page * page
        guard pagesEnd > pagesStart else { (base + range.lowerBound).update(repeating: 0, count: range.count); return }
        // The partial pages at either end are zeroed by hand; the whole pages by the kernel.
        UnsafeMutableRawPointer(bitPattern: start)!.initializeMemory(as: UInt8.self, repeating: 0, count: pagesStart - start)
        UnsafeMutableRawPointer(bitPattern: pagesEnd)!.initializeMemory(as: UInt8.self, repeating: 0, count: end - pagesEnd)
        if madvise(UnsafeMutableRawPointer(bitPattern: pagesStart), pagesEnd - pagesStart, MADV_DONTNEED) != 0 {
            UnsafeMutableRawPointer(bitPattern: pagesStart)!.initializeMemory(as: UInt8.self, repeating: 0, count: pagesEnd - pagesStart)
        }
    }

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
