import Foundation

/// The measured figures of one model variant (teacher fp32, student fp32, fp16, int8, ...), as one
/// entry of `report.json`.
///
/// The JSON keys are snake_case (`size_bytes`, `latency_p50_ms`, ...); `CodingKeys` maps them.
/// Latencies are milliseconds per example at batch 1; sizes and memory are bytes.
public struct VariantFigures: Codable, Sendable, Equatable {
    /// Quality on one evaluation file.
    public struct FileFigures: Codable, Sendable, Equatable {
        /// The evaluation file, as named in the run.
        public var file: String
        /// Fraction of examples classified correctly, 0...1.
        public var accuracy: Double
        /// Unweighted mean of the per-label F1 scores, 0...1.
        public var macroF1: Double
        /// `accuracy` divided by the teacher's accuracy on the same file (1 for the teacher).
        public var retention: Double

        enum CodingKeys: String, CodingKey {
            case file, accuracy, retention
            case macroF1 = "macro_f1"
        }

        public init(file: String, accuracy: Double, macroF1: Double, retention: Double) {
            self.file = file
            self.accuracy = accuracy
            self.macroF1 = macroF1
            self.retention = retention
        }
    }

    /// Display name, e.g. "student int8".
    public var name: String
    /// Where the variant's weights are.
    public var path: String
    /// Size of the weights on disk.
    public var sizeBytes: Int
    /// Number of parameters.
    public var parameters: Int
    /// Quality per evaluation file, in the run's order.
    public var evaluations: [FileFigures]
    /// Latency percentiles at batch 1 on one thread, ms.
    public var latencyP50Ms: Double
    public var latencyP95Ms: Double
    public var latencyP99Ms: Double
    /// Latency percentiles at batch 1 on all threads, ms.
    public var latencyP50MsAllThreads: Double
    public var latencyP95MsAllThreads: Double
    public var latencyP99MsAllThreads: Double
    /// Examples per second at batch `throughputBatchSize`, all threads.
    public var throughputExamplesPerS: Double
    /// The batch size `throughputExamplesPerS` was measured at.
    public var throughputBatchSize: Int
    /// Teacher p50 latency divided by this variant's (1 for the teacher).
    public var speedup: Double
    /// Peak resident set size while measuring, bytes.
    public var peakRssBytes: Int

    enum CodingKeys: String, CodingKey {
        case name, path, parameters, evaluations, speedup
        case sizeBytes = "size_bytes"
        case latencyP50Ms = "latency_p50_ms"
        case latencyP95Ms = "latency_p95_ms"
        case latencyP99Ms = "latency_p99_ms"
        case latencyP50MsAllThreads = "latency_p50_ms_all_threads"
        case latencyP95MsAllThreads = "latency_p95_ms_all_threads"
        case latencyP99MsAllThreads = "latency_p99_ms_all_threads"
        case throughputExamplesPerS = "throughput_examples_per_s"
        case throughputBatchSize = "throughput_batch_size"
        case peakRssBytes = "peak_rss_bytes"
    }

    public init(name: String, path: String, sizeBytes: Int, parameters: Int, evaluations: [FileFigures],
                latencyP50Ms: Double, latencyP95Ms: Double, latencyP99Ms: Double,
                latencyP50MsAllThreads: Double, latencyP95MsAllThreads: Double, latencyP99MsAllThreads: Double,
                throughputExamplesPerS: Double, throughputBatchSize: Int, speedup: Double, peakRssBytes: Int) {
        self.name = name
        self.path = path
        self.sizeBytes = sizeBytes
        self.parameters = parameters
        self.evaluations = evaluations
        self.latencyP50Ms = latencyP50Ms
        self.latencyP95Ms = latencyP95Ms
        self.latencyP99Ms = latencyP99Ms
        self.latencyP50MsAllThreads = latencyP50MsAllThreads
        self.latencyP95MsAllThreads = latencyP95MsAllThreads
        self.latencyP99MsAllThreads = latencyP99MsAllThreads
        self.throughputExamplesPerS = throughputExamplesPerS
        self.throughputBatchSize = throughputBatchSize
        self.speedup = speedup
        self.peakRssBytes = peakRssBytes
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        path = try container.decode(String.self, forKey: .path)
        sizeBytes = try Self.integer(container, .sizeBytes)
        parameters = try Self.integer(container, .parameters)
        evaluations = try container.decode([FileFigures].self, forKey: .evaluations)
        latencyP50Ms = try container.decode(Double.self, forKey: .latencyP50Ms)
        latencyP95Ms = try container.decode(Double.self, forKey: .latencyP95Ms)
        latencyP99Ms = try container.decode(Double.self, forKey: .latencyP99Ms)
        latencyP50MsAllThreads = try container.decode(Double.self, forKey: .latencyP50MsAllThreads)
        latencyP95MsAllThreads = try container.decode(Double.self, forKey: .latencyP95MsAllThreads)
        latencyP99MsAllThreads = try container.decode(Double.self, forKey: .latencyP99MsAllThreads)
        throughputExamplesPerS = try container.decode(Double.self, forKey: .throughputExamplesPerS)
        throughputBatchSize = try Self.integer(container, .throughputBatchSize)
        speedup = try container.decode(Double.self, forKey: .speedup)
        peakRssBytes = try Self.integer(container, .peakRssBytes)
    }

    /// Decodes an integer; a fractional or out-of-range number is reported as a type mismatch at
    /// `key` (Foundation's own error for it on Linux names no key).
    private static func integer(_ container: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) throws -> Int {
        do {
            return try container.decode(Int.self, forKey: key)
        } catch let error as DecodingError {
            throw error
        } catch {
            // swift-corelibs-foundation throws an internal error for 1.5 read as Int.
            let number = try container.decode(Double.self, forKey: key)
            throw DecodingError.typeMismatch(Int.self, .init(codingPath: container.codingPath + [key],
                                                             debugDescription: "found \(number)"))
        }
    }

    /// Decodes one `report.json` entry as `JSONSerialization` gives it.
    ///
    /// Throws a `ReportError` whose subject is the offending key path (e.g. `evaluations[0].macro_f1`)
    /// when a key is missing, null or of the wrong type. Keys not listed in `CodingKeys` are ignored.
    public init(json: [String: Any]) throws {
        guard JSONSerialization.isValidJSONObject(json) else {
            throw ReportError("", "variant entry is not a JSON object (non-finite number or non-JSON value?)")
        }
        let data: Data
        do {
            data = try JSONSerialization.data(withJSONObject: json)
        } catch {
            throw ReportError("", "variant entry cannot be serialized as JSON: \(error)")
        }
        self = try Self.decode(VariantFigures.self, from: data, context: "")
    }

    /// Decodes a whole `report.json`: a JSON array of variant entries.
    public static func decodeList(from data: Data) throws -> [VariantFigures] {
        try decode([VariantFigures].self, from: data, context: "")
    }

    /// Runs `JSONDecoder`, turning its errors into a `ReportError` that names the key path.
    static func decode<T: Decodable>(_ type: T.Type, from data: Data, context: String) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch let error as DecodingError {
            throw describe(error)
        } catch {
            throw ReportError(context, "cannot decode: \(error)")
        }
    }

    /// One readable sentence per `DecodingError` case, naming the key path.
    static func describe(_ error: DecodingError) -> ReportError {
        switch error {
        case .keyNotFound(let key, let context):
            return ReportError(keyPath(context.codingPath + [key]), "missing key '\(key.stringValue)'")
        case .typeMismatch(let type, let context):
            let detail = context.debugDescription.isEmpty ? "" : " (\(context.debugDescription))"
            return ReportError(keyPath(context.codingPath), "expected \(typeName(type))\(detail)")
        case .valueNotFound(let type, let context):
            return ReportError(keyPath(context.codingPath), "expected \(typeName(type)), found null")
        case .dataCorrupted(let context):
            return ReportError(keyPath(context.codingPath), context.debugDescription)
        @unknown default:
            return ReportError("", "\(error)")
        }
    }

    /// `evaluations[0].macro_f1`-style path; `[2].name` for an entry of a list.
    static func keyPath(_ path: [CodingKey]) -> String {
        var result = ""
        for key in path {
            if let index = key.intValue {
                result += "[\(index)]"
            } else {
                result += result.isEmpty ? key.stringValue : ".\(key.stringValue)"
            }
        }
        return result
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type: return "an integer"
        case is Double.Type: return "a number"
        case is String.Type: return "a string"
        case is [FileFigures].Type: return "an array of evaluation objects"
        default: return "\(type)"
        }
    }
}
