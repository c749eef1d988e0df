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
        let logits = self.logits(model, on: data, examples: Array(0..<data.count), batchSize: batchSize)
        let predictions = argmax(logits, classes: k)
        return Result(metrics: ClassificationMetrics(predictions: predictions, labels: data.labels, classes: k),
                      logits: logits)
    }

    /// Confusion counts `[true][predicted]`, (K, K), of `model` on these examples of `data`.
    public static func confusion(_ model: any TextClassifier, on data: EncodedDataset, examples: [Int],
                                 batchSize: Int = 64) -> [[Int]] {
        let k = model.config.labelCount
        let predictions = argmax(logits(model, on: data, examples: examples, batchSize: batchSize), classes: k)
        return ClassificationMetrics.confusion(predictions: predictions, labels: examples.map { data.labels[$0] }, classes: k)
    }

    /// Logits of these examples, (examples.count, K) in the order given.
    static func logits(_ model: any TextClassifier, on data: EncodedDataset, examples: [Int], batchSize: Int) -> [Float] {
        let k = model.config.labelCount
        // Sorting by length makes batches of similar length: less attention padding, same results.
        let order = examples.indices.sorted { data.sequences[examples[$0]].count < data.sequences[examples[$1]].count }
        var byPosition = [Float](repeating: 0, count: examples.count * k)
        for start in stride(from: 0, to: order.count, by: batchSize) {
            let chunk = Array(order[start..<min(start + batchSize, order.count)])
            let out = model.logits(TokenBatch(sequences: chunk.map { data.sequences[examples[$0]] }))
            for (row, position) in chunk.enumerated() {
                for c in 0..<k { byPosition[position * k + c] = out[row * k + c] }
            }
        }
        return byPosition
    }

    /// The class of each row of (N, K) logits (the first of equal maxima).
    static func argmax(_ logits: [Float], classes k: Int) -> [Int32] {
        let n = k > 0 ? logits.count / k : 0
        var predictions = [Int32](repeating: 0, count: n)
        for i in 0..<n {
            var best = 0
            for c in 1..<max(k, 1) where logits[i * k + c] > logits[i * k + best] { best = c }
            predictions[i] = Int32(best)
        }
        return predictions
    }
}

extension Evaluator {
    /// A validator for the training loop: accuracy and macro-F1 on `data`, with the whole metrics
    /// object (confusion matrix included) as its record.
    public static func validator(on data: EncodedDataset, batchSize: Int = 64) -> Validator {
        Validator(data: data, count: { model, examples in confusion(model, on: data, examples: examples, batchSize: batchSize) },
                  score: { confusion in
                      let metrics = ClassificationMetrics(confusion: confusion)
                      return Validation(accuracy: metrics.accuracy, macroF1: metrics.macroF1, record: metrics.jsonObject)
                  })
    }
}
