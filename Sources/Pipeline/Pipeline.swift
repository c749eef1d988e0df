import Evaluation
import Files
import Foundation
import Kernels
import Model
import Training

/// The single-node job: fine-tune the teacher when it needs it, distil a student from its layers,
/// evaluate both on every evaluation file, and write the run folder.
///
/// Run folder: `teacher/` and `student/` (Hugging Face folders), `metrics.jsonl`,
/// `run_config.json` (the resolved configuration), `report.json`, `checkpoints/` (resumable state)
/// and `state.json` (which phases are finished, for `--resume`).
public final class Pipeline {
    /// Below this many validation examples a run warns that its choice of checkpoint is noisy
    /// (one example is half a point of accuracy at 200).
    static let fewValidationExamples = 200

    public let config: PipelineConfig
    let log: (String) -> Void
    /// Runs a training phase somewhere else (a coordinator's workers); nil: in this process.
    public var executor: PhaseExecutor?

    public init(config: PipelineConfig, log: @escaping (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }) {
        self.config = config
        self.log = log
    }

    var out: String { config.out }
    func path(_ name: String) -> String { (out as NSString).appendingPathComponent(name) }

    /// The stages of a run; `edgedistill finetune` and `distill` run one, `run` all three.
    public enum Stage: Sendable { case fineTune, distill, evaluate }

    @discardableResult
    ///
    /// `out` holding a run already (its run_config.json) is refused unless `resume` (continue it:
    /// the recipe must be the one it was started with) or `overwrite` (replace it).
    public func run(resume: Bool = false, overwrite: Bool = false,
                    stages: Set<Stage> = [.fineTune, .distill, .evaluate]) throws -> [String: Any] {
        let problems = try config.validate()
        guard problems.isEmpty else { throw ModelError(file: nil, "invalid configuration: " + problems.joined(separator: "; ")) }
        if stages.contains(.distill) {
            // Layers the teacher lacks are refused before anything is written.
            _ = try config.studentLayers(teacherLayers: try ModelConfig.load(directory: config.teacher).layerCount)
        }
        try checkRunFolder(resume: resume, overwrite: overwrite)
        Threads.set(config.threads)
        let fm = FileManager.default
        do {
            try fm.createDirectory(atPath: path("checkpoints"), withIntermediateDirectories: true)
        } catch {
            throw ModelError(file: out, "cannot create the run folder: \((error as NSError).localizedDescription)")
        }
        try writeJSON(try configJSON(), to: path("run_config.json"))
        if !resume {
            try? fm.removeItem(atPath: path("metrics.jsonl"))
            try? fm.removeItem(atPath: path("state.json"))
            for name in ["teacher.ckpt", "student.ckpt"] { try? fm.removeItem(atPath: path("checkpoints/" + name)) }
        }
        var state = (try? readJSON(path("state.json"))) ?? [:]
        let metrics = try MetricsLog(path: path("metrics.jsonl"))
        let started = Date()

        let data = try prepareData(stages: stages)
        let (probe, train, validation, evalSets, options) = (data.probe, data.train, data.validation, data.evalSets, data.options)
        let (tokenizer, maxLength, trainData, validationData) = (data.tokenizer, data.maxLength, data.trainData, data.validationData)
        let encode = { (d: Dataset) in EncodedDataset(d, tokenizer: tokenizer, maxLength: maxLength) }

        // Teacher.
        var teacher = try SequenceClassifier.load(directory: config.teacher, seed: config.seed,
                                                  labelNames: train.labelNames).model
        let needsTraining = stages.contains(.fineTune)
            && (config.finetune.mode == "always" || (config.finetune.mode == "auto" && probe.initializedHead))

        var teacherSeconds = 0.0
        if state["teacher_done"] as? Bool == true, fm.fileExists(atPath: path("teacher/model.safetensors")) {
            teacher = try SequenceClassifier.load(directory: path("teacher")).model
            log("teacher: already fine-tuned in \(path("teacher"))")
        } else if needsTraining {
            var o = TrainingOptions()
            o.epochs = config.finetune.epochs
            o.batchSize = config.finetune.batchSize
            o.learningRate = Float(config.finetune.learningRate)
            o.warmupFraction = config.finetune.warmup
            o.linearDecay = true
            o.weightDecay = Float(config.finetune.weightDecay)
            o.traceSteps = config.traceSteps
            o.setGradientPrecision(config.gradientPrecision)
            o.shardOptimizer = config.shardOptimizer
            o.evalEvery = config.finetune.evalEvery
            o.checkpointEvery = config.checkpointEvery
            o.seed = config.seed
            o.lengthBucketed = config.lengthBucketed
            o.minSteps = config.finetune.minSteps
            noteSmallData(o, examples: trainData.count, stage: "teacher", key: "finetune")
            log("teacher: fine-tuning \(config.teacher) (\(o.effectiveEpochs(examples: trainData.count)) epoch(s), batch \(o.batchSize), lr \(o.learningRate))")
            let job = TrainingJob(phase: "teacher", modelFolder: config.teacher, labelNames: train.labelNames,
                                  seed: config.seed, options: o)
            let trainer = Trainer(model: teacher, mode: .fineTune, train: trainData,
                                  validator: Evaluator.validator(on: validationData, batchSize: o.evalBatchSize),
                                  options: o, checkpointPath: path("checkpoints/teacher.ckpt"), metrics: metrics,
                                  label: "teacher") { [self] model, _ in
                try model.saveFolder(path("teacher"), vocabularyFrom: config.teacher)
            }
            let summary = try runPhase(trainer, job: job, resume: resume)
            teacherSeconds = summary.seconds
            teacher = try SequenceClassifier.load(directory: path("teacher")).model
            log(String(format: "teacher: best validation accuracy %.4f at step %d", summary.bestAccuracy ?? 0, summary.bestStep ?? 0))
        } else {
            try teacher.saveFolder(path("teacher"), vocabularyFrom: config.teacher)
        }
        state["teacher_done"] = true
        try writeJSON(state, to: path("state.json"))
        guard stages.contains(.distill) else {
            let t = Evaluator.evaluate(teacher, on: validationData).metrics
            let report: [String: Any] = ["teacher": ["path": path("teacher"), "parameters": teacher.parameterCount,
                                                     "size_bytes": diskSize(path("teacher/model.safetensors")),
                                                     "fine_tune_seconds": teacherSeconds],
                                         "validation": t.jsonObject]
            try writeJSON(report, to: path("report.json"))
            return report
        }

        // Student from the teacher's layers.
        let layers = try config.studentLayers(teacherLayers: teacher.config.layerCount)
        let o = config.distillationOptions()
        // The distillation set: the training examples, then what only the teacher labels.
        var distillData = trainData
        func add(_ extra: Dataset, _ what: String) {
            let encoded = encode(extra)
            distillData = EncodedDataset(sequences: distillData.sequences + encoded.sequences, labels: distillData.labels + encoded.labels,
                                         truncatedCount: distillData.truncatedCount + encoded.truncatedCount)
            log("student: \(extra.count) \(what): \(distillData.count) inputs")
        }
        if config.distill.augment > 0 {
            add(Augmentation.variants(of: train, options: config.augmentation, seed: config.seed),
                "teacher-labelled variants of the \(train.count) training examples (distill.augment \(config.distill.augment))")
        }
        for set in data.unlabeled { add(set, "unlabeled texts from \(set.source)") }
        noteSmallData(o, examples: distillData.count, stage: "student", key: "distill")
        log("student: distilling teacher layers \(layers) (\(o.effectiveEpochs(examples: distillData.count)) epoch(s), batch \(o.batchSize), lr \(o.learningRate) \(config.distill.schedule), T \(config.distill.temperature), alpha \(config.distill.alpha))")
        let loss = DistillationLoss(temperature: Float(config.distill.temperature), alpha: Float(config.distill.alpha))
        let shape = config.studentShape
        let student = try shape.apply(to: try teacher.student(layers: layers), teacher: teacher, loss: loss, data: distillData, options: o)
        if shape.narrows {
            log("student: \(student.config.heads(inLayer: 0)) heads and \(student.config.intermediateSize) FFN neurons per layer (the most important; distill.student_heads, distill.student_ffn)")
        }
        let job = TrainingJob(phase: "student", modelFolder: path("teacher"), labelNames: train.labelNames,
                              seed: config.seed, options: o, studentLayers: layers,
                              temperature: config.distill.temperature, alpha: config.distill.alpha, studentShape: shape.narrows ? shape : nil)
        let logits = try teacherPass(teacher, data: distillData, labelNames: train.labelNames, options: o)
        let distiller = Trainer(model: student, mode: .distill(teacher: teacher, loss: loss, layers: layers),
                                train: distillData, validator: Evaluator.validator(on: validationData, batchSize: o.evalBatchSize), options: o,
                                checkpointPath: path("checkpoints/student.ckpt"), metrics: metrics,
                                label: "student", logitCache: logits) { [self] model, _ in
            try model.saveFolder(path("student"), vocabularyFrom: config.teacher)
        }
        let distilled = try runPhase(distiller, job: job, resume: resume)
        if let file = logits?.file, !config.keepTeacherLogits { file.remove() }
        log(String(format: "student: best validation accuracy %.4f at step %d%@", distilled.bestAccuracy ?? 0, distilled.bestStep ?? 0,
                   distilled.bestAveraged.map { " (the average of the last \($0) evaluations' weights)" } ?? ""))
        let best = try SequenceClassifier.load(directory: path("student")).model
        state["student_done"] = true
        try writeJSON(state, to: path("state.json"))

        // Evaluation of both on every file.
        var evaluations: [[String: Any]] = []
        for (file, data) in zip(config.eval, evalSets) where stages.contains(.evaluate) {
            let encoded = encode(data)
            let t = Evaluator.evaluate(teacher, on: encoded).metrics
            let s = Evaluator.evaluate(best, on: encoded).metrics
            evaluations.append(["file": file, "examples": encoded.count, "teacher": t.jsonObject, "student": s.jsonObject,
                                "accuracy_retention": t.accuracy > 0 ? s.accuracy / t.accuracy : 0])
        }
        // Issue 5: fp16 and int8 students written beside student/, every variant measured (VariantEvaluation).
        var variantOptions = VariantEvaluation.Options()
        variantOptions.latencySentences = config.latencySentences
        variantOptions.maxLength = config.maxLength
        variantOptions.dataset = options
        if let executable = Bundle.main.executablePath, (executable as NSString).lastPathComponent == "edgedistill" {
            variantOptions.servingExecutable = executable  // latency and peak RSS in a fresh process per variant
        }
        let variants = stages.contains(.evaluate) && !config.eval.isEmpty
            ? try VariantEvaluation.run(teacher: path("teacher"), student: path("student"), evaluationFiles: config.eval,
                                        outputFolder: out, options: variantOptions, log: log) : []
        let report: [String: Any] = [
            "variants": try VariantReport.jsonObjects(variants),
            "teacher": ["path": path("teacher"), "parameters": teacher.parameterCount, "layers": teacher.config.layerCount,
                        "size_bytes": diskSize(path("teacher/model.safetensors")), "fine_tuned": needsTraining,
                        "fine_tune_seconds": teacherSeconds],
            "student": ["path": path("student"), "parameters": best.parameterCount, "layers": layers,
                        "size_bytes": diskSize(path("student/model.safetensors")),
                        "distill_seconds": distilled.seconds, "examples_per_s": distilled.examplesPerSecond,
                        "best_validation_accuracy": distilled.bestAccuracy ?? 0,
                        "best_step": distilled.bestStep ?? 0, "averaged_checkpoints": distilled.bestAveraged ?? 1],
            "evaluations": evaluations, "labels": train.labelNames,
            "training_examples": trainData.count, "validation_examples": validationData.count,
            "text_columns": train.textColumns,
            "seconds": Date().timeIntervalSince(started),
        ]
        try writeJSON(report, to: path("report.json"))
        if !variants.isEmpty {
            let notes = VariantReport.methodNotes(latencySentences: config.latencySentences, latencyFile: config.eval[0]) + [
                String(format: "Teacher fine-tuned in %.0f s; student (teacher layers %@) distilled in %.0f s.", teacherSeconds,
                       layers.map(String.init).joined(separator: ", "), distilled.seconds),
            ]
            try VariantReport.write(rows: variants, title: "EdgeDistill: \((config.teacher as NSString).lastPathComponent) distilled to \(layers.count) layers",
                                    notes: notes, to: out)
        }
        return report
    }

    /// What a run reads before it trains: the teacher probe, the datasets (training sample,
    /// validation, evaluation files) and their encodings.
    struct RunData {
        let probe: LoadedCheckpoint
        let options: DatasetOptions
        let train: Dataset, validation: Dataset
        let evalSets: [Dataset]
        /// `unlabeled` files (distillation only), labelled `unlabelled`.
        let unlabeled: [Dataset]
        let tokenizer: BertTokenizer
        let maxLength: Int
        let trainData: EncodedDataset, validationData: EncodedDataset
    }

    /// The held-out (validation) examples this configuration's run chose checkpoints on: the same
    /// file, sample and seeded split, so other models can be judged on them after the run.
    public func heldOutSet() throws -> Dataset { try prepareData(stages: [.fineTune]).validation }

    func prepareData(stages: Set<Stage>) throws -> RunData {
        // The teacher's own labels when its head is trained, else the training file's.
        let probe = try SequenceClassifier.load(directory: config.teacher, seed: config.seed)
        if !stages.contains(.fineTune) && probe.initializedHead {
            throw ModelError(file: config.teacher, "the teacher has no trained classification head: fine-tune it first (edgedistill finetune, or edgedistill run)")
        }
        var options = DatasetOptions(textColumn: config.textColumn, textPairColumn: config.textPairColumn,
                                     labelColumn: config.labelColumn, skipBadRows: config.skipBadRows)
        if !probe.initializedHead { options.labelNames = probe.model.config.labelNames }
        var train = try Dataset.load(config.train, options: options)
        options.labelNames = train.labelNames
        let tokenizer = try BertTokenizer.load(directory: config.teacher)
        try probe.model.checkCompatible(with: tokenizer, directory: config.teacher)
        let maxLength = probe.model.fittedLength(config.maxLength)
        if maxLength < config.maxLength {
            log("max_length \(config.maxLength) cut to \(maxLength), the teacher's max_position_embeddings")
        }
        if train.skippedRows > 0 { log("\(config.train): skipped \(train.skippedRows) bad rows") }
        if let limit = config.maxTrainExamples, limit < train.texts.count {
            let (sample, _) = try train.split(heldOutFraction: 1 - Double(limit) / Double(train.texts.count), seed: config.seed)
            train = sample
        }
        let validation: Dataset
        if let file = config.validation {
            validation = try Dataset.load(file, options: options)
        } else {
            (train, validation) = try train.split(heldOutFraction: config.heldOut, seed: config.seed)
        }
        let evalSets = stages.contains(.evaluate) ? try config.eval.map { try Dataset.load($0, options: options) } : []
        var textOnly = options
        textOnly.unlabelled = true
        let unlabeled = stages.contains(.distill) ? try config.unlabeled.map { try Dataset.load($0, options: textOnly) } : []
        for other in [validation] + evalSets + unlabeled where (other.pairs == nil) != (train.pairs == nil) {
            let shape = { (d: Dataset) in d.pairs == nil ? "one text per example" : "sentence pairs" }
            throw ModelError(file: other.source, "has \(shape(other)) but \(config.train) has \(shape(train)): "
                + "expected the same text columns in every file (text_column, text_pair_column)")
        }
        let encode = { (d: Dataset) in EncodedDataset(d, tokenizer: tokenizer, maxLength: maxLength) }
        let trainData = encode(train), validationData = encode(validation)
        log("data: \(trainData.count) training, \(validationData.count) validation \(train.pairs == nil ? "examples" : "sentence pairs") (\(train.textColumns.joined(separator: " + "))), labels \(train.labelNames); \(trainData.truncatedCount) truncated to \(maxLength) tokens")
        if validationData.count < Self.fewValidationExamples {
            log("note: the best checkpoints are chosen on only \(validationData.count) validation examples (ties go to the "
                + "earliest), so the choice is noisy: pass --validation FILE or raise held_out")
        }

        return RunData(probe: probe, options: options, train: train, validation: validation, evalSets: evalSets, unlabeled: unlabeled,
                       tokenizer: tokenizer, maxLength: maxLength, trainData: trainData, validationData: validationData)
    }

    /// Says when the data is small for the recipe: its epochs would be fewer steps than the stage's
    /// `min_steps` (so it trains longer), or fewer than `smallRunSteps` with no `min_steps` to help.
    func noteSmallData(_ o: TrainingOptions, examples: Int, stage: String, key: String) {
        let perEpoch = (examples + o.batchSize - 1) / o.batchSize, planned = perEpoch * o.epochs
        if o.effectiveEpochs(examples: examples) > o.epochs {
            log("note: \(examples) examples make \(perEpoch) \(stage) steps an epoch; \(key).min_steps \(o.minSteps) makes it \(o.effectiveEpochs(examples: examples)) epochs instead of \(o.epochs)")
        } else if planned < Self.smallRunSteps {
            log("note: only \(planned) \(stage) steps (\(examples) examples, \(o.epochs) epoch(s)): too few to train well; raise \(key).min_steps or \(key).epochs")
        }
    }
    /// Below this many steps a stage is reported as too short for its data.
    static let smallRunSteps = 200

    /// Runs a phase's loop, in this process or on the executor's workers.
    /// The teacher pass (`TeacherPass`): the teacher's logits for every input of `data`, computed
    /// once into the run folder's teacher_logits.bin (on the workers when there are any; what an
    /// interrupted pass wrote is kept), for the student stage to read. Nil when the loss needs the
    /// teacher's internals (hidden states, attention maps): then the teacher runs beside the student.
    func teacherPass(_ teacher: SequenceClassifier, data: EncodedDataset, labelNames: [String],
                     options o: TrainingOptions) throws -> LogitCache? {
        guard !o.needsTeacherInternals else {
            log("student: the loss reads the teacher's hidden states or attention, so the teacher runs beside the student (no separate teacher pass)")
            return nil
        }
        let started = Date()
        teacher.freeze(precision: o.teacherPrecision)
        let plan = TeacherPassPlan(lengths: data.sequences.map(\.count))
        let file = try TeacherLogitsFile(path: path("teacher_logits.bin"), plan: plan, classes: teacher.config.labelCount,
                                         fingerprint: TeacherPass.fingerprint(teacher, data: data, precision: o.teacherPrecision))
        let pending = file.pendingShards.count
        if pending < plan.shards.count {
            log("teacher pass: \(plan.shards.count - pending) of \(plan.shards.count) shards kept from an earlier pass (checksums hold)")
        }
        if pending > 0 {
            if let executor = executor as? TeacherPassExecutor {
                try executor.teacherPass(teacherFolder: path("teacher"), labelNames: labelNames, data: data, file: file,
                                         precision: o.teacherPrecision)
            } else {
                try TeacherPass.runLocally(teacher, data: data, file: file,
                                           progress: Progress(label: "teacher pass", total: data.count, unit: "sentences"))
            }
        }
        let seconds = Date().timeIntervalSince(started)
        log(String(format: "teacher pass: logits of %d inputs in %.1f s (%.0f sentences/s) in %@%@", data.count, seconds,
                   Double(data.count) / max(seconds, 1e-9), file.path,
                   config.keepTeacherLogits ? " (kept: keep_teacher_logits)" : " (removed when the student is trained)"))
        return LogitCache(file: file)
    }

    func runPhase(_ trainer: Trainer, job: TrainingJob, resume: Bool) throws -> TrainingSummary {
        let scheduler = try executor?.scheduler(for: job, data: trainer.trainingSet)
        return try trainer.run(resume: resume, on: scheduler)
    }

    /// Settings a resumed run may change: where it writes and reads its evaluation files, how many
    /// threads, how often it checkpoints, what it logs. Every other key fixes the recipe.
    static let resumableKeys: Set<String> = ["out", "eval", "threads", "latency_sentences", "trace_steps", "checkpoint_every",
                                             "keep_teacher_logits"]

    /// Refuses an `out` that is a file, or that holds a run, unless told what to do with it.
    func checkRunFolder(resume: Bool, overwrite: Bool) throws {
        var isFolder: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: out, isDirectory: &isFolder)
        if exists && !isFolder.boolValue {
            throw ModelError(file: out, "is a file, not a folder: --out names the run folder to write")
        }
        let previous = path("run_config.json")
        guard FileManager.default.fileExists(atPath: previous) else { return }
        if resume {
            let before = flatten(try readJSON(previous)), now = flatten(try configJSON())
            for key in Set(before.keys).union(now.keys).sorted() where !Self.resumableKeys.contains(key.components(separatedBy: ".")[0]) {
                let (a, b) = (before[key].map(Self.text) ?? "unset", now[key].map(Self.text) ?? "unset")
                if a != b {
                    throw ModelError(file: previous, "the run was started with \(key) = \(a), this one has \(b): --resume continues the same recipe; start a new run folder (or --overwrite) to change it")
                }
            }
        } else if !overwrite {
            throw ModelError(file: out, "holds a run already (run_config.json): pass --resume to continue it, --overwrite to replace it, or choose another --out")
        }
    }

    /// A JSON value as it reads in the file: `[0, 3]`, `"a.tsv"`, `0.5`.
    static func text(_ value: Any) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: [value]),
              let list = String(data: data, encoding: .utf8) else { return "\(value)" }
        return String(list.dropFirst().dropLast()).replacingOccurrences(of: ",", with: ", ")
    }

    /// `{"distill": {"epochs": 3}}` as `["distill.epochs": 3]`.
    func flatten(_ object: [String: Any], prefix: String = "") -> [String: Any] {
        var flat: [String: Any] = [:]
        for (key, value) in object {
            if let nested = value as? [String: Any] {
                flat.merge(flatten(nested, prefix: prefix + key + "."), uniquingKeysWith: { $1 })
            } else {
                flat[prefix + key] = value
            }
        }
        return flat
    }

    func configJSON() throws -> [String: Any] {
        let data = try JSONEncoder().encode(config)
        return (try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
    }
}

/// Writes JSON atomically (temporary file, then rename).
public func writeJSON(_ object: Any, to path: String) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    do {
        try AtomicFile.write(Array(data), to: path)
    } catch let failure as AtomicFile.Failure {
        throw ModelError(file: path, "cannot write: \(failure.reason)")
    }
}

func readJSON(_ path: String) throws -> [String: Any] {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    return (try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
}
