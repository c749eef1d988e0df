import Collective
import Foundation
import Kernels
import Model
import Training

/// A sweep over the cluster: the coordinator sends the sweep's shared inputs to each worker once,
/// then gives each idle worker a trial to run on to the rung's step. A trial stays with the worker
/// that started it (its trainer and Adam state live there) and goes on there at the next rung. A
/// worker lost with trials in hand (running or held) costs only those: each is run again from its
/// start on another worker, which is the same computation, so the sweep's results do not change.
extension Coordinator: TrialExecutor {
    public func trialScheduler(teacherFolder: String, labelNames: [String], train: EncodedDataset, validation: EncodedDataset,
                               teacherLogits: LogitCache, teacherPrecision: FrozenWeights.Precision) throws -> TrialScheduler {
        var values = [Float]()
        values.reserveCapacity(train.count * teacherLogits.classes)
        guard let all = teacherLogits.lookup(Array(0..<train.count)) else {
            throw ClusterError("the teacher's logits must be computed for every training example before the trials start")
        }
        values = all
        let sections = try JobPackage.folderSections(teacherFolder) + JobPackage.dataSections(train)
            + JobPackage.dataSections(validation, prefix: "validation") + [("teacher.logits", SectionCoding.bytes(of: values))]
        try waitForWorkers(options.workers)
        return ClusterTrials(coordinator: self, setup: ClusterMessages.TrialSetup(session: session, labelNames: labelNames, seed: 0,
                                                                                  teacherPrecision: teacherPrecision),
                             sections: sections)
    }
}

final class ClusterTrials: TrialScheduler {
    typealias Member = Coordinator.Member
    let coordinator: Coordinator
    let setup: ClusterMessages.TrialSetup
    let sections: [(name: String, bytes: [UInt8])]
    /// Workers that hold the shared inputs (by admission: one dropped and admitted again gets them again).
    /// (Kept as objects, so an identifier is never reused by a later member.)
    var prepared: [ObjectIdentifier: Member] = [:]
    /// The worker each trial lives on, and the step it has reached there.
    var holders: [Int: (member: Member, step: Int)] = [:]
    var attempts: [Int: Int] = [:]
    /// Trials run again because their worker was lost.
    private(set) var rerun = 0

    init(coordinator: Coordinator, setup: ClusterMessages.TrialSetup, sections: [(name: String, bytes: [UInt8])]) {
        self.coordinator = coordinator
        self.setup = setup
        self.sections = sections
    }

    func alive(_ member: Member) -> Bool { coordinator.members[member.id] === member }

    func run(_ work: [(trial: TrialSpec, until: Int)]) throws -> [Int: TrialProgress] {
        var pending = work
        var running: [String: (trial: TrialSpec, until: Int, attempt: Int, member: Member)] = [:]
        var reached: [Int: TrialProgress] = [:]
        while reached.count < work.count {
            coordinator.reapSilent()
            // Trials whose worker is gone start over elsewhere.
            for (id, job) in running where !alive(job.member) {
                running[id] = nil
                pending.append((job.trial, job.until))
            }
            for (trial, holder) in holders where !alive(holder.member) {
                holders[trial] = nil
                rerun += 1
                coordinator.log("coordinator: trial \(trial) was on a lost worker; it will run again from its start")
            }
            let live = coordinator.members.values.sorted { $0.order < $1.order }
            guard !live.isEmpty else {
                try coordinator.waitForWorkers(1)
                continue
            }
            // Each idle worker takes the first pending trial it holds, else the first one nobody holds.
            for member in live where running[member.id] == nil {
                guard let next = pending.firstIndex(where: { holders[$0.trial.index]?.member === member })
                        ?? pending.firstIndex(where: { holders[$0.trial.index] == nil }) else { continue }
                let (trial, until) = pending.remove(at: next)
                if prepared[ObjectIdentifier(member)] == nil {
                    try coordinator.send(.trialSetup, setup, sections: sections, to: member)
                    prepared[ObjectIdentifier(member)] = member
                }
                let fresh = holders[trial.index] == nil
                let attempt = (attempts[trial.index] ?? 0) + 1
                attempts[trial.index] = attempt
                holders[trial.index] = (member, holders[trial.index]?.step ?? 0)
                try coordinator.send(.trialRun, ClusterMessages.TrialRun(session: coordinator.session, trial: trial, until: until,
                                                                         attempt: attempt, fresh: fresh), to: member)
                running[member.id] = (trial, until, attempt, member)
            }
            guard let incoming = try coordinator.next(timeout: 0.2), incoming.message.type == .trialReport else { continue }
            let report = try incoming.message.envelope(ClusterMessages.TrialReport.self).header
            guard report.session == coordinator.session, let job = running[incoming.member.id], job.trial.index == report.trial,
                  job.attempt == report.attempt else { continue }
            running[incoming.member.id] = nil
            if let failure = report.failure {
                throw ClusterError("trial \(job.trial.name) failed on worker \(incoming.member.id): \(failure)")
            }
            guard let progress = report.progress else { throw ClusterError("worker \(incoming.member.id) reported no progress for trial \(job.trial.name)") }
            holders[report.trial] = (incoming.member, progress.step)
            reached[report.trial] = progress
        }
        return reached
    }

    func bestParameters(of trial: TrialSpec) throws -> [Float] {
        while true {
            guard let holder = holders[trial.index] else {
                throw ClusterError("no worker holds trial \(trial.name)")
            }
            if alive(holder.member), let state = try coordinator.pullState(optimizer: false, trial: trial.index, from: holder.member,
                                                                                largest: Coordinator.largestState(for: trial.job)) {
                return state.parameters
            }
            // Lost with its worker: run it again to where it was, elsewhere.
            holders[trial.index] = nil
            rerun += 1
            _ = try run([(trial, holder.step)])
        }
    }

    func release(_ trials: [TrialSpec]) throws {
        var byMember: [String: (member: Member, trials: [Int])] = [:]
        for trial in trials {
            guard let holder = holders.removeValue(forKey: trial.index), alive(holder.member) else { continue }
            byMember[holder.member.id, default: (holder.member, [])].trials.append(trial.index)
        }
        for (member, indices) in byMember.values {
            try coordinator.send(.trialRelease, ClusterMessages.TrialRelease(session: coordinator.session, trials: indices), to: member)
        }
    }
}
