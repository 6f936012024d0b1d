"""Reading collections of articles from directories and JSONL files.

Readers yield `Article`s in input order and report every input they cannot use as a
`Problem` (a name and a reason) instead of raising, so one bad file never stops a batch.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dedup.article import Article, parse_timestamp
from dedup.errors import InvalidArticle

TEXT_SUFFIXES = {".txt", ".md"}
HTML_SUFFIXES = {".html", ".htm"}
JSON_SUFFIXES = {".json"}
JSONL_SUFFIXES = {".jsonl"}
SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | JSON_SUFFIXES | JSONL_SUFFIXES


@dataclass(frozen=True)
class Problem:
    """An input that was skipped, and why."""

    where: str  # a path, or "path:line" for a JSONL record
    reason: str


def read_inputs(paths: list[str], max_bytes: int) -> Iterator[Article | Problem]:
    """Articles from files, directories (walked recursively, sorted) and JSONL files."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
            if not files:
                yield Problem(raw, f"no {', '.join(sorted(SUFFIXES))} files in this directory")
            for file in files:
                yield from _read_file(file, file.relative_to(path).as_posix(), max_bytes)
        elif path.is_file():
            yield from _read_file(path, path.name, max_bytes)
        else:
            yield Problem(raw, "no such file or directory")


def _read_file(path: Path, article_id: str, max_bytes: int) -> Iterator[Article | Problem]:
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        yield from _read_jsonl(path, max_bytes)
        return
    text = _read_text(path, max_bytes)
    if isinstance(text, Problem):
        yield text
    elif suffix in JSON_SUFFIXES:
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            yield Problem(str(path), f"not valid JSON ({exc.msg} at line {exc.lineno})")
            return
        yield _from_record(record, str(path), default_id=article_id)
    elif suffix in HTML_SUFFIXES:
        yield _article(str(path), article_id, html=text)
    else:
        yield _article(str(path), article_id, text=text)


def _read_text(path: Path, max_bytes: int) -> str | Problem:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return Problem(str(path), f"{size:,} bytes, over the limit of {max_bytes:,} (see --max-text-bytes)")
        data = path.read_bytes()
    except OSError as exc:
        return Problem(str(path), f"cannot be read: {exc.strerror or exc}")
    if b"\x00" in data[:8192]:
        return Problem(str(path), "looks binary (contains NUL bytes), not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return Problem(str(path), f"is not UTF-8 (invalid byte at offset {exc.start}); convert it to UTF-8")


def _read_jsonl(path: Path, max_bytes: int) -> Iterator[Article | Problem]:
    try:
        handle = path.open("rb")
    except OSError as exc:
        yield Problem(str(path), f"cannot be read: {exc.strerror or exc}")
        return
    with handle:
        for number, line in enumerate(handle, 1):
            where = f"{path}:{number}"
            if not line.strip():
                continue
            if len(line) > max_bytes * 2:
                yield Problem(where, f"record is {len(line):,} bytes, over the limit")
                continue
            try:
                record = json.loads(line.decode("utf-8"))
            except UnicodeDecodeError:
                yield Problem(where, "record is not UTF-8")
                continue
            except json.JSONDecodeError as exc:
                yield Problem(where, f"not valid JSON ({exc.msg})")
                continue
            yield _from_record(record, where, default_id=None)


def _from_record(record, where: str, default_id: str | None) -> Article | Problem:
    if not isinstance(record, dict):
        return Problem(where, "record must be a JSON object with 'id' and 'text'")
    article_id = record.get("id", default_id)
    if article_id is None:
        return Problem(where, "record has no 'id'")
    if isinstance(article_id, int):
        article_id = str(article_id)
    text, html = record.get("text"), record.get("html")
    if text is None and html is None:
        return Problem(where, "record has neither 'text' nor 'html'")
    for name, value in (("text", text), ("html", html), ("title", record.get("title")), ("source", record.get("source"))):
        if value is not None and not isinstance(value, str):
            return Problem(where, f"'{name}' must be a string")
    try:
        published = parse_timestamp(record.get("published_at"))
    except InvalidArticle as exc:
        return Problem(where, str(exc))
    return _article(
        where, article_id, text=text, html=html,
        title=record.get("title") or "", source=record.get("source") or "", published_at=published,
    )


def _article(where: str, article_id, text: str | None = None, html: str | None = None, **fields) -> Article | Problem:
    if not isinstance(article_id, str):
        return Problem(where, "'id' must be a string")
    if text is None and html is not None:
        from dedup.html import extract_text  # trafilatura takes ~0.15 s to import: only for HTML

        title, text = extract_text(html)
        fields["title"] = fields.get("title") or title
        if not text.strip():
            return Problem(where, "no main text found in the HTML")
    if not (text or "").strip() and not fields.get("title", "").strip():
        return Problem(where, "empty text")
    return Article(id=article_id, text=text or "", **fields)


