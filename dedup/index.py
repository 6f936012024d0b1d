"""A durable index: the engine plus a store that every change is written to first.

This is what the service (and any long-running user) talks to. `add` is atomic: the
article is analysed, checked against the index, written durably, and only then indexed
and answered, all under one write lock, so a crash either loses an unacknowledged article
or keeps it whole. Opening an index replays the store into a fresh engine: the engine is
deterministic, so the reopened index gives the same clusters and answers.

The store is an ordered log of changes: a local file (`dedup.storage.LogStore`) or a Redis
stream shared by many replicas (`dedup.redis_store.RedisStore`). Before every read and write
the index applies what other writers appended ("catches up"), and a write is refused by the
store if anything was appended since; then the index catches up and decides again.
"""
from __future__ import annotations

import logging
import os
import secrets
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

from dedup import collector, lsh
from dedup.analysis import Document
from dedup.article import Article
from dedup.config import Config
from dedup.documents import SCREENING_SUFFIX, screening_path
from dedup.engine import ClusterView, Engine, Result
from dedup.errors import ConflictingArticle, DedupError, IndexFull, InvalidArticle, StoreFailure
from dedup.inputs import Page
from dedup.snapshot import PeriodicSnapshots, load_snapshot, save_snapshot
from dedup.storage import LogStore, StaleRead, article_record, record_article

# Files of spilled documents in the data directory (see `Index._prepare_documents_file`).
SPILL_SUFFIX = ".spill"
# Articles per analysis task: a batch is split so that every worker of the pool takes part.
ANALYSIS_CHUNK = 16

log = logging.getLogger("dedup.index")


def _new_documents_path(directory: Path) -> Path:
    """A name no earlier process used: a snapshot writer orphaned by a crash must not be able
    to publish a snapshot that refers to this process's records."""
    return directory / f"documents.{os.getpid()}-{secrets.token_hex(4)}{SPILL_SUFFIX}"


@dataclass(frozen=True)
class Outcome:
    """The answer to one article of a batch: a result, or the error that refused it."""

    id: str
    result: Result | None = None
    error: Exception | None = None  # a DedupError, or the unexpected failure of its batch


@dataclass
class _Pending:
    """An article on its way in, with how to treat it and, once committed, its outcome."""

    article: Article
    doc: Document | DedupError
    replace: bool = False
    before_commit: Callable[[], None] | None = None
    outcome: Outcome | None = None


class Analysing:
    """Articles (or HTML pages) whose analysis has started, on the analysis pool in chunks
    when there is one; a page's main text is extracted there too.

    `Index.add_many` takes one and waits for what is not done yet, so a caller can analyse its
    next batch while the current one is being indexed (`AddStream` does).
    """

    def __init__(self, articles: list[Article | Page], parts: list) -> None:
        self.articles = articles  # each page replaced by its extracted article by `documents`
        self._parts = parts  # futures, or finished lists of results

    def documents(self) -> list[Document | DedupError]:
        """Each article's document, or the error that makes it invalid, in order."""
        results = [r for part in self._parts for r in (part if isinstance(part, list) else part.result())]
        out = []
        for i, result in enumerate(results):
            if isinstance(result, tuple):  # a page: the article extracted from it, and its analysis
                extracted, result = result
                if extracted is None:
                    out.append(InvalidArticle(f"article {self.articles[i].id!r}: {result.reason}; "
                                              "send the article's text instead"))
                    continue
                self.articles[i] = extracted  # what is logged: the text, not the page
            out.append(result if isinstance(result, Document) else InvalidArticle(result.reason))
        return out


class Index:
    """Engine + store. Thread-safe: writes are serialised, analysis runs outside the lock."""

    def __init__(self, engine: Engine, store=None, analysis_pool: Executor | None = None,
                 snapshot_every: int = 0, spill_documents: bool = False) -> None:
        self.engine = engine
        self.store = store
        self.analysis_pool = analysis_pool  # process pool for analysis, owned by the caller
        # Snapshots while running (embedded store only): a crash then replays at most about
        # `snapshot_every` records instead of the whole log.
        self._snapshots = (PeriodicSnapshots(store.directory, snapshot_every)
                           if snapshot_every > 0 and isinstance(store, LogStore) else None)
        self.position = store.start if store else None  # the store position applied so far
        self._write = threading.Lock()
        self._queue_lock = threading.Lock()
        self._queue: list[_Pending] = []  # single adds waiting for the next group commit
        if store is not None:
            with self._write:
                self._restore_snapshot()
                if isinstance(store, LogStore):
                    self._prepare_documents_file(store.directory, spill_documents)
                self._catch_up(executor=analysis_pool)

    @classmethod
    def open(cls, data_dir: str, config: Config | None = None, analysis_pool: Executor | None = None,
             snapshot_every: int = 0, spill_documents: bool = True) -> "Index":
        """Open (or create) the embedded index in `data_dir`, replaying what it holds; with
        `snapshot_every`, write a snapshot in the background every that many records; with
        `spill_documents`, keep analysed documents in a scratch file there instead of RAM."""
        config = config or Config()
        return cls(Engine(config), LogStore(data_dir, config), analysis_pool, snapshot_every, spill_documents)

    @classmethod
    def open_redis(cls, url: str, config: Config | None = None, prefix: str = "dedup",
                   analysis_pool: Executor | None = None) -> "Index":
        """Join (or create) the index shared through Redis at `url` under key `prefix`."""
        from dedup.redis_store import RedisStore

        config = config or Config()
        return cls(Engine(config), RedisStore(url, config, prefix), analysis_pool)

    @property
    def config(self) -> Config:
        return self.engine.config

    def describe_store(self) -> str:
        return self.store.describe() if self.store else "memory"

    def close(self, snapshot: bool = True) -> None:
        """Close the store; with `snapshot`, first save the engine so the next start need not
        replay the whole log (see `dedup.snapshot`)."""
        if self.store is None:
            return
        with self._write:
            if self._snapshots is not None:
                self._snapshots.wait()
            if snapshot and isinstance(self.store, LogStore):
                try:
                    save_snapshot(self.store.directory, self.engine, self.position)
                except Exception as exc:  # noqa: BLE001 - the log is intact; the next start replays it
                    log.warning("could not save a snapshot in %s: %s", self.store.directory, exc)
            self.store.close()
            self.engine.close()

    def _prepare_documents_file(self, directory: Path, spill: bool) -> None:
        """With `spill`, keep the analysed documents in a file of the data directory, not in
        RAM (a restored snapshot may have reopened one already). Files no snapshot in use
        refers to are removed (this process holds the directory's lock)."""
        if spill and self.engine.documents_file is None:
            self.engine.spill_documents(_new_documents_path(directory), durable=True)
        in_use = self.engine.documents_file
        for stale in [*directory.glob(f"*{SPILL_SUFFIX}"), *directory.glob(f"*{SCREENING_SUFFIX}")]:
            if in_use is None or stale not in (in_use, screening_path(in_use)):
                stale.unlink(missing_ok=True)

    def _restore_snapshot(self) -> None:
        if not isinstance(self.store, LogStore):
            return
        directory = self.store.directory
        restored = load_snapshot(directory, self.config, self.store.end)
        if restored is None:
            return
        engine, position = restored
        try:
            engine.reopen_documents(directory, _new_documents_path(directory))
        except OSError as exc:
            log.warning("not using the snapshot: its documents file is unusable (%s); replaying the log", exc)
            return
        self.engine, self.position = engine, position

    # -- writes --------------------------------------------------------------------------

    def add(self, article: Article | Page, replace: bool = False, before_commit: Callable[[], None] | None = None) -> Result:
        """Index `article` durably and return its result (see `Engine.add` for idempotence).

        Concurrent calls are committed together (group commit): whichever caller takes the
        write lock writes, indexes and clusters every add queued by then, with one durable
        write and one clustering pass, and the others find their answers ready.
        """
        analysing = self.analyse_ahead([article])
        doc = analysing.documents()[0]
        pending = _Pending(analysing.articles[0], doc, replace, before_commit)
        with self._queue_lock:
            self._queue.append(pending)
        with self._write:
            if pending.outcome is None:
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                self._commit_each(batch)
        if pending.outcome.error is not None:
            raise pending.outcome.error
        return pending.outcome.result

    def add_many(
        self, articles: Sequence[Article] | Analysing, replace: bool = False,
        before_commit: Callable[[], None] | None = None,
    ) -> list[Outcome]:
        """Add several articles with one durable write; each gets its own outcome.

        `articles` may be an `Analysing` from `analyse_ahead`, whose analysis has started.
        `before_commit` is called just before anything is written (for example to stop when
        the caller's deadline has passed); if it raises, nothing is written or indexed.
        """
        analysing = articles if isinstance(articles, Analysing) else self.analyse_ahead(articles)
        analysed = analysing.documents()
        with self._write:
            if before_commit is not None:
                before_commit()
            return self._commit([_Pending(a, d, replace) for a, d in zip(analysing.articles, analysed)])

    def _commit_each(self, batch: list["_Pending"]) -> None:
        """Commit queued single adds; a caller whose deadline has passed is refused alone."""
        live = []
        for pending in batch:
            try:
                if pending.before_commit is not None:
                    pending.before_commit()
                live.append(pending)
            except DedupError as exc:
                pending.outcome = Outcome(pending.article.id, error=exc)
        try:
            outcomes = self._commit(live)
        except Exception as exc:  # noqa: BLE001 -- every caller of the batch gets the failure
            outcomes = [Outcome(p.article.id, error=exc) for p in live]
        for pending, outcome in zip(live, outcomes):
            pending.outcome = outcome

    def _commit(self, batch: list["_Pending"]) -> list[Outcome]:
        """Write, index and answer a batch (caller holds the write lock)."""
        while True:
            self._catch_up()
            plan = self._plan(batch)
            records = [r for step in plan if step[0] == "write" for r in step[2]]
            if not records or self.store is None:
                break
            try:
                self.position = self.store.append(records, expected=self.position)
                break
            except StaleRead:
                continue  # another replica wrote first: apply its changes and decide again
        for step in plan:
            if step[0] == "write":
                if step[4]:  # replacing
                    self.engine.delete(step[1].id)
                self.engine.index_document(step[3])
        collector.indexed(len(records))
        if records and self._snapshots is not None:
            self._snapshots.after_write(len(records), self.engine, self.position)
        # Answers are read after the whole batch is indexed: clusters are computed once per
        # batch, not once per article, and each answer already counts the batch's copies.
        return [
            Outcome(step[1].id, error=step[2]) if step[0] == "error"
            else Outcome(step[1].id, result=self.engine.get(step[1].id, added=step[0] == "write"))
            for step in plan
        ]

    def _plan(self, batch: list["_Pending"]) -> list[tuple]:
        """Decide, for each article, whether to write it, answer from the index, or refuse it."""
        plan = []
        texts: dict[str, str] = {}  # id -> text, for repeats within the batch
        writes = 0  # articles this batch will number
        for item in batch:
            article, doc = item.article, item.doc
            if isinstance(doc, DedupError):
                plan.append(("error", article, doc))
                continue
            known = texts.get(article.id)
            if known is None and article.id in self.engine:
                known = self.engine.document(article.id).text
            if known is not None and known == doc.text:
                plan.append(("same", article))
            elif known is not None and not item.replace:
                plan.append(("error", article, ConflictingArticle(
                    f"article {article.id!r} is already indexed with different text; "
                    "send it with replace=true to replace it, or use a new id")))
            elif writes >= self.engine.room:
                plan.append(("error", article, IndexFull(lsh.MAX_DOCUMENTS)))
            else:
                writes += 1
                records = ([{"op": "delete", "id": article.id}] if known is not None else []) + [article_record(article)]
                plan.append(("write", article, records, doc, known is not None))
                texts[article.id] = doc.text
        return plan

    def analyse_ahead(self, articles: Sequence[Article | Page]) -> Analysing:
        """Start analysing `articles` (and extracting the text of pages): on the analysis
        pool, split so that all its workers take part, or at once in this thread when there
        is no pool. Outside the write lock."""
        from dedup.batch import analyse_keeping_text  # shared with batch runs: one analyser per process

        articles = list(articles)
        if self.analysis_pool is None:
            return Analysing(articles, [analyse_keeping_text(self.config, articles)])
        pieces = -(-len(articles) // ANALYSIS_CHUNK)
        size = max(1, -(-len(articles) // max(1, pieces)))
        return Analysing(articles, [self.analysis_pool.submit(analyse_keeping_text, self.config, articles[i:i + size])
                                    for i in range(0, len(articles), size)])

    def _analyse(self, articles: Sequence[Article | Page]) -> list[Document | DedupError]:
        """Analyse outside the write lock (see `analyse_ahead`); invalid articles become errors."""
        return self.analyse_ahead(articles).documents()

    def delete(self, article_id: str) -> None:
        with self._write:
            while True:
                self._catch_up()
                self.engine.document(article_id)  # raises UnknownArticle
                if self.store is None:
                    break
                try:
                    self.position = self.store.append([{"op": "delete", "id": article_id}], expected=self.position)
                    break
                except StaleRead:
                    continue
            self.engine.delete(article_id)
            if self._snapshots is not None:
                self._snapshots.after_write(1, self.engine, self.position)

    # -- reads ---------------------------------------------------------------------------

    def check(self, article: Article | Page) -> tuple[Result, str]:
        """What `add` would answer, and the article's normalised text (passage offsets refer to it)."""
        doc = self._analyse([article])[0]
        if isinstance(doc, DedupError):
            raise doc
        self.refresh()
        return self.engine.check_document(doc), doc.text

    def get(self, article_id: str) -> tuple[Result, Article]:
        self.refresh()
        result = self.engine.get(article_id)
        doc = self.engine.document(article_id)
        article = Article(id=doc.id, text=doc.text, title=doc.title, source=doc.source,
                          published_at=doc.published_at, metadata=doc.metadata)
        return result, article

    def cluster(self, article_id: str, level: str = "copy") -> ClusterView:
        self.refresh()
        return self.engine.cluster(article_id, level)

    def stats(self) -> dict:
        self.refresh()
        return {**self.engine.stats(), "store": self.describe_store()}

    def refresh(self) -> None:
        """Apply what other writers have stored (only a shared store has other writers)."""
        if self.store is not None and self.store.shared:
            with self._write:
                self._catch_up()

    # -- internals -----------------------------------------------------------------------

    def _catch_up(self, executor: Executor | None = None) -> None:
        """Apply the store's changes after `position`, in order (caller holds the write lock).

        With `executor` (at start-up, a long log) analysis runs on its worker processes.
        """
        from dedup.batch import analysed  # the process pool is only needed at start-up

        positions: dict[int, object] = {}

        def items():
            for n, (position, record) in enumerate(self.store.read(self.position)):
                positions[n] = position
                yield record_article(record) if record["op"] == "add" else record

        workers = os.cpu_count() or 1 if executor is not None else 1
        for n, item in enumerate(analysed(items(), self.config, workers, executor)):
            if isinstance(item, dict):  # a delete
                if item["id"] in self.engine:
                    self.engine.delete(item["id"])
            elif isinstance(item, Document):
                if item.id in self.engine:  # replaced: the delete record came first
                    self.engine.delete(item.id)
                self.engine.index_document(item)
                collector.indexed()
            else:
                raise StoreFailure(f"a stored article can no longer be analysed: {item.reason}")
            self.position = positions.pop(n)
