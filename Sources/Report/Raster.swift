/// An 8-bit RGB image in memory, rows top to bottom, that draws `ChartLayout` shapes.
struct Raster {
    let width: Int
    let height: Int
    /// `height * width * 3` bytes, R G B per pixel, row-major.
    private(set) var pixels: [UInt8]

    init(width: Int, height: Int, background: RGB) {
        self.width = max(0, width)
        self.height = max(0, height)
        pixels = [UInt8](repeating: 0, count: self.width * self.height * 3)
        fill(x: 0, y: 0, width: self.width, height: self.height, color: background)
    }

    /// Renders every element of `layout` in order.
    init(_ layout: ChartLayout) {
        self.init(width: layout.width, height: layout.height, background: layout.background)
        for element in layout.elements {
            switch element {
            case let .rect(x, y, width, height, fill):
                self.fill(x: x, y: y, width: width, height: height, color: fill)
            case let .line(x1, y1, x2, y2, color):
                fill(x: min(x1, x2), y: min(y1, y2), width: abs(x2 - x1) + 1, height: abs(y2 - y1) + 1, color: color)
            case let .text(text, x, top, scale, anchor, color):
                draw(text, left: ChartLayout.left(of: text, x: x, scale: scale, anchor: anchor), top: top,
                     scale: scale, color: color)
            }
        }
    }

    /// The colour at (x, y), or nil outside the image.
    func pixel(x: Int, y: Int) -> RGB? {
        guard x >= 0, x < width, y >= 0, y < height else { return nil }
        let offset = (y * width + x) * 3
        var color = RGB(0)
        color.r = pixels[offset]
        color.g = pixels[offset + 1]
        color.b = pixels[offset + 2]
        return color
    }

    /// Fills x..<x+width, y..<y+height, clipped to the image.
    mutating func fill(x: Int, y: Int, width: Int, height: Int, color: RGB) {
        let x0 = max(0, x), x1 = min(self.width, x + width)
        let y0 = max(0, y), y1 = min(self.height, y + height)
        guard x0 < x1, y0 < y1 else { return }
        for row in y0..<y1 {
            var offset = (row * self.width + x0) * 3
            for _ in x0..<x1 {
                pixels[offset] = color.r
                pixels[offset + 1] = color.g
                pixels[offset + 2] = color.b
                offset += 3
            }
        }
    }

    /// Draws `text` in the bitmap font, each font pixel a `scale` x `scale` square; `top` is the
    /// top of the capitals. Clipped to the image.
    mutating func draw(_ text: String, left: Int, top: Int, scale: Int, color: RGB) {
        let scale = max(1, scale)
        var x = left
        for scalar in text.unicodeScalars {
            for (row, bits) in BitmapFont.rows(of: scalar).enumerated() where bits != 0 {
                for column in 0..<BitmapFont.glyphWidth where bits & (1 << (BitmapFont.glyphWidth - 1 - column)) != 0 {
                    fill(x: x + column * scale, y: top + row * scale, width: scale, height: scale, color: color)
                }
            }
            x += BitmapFont.advance * scale
        }
    }
}
