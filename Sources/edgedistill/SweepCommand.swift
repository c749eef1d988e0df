import ArgumentParser
import Cluster
import Collective
import Foundation
import Model
import Pipeline

/// `edgedistill sweep`: many distillation recipes from one teacher (`Sweep`), judged on held-out
/// data with successive halving; a table, a chart and the chosen model's folder.
struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Distil many recipes (a grid or a list of distill.* settings) from one fine-tuned teacher; keep the smallest good one.",
        discussion: """
            --grid distill.temperature=1,2,4 --grid distill.alpha=0.5,0.9 makes the 6 combinations; \
            --trial 'distill.student_layers=1;distill.temperature=4' adds one recipe. Values are YAML \
            ([0,3] for a list). Writes OUT/sweep.json, sweep.md, sweep.svg, trials/ and chosen/. \
            --workers N runs the trials on N local worker processes, --bind ENDPOINT --workers N on \
            workers that connect from other hosts (`edgedistill worker --connect`): each trial on one \
            worker, a trial lost with its worker run again on another.
            """)

    @OptionGroup var pipeline: PipelineOptions
    @Option(help: "An axis of the grid: KEY=V1,V2,... (repeatable; every combination is a trial).") var grid: [String] = []
    @Option(help: "One more trial: KEY=V;KEY=V (repeatable).") var trial: [String] = []
    @Option(help: "Successive-halving rungs (1: every trial runs to the end).") var rungs = 3
    @Option(help: "Precisions to measure every finished trial in: fp32, int8, int8-emb (comma-separated).")
    var precisions = "fp32"
    @Option(name: .customLong("keep-within"), help: "Choose the smallest finished trial within this much held-out accuracy of the best.")
    var keepWithin = 0.005
    @Option(help: "Workers to run the trials on (1: in this process); local processes unless --bind is given.") var workers = 1
    @Option(help: "Where remote workers connect, e.g. tcp://0.0.0.0:5555 (with --workers N).") var bind: String?
    @OptionGroup var security: SecurityOptions
    @OptionGroup var membership: MembershipOptions

    /// Splits on commas outside brackets, so `[0,3],[0,5]` is two values.
    static func values(_ text: Substring) -> [String] {
        var values: [String] = [], current = "", depth = 0
        for character in text {
            if character == "[" { depth += 1 } else if character == "]" { depth -= 1 }
            if character == ",", depth == 0 { values.append(current); current = "" } else { current.append(character) }
        }
        values.append(current)
        return values.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    static func pair(_ text: Substring, in option: String) throws -> (key: String, value: Substring) {
        guard let equals = text.firstIndex(of: "=") else {
            throw ValidationError("\(option) '\(text)' must be KEY=VALUE, e.g. distill.temperature=4")
        }
        return (text[..<equals].trimmingCharacters(in: .whitespaces), text[text.index(after: equals)...])
    }

    func run() throws {
        try reportingErrors {
            let base = try pipeline.resolve()
            var trials = try Sweep.grid(try grid.map { axis in
                let (key, values) = try Self.pair(axis[...], in: "--grid")
                return (key, Self.values(values))
            })
            if grid.isEmpty { trials = [] }
            for spec in trial {
                let changes = try spec.split(separator: ";").map { part -> (key: String, value: String) in
                    let (key, value) = try Self.pair(part, in: "--trial")
                    return (key, value.trimmingCharacters(in: .whitespaces))
                }
                trials.append(Sweep.Trial(name: changes.map { "\($0.key.split(separator: ".").last ?? "")=\($0.value)" }.joined(separator: ","),
                                          changes: changes))
            }
            let sweepFile = (base.out as NSString).appendingPathComponent("sweep.json")
            if FileManager.default.fileExists(atPath: sweepFile), !pipeline.overwrite {
                throw ModelError(file: base.out, "holds a sweep already (sweep.json): pass --overwrite to replace it, or choose another --out")
            }
            let sweep = try Sweep(base: base, trials: trials, rungs: rungs, keepWithin: keepWithin,
                                  precisions: precisions.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
            var children: [Process] = []
            var coordinator: Coordinator?
            if workers > 1 || bind != nil {
                var options = CoordinatorOptions(bind: try bind ?? LoopbackPort.freeEndpoint(), workers: workers)
                options.security = try security.server()
                options.insecure = security.insecure
                options.joinToken = security.joinToken ?? (bind == nil ? Coordinator.newJoinToken() : nil)
                membership.apply(to: &options)
                let started = try Coordinator(options: options, log: logLine)
                coordinator = started
                if bind == nil {
                    children = try startLocalWorkers(workers, endpoint: options.bind, threads: max(1, base.threads / workers),
                                                     token: started.options.joinToken)
                }
                sweep.executor = started
            }
            defer {
                coordinator?.shutdown(reason: "the sweep is over")
                for child in children {
                    let deadline = Date().addingTimeInterval(5)
                    while child.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
                    if child.isRunning { child.terminate() }
                }
            }
            let results = try sweep.run()
            if pipeline.json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                print(String(decoding: try encoder.encode(results), as: UTF8.self))
            } else {
                print((try? String(contentsOfFile: (base.out as NSString).appendingPathComponent("sweep.md"), encoding: .utf8)) ?? "")
            }
        }
    }
}
