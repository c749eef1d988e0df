import Foundation
import Kernels
import Model

/// AdamW over a model's parameter arena, as PyTorch's `torch.optim.AdamW` (decoupled weight decay,
/// bias-corrected moments; with weight decay 0 it is `torch.optim.Adam`).
///
/// Lazy word embeddings (`lazyEmbeddings`): a batch uses about 1% of the 30,522 word-embedding
/// rows, yet dense AdamW reads and writes every row and both its moments each step. Dense Adam also
/// keeps moving a row for many steps after its last gradient: the first moment decays by beta1 per
/// step, so one gradient moves a row about ten steps' worth in all. Skipping those steps (TensorFlow's
/// LazyAdam) would make rare words learn several times slower than in the reference, so the steps a
/// row sits out are applied later instead, when it is next needed:
/// - before a forward pass uses it (`bringUpToDate(_:rows:)`),
/// - when its next gradient arrives (`update`),
/// - for every row before the weights are read as a whole (`bringAllUpToDate`: evaluation,
///   checkpoints, exchanges between workers, checksums).
///
/// Each row records the step of its last gradient (τ; its moments are stored as they were then)
/// and the step its weights have been brought to. A step s it sat out is
/// dense AdamW's step with a zero gradient:
///
///     m_s = m_τ β1^(s-τ),   v_s = v_τ β2^(s-τ)
///     p_s = p_(s-1) (1 - lr_s wd) - lr_s / (1 - β1^s) · m_s / (sqrt(v_s / (1 - β2^s)) + eps)
///
/// with the powers taken from tables. Once β1^(s-τ) < 1e-12 (`horizon`, 263 steps at β1 = 0.9)
/// only the weight decay remains: what the moment would still add is below 1e-10 · lr per weight,
/// and runs cut at 263 and at 1,000 steps give the same bits. (A cut at 1e-6, 132 steps, moved
/// weights by a fraction of a rounding step, and that was enough for a 500-step run to drift from
/// dense Adam's and PyTorch's trajectory after 236 steps: `scripts/peer_trajectory.py`.)
///
/// Every step is computed from (τ, s) alone, so bringing a row up to date in several pieces gives
/// bit for bit the weights of doing it once: where and how often rows are caught up changes nothing,
/// and workers and resumed runs stay bit-identical. Rows that get a gradient every step are updated
/// exactly as dense AdamW updates them; the others agree with it to float rounding (tested).
public final class AdamW {
    public var learningRate: Float
    public let beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float
    /// The betas as given (PyTorch keeps them as Python floats, i.e. Double), for the bias corrections
    /// and the moments' (1 - β) weights, which are computed in Double and rounded once, as PyTorch does.
    /// (In Float, 1 - β2 is off by 1.3e-5 relative and 1 - β2^s by about as much: a systematic error in
    /// every update, enough to make a run drift measurably from PyTorch's; `scripts/peer_trajectory.py`.)
    let exactBeta1: Double, exactBeta2: Double
    let oneMinusBeta1: Float, oneMinusBeta2: Float
    public let lazyEmbeddings: Bool
    public private(set) var step = 0
    let m: Arena, v: Arena

    /// Steps after a row's last gradient during which its moment still moves it (β1^horizon < 1e-12).
    public let horizon: Int
    /// Per word-embedding row: the step of its last gradient, and the step its weights are current to.
    /// (Raw buffers: rows are caught up on several threads at once, each row by one thread.)
    let touched: UnsafeMutableBufferPointer<Int32>, current: UnsafeMutableBufferPointer<Int32>
    /// Per step s (index s; index 0 unused): lr_s / (1 - β1^s), sqrt(1 - β2^s) and 1 - lr_s · wd.
    var stepSizes: [Float] = [0], rootCorrections: [Float] = [1], decays: [Float] = [1]
    /// Per age j = s - τ: β1^j (0 beyond the horizon), β2^j and β2^(j/2).
    var beta1Powers: [Float] = [], beta2Powers: [Float] = [], beta2Roots: [Float] = []

    let words: (offset: Int, rows: Int, width: Int)

    public init(model: SequenceClassifier, learningRate: Float = 5e-5, beta1: Double = 0.9, beta2: Double = 0.999,
                epsilon: Float = 1e-8, weightDecay: Float = 0.01, lazyEmbeddings: Bool = false) {
        self.learningRate = learningRate
        self.beta1 = Float(beta1); self.beta2 = Float(beta2); self.epsilon = epsilon; self.weightDecay = weightDecay
        exactBeta1 = beta1; exactBeta2 = beta2
        oneMinusBeta1 = Float(1 - beta1); oneMinusBeta2 = Float(1 - beta2)
        self.lazyEmbeddings = lazyEmbeddings
        m = Arena(count: model.layout.count)
        v = Arena(count: model.layout.count)
        let table = model.layout["embeddings.word_embeddings.weight"]!
        words = (table.offset, table.shape[0], table.count / table.shape[0])
        horizon = beta1 > 0 && beta1 < 1 ? Int((Foundation.log(1e-12) / Foundation.log(beta1)).rounded(.up)) : 0
        let rows = lazyEmbeddings ? words.rows : 0
        touched = .allocate(capacity: rows); touched.initialize(repeating: 0)
        current = .allocate(capacity: rows); current.initialize(repeating: 0)
        growPowers(to: horizon + 1)
    }

    deinit {
        touched.deallocate()
        current.deallocate()
    }

    /// Per word-embedding row (lazy mode), the step of its last gradient (0: none yet).
    public var touchedAt: [Int32] { Array(touched) }

    /// Applies one update from the model's accumulated gradients. With `only`, the parameters outside
    /// the word embeddings are updated on those ranges alone (a sharded optimizer's own share; the
    /// rest of the moments are never touched); the word embeddings always in full.
    public func update(_ model: SequenceClassifier, only owned: [Range<Int>]? = nil) {
        step += 1
        let correction1 = 1 - Foundation.pow(exactBeta1, Double(step))
        let correction2 = 1 - Foundation.pow(exactBeta2, Double(step))
        stepSizes.append(Float(Double(learningRate) / correction1))
        rootCorrections.append(Float(correction2.squareRoot()))
        decays.append(1 - learningRate * weightDecay)
        let wordRange = words.offset..<(words.offset + words.rows * words.width)
        let dense = owned ?? [0..<words.offset, wordRange.upperBound..<model.layout.count]
        guard lazyEmbeddings else {
            adamStep(model, range: wordRange)
            for range in dense where !range.isEmpty { adamStep(model, range: range) }
            return
        }
        let rows = model.touchedEmbeddingRows
        growPowers(to: step + 1)
        parallelFor(rows.count, minimumPerThread: 8) { part in
            for row in rows[part].lazy.map(Int.init) {
                catchUp(model, row: row, to: step - 1)
                let age = step - 1 - Int(touched[row])
                let start = words.offset + row * words.width
                adamStep(model, range: start..<(start + words.width),
                         decayed1: beta1Powers[age], decayed2: beta2Powers[age])
                touched[row] = Int32(step)
                current[row] = Int32(step)
            }
        }
        for range in dense where !range.isEmpty { adamStep(model, range: range) }
    }

    /// Forgets the moments on `ranges` (a sharded optimizer's share of other workers), giving their
    /// memory back (`Arena.release`).
    public func release(_ ranges: [Range<Int>]) {
        for range in ranges {
            m.release(range)
            v.release(range)
        }
    }

    /// Brings these word-embedding rows up to the current step (before a forward pass reads them).
    public func bringUpToDate<Rows: Sequence>(_ model: SequenceClassifier, rows: Rows) where Rows.Element == Int32 {
        guard lazyEmbeddings else { return }
        let stale = Set(rows.lazy.map(Int.init).filter { self.current[$0] < self.step })
        bringUpToDate(model, stale: Array(stale))
    }

    /// Brings every word-embedding row up to the current step (before the weights are read as a whole).
    public func bringAllUpToDate(_ model: SequenceClassifier) {
        guard lazyEmbeddings else { return }
        bringUpToDate(model, stale: (0..<words.rows).filter { current[$0] < step })
    }

    private func bringUpToDate(_ model: SequenceClassifier, stale: [Int]) {
        guard !stale.isEmpty else { return }
        growPowers(to: step + 1)
        parallelFor(stale.count, minimumPerThread: 8) { part in
            for row in stale[part] { catchUp(model, row: row, to: step) }
        }
    }

    /// Sets the step count after the parameters and moments were replaced (a checkpoint, another
    /// worker's state): every row is current at `step`; `touchedAt` is the rows' last-gradient steps
    /// (nil: unknown, taken as `step`).
    public func restart(at step: Int, touchedAt: [Int32]?) {
        self.step = step
        stepSizes = [Float](repeating: 0, count: step + 1)
        rootCorrections = [Float](repeating: 1, count: step + 1)
        decays = [Float](repeating: 1, count: step + 1)
        guard lazyEmbeddings else { return }
        if let touchedAt, touchedAt.count == words.rows {
            _ = touched.update(fromContentsOf: touchedAt.map { min($0, Int32(step)) })
        } else {
            touched.update(repeating: Int32(step))
        }
        current.update(repeating: Int32(step))
    }

    // MARK: - Kernels

    /// The steps row `row` sat out, from the one after its current step to `target` (zero gradient each).
    private func catchUp(_ model: SequenceClassifier, row: Int, to target: Int) {
        let current = Int(self.current[row]), touched = Int(self.touched[row])
        guard current < target else { return }
        let p = model.parameters.base + words.offset + row * words.width
        let m = m.base + words.offset + row * words.width, v = v.base + words.offset + row * words.width
        let width = words.width, eps = epsilon
        // Steps where the moment still pulls (never, for a row that has had no gradient yet).
        let pullEnd = touched == 0 ? current : min(target, touched + horizon)
        if pullEnd > current {
            let count = pullEnd - current
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 3 * count) { scratch in
                let pull = scratch.baseAddress!, root = pull + count, decay = root + count
                for k in 0..<count {
                    let s = current + 1 + k, age = s - touched
                    pull[k] = stepSizes[s] * beta1Powers[age]
                    root[k] = beta2Roots[age] / rootCorrections[s]
                    decay[k] = decays[s]
                }
                // p = p * decay - pull * m / (sqrt(v) * root + eps), i.e. dense AdamW's
                // p * decay - lr/c1 * (m β1^j) / (sqrt(v β2^j) / sqrt(c2) + eps).
                typealias Lanes = SIMD8<Float>
                var i = 0
                while i + Lanes.scalarCount <= width {
                    var pv = UnsafeRawPointer(p + i).loadUnaligned(as: Lanes.self)
                    let mv = UnsafeRawPointer(m + i).loadUnaligned(as: Lanes.self)
                    let sv = UnsafeRawPointer(v + i).loadUnaligned(as: Lanes.self).squareRoot()
                    for k in 0..<count { pv = pv * decay[k] - pull[k] * mv / (sv * root[k] + eps) }
                    UnsafeMutableRawPointer(p + i).storeBytes(of: pv, as: Lanes.self)
                    i += Lanes.scalarCount
                }
                while i < width {
                    var pi = p[i]
                    let mi = m[i], si = v[i].squareRoot()
                    for k in 0..<count { pi = pi * decay[k] - pull[k] * mi / (si * root[k] + eps) }
                    p[i] = pi
                    i += 1
                }
            }
        }
        // Beyond the horizon only the weight decay acts, one step at a time as in dense AdamW (a
        // pass over the row per step: the row stays in L1 and the lanes are independent).
        let decayStart = max(current, pullEnd)
        if weightDecay != 0, target > decayStart {
            typealias Lanes = SIMD8<Float>
            for s in (decayStart + 1)...target {
                let decay = decays[s]
                var i = 0
                while i + Lanes.scalarCount <= width {
                    let pv = UnsafeRawPointer(p + i).loadUnaligned(as: Lanes.self) * decay
                    UnsafeMutableRawPointer(p + i).storeBytes(of: pv, as: Lanes.self)
                    i += Lanes.scalarCount
                }
                while i < width { p[i] *= decay; i += 1 }
            }
        }
        self.current[row] = Int32(target)
    }

    /// Dense AdamW on `range` with this step's gradient. The stored moments are first scaled by
    /// `decayed1`/`decayed2` (β^age for a lazy row last updated `age` steps before; 1 otherwise,
    /// which leaves them exactly as they were).
    @inline(__always)
    private func adamStep(_ model: SequenceClassifier, range: Range<Int>, decayed1: Float = 1, decayed2: Float = 1) {
        let p = model.parameters.base, g = model.gradients.base, m = m.base, v = v.base
        let (b1, b2, c1, c2, eps) = (beta1, beta2, oneMinusBeta1, oneMinusBeta2, epsilon)
        let (stepSize, rootCorrection2, decay) = (stepSizes[step], rootCorrections[step], decays[step])
        parallelFor(range.count, minimumPerThread: 16384) { part in
            var i = range.lowerBound + part.lowerBound
            let end = range.lowerBound + part.upperBound
            // Eight lanes at a time: the same IEEE operations in the same order as the scalar
            // tail (no contraction into FMA), so the result does not depend on alignment or split.
            typealias Lanes = SIMD8<Float>
            while i + Lanes.scalarCount <= end {
                let grad = UnsafeRawPointer(g + i).loadUnaligned(as: Lanes.self)
                let mOld = UnsafeRawPointer(m + i).loadUnaligned(as: Lanes.self) * decayed1
                let vOld = UnsafeRawPointer(v + i).loadUnaligned(as: Lanes.self) * decayed2
                let mi = b1 * mOld + c1 * grad
                let vi = b2 * vOld + c2 * grad * grad
                UnsafeMutableRawPointer(m + i).storeBytes(of: mi, as: Lanes.self)
                UnsafeMutableRawPointer(v + i).storeBytes(of: vi, as: Lanes.self)
                let old = UnsafeRawPointer(p + i).loadUnaligned(as: Lanes.self)
                let new = old * decay - stepSize * mi / (vi.squareRoot() / rootCorrection2 + eps)
                UnsafeMutableRawPointer(p + i).storeBytes(of: new, as: Lanes.self)
                i += Lanes.scalarCount
            }
            while i < end {
                let grad = g[i]
                let mi = b1 * (m[i] * decayed1) + c1 * grad
                let vi = b2 * (v[i] * decayed2) + c2 * grad * grad
                m[i] = mi; v[i] = vi
                p[i] = p[i] * decay - stepSize * mi / (vi.squareRoot() / rootCorrection2 + eps)
                i += 1
            }
        }
    }

    /// Extends the tables of β powers to ages 0..<count.
    private func growPowers(to count: Int) {
        guard beta2Powers.count < count else { return }
        let target = max(count, 2 * beta2Powers.count)
        for age in beta2Powers.count..<target {
            beta1Powers.append(age <= horizon ? Float(Foundation.pow(exactBeta1, Double(age))) : 0)
            beta2Powers.append(Float(Foundation.pow(exactBeta2, Double(age))))
            beta2Roots.append(Float(Foundation.pow(exactBeta2, Double(age) / 2)))
        }
    }
}
