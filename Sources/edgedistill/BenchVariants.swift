import ArgumentParser
import Evaluation
import Foundation
import Kernels
import Pipeline
import Training

/// `edgedistill bench variants --teacher DIR --student DIR --eval FILE... --out DIR`: the issue-5
/// table for an existing run without retraining. Writes the quantized students into `--out`, measures
/// every variant (`VariantEvaluation`; latency and peak RSS in a child `bench latency` process each)
/// and writes `--out`/variants.json (the rows `report.json` holds under `variants`).
struct BenchVariants: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "variants", abstract: "Quantize a student and measure teacher, fp32, fp16 and int8 variants.")

    @Option(help: "The fp32 teacher folder.") var teacher: String
    @Option(help: "The fp32 student folder.") var student: String
    @Option(name: .customLong("eval"), help: "Labelled evaluation files (the first also gives the timed sentences).") var evalFiles: [String]
    @Option(help: "Folder for student-int8/, student-int8-emb/, student-fp16/ and variants.json.") var out: String
    @Option(name: .customLong("latency-sentences")) var latencySentences = 200
    @Option(name: .customLong("max-length")) var maxLength = 128
    @Option(name: .customLong("all-threads"), help: "The 'all threads' count (default: the CPU count).") var allThreads: Int?
    @Flag(help: "Print the rows as JSON.") var json = false

    func run() throws {
        try reportingErrors {
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            var options = VariantEvaluation.Options()
            options.latencySentences = latencySentences
            options.maxLength = maxLength
            if let allThreads { options.allThreads = allThreads }
            options.servingExecutable = Bundle.main.executablePath
            let rows = try VariantEvaluation.run(teacher: teacher, student: student, evaluationFiles: evalFiles,
                                                 outputFolder: out, options: options, log: printError)
            try writeJSON(try VariantReport.jsonObjects(rows), to: (out as NSString).appendingPathComponent("variants.json"))
            try VariantReport.write(rows: rows, title: "EdgeDistill: \((student as NSString).lastPathComponent) and its variants",
                                    notes: VariantReport.methodNotes(latencySentences: latencySentences, latencyFile: evalFiles.first ?? "-"),
                                    to: out)
            if json { print(try jsonString(try VariantReport.jsonObjects(rows))) }
        }
    }
}
