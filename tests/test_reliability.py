"""Hostile input, overload, cancellation, storage faults and crash trials."""
from __future__ import annotations

import errno
import itertools
import random
import threading
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dedup.article import Article
from dedup.bench.crash import run_trial
from dedup.bench.workload import generated
from dedup.config import Config
from dedup.engine import Engine
from dedup.errors import InvalidArticle
from dedup.storage import stored_records
from dedup.v1 import dedup_pb2 as pb
from tests.test_service import Server, _article, _code

SPECIALS = ["\x00", "\u202e", "\u200f", "\u0645\u0631\u062d\u0628\u0627", "🙂", "👩‍👩‍👧", "\ufeff", "\r\n", "\t",
            "Â£", "â€™", "\x1b[31m", "&#3;", "&amp;", "\u0301", "ﬁ", "🇺🇦", "...", "\u3000", "日本語の記事"]
hostile_text = st.lists(st.one_of(st.text(max_size=60), st.sampled_from(SPECIALS)), max_size=40).map("".join)


@pytest.fixture(scope="module")
def shared_engine():
    return Engine(Config(max_text_bytes=20_000_000))


_ids = itertools.count()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=hostile_text, title=st.one_of(st.just(""), hostile_text))
def test_engine_survives_any_unicode(shared_engine, text, title):
    article_id = f"h{next(_ids)}"
    before = len(shared_engine)
    try:
        result = shared_engine.add(Article(id=article_id, text=text, title=title))
    except InvalidArticle:
        assert len(shared_engine) == before and article_id not in shared_engine
        return
    assert result.id == article_id and len(shared_engine) == before + 1
    assert shared_engine.get(article_id).cluster in shared_engine


def test_engine_still_clusters_after_hostile_input(shared_engine, seed_articles):
    for article in seed_articles.values():
        shared_engine.add(article)
    assert set(shared_engine.cluster("004").members) == {"000", "004"}


@pytest.mark.parametrize("text", [
    "a" * 10_000_000,  # one 10 MB token
    "!!! ??? ... --- ;;; " * 1000 + "word",  # punctuation and one word
    "Share\nSubscribe\nMenu\nSign in\nAdvertisement",  # nothing but chrome
    "\u202eevil right-to-left override \u202c text " * 50,
])
def test_extreme_documents_are_indexed(text):
    engine = Engine(Config(max_text_bytes=20_000_000))
    result = engine.add(Article(id="x", text=text))
    assert result.cluster == "x"
    assert engine.add(Article(id="y", text=text)).relation == "exact"


@pytest.mark.parametrize("text", ["!!! ??? ...", "\x00\x01\x02", "     ", "🙂🙂🙂"])
def test_documents_without_words_are_refused(text):
    with pytest.raises(InvalidArticle):
        Engine().add(Article(id="x", text=text))


@pytest.fixture
def server(tmp_path):
    s = Server(tmp_path / "data")
    yield s
    s.stop()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.binary(max_size=300), method=st.sampled_from(["Add", "Check", "Get", "Delete", "GetCluster"]))
def test_random_bytes_never_crash_the_server(server, payload, method):
    call = server.channel.unary_unary(f"/dedup.v1.Dedup/{method}", request_serializer=None, response_deserializer=None)
    before = server.stub.Stats(pb.StatsRequest()).articles
    try:
        call(payload, timeout=10)
    except grpc.RpcError as exc:
        assert exc.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND), exc.details()
        assert server.stub.Stats(pb.StatsRequest()).articles == before


def test_garbage_in_a_stream_is_invalid_argument(server, seed_articles):
    stream = server.channel.stream_stream("/dedup.v1.Dedup/AddStream", request_serializer=None, response_deserializer=None)
    good = pb.AddRequest(article=_article(seed_articles["000"])).SerializeToString()
    code, details = _code(lambda: list(stream(iter([good, b"\xff\xff\xff"]), timeout=10)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "not a valid" in details


def test_missing_and_out_of_range_fields(server):
    for request in (pb.AddRequest(), pb.AddRequest(article=pb.Article(text="No id given here."))):
        assert _code(lambda: server.stub.Add(request))[0] == grpc.StatusCode.INVALID_ARGUMENT
    bad_nanos = pb.Article(id="n", text="Some words here.")
    bad_nanos.published_at.seconds, bad_nanos.published_at.nanos = 0, -5
    assert _code(lambda: server.stub.Add(pb.AddRequest(article=bad_nanos)))[0] == grpc.StatusCode.INVALID_ARGUMENT
    assert server.stub.Stats(pb.StatsRequest()).articles == 0


def _slow_analysis(index, seconds: float):
    """Make the server's analysis take `seconds` longer (a big article, a busy machine)."""
    analyse = index.analyse_ahead

    def slow(articles):
        time.sleep(seconds)
        return analyse(articles)

    index.analyse_ahead = slow


def test_expired_deadline_leaves_nothing_behind(server, seed_articles):
    _slow_analysis(server.index, 0.5)
    code, _ = _code(lambda: server.stub.Add(pb.AddRequest(article=_article(seed_articles["000"])), timeout=0.2))
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED
    time.sleep(0.8)  # the server has finished analysing and found the deadline passed
    assert server.stub.Stats(pb.StatsRequest()).articles == 0
    assert not list(stored_records(server.data_dir))


def test_cancelled_stream_leaves_only_whole_articles(server, seed_articles, topic_articles):
    articles = list(seed_articles.values()) + list(topic_articles.values())
    gate = threading.Event()

    def requests():
        for i, a in enumerate(articles * 20):
            if i == 5:
                gate.set()
            yield pb.AddRequest(article=pb.Article(id=f"{i}-{a.id}", text=a.text))
            time.sleep(0.01)

    call = server.stub.AddStream(requests())
    gate.wait(10)
    time.sleep(0.05)
    call.cancel()
    time.sleep(0.5)
    stored = [r["id"] for r in stored_records(server.data_dir)]
    assert server.stub.Stats(pb.StatsRequest()).articles == len(stored)
    for article_id in stored:
        assert server.stub.Get(pb.GetRequest(id=article_id)).result.id == article_id


class FailingFile:
    """Stands in for the log file: every write fails with `error` (a full or read-only disk)."""

    def __init__(self, real, error: int):
        self.real, self.error = real, error

    def write(self, data):
        raise OSError(self.error, errno.errorcode[self.error])

    def __getattr__(self, name):
        return getattr(self.real, name)


@pytest.mark.parametrize("error,status", [(errno.ENOSPC, grpc.StatusCode.UNAVAILABLE),
                                          (errno.EROFS, grpc.StatusCode.FAILED_PRECONDITION)])
def test_storage_faults_are_reported_and_recovered(server, seed_articles, error, status):
    server.stub.Add(pb.AddRequest(article=_article(seed_articles["000"])))
    store = server.index.store
    real = store._file
    store._file = FailingFile(real, error)
    code, details = _code(lambda: server.stub.Add(pb.AddRequest(article=_article(seed_articles["004"]))))
    assert code == status and ("data directory" in details or "disk is full" in details)
    assert server.stub.Stats(pb.StatsRequest()).articles == 1  # nothing half-applied
    store._file = real  # space freed / permissions restored
    result = server.stub.Add(pb.AddRequest(article=_article(seed_articles["004"]))).result
    assert result.added and result.cluster == "000"
    assert [r["id"] for r in stored_records(server.data_dir)] == ["000", "004"]


def test_overload_is_refused_fast_and_health_stays_serving(tmp_path, seed_articles):
    s = Server(tmp_path / "d", max_concurrent_rpcs=2)
    _slow_analysis(s.index, 0.3)
    outcomes, lock = [], threading.Lock()

    def caller(k):
        started = time.monotonic()
        try:
            s.stub.Add(pb.AddRequest(article=pb.Article(id=f"o{k}", text=seed_articles["002"].text)))
            code = grpc.StatusCode.OK
        except grpc.RpcError as exc:
            code = exc.code()
        with lock:
            outcomes.append((code, time.monotonic() - started))

    try:
        threads = [threading.Thread(target=caller, args=(k,)) for k in range(24)]
        for t in threads:
            t.start()
        time.sleep(0.1)
        health = health_pb2_grpc.HealthStub(s.channel)
        assert health.Check(health_pb2.HealthCheckRequest(), timeout=2).status == health_pb2.HealthCheckResponse.SERVING
        for t in threads:
            t.join()
        refused = [t for code, t in outcomes if code == grpc.StatusCode.RESOURCE_EXHAUSTED]
        accepted = [t for code, t in outcomes if code == grpc.StatusCode.OK]
        assert len(refused) >= 16 and accepted
        assert max(refused) < 1.0  # refused at once, not queued behind the slow calls (~3.6 s of them)
        result = s.stub.Add(pb.AddRequest(article=_article(seed_articles["004"])))  # recovered
        assert result.result.added
    finally:
        s.stop()


@pytest.mark.slow
@pytest.mark.timeout(900)  # ~160 s on an idle 2-core machine; a loaded one needs more than the default 300
def test_twenty_crash_trials_lose_nothing():
    rng = random.Random(7)
    workload = generated(120, seed=7)
    for trial in range(20):
        result = run_trial(workload, rng)
        assert result.ok, f"trial {trial}: {result.problems}"
