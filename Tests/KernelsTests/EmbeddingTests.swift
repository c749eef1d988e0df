import XCTest
import Kernels

/// `embeddingForward`/`embeddingBackward` against `Reference.embedding` and its finite-difference
/// gradient for both tables (with repeated ids and positions), and gradient accumulation.
final class EmbeddingTests: XCTestCase {
    let forwardTolerance = 1e-7   // one Float32 add per element
    let gradientTolerance = 1e-3

    struct Case {
        let tokens, hidden, vocabulary, positionCount: Int
        let ids, positions: [Int32]
        let words, places: [Float]
        init(tokens: Int, hidden: Int, vocabulary: Int, positions: Int, seed: UInt64) {
            (self.tokens, self.hidden, self.vocabulary, self.positionCount) = (tokens, hidden, vocabulary, positions)
            ids = randomIndices(tokens, seed: seed, below: vocabulary)
            self.positions = randomIndices(tokens, seed: seed + 1, below: positions)
            words = randomFloats(vocabulary * hidden, seed: seed + 2)
            places = randomFloats(positions * hidden, seed: seed + 3)
        }
        func reference(_ words: [Double], _ places: [Double]) -> [Double] {
            Reference.embedding(ids: ids.map(Int.init), positions: positions.map(Int.init),
                                wordTable: words, positionTable: places, hidden: hidden)
        }
        func backward(_ dwords: inout [Float], _ dplaces: inout [Float], _ dout: [Float]) {
            embeddingBackward(&dwords, &dplaces, dout, ids, positions, tokens: tokens, hidden: hidden)
        }
    }

    // Fewer table rows than tokens: ids and positions repeat, so the scatter-add is exercised.
    let cases = [Case(tokens: 7, hidden: 13, vocabulary: 5, positions: 3, seed: 1),
                 Case(tokens: 9, hidden: 67, vocabulary: 4, positions: 6, seed: 2)]

    func testForwardMatchesReference() {
        for c in cases {
            var out = [Float](repeating: .nan, count: c.tokens * c.hidden)
            embeddingForward(&out, c.ids, c.positions, c.words, c.places, tokens: c.tokens, hidden: c.hidden)
            assertClose(out, c.reference(widened(c.words), widened(c.places)), tolerance: forwardTolerance,
                        "embedding \(c.tokens)x\(c.hidden)")
        }
    }

    func testBackwardMatchesFiniteDifferences() {
        for (i, c) in cases.enumerated() {
            XCTAssertLessThan(Set(c.ids).count, c.tokens, "the case must repeat an id")
            let w = randomFloats(c.tokens * c.hidden, seed: 50 + UInt64(i))
            var dwords = [Float](repeating: 0, count: c.words.count)
            var dplaces = [Float](repeating: 0, count: c.places.count)
            c.backward(&dwords, &dplaces, w)
            let (words, places, dw) = (widened(c.words), widened(c.places), widened(w))
            assertClose(dwords, numericGradient(of: { c.reference($0, places) }, at: words, weights: dw),
                        tolerance: gradientTolerance, "embedding \(c.tokens)x\(c.hidden) dwordTable")
            assertClose(dplaces, numericGradient(of: { c.reference(words, $0) }, at: places, weights: dw),
                        tolerance: gradientTolerance, "embedding \(c.tokens)x\(c.hidden) dpositionTable")
        }
    }

    func testBackwardAccumulates() {
        let c = cases[0]
        let w = randomFloats(c.tokens * c.hidden, seed: 60)
        var once = ([Float](repeating: 0, count: c.words.count), [Float](repeating: 0, count: c.places.count))
        c.backward(&once.0, &once.1, w)
        let existing = (randomFloats(c.words.count, seed: 61), randomFloats(c.places.count, seed: 62))
        var twice = existing
        c.backward(&twice.0, &twice.1, w)
        c.backward(&twice.0, &twice.1, w)
        assertClose(twice.0, zip(existing.0, once.0).map { Double($0) + 2 * Double($1) },
                    tolerance: 1e-6, "dwordTable accumulates")
        assertClose(twice.1, zip(existing.1, once.1).map { Double($0) + 2 * Double($1) },
                    tolerance: 1e-6, "dpositionTable accumulates")
    }
}
