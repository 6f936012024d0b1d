"""Batch clustering: analysis spread over worker processes, indexing in input order.

Analysis (normalising, segmenting, sketching) is a pure function of one article, so it runs
in a process pool; adding to the index is sequential, in input order, so a batch run gives
exactly the clusters of adding the same articles one at a time.

A large collection's analysed documents do not all fit in RAM (a news page's is tens of KB):
past `spill_after` of them they move to a scratch file, as the server keeps them, and are read
back when a candidate is verified. The clusters are the same either way.
"""
from __future__ import annotations

import multiprocessing
import os
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field

from dedup import collector
from dedup.analysis import Analyzer, Document
from dedup.article import Article
from dedup.config import Config
from dedup.engine import Engine
from dedup.errors import ConflictingArticle, InvalidArticle
from dedup.inputs import Page, Problem
from dedup.workers import AnalysisWorkers

CHUNK = 32
# Documents kept in RAM before a batch run moves them to a scratch file (~1-5 GB of them).
SPILL_AFTER = 100_000

_analyzers: dict[Config, Analyzer] = {}  # one per configuration in each worker process


def analyse_chunk(config: Config, articles: list[Article | Page | Problem]) -> list[Document | Problem]:
    """Analyse a chunk in a worker process (a process pool's or a Dask worker's), the main
    text of its HTML pages extracted first (a `Problem` given passes through)."""
    analyzer = _analyzers.get(config)
    if analyzer is None:
        analyzer = _analyzers[config] = Analyzer(config)
    return analyse_articles(analyzer, [a.article() if isinstance(a, Page) else a for a in articles])


def analyse_keeping_text(config: Config, items: list[Article | Page]) -> list:
    """`analyse_chunk` for a durable index: a page's result is a pair of the article
    extracted from it (None if it had no main text) and its document or problem, since the
    index logs the extracted text, not the page."""
    articles = [a.article() if isinstance(a, Page) else a for a in items]
    results = analyse_chunk(config, articles)
    return [(a if isinstance(a, Article) else None, r) if isinstance(item, Page) else r
            for item, a, r in zip(items, articles, results)]


def start_analysis_pool(config: Config, workers: int, mp_context=None) -> AnalysisWorkers:
    """Worker processes for a server's analysis, each with the analyser loaded before this
    returns, so the first requests do not wait for a worker to start and load (see
    `dedup.workers` for why not a `ProcessPoolExecutor`)."""
    return AnalysisWorkers(config, workers, mp_context)


def _load_analyzer(config: Config) -> None:
    parent = multiprocessing.parent_process()
    if not _analyzers and parent is not None:  # a worker's first task: from now on it leaves with its parent
        # The parent's pid from the worker's start-up data, not `os.getppid()`: a worker still
        # starting when its parent was killed already has a new parent, and would wait on it.
        threading.Thread(target=_exit_with, args=(parent.pid,), daemon=True).start()
    if config not in _analyzers:
        _analyzers[config] = Analyzer(config)
        analyse_articles(_analyzers[config], [Article(id="warm-up", text="A first article warms the analyser.")])


def _exit_with(parent: int) -> None:
    """End this worker once `parent` is gone: a server killed with SIGKILL cannot shut its
    pool down, and its workers would otherwise wait on the pool's pipe forever."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def analyse_articles(analyzer: Analyzer, articles: list[Article | Problem]) -> list[Document | Problem]:
    """Analyse articles, turning each invalid one into a `Problem` instead of failing the lot
    (a `Problem` given passes through)."""
    valid, out = [], []
    for article in articles:
        if isinstance(article, Problem):
            out.append(article)
            continue
        try:
            article.validate(analyzer.config.max_text_bytes)
            valid.append(article)
            out.append(None)
        except InvalidArticle as exc:
            out.append(Problem(article.id, str(exc)))
    docs = iter(analyzer.analyse_many(valid))
    return [next(docs) if item is None else item for item in out]


def analysed(
    items: Iterable, config: Config, workers: int, executor: Executor | None = None
) -> Iterator:
    """Each item in input order: articles and HTML pages become `Document`s (or `Problem`s
    when invalid), anything else passes through. Analysis runs in the caller for ``workers <= 1``, else on
    `workers` local processes or on `executor`."""
    if workers <= 1 and executor is None:
        for chunk in _chunks(items):
            yield from _fill(chunk, analyse_chunk(config, _articles(chunk)))
        return
    own = executor is None
    # The workers leave with this process even when it is killed (see `_load_analyzer`).
    pool = executor or ProcessPoolExecutor(workers, initializer=_load_analyzer, initargs=(config,))
    try:
        pending: deque = deque()
        for chunk in _chunks(items):
            pending.append((chunk, pool.submit(analyse_chunk, config, _articles(chunk))))
            while len(pending) > 4 * max(1, workers):
                chunk, future = pending.popleft()
                yield from _fill(chunk, future.result())
        while pending:
            chunk, future = pending.popleft()
            yield from _fill(chunk, future.result())
    finally:
        if own:
            pool.shutdown(cancel_futures=True)


def _chunks(items: Iterable) -> Iterator[list]:
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _articles(chunk: list) -> list[Article | Page]:
    return [a for a in chunk if isinstance(a, (Article, Page))]


def _fill(chunk: list, results: list) -> list:
    """`chunk` with its articles and pages replaced by their analysis results, in place order."""
    done = iter(results)
    return [next(done) if isinstance(item, (Article, Page)) else item for item in chunk]


@dataclass
class BatchRun:
    """What a batch run produced: the engine, the ids in input order, the skipped inputs."""

    engine: Engine
    ids: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def close(self) -> None:
        """Release the scratch file of the documents, if they were spilled."""
        self.engine.close()


def cluster(
    items: Iterable[Article | Page | Problem],
    config: Config | None = None,
    workers: int | None = None,
    on_progress: Callable[[int], None] | None = None,
    executor: Executor | None = None,
    spill_after: int | None = SPILL_AFTER,
    spill_dir: str | os.PathLike | None = None,
) -> BatchRun:
    """Cluster a collection; the result equals adding the valid articles one by one in order.

    Analysis runs on `workers` local processes, or on `executor` (for example a Dask
    cluster's, `dask.distributed.Client.get_executor()`); indexing stays here, in order.
    Once `spill_after` documents are indexed (None: never), they are kept in a scratch file in
    `spill_dir` (default: the system's temporary directory) instead of RAM; `BatchRun.close`
    releases it.
    """
    config = config or Config()
    run = BatchRun(Engine(config))
    workers = os.cpu_count() or 1 if workers is None else workers
    seen = set()
    spilled = False
    for item in analysed(items, config, workers, executor):
        if not spilled and spill_after is not None and len(run.engine) >= spill_after:
            run.engine.spill_documents(_scratch_path(spill_dir))
            spilled = True
        if isinstance(item, Problem):
            run.problems.append(item)
        else:
            try:
                run.engine.index_document(item)
            except ConflictingArticle as exc:
                run.problems.append(Problem(item.id, str(exc)))
            else:
                collector.indexed()
                if item.id not in seen:
                    seen.add(item.id)
                    run.ids.append(item.id)
        if on_progress is not None:
            on_progress(len(run.ids) + len(run.problems))
    return run


def _scratch_path(directory: str | os.PathLike | None) -> str:
    """A new, empty file in `directory` for the spill to take over (and unlink)."""
    handle, path = tempfile.mkstemp(prefix="dedup-documents-", suffix=".spill", dir=directory)
    os.close(handle)
    return path
