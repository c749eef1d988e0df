import Evaluation
import Files
import Foundation
import Kernels
import Model
import Report
import Training

/// A sweep over distillation recipes: every trial is the base configuration with some keys
/// changed (any `distill.*` key of the configuration file, so new levers need no new code).
///
/// All trials share one fine-tuned teacher, one training set and the teacher's logits for it,
/// computed once before any trial starts, so no trial runs the teacher. Trials are judged on the
/// held-out set and stopped early by successive halving: with R rungs, every surviving trial
/// trains to 1/2^(R-1), then 1/2^(R-2), ... of its steps; after each rung but the last, the better
/// half by held-out accuracy goes on (ties keep the earlier trial). Finished trials are measured
/// (size, batch-1 latency, evaluation files) in each of `precisions` (quantizing needs no more
/// training); the chosen one is the smallest whose held-out accuracy is within `keepWithin` of
/// the best.
public final class Sweep {
    /// One recipe: a name and the keys it changes, as `key=value` YAML scalars.
    public struct Trial: Sendable {
        public let name: String
        public let changes: [(key: String, value: String)]

        public init(name: String, changes: [(key: String, value: String)]) {
            self.name = name
            self.changes = changes
        }

        /// The YAML text of the changes (`distill:\n  temperature: 4\n`).
        var yaml: String {
            var sections: [String: [String]] = [:], order: [String] = []
            for (key, value) in changes {
                let parts = key.split(separator: ".", maxSplits: 1).map(String.init)
                let (section, name) = parts.count == 2 ? (parts[0], parts[1]) : ("", parts[0])
                if sections[section] == nil { order.append(section) }
                sections[section, default: []].append(section.isEmpty ? "\(name): \(value)" : "  \(name): \(value)")
            }
            return order.map { $0.isEmpty ? sections[$0, default: []].joined(separator: "\n") : "\($0):\n" + sections[$0, default: []].joined(separator: "\n") }
                .joined(separator: "\n") + "\n"
        }
    }

    /// The result of one trial, a row of sweep.json.
    public struct Result: Codable, Sendable {
        public var name: String
        public var changes: [String: String]
        /// "finished", or "stopped after rung N".
        public var status: String
        public var steps: Int
        /// Best held-out accuracy (finished trials: the checkpoint kept; stopped ones: at the rung).
        public var heldOutAccuracy: Double
        public var evaluations: [String: Double] = [:]
        public var sizeBytes: Int = 0
        public var parameters: Int = 0
        public var latencyP50Ms: Double = 0
        public var pareto = false
        public var chosen = false
        /// How the measured model stores its weights: fp32, int8 or int8-emb (nil: not measured).
        public var precision: String?

        enum CodingKeys: String, CodingKey {
            case name, changes, status, steps, evaluations, parameters, pareto, chosen, precision
            case heldOutAccuracy = "held_out_accuracy"
            case sizeBytes = "size_bytes"
            case latencyP50Ms = "latency_p50_ms"
        }
    }

    /// Keys a trial may change: the distillation recipe. Keys that change the data or the teacher
    /// would break the shared training set and logits.
    static func checkSweepable(_ key: String) throws {
        guard key.hasPrefix("distill."), !key.hasPrefix("distill.augment") else {
            throw ModelError("a sweep varies the distillation recipe (distill.* keys); '\(key)' would change the data or the teacher all trials share")
        }
    }

    public let base: PipelineConfig
    public let trials: [Trial]
    public let rungs: Int
    public let keepWithin: Double
    /// The precisions every finished trial is measured in.
    public let precisions: [String]
    /// Runs the trials on a coordinator's workers (each trial on one); nil: in this process.
    public var executor: TrialExecutor?
    let log: (String) -> Void

    public init(base: PipelineConfig, trials: [Trial], rungs: Int = 3, keepWithin: Double = 0.005, precisions: [String] = ["fp32"],
                log: @escaping (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }) throws {
        guard !trials.isEmpty else { throw ModelError("a sweep needs at least one trial (--grid KEY=V1,V2 or --trial KEY=V;...)") }
        guard rungs >= 1 else { throw ModelError("--rungs must be at least 1, got \(rungs)") }
        guard keepWithin >= 0, keepWithin < 1 else { throw ModelError("--keep-within must be in [0, 1), got \(keepWithin)") }
        for trial in trials { for change in trial.changes { try Self.checkSweepable(change.key) } }
        let unknown = precisions.filter { !["fp32", "int8", "int8-emb"].contains($0) }
        guard !precisions.isEmpty, unknown.isEmpty else {
            throw ModelError("--precisions takes fp32, int8 and int8-emb, got \(precisions.joined(separator: ","))")
        }
        self.precisions = precisions
        self.base = base
        self.trials = trials
        self.rungs = rungs
        self.keepWithin = keepWithin
        self.log = log
    }

    /// Every combination of the grid's axes (`key`, values), in order; each named by its values.
    public static func grid(_ axes: [(key: String, values: [String])]) throws -> [Trial] {
        for axis in axes where axis.values.isEmpty { throw ModelError("the grid axis \(axis.key) has no values") }
        var trials: [[(key: String, value: String)]] = [[]]
        for axis in axes {
            trials = trials.flatMap { partial in axis.values.map { partial + [(axis.key, $0)] } }
        }
        return trials.map { changes in
            Trial(name: changes.map { "\($0.key.split(separator: ".").last ?? "")=\($0.value)" }.joined(separator: ","), changes: changes)
        }
    }

    var out: String { base.out }
    func path(_ name: String) -> String { (out as NSString).appendingPathComponent(name) }

    /// Runs every trial and writes sweep.json, sweep.md, sweep.svg and the chosen model's folder.
    @discardableResult
    public func run() throws -> [Result] {
        let configs = try trials.map { trial -> PipelineConfig in
            let config = try base.overlaid(withYAML: trial.yaml, source: "trial \(trial.name)")
            let problems = try config.validate()
            guard problems.isEmpty else { throw ModelError("trial \(trial.name): " + problems.joined(separator: "; ")) }
            return config
        }
        let problems = try base.validate()
        guard problems.isEmpty else { throw ModelError("invalid configuration: " + problems.joined(separator: "; ")) }
        Threads.set(base.threads)
        let pipeline = Pipeline(config: base, log: log)
        let data = try pipeline.prepareData(stages: [.distill, .evaluate])
        if data.probe.initializedHead {
            throw ModelError(file: base.teacher, "a sweep distils from a fine-tuned teacher: this one has no trained head (edgedistill finetune first)")
        }
        let teacher = try SequenceClassifier.load(directory: base.teacher, labelNames: data.train.labelNames).model
        for config in configs { _ = try config.studentLayers(teacherLayers: teacher.config.layerCount) }
        try FileManager.default.createDirectory(atPath: path("trials"), withIntermediateDirectories: true)

        // The teacher's logits for every training example, once, in length-sorted batches.
        teacher.freeze(precision: base.distillationOptions().teacherPrecision)
        let started = Date()
        let cache = LogitCache(count: data.trainData.count, classes: teacher.config.labelCount)
        let plan = TeacherPassPlan(lengths: data.trainData.sequences.map(\.count))
        cache.store(TeacherPass.logits(teacher, examples: plan.order, data: data.trainData, batchSize: plan.batchSize), for: plan.order)
        log(String(format: "sweep: teacher logits for %d examples computed once in %.1f s; %d trials, %d rung(s)",
                   data.trainData.count, Date().timeIntervalSince(started), trials.count, rungs))

        let validator = Evaluator.validator(on: data.validationData, batchSize: base.distillationOptions().evalBatchSize)
        let specs = try zip(trials, configs).enumerated().map { index, pair -> TrialSpec in
            let (trial, config) = pair
            var options = config.distillationOptions()
            options.checkpointEvery = 0
            let job = TrainingJob(phase: "student", modelFolder: base.teacher, labelNames: data.train.labelNames, seed: config.seed,
                                  options: options, studentLayers: try config.studentLayers(teacherLayers: teacher.config.layerCount),
                                  temperature: config.distill.temperature, alpha: config.distill.alpha,
                                  studentShape: config.studentShape.narrows ? config.studentShape : nil)
            return TrialSpec(index: index, name: trial.name, job: job)
        }
        let scheduler = try executor?.trialScheduler(teacherFolder: base.teacher, labelNames: data.train.labelNames, train: data.trainData,
                                                     validation: data.validationData, teacherLogits: cache,
                                                     teacherPrecision: base.distillationOptions().teacherPrecision)
            ?? LocalTrials(teacher: teacher, train: data.trainData, validator: validator, teacherLogits: cache)
        let totalSteps = specs.map { $0.job.options.totalSteps(examples: data.trainData.count) }

        // Successive halving over the rungs.
        var alive = Array(trials.indices)
        var results = trials.map { Result(name: $0.name, changes: Dictionary($0.changes.map { ($0.key, $0.value) }, uniquingKeysWith: { $1 }),
                                          status: "finished", steps: 0, heldOutAccuracy: 0) }
        var progress: [Int: TrialProgress] = [:]
        for rung in 0..<rungs {
            let fraction = 1 / Double(1 << (rungs - 1 - rung))
            let work = alive.map { (trial: specs[$0], until: max(1, Int((Double(totalSteps[$0]) * fraction).rounded(.up)))) }
            let reached = try scheduler.run(work)
            var scores: [Int: Double] = [:]
            for index in alive {
                guard let now = reached[index] else { throw ModelError("trial \(trials[index].name) did not report rung \(rung + 1)") }
                progress[index] = now
                scores[index] = now.score
                results[index].steps = now.step
                results[index].heldOutAccuracy = now.score
                log(String(format: "sweep: rung %d, %@: step %d, held-out accuracy %.4f", rung + 1, trials[index].name, now.step, now.score))
            }
            guard rung < rungs - 1, alive.count > 1 else { continue }
            let ranked = alive.sorted { (scores[$0] ?? 0, -$0) > (scores[$1] ?? 0, -$1) }
            let kept = Array(ranked.prefix((alive.count + 1) / 2))
            for index in alive where !kept.contains(index) { results[index].status = "stopped after rung \(rung + 1)" }
            try scheduler.release(alive.filter { !kept.contains($0) }.map { specs[$0] })
            alive = alive.filter { kept.contains($0) }
        }
        // The finished trials' best checkpoints, as the run would ship them.
        for index in alive {
            // The trial's own student (a narrower one ranked as the trial ranked it), then its best weights.
            let job = specs[index].job
            let student = try (job.studentShape ?? StudentShape()).apply(
                to: try teacher.student(layers: job.studentLayers ?? []), teacher: teacher,
                loss: DistillationLoss(temperature: Float(job.temperature), alpha: Float(job.alpha)), data: data.trainData, options: job.options)
            try TrainerState(step: 0, optimizerStep: 0, parameters: try scheduler.bestParameters(of: specs[index])).copyParameters(into: student)
            try student.saveFolder(path("trials/\(Self.folderName(trials[index].name))/student"), vocabularyFrom: base.teacher)
        }
        try scheduler.release(alive.map { specs[$0] })

        // Measure the finished trials: their kept checkpoint, as the run would ship it, in every
        // precision asked for (a row each; quantizing needs no more training).
        var rows = results.indices.filter { !alive.contains($0) }.map { results[$0] }
        var folders: [String] = Array(repeating: "", count: rows.count)
        let sentences = Array(data.validationData.sequences.prefix(100))
        for index in alive {
            let folder = path("trials/\(Self.folderName(trials[index].name))/student")
            let fp32 = try SequenceClassifier.load(directory: folder).model
            for precision in precisions {
                var row = results[index]
                row.precision = precision
                if precisions.count > 1 { row.name = "\(trials[index].name) \(precision)" }
                let model: SequenceClassifier, where_: String
                switch precision {
                case "fp32":
                    model = try ClassifierLoader.load(directory: folder) as? SequenceClassifier ?? fp32
                    where_ = folder
                    row.heldOutAccuracy = progress[index]?.best ?? row.heldOutAccuracy
                default:
                    model = try fp32.quantized(.int8Dynamic, int8Embeddings: precision == "int8-emb")
                    where_ = folder + "-" + precision
                    try model.saveFolder(where_, vocabularyFrom: folder)
                    row.heldOutAccuracy = validator(model).accuracy
                }
                row.sizeBytes = diskSize((where_ as NSString).appendingPathComponent("model.safetensors"))
                row.parameters = model.parameterCount
                let saved = Threads.count
                Threads.set(1)
                row.latencyP50Ms = LatencyBenchmark.batchOne(model, sequences: sentences, warmup: 5).p50Milliseconds
                Threads.set(saved)
                for (file, set) in zip(base.eval, data.evalSets) {
                    let encoded = EncodedDataset(set, tokenizer: data.tokenizer, maxLength: data.maxLength)
                    row.evaluations[file] = Evaluator.evaluate(model, on: encoded).metrics.accuracy
                }
                rows.append(row)
                folders.append(where_)
            }
        }
        let measured = rows.indices.filter { rows[$0].sizeBytes > 0 }
        for i in measured {
            rows[i].pareto = !measured.contains { j in
                j != i && rows[j].sizeBytes <= rows[i].sizeBytes && rows[j].heldOutAccuracy >= rows[i].heldOutAccuracy
                    && (rows[j].sizeBytes < rows[i].sizeBytes || rows[j].heldOutAccuracy > rows[i].heldOutAccuracy)
            }
        }
        let best = measured.map { rows[$0].heldOutAccuracy }.max() ?? 0
        if let chosen = measured.filter({ rows[$0].heldOutAccuracy >= best - keepWithin })
            .min(by: { (rows[$0].sizeBytes, -rows[$0].heldOutAccuracy) < (rows[$1].sizeBytes, -rows[$1].heldOutAccuracy) }) {
            rows[chosen].chosen = true
            let destination = path("chosen")
            try? FileManager.default.removeItem(atPath: destination)
            try FileManager.default.copyItem(atPath: folders[chosen], toPath: destination)
            log("sweep: chose \(rows[chosen].name) (\(destination))")
        }
        results = rows
        try write(results)
        return results
    }

    static func folderName(_ name: String) -> String {
        String(name.map { $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" ? $0 : "_" })
    }

    func write(_ results: [Result]) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        var lines = ["# Sweep over \(trials.count) recipes", "",
                     "Successive halving over \(rungs) rung(s) on held-out accuracy (each rung keeps the better half); "
                        + String(format: "the chosen trial is the smallest within %.1f points of the best finished one.", keepWithin * 100), "",
                     "| trial | status | steps | held out | " + base.eval.map { "\(($0 as NSString).lastPathComponent)" }.joined(separator: " | ")
                        + (base.eval.isEmpty ? "" : " | ") + "size (MB) | p50 ms, 1 thread | Pareto | chosen |",
                     "|---|---|---|---|" + base.eval.map { _ in "---|" }.joined() + "---|---|---|---|"]
        for r in results {
            let evaluations = base.eval.map { r.evaluations[$0].map { String(format: "%.2f%%", $0 * 100) } ?? "-" }
            lines.append("| \(r.name) | \(r.status) | \(r.steps) | " + String(format: "%.2f%%", r.heldOutAccuracy * 100) + " | "
                         + evaluations.joined(separator: " | ") + (evaluations.isEmpty ? "" : " | ")
                         + (r.sizeBytes > 0 ? String(format: "%.2f | %.2f", Double(r.sizeBytes) / 1e6, r.latencyP50Ms) : "- | -")
                         + " | \(r.pareto ? "yes" : "") | \(r.chosen ? "yes" : "") |")
        }
        let points = results.filter { $0.sizeBytes > 0 }.map {
            SweepPoint(name: $0.name, accuracy: $0.heldOutAccuracy, sizeBytes: $0.sizeBytes, latencyP50Ms: $0.latencyP50Ms,
                       pareto: $0.pareto, chosen: $0.chosen)
        }
        do {
            try AtomicFile.write(Array(try encoder.encode(results)), to: path("sweep.json"))
            try AtomicFile.write(Array((lines.joined(separator: "\n") + "\n").utf8), to: path("sweep.md"))
            try AtomicFile.write(Array(SweepChart.svg(points, title: "Sweep: held-out accuracy against size").utf8), to: path("sweep.svg"))
        } catch let failure as AtomicFile.Failure {
            throw ModelError(file: out, "cannot write the sweep's results: \(failure.reason)")
        }
    }
}

/// A sweep's trials in this process, one after another, each continued rung by rung.
final class LocalTrials: TrialScheduler {
    let teacher: SequenceClassifier
    let train: EncodedDataset
    let validator: Validator
    let teacherLogits: LogitCache
    var runs: [Int: TrialRun] = [:]

    init(teacher: SequenceClassifier, train: EncodedDataset, validator: Validator, teacherLogits: LogitCache) {
        self.teacher = teacher
        self.train = train
        self.validator = validator
        self.teacherLogits = teacherLogits
    }

    func run(_ work: [(trial: TrialSpec, until: Int)]) throws -> [Int: TrialProgress] {
        var reached: [Int: TrialProgress] = [:]
        for (trial, until) in work {
            let run = try runs[trial.index] ?? TrialRun(spec: trial, teacher: teacher, train: train, validator: validator,
                                                       teacherLogits: teacherLogits)
            runs[trial.index] = run
            reached[trial.index] = try run.run(until: until)
        }
        return reached
    }

    func bestParameters(of trial: TrialSpec) throws -> [Float] {
        guard let run = runs[trial.index] else { throw ModelError("trial \(trial.name) has not run") }
        return run.bestParameters
    }

    func release(_ trials: [TrialSpec]) throws { for trial in trials { runs[trial.index] = nil } }
}
