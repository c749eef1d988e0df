// Shapes: N packed tokens, C hidden, V vocabulary, P positions.

/// out[n] = wordTable[ids[n]] + positionTable[positions[n]].
public func embeddingForward(
    _ out: UnsafeMutablePointer<Float>,        // (N, C)
    _ ids: UnsafePointer<Int32>,               // (N)
    _ positions: UnsafePointer<Int32>,         // (N)
    _ wordTable: UnsafePointer<Float>,         // (V, C)
    _ positionTable: UnsafePointer<Float>,     // (P, C)
    tokens: Int, hidden: Int
) {
    for t in 0..<tokens {
        let o = out + t * hidden
        let w = wordTable + Int(ids[t]) * hidden
        let p = positionTable + Int(positions[t]) * hidden
        for c in 0..<hidden { o[c] = w[c] + p[c] }
    }
}

/// Scatter-adds dout into the rows of both tables that the forward pass read.
public func embeddingBackward(
    _ dwordTable: UnsafeMutablePointer<Float>,     // (V, C), accumulated
    _ dpositionTable: UnsafeMutablePointer<Float>, // (P, C), accumulated
    _ dout: UnsafePointer<Float>,                  // (N, C)
    _ ids: UnsafePointer<Int32>,                   // (N)
    _ positions: UnsafePointer<Int32>,             // (N)
    tokens: Int, hidden: Int
) {
    for t in 0..<tokens {
        let d = dout + t * hidden
        let w = dwordTable + Int(ids[t]) * hidden
        let p = dpositionTable + Int(positions[t]) * hidden
        for c in 0..<hidden {
            w[c] += d[c]
            p[c] += d[c]
        }
    }
}

extension Reference {
    /// Plain-loop reference of `embeddingForward`.
    public static func embedding(ids: [Int], positions: [Int], wordTable: [Double],
                                 positionTable: [Double], hidden: Int) -> [Double] {
        var out = [Double]()
        for (id, pos) in zip(ids, positions) {
            for c in 0..<hidden { out.append(wordTable[id * hidden + c] + positionTable[pos * hidden + c]) }
        }
        return out
    }
}
