import Foundation
import Kernels
import Model

/// A dataset tokenized once: the token ids of every example, ready to be batched every epoch.
public struct EncodedDataset: Sendable {
    /// `[CLS] pieces [SEP]` of each example, at most `maxLength` ids.
    public let sequences: [[Int32]]
    /// The class id of each example.
    public let labels: [Int32]
    /// How many examples lost pieces to the length limit (a large share means `maxLength` is too small).
    public let truncatedCount: Int

    /// Number of examples.
    public var count: Int { sequences.count }
    /// The length of each sequence in ids, for `Batcher(lengths:)`.
    public var lengths: [Int] { sequences.map(\.count) }

    /// Wraps sequences already tokenized.
    public init(sequences: [[Int32]], labels: [Int32], truncatedCount: Int = 0) {
        precondition(sequences.count == labels.count, "\(sequences.count) sequences but \(labels.count) labels")
        self.sequences = sequences
        self.labels = labels
        self.truncatedCount = truncatedCount
    }

    /// Tokenizes every example of `dataset` (one text, or a sentence pair) with `tokenizer`,
    /// truncated to `maxLength` ids.
    ///
    /// Texts are encoded in parallel chunks; the result does not depend on the thread count. An
    /// example counts as truncated when encoding it with one more id of room comes out longer.
    public init(_ dataset: Dataset, tokenizer: BertTokenizer, maxLength: Int) {
        let n = dataset.count
        var sequences = [[Int32]](repeating: [], count: n)
        var truncated = [Bool](repeating: false, count: n)
        let chunkSize = 256
        let chunks = (n + chunkSize - 1) / chunkSize
        sequences.withUnsafeMutableBufferPointer { sequences in
            truncated.withUnsafeMutableBufferPointer { truncated in
                // Each iteration writes its own index range, so the writes never overlap.
                nonisolated(unsafe) let sequences = sequences, truncated = truncated
                DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                    for i in (chunk * chunkSize) ..< min(n, (chunk + 1) * chunkSize) {
                        let roomy = dataset.encoding(i, tokenizer: tokenizer, maxLength: maxLength + 1)
                        if roomy.count > maxLength {
                            truncated[i] = true
                            sequences[i] = dataset.encoding(i, tokenizer: tokenizer, maxLength: maxLength)
                        } else {
                            sequences[i] = roomy
                        }
                    }
                }
            }
        }
        self.init(sequences: sequences, labels: dataset.labels, truncatedCount: truncated.lazy.filter { $0 }.count)
    }
}

/// The order of examples in each epoch, cut into batches of example indices.
///
/// Choices, so that runs are reproducible and cheap:
/// - Each epoch gets its own seeded permutation: the seed is mixed with the epoch number, so
///   epoch 2 differs from epoch 1, yet `batches(epoch:)` returns the same batches every time it is
///   asked (a resumed run sees the same order). No system randomness is used.
/// - With `lengthBucketed`, the shuffled order is cut into buckets of `batchesPerBucket` batches,
///   each bucket is sorted by length (ties keep shuffled order), cut into batches, and the batch
///   order is shuffled. Batches then hold similar lengths, so attention pads little, while which
///   examples share a bucket, and the order batches come in, stay random. Without `shuffle`,
///   buckets are cut from file order and batches come in bucket order (for evaluation).
/// - Every example appears exactly once per epoch. The one partial batch (when `batchSize` does
///   not divide `count`) is kept, last in plain order, unless `dropLast`, which drops those
///   examples for that epoch (a different set each epoch, since the order is reshuffled).
public struct Batcher: Sendable {
    public let count: Int
    public let batchSize: Int
    public let seed: UInt64
    public let shuffle: Bool
    public let lengthBucketed: Bool
    public let dropLast: Bool
    /// Batches per length bucket: larger buckets pad less but mix less.
    public let batchesPerBucket: Int
    private let lengths: [Int]

    /// Batches for `count` examples; `lengths` (one per example) is required with `lengthBucketed`.
    public init(count: Int, batchSize: Int, seed: UInt64, shuffle: Bool = true, lengthBucketed: Bool = false,
                lengths: [Int]? = nil, dropLast: Bool = false, batchesPerBucket: Int = 50) {
        precondition(count >= 0, "negative example count \(count)")
        precondition(batchSize >= 1, "batch size \(batchSize) must be at least 1")
        precondition(batchesPerBucket >= 1, "batches per bucket \(batchesPerBucket) must be at least 1")
        precondition(!lengthBucketed || lengths?.count == count,
                     "length bucketing needs one length per example (\(count)), got \(lengths?.count ?? 0)")
        self.count = count
        self.batchSize = batchSize
        self.seed = seed
        self.shuffle = shuffle
        self.lengthBucketed = lengthBucketed
        self.dropLast = dropLast
        self.batchesPerBucket = batchesPerBucket
        self.lengths = lengthBucketed ? lengths ?? [] : []
    }

    /// Number of batches per epoch.
    public var batchCount: Int { dropLast ? count / batchSize : (count + batchSize - 1) / batchSize }

    /// The batches of `epoch`: indices into the dataset, each batch `batchSize` long but possibly
    /// the one partial batch.
    public func batches(epoch: Int) -> [[Int]] {
        let epochSeed = splitMix64(seed ^ splitMix64(UInt64(bitPattern: Int64(epoch))))
        var generator = NormalGenerator(seed: epochSeed)
        var order = shuffle ? SeededShuffle.permutation(count: count, using: &generator) : Array(0..<count)
        if lengthBucketed {
            let bucket = batchesPerBucket * batchSize
            for start in stride(from: 0, to: count, by: bucket) {
                let end = min(count, start + bucket)
                // (length, rank) is a total order, so the result does not depend on sort stability.
                let sorted = order[start..<end].enumerated()
                    .sorted { (lengths[$0.element], $0.offset) < (lengths[$1.element], $1.offset) }
                    .map(\.element)
                order.replaceSubrange(start..<end, with: sorted)
            }
        }
        // Buckets are whole batches, so only the last batch can be partial.
        var batches = stride(from: 0, to: count, by: batchSize).map { Array(order[$0 ..< min(count, $0 + batchSize)]) }
        if dropLast, let last = batches.last, last.count < batchSize { batches.removeLast() }
        if lengthBucketed && shuffle {
            batches = SeededShuffle.permutation(count: batches.count, using: &generator).map { batches[$0] }
        }
        return batches
    }

    /// The examples at `indices` packed for the model, with their labels.
    public func batch(_ indices: [Int], from data: EncodedDataset) -> (TokenBatch, [Int32]) {
        (TokenBatch(sequences: indices.map { data.sequences[$0] }), indices.map { data.labels[$0] })
    }
}

/// Seeded Fisher-Yates permutations, written out rather than `shuffle(using:)` because the
/// standard library does not promise its shuffle algorithm, and a seed must mean the same order
/// on every Swift version.
enum SeededShuffle {
    /// A permutation of `0 ..< count` determined by `seed`.
    static func permutation(count: Int, seed: UInt64) -> [Int] {
        var generator = NormalGenerator(seed: seed)
        return permutation(count: count, using: &generator)
    }

    /// A permutation of `0 ..< count` drawn from `generator`.
    static func permutation(count: Int, using generator: inout NormalGenerator) -> [Int] {
        var order = Array(0..<count)
        for i in stride(from: count - 1, to: 0, by: -1) {
            // 53 random bits: the bias toward any index is below 2^-53 * count, nil in practice.
            let j = min(i, Int(generator.nextUniform() * Double(i + 1)))
            order.swapAt(i, j)
        }
        return order
    }
}
