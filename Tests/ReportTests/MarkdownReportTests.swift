import XCTest
@testable import Report

/// The markdown table: every variant, every column, numbers in the documented units.
final class MarkdownReportTests: XCTestCase {
    func testEveryVariantHasARowWithFormattedNumbers() throws {
        let variants = try Fixtures.variants()
        let report = ReportRenderer.markdown(title: "SST-2 distillation", variants: variants,
                                             notes: ["student: 4 layers, 256 hidden", "latency on 1 core"])
        let lines = report.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        XCTAssertEqual(lines.first, "# SST-2 distillation")

        let table = lines.filter { $0.hasPrefix("|") }
        XCTAssertEqual(table.count, 2 + variants.count)  // header, alignment, one row per variant
        let columns = 1 + 2 * 3 + 9
        for row in table {
            XCTAssertEqual(cells(row).count, columns, row)
        }
        XCTAssertTrue(table[0].contains("Accuracy (sst2_dev.tsv)"))
        XCTAssertTrue(table[0].contains("Macro-F1 (sst2_test.tsv)"))

        let teacher = cells(table[2])
        XCTAssertEqual(teacher, ["teacher fp32", "92.00%", "91.00%", "100.00%", "90.00%", "89.00%", "100.00%",
                                 "438.00", "109.48", "40.00", "48.00", "60.00", "13.33", "80.0", "1.00x", "926.0"])
        let int8 = cells(table[5])
        XCTAssertEqual(int8[0], "student int8")
        XCTAssertEqual(int8[1], "87.90%")                    // accuracy
        XCTAssertEqual(int8[3], "95.54%")                    // retention 0.879 / 0.92
        XCTAssertEqual(int8[7], "5.30")                      // MB
        XCTAssertEqual(int8[8], "4.39")                      // M parameters
        XCTAssertEqual(int8[9], "2.10")                      // p50
        XCTAssertEqual(int8[13], "1523.8")                   // throughput 3200 / 2.1
        XCTAssertEqual(int8[14], "19.05x")                   // speed-up 40 / 2.1
        for variant in variants {
            XCTAssertEqual(table.filter { cells($0).first == variant.name }.count, 1, variant.name)
        }
        XCTAssertTrue(report.hasSuffix("- student: 4 layers, 256 hidden\n- latency on 1 core\n"))
    }

    func testPipesAreEscapedAndMissingValuesShowNAOrNM() throws {
        var odd = try Fixtures.variants()[1]
        odd.name = "a|b"
        odd.evaluations = [odd.evaluations[0]]
        odd.speedup = .infinity
        odd.peakRssBytes = 0   // not measured
        let report = ReportRenderer.markdown(title: "t", variants: [try Fixtures.variants()[0], odd], notes: [])
        XCTAssertTrue(report.contains("| a\\|b | 88.50% |"), report)
        let row = try XCTUnwrap(report.split(separator: "\n").first { $0.hasPrefix("| a\\|b") })
        XCTAssertEqual(cells(String(row))[4...6], ["n/a", "n/a", "n/a"])
        XCTAssertEqual(cells(String(row))[14], "n/a")
        XCTAssertEqual(cells(String(row))[15], "n/m", "a peak RSS of 0 is 'not measured', not 0.0 MB")
        XCTAssertFalse(report.contains("\n- "))
    }

    /// The cells of a table row, splitting on unescaped pipes.
    private func cells(_ row: String) -> [String] {
        var result: [String] = []
        var current = ""
        var previous: Character = " "
        for character in row {
            if character == "|" && previous != "\\" {
                result.append(current.trimmingCharacters(in: .whitespaces))
                current = ""
            } else {
                current.append(character)
            }
            previous = character
        }
        return Array(result.dropFirst())  // text before the first pipe
    }
}
