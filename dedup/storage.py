"""The embedded store: one data directory with the index configuration and a write-ahead log.

Every change to the index (an article added, an article deleted) is appended to
``articles.log`` and fsynced before the caller acknowledges it. The index itself is a
deterministic function of that sequence, so a restart replays the log through a fresh
engine and gets the identical index, clusters and answers.

Log format: records of ``[4-byte length][4-byte CRC-32][payload]``, the payload a JSON
object. A crash can leave only a torn record at the end (it was never acknowledged); it is
cut off when the log is opened. A damaged record anywhere else is refused loudly.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import struct
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

from dedup.article import Article, parse_timestamp
from dedup.config import Config
from dedup.errors import IncompatibleIndex, StoreFailure, StoreUnavailable

_HEADER = struct.Struct("<II")
LOG_NAME = "articles.log"
LOCK_NAME = "lock"
CONFIG_NAME = "config.json"


class StaleRead(Exception):
    """Another writer appended since the caller last read: read the new changes, then retry."""


def article_record(article: Article) -> dict:
    return {
        "op": "add", "id": article.id, "text": article.text, "title": article.title,
        "source": article.source,
        "published_at": article.published_at.isoformat() if article.published_at else None,
        "metadata": dict(article.metadata),
    }


def record_article(record: dict) -> Article:
    return Article(
        id=record["id"], text=record["text"], title=record.get("title", ""), source=record.get("source", ""),
        published_at=parse_timestamp(record.get("published_at")), metadata=record.get("metadata") or {},
    )


class LogStore:
    """An append-only, checksummed, fsynced log of index changes in one directory."""

    def __init__(self, directory: str | os.PathLike, config: Config) -> None:
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreFailure(f"cannot create data directory {self.directory}: {exc.strerror}") from exc
        self._lock_file = self._lock_directory()
        self._check_config(config)
        self._path = self.directory / LOG_NAME
        self._lock = threading.Lock()
        self._valid_bytes = self._scan()
        try:
            self._file = open(self._path, "ab")
        except OSError as exc:
            raise StoreFailure(f"cannot open {self._path} for writing: {exc.strerror}") from exc
        if self._file.tell() != self._valid_bytes:
            # Cut a torn record left by a crash (never acknowledged).
            self._file.truncate(self._valid_bytes)
            self._file.seek(self._valid_bytes)
            os.fsync(self._file.fileno())

    def describe(self) -> str:
        return f"embedded:{self.directory}"

    @property
    def end(self) -> int:
        """The position after the last stored change."""
        return self._valid_bytes

    def _lock_directory(self):
        """One writer per data directory: a second server on it would interleave its log."""
        handle = open(self.directory / LOCK_NAME, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise StoreFailure(
                f"the data directory {self.directory} is in use by another dedup process; "
                "stop it, or give this server its own --data-dir"
            ) from None
        return handle

    start = 0  # the position before the first change
    shared = False  # this process is the only writer (the directory is locked)

    # -- configuration ------------------------------------------------------------------------

    def _check_config(self, config: Config) -> None:
        path = self.directory / CONFIG_NAME
        wanted = config.index_fields()
        if path.exists():
            stored = json.loads(path.read_text())
            diffs = [f"{k}: stored {stored.get(k)!r}, requested {v!r}" for k, v in wanted.items() if stored.get(k) != v]
            if diffs:
                raise IncompatibleIndex(
                    f"the index in {self.directory} was built with a different configuration ("
                    + "; ".join(diffs)
                    + "); start with the stored settings or use a new data directory"
                )
            return
        tmp = path.with_suffix(".tmp")
        try:
            with open(tmp, "w") as handle:
                json.dump(wanted, handle, indent=2, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
            fsync_directory(self.directory)
        except OSError as exc:
            raise _store_error(exc, f"cannot write {path}") from exc

    # -- reading ------------------------------------------------------------------------------

    def _scan(self) -> int:
        """Bytes of whole, valid records at the start of the log (checksums only: parsing
        every record would cost more than the rest of a restart from a snapshot)."""
        valid = 0
        for _, end in _frames(self._path):
            valid = end
        return valid

    def read(self, after: int = 0) -> Iterator[tuple[int, dict]]:
        """Stored changes after position `after` (the end of a record, as `append` and `end`
        return), oldest first, each with its own position. Reading starts at `after`: a
        restart from a snapshot reads only the records the snapshot does not hold.

        This process is the log's only writer, so once replayed there is nothing new to read.
        """
        if after >= self._valid_bytes:
            return
        end = after
        for payload, end in _frames(self._path, start=after):
            if end > self._valid_bytes:
                return
            yield end, json.loads(payload)
        if end < self._valid_bytes:  # what stopped the frames was not the tail
            raise StoreFailure(f"{self._path}: position {after} is not the start of a record; "
                               "remove the snapshot to replay the whole log")

    def replay(self) -> Iterator[dict]:
        """Every stored change, oldest first."""
        for _, record in self.read(0):
            yield record

    # -- writing ------------------------------------------------------------------------------

    def append(self, records: list[dict], expected: int | None = None) -> int:
        """Write `records` durably, all or nothing; return the new end position.

        `expected` is the position the caller has read up to; the write is refused with
        `StaleRead` if the log has grown since. Raises `StoreUnavailable` (disk full: retry
        after space is freed) or `StoreFailure` (read-only or failing storage); the log is
        left as it was.
        """
        blob = b"".join(_frame(r) for r in records)
        with self._lock:
            start = self._valid_bytes
            if expected is not None and expected != start:
                raise StaleRead(f"the log is at {start}, not {expected}")
            try:
                self._file.write(blob)
                self._file.flush()
                os.fsync(self._file.fileno())
            except OSError as exc:
                self._rollback(start)
                raise _store_error(exc, f"cannot write to {self._path}") from exc
            self._valid_bytes = start + len(blob)
            return self._valid_bytes

    def _rollback(self, size: int) -> None:
        try:
            self._file.truncate(size)
            self._file.seek(size)
        except (OSError, ValueError):
            # The file handle is unusable; reopen it so a later write can succeed.
            try:
                self._file.close()
            except OSError:
                pass
            self._file = open(self._path, "ab")
            self._file.truncate(size)

    def close(self) -> None:
        with self._lock:
            if not self._file.closed:
                try:
                    self._file.flush()
                    os.fsync(self._file.fileno())
                finally:
                    self._file.close()
                    self._lock_file.close()  # releases the directory lock


def stored_records(directory: str | os.PathLike) -> Iterator[dict]:
    """The changes stored in a data directory, read-only and without its lock (for inspection
    and integrity checks). Raises `StoreFailure` if a record other than the last is damaged."""
    for payload, _ in _frames(Path(directory) / LOG_NAME):
        yield json.loads(payload)


def _frames(path: Path, start: int = 0) -> Iterator[tuple[bytes, int]]:
    """Payloads of the whole, valid records of a log file from byte `start` (where a record
    begins), with their end offsets; stops at a torn tail."""
    if not path.exists():
        return
    size = path.stat().st_size
    with open(path, "rb") as handle:
        handle.seek(start)
        at = start
        while True:
            header = handle.read(_HEADER.size)
            if len(header) < _HEADER.size:
                return  # end, or a torn header at the tail
            length, crc = _HEADER.unpack(header)
            payload = handle.read(length)
            end = at + _HEADER.size + length
            if len(payload) < length:
                return  # torn write at the tail
            if zlib.crc32(payload) != crc:
                if end == size:
                    return  # torn write at the tail
                raise StoreFailure(f"{path} is damaged at byte {at} (checksum mismatch); restore it from a backup")
            yield payload, end
            at = end


def _frame(record: dict) -> bytes:
    payload = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def fsync_directory(path: Path) -> None:
    """Make the names of files just created or renamed in `path` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _store_error(exc: OSError, what: str) -> Exception:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StoreUnavailable(f"{what}: the disk is full; free space and retry")
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return StoreFailure(f"{what}: the data directory is not writable ({exc.strerror}); fix its permissions")
    return StoreUnavailable(f"{what}: {exc.strerror or exc}")

