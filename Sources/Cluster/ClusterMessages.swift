import Collective
import Foundation
import Kernels
import Training

/// The JSON headers of coordinator/worker control messages (see `Envelope`), one per message type.
///
/// Every message after `welcome` carries the coordinator's `session` (a random number per
/// coordinator process): a worker that hears another session knows the coordinator restarted and
/// introduces itself again; a coordinator drops anything from an older session. Messages about a
/// ring also carry its `generation`, which grows whenever membership changes, so a late message
/// from a ring that was torn down is recognised and dropped.
enum ClusterMessages {
    /// worker -> coordinator: who I am.
    struct Hello: Codable {
        var worker: String
        var host: String
        var pid: Int32
        var threads: Int
        /// The worker's CURVE public key when it uses CURVE (its ring listener is a CURVE server).
        var publicKey: String?
        /// The run's join token (`CoordinatorOptions.joinToken`), without which a coordinator that
        /// does not use CURVE admits nobody.
        var token: String?
    }

    /// coordinator -> worker.
    struct Welcome: Codable {
        var session: UInt64
        var worker: String
        var heartbeatInterval: Double
    }

    /// coordinator -> worker: the worker is not admitted.
    struct Refuse: Codable {
        var reason: String
    }

    /// Both ways: I am alive (the coordinator answers each with its session).
    struct Heartbeat: Codable {
        var session: UInt64
        var worker: String
        /// In the coordinator's answer: whether `worker` is a member. A worker that was dropped
        /// (paused or cut off past the heartbeat timeout) learns it here and joins again.
        var member: Bool?
    }

    /// coordinator -> worker (`configuration`): a training phase; sections carry the model folder's
    /// files (`file:NAME`), the tokenized training set (`train.lengths`, `train.ids`,
    /// `train.labels`) and the state (`state.parameters`, optionally `state.m`, `state.v`).
    struct Setup: Codable {
        var session: UInt64
        var job: TrainingJob
        var step: Int
        var optimizerStep: Int
        var ringTimeout: Double
        /// The generation of the ring the worker's first listener is for.
        var generation: Int
    }

    /// worker -> coordinator (`ready`, `ringEndpoint`): my ring listener for generation `generation`.
    struct Endpoint: Codable {
        var session: UInt64
        var generation: Int
        var endpoint: String
    }

    /// coordinator -> worker (`prepareRing`).
    struct PrepareRing: Codable {
        var session: UInt64
        var generation: Int
    }

    /// coordinator -> worker (`ring`).
    struct Ring: Codable {
        var session: UInt64
        var generation: Int
        var rank: Int
        var endpoints: [String]
        /// Every rank's CURVE public key when the run uses CURVE (the ring links are encrypted too).
        var publicKeys: [String]?
    }

    /// coordinator -> worker (`step`): the whole batch; section `teacher.logits` (B, K) when cached.
    struct Step: Codable {
        var session: UInt64
        var generation: Int
        var step: Int
        var indices: [Int]
    }

    /// worker -> coordinator (`reduced`, or `error` with `failure`): section `teacher.logits`
    /// (share, K) when the worker ran the teacher.
    struct Reduced: Codable {
        var session: UInt64
        var generation: Int
        var step: Int
        var loss: Float
        var crossEntropy: Float
        var kl: Float
        var share: [Int]
        var failure: String?
        /// Seconds of forward/backward and of the all-reduce on this worker.
        var computeSeconds: Double?
        var communicationSeconds: Double?
        /// This worker's peak resident set so far, and its resident set after the step, in bytes.
        var peakResidentBytes: Int?
        var residentBytes: Int?
    }

    /// coordinator -> worker (`commit`, `abort`).
    struct Decision: Codable {
        var session: UInt64
        var generation: Int
        var step: Int
        var reportChecksum: Bool
    }

    /// worker -> coordinator (`checksum`).
    struct Checksum: Codable {
        var session: UInt64
        var step: Int
        var checksum: UInt64
    }

    /// coordinator -> worker (`stateRequest`).
    struct StateRequest: Codable {
        var session: UInt64
        var optimizer: Bool
        /// A sweep trial's best weights instead of the training phase's state.
        var trial: Int?
    }

    /// coordinator -> worker (`trialSetup`): what every trial of a sweep shares. Sections: the
    /// teacher folder's files (`file:NAME`), the training and validation sets (`train.*`,
    /// `validation.*`) and the teacher's logits for every training example (`teacher.logits`).
    struct TrialSetup: Codable {
        var session: UInt64
        var labelNames: [String]
        var seed: UInt64
        var teacherPrecision: FrozenWeights.Precision
    }

    /// coordinator -> worker (`trialRun`): run `trial` on to step `until`; `fresh` starts it over
    /// (it was lost with another worker). `attempt` tells a late report from the current one.
    struct TrialRun: Codable {
        var session: UInt64
        var trial: TrialSpec
        var until: Int
        var attempt: Int
        var fresh: Bool
    }

    /// worker -> coordinator (`trialReport`).
    struct TrialReport: Codable {
        var session: UInt64
        var trial: Int
        var attempt: Int
        var progress: TrialProgress?
        var failure: String?
    }

    /// coordinator -> worker (`trialRelease`).
    struct TrialRelease: Codable {
        var session: UInt64
        var trials: [Int]
    }

    /// coordinator -> worker (`passSetup`): a teacher pass's inputs. Sections: the teacher folder's
    /// files (`file:NAME`) and the inputs (`train.*`, labels unused).
    struct PassSetup: Codable {
        var session: UInt64
        var labelNames: [String]
        var teacherPrecision: FrozenWeights.Precision
        var batchSize: Int
    }

    /// coordinator -> worker (`passShard`): the teacher's logits for `examples`, in that order, in
    /// batches of the set-up's size. `attempt` tells a late report from the current one.
    struct PassShard: Codable {
        var session: UInt64
        var shard: Int
        var attempt: Int
        var examples: [Int]
    }

    /// worker -> coordinator (`passReport`): section `logits` (examples x K float32), or a failure.
    struct PassReport: Codable {
        var session: UInt64
        var shard: Int
        var attempt: Int
        var failure: String?
    }

    /// coordinator -> worker (`evaluate`): count the examples of sections `eval.lengths`, `eval.ids`
    /// and `eval.labels` on the weights of step `step`.
    struct Evaluate: Codable {
        var session: UInt64
        var generation: Int
        var step: Int
        /// Which evaluation of the run, and which part of it.
        var round: Int
        var part: Int
    }

    /// worker -> coordinator (`evaluation`): the part's confusion counts `[true][predicted]`, or a failure.
    struct Evaluation: Codable {
        var session: UInt64
        var round: Int
        var part: Int
        var confusion: [[Int]]? = nil
        var failure: String? = nil
    }

    /// worker -> coordinator (`parameters`): sections `state.parameters` (+ `state.m`, `state.v`).
    struct State: Codable {
        var session: UInt64
        var step: Int
        var optimizerStep: Int
    }

    /// worker -> coordinator (`parameters`): one part of an encoded `State` envelope. A state is
    /// sent in parts of at most `partBytes`, so that no message a worker sends is large and the
    /// coordinator can refuse any frame above `largestFromWorker` before reading it.
    struct StatePart: Codable {
        var session: UInt64
        var part: Int
        var parts: Int
        /// Bytes of the whole encoded state.
        var total: Int
    }

    /// The size of a state part's bytes (tests make it small with EDGEDISTILL_STATE_PART_BYTES, so
    /// that the tiny models' states travel in many parts too).
    static let partBytes = ProcessInfo.processInfo.environment["EDGEDISTILL_STATE_PART_BYTES"]
        .flatMap { Int($0) }.map { min(max($0, 1024), 4 << 20) } ?? 4 << 20
    /// The largest message a worker legitimately sends (a state part with its framing; reports and
    /// endpoints are far smaller): the coordinator's maximum message size, so an oversized frame
    /// from anyone is dropped by libzmq at its header, before any of it is held in memory.
    static let largestFromWorker: Int64 = Int64(partBytes) + (1 << 20)

    /// coordinator -> worker (`shutdown`).
    struct Shutdown: Codable {
        var session: UInt64
        var reason: String
    }
}

extension WireMessage {
    /// A control message: the header as JSON and binary sections.
    init<H: Codable>(_ type: MessageType, _ header: H, sections: [(name: String, bytes: [UInt8])] = [],
                     rank: Int = 0, sequence: Int = 0) throws {
        self.init(type: type, rank: UInt32(clamping: rank), sequence: UInt64(clamping: sequence),
                  payload: try Envelope(header, sections: sections).encode())
    }

    /// This message's envelope with header type `H`.
    func envelope<H: Codable>(_: H.Type) throws -> Envelope<H> {
        try Envelope<H>.decode(payload)
    }
}

/// What went wrong in a distributed run, in words a user can act on.
public struct ClusterError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
