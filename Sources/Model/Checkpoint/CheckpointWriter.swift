import Foundation

extension SequenceClassifier {
    /// Writes the model as a Hugging Face folder: `config.json` and `model.safetensors`.
    ///
    /// A ReLU head is written as `DistilBertForSequenceClassification`. A tanh head (a BERT
    /// checkpoint's pooler) is written back as `BertForSequenceClassification`, with the folded
    /// position table and a zero token-type table, which gives the same logits for token type 0.
    /// Each file is written to a temporary name and renamed, so a crash leaves no partial file.
    public func save(directory: String, metadata: [String: String] = [:]) throws {
        guard quantization != .int8Dynamic else {
            throw ModelError(file: directory, "an int8 model has no fp32 checkpoint to write: save it with saveFolder (the int8-dynamic format)")
        }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw ModelError(file: directory, "cannot create the model folder: \(error.localizedDescription)")
        }
        var config = self.config
        var tensors: [SafetensorsWriter.Tensor] = []
        switch headActivation {
        case .relu:
            config.modelType = .distilbert
            config.typeVocabularySize = 0
            config.architectures = ["DistilBertForSequenceClassification"]
            for entry in layout.entries {
                let name = entry.name.hasPrefix("pre_classifier.") || entry.name.hasPrefix("classifier.")
                    ? entry.name : "distilbert." + entry.name
                tensors.append(.float32(name: name, shape: entry.shape, values: parameters.values(entry)))
            }
        case .tanh:
            config.modelType = .bert
            config.typeVocabularySize = max(config.typeVocabularySize, 1)
            config.architectures = ["BertForSequenceClassification"]
            for entry in layout.entries {
                tensors.append(.float32(name: CheckpointKeys.bertName(ofInternal: entry.name),
                                        shape: entry.shape, values: parameters.values(entry)))
            }
            let c = config.hiddenSize
            tensors.append(.float32(name: "bert.embeddings.token_type_embeddings.weight",
                                    shape: [config.typeVocabularySize, c],
                                    values: [Float](repeating: 0, count: config.typeVocabularySize * c)))
        }
        try SafetensorsWriter.write(tensors, metadata: metadata.merging(["format": "pt"]) { a, _ in a },
                                    to: (directory as NSString).appendingPathComponent("model.safetensors"))
        try config.write(directory: directory)
    }
}
