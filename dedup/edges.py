"""The verified matches of an index in flat arrays, and each clustering level's links to them.

An index keeps a few matches per article. As Python objects (an `Edge`, its `StoredMatch`,
the order tuple, two byte strings, and an entry in a per-node dict on each level) a match
cost about 700 bytes; here it costs about 70, plus about 10 per shared passage, and a snapshot
pickles a few arrays instead of millions of objects. Clustering still reads `Edge` objects:
they are made from the arrays when a level's adjacency is read, and dropped after.

A match is a record numbered in the order it was added (its key). A `Links` level (copy or
story) holds the records of its relations as doubly linked lists per node, in arrays. A
record no level links is dead; `EdgeStore.compact` renumbers the live ones when the dead
outnumber them.
"""
from __future__ import annotations

import struct
from array import array
from collections.abc import Callable

import numpy as np

from dedup.verify import NO_RELATION, RELATIONS, SCORES, Match, StoredMatch, passage_spans

_RANK = {rel: i for i, rel in enumerate(RELATIONS)}
_HEAD = struct.Struct("<BH")  # the leading relation rank and similarity of a `SCORES` record
_EMPTY = -1
# Dead records worth a compaction, in number and as a share of all records.
_COMPACT_AFTER = 1 << 16
_COMPACT_SHARE = 0.5


class Edge:
    """A verified match between nodes `u` (its side `a`) and `v`, as clustering reads it.
    Made for each read of a level (a plain class: a frozen dataclass takes three times as
    long to make); do not change one."""

    __slots__ = ("u", "v", "relation", "score", "order", "key", "store")

    def __init__(self, u: int, v: int, relation: str, score: float, order: tuple, key: int, store: "EdgeStore") -> None:
        self.u, self.v, self.relation, self.score = u, v, relation, score
        # Position in the clustering order: strongest first, ties by the two documents'
        # stable names (not node numbers, which depend on arrival order). See `edge_order`.
        self.order = order
        self.key = key  # the record in `store`
        self.store = store

    def __repr__(self) -> str:
        return f"Edge({self.u}, {self.v}, {self.relation!r}, {self.score}, key={self.key})"

    def spans_of(self, node: int) -> list[tuple[int, int]]:
        """Character spans of `node`'s text that it shares with the other end (the runs long
        enough to say where the texts overlap)."""
        return self.store.spans(self.key, side_a=node == self.u)


def edge_order(relation: str, score: float, name_u: str, name_v: str) -> tuple:
    """The sort key of an edge: stronger relation, then higher score, then names."""
    return (_RANK[relation], -score, *((name_u, name_v) if name_u < name_v else (name_v, name_u)))


class EdgeStore:
    """Every verified match of an index, as records in flat arrays."""

    def __init__(self, name_of: Callable[[int], str], min_tokens: int) -> None:
        self.name_of = name_of  # a node's article id: the edges' order and the matches' sides
        self.min_tokens = min_tokens  # shared runs shorter than this say nothing of where texts overlap
        self._u = array("I")
        self._v = array("I")
        self._scores = bytearray()  # `dedup.verify.SCORES` per record: relation, scores, shared tokens
        # Each record's packed passages: where they start in `_heap`; they end where the next
        # record's start (records are added, and kept by `compact`, in key order).
        self._passage_at = array("Q")
        self._heap = bytearray()
        self._levels: list[Links] = []
        self._links = bytearray()  # per record: how many levels link it (0: dead)
        self._live = 0  # records some level links

    def __len__(self) -> int:
        """Records, dead ones included (keys run from 0 to this)."""
        return len(self._u)

    def level(self, relations: frozenset[str]) -> "Links":
        """A new clustering level over the records with one of `relations`."""
        links = Links(self, relations)
        self._levels.append(links)
        return links

    def add(self, u: int, v: int, match: StoredMatch) -> int:
        """Record `match` between nodes `u` (its side `a`) and `v`; returns its key. The
        record is dead until a level links it."""
        key = len(self._u)
        self._u.append(u)
        self._v.append(v)
        self._scores += match.scores
        self._passage_at.append(len(self._heap))
        self._heap += match.passages
        self._links.append(0)
        return key

    def ends(self, key: int) -> tuple[int, int]:
        return self._u[key], self._v[key]

    def ends_of(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`ends` of each of `keys` (an int array of existing keys), as two arrays."""
        dtype = np.dtype(f"u{self._u.itemsize}")
        if not len(keys):
            return np.empty(0, dtype), np.empty(0, dtype)
        return np.frombuffer(self._u, dtype)[keys], np.frombuffer(self._v, dtype)[keys]

    def relation(self, key: int) -> str | None:
        rank = self._scores[key * SCORES.size]
        return None if rank == NO_RELATION else RELATIONS[rank]

    def scored(self, key: int) -> tuple[str | None, float]:
        """The record's relation and similarity (`Match.similarity`), nothing decoded."""
        rank, similarity = _HEAD.unpack_from(self._scores, key * SCORES.size)
        return (None if rank == NO_RELATION else RELATIONS[rank]), similarity / 10_000

    def edge(self, key: int, names: dict[int, str] | None = None) -> Edge:
        """The record as an `Edge`; `names` keeps the ends' names for the next edge made
        (a clustering pass makes thousands, and decoding an id is most of making one)."""
        relation, score = self.scored(key)
        u, v = self._u[key], self._v[key]
        if names is None:
            name_u, name_v = self.name_of(u), self.name_of(v)
        else:
            name_u, name_v = names.get(u), names.get(v)
            if name_u is None:
                name_u = names[u] = self.name_of(u)
            if name_v is None:
                name_v = names[v] = self.name_of(v)
        return Edge(u, v, relation, score, edge_order(relation, score, name_u, name_v), key, self)

    def stored(self, key: int) -> StoredMatch:
        u, v = self._u[key], self._v[key]
        at = key * SCORES.size
        return StoredMatch(self.name_of(u), self.name_of(v), self.relation(key),
                           bytes(self._scores[at:at + SCORES.size]), self._passages(key))

    def match(self, key: int, seen_from: str | None = None) -> Match:
        """The match, with `seen_from` (either id) as side `a`; as recorded by default."""
        return self.stored(key).match(seen_from)

    def spans(self, key: int, side_a: bool) -> list[tuple[int, int]]:
        """One side's character spans of the record's shared runs of at least `min_tokens`."""
        return passage_spans(self._passages(key), side_a, self.min_tokens)

    def _passages(self, key: int) -> bytes:
        return bytes(self._heap[self._passage_at[key]:_passages_end(self._passage_at, self._heap, key)])

    def ranks(self) -> np.ndarray:
        """Each record's relation rank (`NO_RELATION`: none), in one vector."""
        return np.frombuffer(self._scores, np.uint8)[::SCORES.size]

    def dead(self) -> int:
        """Records no level links."""
        return len(self._u) - self._live

    def linked(self, key: int, change: int) -> None:
        """A level linked (+1) or unlinked (-1) record `key`."""
        before = self._links[key]
        self._links[key] = before + change
        self._live += (before == 0) - (before + change == 0)

    def worth_compacting(self) -> bool:
        dead = self.dead()
        return dead >= _COMPACT_AFTER and dead >= _COMPACT_SHARE * len(self._u)

    def compact(self) -> np.ndarray:
        """Drop the dead records and renumber the live ones, keeping their order; returns the
        new key of each old one (-1: dropped). Callers keeping keys must renumber them."""
        linked = [links.linked_mask() for links in self._levels]
        live = np.logical_or.reduce(linked) if linked else np.zeros(len(self._u), bool)
        renumbered = np.full(len(live), -1, np.int64)
        kept = np.flatnonzero(live)
        renumbered[kept] = np.arange(len(kept))
        old = (self._u, self._v, self._scores, self._passage_at, self._heap)
        self._links = bytearray(np.frombuffer(self._links, np.uint8)[kept].tobytes())
        self._u, self._v = array("I"), array("I")
        self._scores, self._heap, self._passage_at = bytearray(), bytearray(), array("Q")
        u, v, scores, passage_at, heap = old
        for key in kept.tolist():
            self._u.append(u[key])
            self._v.append(v[key])
            self._scores += scores[key * SCORES.size:(key + 1) * SCORES.size]
            self._passage_at.append(len(self._heap))
            self._heap += heap[passage_at[key]:_passages_end(passage_at, heap, key)]
        for links, mask in zip(self._levels, linked):
            links.relink(np.flatnonzero(mask[kept]).tolist())
        return renumbered


def _passages_end(passage_at: array, heap: bytearray, key: int) -> int:
    """Where record `key`'s packed passages end: where the next record's start."""
    return passage_at[key + 1] if key + 1 < len(passage_at) else len(heap)


class Links:
    """One clustering level's matches: per node, a doubly linked list of the records linking
    it, in arrays. Slot ``2 * key`` is the record's place in its `u`'s list, ``2 * key + 1`` in
    its `v`'s."""

    def __init__(self, store: EdgeStore, relations: frozenset[str]) -> None:
        self.store = store
        self.relations = relations
        self._head = array("i")  # per node: its first slot, or -1
        self._degree = array("I")  # per node
        self._next = array("i")  # per slot
        self._prev = array("i")  # per slot (-1: first of its list)
        self._linked = bytearray()  # per record
        self.count = 0  # records linked

    def __getitem__(self, node: int) -> dict[int, Edge]:
        """`node`'s matches: other node -> Edge (a new dict; empty for a node without any)."""
        edge = self.store.edge
        return {other: edge(key) for other, key in self.keys(node)}

    def keys(self, node: int) -> list[tuple[int, int]]:
        """(other node, record key) of each match of `node`, oldest first."""
        out = []
        if node >= len(self._head):
            return out
        u, v, nxt = self.store._u, self.store._v, self._next
        slot = self._head[node]
        while slot != _EMPTY:
            key = slot >> 1
            out.append((u[key] if slot & 1 else v[key], key))
            slot = nxt[slot]
        out.reverse()
        return out

    def others(self, node: int) -> list[int]:
        return [other for other, _ in self.keys(node)]

    def degree(self, node: int) -> int:
        return self._degree[node] if node < len(self._degree) else 0

    def key_between(self, a: int, b: int) -> int | None:
        if self.degree(b) < self.degree(a):
            a, b = b, a
        return next((key for other, key in self.keys(a) if other == b), None)

    def nodes(self) -> list[int]:
        """The nodes with matches at this level."""
        return np.flatnonzero(np.frombuffer(self._degree, np.uint32)).tolist() if len(self._degree) else []

    def keys_of(self, relation: str) -> list[int]:
        """Keys of the linked records of `relation`."""
        return np.flatnonzero(self.linked_mask() & (self.store.ranks() == _RANK[relation])).tolist()

    def is_linked(self, key: int) -> bool:
        return key < len(self._linked) and bool(self._linked[key])

    def linked_of(self, keys: np.ndarray) -> np.ndarray:
        """`is_linked` of each of `keys` (an int array), as bools."""
        out = np.zeros(len(keys), bool)
        n = len(self._linked)
        if n:
            inside = keys < n
            out[inside] = np.frombuffer(self._linked, np.uint8, n)[keys[inside]] != 0
        return out

    def linked_mask(self) -> np.ndarray:
        mask = np.zeros(len(self.store), bool)
        n = min(len(self._linked), len(mask))
        mask[:n] = np.frombuffer(self._linked, np.uint8, n).astype(bool)
        return mask

    def link(self, key: int) -> bool:
        """Link record `key` if its relation is this level's (replacing a record that linked
        the same two nodes); returns whether it was linked."""
        if self.store.relation(key) not in self.relations:
            return False
        u, v = self.store.ends(key)
        if u == v:
            return False
        if self.is_linked(key):
            return True
        old = self.key_between(u, v) if self.degree(u) and self.degree(v) else None
        if old is not None:
            self.unlink(old)
        self._grow(max(u, v) + 1, key + 1)
        self._push(u, 2 * key)
        self._push(v, 2 * key + 1)
        self._linked[key] = 1
        self.count += 1
        self.store.linked(key, +1)
        return True

    def unlink(self, key: int) -> None:
        if not self.is_linked(key):
            return
        u, v = self.store.ends(key)
        self._pop(u, 2 * key)
        self._pop(v, 2 * key + 1)
        self._linked[key] = 0
        self.count -= 1
        self.store.linked(key, -1)

    def unlink_node(self, node: int) -> list[int]:
        """Unlink every match of `node`; returns the other ends."""
        pairs = self.keys(node)
        for _, key in pairs:
            self.unlink(key)
        return [other for other, _ in pairs]

    def relink(self, keys: list[int]) -> None:
        """After `EdgeStore.compact`: link exactly `keys` (ascending, so each node's list
        stays oldest first)."""
        nodes = len(self._head)
        self._head, self._degree = array("i", [_EMPTY]) * nodes, array("I", [0]) * nodes
        self._next, self._prev, self._linked = array("i"), array("i"), bytearray()
        self._grow(nodes, len(self.store))
        for key in keys:
            u, v = self.store.ends(key)
            self._push(u, 2 * key)
            self._push(v, 2 * key + 1)
            self._linked[key] = 1
        self.count = len(keys)

    def _grow(self, nodes: int, records: int) -> None:
        if nodes > len(self._head):
            more = nodes - len(self._head)
            self._head.extend(array("i", [_EMPTY]) * more)
            self._degree.extend(array("I", [0]) * more)
        if records > len(self._linked):
            more = max(records, 2 * len(self._linked)) - len(self._linked)  # amortised growth
            self._linked.extend(bytes(more))
            self._next.extend(array("i", [_EMPTY]) * (2 * more))
            self._prev.extend(array("i", [_EMPTY]) * (2 * more))

    def _push(self, node: int, slot: int) -> None:
        first = self._head[node]
        self._next[slot], self._prev[slot] = first, _EMPTY
        if first != _EMPTY:
            self._prev[first] = slot
        self._head[node] = slot
        self._degree[node] += 1

    def _pop(self, node: int, slot: int) -> None:
        before, after = self._prev[slot], self._next[slot]
        if before == _EMPTY:
            self._head[node] = after
        else:
            self._next[before] = after
        if after != _EMPTY:
            self._prev[after] = before
        self._degree[node] -= 1

