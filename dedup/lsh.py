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
# BandIndex layout: entries buffered in a dict before they are sorted into the levels, the
# growth factor between levels, and removed documents whose entries are dropped together.
_RECENT_ENTRIES = 1 << 14
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

    A log-structured layout: new entries go to a small dict (cheap to insert one document's
    keys into, and to query); when it holds `_RECENT_ENTRIES` they are sorted into a run and
    merged into levels of sorted arrays, level i holding at most `_RECENT_ENTRIES * _FANOUT**(i+1)`
    entries. An entry costs 12 bytes in a level, against ~100 in the dict, and each entry is
    copied about `_FANOUT` times per level over its life. A query is one vectorised search per
    level plus dict lookups.
    """

    def __init__(self) -> None:
        self._levels: list[tuple[np.ndarray, np.ndarray]] = []  # (sorted keys, their documents)
        self._recent: dict[int, list[int]] = {}
        self._recent_entries = 0
        self._removed: set[int] = set()

    def __len__(self) -> int:
        return sum(len(keys) for keys, _ in self._levels) + self._recent_entries

    def add(self, doc: int, keys: np.ndarray) -> None:
        """Index document number `doc` under each of `keys`."""
        recent = self._recent
        for key in keys.tolist():
            bucket = recent.get(key)
            if bucket is None:
                recent[key] = [doc]
            else:
                bucket.append(doc)
        self._recent_entries += len(keys)
        if self._recent_entries >= _RECENT_ENTRIES:
            self._flush()

    def remove(self, doc: int) -> None:
        """Forget document number `doc` (queries skip it; its entries go at a compaction)."""
        self._removed.add(doc)
        if len(self._removed) >= _REMOVED_BEFORE_COMPACTION:
            self._compact()

    def query(self, keys: np.ndarray) -> dict[int, int]:
        """Documents sharing at least one key with `keys`, with the number of shared keys."""
        found = []
        for level_keys, level_docs in self._levels:
            lo = np.searchsorted(level_keys, keys, side="left")
            hi = np.searchsorted(level_keys, keys, side="right")
            hit = hi > lo
            if hit.any():
                lo, counts = lo[hit], (hi - lo)[hit]
                # Positions of every entry in every matching bucket, in one vector.
                starts = np.repeat(lo - np.cumsum(counts) + counts, counts)
                found.append(level_docs[starts + np.arange(int(counts.sum()))])
        hits: dict[int, int] = {}
        if found:
            found_docs, n = np.unique(np.concatenate(found) if len(found) > 1 else found[0], return_counts=True)
            hits = dict(zip(found_docs.tolist(), n.tolist()))
        if self._recent:
            recent = self._recent
            for key in keys.tolist():
                for d in recent.get(key, ()):
                    hits[d] = hits.get(d, 0) + 1
        if self._removed:
            for d in self._removed.intersection(hits):
                del hits[d]
        return hits

    def nbytes(self) -> int:
        """Bytes held by the sorted arrays (the dict of recent inserts is bounded and small)."""
        return sum(keys.nbytes + docs.nbytes for keys, docs in self._levels)

    def _flush(self) -> None:
        """Sort the recent entries into a run and merge it down the levels."""
        run_keys = np.fromiter(
            (k for k, ds in self._recent.items() for _ in ds), dtype=_U64, count=self._recent_entries
        )
        run_docs = np.fromiter(
            (d for ds in self._recent.values() for d in ds), dtype=np.uint32, count=self._recent_entries
        )
        order = np.argsort(run_keys, kind="stable")
        run = (run_keys[order], run_docs[order])
        self._recent, self._recent_entries = {}, 0
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
        gone = np.fromiter(self._removed, dtype=np.uint32)
        for level, (keys, docs) in enumerate(self._levels):
            keep = ~np.isin(docs, gone)
            self._levels[level] = (keys[keep], docs[keep])
        for key in list(self._recent):
            kept = [d for d in self._recent[key] if d not in self._removed]
            self._recent_entries -= len(self._recent[key]) - len(kept)
            if kept:
                self._recent[key] = kept
            else:
                del self._recent[key]
        self._removed = set()


def _merge_sorted(keys: np.ndarray, docs: np.ndarray, new_keys: np.ndarray, new_docs: np.ndarray):
    """Merge sorted run (new_keys, new_docs) into sorted (keys, docs); equal keys keep the older first."""
    if len(keys) == 0:
        return new_keys, new_docs
    pos = np.searchsorted(keys, new_keys, side="right")
    return np.insert(keys, pos, new_keys), np.insert(docs, pos, new_docs)
