import Collective
import Foundation
import Model
import Training

/// A worker's part in validation (`Coordinator+Evaluation.swift`): it counts the part of the
/// validation set it is sent on the weights it holds, and reports only the counts.
extension Worker {
    func evaluate(_ envelope: Envelope<ClusterMessages.Evaluate>) throws {
        let command = envelope.header
        evaluationsReceived += 1
        if FaultInjection.fromEnvironment("EDGEDISTILL_WORKER_FAULT", defaultAction: "kill")?.action(phase: "eval", step: evaluationsReceived) == "kill" {
            log("worker \(id): EDGEDISTILL_WORKER_FAULT: killing myself on evaluation \(evaluationsReceived)")
            kill(getpid(), SIGKILL)
        }
        var report = ClusterMessages.Evaluation(session: command.session, round: command.round, part: command.part)
        do {
            guard let step, generation == command.generation, pendingStep == nil, step.completed == command.step else {
                throw ClusterError("asked to validate step \(command.step), but this worker holds step \(self.step?.completed ?? -1) of ring generation \(generation)")
            }
            guard let makeValidator = validator else { throw ClusterError("this worker was started without a validator") }
            let data = try JobPackage.dataset(from: envelope, vocabularySize: step.model.config.vocabularySize, prefix: "eval")
            guard data.labels.allSatisfy({ $0 >= 0 && Int($0) < step.labelCount }) else {
                throw ClusterError("validation labels outside the model's \(step.labelCount) classes")
            }
            step.synchronizeWeights()
            report.confusion = makeValidator(data).count(step.model, Array(0..<data.count))
        } catch {
            report.failure = "\(error)"
            log("worker \(id): evaluation \(command.round) failed: \(error)")
        }
        try send(try WireMessage(.evaluation, report))
    }
}
