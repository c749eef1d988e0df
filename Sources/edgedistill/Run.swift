import ArgumentParser
import Cluster
import Collective
import Foundation
import Pipeline
import Training
import Yams

/// Options shared by `run`, `finetune` and `distill`: a YAML config file and the overrides.
struct PipelineOptions: ParsableArguments {
    @Option(help: "A YAML configuration file (see configs/). Flags override its values.") var config: String?
    @Option(help: "Profile: quick (a subset, about 10 minutes on 2 cores) or full (all data, 3 distillation epochs).")
    var profile: Profile?
    @Option(help: "The teacher: a Hugging Face model folder.") var teacher: String?
    @Option(help: "Training data (TSV with header, CSV or JSONL).") var train: String?
    @Option(help: "An evaluation file (repeatable).") var eval: [String] = []
    @Option(help: "A validation file for choosing the best checkpoint (default: a held-out share of train).")
    var validation: String?
    @Option(help: "The run folder.") var out: String?
    @Option(help: "Distillation epochs.") var epochs: Int?
    @Option(name: .customLong("finetune-epochs"), help: "Teacher fine-tuning epochs.") var finetuneEpochs: Int?
    @Option(name: .customLong("student-layers"), help: "Student layers, taken evenly spaced from the teacher.") var studentLayers: Int?
    @Option(help: "Exact teacher layers for the student, e.g. 0,3.") var layers: String?
    @Option(name: .customLong("distill-schedule"), help: "Distillation learning rate: constant or linear (decay to 0).")
    var distillSchedule: String?
    @Option(name: .customLong("average-last"),
            help: "Average the student weights evaluated in this last share of the distillation steps (e.g. 0.33) and keep the average when it beats the best checkpoint on validation; 0: off.")
    var averageLast: Double?
    @Option(name: .customLong("teacher-precision"), help: "The frozen teacher's products while distilling: fp32 or bf16 (AVX-512 BF16 CPUs; fp32 elsewhere).")
    var teacherPrecision: String?
    @Option(help: "Teacher-labelled variants of each training example for distillation (masking, replacement, deletion, n-grams; 0: off).")
    var augment: Int?
    @Option(name: .customLong("attention-weight"), help: "Weight of attention transfer: student attention pulled towards the teacher's (0: off).")
    var attentionWeight: Double?
    @Option(help: "In-domain texts only the teacher labels, added to distillation (repeatable; a label column is ignored).")
    var unlabeled: [String] = []
    @Option(help: "Seed for data order, initialisation and dropout.") var seed: UInt64?
    @Option(help: "oneDNN threads.") var threads: Int?
    @Option(name: .customLong("max-train-examples"), help: "Train on a seeded sample of this many examples.")
    var maxTrainExamples: Int?
    @OptionGroup var columns: DataColumnOptions
    @Flag(help: "Continue an interrupted run from its checkpoints (the recipe must be the same).") var resume = false
    @Flag(help: "Replace the run already in --out (without this or --resume such a folder is refused).") var overwrite = false
    @Flag(name: .customLong("trace-steps"), help: "Log each step's example indices and losses to metrics.jsonl (see scripts/peer_trajectory.py).")
    var traceSteps = false
    @Option(name: .customLong("gradient-precision"), help: "How gradients travel between workers: fp32, or bf16 (half the bytes, with error feedback).")
    var gradientPrecision: String?
    @Flag(name: .customLong("shard-optimizer"), help: "With workers: each keeps and updates 1/N of Adam's moments outside the word embeddings (ZeRO stage 1); a lost worker then stops the run (resume from a checkpoint).")
    var shardOptimizer = false
    @Flag(name: .customLong("keep-teacher-logits"), help: "Keep the teacher pass's logits (teacher_logits.bin in the run folder) when the run ends.")
    var keepTeacherLogits = false
    @Flag(help: "Print report.json on stdout instead of a summary.") var json = false

    typealias Profile = PipelineConfig.Profile

    /// The configuration, by one rule: defaults < profile < configuration file < flags.
    func resolve() throws -> PipelineConfig {
        var c = PipelineConfig()
        profile?.apply(to: &c)
        if let path = config { c = try c.overlaid(withFile: path) }
        if let teacher { c.teacher = teacher }
        if let train { c.train = train }
        if !eval.isEmpty { c.eval = eval }
        if let validation { c.validation = validation }
        if let out { c.out = out }
        if let epochs { c.distill.epochs = epochs }
        if let finetuneEpochs { c.finetune.epochs = finetuneEpochs }
        if let studentLayers { c.distill.studentLayers = studentLayers }
        if let layers {
            let parsed = layers.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !parsed.isEmpty, parsed.allSatisfy({ $0 != nil }) else {
                throw ValidationError("--layers must be comma-separated layer numbers, e.g. 0,3")
            }
            c.distill.layers = parsed.compactMap { $0 }
        }
        if let distillSchedule { c.distill.schedule = distillSchedule }
        if let averageLast { c.distill.averageLast = averageLast }
        if let teacherPrecision { c.distill.teacherPrecision = teacherPrecision }
        if let augment { c.distill.augment = augment }
        if let attentionWeight { c.distill.attentionWeight = attentionWeight }
        if !unlabeled.isEmpty { c.unlabeled = unlabeled }
        if let seed { c.seed = seed }
        if let threads { c.threads = threads }
        if let maxTrainExamples { c.maxTrainExamples = maxTrainExamples }
        columns.apply(to: &c)
        if traceSteps { c.traceSteps = true }
        if keepTeacherLogits { c.keepTeacherLogits = true }
        if let gradientPrecision { c.gradientPrecision = gradientPrecision }
        if shardOptimizer { c.shardOptimizer = true }
        return c
    }

    /// Resolves the configuration, runs the given stages, prints the report as JSON.
    func execute(_ stages: Set<Pipeline.Stage>, adjust: (inout PipelineConfig) -> Void = { _ in }) throws {
        try reportingErrors {
            var config = try resolve()
            adjust(&config)
            let report = try Pipeline(config: config).run(resume: resume, overwrite: overwrite, stages: stages)
            print(json ? try jsonString(report) : summary(report, out: config.out))
        }
    }
}

extension PipelineConfig.Profile: ExpressibleByArgument {}

/// A few readable lines from report.json.
func summary(_ report: [String: Any], out: String) -> String {
    var lines = ["run folder: \(out) (report.json, metrics.jsonl, teacher/, student/)"]
    for role in ["teacher", "student"] {
        guard let r = report[role] as? [String: Any] else { continue }
        let size = Double(r["size_bytes"] as? Int ?? 0) / 1e6
        let parameters = r["parameters"] as? Int ?? 0
        lines.append(String(format: "%@: %@ parameters, %.2f MB", role,
                            parameters.formatted(.number.grouping(.automatic)) as NSString, size))
    }
    for e in report["evaluations"] as? [[String: Any]] ?? [] {
        let t = (e["teacher"] as? [String: Any])?["accuracy"] as? Double ?? 0
        let s = (e["student"] as? [String: Any])?["accuracy"] as? Double ?? 0
        lines.append(String(format: "%@: teacher accuracy %.2f%%, student %.2f%%, retention %.1f%%",
                            e["file"] as? String ?? "?", 100 * t, 100 * s, 100 * (t > 0 ? s / t : 0)))
    }
    for v in report["variants"] as? [[String: Any]] ?? [] {
        let accuracy = ((v["evaluations"] as? [[String: Any]])?.first?["accuracy"] as? Double) ?? 0
        lines.append(String(format: "  %-26@ accuracy %.2f%%, %.1f MB, p50 %.2f ms at 1 thread (%.1fx the teacher)",
                            (v["name"] as? String ?? "?") as NSString, 100 * accuracy,
                            Double(v["size_bytes"] as? Int ?? 0) / 1e6, v["latency_p50_ms"] as? Double ?? 0,
                            v["speedup"] as? Double ?? 0))
    }
    if report["variants"] != nil { lines.append("report: \(out)/report.md, model_comparison.svg, model_comparison.png") }
    if let v = report["validation"] as? [String: Any], let a = v["accuracy"] as? Double {
        lines.append(String(format: "validation accuracy %.2f%%", 100 * a))
    }
    return lines.joined(separator: "\n")
}

/// `edgedistill run`: the whole single-node pipeline.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fine-tune the teacher if needed, distil a student, evaluate both, write the run folder.",
        discussion: """
            --workers N trains with N local worker processes (a coordinator in this process). Under a \
            launcher (RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT, or SLURM_PROCID/SLURM_NTASKS with \
            MASTER_ADDR), rank 0 coordinates and every rank runs one worker.
            """)

    @OptionGroup var options: PipelineOptions
    @Option(help: "Local worker processes (1: train in this process).") var workers = 1
    @OptionGroup var security: SecurityOptions
    @OptionGroup var membership: MembershipOptions

    func run() throws {
        try reportingErrors {
            if let launch = try LaunchEnvironment.detect(ProcessInfo.processInfo.environment) {
                try runLaunched(launch)
            } else if workers > 1 {
                let threads = max(1, (try options.resolve().threads) / workers)
                var coordinator = CoordinatorOptions(bind: "tcp://127.0.0.1:*", workers: workers)
                membership.apply(to: &coordinator)
                let endpoint = try LoopbackPort.freeEndpoint()
                coordinator.bind = endpoint
                coordinator.joinToken = security.joinToken ?? Coordinator.newJoinToken()
                let children = try startLocalWorkers(workers, endpoint: endpoint, threads: threads, token: coordinator.joinToken)
                try runCoordinated(pipeline: options, options: coordinator, localWorkers: children)
            } else {
                try options.execute([.fineTune, .distill, .evaluate])
            }
        }
    }

    /// Rank 0: coordinator plus one local worker; other ranks: a worker.
    func runLaunched(_ launch: LaunchEnvironment) throws {
        let threads = launch.workerThreads(requested: (try? options.resolve().threads) ?? 1)
        var extra: [String] = []
        if let key = security.secretKey { extra += ["--secret-key", key] }
        if let key = security.coordinatorKey { extra += ["--coordinator-key", key] }
        if security.secretKey == nil, security.joinToken == nil {
            throw ValidationError("under a launcher every rank needs the same join token (or CURVE keys): set EDGEDISTILL_JOIN_TOKEN for the job, as cluster/launch.sh and cluster/edgedistill.sbatch do")
        }
        guard launch.isCoordinator else {
            var worker = WorkerOptions(coordinator: launch.coordinatorEndpoint)
            worker.threads = threads
            worker.security = try security.client()
            worker.token = security.joinToken
            try Worker(options: worker, validator: sweepValidator, log: logLine).run()
            return
        }
        var coordinator = CoordinatorOptions(bind: launch.bindEndpoint, workers: launch.worldSize)
        coordinator.security = try security.server()
        coordinator.joinToken = security.joinToken
        coordinator.insecure = security.insecure
        membership.apply(to: &coordinator)
        logLine("rank 0 of \(launch.worldSize): coordinating on port \(launch.masterPort)")
        let local = try startLocalWorkers(1, endpoint: launch.coordinatorEndpoint, threads: threads, token: security.joinToken,
                                          extra: extra)
        try runCoordinated(pipeline: options, options: coordinator, localWorkers: local)
    }
}

/// `edgedistill finetune`: fine-tune the teacher's classification head and encoder.
struct FineTune: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finetune",
        abstract: "Fine-tune a teacher on labelled data (AdamW, linear warm-up and decay); writes OUT/teacher.")

    @OptionGroup var options: PipelineOptions

    func run() throws { try options.execute([.fineTune]) { $0.finetune.mode = "always" } }
}

/// `edgedistill distill`: distil a student from a fine-tuned teacher.
struct Distill: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Distil a student from a fine-tuned teacher's layers; writes OUT/student and OUT/report.json.")

    @OptionGroup var options: PipelineOptions

    func run() throws { try options.execute([.distill, .evaluate]) }
}
