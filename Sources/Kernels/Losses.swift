#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

// Shapes: B examples, K classes. Both losses are batch means, as PyTorch's defaults
// (`cross_entropy` mean, `kl_div(reduction="batchmean")`). Each returns the loss and, when given a
// gradient buffer, accumulates weight * d(loss)/d(logits) into it (so losses can be mixed).

/// Cross-entropy of logits against integer labels.
public func crossEntropy(
    logits: UnsafePointer<Float>,              // (B, K)
    labels: UnsafePointer<Int32>,              // (B)
    batch: Int, classes: Int,
    gradient: UnsafeMutablePointer<Float>? = nil, weight: Float = 1  // (B, K), accumulated
) -> Float {
    var total = 0.0
    var p = [Double](repeating: 0, count: classes)
    for b in 0..<batch {
        let row = logits + b * classes
        logSoftmax(row, classes: classes, temperature: 1, into: &p)
        let label = Int(labels[b])
        total -= p[label]
        if let gradient {
            let g = gradient + b * classes
            for k in 0..<classes {
                g[k] += weight * Float((exp(p[k]) - (k == label ? 1 : 0)) / Double(batch))
            }
        }
    }
    return Float(total / Double(batch))
}

/// T^2 * KL(softmax(teacher/T) || softmax(student/T)), the distillation term; gradient w.r.t. the
/// student's logits is T/B * (softmax(student/T) - softmax(teacher/T)).
public func distillationKL(
    student: UnsafePointer<Float>,             // (B, K)
    teacher: UnsafePointer<Float>,             // (B, K)
    batch: Int, classes: Int, temperature: Float,
    gradient: UnsafeMutablePointer<Float>? = nil, weight: Float = 1  // (B, K), accumulated
) -> Float {
    var total = 0.0
    let t = Double(temperature)
    var ls = [Double](repeating: 0, count: classes), lt = ls
    for b in 0..<batch {
        logSoftmax(student + b * classes, classes: classes, temperature: t, into: &ls)
        logSoftmax(teacher + b * classes, classes: classes, temperature: t, into: &lt)
        for k in 0..<classes { total += exp(lt[k]) * (lt[k] - ls[k]) }
        if let gradient {
            let g = gradient + b * classes
            for k in 0..<classes {
                g[k] += weight * Float(t / Double(batch) * (exp(ls[k]) - exp(lt[k])))
            }
        }
    }
    return Float(t * t * total / Double(batch))
}

/// Row-wise log-softmax of logits / T in Float64 (K is tiny; accuracy is free here).
@inline(__always)
func logSoftmax(_ row: UnsafePointer<Float>, classes: Int, temperature: Double, into out: inout [Double]) {
    var m = -Double.infinity
    for k in 0..<classes { m = max(m, Double(row[k]) / temperature) }
    var s = 0.0
    for k in 0..<classes { s += exp(Double(row[k]) / temperature - m) }
    let l = log(s) + m
    for k in 0..<classes { out[k] = Double(row[k]) / temperature - l }
}

/// Softmax probabilities of each row (for predictions and metrics).
public func softmaxRows(_ logits: [Float], classes: Int) -> [Float] {
    var out = [Float](repeating: 0, count: logits.count)
    var p = [Double](repeating: 0, count: classes)
    logits.withUnsafeBufferPointer { l in
        for b in 0..<(logits.count / max(classes, 1)) {
            logSoftmax(l.baseAddress! + b * classes, classes: classes, temperature: 1, into: &p)
            for k in 0..<classes { out[b * classes + k] = Float(exp(p[k])) }
        }
    }
    return out
}
