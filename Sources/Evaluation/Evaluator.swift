import Model
import Training

/// Runs a model over a dataset without dropout and scores its predictions.
public enum Evaluator {
    public struct Result {
        public let metrics: ClassificationMetrics
        /// (count, K) in dataset order.
        public let logits: [Float]
    }

    public static func evaluate(_ model: any TextClassifier, on data: EncodedDataset, batchSize: Int = 64) -> Result {
        let k = model.config.labelCount
        var logits: [Float] = []
        logits.reserveCapacity(data.sequences.count * k)
        // Sorting by length makes batches of similar length: less attention padding, same results.
        let order = data.sequences.indices.sorted { data.sequences[$0].count < data.sequences[$1].count }
        var byIndex = [Float](repeating: 0, count: data.sequences.count * k)
        for start in stride(from: 0, to: order.count, by: batchSize) {
            let chunk = Array(order[start..<min(start + batchSize, order.count)])
            let out = model.logits(TokenBatch(sequences: chunk.map { data.sequences[$0] }))
            for (row, index) in chunk.enumerated() {
                for c in 0..<k { byIndex[index * k + c] = out[row * k + c] }
            }
        }
        logits = byIndex
        var predictions = [Int32](repeating: 0, count: data.sequences.count)
        for i in 0..<data.sequences.count {
            var best = 0
            for c in 1..<max(k, 1) where logits[i * k + c] > logits[i * k + best] { best = c }
            predictions[i] = Int32(best)
        }
        return Result(metrics: ClassificationMetrics(predictions: predictions, labels: data.labels, classes: k),
                      logits: logits)
    }
}

extension Evaluator {
    /// A validator for the training loop: accuracy and macro-F1 on `data`, with the whole metrics
    /// object (confusion matrix included) as its record.
    public static func validator(on data: EncodedDataset, batchSize: Int = 64) -> Validator {
        { model in
            let metrics = evaluate(model, on: data, batchSize: batchSize).metrics
            return Validation(accuracy: metrics.accuracy, macroF1: metrics.macroF1, record: metrics.jsonObject)
        }
    }
}
