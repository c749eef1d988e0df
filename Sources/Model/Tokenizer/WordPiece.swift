/// Greedy longest-match-first WordPiece: splits one word into vocabulary pieces, continuation
/// pieces carrying the `##` prefix.
///
/// Mirrors `WordpieceTokenizer.tokenize` in transformers: a word longer than
/// `maxInputCharsPerWord` code points, or one with a position where no piece matches, becomes a
/// single `[UNK]`. Instead of building and hashing every candidate substring, as the Python does,
/// the vocabulary is a trie walked once per piece; the longest terminal node on the walk is the
/// piece transformers would pick, since it tries the longest substring first.
public struct WordPiece: Sendable {
    /// transformers' `max_input_chars_per_word`, counted in Unicode code points as Python counts.
    public static let maxInputCharsPerWord = 100

    private let trie: PieceTrie
    /// The node reached by walking "##" from the root: where continuation pieces start, or -1.
    private let continuationRoot: Int32
    let unkID: Int32

    /// Builds the piece trie of `vocabulary`.
    public init(vocabulary: Vocabulary) {
        var builder = PieceTrie.Builder()
        for (token, id) in vocabulary.ids {
            builder.insert(token.unicodeScalars.map(\.value), id: id)
        }
        trie = builder.build()
        let hash = UInt32(UInt8(ascii: "#"))
        let first = trie.child(of: PieceTrie.root, scalar: hash)
        continuationRoot = first < 0 ? -1 : trie.child(of: first, scalar: hash)
        unkID = vocabulary.unkID
    }

    /// The piece ids of `word` (lower-cased, accent-stripped scalars from `BasicTokenizer`).
    public func encode(_ word: String) -> [Int32] {
        var ids: [Int32] = []
        let scalars = word.unicodeScalars.map(\.value)
        encode(scalars[...], into: &ids)
        return ids
    }

    /// Appends the piece ids of `word` to `ids`.
    func encode(_ word: ArraySlice<UInt32>, into ids: inout [Int32]) {
        guard !word.isEmpty else { return }
        guard word.count <= Self.maxInputCharsPerWord else {
            ids.append(unkID)
            return
        }
        let firstPiece = ids.count
        var start = word.startIndex
        while start < word.endIndex {
            var node = start == word.startIndex ? PieceTrie.root : continuationRoot
            var matchEnd = -1
            var matchID: Int32 = -1
            var index = start
            while node >= 0, index < word.endIndex {
                node = trie.child(of: node, scalar: word[index])
                index += 1
                if node >= 0 {
                    let id = trie.terminal[Int(node)]
                    if id >= 0 { matchEnd = index; matchID = id }
                }
            }
            guard matchEnd >= 0 else {
                // No piece matches here: transformers discards the pieces found so far.
                ids.removeSubrange(firstPiece...)
                ids.append(unkID)
                return
            }
            ids.append(matchID)
            start = matchEnd
        }
    }
}

/// A trie over Unicode scalars whose edges live in one open-addressing hash table.
///
/// One flat table keyed by (parent node, scalar) keeps the whole 30k-token vocabulary in a few
/// arrays, so a look-up is a multiply, a shift and (almost always) one probe.
struct PieceTrie: Sendable {
    static let root: Int32 = 0
    private static let emptyKey = UInt64.max

    /// Token id ending at each node, or -1.
    let terminal: [Int32]
    private let keys: [UInt64]
    private let children: [Int32]
    private let shift: UInt64
    private let mask: Int

    /// The child of `node` along `scalar`, or -1.
    @inline(__always)
    func child(of node: Int32, scalar: UInt32) -> Int32 {
        let key = Self.key(node, scalar)
        var slot = Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift)
        while true {
            let stored = keys[slot]
            if stored == key { return children[slot] }
            if stored == Self.emptyKey { return -1 }
            slot = (slot &+ 1) & mask
        }
    }

    @inline(__always)
    private static func key(_ node: Int32, _ scalar: UInt32) -> UInt64 {
        // Scalars fit in 21 bits; node numbers are below 2^31.
        (UInt64(UInt32(bitPattern: node)) << 21) | UInt64(scalar)
    }

    /// Collects tokens, then lays the trie out into its hash table.
    struct Builder {
        private var terminal: [Int32] = [-1]
        private var edges: [UInt64: Int32] = [:]

        /// Adds `scalars` as a token with id `id`.
        mutating func insert(_ scalars: [UInt32], id: Int32) {
            var node = PieceTrie.root
            for scalar in scalars {
                let key = PieceTrie.key(node, scalar)
                if let next = edges[key] {
                    node = next
                } else {
                    let next = Int32(terminal.count)
                    terminal.append(-1)
                    edges[key] = next
                    node = next
                }
            }
            terminal[Int(node)] = id
        }

        func build() -> PieceTrie {
            // Load factor at most 1/2 keeps linear probing short.
            var bits = 4
            while (1 << bits) < 2 * max(edges.count, 1) { bits += 1 }
            let capacity = 1 << bits
            var keys = [UInt64](repeating: PieceTrie.emptyKey, count: capacity)
            var children = [Int32](repeating: -1, count: capacity)
            let shift = UInt64(64 - bits)
            for (key, child) in edges {
                var slot = Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift)
                while keys[slot] != PieceTrie.emptyKey { slot = (slot + 1) & (capacity - 1) }
                keys[slot] = key
                children[slot] = child
            }
            return PieceTrie(terminal: terminal, keys: keys, children: children, shift: shift, mask: capacity - 1)
        }
    }
}
