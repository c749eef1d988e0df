import Foundation
import TestSupport
import XCTest
@testable import Collective

/// The wire format: layout, round trips, each rejection with its specific error, payload
/// helpers, and a seeded fuzz of more than 100,000 frames.
final class WireProtocolTests: XCTestCase {
    /// Bit-at-a-time CRC-32C, the textbook definition the table-driven version must match.
    private func referenceCRC32C(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = (crc >> 1) ^ ((crc & 1) == 0 ? 0 : 0x82F6_3B78) }
        }
        return ~crc
    }

    private func sample(_ type: MessageType = .metrics, payload: [UInt8] = [1, 2, 3, 4, 5]) -> [UInt8] {
        WireMessage(type: type, rank: 3, sequence: 42, payload: payload).encode()
    }

    private func decodeError(_ frame: [UInt8], maxPayload: Int = WireProtocol.defaultMaxPayload,
                             file: StaticString = #filePath, line: UInt = #line) -> WireError? {
        do {
            let message = try WireMessage.decode(frame, maxPayload: maxPayload)
            XCTFail("decoded \(message) from an invalid frame", file: file, line: line)
        } catch let error as WireError {
            return error
        } catch {
            XCTFail("expected a WireError, got \(error)", file: file, line: line)
        }
        return nil
    }

    private func setField<T: FixedWidthInteger>(_ frame: inout [UInt8], at offset: Int, to value: T, reseal: Bool) {
        withUnsafeBytes(of: value.littleEndian) { bytes in
            for (index, byte) in bytes.enumerated() { frame[offset + index] = byte }
        }
        if reseal { WireProtocol.seal(&frame) }
    }

    // MARK: - Checksum and layout

    func testCRC32CMatchesTheStandardCheckValue() {
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
        XCTAssertEqual(CRC32C.checksum([]), 0)
        // The eight-bytes-at-a-time path, the byte tail and continuation agree with the definition.
        var random = SeededGenerator(seed: 1)
        let bytes = random.bytes(100)
        for count in 0...bytes.count {
            XCTAssertEqual(CRC32C.checksum(Array(bytes[..<count])), referenceCRC32C(Array(bytes[..<count])), "\(count)")
        }
        bytes.withUnsafeBytes { all in
            for split in stride(from: 0, through: 100, by: 7) {
                let head = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: all[..<split]))
                XCTAssertEqual(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: all[split...]), continuing: head),
                               referenceCRC32C(bytes))
            }
        }
    }

    /// The hardware instruction (used when the CPU has it) and the table-driven code agree on every
    /// length, alignment and continuation.
    func testHardwareAndSoftwareCRCAgree() {
        print("CRC-32C: hardware instruction \(CRC32C.hardware ? "in use" : "not available")")
        var random = SeededGenerator(seed: 2)
        let bytes = random.bytes(4099)
        bytes.withUnsafeBytes { all in
            for start in 0..<9 {
                for count in [0, 1, 7, 8, 9, 63, 64, 65, 1000, 4090 - start] {
                    let slice = UnsafeRawBufferPointer(rebasing: all[start..<(start + count)])
                    XCTAssertEqual(CRC32C.checksum(slice), CRC32C.software(slice), "start \(start) count \(count)")
                    XCTAssertEqual(CRC32C.checksum(slice, continuing: 0xDEAD_BEEF),
                                   CRC32C.software(slice, continuing: 0xDEAD_BEEF))
                }
            }
        }
    }

    /// Long inputs take the carry-less multiplication (PCLMULQDQ) path: every length from its
    /// threshold (256) through several 64-byte folds, the 16-byte tail blocks and the byte tail,
    /// at every alignment, and a megabyte, agree with the table-driven code.
    func testFoldedHardwareCRCAgreesOnLongInputs() {
        var random = SeededGenerator(seed: 3)
        let bytes = random.bytes(1 << 20)
        bytes.withUnsafeBytes { all in
            for start in 0..<4 {
                for count in Array(250...400) + [1023, 1024, 4096 + 15, 65_537, (1 << 20) - start] {
                    let slice = UnsafeRawBufferPointer(rebasing: all[start..<(start + count)])
                    XCTAssertEqual(CRC32C.checksum(slice, continuing: 0x1234_5678),
                                   CRC32C.software(slice, continuing: 0x1234_5678), "start \(start) count \(count)")
                }
            }
        }
    }

    func testHeaderLayoutIsPinned() {
        let frame = WireMessage(type: .metrics, rank: 0x0102_0304, sequence: 0x0102_0304_0506_0708,
                                payload: [0xAA, 0xBB]).encode()
        let header: [UInt8] = [0x45, 0x44, 0x53, 0x54,  // "EDST"
                               4, 0,  // version 4
                               9, 0,  // type: metrics
                               0, 0,  // flags
                               4, 3, 2, 1,  // rank
                               8, 7, 6, 5, 4, 3, 2, 1,  // sequence
                               2, 0, 0, 0, 0, 0, 0, 0]  // payload length
        let crc = referenceCRC32C(header + [0xAA, 0xBB])
        let expected = header + [UInt8(crc & 0xFF), UInt8((crc >> 8) & 0xFF), UInt8((crc >> 16) & 0xFF), UInt8(crc >> 24)]
            + [0xAA, 0xBB]
        XCTAssertEqual(frame, expected)
        XCTAssertEqual(WireProtocol.headerSize, 34)
    }

    func testMessageTypeRawValuesArePinned() {
        // These numbers are on the wire: renumbering one breaks every deployed peer.
        let pinned: [MessageType: UInt16] = [
            .hello: 1, .welcome: 2, .refuse: 3, .heartbeat: 4, .configuration: 5, .gradientChunk: 6,
            .broadcastChunk: 7, .parameters: 8, .metrics: 9, .barrier: 10, .done: 11, .error: 12,
            .ready: 13, .prepareRing: 14, .ring: 15, .step: 16, .reduced: 17, .commit: 18, .abort: 19,
            .stateRequest: 20, .checksum: 21, .shutdown: 22, .ringEndpoint: 23,
            .trialSetup: 24, .trialRun: 25, .trialReport: 26, .trialRelease: 27,
            .passSetup: 28, .passShard: 29, .passReport: 30, .gradientChunkBF16: 31, .evaluate: 32, .evaluation: 33,
        ]
        XCTAssertEqual(pinned.count, MessageType.allCases.count)
        for type in MessageType.allCases { XCTAssertEqual(type.rawValue, pinned[type], "\(type)") }
    }

    // MARK: - Round trips

    func testEveryMessageTypeRoundTrips() throws {
        var random = SeededGenerator(seed: 2)
        for type in MessageType.allCases {
            for payload in [[], [0], random.bytes(1000)] as [[UInt8]] {
                let message = WireMessage(type: type, rank: UInt32.max, sequence: UInt64.max - 1, payload: payload)
                let frame = message.encode()
                XCTAssertEqual(frame.count, WireProtocol.headerSize + payload.count)
                XCTAssertEqual(try WireMessage.decode(frame), message)
                XCTAssertEqual(try frame.withUnsafeBytes { try WireMessage.decode($0, maxPayload: payload.count) }, message)
            }
        }
    }

    // MARK: - Rejections

    func testForeignBytesAreBadMagic() {
        XCTAssertEqual(decodeError(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n0123456789".utf8)),
                       .badMagic([0x47, 0x45, 0x54, 0x20]))
        XCTAssertEqual(decodeError([0x45, 0x58]), .badMagic([0x45, 0x58]))
        var frame = sample()
        frame[3] = 0x55
        XCTAssertEqual(decodeError(frame), .badMagic([0x45, 0x44, 0x53, 0x55]))
        XCTAssertTrue(WireError.badMagic([0x47, 0x45]).description.contains("EDST"))
    }

    func testVersionMismatchNamesBothVersions() {
        var frame = sample()
        setField(&frame, at: 4, to: UInt16(5), reseal: true)
        let error = decodeError(frame)
        XCTAssertEqual(error, .versionMismatch(peer: 5, local: 4))
        XCTAssertTrue(error?.description.contains("peer speaks protocol 5, this build speaks 4") ?? false,
                      error?.description ?? "")
        // The version is checked before the checksum: a newer peer may checksum differently.
        setField(&frame, at: 4, to: UInt16(1), reseal: false)
        XCTAssertEqual(decodeError(frame), .versionMismatch(peer: 1, local: 4))
    }

    func testUnknownTypeOfAnIntactFrame() {
        for raw: UInt16 in [0, 34, 999, .max] {
            var frame = sample()
            setField(&frame, at: 6, to: raw, reseal: true)
            XCTAssertEqual(decodeError(frame), .unknownType(raw))
        }
    }

    func testUnknownFlagsOfAnIntactFrame() {
        var frame = sample()
        setField(&frame, at: 8, to: UInt16(0x8000), reseal: true)
        XCTAssertEqual(decodeError(frame), .unknownFlags(0x8000))
    }

    func testTruncatedHeader() {
        let frame = sample()
        XCTAssertEqual(decodeError([]), .truncatedHeader(received: 0, needed: 34))
        XCTAssertEqual(decodeError(Array(frame[..<2])), .truncatedHeader(received: 2, needed: 34))
        XCTAssertEqual(decodeError(Array(frame[..<33])), .truncatedHeader(received: 33, needed: 34))
    }

    func testTruncatedPayload() {
        let frame = sample()
        XCTAssertEqual(decodeError(Array(frame.dropLast())), .truncatedPayload(declared: 5, received: 4))
        XCTAssertEqual(decodeError(Array(frame[..<34])), .truncatedPayload(declared: 5, received: 0))
    }

    func testOversizedPayloadIsRejectedBeforeLookingFurther() throws {
        let frame = sample(payload: [UInt8](repeating: 7, count: 100))
        XCTAssertEqual(decodeError(frame, maxPayload: 99), .oversizedPayload(declared: 100, limit: 99))
        XCTAssertEqual(try WireMessage.decode(frame, maxPayload: 100).payload.count, 100)
        // A length field near 2^64 must neither trap nor allocate.
        for huge: UInt64 in [.max, 1 << 63, UInt64(Int.max), UInt64(Int.max) + 1] {
            var header = sample()
            setField(&header, at: 22, to: huge, reseal: true)
            XCTAssertEqual(decodeError(header), .oversizedPayload(declared: huge, limit: WireProtocol.defaultMaxPayload))
        }
        XCTAssertEqual(decodeError(frame, maxPayload: -5), .oversizedPayload(declared: 100, limit: 0))
    }

    func testExtraBytesAreALengthMismatch() {
        XCTAssertEqual(decodeError(sample() + [0]), .lengthMismatch(declared: 5, received: 6))
        var frame = sample()
        setField(&frame, at: 22, to: UInt64(2), reseal: true)
        XCTAssertEqual(decodeError(frame), .lengthMismatch(declared: 2, received: 5))
    }

    func testChecksumCoversPayloadAndHeader() {
        let original = sample()
        let declared = original.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 30, as: UInt32.self) }
        var payloadFlip = original
        payloadFlip[36] ^= 0x10
        XCTAssertEqual(decodeError(payloadFlip),
                       .checksumMismatch(declared: UInt32(littleEndian: declared), computed: CRC32C.checksum(Array(payloadFlip[..<30]) + Array(payloadFlip[34...]))))
        // The rank and the sequence are covered too, not only the payload.
        for offset in [10, 14, 21] {
            var frame = original
            frame[offset] ^= 1
            guard case .checksumMismatch = decodeError(frame) else { return XCTFail("offset \(offset)") }
        }
        XCTAssertTrue(WireError.checksumMismatch(declared: 0xAB, computed: 0xCD).description.contains("0x000000ab"))
    }

    // MARK: - Payload helpers

    func testFloatPayloadRoundTripsBitExactly() throws {
        let values: [Float] = [0, -0.0, 1, -1.5, .pi, .infinity, -.infinity, Float(bitPattern: 0x7FC1_2345),
                               Float(bitPattern: 0xFFBF_FFFF), .leastNonzeroMagnitude, .greatestFiniteMagnitude]
        let message = WireMessage(type: .parameters, rank: 1, sequence: 2, floats: values)
        XCTAssertEqual(Array(message.payload[8..<12]), [0, 0, 0x80, 0x3F], "1.0 is little-endian IEEE 754")
        let decoded = try WireMessage.decode(message.encode()).floats()
        XCTAssertEqual(decoded.map(\.bitPattern), values.map(\.bitPattern))
        XCTAssertEqual(try WireMessage(type: .parameters, rank: 0, sequence: 0, floats: []).floats(), [])
    }

    func testFloatPayloadOfTheWrongLengthIsMalformed() {
        XCTAssertThrowsError(try WireMessage(type: .parameters, rank: 0, sequence: 0, payload: [1, 2, 3, 4, 5]).floats()) {
            guard case .malformedPayload(let reason) = $0 as? WireError else { return XCTFail("\($0)") }
            XCTAssertTrue(reason.contains("5 bytes"), reason)
        }
    }

    private struct Settings: Codable, Equatable {
        var name: String
        var ranks: [Int]
        var learningRate: Double
    }

    func testJSONPayloadRoundTripsAndBadJSONIsMalformed() throws {
        let settings = Settings(name: "sst2 \u{00E9}", ranks: [0, 1, 2], learningRate: 5e-5)
        let message = try WireMessage(type: .configuration, rank: 0, sequence: 1, json: settings)
        XCTAssertEqual(try WireMessage.decode(message.encode()).decodeJSON(Settings.self), settings)
        XCTAssertEqual(try WirePayload.json(settings), try WirePayload.json(settings), "deterministic bytes")
        for bad in [Array("{\"name\": 3}".utf8), Array("not json".utf8), [], [0xFF, 0xFE]] {
            let message = WireMessage(type: .configuration, rank: 0, sequence: 1, payload: bad)
            XCTAssertThrowsError(try message.decodeJSON(Settings.self)) {
                guard case .malformedPayload = $0 as? WireError else { return XCTFail("\($0)") }
            }
        }
    }

    // MARK: - Fuzz

    /// Over 100,000 frames: random bytes, and valid frames mutated every way the network or a
    /// hostile peer could. The decoder must never trap, must reject every frame that is no
    /// longer byte-identical to a valid one, and whatever it accepts must re-encode to exactly
    /// the bytes it was given.
    func testFuzzedFramesNeverCrashAndEveryCorruptionIsRejected() {
        var random = SeededGenerator(seed: 0xED57_F022)
        let maxPayload = 128
        var frames = 0, accepted = 0, rejected = 0
        var failures: [String] = []
        func fail(_ what: @autoclosure () -> String) { if failures.count < 10 { failures.append(what()) } }

        /// Decodes `bytes`; returns the message, or nil when rejected with a WireError.
        func decode(_ bytes: [UInt8]) -> WireMessage? {
            frames += 1
            do {
                let message = try WireMessage.decode(bytes, maxPayload: maxPayload)
                accepted += 1
                if message.encode() != bytes { fail("accepted a non-canonical frame \(bytes)") }
                return message
            } catch is WireError {
                rejected += 1
            } catch {
                fail("non-WireError \(error)")
            }
            return nil
        }

        func validFrame() -> (message: WireMessage, frame: [UInt8]) {
            let type = MessageType.allCases[random.below(MessageType.allCases.count)]
            let message = WireMessage(type: type, rank: UInt32(truncatingIfNeeded: random.next()),
                                      sequence: random.next(), payload: random.bytes(random.below(64)))
            return (message, message.encode())
        }

        // 1. Random bytes, half of them dressed with the magic, version and a plausible length
        //    so that they reach the deeper checks.
        var randomAccepted = 0
        for _ in 0..<30_000 {
            var bytes = random.bytes(random.below(100))
            if bytes.count >= 34, random.below(2) == 0 {
                bytes.replaceSubrange(0..<4, with: WireProtocol.magic)
                bytes[4] = 1; bytes[5] = 0
                if random.below(2) == 0 { setField(&bytes, at: 22, to: UInt64(bytes.count - 34), reseal: false) }
            }
            if decode(bytes) != nil { randomAccepted += 1 }
        }
        XCTAssertEqual(randomAccepted, 0, "random bytes passed a 32-bit checksum")

        // 2. Valid frames, mutated. Property: accepted if and only if still byte-identical.
        var unchanged = 0, mutatedAccepted = 0
        for trial in 0..<72_000 {
            let (original, frame) = validFrame()
            var bytes = frame
            let kind = trial % 9
            switch kind {
            case 0:  // one bit flip anywhere
                let bit = random.below(bytes.count * 8)
                bytes[bit / 8] ^= UInt8(1 << (bit % 8))
            case 1:  // two to eight bit flips (two flips of one bit cancel: then it is unchanged)
                for _ in 0..<(2 + random.below(7)) {
                    let bit = random.below(bytes.count * 8)
                    bytes[bit / 8] ^= UInt8(1 << (bit % 8))
                }
            case 2:  // truncation
                bytes.removeLast(1 + random.below(bytes.count))
            case 3:  // extension
                bytes += random.bytes(1 + random.below(16))
            case 4:  // length field: huge, or any other value
                let length: UInt64 = random.below(2) == 0 ? random.next() | (1 << 40) : UInt64(random.below(200))
                setField(&bytes, at: 22, to: length, reseal: random.below(2) == 0)
            case 5:  // type field randomised
                setField(&bytes, at: 6, to: UInt16(truncatingIfNeeded: random.next()), reseal: false)
            case 6:  // version field randomised
                setField(&bytes, at: 4, to: UInt16(truncatingIfNeeded: random.below(4)), reseal: random.below(2) == 0)
            case 7:  // one to four bytes overwritten with random values
                for _ in 0..<(1 + random.below(4)) { bytes[random.below(bytes.count)] = UInt8(truncatingIfNeeded: random.next()) }
            default:  // a well-formed frame of some type number: accepted exactly when the type exists
                let raw = UInt16(random.below(20))
                setField(&bytes, at: 6, to: raw, reseal: true)
                let message = decode(bytes)
                if let known = MessageType(rawValue: raw) {
                    var expected = original
                    expected.type = known
                    if message != expected { fail("resealed type \(raw) decoded to \(String(describing: message))") }
                } else if message != nil {
                    fail("unknown type \(raw) accepted")
                }
                continue
            }
            let message = decode(bytes)
            if bytes == frame {
                unchanged += 1
                if message != original { fail("an unchanged frame was rejected or changed (mutation \(kind))") }
            } else if message != nil {
                mutatedAccepted += 1
                fail("mutation \(kind) accepted: \(frame) -> \(bytes)")
            }
        }
        XCTAssertEqual(mutatedAccepted, 0)

        // 3. A few frames cut at every length: each cut gets its specific error.
        for _ in 0..<5 {
            let (_, frame) = validFrame()
            for length in 0..<frame.count {
                frames += 1
                let payload = frame.count - WireProtocol.headerSize
                let expected: WireError = length < WireProtocol.headerSize
                    ? .truncatedHeader(received: length, needed: WireProtocol.headerSize)
                    : .truncatedPayload(declared: UInt64(payload), received: length - WireProtocol.headerSize)
                do {
                    _ = try WireMessage.decode(Array(frame[..<length]), maxPayload: maxPayload)
                    fail("a frame cut to \(length) bytes was accepted")
                } catch let error as WireError {
                    rejected += 1
                    if error != expected { fail("cut to \(length): \(error), expected \(expected)") }
                } catch {
                    fail("non-WireError \(error)")
                }
            }
        }

        XCTAssertEqual(failures, [])
        XCTAssertGreaterThanOrEqual(frames, 100_000)
        XCTAssertEqual(accepted + rejected, frames)
        // Every accepted frame is accounted for: unchanged mutations and resealed known types.
        XCTAssertGreaterThan(unchanged, 0)
        XCTAssertGreaterThan(rejected, 90_000)  // with 23 known types about 7,000 resealed frames are valid
    }
}
