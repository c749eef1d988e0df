/// The role a launcher gave this process: torchrun-style `RANK`, `WORLD_SIZE`, `MASTER_ADDR`,
/// `MASTER_PORT`, or Slurm's `SLURM_PROCID` and `SLURM_NTASKS` (with `MASTER_ADDR`/`MASTER_PORT`
/// set by the batch script).
public struct LaunchEnvironment: Equatable, Sendable {
    public var rank: Int
    public var worldSize: Int
    public var masterAddress: String
    public var masterPort: Int
    /// CPUs the launcher gave this task (`SLURM_CPUS_PER_TASK`): a worker uses no more threads.
    public var cpusPerTask: Int?

    /// The threads a worker of this task runs: `requested`, but never more than the task's CPUs.
    public func workerThreads(requested: Int) -> Int { min(requested, cpusPerTask ?? requested) }

    /// Rank 0 coordinates; every rank, rank 0 included, runs one worker.
    public var isCoordinator: Bool { rank == 0 }
    public var coordinatorEndpoint: String { "tcp://\(masterAddress):\(masterPort)" }
    /// All interfaces, or loopback only when the master address is a loopback one.
    public var bindEndpoint: String {
        LocalAddress.isLoopbackOnly(coordinatorEndpoint) ? coordinatorEndpoint : "tcp://0.0.0.0:\(masterPort)"
    }

    /// nil when no launcher set a world size above 1; throws when the variables contradict each other.
    public static func detect(_ environment: [String: String]) throws -> LaunchEnvironment? {
        func integer(_ name: String) throws -> Int? {
            guard let text = environment[name] else { return nil }
            guard let value = Int(text.trimmingCharacters(in: .whitespaces)) else {
                throw ClusterError("\(name)=\(text) is not a whole number")
            }
            return value
        }
        let rank = try integer("RANK") ?? integer("SLURM_PROCID")
        let world = try integer("WORLD_SIZE") ?? integer("SLURM_NTASKS")
        guard let world, world > 1 else { return nil }
        guard let rank else { throw ClusterError("WORLD_SIZE/SLURM_NTASKS is \(world) but RANK/SLURM_PROCID is not set") }
        guard (0..<world).contains(rank) else { throw ClusterError("rank \(rank) is outside 0..<\(world)") }
        guard let address = environment["MASTER_ADDR"], !address.isEmpty else {
            throw ClusterError("MASTER_ADDR is not set: it names the host of rank 0, the coordinator")
        }
        let port = try integer("MASTER_PORT") ?? 29500
        guard (1...65535).contains(port) else { throw ClusterError("MASTER_PORT=\(port) is not a TCP port") }
        let cpus = try integer("SLURM_CPUS_PER_TASK")
        if let cpus, cpus < 1 { throw ClusterError("SLURM_CPUS_PER_TASK=\(cpus) must be at least 1") }
        return LaunchEnvironment(rank: rank, worldSize: world, masterAddress: address, masterPort: port, cpusPerTask: cpus)
    }
}
