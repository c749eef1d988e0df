import Foundation

// Shapes: V vocabulary, V' kept tokens, C hidden.

/// Which WordPiece tokens a task needs: the special tokens, every single ASCII character and every
/// single character the texts use (alone and as a `##` continuation, so a word can still be spelled
/// out when its pieces are gone, rather than becoming [UNK]), and every token that occurs at least
/// `minimumCount` times in the task's texts.
/// A pruned tokenizer then splits words that used pruned pieces the way WordPiece does with the
/// smaller vocabulary (greedy longest match), as transformers' tokenizer does with the same file.
public struct VocabularyPruning: Sendable {
    /// Ids of the original vocabulary that are kept, in their original order (new id = position).
    public let kept: [Int32]
    /// The pruned vocabulary (tokens in `kept`'s order).
    public let vocabulary: Vocabulary

    /// Counts the tokens of `texts` (pairs where given) under `tokenizer` and keeps those seen at
    /// least `minimumCount` times, with the special and single-character tokens.
    public init(tokenizer: BertTokenizer, texts: [(String, String?)], minimumCount: Int) throws {
        guard minimumCount >= 1 else { throw ModelError("--min-count must be at least 1, got \(minimumCount)") }
        let original = tokenizer.vocabulary
        var counts = [Int](repeating: 0, count: original.count)
        var seen = 0
        for (text, pair) in texts {
            for id in tokenizer.encode(text, pair: pair, maxLength: 1 << 16) {
                counts[Int(id)] += 1
                seen += 1
            }
        }
        guard seen > 2 * texts.count else {
            throw ModelError("the texts give no tokens to keep (\(texts.count) texts): give the task's training texts")
        }
        let specials: Set<String> = [Vocabulary.padToken, Vocabulary.unkToken, Vocabulary.clsToken, Vocabulary.sepToken,
                                     Vocabulary.maskToken]
        // Characters the texts use, under either form (a character seen only word-initially is
        // kept as a continuation too, and the other way round).
        var characters = Set<Substring>()
        for id in original.tokens.indices where counts[id] > 0 {
            let token = original.tokens[id]
            let bare = token.hasPrefix("##") ? token.dropFirst(2) : Substring(token)
            if bare.unicodeScalars.count == 1 { characters.insert(bare) }
        }
        kept = original.tokens.indices.filter { id in
            let token = original.tokens[id]
            let bare = token.hasPrefix("##") ? token.dropFirst(2) : Substring(token)
            // One code point, as WordPiece splits words (BERT's tokenizers work on code points).
            let character = bare.unicodeScalars.count == 1 && (bare.unicodeScalars.allSatisfy(\.isASCII) || characters.contains(bare))
            return specials.contains(token) || character || counts[id] >= minimumCount
        }.map { Int32($0) }
        vocabulary = try Vocabulary(tokens: kept.map { original.tokens[Int($0)] })
    }

    /// The share of the tokens of `texts` (under the full vocabulary) whose piece is pruned, so
    /// that their word is split differently, and the share of texts whose tokens change at all.
    public func changes(tokenizer full: BertTokenizer, texts: [(String, String?)]) -> (tokens: Double, texts: Double) {
        let pruned = BertTokenizer(vocabulary: vocabulary)
        let keptSet = Set(kept)
        var tokens = 0, changedTokens = 0, changedTexts = 0
        for (text, pair) in texts {
            let before = full.encode(text, pair: pair, maxLength: 1 << 16)
            let after = pruned.encode(text, pair: pair, maxLength: 1 << 16)
            tokens += before.count
            changedTokens += before.filter { !keptSet.contains($0) }.count
            let beforeTokens = before.map { full.vocabulary.tokens[Int($0)] }
            let afterTokens = after.map { vocabulary.tokens[Int($0)] }
            if beforeTokens != afterTokens { changedTexts += 1 }
        }
        return (Double(changedTokens) / Double(max(tokens, 1)), Double(changedTexts) / Double(max(texts.count, 1)))
    }
}

extension SequenceClassifier {
    /// The same model with only the word-embedding rows `kept` (in that order): its vocabulary is
    /// `VocabularyPruning.vocabulary`. Every other tensor is copied as it is.
    public func pruningVocabulary(to pruning: VocabularyPruning) throws -> SequenceClassifier {
        guard quantization == .none else {
            throw ModelError("prune the vocabulary of the fp32 model, then quantize it (this model is \(quantization.rawValue))")
        }
        guard pruning.kept.allSatisfy({ $0 >= 0 && Int($0) < config.vocabularySize }) else {
            throw ModelError("the pruning was made for a vocabulary larger than this model's \(config.vocabularySize) tokens")
        }
        var prunedConfig = config
        prunedConfig.vocabularySize = pruning.kept.count
        let pruned = SequenceClassifier(config: prunedConfig, headActivation: headActivation)
        let c = config.hiddenSize
        for entry in pruned.layout.entries {
            if entry.name == "embeddings.word_embeddings.weight" {
                let from = parameter(entry.name), to = pruned.parameters[entry]
                for (row, id) in pruning.kept.enumerated() { (to + row * c).update(from: from + Int(id) * c, count: c) }
            } else {
                pruned.parameters[entry].update(from: parameter(entry.name), count: entry.count)
            }
        }
        return pruned
    }

    /// Writes the pruned model folder: weights, config and the pruned vocab.txt.
    public func savePrunedFolder(_ directory: String, vocabulary: Vocabulary) throws {
        let staging = FileManager.default.temporaryDirectory.appendingPathComponent("edgedistill-vocab-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: staging) }
        try (vocabulary.tokens.joined(separator: "\n") + "\n").write(toFile: staging + "/vocab.txt", atomically: true, encoding: .utf8)
        try saveFolder(directory, vocabularyFrom: staging)
    }
}
