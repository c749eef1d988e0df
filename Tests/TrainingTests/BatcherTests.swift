import Foundation
import XCTest
import Model
import Training

/// Checks `Batcher` (epoch order, bucketing) and `EncodedDataset` (tokenizing once, truncation).
final class BatcherTests: XCTestCase {
    /// SST-2-like sentence lengths in ids: mostly 10 to 30, a long tail to 66, from a fixed seed.
    private func randomLengths(_ count: Int, seed: UInt64) -> [Int] {
        var generator = NormalGenerator(seed: seed)
        return (0..<count).map { _ in min(66, max(3, Int(exp(2.8 + 0.55 * Double(generator.next()))) + 2)) }
    }

    /// Ids attention pads to: each batch costs its longest sequence times its size.
    private func paddedCost(_ batches: [[Int]], lengths: [Int]) -> Int {
        batches.reduce(0) { total, batch in total + (batch.map { lengths[$0] }.max() ?? 0) * batch.count }
    }

    private func assertCoversEveryIndexOnce(_ batches: [[Int]], count: Int, file: StaticString = #filePath,
                                            line: UInt = #line) {
        XCTAssertEqual(batches.flatMap { $0 }.sorted(), Array(0..<count), file: file, line: line)
    }

    func testEveryExampleOncePerEpochInEveryMode() {
        let count = 1003, lengths = randomLengths(count, seed: 1)
        for shuffle in [true, false] {
            for bucketed in [true, false] {
                let batcher = Batcher(count: count, batchSize: 16, seed: 7, shuffle: shuffle,
                                      lengthBucketed: bucketed, lengths: lengths, batchesPerBucket: 5)
                for epoch in 0..<3 {
                    let batches = batcher.batches(epoch: epoch)
                    assertCoversEveryIndexOnce(batches, count: count)
                    XCTAssertEqual(batches.count, batcher.batchCount)
                    XCTAssertEqual(batches.filter { $0.count != 16 }.map(\.count), [1003 % 16])
                }
            }
        }
    }

    func testDeterministicPerSeedAndEpochAndDifferentAcrossEpochs() {
        let lengths = randomLengths(500, seed: 2)
        for bucketed in [false, true] {
            let batcher = Batcher(count: 500, batchSize: 32, seed: 11, lengthBucketed: bucketed, lengths: lengths)
            let same = Batcher(count: 500, batchSize: 32, seed: 11, lengthBucketed: bucketed, lengths: lengths)
            let other = Batcher(count: 500, batchSize: 32, seed: 12, lengthBucketed: bucketed, lengths: lengths)
            XCTAssertEqual(batcher.batches(epoch: 1), batcher.batches(epoch: 1))
            XCTAssertEqual(batcher.batches(epoch: 1), same.batches(epoch: 1))
            XCTAssertNotEqual(batcher.batches(epoch: 1), batcher.batches(epoch: 2))
            XCTAssertNotEqual(batcher.batches(epoch: 1), other.batches(epoch: 1))
        }
    }

    func testWithoutShuffleOrderIsFileOrder() {
        let batches = Batcher(count: 10, batchSize: 4, seed: 3, shuffle: false).batches(epoch: 5)
        XCTAssertEqual(batches, [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]])
    }

    func testDropLastDropsOnlyThePartialBatch() {
        let lengths = randomLengths(103, seed: 4)
        for bucketed in [false, true] {
            let batcher = Batcher(count: 103, batchSize: 10, seed: 5, lengthBucketed: bucketed, lengths: lengths,
                                  dropLast: true, batchesPerBucket: 3)
            let batches = batcher.batches(epoch: 0)
            XCTAssertEqual(batches.count, 10)
            XCTAssertEqual(batcher.batchCount, 10)
            XCTAssertTrue(batches.allSatisfy { $0.count == 10 })
            XCTAssertEqual(Set(batches.flatMap { $0 }).count, 100)
        }
        XCTAssertEqual(Batcher(count: 100, batchSize: 10, seed: 5, dropLast: true).batches(epoch: 0).count, 10)
        XCTAssertEqual(Batcher(count: 5, batchSize: 10, seed: 5, dropLast: true).batches(epoch: 0), [])
        XCTAssertEqual(Batcher(count: 0, batchSize: 10, seed: 5).batches(epoch: 0), [])
    }

    func testBucketingCutsPadding() {
        let lengths = randomLengths(20_000, seed: 6)
        let plain = Batcher(count: lengths.count, batchSize: 32, seed: 8)
        let bucketed = Batcher(count: lengths.count, batchSize: 32, seed: 8, lengthBucketed: true, lengths: lengths)
        let plainCost = paddedCost(plain.batches(epoch: 0), lengths: lengths)
        let bucketedCost = paddedCost(bucketed.batches(epoch: 0), lengths: lengths)
        let real = lengths.reduce(0, +)
        print("padded ids: plain \(plainCost), bucketed \(bucketedCost), real \(real)")
        XCTAssertLessThan(Double(bucketedCost), 0.75 * Double(plainCost))
        XCTAssertLessThan(Double(bucketedCost), 1.1 * Double(real))
        // Buckets are sorted, yet the order batches come in is still shuffled.
        let maxima = bucketed.batches(epoch: 0).prefix(50).map { batch in batch.map { lengths[$0] }.max() ?? 0 }
        XCTAssertNotEqual(maxima, maxima.sorted())
    }

    func testBatchPacksSequencesAndLabels() {
        let data = EncodedDataset(sequences: [[101, 5, 102], [101, 102], [101, 7, 8, 102]], labels: [0, 1, 1])
        let batcher = Batcher(count: data.count, batchSize: 2, seed: 0)
        let (tokens, labels) = batcher.batch([2, 0], from: data)
        XCTAssertEqual(tokens.batchSize, 2)
        XCTAssertEqual(tokens.ids, [101, 7, 8, 102, 101, 5, 102])
        XCTAssertEqual(tokens.positions, [0, 1, 2, 3, 0, 1, 2])
        XCTAssertEqual(labels, [1, 0])
    }

    func testEncodingCountsTruncation() throws {
        let vocabulary = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/tokenizer")
        guard FileManager.default.fileExists(atPath: vocabulary.appendingPathComponent("vocab.txt").path) else {
            return XCTFail("missing fixture Tests/Fixtures/tokenizer/vocab.txt: run python3 scripts/make_tokenizer_fixtures.py")
        }
        let tokenizer = try BertTokenizer.load(directory: vocabulary.path)
        let word = "the"
        XCTAssertEqual(tokenizer.tokenIDs(word).count, 1)
        let texts = ["a good film", Array(repeating: word, count: 6).joined(separator: " "),  // exactly 8 ids
                     Array(repeating: word, count: 7).joined(separator: " "),  // 9: one too many
                     String(repeating: "unbelievably long sentence ", count: 20)]
        let dataset = Dataset(texts: texts, labels: [0, 1, 0, 1], labelNames: ["0", "1"], source: "memory")
        let encoded = EncodedDataset(dataset, tokenizer: tokenizer, maxLength: 8)
        XCTAssertEqual(encoded.truncatedCount, 2)
        XCTAssertEqual(encoded.sequences, texts.map { tokenizer.encode($0, maxLength: 8) })
        XCTAssertEqual(encoded.lengths[1], 8)
        XCTAssertTrue(encoded.lengths.allSatisfy { $0 <= 8 })
        XCTAssertEqual(encoded.labels, [0, 1, 0, 1])
        XCTAssertEqual(EncodedDataset(dataset, tokenizer: tokenizer, maxLength: 512).truncatedCount, 0)

        // Sentence pairs: [CLS] text [SEP] pair [SEP], cut by longest_first, counted when cut.
        let pairs = Dataset(texts: ["a good film", "the"], pairs: ["not really", Array(repeating: word, count: 9).joined(separator: " ")],
                            labels: [0, 1], labelNames: ["0", "1"], source: "memory")
        let encodedPairs = EncodedDataset(pairs, tokenizer: tokenizer, maxLength: 8)
        let (cls, sep) = (tokenizer.clsID, tokenizer.sepID)
        XCTAssertEqual(encodedPairs.sequences[0], [cls] + tokenizer.tokenIDs("a good film") + [sep] + tokenizer.tokenIDs("not really") + [sep])
        XCTAssertEqual(encodedPairs.sequences[1], [cls] + tokenizer.tokenIDs("the") + [sep] + Array(repeating: tokenizer.tokenIDs(word)[0], count: 4) + [sep])
        XCTAssertEqual(encodedPairs.truncatedCount, 1)
    }
}
