import Foundation
import XCTest
import Model

/// Checks `BertTokenizer` against ids from Hugging Face transformers and its own contracts.
final class TokenizerTests: XCTestCase {
    /// Tests/Fixtures/tokenizer, found from this file so tests run from any working directory.
    static let fixtureDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/tokenizer", isDirectory: true)

    private struct Case {
        let text: String
        /// The second text of a sentence-pair case.
        let pair: String?
        let ids: [Int32]
        let maxLength: Int
    }

    /// Thrown (so the test fails, never skips) when the committed fixtures are absent.
    private struct MissingFixture: Error, CustomStringConvertible {
        let path: String
        var description: String { "missing fixture \(path): run python3 scripts/make_tokenizer_fixtures.py" }
    }

    private func fixtureTokenizer() throws -> BertTokenizer {
        let vocab = Self.fixtureDirectory.appendingPathComponent("vocab.txt")
        guard FileManager.default.fileExists(atPath: vocab.path) else {
            throw MissingFixture(path: vocab.path)
        }
        return try BertTokenizer.load(directory: Self.fixtureDirectory.path)
    }

    private func fixtureCases() throws -> [Case] {
        // EDGEDISTILL_TOKENIZER_CASES points at a larger, uncommitted case file when checking by hand.
        let override = ProcessInfo.processInfo.environment["EDGEDISTILL_TOKENIZER_CASES"]
        let url = override.map { URL(fileURLWithPath: $0) } ?? Self.fixtureDirectory.appendingPathComponent("cases.jsonl")
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw MissingFixture(path: url.path)
        }
        var cases: [Case] = []
        for line in data.split(separator: UInt8(ascii: "\n")) where !line.isEmpty {
            let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
            // The header line names the generator and has no "text".
            guard let text = object["text"] as? String else { continue }
            let ids = try XCTUnwrap(object["ids"] as? [Int])
            let maxLength = try XCTUnwrap(object["max_length"] as? Int)
            cases.append(Case(text: text, pair: object["text_pair"] as? String, ids: ids.map(Int32.init),
                              maxLength: maxLength))
        }
        return cases
    }

    // MARK: - Agreement with transformers

    func testMatchesTransformersOnEveryFixtureCase() throws {
        let tokenizer = try fixtureTokenizer()
        let cases = try fixtureCases()
        XCTAssertGreaterThanOrEqual(cases.count, 600, "the fixture should hold at least 600 cases")
        XCTAssertGreaterThanOrEqual(cases.filter { $0.pair != nil }.count, 300, "and at least 300 sentence pairs")
        var mismatches: [String] = []
        for testCase in cases {
            let got = tokenizer.encode(testCase.text, pair: testCase.pair, maxLength: testCase.maxLength)
            if got != testCase.ids {
                mismatches.append("""
                    text \(testCase.text.debugDescription) pair \(testCase.pair.debugDescription) \
                    (max_length \(testCase.maxLength))
                      expected \(testCase.ids)
                      got      \(got) \(tokenizer.tokenize(testCase.text))
                    """)
            }
        }
        XCTAssert(mismatches.isEmpty, """
            \(mismatches.count) of \(cases.count) cases differ from transformers; first ones:
            \(mismatches.prefix(5).joined(separator: "\n"))
            """)
    }

    func testFixtureVocabularyShape() throws {
        let tokenizer = try fixtureTokenizer()
        XCTAssertEqual(tokenizer.vocabularySize, 30522)
        XCTAssertEqual([tokenizer.padID, tokenizer.unkID, tokenizer.clsID, tokenizer.sepID], [0, 100, 101, 102])
        XCTAssertEqual(tokenizer.tokenize("Unaffable, isn't it?"), ["una", "##ffa", "##ble", ",", "isn", "'", "t", "it", "?"])
    }

    /// Behaviour of the pure-Python tokenizer that the Rust one does not share (so the fixture
    /// drops these cases): Python's `str.lower()` turns a word-final capital sigma into ς, and a
    /// special token that only appears once control characters are cleaned away is kept whole.
    func testFollowsPythonTokenizerWhereTheFastOneDiffers() throws {
        let tokenizer = try fixtureTokenizer()
        XCTAssertEqual(tokenizer.encode("ΣΑΣ"), [101, 1173, 14608, 19579, 102])
        XCTAssertEqual(tokenizer.encode("[CL\u{0}S]"), [101, 101, 102])
    }

    // MARK: - Encoding contracts

    /// A tiny vocabulary whose pieces make expected ids easy to read.
    private func tinyTokenizer() throws -> BertTokenizer {
        let tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "##a", "hello", "world", "##s", ",", "!"]
        return BertTokenizer(vocabulary: try Vocabulary(tokens: tokens))
    }

    func testEncodeBatchPadsToLongestWithMask() throws {
        let tokenizer = try tinyTokenizer()
        let batch = tokenizer.encodeBatch(["hello world!", "a", ""], maxLength: 128)
        XCTAssertEqual(batch.batchSize, 3)
        XCTAssertEqual(batch.sequenceLength, 5)
        XCTAssertEqual(batch.lengths, [5, 3, 2])
        XCTAssertEqual(batch.ids, [2, 7, 8, 11, 3,
                                   2, 5, 3, 0, 0,
                                   2, 3, 0, 0, 0])
        XCTAssertEqual(batch.attentionMask, [1, 1, 1, 1, 1,
                                             1, 1, 1, 0, 0,
                                             1, 1, 0, 0, 0])
    }

    func testEncodeBatchPadsToMaxLengthWhenAsked() throws {
        let tokenizer = try tinyTokenizer()
        let batch = tokenizer.encodeBatch(["a a", "hello"], maxLength: 6, padToLongest: false)
        XCTAssertEqual(batch.sequenceLength, 6)
        XCTAssertEqual(batch.ids, [2, 5, 5, 3, 0, 0,
                                   2, 7, 3, 0, 0, 0])
        XCTAssertEqual(batch.attentionMask, [1, 1, 1, 1, 0, 0,
                                             1, 1, 1, 0, 0, 0])
        let empty = tokenizer.encodeBatch([], maxLength: 6)
        XCTAssertEqual(empty.batchSize, 0)
        XCTAssertEqual(empty.ids, [])
    }

    func testTruncationKeepsSpecialTokens() throws {
        let tokenizer = try tinyTokenizer()
        let text = Array(repeating: "hello", count: 10).joined(separator: " ")
        XCTAssertEqual(tokenizer.encode(text, maxLength: 5), [2, 7, 7, 7, 3])
        XCTAssertEqual(tokenizer.encode(text, maxLength: 2), [2, 3])
        XCTAssertEqual(tokenizer.encode("hello", maxLength: 5), [2, 7, 3])
        let batch = tokenizer.encodeBatch([text, "a"], maxLength: 4)
        XCTAssertEqual(batch.ids, [2, 7, 7, 3,
                                   2, 5, 3, 0])
    }

    func testWordsOverOneHundredCharactersAreUnknown() throws {
        let tokenizer = try tinyTokenizer()
        let hundred = String(repeating: "a", count: 100)
        XCTAssertEqual(tokenizer.encode(hundred, maxLength: 512), [2, 5] + Array(repeating: 6, count: 99) + [3])
        XCTAssertEqual(tokenizer.encode(hundred + "a"), [2, 1, 3])
        // Counted in code points: 101 "é" (one code point each, "e" after accent stripping) is too long.
        XCTAssertEqual(tokenizer.encode(String(repeating: "\u{E1}", count: 101)), [2, 1, 3])
        // A word with a position no piece matches is one [UNK], pieces before it discarded.
        XCTAssertEqual(tokenizer.encode("aab hello"), [2, 1, 7, 3])
    }

    func testSpecialTokensInTextMapToTheirIDs() throws {
        let tokenizer = try tinyTokenizer()
        XCTAssertEqual(tokenizer.tokenize("hello[SEP]world [MASK]"), ["hello", "[SEP]", "world", "[MASK]"])
        XCTAssertEqual(tokenizer.tokenize("[sep]"), ["[UNK]", "[UNK]", "[UNK]"])
    }

    // MARK: - Loading

    private func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("edgedistill-tokenizer-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    func testLoadsFromTokenizerJSONOnly() throws {
        let folder = try temporaryDirectory()
        let json = """
            {"version": "1.0", "added_tokens": [{"id": 4, "content": "[MASK]", "special": true}],
             "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                       "max_input_chars_per_word": 100,
                       "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "hello": 5, "world": 6, "##s": 7}}}
            """
        try Data(json.utf8).write(to: folder.appendingPathComponent("tokenizer.json"))
        let tokenizer = try BertTokenizer.load(directory: folder.path)
        XCTAssertEqual(tokenizer.vocabularySize, 8)
        XCTAssertEqual(tokenizer.tokenize("Hello WORLDS"), ["hello", "world", "##s"])
        XCTAssertEqual(tokenizer.encode("Hello worlds [MASK]"), [2, 5, 6, 7, 4, 3])
        XCTAssertEqual(tokenizer.vocabulary.token(of: 4), "[MASK]")
    }

    func testVocabTxtToleratesCRLFAndKeepsTokensExactly() throws {
        let folder = try temporaryDirectory()
        let text = "[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\n hello\r\nhello\r\n"
        try Data(text.utf8).write(to: folder.appendingPathComponent("vocab.txt"))
        let vocabulary = try Vocabulary.load(directory: folder.path)
        XCTAssertEqual(vocabulary.tokens, ["[PAD]", "[UNK]", "[CLS]", "[SEP]", " hello", "hello"])
        XCTAssertEqual(vocabulary.id(of: "hello"), 5)
        // vocab.txt wins over tokenizer.json when both exist.
        try Data("{}".utf8).write(to: folder.appendingPathComponent("tokenizer.json"))
        XCTAssertEqual(try Vocabulary.load(directory: folder.path).count, 6)
    }

    func testMissingVocabularyNamesTheDirectory() throws {
        let folder = try temporaryDirectory()
        XCTAssertThrowsError(try BertTokenizer.load(directory: folder.path)) { error in
            let message = (error as? ModelError)?.message ?? ""
            XCTAssertTrue(message.contains("no vocab.txt or tokenizer.json in \(folder.path)"), message)
        }
    }

    func testEmptyOrIncompleteVocabularyIsRejected() throws {
        let folder = try temporaryDirectory()
        let vocab = folder.appendingPathComponent("vocab.txt")
        try Data().write(to: vocab)
        XCTAssertThrowsError(try Vocabulary.load(directory: folder.path)) { error in
            XCTAssertEqual((error as? ModelError)?.file, vocab.path)
            XCTAssertTrue("\(error)".contains("empty"), "\(error)")
        }
        try Data("[PAD]\n[UNK]\nhello\n".utf8).write(to: vocab)
        XCTAssertThrowsError(try Vocabulary.load(directory: folder.path)) { error in
            XCTAssertTrue("\(error)".contains("[CLS], [SEP]"), "\(error)")
        }
    }

    // Speed is measured by `edgedistill bench tokenizer --model DIR --data FILE` (a release build),
    // not here: see CommandCoverageTests.testBenchTokenizer.
}
