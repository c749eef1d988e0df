import CKernels
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

// Shapes: N elements (any layout). The exact erf form, as transformers' "gelu" activation:
// gelu(x) = x * Phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2.

/// gelu(x) of one value (the loops below, and the int8 layer's fused epilogue).
@inline(__always)
public func gelu(_ x: Float) -> Float { 0.5 * x * (1 + fastErf(x * 0.70710678118654752)) }

/// out = gelu(inp): on the `avx512` path in C, 16 lanes at a time with the same polynomials.
public func geluForward(
    _ out: UnsafeMutablePointer<Float>,        // (N)
    _ inp: UnsafePointer<Float>,               // (N)
    count: Int, isa: ISA = .current
) {
    parallelFor(count) { range in
        if isa == .avx512 {
            edgedistill_gelu_avx512(out + range.lowerBound, inp + range.lowerBound, range.count)
            return
        }
        for i in range { out[i] = gelu(inp[i]) }
    }
}

/// dinp = dout * gelu'(inp), with gelu'(x) = Phi(x) + x * phi(x). Overwrites dinp (may alias dout,
/// but then LLVM's overlap check falls back to scalar code: pass a separate buffer on hot paths).
public func geluBackward(
    _ dinp: UnsafeMutablePointer<Float>,       // (N)
    _ dout: UnsafePointer<Float>,              // (N)
    _ inp: UnsafePointer<Float>,               // (N)
    count: Int
) {
    parallelFor(count) { range in
        for i in range {
            let x = inp[i]
            let cdf = 0.5 * (1 + fastErf(x * 0.70710678118654752))
            let pdf = fastExp(-0.5 * x * x) * 0.3989422804014327
            dinp[i] = dout[i] * (cdf + x * pdf)
        }
    }
}

extension Reference {
    /// Float64 reference of `geluForward`.
    public static func gelu(_ inp: [Double]) -> [Double] {
        inp.map { 0.5 * $0 * (1 + erf($0 / 2.0.squareRoot())) }
    }
}
