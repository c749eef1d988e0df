import Foundation

/// A finished child process: its exit status and everything it wrote.
struct ProcessResult { let status: Int32; let stdout: String; let stderr: String }

/// Runs `executable` to its end and returns what it wrote.
///
/// Standard error is drained on another thread while this one reads standard output, and `input`
/// is written on a third: a child that fills one pipe (64 KiB) while the test is waiting on the
/// other would otherwise hang the test instead of failing it.
func runToEnd(_ executable: URL, _ arguments: [String], environment: [String: String] = [:],
              directory: URL? = nil, input: Data? = nil) throws -> ProcessResult {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    if !environment.isEmpty {
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    }
    if let directory { process.currentDirectoryURL = directory }
    let out = Pipe(), err = Pipe(), stdin = Pipe()
    process.standardOutput = out
    process.standardError = err
    if input != nil { process.standardInput = stdin }
    try process.run()

    final class Drained: @unchecked Sendable { var data = Data() }
    let stderr = Drained(), group = DispatchGroup()
    DispatchQueue.global().async(group: group) { stderr.data = err.fileHandleForReading.readDataToEndOfFile() }
    if let input {
        DispatchQueue.global().async(group: group) {
            stdin.fileHandleForWriting.write(input)
            try? stdin.fileHandleForWriting.close()
        }
    }
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    process.waitUntilExit()
    return ProcessResult(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                         stderr: String(decoding: stderr.data, as: UTF8.self))
}
