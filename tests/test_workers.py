"""The analysis workers a server talks to through their pipes (`dedup.workers`)."""
from __future__ import annotations

import gc
import operator
import os
import signal
import threading
import time

import pytest

from dedup.article import Article
from dedup.batch import analyse_chunk
from dedup.config import Config
from dedup.workers import AnalysisWorkers, WorkerLost

CONFIG = Config()


@pytest.fixture(scope="module")
def workers():
    pool = AnalysisWorkers(CONFIG, 2)
    yield pool
    pool.shutdown()


def _article(i: int) -> Article:
    return Article(id=f"a{i}", text=f"Article number {i} says something about the harbour and the ships.")


def test_one_thread_keeps_more_tasks_in_flight_than_there_are_workers(workers):
    """A batch submits ahead of what it reads: the ninth task must not wait for a worker forever."""
    tasks = [workers.submit(analyse_chunk, CONFIG, [_article(i)]) for i in range(9)]
    assert [task.result()[0].id for task in tasks] == [f"a{i}" for i in range(9)]
    assert [task.result()[0].id for task in tasks] == [f"a{i}" for i in range(9)]  # read once, kept


def test_a_tasks_exception_is_raised_by_its_result_and_the_worker_stays(workers):
    pids = workers.pids
    failing = workers.submit(operator.truediv, 1, 0)
    with pytest.raises(ZeroDivisionError):
        failing.result()
    assert workers.submit(pow, 2, 10).result() == 1024
    assert workers.pids == pids


def test_threads_submitting_at_once_each_get_their_own_answers(workers):
    answers: dict[int, list] = {}

    def submit(k: int) -> None:
        answers[k] = [workers.submit(pow, k, e).result() for e in range(12)]

    threads = [threading.Thread(target=submit, args=(k,)) for k in range(2, 10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert answers == {k: [k ** e for e in range(12)] for k in range(2, 10)}


def test_tasks_dropped_unread_free_their_workers_for_other_threads(workers):
    dropped = [workers.submit(pow, 3, 3) for _ in range(2)]  # both workers held
    del dropped
    gc.collect()
    got = []
    other = threading.Thread(target=lambda: got.append(workers.submit(pow, 2, 5).result()))
    other.start()
    other.join(30)
    assert got == [32], "a thread holding no task waited forever for workers held by dropped tasks"


def test_a_worker_killed_while_idle_is_replaced_without_failing_a_task():
    pool = AnalysisWorkers(CONFIG, 1)
    try:
        (victim,) = pool.pids
        os.kill(victim, signal.SIGKILL)
        time.sleep(0.3)
        assert pool.submit(analyse_chunk, CONFIG, [_article(1)]).result()[0].id == "a1"
        assert pool.pids != [victim]
    finally:
        pool.shutdown()


def test_a_worker_killed_mid_task_fails_only_that_task(caplog):
    pool = AnalysisWorkers(CONFIG, 1)
    try:
        (victim,) = pool.pids
        slow = pool.submit(time.sleep, 30)
        time.sleep(0.3)
        os.kill(victim, signal.SIGKILL)
        with pytest.raises(WorkerLost, match="ended"):
            slow.result()
        assert pool.submit(pow, 5, 2).result() == 25
        assert len(pool.pids) == 1 and pool.pids != [victim]
        assert f"analysis worker {victim} ended (exit code -9); worker {pool.pids[0]} replaces it" in caplog.text
    finally:
        pool.shutdown()


def test_shutdown_stops_every_worker_and_refuses_new_tasks():
    pool = AnalysisWorkers(CONFIG, 2)
    processes = list(pool._workers)
    pool.submit(pow, 2, 2).result()
    pool.shutdown()
    assert all(not w.process.is_alive() for w in processes)
    with pytest.raises(RuntimeError, match="shut down"):
        pool.submit(pow, 2, 2)


def test_a_thread_that_collects_each_task_keeps_no_record_of_it(workers):
    for i in range(50):
        workers.submit(pow, 2, i).result()
    assert len(workers._pending()) <= 1, "each submit left a reference behind: a server would grow without end"


def test_messages_larger_than_one_read_arrive_whole(workers):
    """Tasks and answers of megabytes (an article near the size limit, its analysis) are
    read in several pieces."""
    big = bytes(range(256)) * 12_000  # 3 MB each way
    assert workers.submit(bytes, big).result() == big
    long_article = Article(id="long", text=" ".join(f"word{i % 5000} harbour ships" for i in range(60_000)))
    (doc,) = workers.submit(analyse_chunk, CONFIG, [long_article]).result()
    (here,) = analyse_chunk(CONFIG, [long_article])
    assert doc.text == here.text and (doc.signature == here.signature).all() and (doc.shingles == here.shingles).all()


def _refuse_to_load():
    raise ValueError("this object does not load here")


class _Unloadable:
    """Pickles in the caller; fails to unpickle in the worker."""

    def __reduce__(self):
        return _refuse_to_load, ()


def test_a_task_the_worker_cannot_read_fails_alone(workers):
    pids = workers.pids
    with pytest.raises(RuntimeError, match="could not read its task"):
        workers.submit(pow, _Unloadable(), 2).result()
    assert workers.submit(pow, 3, 4).result() == 81
    assert workers.pids == pids


def test_a_message_is_read_whole_however_it_arrives_and_a_closed_end_is_eof():
    import pickle
    import socket

    from dedup.workers import _LENGTH, _receive

    ours, theirs = socket.socketpair()
    payload = pickle.dumps({"text": "x" * 100_000})
    message = _LENGTH.pack(len(payload)) + payload

    def trickle() -> None:  # the header a byte at a time, then the rest in uneven pieces
        for i in range(_LENGTH.size):
            theirs.sendall(message[i:i + 1])
            time.sleep(0.002)
        rest = message[_LENGTH.size:]
        for start in range(0, len(rest), 7_777):
            theirs.sendall(rest[start:start + 7_777])
        theirs.sendall(message[:3])  # a second message's header, cut off by the close
        theirs.close()

    sender = threading.Thread(target=trickle)
    sender.start()
    assert _receive(ours) == {"text": "x" * 100_000}
    sender.join()
    with pytest.raises(EOFError):
        _receive(ours)
    ours.close()
