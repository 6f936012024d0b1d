"""Driving a server: closed-loop (N callers) or open-loop (fixed arrival rate) load.

Latency is measured from each request's *intended* send time. In open-loop mode requests
are scheduled at ``start + i / rate`` whatever happened to earlier ones, so a slow server
shows up as latency instead of as fewer requests (no coordinated omission).
"""
from __future__ import annotations

import itertools
import queue
import random
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import grpc

from dedup.article import Article
from dedup.bench.workload import Workload, as_page
from dedup.inputs import Page
from dedup.v1 import dedup_pb2 as pb

MODES = ("add", "add-stream", "check", "mix")
# Articles a stream may have sent and not yet seen answered (closed loop keeps this many in flight).
STREAM_WINDOW = 32


@dataclass
class Sample:
    intended: float  # when the request was meant to be sent (monotonic seconds)
    done: float
    code: str  # gRPC status name, "OK" on success
    warmup: bool

    @property
    def latency(self) -> float:
        return self.done - self.intended


@dataclass
class RunResult:
    samples: list[Sample] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0
    added: dict[str, str | None] = field(default_factory=dict)  # acknowledged id -> truth

    def measured(self) -> list[Sample]:
        return [s for s in self.samples if not s.warmup]


@dataclass(frozen=True)
class LoadSpec:
    mode: str = "add"
    concurrency: int = 8
    rate: float | None = None  # requests per second (open loop); None: closed loop
    duration: float | None = None  # seconds; or
    count: int | None = None  # requests
    warmup: float = 1.0  # seconds excluded from the statistics
    seed: int = 0
    html: bool = False  # send each article as an HTML page (`workload.as_page`)


def article_message(article: Article | Page, html: bool = False) -> pb.Article:
    """The request's article: a page's HTML as it is; an article's text, or with `html` the
    article inside a generated page (`as_page`)."""
    if isinstance(article, Page):
        fields = article.fields
        msg = pb.Article(id=article.id, html=article.html, title=fields.get("title") or "",
                         source=fields.get("source") or "")
        published = fields.get("published_at")
    else:
        if html:
            msg = pb.Article(id=article.id, html=as_page(article), source=article.source)
        else:
            msg = pb.Article(id=article.id, text=article.text, title=article.title, source=article.source)
        published = article.published_at
    if published is not None:
        msg.published_at.FromDatetime(published)
    return msg


class LoadRunner:
    def __init__(self, stub, workload: Workload, spec: LoadSpec, metadata=(), progress=sys.stderr) -> None:
        if spec.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {spec.mode!r}")
        if spec.duration is None and spec.count is None:
            raise ValueError("give a duration or a count")
        self.stub, self.workload, self.spec = stub, workload, spec
        self.metadata = tuple(metadata)
        self.progress = progress
        self.result = RunResult()
        self._lock = threading.Lock()
        self._next = itertools.count()
        self._rng = random.Random(spec.seed)
        self._stop = threading.Event()

    # -- running ------------------------------------------------------------------------

    def run(self) -> RunResult:
        if self.spec.mode == "check":
            self._preload()
        self.result.started = time.monotonic()
        ticker = threading.Thread(target=self._report_progress, daemon=True)
        ticker.start()
        try:
            if self.spec.mode == "add-stream":
                self._run_streams()
            elif self.spec.rate:
                self._run_open_loop()
            else:
                self._run_closed_loop()
        finally:
            self.result.finished = time.monotonic()
            self._stop.set()
            ticker.join()
        return self.result

    def _take(self) -> int | None:
        """The next request number, or None when the run is over."""
        i = next(self._next)
        if self.spec.count is not None and i >= self.spec.count:
            return None
        if self.spec.duration is not None and time.monotonic() - self.result.started >= self.spec.duration:
            return None
        return i

    def _intended(self, i: int) -> float:
        return self.result.started + i / self.spec.rate

    def _record(self, intended: float, code: str, article_id: str | None = None, truth=None) -> None:
        done = time.monotonic()
        warm = intended - self.result.started < self.spec.warmup
        with self._lock:
            self.result.samples.append(Sample(intended, done, code, warm))
            if article_id is not None and code == "OK":
                self.result.added[article_id] = truth

    def _call(self, i: int, intended: float) -> None:
        article, truth = self.workload.cycle(i)
        mode = self.spec.mode
        if mode == "mix":
            mode = "check" if self._rng.random() < 0.5 else "add"
        try:
            if mode == "check":
                probe = article_message(article, self.spec.html)
                probe.id = f"probe-{i}"
                self.stub.Check(pb.CheckRequest(article=probe), metadata=self.metadata)
                self._record(intended, "OK")
            else:
                self.stub.Add(pb.AddRequest(article=article_message(article, self.spec.html)), metadata=self.metadata)
                self._record(intended, "OK", article.id, truth)
        except grpc.RpcError as exc:
            self._record(intended, exc.code().name)

    def _run_closed_loop(self) -> None:
        def caller():
            while (i := self._take()) is not None:
                self._call(i, time.monotonic())

        threads = [threading.Thread(target=caller) for _ in range(self.spec.concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def _run_open_loop(self) -> None:
        with ThreadPoolExecutor(max_workers=self.spec.concurrency) as pool:
            while (i := self._take()) is not None:
                intended = self._intended(i)
                delay = intended - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                pool.submit(self._call, i, intended)

    def _run_streams(self) -> None:
        def one_stream():
            sent: queue.Queue = queue.Queue()
            window = threading.Semaphore(STREAM_WINDOW)

            def requests():
                while window.acquire() and (i := self._take()) is not None:
                    intended = self._intended(i) if self.spec.rate else time.monotonic()
                    delay = intended - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    article, truth = self.workload.cycle(i)
                    sent.put((intended, article.id, truth))
                    yield pb.AddRequest(article=article_message(article, self.spec.html))

            try:
                for response in self.stub.AddStream(requests(), metadata=self.metadata):
                    intended, article_id, truth = sent.get()
                    window.release()
                    code = "OK" if not response.error_code else _CODES.get(
                        response.error_code, grpc.StatusCode.UNKNOWN).name
                    self._record(intended, code, article_id, truth)
            except grpc.RpcError as exc:
                while not sent.empty():
                    intended, _, _ = sent.get()
                    self._record(intended, exc.code().name)

        threads = [threading.Thread(target=one_stream) for _ in range(self.spec.concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def _preload(self) -> None:
        """For check mode: index the workload first (not measured)."""
        count = len(self.workload.articles)
        requests = (pb.AddRequest(article=article_message(self.workload.cycle(i)[0], self.spec.html)) for i in range(count))
        for response in self.stub.AddStream(requests, metadata=self.metadata):
            pass

    def _report_progress(self) -> None:
        if self.progress is None:
            return
        live = self.progress.isatty()
        while not self._stop.wait(1.0):
            with self._lock:
                samples = self.result.samples[-2000:]
                total = len(self.result.samples)
                errors = sum(1 for s in self.result.samples if s.code != "OK")
            elapsed = time.monotonic() - self.result.started
            recent = sorted(s.latency for s in samples)
            p99 = recent[int(0.99 * (len(recent) - 1))] * 1000 if recent else 0.0
            line = f"{elapsed:6.1f} s  {total:,} done  {total / max(elapsed, 1e-9):,.0f}/s  p99 {p99:.1f} ms  errors {errors:,}"
            self.progress.write(("\r" + line) if live else line + "\n")
            self.progress.flush()
        if live:
            self.progress.write("\n")


_CODES = {code.value[0]: code for code in grpc.StatusCode}
