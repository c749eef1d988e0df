import CZlib

/// Encodes an RGB raster as a PNG file: signature, IHDR, one zlib-compressed IDAT, IEND.
///
/// 8 bits per channel, colour type 2 (truecolour), no interlace. Every scanline uses filter 0
/// (none): charts are large flat areas, which zlib already compresses to a few kilobytes.
enum PNGEncoder {
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// The PNG bytes of `raster`.
    static func encode(_ raster: Raster) throws -> [UInt8] {
        guard raster.width > 0, raster.height > 0 else {
            throw ReportError("png", "cannot encode an empty \(raster.width)x\(raster.height) image")
        }
        var header: [UInt8] = []
        appendBigEndian(UInt32(raster.width), to: &header)
        appendBigEndian(UInt32(raster.height), to: &header)
        header += [8, 2, 0, 0, 0]  // bit depth, colour type RGB, deflate, filter method 0, no interlace

        let rowBytes = raster.width * 3
        var scanlines = [UInt8]()
        scanlines.reserveCapacity(raster.height * (rowBytes + 1))
        raster.pixels.withUnsafeBufferPointer { pixels in
            for row in 0..<raster.height {
                scanlines.append(0)  // filter type: none
                scanlines.append(contentsOf: pixels[(row * rowBytes)..<((row + 1) * rowBytes)])
            }
        }

        var png = signature
        appendChunk("IHDR", header, to: &png)
        appendChunk("IDAT", try deflate(scanlines), to: &png)
        appendChunk("IEND", [], to: &png)
        return png
    }

    /// `bytes` as a zlib stream (compress2 at level 9).
    static func deflate(_ bytes: [UInt8]) throws -> [UInt8] {
        var capacity = compressBound(uLong(bytes.count))
        var output = [UInt8](repeating: 0, count: Int(capacity))
        let status = output.withUnsafeMutableBufferPointer { destination in
            bytes.withUnsafeBufferPointer { source in
                compress2(destination.baseAddress, &capacity, source.baseAddress, uLong(source.count), 9)
            }
        }
        guard status == Z_OK else {
            throw ReportError("png", "zlib compress2 failed with status \(status)")
        }
        return Array(output.prefix(Int(capacity)))
    }

    /// zlib's CRC-32 of `bytes`.
    static func crc(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBufferPointer { buffer in
            UInt32(truncatingIfNeeded: crc32(crc32(0, nil, 0), buffer.baseAddress, uInt(buffer.count)))
        }
    }

    /// Appends length, type, data and the CRC-32 of type + data.
    private static func appendChunk(_ type: String, _ data: [UInt8], to png: inout [UInt8]) {
        let typeAndData = Array(type.utf8) + data
        appendBigEndian(UInt32(data.count), to: &png)
        png += typeAndData
        appendBigEndian(crc(typeAndData), to: &png)
    }

    private static func appendBigEndian(_ value: UInt32, to bytes: inout [UInt8]) {
        bytes += [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }
}
