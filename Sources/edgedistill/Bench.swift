import ArgumentParser

/// `edgedistill bench ...`: performance measurements printed as JSON for BENCHMARKS.md.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure throughput against the machine's oneDNN GEMM peak.",
        subcommands: [BenchTrainStep.self])
}
