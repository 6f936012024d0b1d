"""Banded LSH over MinHash signatures, in compact sorted arrays.

Keeps datasketch's banding: ``(b, r)`` comes from ``datasketch.lsh._optimal_param`` for the
threshold and number of permutations, and two signatures are candidates exactly when some
band of `r` rows is equal in both, as in ``MinHashLSH``. What differs is the storage:
datasketch's dict-of-sets costs several kilobytes per key, while one entry here is a band key
and a document number packed into one 64-bit integer in sorted numpy arrays (8 bytes; 4-7
in large levels, whose entries' top bits their directory holds), plus a small sorted buffer
of recent inserts that is merged in bulk; large merges run on a thread of their own. Not
thread-safe: callers serialise every call.
"""
from __future__ import annotations

import functools
import threading
from collections.abc import Callable

import numpy as np

from dedup.frozen import FrozenArray, new_name

try:  # the query compiled (setup.py builds it where a C compiler is at hand)
    from dedup import _bandsearch
except ImportError:  # pragma: no cover - depends on the install
    _bandsearch = None

_U64 = np.uint64
# BandIndex layout: entries in the sorted buffer before it is merged into the levels, the
# growth factor between levels, and removed documents whose entries are dropped together.
_RECENT_ENTRIES = 1 << 12
_FANOUT = 8
_REMOVED_BEFORE_COMPACTION = 4096
# Merges of more entries than this run on a background thread (numpy sorts and copies without
# the GIL): one of 10 million entries takes ~0.1-0.5 s, which would stall the write that
# triggered it. Meanwhile the buffer takes new entries, up to `_RECENT_LIMIT`.
_BACKGROUND_ENTRIES = 1 << 20
_RECENT_LIMIT = _RECENT_ENTRIES * 16
# An entry is a band key's top 36 bits over a 28-bit document number, so entries sort by key
# and then by document. 36 bits make a chance match of two different keys rare (about one
# query key in 500 meets one at 150 million entries, proposing one extra candidate to verify).
_DOC_BITS = 28
MAX_DOCUMENTS = 1 << _DOC_BITS
_DOC_MASK = _U64(MAX_DOCUMENTS - 1)
_KEY_MASK = ~_DOC_MASK
_KEY_STEP = _U64(MAX_DOCUMENTS)
# The same as Python ints, as the compiled search takes them.
_DOC_MASK_INT, _KEY_MASK_INT, _KEY_STEP_INT = int(_DOC_MASK), int(_KEY_MASK), int(_KEY_STEP)
_NO_DOCS = np.empty(0, np.uint32)
# Levels of at least this many entries are packed under a directory (see `_bandsearch.merge`):
# one position (4 bytes) per ~`_DIRECTORY_SPAN` entries, which holds the entries' top bits, so
# that each entry keeps only its low 64 - log2(entries / span) bits, and of those only as many
# document bits as the level's span of document numbers needs: ~33 bits at a million articles.
_DIRECTORY_MIN = 1 << 14
_DIRECTORY_SPAN = 16
_DIRECTORY_MIN_BITS = 8  # so that an entry's low bits and its bit offset fit one word
_PACKED_HEADER = 8  # a packed level's smallest document number and largest difference (uint32)
_U32 = np.uint32
_BAND_MIX = _U64(0x9E3779B97F4A7C15)
_ROW_MIX = _U64(0xBF58476D1CE4E5B9)


# datasketch's answers for the default thresholds (tests compare them): its `_optimal_param`
# integrates with scipy, and importing the two takes most of a second in every process.
_DEFAULT_PARAMS = {(0.15, 128): (51, 2), (0.3, 128): (37, 3), (0.5, 128): (25, 5)}


@functools.lru_cache(maxsize=64)
def lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """datasketch's ``(bands, rows)`` for `threshold`, equal false-positive/negative weights."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"LSH threshold must be between 0 and 1 (exclusive), got {threshold}")
    if (threshold, num_perm) in _DEFAULT_PARAMS:
        return _DEFAULT_PARAMS[threshold, num_perm]
    from datasketch.lsh import _optimal_param

    return _optimal_param(threshold, num_perm, 0.5, 0.5)


def band_keys(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One 64-bit key per band of each signature; shape ``(n, bands)``.

    Keys of different bands never need to be told apart by the caller: the band number is
    mixed into the key, so one table holds every band.
    """
    sig = np.atleast_2d(signatures)[:, : bands * rows].astype(_U64)
    sig = sig.reshape(len(sig), bands, rows)
    with np.errstate(over="ignore"):
        h = np.arange(1, bands + 1, dtype=_U64)[np.newaxis, :] * _BAND_MIX
        for j in range(rows):
            h = (h ^ sig[:, :, j]) * _ROW_MIX
            h ^= h >> _U64(29)
    return h


def merge_found(found: list[tuple[np.ndarray, np.ndarray]], textual: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Several `BandIndex.query` answers (documents, hits) as one: the distinct documents
    (ascending), their summed hits, and whether one of the first `textual` answers had each."""
    if _bandsearch is not None:
        docs, hits, text = _bandsearch.merge_found([d for d, _ in found], [h for _, h in found], textual)
        return np.frombuffer(docs, np.uint32), np.frombuffer(hits, np.int64), np.frombuffer(text, np.bool_)
    docs, where = np.unique(np.concatenate([d for d, _ in found]), return_inverse=True)
    hits = np.bincount(where, weights=np.concatenate([h for _, h in found])).astype(np.int64)
    text = np.isin(docs, np.concatenate([d for d, _ in found[:textual]])) if textual else np.zeros(len(docs), bool)
    return docs.astype(np.uint32, copy=False), hits, text


def rank_candidates(found: list[tuple[np.ndarray, np.ndarray]], textual: int, exclude: int | None, story_keep: int,
                    keep: int, body_hashes, id_of: Callable[[int], str]) -> tuple[list[int], set[int]]:
    """The candidates in several `BandIndex.query` answers (see `merge_found`), less
    `exclude`: the `story_keep` best of those found by story answers alone (story terms
    propose many pages of the same beat), then the `keep` best of all. Returns them ranked,
    and those a textual answer found. Best: most hits; ties at a cut go to the smallest body
    hash (`body_hashes`: a uint64 buffer by document number), then article id (`id_of`), a
    choice that does not depend on arrival order."""
    if _bandsearch is not None:
        ranked = _bandsearch.rank_found([d for d, _ in found], [h for _, h in found], textual,
                                        -1 if exclude is None else exclude, story_keep, keep, body_hashes)
        if ranked is not None:  # None: ids must break a tie
            return np.frombuffer(ranked[0], np.uint32).tolist(), set(np.frombuffer(ranked[1], np.uint32).tolist())
    nodes, hits, shares_text = merge_found(found, textual)
    if exclude is not None:
        kept = nodes != exclude
        nodes, hits, shares_text = nodes[kept], hits[kept], shares_text[kept]
    story_only = np.flatnonzero(~shares_text)
    if len(story_only) > story_keep:
        kept = shares_text.copy()
        kept[story_only[_best(nodes[story_only], hits[story_only], story_keep, body_hashes, id_of)]] = True
        nodes, hits, shares_text = nodes[kept], hits[kept], shares_text[kept]
    textual_nodes = set(nodes[shares_text].tolist())
    if len(nodes) > keep:
        nodes = nodes[_best(nodes, hits, keep, body_hashes, id_of)]
    return nodes.tolist(), textual_nodes


def _best(nodes: np.ndarray, hits: np.ndarray, keep: int, body_hashes, id_of: Callable[[int], str]) -> np.ndarray:
    """Positions of the `keep` nodes with most hits (see `rank_candidates` for ties): those
    above the cut in order, then the tied ones chosen, in hash order."""
    cut = np.partition(hits, len(hits) - keep)[len(hits) - keep]
    above = np.flatnonzero(hits > cut)
    tied = np.flatnonzero(hits == cut)
    need = keep - len(above)
    hashes = np.frombuffer(body_hashes, np.uint64)[nodes[tied]]
    order = np.argsort(hashes)
    if need < len(order) and hashes[order[need - 1]] == hashes[order[need]]:
        # Equal bodies across the cut (rare: only one of them is in the band indexes).
        last = hashes[order[need - 1]]
        below = np.flatnonzero(hashes < last)
        equal = np.flatnonzero(hashes == last).tolist()
        equal.sort(key=lambda i: id_of(int(nodes[tied[i]])))
        chosen = np.concatenate([below, np.array(equal[:need - len(below)], np.intp)])
    else:
        chosen = order[:need]
    return np.concatenate([above, tied[chosen]])


class BandIndex:
    """Maps band keys to the numbers of the documents that have them.

    A log-structured layout of sorted arrays of packed entries (see `_DOC_BITS`): a small
    sorted buffer takes each document's entries by one vectorised insert; when it holds
    `_RECENT_ENTRIES` it is merged into levels of sorted arrays, level i holding at most
    `_RECENT_ENTRIES * _FANOUT**(i+1)` entries. An entry is copied about `_FANOUT` times per
    level over its life. A query is one search per level.

    A level of `_DIRECTORY_MIN` entries or more is packed under its directory when the
    compiled part is at hand (`_bandsearch.merge`): its entries' top bits are those of the
    directory slot they lie in, so each keeps only its low bits, back to back, with its
    document number less the level's smallest (documents are numbered in arrival order and
    levels merge in order, so a level holds one span of arrivals). Without the compiled
    part, every level is a plain uint64 array, and packed levels are unpacked on loading.

    A large merge runs on a thread (`_Merge`). Until it is installed, its inputs stay where
    queries search them (the levels it merges, and the buffer it took as `_sealed`), and the
    levels are not written; a pickled index holds those inputs, not the merge.
    """

    def __init__(self) -> None:
        self._levels: list[np.ndarray] = []  # sorted entries: uint64, or packed bytes (uint8)
        self._directories: list[np.ndarray | None] = []  # per level: None, or the packed level's
        self._level_names: list[str] = []  # a new one each time a level is written (see `dedup.frozen`)
        self._recent = np.empty(0, _U64)  # sorted entries (see `_buffer`)
        # Room to insert into in place (compiled part only): `_recent` is its prefix, or it
        # is too small and the next insert takes a new one.
        self._buffer = np.empty(0, _U64)
        self._removed: set[int] = set()
        self._merge: _Merge | None = None
        self._sealed = np.empty(0, _U64)  # the buffer a running merge took
        self._searched: tuple[list, list] | None = None  # see `_search_arguments`

    def __len__(self) -> int:
        return len(self._recent) + len(self._sealed) + sum(map(_length, self._levels, self._directories))

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_merge"] = None
        if self._merge is not None:  # the merge's inputs are all there; keep the taken buffer
            state["_recent"] = np.sort(np.concatenate([self._sealed, self._recent]), kind="stable")
        else:
            state["_recent"] = self._recent.copy()  # without the buffer's spare room
        state["_sealed"] = np.empty(0, _U64)
        del state["_buffer"], state["_searched"]
        # A level never changes once written: a snapshot stores each one once (`dedup.frozen`).
        state["_levels"] = [FrozenArray(name, level) for name, level in zip(self._level_names, self._levels)]
        state["_directories"] = [None if d is None else FrozenArray(f"{name}-directory", d)
                                 for name, d in zip(self._level_names, self._directories)]
        del state["_level_names"]
        return state

    def __setstate__(self, state: dict) -> None:
        levels, directories = state.pop("_levels"), state.pop("_directories")
        self.__dict__.update(state)
        self._buffer = np.empty(0, _U64)  # the next insert takes a buffer with room
        self._searched = None
        self._levels = [level.array for level in levels]
        self._directories = [None if d is None else d.array for d in directories]
        self._level_names = [level.name for level in levels]
        for i, (level, directory) in enumerate(zip(self._levels, self._directories)):
            if directory is not None:
                _check_packed(level, directory)
                if _bandsearch is None:  # read by numpy: unpacked
                    self._levels[i], self._directories[i] = _unpacked(level, directory), None
                    self._level_names[i] = new_name()

    def add(self, doc: int, keys: np.ndarray) -> None:
        """Index document number `doc` under each of `keys` (any shape; a key given twice,
        once)."""
        if not 0 <= doc < MAX_DOCUMENTS:
            raise ValueError(f"a band index holds document numbers below {MAX_DOCUMENTS:,}, got {doc:,}")
        if _bandsearch is not None:
            keys = np.ascontiguousarray(keys, _U64)
            count = len(self._recent)
            if count + keys.size > len(self._buffer):
                self._buffer = np.empty(max(_RECENT_ENTRIES + 256, 2 * (count + keys.size)), _U64)
                self._buffer[:count] = self._recent
            count = _bandsearch.insert(self._buffer, count, keys, int(_KEY_MASK), doc)
            self._recent = self._buffer[:count]
        else:
            entries = np.unique((keys.astype(_U64, copy=False) & _KEY_MASK) | _U64(doc))
            pos = np.searchsorted(self._recent, entries, side="right")
            self._recent = np.insert(self._recent, pos, entries)
        if len(self._recent) >= _RECENT_ENTRIES:
            self._flush()
        elif self._merge is not None and self._merge.done():
            self._install()

    def remove(self, doc: int) -> None:
        """Forget document number `doc` (queries skip it; its entries go at a compaction)."""
        self._removed.add(doc)
        if len(self._removed) >= _REMOVED_BEFORE_COMPACTION:
            self._compact()

    def query(self, keys: np.ndarray, max_bucket: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Documents sharing at least one key with `keys` (any shape; ascending), and how many
        distinct keys each shares. With `max_bucket`, keys held by more than that many entries
        are ignored."""
        if _bandsearch is not None:  # masks and sorts the keys itself
            found, hits = _bandsearch.query(
                *self._search_arguments(), np.ascontiguousarray(keys, _U64),
                _KEY_STEP_INT, _KEY_MASK_INT, _DOC_MASK_INT, -1 if max_bucket is None else max_bucket,
            )
            docs, counts = np.frombuffer(found, np.uint32), np.frombuffer(hits, np.int64)
        else:
            docs, counts = self._query_numpy(np.unique(keys.astype(_U64, copy=False) & _KEY_MASK), max_bucket)
        if self._removed:
            live = ~np.isin(docs, np.fromiter(self._removed, np.uint32, len(self._removed)))
            docs, counts = docs[live], counts[live]
        return docs, counts

    def _query_numpy(self, keys: np.ndarray, max_bucket: int | None) -> tuple[np.ndarray, np.ndarray]:
        """`query` for sorted masked `keys`, before removed documents are dropped."""
        bounds = self._bounds(keys)
        if max_bucket is not None and bounds:
            sizes = sum(hi - lo for lo, hi, _ in bounds)
            small = sizes <= max_bucket
            bounds = [(lo[small], hi[small], level) for lo, hi, level in bounds]
        found = []
        for lo, hi, level in bounds:
            counts = hi - lo
            total = int(counts.sum())
            if total:
                # Positions of every entry in every matching bucket, in one vector.
                starts = np.repeat(lo - np.cumsum(counts) + counts, counts)
                found.append(level[starts + np.arange(total)])
        if not found:
            return np.empty(0, np.uint32), np.empty(0, np.int64)
        return np.unique((np.concatenate(found) & _DOC_MASK).astype(np.uint32), return_counts=True)

    def buckets(self, keys: np.ndarray) -> list[np.ndarray]:
        """The documents holding each of `keys` (ascending document numbers), one array per key."""
        keys = np.ascontiguousarray(keys, _U64)
        if _bandsearch is not None:
            found, sizes = self._compiled_buckets(keys)
            ends = np.cumsum(np.frombuffer(sizes, np.int64))
            parts = np.split(np.frombuffer(found, np.uint32), ends[:-1]) if len(keys) else []
        else:
            slices: list[list[np.ndarray]] = [[] for _ in range(len(keys))]
            for lo, hi, level in self._bounds(keys & _KEY_MASK):
                for i in np.flatnonzero(hi > lo).tolist():
                    slices[i].append(level[lo[i]:hi[i]])
            parts = [np.sort((np.concatenate(s) & _DOC_MASK).astype(np.uint32)) if s else _NO_DOCS for s in slices]
        if not self._removed:
            return parts
        removed = np.fromiter(self._removed, np.uint32, len(self._removed))
        return [docs[~np.isin(docs, removed)] for docs in parts]

    def bucket_sizes(self, keys: np.ndarray) -> np.ndarray:
        """How many documents hold each of `keys` (int64): `buckets` without the arrays."""
        if _bandsearch is None or self._removed:
            return np.array([len(docs) for docs in self.buckets(keys)], np.int64)
        return np.frombuffer(self._compiled_buckets(np.ascontiguousarray(keys, _U64))[1], np.int64)

    def _compiled_buckets(self, keys: np.ndarray) -> tuple[bytearray, bytearray]:
        """`_bandsearch.buckets` over every level for `keys` (which it masks): the documents
        of all buckets back to back, and each bucket's size (int64)."""
        return _bandsearch.buckets(*self._search_arguments(), keys, _KEY_STEP_INT, _KEY_MASK_INT, _DOC_MASK_INT, -1)

    def _bounds(self, keys: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """For each non-empty level (all plain, without the compiled part): where each of
        `keys` (masked) starts and ends in it."""
        n = len(keys)
        # A key's entries run from key | 0 to the next key's first: one search per level finds both.
        probe = np.concatenate([keys, keys + _KEY_STEP])
        bounds = []
        for level in self._arrays():
            if len(level):
                found = np.searchsorted(level, probe)
                lo, hi = found[:n], found[n:]
                hi[keys == _KEY_MASK] = len(level)  # the next key wrapped to 0
                bounds.append((lo, hi, level))
        return bounds

    def nbytes(self) -> int:
        """Bytes held by the sorted arrays and their directories."""
        return sum(a.nbytes for a in self._arrays()) + sum(d.nbytes for d in self._directories if d is not None)

    def wait(self) -> None:
        """Finish and install a merge running in the background, if any."""
        if self._merge is not None:
            self._merge.wait()
            self._install()

    def _arrays(self) -> tuple[np.ndarray, ...]:
        """Every sorted array a query searches (the levels aligned with `_directories`)."""
        return (self._recent, self._sealed, *self._levels)

    def _search_arguments(self) -> tuple[list, list]:
        """`_arrays` and their directories as `_bandsearch` takes them. The arrays that do not
        change until the levels do go as memoryviews made once: numpy describes an array
        anew each time it is asked for its buffer, eight times a query (~3% of indexing).
        The insert buffer changes in place, so it goes as it is."""
        if self._searched is None:
            self._searched = ([memoryview(a) for a in (self._sealed, *self._levels)],
                              [None, None, *(None if d is None else memoryview(d) for d in self._directories)])
        arrays, directories = self._searched
        return [self._recent, *arrays], directories

    def _flush(self) -> None:
        """Merge the buffer, already sorted, down the levels: into the first level that can
        hold it with every level above it (which empty into it), or into a new level."""
        if self._merge is not None:
            if not self._merge.done() and len(self._recent) < _RECENT_LIMIT:
                return  # the levels are being written; the buffer waits a little longer
            self.wait()
        run, self._recent = self._recent, np.empty(0, _U64)
        self._buffer = self._recent  # empty: `run` keeps the old buffer, the next insert takes a new one
        self._searched = None
        total, target = len(run), 0
        while target < len(self._levels):
            total += _length(self._levels[target], self._directories[target])
            if total <= _RECENT_ENTRIES * _FANOUT ** (target + 1):
                break
            target += 1
        inputs = [(run, None), *zip(self._levels[:target + 1], self._directories[:target + 1])]
        if total > _BACKGROUND_ENTRIES:
            self._sealed, self._merge = run, _Merge(inputs, target)
        else:
            self._place(_merged(inputs), target)

    def _install(self) -> None:
        merge, self._merge = self._merge, None
        self._sealed = np.empty(0, _U64)
        self._searched = None
        self._place(merge.result, merge.level)

    def _place(self, merged: tuple[np.ndarray, np.ndarray | None], target: int) -> None:
        self._searched = None
        for level in range(min(target, len(self._levels))):
            self._levels[level] = np.empty(0, _U64)  # moved down, whole
            self._directories[level] = None
            self._level_names[level] = new_name()
        if target == len(self._levels):
            self._levels.append(None)
            self._directories.append(None)
            self._level_names.append(None)
        self._levels[target], self._directories[target] = merged
        self._level_names[target] = new_name()

    def _compact(self) -> None:
        self.wait()
        self._searched = None
        gone = np.fromiter(self._removed, dtype=np.uint64, count=len(self._removed))
        for i, (level, directory) in enumerate(zip(self._levels, self._directories)):
            plain = _unpacked(level, directory)
            self._levels[i], self._directories[i] = _merged([(plain[~np.isin(plain & _DOC_MASK, gone)], None)])
            self._level_names[i] = new_name()
        self._recent = self._buffer = self._recent[~np.isin(self._recent & _DOC_MASK, gone)]
        self._removed = set()


def _length(level: np.ndarray, directory: np.ndarray | None) -> int:
    """Entries in a level: a packed level's directory ends with its length."""
    return len(level) if directory is None else int(directory[-1])


def _directory_bits(entries: int) -> int:
    """The directory bits for a level of `entries` (0: a plain level, without a directory)."""
    if _bandsearch is None or entries < _DIRECTORY_MIN:
        return 0
    return max(_DIRECTORY_MIN_BITS, int(entries // _DIRECTORY_SPAN - 1).bit_length())


def _merged(levels: list[tuple[np.ndarray, np.ndarray | None]]) -> tuple[np.ndarray, np.ndarray | None]:
    """One sorted level of the sorted `levels` (each a level and its directory or None),
    packed when it is large enough."""
    levels = [(a, d) for a, d in levels if _length(a, d)]
    total = sum(_length(a, d) for a, d in levels)
    bits = _directory_bits(total)
    if not bits and len(levels) == 1 and levels[0][1] is None:
        return levels[0]
    if _bandsearch is not None:
        data, directory = _bandsearch.merge(levels, bits, _DOC_BITS)
        if bits:
            return np.frombuffer(data, np.uint8), np.frombuffer(directory, _U32)
        return np.frombuffer(data, _U64), None
    if not levels:
        return np.empty(0, _U64), None
    # numpy's stable sort is a timsort: it finds the sorted runs and merges them in linear time.
    merged = np.concatenate([_unpacked(a, d) for a, d in levels])
    merged.sort(kind="stable")
    return merged, None


def _unpacked(level: np.ndarray, directory: np.ndarray | None) -> np.ndarray:
    """A level's entries as plain sorted uint64 (numpy's form of `_bandsearch.merge(.., 0)`)."""
    if directory is None:
        return level
    n, (base, span) = int(directory[-1]), _header(level)
    low_bits, rel_bits, width = 64 - _bits_of(directory), span.bit_length(), _packed_width(directory, span)
    bits = np.arange(n, dtype=_U64) * _U64(width)
    start = (bits >> _U64(3)).astype(np.intp) + _PACKED_HEADER
    words = np.zeros(n, _U64)
    for byte in range(8):  # the little-endian word at each entry's first byte
        words |= level[start + byte].astype(_U64) << _U64(8 * byte)
    code = (words >> (bits & _U64(7))) & _U64((1 << width) - 1)
    top = np.repeat(np.arange(len(directory) - 1, dtype=_U64), np.diff(directory.astype(np.int64)))
    docs = (code & _U64((1 << rel_bits) - 1)) + _U64(base)
    return (top << _U64(low_bits)) | ((code >> _U64(rel_bits)) << _U64(_DOC_BITS)) | docs


def _header(level: np.ndarray) -> tuple[int, int]:
    """A packed level's smallest document number and its largest less that one: an entry
    stores its document number less the smallest, in as many bits as the largest needs."""
    if len(level) < _PACKED_HEADER:
        return 0, 0
    base, span = level[:_PACKED_HEADER].view(np.uint32).tolist()
    return base, span


def _packed_width(directory: np.ndarray, span: int) -> int:
    """Bits stored per entry: those below the directory's, less the document bits the span
    of document numbers does not need."""
    return 64 - _bits_of(directory) - _DOC_BITS + span.bit_length()


def _bits_of(directory: np.ndarray) -> int:
    """The top bits a directory holds (it has 2**bits + 1 positions)."""
    return (len(directory) - 1).bit_length() - 1


def _check_packed(level: np.ndarray, directory: np.ndarray) -> None:
    """Refuse a packed level whose directory could send a search outside it (a damaged file)."""
    slots, bits = len(directory) - 1, _bits_of(directory)
    base, span = _header(level)
    if (slots != 1 << bits or not _DIRECTORY_MIN_BITS <= bits <= 32 or directory[0] != 0
            or np.any(np.diff(directory.astype(np.int64)) < 0) or base + span >= MAX_DOCUMENTS
            or len(level) < _PACKED_HEADER + (int(directory[-1]) * _packed_width(directory, span) + 7) // 8 + 8):
        raise ValueError("a packed band level does not match its directory")


class _Merge:
    """`_merged(inputs)` on a thread of its own, bound for level `level`."""

    def __init__(self, inputs: list[tuple[np.ndarray, np.ndarray | None]], level: int) -> None:
        self.level = level
        self._inputs = inputs
        self._result: tuple[np.ndarray, np.ndarray | None] | None = None
        self._thread = threading.Thread(target=self._run, name="band-merge", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._result = _merged(self._inputs)
        except BaseException:  # noqa: BLE001 - out of memory, say: `result` merges again and raises
            pass

    def done(self) -> bool:
        return not self._thread.is_alive()

    def wait(self) -> None:
        self._thread.join()

    @property
    def result(self) -> tuple[np.ndarray, np.ndarray | None]:
        """The merged level and its directory (once `done`); merged here if the thread failed."""
        return self._result if self._result is not None else _merged(self._inputs)
