import ArgumentParser

@main
struct EdgeDistill: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edgedistill",
        abstract: "Distil a BERT-family text classifier into a small, fast student.",
        subcommands: [Run.self, FineTune.self, Distill.self, Eval.self, Inspect.self, Bench.self, Quantize.self, Export.self, PruneVocab.self, Prune.self, SweepCommand.self, Predict.self,
                      CoordinatorCommand.self, WorkerCommand.self, Keygen.self])
}
