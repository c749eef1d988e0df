#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a file so that a reader, or a crash, sees either the old contents or the new ones, never a
/// part: the bytes go to a temporary file beside the target (a unique name per call, so two writers
/// never share it), which is synced and then renamed over the target; the folder is synced last so
/// the rename survives a power cut. On any failure the temporary file is removed and the target is
/// left as it was.
///
/// Every file EdgeDistill writes for a user (weights, configs, checkpoints, reports, keys) goes
/// through here; callers turn `AtomicFile.Failure` into their own error type.
public enum AtomicFile {
    /// Why a write failed: the target path and the system's reason.
    public struct Failure: Error, CustomStringConvertible {
        public let path: String
        public let reason: String
        public var description: String { "\(path): \(reason)" }
    }

    /// Appends bytes to the temporary file; handed to the body of `write(to:permissions:_:)`.
    public struct Writer {
        let descriptor: Int32
        let path: String

        public func write(_ buffer: UnsafeRawBufferPointer) throws {
            guard let base = buffer.baseAddress else { return }
            var written = 0
            while written < buffer.count {
                let result = systemWrite(descriptor, base + written, buffer.count - written)
                if result < 0 {
                    if errno == EINTR { continue }
                    throw Failure.system(path, "cannot write")
                }
                written += result
            }
        }

        public func write(_ bytes: [UInt8]) throws {
            try bytes.withUnsafeBytes { try write($0) }
        }

        public func write(_ text: String) throws {
            try write(Array(text.utf8))
        }
    }

    /// Replaces `path` with what `body` writes.
    public static func write(to path: String, permissions: mode_t = 0o644, _ body: (Writer) throws -> Void) throws {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let temporary = "\(directory)/.\(name).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, permissions)
        guard descriptor >= 0 else { throw Failure.system(path, "cannot create a temporary file in \(directory)") }
        var isOpen = true
        do {
            try body(Writer(descriptor: descriptor, path: path))
            // open() applied the umask; the caller's permissions (e.g. 0600 for secret keys) win.
            guard fchmod(descriptor, permissions) == 0 else { throw Failure.system(path, "cannot set permissions") }
            guard fsync(descriptor) == 0 else { throw Failure.system(path, "cannot sync") }
            isOpen = false  // closed even when close() reports an error
            guard close(descriptor) == 0 else { throw Failure.system(path, "cannot close") }
        } catch {
            if isOpen { close(descriptor) }
            unlink(temporary)
            throw error
        }
        guard rename(temporary, path) == 0 else {
            let failure = Failure.system(path, "cannot move the new file into place")
            unlink(temporary)
            throw failure
        }
        let folder = open(directory, O_RDONLY | O_CLOEXEC)
        if folder >= 0 {  // only weakens crash safety when it fails, so it is not an error
            fsync(folder)
            close(folder)
        }
    }

    /// Replaces `path` with `bytes`.
    public static func write(_ bytes: [UInt8], to path: String, permissions: mode_t = 0o644) throws {
        try write(to: path, permissions: permissions) { try $0.write(bytes) }
    }

    /// Replaces `path` with `text` as UTF-8.
    public static func write(_ text: String, to path: String, permissions: mode_t = 0o644) throws {
        try write(Array(text.utf8), to: path, permissions: permissions)
    }
}

extension AtomicFile.Failure {
    static func system(_ path: String, _ what: String) -> Self {
        Self(path: path, reason: "\(what): \(String(cString: strerror(errno)))")
    }
}

#if canImport(Glibc)
private let systemWrite = Glibc.write
#elseif canImport(Darwin)
private let systemWrite = Darwin.write
#endif
