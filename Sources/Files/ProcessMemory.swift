import Foundation

/// This process's memory as Linux reports it in /proc/self/status.
public enum ProcessMemory {
    /// Peak resident set size in bytes (VmHWM); 0 where /proc is missing.
    public static func peakResidentBytes() -> Int { field("VmHWM") }

    /// Resident set size now, in bytes (VmRSS); 0 where /proc is missing.
    public static func residentBytes() -> Int { field("VmRSS") }

    /// A "kB" field of /proc/self/status, in bytes.
    static func field(_ name: String) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix(name + ":") {
            return (line.split(separator: " ").compactMap { Int($0) }.first ?? 0) * 1024
        }
        return 0
    }

    /// Peak resident set size in MB (VmHWM); 0 where /proc is missing.
    public static var peakResidentMegabytes: Double { Double(peakResidentBytes()) / 1_048_576 }
}
