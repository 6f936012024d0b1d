"""Kill the server with SIGKILL mid-stream: every acknowledged article survives the restart."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest

from dedup.index import Index
from dedup.snapshot import SNAPSHOT_NAME
from dedup.storage import stored_records
from dedup.config import Config
from dedup.v1 import dedup_pb2 as pb
from dedup.v1 import dedup_pb2_grpc as pb_grpc
from tests.conftest import syndicated_corpus

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(data_dir: Path, port: int, *extra: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "server.py"), "--data-dir", str(data_dir), "--listen", f"127.0.0.1:{port}", *extra],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        grpc.channel_ready_future(channel).result(timeout=60)
    finally:
        channel.close()
    return proc


@pytest.mark.slow
@pytest.mark.parametrize("snapshots", [(), ("--snapshot-every", "40")], ids=["log-only", "periodic-snapshots"])
def test_acknowledged_articles_survive_sigkill(tmp_path, seed_articles, topic_articles, snapshots):
    """With periodic snapshots the kill may land while a forked child is writing one: the
    restart must still find the port and the data directory free, and the same index."""
    articles, _ = syndicated_corpus(list(seed_articles.values()) + list(topic_articles.values()))
    data_dir, port = tmp_path / "data", _free_port()
    proc = _start(data_dir, port, *snapshots)
    acked: list[str] = []
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        stub = pb_grpc.DedupStub(channel)

        def requests():
            for round_ in range(1000):
                for a in articles:
                    yield pb.AddRequest(article=pb.Article(id=f"{round_}/{a.id}", text=a.text))

        def consume():
            try:
                for response in stub.AddStream(requests()):
                    assert not response.error_code, response.error_message
                    acked.append(response.id)
            except grpc.RpcError:
                pass  # the server died

        reader = threading.Thread(target=consume)
        reader.start()
        while len(acked) < 150:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        reader.join(10)
        channel.close()
    finally:
        if proc.poll() is None:
            proc.kill()
    if snapshots:  # written while serving (a child may finish it after the kill)
        deadline = time.monotonic() + 60
        while not (data_dir / SNAPSHOT_NAME).exists():
            assert time.monotonic() < deadline, "no periodic snapshot was written"
            time.sleep(0.05)
    stored = [r["id"] for r in stored_records(data_dir)]  # integrity: the log scans cleanly
    assert set(acked) <= set(stored)
    assert len(stored) == len(set(stored))

    proc = _start(data_dir, port)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.DedupStub(channel)
            assert stub.Stats(pb.StatsRequest()).articles == len(stored)
            served = {i: stub.Get(pb.GetRequest(id=i)).result.cluster for i in acked}
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    if snapshots:
        (data_dir / SNAPSHOT_NAME).unlink()  # the reference below replays the whole log
    # The clusters are those of a serial replay of the stored articles.
    replayed = Index.open(str(data_dir), Config())
    assert {i: replayed.engine.get(i).cluster for i in acked} == served
