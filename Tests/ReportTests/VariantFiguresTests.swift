import Foundation
import XCTest
@testable import Report

/// Decoding `report.json` entries, and the errors for missing or mistyped keys.
final class VariantFiguresTests: XCTestCase {
    func testDecodesEveryKey() throws {
        let figures = try VariantFigures(json: Fixtures.entry(name: "student int8", sizeBytes: 5_300_000,
                                                              parameters: 4_386_178, accuracy: 0.879, p50: 2.0))
        XCTAssertEqual(figures.name, "student int8")
        XCTAssertEqual(figures.path, "runs/demo/student_int8")
        XCTAssertEqual(figures.sizeBytes, 5_300_000)
        XCTAssertEqual(figures.parameters, 4_386_178)
        XCTAssertEqual(figures.evaluations.map(\.file), ["sst2_dev.tsv", "sst2_test.tsv"])
        XCTAssertEqual(figures.evaluations[0].accuracy, 0.879)
        XCTAssertEqual(figures.evaluations[0].macroF1, 0.869, accuracy: 1e-12)
        XCTAssertEqual(figures.evaluations[0].retention, 0.879 / 0.92, accuracy: 1e-12)
        XCTAssertEqual(figures.latencyP50Ms, 2.0)
        XCTAssertEqual(figures.latencyP95Ms, 2.4, accuracy: 1e-12)
        XCTAssertEqual(figures.latencyP99Ms, 3.0)
        XCTAssertEqual(figures.latencyP50MsAllThreads, 2.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(figures.latencyP95MsAllThreads, 0.8)
        XCTAssertEqual(figures.latencyP99MsAllThreads, 1.0)
        XCTAssertEqual(figures.throughputExamplesPerS, 1600)
        XCTAssertEqual(figures.throughputBatchSize, 32)
        XCTAssertEqual(figures.speedup, 20)
        XCTAssertEqual(figures.peakRssBytes, 60_600_000)
    }

    func testEncodesWithTheReportKeysAndRoundTrips() throws {
        let figures = try Fixtures.variants()
        let data = try JSONEncoder().encode(figures)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        XCTAssertEqual(Set(object[0].keys), Set(Fixtures.entries[0].keys))
        let evaluation = try XCTUnwrap((object[0]["evaluations"] as? [[String: Any]])?.first)
        XCTAssertEqual(Set(evaluation.keys), ["file", "accuracy", "macro_f1", "retention"])
        XCTAssertEqual(try VariantFigures.decodeList(from: data), figures)
    }

    func testMissingKeyIsNamed() {
        var entry = Fixtures.entries[1]
        entry.removeValue(forKey: "latency_p95_ms")
        assertError(entry, subject: "latency_p95_ms", mentions: "missing key")
    }

    func testMissingNestedKeyIsNamedWithItsPath() {
        var entry = Fixtures.entries[1]
        var evaluations = entry["evaluations"] as? [[String: Any]] ?? []
        evaluations[1].removeValue(forKey: "macro_f1")
        entry["evaluations"] = evaluations
        assertError(entry, subject: "evaluations[1].macro_f1", mentions: "missing key")
    }

    func testMistypedKeyIsNamed() {
        var entry = Fixtures.entries[2]
        entry["size_bytes"] = "8800000"
        assertError(entry, subject: "size_bytes", mentions: "integer")
        entry = Fixtures.entries[2]
        entry["peak_rss_bytes"] = 1.5
        assertError(entry, subject: "peak_rss_bytes", mentions: "expected an integer (found 1.5)")
        entry = Fixtures.entries[2]
        entry["name"] = NSNull()
        assertError(entry, subject: "name", mentions: "null")
    }

    func testNonFiniteNumberIsAnError() {
        var entry = Fixtures.entries[0]
        entry["speedup"] = Double.nan
        XCTAssertThrowsError(try VariantFigures(json: entry))
    }

    func testListErrorNamesTheEntry() throws {
        var entries = Fixtures.entries
        entries[3].removeValue(forKey: "parameters")
        let data = try JSONSerialization.data(withJSONObject: entries)
        XCTAssertThrowsError(try VariantFigures.decodeList(from: data)) { error in
            XCTAssertEqual((error as? ReportError)?.subject, "[3].parameters")
        }
    }

    private func assertError(_ entry: [String: Any], subject: String, mentions: String,
                             file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try VariantFigures(json: entry), file: file, line: line) { error in
            guard let error = error as? ReportError else {
                return XCTFail("expected a ReportError, got \(error)", file: file, line: line)
            }
            XCTAssertEqual(error.subject, subject, file: file, line: line)
            XCTAssertTrue(error.description.contains(subject), "\(error)", file: file, line: line)
            XCTAssertTrue(error.description.contains(mentions), "\(error)", file: file, line: line)
        }
    }
}
