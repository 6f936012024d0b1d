"""The gRPC service through a real server on a free port and a real channel."""
from __future__ import annotations

import html
import threading
import time

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from dedup.bench.workload import generated
from dedup.config import Config
from dedup.errors import IncompatibleIndex
from dedup.index import Index
from dedup.service.server import ServerSettings, build_server
from dedup.service.servicer import STREAM_BATCH
from dedup.storage import LOG_NAME
from dedup.v1 import dedup_pb2 as pb
from dedup.v1 import dedup_pb2_grpc as pb_grpc


class Server:
    """A started server on a temporary data directory, with a stub for it."""

    def __init__(self, data_dir, config=None, analysis_pool=None, **settings):
        self.data_dir = data_dir
        self.index = Index.open(str(data_dir), config or Config(), analysis_pool=analysis_pool)
        self.running = build_server(self.index, ServerSettings(address="127.0.0.1:0", **settings))
        self.running.server.start()
        self.address = f"127.0.0.1:{self.running.port}"
        self.channel = grpc.insecure_channel(self.address)
        self.stub = pb_grpc.DedupStub(self.channel)

    def stop(self):
        self.channel.close()
        self.running.stop(grace=1)


@pytest.fixture
def server(tmp_path):
    s = Server(tmp_path / "data")
    yield s
    s.stop()


@pytest.fixture
def stub(server):
    return server.stub


def _article(article, **extra) -> pb.Article:
    return pb.Article(id=article.id, text=article.text, **extra)


def _add_seeds(stub, seed_articles):
    return {i: stub.Add(pb.AddRequest(article=_article(a))).result for i, a in seed_articles.items()}


def _code(call) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code(), info.value.details()


def test_add_answers_relation_clusters_canonical_and_passages(stub, seed_articles):
    results = _add_seeds(stub, seed_articles)
    later = results["004"]
    assert later.added
    assert later.cluster == later.canonical == "000" and later.cluster_size == 2
    assert later.relation == pb.VERSION
    assert later.story_size == 5
    match = next(m for m in later.matches if m.id == "000")
    assert match.relation == pb.VERSION and match.shared_words >= 50
    assert any("NATO membership for Ukraine" in p.text for p in match.passages)
    for p in match.passages:
        assert seed_articles["004"].text.replace("’", "'")[p.start:p.end].split()[:1] == p.text.split()[:1]


def test_add_is_idempotent_and_check_indexes_nothing(stub, seed_articles):
    _add_seeds(stub, seed_articles)
    again = stub.Add(pb.AddRequest(article=_article(seed_articles["004"]))).result
    assert not again.added and again.cluster == "000"
    before = stub.Stats(pb.StatsRequest()).articles
    probe = pb.Article(id="probe", text=seed_articles["000"].text)
    checked = stub.Check(pb.CheckRequest(article=probe)).result
    assert checked.relation == pb.EXACT and checked.cluster == "000" and not checked.added
    assert stub.Stats(pb.StatsRequest()).articles == before == 5
    assert _code(lambda: stub.Get(pb.GetRequest(id="probe")))[0] == grpc.StatusCode.NOT_FOUND


def test_get_cluster_and_delete_repair_clusters(stub, seed_articles):
    _add_seeds(stub, seed_articles)
    got = stub.Get(pb.GetRequest(id="004"))
    assert got.article.id == "004" and got.result.cluster == "000"
    copy = stub.GetCluster(pb.GetClusterRequest(id="004", level=pb.COPY))
    assert copy.canonical == "000" and [m.id for m in copy.members] == ["000", "004"]
    assert copy.members[1].relation == pb.VERSION
    story = stub.GetCluster(pb.GetClusterRequest(id="002", level=pb.STORY))
    assert {m.id for m in story.members} == set(seed_articles)
    stub.Delete(pb.DeleteRequest(id="000"))
    assert stub.Get(pb.GetRequest(id="004")).result.cluster == "004"
    assert _code(lambda: stub.Delete(pb.DeleteRequest(id="000")))[0] == grpc.StatusCode.NOT_FOUND
    assert stub.Stats(pb.StatsRequest()).articles == 4


def test_published_at_decides_the_canonical(stub, seed_articles):
    early, late = Timestamp(seconds=1_700_000_000), Timestamp(seconds=1_700_003_600)
    stub.Add(pb.AddRequest(article=_article(seed_articles["000"], published_at=late)))
    result = stub.Add(pb.AddRequest(article=_article(seed_articles["004"], published_at=early))).result
    assert result.canonical == "004" and result.relation == pb.RELATION_UNSPECIFIED
    assert stub.Get(pb.GetRequest(id="000")).article.published_at == late


@pytest.mark.parametrize("article,fragment", [
    (pb.Article(id="a", text=""), "empty"),
    (pb.Article(id="a", text=" \n\t "), "empty"),
    (pb.Article(id="", text="Some text here."), "id is empty"),
    (pb.Article(id="bad\x00id", text="Some text here."), "control characters"),
    (pb.Article(id="x" * 600, text="Some text here."), "limit is 512"),
    (pb.Article(id="a", text="Some text.", published_at=Timestamp(seconds=10**12)), "out of range"),
    (pb.Article(id="a", html="<html><body><script>x()</script></body></html>"), "no main text"),
])
def test_invalid_articles_are_refused_and_change_nothing(stub, article, fragment):
    for call in (lambda: stub.Add(pb.AddRequest(article=article)), lambda: stub.Check(pb.CheckRequest(article=article))):
        code, details = _code(call)
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert fragment in details
    assert stub.Stats(pb.StatsRequest()).articles == 0


def _page(title: str, text: str) -> str:
    """`text` as a news page: its paragraphs inside a site's navigation, teasers and footer."""
    paragraphs = "".join(f"<p>{html.escape(line)}</p>" for line in text.splitlines() if line.strip())
    nav = "".join(f'<li><a href="/s/{i}">Section {i}</a></li>' for i in range(12))
    return (f"<html><head><title>{html.escape(title)} | Example News</title></head><body><nav><ul>{nav}</ul></nav>"
            f"<article><h1>{html.escape(title)}</h1>{paragraphs}</article>"
            "<aside><h2>Most read</h2><ul><li><a href='/x'>Storm closes schools</a></li></ul></aside>"
            "<footer>Copyright Example News</footer></body></html>")


@pytest.mark.parametrize("workers", [0, 2])
def test_html_pages_are_indexed_by_their_main_text_which_is_what_the_log_keeps(tmp_path, seed_articles, workers):
    from multiprocessing import get_context

    from dedup.batch import start_analysis_pool

    pool = start_analysis_pool(Config(), workers, get_context("spawn")) if workers else None
    pages = {i: pb.Article(id=i, html=_page(f"Seed {i}", a.text)) for i, a in seed_articles.items()}
    pages["empty"] = pb.Article(id="empty", html="<html><body><script>x()</script></body></html>")
    s = Server(tmp_path / "d", analysis_pool=pool)
    try:
        first = s.stub.Add(pb.AddRequest(article=pages["000"])).result
        assert first.added and first.cluster == "000"
        streamed = {r.id: r for r in s.stub.AddStream(pb.AddRequest(article=pages[i]) for i in ("004", "001", "empty"))}
        assert streamed["004"].result.cluster == "000" and streamed["004"].result.relation == pb.VERSION
        assert streamed["001"].result.cluster == "001" and streamed["001"].result.story == "000"
        assert streamed["empty"].error_code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
        assert "'empty'" in streamed["empty"].error_message and "send the article's text" in streamed["empty"].error_message
        got = s.stub.Get(pb.GetRequest(id="004")).article
        assert got.title == "Seed 004" and "Section 3" not in got.text and "NATO" in got.text
    finally:
        s.stop()
        if pool is not None:
            pool.shutdown()
    log = (tmp_path / "d" / LOG_NAME).read_bytes()
    assert b"Section 3" not in log and b"<p>" not in log  # the pages' text, not their HTML
    again = Server(tmp_path / "d")  # replayed from the log
    try:
        assert again.stub.Get(pb.GetRequest(id="004")).result.cluster == "000"
        assert again.stub.Stats(pb.StatsRequest()).articles == 3
    finally:
        again.stop()


def test_text_over_the_configured_limit_is_invalid(tmp_path):
    s = Server(tmp_path / "d", Config(max_text_bytes=1000))
    try:
        code, details = _code(lambda: s.stub.Add(pb.AddRequest(article=pb.Article(id="big", text="word " * 500))))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "over the limit of 1,000" in details
    finally:
        s.stop()


def test_same_id_different_text_is_already_exists_unless_replaced(stub, seed_articles):
    _add_seeds(stub, seed_articles)
    changed = pb.Article(id="004", text=seed_articles["002"].text)
    code, details = _code(lambda: stub.Add(pb.AddRequest(article=changed)))
    assert code == grpc.StatusCode.ALREADY_EXISTS and "replace" in details
    assert stub.Get(pb.GetRequest(id="004")).result.cluster == "000"  # unchanged
    replaced = stub.Add(pb.AddRequest(article=changed, replace=True)).result
    assert replaced.added and replaced.cluster == "002"  # now an exact copy of 002, seen first
    assert replaced.matches[0].id == "002" and replaced.matches[0].relation == pb.EXACT


def test_add_stream_answers_each_article_in_order_and_reports_bad_ones(stub, seed_articles):
    requests = [pb.AddRequest(article=_article(a)) for a in seed_articles.values()]
    requests.insert(2, pb.AddRequest(article=pb.Article(id="empty", text="")))
    responses = list(stub.AddStream(iter(requests)))
    assert [r.id for r in responses] == [r.article.id for r in requests]
    bad = responses[2]
    assert bad.error_code == grpc.StatusCode.INVALID_ARGUMENT.value[0] and "empty" in bad.error_message
    assert responses[-1].result.cluster == "000" and responses[-1].result.relation == pb.VERSION
    assert stub.Stats(pb.StatsRequest()).articles == 5


def test_a_long_stream_answers_as_adding_one_by_one(tmp_path):
    """More requests than one commit takes, sent at once: batches are analysed while the one
    before is indexed, and the index ends as adding the articles one at a time leaves it."""
    articles = generated(40, seed=4).articles[: 2 * STREAM_BATCH + 30]
    requests = [pb.AddRequest(article=_article(a)) for a in articles]
    requests[STREAM_BATCH + 3] = pb.AddRequest(article=pb.Article(id="empty", text=""))
    requests.append(pb.AddRequest(article=_article(articles[0])))  # a repeat: answered, not re-added
    serial = Index.open(str(tmp_path / "serial"))
    added = [serial.add(a).id for a in articles if a.id != articles[STREAM_BATCH + 3].id]
    s = Server(tmp_path / "d")
    try:
        responses = list(s.stub.AddStream(iter(requests)))
        assert [r.id for r in responses] == [r.article.id for r in requests]
        assert responses[STREAM_BATCH + 3].error_code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
        assert responses[0].result.added and not responses[-1].result.added
        assert s.stub.Stats(pb.StatsRequest()).articles == len(added)
        for article_id in added:
            want, _ = serial.get(article_id)
            got = s.stub.Get(pb.GetRequest(id=article_id)).result
            assert (got.cluster, got.story, got.canonical) == (want.cluster, want.story, want.canonical)
        assert len({serial.get(i)[0].cluster for i in added}) < len(added)  # there were copies to find
    finally:
        s.stop()
        serial.close()


def test_oversized_message_is_resource_exhausted(tmp_path):
    s = Server(tmp_path / "d", max_message_bytes=64 * 1024)
    try:
        code, _ = _code(lambda: s.stub.Add(pb.AddRequest(article=pb.Article(id="big", text="word " * 40_000))))
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert s.stub.Stats(pb.StatsRequest()).articles == 0
    finally:
        s.stop()


def test_too_many_concurrent_calls_are_resource_exhausted(tmp_path, seed_articles):
    s = Server(tmp_path / "d", max_concurrent_rpcs=1)
    release = threading.Event()

    def slow_requests():
        yield pb.AddRequest(article=_article(seed_articles["000"]))
        release.wait(10)

    try:
        stream = s.stub.AddStream(slow_requests())
        assert next(stream).result.added  # the stream now holds the only slot
        code, _ = _code(lambda: s.stub.Stats(pb.StatsRequest()))
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
        release.set()
        list(stream)
        deadline = time.monotonic() + 5
        while True:  # the slot frees as soon as the stream has ended
            try:
                assert s.stub.Stats(pb.StatsRequest()).articles == 1
                break
            except grpc.RpcError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
    finally:
        release.set()
        s.stop()


def test_bearer_token_is_required(tmp_path):
    s = Server(tmp_path / "d", token="s3cret-token")
    try:
        code, details = _code(lambda: s.stub.Stats(pb.StatsRequest()))
        assert code == grpc.StatusCode.UNAUTHENTICATED and "bearer token" in details
        code, _ = _code(lambda: s.stub.Stats(pb.StatsRequest(), metadata=[("authorization", "Bearer wrong")]))
        assert code == grpc.StatusCode.UNAUTHENTICATED
        code, _ = _code(lambda: list(s.stub.AddStream(iter([]), metadata=[("authorization", "Bearer wrong")])))
        assert code == grpc.StatusCode.UNAUTHENTICATED
        ok = s.stub.Stats(pb.StatsRequest(), metadata=[("authorization", "Bearer s3cret-token")])
        assert ok.articles == 0
        health = health_pb2_grpc.HealthStub(s.channel)  # probes need no token
        assert health.Check(health_pb2.HealthCheckRequest()).status == health_pb2.HealthCheckResponse.SERVING
    finally:
        s.stop()


def test_health_and_reflection(server):
    health = health_pb2_grpc.HealthStub(server.channel)
    reply = health.Check(health_pb2.HealthCheckRequest(service="dedup.v1.Dedup"))
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    reflect = reflection_pb2_grpc.ServerReflectionStub(server.channel)
    answers = reflect.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    names = {s.name for a in answers for s in a.list_services_response.service}
    assert {"dedup.v1.Dedup", "grpc.health.v1.Health"} <= names


def test_unexpected_failure_is_internal_without_details(server, stub, seed_articles, caplog):
    def broken(doc):
        raise RuntimeError("secret internal state")

    server.index.engine.check_document = broken
    code, details = _code(lambda: stub.Check(pb.CheckRequest(article=_article(seed_articles["000"]))))
    assert code == grpc.StatusCode.INTERNAL
    assert "secret" not in details and "server log" in details
    assert "secret internal state" in caplog.text


def test_expired_deadline_is_honoured(stub, seed_articles):
    code, _ = _code(lambda: stub.Add(pb.AddRequest(article=_article(seed_articles["000"])), timeout=0.000001))
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED


def test_restart_restores_the_same_index(tmp_path, seed_articles):
    s = Server(tmp_path / "d")
    _add_seeds(s.stub, seed_articles)
    s.stub.Delete(pb.DeleteRequest(id="003"))
    s.stub.Add(pb.AddRequest(article=pb.Article(id="tagged", text="A short note about the weather in Oslo today.",
                                                metadata={"feed": "wire-7"})))
    before = {i: s.stub.Get(pb.GetRequest(id=i)).result for i in ("000", "001", "002", "004")}
    s.stop()
    s = Server(tmp_path / "d")
    try:
        assert s.stub.Stats(pb.StatsRequest()).articles == 5
        assert dict(s.stub.Get(pb.GetRequest(id="tagged")).article.metadata) == {"feed": "wire-7"}
        for i, result in before.items():
            assert s.stub.Get(pb.GetRequest(id=i)).result == result
        assert _code(lambda: s.stub.Get(pb.GetRequest(id="003")))[0] == grpc.StatusCode.NOT_FOUND
    finally:
        s.stop()


def test_a_different_index_configuration_is_refused(tmp_path, seed_articles):
    Index.open(str(tmp_path / "d"), Config()).close()
    with pytest.raises(IncompatibleIndex, match="shingle_size: stored 4, requested 5"):
        Index.open(str(tmp_path / "d"), Config(shingle_size=5))


def test_prometheus_metrics_count_calls_by_method_and_code(tmp_path, seed_articles):
    import urllib.request

    s = Server(tmp_path / "d", metrics_port=0)
    try:
        s.stub.Add(pb.AddRequest(article=_article(seed_articles["000"])))
        _code(lambda: s.stub.Get(pb.GetRequest(id="nope")))
        list(s.stub.AddStream(iter([pb.AddRequest(article=_article(seed_articles["004"]))])))
        page = urllib.request.urlopen(f"http://127.0.0.1:{s.running.metrics_port}/metrics").read().decode()
        assert 'dedup_rpc_calls_total{code="OK",method="Add"} 1.0' in page
        assert 'dedup_rpc_calls_total{code="NOT_FOUND",method="Get"} 1.0' in page
        assert 'dedup_rpc_calls_total{code="OK",method="AddStream"} 1.0' in page
        assert 'dedup_rpc_seconds_bucket{code="OK",le="0.5",method="Add"}' in page
        assert "dedup_index_articles 2.0" in page
    finally:
        s.stop()


def test_tls_with_token(tmp_path, seed_articles):
    import subprocess

    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    s = Server(tmp_path / "d", tls_cert=cert.read_bytes(), tls_key=key.read_bytes(), token="tok")
    try:
        credentials = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        with grpc.secure_channel(s.address, credentials) as channel:
            stub = pb_grpc.DedupStub(channel)
            reply = stub.Add(pb.AddRequest(article=_article(seed_articles["000"])), metadata=[("authorization", "Bearer tok")])
            assert reply.result.added
            code, _ = _code(lambda: stub.Stats(pb.StatsRequest()))
            assert code == grpc.StatusCode.UNAUTHENTICATED
        plain = pb_grpc.DedupStub(s.channel)  # a plaintext client cannot talk to a TLS server
        code, _ = _code(lambda: plain.Stats(pb.StatsRequest(), metadata=[("authorization", "Bearer tok")], timeout=5))
        assert code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    finally:
        s.stop()


def test_a_data_directory_has_one_writer(tmp_path):
    from dedup.errors import StoreFailure

    first = Index.open(str(tmp_path / "d"))
    with pytest.raises(StoreFailure, match="in use by another dedup process"):
        Index.open(str(tmp_path / "d"))
    first.close()
    Index.open(str(tmp_path / "d")).close()  # free again once the first has closed
