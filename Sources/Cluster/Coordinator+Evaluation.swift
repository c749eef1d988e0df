import Collective
import Foundation
import Model
import Training

/// Validation on the workers (`StepScheduler.validate`): every worker of the ring already holds the
/// weights of the last committed step, so each counts a part of the validation set and sends back
/// its confusion counts, (K, K) integers. The coordinator no longer copies the whole state to
/// evaluate; it copies the weights only when it must keep them (a new best, the weight average) and
/// for checkpoints.
///
/// The parts are the validation examples dealt by length (`Validator.split`), one per ring worker,
/// each sent with the part's token ids, so a worker needs no set-up and a late joiner can take one.
/// A part whose worker is lost goes to another; a worker that cannot count (it reports a failure)
/// makes this evaluation fall back to the coordinator, as before.
extension Coordinator {
    public func validate(_ validator: Validator) throws -> Validation? {
        let holders = ring.filter { members[$0.id] === $0 && $0.configured }
        guard !holders.isEmpty, validator.data.count > 0 else { return nil }
        evaluationRounds += 1
        let round = evaluationRounds
        let parts = validator.split(into: holders.count).filter { !$0.isEmpty }
        var pending = Array(parts.indices)
        var running: [String: (part: Int, member: Member)] = [:]
        var confusion: [[Int]]?
        var counted = 0
        let deadline = Date().addingTimeInterval(options.startupTimeout)
        func alive(_ member: Member) -> Bool { members[member.id] === member }
        while !pending.isEmpty || !running.isEmpty {
            guard Date() < deadline else { throw ClusterError("the workers did not finish evaluation \(round) in \(Int(options.startupTimeout)) s") }
            reapSilent()
            for (id, job) in running where !alive(job.member) {
                running[id] = nil
                pending.insert(job.part, at: 0)
                log("coordinator: validation part \(job.part) was on a lost worker; another will count it")
            }
            let idle = ring.filter { alive($0) && $0.configured && running[$0.id] == nil }
            if idle.isEmpty && running.isEmpty { return nil }  // no worker left that holds the weights
            for member in idle where !pending.isEmpty {
                let part = pending.removeFirst()
                let examples = parts[part]
                let subset = EncodedDataset(sequences: examples.map { validator.data.sequences[$0] },
                                            labels: examples.map { validator.data.labels[$0] })
                try send(.evaluate, ClusterMessages.Evaluate(session: session, generation: generation, step: currentStep,
                                                             round: round, part: part),
                         sections: JobPackage.dataSections(subset, prefix: "eval"), to: member)
                running[member.id] = (part, member)
            }
            guard let incoming = try next(timeout: 0.2), incoming.message.type == .evaluation else { continue }
            let report = try incoming.message.envelope(ClusterMessages.Evaluation.self).header
            guard report.session == session, report.round == round, let job = running[incoming.member.id],
                  job.part == report.part else { continue }
            running[incoming.member.id] = nil
            guard let counts = report.confusion else {
                log("coordinator: worker \(incoming.member.id) could not validate (\(report.failure ?? "no reason given")); validating here")
                return nil
            }
            let k = counts.count
            guard counts.allSatisfy({ $0.count == k && $0.allSatisfy { $0 >= 0 } }),
                  counts.reduce(0, { $0 + $1.reduce(0, +) }) == parts[job.part].count,
                  confusion.map({ $0.count == k }) ?? true else {
                drop(incoming.member, reason: "it sent validation counts that do not fit its part of \(parts[job.part].count) examples")
                continue
            }
            confusion = (confusion ?? [[Int]](repeating: [Int](repeating: 0, count: k), count: k)).enumerated().map { row, values in
                values.enumerated().map { $1 + counts[row][$0] }
            }
            counted += parts[job.part].count
        }
        guard let confusion, counted == validator.data.count else { return nil }
        evaluationsOnWorkers += 1
        if evaluationsOnWorkers == 1 {
            log("coordinator: validation runs on the \(holders.count) worker(s), \(validator.data.count) examples in \(parts.count) part(s); only the counts travel")
        }
        return validator.score(confusion)
    }
}
