"""Analysis workers leave with their server or `dedup cluster` run, even one killed with SIGKILL."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import json
import socket
import textwrap
import time
from pathlib import Path

import pytest


def _alive(pid: int) -> bool:
    """Whether any thread of `pid` has yet to exit. The main thread of a killed process can be
    a zombie while another of its threads still holds the process's files (a worker's socket
    to its server stays open until then), so every thread is looked at."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return False
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/status") as handle:
                if not any(state in handle.read() for state in ("State:\tZ", "State:\tX")):
                    return True
        except FileNotFoundError:
            continue  # that thread is gone
    return False


_LOADED = """
    from dedup.batch import start_analysis_pool
    pool = start_analysis_pool(Config(), 2, get_context("spawn"))
    pids = pool.pids
"""
# Killed while its workers are still starting: they load the analyser after their parent died.
_STARTING = """
    from concurrent.futures import ProcessPoolExecutor
    from dedup.batch import _load_analyzer
    pool = ProcessPoolExecutor(2, mp_context=get_context("spawn"), initializer=_load_analyzer, initargs=(Config(),))
    futures = [pool.submit(int, 0) for _ in range(2)]
    pids = list(pool._processes)
"""


@pytest.mark.parametrize("start", [_LOADED, _STARTING], ids=["loaded", "starting"])
def test_workers_of_a_killed_server_exit(start):
    script = textwrap.dedent("""
        import time
        from multiprocessing import get_context
        from dedup.config import Config
    """) + textwrap.dedent(start) + textwrap.dedent("""
        print(*pids, flush=True)
        time.sleep(120)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    workers: list[int] = []
    try:
        workers = [int(pid) for pid in parent.stdout.readline().split()]
        assert len(workers) == 2 and all(_alive(pid) for pid in workers)
        _kill_and_await_workers(parent, workers, "their server")
    finally:
        _reap(parent, workers)


def _kill_and_await_workers(parent: subprocess.Popen, workers: list[int], whose: str) -> None:
    """SIGKILL `parent`, then assert that its `workers` exit within 30 s."""
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait(timeout=10)
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in workers), f"analysis workers outlived {whose}"


def _reap(parent: subprocess.Popen, workers: list[int]) -> None:
    parent.kill()
    for pid in workers:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def _children(parent: int) -> list[int]:
    """The processes whose parent is `parent` (from /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                # The command name (field 2) may hold spaces: the parent is the second field after it.
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == parent:
                    out.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
    return out


def test_workers_of_a_killed_cluster_run_exit(tmp_path, seed_articles):
    corpus = tmp_path / "many.jsonl"
    texts = [a.text for a in seed_articles.values()]
    corpus.write_text("".join(json.dumps({"id": f"a{i}", "text": texts[i % len(texts)] + f" Copy {i}."}) + "\n"
                              for i in range(3_000)))
    run = subprocess.Popen([sys.executable, "-m", "dedup.cli", "cluster", str(corpus), "--out", str(tmp_path / "o.jsonl"),
                            "--quiet", "--workers", "2"])
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while len(workers) < 2 and time.monotonic() < deadline:
            workers = _children(run.pid)
            time.sleep(0.2)
        assert len(workers) == 2 and run.poll() is None
        _kill_and_await_workers(run, workers, "their dedup cluster run")
    finally:
        _reap(run, workers)


def _analysis_workers(server: int) -> list[int]:
    """The server's analysis workers: its children started by multiprocessing's spawn (not
    its resource tracker)."""
    out = []
    for pid in _children(server):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in command and _alive(pid):
            out.append(pid)
    return out


def test_a_servers_analysis_workers_killed_are_replaced_and_its_calls_go_on(tmp_path, seed_articles):
    """Workers killed while idle (the OOM killer, an operator) cost no call an error: the next
    calls find them gone, start others, and are answered."""
    import grpc

    from dedup.bench.crash import start_server
    from dedup.v1 import dedup_pb2 as pb
    from dedup.v1 import dedup_pb2_grpc as pb_grpc

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = start_server(str(tmp_path / "data"), port)
    killed = _analysis_workers(server.pid)
    try:
        assert len(killed) == (os.cpu_count() or 1)  # --analysis-workers: one per core
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in killed) and time.monotonic() < deadline:
            time.sleep(0.05)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.DedupStub(channel)
            for article in seed_articles.values():
                reply = stub.Add(pb.AddRequest(article=pb.Article(id=article.id, text=article.text)), timeout=60)
                assert reply.result.id == article.id
            assert [m.id for m in stub.GetCluster(pb.GetClusterRequest(id="000")).members] == ["000", "004"]
        replacements = _analysis_workers(server.pid)
        assert replacements and not set(replacements) & set(killed)
    finally:
        _reap(server, _analysis_workers(server.pid))
