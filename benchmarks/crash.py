"""Many crash-consistency trials (SIGKILL mid-stream, restart, check); see dedup/bench/crash.py.

    python benchmarks/crash.py [--trials 200] [--seed 0]
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dedup.bench.crash import run_trial  # noqa: E402
from dedup.bench.workload import generated  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    workload = generated(200, seed=args.seed)
    results, started = [], time.monotonic()
    for trial in range(args.trials):
        r = run_trial(workload, rng)
        results.append({"trial": trial, "acknowledged": r.acknowledged, "stored": r.stored, "problems": list(r.problems)})
        print(f"trial {trial + 1}/{args.trials}: {r.acknowledged} acknowledged, {r.stored} stored, "
              f"{'ok' if r.ok else '; '.join(r.problems)}", flush=True)
    failed = sum(1 for r in results if r["problems"])
    print(f"{args.trials} trials in {time.monotonic() - started:.0f} s: {failed} failed, "
          f"{sum(r['acknowledged'] for r in results):,} acknowledged articles checked")
    OUT.mkdir(exist_ok=True)
    (OUT / "crash.json").write_text(json.dumps(results, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
