"""The Redis store: replicas sharing one index through the real Redis at 127.0.0.1:6379."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
import uuid

import grpc
import pytest
import redis

from dedup.config import Config
from dedup.engine import Engine
from dedup.storage import record_article
from dedup.index import Index
from dedup.redis_store import RedisStore
from dedup.service.server import ServerSettings, build_server
from dedup.v1 import dedup_pb2 as pb
from dedup.v1 import dedup_pb2_grpc as pb_grpc
from tests.conftest import syndicated_corpus

REDIS_URL = "redis://127.0.0.1:6379/0"


def _redis_up(url: str) -> bool:
    try:
        return redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError:
        return False


if not _redis_up(REDIS_URL) and os.environ.get("DEDUP_REQUIRE_REDIS"):
    raise RuntimeError(f"no Redis at {REDIS_URL}, and DEDUP_REQUIRE_REDIS is set (as in CI): start redis-server")
pytestmark = pytest.mark.skipif(not _redis_up(REDIS_URL), reason=f"no Redis at {REDIS_URL} (CI starts one)")


class Replica:
    def __init__(self, url: str, prefix: str, config: Config | None = None):
        self.index = Index.open_redis(url, config or Config(), prefix)
        self.running = build_server(self.index, ServerSettings(address="127.0.0.1:0"))
        self.running.server.start()
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.running.port}")
        self.stub = pb_grpc.DedupStub(self.channel)

    def stop(self):
        self.channel.close()
        self.running.stop(grace=1)


@pytest.fixture
def prefix():
    name = f"dedup-test-{uuid.uuid4().hex[:12]}"
    yield name
    RedisStore(REDIS_URL, Config(), name).destroy()


@pytest.fixture
def replicas(prefix):
    pair = [Replica(REDIS_URL, prefix), Replica(REDIS_URL, prefix)]
    yield pair
    for r in pair:
        r.stop()


def test_an_add_through_one_replica_is_seen_through_the_other(replicas, seed_articles):
    a, b = replicas
    a.stub.Add(pb.AddRequest(article=pb.Article(id="000", text=seed_articles["000"].text)))
    checked = b.stub.Check(pb.CheckRequest(article=pb.Article(id="004", text=seed_articles["004"].text))).result
    assert checked.cluster == "000" and checked.relation == pb.VERSION
    added = b.stub.Add(pb.AddRequest(article=pb.Article(id="004", text=seed_articles["004"].text))).result
    assert added.added and added.cluster == "000"
    assert a.stub.Get(pb.GetRequest(id="004")).result.cluster == "000"
    # The same id with other text is refused through either replica.
    with pytest.raises(grpc.RpcError) as info:
        a.stub.Add(pb.AddRequest(article=pb.Article(id="004", text=seed_articles["002"].text)))
    assert info.value.code() == grpc.StatusCode.ALREADY_EXISTS


def test_concurrent_adds_through_both_replicas_give_the_serial_clusters(replicas, prefix, seed_articles, topic_articles):
    articles, _ = syndicated_corpus(list(seed_articles.values()) + list(topic_articles.values()))
    errors = []

    def feed(replica, part):
        try:
            for article in part:
                replica.stub.Add(pb.AddRequest(article=pb.Article(id=article.id, text=article.text)))
        except grpc.RpcError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=feed, args=(r, articles[k::2])) for k, r in enumerate(replicas)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    # A serial replay of the order Redis recorded, in a fresh process-local engine.
    serial = Engine(Config())
    for record in RedisStore(REDIS_URL, Config(), prefix).replay():
        serial.add(record_article(record))
    for article in articles:
        expected = serial.get(article.id)
        for r in replicas:
            got = r.stub.Get(pb.GetRequest(id=article.id)).result
            assert (got.cluster, got.story) == (expected.cluster, expected.story)


def test_a_different_configuration_is_refused(prefix):
    Index.open_redis(REDIS_URL, Config(), prefix).close()
    with pytest.raises(Exception, match="shingle_size: stored 4, requested 5"):
        Index.open_redis(REDIS_URL, Config(shingle_size=5), prefix)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_redis(port: int, directory) -> subprocess.Popen:
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory),
                             "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
                            stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not _redis_up(f"redis://127.0.0.1:{port}/0"):
        assert time.monotonic() < deadline, "redis-server did not start"
        time.sleep(0.05)
    return proc


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server binary not installed")
def test_redis_down_is_unavailable_and_replicas_recover(tmp_path, seed_articles):
    """A Redis of our own (persistent, on a free port) is stopped mid-run and started again."""
    port = _free_port()
    own = _start_redis(port, tmp_path)
    replica = Replica(f"redis://127.0.0.1:{port}/0", "outage")
    try:
        replica.stub.Add(pb.AddRequest(article=pb.Article(id="000", text=seed_articles["000"].text)))
        own.terminate()
        own.wait(10)
        for call in (lambda: replica.stub.Add(pb.AddRequest(article=pb.Article(id="004", text=seed_articles["004"].text))),
                     lambda: replica.stub.Get(pb.GetRequest(id="000"))):
            with pytest.raises(grpc.RpcError) as info:
                call()
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "cannot reach Redis" in info.value.details()
        own = _start_redis(port, tmp_path)
        added = replica.stub.Add(pb.AddRequest(article=pb.Article(id="004", text=seed_articles["004"].text))).result
        assert added.added and added.cluster == "000"  # nothing was half-written during the outage
        assert [r["id"] for r in RedisStore(f"redis://127.0.0.1:{port}/0", Config(), "outage").replay()] == ["000", "004"]
    finally:
        replica.stop()
        own.terminate()
        own.wait(10)
