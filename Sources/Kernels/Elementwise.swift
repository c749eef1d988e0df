// Shapes: N elements, any layout.

/// out += inp, element-wise (residual connections).
public func add(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, count: Int) {
    parallelFor(count) { range in
        for i in range { out[i] += inp[i] }
    }
}

/// out = 0 over `count` floats, split over the threads (a serial memset leaves the others idle).
public func zero(_ out: UnsafeMutablePointer<Float>, count: Int) {
    parallelFor(count, minimumPerThread: 1 << 16) { range in
        (out + range.lowerBound).update(repeating: 0, count: range.count)
    }
}
