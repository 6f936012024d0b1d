"""The durable index: concurrent single adds are committed together (group commit); a batch is
analysed on every worker of the pool, and may be analysed ahead of its commit."""
from __future__ import annotations

import threading
import time

import pytest

from concurrent.futures import ThreadPoolExecutor

from dedup.bench.workload import generated
from dedup.errors import IndexFull, RequestExpired
from dedup.index import ANALYSIS_CHUNK, Index


def _add_concurrently(index: Index, articles, guards=None) -> dict:
    """Start one thread per article while the write lock is held, so that every add is queued
    before any is committed; return each caller's answer (or the error it raised)."""
    answers: dict = {}

    def call(article, guard):
        try:
            answers[article.id] = index.add(article, before_commit=guard)
        except Exception as exc:  # noqa: BLE001 -- the test inspects it
            answers[article.id] = exc

    guards = guards or {}
    with index._write:
        threads = [threading.Thread(target=call, args=(a, guards.get(a.id))) for a in articles]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while len(index._queue) < len(articles):
            assert time.monotonic() < deadline, "the adds never queued"
            time.sleep(0.01)
    for t in threads:
        t.join(30)
    return answers


def test_queued_adds_are_written_once_and_each_caller_gets_its_own_answer(tmp_path, seed_articles):
    index = Index.open(str(tmp_path))
    writes = []
    append = index.store.append
    index.store.append = lambda records, expected=None: writes.append(len(records)) or append(records, expected)
    articles = list(seed_articles.values())
    answers = _add_concurrently(index, articles)
    assert writes == [len(articles)]  # one durable write for the whole group
    assert len(list(index.store.replay())) == len(articles)
    for article in articles:
        assert answers[article.id].id == article.id and answers[article.id].added
    # The answers are those of the finished group: 000 and 004 already see each other.
    assert answers["000"].cluster == answers["004"].cluster
    assert answers["000"].cluster_size == 2
    index.close(snapshot=False)


def test_an_expired_caller_is_refused_alone(tmp_path, seed_articles):
    def expired():
        raise RequestExpired("the deadline passed before the article was stored")

    index = Index.open(str(tmp_path))
    articles = list(seed_articles.values())
    answers = _add_concurrently(index, articles, guards={"002": expired})
    assert isinstance(answers["002"], RequestExpired)
    assert "002" not in index.engine
    assert sorted(index.engine.ids()) == ["000", "001", "003", "004"]
    index.close(snapshot=False)
    reopened = Index.open(str(tmp_path))
    assert sorted(reopened.engine.ids()) == ["000", "001", "003", "004"]
    reopened.close(snapshot=False)


def test_a_failed_write_fails_every_caller_of_the_group_and_changes_nothing(tmp_path, seed_articles):
    index = Index.open(str(tmp_path))

    def refuse(records, expected=None):
        raise OSError(28, "No space left on device")

    index.store.append = refuse
    answers = _add_concurrently(index, list(seed_articles.values()))
    assert all(isinstance(a, Exception) for a in answers.values())
    assert len(index.engine) == 0
    with pytest.raises(OSError):
        index.add(seed_articles["000"])
    index.close(snapshot=False)


def test_a_full_index_refuses_new_articles_before_writing_them(tmp_path, seed_articles, monkeypatch):
    import dedup.lsh as lsh

    monkeypatch.setattr(lsh, "MAX_DOCUMENTS", 3)  # numbers a band index can pack
    index = Index.open(str(tmp_path))
    articles = list(seed_articles.values())
    outcomes = index.add_many(articles[:4])
    assert [o.error is None for o in outcomes] == [True, True, True, False]
    assert isinstance(outcomes[3].error, IndexFull) and "maximum of 3 articles" in str(outcomes[3].error)
    assert index.add(articles[0]).added is False  # what is indexed still answers
    with pytest.raises(IndexFull):
        index.add(articles[4])
    assert len(list(index.store.replay())) == 3  # nothing refused reached the log
    index.close(snapshot=False)
    reopened = Index.open(str(tmp_path))
    assert sorted(reopened.engine.ids()) == sorted(a.id for a in articles[:3])
    reopened.close(snapshot=False)


def _analyser_loaded(config) -> tuple[int, bool]:
    import os

    from dedup import batch
    return os.getpid(), config in batch._analyzers


def test_the_analysis_pool_starts_every_worker_with_its_analyser_loaded():
    from multiprocessing import get_context

    from dedup.batch import start_analysis_pool
    from dedup.config import Config

    config = Config()
    with start_analysis_pool(config, 2, get_context("spawn")) as pool:
        assert len(pool.pids) == 2  # both started before the first request
        answers = [pool.submit(_analyser_loaded, config).result() for _ in range(6)]
        assert all(loaded for _, loaded in answers)


class _CountingPool(ThreadPoolExecutor):
    """A real executor that counts the analysis tasks it is given."""

    def __init__(self) -> None:
        super().__init__(2)
        self.tasks = 0

    def submit(self, *args, **kwargs):
        self.tasks += 1
        return super().submit(*args, **kwargs)


def test_a_batch_is_analysed_in_chunks_on_the_pool_and_answered_in_order(tmp_path):
    articles = generated(12, seed=5).articles[:3 * ANALYSIS_CHUNK - 2]
    articles[7] = articles[7].__class__(id="blank", text="   ")  # invalid: answered in its place
    serial = Index.open(str(tmp_path / "serial"))
    expected = [serial.add_many([a])[0] for a in articles]
    with _CountingPool() as pool:
        index = Index.open(str(tmp_path / "pooled"), analysis_pool=pool)
        outcomes = index.add_many(articles)
        assert pool.tasks == 3  # every worker takes part, not one task for the whole batch
    assert [o.id for o in outcomes] == [a.id for a in articles]
    assert isinstance(outcomes[7].error, type(expected[7].error)) and outcomes[7].error is not None
    assert [(o.result.cluster, o.result.story, o.result.relation) for o in outcomes if o.result] == \
        [(o.result.cluster, o.result.story, o.result.relation) for o in expected if o.result]
    serial.close(), index.close()


def test_a_batch_analysed_ahead_commits_as_one_given_whole(tmp_path):
    articles = generated(6, seed=2).articles
    first, second = articles[: len(articles) // 2], articles[len(articles) // 2:]
    whole = Index.open(str(tmp_path / "whole"))
    expected = whole.add_many(first) + whole.add_many(second)
    ahead = Index.open(str(tmp_path / "ahead"))
    analysing = ahead.analyse_ahead(second)  # analysed before the first batch is committed
    assert len(ahead.engine) == 0  # analysis alone changes nothing
    got = ahead.add_many(first) + ahead.add_many(analysing)
    assert [(o.id, o.result.cluster, o.result.story) for o in got] == [(o.id, o.result.cluster, o.result.story) for o in expected]
    whole.close(), ahead.close()
