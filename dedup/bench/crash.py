"""Crash-consistency trials: stream Adds from several clients, SIGKILL the server, check.

Each trial starts `dedup serve` on a data directory, streams articles from `clients`
concurrent AddStream calls, kills the server with SIGKILL at a random moment, restarts it
and checks that
- every acknowledged article is stored, exactly once (the log scans cleanly: integrity),
- the restarted server serves every stored article, and its clusters equal those of a
  serial replay of the stored articles in a fresh in-process index.
Used by tests (20 trials) and by `benchmarks/crash.py` (hundreds).
"""
from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass

import grpc

from dedup.bench.runner import article_message
from dedup.bench.workload import Workload
from dedup.engine import Engine
from dedup.storage import record_article, stored_records
from dedup.v1 import dedup_pb2 as pb
from dedup.v1 import dedup_pb2_grpc as pb_grpc

# A restarted server that does not answer a read within this is a finding, not a hang.
_RPC_SECONDS = 30.0


@dataclass(frozen=True)
class TrialResult:
    acknowledged: int
    stored: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir: str, port: int, timeout: float = 120.0) -> subprocess.Popen:
    """Start `dedup serve` and wait until it serves; a server that exits first, or does
    not serve in `timeout` seconds, raises with the end of what it printed."""
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [sys.executable, "-m", "dedup.cli", "serve", "--data-dir", data_dir, "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=log,
    )
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        ready = grpc.channel_ready_future(channel)
        while True:
            try:
                ready.result(timeout=0.25)
                return proc
            except grpc.FutureTimeoutError:
                pass
            if proc.poll() is None and time.monotonic() < deadline:
                continue
            ready.cancel()
            problem = (f"exited with status {proc.returncode}" if proc.poll() is not None
                       else f"did not serve within {timeout:.0f} s")
            proc.kill()
            proc.wait()
            log.seek(0)
            printed = log.read().decode("utf-8", "replace").strip().splitlines()[-15:]
            raise RuntimeError(f"the server on port {port} {problem}; it printed:\n" + "\n".join(printed))


def run_trial(workload: Workload, rng: random.Random, clients: int = 3, data_dir: str | None = None) -> TrialResult:
    with tempfile.TemporaryDirectory(prefix="dedup-crash-") as tmp:
        data_dir = data_dir or f"{tmp}/data"
        port = _free_port()
        proc = start_server(data_dir, port)
        acked: list[str] = []
        lock = threading.Lock()
        offset = rng.randrange(1_000_000)

        def client(k: int) -> None:
            def requests():
                for i in range(k, 100_000, clients):
                    article = workload.cycle(offset + i)[0]
                    yield pb.AddRequest(article=article_message(article))

            try:
                with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                    for response in pb_grpc.DedupStub(channel).AddStream(requests()):
                        if not response.error_code:
                            with lock:
                                acked.append(response.id)
            except grpc.RpcError:
                pass  # the server was killed

        threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.2, 1.5))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        for t in threads:
            t.join(30)
        with lock:
            acknowledged = list(acked)
        return _check(data_dir, port, acknowledged)


def _check(data_dir: str, port: int, acknowledged: list[str]) -> TrialResult:
    problems = []
    try:
        records = list(stored_records(data_dir))
    except Exception as exc:  # noqa: BLE001 - any failure to read the log is the finding
        return TrialResult(len(acknowledged), 0, (f"log does not scan: {exc}",))
    stored = [r["id"] for r in records if r["op"] == "add"]
    if len(stored) != len(set(stored)):
        problems.append("an article is stored twice")
    missing = set(acknowledged) - set(stored)
    if missing:
        problems.append(f"{len(missing)} acknowledged articles lost, e.g. {sorted(missing)[:3]}")
    serial = Engine()
    for record in records:
        serial.add(record_article(record))
    proc = start_server(data_dir, port)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.DedupStub(channel)
            if stub.Stats(pb.StatsRequest(), timeout=_RPC_SECONDS).articles != len(stored):
                problems.append("the restarted server holds a different number of articles")
            for article_id in stored:
                served = stub.Get(pb.GetRequest(id=article_id), timeout=_RPC_SECONDS).result
                expected = serial.get(article_id)
                if (served.cluster, served.story) != (expected.cluster, expected.story):
                    problems.append(f"{article_id}: served clusters differ from a serial replay")
                    break
    except grpc.RpcError as exc:
        problems.append(f"the restarted server did not answer: {exc.code().name} {exc.details()}")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            if proc.wait(60) != 0:
                problems.append("the server did not shut down cleanly")
        except subprocess.TimeoutExpired:
            proc.kill()
            problems.append("the server did not stop within 60 s of SIGTERM")
    return TrialResult(len(acknowledged), len(stored), tuple(problems))
