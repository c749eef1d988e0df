import Foundation
import XCTest
import Collective

/// cluster/launch.sh: the commands a hosts file turns into (--dry-run), and hosts-file mistakes.
final class ClusterLaunchTests: CLITestCase {
    private func launch(_ arguments: [String], hosts: String) throws -> Result {
        let file = scratch.appendingPathComponent("hosts.txt")
        try hosts.write(to: file, atomically: true, encoding: .utf8)
        return try runToEnd(URL(fileURLWithPath: "/bin/bash"),
                            [Self.packageRoot.appendingPathComponent("cluster/launch.sh").path, "--hosts", file.path] + arguments,
                            environment: ["EDGEDISTILL_BIN": "/opt/edgedistill/bin/edgedistill", "EDGEDISTILL_JOIN_TOKEN": "t0k"],
                            directory: scratch)
    }

    func testDryRunStartsTheCoordinatorOnTheFirstHostAndSlotsWorkersPerHost() throws {
        let hosts = """
            # lab machines
            node01 slots=2   # coordinator too

            alice@10.0.0.2
            node03\tslots=1
            """
        let result = try launch(["--threads", "4", "--insecure", "--dry-run", "--port", "29555",
                                 "--config", "configs/sst2.yaml", "--profile", "quick", "--out", "runs/a b"], hosts: hosts)
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        let cwd = scratch.path
        let bin = "/opt/edgedistill/bin/edgedistill"
        let worker = "\(bin) worker --connect tcp://node01:29555 --threads 4 --token t0k'"
        XCTAssertEqual(lines, [
            "ssh -o BatchMode=yes node01 'cd \(cwd) && exec \(bin) coordinator --bind tcp://node01:29555 --workers 4 "
                + "--insecure --token t0k --config configs/sst2.yaml --profile quick --out runs/a\\ b'",
            "ssh -o BatchMode=yes node01 'cd \(cwd) && exec \(worker)",
            "ssh -o BatchMode=yes node01 'cd \(cwd) && exec \(worker)",
            "ssh -o BatchMode=yes alice@10.0.0.2 'cd \(cwd) && exec \(worker)",
            "ssh -o BatchMode=yes node03 'cd \(cwd) && exec \(worker)",
        ])
    }

    func testKeysGoToCoordinatorAndWorkers() throws {
        let result = try launch(["--keys", "/etc/ed", "--dry-run", "--seed", "7"], hosts: "a\nb\n")
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 3)
        XCTAssertTrue(lines[0].contains("coordinator --bind tcp://a:29400 --workers 2 --secret-key /etc/ed/coordinator.key "
                                        + "--authorized-keys /etc/ed/authorized --seed 7'"), lines[0])
        XCTAssertTrue(lines[2].hasPrefix("ssh -o BatchMode=yes b "), lines[2])
        XCTAssertTrue(lines[2].hasSuffix("worker --connect tcp://a:29400 --secret-key /etc/ed/worker.key "
                                         + "--coordinator-key /etc/ed/coordinator.pub'"), lines[2])
    }

    func testHostsFileMistakesNameTheFileAndLine() throws {
        let cases: [(String, String)] = [
            ("a\n# ok\nb slots=two\n", "hosts.txt:3: slots must be a positive integer, not 'two'"),
            ("a slots=0\n", "hosts.txt:1: slots must be a positive integer, not '0'"),
            ("a\nb cores=2\n", "hosts.txt:2: unknown field 'cores=2'"),
            ("a\nb\na slots=2\n", "hosts.txt:3: host 'a' is already listed on line 1"),
            ("slots=2\n", "hosts.txt:1: 'slots=2' is not a host name or address"),
            ("# nothing\n\n", "lists no hosts"),
        ]
        for (hosts, message) in cases {
            let result = try launch(["--dry-run", "--insecure"], hosts: hosts)
            XCTAssertEqual(result.status, 2, "\(hosts): \(result.stdout)")
            XCTAssertTrue(result.stderr.contains(message), "\(hosts): expected '\(message)', got: \(result.stderr)")
            XCTAssertEqual(result.stdout, "", "nothing is printed or started for a bad hosts file")
        }
    }

    func testLaunchRunsEveryCommandAndReportsTheFirstFailure() throws {
        // A stand-in for ssh that runs the remote line locally, so the real launch path is exercised.
        let fakeSSH = scratch.appendingPathComponent("fake-ssh")
        try "#!/bin/sh\nshift\nexec /bin/bash -c \"$1\"\n".write(to: fakeSSH, atomically: true, encoding: .utf8)
        chmod(fakeSSH.path, 0o755)
        let file = scratch.appendingPathComponent("hosts.txt")
        try "localhost slots=2\n".write(to: file, atomically: true, encoding: .utf8)
        for (binary, status) in [("/bin/echo", Int32(0)), ("/bin/false", Int32(1))] {
            let result = try runToEnd(URL(fileURLWithPath: "/bin/bash"),
                                      [Self.packageRoot.appendingPathComponent("cluster/launch.sh").path, "--hosts", file.path,
                                       "--ssh", fakeSSH.path, "--insecure", "--", "--seed", "3"],
                                      environment: ["EDGEDISTILL_BIN": binary])
            let stdout = result.stdout, stderr = result.stderr
            XCTAssertEqual(result.status, status, stderr)
            if status == 0 {
                XCTAssertTrue(stdout.contains("[coordinator@localhost] coordinator --bind tcp://localhost:29400 --workers 2 --insecure --token "), stdout)
                XCTAssertTrue(stdout.contains("[worker@localhost#1] worker --connect tcp://localhost:29400 --token "), stdout)
            } else {
                XCTAssertTrue(stderr.contains("exited with status 1; stopping the others"), stderr)
            }
        }
    }
}

/// cluster/edgedistill.sbatch run as Slurm would run it, with stand-ins for `srun` (every task
/// started here with its SLURM_PROCID) and `scontrol`: the documented command works as it is
/// (a CURVE keypair is made for the job and removed after), and a task's worker takes no more
/// threads than its --cpus-per-task.
final class SlurmScriptTests: CLITestCase {
    func testTheDocumentedSbatchCommandRunsWithPerJobKeysAndTheTasksCPUs() throws {
        let bin = scratch.appendingPathComponent("fakebin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        try "#!/bin/bash\necho 127.0.0.1\n".write(to: bin.appendingPathComponent("scontrol"), atomically: true, encoding: .utf8)
        try """
            #!/bin/bash
            shift   # --kill-on-bad-exit=1
            pids=()
            for ((i = 0; i < SLURM_NTASKS; i++)); do SLURM_PROCID=$i "$@" & pids+=($!); done
            status=0
            for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
            exit $status
            """.write(to: bin.appendingPathComponent("srun"), atomically: true, encoding: .utf8)
        for tool in ["scontrol", "srun"] { chmod(bin.appendingPathComponent(tool).path, 0o755) }
        let out = scratch.appendingPathComponent("slurm-run").path
        // The run asks for 2 threads; Slurm gave each task 1 CPU.
        var arguments = try tinyRunOptions(out: out, seed: 9, epochs: 1)
        if let index = arguments.firstIndex(of: "--threads") { arguments[index + 1] = "2" }
        let environment = [
            "PATH": bin.path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"),
            "SLURM_JOB_ID": "4242", "SLURM_JOB_NODELIST": "node1", "SLURM_SUBMIT_DIR": scratch.path,
            "SLURM_NTASKS": "2", "SLURM_JOB_NUM_NODES": "1", "SLURM_CPUS_PER_TASK": "1",
            "MASTER_PORT": String(try LoopbackPort.free()), "EDGEDISTILL_BIN": try binary().path,
            "EDGEDISTILL_JOIN_TOKEN": "",
        ]
        let result = try runToEnd(URL(fileURLWithPath: "/bin/bash"),
                                  [Self.packageRoot.appendingPathComponent("cluster/edgedistill.sbatch").path] + arguments,
                                  environment: environment, directory: scratch)
        let output = result.stdout + result.stderr
        XCTAssertEqual(result.status, 0, output)
        XCTAssertTrue(output.contains("(CURVE)"), output)
        XCTAssertTrue(output.contains("CURVE, 1 authorized worker keys"), output)
        XCTAssertTrue(output.contains("ring 1 of 2 worker(s)"), output)
        XCTAssertFalse(output.contains("2 thread(s)"), "a worker took more threads than its task's CPUs: \(output)")
        XCTAssertTrue(output.contains("(1 thread(s))"), output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/report.json"), output)
        let keys = scratch.appendingPathComponent(".edgedistill/keys-4242").path
        XCTAssertFalse(FileManager.default.fileExists(atPath: keys), "the job's keys are removed at the end")
    }
}
