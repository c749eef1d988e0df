import CZlib
import Foundation
import XCTest
@testable import Report

/// The PNG chart, read back with an independent chunk reader and CRC, inflated with zlib.
final class PNGEncoderTests: XCTestCase {
    struct Chunk { var type: String; var data: [UInt8]; var crc: UInt32 }

    struct Decoded {
        var width: Int, height: Int
        var pixels: [UInt8]  // RGB, filters removed
        func pixel(_ x: Int, _ y: Int) -> [UInt8] {
            let offset = (y * width + x) * 3
            return Array(pixels[offset..<(offset + 3)])
        }
    }

    func testSignatureChunksAndCRCs() throws {
        let png = try ReportRenderer.png(variants: try Fixtures.variants())
        XCTAssertEqual(Array(png.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        let chunks = try readChunks(png)
        XCTAssertEqual(chunks.map(\.type), ["IHDR", "IDAT", "IEND"])
        for chunk in chunks {
            XCTAssertEqual(chunk.crc, referenceCRC(Array(chunk.type.utf8) + chunk.data), chunk.type)
        }
        XCTAssertEqual(chunks[2].data, [])
        XCTAssertLessThan(png.count, 100_000)
    }

    func testHeaderAndInflatedSize() throws {
        let variants = try Fixtures.variants()
        let layout = ChartLayout(variants: variants)
        let decoded = try decode(try ReportRenderer.png(variants: variants))
        XCTAssertEqual(decoded.width, layout.width)
        XCTAssertEqual(decoded.height, layout.height)
        XCTAssertGreaterThanOrEqual(decoded.width, 1000)
        XCTAssertGreaterThanOrEqual(decoded.height, 300)
    }

    func testBarPixelsHaveTheBarColourAndBiggerValuesAreLonger() throws {
        let variants = try Fixtures.variants()
        let layout = ChartLayout(variants: variants)
        let decoded = try decode(try ReportRenderer.png(variants: variants))
        let colours = ChartLayout.palette.map { [$0.r, $0.g, $0.b] }

        /// Length of the run of `colour` along the bar's middle row, measured in the PNG.
        func measured(_ panel: Int, _ variant: Int) throws -> Int {
            let bar = try XCTUnwrap(layout.bars.first { $0.panel == panel && $0.variant == variant })
            let y = bar.y + bar.height / 2
            var x = bar.x + 1  // the axis line covers the first column
            while x < decoded.width && decoded.pixel(x, y) == colours[variant] { x += 1 }
            return max(0, x - bar.x)
        }

        for bar in layout.bars {
            if bar.width >= 3 {  // thinner bars hide behind the one-pixel axis
                XCTAssertEqual(decoded.pixel(bar.x + bar.width / 2, bar.y + bar.height / 2), colours[bar.variant],
                               "panel \(bar.panel) variant \(bar.variant)")
            }
            XCTAssertEqual(try measured(bar.panel, bar.variant), max(1, bar.width))
        }
        // Accuracy: teacher 92 % against student int8 87.9 %: a longer bar, by the ratio of the values.
        let teacher = try measured(0, 0), int8 = try measured(0, 3)
        XCTAssertGreaterThan(teacher, int8)
        XCTAssertEqual(Double(int8) / Double(teacher), 0.879 / 0.92, accuracy: 0.01)
        // Size: 17.6 MB against 8.8 MB is twice as long.
        XCTAssertEqual(Double(try measured(1, 1)) / Double(try measured(1, 2)), 2, accuracy: 0.02)
        // Latency: 3.5 ms is longer than 2.1 ms.
        XCTAssertGreaterThan(try measured(2, 2), try measured(2, 3))
        // Background above the bars is white, and the names column has dark text in it.
        XCTAssertEqual(decoded.pixel(decoded.width - 2, 2), [255, 255, 255])
        let nameRow = (layout.bars[0].y)..<(layout.bars[0].y + layout.bars[0].height)
        let dark = nameRow.flatMap { y in (0..<layout.bars[0].x).map { decoded.pixel($0, y) } }
            .filter { $0 == [0x22, 0x22, 0x22] }
        XCTAssertGreaterThan(dark.count, 50)
    }

    func testEmptyChartEncodes() throws {
        let decoded = try decode(try ReportRenderer.png(variants: []))
        XCTAssertGreaterThan(decoded.width * decoded.height, 0)
    }

    // MARK: - An independent PNG reader

    private func readChunks(_ png: [UInt8]) throws -> [Chunk] {
        var chunks: [Chunk] = []
        var offset = 8
        func u32(_ at: Int) -> UInt32 {
            png[at..<(at + 4)].reduce(UInt32(0)) { ($0 << 8) | UInt32($1) }
        }
        while offset < png.count {
            guard offset + 12 <= png.count else { throw ReportError("test", "truncated chunk at \(offset)") }
            let length = Int(u32(offset))
            guard offset + 12 + length <= png.count else { throw ReportError("test", "chunk overruns file") }
            let type = String(decoding: png[(offset + 4)..<(offset + 8)], as: UTF8.self)
            let data = Array(png[(offset + 8)..<(offset + 8 + length)])
            chunks.append(Chunk(type: type, data: data, crc: u32(offset + 8 + length)))
            offset += 12 + length
        }
        return chunks
    }

    private func decode(_ png: [UInt8]) throws -> Decoded {
        let chunks = try readChunks(png)
        let header = try XCTUnwrap(chunks.first { $0.type == "IHDR" }).data
        XCTAssertEqual(header.count, 13)
        let width = Int(header[0..<4].reduce(UInt32(0)) { ($0 << 8) | UInt32($1) })
        let height = Int(header[4..<8].reduce(UInt32(0)) { ($0 << 8) | UInt32($1) })
        XCTAssertEqual(Array(header[8...]), [8, 2, 0, 0, 0])  // 8-bit RGB, deflate, filter 0, no interlace
        let compressed = chunks.filter { $0.type == "IDAT" }.flatMap(\.data)
        let expected = height * (1 + width * 3)
        var inflated = [UInt8](repeating: 0, count: expected + 16)  // room to notice extra bytes
        var size = uLongf(inflated.count)
        let status = inflated.withUnsafeMutableBufferPointer { out in
            compressed.withUnsafeBufferPointer { uncompress(out.baseAddress, &size, $0.baseAddress, uLong($0.count)) }
        }
        XCTAssertEqual(status, Z_OK)
        XCTAssertEqual(Int(size), expected)
        var pixels: [UInt8] = []
        pixels.reserveCapacity(height * width * 3)
        for row in 0..<height {
            let start = row * (1 + width * 3)
            XCTAssertEqual(inflated[start], 0, "filter of row \(row)")
            pixels += inflated[(start + 1)..<(start + 1 + width * 3)]
        }
        return Decoded(width: width, height: height, pixels: pixels)
    }

    /// Bitwise CRC-32 (ISO 3309, as PNG specifies), written apart from zlib's to check it.
    private func referenceCRC(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }
}
