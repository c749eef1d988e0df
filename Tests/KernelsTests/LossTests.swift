import XCTest
import Kernels

/// `crossEntropy` and `distillationKL` (batch means) against Float64 references written here:
/// loss value, gradient vs finite differences, weight scaling, accumulation into the gradient, and
/// for KL: T^2 * KL(teacher || student) for T = 1, 2, 4, zero when student == teacher.
final class LossTests: XCTestCase {
    let lossTolerance = 1e-6        // both losses are computed in Float64 and rounded once
    let gradientTolerance = 1e-3
    let contractTolerance = 1e-6

    static func logSoftmax(_ row: ArraySlice<Double>, temperature: Double = 1) -> [Double] {
        let z = row.map { $0 / temperature }
        var top = -Double.infinity
        for v in z { top = max(top, v) }
        var total = 0.0
        for v in z { total += exp(v - top) }
        let l = log(total) + top
        return z.map { $0 - l }
    }

    /// -mean_b log softmax(logits_b)[label_b].
    static func crossEntropyReference(_ logits: [Double], _ labels: [Int32], classes: Int) -> Double {
        var total = 0.0
        for (b, label) in labels.enumerated() {
            total -= logSoftmax(logits[(b * classes)..<((b + 1) * classes)])[Int(label)]
        }
        return total / Double(labels.count)
    }

    /// T^2 / B * sum_b sum_k p_t (log p_t - log p_s), p = softmax(logits / T).
    static func klReference(_ student: [Double], _ teacher: [Double], batch: Int, classes: Int, temperature t: Double) -> Double {
        var total = 0.0
        for b in 0..<batch {
            let ls = logSoftmax(student[(b * classes)..<((b + 1) * classes)], temperature: t)
            let lt = logSoftmax(teacher[(b * classes)..<((b + 1) * classes)], temperature: t)
            for k in 0..<classes { total += exp(lt[k]) * (lt[k] - ls[k]) }
        }
        return t * t * total / Double(batch)
    }

    let shapes = [(batch: 7, classes: 5), (batch: 3, classes: 67)]

    func testCrossEntropyMatchesReference() {
        for (i, s) in shapes.enumerated() {
            let logits = randomFloats(s.batch * s.classes, seed: 1 + UInt64(i), in: -5...5)
            let labels = randomIndices(s.batch, seed: 10 + UInt64(i), below: s.classes)
            var gradient = [Float](repeating: 0, count: logits.count)
            let loss = crossEntropy(logits: logits, labels: labels, batch: s.batch, classes: s.classes, gradient: &gradient)
            let expected = Self.crossEntropyReference(widened(logits), labels, classes: s.classes)
            assertClose([loss], [expected], tolerance: lossTolerance, "cross-entropy \(s)")
            let withoutGradient = crossEntropy(logits: logits, labels: labels, batch: s.batch, classes: s.classes)
            XCTAssertEqual(withoutGradient, loss)
            let numeric = numericGradient(at: widened(logits)) { Self.crossEntropyReference($0, labels, classes: s.classes) }
            assertClose(gradient, numeric, tolerance: gradientTolerance, "cross-entropy gradient \(s)")
        }
    }

    func testCrossEntropyLargeLogitsStayFinite() {
        let (b, k) = (4, 6)
        let logits = randomFloats(b * k, seed: 20, in: -1000...1000)
        let labels = randomIndices(b, seed: 21, below: k)
        var gradient = [Float](repeating: 0, count: logits.count)
        let loss = crossEntropy(logits: logits, labels: labels, batch: b, classes: k, gradient: &gradient)
        assertClose([loss], [Self.crossEntropyReference(widened(logits), labels, classes: k)],
                    tolerance: lossTolerance, "cross-entropy of +-1000 logits")
        XCTAssertTrue(gradient.allSatisfy { $0.isFinite })
    }

    func testCrossEntropyWeightScalesAndGradientAccumulates() {
        let (b, k) = shapes[0]
        let logits = randomFloats(b * k, seed: 30, in: -5...5), labels = randomIndices(b, seed: 31, below: k)
        var unit = [Float](repeating: 0, count: logits.count)
        _ = crossEntropy(logits: logits, labels: labels, batch: b, classes: k, gradient: &unit)
        let existing = randomFloats(logits.count, seed: 32)
        var gradient = existing
        _ = crossEntropy(logits: logits, labels: labels, batch: b, classes: k, gradient: &gradient, weight: 0.3)
        assertClose(gradient, zip(existing, unit).map { Double($0) + 0.3 * Double($1) },
                    tolerance: contractTolerance, "cross-entropy weight 0.3 accumulated")
    }

    func testDistillationKLMatchesReferenceForTemperatures() {
        for (i, s) in shapes.enumerated() {
            let student = randomFloats(s.batch * s.classes, seed: 40 + UInt64(i), in: -5...5)
            let teacher = randomFloats(s.batch * s.classes, seed: 50 + UInt64(i), in: -5...5)
            for t: Float in [1, 2, 4] {
                var gradient = [Float](repeating: 0, count: student.count)
                let loss = distillationKL(student: student, teacher: teacher, batch: s.batch, classes: s.classes,
                                          temperature: t, gradient: &gradient)
                let reference = { (x: [Double]) in
                    Self.klReference(x, widened(teacher), batch: s.batch, classes: s.classes, temperature: Double(t))
                }
                assertClose([loss], [reference(widened(student))], tolerance: lossTolerance, "KL \(s) T=\(t)")
                assertClose(gradient, numericGradient(at: widened(student), reference),
                            tolerance: gradientTolerance, "KL gradient \(s) T=\(t)")
            }
        }
    }

    func testDistillationKLIsZeroForIdenticalLogits() {
        let (b, k) = shapes[0]
        let logits = randomFloats(b * k, seed: 60, in: -5...5)
        for t: Float in [1, 2, 4] {
            var gradient = [Float](repeating: 0, count: logits.count)
            let loss = distillationKL(student: logits, teacher: logits, batch: b, classes: k, temperature: t,
                                      gradient: &gradient)
            XCTAssertEqual(loss, 0, accuracy: 1e-7, "T=\(t)")
            XCTAssertLessThanOrEqual(gradient.map(abs).max() ?? 0, 1e-7, "T=\(t)")
        }
    }

    func testDistillationKLWeightScalesAndGradientAccumulates() {
        let (b, k) = shapes[0]
        let student = randomFloats(b * k, seed: 70, in: -5...5), teacher = randomFloats(b * k, seed: 71, in: -5...5)
        var unit = [Float](repeating: 0, count: student.count)
        _ = distillationKL(student: student, teacher: teacher, batch: b, classes: k, temperature: 2, gradient: &unit)
        let existing = randomFloats(student.count, seed: 72)
        var gradient = existing
        _ = distillationKL(student: student, teacher: teacher, batch: b, classes: k, temperature: 2,
                           gradient: &gradient, weight: 0.7)
        assertClose(gradient, zip(existing, unit).map { Double($0) + 0.7 * Double($1) },
                    tolerance: contractTolerance, "KL weight 0.7 accumulated")
    }
}
