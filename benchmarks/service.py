"""The service against its ceilings, measured side by side on one machine.

    python benchmarks/service.py [--articles 3000] [--seconds 8] [--scale 10000]

1. No-op ceiling: the Health Check RPC on a server with the same settings.
2. Unary Add, closed loop (8 callers), and AddStream (2 streams), each on a fresh server.
3. The in-process engine (`Index.add`, durable store) on the same articles, one thread.
4. Add latency, open loop, at half the unary maximum.
5. At --scale articles: server resident memory per article, AddStream throughput over the
   first and the last 10,000 articles of the fill, and restart time after SIGKILL (log replay)
   and after a clean stop (snapshot).
Prints a table with the ratios and writes benchmarks/out/service.{md,json}.
"""
from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dedup.bench.runner import LoadRunner, LoadSpec, article_message  # noqa: E402
from dedup.bench.stats import summarize  # noqa: E402
from dedup.bench.workload import generated  # noqa: E402
from dedup.index import Index  # noqa: E402
from dedup.snapshot import SNAPSHOT_NAME, snapshot_bytes  # noqa: E402
from dedup.v1 import dedup_pb2 as pb  # noqa: E402
from dedup.v1 import dedup_pb2_grpc as pb_grpc  # noqa: E402
from published import publish  # noqa: E402  (benchmarks/published.py)


class SpawnedServer:
    def __init__(self, data_dir: str, *extra: str) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dedup.cli", "serve", "--data-dir", data_dir, "--listen",
             f"127.0.0.1:{self.port}", "--max-concurrent", "256", *extra],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self.started = time.monotonic()
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        grpc.channel_ready_future(self.channel).result(timeout=3600)
        self.ready_seconds = time.monotonic() - self.started
        self.stub = pb_grpc.DedupStub(self.channel)

    def rss_mb(self) -> float:
        with open(f"/proc/{self.proc.pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        self.channel.close()
        self.proc.terminate()
        self.proc.wait(120)

    def kill(self) -> None:
        self.channel.close()
        self.proc.kill()
        self.proc.wait(60)


def noop_ceiling(server: SpawnedServer, seconds: float, callers: int = 8) -> float:
    health = health_pb2_grpc.HealthStub(server.channel)
    done = [0] * callers
    stop = time.monotonic() + seconds

    def caller(k: int) -> None:
        while time.monotonic() < stop:
            health.Check(health_pb2.HealthCheckRequest())
            done[k] += 1

    threads = [threading.Thread(target=caller, args=(k,)) for k in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / seconds


def load(server: SpawnedServer, workload, spec: LoadSpec) -> dict:
    result = LoadRunner(server.stub, workload, spec, progress=None).run()
    ok = [s for s in result.measured() if s.code == "OK"]
    span = max(s.done for s in ok) - min(s.intended for s in ok)
    return {"throughput": len(ok) / span, "latency_ms": {k: v * 1000 for k, v in summarize([s.latency for s in ok]).items()},
            "errors": sum(1 for s in result.samples if s.code != "OK")}


def in_process(workload, count: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        index = Index.open(tmp)
        started = time.perf_counter()
        for i in range(count):
            index.add(workload.cycle(i)[0])
        seconds = time.perf_counter() - started
        index.close()
    return count / seconds


def scale(workload, articles: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        # A snapshot half way through the fill, as `--snapshot-every` writes them.
        server = SpawnedServer(str(data), "--snapshot-every", str(articles // 2))
        base_rss = server.rss_mb()
        started = time.perf_counter()
        requests = (pb.AddRequest(article=article_message(workload.cycle(i)[0])) for i in range(articles))
        answered = []  # when each answer came
        for response in server.stub.AddStream(requests):
            assert not response.error_code, response.error_message
            answered.append(time.perf_counter())
        fill_rate = articles / (answered[-1] - started)
        # Throughput as the index grows: the first and the last `window` answers of the fill.
        window = min(10_000, articles // 10)
        first_rate = window / (answered[window - 1] - started)
        last_rate = window / (answered[-1] - answered[-window - 1])
        marks = [started] + answered[window - 1::window]
        window_rates = [window / (b - a) for a, b in zip(marks, marks[1:])]
        rss = server.rss_mb()
        server.kill()
        server = SpawnedServer(str(data))  # after a crash: the periodic snapshot, then the rest of the log
        crash_restart_snapshot = server.ready_seconds
        assert server.stub.Stats(pb.StatsRequest()).articles == articles
        server.kill()
        (data / SNAPSHOT_NAME).unlink()
        server = SpawnedServer(str(data))  # after a crash with no snapshot: replays the whole log
        crash_restart = server.ready_seconds
        assert server.stub.Stats(pb.StatsRequest()).articles == articles
        server.stop()  # clean shutdown: saves a snapshot
        snapshot_mb = snapshot_bytes(data) / 2**20
        documents_mb = sum(f.stat().st_size for f in data.glob("*.spill")) / 2**20
        server = SpawnedServer(f"{tmp}/data")
        clean_restart = server.ready_seconds
        assert server.stub.Stats(pb.StatsRequest()).articles == articles
        server.stop()
    return {"articles": articles, "rss_mb": rss, "empty_rss_mb": base_rss,
            "bytes_per_article": (rss - base_rss) * 1024 * 1024 / articles,
            "restart_after_crash_seconds": crash_restart, "restart_after_clean_stop_seconds": clean_restart,
            "restart_after_crash_with_periodic_snapshot_seconds": crash_restart_snapshot,
            "snapshot_mb": snapshot_mb, "documents_file_mb": documents_mb,
            "stream_fill_rate": fill_rate, "window": window,
            "stream_rate_first_window": first_rate, "stream_rate_last_window": last_rate,
            "stream_rate_per_window": window_rates}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=3000, help="articles per throughput run")
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds of the no-op and latency runs")
    parser.add_argument("--scale", type=int, default=10000, help="articles for the memory and restart run (0: skip)")
    args = parser.parse_args(argv)
    workload = generated(max(100, args.articles // 3), seed=1)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        server = SpawnedServer(f"{tmp}/noop")
        rows["no-op (Health.Check), 8 callers"] = {"throughput": noop_ceiling(server, args.seconds)}
        server.stop()
        server = SpawnedServer(f"{tmp}/add")
        rows["unary Add, 8 callers"] = load(server, workload, LoadSpec(mode="add", concurrency=8, count=args.articles, warmup=0.5))
        server.stop()
        server = SpawnedServer(f"{tmp}/stream")
        rows["AddStream, 2 streams"] = load(server, workload, LoadSpec(mode="add-stream", concurrency=2, count=args.articles, warmup=0.5))
        server.stop()
        rows["in-process Index.add, 1 thread"] = {"throughput": in_process(workload, args.articles)}
        half = rows["unary Add, 8 callers"]["throughput"] / 2
        server = SpawnedServer(f"{tmp}/latency")
        rows[f"unary Add, open loop at {half:.0f}/s"] = load(
            server, workload, LoadSpec(mode="add", concurrency=32, rate=half, duration=args.seconds, warmup=1.0))
        server.stop()
    at_scale = scale(generated(max(100, args.scale // 3), seed=2), args.scale) if args.scale else None

    lines = [f"Service benchmark: {args.articles:,} generated articles per run", "",
             "| run | articles/s | p50 ms | p99 ms | errors |", "|---|---|---|---|---|"]
    for name, r in rows.items():
        lat = r.get("latency_ms", {})
        lines.append(f"| {name} | {r['throughput']:,.1f} | {lat.get('p50', float('nan')):.1f} | "
                     f"{lat.get('p99', float('nan')):.1f} | {r.get('errors', 0)} |")
    engine = rows["in-process Index.add, 1 thread"]["throughput"]
    noop = rows["no-op (Health.Check), 8 callers"]["throughput"]
    lines += ["", "| ratio | measured | target |", "|---|---|---|",
              f"| AddStream / in-process engine | {rows['AddStream, 2 streams']['throughput'] / engine:.2f} | ≥ 0.70 |",
              f"| unary Add / no-op ceiling | {rows['unary Add, 8 callers']['throughput'] / noop:.3f} | ≥ 0.50 |",
              f"| Add p99 at half the maximum rate | {rows[f'unary Add, open loop at {half:.0f}/s']['latency_ms']['p99']:.1f} ms | ≤ 25 ms |"]
    if at_scale:
        lines += ["", f"At {at_scale['articles']:,} articles: server RSS {at_scale['rss_mb']:,.0f} MB "
                      f"({at_scale['bytes_per_article']:,.0f} bytes per article over the empty server's "
                      f"{at_scale['empty_rss_mb']:,.0f} MB); restart to serving: {at_scale['restart_after_crash_seconds']:.1f} s "
                      f"after SIGKILL (whole log replayed), {at_scale['restart_after_crash_with_periodic_snapshot_seconds']:.1f} s "
                      f"after SIGKILL with a periodic snapshot at half way (snapshot + half the log), "
                      f"{at_scale['restart_after_clean_stop_seconds']:.1f} s after a clean stop (a snapshot of "
                      f"{at_scale['snapshot_mb']:,.0f} MB referring to a documents file of {at_scale['documents_file_mb']:,.0f} MB); "
                      f"filled by AddStream at {at_scale['stream_fill_rate']:,.0f} articles/s: "
                      f"{at_scale['stream_rate_first_window']:,.0f}/s over the first {at_scale['window']:,} "
                      f"and {at_scale['stream_rate_last_window']:,.0f}/s over the last {at_scale['window']:,} "
                      f"({at_scale['stream_rate_last_window'] / at_scale['stream_rate_first_window']:.2f}×); "
                      f"per {at_scale['window']:,} in order: "
                      + ", ".join(f"{r:,.0f}" for r in at_scale["stream_rate_per_window"]) + " articles/s."]
    publish("service", "\n".join(lines), {"rows": rows, "scale": at_scale})
    return 0


if __name__ == "__main__":
    sys.exit(main())
