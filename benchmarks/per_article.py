"""CPU an article for analysis and for indexing, one after the other in one process: the two
steps a batch run overlaps (analysis on the workers, indexing in input order).

    python benchmarks/per_article.py ../shared/corpora/reuters21578.jsonl [--limit 12000] [--generated 8000]

Analysis is `Analyzer.analyse_many` over the articles (after a warm-up of 200); indexing is
`Engine.index_document` of the results into a fresh engine, in order. With `--generated N`,
the same for N articles of the built-in generator (`dedup.bench.workload.generated`, seeded:
copies in other chrome, versions, excerpts, rewrites and unrelated news). Prints a table and
writes benchmarks/out/per_article.{md,json}.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from published import publish  # benchmarks/published.py

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dedup.analysis import Analyzer  # noqa: E402
from dedup.article import Article  # noqa: E402
from dedup.bench.workload import generated  # noqa: E402
from dedup.config import Config  # noqa: E402
from dedup.engine import Engine  # noqa: E402
from dedup.inputs import read_inputs  # noqa: E402


def measure(articles: list[Article]) -> dict:
    config = Config()
    analyzer = Analyzer(config)
    analyzer.analyse_many(articles[:200])
    started = time.process_time()
    docs = analyzer.analyse_many(articles)
    analysis = time.process_time() - started
    engine = Engine(config)
    started = time.process_time()
    for doc in docs:
        engine.index_document(doc)
    indexing = time.process_time() - started
    return {"articles": len(docs), "words": round(statistics.mean(len(a.text.split()) for a in articles)),
            "analysis_us": round(analysis / len(docs) * 1e6), "indexing_us": round(indexing / len(docs) * 1e6)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, help="a directory or JSONL of articles (reuters21578.jsonl)")
    parser.add_argument("--limit", type=int, default=12_000, help="articles of the corpus to use")
    parser.add_argument("--generated", type=int, default=8_000, help="generated articles (0: none)")
    args = parser.parse_args(argv)
    config = Config()
    corpus = [a for a in read_inputs([str(args.corpus)], config.max_text_bytes) if isinstance(a, Article)]
    rows = {args.corpus.name: measure(corpus[:args.limit])}
    if args.generated:
        workload = generated(max(1, args.generated // 3), seed=1)
        rows["generated"] = measure([workload.cycle(i)[0] for i in range(args.generated)])
    lines = ["CPU an article, one process (analysis, then indexing of its results into a fresh engine):", "",
             "| articles | count | words (mean) | analysis µs | analysis /s per core | indexing µs | indexing /s |",
             "|---|---|---|---|---|---|---|"]
    for name, row in rows.items():
        lines.append(f"| {name} | {row['articles']:,} | {row['words']} | {row['analysis_us']} | "
                     f"{1e6 / row['analysis_us']:,.0f} | {row['indexing_us']} | {1e6 / row['indexing_us']:,.0f} |")
    publish("per_article", "\n".join(lines), {"corpus": str(args.corpus), "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
