extension SequenceClassifier {
    /// Checks that every token id `tokenizer` can produce has an embedding row in this model.
    /// Reading past the table would be undefined behaviour, so commands check before any forward pass.
    public func checkCompatible(with tokenizer: BertTokenizer, directory: String) throws {
        if tokenizer.vocabularySize > config.vocabularySize {
            throw ModelError(file: directory, "the vocabulary has \(tokenizer.vocabularySize) tokens but config.json's vocab_size is \(config.vocabularySize): the tokenizer does not belong to this model")
        }
    }

    /// The longest input this model takes: `requested`, or fewer when the model has fewer position
    /// embeddings (`max_position_embeddings`).
    public func fittedLength(_ requested: Int) -> Int { min(requested, config.maxPositions) }
}
