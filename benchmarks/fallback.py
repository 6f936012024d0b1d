"""What an install without a C compiler costs: indexing and analysis with and without dedup's C
extensions, in one process, in alternating rounds.

    python benchmarks/fallback.py ../shared/corpora/reuters21578.jsonl [--documents 6000]
                                  [--articles 3000] [--rounds 3]

The first `--documents` valid articles are analysed once (compiled) and then indexed by a
fresh engine in each round, with the C extensions in place and with every module's handle to
them set to None (what `dedup` does where they could not be built); the sha256 of every
article's output line must be the same both ways. Analysis is timed on the first
`--articles`, with the word caches warm. CPU seconds (`time.process_time`), best of the rounds.
Prints a table and writes benchmarks/out/fallback.{md,json}.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

from published import publish  # benchmarks/published.py

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dedup.analysis as analysis  # noqa: E402
import dedup.commonness as commonness  # noqa: E402
import dedup.lsh as lsh  # noqa: E402
import dedup.normalise as normalise  # noqa: E402
import dedup.segment as segment  # noqa: E402
import dedup.sketch as sketch  # noqa: E402
import dedup.terms as terms  # noqa: E402
import dedup.verify as verify  # noqa: E402
from dedup.cli import result_record  # noqa: E402
from dedup.config import Config  # noqa: E402
from dedup.engine import Engine  # noqa: E402
from dedup.inputs import Problem, read_inputs  # noqa: E402

# Every module's handle to a compiled part.
HANDLES = [(analysis, "_analysis"), (segment, "_analysis"), (sketch, "_analysis"), (terms, "_analysis"),
           (verify, "_setops"), (commonness, "_setops"), (lsh, "_bandsearch"), (normalise, "_ascii_layout")]
COMPILED = {handle: getattr(*handle) for handle in HANDLES}


def use_compiled(on: bool) -> None:
    for module, name in HANDLES:
        setattr(module, name, COMPILED[module, name] if on else None)


def index(docs) -> tuple[float, str]:
    engine = Engine()
    started = time.process_time()
    for doc in docs:
        engine.index_document(doc)
    seconds = time.process_time() - started
    digest = hashlib.sha256()
    for summary in engine.summaries([doc.id for doc in docs]):
        digest.update(json.dumps(result_record(summary)).encode())
    return seconds, digest.hexdigest()[:16]


def analyse(articles) -> float:
    """CPU microseconds an article, word caches warm."""
    analyzer = analysis.Analyzer(Config())
    analyzer.analyse_many(articles[:500])
    started = time.process_time()
    for at in range(0, len(articles), 64):
        analyzer.analyse_many(articles[at:at + 64])
    return (time.process_time() - started) / len(articles) * 1e6


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", help="a directory or JSONL of articles (reuters21578.jsonl)")
    parser.add_argument("--documents", type=int, default=6000, help="articles indexed")
    parser.add_argument("--articles", type=int, default=3000, help="articles analysed")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if any(compiled is None for compiled in COMPILED.values()):
        sys.exit("the C extensions are not built here: nothing to compare (python setup.py build_ext --inplace)")
    config = Config()
    articles = [a for a in read_inputs([args.corpus], config.max_text_bytes) if not isinstance(a, Problem)]
    docs = analysis.Analyzer(config).analyse_many(articles[:args.documents])
    runs = {"compiled": [], "python": []}
    for _ in range(args.rounds):
        for name, on in (("compiled", True), ("python", False)):
            use_compiled(on)
            seconds, digest = index(docs)
            runs[name].append({"index_seconds": seconds, "sha256": digest, "analysis_us": analyse(articles[:args.articles])})
    use_compiled(True)
    best = {name: (min(r["index_seconds"] for r in rs), min(r["analysis_us"] for r in rs)) for name, rs in runs.items()}
    digests = {r["sha256"] for rs in runs.values() for r in rs}
    lines = [f"Indexing {len(docs):,} pre-analysed articles and analysing {min(len(articles), args.articles):,} "
             f"of {Path(args.corpus).name}, CPU, best of {args.rounds} alternating rounds:", "",
             "| build | index s | analysis µs/article | sha256 of the lines |", "|---|---|---|---|"]
    for name, (seconds, micros) in best.items():
        lines.append(f"| {name} | {seconds:.2f} | {micros:.0f} | {runs[name][0]['sha256']} |")
    (index_c, analysis_c), (index_py, analysis_py) = best["compiled"], best["python"]
    lines += ["", f"Without C: indexing {index_py / index_c:.1f}x the CPU, analysis {analysis_py / analysis_c:.1f}x; "
              + ("the same answers." if len(digests) == 1 else "THE ANSWERS DIFFER.")]
    publish("fallback", "\n".join(lines), {"corpus": args.corpus, "rounds": args.rounds, "runs": runs})
    return 0 if len(digests) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
