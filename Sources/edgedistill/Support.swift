import ArgumentParser
import Files
import Foundation
import Kernels
import Model

/// Runs a command body; a user-facing error becomes one line on stderr and exit status 1.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        _ = try ISA.requested()   // a bad EDGEDISTILL_ISA is an error, not a silent fallback
        try body()
    } catch let error as ModelError {
        printError("error: \(error)")
        throw ExitCode(1)
    } catch let error as ExitCode {
        throw error
    } catch let error as ValidationError {
        throw error
    } catch {
        printError("error: \(error)")
        throw ExitCode(1)
    }
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

func jsonString(_ object: Any) throws -> String {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    return String(decoding: data, as: UTF8.self)
}

