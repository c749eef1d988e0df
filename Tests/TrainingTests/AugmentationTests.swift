import Foundation
import XCTest
@testable import Training

/// Teacher-labelled variants: word-level, deterministic from the seed, drawn from the training
/// text's own words, never a copy of their original or of each other; and the loss that trains on
/// them: the soft term alone at full weight, the labelled examples' loss unchanged.
final class AugmentationTests: XCTestCase {
    let data = Dataset(texts: ["a good film", "the movie is not bad at all", "great", "it is a bad , bad movie"],
                       labels: [1, 1, 1, 0], labelNames: ["0", "1"], source: "memory")

    func testVariantsAreDeterministicWordLevelAndNeverRepeat() {
        var options = AugmentationOptions(variants: 6)
        let first = Augmentation.variants(of: data, options: options, seed: 7), again = Augmentation.variants(of: data, options: options, seed: 7)
        XCTAssertEqual(first.texts, again.texts, "same seed, same variants")
        XCTAssertNotEqual(first.texts, Augmentation.variants(of: data, options: options, seed: 8).texts)
        XCTAssertTrue(first.labels.allSatisfy { $0 == unlabelled })
        XCTAssertGreaterThan(first.count, data.count)
        XCTAssertLessThanOrEqual(first.count, data.count * 6)
        let vocabulary = Set(data.texts.flatMap { $0.split(separator: " ").map(String.init) } + ["[MASK]"])
        for text in first.texts {
            XCTAssertFalse(data.texts.contains(text), "a copy of an original: \(text)")
            XCTAssertFalse(text.isEmpty)
            XCTAssertTrue(text.split(separator: " ").allSatisfy { vocabulary.contains(String($0)) }, "a word from outside the training text: \(text)")
        }
        XCTAssertEqual(Set(first.texts).count, first.count, "no variant twice")
        // Every operation shows up: masks, n-grams (shorter runs of the original's words).
        XCTAssertTrue(first.texts.contains { $0.contains("[MASK]") })
        // Nothing to change: every variant would be its original, so none is kept.
        options = AugmentationOptions(variants: 3)
        (options.mask, options.replace, options.delete, options.ngram) = (0, 0, 0, 0)
        XCTAssertEqual(Augmentation.variants(of: data, options: options, seed: 7).count, 0)
        XCTAssertEqual(Augmentation.variants(of: data, options: AugmentationOptions(variants: 0), seed: 7).count, 0)
        var bad = AugmentationOptions(variants: -1)
        bad.mask = 0.7
        bad.replace = 0.5
        XCTAssertEqual(bad.problems.count, 2, "\(bad.problems)")
    }

    func testTeacherLabelledExamplesTrainOnTheSoftTermAlone() {
        let (t, alpha): (Double, Double) = (2, 0.3)
        let loss = DistillationLoss(temperature: Float(t), alpha: Float(alpha))
        let k = 3
        let student: [Float] = [0.2, -1.0, 0.5, 1.5, 0.1, -0.3, -0.7, 0.9, 0.0, 0.3, 0.3, -2.0]
        let teacher: [Float] = [1.0, -0.5, 0.0, 0.2, 0.4, 0.1, -1.2, 2.0, 0.5, 0.0, 1.0, -1.0]
        let labels: [Int32] = [2, unlabelled, 1, unlabelled]
        func softmax(_ x: [Double]) -> [Double] { let m = x.max()!; let e = x.map { exp($0 - m) }; let s = e.reduce(0, +); return e.map { $0 / s } }
        // The reference in Float64: per-example losses, batch mean, and the gradient by central differences.
        func total(_ s: [Double]) -> Double {
            var sum = 0.0
            for b in 0..<labels.count {
                let row = Array(s[(b * k)..<((b + 1) * k)]), teach = teacher[(b * k)..<((b + 1) * k)].map(Double.init)
                let (p, q) = (softmax(teach.map { $0 / t }), softmax(row.map { $0 / t }))
                let kl = t * t * zip(p, q).reduce(0) { $0 + $1.0 * log($1.0 / $1.1) }
                if labels[b] == unlabelled { sum += kl } else { sum += alpha * -log(softmax(row)[Int(labels[b])]) + (1 - alpha) * kl }
            }
            return sum / Double(labels.count)
        }
        let value = loss(student: student, teacher: teacher, labels: labels, classes: k)
        let s = student.map(Double.init)
        XCTAssertEqual(Double(value.total), total(s), accuracy: 1e-5)
        for i in s.indices {
            var up = s, down = s
            up[i] += 1e-4
            down[i] -= 1e-4
            XCTAssertEqual(Double(value.gradient[i]), (total(up) - total(down)) / 2e-4, accuracy: 1e-4, "gradient \(i)")
        }
        // A fully labelled batch takes the usual path, bit for bit as before.
        let labelled: [Int32] = [2, 0, 1, 1]
        let usual = loss(student: student, teacher: teacher, labels: labelled, classes: k)
        XCTAssertEqual(Double(usual.total), { () -> Double in
            var sum = 0.0
            for b in 0..<4 {
                let row = s[(b * k)..<((b + 1) * k)].map { $0 }, teach = teacher[(b * k)..<((b + 1) * k)].map(Double.init)
                let (p, q) = (softmax(teach.map { $0 / t }), softmax(row.map { $0 / t }))
                sum += alpha * -log(softmax(row)[Int(labelled[b])]) + (1 - alpha) * t * t * zip(p, q).reduce(0) { $0 + $1.0 * log($1.0 / $1.1) }
            }
            return sum / 4
        }(), accuracy: 1e-5)
    }
}
