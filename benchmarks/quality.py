"""Clustering quality of dedup (default settings) against the plain MinHash-LSH recipe.

    python benchmarks/quality.py ../shared/corpora [--synthetic 1000 [--synthetic-out FILE]] [--only news_small ...]

For every labelled corpus in CORPORA_DIR, in one run: pairwise precision, recall, F1 and the
Adjusted Rand Index of dedup's clusters and of the plain recipe (word 5-shingles, datasketch
MinHash with 128 permutations, MinHashLSH(threshold=0.5), connected components). Corpora
labelled with `exact_group` report how many of the known identical pairs each method puts in
one cluster. `--synthetic N` adds a generated corpus (dedup.synthetic) built from N BBC
articles. Prints a table and writes benchmarks/out/quality.{md,json}.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

from datasketch import MinHash, MinHashLSH

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dedup.article import Article  # noqa: E402
from dedup.batch import cluster  # noqa: E402
from dedup.config import Config  # noqa: E402
from dedup.inputs import read_inputs  # noqa: E402
from dedup.scoring import pairs_found, score  # noqa: E402
from dedup.synthetic import generate  # noqa: E402
from published import publish  # noqa: E402  (benchmarks/published.py)

# corpus -> (label field, cluster level scored)
CORPORA = {
    "news_small": ("cluster", "copy"),
    "wiki_versions_dev": ("cluster", "copy"),
    "msrp_grouped": ("cluster", "story"),
    "reuters21578": ("exact_group", "copy"),
    "bbc": ("exact_group", "copy"),
}


def word_shingles(text: str, size: int = 5) -> list[str]:
    """The text's lower-cased word `size`-grams (one shorter gram for a shorter text)."""
    words = re.findall(r"\w+", text.lower())
    return [" ".join(words[j:j + size]) for j in range(max(1, len(words) - size + 1))]


def plain_recipe(articles: list[Article], threshold: float = 0.5, num_perm: int = 128) -> list[int]:
    """The textbook recipe: word 5-shingles, MinHash, MinHashLSH, connected components."""
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    sketches = []
    for i, art in enumerate(articles):
        shingles = [shingle.encode() for shingle in word_shingles(f"{art.title}\n{art.text}")]
        m = MinHash(num_perm=num_perm)
        m.update_batch(shingles)
        lsh.insert(i, m)
        sketches.append(m)
    return connected_components(len(articles), lambda i: lsh.query(sketches[i]))


def connected_components(n: int, neighbours) -> list[int]:
    """A component label for each of `n` items, `neighbours(i)` giving the items linked to i
    (union-find with path halving: the recipes' last step)."""
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i in range(n):
        for j in neighbours(i):
            parent[find(i)] = find(j)
    return [find(i) for i in range(n)]


def run_dedup(articles: list[Article], level: str) -> tuple[list[str], float]:
    started = time.perf_counter()
    run = cluster(articles, Config())
    seconds = time.perf_counter() - started
    partition = run.engine.copies if level == "copy" else run.engine.stories
    label = {}
    for members in partition.clusters():
        for node in members:
            label[node] = members[0]
    return [label[run.engine.node_of(a.id)] for a in articles], seconds


def distinct_stories(articles: list[Article], alike: float = 0.8) -> list[Article]:
    """`articles` without those that are near-copies of an earlier one.

    The generator makes each base article a story of its own, so two base articles that are
    already one story would count every correct merge of their copies as wrong. BBC has such
    pairs beyond its labelled identical ones (the same body under a new headline, a word
    changed). Judged on exact word 5-shingle sets, not by dedup: an article is left out when
    `alike` of its set, or of an earlier one's, is in the other (a Jaccard similarity that
    high implies as much).
    """
    kept, sets = [], []
    holders: dict[str, list[int]] = {}  # shingle -> positions in `kept` of the articles holding it
    for article in articles:
        own = set(word_shingles(article.text))
        shared: dict[int, int] = {}
        for shingle in own:
            for k in holders.get(shingle, ()):
                shared[k] = shared.get(k, 0) + 1
        if any(n >= alike * min(len(own), len(sets[k])) for k, n in shared.items()):
            continue
        for shingle in own:
            holders.setdefault(shingle, []).append(len(kept))
        kept.append(article)
        sets.append(own)
    return kept


def load(path: Path, label_field: str) -> tuple[list[Article], list]:
    labels = {}
    with path.open() as handle:
        for line in handle:
            rec = json.loads(line)
            labels[str(rec["id"])] = rec.get(label_field)
    articles = [a for a in read_inputs([str(path)], Config().max_text_bytes) if isinstance(a, Article)]
    return articles, [labels[a.id] for a in articles]


def evaluate(name: str, articles: list[Article], truth: list, label_field: str, level: str) -> dict:
    pred, dedup_seconds = run_dedup(articles, level)
    started = time.perf_counter()
    plain = plain_recipe(articles)
    plain_seconds = time.perf_counter() - started
    row = {"corpus": name, "docs": len(articles), "level": level,
           "dedup_seconds": round(dedup_seconds, 2), "plain_seconds": round(plain_seconds, 2)}
    for method, labels in (("dedup", pred), ("plain", plain)):
        if label_field == "exact_group":
            found, total = pairs_found(labels, truth)
            s = score(labels, [t if t is not None else f"_{i}" for i, t in enumerate(truth)])
            row[method] = {"exact_pairs_found": found, "exact_pairs": total, "predicted_pairs": s.predicted_pairs}
        else:
            s = score(labels, truth)
            row[method] = {"precision": round(s.precision, 4), "recall": round(s.recall, 4),
                           "f1": round(s.f1, 4), "ari": round(s.ari, 4),
                           "true_pairs": s.true_pairs, "predicted_pairs": s.predicted_pairs}
    return row


def table(rows: list[dict]) -> str:
    lines = ["| corpus | docs | level | method | precision | recall | F1 | ARI | exact pairs found | predicted pairs | seconds |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        for method in ("dedup", "plain"):
            m = r[method]
            exact = f"{m['exact_pairs_found']}/{m['exact_pairs']}" if "exact_pairs" in m else ""
            cells = [m.get(k, "") for k in ("precision", "recall", "f1", "ari")]
            lines.append(
                f"| {r['corpus']} | {r['docs']:,} | {r['level']} | {method} | "
                + " | ".join(f"{c:.3f}" if isinstance(c, float) else str(c) for c in cells)
                + f" | {exact} | {m['predicted_pairs']:,} | {r[method + '_seconds']} |"
            )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpora", type=Path, help="directory holding the corpora's .jsonl files")
    parser.add_argument("--only", nargs="*", help="corpus names to run (default: all found)")
    parser.add_argument("--synthetic", type=int, default=0, metavar="N",
                        help="also score a generated syndication corpus built from N BBC articles")
    parser.add_argument("--synthetic-out", type=Path, metavar="FILE",
                        help="also write the generated corpus as JSONL, its truth in each record's `cluster`")
    args = parser.parse_args(argv)
    rows = []
    for name, (label_field, level) in CORPORA.items():
        path = args.corpora / f"{name}.jsonl"
        if (args.only and name not in args.only) or not path.exists():
            continue
        articles, truth = load(path, label_field)
        rows.append(evaluate(name, articles, truth, label_field, level))
        print("\n".join(table(rows[-1:]).splitlines()[-2:]), file=sys.stderr)  # progress, as measured
    if args.synthetic:
        bbc, groups = load(args.corpora / "bbc.jsonl", "exact_group")
        base = distinct_stories([a for a, g in zip(bbc, groups) if g is None])[: args.synthetic]
        gen = generate(base, seed=0)
        truth = [gen.truth[a.id] for a in gen.articles]
        if args.synthetic_out:
            with args.synthetic_out.open("w", encoding="utf-8") as out:
                for article, label in zip(gen.articles, truth):
                    out.write(json.dumps({"id": article.id, "title": article.title, "text": article.text,
                                          "source": article.source, "cluster": label}) + "\n")
        rows.append(evaluate(f"synthetic(bbc {len(base)})", gen.articles, truth, "cluster", "copy"))
    publish("quality", table(rows), {"rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
