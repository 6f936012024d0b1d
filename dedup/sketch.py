"""Shingle hashing and MinHash signatures, computed for many sets in one numpy pass.

The signatures equal datasketch's ``MinHash(num_perm, seed, scheme="affine32")`` fed the same
32-bit shingle hashes (see `shingle_hash32`), so they can be loaded into ``LeanMinHash`` or
compared with datasketch's own sketches. The permutations are drawn as datasketch draws them
(tests compare the two), once per ``(num_perm, seed)``, and shared by every signature.
datasketch itself is imported only to build a ``LeanMinHash``: with scipy, which it imports,
it takes most of a second, in every process that analyses.
"""
from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import xxhash

if TYPE_CHECKING:
    from datasketch import LeanMinHash

try:  # the compiled MinHash loop (see setup.py); numpy does the same without it
    from dedup import _analysis
except ImportError:  # pragma: no cover - depends on the install
    _analysis = None

SCHEME = "affine32"
EMPTY = np.uint32(0xFFFFFFFF)
_U64 = np.uint64
# Odd 64-bit multiplier of the polynomial that folds k token hashes into one shingle hash.
_FOLD = _U64(0x9E3779B97F4A7C15)
# Rows of the (shingles x permutations) matrix computed at once; bounds temporary memory
# (4096 x 128 x 4 bytes = 2 MiB) however long the document.
_CHUNK_ROWS = 4096


def token_hash(key: str) -> int:
    """64-bit hash of one folded token."""
    return xxhash.xxh3_64_intdigest(key.encode("utf-8", "surrogatepass"))


def _fmix64(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> _U64(33))
    h = h * _U64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> _U64(33))
    h = h * _U64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> _U64(33))


def _fmix32(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def shingle_hashes(token_hashes: np.ndarray, k: int) -> np.ndarray:
    """64-bit hashes of every run of `k` consecutive tokens (one run if there are fewer)."""
    n = len(token_hashes)
    if n == 0:
        return np.empty(0, dtype=_U64)
    if n < k:
        k = n
    with np.errstate(over="ignore"):
        h = token_hashes[: n - k + 1].copy()
        for j in range(1, k):
            h = h * _FOLD + token_hashes[j : n - k + 1 + j]
        return _fmix64(h)


def shingle_hash32(tokens: Sequence[str]) -> int:
    """The 32-bit hash of one shingle, as `Sketcher` computes it; a datasketch ``hashfunc``."""
    hashes = np.array([token_hash(t) for t in tokens], dtype=_U64)
    return int(shingle_hashes(hashes, len(tokens))[0] & _U64(0xFFFFFFFF))


@functools.lru_cache(maxsize=16)
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's affine32 permutation parameters ``(a, b)`` for `num_perm` and `seed`:
    ``h -> a * h + b (mod 2**32)`` with an odd `a`, drawn from numpy's ``RandomState(seed)``,
    all the `a` first, then all the `b`."""
    draw = np.random.RandomState(seed)
    a = draw.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = draw.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


class Sketcher:
    """Computes MinHash signatures of hashed sets, several sets per numpy call."""

    def __init__(self, num_perm: int = 128, seed: int = 1) -> None:
        self.num_perm = num_perm
        self.seed = seed
        a, b = permutations(num_perm, seed)
        self._a = a[np.newaxis, :]
        self._b = b[np.newaxis, :]

    def signatures(self, hashes: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """Signatures of consecutive groups of `hashes`.

        Args:
            hashes: 64-bit item hashes, grouped: group ``i`` is ``hashes[starts[i]:starts[i+1]]``.
            starts: ascending start offsets of the groups; an empty group gets the empty
                signature (all ``0xFFFFFFFF``), as datasketch does.
        Returns:
            ``uint32`` array of shape ``(len(starts), num_perm)``.
        """
        groups = len(starts)
        out = np.full((groups, self.num_perm), EMPTY, dtype=np.uint32)
        n = len(hashes)
        if groups == 0 or n == 0:
            return out
        starts = np.ascontiguousarray(starts, dtype=np.int64)
        ends = np.append(starts[1:], n)
        with np.errstate(over="ignore"):
            hv = _fmix32((hashes & _U64(0xFFFFFFFF)).astype(np.uint32))
            if _analysis is not None:
                _analysis.minhash(hv, starts, self._a, self._b, out)
                return out
            for lo in range(0, n, _CHUNK_ROWS):
                hi = min(n, lo + _CHUNK_ROWS)
                block = hv[lo:hi, np.newaxis] * self._a + self._b
                # Groups overlapping this chunk, with their offsets clipped to it.
                first = int(np.searchsorted(ends, lo, side="right"))
                last = int(np.searchsorted(starts, hi, side="left"))
                g_starts = np.clip(starts[first:last], lo, hi) - lo
                g_ends = np.clip(ends[first:last], lo, hi) - lo
                nonempty = g_ends > g_starts
                if not nonempty.any():
                    continue
                idx = np.flatnonzero(nonempty) + first
                mins = np.minimum.reduceat(block, g_starts[nonempty], axis=0)
                out[idx] = np.minimum(out[idx], mins)
        return out

    def signature(self, hashes: Iterable[int] | np.ndarray) -> np.ndarray:
        """Signature of one set of 64-bit item hashes."""
        arr = np.asarray(hashes, dtype=_U64)
        return self.signatures(arr, np.zeros(1, dtype=np.int64))[0]

    def lean_minhash(self, signature: np.ndarray) -> "LeanMinHash":
        """The signature as a datasketch ``LeanMinHash``."""
        from datasketch import LeanMinHash

        return LeanMinHash(seed=self.seed, hashvalues=signature, scheme=SCHEME)
