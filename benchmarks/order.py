"""How much the clusters depend on the input order, on real corpora.

    python benchmarks/order.py ../shared/corpora [--shuffles 2] [--only NAME ...]

Each corpus (`*.jsonl` in the directory) is clustered as `dedup cluster` does it, in its file
order and in `--shuffles` seeded shuffles of it; each shuffled run's copy and story clusters
are compared with the file-order run's (Adjusted Rand Index, and the pairs of documents
clustered together in only one of the two). The engine decides what is common in a collection
(boilerplate blocks, story terms: see `Config.common_term_share`) from what it has seen so
far, so a formula that turns common early in one order and late, or never, in another can
link its notices in one run and not in the other; everything else is order-free (the
property tests). Prints a table and writes benchmarks/out/order.{md,json}.
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

from published import publish  # benchmarks/published.py

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dedup.batch import cluster  # noqa: E402
from dedup.config import Config  # noqa: E402
from dedup.inputs import Article, read_inputs  # noqa: E402
from dedup.scoring import score  # noqa: E402


def partitions(articles: list[Article]) -> dict[str, dict[str, str]]:
    """Each article's copy and story cluster (by canonical id), keyed by article id."""
    run = cluster(articles, Config(), workers=2)
    try:
        labels: dict[str, dict[str, str]] = {"copy": {}, "story": {}}
        for summary in run.engine.summaries(run.ids):
            labels["copy"][summary.id] = summary.cluster
            labels["story"][summary.id] = summary.story
        return labels
    finally:
        run.close()


def agreement(a: dict[str, str], b: dict[str, str]) -> dict:
    """ARI of two labelings of the same ids, and the same-cluster pairs of each and of both."""
    s = score([b[i] for i in a], list(a.values()))
    return {"ari": round(s.ari, 4), "pairs_file_order": s.true_pairs, "pairs_shuffled": s.predicted_pairs,
            "pairs_both": s.shared_pairs}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpora", type=Path, help="a directory of JSONL corpora (../shared/corpora)")
    parser.add_argument("--shuffles", type=int, default=2)
    parser.add_argument("--only", action="append", help="only this corpus (file name without .jsonl; repeatable)")
    args = parser.parse_args(argv)
    config = Config()
    results: dict[str, list[dict]] = {}
    for path in sorted(args.corpora.glob("*.jsonl")):
        if args.only and path.stem not in args.only:
            continue
        started = time.perf_counter()
        articles = [a for a in read_inputs([str(path)], config.max_text_bytes) if isinstance(a, Article)]
        reference = partitions(articles)
        rows = []
        for seed in range(1, args.shuffles + 1):
            order = list(articles)
            random.Random(seed).shuffle(order)
            shuffled = partitions(order)
            rows.append({"seed": seed, **{level: agreement(reference[level], shuffled[level]) for level in ("copy", "story")}})
        results[path.stem] = rows
        print(f"{path.stem}: {len(articles):,} articles, {time.perf_counter() - started:.0f} s", file=sys.stderr)
    lines = ["File order against seeded shuffles: ARI of the partitions, and same-cluster pairs (file order / shuffled / both)", "",
             "| corpus | shuffle | copy ARI | copy pairs | story ARI | story pairs |", "|---|---|---|---|---|---|"]
    for name, rows in results.items():
        for row in rows:
            cells = [f"{row[level]['ari']:.4f} | {row[level]['pairs_file_order']:,} / {row[level]['pairs_shuffled']:,} / "
                     f"{row[level]['pairs_both']:,}" for level in ("copy", "story")]
            lines.append(f"| {name} | {row['seed']} | {' | '.join(cells)} |")
    publish("order", "\n".join(lines), {"shuffles": args.shuffles, "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
