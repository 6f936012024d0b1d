"""`dedup cluster` on a directory of HTML pages, for one checkout or several, in alternating
rounds: what a user clustering a crawl pays for main-text extraction.

    python benchmarks/html_input.py ../shared/corpora/bbc.jsonl [--rounds 3] [--root OTHER_CHECKOUT ...]

Each article of the corpus becomes one page in a temporary directory: its first line as an
`<h1>` and `<title>`, its paragraphs as `<p>`s, inside a news site's chrome (a navigation bar
of twenty links, five "related stories" teasers drawn from other articles, a footer), seeded,
so every run builds the same pages. Each checkout (this one, and each `--root`: another
checkout of dedup with its C part built) then clusters the directory with `dedup cluster`
on every core, round after round; the outputs' sha256 must agree when the checkouts extract
alike. Also timed, in this process: extracting one page (`dedup.html.extract_text`). Prints a
table and writes benchmarks/out/html_input.{md,json}.
"""
from __future__ import annotations

import argparse
import hashlib
import html
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from published import publish  # benchmarks/published.py

HERE = Path(__file__).resolve().parents[1]
NAV = "".join(f'<li><a href="/section/{i}">Section {i}</a></li>' for i in range(20))


def write_pages(corpus: Path, directory: Path, seed: int = 1) -> list[str]:
    """One HTML page per article of `corpus` (JSONL with `id` and `text`); their html."""
    rng = random.Random(seed)
    records = [json.loads(line) for line in corpus.open(encoding="utf-8") if line.strip()]
    pages = []
    for number, record in enumerate(records):
        lines = [line for line in record["text"].splitlines() if line.strip()]
        if not lines:
            continue
        title = html.escape(lines[0])
        related = "".join(f'<li><a href="/story/{rng.randrange(10**6)}">{html.escape(rng.choice(records)["text"][:70])}</a></li>'
                          for _ in range(5))
        page = (f'<!doctype html><html><head><meta charset="utf-8"><title>{title} - Example News</title></head><body>'
                f"<header><nav><ul>{NAV}</ul></nav></header><main><article><h1>{title}</h1>"
                + "".join(f"<p>{html.escape(line)}</p>" for line in lines[1:])
                + f"</article><aside><h2>Related stories</h2><ul>{related}</ul></aside></main>"
                "<footer><p>Copyright Example News. All rights reserved.</p><a href='/privacy'>Privacy</a></footer></body></html>")
        (directory / f"{number:06d}.html").write_text(page, encoding="utf-8")
        pages.append(page)
    return pages


def run_cluster(root: Path, pages: Path, out: Path) -> dict:
    """`dedup cluster` of `root`'s checkout on `pages`, in a process of its own: wall and CPU
    seconds (its worker processes included), and the output's sha256."""
    command = [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(root)!r}); "
               "from dedup.cli import console; sys.exit(console())",
               "cluster", str(pages), "--out", str(out), "--quiet"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit(f"dedup cluster in {root} failed:\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    lines = out.read_bytes()
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "documents": lines.count(b"\n"),
            "sha256": hashlib.sha256(lines).hexdigest()[:16]}


def extraction_ms(pages: list[str], count: int = 300) -> float:
    """Milliseconds to extract one page (this checkout), after a warm-up."""
    from dedup.html import extract_text

    sample = pages[:count]
    for page in sample[:20]:
        extract_text(page)
    started = time.perf_counter()
    for page in sample:
        extract_text(page)
    return (time.perf_counter() - started) / len(sample) * 1000


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, help="a JSONL corpus with id and text (bbc.jsonl)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--root", action="append", default=[], type=Path,
                        help="another checkout to measure the same way (repeatable)")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    sys.path.insert(0, str(HERE))
    roots = [HERE, *(r.resolve() for r in args.root)]
    runs: dict[str, list[dict]] = {str(r): [] for r in roots}
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "pages"
        directory.mkdir()
        pages = write_pages(args.corpus, directory)
        per_page = extraction_ms(pages)
        for _ in range(args.rounds):
            for root in roots:
                runs[str(root)].append(run_cluster(root, directory, Path(tmp) / "pred.jsonl"))
    size = sum(len(p.encode()) for p in pages) / len(pages)
    lines = [f"`dedup cluster` on {len(pages):,} HTML pages made from {args.corpus.name} (mean {size / 1024:.1f} KB), "
             f"{args.rounds} alternating rounds; extracting one page in this checkout: {per_page:.2f} ms", "",
             "| checkout | wall s, best | wall s, every round | pages/s (best) | CPU s (best round) | sha256 of the output |",
             "|---|---|---|---|---|---|"]
    for root, rows in runs.items():
        best = min(rows, key=lambda r: r["wall_s"])
        every = ", ".join(f"{r['wall_s']:.2f}" for r in rows)
        lines.append(f"| {root} | {best['wall_s']:.2f} | {every} | "
                     f"{best['documents'] / best['wall_s']:,.0f} | {best['cpu_s']:.2f} | {best['sha256']} |")
    publish("html_input", "\n".join(lines),
            {"corpus": str(args.corpus), "pages": len(pages), "extract_ms": round(per_page, 3), "runs": runs})
    return 0


if __name__ == "__main__":
    sys.exit(main())
