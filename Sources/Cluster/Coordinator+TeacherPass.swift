import Collective
import Foundation
import Kernels
import Model
import Training

/// The teacher pass over the cluster (`TeacherPass`): the coordinator sends the teacher and the
/// inputs to each worker once, then hands each idle worker the next shard it still lacks and
/// writes the logits that come back into the file. A shard is the same batches wherever it runs,
/// so the file is the one a single process would write; a shard lost with its worker (or refused
/// by it) goes to another.
extension Coordinator: TeacherPassExecutor {
    public func teacherPass(teacherFolder: String, labelNames: [String], data: EncodedDataset, file: TeacherLogitsFile,
                            precision: FrozenWeights.Precision) throws {
        let setup = ClusterMessages.PassSetup(session: session, labelNames: labelNames, teacherPrecision: precision,
                                              batchSize: file.plan.batchSize)
        let sections = try JobPackage.folderSections(teacherFolder) + JobPackage.dataSections(data)
        // The first stage waits for every worker asked for; later ones go on with those left.
        try waitForWorkers(phasesRun == 0 ? options.workers : 1)
        phasesRun += 1
        let started = Date()
        var pending = file.pendingShards
        let total = pending.reduce(0) { $0 + file.plan.shards[$1].count }
        var done = 0, attempts: [Int: Int] = [:], prepared: Set<ObjectIdentifier> = [], lostShards = 0
        var running: [String: (shard: Int, attempt: Int, member: Member)] = [:]
        let progress = Progress(label: "teacher pass", total: max(total, 1), unit: "sentences")
        func alive(_ member: Member) -> Bool { members[member.id] === member }
        while !pending.isEmpty || !running.isEmpty {
            reapSilent()
            for (id, job) in running where !alive(job.member) {
                running[id] = nil
                pending.insert(job.shard, at: 0)
                lostShards += 1
                log("coordinator: teacher-pass shard \(job.shard) was on a lost worker; another will compute it")
            }
            let live = members.values.sorted { $0.order < $1.order }
            guard !live.isEmpty else {
                try waitForWorkers(1)
                continue
            }
            for member in live where running[member.id] == nil && !pending.isEmpty {
                let shard = pending.removeFirst()
                if !prepared.contains(ObjectIdentifier(member)) {
                    try send(.passSetup, setup, sections: sections, to: member)
                    prepared.insert(ObjectIdentifier(member))
                }
                let attempt = (attempts[shard] ?? 0) + 1
                attempts[shard] = attempt
                try send(.passShard, ClusterMessages.PassShard(session: session, shard: shard, attempt: attempt,
                                                               examples: file.plan.examples(ofShard: shard)), to: member)
                running[member.id] = (shard, attempt, member)
            }
            guard let incoming = try next(timeout: 0.2), incoming.message.type == .passReport else { continue }
            let envelope = try incoming.message.envelope(ClusterMessages.PassReport.self)
            let report = envelope.header
            guard report.session == session, let job = running[incoming.member.id], job.shard == report.shard,
                  job.attempt == report.attempt else { continue }
            running[incoming.member.id] = nil
            if let failure = report.failure {
                throw ClusterError("teacher-pass shard \(report.shard) failed on worker \(incoming.member.id): \(failure)")
            }
            let logits = try SectionCoding.floats(try envelope.section("logits"), name: "logits")
            try file.write(shard: report.shard, logits: logits)
            done += file.plan.shards[report.shard].count
            progress.update(done, status: "shard \(report.shard + 1) of \(file.plan.shards.count), \(live.count) worker(s)")
        }
        log(String(format: "coordinator: teacher pass of %d sentences on the workers in %.1f s%@", total, Date().timeIntervalSince(started),
                   lostShards > 0 ? ", \(lostShards) shard(s) computed again after a worker was lost" : ""))
    }
}
