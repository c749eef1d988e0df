import Evaluation
import Foundation
import Kernels
import Model
import Training

/// Structured pruning of a distilled student's attention heads and FFN neurons: each head and
/// neuron is ranked by the gradient-times-weight criterion on distillation batches of the training
/// data (`headImportance`, `ffnImportance`, summed over `importanceBatches` batches), every layer
/// keeps its `heads` best heads and `ffn` best neurons, and the smaller student is briefly
/// distilled again from the teacher (the configuration's distillation recipe, its best held-out
/// checkpoint kept). The result has the standard layout: a smaller FFN (`intermediate_size`) and
/// the removed heads listed in `pruned_heads`.
public struct StructuredPruning {
    public let config: PipelineConfig
    public let student: String
    /// Heads and FFN neurons each layer keeps; nil leaves that part as it is.
    public let heads: Int?
    public let ffn: Int?
    public let importanceBatches: Int
    let log: (String) -> Void

    public init(config: PipelineConfig, student: String, heads: Int? = nil, ffn: Int? = nil, importanceBatches: Int = 50,
                log: @escaping (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }) throws {
        guard importanceBatches >= 1 else { throw ModelError("--importance-batches must be at least 1, got \(importanceBatches)") }
        guard heads != nil || ffn != nil else { throw ModelError("say what to prune: --heads N, --ffn N or both") }
        self.config = config
        self.student = student
        self.heads = heads
        self.ffn = ffn
        self.importanceBatches = importanceBatches
        self.log = log
    }

    /// Ranks, prunes, distils again, writes `config.out`/student; returns a summary.
    public func run() throws -> [String: Any] {
        let problems = try config.validate()
        guard problems.isEmpty else { throw ModelError("invalid configuration: " + problems.joined(separator: "; ")) }
        Threads.set(config.threads)
        let loadedStudent = try SequenceClassifier.load(directory: student)
        if loadedStudent.initializedHead { throw ModelError(file: student, "the student has no trained classification head") }
        let model = loadedStudent.model
        let data = try Pipeline(config: config, log: log).prepareData(stages: [.distill, .evaluate])
        let teacher = try SequenceClassifier.load(directory: config.teacher, labelNames: data.train.labelNames)
        if teacher.initializedHead { throw ModelError(file: config.teacher, "the teacher has no trained classification head") }
        guard teacher.model.config.labelCount == model.config.labelCount, teacher.model.config.hiddenSize == model.config.hiddenSize else {
            throw ModelError(file: student, "the student and the teacher (\(config.teacher)) are not of one family: their labels or hidden sizes differ")
        }
        let loss = DistillationLoss(temperature: Float(config.distill.temperature), alpha: Float(config.distill.alpha))
        var options = config.distillationOptions()
        options.hiddenWeight = 0
        options.attentionWeight = 0
        options.checkpointEvery = 0

        // Importance: the gradients of distillation batches, never applied.
        let importance = try StudentShape.importance(of: model, teacher: teacher.model, loss: loss, data: data.trainData,
                                                     options: options, batches: importanceBatches)
        let pruned = try StudentShape(heads: heads, ffn: ffn).apply(to: model, importance: importance)
        let batches = min(importanceBatches, Batcher(count: data.trainData.count, batchSize: options.batchSize, seed: 0).batchCount)
        let described = [heads.map { "attention heads \(model.config.headCount) -> \($0)" }, ffn.map { "FFN neurons \(model.config.intermediateSize) -> \($0)" }]
        log("prune: " + described.compactMap { $0 }.joined(separator: ", ") + " per layer, parameters \(model.parameterCount) -> \(pruned.parameterCount), "
            + "ranked on \(batches) batches")

        // Distil the pruned student again, keeping its best held-out checkpoint.
        let validator = Evaluator.validator(on: data.validationData, batchSize: options.evalBatchSize)
        let before = validator(pruned).accuracy
        let folder = (config.out as NSString).appendingPathComponent("student")
        let trainer = Trainer(model: pruned, mode: .distill(teacher: teacher.model, loss: loss, layers: []), train: data.trainData,
                              validator: validator, options: options, label: "pruned") { best, _ in
            try best.saveFolder(folder, vocabularyFrom: student)
        }
        let summary = try trainer.run()
        var report: [String: Any] = [
            "student": folder, "ffn_before": model.config.intermediateSize, "ffn_after": pruned.config.intermediateSize,
            "heads_before": model.config.headCount, "heads_after": (0..<pruned.config.layerCount).map { pruned.config.heads(inLayer: $0) },
            "parameters_before": model.parameterCount, "parameters_after": pruned.parameterCount,
            "held_out_after_pruning": before, "held_out_after_distillation": summary.bestAccuracy ?? before,
            "held_out_original": validator(model).accuracy, "steps": summary.steps,
            "size_bytes": diskSize((folder as NSString).appendingPathComponent("model.safetensors")),
            "size_bytes_before": diskSize((student as NSString).appendingPathComponent("model.safetensors")),
        ]
        let kept = try SequenceClassifier.load(directory: folder).model
        for (file, set) in zip(config.eval, data.evalSets) {
            let encoded = EncodedDataset(set, tokenizer: data.tokenizer, maxLength: data.maxLength)
            report["eval:" + file] = ["original": Evaluator.evaluate(model, on: encoded).metrics.accuracy,
                                      "pruned": Evaluator.evaluate(kept, on: encoded).metrics.accuracy]
        }
        return report
    }
}
