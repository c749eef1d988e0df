import Files
import Foundation

/// Renders the final comparison of a run's model variants: a markdown table (`report.md`) and a
/// bar chart as SVG and PNG (`model_comparison.svg`, `model_comparison.png`).
public enum ReportRenderer {
    /// The GitHub markdown report: `# title`, one table of every variant, then `notes` as bullets.
    public static func markdown(title: String, variants: [VariantFigures], notes: [String]) -> String {
        MarkdownReport.render(title: title, variants: variants, notes: notes)
    }

    /// The comparison chart (accuracy, size on disk, p50 latency) as a standalone SVG document.
    public static func svg(variants: [VariantFigures]) -> String {
        SVGChart.render(ChartLayout(variants: variants))
    }

    /// The same chart as the SVG, rasterised and encoded as a PNG file.
    public static func png(variants: [VariantFigures]) throws -> [UInt8] {
        try PNGEncoder.encode(Raster(ChartLayout(variants: variants)))
    }

    /// Writes `report.md`, `model_comparison.svg` and `model_comparison.png` into `folder`,
    /// creating it if needed.
    ///
    /// Everything is rendered before anything is written; each file is written to a temporary
    /// name in `folder`, synced, then renamed over its final name, so a reader never sees a
    /// half-written file. Errors name the path.
    public static func write(title: String, variants: [VariantFigures], notes: [String], to folder: String) throws {
        let files: [(String, [UInt8])] = [
            ("report.md", Array(markdown(title: title, variants: variants, notes: notes).utf8)),
            ("model_comparison.svg", Array(svg(variants: variants).utf8)),
            ("model_comparison.png", try png(variants: variants)),
        ]
        let directory = folder.isEmpty ? "." : folder
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw ReportError(directory, "cannot create folder: \(error.localizedDescription)")
        }
        for (name, bytes) in files {
            let path = directory.hasSuffix("/") ? directory + name : "\(directory)/\(name)"
            do {
                try AtomicFile.write(bytes, to: path)
            } catch let failure as AtomicFile.Failure {
                throw ReportError(path, failure.reason)
            }
        }
    }
}
