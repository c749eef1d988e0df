import ArgumentParser
import Kernels

@main
struct EdgeDistill: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edgedistill",
        abstract: "Distil a BERT-family text classifier into a small, fast student.",
        version: "edgedistill 0.20 (\(ISA.summary))",
        subcommands: [Run.self, FineTune.self, Distill.self, Eval.self, Inspect.self, Bench.self, Quantize.self, Export.self, PruneVocab.self, Prune.self, SweepCommand.self, Predict.self,
                      CoordinatorCommand.self, WorkerCommand.self, Keygen.self])
}
