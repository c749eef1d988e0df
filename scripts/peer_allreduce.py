#!/usr/bin/env python3
"""The peer of `edgedistill bench allreduce`: PyTorch's gloo all-reduce between processes (run by
developers, not CI).

    python3 scripts/peer_allreduce.py --ranks 2 --sizes 1,4,16,64 --repeats 5     # all ranks here, loopback

One rank per host or network namespace (as scripts/bench_allreduce.sh does), like
`edgedistill bench allreduce --endpoints ... --rank R`:

    python3 scripts/peer_allreduce.py --ranks 3 --rank R --master 10.77.5.1:29600 --ifname eth0 ...

Rank 0 prints one JSON line with, per buffer size, the mean time and the bus bandwidth
2(n-1)/n * bytes / time.
"""
import argparse, json, os, socket, time
import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def worker(rank, world, address, port, sizes, repeats, queue):
    os.environ.update(MASTER_ADDR=address, MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    results = []
    for mb in sizes:
        t = torch.full((int(mb * 1_000_000) // 4,), float(rank + 1))
        dist.all_reduce(t)
        total = 0.0
        for _ in range(repeats):
            dist.barrier()
            start = time.perf_counter()
            dist.all_reduce(t)
            total += time.perf_counter() - start
        mean = total / repeats
        factor = 2 * (world - 1) / world
        results.append({"megabytes": mb, "mean_ms": mean * 1000, "bus_gbps": factor * t.numel() * 4 / mean / 1e9})
    if rank == 0:
        queue.put(results)
    dist.destroy_process_group()


class Printer:
    """Stands in for the queue when this process is one rank of many."""
    def __init__(self, ranks):
        self.ranks = ranks

    def put(self, results):
        print(json.dumps({"benchmark": "peer-allreduce-gloo", "torch": torch.__version__, "ranks": self.ranks,
                          "results": results}))


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--ranks", type=int, default=2)
    p.add_argument("--sizes", default="1,4,16,64")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--rank", type=int, help="run only this rank (with --master)")
    p.add_argument("--master", help="HOST:PORT of rank 0 (with --rank)")
    p.add_argument("--ifname", help="network interface gloo uses (GLOO_SOCKET_IFNAME)")
    a = p.parse_args()
    sizes = [float(x) for x in a.sizes.split(",")]
    if a.ifname:
        os.environ["GLOO_SOCKET_IFNAME"] = a.ifname
    if a.rank is not None:
        if not a.master or ":" not in a.master:
            p.error("--rank needs --master HOST:PORT")
        host, port = a.master.rsplit(":", 1)
        worker(a.rank, a.ranks, host, int(port), sizes, a.repeats, Printer(a.ranks))
        raise SystemExit(0)
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=worker, args=(r, a.ranks, "127.0.0.1", port, sizes, a.repeats, queue))
             for r in range(a.ranks)]
    for proc in procs: proc.start()
    results = queue.get()
    for proc in procs: proc.join()
    print(json.dumps({"benchmark": "peer-allreduce-gloo", "torch": torch.__version__, "ranks": a.ranks, "results": results}))
