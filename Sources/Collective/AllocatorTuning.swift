import CZeroMQ

/// Keeps glibc from returning the all-reduce's message memory to the OS after every message.
///
/// Every ring piece is a libzmq message of up to `maxChunkBytes` (1 MiB): libzmq allocates the
/// incoming ones in its I/O thread and each is freed after it is added in. With glibc's defaults,
/// a freed megabyte is unmapped or trimmed off the heap at once, so the next message page-faults
/// all its pages in again: measured here, that was half the kernel time of an all-reduce (1.0 of
/// 2.1 CPU-seconds over 22 all-reduces of 64 MB). Raising the mmap and trim thresholds lets freed
/// blocks be reused. It is process-wide, set once when the first ring is wired, and costs at most
/// tens of megabytes of memory kept rather than returned.
enum AllocatorTuning {
    /// Applies the settings; only the first evaluation does anything.
    static let keepMessageMemory: Void = {
        #if os(Linux)
        // 32 MiB is glibc's largest mmap threshold on 64-bit; the trim threshold is above it so
        // the heap is not shrunk after each burst of messages either.
        _ = mallopt(M_MMAP_THRESHOLD, 32 << 20)
        _ = mallopt(M_TRIM_THRESHOLD, 128 << 20)
        #endif
    }()
}
