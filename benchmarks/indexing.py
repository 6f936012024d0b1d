"""Indexing alone, for one checkout or several, in alternating rounds: the part of a batch
run that one process does in input order, and so what bounds `dedup cluster`'s speed.

    python benchmarks/indexing.py ../shared/corpora/reuters21578.jsonl [--rounds 3]
                                  [--root OTHER_CHECKOUT ...]

Each checkout (this one, and each `--root`: another checkout of dedup with its C part built,
for example a `git clone` of an earlier commit) first analyses the corpus once, in a process
of its own, into a temporary file. Then, round after round, each checkout indexes its
documents in a fresh process (`Engine.index_document`, as `dedup cluster` does after the
workers' analysis) and writes every article's output line (`Engine.summaries`, the first read
of which also settles the deferred clustering). Alternating the checkouts spreads the
machine's changes of speed over all of them. The lines' sha256 must be the same for every
checkout. Prints a table and writes benchmarks/out/indexing.{md,json}.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from published import publish  # benchmarks/published.py

HERE = Path(__file__).resolve().parents[1]


def analyse(root: Path, corpus: Path, out: Path) -> None:
    """In a process whose `dedup` is `root`'s: the corpus's valid documents, pickled to `out`."""
    sys.path.insert(0, str(root))
    from dedup.batch import analysed
    from dedup.config import Config
    from dedup.inputs import Problem, read_inputs

    config = Config()
    docs = [d for d in analysed(read_inputs([str(corpus)], config.max_text_bytes), config, 2)
            if not isinstance(d, Problem)]
    with open(out, "wb") as handle:
        pickle.dump(docs, handle, protocol=pickle.HIGHEST_PROTOCOL)


def index(root: Path, documents: Path) -> dict:
    """In a process whose `dedup` is `root`'s: seconds to index `documents` and to write
    their lines, and the lines' sha256."""
    sys.path.insert(0, str(root))
    from dedup.cli import result_record
    from dedup.engine import Engine

    with open(documents, "rb") as handle:
        docs = pickle.load(handle)
    engine = Engine()
    started = time.perf_counter()
    for doc in docs:
        engine.index_document(doc)
    indexed = time.perf_counter()
    digest = hashlib.sha256()
    summaries = engine.summaries([d.id for d in docs]) if hasattr(engine, "summaries") else map(
        engine.summary, [d.id for d in docs])  # checkouts from before `summaries`
    for summary in summaries:
        digest.update((json.dumps(result_record(summary), ensure_ascii=False) + "\n").encode())
    written = time.perf_counter()
    return {"index_s": round(indexed - started, 3), "lines_s": round(written - indexed, 3),
            "documents": len(docs), "sha256": digest.hexdigest()[:16]}


def _child(*args: str) -> str:
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr}")
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, help="a directory or JSONL of articles (reuters21578.jsonl)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--root", action="append", default=[], type=Path,
                        help="another checkout to measure the same way (repeatable)")
    parser.add_argument("--analyse-child", nargs=2, type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--index-child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.analyse_child:
        analyse(args.analyse_child[0], args.corpus, args.analyse_child[1])
        return 0
    if args.index_child:
        print(json.dumps(index(*args.index_child)))
        return 0
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    roots = [HERE, *(r.resolve() for r in args.root)]
    corpus = str(args.corpus.resolve())
    runs: dict[str, list[dict]] = {str(r): [] for r in roots}
    with tempfile.TemporaryDirectory() as tmp:
        pickles = {}
        for k, root in enumerate(roots):
            pickles[root] = Path(tmp) / f"documents-{k}.pickle"
            _child(corpus, "--analyse-child", str(root), str(pickles[root]))
        for _ in range(args.rounds):
            for root in roots:
                runs[str(root)].append(json.loads(_child(corpus, "--index-child", str(root), str(pickles[root]))))
    digests = {run["sha256"] for rows in runs.values() for run in rows}
    lines = [f"Indexing {args.corpus.name} (analysed beforehand) in one process, then writing every article's "
             f"line; {args.rounds} alternating rounds, seconds:", "",
             "| checkout | index, best | index, every round | lines, best | documents | sha256 of the lines |",
             "|---|---|---|---|---|---|"]
    for root, rows in runs.items():
        every = ", ".join(f"{r['index_s']:.2f}" for r in rows)
        lines.append(f"| {root} | {min(r['index_s'] for r in rows):.2f} | {every} | "
                     f"{min(r['lines_s'] for r in rows):.2f} | {rows[0]['documents']:,} | {rows[0]['sha256']} |")
    if len(digests) > 1:
        lines += ["", "**The checkouts wrote different lines** (see the sha256 column)."]
    publish("indexing", "\n".join(lines), {"corpus": corpus, "rounds": args.rounds, "runs": runs})
    return 0 if len(digests) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
