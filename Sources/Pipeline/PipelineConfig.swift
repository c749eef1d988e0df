import Kernels
import Model
import Training

/// Everything `edgedistill run` needs, as read from a YAML file and overridden by flags.
/// Keys are snake_case in the file; every key is optional and has the default shown here.
public struct PipelineConfig: Codable, Sendable, Equatable {
    public struct FineTune: Codable, Sendable, Equatable {
        /// `auto`: fine-tune only when the teacher has no trained classification head.
        public var mode = "auto"
        public var epochs = 1
        public var batchSize = 32
        public var learningRate = 5e-5
        public var warmup = 0.1
        public var weightDecay = 0.01
        public var evalEvery = 500
        /// More epochs than `epochs` when they would be fewer steps than this (small data).
        public var minSteps = 0
        public init() {}
    }

    public struct Distill: Codable, Sendable, Equatable {
        public var epochs = 3
        public var batchSize = 16
        public var learningRate = 5e-5
        public var temperature = 2.0
        public var alpha = 0.5
        /// Number of student layers, taken evenly spaced from the teacher unless `layers` is set.
        public var studentLayers = 2
        public var layers: [Int]?
        /// Weight of the hidden-state MSE between each student layer's output and the teacher hidden state
        /// it stands for (`SequenceClassifier.hiddenStateTargets`: [0, 3] of 6 layers gives [3, 6]).
        public var hiddenWeight = 0.0
        /// Weight of attention transfer (`AttentionTransfer`: each student layer's attention pulled
        /// towards the teacher layer it stands in for); 0 turns it off.
        public var attentionWeight = 0.0
        /// More epochs than `epochs` when they would be fewer steps than this (small data).
        public var minSteps = 0
        /// Attention heads and FFN neurons each student layer keeps (nil: all), the least important
        /// removed before distillation (`StudentShape`): a narrower student, a sweepable size.
        public var studentHeads: Int?
        public var studentFFN: Int?
        /// The frozen teacher's products during distillation: fp32, or bf16 (AVX-512 BF16 CPUs; fp32 elsewhere).
        public var teacherPrecision = "fp32"
        /// Teacher-labelled variants of each training example (`Augmentation`; 0: off) and their rates.
        public var augment = 0
        public var augmentMask = 0.1
        public var augmentReplace = 0.1
        public var augmentDelete = 0.1
        public var augmentNgram = 0.25
        public var evalEvery = 100
        /// The learning rate over the run: `constant` (Adam at `learning_rate` throughout) or
        /// `linear` (decaying linearly from `learning_rate` to 0 at the last step).
        public var schedule = "constant"
        /// Average the weights evaluated in this last share of the distillation steps (stochastic
        /// weight averaging, one sample per evaluation) and keep the average when it beats the best
        /// checkpoint on the validation set; 0 turns it off (`WeightAverage`).
        public var averageLast = 0.0
        public init() {}
    }

    public var teacher = "models/all-MiniLM-L6-v2"
    public var train = "../shared/data/sst2/train.tsv"
    public var eval: [String] = ["../shared/data/sst2/dev.tsv"]
    /// In-domain texts only the teacher labels, added to the distillation set (any format the
    /// datasets read; a label column, if any, is ignored).
    public var unlabeled: [String] = []
    /// A validation file for choosing the best checkpoint; without one, `heldOut` of train is used.
    public var validation: String?
    public var heldOut = 0.02
    public var out = "runs/latest"
    public var textColumn: String?
    /// The second text column of sentence-pair tasks (see `DatasetOptions.textPairColumn`).
    public var textPairColumn: String?
    public var labelColumn: String?
    public var skipBadRows = false
    public var maxLength = 128
    public var seed: UInt64 = 42
    public var threads = 2
    public var lengthBucketed = true
    /// Use only this many training examples (a seeded sample): quick runs.
    public var maxTrainExamples: Int?
    public var checkpointEvery = 500
    /// Sentences timed at batch 1 per model variant in the evaluation stage (`VariantEvaluation`).
    public var latencySentences = 200
    /// Log every training step's example indices and losses to metrics.jsonl (`kind: step`), for
    /// replaying a run step by step in another framework (`scripts/peer_trajectory.py`).
    public var traceSteps = false
    /// Keep the teacher pass's logits (run folder's teacher_logits.bin) when the run ends.
    public var keepTeacherLogits = false
    /// How gradients travel between workers (both training stages): fp32 or bf16 (error feedback).
    public var gradientPrecision = "fp32"
    /// With workers, shard Adam's moments and update over them (ZeRO stage 1; both training stages).
    public var shardOptimizer = false
    public var finetune = FineTune()
    public var distill = Distill()

    public init() {}
}

// Decoding with every key optional: a missing key keeps its default.
extension PipelineConfig.FineTune {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case mode, epochs, batchSize = "batch_size", learningRate = "learning_rate", warmup
        case weightDecay = "weight_decay", evalEvery = "eval_every", minSteps = "min_steps"
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        mode = try c.decodeIfPresent(String.self, forKey: .mode) ?? mode
        epochs = try c.decodeIfPresent(Int.self, forKey: .epochs) ?? epochs
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? batchSize
        learningRate = try c.decodeIfPresent(Double.self, forKey: .learningRate) ?? learningRate
        warmup = try c.decodeIfPresent(Double.self, forKey: .warmup) ?? warmup
        weightDecay = try c.decodeIfPresent(Double.self, forKey: .weightDecay) ?? weightDecay
        evalEvery = try c.decodeIfPresent(Int.self, forKey: .evalEvery) ?? evalEvery
        minSteps = try c.decodeIfPresent(Int.self, forKey: .minSteps) ?? minSteps
    }
}

extension PipelineConfig.Distill {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case epochs, batchSize = "batch_size", learningRate = "learning_rate", temperature, alpha
        case studentLayers = "student_layers", layers, hiddenWeight = "hidden_weight", evalEvery = "eval_every"
        case attentionWeight = "attention_weight", minSteps = "min_steps"
        case studentHeads = "student_heads", studentFFN = "student_ffn", teacherPrecision = "teacher_precision"
        case augment, augmentMask = "augment_mask", augmentReplace = "augment_replace", augmentDelete = "augment_delete"
        case augmentNgram = "augment_ngram"
        case schedule, averageLast = "average_last"
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        epochs = try c.decodeIfPresent(Int.self, forKey: .epochs) ?? epochs
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? batchSize
        learningRate = try c.decodeIfPresent(Double.self, forKey: .learningRate) ?? learningRate
        temperature = try c.decodeIfPresent(Double.self, forKey: .temperature) ?? temperature
        alpha = try c.decodeIfPresent(Double.self, forKey: .alpha) ?? alpha
        studentLayers = try c.decodeIfPresent(Int.self, forKey: .studentLayers) ?? studentLayers
        layers = try c.decodeIfPresent([Int].self, forKey: .layers) ?? layers
        hiddenWeight = try c.decodeIfPresent(Double.self, forKey: .hiddenWeight) ?? hiddenWeight
        attentionWeight = try c.decodeIfPresent(Double.self, forKey: .attentionWeight) ?? attentionWeight
        minSteps = try c.decodeIfPresent(Int.self, forKey: .minSteps) ?? minSteps
        studentHeads = try c.decodeIfPresent(Int.self, forKey: .studentHeads) ?? studentHeads
        studentFFN = try c.decodeIfPresent(Int.self, forKey: .studentFFN) ?? studentFFN
        teacherPrecision = try c.decodeIfPresent(String.self, forKey: .teacherPrecision) ?? teacherPrecision
        augment = try c.decodeIfPresent(Int.self, forKey: .augment) ?? augment
        augmentMask = try c.decodeIfPresent(Double.self, forKey: .augmentMask) ?? augmentMask
        augmentReplace = try c.decodeIfPresent(Double.self, forKey: .augmentReplace) ?? augmentReplace
        augmentDelete = try c.decodeIfPresent(Double.self, forKey: .augmentDelete) ?? augmentDelete
        augmentNgram = try c.decodeIfPresent(Double.self, forKey: .augmentNgram) ?? augmentNgram
        evalEvery = try c.decodeIfPresent(Int.self, forKey: .evalEvery) ?? evalEvery
        schedule = try c.decodeIfPresent(String.self, forKey: .schedule) ?? schedule
        averageLast = try c.decodeIfPresent(Double.self, forKey: .averageLast) ?? averageLast
    }
}

extension PipelineConfig {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case teacher, train, eval, unlabeled, validation, heldOut = "held_out", out, textColumn = "text_column"
        case textPairColumn = "text_pair_column"
        case labelColumn = "label_column", skipBadRows = "skip_bad_rows", maxLength = "max_length", seed, threads
        case lengthBucketed = "length_bucketed", maxTrainExamples = "max_train_examples"
        case checkpointEvery = "checkpoint_every", finetune, distill
        case latencySentences = "latency_sentences", traceSteps = "trace_steps", keepTeacherLogits = "keep_teacher_logits"
        case gradientPrecision = "gradient_precision", shardOptimizer = "shard_optimizer"
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        teacher = try c.decodeIfPresent(String.self, forKey: .teacher) ?? teacher
        train = try c.decodeIfPresent(String.self, forKey: .train) ?? train
        eval = try c.decodeIfPresent([String].self, forKey: .eval) ?? eval
        unlabeled = try c.decodeIfPresent([String].self, forKey: .unlabeled) ?? unlabeled
        validation = try c.decodeIfPresent(String.self, forKey: .validation) ?? validation
        heldOut = try c.decodeIfPresent(Double.self, forKey: .heldOut) ?? heldOut
        out = try c.decodeIfPresent(String.self, forKey: .out) ?? out
        textColumn = try c.decodeIfPresent(String.self, forKey: .textColumn) ?? textColumn
        textPairColumn = try c.decodeIfPresent(String.self, forKey: .textPairColumn) ?? textPairColumn
        labelColumn = try c.decodeIfPresent(String.self, forKey: .labelColumn) ?? labelColumn
        skipBadRows = try c.decodeIfPresent(Bool.self, forKey: .skipBadRows) ?? skipBadRows
        maxLength = try c.decodeIfPresent(Int.self, forKey: .maxLength) ?? maxLength
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? seed
        threads = try c.decodeIfPresent(Int.self, forKey: .threads) ?? threads
        lengthBucketed = try c.decodeIfPresent(Bool.self, forKey: .lengthBucketed) ?? lengthBucketed
        maxTrainExamples = try c.decodeIfPresent(Int.self, forKey: .maxTrainExamples) ?? maxTrainExamples
        checkpointEvery = try c.decodeIfPresent(Int.self, forKey: .checkpointEvery) ?? checkpointEvery
        finetune = try c.decodeIfPresent(FineTune.self, forKey: .finetune) ?? finetune
        distill = try c.decodeIfPresent(Distill.self, forKey: .distill) ?? distill
        latencySentences = try c.decodeIfPresent(Int.self, forKey: .latencySentences) ?? latencySentences
        traceSteps = try c.decodeIfPresent(Bool.self, forKey: .traceSteps) ?? traceSteps
        keepTeacherLogits = try c.decodeIfPresent(Bool.self, forKey: .keepTeacherLogits) ?? keepTeacherLogits
        gradientPrecision = try c.decodeIfPresent(String.self, forKey: .gradientPrecision) ?? gradientPrecision
        shardOptimizer = try c.decodeIfPresent(Bool.self, forKey: .shardOptimizer) ?? shardOptimizer
    }

    /// Checks every value against its stated range; each problem names the key.
    public func validate() throws -> [String] {
        var problems: [String] = []
        func need(_ ok: Bool, _ key: String, _ range: String, _ value: Any) {
            if !ok { problems.append("\(key) must be \(range), got \(value)") }
        }
        need(maxLength >= 3 && maxLength <= 512, "max_length", "in 3...512", maxLength)
        if validation == nil { need(heldOut > 0 && heldOut < 1, "held_out", "in (0, 1)", heldOut) }
        need(["constant", "linear"].contains(distill.schedule), "distill.schedule", "constant or linear", "'\(distill.schedule)'")
        problems += augmentation.problems.map { "distill." + $0 }
        need(FrozenWeights.Precision(rawValue: distill.teacherPrecision) != nil, "distill.teacher_precision", "fp32 or bf16",
             "'\(distill.teacherPrecision)'")
        need(TrainingOptions.gradientPrecisionNames.contains(gradientPrecision), "gradient_precision", "fp32 or bf16",
             "'\(gradientPrecision)'")
        need(["auto", "always", "never"].contains(finetune.mode), "finetune.mode", "auto, always or never", "'\(finetune.mode)'")
        for (key, value) in [("finetune.epochs", finetune.epochs), ("finetune.batch_size", finetune.batchSize),
                             ("distill.epochs", distill.epochs), ("distill.batch_size", distill.batchSize),
                             ("distill.student_layers", distill.studentLayers), ("threads", threads),
                             ("latency_sentences", latencySentences)] {
            need(value >= 1, key, "at least 1", value)
        }
        for (key, value) in [("finetune.eval_every", finetune.evalEvery), ("distill.eval_every", distill.evalEvery),
                             ("checkpoint_every", checkpointEvery), ("finetune.min_steps", finetune.minSteps),
                             ("distill.min_steps", distill.minSteps)] {
            need(value >= 0, key, "at least 0 (0: off)", value)
        }
        if let limit = maxTrainExamples { need(limit >= 1, "max_train_examples", "at least 1", limit) }
        if let heads = distill.studentHeads { need(heads >= 1, "distill.student_heads", "at least 1 (a layer keeps a head)", heads) }
        if let ffn = distill.studentFFN { need(ffn >= 1, "distill.student_ffn", "at least 1 (a layer keeps a neuron)", ffn) }
        for (key, value) in [("finetune.learning_rate", finetune.learningRate), ("distill.learning_rate", distill.learningRate),
                             ("distill.temperature", distill.temperature)] {
            need(value.isFinite && value > 0, key, "a finite number above 0", value)
        }
        need(finetune.warmup.isFinite && finetune.warmup >= 0 && finetune.warmup < 1, "finetune.warmup", "in [0, 1)", finetune.warmup)
        need(finetune.weightDecay.isFinite && finetune.weightDecay >= 0, "finetune.weight_decay", "a finite number >= 0", finetune.weightDecay)
        need(distill.hiddenWeight.isFinite && distill.hiddenWeight >= 0, "distill.hidden_weight", "a finite number >= 0", distill.hiddenWeight)
        need(distill.attentionWeight.isFinite && distill.attentionWeight >= 0, "distill.attention_weight", "a finite number >= 0",
             distill.attentionWeight)
        if distill.attentionWeight > 0, distill.studentHeads != nil {
            problems.append("distill.attention_weight compares the student's heads with the teacher's one to one: it cannot be used with distill.student_heads")
        }
        need(distill.alpha >= 0 && distill.alpha <= 1, "distill.alpha", "in [0, 1]", distill.alpha)
        need(distill.averageLast >= 0 && distill.averageLast <= 1, "distill.average_last",
             "in [0, 1] (a share of the steps; 0: off)", distill.averageLast)
        if let layers = distill.layers {
            need(!layers.isEmpty, "distill.layers", "at least one teacher layer", layers)
            need(layers.allSatisfy { $0 >= 0 }, "distill.layers", "teacher layer numbers (0 and up)", layers)
            need(zip(layers, layers.dropFirst()).allSatisfy { $0 < $1 }, "distill.layers",
                 "strictly increasing (each teacher layer once, in order)", layers)
        }
        if eval.isEmpty { problems.append("eval needs at least one file") }
        return problems
    }

    /// The teacher layers the student takes: `distill.layers`, or `distill.student_layers` of
    /// `teacherLayers` evenly spaced; an error names the key when the teacher has too few.
    public func studentLayers(teacherLayers: Int) throws -> [Int] {
        if let layers = distill.layers {
            if let bad = layers.first(where: { $0 >= teacherLayers }) {
                throw ModelError(file: teacher, "distill.layers (--layers) names layer \(bad), but the teacher has layers 0...\(teacherLayers - 1)")
            }
            return layers
        }
        guard distill.studentLayers <= teacherLayers else {
            throw ModelError(file: teacher, "distill.student_layers (--student-layers) is \(distill.studentLayers), but the teacher has only \(teacherLayers) layers: a student takes each teacher layer at most once")
        }
        return SequenceClassifier.evenlySpacedLayers(distill.studentLayers, of: teacherLayers)
    }
}

extension PipelineConfig {
    /// The augmentation of the distillation set (`distill.augment*`).
    public var augmentation: AugmentationOptions {
        var o = AugmentationOptions(variants: distill.augment)
        (o.mask, o.replace, o.delete, o.ngram) = (distill.augmentMask, distill.augmentReplace, distill.augmentDelete, distill.augmentNgram)
        return o
    }

    /// The student's width (`distill.student_heads`, `distill.student_ffn`).
    public var studentShape: StudentShape { StudentShape(heads: distill.studentHeads, ffn: distill.studentFFN) }

    /// The distillation stage's training options.
    public func distillationOptions() -> TrainingOptions {
        var o = TrainingOptions()
        o.epochs = distill.epochs
        o.batchSize = distill.batchSize
        o.learningRate = Float(distill.learningRate)
        o.evalEvery = distill.evalEvery
        o.checkpointEvery = checkpointEvery
        o.seed = seed &+ 1
        o.lengthBucketed = lengthBucketed
        o.hiddenWeight = Float(distill.hiddenWeight)
        o.attentionWeight = Float(distill.attentionWeight)
        o.minSteps = distill.minSteps
        o.linearDecay = distill.schedule == "linear"
        o.averageLast = distill.averageLast
        o.traceSteps = traceSteps
        o.teacherPrecision = FrozenWeights.Precision(rawValue: distill.teacherPrecision) ?? .fp32
        o.setGradientPrecision(gradientPrecision)
        o.shardOptimizer = shardOptimizer
        return o
    }
}
