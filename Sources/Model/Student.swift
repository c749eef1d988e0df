extension SequenceClassifier {
    /// The default choice of `count` teacher layers: evenly spaced from the first
    /// (6 -> 2 gives [0, 3]; 12 -> 6 gives [0, 2, 4, 6, 8, 10]). DistilBERT's initialisation took
    /// first and last, [0, 2, 4, 7, 9, 11]; for 6 -> 2 that is [0, 5], which held-out data did not
    /// favour over [0, 3] (nor did [0, 1]; BENCHMARKS.md, "Which teacher layers").
    public static func evenlySpacedLayers(_ count: Int, of total: Int) -> [Int] {
        (0..<count).map { $0 * total / max(count, 1) }
    }

    /// A smaller model of the same type made of the teacher's embeddings, the chosen layers
    /// (in the order given) and its head.
    public func student(layers chosen: [Int]) throws -> SequenceClassifier {
        guard !chosen.isEmpty else { throw ModelError("a student needs at least one layer") }
        if let bad = chosen.first(where: { $0 < 0 || $0 >= config.layerCount }) {
            throw ModelError("student layer \(bad) does not exist: the teacher has layers 0...\(config.layerCount - 1)")
        }
        var studentConfig = config
        studentConfig.layerCount = chosen.count
        let student = SequenceClassifier(config: studentConfig, headActivation: headActivation)
        for entry in student.layout.entries {
            var source = entry.name
            if entry.name.hasPrefix("transformer.layer.") {
                let rest = entry.name.dropFirst("transformer.layer.".count)
                guard let dot = rest.firstIndex(of: "."), let l = Int(rest[..<dot]) else { continue }
                source = "transformer.layer.\(chosen[l])" + rest[dot...]
            }
            student.parameters[entry].update(from: parameter(source), count: entry.count)
        }
        return student
    }
}
