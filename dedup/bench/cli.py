"""The `dedup-bench` command: load-test a dedup server and report what it sustained."""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc

from dedup.bench import report as reports
from dedup.bench.runner import MODES, LoadRunner, LoadSpec
from dedup.bench.workload import from_corpus, generated
from dedup.scoring import score
from dedup.v1 import dedup_pb2 as pb
from dedup.v1 import dedup_pb2_grpc as pb_grpc

# Sizing the generated workload: the generator makes a little over 3 articles per story, and
# a closed-loop run of one server is assumed to send at most this many requests per second.
_ARTICLES_PER_STORY = 3
_CLOSED_LOOP_CEILING = 600


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="dedup-bench", description="Load-test a dedup gRPC server.")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--target", metavar="HOST:PORT", help="a running server")
    where.add_argument("--spawn", action="store_true", help="start a server on a temporary data directory, stop it after")
    parser.add_argument("--mode", choices=MODES, default="add", help="what to send (default add)")
    parser.add_argument("--concurrency", type=int, default=8, help="callers (closed loop) or streams / in-flight limit")
    parser.add_argument("--rate", type=float, help="open loop: requests per second, latency from intended send times")
    stop = parser.add_mutually_exclusive_group()
    stop.add_argument("--duration", type=float, help="seconds to run")
    stop.add_argument("--count", type=int, help="requests to send")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds at the start left out of the statistics")
    parser.add_argument("--corpus", help="directory or JSONL of articles to send (default: generated syndication)")
    parser.add_argument("--stories", type=int, help="stories for the generated workload (default: enough "
                        "that no article is sent twice; about 3 articles per story)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated workload and the mix")
    parser.add_argument("--html", action="store_true", help="send HTML for the server to extract the main text "
                        "from: a corpus's pages as they are, other articles as generated news pages")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--report", metavar="FILE.html", help="write an HTML report with charts")
    parser.add_argument("--tls-ca", help="PEM root certificate: connect with TLS")
    parser.add_argument("--token-file", help="bearer token file (or set DEDUP_TOKEN)")
    args = parser.parse_args(argv)
    if args.duration is None and args.count is None:
        args.duration = 10.0
    return args


def stories_for(args: argparse.Namespace) -> int:
    """Stories to generate: `--stories`, or enough for the run's requests, since a workload
    that runs out is sent again as exact copies that pile into the first round's clusters
    and make a long run measure ever larger clusters."""
    if args.stories:
        return args.stories
    requests = args.count or args.duration * (args.rate or _CLOSED_LOOP_CEILING)
    return max(300, math.ceil(requests / _ARTICLES_PER_STORY))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        token = Path(args.token_file).read_text().strip() if args.token_file else os.environ.get("DEDUP_TOKEN")
        workload = from_corpus(args.corpus, pages=args.html) if args.corpus else generated(stories_for(args), args.seed)
    except (OSError, ValueError) as exc:
        print(f"dedup-bench: {exc}", file=sys.stderr)
        return 2
    metadata = [("authorization", f"Bearer {token}")] if token else []
    spec = LoadSpec(mode=args.mode, concurrency=args.concurrency, rate=args.rate, duration=args.duration,
                    count=args.count, warmup=args.warmup, seed=args.seed, html=args.html)
    with contextlib.ExitStack() as stack:
        target = args.target or stack.enter_context(spawned_server(token))
        channel = stack.enter_context(_channel(target, args.tls_ca))
        try:
            grpc.channel_ready_future(channel).result(timeout=30)
        except grpc.FutureTimeoutError:
            print(f"dedup-bench: cannot connect to {target}", file=sys.stderr)
            return 2
        stub = pb_grpc.DedupStub(channel)
        result = LoadRunner(stub, workload, spec, metadata, progress=None if args.json else sys.stderr).run()
        quality = duplicate_quality(stub, result.added, metadata) if workload.truth else None
    described = workload.description + (", sent as HTML pages" if args.html else "")
    summary = reports.summary(result, spec, described, quality)
    if summary["requests"] and not summary["measured"]:
        print(f"dedup-bench: every request fell in the {spec.warmup:g} s warm-up, so nothing was measured; "
              "send more (--count, --duration) or shorten it (--warmup 0)", file=sys.stderr)
    print(json.dumps(summary, indent=2) if args.json else reports.text(summary))
    if args.report:
        Path(args.report).write_text(reports.html_page(summary, result), encoding="utf-8")
    return 0


def duplicate_quality(stub, added: dict[str, str | None], metadata) -> dict | None:
    """Pairwise precision and recall of the server's copy clusters against the workload's truth."""
    ids = [i for i, t in added.items() if t is not None]
    if not ids:
        return None

    def cluster_of(article_id: str) -> str:
        return stub.Get(pb.GetRequest(id=article_id), metadata=metadata).result.cluster

    with ThreadPoolExecutor(8) as pool:
        predicted = list(pool.map(cluster_of, ids))
    s = score(predicted, [added[i] for i in ids])
    return {"precision": s.precision, "recall": s.recall, "true_pairs": s.true_pairs, "predicted_pairs": s.predicted_pairs}


@contextlib.contextmanager
def _channel(target: str, tls_ca: str | None):
    if tls_ca:
        channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(Path(tls_ca).read_bytes()))
    else:
        channel = grpc.insecure_channel(target)
    try:
        yield channel
    finally:
        channel.close()


@contextlib.contextmanager
def spawned_server(token: str | None):
    """`dedup serve` on a free port and a temporary data directory, for the run's length."""
    with tempfile.TemporaryDirectory(prefix="dedup-bench-") as data_dir:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = dict(os.environ)
        if token:
            env["DEDUP_TOKEN"] = token
        log = open(Path(data_dir) / "server.log", "w")
        proc = subprocess.Popen(
            [sys.executable, "-m", "dedup.cli", "serve", "--data-dir", f"{data_dir}/data",
             "--listen", f"127.0.0.1:{port}", "--max-concurrent", "256"],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )
        try:
            yield f"127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()


if __name__ == "__main__":
    sys.exit(main())
