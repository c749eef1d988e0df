import Foundation

/// An sRGB colour.
struct RGB: Equatable, Sendable {
    var r: UInt8, g: UInt8, b: UInt8

    init(_ hex: UInt32) {
        r = UInt8((hex >> 16) & 0xFF)
        g = UInt8((hex >> 8) & 0xFF)
        b = UInt8(hex & 0xFF)
    }

    /// `#rrggbb`, for SVG.
    var hex: String { String(format: "#%02x%02x%02x", r, g, b) }
}

/// The comparison chart as plain shapes in pixel coordinates, so the SVG and the PNG draw exactly
/// the same picture.
///
/// Three panels side by side share one column of variant names on the left: accuracy on the first
/// evaluation file (%), size on disk (MB) and p50 latency at batch 1 on one thread (ms). Bars are
/// horizontal, one row per variant, so long names ("student int8 + int8 embeddings") stay on one
/// line; each variant keeps its colour in every panel and each bar ends in its value.
struct ChartLayout {
    /// A text anchor: where `x` sits on the text's width.
    enum Anchor: Sendable { case start, middle, end }

    /// One shape. Coordinates are pixels, origin top-left, `y` down.
    enum Element: Sendable {
        /// A filled rectangle covering x..<x+width, y..<y+height.
        case rect(x: Int, y: Int, width: Int, height: Int, fill: RGB)
        /// A horizontal or vertical line one pixel wide from (x1, y1) to (x2, y2), ends included.
        case line(x1: Int, y1: Int, x2: Int, y2: Int, color: RGB)
        /// Text in the bitmap font at `scale`; `top` is the top of the capitals.
        case text(String, x: Int, top: Int, scale: Int, anchor: Anchor, color: RGB)
    }

    /// One bar, kept apart from `elements` as well so tests can find it.
    struct Bar: Sendable {
        var panel: Int
        var variant: Int
        var value: Double
        var x: Int, y: Int, width: Int, height: Int
        var fill: RGB
    }

    let width: Int
    let height: Int
    let background: RGB
    let elements: [Element]
    let bars: [Bar]

    static let textColor = RGB(0x222222)
    static let mutedColor = RGB(0x666666)
    static let axisColor = RGB(0x444444)
    static let gridColor = RGB(0xDDDDDD)
    /// One colour per variant, in order, repeating after ten (colour-blind-friendly "deep" palette).
    static let palette: [RGB] = [0x4C72B0, 0xDD8452, 0x55A868, 0xC44E52, 0x8172B3,
                                 0x937860, 0xDA8BC3, 0x8C8C8C, 0xCCB974, 0x64B5CD].map(RGB.init)
    /// Names longer than this are cut, with "..." at the end.
    static let maxNameCharacters = 30
    /// Text scale of labels: the 5x7 font doubled.
    static let labelScale = 2

    /// The title over the panels.
    static let title = "Model comparison"

    /// One panel: its header, and how to read and print its value.
    struct Panel {
        var header: String
        var value: (VariantFigures) -> Double
        var label: (Double) -> String
        /// Fixed axis maximum (accuracy: 100 %), or nil to fit the largest value.
        var fixedMaximum: Double?
    }

    static let panels: [Panel] = [
        Panel(header: "Accuracy (%)",
              value: { ($0.evaluations.first?.accuracy ?? .nan) * 100 },
              label: { $0.isFinite ? String(format: "%.2f%%", $0) : "n/a" }, fixedMaximum: 100),
        Panel(header: "Size (MB)", value: { Double($0.sizeBytes) / 1e6 }, label: compact, fixedMaximum: nil),
        Panel(header: "p50 latency (ms)", value: { $0.latencyP50Ms }, label: compact, fixedMaximum: nil),
    ]

    /// Three significant-ish figures: 1234, 123.4, 12.34, 1.23.
    static func compact(_ value: Double) -> String {
        guard value.isFinite else { return "n/a" }
        let magnitude = abs(value)
        if magnitude >= 100 { return String(format: "%.0f", value) }
        if magnitude >= 10 { return String(format: "%.1f", value) }
        return String(format: "%.2f", value)
    }

    /// The smallest 1, 2 or 5 times a power of ten that is >= `value` (1 for values <= 0).
    static func niceCeiling(_ value: Double) -> Double {
        guard value.isFinite, value > 0 else { return 1 }
        let power = pow(10, floor(log10(value)))
        for step in [1.0, 2, 5, 10] where step * power >= value * (1 - 1e-12) {
            return step * power
        }
        return 10 * power
    }

    /// Display name cut to `maxNameCharacters`, with newlines and tabs as spaces.
    static func displayName(_ name: String) -> String {
        let flat = String(name.unicodeScalars.map { $0.value < 0x20 ? " " : Character($0) })
        guard flat.unicodeScalars.count > maxNameCharacters else { return flat }
        return String(flat.unicodeScalars.prefix(maxNameCharacters - 3)) + "..."
    }

    /// Lays out the chart for `variants` (any number; none gives a chart saying so).
    init(variants: [VariantFigures]) {
        let s = Self.labelScale
        let charWidth = BitmapFont.advance * s
        let textHeight = BitmapFont.capHeight * s
        let margin = 20
        let rowHeight = 52
        let barHeight = 30
        let titleTop = 16
        let subtitleTop = 16 + BitmapFont.capHeight * 3 + 12
        let headerTop = subtitleTop + textHeight + 22
        let rowsTop = headerTop + textHeight + 14

        let names = variants.map { Self.displayName($0.name) }
        let nameCharacters = max(8, names.map { $0.unicodeScalars.count }.max() ?? 0)
        let labelRight = margin + nameCharacters * charWidth
        let panelsLeft = labelRight + 16
        let gap = 32
        let values = Self.panels.map { panel in variants.map(panel.value) }
        let labels = zip(Self.panels, values).map { panel, column in column.map(panel.label) }
        let labelCharacters = max(5, labels.flatMap { $0 }.map { $0.count }.max() ?? 0)
        let valueRoom = labelCharacters * charWidth + 10
        let headerCharacters = Self.panels.map { $0.header.count }.max() ?? 0
        let minimumPanel = max(headerCharacters * charWidth, valueRoom + 150)
        let canvasWidth = max(1200, panelsLeft + 3 * minimumPanel + 2 * gap + margin)
        let panelWidth = (canvasWidth - margin - panelsLeft - 2 * gap) / 3
        let plotWidth = panelWidth - valueRoom
        let rowsBottom = rowsTop + max(1, variants.count) * rowHeight
        let tickTop = rowsBottom + 10
        let canvasHeight = tickTop + textHeight + margin

        var elements: [Element] = []
        var bars: [Bar] = []
        elements.append(.text(Self.title, x: margin, top: titleTop, scale: 3, anchor: .start, color: Self.textColor))
        let file = variants.first?.evaluations.first?.file ?? "n/a"
        let subtitle = "accuracy on \(Self.displayName(file)); latency at batch 1, 1 thread"
        elements.append(.text(subtitle, x: margin, top: subtitleTop, scale: s, anchor: .start, color: Self.mutedColor))

        for (row, name) in names.enumerated() {
            let centre = rowsTop + row * rowHeight + rowHeight / 2
            elements.append(.text(name, x: labelRight, top: centre - textHeight / 2, scale: s, anchor: .end,
                                  color: Self.textColor))
        }
        if variants.isEmpty {
            elements.append(.text("no variants", x: labelRight, top: rowsTop + (rowHeight - textHeight) / 2,
                                  scale: s, anchor: .end, color: Self.mutedColor))
        }

        for (index, panel) in Self.panels.enumerated() {
            let left = panelsLeft + index * (panelWidth + gap)
            let finite = values[index].filter { $0.isFinite && $0 > 0 }
            let maximum = panel.fixedMaximum ?? Self.niceCeiling(finite.max() ?? 1)
            elements.append(.text(panel.header, x: left, top: headerTop, scale: s, anchor: .start,
                                  color: Self.textColor))
            // Grid at 0, half and full scale, with tick labels under the rows.
            for step in 0...2 {
                let x = left + plotWidth * step / 2
                if step > 0 {
                    elements.append(.line(x1: x, y1: rowsTop, x2: x, y2: rowsBottom, color: Self.gridColor))
                }
                let tick = maximum * Double(step) / 2
                let text = step == 0 || panel.fixedMaximum != nil ? String(format: "%.0f", tick) : Self.compact(tick)
                elements.append(.text(text, x: x, top: tickTop, scale: s, anchor: step == 0 ? .start : .middle,
                                      color: Self.mutedColor))
            }
            for (row, value) in values[index].enumerated() {
                let fill = Self.palette[row % Self.palette.count]
                let top = rowsTop + row * rowHeight + (rowHeight - barHeight) / 2
                let fraction = value.isFinite ? min(max(value / maximum, 0), 1) : 0
                let length = Int((fraction * Double(plotWidth)).rounded())
                if length > 0 {
                    elements.append(.rect(x: left, y: top, width: length, height: barHeight, fill: fill))
                }
                bars.append(Bar(panel: index, variant: row, value: value, x: left, y: top, width: length,
                                height: barHeight, fill: fill))
                elements.append(.text(labels[index][row], x: left + length + 8, top: top + (barHeight - textHeight) / 2,
                                      scale: s, anchor: .start, color: Self.textColor))
            }
            // The zero axis, drawn last so bars do not cover it.
            elements.append(.line(x1: left, y1: rowsTop, x2: left, y2: rowsBottom, color: Self.axisColor))
            elements.append(.line(x1: left, y1: rowsBottom, x2: left + plotWidth, y2: rowsBottom, color: Self.axisColor))
        }

        width = canvasWidth
        height = canvasHeight
        background = RGB(0xFFFFFF)
        self.elements = elements
        self.bars = bars
    }

    /// Left edge of `text` drawn at `x` with `anchor`, in pixels.
    static func left(of text: String, x: Int, scale: Int, anchor: Anchor) -> Int {
        let width = BitmapFont.width(of: text) * scale
        switch anchor {
        case .start: return x
        case .middle: return x - width / 2
        case .end: return x - width
        }
    }
}
