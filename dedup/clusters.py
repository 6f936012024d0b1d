"""Copy and story clusters over verified matches, with chaining control.

The clusters are a deterministic function of the set of matches (the edges), not of the
order in which they were found: edges are applied strongest first, ties broken by document
id, and each merge is judged by the same rule. So an update can be computed from the last
clustering instead of from scratch and still end where a batch run would: each cluster keeps
the merges that built it, and adding articles replays only the merges that the new articles'
edges can change (see `Partition._replay`). Removing matches reclusters the whole connected
component they were in.

Chaining control: an exact or near-duplicate match always merges. A syndicated or version
match does not merge when the page it touches shares text with its own cluster and with the
other one in different places (a digest of several stories, a caption quoting another
story). A rewrite match merges story clusters only when one is a single document or several
members of each are linked. So one stray link or one compilation page cannot fuse stories.
"""
from __future__ import annotations

import bisect
import heapq
import itertools
import operator
from array import array
from collections.abc import Callable, Iterable

import numpy as np

from dedup.edges import Edge, Links
from dedup.verify import COPY_RELATIONS, EXACT, NEAR_DUPLICATE, RELATIONS, SYNDICATED, VERSION

# Matches that always merge: the bodies are (nearly) the same text. Containment and weaker
# matches go through the chaining check, since a page can contain several stories.
_UNCONDITIONAL = frozenset((EXACT, NEAR_DUPLICATE))
_COPY_CONDITIONAL = frozenset((SYNDICATED, VERSION))
# A flush replays the last clustering while the nodes with new edges are at most this
# share of all nodes; beyond it, their components are clustered from scratch.
_REPLAY_SHARE = 0.25
# Share of a page that, once shared with another cluster, makes the page part of it (news
# digests share 0.10-0.15 of the page with each story they reprint; see benchmarks/RESULTS.md).
_MOSTLY = 0.4

_ORDER = operator.attrgetter("order")
_ALONE = -1  # the cluster number of a node on its own


class _Read(dict):
    """A level's adjacency as one clustering pass reads it: each edge made once, shared by
    both its ends' dicts, and each node's name (its article id, which orders the edges)
    decoded once for the pass."""

    def __init__(self, links: Links) -> None:
        super().__init__()
        self._links = links
        self._names: dict[int, str] = {}

    def __missing__(self, node: int) -> dict[int, Edge]:
        make, get, names = self._links.store.edge, dict.get, self._names
        edges = {}
        for other, key in self._links.keys(node):
            seen = get(self, other)
            edge = seen.get(node) if seen is not None else None
            edges[other] = edge if edge is not None and edge.key == key else make(key, names)
        self[node] = edges
        return edges

    def keys(self, node: int) -> list[tuple[int, int]]:
        """(other node, record key) of each of `node`'s edges, none made."""
        edges = self.get(node)
        return [(m, e.key) for m, e in edges.items()] if edges is not None else self._links.keys(node)

    def edge(self, key: int) -> Edge:
        return self._links.store.edge(key)


class Partition:
    """Clusters of one level (copy or story) over nodes numbered by the caller.

    Only clusters of two or more nodes are stored: a node whose `_cluster` entry is -1 is a
    cluster of its own (most articles are), which costs nothing but that entry.
    """

    def __init__(self, links: Links, page_chars: Callable[[int], int]) -> None:
        self._adj = links  # this level's matches (`dedup.edges`)
        self._page_chars = page_chars
        self._cluster = array("q")  # node -> cluster number, -1 for a node on its own
        self._members: dict[int, array] = {}  # cluster number -> sorted nodes
        # cluster number -> the keys of the merges that built it, in `Edge.order`
        self._history: dict[int, array] = {}
        self._next_cluster = 0
        # The nodes are 0 .. _size - 1 but for those removed (numbers are never reused).
        self._size = 0
        self._removed: set[int] = set()
        # Clustering is deferred until someone reads a cluster, so a batch of additions costs
        # one pass. `_added`: nodes given new edges since; `_dirty`: nodes whose edges were
        # replaced (their clusters' last merges no longer hold and are judged again).
        self._added: set[int] = set()
        self._dirty: set[int] = set()

    def __contains__(self, node: int) -> bool:
        return 0 <= node < self._size and node not in self._removed

    def __len__(self) -> int:
        return self._size - len(self._removed)

    @property
    def relations(self) -> frozenset[str]:
        """The relations whose matches link clusters at this level."""
        return self._adj.relations

    def add_node(self, node: int) -> None:
        """Add `node`, a cluster of its own; nodes come in increasing numbers."""
        if node in self:
            return
        if node < self._size:
            raise ValueError(f"node {node} was removed; numbers are not reused")
        self._size = node + 1
        self._cluster.extend(array("q", [_ALONE]) * (self._size - len(self._cluster)))

    def add_edges(self, keys: Iterable[int]) -> None:
        """Add matches (records of `dedup.edges.EdgeStore`; only those of this level's
        relations) of nodes whose other matches are unchanged; every edge's `u` is marked
        for the next clustering."""
        for key in keys:
            if self._adj.link(key):
                self._added.add(self._adj.store.ends(key)[0])

    def replace_edges(self, node: int, keys: Iterable[int]) -> None:
        """Replace all of `node`'s matches (after re-verification) and recluster."""
        touched = {node, *self._adj.unlink_node(node)}
        for key in keys:
            if self._adj.link(key):
                touched.update(self._adj.store.ends(key))
        self._dirty |= touched

    def remove_edges(self, keys: Iterable[int]) -> None:
        """Remove matches (after a review found them no longer true) and recluster."""
        for key in keys:
            if self._adj.is_linked(key):
                self._adj.unlink(key)
                self._dirty.update(self._adj.store.ends(key))

    def renumber_edges(self, renumbered: np.ndarray) -> None:
        """After `EdgeStore.compact`: the merges under their new keys. Settle the clusters
        (read them) before compacting: a pending replay would read the old keys."""
        for number, keys in self._history.items():
            self._history[number] = array("I", [k for k in renumbered[np.frombuffer(keys, np.uint32)].tolist() if k >= 0])

    def remove_node(self, node: int) -> None:
        self._flush()
        self._adj.unlink_node(node)
        if node in self:
            self._removed.add(node)
        cluster = self._number(node)
        if cluster is not None:
            self._cluster[node] = _ALONE
            members = [m for m in self._members.pop(cluster) if m != node]
            del self._history[cluster]
            if members:
                self._set_cluster(members, [])
                self._recluster(set(members))

    def members(self, node: int) -> list[int]:
        self._flush()
        if node not in self:
            raise KeyError(node)
        return self._clustered(node)[1]

    def cluster_number(self, node: int) -> int | None:
        """The number of `node`'s cluster (None: on its own). A number is never reused: a
        cluster whose members change is stored under a new one (`_set_cluster`)."""
        self._flush()
        if node not in self:
            raise KeyError(node)
        return self._number(node)

    def neighbours(self, node: int) -> dict[int, Edge]:
        """`node`'s matches at this level: other node -> Edge."""
        return self._adj[node]

    def match_keys(self, node: int) -> list[tuple[int, int]]:
        """(other node, record key) of each of `node`'s matches at this level."""
        return self._adj.keys(node)

    def edge_key(self, a: int, b: int) -> int | None:
        """The record key of the match between `a` and `b` at this level, if there is one."""
        return self._adj.key_between(a, b)

    def keys_of(self, relation: str) -> list[int]:
        """The record keys of every match of `relation` at this level."""
        return self._adj.keys_of(relation)

    def links_of(self, keys: np.ndarray) -> np.ndarray:
        """Whether this level links the match recorded under each of `keys` (an int array)."""
        return self._adj.linked_of(keys)

    def edge_count(self) -> int:
        return self._adj.count

    def clusters(self) -> Iterable[list[int]]:
        """Every cluster, those of one node included."""
        self._flush()
        for members in self._members.values():
            yield list(members)
        for n in np.flatnonzero(np.frombuffer(self._cluster, np.int64)[:self._size] == _ALONE).tolist():
            if n not in self._removed:
                yield [n]

    def _clustered(self, node: int) -> tuple[int | None, list[int]]:
        """The number and members of `node`'s cluster (number None: on its own)."""
        number = self._number(node)
        if number is None:
            return None, [node]
        return number, list(self._members[number])

    def _number(self, node: int) -> int | None:
        number = self._cluster[node] if node < len(self._cluster) else _ALONE
        return None if number == _ALONE else number

    def _merges(self, number: int) -> list[Edge]:
        """The merges that built cluster `number`, in order."""
        edge = self._adj.store.edge
        return [edge(key) for key in self._history[number]]

    def _flush(self) -> None:
        if not (self._dirty or self._added):
            return
        seeds = {n for n in self._dirty | self._added if n in self}
        changed = {n for n in self._dirty if n in self}
        self._dirty, self._added = set(), set()
        # A replay costs more per judged edge than a pass from scratch: worth it while the
        # new nodes are a small part of what is clustered (an online add, not a bulk load).
        if len(seeds) > _REPLAY_SHARE * len(self):
            self._recluster(seeds)
        else:
            self._replay(seeds, changed)

    # -- clustering ---------------------------------------------------------------------

    def _component(self, seeds: set[int]) -> set[int]:
        seen = set(seeds)
        stack = list(seeds)
        while stack:
            n = stack.pop()
            for m in self._adj.others(n):
                if m not in seen:
                    seen.add(m)
                    stack.append(m)
        return seen

    def _recluster(self, seeds: set[int]) -> None:
        """Cluster the connected components of `seeds` from scratch."""
        nodes = self._component(seeds)
        # Include whole current clusters, so that a cluster split by this update is rebuilt.
        for n in list(nodes):
            c = self._number(n)
            if c is not None:
                nodes.update(self._members[c])
        self._drop_clusters(nodes)
        merger = _from_scratch(nodes, _Read(self._adj), self._page_chars)
        for root, group in merger.members.items():
            self._set_cluster(group, merger.history[root])

    def _replay(self, seeds: set[int], changed: set[int] = frozenset()) -> None:
        """Bring the clustering up to date after `seeds` gained edges, or those of `changed`
        (a subset) were replaced, from the last clustering.

        A merge decision reads only the two clusters it joins and the edges among their
        members. So the pass over all edges in order takes the same decisions as last time
        wherever both clusters are untouched: each is the same set of nodes as last time.
        Only clusters that contain a seed, or whose set differs because a decision changed
        ("tainted"), need their edges judged again; everything else is the old merges,
        replayed. Old clusters are brought into the pass when it first reaches one of their
        nodes, so the work is bounded by the clusters the new edges reach, not the component.
        A cluster with a changed node may have been built from edges that are gone: it comes
        in as single nodes, all tainted, so that every one of its edges is judged again (a
        changed edge changes both ends, so a cluster without a changed node kept its edges).
        """
        adj = _Read(self._adj)
        seeds = set(seeds)  # grows by the members of changed clusters
        merger = _Replay(adj)
        old_merges: set[int] = set()  # keys of the edges that merged last time
        brought: list[int] = []
        queue: list[tuple] = []
        tie = itertools.count()

        def bring_in(node: int, now: tuple | None) -> None:
            """Bring `node`'s last cluster into the pass: as it was built up to `now`, with
            its later merges queued (all of them when `now` is None)."""
            number, members = self._clustered(node)
            if number is None:
                merger.add(node)
                return
            brought.append(number)
            history = self._merges(number)
            done = 0 if now is None else bisect.bisect_left(history, now, key=_ORDER)
            if done == len(history):  # built before the pass reached it: one step
                merger.add_built(members, history)
                return
            for n in members:
                merger.add(n)
            for e in history[:done]:
                merger.merge(merger.find(e.u), merger.find(e.v), e)
            for e in history[done:]:
                old_merges.add(e.key)
                heapq.heappush(queue, (e.order, next(tie), e))

        def taint_and_queue(root: int, now: tuple) -> None:
            """Taint clean cluster `root` and queue its members' edges after `now` (edges
            to a tainted cluster are queued already: its members queued theirs when it was
            tainted; its own inner edges are never judged again)."""
            for e in merger.taint(root, after=now):
                heapq.heappush(queue, (e.order, next(tie), e))

        for n in changed:
            if n not in merger.parent:
                number, members = self._clustered(n)
                if number is not None:
                    brought.append(number)
                for m in members:
                    merger.add(m)
                    seeds.add(m)
        for n in seeds:
            if n not in merger.parent:
                bring_in(n, None)
            merger.taint(n)  # not merged yet: each node is its own root
        for n in seeds:
            for m, e in adj[n].items():
                if m not in seeds or n < m:
                    heapq.heappush(queue, (e.order, next(tie), e))
        last = None
        while queue:
            now, _, e = heapq.heappop(queue)
            if now == last:
                continue  # queued both as an old merge and as an edge of a tainted cluster
            last = now
            for n in (e.u, e.v):
                if n not in merger.parent:
                    bring_in(n, now)
            x, y = merger.find(e.u), merger.find(e.v)
            if x == y:
                continue
            x_tainted, y_tainted = merger.tainted(x), merger.tainted(y)
            if not (x_tainted or y_tainted):
                merger.merge(x, y, e)  # an old merge of two untouched clusters
            elif _may_merge(e, x, y, merger, adj, self._page_chars):
                if not (x_tainted and y_tainted):
                    taint_and_queue(y if x_tainted else x, now)
                merger.merge(x, y, e)
            elif e.key in old_merges and not (x_tainted and y_tainted):
                # Last time these merged here; the untouched side now differs from then.
                taint_and_queue(y if x_tainted else x, now)
        for number in brought:
            del self._members[number], self._history[number]
        for root, group in merger.members.items():
            self._set_cluster(group, merger.history[root])

    def _drop_clusters(self, nodes: Iterable[int]) -> None:
        for n in nodes:
            c = self._number(n)
            if c is not None:
                self._cluster[n] = _ALONE
                self._members.pop(c, None)
                self._history.pop(c, None)

    def _set_cluster(self, nodes: list[int], history: list[Edge]) -> None:
        if len(nodes) == 1:
            if nodes[0] < len(self._cluster):
                self._cluster[nodes[0]] = _ALONE  # on its own: nothing stored
            return
        number = self._next_cluster
        self._next_cluster += 1
        ordered = sorted(nodes)
        self._members[number] = array("I", ordered)
        self._history[number] = array("I", [e.key for e in sorted(history, key=_ORDER)])  # `_replay` bisects it
        for n in ordered:
            self._cluster[n] = number


def cluster_component(
    nodes: set[int],
    adj: dict[int, dict[int, Edge]],
    page_chars: Callable[[int], int],
) -> list[list[int]]:
    """Cluster one connected set of nodes from scratch; a pure function of its nodes and
    edges (applied in `Edge.order`). `page_chars` gives the length of a node's prose (body and periphery)."""
    return list(_from_scratch(nodes, adj, page_chars).members.values())


def _from_scratch(nodes: set[int], adj: dict[int, dict[int, Edge]], page_chars) -> _Merger:
    """One pass over the edges among `nodes`, strongest first: the clusters and their merges."""
    merger = _Merger(adj, nodes)
    find = merger.find
    ordered = sorted((e for n in nodes for m, e in adj[n].items() if n < m and m in nodes), key=_ORDER)
    for e in ordered:
        x, y = find(e.u), find(e.v)
        if x != y and _may_merge(e, x, y, merger, adj, page_chars):
            merger.merge(x, y, e)
    return merger


def _may_merge(e: Edge, x: int, y: int, merger: _Merger, adj, page_chars) -> bool:
    """The merge rule for edge `e` between clusters `x` and `y` (roots)."""
    if e.relation in _UNCONDITIONAL:
        return True
    if e.relation in _COPY_CONDITIONAL:
        return not (_bridges(e, x, y, merger, adj, page_chars) or _bridges(e, y, x, merger, adj, page_chars))
    return merger.weak_merge_allowed(x, y)


class _Merger:
    """Union-find over the clusters of a pass from scratch, with the merges that built each.

    The weak-merge rule asks how many members of each of two clusters are linked to the
    other, so the merger keeps those link sets for every pair of clusters: ``links[x][y]`` is
    the set of members of `x` (a root) with an edge to a member of `y`. Only weak merges ask,
    and edges are applied strongest first, so the sets are built when the first weak merge is
    judged, over the clusters the stronger edges made (fewer and larger than the single nodes
    of the start). Merging moves the smaller sets into the larger ones: O(E log N) set
    insertions for a whole pass.
    """

    def __init__(self, adj: dict[int, dict[int, Edge]], nodes: Iterable[int] = ()) -> None:
        self.parent: dict[int, int] = {}
        self.members: dict[int, list[int]] = {}
        self.history: dict[int, list[Edge]] = {}
        self._adj = adj
        self.links: dict[int, dict[int, set[int]]] | None = None
        for n in nodes:
            self.add(n)

    def add(self, node: int) -> None:
        """Add `node` as a cluster of its own."""
        self.parent[node] = node
        self.members[node] = [node]
        self.history[node] = []

    def add_built(self, members: list[int], history: list[Edge]) -> None:
        """Add a cluster whole, as `history` built it (no node of it is here yet)."""
        root = members[0]
        for n in members:
            self.parent[n] = root
        self.members[root] = list(members)
        self.history[root] = list(history)

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def root(self, x: int) -> int | None:
        """`find`, or None for a node the pass has not reached (in no cluster it judges)."""
        return self.find(x) if x in self.parent else None

    def weak_merge_allowed(self, x: int, y: int) -> bool:
        """Whether a weak link may merge clusters `x` and `y` (roots).

        A single document joins freely. Larger clusters merge only when several members on
        each side are linked: one document linked to every member of another cluster (a page
        that reprints another story's opening as a photo caption) is still one document's link.
        """
        nx, ny = len(self.members[x]), len(self.members[y])
        if nx == 1 or ny == 1:
            return True
        linked_x, linked_y = self._linked(x, y)
        return linked_x >= _needed(nx) and linked_y >= _needed(ny)

    def _linked(self, x: int, y: int) -> tuple[int, int]:
        """How many members of `x` are linked to `y`, and of `y` to `x`."""
        links = self.links if self.links is not None else self._build_links()
        return len(links[x].get(y, ())), len(links[y].get(x, ()))

    def _build_links(self) -> dict[int, dict[int, set[int]]]:
        find = self.find
        root_of = {n: find(n) for n in self.parent}
        links: dict[int, dict[int, set[int]]] = {root: {} for root in self.members}
        for n, root in root_of.items():
            own = links[root]
            for m in self._adj[n]:
                other = root_of.get(m, root)
                if other != root:
                    linked = own.get(other)
                    if linked is None:
                        own[other] = {n}
                    else:
                        linked.add(n)
        self.links = links
        return links

    def merge(self, x: int, y: int, edge: Edge) -> int:
        """Merge clusters `x` and `y` (roots) through `edge`; returns the new root."""
        if len(self.members[x]) < len(self.members[y]):
            x, y = y, x
        self.parent[y] = x
        self.members[x].extend(self.members.pop(y))
        history = self.history[x]
        history.extend(self.history.pop(y))
        history.append(edge)
        if self.links is not None:
            self._merge_links(x, y)
        return x

    def _merge_links(self, x: int, y: int) -> None:
        x_links, y_links = self.links[x], self.links.pop(y)
        x_links.pop(y, None)
        for other, linked in y_links.items():
            if other == x:
                continue
            other_links = self.links[other]
            _move(other_links, other_links.pop(y), x)
            _move(x_links, linked, other)


class _Replay(_Merger):
    """The merger of `Partition._replay`: nodes arrive as the pass reaches them, and some
    clusters are tainted (their members may differ from the last clustering's).

    Merges are judged only where a tainted cluster takes part, so links are kept only for
    tainted clusters, pointing outwards: ``outward[x][m]`` is the set of members of tainted
    `x` with an edge to node `m` (kept after `m` joins `x`: only other clusters' members are
    looked up). The links between `x` and `y` are then found by looking up the members of `y`.
    """

    def __init__(self, adj: _Read) -> None:
        super().__init__(adj)
        self.outward: dict[int, dict[int, set[int]]] = {}

    def tainted(self, root: int) -> bool:
        return root in self.outward

    def taint(self, root: int, after: tuple | None = None) -> list[Edge]:
        """Taint `root`: keep its outward links from now on. With `after`, return its
        members' edges after that order to nodes outside every tainted cluster (one pass
        over the edges does both)."""
        if root in self.outward:
            return []
        out: dict[int, set[int]] = {}
        later: list[Edge] = []
        root_of, tainted, adj = self.root, self.tainted, self._adj
        for n in self.members[root]:
            for m, key in adj.keys(n):  # most are inner edges of a large cluster: made only if needed
                other = root_of(m)
                if other == root:
                    continue
                linked = out.get(m)
                if linked is None:
                    out[m] = {n}
                else:
                    linked.add(n)
                if after is not None and (other is None or not tainted(other)):
                    e = adj.edge(key)
                    if e.order > after:
                        later.append(e)
        self.outward[root] = out
        return later

    def _linked(self, x: int, y: int) -> tuple[int, int]:
        if x not in self.outward or (y in self.outward and len(self.members[x]) < len(self.members[y])):
            linked_y, linked_x = self._linked(y, x)
            return linked_x, linked_y
        out = self.outward[x]
        mine: set[int] = set()
        theirs = 0
        for m in self.members[y]:
            linked = out.get(m)
            if linked is not None:
                theirs += 1
                mine |= linked
        return len(mine), theirs

    def merge(self, x: int, y: int, edge: Edge) -> int:
        """As `_Merger.merge`; the result is tainted when either side was."""
        if x not in self.outward and y not in self.outward:
            return super().merge(x, y, edge)
        self.taint(x)
        self.taint(y)
        big_out, small_out = self.outward.pop(x), self.outward.pop(y)
        if len(big_out) < len(small_out):
            big_out, small_out = small_out, big_out
        for m, linked in small_out.items():
            _move(big_out, linked, m)
        root = super().merge(x, y, edge)
        self.outward[root] = big_out
        return root


def _move(links: dict[int, set[int]], linked: set[int], to: int) -> None:
    """Add `linked` to ``links[to]``, reusing the larger of the two sets."""
    have = links.get(to)
    if have is None:
        links[to] = linked
    elif len(have) >= len(linked):
        have |= linked
    else:
        linked |= have
        links[to] = linked


def _bridges(e: Edge, own: int, other: int, merger: _Merger, adj, page_chars: Callable[[int], int]) -> bool:
    """Whether `e` links cluster `other` to `own` (both roots) only through an inserted part of one page.

    The member of `own` that `e` touches shares some text with its own cluster and some with
    `other`. When the share with `other` is a minor part of that page and lies elsewhere
    than the share with `own` (a digest of several stories' openings, a photo caption quoting
    another story), the page is a compilation and must not fuse the stories it compiles. When
    a large part of the page (`_MOSTLY`) is shared with `other`, the page is simply a version
    of that story too: a revision that keeps parts of two earlier ones, where a digest's
    pieces are a tenth or so of the page each. The page is measured with the periphery cut
    from its body: a digest whose other stories were cut as unrelated to the first is still
    made of them.
    """
    node = e.u if merger.find(e.u) == own else e.v
    if len(merger.members[own]) == 1:
        return False
    own_spans, other_spans = [], []
    root_of = merger.root
    for m, f in adj[node].items():
        root = root_of(m)
        if root == own:
            # An identical copy shares everything, teasers included: it says nothing about
            # which part of the page is its story.
            if f.relation != EXACT:
                own_spans.extend(f.spans_of(node))
        elif root == other:
            other_spans.extend(f.spans_of(node))
    own_cover, other_cover = _union(own_spans), _union(other_spans)
    other_size = _length(other_cover)
    if not own_cover or other_size == 0 or other_size >= _MOSTLY * page_chars(node):
        return False
    return 2 * _overlap(own_cover, other_cover) < other_size


def _union(spans) -> list[tuple[int, int]]:
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]


def _length(spans) -> int:
    return sum(b - a for a, b in spans)


def _overlap(xs, ys) -> int:
    total = i = j = 0
    while i < len(xs) and j < len(ys):
        lo = max(xs[i][0], ys[j][0])
        hi = min(xs[i][1], ys[j][1])
        if hi > lo:
            total += hi - lo
        if xs[i][1] < ys[j][1]:
            i += 1
        else:
            j += 1
    return total


def _needed(size: int) -> int:
    return max(2, -(-size // 3))


COPY_LEVEL = COPY_RELATIONS
STORY_LEVEL = frozenset(RELATIONS)
