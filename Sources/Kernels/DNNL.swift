import CDNNL

// The one file at the oneDNN boundary: status codes become typed Swift errors, and the
// engine, stream and thread count live here.

/// A oneDNN call that did not succeed, with what we were doing when it failed.
public struct DNNLError: Error, CustomStringConvertible {
    /// The raw `dnnl_status_t` value.
    public let status: Int32
    /// What EdgeDistill was asking oneDNN to do.
    public let operation: String

    public var description: String {
        let reason: String
        switch status {
        case 1: reason = "out of memory"
        case 2: reason = "invalid arguments"
        case 3: reason = "unimplemented for these shapes or types"
        case 5: reason = "runtime error"
        default: reason = "status \(status)"
        }
        return "oneDNN failed to \(operation): \(reason)"
    }
}

/// Turns a oneDNN status into a thrown `DNNLError` that names the operation.
@inline(__always)
func check(_ status: dnnl_status_t, _ operation: @autoclosure () -> String) throws {
    if status != dnnl_success {
        throw DNNLError(status: Int32(status.rawValue), operation: operation())
    }
}

/// The process-wide CPU engine and stream oneDNN primitives run on.
final class DNNLRuntime: @unchecked Sendable {
    let engine: dnnl_engine_t
    let stream: dnnl_stream_t

    private init() throws {
        var engine: dnnl_engine_t?
        try check(dnnl_engine_create(&engine, dnnl_cpu, 0), "create the CPU engine")
        var stream: dnnl_stream_t?
        try check(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue), "create a CPU stream")
        guard let engine, let stream else {
            throw DNNLError(status: 5, operation: "create the CPU engine")
        }
        self.engine = engine
        self.stream = stream
    }

    /// Created on first use; oneDNN's CPU engine cannot fail short of a broken install.
    static let shared: Result<DNNLRuntime, Error> = Result { try DNNLRuntime() }

    static func get() throws -> DNNLRuntime { try shared.get() }
}

/// Controls how many threads oneDNN (and so every GEMM) uses.
public enum Threads {
    /// Sets the thread count for all later oneDNN calls (OpenMP underneath).
    public static func set(_ count: Int) {
        omp_set_num_threads(Int32(max(1, count)))
    }

    /// The thread count oneDNN will use.
    public static var count: Int { Int(omp_get_max_threads()) }
}
