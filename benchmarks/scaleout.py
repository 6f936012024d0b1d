"""Scale-out measured: Add through the Redis store against the embedded one (1 and 2 replicas),
and `dedup cluster` on a local Dask cluster against the single-machine run.

    python benchmarks/scaleout.py [--articles 1500] [--corpus ../shared/corpora/reuters21578.jsonl]

Needs the Redis at 127.0.0.1:6379. Prints a table and writes benchmarks/out/scaleout.{md,json}.
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dedup.bench.runner import LoadRunner, LoadSpec  # noqa: E402
from dedup.bench.stats import summarize  # noqa: E402
from dedup.bench.workload import Workload, generated  # noqa: E402
from dedup.config import Config  # noqa: E402
from dedup.redis_store import RedisStore  # noqa: E402
from dedup.v1 import dedup_pb2_grpc as pb_grpc  # noqa: E402
from published import publish  # noqa: E402  (benchmarks/published.py)

REDIS = "redis://127.0.0.1:6379/0"


def spawn(store_args: list[str]) -> tuple[subprocess.Popen, grpc.Channel]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "dedup.cli", "serve", "--listen", f"127.0.0.1:{port}",
                             "--max-concurrent", "256", *store_args],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    grpc.channel_ready_future(channel).result(timeout=120)
    return proc, channel


def run_load(channels: list[grpc.Channel], workload: Workload, count: int) -> dict:
    """Adds split over the replicas (8 callers each), run at the same time."""
    results = [None] * len(channels)
    parts = [Workload(workload.articles[k::len(channels)], None, "") for k in range(len(channels))]

    def one(k: int) -> None:
        spec = LoadSpec(mode="add", concurrency=8, count=count // len(channels), warmup=0.5)
        results[k] = LoadRunner(pb_grpc.DedupStub(channels[k]), parts[k], spec, progress=None).run()

    threads = [threading.Thread(target=one, args=(k,)) for k in range(len(channels))]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.monotonic() - started
    ok = [s for r in results for s in r.measured() if s.code == "OK"]
    errors = sum(1 for r in results for s in r.samples if s.code != "OK")
    return {"throughput": sum(len(r.samples) for r in results) / seconds,
            "latency_ms": {k: v * 1000 for k, v in summarize([s.latency for s in ok]).items()}, "errors": errors}


def cluster_seconds(corpus: str, extra: list[str]) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "dedup.cli", "cluster", corpus, "--out", f"{tmp}/p.jsonl", "--quiet",
                        *extra], cwd=ROOT, check=False, stderr=subprocess.DEVNULL)
        return time.monotonic() - started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=1500)
    parser.add_argument("--corpus", help="a JSONL corpus for the Dask comparison (skipped without)")
    args = parser.parse_args(argv)
    workload = generated(max(100, args.articles // 3), seed=3)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        proc, channel = spawn(["--data-dir", f"{tmp}/embedded"])
        rows["embedded store, 1 server"] = run_load([channel], workload, args.articles)
        channel.close(), proc.terminate(), proc.wait()
    for replicas in (1, 2):
        prefix = f"bench-{uuid.uuid4().hex[:8]}"
        servers = [spawn(["--store", REDIS, "--redis-prefix", prefix]) for _ in range(replicas)]
        rows[f"Redis store, {replicas} replica{'s' * (replicas > 1)}"] = run_load([c for _, c in servers], workload, args.articles)
        for proc, channel in servers:
            channel.close(), proc.terminate(), proc.wait()
        RedisStore(REDIS, Config(), prefix).destroy()
    lines = [f"Add through the stores: {args.articles:,} generated articles, 8 callers per server", "",
             "| setup | adds/s | p50 ms | p99 ms | errors |", "|---|---|---|---|---|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['throughput']:,.1f} | {r['latency_ms']['p50']:.1f} | {r['latency_ms']['p99']:.1f} | {r['errors']} |")
    dask = None
    if args.corpus:
        single = cluster_seconds(args.corpus, [])
        on_dask = cluster_seconds(args.corpus, ["--dask", "local", "--workers", str(os.cpu_count() or 1)])
        dask = {"single_seconds": single, "dask_seconds": on_dask}
        lines += ["", f"`dedup cluster {Path(args.corpus).name}`: single machine (process pool) {single:.1f} s, "
                      f"local Dask cluster ({os.cpu_count()} worker processes) {on_dask:.1f} s "
                      f"({single / on_dask:.2f}x)."]
    publish("scaleout", "\n".join(lines), {"rows": rows, "dask": dask})
    return 0


if __name__ == "__main__":
    sys.exit(main())
