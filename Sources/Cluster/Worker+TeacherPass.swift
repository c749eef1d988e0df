import Collective
import Foundation
import Model
import Training

/// A worker's part in the teacher pass (`Coordinator+TeacherPass.swift`): it keeps the teacher and
/// the inputs once, then computes whichever shards the coordinator gives it.
extension Worker {
    struct Pass {
        var teacher: SequenceClassifier
        var data: EncodedDataset
        var batchSize: Int
        /// Shards received, for fault injection (`EDGEDISTILL_WORKER_FAULT=pass:N:kill`).
        var received = 0
    }

    func setUpPass(_ envelope: Envelope<ClusterMessages.PassSetup>) throws {
        let started = Date()
        let folder = try JobPackage.writeFolder(from: envelope)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let teacher = try SequenceClassifier.load(directory: folder, labelNames: envelope.header.labelNames).model
        try teacher.checkCompatible(with: try BertTokenizer.load(directory: folder), directory: folder)
        teacher.freeze(precision: envelope.header.teacherPrecision)
        let data = try JobPackage.dataset(from: envelope, vocabularySize: teacher.config.vocabularySize)
        guard envelope.header.batchSize >= 1 else { throw WireError.malformedPayload("teacher-pass batch size \(envelope.header.batchSize)") }
        pass = Pass(teacher: teacher, data: data, batchSize: envelope.header.batchSize)
        log(String(format: "worker %@: teacher pass set up in %.1f s (%d inputs)", id, Date().timeIntervalSince(started), data.count))
    }

    /// Computes one shard and reports its logits; a failure is reported, not thrown.
    func computeShard(_ command: ClusterMessages.PassShard) throws {
        guard let session else { return }
        if FaultInjection.fromEnvironment("EDGEDISTILL_WORKER_FAULT", defaultAction: "kill")?.action(phase: "pass", step: pass?.received ?? 0) == "kill" {
            log("worker \(id): EDGEDISTILL_WORKER_FAULT: killing myself on teacher-pass shard \(pass?.received ?? 0)")
            kill(getpid(), SIGKILL)
        }
        pass?.received += 1
        var report = ClusterMessages.PassReport(session: session, shard: command.shard, attempt: command.attempt)
        var sections: [(name: String, bytes: [UInt8])] = []
        do {
            guard let pass else { throw ClusterError("teacher-pass shard \(command.shard) arrived before the pass's set-up") }
            guard command.examples.allSatisfy({ $0 >= 0 && $0 < pass.data.count }) else {
                throw ClusterError("teacher-pass shard \(command.shard) names examples outside the \(pass.data.count) inputs")
            }
            let logits = TeacherPass.logits(pass.teacher, examples: command.examples, data: pass.data, batchSize: pass.batchSize)
            sections = [("logits", SectionCoding.bytes(of: logits))]
        } catch {
            report.failure = "\(error)"
        }
        try send(try WireMessage(.passReport, report, sections: sections))
    }
}
