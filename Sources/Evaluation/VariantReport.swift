import Foundation
import Report

/// The human-readable side of `VariantEvaluation`: report.md and model_comparison.svg/.png.
public enum VariantReport {
    /// What every report says about how the figures were measured.
    public static func methodNotes(latencySentences: Int, latencyFile: String) -> [String] {
        ["Accuracy and macro-F1 on each evaluation file; retention is a variant's accuracy over the fp32 teacher's.",
         "Latency: batch 1, p50/p95/p99 over \(latencySentences) sentences of \(latencyFile) after a warm-up, "
            + "at 1 thread and at all threads; throughput at the batch size its column names. Peak RSS: a fresh process serving at batch 1 "
            + "(n/m: not measured, when the binary was not found under its name `edgedistill` to start one).",
         "Size: model.safetensors on disk. int8: Linear weights per output channel, activations per row at run time; "
            + "\"int8 emb\" also stores the word embeddings as int8 with a scale per row."]
    }

    /// Writes report.md, model_comparison.svg and model_comparison.png into `folder` from
    /// `VariantEvaluation.run`'s rows.
    public static func write(rows: [VariantFigures], title: String, notes: [String], to folder: String) throws {
        try ReportRenderer.write(title: title, variants: rows, notes: notes, to: folder)
    }

    /// The rows as JSON objects, for report.json (the keys of `VariantFigures.CodingKeys`).
    public static func jsonObjects(_ rows: [VariantFigures]) throws -> [Any] {
        let data = try JSONEncoder().encode(rows)
        return (try JSONSerialization.jsonObject(with: data) as? [Any]) ?? []
    }
}
