"""The embedded index at scale: throughput as it grows, memory per article, restart times.

    python benchmarks/scale.py --articles 1000000 [--batch 100] [--snapshot-every 20000]
                               [--max-minutes 90] [--dir DATA_DIR] [--crash process|machine]

A child process opens the embedded index as `dedup serve` does (durable log, documents spilled
to the data directory, periodic snapshots from a forked writer, analysis on a pool of one
worker per core) and adds fresh generated articles (dedup-bench's generator, arrival order,
a new seed every 10,000 stories, so no article repeats another's id or text) in
`add_many` batches, as `AddStream` commits them (the next batch analysed while one is
indexed). Every `--window` articles it reports the
window's articles per second, its resident memory, and how long a fixed piece of work (the
probe) takes right then: these machines change speed up to 3x from hour to hour, so the
throughput's fall is also given per unit of probe speed. Then the parent:

1. kills it with SIGKILL (a crash) and times a restart to a usable index: the last complete
   snapshot loaded, the log after it replayed (re-analysed on the pool). With `--crash process`
   (the default) only the server process is killed, and a snapshot writer it forked goes on
   and may finish first; `--crash machine` kills every process of it, as a machine failure would;
2. closes that index cleanly (a final snapshot) and times a restart from it.

No gRPC: this measures the engine and its store; `benchmarks/service.py` measures the service.
Stops adding at `--max-minutes` if the fill is slower than planned, and reports the size
reached. Prints a table and writes benchmarks/out/scale.{md,json}.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from published import publish  # benchmarks/published.py

ROOT = Path(__file__).resolve().parents[1]
STORIES_PER_SEED = 10_000
WINDOWS_COMPARED = 10  # the throughput's fall: the mean of the last this many windows over the first


def _probe_seconds(repeats: int = 9) -> float:
    """The median time of a fixed piece of interpreter and numpy work, like the filler's
    (dict updates, sorting, a numpy unique): ~5 ms at this machine's speed of the moment."""
    import numpy as np

    keys = np.random.default_rng(0).integers(0, 1 << 40, 20_000)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        counts: dict[int, int] = {}
        for key in keys[:5_000].tolist():
            counts[key] = counts.get(key, 0) + 1
        sorted(counts)
        np.unique(keys)
        times.append(time.perf_counter() - started)
    return sorted(times)[repeats // 2]


def _rss_bytes(pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _articles(count: int):
    """Fresh generated articles, `STORIES_PER_SEED` stories at a time."""
    from dedup.bench.workload import generated

    seed, made = 0, 0
    while made < count:
        for article in generated(STORIES_PER_SEED, seed=seed).articles:
            if made == count:
                return
            yield article
            made += 1
        seed += 1


def fill(directory: str, articles: int, batch: int, window: int, snapshot_every: int, deadline: float) -> None:
    """The child: fill the index, one JSON line per window on stdout, then wait to be killed."""
    sys.path.insert(0, str(ROOT))
    from dedup import collector
    from dedup.batch import start_analysis_pool
    from dedup.config import Config
    from dedup.index import Index

    collector.enable()  # as `dedup serve` does
    # What each periodic snapshot wrote and how long it took, on stderr.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("dedup.snapshot").setLevel(logging.INFO)
    config = Config()
    pool = start_analysis_pool(config, os.cpu_count() or 1)
    index = Index.open(directory, config, analysis_pool=pool, snapshot_every=snapshot_every)
    empty = _rss_bytes()
    print(json.dumps({"empty_rss_bytes": empty}), flush=True)
    done, started, pending, ahead = 0, time.perf_counter(), [], None
    window_start = started
    for article in _articles(articles):
        pending.append(article)
        if len(pending) < batch:
            continue
        # As AddStream does with requests already waiting: the next batch is analysed while
        # this one is indexed.
        current, ahead = ahead, index.analyse_ahead(pending)
        pending = []
        if current is None:
            continue
        done += _commit(index, current)
        if done % window == 0:
            now = time.perf_counter()
            print(json.dumps({"articles": done, "seconds": round(now - started, 1),
                              "window_rate": round(window / (now - window_start), 1),
                              "rss_bytes": _rss_bytes(), "probe_ms": round(1000 * _probe_seconds(), 3)}),
                  flush=True)
            window_start = time.perf_counter()
            if now > deadline:
                break
    else:
        if ahead is not None:
            done += _commit(index, ahead)
    print(json.dumps({"filled": done}), flush=True)
    time.sleep(3600)  # the parent kills this process: a crash, with the index as it stands


def _commit(index, analysing) -> int:
    """Commit a batch whose analysis has started; every article must be added."""
    for outcome in index.add_many(analysing):
        if outcome.error is not None:
            raise SystemExit(f"add failed: {outcome.error}")
    return len(analysing.articles)


def restart(directory: str) -> dict:
    """In a fresh process: open the index (snapshot + log tail), then close it cleanly."""
    sys.path.insert(0, str(ROOT))
    from dedup.batch import start_analysis_pool
    from dedup.config import Config
    from dedup.index import Index

    config = Config()
    started = time.perf_counter()
    pool = start_analysis_pool(config, os.cpu_count() or 1)
    index = Index.open(directory, config, analysis_pool=pool)
    opened = time.perf_counter() - started
    count = len(index.engine)
    rss = _rss_bytes()
    started = time.perf_counter()
    index.close()
    pool.shutdown()
    return {"open_seconds": round(opened, 1), "articles": count, "rss_bytes": rss,
            "close_seconds": round(time.perf_counter() - started, 1)}


def _children(parent: int) -> list[int]:
    """The processes whose parent is `parent` (Linux: read from /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                # The command name (field 2) may hold spaces: the parent is the second field after it.
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == parent:
                    out.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
    return out


def _child(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=100, help="articles per add_many (an AddStream commit)")
    parser.add_argument("--window", type=int, default=10_000)
    parser.add_argument("--snapshot-every", type=int, default=10_000, help="as dedup serve's option")
    parser.add_argument("--max-minutes", type=float, default=90.0, help="stop adding after this long")
    parser.add_argument("--dir", help="data directory (default: a temporary one, removed after)")
    parser.add_argument("--crash", choices=("process", "machine"), default="process",
                        help="kill the server process only (its forked snapshot writer, if one is running, "
                             "finishes), or every process of it, as when the machine goes down")
    parser.add_argument("--fill", help=argparse.SUPPRESS)
    parser.add_argument("--restart", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.fill:
        fill(args.fill, args.articles, args.batch, args.window, args.snapshot_every,
             time.perf_counter() + 60 * args.max_minutes)
        return 0
    if args.restart:
        print(json.dumps(restart(args.restart)))
        return 0
    if args.window % args.batch:
        parser.error("--window must be a multiple of --batch")

    directory = Path(args.dir or tempfile.mkdtemp(prefix="dedup-scale-"))
    progress = ROOT / "benchmarks" / "out" / "scale.progress.jsonl"
    progress.parent.mkdir(exist_ok=True)
    filler = _child("--fill", str(directory), "--articles", str(args.articles), "--batch", str(args.batch),
                    "--window", str(args.window), "--snapshot-every", str(args.snapshot_every),
                    "--max-minutes", str(args.max_minutes))
    windows, empty, filled = [], 0, 0
    with open(progress, "w") as log:
        for line in filler.stdout:
            log.write(line)
            log.flush()
            row = json.loads(line)
            if "empty_rss_bytes" in row:
                empty = row["empty_rss_bytes"]
            elif "filled" in row:
                filled = row["filled"]
                break
            else:
                windows.append(row)
                print(f"{row['articles']:>9,} articles  {row['window_rate']:>6.1f}/s  "
                      f"RSS {row['rss_bytes'] / 2**20:,.0f} MB", file=sys.stderr, flush=True)
    if args.crash == "machine":  # the snapshot writer and the analysis workers die with it
        for pid in _children(filler.pid):
            os.kill(pid, signal.SIGKILL)
    filler.send_signal(signal.SIGKILL)
    filler.wait()
    if filler.returncode != -signal.SIGKILL:
        raise SystemExit(f"the filling process failed (exit {filler.returncode}); see {progress}")
    sys.path.insert(0, str(ROOT))
    from dedup.snapshot import ARRAYS_DIR, snapshot_bytes

    sizes = {f.name: f.stat().st_size for f in directory.iterdir() if f.is_file()}
    arrays = directory / ARRAYS_DIR
    if arrays.is_dir():
        sizes[arrays.name] = sum(f.stat().st_size for f in arrays.iterdir())
    crash = json.loads(_child("--restart", str(directory)).communicate()[0].strip().splitlines()[-1])
    clean = json.loads(_child("--restart", str(directory)).communicate()[0].strip().splitlines()[-1])
    snapshot = snapshot_bytes(directory)
    if not args.dir:
        shutil.rmtree(directory, ignore_errors=True)

    last = windows[-1]
    per_article = (last["rss_bytes"] - empty) / last["articles"]
    fall = _throughput_fall(windows)
    lines = [
        f"Fill: {filled:,} articles in {last['seconds']:,.0f} s, batches of {args.batch}, "
        f"snapshot every {args.snapshot_every:,} records",
        "",
        "| articles | window articles/s | RSS MB | probe ms |",
        "|---|---|---|---|",
        *[f"| {w['articles']:,} | {w['window_rate']:,.1f} | {w['rss_bytes'] / 2**20:,.0f} | {w['probe_ms']:.2f} |"
          for w in windows],
        "",
        f"- throughput, mean of the last {fall['windows']} windows over the first {fall['windows']}: "
        f"{fall['last_rate']:,.1f} / {fall['first_rate']:,.1f} = **{fall['ratio']:.2f}x**; per unit of probe "
        f"speed (probe {fall['first_probe_ms']:.2f} ms then {fall['last_probe_ms']:.2f} ms): **{fall['probe_ratio']:.2f}x**",
        f"- resident memory per article at {last['articles']:,}: **{per_article:,.0f} bytes** "
        f"(RSS {last['rss_bytes'] / 2**20:,.0f} MB over the empty index's {empty / 2**20:,.0f} MB; "
        f"analysis workers not counted)",
        f"- restart after SIGKILL of the {'server process' if args.crash == 'process' else 'server and all its processes'} "
        f"(last complete snapshot + log tail re-analysed): **{crash['open_seconds']} s** "
        f"({crash['articles']:,} articles)",
        f"- restart after a clean stop (final snapshot only): **{clean['open_seconds']} s** "
        f"({clean['articles']:,} articles); snapshot {snapshot / 2**20:,.0f} MB",
        "- data directory at the crash: " + ", ".join(f"{name} {size / 2**20:,.0f} MB" for name, size in sorted(sizes.items())),
    ]
    publish("scale", "\n".join(lines), {
        "articles": filled, "batch": args.batch, "snapshot_every": args.snapshot_every, "windows": windows,
        "throughput_fall": fall,
        "empty_rss_bytes": empty, "rss_bytes_per_article": per_article, "restart_after_crash": crash,
        "restart_after_clean_stop": clean, "snapshot_bytes": snapshot, "files_at_crash": sizes,
    })
    return 0


def _throughput_fall(windows: list[dict]) -> dict:
    """The mean rate of the last windows over the first (`WINDOWS_COMPARED` each, fewer in a
    short run), raw and per unit of probe speed (rate times probe time)."""
    n = max(1, min(WINDOWS_COMPARED, len(windows) // 2))
    first, last = windows[:n], windows[-n:]

    def mean(rows, value):
        return sum(map(value, rows)) / len(rows)

    def rate(w):
        return w["window_rate"]

    def probe(w):
        return w["probe_ms"]

    def work(w):
        return w["window_rate"] * w["probe_ms"]

    return {"windows": n, "first_rate": mean(first, rate), "last_rate": mean(last, rate),
            "ratio": mean(last, rate) / mean(first, rate), "first_probe_ms": mean(first, probe),
            "last_probe_ms": mean(last, probe), "probe_ratio": mean(last, work) / mean(first, work)}


if __name__ == "__main__":
    sys.exit(main())
