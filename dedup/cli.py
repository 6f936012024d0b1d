"""The `dedup` command: batch clustering, explanations, and the server."""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from collections.abc import Sequence

from dedup import collector
from dedup.config import Config
from dedup.engine import Engine, Summary
from dedup.inputs import Article, Problem, count_documents, read_inputs
from dedup.verify import Match

# Decision thresholds a user may want to change per run, with their help text.
THRESHOLD_FLAGS = {
    "near_duplicate": "Jaccard similarity of two bodies at or above which they are near-duplicates",
    "syndicated": "share of one body contained in the other at or above which it is a syndicated copy",
    "version": "share of one body's own words found in the other at or above which they are versions",
    "rewrite": "story-term cosine similarity at or above which two long articles tell the same story",
    "rewrite_short": "raises the rewrite threshold for short texts by this over the square root of their terms",
    "rewrite_specific": "a rewrite must also reach this cosine over the story terms not common in the "
                        "collection, so a wire's formula is not a story (0 turns it off)",
    "copy_specific": "a copy (but an exact one) must hold this share of one side's story terms not common in "
                     "the collection, so notices filled into one template are not copies (0 turns it off)",
    "common_term_share": "a story term in at least this share of the collection (and in 50 documents) is common: "
                         "a formula, not what is specific to a story",
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="dedup", description="Find copies, syndicated versions, excerpts and rewrites in news text."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("cluster", help="cluster a collection of articles into copy and story clusters")
    run.add_argument("inputs", nargs="+", metavar="INPUT",
                     help="a directory (.txt .md .html .htm .json .jsonl files), a .jsonl file (or .jsonl.gz, "
                          ".jsonl.bz2, .jsonl.xz), or '-' for JSONL on standard input")
    run.add_argument("-o", "--out", required=True, metavar="PRED.jsonl",
                     help="where to write one JSON line per document, in input order ('-' for stdout)")
    run.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                     help="processes that analyse articles (default: every core)")
    run.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    run.add_argument("--report", metavar="REPORT.html", help="also write a browsable HTML report of the clusters")
    run.add_argument("--dask", metavar="SCHEDULER",
                     help="analyse on a Dask cluster: a scheduler address, or 'local' for local worker processes")
    _add_spill_flags(run)
    _add_config_flags(run)

    report = commands.add_parser("report", help="write the HTML report of an earlier `dedup cluster` run")
    report.add_argument("predictions", metavar="PRED.jsonl", help="the output of dedup cluster")
    report.add_argument("inputs", nargs="+", metavar="INPUT", help="the inputs that run clustered")
    report.add_argument("-o", "--out", required=True, metavar="REPORT.html")
    report.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    _add_spill_flags(report)
    _add_config_flags(report)

    explain = commands.add_parser("explain", help="show why two documents match: relation, scores, shared passages")
    explain.add_argument("a", help="a file, or an id in --in")
    explain.add_argument("b", help="a file, or an id in --in")
    # One value per flag (repeat it for several inputs): `nargs="+"` would swallow A and B
    # when the flag comes first, as in `dedup explain --in corpus.jsonl A B`.
    explain.add_argument("--in", dest="inputs", action="append", metavar="INPUT",
                         help="look A and B up by id in this input (a directory or JSONL file; "
                              "repeat for several) instead of reading them as files, and explain "
                              "them as `dedup cluster` sees them: after indexing the whole input")
    _add_config_flags(explain)

    serve = commands.add_parser("serve", help="run the gRPC service on a durable index")
    serve.add_argument("--data-dir", default="dedup-data", help="directory of the embedded store (default ./dedup-data)")
    serve.add_argument("--store", metavar="redis://HOST:PORT/DB",
                       help="share one index with other servers through Redis instead of --data-dir")
    serve.add_argument("--redis-prefix", default="dedup", help="key prefix of the index in Redis (default 'dedup')")
    serve.add_argument("--listen", default="127.0.0.1:50051", help="address to listen on (default 127.0.0.1:50051)")
    serve.add_argument("--token-file", help="require this bearer token (first line of the file); "
                       "or set DEDUP_TOKEN. Never pass a token on the command line")
    serve.add_argument("--tls-cert", help="PEM certificate chain; with --tls-key, serve TLS")
    serve.add_argument("--tls-key", help="PEM private key")
    serve.add_argument("--max-concurrent", type=int, default=64,
                       help="calls in progress beyond which new ones get RESOURCE_EXHAUSTED (default 64)")
    serve.add_argument("--max-message-mb", type=float, default=16.0, help="largest request accepted (default 16 MB)")
    serve.add_argument("--workers", type=int, default=16, help="threads serving calls (default 16)")
    serve.add_argument("--analysis-workers", type=int, default=os.cpu_count() or 1,
                       help="processes that analyse articles for concurrent calls (default: one per core; 0: in the serving threads)")
    serve.add_argument("--grace", type=float, default=10.0, help="seconds in-flight calls get at shutdown")
    serve.add_argument("--snapshot-every", type=int, default=10_000, metavar="RECORDS",
                       help="with the embedded store, snapshot the index from a forked process every RECORDS "
                            "stored records, so a restart after a crash replays only the log after it "
                            "(default 10000; 0: only at a clean stop)")
    serve.add_argument("--spill-documents", action=argparse.BooleanOptionalAction, default=True,
                       help="with the embedded store, keep analysed documents in a scratch file in the data "
                            "directory, with the 2,048 most recently used in RAM (default; about 40%% less "
                            "memory per article, about 20%% slower indexing), or all in RAM")
    serve.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on 127.0.0.1:PORT/metrics")
    _add_config_flags(serve)
    return parser.parse_args(argv)


def _add_spill_flags(parser: argparse.ArgumentParser) -> None:
    from dedup.batch import SPILL_AFTER

    parser.add_argument("--spill-after", type=_non_negative, default=SPILL_AFTER, metavar="N",
                        help="once N documents are indexed, keep the analysed documents in a scratch file "
                             f"instead of RAM (default {SPILL_AFTER:,}; 0: from the start)")
    parser.add_argument("--tmp-dir", metavar="DIR",
                        help="where that scratch file goes (default: the system's temporary directory)")


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    defaults = Config()
    for name, help_text in THRESHOLD_FLAGS.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=float, default=getattr(defaults, name),
                            metavar="X", help=f"{help_text} (default {getattr(defaults, name)})")
    parser.add_argument("--version-run-tokens", type=int, default=defaults.version_run_tokens, metavar="N",
                        help="words in a row that versions must share at least once (capped at a quarter "
                        f"of the shorter body; default {defaults.version_run_tokens})")
    parser.add_argument("--story-bucket-limit", type=int, default=defaults.story_bucket_limit, metavar="N",
                        help="story bands shared by more indexed articles than this propose no candidates "
                        f"(keeps an add's cost flat as the index grows; default {defaults.story_bucket_limit})")
    parser.add_argument("--max-text-bytes", type=int, default=defaults.max_text_bytes,
                        help=f"skip documents larger than this (default {defaults.max_text_bytes:,})")


def _config(args: argparse.Namespace) -> Config:
    changes = {name: getattr(args, name) for name in THRESHOLD_FLAGS}
    return Config(max_text_bytes=args.max_text_bytes, version_run_tokens=args.version_run_tokens,
                  story_bucket_limit=args.story_bucket_limit, **changes)


def console(argv: Sequence[str] | None = None) -> int:
    """The `dedup` command: `main` in a process of its own, whose growing index must not be
    paused by full garbage collections (see `dedup.collector`)."""
    collector.enable()
    try:
        return main(argv)
    except BrokenPipeError:
        # The reader of standard output left (`dedup cluster ... --out - | head`): stop
        # quietly, as a pipeline's commands do, instead of a traceback at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = _config(args)
    except ValueError as exc:
        print(f"dedup: {exc}", file=sys.stderr)
        return 2
    if args.command == "cluster":
        return run_cluster(args, config)
    if args.command == "serve":
        return run_serve(args, config)
    if args.command == "report":
        return run_report(args, config)
    return run_explain(args, config)


# -- dedup serve --------------------------------------------------------------------------

def run_serve(args: argparse.Namespace, config: Config) -> int:
    import logging

    # Periodic snapshots fork a child that only pickles the index; gRPC's fork support would
    # restart its threads in that child. Must be set before gRPC is first imported.
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

    from multiprocessing import get_context

    from dedup.batch import start_analysis_pool
    from dedup.errors import DedupError
    from dedup.index import Index

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        token = _read_token(args.token_file)
        cert = _read_file(args.tls_cert) if args.tls_cert else None
        key = _read_file(args.tls_key) if args.tls_key else None
    except OSError as exc:
        print(f"dedup: {exc}", file=sys.stderr)
        return 2
    if bool(cert) != bool(key):
        print("dedup: give both --tls-cert and --tls-key, or neither", file=sys.stderr)
        return 2
    if args.store and not args.store.startswith(("redis://", "rediss://", "unix://")):
        print(f"dedup: --store must be a redis:// URL, got {args.store!r}", file=sys.stderr)
        return 2
    with contextlib.ExitStack() as stack:
        pool = None
        if args.analysis_workers > 0:
            # Started before any gRPC thread exists, and not by fork, which gRPC does not survive.
            pool = stack.enter_context(start_analysis_pool(config, args.analysis_workers, get_context("spawn")))
        try:
            if args.store:
                index = Index.open_redis(args.store, config, args.redis_prefix, analysis_pool=pool)
            else:
                index = Index.open(args.data_dir, config, analysis_pool=pool, snapshot_every=args.snapshot_every,
                                   spill_documents=args.spill_documents)
        except DedupError as exc:
            print(f"dedup: {exc}", file=sys.stderr)
            return 2
        return _serve_index(index, args, token, cert, key)


def _serve_index(index, args: argparse.Namespace, token, cert, key) -> int:
    from dedup.service.server import ServerSettings, serve

    settings = ServerSettings(
        address=args.listen, workers=args.workers, max_concurrent_rpcs=args.max_concurrent,
        max_message_bytes=int(args.max_message_mb * 1024 * 1024), token=token, tls_cert=cert, tls_key=key,
        grace_seconds=args.grace, metrics_port=args.metrics_port,
    )
    try:
        serve(index, settings)
    except OSError as exc:
        print(f"dedup: {exc}", file=sys.stderr)
        index.close()
        return 2
    return 0


def _read_token(path: str | None) -> str | None:
    if path:
        token = Path(path).read_text().strip().splitlines()[0].strip() if Path(path).read_text().strip() else ""
        if not token:
            raise OSError(f"token file {path} is empty")
        return token
    return os.environ.get("DEDUP_TOKEN") or None


def _read_file(path: str) -> bytes:
    return Path(path).read_bytes()


# -- dedup cluster ------------------------------------------------------------------------

def run_cluster(args: argparse.Namespace, config: Config) -> int:
    from dedup.batch import cluster  # the process pool is only needed here

    if not _tmp_dir_usable(args.tmp_dir):
        return 2
    progress = None if args.quiet else Progress(count_documents(args.inputs))
    started = time.perf_counter()
    with _dask_executor(args.dask, args.workers) as executor:
        run = cluster(read_inputs(args.inputs, config.max_text_bytes, pages=True), config, max(1, args.workers),
                      on_progress=progress.update if progress else None, executor=executor,
                      spill_after=args.spill_after, spill_dir=args.tmp_dir)
    elapsed = time.perf_counter() - started
    if progress:
        progress.finish()
    try:
        out = sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8")
        try:
            for result in run.engine.summaries(run.ids):
                out.write(json.dumps(result_record(result), ensure_ascii=False) + "\n")
        finally:
            if out is not sys.stdout:
                out.close()
        report_problems(run.problems)
        if not args.quiet:
            print(summary(run.engine, len(run.ids), len(run.problems), elapsed, args.out), file=sys.stderr)
        if args.report:
            write_report(run.engine, run.ids, args.report, " ".join(args.inputs))
    finally:
        run.close()
    return 1 if run.problems else 0


def _tmp_dir_usable(path: str | None) -> bool:
    """Whether the scratch directory can take the spilled documents; said now, not after an
    hour of clustering."""
    if path is None or (os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK)):
        return True
    print(f"dedup: --tmp-dir {path} is not a writable directory", file=sys.stderr)
    return False


def write_report(engine: Engine, ids: list[str], path: str, title: str) -> None:
    from dedup.report import render, report_data

    Path(path).write_text(render(report_data(engine, ids, f"dedup: {title}")), encoding="utf-8")
    print(f"dedup: report written to {path}", file=sys.stderr)


# -- dedup report -------------------------------------------------------------------------

def run_report(args: argparse.Namespace, config: Config) -> int:
    from dedup.batch import cluster

    try:
        with open(args.predictions, encoding="utf-8") as handle:
            predicted = {r["id"]: r for r in map(json.loads, filter(str.strip, handle))}
    except (OSError, ValueError, KeyError) as exc:
        print(f"dedup: cannot read predictions {args.predictions}: {exc}", file=sys.stderr)
        return 1
    if not _tmp_dir_usable(args.tmp_dir):
        return 2
    run = cluster(read_inputs(args.inputs, config.max_text_bytes, pages=True), config, max(1, args.workers),
                  spill_after=args.spill_after, spill_dir=args.tmp_dir)
    try:
        ids = [i for i in run.ids if i in predicted]
        missing = set(predicted) - set(run.ids)
        if missing:
            print(f"dedup: {len(missing):,} predicted ids are not in the inputs, e.g. {sorted(missing)[:3]}",
                  file=sys.stderr)
            return 1
        differ = sum(1 for s in run.engine.summaries(ids) if s.cluster != predicted[s.id]["cluster"])
        if differ:
            print(f"dedup: warning: {differ:,} documents cluster differently now than in {args.predictions} "
                  "(other thresholds?); the report shows the clusters as computed now", file=sys.stderr)
        write_report(run.engine, ids, args.out, args.predictions)
    finally:
        run.close()
    return 0


@contextlib.contextmanager
def _dask_executor(address: str | None, workers: int):
    """A Dask cluster's executor (`local`: worker processes on this machine), or None."""
    if not address:
        yield None
        return
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise SystemExit("dedup: --dask needs Dask: pip install 'dask[distributed]'") from None
    with contextlib.ExitStack() as stack:
        if address == "local":
            cluster = stack.enter_context(LocalCluster(n_workers=max(1, workers), threads_per_worker=1,
                                                       processes=True, dashboard_address=None))
            client = stack.enter_context(Client(cluster))
        else:
            client = stack.enter_context(Client(address, timeout=30))
        yield client.get_executor()


def report_problems(problems: list[Problem], shown: int = 20) -> None:
    """Name the skipped inputs on stderr: the first few, then a count per reason."""
    for problem in problems[:shown]:
        print(f"dedup: skipped {problem.where}: {problem.reason}", file=sys.stderr)
    if len(problems) > shown:
        reasons = Counter(p.reason for p in problems[shown:])
        detail = "; ".join(f"{n:,} {reason}" for reason, n in reasons.most_common(5))
        print(f"dedup: ... and {len(problems) - shown:,} more skipped ({detail})", file=sys.stderr)


def result_record(result: Summary) -> dict:
    """One output line: the contract fields first, then sizes and the strongest matches."""
    return {
        "id": result.id,
        "cluster": result.cluster,
        "story": result.story,
        "canonical": result.canonical,
        "relation": result.relation,
        "similarity": round(result.similarity, 4),
        "story_canonical": result.story_canonical,
        "cluster_size": result.cluster_size,
        "story_size": result.story_size,
        "matches": [
            {"id": m.b, "relation": m.relation, "similarity": m.similarity} for m in result.matches[:10]
        ],
    }


def summary(engine: Engine, documents: int, skipped: int, seconds: float, out: str) -> str:
    stats = engine.stats()
    copies = [len(c) for c in engine.copies.clusters()]
    in_copies = sum(n for n in copies if n > 1)
    rate = documents / seconds if seconds > 0 else 0.0
    lines = [
        f"dedup: {documents:,} documents in {seconds:.1f} s ({rate:,.0f}/s)"
        + (f", {skipped:,} input{'s' if skipped != 1 else ''} skipped" if skipped else ""),
        f"  copy clusters:  {stats['copy_clusters']:,} ({sum(1 for n in copies if n > 1):,} with copies; "
        f"{in_copies:,} documents, {in_copies / max(documents, 1):.1%}, are in one; largest {max(copies, default=0)})",
        f"  story clusters: {stats['story_clusters']:,}",
        f"  written to {'standard output' if out == '-' else out}",
    ]
    return "\n".join(lines)


class Progress:
    """A one-line progress bar on stderr, redrawn at most five times a second."""

    def __init__(self, total: int | None, stream=sys.stderr) -> None:
        self.total, self.stream = total, stream
        self.started = time.perf_counter()
        self.last = self.started
        self.done = 0
        self.live = stream.isatty()

    def update(self, done: int) -> None:
        self.done = done
        now = time.perf_counter()
        if now - self.last >= (0.2 if self.live else 10.0):
            self.last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        rate = self.done / max(now - self.started, 1e-9)
        if self.total:
            share = min(1.0, self.done / self.total)
            bar = "#" * int(share * 30)
            eta = (self.total - self.done) / rate if rate else 0
            line = f"[{bar:<30}] {self.done:,}/{self.total:,} {rate:,.0f} docs/s eta {eta:,.0f}s"
        else:
            line = f"{self.done:,} documents {rate:,.0f} docs/s"
        self.stream.write(("\r" + line) if self.live else line + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.done:
            self._draw(time.perf_counter())
        if self.live:
            self.stream.write("\n")


# -- dedup explain ------------------------------------------------------------------------

def run_explain(args: argparse.Namespace, config: Config) -> int:
    if args.inputs:
        return _explain_in_collection(args, config)
    articles = []
    for path in (args.a, args.b):
        items = list(read_inputs([path], config.max_text_bytes))
        if len(items) != 1 or isinstance(items[0], Problem):
            reason = items[0].reason if items and isinstance(items[0], Problem) else "holds more than one document; use --in"
            print(f"dedup: {path}: {reason}", file=sys.stderr)
            return 1
        articles.append(items[0])
    if articles[0].id == articles[1].id:
        articles[1] = Article(**{**articles[1].__dict__, "id": articles[1].id + " (2)"})
    engine = Engine(config)
    for article in articles:
        engine.add(article)
    print(explanation(engine, engine.relation_to(articles[0].id, articles[1].id)))
    return 0


def _explain_in_collection(args: argparse.Namespace, config: Config) -> int:
    """Explain two documents of a collection as `dedup cluster` sees them: the whole
    collection is indexed first, so its common boilerplate and story terms apply."""
    from dedup.batch import cluster

    progress = Progress(count_documents(args.inputs))
    run = cluster(read_inputs(args.inputs, config.max_text_bytes, pages=True), config, os.cpu_count() or 1,
                  on_progress=progress.update)
    progress.finish()
    try:
        missing = [w for w in (args.a, args.b) if w not in run.engine]
        if missing:
            print(f"dedup: no document with id {', '.join(map(repr, missing))} in {' '.join(args.inputs)}",
                  file=sys.stderr)
            return 1
        print(f"in the context of {len(run.ids):,} documents of {' '.join(args.inputs)}")
        print(explanation(run.engine, run.engine.relation_to(args.a, args.b)))
        return 0
    finally:
        run.close()


def explanation(engine: Engine, match: Match) -> str:
    a = engine.document(match.a)
    lines = [
        f"{match.a}  vs  {match.b}",
        f"relation:     {match.relation or 'unrelated'} (similarity {match.similarity:.3f})",
        f"jaccard:      {match.jaccard:.3f}",
        f"containment:  {match.containment_a:.3f} of {match.a} is in {match.b}; "
        f"{match.containment_b:.3f} of {match.b} is in {match.a}",
        f"own words:    {match.own_words:.3f} (outside quotations, the larger side's share found in the other)",
        f"story terms:  {match.story:.3f} (weighted cosine)",
        f"specific:     {engine.specific_share(match.a, match.b):.3f} of one side's specific story terms are in the other "
        f"(a copy needs {engine.config.copy_specific:.2f})",
        f"shared:       {match.shared_tokens} words in {len(match.passages)} passage{'' if len(match.passages) == 1 else 's'}",
    ]
    for p in sorted(match.passages, key=lambda p: -p.tokens)[:20]:
        text = " ".join(a.text[p.a_start:p.a_end].split())
        lines.append(f"  [{p.tokens:>4} words] {text[:300]}{'...' if len(text) > 300 else ''}")
    if len(match.passages) > 20:
        lines.append(f"  ... and {len(match.passages) - 20} shorter passages")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(console())
