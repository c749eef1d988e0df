import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
            try writeAtomically(bytes, to: directory.hasSuffix("/") ? directory + name : "\(directory)/\(name)")
        }
        syncDirectory(directory)
    }

    /// Writes `bytes` to a temporary file beside `path`, syncs it and renames it over `path`.
    static func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[..<$0]) } ?? "."
        let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
        // Unique per call, so two writers of the same folder never share a temporary file.
        let temporaryPath = "\(directory)/.\(base).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let descriptor = open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw ioError(path, "cannot create temporary file '\(temporaryPath)'")
        }
        do {
            try bytes.withUnsafeBytes { buffer in
                var written = 0
                while written < buffer.count {
                    guard let start = buffer.baseAddress else { break }
                    let result = posixWrite(descriptor, start + written, buffer.count - written)
                    if result < 0 {
                        if errno == EINTR { continue }
                        throw ioError(path, "cannot write temporary file '\(temporaryPath)'")
                    }
                    written += result
                }
            }
            guard fsync(descriptor) == 0 else { throw ioError(path, "cannot sync temporary file '\(temporaryPath)'") }
            guard close(descriptor) == 0 else { throw ioError(path, "cannot close temporary file '\(temporaryPath)'") }
        } catch {
            close(descriptor)  // may already be closed; EBADF is harmless here
            unlink(temporaryPath)
            throw error
        }
        guard rename(temporaryPath, path) == 0 else {
            let failure = ioError(path, "cannot rename temporary file '\(temporaryPath)' into place")
            unlink(temporaryPath)
            throw failure
        }
    }

    /// Makes the renames durable; failure only weakens crash safety, so it is not an error.
    private static func syncDirectory(_ directory: String) {
        let descriptor = open(directory, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        fsync(descriptor)
        close(descriptor)
    }

    private static func ioError(_ path: String, _ what: String) -> ReportError {
        ReportError(path, "\(what): \(String(cString: strerror(errno)))")
    }
}

/// `write(2)`, named apart from `ReportRenderer.write`, which would otherwise shadow it.
private func posixWrite(_ descriptor: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.write(descriptor, buffer, count)
    #else
    return Darwin.write(descriptor, buffer, count)
    #endif
}
