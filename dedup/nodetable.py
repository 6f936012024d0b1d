"""64-bit hashes to node numbers in two flat arrays: the index's maps from article ids and
from body hashes to the nodes that have them.

A dict entry with its int objects costs about 100 bytes per article; a slot here costs 12,
and at most half the slots are in use. Open addressing with linear probing: a pair is found
by probing from its hash's home slot to the next empty one. A hash may map to several nodes
(each pair has its own slot); a removed pair leaves a tombstone until the table is rebuilt.
"""
from __future__ import annotations

from array import array

import numpy as np

_EMPTY = -1
_GONE = -2  # a removed pair: probing goes on past it
_MIX = 0x9E3779B97F4A7C15  # Fibonacci hashing: the top bits of hash * _MIX pick the home slot
_MASK64 = (1 << 64) - 1
_MIN_BITS = 10


class NodeTable:
    """A multimap of 64-bit hashes to node numbers (below 2**31)."""

    def __init__(self) -> None:
        self._rebuild(np.empty(0, np.uint64), np.empty(0, np.int64), _MIN_BITS)

    def __len__(self) -> int:
        return self._pairs

    def nodes(self, h: int) -> list[int]:
        """The nodes under hash `h`, ascending."""
        hashes, nodes, mask = self._hashes, self._nodes, self._mask
        i = ((h * _MIX) & _MASK64) >> self._shift
        out = []
        while (n := nodes[i]) != _EMPTY:
            if n >= 0 and hashes[i] == h:
                out.append(n)
            i = (i + 1) & mask
        if len(out) > 1:
            out.sort()
        return out

    def add(self, h: int, node: int) -> None:
        """Put the pair (`h`, `node`) (not there already)."""
        if 2 * (self._used + 1) > len(self._nodes):
            self._grow()
        nodes, mask = self._nodes, self._mask
        i = ((h * _MIX) & _MASK64) >> self._shift
        while nodes[i] != _EMPTY:
            i = (i + 1) & mask
        self._hashes[i], nodes[i] = h, node
        self._used += 1
        self._pairs += 1

    def remove(self, h: int, node: int) -> None:
        """Drop the pair (`h`, `node`), if there."""
        hashes, nodes, mask = self._hashes, self._nodes, self._mask
        i = ((h * _MIX) & _MASK64) >> self._shift
        while (n := nodes[i]) != _EMPTY:
            if n == node and hashes[i] == h:
                nodes[i] = _GONE
                self._pairs -= 1
                return
            i = (i + 1) & mask

    def _grow(self) -> None:
        """Rebuild without tombstones, twice as large unless they were most of the use."""
        live = np.frombuffer(self._nodes, np.int32) >= 0
        hashes = np.frombuffer(self._hashes, np.uint64)[live]
        nodes = np.frombuffer(self._nodes, np.int32)[live].astype(np.int64)
        bits = self._bits + (4 * len(nodes) > len(self._nodes))
        self._rebuild(hashes, nodes, bits)

    def _rebuild(self, hashes: np.ndarray, nodes: np.ndarray, bits: int) -> None:
        """A table of 2**bits slots holding the pairs (`hashes`, `nodes`), placed in one pass:
        sorted by home slot, each takes the first free slot from its home on, which is
        ``max(home[k], slot[k-1] + 1)``, a running maximum of ``home[k] - k`` plus k."""
        size = 1 << bits
        self._bits, self._shift, self._mask = bits, 64 - bits, size - 1
        with np.errstate(over="ignore"):
            home = ((hashes * np.uint64(_MIX)) >> np.uint64(64 - bits)).astype(np.int64)
        order = np.argsort(home, kind="stable")
        home, hashes, nodes = home[order], hashes[order], nodes[order]
        rank = np.arange(len(home))
        slots = np.maximum.accumulate(home - rank) + rank if len(home) else home
        table_hashes = np.zeros(size, np.uint64)
        table_nodes = np.full(size, _EMPTY, np.int32)
        fits = slots < size
        table_hashes[slots[fits]], table_nodes[slots[fits]] = hashes[fits], nodes[fits]
        self._hashes, self._nodes = array("Q", table_hashes.tobytes()), array("i", table_nodes.tobytes())
        self._used = self._pairs = int(fits.sum())
        for h, node in zip(hashes[~fits].tolist(), nodes[~fits].tolist()):  # past the end: wrap around
            self.add(h, node)
