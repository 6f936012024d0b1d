"""`dedup-bench` against a fresh `dedup serve` of each of several checkouts, in alternating
rounds: whether a change to the service made it faster, on this machine, in the same minutes.

    python benchmarks/serve_ab.py --root OTHER_CHECKOUT [--root ...] [--rounds 2]
        [--modes add,add-stream] [--count 2000] [-- EXTRA DEDUP-BENCH ARGUMENTS, e.g. --html]

Each round starts, for each checkout (this one first, then each `--root`: another checkout of
dedup with its C part built, for example a `git clone` of an earlier commit) and each mode, a
server on an empty temporary data directory with the server's defaults (analysis workers on
every core), and runs this checkout's `dedup-bench --target` against it on the generated
workload (`add`: 8 callers; `add-stream`: 2 streams), then stops the server. Alternating the
checkouts spreads the machine's changes of speed over all of them. Prints a table (articles a
second, p99 latency, errors, duplicate precision and recall, each round) and writes
benchmarks/out/serve_ab.{md,json}.
"""
from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from published import publish  # benchmarks/published.py

HERE = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(root: Path, mode: str, count: int, extra: list[str]) -> dict:
    """One `dedup-bench` run against a fresh server of `root`'s checkout: its JSON summary."""
    with tempfile.TemporaryDirectory() as data_dir:
        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(root)!r}); from dedup.cli import console; "
             "sys.exit(console())", "serve", "--data-dir", data_dir, "--listen", f"127.0.0.1:{port}",
             "--max-concurrent", "256"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tempfile.gettempdir())
        try:
            done = subprocess.run(
                [sys.executable, "-m", "dedup.bench.cli", "--target", f"127.0.0.1:{port}", "--mode", mode,
                 "--count", str(count), "--concurrency", "8" if mode == "add" else "2", "--warmup", "0.5",
                 "--json", *extra], capture_output=True, text=True, cwd=HERE, timeout=1800)
        finally:
            server.terminate()
            server.wait()
    if done.returncode:
        raise SystemExit(f"dedup-bench against {root} failed:\n{done.stderr}")
    return json.loads(done.stdout)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", action="append", default=[], type=Path,
                        help="another checkout to measure the same way (repeatable)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--modes", default="add,add-stream", help="dedup-bench modes, comma-separated")
    parser.add_argument("--count", type=int, default=2000, help="requests per run")
    parser.add_argument("extra", nargs="*", help="more dedup-bench arguments (after --)")
    args = parser.parse_args(argv)
    roots = [HERE, *(r.resolve() for r in args.root)]
    modes = args.modes.split(",")
    runs: dict[str, dict[str, list[dict]]] = {str(r): {m: [] for m in modes} for r in roots}
    for _ in range(args.rounds):
        for root in roots:
            for mode in modes:
                runs[str(root)][mode].append(measure(root, mode, args.count, args.extra))
    lines = [f"dedup-bench {' '.join(args.extra)} against a fresh server of each checkout, {args.count:,} "
             f"requests a run, {args.rounds} alternating rounds:", "",
             "| checkout | mode | articles/s, each round | mean | p99 ms, each round | errors | precision / recall |",
             "|---|---|---|---|---|---|---|"]
    for root, by_mode in runs.items():
        for mode, rows in by_mode.items():
            rates = [r["throughput"] for r in rows]
            errors = sum(sum(r["errors"].values()) for r in rows)
            quality = rows[0]["quality"] or {}
            lines.append(f"| {root} | {mode} | {', '.join(f'{x:.1f}' for x in rates)} | {sum(rates) / len(rates):.1f} | "
                         f"{', '.join(str(r['latency_ms'].get('p99')) for r in rows)} | {errors} | "
                         f"{quality.get('precision', float('nan')):.3f} / {quality.get('recall', float('nan')):.3f} |")
    publish("serve_ab", "\n".join(lines), {"extra": args.extra, "count": args.count, "runs": runs})
    return 0


if __name__ == "__main__":
    sys.exit(main())
