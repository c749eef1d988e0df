import Foundation
import XCTest

/// `runToEnd`, which every end-to-end test uses to run a child: a child that writes more than a
/// pipe holds to standard error before it writes standard output must not hang the test.
final class ProcessOutputTests: XCTestCase {
    func testBothOutputsAndInputOfAChattyChildComeBackWhole() throws {
        let script = "head -c 300000 /dev/zero | tr '\\0' e >&2; wc -c; echo done"
        let input = Data(repeating: UInt8(ascii: "i"), count: 200_000)
        let result = try runToEnd(URL(fileURLWithPath: "/bin/bash"), ["-c", script], input: input)
        XCTAssertEqual(result.status, 0)
        XCTAssertEqual(result.stderr.count, 300_000)
        XCTAssertEqual(result.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }, ["200000", "done"])
    }
}
