"""Memory per indexed article and snapshot cost, in-process, for one checkout or two.

    python benchmarks/memory.py --articles 12000 [--trace] [--root OTHER_CHECKOUT ...]

Indexes `--articles` generated articles (dedup-bench's generator, arrival order) in an engine
that keeps its documents in a durable file, as `dedup serve` does, then reports: resident
memory growth per article, the band-index entries and bytes per article, the snapshot's size
per article and the seconds to save and load it (`dedup.snapshot`, as a restart does).
`--trace` adds tracemalloc's live Python allocations per article by module. Each `--root`
(another checkout of dedup, for example `git worktree add /tmp/base HEAD~3`) is measured by
the same code in its own process, so a change is compared with its baseline in one run.
Prints a table and writes benchmarks/out/memory.{md,json}.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from published import publish  # benchmarks/published.py

HERE = Path(__file__).resolve().parents[1]


def _rss() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure(root: Path, articles: int, trace: bool) -> dict:
    """Run in a process whose `dedup` is imported from `root`."""
    sys.path.insert(0, str(root))
    import tracemalloc

    from dedup.bench.workload import generated
    from dedup.config import Config
    from dedup.engine import Engine
    from dedup.snapshot import load_snapshot, save_snapshot, snapshot_bytes

    corpus = generated(max(100, articles // 3)).articles[:articles]
    directory = Path(tempfile.mkdtemp(prefix="dedup-memory-"))
    engine = Engine(Config())
    engine.spill_documents(directory / "documents.spill", durable=True)
    if trace:
        tracemalloc.start()
    gc.collect()
    before = _rss()
    started = time.perf_counter()
    for i in range(0, len(corpus), 256):
        for doc in engine.analyse(corpus[i:i + 256]):
            engine.add_document(doc)
    engine.copies.clusters(), engine.stories.clusters()
    seconds = time.perf_counter() - started
    gc.collect()
    n = len(engine)
    row = {"root": str(root), "articles": n, "articles_per_second": round(n / seconds, 1),
           "rss_growth_bytes_per_article": round((_rss() - before) / n)}
    for name in ("_doc_index", "_passage_index", "_story_index", "_anchor_index"):
        index = getattr(engine, name, None)  # an older checkout (`--root`) may lack one
        if index is None:
            continue
        row[f"{name.strip('_')}_entries_per_article"] = round(len(index) / n, 1)
        row[f"{name.strip('_')}_bytes_per_article"] = round(index.nbytes() / n)
    if trace:
        snapshot = tracemalloc.take_snapshot()
        tracemalloc.stop()
        row["python_bytes_per_article_by_file"] = {
            Path(str(s.traceback[0].filename)).name: round(s.size / n)
            for s in snapshot.statistics("filename")[:12]}
    started = time.perf_counter()
    save_snapshot(directory, engine, position=0)
    row["snapshot_save_seconds"] = round(time.perf_counter() - started, 2)
    row["snapshot_bytes_per_article"] = round(snapshot_bytes(directory) / n)
    started = time.perf_counter()
    restored = load_snapshot(directory, Config(), log_end=0)
    row["snapshot_load_seconds"] = round(time.perf_counter() - started, 2)
    assert restored is not None and len(restored[0]) == n
    engine.close()
    shutil.rmtree(directory, ignore_errors=True)
    return row


def table(rows: list[dict]) -> str:
    lines = ["| checkout | articles | RSS growth B/article | band entries/article (doc, passage, story, anchor) "
             "| band B/article | snapshot B/article | snapshot save s | snapshot load s | articles/s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        kinds = ("doc", "passage", "story", "anchor")
        entries = ", ".join(f"{r.get(f'{k}_index_entries_per_article', '-')}" for k in kinds)
        band = sum(r.get(f"{k}_index_bytes_per_article", 0) for k in kinds)
        lines.append(f"| {r['root']} | {r['articles']:,} | {r['rss_growth_bytes_per_article']:,} | {entries} "
                     f"| {band:,} | {r['snapshot_bytes_per_article']:,} | {r['snapshot_save_seconds']} "
                     f"| {r['snapshot_load_seconds']} | {r['articles_per_second']} |")
    for r in rows:
        if "python_bytes_per_article_by_file" in r:
            lines += ["", f"Live Python allocations per article, {r['root']} (tracemalloc, by file):"]
            lines += [f"- {name}: {size:,} B" for name, size in r["python_bytes_per_article_by_file"].items()]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=12000)
    parser.add_argument("--trace", action="store_true", help="also break Python allocations down by file")
    parser.add_argument("--root", action="append", default=[], type=Path,
                        help="another checkout to measure the same way (repeatable)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)  # one measurement, as JSON
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.child, args.articles, args.trace)))
        return 0
    rows = []
    for root in [HERE, *args.root]:
        command = [sys.executable, __file__, "--child", str(root.resolve()), "--articles", str(args.articles)]
        done = subprocess.run(command + ["--trace"] * args.trace, capture_output=True, text=True, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"measured {root}", file=sys.stderr)
    publish("memory", table(rows), {"rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
