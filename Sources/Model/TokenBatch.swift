import Kernels

/// A batch of tokenized sentences, packed: no padding between sentences.
///
/// Linear layers run on the N real tokens; only attention pads, to the longest sentence.
public struct TokenBatch: Sendable {
    public let ids: [Int32]        // (N) token ids, sentence after sentence
    public let positions: [Int32]  // (N) position of each token in its sentence
    public let layout: PackedBatch
    /// Where this batch starts within a larger batch that workers share: sentences and tokens
    /// before it. Dropout masks are drawn by position in that larger batch, so a worker's share
    /// gets the masks one process training on the whole batch would use.
    public var origin = (sentences: 0, tokens: 0)

    public var batchSize: Int { layout.batch }
    public var tokenCount: Int { ids.count }

    /// Packs sentences of token ids (each already with [CLS] ... [SEP] and truncated).
    public init(sequences: [[Int32]]) {
        ids = sequences.flatMap { $0 }
        positions = sequences.flatMap { $0.indices.map { Int32($0) } }
        layout = PackedBatch(lengths: sequences.map(\.count))
    }
}

extension PackedBatch: @unchecked Sendable {}
