extension SequenceClassifier {
    /// The default choice of `count` teacher layers: evenly spaced from the first
    /// (6 -> 2 gives [0, 3]; 12 -> 6 gives [0, 2, 4, 6, 8, 10]). DistilBERT's initialisation took
    /// first and last, [0, 2, 4, 7, 9, 11]; for 6 -> 2 that is [0, 5], which held-out data did not
    /// favour over [0, 3] (nor did [0, 1]; BENCHMARKS.md, "Which teacher layers").
    public static func evenlySpacedLayers(_ count: Int, of total: Int) -> [Int] {
        (0..<count).map { $0 * total / max(count, 1) }
    }

    /// The teacher hidden state each student layer's output is pulled towards by hidden-state
    /// distillation, as a count of teacher layers (`hiddenStates(after:)`): the input of the teacher
    /// layer the next student layer was taken from, so each student layer learns to hand the next
    /// one what that layer was trained to read, and for the last student layer the teacher's last
    /// hidden state, the one the shared classification head reads (the last-to-last pairing of
    /// DistilBERT's cosine loss and TinyBERT's layer map). [0, 3] of 6 gives [3, 6].
    public static func hiddenStateTargets(layers: [Int], teacherLayerCount: Int) -> [Int] {
        layers.indices.map { $0 + 1 < layers.count ? layers[$0 + 1] : teacherLayerCount }
    }

    /// A smaller model of the same type made of the teacher's embeddings, the chosen layers
    /// (in the order given) and its head.
    public func student(layers chosen: [Int]) throws -> SequenceClassifier {
        guard !chosen.isEmpty else { throw ModelError("a student needs at least one layer") }
        guard quantization != .int8Dynamic else { throw ModelError("a student is made from an fp32 model, not an int8 one") }
        if let bad = chosen.first(where: { $0 < 0 || $0 >= config.layerCount }) {
            throw ModelError("student layer \(bad) does not exist: the teacher has layers 0...\(config.layerCount - 1)")
        }
        var studentConfig = config
        studentConfig.layerCount = chosen.count
        studentConfig.prunedHeads = [:]
        for (l, source) in chosen.enumerated() { if let heads = config.prunedHeads[source] { studentConfig.prunedHeads[l] = heads } }
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
