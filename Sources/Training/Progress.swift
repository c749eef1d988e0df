import Foundation

/// Progress of long work: a bar with rate and ETA redrawn in place on a terminal, plain lines
/// (at most one every `interval` seconds) when stderr is a file or a pipe.
public final class Progress {
    public let label: String
    let unit: String
    let total: Int
    let interactive: Bool
    let interval: Double
    let start = Date()
    var lastPrint = Date.distantPast
    public var quiet = false

    public init(label: String, total: Int, unit: String = "steps", interval: Double = 10) {
        self.label = label
        self.unit = unit
        self.total = max(total, 1)
        self.interactive = isatty(2) != 0
        self.interval = interval
    }

    /// Reports that `done` of `total` units are finished, with a short status (e.g. the loss).
    public func update(_ done: Int, status: String = "") {
        if quiet { return }
        let now = Date()
        let elapsed = now.timeIntervalSince(start)
        let finished = done >= total
        guard finished || now.timeIntervalSince(lastPrint) >= (interactive ? 0.2 : interval) else { return }
        lastPrint = now
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let eta = rate > 0 ? Double(total - done) / rate : 0
        let percent = Double(done) / Double(total)
        let timing = String(format: "%.1f %@/s, ETA %@", rate, unit, Self.clock(eta))
        if interactive {
            let width = 24, filled = Int(percent * Double(width))
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            let line = "\r\(label) \(bar) \(done)/\(total) \(status) \(timing)\u{1B}[K"
            FileHandle.standardError.write(Data(line.utf8))
            if finished { FileHandle.standardError.write(Data("\n".utf8)) }
        } else {
            let line = "\(label): \(done)/\(total) (\(Int(percent * 100))%) \(status) \(timing)\n"
            FileHandle.standardError.write(Data(line.utf8))
        }
    }

    /// A one-off message that does not break the bar.
    public func note(_ message: String) {
        if quiet { return }
        FileHandle.standardError.write(Data(((interactive ? "\r\u{1B}[K" : "") + message + "\n").utf8))
    }

    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
                         : String(format: "%d:%02d", s / 60, s % 60)
    }
}
