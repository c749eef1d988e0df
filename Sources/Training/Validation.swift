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

/// Scores a model on the run's validation data.
public typealias Validator = (SequenceClassifier) -> Validation
