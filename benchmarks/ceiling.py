"""How far any rule on shared text can go on a labelled corpus: a ceiling for copy clustering.

    python benchmarks/ceiling.py ../shared/corpora/wiki_versions_dev.jsonl [--label cluster]

Every pair of documents with the same label is verified exactly as dedup verifies a
candidate (same normalisation, boilerplate removal within each document, shingles and shared
runs). Rules, strictest first: dedup's own copy relations; one shared run of a sentence (16
words), of 8 words, of one 4-word shingle; alone or with a share of own words. For each rule:

- *ceiling*: the same-label pairs that pass are linked and the components scored against the
  labels. No pair with different labels is linked, so precision is 1 and candidate generation
  and chaining control cost nothing: no clustering built on the rule can score higher. A corpus
  whose ceiling is below a target cannot reach it by verifying shared text.
- *applied*: every pair with different labels that shares any shingle is verified too, and
  those that pass are linked as well: what the rule costs when it is actually used (still
  with perfect candidates and without chaining control).
Prints a table and writes benchmarks/out/ceiling.{md,json}.
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dedup.article import Article  # noqa: E402
from dedup.config import Config  # noqa: E402
from dedup.engine import Engine  # noqa: E402
from dedup.inputs import read_inputs  # noqa: E402
from dedup.scoring import score  # noqa: E402
from dedup.verify import COPY_RELATIONS, compare  # noqa: E402
from published import publish  # noqa: E402  (benchmarks/published.py)

# (name, test on a verified match): the rules whose ceilings are reported.
RULES = [
    ("dedup's copy relations (exact, near_duplicate, syndicated, version)", lambda m, run: m.relation in COPY_RELATIONS),
    ("a shared run of 16 words and own-word share >= 0.2", lambda m, run: run >= 16 and m.own_words >= 0.2),
    ("a shared run of 16 words", lambda m, run: run >= 16),
    ("a shared run of 8 words and own-word share >= 0.1", lambda m, run: run >= 8 and m.own_words >= 0.1),
    ("a shared run of 8 words", lambda m, run: run >= 8),
    ("one shared 4-word shingle and own-word share >= 0.1", lambda m, run: run >= 4 and m.own_words >= 0.1),
    ("one shared 4-word shingle", lambda m, run: run >= 4),
]


def ceilings(articles: list[Article], labels: list, config: Config) -> list[dict]:
    engine = Engine(config)
    docs = engine.analyse(articles)
    by_label = defaultdict(list)
    for i, label in enumerate(labels):
        if label is not None:
            by_label[label].append(i)
    verified = []  # (i, j, match, longest run) for every same-label pair
    for members in by_label.values():
        for i, j in itertools.combinations(members, 2):
            match = compare(docs[i], docs[j], config)
            verified.append((i, j, match, max((p.tokens for p in match.passages), default=0)))
    crossing = []  # the same for every pair with different labels that shares any text
    for i, j in _pairs_sharing_text(docs):
        if labels[i] is None or labels[i] != labels[j]:
            match = compare(docs[i], docs[j], config)
            crossing.append((i, j, match, max((p.tokens for p in match.passages), default=0)))
    truth = [label if label is not None else f"_{i}" for i, label in enumerate(labels)]
    rows = []
    for name, rule in RULES:
        ceiling = _components(len(docs), [(i, j) for i, j, m, run in verified if rule(m, run)])
        false_links = [(i, j) for i, j, m, run in crossing if rule(m, run)]
        applied = _components(len(docs), [(i, j) for i, j, m, run in verified if rule(m, run)] + false_links)
        best, used = score(ceiling, truth), score(applied, truth)
        rows.append({"rule": name, "same_label_pairs": sum(1 for i, j, m, run in verified if rule(m, run)),
                     "recall": round(best.recall, 4), "ari_ceiling": round(best.ari, 4),
                     "cross_label_pairs": len(false_links), "precision_applied": round(used.precision, 4),
                     "ari_applied": round(used.ari, 4)})
    return rows


def _pairs_sharing_text(docs) -> set[tuple[int, int]]:
    """Every pair of documents with at least one body shingle in common."""
    postings = defaultdict(list)
    for i, doc in enumerate(docs):
        for h in doc.shingle_set.tolist():
            postings[h].append(i)
    pairs = set()
    for holders in postings.values():
        if len(holders) > 1:
            pairs.update(itertools.combinations(holders, 2))
    return pairs


def _components(n: int, links: list[tuple[int, int]]) -> list[int]:
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j in links:
        parent[find(i)] = find(j)
    return [find(i) for i in range(n)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, help="a labelled JSONL corpus")
    parser.add_argument("--label", default="cluster", help="the field holding each document's label")
    args = parser.parse_args(argv)
    labels = {}
    with args.corpus.open() as handle:
        for line in handle:
            rec = json.loads(line)
            labels[str(rec["id"])] = rec.get(args.label)
    config = Config()
    articles = [a for a in read_inputs([str(args.corpus)], config.max_text_bytes) if isinstance(a, Article)]
    rows = ceilings(articles, [labels[a.id] for a in articles], config)
    lines = [f"{args.corpus.name}: {len(articles):,} documents", "",
             "| rule | same-label pairs passing | recall | ARI ceiling | different-label pairs passing "
             "| precision applied | ARI applied |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['rule']} | {r['same_label_pairs']:,} | {r['recall']:.3f} | {r['ari_ceiling']:.3f} "
              f"| {r['cross_label_pairs']:,} | {r['precision_applied']:.3f} | {r['ari_applied']:.3f} |" for r in rows]
    publish("ceiling", "\n".join(lines), {"corpus": str(args.corpus), "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
