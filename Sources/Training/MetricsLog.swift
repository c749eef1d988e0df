import Foundation
import Model

/// Appends one JSON object per line to `metrics.jsonl`, flushed each time, so a crashed run keeps
/// everything it logged.
public final class MetricsLog {
    let handle: FileHandle
    public let path: String

    public init(path: String) throws {
        self.path = path
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw ModelError(file: path, "cannot create the metrics file")
            }
        }
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw ModelError(file: path, "cannot open the metrics file for writing")
        }
        handle.seekToEndOfFile()
        self.handle = handle
    }

    deinit { try? handle.close() }

    public func append(_ record: [String: Any]) {
        guard let data = try? JSONSerialization.data(withJSONObject: record, options: [.sortedKeys]) else { return }
        handle.write(data + Data("\n".utf8))
    }
}

