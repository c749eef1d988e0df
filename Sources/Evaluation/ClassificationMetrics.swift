/// Accuracy, macro-F1 and the confusion matrix of predictions against labels.
public struct ClassificationMetrics: Sendable, Equatable {
    public let examples: Int
    public let accuracy: Double
    public let macroF1: Double
    /// confusion[true][predicted]
    public let confusion: [[Int]]

    public init(predictions: [Int32], labels: [Int32], classes: Int) {
        precondition(predictions.count == labels.count, "one prediction per label")
        self.init(confusion: Self.confusion(predictions: predictions, labels: labels, classes: classes))
    }

    /// confusion[true][predicted] counts of predictions against labels.
    public static func confusion(predictions: [Int32], labels: [Int32], classes: Int) -> [[Int]] {
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: classes), count: classes)
        for (p, l) in zip(predictions, labels) { confusion[Int(l)][Int(p)] += 1 }
        return confusion
    }

    /// The metrics of a (K, K) confusion matrix, `[true][predicted]` (counts summed over parts of a set
    /// give the metrics of the whole set).
    public init(confusion: [[Int]]) {
        let classes = confusion.count
        let correct = (0..<classes).reduce(0) { $0 + confusion[$1][$1] }
        var f1Sum = 0.0
        for k in 0..<classes {
            let tp = Double(confusion[k][k])
            let predicted = Double((0..<classes).reduce(0) { $0 + confusion[$1][k] })
            let actual = Double(confusion[k].reduce(0, +))
            // A class never predicted nor present scores 0, as scikit-learn's zero_division=0.
            f1Sum += predicted + actual > 0 ? 2 * tp / (predicted + actual) : 0
        }
        let examples = confusion.reduce(0) { $0 + $1.reduce(0, +) }
        self.examples = examples
        self.accuracy = examples == 0 ? 0 : Double(correct) / Double(examples)
        self.macroF1 = classes > 0 ? f1Sum / Double(classes) : 0
        self.confusion = confusion
    }

    public var jsonObject: [String: Any] {
        ["accuracy": accuracy, "macro_f1": macroF1, "examples": examples, "confusion_matrix": confusion]
    }
}
