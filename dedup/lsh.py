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
    """Maps band keys to the numbers of the documents that have them."""

    def __init__(self) -> None:
        self._keys = np.empty(0, dtype=_U64)
        self._docs = np.empty(0, dtype=np.uint32)
        self._recent: dict[int, list[int]] = {}
        self._recent_entries = 0
        self._removed: set[int] = set()

    def __len__(self) -> int:
        return len(self._keys) + self._recent_entries

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
        if self._recent_entries > max(1 << 16, len(self._keys) >> 3):
            self._merge()

    def remove(self, doc: int) -> None:
        """Forget document number `doc` (its entries are dropped at the next merge)."""
        self._removed.add(doc)

    def query(self, keys: np.ndarray) -> dict[int, int]:
        """Documents sharing at least one key with `keys`, with the number of shared keys."""
        hits: dict[int, int] = {}
        if len(self._keys):
            lo = np.searchsorted(self._keys, keys, side="left")
            hi = np.searchsorted(self._keys, keys, side="right")
            found = hi > lo
            if found.any():
                lo, counts = lo[found], (hi - lo)[found]
                # Positions of every entry in every matching bucket, in one vector.
                starts = np.repeat(lo - np.cumsum(counts) + counts, counts)
                docs = self._docs[starts + np.arange(int(counts.sum()))]
                found_docs, n = np.unique(docs, return_counts=True)
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
        return self._keys.nbytes + self._docs.nbytes

    def _merge(self) -> None:
        if not self._recent and not self._removed:
            return
        if self._recent:
            new_keys = np.fromiter(
                (k for k, ds in self._recent.items() for _ in ds), dtype=_U64, count=self._recent_entries
            )
            new_docs = np.fromiter(
                (d for ds in self._recent.values() for d in ds), dtype=np.uint32, count=self._recent_entries
            )
            self._keys, self._docs = _merge_sorted(self._keys, self._docs, new_keys, new_docs)
            self._recent = {}
            self._recent_entries = 0
        if self._removed:
            keep = ~np.isin(self._docs, np.fromiter(self._removed, dtype=np.uint32))
            self._keys, self._docs = self._keys[keep], self._docs[keep]
            self._removed = set()


def _merge_sorted(keys: np.ndarray, docs: np.ndarray, new_keys: np.ndarray, new_docs: np.ndarray):
    order = np.argsort(new_keys, kind="stable")
    new_keys, new_docs = new_keys[order], new_docs[order]
    if len(keys) == 0:
        return new_keys, new_docs
    pos = np.searchsorted(keys, new_keys, side="right")
    return np.insert(keys, pos, new_keys), np.insert(docs, pos, new_docs)

