"""The indexed documents by node number: in RAM, or spilled to a file and read back on demand.

An analysed `Document` is ~20 KB of arrays and text, and the index needs it only to verify the
few candidates each new article proposes, to explain a match and to build a report. What the
index consults all the time (id, publication time, body hash and length) is a `DocInfo` of a
hundred bytes. `DocumentTable` keeps both in RAM; `SpilledTable` keeps only the `DocInfo`s and
writes each document to an append-only file, reading it back (with a cache of the most recently
used) when asked. The fields that screening reads of every story-only candidate (about a sixth
of a record) are also written to a second file, so that what is read most often is dense and
stays in the page cache: at 330,000 articles the page cache held three quarters of a 6.5 GB
documents file, and screening reads that missed it were a tenth of the indexing time.

A spilled table is either scratch space (pickling it carries every document, and `close`
removes the file) or `durable`, part of an index's data directory: then a pickled table (a
snapshot) is only a `FileReference` to the records the file held at that moment, fsynced
first, and a restart reopens the file instead of reading every document out of the snapshot.
"""
from __future__ import annotations

import os
from array import array
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from dedup.analysis import Document
from dedup.record import decode, encode, screening_fields, screening_record, screening_size

# The file of screening prefixes beside a documents file at `path`.
SCREENING_SUFFIX = ".screening"
# Documents a `SpilledTable` keeps decoded: verification mostly meets recent articles again.
CACHED_DOCUMENTS = 2048


@dataclass(frozen=True, slots=True)
class DocInfo:
    """What the index reads of a document on every decision."""

    id: str
    published_at: datetime | None
    body_hash: int
    body_chars: int
    page_chars: int

    @classmethod
    def of(cls, doc: Document) -> "DocInfo":
        return cls(doc.id, doc.published_at, doc.body_hash, doc.body_chars, doc.page_chars)


class DocInfos:
    """Every node's `DocInfo`, kept in columns: about 33 bytes a document plus its id's UTF-8,
    where a `DocInfo` object with its own integers costs about 190, and an id string and a
    datetime object ~120 (an index holds one per article). Times are kept as microseconds
    since the epoch, so a `published_at` read back is the same instant, in UTC."""

    def __init__(self) -> None:
        self._id_bytes = bytearray()  # every id's UTF-8, back to back
        self._id_ends = array("q")  # where each node's id ends in `_id_bytes`
        self._live = bytearray()  # 0: removed
        self._published = array("q")  # microseconds since the epoch, or _NO_TIME
        self._hashes = array("Q")
        self._chars = array("i")  # lengths past 2**31 - 1 (2 GB of text) are kept as that
        self._page_chars = array("i")

    def __len__(self) -> int:
        return len(self._id_ends)

    def append(self, info: DocInfo | None) -> None:
        self._live.append(info is not None)
        if info is None:
            self._id_ends.append(len(self._id_bytes))
            self._published.append(_NO_TIME)
            self._hashes.append(0)
            self._chars.append(0)
            self._page_chars.append(0)
        else:
            self._id_bytes += info.id.encode("utf-8")
            self._id_ends.append(len(self._id_bytes))
            self._published.append(_NO_TIME if info.published_at is None else _microseconds(info.published_at))
            self._hashes.append(info.body_hash)
            self._chars.append(min(info.body_chars, _MAX_CHARS))
            self._page_chars.append(min(info.page_chars, _MAX_CHARS))

    def __getitem__(self, node: int) -> DocInfo | None:
        doc_id = self.id_of(node)
        if doc_id is None:
            return None
        return DocInfo(doc_id, self.published_at(node), self._hashes[node], self._chars[node], self._page_chars[node])

    def body_chars(self, node: int) -> int:
        return self._chars[node]

    def page_chars(self, node: int) -> int:
        return self._page_chars[node]

    def id_of(self, node: int) -> str | None:
        if not self._live[node]:
            return None
        start = self._id_ends[node - 1] if node else 0
        return self._id_bytes[start:self._id_ends[node]].decode("utf-8")

    def body_hash_table(self) -> array:
        """Every node's body hash (uint64, by node), to read, not to keep: appends fail
        while a view of it is held."""
        return self._hashes

    def earliest(self, nodes: Iterable[int]) -> int:
        """The node of `nodes` published first; undated ones after dated ones; ties go to the
        first seen (by integer times, without building a datetime per node)."""
        published = self._published
        return min(nodes, key=lambda n: (published[n] == _NO_TIME, published[n], n))

    def published_at(self, node: int) -> datetime | None:
        micros = self._published[node]
        return None if micros == _NO_TIME else _EPOCH + timedelta(microseconds=micros)

    def remove(self, node: int) -> None:
        self._live[node] = 0
        self._published[node] = _NO_TIME

    def live_ids(self) -> list[str]:
        return [i for i in map(self.id_of, range(len(self))) if i is not None]


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MAX_CHARS = (1 << 31) - 1
_NO_TIME = -(1 << 63)


def _microseconds(moment: datetime) -> int:
    """`moment` (time-zone aware) as whole microseconds since the epoch, exactly."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Screening:
    """The fields of a document that screening a story-only candidate reads: a spilled
    document that fails the screen (most do) is then never decoded whole."""

    story_terms: np.ndarray
    story_weights: np.ndarray
    story_norm: float
    shingle_set: np.ndarray


class DocumentTable:
    """Documents and their `DocInfo`s by node number (0, 1, 2, ... in arrival order), in RAM."""

    def __init__(self) -> None:
        self._docs: list[Document | None] = []
        self._infos = DocInfos()
        # Per node, what screening reads (`record.screening_record`), found once.
        self._screened: list = []

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        del state["_screened"]  # views of what the documents hold: rebuilt on loading
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._screened = [None if doc is None else screening_record(doc) for doc in self._docs]

    def __len__(self) -> int:
        """Node numbers given out so far (removed nodes included)."""
        return len(self._infos)

    def append(self, doc: Document) -> int:
        info = DocInfo.of(doc)
        self._store(doc)  # first: if it fails, the table is unchanged
        self._infos.append(info)
        return len(self._infos) - 1

    def __getitem__(self, node: int) -> Document:
        doc = self._docs[node]
        if doc is None:
            raise KeyError(f"node {node} was removed")
        return doc

    def info(self, node: int) -> DocInfo:
        return self._infos[node]

    def body_chars(self, node: int) -> int:
        return self._infos.body_chars(node)

    def page_chars(self, node: int) -> int:
        return self._infos.page_chars(node)

    def id_of(self, node: int) -> str | None:
        """The article id of `node` (None if removed), without building its `DocInfo`."""
        return self._infos.id_of(node)

    def published_at(self, node: int) -> datetime | None:
        return self._infos.published_at(node)

    def earliest(self, nodes: Iterable[int]) -> int:
        return self._infos.earliest(nodes)

    def body_hash_table(self) -> array:
        return self._infos.body_hash_table()

    def screening(self, node: int) -> Document | Screening:
        """The screening fields of node's document (here, the document)."""
        return self[node]

    def screening_records(self, nodes: Iterable[int]) -> list:
        """What `verify.worth_verifying` reads of each node's document: the bytes its screening
        fields were decoded from, or the document (see `record.screening_record`)."""
        screened = self._screened
        return [screened[node] if screened[node] is not None else self[node] for node in nodes]

    def remove(self, node: int) -> None:
        self._infos.remove(node)
        self._docs[node] = None
        self._screened[node] = None

    def live_ids(self) -> list[str]:
        """Ids of the documents not removed, in arrival order."""
        return self._infos.live_ids()

    def _store(self, doc: Document) -> None:
        self._docs.append(doc)
        self._screened.append(screening_record(doc))


class SpilledTable(DocumentTable):
    """A `DocumentTable` whose documents live in an append-only file.

    Records are written with one unbuffered write each, so a forked child (the periodic
    snapshot writer) using the same descriptor sees every record the parent wrote before the
    fork. Each record's screening prefix is written again to `screening_path(path)`. Pickling
    yields a plain `DocumentTable` with every document read back or, when `durable`, a
    `FileReference`. A scratch table's files are unlinked as soon as they are open: they are
    only read through the descriptors, and the system frees them when those close, even
    when the process is killed.
    """

    def __init__(self, path: Path, cache_size: int = CACHED_DOCUMENTS, durable: bool = False,
                 _reopen_at: tuple[int, int] | None = None) -> None:
        super().__init__()
        self.path = Path(path)
        self.screening_path = screening_path(self.path)
        self.durable = durable
        reopen_at, screening_reopen_at = _reopen_at or (None, None)
        self.fd = _open_records(self.path, reopen_at)
        try:
            self.screening_fd = _open_records(self.screening_path, screening_reopen_at)
        except OSError:
            os.close(self.fd)
            raise
        if not durable:
            self.path.unlink()
            self.screening_path.unlink()
        self._end, self._screening_end = _reopen_at or (0, 0)
        # Node n's record is at offset ``_where[2n]``, ``_where[2n + 1]`` bytes long (-1: removed):
        # 16 bytes a document instead of a tuple of two ints (~120). Its screening prefix starts
        # at ``_screening_at[n]`` and ends where the next node's starts.
        self._where = array("q")
        self._screening_at = array("q")
        self._cache: OrderedDict[int, Document] = OrderedDict()
        self._cache_size = cache_size

    @classmethod
    def spill(cls, table: DocumentTable, path: Path, cache_size: int = CACHED_DOCUMENTS,
              durable: bool = False) -> "SpilledTable":
        """A spilled copy of `table` (same node numbers), written to a new file at `path`."""
        spilled = cls(path, cache_size, durable)
        for node in range(len(table)):
            info = table.info(node)
            if info is None:
                spilled._where.extend((0, -1))
                spilled._screening_at.append(spilled._screening_end)
            else:
                spilled._store(table[node])
            spilled._infos.append(info)
        spilled._cache.clear()
        return spilled

    def close(self) -> None:
        """Close the files (a scratch table's are then gone; durable ones stay for the snapshot)."""
        if self.fd >= 0:
            os.close(self.fd)
            os.close(self.screening_fd)
            self.fd = self.screening_fd = -1

    def file_descriptors(self) -> list[int]:
        return [self.fd, self.screening_fd]

    def _store(self, doc: Document) -> None:
        record = encode(doc)
        prefix = memoryview(record)[:screening_size(record)]
        _pwrite_all(self.fd, record, self._end, self.path)
        _pwrite_all(self.screening_fd, prefix, self._screening_end, self.screening_path)
        # Only now, both written: a failed write leaves the table unchanged.
        self._where.extend((self._end, len(record)))
        self._screening_at.append(self._screening_end)
        self._end += len(record)
        self._screening_end += len(prefix)
        self._remember(len(self._where) // 2 - 1, doc)

    def __getitem__(self, node: int) -> Document:
        doc = self._cache.get(node)
        if doc is not None:
            self._cache.move_to_end(node)
            return doc
        offset, size = self._where[2 * node], self._where[2 * node + 1]
        if size < 0:
            raise KeyError(f"node {node} was removed")
        doc = decode(_pread_exact(self.fd, offset, size, self.path))
        self._remember(node, doc)
        return doc

    def screening(self, node: int) -> Document | Screening:
        """The screening fields of node's document (or the cached document), read from the
        screening file without displacing documents from the cache."""
        doc = self._cache.get(node)
        if doc is not None:
            return doc
        return Screening(**screening_fields(self._screening_prefix(node))[0])

    def screening_records(self, nodes: Iterable[int]) -> list:
        """As `DocumentTable.screening_records`; a document not cached is not decoded: its
        screening prefix is read from the screening file."""
        out = []
        for node in nodes:
            doc = self._cache.get(node)
            out.append(screening_record(doc) if doc is not None else self._screening_prefix(node))
        return out

    def _screening_prefix(self, node: int) -> bytes:
        if self._where[2 * node + 1] < 0:
            raise KeyError(f"node {node} was removed")
        start = self._screening_at[node]
        end = self._screening_at[node + 1] if node + 1 < len(self._screening_at) else self._screening_end
        return _pread_exact(self.screening_fd, start, end - start, self.screening_path)

    def remove(self, node: int) -> None:
        self._infos.remove(node)
        self._where[2 * node + 1] = -1
        self._cache.pop(node, None)

    def _remember(self, node: int, doc: Document) -> None:
        self._cache[node] = doc
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def __reduce__(self):
        if self.durable:
            os.fsync(self.fd)  # the records a snapshot refers to are on disk before it is
            os.fsync(self.screening_fd)
            return FileReference, (self.path.name, (self._end, self._screening_end), array("q", self._where),
                                   array("q", self._screening_at), self._infos)
        docs = [None if self._infos[node] is None else self[node] for node in range(len(self._infos))]
        return _restore_table, (docs, self._infos)


class FileReference:
    """A durable `SpilledTable` as a snapshot holds it: its documents file's name, how much of
    that file and of the screening file the snapshot covers, and where each document's
    records are in them."""

    def __init__(self, name: str, ends: tuple[int, int], where: array, screening_at: array, infos: DocInfos) -> None:
        self.name, self.ends, self.where, self.screening_at, self.infos = name, ends, where, screening_at, infos

    def __len__(self) -> int:
        return len(self.infos)

    def reopen(self, directory: Path, path: Path, cache_size: int = CACHED_DOCUMENTS) -> SpilledTable:
        """The table again, from its file in `directory`, which is renamed to `path` first: a
        snapshot writer left behind by a crashed process may still publish a snapshot that
        refers to the old name, and must then find nothing rather than records written since.
        The same for the screening file. Raises `OSError` when a file is gone or shorter than
        the snapshot says."""
        sources = (Path(directory) / self.name, screening_path(Path(directory) / self.name))
        for source, end in zip(sources, self.ends):
            size = source.stat().st_size
            if size < end:
                raise OSError(f"{source} holds {size:,} bytes; the snapshot needs {end:,}")
        for source, target in zip(sources, (path, screening_path(path))):
            os.replace(source, target)
        table = SpilledTable(path, cache_size, durable=True, _reopen_at=self.ends)
        table._where, table._screening_at, table._infos = self.where, self.screening_at, self.infos
        return table


def screening_path(path: Path) -> Path:
    """The screening file of the documents file at `path`."""
    return Path(path).with_suffix(SCREENING_SUFFIX)


def _open_records(path: Path, reopen_at: int | None) -> int:
    """A records file: new and empty, or reopened and cut back to `reopen_at` bytes (records
    past a snapshot are replayed from the log). Read at random: no read-ahead, which would
    fill the page cache with the neighbours of every record read."""
    if reopen_at is None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    else:
        fd = os.open(path, os.O_RDWR)
        os.ftruncate(fd, reopen_at)
    if hasattr(os, "posix_fadvise"):
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
    return fd


def _pwrite_all(fd: int, data, offset: int, path: Path) -> None:
    written = os.pwrite(fd, data, offset)
    if written != len(data):
        raise OSError(f"short write to {path}: {written} of {len(data)} bytes")


def _pread_exact(fd: int, offset: int, size: int, path: Path) -> bytes:
    data = os.pread(fd, size, offset)
    if len(data) != size:
        raise OSError(f"short read from {path}: {len(data)} of {size} bytes at {offset}")
    return data


def _restore_table(docs: list, infos: DocInfos) -> DocumentTable:
    table = DocumentTable()
    table.__setstate__({"_docs": docs, "_infos": infos})
    return table
