import ArgumentParser
import Foundation
import Model
import Pipeline

/// `edgedistill prune --model STUDENT [--heads N] [--ffn N] ...`: structured pruning of a student's
/// attention heads and FFN neurons by gradient-times-weight on the training data, then a brief
/// distillation from the teacher
/// (`StructuredPruning`); writes OUT/student in the standard layout.
struct Prune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Prune a distilled student's attention heads and FFN neurons by importance, then distil it again briefly from its teacher.")

    @Option(help: "The distilled student to prune (fp32).") var model: String
    @Option(help: "Attention heads to keep in every layer.") var heads: Int?
    @Option(help: "FFN neurons to keep in every layer.") var ffn: Int?
    @Option(name: .customLong("importance-batches"), help: "Training batches the importance is summed over.") var importanceBatches = 50
    @OptionGroup var pipeline: PipelineOptions

    func run() throws {
        try reportingErrors {
            let config = try pipeline.resolve()
            if FileManager.default.fileExists(atPath: (config.out as NSString).appendingPathComponent("student")), !pipeline.overwrite {
                throw ModelError(file: config.out, "holds a student already: pass --overwrite to replace it, or choose another --out")
            }
            let report = try StructuredPruning(config: config, student: model, heads: heads, ffn: ffn, importanceBatches: importanceBatches).run()
            try printResult(report, json: pipeline.json)
        }
    }
}
