import Foundation

/// A WordPiece vocabulary: the token strings of a BERT-family model and their ids.
///
/// Built from `vocab.txt` (one token per line, id = line index) or, when a model folder has only
/// a Hugging Face `tokenizer.json`, from its `model.vocab` dictionary. Construction checks that
/// the special tokens a BERT encoder needs are present, so users of a `Vocabulary` can rely on
/// `clsID`, `sepID`, `padID` and `unkID`.
public struct Vocabulary: Sendable, Equatable {
    /// The spellings of the special tokens, as in BERT's `special_tokens_map.json`.
    public static let clsToken = "[CLS]"
    public static let sepToken = "[SEP]"
    public static let padToken = "[PAD]"
    public static let unkToken = "[UNK]"
    public static let maskToken = "[MASK]"

    /// Token string by id; ids with no token (gaps in a tokenizer.json vocab) hold "".
    public let tokens: [String]
    /// Id by token string. When a token appears twice, the later id wins, as in transformers' `load_vocab`.
    public let ids: [String: Int32]
    public let clsID: Int32
    public let sepID: Int32
    public let padID: Int32
    public let unkID: Int32
    /// The `[MASK]` id; optional because classification never needs it.
    public let maskID: Int32?

    /// Number of ids (the embedding table's row count).
    public var count: Int { tokens.count }

    /// Builds a vocabulary where token `i` has id `i`; `file` names the source in errors.
    public init(tokens: [String], file: String? = nil) throws {
        var ids: [String: Int32] = [:]
        ids.reserveCapacity(tokens.count)
        for (index, token) in tokens.enumerated() {
            ids[token] = Int32(index)
        }
        try self.init(tokens: tokens, ids: ids, file: file)
    }

    /// Builds a vocabulary from a token → id map (the tokenizer.json shape); `file` names the source in errors.
    public init(tokenIDs: [String: Int], file: String? = nil) throws {
        guard !tokenIDs.isEmpty else {
            throw ModelError(file: file, "the WordPiece vocabulary is empty")
        }
        var largest = -1
        for (token, id) in tokenIDs {
            // Ids index the embedding table, so they must be small non-negative integers.
            guard id >= 0, id < Int(Int32.max) else {
                throw ModelError(file: file, "token \(Self.quoted(token)) has id \(id); ids must be between 0 and \(Int32.max - 1)")
            }
            largest = max(largest, id)
        }
        guard largest < 16 * max(tokenIDs.count, 1024) else {
            throw ModelError(file: file, "the largest token id is \(largest) but there are only \(tokenIDs.count) tokens; the vocabulary is corrupt")
        }
        var tokens = [String](repeating: "", count: largest + 1)
        var ids: [String: Int32] = [:]
        ids.reserveCapacity(tokenIDs.count)
        for (token, id) in tokenIDs {
            tokens[id] = token
            ids[token] = Int32(id)
        }
        try self.init(tokens: tokens, ids: ids, file: file)
    }

    private init(tokens: [String], ids: [String: Int32], file: String?) throws {
        guard !tokens.isEmpty else {
            throw ModelError(file: file, "the WordPiece vocabulary is empty")
        }
        let required = [Self.clsToken, Self.sepToken, Self.padToken, Self.unkToken]
        let missing = required.filter { ids[$0] == nil }
        guard missing.isEmpty, let cls = ids[Self.clsToken], let sep = ids[Self.sepToken],
              let pad = ids[Self.padToken], let unk = ids[Self.unkToken] else {
            throw ModelError(file: file, "the vocabulary lacks \(missing.joined(separator: ", ")); a BERT tokenizer needs [CLS], [SEP], [PAD] and [UNK]")
        }
        self.tokens = tokens
        self.ids = ids
        self.clsID = cls
        self.sepID = sep
        self.padID = pad
        self.unkID = unk
        self.maskID = ids[Self.maskToken]
    }

    /// The id of `token`, or nil when it is not in the vocabulary.
    public func id(of token: String) -> Int32? { ids[token] }

    /// The token with id `id`, or nil when `id` is out of range.
    public func token(of id: Int32) -> String? {
        let index = Int(id)
        return tokens.indices.contains(index) ? tokens[index] : nil
    }

    // MARK: - Loading

    /// Loads the vocabulary of the model in `directory`: `vocab.txt` when present, else `tokenizer.json`.
    public static func load(directory: String) throws -> Vocabulary {
        let folder = URL(fileURLWithPath: directory, isDirectory: true)
        let vocabTxt = folder.appendingPathComponent("vocab.txt").path
        let tokenizerJSON = folder.appendingPathComponent("tokenizer.json").path
        let files = FileManager.default
        if files.fileExists(atPath: vocabTxt) {
            return try load(vocabTxt: vocabTxt)
        }
        if files.fileExists(atPath: tokenizerJSON) {
            return try load(tokenizerJSON: tokenizerJSON)
        }
        throw ModelError(file: directory, "no vocab.txt or tokenizer.json in \(directory): a BERT tokenizer needs its WordPiece vocabulary")
    }

    /// Loads a `vocab.txt`: one token per line, id = line index.
    public static func load(vocabTxt path: String) throws -> Vocabulary {
        let data = try readFile(path)
        guard !data.isEmpty else {
            throw ModelError(file: path, "the file is empty; expected one WordPiece token per line")
        }
        return try Vocabulary(tokens: try parseLines(data, file: path), file: path)
    }

    /// Loads the `model.vocab` map of a Hugging Face `tokenizer.json` with a WordPiece model.
    public static func load(tokenizerJSON path: String) throws -> Vocabulary {
        let data = try readFile(path)
        guard !data.isEmpty else {
            throw ModelError(file: path, "the file is empty; expected a Hugging Face tokenizer.json")
        }
        return try parseTokenizerJSON(data, file: path)
    }

    /// Splits `vocab.txt` bytes into tokens.
    ///
    /// Python reads the file in text mode, where "\n", "\r\n" and a lone "\r" all end a line, and
    /// transformers' `load_vocab` keeps everything else (spaces included) as the token. A final
    /// line ending does not start another token.
    static func parseLines(_ data: Data, file: String?) throws -> [String] {
        guard let text = String(validating: data, as: UTF8.self) else {
            throw ModelError(file: file, "the file is not valid UTF-8")
        }
        var tokens: [String] = []
        tokens.reserveCapacity(32_768)
        var line = String.UnicodeScalarView()
        var afterCR = false
        var pending = false
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n":
                if !afterCR { tokens.append(String(line)); line = String.UnicodeScalarView() }
                afterCR = false
                pending = false
            case "\r":
                tokens.append(String(line))
                line = String.UnicodeScalarView()
                afterCR = true
                pending = false
            default:
                line.append(scalar)
                afterCR = false
                pending = true
            }
        }
        if pending { tokens.append(String(line)) }
        return tokens
    }

    /// Reads the WordPiece vocabulary out of tokenizer.json bytes.
    static func parseTokenizerJSON(_ data: Data, file: String?) throws -> Vocabulary {
        let root: Any
        do {
            root = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw ModelError(file: file, "not valid JSON (\(error.localizedDescription)); expected a Hugging Face tokenizer.json")
        }
        guard let object = root as? [String: Any], let model = object["model"] as? [String: Any] else {
            throw ModelError(file: file, "no \"model\" object; expected a Hugging Face tokenizer.json")
        }
        if let type = model["type"] as? String, type != "WordPiece" {
            throw ModelError(file: file, "the tokenizer model is \(type); a BERT tokenizer needs a WordPiece model")
        }
        guard let vocab = model["vocab"] as? [String: Any] else {
            throw ModelError(file: file, "no \"model.vocab\" object; expected the WordPiece vocabulary there")
        }
        guard !vocab.isEmpty else {
            throw ModelError(file: file, "\"model.vocab\" is empty; expected the WordPiece vocabulary there")
        }
        var tokenIDs: [String: Int] = [:]
        tokenIDs.reserveCapacity(vocab.count)
        for (token, value) in vocab {
            guard let id = integer(value) else {
                throw ModelError(file: file, "model.vocab[\(quoted(token))] is not an integer id")
            }
            tokenIDs[token] = id
        }
        // Added tokens live outside model.vocab in tokenizer.json; the tokenizers library
        // resolves them first, so fold in any the vocab does not already name.
        if let added = object["added_tokens"] as? [[String: Any]] {
            for entry in added {
                if let content = entry["content"] as? String, let id = entry["id"].flatMap(integer),
                   tokenIDs[content] == nil {
                    tokenIDs[content] = id
                }
            }
        }
        return try Vocabulary(tokenIDs: tokenIDs, file: file)
    }

    private static func integer(_ value: Any) -> Int? {
        if let int = value as? Int { return int }
        if let double = value as? Double, double.rounded() == double, abs(double) < 1e12 { return Int(double) }
        return nil
    }

    private static func readFile(_ path: String) throws -> Data {
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ModelError(file: path, "cannot read the file (\(error.localizedDescription))")
        }
    }

    private static func quoted(_ token: String) -> String {
        "\"" + token.unicodeScalars.map { $0.escaped(asASCII: false) }.joined() + "\""
    }
}
