"""Analysis workers leave with their server or `dedup cluster` run, even one killed with SIGKILL."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import json
import textwrap
import time
from pathlib import Path

import pytest


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as handle:
            return "State:\tZ" not in handle.read()  # a zombie has exited
    except FileNotFoundError:
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
