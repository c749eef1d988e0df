import ArgumentParser
import Files
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
            let total = warmup + steps
            let (encoded, batches) = try benchBatches(model: teacher, classifier: teacherModel, data: data,
                                                      batchSize: batchSize, count: total, maxLength: maxLength, seed: seed)
            // The trainer's own step (`TrainingStep`), as a distillation run takes it: first with the
            // teacher running (the first epoch), then the same batches again from the logits it
            // computed (later epochs, served from the logit cache).
            var options = TrainingOptions()
            options.batchSize = batchSize
            options.learningRate = 5e-5
            options.seed = seed
            let step = TrainingStep(model: student, mode: .distill(teacher: teacherModel, loss: DistillationLoss(), layers: layers),
                                    data: encoded, options: options, totalSteps: 2 * total)
            var timed = 0.0, cachedTimed = 0.0, tokens = 0, last: Float = 0
            var logits: [[Float]?] = []
            for (s, indices) in batches.enumerated() {
                let start = DispatchTime.now().uptimeNanoseconds
                let result = try step.run(step: s, indices)
                if s >= warmup {
                    timed += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                    tokens += indices.reduce(0) { $0 + encoded.sequences[$1].count }
                }
                logits.append(result.teacherLogits)
                last = result.value.total
            }
            for (s, indices) in batches.enumerated() {
                let start = DispatchTime.now().uptimeNanoseconds
                try step.run(step: total + s, indices, teacherLogits: logits[s])
                if s >= warmup { cachedTimed += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
            }
            try printResult([
                "benchmark": "distill-step", "teacher": teacher, "student_layers": layers, "batch_size": batchSize,
                "steps": steps, "threads": threads, "examples_per_s": Double(steps * batchSize) / timed,
                "tokens_per_s": Double(tokens) / timed, "step_ms": timed / Double(steps) * 1000,
                "teacher_forward_share": max(0, 1 - cachedTimed / timed),
                "cached_examples_per_s": Double(steps * batchSize) / cachedTimed,
                "peak_rss_mb": ProcessMemory.peakResidentMegabytes, "final_loss": Double(last),
            ], json: json)
        }
    }
}
