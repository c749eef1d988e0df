import Kernels
import Model

/// AdamW over a model's parameter arena, as PyTorch's `torch.optim.AdamW` (decoupled weight decay,
/// bias-corrected moments), with one addition: lazy updates of the word-embedding matrix.
///
/// Lazy mode (`lazyEmbeddings`): a batch touches about a hundred of the 30,522 word-embedding
/// rows, yet dense AdamW would read and write all of them and their two moments every step. In lazy
/// mode only the rows the batch used are updated (their moments decay only when they are used, as
/// in TensorFlow's LazyAdam); every other parameter is updated densely. The first and second
/// moments live in two more arenas in the parameter layout.
public final class AdamW {
    public var learningRate: Float
    public let beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float
    public let lazyEmbeddings: Bool
    public internal(set) var step = 0
    let m: Arena, v: Arena

    public init(model: SequenceClassifier, learningRate: Float = 5e-5, beta1: Float = 0.9, beta2: Float = 0.999,
                epsilon: Float = 1e-8, weightDecay: Float = 0.01, lazyEmbeddings: Bool = false) {
        self.learningRate = learningRate
        self.beta1 = beta1; self.beta2 = beta2; self.epsilon = epsilon; self.weightDecay = weightDecay
        self.lazyEmbeddings = lazyEmbeddings
        m = Arena(count: model.layout.count)
        v = Arena(count: model.layout.count)
    }

    /// Applies one update from the model's accumulated gradients.
    public func update(_ model: SequenceClassifier) {
        step += 1
        let words = model.layout["embeddings.word_embeddings.weight"]!
        let c = model.config.hiddenSize
        if lazyEmbeddings {
            for row in model.touchedEmbeddingRows {
                apply(model, range: (words.offset + Int(row) * c)..<(words.offset + Int(row + 1) * c))
            }
            apply(model, range: (words.offset + words.count)..<model.layout.count)
        } else {
            apply(model, range: 0..<model.layout.count)
        }
    }

    @inline(__always)
    private func apply(_ model: SequenceClassifier, range: Range<Int>) {
        let p = model.parameters.base, g = model.gradients.base, m = m.base, v = v.base
        let (b1, b2, lr, eps) = (beta1, beta2, learningRate, epsilon)
        let correction1 = 1 - pow(b1, Float(step)), correction2 = 1 - pow(b2, Float(step))
        let decay = 1 - lr * weightDecay
        let stepSize = lr / correction1
        let rootCorrection2 = correction2.squareRoot()
        parallelFor(range.count, minimumPerThread: 16384) { part in
            var i = range.lowerBound + part.lowerBound
            let end = range.lowerBound + part.upperBound
            // Eight lanes at a time: the same IEEE operations in the same order as the scalar
            // tail (no contraction into FMA), so the result does not depend on alignment or split.
            typealias Lanes = SIMD8<Float>
            while i + Lanes.scalarCount <= end {
                let grad = UnsafeRawPointer(g + i).loadUnaligned(as: Lanes.self)
                let mi = b1 * UnsafeRawPointer(m + i).loadUnaligned(as: Lanes.self) + (1 - b1) * grad
                let vi = b2 * UnsafeRawPointer(v + i).loadUnaligned(as: Lanes.self) + (1 - b2) * grad * grad
                UnsafeMutableRawPointer(m + i).storeBytes(of: mi, as: Lanes.self)
                UnsafeMutableRawPointer(v + i).storeBytes(of: vi, as: Lanes.self)
                let old = UnsafeRawPointer(p + i).loadUnaligned(as: Lanes.self)
                let new = old * decay - stepSize * mi / (vi.squareRoot() / rootCorrection2 + eps)
                UnsafeMutableRawPointer(p + i).storeBytes(of: new, as: Lanes.self)
                i += Lanes.scalarCount
            }
            while i < end {
                let grad = g[i]
                let mi = b1 * m[i] + (1 - b1) * grad
                let vi = b2 * v[i] + (1 - b2) * grad * grad
                m[i] = mi; v[i] = vi
                p[i] = p[i] * decay - stepSize * mi / (vi.squareRoot() / rootCorrection2 + eps)
                i += 1
            }
        }
    }
}

@inline(__always)
func pow(_ x: Float, _ y: Float) -> Float {
    var r: Float = 1
    var i = Int(y)
    var b = x
    while i > 0 { if i & 1 == 1 { r *= b }; b *= b; i >>= 1 }
    return r
}
