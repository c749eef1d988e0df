/// Runs `body` over `0..<count` split into one contiguous range per thread, on OpenMP's pool
/// (the threads oneDNN's GEMMs run on, already spinning after the last GEMM). Runs inline when
/// the work is too small to be worth a fork (`count < minimumPerThread * 2`) or one thread is set.
///
/// `body` must be safe to run concurrently on disjoint ranges.
public func parallelFor(_ count: Int, minimumPerThread: Int = 4096, _ body: (Range<Int>) -> Void) {
    let threads = min(Threads.count, count / max(minimumPerThread, 1))
    if threads <= 1 {
        body(0..<count)
        return
    }
    withoutActuallyEscaping(body) { body in
        var context = ParallelContext(count: count, body: body)
        withUnsafeMutablePointer(to: &context) { pointer in
            ompFork(threads: threads, context: pointer) { raw in
                guard let context = raw?.assumingMemoryBound(to: ParallelContext.self).pointee else { return }
                let (thread, threads) = ompThread()
                let start = context.count * thread / threads, end = context.count * (thread + 1) / threads
                if start < end { context.body(start..<end) }
            }
        }
    }
}

private struct ParallelContext {
    let count: Int
    let body: (Range<Int>) -> Void
}
