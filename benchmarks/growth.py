"""Add throughput as the index grows: one article per commit against batches of commits.

The service answers every `Add` with the article's clusters, so each commit reclusters the
connected part of the match graph that the new articles touch. This measures, on a corpus
in arrival order, articles per second for each slice of the run when the index is answered
after every article (unary `Add`, one caller) and after every `--batch` articles (`AddStream`,
or concurrent callers under group commit), with the size of the largest story component.

    python benchmarks/growth.py ../shared/corpora/reuters21578.jsonl --articles 6000
    python benchmarks/growth.py --generated --articles 30000 --step 5000 --batch 125
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dedup.article import Article  # noqa: E402
from dedup.bench.workload import generated  # noqa: E402
from dedup.engine import Engine  # noqa: E402
from dedup.inputs import read_inputs  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"


def largest_story_component(engine: Engine) -> int:
    """Nodes in the largest connected component of the story-level match graph."""
    stories, seen, largest = engine.stories, set(), 0
    for node in range(len(engine._docs)):
        if node in seen or node not in stories:
            continue
        stack, size = [node], 0
        seen.add(node)
        while stack:
            n = stack.pop()
            size += 1
            for m in stories.neighbours(n):
                if m not in seen:
                    seen.add(m)
                    stack.append(m)
        largest = max(largest, size)
    return largest


def run(docs, batch: int, step: int) -> list[dict]:
    engine = Engine()
    rows, started, reported = [], time.perf_counter(), 0
    for i in range(0, len(docs), batch):
        chunk = docs[i:i + batch]
        for doc in chunk:
            engine.index_document(doc)
        for doc in chunk:
            engine.get(doc.id)  # the answer each caller gets: clusters are brought up to date
        done = i + len(chunk)
        if done - reported >= step or done == len(docs):
            seconds = time.perf_counter() - started
            rows.append({"articles": done, "per_second": (done - reported) / seconds,
                         "largest_story_component": largest_story_component(engine)})
            reported, started = done, time.perf_counter()
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", nargs="?", help="directory or JSONL of articles, in arrival order")
    parser.add_argument("--generated", action="store_true",
                        help="use dedup-bench's generated syndication (3 articles per story) instead of a corpus")
    parser.add_argument("--articles", type=int, default=6000)
    parser.add_argument("--step", type=int, default=1024, help="articles per reported slice")
    parser.add_argument("--batch", type=int, default=128, help="articles per commit in the batched run "
                        "(a divisor of --step, so both runs report the same slices)")
    args = parser.parse_args(argv)

    if args.generated == bool(args.corpus):
        parser.error("give a corpus or --generated, not both")
    if args.generated:
        workload = generated(max(1, args.articles // 3), seed=2)
        articles = [workload.cycle(i)[0] for i in range(args.articles)]
        name = "dedup-bench's generator"
    else:
        articles = []
        for item in read_inputs([args.corpus], 5_000_000):
            if isinstance(item, Article):
                articles.append(item)
                if len(articles) >= args.articles:
                    break
        name = Path(args.corpus).name
    docs = Engine().analyzer.analyse_many(articles)  # analysis is not what is measured here
    single = run(docs, 1, args.step)
    batched = run(docs, args.batch, args.step)

    lines = [f"Add throughput as the index grows: {len(docs):,} articles of {name}", "",
             f"| articles indexed | 1 per commit: articles/s | {args.batch} per commit: articles/s "
             "| largest story component |", "|---|---|---|---|"]
    for a, b in zip(single, batched):
        lines.append(f"| {a['articles']:,} | {a['per_second']:,.0f} | {b['per_second']:,.0f} "
                     f"| {a['largest_story_component']:,} |")
    lines += ["", f"machine: {platform.machine()}, Python {platform.python_version()}"]
    print("\n".join(lines))
    OUT.mkdir(exist_ok=True)
    (OUT / "growth.json").write_text(json.dumps({"single": single, "batched": batched, "batch": args.batch}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
