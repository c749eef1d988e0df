import ArgumentParser
import Pipeline
import Training

/// Where a data file's texts and labels are, and what to do with bad rows: the flags `run`,
/// `finetune`, `distill`, `eval` and `bench latency` share (see `DatasetOptions`).
struct DataColumnOptions: ParsableArguments {
    @Option(name: .customLong("text-column"),
            help: "The text column (default: a known sentence-pair header, else sentence, else text).")
    var textColumn: String?
    @Option(name: .customLong("text-pair-column"), help: "The second text column of a sentence-pair task.")
    var textPairColumn: String?
    @Option(name: .customLong("label-column"), help: "The label column (default: label).") var labelColumn: String?
    @Flag(name: .customLong("skip-bad-rows"), help: "Skip and count malformed rows instead of stopping.")
    var skipBadRows = false

    /// These flags as `Dataset.load` options, with an existing label map when given.
    func datasetOptions(labelNames: [String]? = nil) -> DatasetOptions {
        DatasetOptions(textColumn: textColumn, textPairColumn: textPairColumn, labelColumn: labelColumn,
                       skipBadRows: skipBadRows, labelNames: labelNames)
    }

    /// Overrides the configuration's columns with the flags given.
    func apply(to config: inout PipelineConfig) {
        if let textColumn { config.textColumn = textColumn }
        if let textPairColumn { config.textPairColumn = textPairColumn }
        if let labelColumn { config.labelColumn = labelColumn }
        if skipBadRows { config.skipBadRows = true }
    }
}
