"""Reading collections of articles from directories, JSONL files and standard input.

Readers yield `Article`s in input order and report every input they cannot use as a
`Problem` (a name and a reason) instead of raising, so one bad file never stops a batch.
JSONL dumps may come compressed (`.jsonl.gz`, `.jsonl.bz2`, `.jsonl.xz`, as archives ship
them) or on standard input (`-`); both are read as they stream, never whole into memory.
"""
from __future__ import annotations

import bz2
import contextlib
import gzip
import json
import lzma
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from dedup.article import Article, parse_timestamp
from dedup.errors import InvalidArticle

TEXT_SUFFIXES = {".txt", ".md"}
HTML_SUFFIXES = {".html", ".htm"}
JSON_SUFFIXES = {".json"}
JSONL_SUFFIXES = {".jsonl"}
SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | JSON_SUFFIXES | JSONL_SUFFIXES
COMPRESSIONS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
STDIN = "-"  # as an input: JSONL records on standard input
# What a damaged or truncated compressed stream raises while it is read.
_DAMAGED = (OSError, EOFError, zlib.error, lzma.LZMAError)


@dataclass(frozen=True)
class Problem:
    """An input that was skipped, and why."""

    where: str  # a path, or "path:line" for a JSONL record
    reason: str


def read_inputs(paths: list[str], max_bytes: int, pages: bool = False) -> Iterator[Article | Page | Problem]:
    """Articles from files, directories (walked recursively, sorted), JSONL files (plain or
    compressed) and standard input (`-`, JSONL). With `pages`, an HTML page comes as a `Page`
    whose text the caller extracts where it likes; else as its article."""
    for item in _read_all(paths, max_bytes):
        yield item.article() if isinstance(item, Page) and not pages else item


def _read_all(paths: list[str], max_bytes: int) -> Iterator[Article | Page | Problem]:
    for raw in paths:
        path = Path(raw)
        if raw == STDIN:
            yield from _read_jsonl("<stdin>", lambda: contextlib.nullcontext(sys.stdin.buffer), max_bytes)
        elif path.is_dir():
            files = input_files(path)
            if not files:
                yield Problem(raw, f"no {', '.join(sorted(SUFFIXES))} files (or compressed .jsonl) in this directory")
            for file in files:
                yield from _read_file(file, file.relative_to(path).as_posix(), max_bytes)
        elif path.is_file():
            yield from _read_file(path, path.name, max_bytes)
        else:
            yield Problem(raw, "no such file or directory")


def count_documents(paths: list[str]) -> int | None:
    """A cheap count of the documents `read_inputs` will yield, for a progress bar: lines of
    JSONL (compressed ones decompressed once more), files in directories; None when it cannot
    be known (standard input, an unreadable or damaged file)."""
    total = 0
    try:
        for raw in paths:
            if raw == STDIN:
                return None
            path = Path(raw)
            for file in input_files(path) if path.is_dir() else [path]:
                if input_format(file) in JSONL_SUFFIXES:
                    with _open_binary(file) as handle:
                        total += sum(1 for line in handle if line.strip())
                else:
                    total += 1
    except _DAMAGED:
        return None
    return total


def input_files(directory: Path) -> list[Path]:
    """The files of `directory` (and below) that are read, sorted."""
    return sorted(p for p in directory.rglob("*") if p.is_file() and input_format(p) is not None)


def input_format(path: Path) -> str | None:
    """The suffix of the format `path` is read in, a compressed dump's being `.jsonl`; None for
    a file a directory walk passes over."""
    suffix = path.suffix.lower()
    if suffix in COMPRESSIONS:
        return ".jsonl" if Path(path.stem).suffix.lower() in JSONL_SUFFIXES else None
    return suffix if suffix in SUFFIXES else None


def _open_binary(path: Path):
    """`path` opened for reading bytes, decompressed as its suffix says."""
    return COMPRESSIONS.get(path.suffix.lower(), open)(path, "rb")


def _read_file(path: Path, article_id: str, max_bytes: int) -> Iterator[Article | Page | Problem]:
    suffix, kind = path.suffix.lower(), input_format(path)
    if kind in JSONL_SUFFIXES:
        yield from _read_jsonl(str(path), lambda: _open_binary(path), max_bytes)
        return
    if suffix in COMPRESSIONS:
        yield Problem(str(path), f"a compressed input is read only as JSONL: name it NAME.jsonl{suffix}")
        return
    data = _read_bytes(path, max_bytes)
    if isinstance(data, Problem):
        yield data
        return
    if suffix in HTML_SUFFIXES:
        # A page not in UTF-8 names its own encoding (<meta charset>): the extractor reads
        # that from its bytes.
        try:
            html = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            html = data
        yield _article(str(path), article_id, html=html)
        return
    text = _decoded(path, data)
    if isinstance(text, Problem):
        yield text
    elif suffix in JSON_SUFFIXES:
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            yield Problem(str(path), f"not valid JSON ({exc.msg} at line {exc.lineno})")
            return
        yield _from_record(record, str(path), default_id=article_id)
    else:
        yield _article(str(path), article_id, text=text)


def _read_bytes(path: Path, max_bytes: int) -> bytes | Problem:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return Problem(str(path), f"{size:,} bytes, over the limit of {max_bytes:,} (see --max-text-bytes)")
        data = path.read_bytes()
    except OSError as exc:
        return Problem(str(path), f"cannot be read: {exc.strerror or exc}")
    if b"\x00" in data[:8192]:
        return Problem(str(path), "looks binary (contains NUL bytes), not text")
    return data


def _decoded(path: Path, data: bytes) -> str | Problem:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return Problem(str(path), f"is not UTF-8 (invalid byte at offset {exc.start}); convert it to UTF-8")


def _read_jsonl(name: str, open_binary: Callable, max_bytes: int) -> Iterator[Article | Page | Problem]:
    """The records of one JSONL stream; `open_binary()` opens it for reading bytes. A stream
    that breaks off (damaged or truncated compression, a failing disk) keeps the records read
    before the break, and the break is reported at the line it stopped."""
    try:
        handle = open_binary()
    except OSError as exc:
        yield Problem(name, f"cannot be read: {exc.strerror or exc}")
        return
    with handle as stream:
        lines, number = iter(stream), 0
        while True:
            try:
                line = next(lines)
            except StopIteration:
                return
            except _DAMAGED as exc:
                yield Problem(f"{name}:{number + 1}", f"reading stopped here: {exc or type(exc).__name__} "
                                                      "(damaged or cut short?); the records before it were kept")
                return
            number += 1
            where = f"{name}:{number}"
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


def _from_record(record, where: str, default_id: str | None) -> Article | Page | Problem:
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


def _article(where: str, article_id, text: str | None = None, html: str | None = None, **fields) -> Article | Page | Problem:
    if not isinstance(article_id, str):
        return Problem(where, "'id' must be a string")
    if text is None and html is not None:
        return Page(where, article_id, html, fields)
    return _checked(where, article_id, text, fields)


def _checked(where: str, article_id: str, text: str, fields: dict) -> Article | Problem:
    if not (text or "").strip() and not fields.get("title", "").strip():
        return Problem(where, "empty text")
    return Article(id=article_id, text=text or "", **fields)


@dataclass(frozen=True)
class Page:
    """An HTML page as read: its main text is extracted (`article`) where the analysis runs,
    in a batch's worker processes, since extraction costs about as much as the analysis."""

    where: str
    id: str
    html: str | bytes  # bytes: a file not in UTF-8, decoded as the page declares
    fields: dict  # title, source, published_at as the record gave them

    def article(self) -> Article | Problem:
        from dedup.html import extract_text  # trafilatura takes ~0.15 s to import: only for HTML

        title, text = extract_text(self.html)
        if not text.strip():
            return Problem(self.where, "no main text found in the HTML")
        return _checked(self.where, self.id, text, {**self.fields, "title": self.fields.get("title") or title})
