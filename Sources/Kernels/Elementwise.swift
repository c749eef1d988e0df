// Shapes: N elements, any layout.

/// out += inp, element-wise (residual connections).
public func add(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, count: Int) {
    parallelFor(count) { range in
        for i in range { out[i] += inp[i] }
    }
}
