import Files
import Foundation
import XCTest

/// `AtomicFile`: the target holds the old contents or the new ones, never a part, and no temporary
/// file is left behind, whether the write succeeds or fails.
final class AtomicFileTests: XCTestCase {
    var folder = ""

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "atomic-file-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: folder)
    }

    func entries() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
    }

    func testWritesAndReplacesLeavingNoTemporaryFile() throws {
        let path = folder + "/a.json"
        try AtomicFile.write("first", to: path)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "first")
        try AtomicFile.write([0, 1, 2, 255], to: path)
        XCTAssertEqual(Array(try Data(contentsOf: URL(fileURLWithPath: path))), [0, 1, 2, 255])
        try AtomicFile.write(to: path) { file in
            try file.write("a")
            try file.write([UInt8(ascii: "b")])
            try file.write("")
        }
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "ab")
        XCTAssertEqual(try entries(), ["a.json"])
    }

    func testPermissionsAreAppliedDespiteTheUmask() throws {
        let path = folder + "/secret.key"
        let old = umask(0o077)
        defer { umask(old) }
        try AtomicFile.write("k", to: path, permissions: 0o644)
        var info = stat()
        XCTAssertEqual(stat(path, &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o644)
        try AtomicFile.write("k", to: path, permissions: 0o600)
        XCTAssertEqual(stat(path, &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o600)
    }

    func testABodyThatThrowsKeepsTheOldContents() throws {
        struct Stop: Error {}
        let path = folder + "/model.safetensors"
        try AtomicFile.write("old", to: path)
        XCTAssertThrowsError(try AtomicFile.write(to: path) { file in
            try file.write("half of the new")
            throw Stop()
        }) { XCTAssertTrue($0 is Stop, "the body's own error comes through: \($0)") }
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "old")
        XCTAssertEqual(try entries(), ["model.safetensors"])
    }

    func testAMissingFolderIsNamed() throws {
        let path = folder + "/no/such/folder/report.md"
        XCTAssertThrowsError(try AtomicFile.write("x", to: path)) { error in
            let failure = error as? AtomicFile.Failure
            XCTAssertEqual(failure?.path, path)
            XCTAssertTrue(failure?.description.contains(folder + "/no/such/folder") == true, "\(error)")
        }
        XCTAssertEqual(try entries(), [])
    }

    func testATargetThatCannotBeReplacedIsLeftAsItWas() throws {
        // A non-empty folder where the file should go: rename(2) refuses to replace it.
        let path = folder + "/report.md"
        try FileManager.default.createDirectory(atPath: path + "/inside", withIntermediateDirectories: true)
        XCTAssertThrowsError(try AtomicFile.write("x", to: path)) { error in
            XCTAssertTrue("\(error)".contains("cannot move the new file into place"), "\(error)")
        }
        XCTAssertEqual(try entries(), ["report.md"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: path), ["inside"])
    }

    func testARelativePathWritesInTheCurrentFolder() throws {
        let previous = FileManager.default.currentDirectoryPath
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(folder))
        defer { _ = FileManager.default.changeCurrentDirectoryPath(previous) }
        try AtomicFile.write("here", to: "plain.txt")
        XCTAssertEqual(try String(contentsOfFile: folder + "/plain.txt", encoding: .utf8), "here")
        XCTAssertEqual(try entries(), ["plain.txt"])
    }
}
