"""Banded LSH over MinHash signatures, in compact sorted arrays.

Keeps datasketch's banding: ``(b, r)`` comes from ``datasketch.lsh._optimal_param`` for the
threshold and number of permutations, and two signatures are candidates exactly when some
band of `r` rows is equal in both, as in ``MinHashLSH``. What differs is the storage:
datasketch's dict-of-sets costs several kilobytes per key, while one entry here is a 64-bit
band key and a 32-bit document number in sorted numpy arrays (12 bytes), plus a small dict
of recent inserts that is merged in bulk. Not thread-safe: callers serialise writes.
"""
from __future__ import annotations

import functools
import numpy as np
from datasketch.lsh import _optimal_param

_U64 = np.uint64
_U64_MAX = np.iinfo(np.uint64).max
# BandIndex layout: entries in the sorted buffer before it is merged into the levels, the
# growth factor between levels, and removed documents whose entries are dropped together.
_RECENT_ENTRIES = 1 << 12
_FANOUT = 8
_REMOVED_BEFORE_COMPACTION = 4096
_BAND_MIX = _U64(0x9E3779B97F4A7C15)
_ROW_MIX = _U64(0xBF58476D1CE4E5B9)


@functools.lru_cache(maxsize=64)
def lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """datasketch's ``(bands, rows)`` for `threshold`, equal false-positive/negative weights."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"LSH threshold must be between 0 and 1 (exclusive), got {threshold}")
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


class BandIndex:
    """Maps band keys to the numbers of the documents that have them.

    A log-structured layout of sorted arrays: a small sorted buffer takes each document's
    keys by one vectorised insert; when it holds `_RECENT_ENTRIES` it is merged into levels of
    sorted arrays, level i holding at most `_RECENT_ENTRIES * _FANOUT**(i+1)` entries. An entry
    costs 12 bytes (a 64-bit key and a 32-bit document number) and is copied about `_FANOUT`
    times per level over its life. A query is one vectorised search per level.
    """

    def __init__(self) -> None:
        self._levels: list[tuple[np.ndarray, np.ndarray]] = []  # (sorted keys, their documents)
        self._recent = (np.empty(0, _U64), np.empty(0, np.uint32))
        self._removed: set[int] = set()

    def __len__(self) -> int:
        return sum(len(keys) for keys, _ in self._levels) + len(self._recent[0])

    def add(self, doc: int, keys: np.ndarray) -> None:
        """Index document number `doc` under each of `keys`."""
        keys = np.sort(keys.astype(_U64, copy=False))
        recent_keys, recent_docs = self._recent
        pos = np.searchsorted(recent_keys, keys, side="right")
        self._recent = (np.insert(recent_keys, pos, keys), np.insert(recent_docs, pos, np.uint32(doc)))
        if len(self._recent[0]) >= _RECENT_ENTRIES:
            self._flush()

    def remove(self, doc: int) -> None:
        """Forget document number `doc` (queries skip it; its entries go at a compaction)."""
        self._removed.add(doc)
        if len(self._removed) >= _REMOVED_BEFORE_COMPACTION:
            self._compact()

    def query(self, keys: np.ndarray, max_bucket: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Documents sharing at least one key with `keys` (ascending), and how many keys each
        shares. With `max_bucket`, keys held by more than that many entries are ignored."""
        keys = np.sort(keys.astype(_U64, copy=False))
        n = len(keys)
        # The end of key k's bucket is the start of k + 1's: one search per level finds both.
        probe = np.concatenate([keys, keys + _U64(1)])
        bounds = []
        for level_keys, level_docs in (self._recent, *self._levels):
            if len(level_keys):
                found = np.searchsorted(level_keys, probe)
                lo, hi = found[:n], found[n:]
                if n and keys[-1] == _U64_MAX:  # k + 1 wrapped to 0
                    hi[keys == _U64_MAX] = len(level_keys)
                bounds.append((lo, hi, level_docs))
        if max_bucket is not None and bounds:
            sizes = sum(hi - lo for lo, hi, _ in bounds)
            small = sizes <= max_bucket
            bounds = [(lo[small], hi[small], docs) for lo, hi, docs in bounds]
        found = []
        for lo, hi, level_docs in bounds:
            counts = hi - lo
            total = int(counts.sum())
            if total:
                # Positions of every entry in every matching bucket, in one vector.
                starts = np.repeat(lo - np.cumsum(counts) + counts, counts)
                found.append(level_docs[starts + np.arange(total)])
        if not found:
            return np.empty(0, np.uint32), np.empty(0, np.int64)
        docs, counts = np.unique(np.concatenate(found), return_counts=True)
        if self._removed:
            live = ~np.isin(docs, np.fromiter(self._removed, np.uint32, len(self._removed)))
            docs, counts = docs[live], counts[live]
        return docs, counts

    def nbytes(self) -> int:
        """Bytes held by the sorted arrays."""
        return sum(keys.nbytes + docs.nbytes for keys, docs in (self._recent, *self._levels))

    def _flush(self) -> None:
        """Merge the buffer, already sorted, down the levels."""
        run, self._recent = self._recent, (np.empty(0, _U64), np.empty(0, np.uint32))
        for level in range(len(self._levels) + 1):
            if level == len(self._levels):
                self._levels.append(run)
                return
            run = _merge_sorted(*self._levels[level], *run)
            if len(run[0]) <= _RECENT_ENTRIES * _FANOUT ** (level + 1):
                self._levels[level] = run
                return
            self._levels[level] = (run[0][:0], run[1][:0])  # moved down, whole

    def _compact(self) -> None:
        gone = np.fromiter(self._removed, dtype=np.uint32, count=len(self._removed))
        for level, (keys, docs) in enumerate(self._levels):
            keep = ~np.isin(docs, gone)
            self._levels[level] = (keys[keep], docs[keep])
        keys, docs = self._recent
        keep = ~np.isin(docs, gone)
        self._recent = (keys[keep], docs[keep])
        self._removed = set()


def _merge_sorted(keys: np.ndarray, docs: np.ndarray, new_keys: np.ndarray, new_docs: np.ndarray):
    """Merge sorted run (new_keys, new_docs) into sorted (keys, docs); equal keys keep the older first."""
    if len(keys) == 0:
        return new_keys, new_docs
    pos = np.searchsorted(keys, new_keys, side="right")
    return np.insert(keys, pos, new_keys), np.insert(docs, pos, new_docs)
