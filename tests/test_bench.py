"""The load-test harness itself: statistics, the open-loop schedule, and a real short run."""
from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest

from dedup.article import Article
from dedup.bench.cli import main, parse_args, stories_for
from dedup.bench.runner import LoadRunner, LoadSpec, article_message
from dedup.bench.stats import histogram, percentile, summarize
from dedup.bench.workload import as_page, from_corpus, generated


@pytest.mark.parametrize("p", [0, 10, 50, 90, 99, 99.9, 100])
def test_percentiles_match_numpy_on_known_samples(p):
    values = sorted(np.random.default_rng(1).exponential(size=1001).tolist())
    assert percentile(values, p) == pytest.approx(float(np.percentile(values, p)))


def test_percentiles_of_a_small_known_sample():
    values = [1.0, 2.0, 3.0, 4.0]
    assert percentile(values, 50) == 2.5
    assert percentile(values, 0) == 1.0 and percentile(values, 100) == 4.0
    assert summarize(values)["max"] == 4.0 and summarize(values)["mean"] == 2.5


def test_histogram_counts_every_sample():
    values = [0.001 * (i + 1) for i in range(500)]
    assert sum(n for _, _, n in histogram(values)) == 500


class SlowStub:
    """A stand-in server answering Add after a fixed service time (for the schedule only)."""

    def __init__(self, service_time: float) -> None:
        self.service_time = service_time
        self.sent: list[float] = []
        self._lock = threading.Lock()

    def Add(self, request, metadata=()):
        with self._lock:
            self.sent.append(time.monotonic())
        time.sleep(self.service_time)


def test_open_loop_sends_on_schedule_and_measures_from_the_intended_time():
    stub = SlowStub(service_time=0.05)
    spec = LoadSpec(mode="add", rate=100, count=50, concurrency=2, warmup=0)
    result = LoadRunner(stub, generated(20), spec, progress=None).run()
    # Two workers at 50 ms each serve 40/s: requests queue, and latency shows the queueing.
    latencies = sorted(s.latency for s in result.samples)
    assert len(latencies) == 50
    assert latencies[-1] > 0.3  # the last requests waited ~0.7 s behind their intended time
    intended = sorted(s.intended for s in result.samples)
    gaps = np.diff(intended)
    assert np.allclose(gaps, 0.01, atol=1e-9)  # the schedule ignores the server's pace


def test_closed_loop_measures_service_time():
    stub = SlowStub(service_time=0.02)
    result = LoadRunner(stub, generated(20), LoadSpec(mode="add", count=20, concurrency=2, warmup=0), progress=None).run()
    assert all(0.015 < s.latency < 0.2 for s in result.samples)


@pytest.mark.slow
def test_spawned_run_completes_without_errors(tmp_path, capsys):
    report = tmp_path / "report.html"
    assert main(["--spawn", "--mode", "add-stream", "--count", "300", "--concurrency", "2", "--warmup", "0",
                 "--stories", "60", "--json", "--report", str(report)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["measured"] == 300 and summary["errors"] == {}
    assert summary["throughput"] > 0 and summary["latency_ms"]["p99"] >= summary["latency_ms"]["p50"]
    assert summary["quality"]["recall"] > 0.9 and summary["quality"]["precision"] > 0.9
    page = report.read_text()
    assert "<svg" in page and "dedup-bench" in page


@pytest.mark.slow
def test_a_run_of_html_pages_finds_the_copies_inside_them(capsys):
    assert main(["--spawn", "--mode", "add", "--count", "200", "--concurrency", "4", "--warmup", "0",
                 "--stories", "60", "--html", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["measured"] == 200 and summary["errors"] == {} and "HTML pages" in summary["workload"]
    assert summary["quality"]["recall"] > 0.9 and summary["quality"]["precision"] > 0.9


def test_a_page_holds_the_article_text_inside_the_site_chrome():
    article = Article(id="a", text="First paragraph of the story.\n\nSecond one, with <b> & more.",
                      title="Big news", source="example.org")
    page = as_page(article)
    assert "<p>Second one, with &lt;b&gt; &amp; more.</p>" in page and "<h1>Big news</h1>" in page
    assert "<title>Big news | example.org</title>" in page and "<nav>" in page and "<footer>" in page
    assert "<h1>" not in as_page(Article(id="b", text="Untitled story."))


def test_a_corpus_of_pages_is_sent_as_its_html_with_html_and_as_text_without(tmp_path):
    page = "<html><head><title>Flood</title></head><body><article><p>The river rose overnight.</p></article></body></html>"
    (tmp_path / "flood.html").write_text(page, encoding="utf-8")
    (tmp_path / "note.txt").write_text("A plain text article.", encoding="utf-8")
    as_pages = from_corpus(str(tmp_path), pages=True)
    sent = {m.id: m for m in (article_message(as_pages.cycle(i)[0], html=True) for i in range(4))}
    assert sent["flood.html"].html == page and not sent["flood.html"].text
    assert sent["flood.html#1"].html == page  # the second round: the same page under a new id
    assert "A plain text article." in sent["note.txt"].html and "<nav>" in sent["note.txt"].html
    as_text = article_message(from_corpus(str(tmp_path)).cycle(0)[0])
    assert as_text.id == "flood.html" and "The river rose overnight." in as_text.text and not as_text.html


@pytest.mark.slow
def test_a_run_that_ends_inside_its_warm_up_says_nothing_was_measured(capsys):
    assert main(["--spawn", "--mode", "add", "--count", "10", "--warmup", "60", "--stories", "10", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["measured"] == 0
    assert "every request fell in the 60 s warm-up" in captured.err and "--warmup 0" in captured.err


@pytest.mark.parametrize("argv", [["--count", "5000"], ["--rate", "150", "--duration", "30"], ["--duration", "5"]])
def test_the_default_workload_is_large_enough_that_no_article_is_sent_twice(argv):
    """Past its end a workload is resent as exact copies, which makes a long run measure ever
    larger clusters instead of the service."""
    args = parse_args(["--spawn", *argv])
    requests = args.count or args.duration * (args.rate or 600)
    assert len(generated(stories_for(args)).articles) >= requests
    assert stories_for(parse_args(["--spawn", *argv, "--stories", "40"])) == 40


def test_generated_copies_arrive_close_to_their_story_not_spread_over_the_run():
    workload = generated(3000, seed=4)
    where: dict[str, list[int]] = {}
    for i, article in enumerate(workload.articles):
        where.setdefault(workload.truth[article.id], []).append(i)
    spans = sorted(max(p) - min(p) for p in where.values() if len(p) > 1)
    assert len(workload.articles) > 8000 and len(spans) > 1000
    assert spans[len(spans) // 2] < 2500 < len(workload.articles) / 2  # the median story is seen within a few thousand
    assert sorted(a.id for a in workload.articles) == sorted(workload.truth)  # every article once
