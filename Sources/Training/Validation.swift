import Model

/// How the training loop judges weights on held-out data: the accuracy it keeps the best weights
/// by, and the fields of its `eval` metrics record. Training does not score models itself; the
/// Evaluation module makes validators (`Evaluator.validator(on:batchSize:)`).
public struct Validation {
    public var accuracy: Double
    public var macroF1: Double
    /// The metrics record's fields (accuracy, macro_f1, examples, confusion_matrix, ...).
    public var record: [String: Any]

    public init(accuracy: Double, macroF1: Double, record: [String: Any]) {
        self.accuracy = accuracy
        self.macroF1 = macroF1
        self.record = record
    }
}

/// Scores a model on the run's validation data, in two halves so that the work can be split:
/// `count` runs the model over some of the examples and returns their confusion counts, which add
/// up over any split of the examples; `score` turns the counts of all of them into a `Validation`.
/// A cluster's workers count their parts where the weights already are (`StepScheduler.validate`);
/// one process calls the validator as a function.
public struct Validator {
    /// The validation examples (K classes: `labels` in 0..<K).
    public let data: EncodedDataset
    /// Confusion counts `[true][predicted]`, (K, K), of `model` on these examples of `data`.
    public let count: (_ model: SequenceClassifier, _ examples: [Int]) -> [[Int]]
    /// The validation of counts summed over every example.
    public let score: (_ confusion: [[Int]]) -> Validation

    public init(data: EncodedDataset, count: @escaping (SequenceClassifier, [Int]) -> [[Int]],
                score: @escaping ([[Int]]) -> Validation) {
        self.data = data
        self.count = count
        self.score = score
    }

    /// The validation of `model` on every example, in this process.
    public func callAsFunction(_ model: SequenceClassifier) -> Validation {
        score(count(model, Array(0..<data.count)))
    }

    /// The examples dealt into `parts` lists of about equal work: in order of length, example i of
    /// that order goes to part i mod `parts`, so each part's batches are of similar length.
    public func split(into parts: Int) -> [[Int]] {
        let order = data.sequences.indices.sorted { (data.sequences[$0].count, $0) < (data.sequences[$1].count, $1) }
        var result = [[Int]](repeating: [], count: max(parts, 1))
        for (i, example) in order.enumerated() { result[i % result.count].append(example) }
        return result
    }
}
