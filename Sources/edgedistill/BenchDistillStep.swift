import ArgumentParser
import Foundation
import Kernels
import Model
import Training

/// `edgedistill bench distill-step`: distillation steps (teacher forward, student forward and
/// backward, Adam) on real sentences, as in the first epoch (before teacher logits are cached).
struct BenchDistillStep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "distill-step",
        abstract: "Time distillation steps of a student taken from a teacher's layers.")

    @Option(help: "The teacher: a Hugging Face model folder.") var teacher: String
    @Option(name: .customLong("student-layers"), help: "Student layers, evenly spaced from the teacher.") var studentLayers = 2
    @Option(help: "A labelled data file.") var data: String
    @Option(name: .customLong("batch-size")) var batchSize = 16
    @Option(help: "Timed steps.") var steps = 20
    @Option(help: "Untimed warm-up steps.") var warmup = 3
    @Option(help: "oneDNN threads.") var threads = 2
    @Option(name: .customLong("max-length")) var maxLength = 128
    @Option var seed: UInt64 = 0
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        guard batchSize > 0, steps > 0, warmup >= 0, threads > 0, studentLayers > 0, maxLength > 2 else {
            throw ValidationError("--batch-size, --steps, --threads and --student-layers must be positive")
        }
    }

    func run() throws {
        try reportingErrors {
            Threads.set(threads)
            let teacherModel = try SequenceClassifier.load(directory: teacher, seed: seed).model
            let layers = SequenceClassifier.evenlySpacedLayers(studentLayers, of: teacherModel.config.layerCount)
            let student = try teacherModel.student(layers: layers)
            teacherModel.freeze()  // as the trainer does: the frozen teacher's weights are prepared once
            let batches = try benchBatches(model: teacher, classifier: teacherModel, data: data,
                                           batchSize: batchSize, count: warmup + steps, maxLength: maxLength, seed: seed)
            let optimizer = AdamW(model: student, learningRate: 5e-5, weightDecay: 0, lazyEmbeddings: true)
            let loss = DistillationLoss()
            let k = student.config.labelCount
            var timed = 0.0, teacherSeconds = 0.0, optimizerSeconds = 0.0, tokens = 0, last: Float = 0
            for (s, (batch, labels)) in batches.enumerated() {
                let start = DispatchTime.now().uptimeNanoseconds
                let teacherLogits = teacherModel.forward(batch)
                let afterTeacher = DispatchTime.now().uptimeNanoseconds
                optimizer.bringUpToDate(student, rows: batch.ids)
                let afterCatchUp = DispatchTime.now().uptimeNanoseconds
                let logits = student.forward(batch, dropoutSeed: seed &+ UInt64(s))
                let value = loss(student: logits, teacher: teacherLogits, labels: labels, classes: k)
                student.zeroGradients()
                student.backward(value.gradient)
                let beforeUpdate = DispatchTime.now().uptimeNanoseconds
                optimizer.update(student)
                let end = DispatchTime.now().uptimeNanoseconds
                last = value.total
                if s >= warmup {
                    timed += Double(end - start) / 1e9
                    teacherSeconds += Double(afterTeacher - start) / 1e9
                    optimizerSeconds += Double(afterCatchUp - afterTeacher + end - beforeUpdate) / 1e9
                    tokens += batch.tokenCount
                }
            }
            try printResult([
                "benchmark": "distill-step", "teacher": teacher, "student_layers": layers, "batch_size": batchSize,
                "steps": steps, "threads": threads, "examples_per_s": Double(steps * batchSize) / timed,
                "tokens_per_s": Double(tokens) / timed, "step_ms": timed / Double(steps) * 1000,
                "teacher_forward_share": teacherSeconds / timed, "optimizer_share": optimizerSeconds / timed,
                "cached_examples_per_s": Double(steps * batchSize) / (timed - teacherSeconds),
                "peak_rss_mb": peakRSSMegabytes(), "final_loss": Double(last),
            ], json: json)
        }
    }
}
