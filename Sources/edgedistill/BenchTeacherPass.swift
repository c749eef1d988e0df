import ArgumentParser
import Cluster
import Collective
import Foundation
import Kernels
import Model
import Training

/// `edgedistill bench teacher-pass`: teacher-labelling throughput (sentences/s) of the teacher pass
/// (`TeacherPass`) in this process and on 1, 2, ... local worker processes, over a file's texts,
/// each writing a fresh teacher-logits file; the files must be byte-identical.
struct BenchTeacherPass: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "teacher-pass",
        abstract: "Teacher-labelling sentences/s of the teacher pass in this process and on N local workers (same logits).")

    @Option(help: "A fine-tuned teacher (Hugging Face folder with a trained head).") var teacher: String
    @Option(help: "A data file (its texts are labelled; labels are not read).") var data: String
    @Option(help: "Sentences to label (0: all).") var sentences = 0
    @Option(help: "Threads of the in-process pass.") var threads = 2
    @Option(help: "Worker counts to measure, comma-separated.") var workers = "2"
    @Option(name: .customLong("threads-per-worker")) var threadsPerWorker = 1
    @Option(name: .customLong("max-length")) var maxLength = 128
    @Flag(help: "Print one JSON object.") var json = false

    var counts: [Int] { workers.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    func validate() throws {
        guard sentences >= 0, threads > 0, threadsPerWorker > 0, !counts.isEmpty, counts.allSatisfy({ $0 > 0 }) else {
            throw ValidationError("--threads, --threads-per-worker and --workers must be positive, --sentences at least 0")
        }
    }

    func run() throws {
        try reportingErrors {
            let loaded = try SequenceClassifier.load(directory: teacher)
            guard !loaded.initializedHead else { throw ModelError(file: teacher, "the teacher has no trained head: fine-tune it first") }
            let model = loaded.model
            let tokenizer = try BertTokenizer.load(directory: teacher)
            try model.checkCompatible(with: tokenizer, directory: teacher)
            var options = DatasetOptions(labelNames: model.config.labelNames)
            options.unlabelled = true
            var set = try Dataset.load(data, options: options)
            if sentences > 0, set.texts.count > sentences {
                set = try set.split(heldOutFraction: 1 - Double(sentences) / Double(set.texts.count), seed: 0).train
            }
            let encoded = EncodedDataset(set, tokenizer: tokenizer, maxLength: model.fittedLength(maxLength))
            let plan = TeacherPassPlan(lengths: encoded.sequences.map(\.count))
            let fingerprint = TeacherPass.fingerprint(model, data: encoded, precision: .fp32)
            let folder = NSTemporaryDirectory() + "edgedistill-bench-pass-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: folder) }
            func file(_ name: String) throws -> TeacherLogitsFile {
                try TeacherLogitsFile(path: folder + "/" + name, plan: plan, classes: model.config.labelCount, fingerprint: fingerprint)
            }

            Threads.set(threads)
            model.freeze()
            let started = Date()
            let local = try file("local.bin")
            try TeacherPass.runLocally(model, data: encoded, file: local)
            let aloneSeconds = Date().timeIntervalSince(started)
            let reference = try Data(contentsOf: URL(fileURLWithPath: local.path))
            var results: [[String: Any]] = [["workers": 0, "mode": "in-process", "threads": threads, "seconds": aloneSeconds,
                                             "sentences_per_s": Double(encoded.count) / aloneSeconds]]
            for count in counts {
                let endpoint = try LoopbackPort.freeEndpoint()
                var coordinatorOptions = CoordinatorOptions(bind: endpoint, workers: count)
                coordinatorOptions.startupTimeout = 120
                coordinatorOptions.joinToken = Coordinator.newJoinToken()
                let coordinator = try Coordinator(options: coordinatorOptions, log: { _ in })
                let children = try startLocalWorkers(count, endpoint: endpoint, threads: threadsPerWorker, token: coordinatorOptions.joinToken)
                let target = try file("workers-\(count).bin")
                let start = Date()
                try coordinator.teacherPass(teacherFolder: teacher, labelNames: model.config.labelNames, data: encoded, file: target,
                                            precision: .fp32)
                let seconds = Date().timeIntervalSince(start)
                coordinator.shutdown(reason: "benchmark done")
                for child in children { child.waitUntilExit() }
                let identical = try Data(contentsOf: URL(fileURLWithPath: target.path)) == reference
                results.append(["workers": count, "mode": "processes", "threads": threadsPerWorker, "seconds": seconds,
                                "sentences_per_s": Double(encoded.count) / seconds, "identical_to_in_process": identical,
                                "speedup_vs_in_process": aloneSeconds / seconds])
                guard identical else { throw ModelError("the logits of \(count) worker(s) differ from the in-process pass's") }
            }
            try printResult(["benchmark": "teacher-pass", "teacher": teacher, "sentences": encoded.count, "shards": plan.shards.count,
                             "batch_size": plan.batchSize, "cpu": ISA.summary, "results": results], json: json)
        }
    }
}
