import ArgumentParser

@main
struct EdgeDistill: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edgedistill",
        abstract: "Distil a BERT-family text classifier into a small, fast student.",
        subcommands: [Inspect.self, Bench.self])
}
