/// Named recipes (`--profile`): each sets a few keys of the defaults. Precedence is one rule:
/// defaults < profile < configuration file < flags; each overrides what comes before it.
extension PipelineConfig {
    public enum Profile: String, Sendable, CaseIterable {
        /// A seeded 10,000-sentence sample, 1 teacher epoch, 1 distillation epoch (minutes).
        case quick
        /// All the data, 1 teacher epoch and the recipe's 3 distillation epochs.
        case full

        /// Sets this profile's keys in `config`.
        public func apply(to config: inout PipelineConfig) {
            switch self {
            case .quick:
                config.maxTrainExamples = 10000
                config.finetune.epochs = 1
                config.distill.epochs = 1
                config.distill.evalEvery = 100
            case .full:
                config.maxTrainExamples = nil
                config.finetune.epochs = 1
                config.distill.epochs = 3
            }
        }
    }
}
