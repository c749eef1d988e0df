import ArgumentParser
import Collective
import Foundation

/// `edgedistill bench allreduce`: ring all-reduce bus bandwidth against buffer size, between real
/// processes (this binary started once per extra rank) over TCP.
struct BenchAllReduce: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "allreduce",
        abstract: "Measure ring all-reduce bandwidth between processes (loopback by default).")

    @Option(help: "Number of ranks (processes) when --endpoints is not given.") var ranks = 2
    @Option(help: "Buffer sizes in MB, comma-separated.") var sizes = "1,4,16,64"
    @Option(help: "Timed repetitions per size (after one warm-up).") var repeats = 5
    @Option(help: "Largest message in KiB (the ring's maxChunkBytes; every rank must use the same).")
    var pieceKb = RingCommunicator.Options().maxChunkBytes / 1024
    @Option(help: "Comma-separated endpoints, one per rank (default: loopback TCP on free ports).") var endpoints: String?
    @Option(help: "This process's rank when --endpoints is given (0 reports).") var rank: Int?
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        guard ranks >= 1, repeats >= 1 else { throw ValidationError("--ranks and --repeats must be positive") }
        guard (1...(256 * 1024)).contains(pieceKb) else { throw ValidationError("--piece-kb must be in 1...262144") }
        guard !parsedSizes.isEmpty, parsedSizes.allSatisfy({ $0 > 0 }) else {
            throw ValidationError("--sizes must be positive numbers of MB, e.g. 1,4,16,64")
        }
    }

    var parsedSizes: [Double] { sizes.split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) } }

    func run() throws {
        try reportingErrors {
            if let endpoints, let rank {
                try measure(rank: rank, endpoints: endpoints.split(separator: ",").map(String.init))
                return
            }
            // Local launch: free ports from the OS, then one child process per extra rank.
            let ports = try (0..<ranks).map { _ in try LoopbackPort.free() }
            let list = ports.map { "tcp://127.0.0.1:\($0)" }
            var children: [Process] = []
            for r in 1..<max(ranks, 1) {
                let child = Process()
                child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
                child.arguments = ["bench", "allreduce", "--endpoints", list.joined(separator: ","), "--rank", String(r),
                                   "--sizes", sizes, "--repeats", String(repeats),
                                   "--piece-kb", String(pieceKb)]
                try child.run()
                children.append(child)
            }
            defer { for child in children where child.isRunning { child.terminate() } }
            try measure(rank: 0, endpoints: list)
            for child in children {
                child.waitUntilExit()
                if child.terminationStatus != 0 { throw ExitCode(child.terminationStatus) }
            }
        }
    }

    func measure(rank: Int, endpoints: [String]) throws {
        let ring = try RingCommunicator(rank: rank, endpoints: endpoints,
                                        options: .init(maxChunkBytes: pieceKb * 1024))
        defer { ring.close() }
        var results: [[String: Any]] = []
        for megabytes in parsedSizes {
            let count = Int(megabytes * 1_000_000) / 4
            var buffer = [Float](repeating: Float(rank + 1), count: count)
            try buffer.withUnsafeMutableBufferPointer { try ring.allReduceSum($0) }   // warm-up
            // The warm-up's result is known: every element is 1 + 2 + ... + ranks.
            let expected = Float(endpoints.count * (endpoints.count + 1) / 2)
            if let wrong = buffer.firstIndex(where: { $0 != expected }) {
                throw ValidationError("all-reduce gave \(buffer[wrong]) at element \(wrong), expected \(expected)")
            }
            var best = Double.infinity, total = 0.0
            for _ in 0..<repeats {
                try ring.barrier()
                let start = DispatchTime.now().uptimeNanoseconds
                try buffer.withUnsafeMutableBufferPointer { try ring.allReduceSum($0) }
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                best = min(best, seconds)
                total += seconds
            }
            let n = Double(endpoints.count), bytes = Double(count * 4)
            // Bus bandwidth (NCCL's convention): what each link carries, 2(n-1)/n of the buffer.
            let factor = n > 1 ? 2 * (n - 1) / n : 1
            results.append(["megabytes": megabytes, "mean_ms": total / Double(repeats) * 1000, "best_ms": best * 1000,
                            "bus_gbps": factor * bytes / (total / Double(repeats)) / 1e9,
                            "algorithm_gbps": bytes / (total / Double(repeats)) / 1e9])
        }
        guard rank == 0 else { return }
        try printResult(["benchmark": "allreduce", "ranks": endpoints.count, "endpoints": endpoints,
                         "piece_kb": pieceKb, "checked": true,
                         "results": results], json: json)
    }
}
