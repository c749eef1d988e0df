import Foundation

/// One trial of a sweep, as the sweep chart plots it.
public struct SweepPoint: Codable, Sendable, Equatable {
    public var name: String
    /// Held-out accuracy, 0...1.
    public var accuracy: Double
    public var sizeBytes: Int
    public var latencyP50Ms: Double
    /// On the Pareto front of accuracy against size (no other trial is both smaller and better).
    public var pareto: Bool
    public var chosen: Bool

    public init(name: String, accuracy: Double, sizeBytes: Int, latencyP50Ms: Double, pareto: Bool, chosen: Bool) {
        self.name = name
        self.accuracy = accuracy
        self.sizeBytes = sizeBytes
        self.latencyP50Ms = latencyP50Ms
        self.pareto = pareto
        self.chosen = chosen
    }
}

/// The sweep's chart: held-out accuracy against size on disk, one labelled dot per finished trial,
/// the Pareto front joined by a line, the chosen trial ringed.
public enum SweepChart {
    public static func svg(_ points: [SweepPoint], title: String) -> String {
        let (width, height, left, right, top, bottom) = (760.0, 420.0, 70.0, 30.0, 40.0, 50.0)
        let sizes = points.map { Double($0.sizeBytes) / 1e6 }, accuracies = points.map { $0.accuracy * 100 }
        let (x0, x1) = ((sizes.min() ?? 0) * 0.9, max((sizes.max() ?? 1) * 1.05, (sizes.min() ?? 0) * 0.9 + 1e-3))
        let (y0, y1) = ((accuracies.min() ?? 0) - 1, max((accuracies.max() ?? 100) + 1, (accuracies.min() ?? 0) - 0.99))
        func x(_ v: Double) -> Double { left + (v - x0) / (x1 - x0) * (width - left - right) }
        func y(_ v: Double) -> Double { height - bottom - (v - y0) / (y1 - y0) * (height - top - bottom) }
        func escape(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
        }
        var svg = [
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"DejaVu Sans, sans-serif\" font-size=\"11\">",
            "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>",
            "<text x=\"\(Int(width / 2))\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">\(escape(title))</text>",
            "<line x1=\"\(left)\" y1=\"\(height - bottom)\" x2=\"\(width - right)\" y2=\"\(height - bottom)\" stroke=\"#333\"/>",
            "<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(height - bottom)\" stroke=\"#333\"/>",
            "<text x=\"\(Int(width / 2))\" y=\"\(Int(height - 12))\" text-anchor=\"middle\">model.safetensors (MB)</text>",
            "<text x=\"16\" y=\"\(Int(height / 2))\" text-anchor=\"middle\" transform=\"rotate(-90 16 \(Int(height / 2)))\">held-out accuracy (%)</text>",
        ]
        for i in 0...4 {
            let xv = x0 + (x1 - x0) * Double(i) / 4, yv = y0 + (y1 - y0) * Double(i) / 4
            svg.append(String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.1f</text>", x(xv), height - bottom + 16, xv))
            svg.append(String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.1f</text>", left - 6, y(yv) + 4, yv))
        }
        let front = points.indices.filter { points[$0].pareto }.sorted { sizes[$0] < sizes[$1] }
        if front.count > 1 {
            let path = front.map { String(format: "%.1f,%.1f", x(sizes[$0]), y(accuracies[$0])) }.joined(separator: " ")
            svg.append("<polyline points=\"\(path)\" fill=\"none\" stroke=\"#c0392b\" stroke-width=\"1.5\"/>")
        }
        for (i, point) in points.enumerated() {
            let (px, py) = (x(sizes[i]), y(accuracies[i]))
            svg.append(String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%@\"/>", px, py, point.pareto ? "#c0392b" : "#7f8c8d"))
            if point.chosen { svg.append(String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"8\" fill=\"none\" stroke=\"#2c3e50\" stroke-width=\"2\"/>", px, py)) }
            svg.append(String(format: "<text x=\"%.1f\" y=\"%.1f\">%@</text>", px + 7, py - 6, escape(point.name)))
        }
        svg.append("</svg>")
        return svg.joined(separator: "\n") + "\n"
    }
}
