import ArgumentParser
import Cluster
import Collective
import Files
import Foundation
import Kernels
import Model
import Training

/// `edgedistill bench scaling`: training throughput of a coordinator with 1, 2, ... worker processes of
/// a few threads each on this machine (or, with `--bind`, workers started elsewhere), against one
/// process training alone: distillation steps with the teacher running or from cached logits, or the
/// teacher's fine-tuning steps.
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
    @Option(help: "What a step does: distill (the teacher runs every step, as in the first epoch), cached (distillation from the teacher pass's logits, as in later epochs) or finetune (the teacher's own training step).")
    var phase = "distill"
    @Option(name: .customLong("gradient-precision"), help: "How gradients travel between workers: fp32 or bf16.")
    var gradientPrecision = "fp32"
    @Flag(name: .customLong("shard-optimizer"), help: "Shard Adam's moments and update over the workers (ZeRO stage 1).")
    var shardOptimizer = false
    @Option(help: "Bind the coordinator here and wait for workers started elsewhere (`edgedistill worker --connect`), e.g. in network namespaces; --workers then names one count, and there is no in-process run.")
    var bind: String?
    @Option(help: "The join token external workers give (default: $EDGEDISTILL_JOIN_TOKEN).") var token: String?
    @Flag(help: "Allow --bind on a non-loopback address without keys (test networks only).") var insecure = false
    @Flag(help: "Print one JSON object.") var json = false

    var counts: [Int] { workers.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    func validate() throws {
        guard batchSize > 0, steps > 0, threadsPerWorker > 0, !counts.isEmpty, counts.allSatisfy({ $0 > 0 }) else {
            throw ValidationError("--batch-size, --steps, --threads-per-worker and --workers must be positive")
        }
        guard ["distill", "cached", "finetune"].contains(phase) else {
            throw ValidationError("--phase is '\(phase)': expected distill, cached or finetune")
        }
        guard TrainingOptions.gradientPrecisionNames.contains(gradientPrecision) else {
            throw ValidationError("--gradient-precision is '\(gradientPrecision)': expected fp32 or bf16")
        }
        guard bind == nil || counts.count == 1 else { throw ValidationError("with --bind, --workers names one count") }
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
            o.setGradientPrecision(gradientPrecision)
            o.shardOptimizer = shardOptimizer
            let job = TrainingJob(phase: phase == "finetune" ? "teacher" : "student", modelFolder: teacher,
                                  labelNames: loaded.model.config.labelNames, seed: seed, options: o, studentLayers: layers)
            Threads.set(threadsPerWorker)
            // `cached`: the teacher pass first (in this process), so no step runs the teacher.
            var logits: LogitCache?
            if phase == "cached" {
                let frozen = try SequenceClassifier.load(directory: teacher, seed: seed).model
                frozen.freeze()
                let plan = TeacherPassPlan(lengths: encoded.sequences.map(\.count))
                let cache = LogitCache(count: encoded.count, classes: frozen.config.labelCount)
                cache.store(TeacherPass.logits(frozen, examples: plan.order, data: encoded, batchSize: plan.batchSize), for: plan.order)
                logits = cache
            }
            func trainer() throws -> Trainer {
                let (model, mode) = try job.buildModels(folder: teacher)
                let t = Trainer(model: model, mode: mode, train: encoded, validator: nil, options: o, label: "bench", logitCache: logits)
                t.progress.quiet = true
                return t
            }
            var results: [[String: Any]] = []
            if bind == nil {
                let alone = try trainer().run()
                results.append(["workers": 0, "mode": "in-process", "threads": threadsPerWorker, "examples_per_s": alone.examplesPerSecond,
                                "peak_rss_mb": ProcessMemory.peakResidentMegabytes])
            }
            for count in counts {
                let endpoint = try bind ?? LoopbackPort.freeEndpoint()
                var options = CoordinatorOptions(bind: endpoint, workers: count)
                options.startupTimeout = 120
                options.insecure = insecure
                options.joinToken = bind == nil ? Coordinator.newJoinToken()
                    : token ?? ProcessInfo.processInfo.environment["EDGEDISTILL_JOIN_TOKEN"]
                let coordinator = try Coordinator(options: options, log: { _ in })
                let children = bind == nil ? try startLocalWorkers(count, endpoint: endpoint, threads: threadsPerWorker, token: options.joinToken) : []
                let summary = try trainer().run(on: try coordinator.scheduler(for: job, data: encoded))
                coordinator.shutdown(reason: "benchmark done")
                for child in children { child.waitUntilExit() }
                results.append(["workers": count, "mode": bind == nil ? "processes" : "external", "threads": threadsPerWorker,
                                "examples_per_s": summary.examplesPerSecond,
                                "step_ms": 1000 * coordinator.timing.wall / Double(max(coordinator.timing.steps, 1)),
                                "compute_ms": 1000 * coordinator.timing.compute / Double(max(coordinator.timing.steps, 1)),
                                "allreduce_ms": 1000 * coordinator.timing.communication / Double(max(coordinator.timing.steps, 1)),
                                "worker_peak_rss_mb": Double(coordinator.workerPeakResidentBytes) / 1_048_576,
                                "worker_training_rss_mb": Double(coordinator.workerResidentBytes) / 1_048_576])
                if let alone = results.first?["examples_per_s"] as? Double, bind == nil {
                    results[results.count - 1]["speedup_vs_in_process"] = summary.examplesPerSecond / alone
                }
            }
            let one = results.first { ($0["workers"] as? Int) == 1 }?["examples_per_s"] as? Double
            for i in results.indices {
                if let one, let rate = results[i]["examples_per_s"] as? Double, (results[i]["workers"] as? Int ?? 0) > 0 {
                    results[i]["speedup_vs_one_worker"] = rate / one
                }
            }
            try printResult(["benchmark": "scaling", "teacher": teacher, "student_layers": layers, "batch_size": batchSize,
                             "steps": steps, "phase": phase, "gradient_precision": gradientPrecision, "shard_optimizer": shardOptimizer, "gradient_floats": try gradientFloats(job), "results": results], json: json)
        }
    }
}

extension BenchScaling {
    /// Floats the ring carries per step for `job`'s model besides the touched word-embedding rows
    /// (the dense gradient), for the scaling model (scripts/scaling_model.py).
    func gradientFloats(_ job: TrainingJob) throws -> Int {
        let (model, _) = try job.buildModels(folder: teacher)
        return model.parameters.count - model.config.vocabularySize * model.config.hiddenSize
    }
}
