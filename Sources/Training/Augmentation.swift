import Foundation

/// Teacher-labelled variants of the training texts (Tang et al. 2019's masking, replacement and
/// n-gram sampling; TinyBERT's "more inputs"): each variant is made at the word level (whitespace
/// words, before WordPiece) from one training example and carries no label (`unlabelled`): only the
/// teacher's logits teach on it (the soft term, `DistillationLoss`).
///
/// A variant is, with probability `ngram`, a contiguous run of the example's words (1 to all of
/// them, uniform); otherwise each word is, in this order of chances, replaced by `[MASK]` (`mask`),
/// by a word drawn from the training texts' own word distribution (`replace`, no outside word list),
/// deleted (`delete`), or kept. Variants equal to their original, empty ones, and repeats of an
/// earlier variant of the same example are dropped. Everything is drawn from `seed` and the
/// example's index, so the same data and seed give the same variants on every machine.
public struct AugmentationOptions: Codable, Sendable, Equatable {
    /// Variants per training example (0: off).
    public var variants = 0
    public var mask = 0.1
    public var replace = 0.1
    public var delete = 0.1
    public var ngram = 0.25

    public init(variants: Int = 0) { self.variants = variants }

    /// Each option out of its range, as "key: what it must be, got value".
    public var problems: [String] {
        var found: [String] = []
        if variants < 0 { found.append("augment must be at least 0 (0: off), got \(variants)") }
        for (key, value) in [("augment_mask", mask), ("augment_replace", replace), ("augment_delete", delete), ("augment_ngram", ngram)]
        where !(value >= 0 && value <= 1) {
            found.append("\(key) must be a probability in [0, 1], got \(value)")
        }
        if mask + replace + delete > 1 { found.append("augment_mask + augment_replace + augment_delete must be at most 1, got \(mask + replace + delete)") }
        return found
    }
}

/// The label of an example only the teacher labels.
public let unlabelled: Int32 = -1

public enum Augmentation {
    /// The variants of every example of `dataset` (its first text; a pair's second text is kept as
    /// it is), labelled `unlabelled`, in example order.
    public static func variants(of dataset: Dataset, options: AugmentationOptions, seed: UInt64) -> Dataset {
        guard options.variants > 0 else {
            return Dataset(texts: [], pairs: dataset.pairs == nil ? nil : [], labels: [], labelNames: dataset.labelNames,
                           source: dataset.source + " (no variants)")
        }
        let words = dataset.texts.map { $0.split(whereSeparator: \.isWhitespace).map(String.init) }
        // The training text's own word distribution: every word occurrence, drawn uniformly.
        let pool = words.flatMap { $0 }
        var texts: [String] = [], pairs: [String] = []
        for (index, example) in words.enumerated() {
            var random = SplitMix(seed: seed ^ (UInt64(index) &* 0x9E37_79B9_7F4A_7C15))
            let original = example.joined(separator: " ")
            var seen: Set<String> = [original]
            for _ in 0..<options.variants {
                let variant = make(example, pool: pool, options: options, random: &random).joined(separator: " ")
                guard !variant.isEmpty, seen.insert(variant).inserted else { continue }
                texts.append(variant)
                if let second = dataset.pairs?[index] { pairs.append(second) }
            }
        }
        return Dataset(texts: texts, pairs: dataset.pairs == nil ? nil : pairs, labels: [Int32](repeating: unlabelled, count: texts.count),
                       labelNames: dataset.labelNames, source: dataset.source + " (variants)")
    }

    static func make(_ words: [String], pool: [String], options: AugmentationOptions, random: inout SplitMix) -> [String] {
        guard !words.isEmpty else { return [] }
        if random.unit() < options.ngram {
            let length = 1 + random.below(words.count)
            let start = random.below(words.count - length + 1)
            return Array(words[start..<(start + length)])
        }
        var out: [String] = []
        for word in words {
            let u = random.unit()
            if u < options.mask {
                out.append("[MASK]")
            } else if u < options.mask + options.replace, !pool.isEmpty {
                out.append(pool[random.below(pool.count)])
            } else if u < options.mask + options.replace + options.delete {
                continue
            } else {
                out.append(word)
            }
        }
        return out
    }
}

/// SplitMix64: a small seeded generator whose stream is fixed by its seed on every platform.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
    /// Uniform in 0..<n (n > 0).
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}
