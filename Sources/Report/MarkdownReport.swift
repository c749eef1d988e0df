import Foundation

/// The GitHub-flavoured markdown report: a title, one table of every variant, then the notes.
///
/// Units: accuracy, macro-F1 and retention in % with 2 decimals; sizes and memory in MB (10^6
/// bytes); parameters in millions; latencies in ms; throughput in examples/s; speed-up as a factor.
/// Evaluation files get three columns each (accuracy, macro-F1, retention), in the order they first
/// appear; a variant without a file shows "n/a".
enum MarkdownReport {
    static func render(title: String, variants: [VariantFigures], notes: [String]) -> String {
        var files: [String] = []
        for variant in variants {
            for evaluation in variant.evaluations where !files.contains(evaluation.file) {
                files.append(evaluation.file)
            }
        }

        var header = ["Variant"]
        for file in files {
            let name = cell(file)
            header += ["Accuracy (\(name))", "Macro-F1 (\(name))", "Retention (\(name))"]
        }
        // The throughput column names its batch size when every variant was measured at the same one.
        let batchSizes = Set(variants.map(\.throughputBatchSize))
        let throughput = batchSizes.count == 1 ? "Throughput b\(batchSizes.first ?? 0) (ex/s)" : "Throughput (ex/s)"
        header += ["Size (MB)", "Params (M)", "p50 (ms)", "p95 (ms)", "p99 (ms)", "p50 all threads (ms)",
                   throughput, "Speed-up", "Peak RSS (MB)"]
        let alignment = ["---"] + Array(repeating: "---:", count: header.count - 1)

        var lines = ["# \(singleLine(title))", "", row(header), row(alignment)]
        for variant in variants {
            var cells = [cell(variant.name)]
            for file in files {
                if let evaluation = variant.evaluations.first(where: { $0.file == file }) {
                    cells += [percent(evaluation.accuracy), percent(evaluation.macroF1), percent(evaluation.retention)]
                } else {
                    cells += ["n/a", "n/a", "n/a"]
                }
            }
            cells += [
                fixed(Double(variant.sizeBytes) / 1e6, 2),
                fixed(Double(variant.parameters) / 1e6, 2),
                fixed(variant.latencyP50Ms, 2),
                fixed(variant.latencyP95Ms, 2),
                fixed(variant.latencyP99Ms, 2),
                fixed(variant.latencyP50MsAllThreads, 2),
                batchSizes.count == 1 ? fixed(variant.throughputExamplesPerS, 1)
                    : fixed(variant.throughputExamplesPerS, 1) + " (b\(variant.throughputBatchSize))",
                variant.speedup.isFinite ? fixed(variant.speedup, 2) + "x" : "n/a",
                // 0: not measured (no separate serving process ran, so no peak of serving alone exists).
                variant.peakRssBytes > 0 ? fixed(Double(variant.peakRssBytes) / 1e6, 1) : "n/m",
            ]
            lines.append(row(cells))
        }
        if variants.isEmpty {
            lines.append("")
            lines.append("_No variants were measured._")
        }
        if !notes.isEmpty {
            lines.append("")
            lines += notes.map { "- \(singleLine($0))" }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `value` (a fraction) as a percentage with 2 decimals: 0.91234 -> "91.23%".
    static func percent(_ value: Double) -> String {
        value.isFinite ? String(format: "%.2f%%", value * 100) : "n/a"
    }

    /// `value` with `decimals` decimals, "n/a" when not finite.
    static func fixed(_ value: Double, _ decimals: Int) -> String {
        value.isFinite ? String(format: "%.\(decimals)f", value) : "n/a"
    }

    private static func row(_ cells: [String]) -> String {
        "| " + cells.joined(separator: " | ") + " |"
    }

    /// Text safe in a table cell: one line, pipes escaped.
    static func cell(_ text: String) -> String {
        singleLine(text).replacingOccurrences(of: "|", with: "\\|")
    }

    private static func singleLine(_ text: String) -> String {
        text.split(whereSeparator: { $0.isNewline }).joined(separator: " ")
    }
}
