import Foundation
import XCTest
@testable import Report

/// Writing the three files atomically into a folder.
final class ReportWriterTests: XCTestCase {
    private var folder = ""

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "report-tests-\(UUID().uuidString)"
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: folder)
    }

    func testWritesTheThreeFilesAndNoTemporaries() throws {
        let variants = try Fixtures.variants()
        let target = folder + "/nested"
        try ReportRenderer.write(title: "Run", variants: variants, notes: ["n"], to: target)
        let names = try FileManager.default.contentsOfDirectory(atPath: target).sorted()
        XCTAssertEqual(names, ["model_comparison.png", "model_comparison.svg", "report.md"])
        let markdown = try String(contentsOfFile: target + "/report.md", encoding: .utf8)
        XCTAssertEqual(markdown, ReportRenderer.markdown(title: "Run", variants: variants, notes: ["n"]))
        let svg = try String(contentsOfFile: target + "/model_comparison.svg", encoding: .utf8)
        XCTAssertEqual(svg, ReportRenderer.svg(variants: variants))
        let png = try Data(contentsOf: URL(fileURLWithPath: target + "/model_comparison.png"))
        XCTAssertEqual([UInt8](png), try ReportRenderer.png(variants: variants))

        // Writing again replaces the files.
        try ReportRenderer.write(title: "Again", variants: Array(variants.prefix(2)), notes: [], to: target)
        let again = try String(contentsOfFile: target + "/report.md", encoding: .utf8)
        XCTAssertTrue(again.hasPrefix("# Again\n"))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: target).count, 3)
    }

    func testErrorNamesThePath() throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let blocker = folder + "/file"
        XCTAssertTrue(FileManager.default.createFile(atPath: blocker, contents: Data([1])))
        XCTAssertThrowsError(try ReportRenderer.write(title: "t", variants: [], notes: [], to: blocker)) { error in
            XCTAssertTrue("\(error)".contains(blocker), "\(error)")
        }
        // A folder that exists but holds a directory where report.md should go.
        let target = folder + "/out"
        try FileManager.default.createDirectory(atPath: target + "/report.md", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: target + "/report.md/keep", withIntermediateDirectories: true)
        XCTAssertThrowsError(try ReportRenderer.write(title: "t", variants: [], notes: [], to: target)) { error in
            XCTAssertTrue("\(error)".contains(target + "/report.md"), "\(error)")
        }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: target).filter { $0.contains(".tmp-") }
        XCTAssertEqual(leftovers, [])
    }
}
