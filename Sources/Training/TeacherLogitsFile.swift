import Collective
import Foundation
import Model
#if canImport(Glibc)
import Glibc
#endif

/// A teacher pass's logits on disk, memory-mapped: written shard by shard, each shard checksummed,
/// so an interrupted pass resumes where it stopped and a damaged shard is computed again.
///
/// Layout (little-endian):
///   header, 64 bytes: magic "EDTLOGIT", version (u32), classes K (u32), examples N (u64), shards S (u64),
///                     fingerprint (u64, `TeacherPass.fingerprint`), batch size (u32), padding;
///   shard table, S x 8 bytes: CRC-32C of the shard's values (u32), 1 when written (u32);
///   values from the next multiple of 64: (N, K) float32 in the plan's order (position p = example order[p]).
/// A shard's values are written and flushed before its table entry says so.
public final class TeacherLogitsFile {
    public let path: String
    public let plan: TeacherPassPlan
    public let classes: Int
    private let mapping: UnsafeMutableRawPointer
    private let size: Int
    private let valuesOffset: Int
    /// position[example]: where each example's row is stored.
    private let position: [Int32]
    private var done: [Bool]

    static let magic = Array("EDTLOGIT".utf8)
    static let version: UInt32 = 1
    static let headerSize = 64

    /// Opens `path` for this plan and fingerprint, keeping the shards already written there whose
    /// checksums hold; a missing file, or one written for other inputs, starts empty.
    public init(path: String, plan: TeacherPassPlan, classes: Int, fingerprint: UInt64) throws {
        self.path = path
        self.plan = plan
        self.classes = classes
        let shards = plan.shards.count
        valuesOffset = (Self.headerSize + shards * 8 + 63) / 64 * 64
        size = valuesOffset + plan.count * classes * 4
        var position = [Int32](repeating: 0, count: plan.count)
        for (p, example) in plan.order.enumerated() { position[example] = Int32(p) }
        self.position = position
        done = [Bool](repeating: false, count: shards)

        let descriptor = open(path, O_RDWR | O_CREAT, 0o644)
        guard descriptor >= 0 else { throw ModelError(file: path, "cannot open the teacher-logits file: \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw ModelError(file: path, "cannot stat: \(String(cString: strerror(errno)))") }
        let existing = Int(status.st_size)
        guard ftruncate(descriptor, off_t(size)) == 0 else {
            throw ModelError(file: path, "cannot size the teacher-logits file to \(size) bytes: \(String(cString: strerror(errno)))")
        }
        guard let mapped = mmap(nil, max(size, 1), PROT_READ | PROT_WRITE, MAP_SHARED, descriptor, 0), mapped != MAP_FAILED else {
            throw ModelError(file: path, "cannot map the teacher-logits file: \(String(cString: strerror(errno)))")
        }
        mapping = mapped

        // Keep what a previous pass of the same inputs wrote, shard by verified shard.
        let expected = header(fingerprint: fingerprint)
        let matches = existing == size && memcmp(mapping, expected, Self.headerSize) == 0
        if matches {
            for s in 0..<shards {
                let (crc, written) = table(s)
                done[s] = written == 1 && crc == checksum(shard: s)
            }
        } else {
            memset(mapping, 0, valuesOffset)
            _ = expected.withUnsafeBytes { memcpy(mapping, $0.baseAddress!, Self.headerSize) }
            try flush(0..<valuesOffset)
        }
    }

    deinit { munmap(mapping, max(size, 1)) }

    private func header(fingerprint: UInt64) -> [UInt8] {
        var bytes = Self.magic
        func append<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
        append(Self.version); append(UInt32(classes)); append(UInt64(plan.count)); append(UInt64(plan.shards.count))
        append(fingerprint); append(UInt32(plan.batchSize))
        return bytes + [UInt8](repeating: 0, count: Self.headerSize - bytes.count)
    }

    private func table(_ s: Int) -> (crc: UInt32, written: UInt32) {
        let entry = mapping + Self.headerSize + s * 8
        return (UInt32(littleEndian: entry.loadUnaligned(as: UInt32.self)), UInt32(littleEndian: (entry + 4).loadUnaligned(as: UInt32.self)))
    }

    private func values(ofShard s: Int) -> UnsafeMutableRawBufferPointer {
        let range = plan.shards[s]
        return UnsafeMutableRawBufferPointer(start: mapping + valuesOffset + range.lowerBound * classes * 4, count: range.count * classes * 4)
    }

    private func checksum(shard s: Int) -> UInt32 { CRC32C.checksum(UnsafeRawBufferPointer(values(ofShard: s))) }

    /// Writes `bytes` of the mapping back to the file (page-aligned, as msync needs).
    private func flush(_ bytes: Range<Int>) throws {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = bytes.lowerBound / page * page
        guard msync(mapping + start, bytes.upperBound - start, MS_SYNC) == 0 else {
            throw ModelError(file: path, "cannot write the teacher logits: \(String(cString: strerror(errno)))")
        }
    }

    /// Shards not yet written (or whose checksum failed).
    public var pendingShards: [Int] { done.indices.filter { !done[$0] } }
    public var isComplete: Bool { done.allSatisfy { $0 } }

    /// Stores shard `s`'s logits, (shard size, K) in the plan's order, then marks it written.
    public func write(shard s: Int, logits: [Float]) throws {
        let target = values(ofShard: s)
        guard logits.count * 4 == target.count else {
            throw ModelError(file: path, "shard \(s) needs \(target.count / 4) logits, got \(logits.count)")
        }
        guard logits.allSatisfy(\.isFinite) else { throw ModelError(file: path, "shard \(s): the teacher gave a non-finite logit") }
        _ = logits.withUnsafeBytes { memcpy(target.baseAddress!, $0.baseAddress!, target.count) }
        let start = target.baseAddress! - mapping
        try flush(start..<(start + target.count))
        let entry = mapping + Self.headerSize + s * 8
        entry.storeBytes(of: checksum(shard: s).littleEndian, as: UInt32.self)
        (entry + 4).storeBytes(of: UInt32(1).littleEndian, as: UInt32.self)
        try flush((Self.headerSize + s * 8)..<(Self.headerSize + s * 8 + 8))
        done[s] = true
    }

    /// The logits (n, K) of `examples`, read from the mapping; the pass must be complete.
    public func logits(_ examples: [Int]) -> [Float] {
        precondition(isComplete, "the teacher pass is not complete")
        let base = (mapping + valuesOffset).assumingMemoryBound(to: Float.self)
        var out = [Float](repeating: 0, count: examples.count * classes)
        for (row, example) in examples.enumerated() {
            let source = base + Int(position[example]) * classes
            for k in 0..<classes { out[row * classes + k] = source[k] }
        }
        return out
    }

    /// Deletes the file (the run is over and its logits are not to be kept).
    public func remove() { try? FileManager.default.removeItem(atPath: path) }
}
