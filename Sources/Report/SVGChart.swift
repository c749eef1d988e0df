/// Writes a `ChartLayout` as a standalone SVG document.
///
/// Text uses a monospace font sized so one character advances as far as in the PNG's bitmap font
/// (0.6 em = 6 px per font pixel), so both renderings line up.
enum SVGChart {
    /// The SVG document for `layout`.
    static func render(_ layout: ChartLayout) -> String {
        var out = """
        <?xml version="1.0" encoding="UTF-8"?>
        <svg xmlns="http://www.w3.org/2000/svg" width="\(layout.width)" height="\(layout.height)" \
        viewBox="0 0 \(layout.width) \(layout.height)" \
        font-family="DejaVu Sans Mono, Menlo, Consolas, monospace">
        <title>\(escape(ChartLayout.title))</title>
        <rect x="0" y="0" width="\(layout.width)" height="\(layout.height)" fill="\(layout.background.hex)"/>

        """
        for element in layout.elements {
            switch element {
            case let .rect(x, y, width, height, fill):
                out += "<rect x=\"\(x)\" y=\"\(y)\" width=\"\(width)\" height=\"\(height)\" fill=\"\(fill.hex)\"/>\n"
            case let .line(x1, y1, x2, y2, color):
                // A one-pixel line covers the pixel centres, ends included, as the raster does.
                let (ax, bx) = x1 == x2 ? (Double(x1) + 0.5, Double(x2) + 0.5) : (Double(min(x1, x2)), Double(max(x1, x2) + 1))
                let (ay, by) = y1 == y2 ? (Double(y1) + 0.5, Double(y2) + 0.5) : (Double(min(y1, y2)), Double(max(y1, y2) + 1))
                out += "<line x1=\"\(ax)\" y1=\"\(ay)\" x2=\"\(bx)\" y2=\"\(by)\" stroke=\"\(color.hex)\" stroke-width=\"1\"/>\n"
            case let .text(text, x, top, scale, anchor, color):
                let baseline = top + BitmapFont.capHeight * scale
                let anchorName = switch anchor { case .start: "start"; case .middle: "middle"; case .end: "end" }
                out += "<text x=\"\(x)\" y=\"\(baseline)\" font-size=\"\(10 * scale)\" text-anchor=\"\(anchorName)\" "
                    + "fill=\"\(color.hex)\">\(escape(text))</text>\n"
            }
        }
        return out + "</svg>\n"
    }

    /// `text` safe inside XML content and attribute values: the five special characters become
    /// entities and control characters that XML 1.0 forbids become spaces.
    static func escape(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&apos;"
            case "\t", "\n", "\r": result.unicodeScalars.append(scalar)
            case _ where scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF: result += " "
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}
