"""One band-index query against one large packed level, for one checkout or several.

    python benchmarks/bandsearch.py [--entries 37000000] [--hot-keys 40] [--hot-size 100000]
                                    [--root OTHER_CHECKOUT ...]

Builds a level of `--entries` random entries (documents numbered below 1,000,000) in which
`--hot-keys` keys hold `--hot-size` entries each, as the most common story-term bands do in
a large index, packs it as the band index does (`dedup.lsh._merged`), and times queries of
37 keys (a story query's size) with a bucket limit of 64: with 5 of the hot keys, and with
none. Each `--root` (another checkout of dedup with its C part built, for example a
`git worktree` of an earlier commit) is measured by the same code in its own process.
Prints a table and writes benchmarks/out/bandsearch.{md,json}.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from published import publish  # benchmarks/published.py

HERE = Path(__file__).resolve().parents[1]
QUERIES = 300
KEYS = 37
HOT_IN_QUERY = 5


def measure(root: Path, entries: int, hot_keys: int, hot_size: int) -> dict:
    """Run in a process whose `dedup` is imported from `root`: microseconds per query."""
    sys.path.insert(0, str(root))
    import numpy as np

    from dedup import lsh

    if lsh._bandsearch is None:
        raise SystemExit(f"{root}: dedup._bandsearch is not built (python setup.py build_ext --inplace)")
    rng = np.random.default_rng(0)
    keys = rng.integers(0, 2**64, size=entries, dtype=np.uint64) & lsh._KEY_MASK
    hot = keys[:hot_keys].copy()
    keys[:hot_keys * hot_size] = np.repeat(hot, hot_size)
    level, directory = lsh._merged([(np.sort(keys | rng.integers(0, 1_000_000, size=entries, dtype=np.uint64)), None)])
    masks = (int(lsh._KEY_STEP), int(lsh._KEY_MASK), int(lsh._DOC_MASK), 64)
    cold = keys[hot_keys * hot_size:]
    workloads = {
        f"{HOT_IN_QUERY} hot keys": [np.sort(np.concatenate([rng.choice(hot, HOT_IN_QUERY), rng.choice(cold, KEYS - HOT_IN_QUERY)]))
                                     for _ in range(QUERIES)],
        "no hot key": [np.sort(rng.choice(cold, KEYS)) for _ in range(QUERIES)],
    }
    row = {"root": str(root), "level_bytes_per_entry": round((level.nbytes + directory.nbytes) / entries, 2)}
    for name, queries in workloads.items():
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            for query in queries:
                lsh._bandsearch.query([level], [directory], query, *masks)
            best = min(best, (time.perf_counter() - started) / len(queries))
        row[name] = round(best * 1e6, 1)
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=37_000_000)
    parser.add_argument("--hot-keys", type=int, default=40)
    parser.add_argument("--hot-size", type=int, default=100_000)
    parser.add_argument("--root", action="append", default=[], type=Path,
                        help="another checkout to measure the same way (repeatable)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.hot_keys * args.hot_size > args.entries or args.hot_keys < HOT_IN_QUERY:
        parser.error(f"need at least {HOT_IN_QUERY} hot keys, and hot keys x hot size within --entries")
    if args.child:
        print(json.dumps(measure(args.child, args.entries, args.hot_keys, args.hot_size)))
        return 0
    rows = []
    for root in [HERE, *args.root]:
        command = [sys.executable, __file__, "--child", str(root.resolve()), "--entries", str(args.entries),
                   "--hot-keys", str(args.hot_keys), "--hot-size", str(args.hot_size)]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    lines = [f"One {KEYS}-key query, bucket limit 64, one packed level of {args.entries:,} entries with "
             f"{args.hot_keys} keys of {args.hot_size:,} entries (best of 3 x {QUERIES} queries, µs):", "",
             f"| checkout | bytes per entry | {HOT_IN_QUERY} hot keys | no hot key |", "|---|---|---|---|"]
    lines += [f"| {r['root']} | {r['level_bytes_per_entry']} | {r[f'{HOT_IN_QUERY} hot keys']} | {r['no hot key']} |"
              for r in rows]
    publish("bandsearch", "\n".join(lines), {"rows": rows, "entries": args.entries, "hot_keys": args.hot_keys,
                                              "hot_size": args.hot_size})
    return 0


if __name__ == "__main__":
    sys.exit(main())
