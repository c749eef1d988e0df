extension ModelConfig {
    /// The label names in class-id order (`id2label`).
    public var labelNames: [String] {
        (0..<labelCount).map { id2label[$0] ?? "LABEL_\($0)" }
    }
}
