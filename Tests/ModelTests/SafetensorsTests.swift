import Foundation
import XCTest
@testable import Model

/// Round trips through `SafetensorsWriter` and `SafetensorsFile`, and one test per malformed input.
final class SafetensorsTests: XCTestCase {
    private var directory: String = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "safetensors-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func path(_ name: String) -> String { directory + "/" + name }

    private func littleEndianBytes<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
        values.flatMap { value in withUnsafeBytes(of: value.littleEndian) { Array($0) } }
    }

    /// A file with the given header text and data bytes, written without the writer.
    private func rawFile(_ name: String, header: String, data: [UInt8] = []) throws -> String {
        let headerBytes = Array(header.utf8)
        let bytes = littleEndianBytes([UInt64(headerBytes.count)]) + headerBytes + data
        let file = path(name)
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        return file
    }

    /// Asserts that opening `file` throws a ModelError naming it whose message contains every fragment.
    private func assertOpenFails(_ file: String, _ fragments: [String], line: UInt = #line) {
        XCTAssertThrowsError(try SafetensorsFile(path: file), line: line) { error in
            guard let error = error as? ModelError else {
                return XCTFail("expected ModelError, got \(error)", line: line)
            }
            XCTAssertEqual(error.file, file, line: line)
            for fragment in fragments {
                XCTAssertTrue(error.message.contains(fragment), "'\(error.message)' lacks '\(fragment)'", line: line)
            }
        }
    }

    // MARK: - Round trips

    func testRoundTripOfFloatTypesIntegersAndMetadata() throws {
        let f32: [Float] = [1.5, -2.25, 0, 3.0e-8, 65504, -.infinity]
        let f16Bits: [UInt16] = [0x3C00, 0xC000, 0x0000, 0x7BFF, 0x0001, 0x3555]  // 1, -2, 0, 65504, min subnormal, ~1/3
        let bf16Bits: [UInt16] = [0x3F80, 0xC040, 0x4049, 0x0000]  // 1, -3, ~3.14, 0
        let i8: [Int8] = [-128, -1, 0, 1, 127]
        let file = path("round.safetensors")
        try SafetensorsWriter.write([
            .float32(name: "weights", shape: [2, 3], values: f32),
            .init(name: "half", dtype: .f16, shape: [6], bytes: littleEndianBytes(f16Bits)),
            .init(name: "brain", dtype: .bf16, shape: [2, 2], bytes: littleEndianBytes(bf16Bits)),
            .init(name: "bytes", dtype: .i8, shape: [5], bytes: i8.map { UInt8(bitPattern: $0) }),
            .init(name: "empty", dtype: .f32, shape: [0, 4], bytes: []),
        ], metadata: ["format": "pt", "note": "quote \" and\nnewline"], to: file)

        let reader = try SafetensorsFile(path: file)
        XCTAssertEqual(reader.names, ["brain", "bytes", "empty", "half", "weights"])
        XCTAssertEqual(reader.metadata, ["format": "pt", "note": "quote \" and\nnewline"])
        XCTAssertEqual(reader.info("weights")?.dtype, .f32)
        XCTAssertEqual(reader.info("weights")?.shape, [2, 3])
        XCTAssertNil(reader.info("missing"))

        var floats = [Float](repeating: .nan, count: 6)
        try floats.withUnsafeMutableBufferPointer { try reader.floats("weights", into: $0) }
        XCTAssertEqual(floats, f32)

        try floats.withUnsafeMutableBufferPointer { try reader.floats("half", into: $0) }
        XCTAssertEqual(Array(floats[0..<4]), [1, -2, 0, 65504])
        XCTAssertEqual(floats[4], Float(bitPattern: 0x3380_0000))  // 2^-24
        XCTAssertEqual(floats[5], 0.33325195, accuracy: 1e-7)

        var four = [Float](repeating: .nan, count: 4)
        try four.withUnsafeMutableBufferPointer { try reader.floats("brain", into: $0) }
        XCTAssertEqual(four, [1, -3, Float(bitPattern: 0x4049_0000), 0])

        let raw = try reader.rawBytes("bytes")
        XCTAssertEqual(raw.map { Int8(bitPattern: $0) }, i8)
        XCTAssertEqual(try reader.rawBytes("empty").count, 0)

        // The header is padded so the data section starts 8-byte aligned, as the reference does.
        let contents = try Data(contentsOf: URL(fileURLWithPath: file))
        let headerLength = contents.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        XCTAssertEqual(headerLength % 8, 0)
    }

    func testUnalignedF64AndF32DataIsReadCorrectly() throws {
        // One leading I8 byte pushes the following tensors off their natural alignment.
        let doubles: [Double] = [1.0 / 3.0, -1e10, 2.5]
        let floats: [Float] = [0.1, -7]
        let data: [UInt8] = [0x7F] + littleEndianBytes(doubles.map(\.bitPattern)) + littleEndianBytes(floats.map(\.bitPattern))
        let header = #"{"pad":{"dtype":"I8","shape":[1],"data_offsets":[0,1]},"#
            + #""d":{"dtype":"F64","shape":[3],"data_offsets":[1,25]},"f":{"dtype":"F32","shape":[2],"data_offsets":[25,33]}}"#
        let reader = try SafetensorsFile(path: try rawFile("unaligned.safetensors", header: header, data: data))

        var output = [Float](repeating: 0, count: 3)
        try output.withUnsafeMutableBufferPointer { try reader.floats("d", into: $0) }
        XCTAssertEqual(output, doubles.map { Float($0) })
        var two = [Float](repeating: 0, count: 2)
        try two.withUnsafeMutableBufferPointer { try reader.floats("f", into: $0) }
        XCTAssertEqual(two, floats)
    }

    func testDestinationOfWrongSizeOrNonFloatTensorThrows() throws {
        let file = path("sizes.safetensors")
        try SafetensorsWriter.write([
            .float32(name: "w", shape: [2, 2], values: [1, 2, 3, 4]),
            .init(name: "ids", dtype: .i32, shape: [1], bytes: [1, 0, 0, 0]),
        ], to: file)
        let reader = try SafetensorsFile(path: file)
        var three = [Float](repeating: 0, count: 3)
        XCTAssertThrowsError(try three.withUnsafeMutableBufferPointer { try reader.floats("w", into: $0) }) { error in
            XCTAssertEqual((error as? ModelError)?.file, file)
            XCTAssertTrue("\(error)".contains("has 4 elements"), "\(error)")
        }
        var one = [Float](repeating: 0, count: 1)
        XCTAssertThrowsError(try one.withUnsafeMutableBufferPointer { try reader.floats("ids", into: $0) }) { error in
            XCTAssertTrue("\(error)".contains("I32, not a floating-point type"), "\(error)")
        }
        XCTAssertThrowsError(try reader.rawBytes("nope")) { error in
            XCTAssertEqual(error as? ModelError, ModelError(file: file, "no tensor named 'nope'"))
        }
    }

    // MARK: - Malformed files

    func testTruncatedFileShorterThanEightBytes() throws {
        let empty = path("empty.safetensors")
        try Data().write(to: URL(fileURLWithPath: empty))
        assertOpenFails(empty, ["0 bytes", "shorter than the 8-byte header length"])

        let short = path("short.safetensors")
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: short))
        assertOpenFails(short, ["3 bytes", "shorter than the 8-byte header length"])
    }

    func testMissingFile() {
        assertOpenFails(path("absent.safetensors"), ["cannot open", "No such file"])
    }

    func testHeaderLengthPastTheEnd() throws {
        let file = path("long-header.safetensors")
        try Data(littleEndianBytes([UInt64(500)]) + Array("{}".utf8)).write(to: URL(fileURLWithPath: file))
        assertOpenFails(file, ["header length 500", "past the end of the file"])

        let absurd = path("absurd.safetensors")
        try Data(littleEndianBytes([UInt64.max]) + Array("{}".utf8)).write(to: URL(fileURLWithPath: absurd))
        assertOpenFails(absurd, ["is absurd"])
    }

    func testBadJSON() throws {
        assertOpenFails(try rawFile("bad.safetensors", header: #"{"w": {"dtype": "F32""#), ["header is not valid JSON"])
        assertOpenFails(try rawFile("array.safetensors", header: "[1, 2]"), ["header is not a JSON object"])
        let latin1 = path("latin1.safetensors")
        try Data(littleEndianBytes([UInt64(3)]) + [0x22, 0xE9, 0x22]).write(to: URL(fileURLWithPath: latin1))
        assertOpenFails(latin1, ["not valid UTF-8"])
    }

    func testOffsetsPastTheEnd() throws {
        let header = #"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#
        assertOpenFails(try rawFile("short-data.safetensors", header: header, data: [UInt8](repeating: 0, count: 8)),
                        ["tensor 'w'", "end 16 is past the end of the data (8 bytes)"])
        let reversed = #"{"w":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}}"#
        assertOpenFails(try rawFile("reversed.safetensors", header: reversed, data: [UInt8](repeating: 0, count: 8)),
                        ["tensor 'w'", "[8, 4]", "begin <= end"])
        let single = #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[4]}}"#
        assertOpenFails(try rawFile("single.safetensors", header: single, data: [UInt8](repeating: 0, count: 8)),
                        ["tensor 'w'", "'data_offsets' must be [begin, end]"])
    }

    func testUnsupportedDType() throws {
        let header = #"{"w":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}"#
        assertOpenFails(try rawFile("dtype.safetensors", header: header, data: [0]),
                        ["tensor 'w'", "unsupported dtype 'F8_E4M3'", "supported: F32, F16, BF16, F64, I8, U8, I32, I64"])
    }

    func testWrongByteCount() throws {
        let header = #"{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}"#
        assertOpenFails(try rawFile("count.safetensors", header: header, data: [UInt8](repeating: 0, count: 16)),
                        ["tensor 'w'", "holds 12 bytes but shape [2, 2] of F32 needs 16"])
    }

    func testMissingField() throws {
        let header = #"{"w":{"dtype":"F32","data_offsets":[0,4]}}"#
        assertOpenFails(try rawFile("field.safetensors", header: header, data: [0, 0, 0, 0]),
                        ["tensor 'w'", "missing 'shape'"])
        let wrongType = #"{"w":{"dtype":"F32","shape":"4","data_offsets":[0,4]}}"#
        assertOpenFails(try rawFile("type.safetensors", header: wrongType, data: [0, 0, 0, 0]),
                        ["tensor 'w'", "'shape' must be an array of integers"])
        let negative = #"{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#
        assertOpenFails(try rawFile("negative.safetensors", header: negative, data: [0, 0, 0, 0]),
                        ["tensor 'w'", "negative dimension -1"])
    }

    func testOverlappingTensors() throws {
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        assertOpenFails(try rawFile("overlap.safetensors", header: header, data: [UInt8](repeating: 0, count: 12)),
                        ["tensors 'a' and 'b' overlap"])
    }

    // MARK: - Writer failures

    func testFailedWriteLeavesNoTemporaryFileAndNoPartialTarget() throws {
        // The target is a directory, so the final rename fails after the data was written.
        let target = path("occupied")
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: false)
        XCTAssertThrowsError(try SafetensorsWriter.write([.float32(name: "w", shape: [2], values: [1, 2])], to: target)) { error in
            XCTAssertEqual((error as? ModelError)?.file, target)
            XCTAssertTrue("\(error)".contains("cannot move the new file into place"), "\(error)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory), ["occupied"])

        // A value count that does not match the shape is caught before anything is written.
        let file = path("mismatch.safetensors")
        XCTAssertThrowsError(try SafetensorsWriter.write([.float32(name: "w", shape: [3], values: [1, 2])], to: file)) { error in
            XCTAssertEqual(error as? ModelError, ModelError(file: file, "tensor 'w' has 8 bytes but shape [3] of F32 needs 12"))
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory), ["occupied"])

        // A missing directory fails at create, naming the target.
        let nowhere = path("missing/dir/model.safetensors")
        XCTAssertThrowsError(try SafetensorsWriter.write([], to: nowhere)) { error in
            XCTAssertEqual((error as? ModelError)?.file, nowhere)
            XCTAssertTrue("\(error)".contains("No such file or directory"), "\(error)")
        }
    }

    func testWriteReplacesAnExistingFileAndRejectsDuplicateNames() throws {
        let file = path("replace.safetensors")
        try SafetensorsWriter.write([.float32(name: "old", shape: [1], values: [1])], to: file)
        try SafetensorsWriter.write([.float32(name: "new", shape: [], values: [2])], to: file)
        let reader = try SafetensorsFile(path: file)
        XCTAssertEqual(reader.names, ["new"])
        XCTAssertEqual(reader.info("new")?.shape, [])

        XCTAssertThrowsError(try SafetensorsWriter.write([
            .float32(name: "x", shape: [1], values: [1]), .float32(name: "x", shape: [1], values: [2]),
        ], to: file)) { error in
            XCTAssertEqual(error as? ModelError, ModelError(file: file, "duplicate tensor name 'x'"))
        }
    }
}
