import ArgumentParser
import Cluster
import Collective
import Foundation
import Kernels
import Model
import Training

/// `edgedistill bench scaling`: distillation throughput of a coordinator with 1, 2, ... worker
/// processes of a few threads each on this machine, against one process training alone.
struct BenchScaling: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scaling",
        abstract: "Distillation examples/s with N local worker processes (ZeroMQ ring) against one in-process trainer.")

    @Option(help: "A fine-tuned teacher (Hugging Face folder with a trained head).") var teacher: String
    @Option(name: .customLong("student-layers")) var studentLayers = 2
    @Option(help: "A labelled data file.") var data: String
    @Option(name: .customLong("batch-size")) var batchSize = 16
    @Option(help: "Steps per measurement (the first epoch: the teacher runs every step).") var steps = 60
    @Option(help: "Worker counts to measure, comma-separated.") var workers = "1,2"
    @Option(name: .customLong("threads-per-worker")) var threadsPerWorker = 1
    @Option(name: .customLong("max-length")) var maxLength = 128
    @Option var seed: UInt64 = 0
    @Flag(help: "Print one JSON object.") var json = false

    var counts: [Int] { workers.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    func validate() throws {
        guard batchSize > 0, steps > 0, threadsPerWorker > 0, !counts.isEmpty, counts.allSatisfy({ $0 > 0 }) else {
            throw ValidationError("--batch-size, --steps, --threads-per-worker and --workers must be positive")
        }
    }

    func run() throws {
        try reportingErrors {
            let loaded = try SequenceClassifier.load(directory: teacher, seed: seed)
            guard !loaded.initializedHead else { throw ModelError(file: teacher, "the teacher has no trained head: fine-tune it first") }
            let tokenizer = try BertTokenizer.load(directory: teacher)
            var sample = try Dataset.load(data, options: DatasetOptions(labelNames: loaded.model.config.labelNames))
            let wanted = steps * batchSize
            if sample.texts.count > wanted {
                sample = try sample.split(heldOutFraction: 1 - Double(wanted) / Double(sample.texts.count), seed: seed).train
            }
            let encoded = EncodedDataset(sample, tokenizer: tokenizer, maxLength: loaded.model.fittedLength(maxLength))
            let layers = SequenceClassifier.evenlySpacedLayers(studentLayers, of: loaded.model.config.layerCount)
            var o = TrainingOptions()
            o.epochs = 1
            o.batchSize = batchSize
            o.evalEvery = 0
            o.seed = seed
            o.maxSteps = steps
            let job = TrainingJob(phase: "student", modelFolder: teacher, labelNames: loaded.model.config.labelNames,
                                  seed: seed, options: o, studentLayers: layers)
            func trainer() throws -> Trainer {
                let (model, mode) = try job.buildModels(folder: teacher)
                let t = Trainer(model: model, mode: mode, train: encoded, validator: nil, options: o, label: "bench")
                t.progress.quiet = true
                return t
            }
            Threads.set(threadsPerWorker)
            let alone = try trainer().run()
            var results: [[String: Any]] = [["workers": 0, "mode": "in-process", "threads": threadsPerWorker,
                                             "examples_per_s": alone.examplesPerSecond]]
            for count in counts {
                let endpoint = try LoopbackPort.freeEndpoint()
                var options = CoordinatorOptions(bind: endpoint, workers: count)
                options.startupTimeout = 120
                options.joinToken = Coordinator.newJoinToken()
                let coordinator = try Coordinator(options: options, log: { _ in })
                let children = try startLocalWorkers(count, endpoint: endpoint, threads: threadsPerWorker, token: options.joinToken)
                let summary = try trainer().run(on: try coordinator.scheduler(for: job, data: encoded))
                coordinator.shutdown(reason: "benchmark done")
                for child in children { child.waitUntilExit() }
                results.append(["workers": count, "mode": "processes", "threads": threadsPerWorker,
                                "examples_per_s": summary.examplesPerSecond,
                                "step_ms": 1000 * coordinator.timing.wall / Double(max(coordinator.timing.steps, 1)),
                                "compute_ms": 1000 * coordinator.timing.compute / Double(max(coordinator.timing.steps, 1)),
                                "allreduce_ms": 1000 * coordinator.timing.communication / Double(max(coordinator.timing.steps, 1)),
                                "speedup_vs_in_process": summary.examplesPerSecond / alone.examplesPerSecond])
            }
            let one = results.first { ($0["workers"] as? Int) == 1 }?["examples_per_s"] as? Double
            for i in results.indices {
                if let one, let rate = results[i]["examples_per_s"] as? Double, (results[i]["workers"] as? Int ?? 0) > 0 {
                    results[i]["speedup_vs_one_worker"] = rate / one
                }
            }
            try printResult(["benchmark": "scaling", "teacher": teacher, "student_layers": layers, "batch_size": batchSize,
                             "steps": steps, "results": results], json: json)
        }
    }
}
