import Foundation

/// Words laid end to end in one scalar buffer, so splitting text allocates no per-word storage.
///
/// Word `i` is `scalars[start(i) ..< ends[i]]`, where `start(0) = 0` and `start(i) = ends[i - 1]`.
struct WordBuffer {
    var scalars: [UInt32] = []
    var ends: [Int] = []

    var count: Int { ends.count }

    /// The scalar range of word `index`.
    func range(_ index: Int) -> Range<Int> {
        (index == 0 ? 0 : ends[index - 1]) ..< ends[index]
    }

    /// Empties the buffer, keeping its storage for the next text.
    mutating func removeAll() {
        scalars.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
    }

    /// Ends the current word at the buffer's end, unless it would be empty.
    mutating func closeWord() {
        closeWord(endingAt: scalars.count)
    }

    /// Ends the current word just before scalar `end`, unless it would be empty.
    mutating func closeWord(endingAt end: Int) {
        if end > (ends.last ?? 0) { ends.append(end) }
    }
}

/// BERT's basic tokenizer for uncased models: clean, split CJK, lower-case, strip accents, split
/// on whitespace and punctuation.
///
/// Mirrors `BasicTokenizer` in transformers (do_lower_case=True, tokenize_chinese_chars=True,
/// strip_accents=None) step for step, including Python's `str.lower()` and `unicodedata`
/// normalisation. Text made only of ASCII (most English text) takes a fast path that needs no
/// normalisation and no Unicode property look-ups; any other whitespace-delimited token takes the
/// exact path.
public struct BasicTokenizer: Sendable {
    /// Tokens kept whole (not lower-cased, not split), like transformers' `never_split`.
    let neverSplit: [[UInt32]]

    /// Creates a basic tokenizer; `neverSplit` lists tokens kept whole (BERT passes its special tokens).
    public init(neverSplit: [String] = []) {
        self.neverSplit = neverSplit.map { $0.unicodeScalars.map(\.value) }
    }

    /// Splits `text` into words, as `BasicTokenizer.tokenize` in transformers does.
    public func tokenize(_ text: String) -> [String] {
        var words = WordBuffer()
        split(ArraySlice(text.unicodeScalars.map(\.value)), into: &words)
        return (0 ..< words.count).map { index in
            var view = String.UnicodeScalarView()
            for value in words.scalars[words.range(index)] {
                if let scalar = Unicode.Scalar(value) { view.append(scalar) }
            }
            return String(view)
        }
    }

    /// Appends the words of `input` (Unicode scalar values) to `words`.
    func split(_ input: ArraySlice<UInt32>, into words: inout WordBuffer) {
        // A "token" here is one whitespace-delimited run of the cleaned text (transformers'
        // `orig_tokens`); it is lower-cased and split on punctuation when it ends.
        var tokenStart = words.scalars.count
        var tokenIsASCII = true
        for value in input {
            if value < 0x80 {
                switch CharacterTables.asciiKind[Int(value)] {
                case CharacterTables.whitespace:
                    finishToken(from: tokenStart, plain: tokenIsASCII, into: &words)
                    tokenStart = words.scalars.count
                    tokenIsASCII = true
                case CharacterTables.control:
                    continue
                default:
                    words.scalars.append(value)
                }
                continue
            }
            let scalar = Unicode.Scalar(value) ?? "\u{FFFD}"
            // Mirrors BasicTokenizer._clean_text: drop U+FFFD and controls, map whitespace to space.
            if value == 0xFFFD || CharacterTables.isControl(scalar) { continue }
            if CharacterTables.isSeparator(scalar) {
                finishToken(from: tokenStart, plain: tokenIsASCII, into: &words)
                tokenStart = words.scalars.count
                tokenIsASCII = true
                continue
            }
            // Mirrors BasicTokenizer._tokenize_chinese_chars: a CJK ideograph is a token of its own.
            if CharacterTables.isChineseCharacter(value) {
                finishToken(from: tokenStart, plain: tokenIsASCII, into: &words)
                words.scalars.append(value)
                // Compatibility ideographs change under NFC, so they need the exact path.
                let stable = !((0xF900 ... 0xFAFF).contains(value) || (0x2F800 ... 0x2FA1F).contains(value))
                finishToken(from: words.scalars.count - 1, plain: stable, into: &words)
                tokenStart = words.scalars.count
                tokenIsASCII = true
                continue
            }
            words.scalars.append(value)
            tokenIsASCII = false
        }
        finishToken(from: tokenStart, plain: tokenIsASCII, into: &words)
    }

    /// Lower-cases and punctuation-splits the token `words.scalars[start...]` in place.
    ///
    /// `plain` marks ASCII tokens, and other tokens that need no normalisation (unchanged by
    /// NFC, lower-casing and NFD, and without punctuation), which the ASCII rules handle correctly.
    private func finishToken(from start: Int, plain: Bool, into words: inout WordBuffer) {
        let end = words.scalars.count
        guard end > start else { return }
        if isNeverSplit(words.scalars[start ..< end]) {
            words.closeWord()
            return
        }
        if plain {
            for index in start ..< end {
                let value = words.scalars[index]
                if value < 0x80 {
                    let lowered = UInt32(CharacterTables.asciiLower[Int(value)])
                    words.scalars[index] = lowered
                    if CharacterTables.asciiKind[Int(value)] == CharacterTables.punctuation {
                        // Mirrors BasicTokenizer._run_split_on_punc: punctuation is a word of its own.
                        words.closeWord(endingAt: index)
                        words.ends.append(index + 1)
                    }
                }
            }
            words.closeWord()
            return
        }
        let normalized = normalize(words.scalars[start ..< end])
        words.scalars.removeSubrange(start ..< end)
        if isNeverSplit(normalized[...]) {
            words.scalars.append(contentsOf: normalized)
            words.closeWord()
            return
        }
        let folded = Self.stripAccents(Self.pythonLower(normalized))
        for value in folded {
            if CharacterTables.isPunctuation(value) {
                words.closeWord()
                words.scalars.append(value)
                words.ends.append(words.scalars.count)
            } else {
                words.scalars.append(value)
            }
        }
        words.closeWord()
    }

    private func isNeverSplit(_ token: ArraySlice<UInt32>) -> Bool {
        for candidate in neverSplit where candidate.count == token.count && candidate.elementsEqual(token) {
            return true
        }
        return false
    }

    /// NFC, as BasicTokenizer.tokenize applies to the whole text before splitting on whitespace.
    ///
    /// Doing it per token gives the same result: NFC never composes across a space.
    private func normalize(_ token: ArraySlice<UInt32>) -> [UInt32] {
        Self.scalars(of: Self.string(of: token).precomposedStringWithCanonicalMapping)
    }

    /// Python's `str.lower()`: full Unicode lower-case mappings, plus the final-sigma rule.
    static func pythonLower(_ token: [UInt32]) -> [UInt32] {
        var output: [UInt32] = []
        output.reserveCapacity(token.count)
        for (index, value) in token.enumerated() {
            if value < 0x80 {
                output.append(UInt32(CharacterTables.asciiLower[Int(value)]))
                continue
            }
            if value == 0x3A3 {
                output.append(isFinalSigma(token, at: index) ? 0x3C2 : 0x3C3)
                continue
            }
            guard let scalar = Unicode.Scalar(value), scalar.properties.changesWhenLowercased else {
                output.append(value)
                continue
            }
            output.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars.map(\.value))
        }
        return output
    }

    /// Whether capital sigma at `index` ends a word, following CPython's `handle_capital_sigma`:
    /// a cased letter before it (skipping case-ignorables) and none after it.
    static func isFinalSigma(_ token: [UInt32], at index: Int) -> Bool {
        func properties(_ value: UInt32) -> Unicode.Scalar.Properties? { Unicode.Scalar(value)?.properties }
        var before = index - 1
        while before >= 0, properties(token[before])?.isCaseIgnorable == true { before -= 1 }
        guard before >= 0, properties(token[before])?.isCased == true else { return false }
        var after = index + 1
        while after < token.count, properties(token[after])?.isCaseIgnorable == true { after += 1 }
        return after == token.count || properties(token[after])?.isCased != true
    }

    /// Mirrors BasicTokenizer._run_strip_accents: NFD, then drop nonspacing marks (category Mn).
    static func stripAccents(_ token: [UInt32]) -> [UInt32] {
        if token.allSatisfy({ $0 < 0x80 }) { return token }
        let decomposed = string(of: token[...]).decomposedStringWithCanonicalMapping
        return decomposed.unicodeScalars.compactMap { scalar in
            scalar.properties.generalCategory == .nonspacingMark ? nil : scalar.value
        }
    }

    private static func string(of values: ArraySlice<UInt32>) -> String {
        var view = String.UnicodeScalarView()
        for value in values {
            if let scalar = Unicode.Scalar(value) { view.append(scalar) }
        }
        return String(view)
    }

    private static func scalars(of string: String) -> [UInt32] {
        string.unicodeScalars.map(\.value)
    }
}

/// Character classes of BERT's basic tokenizer, mirroring `_is_whitespace`, `_is_control`,
/// `_is_punctuation` and `_is_chinese_char` in transformers.
enum CharacterTables {
    static let other: UInt8 = 0
    static let whitespace: UInt8 = 1
    static let control: UInt8 = 2
    static let punctuation: UInt8 = 3

    /// The class of each ASCII code point.
    static let asciiKind: [UInt8] = (0 ..< 128).map { value -> UInt8 in
        switch value {
        // Tab, newline and carriage return are whitespace, not control, in _is_whitespace.
        case 9, 10, 13, 32: return whitespace
        // NUL is dropped by _clean_text explicitly; the rest are category Cc.
        case 0 ..< 32, 127: return control
        // _is_punctuation treats all non-alphanumeric printable ASCII as punctuation.
        case 33 ... 47, 58 ... 64, 91 ... 96, 123 ... 126: return punctuation
        default: return other
        }
    }

    /// ASCII lower-casing table.
    static let asciiLower: [UInt8] = (0 ..< 128).map { value in
        (65 ... 90).contains(value) ? UInt8(value + 32) : UInt8(value)
    }

    /// `_is_control`: any category starting with "C" (Cc, Cf, Cs, Co, Cn).
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned: return true
        default: return false
        }
    }

    /// Whether a non-ASCII scalar ends a whitespace token: category Zs (`_is_whitespace`), or
    /// the line and paragraph separators that `_clean_text` keeps but Python's `str.split()`
    /// splits on.
    static func isSeparator(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.value == 0x2028 || scalar.value == 0x2029 { return true }
        return scalar.properties.generalCategory == .spaceSeparator
    }

    /// `_is_punctuation`: the ASCII symbol ranges, or any category starting with "P".
    static func isPunctuation(_ value: UInt32) -> Bool {
        if value < 0x80 { return asciiKind[Int(value)] == punctuation }
        guard let scalar = Unicode.Scalar(value) else { return false }
        switch scalar.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return true
        default:
            return false
        }
    }

    /// `_is_chinese_char`: the CJK Unified Ideographs blocks transformers lists (not Hangul or kana).
    static func isChineseCharacter(_ value: UInt32) -> Bool {
        (0x4E00 ... 0x9FFF).contains(value)
            || (0x3400 ... 0x4DBF).contains(value)
            || (0x20000 ... 0x2A6DF).contains(value)
            || (0x2A700 ... 0x2B73F).contains(value)
            || (0x2B740 ... 0x2B81F).contains(value)
            || (0x2B820 ... 0x2CEAF).contains(value)
            || (0xF900 ... 0xFAFF).contains(value)
            || (0x2F800 ... 0x2FA1F).contains(value)
    }
}
