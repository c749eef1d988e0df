import Foundation

/// A fault a test asks for through the environment, `NAME=PHASE:STEP[:ACTION]`: at `STEP` of the
/// phase named `PHASE` ("teacher", "student"; "pass": shards of the teacher pass), do `ACTION`. Each process reads its own variable:
/// - `EDGEDISTILL_CRASH_AFTER` (the training loop): after that many steps, `stop` (default: the run
///   throws, as an interruption would, with nothing cleaned up) or `kill` (SIGKILL, as a crashed
///   coordinator would vanish, leaving its workers behind);
/// - `EDGEDISTILL_WORKER_FAULT` (a worker): on receiving that step, `kill`, `kill-reduce-scatter` or
///   `kill-all-gather` (SIGKILL part-way through the step's all-reduce), `pause` (3 s slower) or
///   `corrupt` (one weight changed, which the checksums must catch); phase `eval`: SIGKILL on the
///   STEP-th validation it is asked to count; phase `pass`: on that teacher-pass shard.
public struct FaultInjection: Equatable, Sendable {
    public let phase: String
    public let step: Int
    public let action: String

    /// Parses `PHASE:STEP[:ACTION]`; nil when malformed.
    public init?(_ text: String, defaultAction: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 || parts.count == 3, !parts[0].isEmpty, let step = Int(parts[1]), step >= 0 else { return nil }
        phase = parts[0]
        self.step = step
        action = parts.count == 3 ? parts[2] : defaultAction
    }

    /// The fault named by the environment variable `name`, if it is set and well formed.
    public static func fromEnvironment(_ name: String, defaultAction: String) -> FaultInjection? {
        ProcessInfo.processInfo.environment[name].flatMap { FaultInjection($0, defaultAction: defaultAction) }
    }

    /// The action to take at `step` of `phase`, if this fault is for it.
    public func action(phase: String, step: Int) -> String? {
        phase == self.phase && step == self.step ? action : nil
    }
}
