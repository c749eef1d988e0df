import Foundation

/// A batch of encoded texts, padded to one length and laid out row-major for the encoder.
public struct EncodedBatch: Sendable, Equatable {
    /// Token ids, shape (batchSize, sequenceLength), row-major, padded with `[PAD]`.
    public let ids: [Int32]
    /// 1 where `ids` holds a real token, 0 where it holds padding; same shape as `ids`.
    public let attentionMask: [Int32]
    /// Real (unpadded) length of each row, `[CLS]` and `[SEP]` included.
    public let lengths: [Int]
    public let batchSize: Int
    public let sequenceLength: Int
}

/// The tokenizer of an uncased BERT-family model, producing the ids Hugging Face transformers does.
///
/// Reproduces `BertTokenizer` (do_lower_case=True) of transformers: special tokens written in
/// the text (`[CLS]`, `[SEP]`, `[PAD]`, `[UNK]`, `[MASK]`) map straight to their ids, the rest
/// goes through `BasicTokenizer` and then `WordPiece`. Immutable after `init`, so one instance
/// can serve many threads.
public final class BertTokenizer: Sendable {
    public let vocabulary: Vocabulary
    public let clsID: Int32
    public let sepID: Int32
    public let padID: Int32
    public let unkID: Int32

    /// Number of ids, the row count the model's word-embedding table must have.
    public var vocabularySize: Int { vocabulary.count }

    private let basic: BasicTokenizer
    private let wordPiece: WordPiece
    /// Special tokens as scalars with their ids, matched in raw text before any normalisation.
    private let specialTokens: [SpecialToken]

    private struct SpecialToken: Sendable {
        let scalars: [UInt32]
        let id: Int32
    }

    /// Creates a tokenizer over `vocabulary`.
    public init(vocabulary: Vocabulary) {
        self.vocabulary = vocabulary
        clsID = vocabulary.clsID
        sepID = vocabulary.sepID
        padID = vocabulary.padID
        unkID = vocabulary.unkID
        let names = [Vocabulary.padToken, Vocabulary.unkToken, Vocabulary.clsToken,
                     Vocabulary.sepToken, Vocabulary.maskToken]
        let present = names.filter { vocabulary.id(of: $0) != nil }
        specialTokens = present.compactMap { name in
            vocabulary.id(of: name).map { SpecialToken(scalars: name.unicodeScalars.map(\.value), id: $0) }
        }
        // transformers passes the special tokens as never_split to the basic tokenizer.
        basic = BasicTokenizer(neverSplit: present)
        wordPiece = WordPiece(vocabulary: vocabulary)
    }

    /// Loads the vocabulary of the model in `directory` (vocab.txt, else tokenizer.json).
    public static func load(directory: String) throws -> BertTokenizer {
        BertTokenizer(vocabulary: try Vocabulary.load(directory: directory))
    }

    /// The word pieces of `text`, without `[CLS]` and `[SEP]`, like transformers' `tokenize`.
    public func tokenize(_ text: String) -> [String] {
        tokenIDs(text).map { vocabulary.token(of: $0) ?? Vocabulary.unkToken }
    }

    /// The ids of the word pieces of `text`, without `[CLS]` and `[SEP]`.
    public func tokenIDs(_ text: String) -> [Int32] {
        var scratch = Scratch()
        var ids: [Int32] = []
        appendPieceIDs(of: text, scratch: &scratch, into: &ids)
        return ids
    }

    /// `[CLS]`, the pieces of `text`, `[SEP]`, truncated to at most `maxLength` ids in all.
    ///
    /// Matches `tokenizer(text, truncation=True, max_length=maxLength)["input_ids"]`: the pieces
    /// are cut so both special tokens still fit. A `maxLength` below 2 keeps that many leading ids.
    public func encode(_ text: String, maxLength: Int = 128) -> [Int32] {
        var scratch = Scratch()
        var ids: [Int32] = []
        appendEncoding(of: text, maxLength: maxLength, scratch: &scratch, into: &ids)
        return ids
    }

    /// `[CLS]`, the pieces of `text`, `[SEP]`, the pieces of `pair`, `[SEP]`, at most `maxLength`
    /// ids in all: a sentence pair the way DistilBERT reads one (no segment ids; both texts share
    /// segment 0). A nil `pair` is `encode(text, maxLength:)`.
    ///
    /// Truncation matches `AutoTokenizer`'s (the Rust-backed tokenizer) `tokenizer(text, pair,
    /// truncation=True, max_length=maxLength)`, i.e. "longest_first": the longer text loses pieces
    /// from its end until both are equally long, then both lose pieces alike; when the budget is
    /// odd the extra piece stays with the text that was longer (with the pair on a tie). The
    /// pure-Python tokenizer differs only in that last piece. A `maxLength` below 3 keeps no
    /// pieces (the three special ids are always written).
    public func encode(_ text: String, pair: String?, maxLength: Int = 128) -> [Int32] {
        guard let pair else { return encode(text, maxLength: maxLength) }
        var scratch = Scratch()
        var first: [Int32] = []
        appendPieceIDs(of: text, scratch: &scratch, into: &first)
        var second: [Int32] = []
        appendPieceIDs(of: pair, scratch: &scratch, into: &second)
        let (keepFirst, keepSecond) = Self.longestFirst(first.count, second.count, budget: max(maxLength - 3, 0))
        var ids: [Int32] = []
        ids.reserveCapacity(keepFirst + keepSecond + 3)
        ids.append(clsID)
        ids += first[..<keepFirst]
        ids.append(sepID)
        ids += second[..<keepSecond]
        ids.append(sepID)
        return ids
    }

    /// How many pieces of each text "longest_first" truncation keeps within `budget` pieces.
    static func longestFirst(_ first: Int, _ second: Int, budget: Int) -> (Int, Int) {
        guard first + second > budget else { return (first, second) }
        let half = budget / 2
        // The shorter text (the first on a tie) keeps all its pieces when they fit in half the
        // budget, else half rounded down; the other text gets the rest.
        if first <= second {
            let kept = min(first, half)
            return (kept, min(second, budget - kept))
        }
        let kept = min(second, half)
        return (min(first, budget - kept), kept)
    }

    /// Encodes `texts` into one padded batch.
    ///
    /// Rows are padded with `[PAD]` to the longest row when `padToLongest`, else to `maxLength`.
    public func encodeBatch(_ texts: [String], maxLength: Int, padToLongest: Bool = true) -> EncodedBatch {
        var scratch = Scratch()
        var rows: [Int32] = []
        var lengths: [Int] = []
        lengths.reserveCapacity(texts.count)
        var offsets: [Int] = []
        offsets.reserveCapacity(texts.count)
        for text in texts {
            offsets.append(rows.count)
            let before = rows.count
            appendEncoding(of: text, maxLength: maxLength, scratch: &scratch, into: &rows)
            lengths.append(rows.count - before)
        }
        let width = padToLongest ? (lengths.max() ?? 0) : max(maxLength, 0)
        var ids = [Int32](repeating: padID, count: texts.count * width)
        var mask = [Int32](repeating: 0, count: texts.count * width)
        for row in 0 ..< texts.count {
            let base = row * width
            for column in 0 ..< lengths[row] {
                ids[base + column] = rows[offsets[row] + column]
                mask[base + column] = 1
            }
        }
        return EncodedBatch(ids: ids, attentionMask: mask, lengths: lengths,
                            batchSize: texts.count, sequenceLength: width)
    }

    // MARK: - Pipeline

    /// Buffers reused from one text to the next.
    private struct Scratch {
        var input: [UInt32] = []
        var words = WordBuffer()
    }

    private func appendEncoding(of text: String, maxLength: Int, scratch: inout Scratch, into ids: inout [Int32]) {
        let start = ids.count
        ids.append(clsID)
        appendPieceIDs(of: text, scratch: &scratch, into: &ids)
        // Mirrors truncation=True for one sequence: keep maxLength - 2 pieces, then [SEP].
        let keep = max(maxLength - 2, 0)
        if ids.count - start - 1 > keep { ids.removeSubrange((start + 1 + keep)...) }
        ids.append(sepID)
        if maxLength < 2, ids.count - start > max(maxLength, 0) {
            ids.removeSubrange((start + max(maxLength, 0))...)
        }
    }

    private func appendPieceIDs(of text: String, scratch: inout Scratch, into ids: inout [Int32]) {
        scratch.input.removeAll(keepingCapacity: true)
        decodeScalars(text, into: &scratch.input)
        let input = scratch.input
        // Mirrors PreTrainedTokenizer.tokenize: special tokens are cut out of the raw text first,
        // and the text between them is tokenized on its own.
        var segmentStart = 0
        var index = 0
        while index < input.count {
            if input[index] == 0x5B /* [ */, let special = specialToken(in: input, at: index) {
                appendWordIDs(of: input[segmentStart ..< index], scratch: &scratch, into: &ids)
                ids.append(special.id)
                index += special.scalars.count
                segmentStart = index
            } else {
                index += 1
            }
        }
        appendWordIDs(of: input[segmentStart ..< input.count], scratch: &scratch, into: &ids)
    }

    private func specialToken(in input: [UInt32], at index: Int) -> SpecialToken? {
        for special in specialTokens where index + special.scalars.count <= input.count {
            if input[index ..< index + special.scalars.count].elementsEqual(special.scalars) { return special }
        }
        return nil
    }

    private func appendWordIDs(of segment: ArraySlice<UInt32>, scratch: inout Scratch, into ids: inout [Int32]) {
        guard !segment.isEmpty else { return }
        scratch.words.removeAll()
        basic.split(segment, into: &scratch.words)
        let words = scratch.words
        for word in 0 ..< words.count {
            wordPiece.encode(words.scalars[words.range(word)], into: &ids)
        }
    }

    /// Appends the Unicode scalar values of `text`, with a fast path for contiguous UTF-8.
    private func decodeScalars(_ text: String, into output: inout [UInt32]) {
        var text = text
        text.makeContiguousUTF8()
        text.utf8.withContiguousStorageIfAvailable { bytes in
            output.reserveCapacity(bytes.count)
            var index = 0
            while index < bytes.count {
                let lead = UInt32(bytes[index])
                // Swift strings hold valid UTF-8, so the lead byte gives the sequence length.
                if lead < 0x80 {
                    output.append(lead)
                    index += 1
                } else if lead < 0xE0 {
                    output.append((lead & 0x1F) << 6 | UInt32(bytes[index + 1] & 0x3F))
                    index += 2
                } else if lead < 0xF0 {
                    output.append((lead & 0x0F) << 12 | UInt32(bytes[index + 1] & 0x3F) << 6
                                  | UInt32(bytes[index + 2] & 0x3F))
                    index += 3
                } else {
                    output.append((lead & 0x07) << 18 | UInt32(bytes[index + 1] & 0x3F) << 12
                                  | UInt32(bytes[index + 2] & 0x3F) << 6 | UInt32(bytes[index + 3] & 0x3F))
                    index += 4
                }
            }
        } ?? output.append(contentsOf: text.unicodeScalars.lazy.map(\.value))
    }
}
