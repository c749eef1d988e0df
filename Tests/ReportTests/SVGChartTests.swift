import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest
@testable import Report

/// The SVG chart: well-formed XML, every variant named (escaped), one bar per variant per panel.
final class SVGChartTests: XCTestCase {
    private func awkwardVariants() throws -> [VariantFigures] {
        var variants = try Fixtures.variants()
        variants[1].name = "student <fp32> & \"friends\""
        variants[2].name = "student fp16 'half'"
        return variants
    }

    func testParsesAsXMLWithOneBarPerVariantAndPanel() throws {
        let variants = try awkwardVariants()
        let svg = ReportRenderer.svg(variants: variants)
        let document = try XMLDocument(xmlString: svg, options: [])
        let root = try XCTUnwrap(document.rootElement())
        XCTAssertEqual(root.name, "svg")
        let texts = try root.nodes(forXPath: "//*[local-name()='text']").compactMap { $0.stringValue }
        for variant in variants {
            XCTAssertTrue(texts.contains(variant.name), "no label for \(variant.name) in \(texts)")
        }
        XCTAssertTrue(texts.contains("Accuracy (%)"))
        XCTAssertTrue(texts.contains("88.50%"))
        let fills = Set(ChartLayout.palette.prefix(variants.count).map(\.hex))
        let bars = try root.nodes(forXPath: "//*[local-name()='rect']").compactMap { node -> String? in
            // attribute(forName:) misses attributes in the SVG namespace on Linux; scan them all.
            guard let element = node as? XMLElement,
                  let fill = element.attributes?.first(where: { $0.name == "fill" })?.stringValue,
                  fills.contains(fill) else { return nil }
            return fill
        }
        XCTAssertEqual(bars.count, 3 * variants.count)
    }

    func testTagsAreBalancedAndNamesEscaped() throws {
        let svg = ReportRenderer.svg(variants: try awkwardVariants())
        XCTAssertTrue(svg.hasPrefix("<?xml"))
        XCTAssertTrue(svg.contains("xmlns=\"http://www.w3.org/2000/svg\""))
        XCTAssertTrue(svg.contains(">student &lt;fp32&gt; &amp; &quot;friends&quot;</text>"))
        XCTAssertTrue(svg.contains(">student fp16 &apos;half&apos;</text>"))
        XCTAssertFalse(svg.contains("<fp32>"))

        // A small tag matcher: every opening tag is closed in order.
        var stack: [String] = []
        var rest = Substring(svg)
        while let open = rest.firstIndex(of: "<") {
            guard let close = rest[open...].firstIndex(of: ">") else { return XCTFail("unterminated tag") }
            let tag = rest[rest.index(after: open)..<close]
            rest = rest[rest.index(after: close)...]
            if tag.hasPrefix("?") || tag.hasSuffix("/") { continue }
            let name = String(tag.split(separator: " ").first ?? "")
            if name.hasPrefix("/") {
                XCTAssertEqual(stack.popLast(), String(name.dropFirst()))
            } else {
                stack.append(name)
            }
        }
        XCTAssertEqual(stack, [])
    }

    func testBiggerValueGivesLongerBar() throws {
        let variants = try Fixtures.variants()
        let layout = ChartLayout(variants: variants)
        func bar(_ panel: Int, _ variant: Int) -> ChartLayout.Bar? {
            layout.bars.first { $0.panel == panel && $0.variant == variant }
        }
        for panel in 0..<3 {
            let values = variants.indices.compactMap { bar(panel, $0) }
            XCTAssertEqual(values.count, variants.count)
            for a in values {
                for b in values where a.value > b.value {
                    XCTAssertGreaterThanOrEqual(a.width, b.width, "panel \(panel)")
                }
            }
        }
        XCTAssertGreaterThan(bar(1, 0)?.width ?? 0, bar(1, 1)?.width ?? 0)  // 438 MB teacher vs 17.6 MB
        XCTAssertGreaterThan(bar(2, 2)?.width ?? 0, bar(2, 3)?.width ?? 0)  // 3.5 ms vs 2.1 ms
    }

    func testNoVariantsStillGivesADocument() throws {
        let svg = ReportRenderer.svg(variants: [])
        XCTAssertNoThrow(try XMLDocument(xmlString: svg, options: []))
        XCTAssertTrue(svg.contains("no variants"))
    }
}
