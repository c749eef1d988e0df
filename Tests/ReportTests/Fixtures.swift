import Foundation
@testable import Report

/// The five variants of a typical run, with round numbers so formatted values are known.
enum Fixtures {
    /// One `report.json` entry as `JSONSerialization` would give it.
    static func entry(name: String, sizeBytes: Int, parameters: Int, accuracy: Double, p50: Double,
                      teacherAccuracy: Double = 0.92, teacherP50: Double = 40) -> [String: Any] {
        [
            "name": name,
            "path": "runs/demo/\(name.replacingOccurrences(of: " ", with: "_"))",
            "size_bytes": sizeBytes,
            "parameters": parameters,
            "evaluations": [
                ["file": "sst2_dev.tsv", "accuracy": accuracy, "macro_f1": accuracy - 0.01,
                 "retention": accuracy / teacherAccuracy],
                ["file": "sst2_test.tsv", "accuracy": accuracy - 0.02, "macro_f1": accuracy - 0.03,
                 "retention": (accuracy - 0.02) / (teacherAccuracy - 0.02)],
            ],
            "latency_p50_ms": p50,
            "latency_p95_ms": p50 * 1.2,
            "latency_p99_ms": p50 * 1.5,
            "latency_p50_ms_all_threads": p50 / 3,
            "latency_p95_ms_all_threads": p50 / 2.5,
            "latency_p99_ms_all_threads": p50 / 2,
            "throughput_examples_per_s": 3200 / p50, "throughput_batch_size": 32,
            "speedup": teacherP50 / p50,
            "peak_rss_bytes": sizeBytes * 2 + 50_000_000,
        ]
    }

    static let entries: [[String: Any]] = [
        entry(name: "teacher fp32", sizeBytes: 438_000_000, parameters: 109_482_240, accuracy: 0.92, p50: 40),
        entry(name: "student fp32", sizeBytes: 17_600_000, parameters: 4_386_178, accuracy: 0.885, p50: 3.2),
        entry(name: "student fp16", sizeBytes: 8_800_000, parameters: 4_386_178, accuracy: 0.884, p50: 3.5),
        entry(name: "student int8", sizeBytes: 5_300_000, parameters: 4_386_178, accuracy: 0.879, p50: 2.1),
        entry(name: "student int8 + int8 embeddings", sizeBytes: 4_400_000, parameters: 4_386_178,
              accuracy: 0.871, p50: 2.2),
    ]

    static func variants() throws -> [VariantFigures] {
        try entries.map { try VariantFigures(json: $0) }
    }
}
