"""Speed of dedup against datasketch and rensa, measured in one run on the same documents.

    python benchmarks/speed.py ../shared/corpora/reuters21578.jsonl [--sketch-docs 5000]

1. Sketches per second, same documents, same shingles (word 4-grams), 128 permutations:
   dedup's vectorised sketcher, datasketch ``MinHash.update_batch`` (its default SHA-1 hash
   and with xxhash), and rensa ``RMinHash`` (a Rust baseline).
2. Whole runs over the corpus, each in its own process (wall time and peak memory):
   ``dedup cluster`` with every core; the plain datasketch recipe (word 5-shingles, MinHash,
   MinHashLSH(threshold=0.5), connected components); the same recipe on rensa.
Prints a table, the ratios, and writes benchmarks/out/speed.{md,json}.
"""
from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from published import publish  # benchmarks/published.py

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
NUM_PERM = 128


def read_texts(path: Path, limit: int | None = None) -> list[str]:
    texts = []
    with path.open() as handle:
        for line in handle:
            rec = json.loads(line)
            texts.append(f"{rec.get('title') or ''}\n{rec.get('text') or ''}")
            if limit and len(texts) >= limit:
                break
    return texts


def shingle_lists(texts: list[str], k: int = 4) -> list[list[str]]:
    out = []
    for text in texts:
        words = re.findall(r"\w+", text.lower())
        out.append([" ".join(words[i:i + k]) for i in range(max(1, len(words) - k + 1))])
    return out


# -- 1. sketches per second ----------------------------------------------------------------

def sketch_dedup(shingles: list[list[str]]) -> float:
    from dedup.sketch import Sketcher, token_hash

    sketcher = Sketcher(NUM_PERM, 1)
    started = time.perf_counter()
    for lo in range(0, len(shingles), 256):  # batches, as the analyser signs them
        batch = shingles[lo:lo + 256]
        hashes = np.fromiter((token_hash(s) for doc in batch for s in doc), dtype=np.uint64)
        starts = np.cumsum([0] + [len(doc) for doc in batch[:-1]])
        sketcher.signatures(hashes, starts)
    return time.perf_counter() - started


def sketch_datasketch(shingles: list[list[str]], hashfunc=None) -> float:
    from datasketch import MinHash

    kwargs = {"hashfunc": hashfunc} if hashfunc else {}
    started = time.perf_counter()
    for doc in shingles:
        m = MinHash(num_perm=NUM_PERM, **kwargs)
        m.update_batch([s.encode() for s in doc])
    return time.perf_counter() - started


def sketch_rensa(shingles: list[list[str]]) -> float:
    from rensa import RMinHash

    started = time.perf_counter()
    for doc in shingles:
        m = RMinHash(num_perm=NUM_PERM, seed=1)
        m.update(doc)
    return time.perf_counter() - started


# -- 2. whole runs (each in a child process) -----------------------------------------------

def run_dedup(path: Path) -> None:
    from dedup.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        code = main(["cluster", str(path), "--out", f"{tmp}/pred.jsonl", "--quiet"])
    # Records without text are skipped on purpose (exit code 1); anything else is a failure.
    assert code in (0, 1), code


def run_plain(path: Path) -> None:
    from benchmarks.quality import plain_recipe
    from dedup.article import Article

    texts = read_texts(path)
    plain_recipe([Article(id=str(i), text=t) for i, t in enumerate(texts)])


def run_rensa(path: Path) -> None:
    from rensa import RMinHash, RMinHashLSH

    from benchmarks.quality import connected_components

    texts = read_texts(path)
    # rensa needs bands dividing num_perm; 32 bands of 4 rows is the nearest to datasketch's
    # (25, 5) for threshold 0.5.
    lsh = RMinHashLSH(threshold=0.5, num_perm=NUM_PERM, num_bands=32)
    sketches = []
    for i, doc in enumerate(shingle_lists(texts, k=5)):
        m = RMinHash(num_perm=NUM_PERM, seed=1)
        m.update(doc)
        lsh.insert(i, m)
        sketches.append(m)
    connected_components(len(texts), lambda i: lsh.query(sketches[i]))


RUNS = {"dedup cluster": run_dedup, "plain datasketch recipe": run_plain, "rensa recipe": run_rensa}


def child(method: str, path: Path) -> None:
    started = time.perf_counter()
    RUNS[method](path)
    seconds = time.perf_counter() - started
    peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak / 1024}))


def whole_run(method: str, path: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, str(path), "--child", method], capture_output=True, text=True, cwd=ROOT
    )
    if proc.returncode != 0:
        raise SystemExit(f"{method} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, help="a JSONL corpus (reuters21578.jsonl)")
    parser.add_argument("--sketch-docs", type=int, default=5000, help="documents for the sketch comparison")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--skip-runs", action="store_true", help="only the sketch comparison")
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.corpus)
        return 0

    import xxhash

    texts = read_texts(args.corpus)
    shingles = shingle_lists(texts[: args.sketch_docs])
    sketch = {
        "dedup Sketcher (xxh3, vectorised)": sketch_dedup(shingles),
        "datasketch MinHash.update_batch (sha1)": sketch_datasketch(shingles),
        "datasketch MinHash.update_batch (xxh32)": sketch_datasketch(shingles, xxhash.xxh32_intdigest),
        "rensa RMinHash": sketch_rensa(shingles),
    }
    n = len(shingles)
    lines = [f"Sketches: {n:,} documents, {sum(map(len, shingles)):,} shingles, {NUM_PERM} permutations", "",
             "| sketcher | seconds | sketches/s | vs datasketch (sha1) |", "|---|---|---|---|"]
    base = sketch["datasketch MinHash.update_batch (sha1)"]
    for name, seconds in sketch.items():
        lines.append(f"| {name} | {seconds:.2f} | {n / seconds:,.0f} | {base / seconds:.2f}x |")
    runs = {}
    if not args.skip_runs:
        for method in RUNS:
            runs[method] = whole_run(method, args.corpus)
            print(method, runs[method], file=sys.stderr)
        docs = len(texts)
        plain = runs["plain datasketch recipe"]["seconds"]
        lines += ["", f"Whole runs: {docs:,} documents of {args.corpus.name}", "",
                  "| run | seconds | docs/s | vs plain recipe | peak RSS (MB) |", "|---|---|---|---|---|"]
        for method, r in runs.items():
            lines.append(f"| {method} | {r['seconds']:.1f} | {docs / r['seconds']:,.0f} | "
                         f"{plain / r['seconds']:.2f}x | {r['peak_rss_mb']:,.0f} |")
    publish("speed", "\n".join(lines), {"sketch_seconds": sketch, "runs": runs, "sketch_docs": n})
    return 0


if __name__ == "__main__":
    sys.exit(main())
