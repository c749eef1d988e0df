// Shapes: N elements. The mask is a pure function of (seed, index), so a step replays exactly
// after a resume and the same seed gives the same mask whatever the thread count. `offset` shifts
// the index: a worker computing rows r0.. of a batch passes r0 * width, so it draws the very mask
// one process computing the whole batch would draw for those rows.

/// out = inp * mask with mask[i] = 1/(1-p) with probability 1-p, else 0. out may alias inp.
public func dropoutForward(
    _ out: UnsafeMutablePointer<Float>,        // (N)
    _ mask: UnsafeMutablePointer<Float>,       // (N) saved for the backward pass
    _ inp: UnsafePointer<Float>,               // (N)
    count: Int, probability: Float, seed: UInt64, offset: Int = 0
) {
    let keep = 1 / (1 - probability)
    // Compare 24 random bits against p * 2^24.
    let threshold = UInt64(Double(probability) * 16_777_216)
    parallelFor(count) { range in
        for i in range {
            let r = splitMix64(seed &+ UInt64(offset + i) &* 0x9E37_79B9_7F4A_7C15) >> 40
            let m: Float = r < threshold ? 0 : keep
            mask[i] = m
            out[i] = inp[i] * m
        }
    }
}

/// Dropout on R rows of width W picked from a larger (N, W) buffer: row r gets the mask that
/// `dropoutForward` over the whole buffer (with the same `offset`) draws for row `rowIndices[r]`.
/// out may alias inp.
public func dropoutForwardRows(
    _ out: UnsafeMutablePointer<Float>,        // (R, W)
    _ mask: UnsafeMutablePointer<Float>,       // (R, W)
    _ inp: UnsafePointer<Float>,               // (R, W)
    rowIndices: [Int32], width: Int, probability: Float, seed: UInt64, offset: Int = 0
) {
    let keep = 1 / (1 - probability)
    let threshold = UInt64(Double(probability) * 16_777_216)
    for (r, index) in rowIndices.enumerated() {
        let origin = offset + Int(index) * width
        for j in 0..<width {
            let random = splitMix64(seed &+ UInt64(origin + j) &* 0x9E37_79B9_7F4A_7C15) >> 40
            let m: Float = random < threshold ? 0 : keep
            mask[r * width + j] = m
            out[r * width + j] = inp[r * width + j] * m
        }
    }
}

/// Dropout on row `row` of attention matrix `matrix`, over its first `count` entries (the real
/// keys), each element's mask drawn from its place in a fixed grid of `gridSide` x `gridSide` per
/// matrix: the mask of a sentence's attention then depends neither on the padded length T of its
/// batch, nor on which other sentences share the batch, nor on how many query rows are computed.
/// out may alias inp.
@inline(__always)
public func dropoutGridRow(
    _ out: UnsafeMutablePointer<Float>,        // (count)
    _ mask: UnsafeMutablePointer<Float>,       // (count)
    _ inp: UnsafePointer<Float>,               // (count)
    count: Int, matrix: Int, row: Int, probability: Float, seed: UInt64, gridSide: Int = 4096
) {
    let keep = 1 / (1 - probability)
    let threshold = UInt64(Double(probability) * 16_777_216)
    let origin = (matrix * gridSide + row) * gridSide
    for j in 0..<count {
        let r = splitMix64(seed &+ UInt64(origin + j) &* 0x9E37_79B9_7F4A_7C15) >> 40
        let m: Float = r < threshold ? 0 : keep
        mask[j] = m
        out[j] = inp[j] * m
    }
}

/// dinp = dout * mask. dinp may alias dout.
public func dropoutBackward(
    _ dinp: UnsafeMutablePointer<Float>,       // (N)
    _ dout: UnsafePointer<Float>,              // (N)
    _ mask: UnsafePointer<Float>,              // (N)
    count: Int
) {
    for i in 0..<count { dinp[i] = dout[i] * mask[i] }
}

/// A 64-bit mix with full avalanche (SplitMix64's finaliser).
@inline(__always)
public func splitMix64(_ x: UInt64) -> UInt64 {
    var z = x &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}
