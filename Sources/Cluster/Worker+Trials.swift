import Collective
import Foundation
import Model
import Training

/// A worker's part in a sweep run over the cluster (`Coordinator+Trials.swift`): it keeps the
/// sweep's shared inputs once, then runs whichever trials the coordinator gives it, each on to the
/// step of the rung, and keeps them (trainer, Adam state, best weights) between rungs.
extension Worker {
    struct Trials {
        var teacher: SequenceClassifier?
        var train: EncodedDataset?
        var validator: Validator?
        var logits: LogitCache?
        var runs: [Int: TrialRun] = [:]
        /// Trial runs received, for fault injection (`EDGEDISTILL_WORKER_FAULT=trial:N:kill`).
        var received = 0
    }

    func setUpTrials(_ envelope: Envelope<ClusterMessages.TrialSetup>) throws {
        let started = Date()
        let folder = try JobPackage.writeFolder(from: envelope)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        guard let makeValidator = validator else {
            throw ClusterError("this worker cannot judge sweep trials (it was started without a validator)")
        }
        let teacher = try SequenceClassifier.load(directory: folder, seed: envelope.header.seed, labelNames: envelope.header.labelNames).model
        try teacher.checkCompatible(with: try BertTokenizer.load(directory: folder), directory: folder)
        teacher.freeze(precision: envelope.header.teacherPrecision)
        let train = try JobPackage.dataset(from: envelope, vocabularySize: teacher.config.vocabularySize)
        let validation = try JobPackage.dataset(from: envelope, vocabularySize: teacher.config.vocabularySize, prefix: "validation")
        let values = try SectionCoding.floats(try envelope.section("teacher.logits"), name: "teacher.logits")
        let classes = teacher.config.labelCount
        guard values.count == train.count * classes, values.allSatisfy(\.isFinite) else {
            throw WireError.malformedPayload("teacher.logits holds \(values.count) values, not \(train.count) x \(classes) finite ones")
        }
        let logits = LogitCache(count: train.count, classes: classes)
        logits.store(values, for: Array(0..<train.count))
        trials = Trials(teacher: teacher, train: train, validator: makeValidator(validation), logits: logits)
        log(String(format: "worker %@: sweep set up in %.1f s (%d training, %d validation examples)", id,
                   Date().timeIntervalSince(started), train.count, validation.count))
    }

    /// Runs (or, `fresh`, starts over) one trial up to the command's step and reports; a failure is
    /// reported, not thrown, so the coordinator can say which trial failed and why.
    func runTrial(_ command: ClusterMessages.TrialRun) throws {
        guard let session else { return }
        if FaultInjection.fromEnvironment("EDGEDISTILL_WORKER_FAULT", defaultAction: "kill")?.action(phase: "trial", step: trials.received) == "kill" {
            log("worker \(id): EDGEDISTILL_WORKER_FAULT: killing myself on trial run \(trials.received)")
            kill(getpid(), SIGKILL)
        }
        trials.received += 1
        var report = ClusterMessages.TrialReport(session: session, trial: command.trial.index, attempt: command.attempt)
        do {
            guard let teacher = trials.teacher, let train = trials.train, let validator = trials.validator, let logits = trials.logits else {
                throw ClusterError("trial \(command.trial.name) arrived before the sweep's set-up")
            }
            if command.fresh || trials.runs[command.trial.index] == nil {
                trials.runs[command.trial.index] = try TrialRun(spec: command.trial, teacher: teacher, train: train,
                                                                validator: validator, teacherLogits: logits)
            }
            let started = Date()
            report.progress = try trials.runs[command.trial.index]?.run(until: command.until)
            log(String(format: "worker %@: trial %@ at step %d in %.1f s", id, command.trial.name, report.progress?.step ?? 0,
                       Date().timeIntervalSince(started)))
        } catch {
            report.failure = "\(error)"
            trials.runs[command.trial.index] = nil
        }
        try send(try WireMessage(.trialReport, report))
    }
}
