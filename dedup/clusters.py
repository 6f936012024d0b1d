"""Copy and story clusters over verified matches, with chaining control.

The clusters are a deterministic function of the set of matches (the edges), not of the
order in which they were found: edges are applied strongest first, ties broken by document
id, and each merge is judged by the same rule. An incremental update therefore recomputes
only the connected component an update touches and ends where a batch run would.

Chaining control: an exact or near-duplicate match always merges. A syndicated or version
match does not merge when the page it touches shares text with its own cluster and with the
other one in different places (a digest of several stories, a caption quoting another
story). A rewrite match merges story clusters only when one is a single document or several
members of each are linked. So one stray link or one compilation page cannot fuse stories.
"""
from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from dedup.verify import COPY_RELATIONS, EXACT, NEAR_DUPLICATE, RELATIONS, SYNDICATED, VERSION

# Matches that always merge: the bodies are (nearly) the same text. Containment and weaker
# matches go through the chaining check, since a page can contain several stories.
_UNCONDITIONAL = frozenset((EXACT, NEAR_DUPLICATE))
_COPY_CONDITIONAL = frozenset((SYNDICATED, VERSION))
# Share of a page that, once shared with another cluster, makes the page part of it.
_MOSTLY = 0.6

_RANK = {rel: i for i, rel in enumerate(RELATIONS)}
_ORDER = operator.attrgetter("order")


@dataclass(frozen=True)
class Edge:
    """A verified match between nodes `u` and `v`, with the spans each shares with the other."""

    u: int
    v: int
    relation: str
    score: float
    # Position in the clustering order: strongest first, ties by the two documents' stable
    # names (not node numbers, which depend on arrival order). See `edge_order`.
    order: tuple
    u_spans: tuple[tuple[int, int], ...] = ()
    v_spans: tuple[tuple[int, int], ...] = ()

    def spans_of(self, node: int) -> tuple[tuple[int, int], ...]:
        return self.u_spans if node == self.u else self.v_spans


class Partition:
    """Clusters of one level (copy or story) over nodes numbered by the caller."""

    def __init__(self, relations: frozenset[str], body_chars: Callable[[int], int]) -> None:
        self._relations = relations
        self._body_chars = body_chars
        self._adj: dict[int, dict[int, Edge]] = {}
        self._cluster: dict[int, int] = {}  # node -> cluster number
        self._members: dict[int, list[int]] = {}  # cluster number -> sorted nodes
        self._next_cluster = 0
        # Nodes whose component changed since clusters were last computed. Clustering is
        # deferred until someone reads a cluster, so a batch of additions costs one pass.
        self._dirty: set[int] = set()

    def __contains__(self, node: int) -> bool:
        return node in self._cluster

    @property
    def relations(self) -> frozenset[str]:
        """The relations whose matches link clusters at this level."""
        return self._relations

    def add_node(self, node: int) -> None:
        self._adj.setdefault(node, {})
        if node not in self._cluster:
            self._set_cluster([node])

    def add_edges(self, edges: Iterable[Edge]) -> None:
        """Add matches (only those of this level's relations) and recluster what they touch."""
        touched = set()
        for e in edges:
            if e.relation not in self._relations or e.u == e.v:
                continue
            self._adj[e.u][e.v] = e
            self._adj[e.v][e.u] = e
            touched.add(e.u)
        self._dirty |= touched

    def replace_edges(self, node: int, edges: Iterable[Edge]) -> None:
        """Replace all of `node`'s matches (after re-verification) and recluster."""
        touched = {node} | set(self._adj.get(node, {}))
        for other in list(self._adj.get(node, {})):
            del self._adj[other][node]
        self._adj[node] = {}
        for e in edges:
            if e.relation in self._relations and e.u != e.v:
                self._adj[e.u][e.v] = e
                self._adj[e.v][e.u] = e
                touched.update((e.u, e.v))
        self._dirty |= touched

    def remove_node(self, node: int) -> None:
        self._flush()
        neighbours = set(self._adj.pop(node, {}))
        for other in neighbours:
            del self._adj[other][node]
        cluster = self._cluster.pop(node, None)
        if cluster is not None:
            members = [m for m in self._members.pop(cluster) if m != node]
            if members:
                self._set_cluster(members)
                self._recluster(set(members))

    def members(self, node: int) -> list[int]:
        self._flush()
        return self._members[self._cluster[node]]

    def neighbours(self, node: int) -> dict[int, Edge]:
        return self._adj.get(node, {})

    def clusters(self) -> Iterable[list[int]]:
        self._flush()
        return self._members.values()

    def _flush(self) -> None:
        if self._dirty:
            dirty, self._dirty = self._dirty, set()
            self._recluster({n for n in dirty if n in self._adj})

    # -- clustering ---------------------------------------------------------------------

    def _component(self, seeds: set[int]) -> set[int]:
        seen = set(seeds)
        stack = list(seeds)
        while stack:
            n = stack.pop()
            for m in self._adj[n]:
                if m not in seen:
                    seen.add(m)
                    stack.append(m)
        return seen

    def _recluster(self, seeds: set[int]) -> None:
        nodes = self._component(seeds)
        # Include whole current clusters, so that a cluster split by this update is rebuilt.
        for n in list(nodes):
            c = self._cluster.get(n)
            if c is not None:
                nodes.update(self._members[c])
        for n in nodes:
            c = self._cluster.pop(n, None)
            if c is not None:
                self._members.pop(c, None)
        for group in cluster_component(nodes, self._adj, self._body_chars):
            self._set_cluster(group)

    def _set_cluster(self, nodes: list[int]) -> None:
        number = self._next_cluster
        self._next_cluster += 1
        ordered = sorted(nodes)
        self._members[number] = ordered
        for n in ordered:
            self._cluster[n] = number


def edge_order(relation: str, score: float, name_u: str, name_v: str) -> tuple:
    """The sort key of an edge: stronger relation, then higher score, then names."""
    return (_RANK[relation], -score, *((name_u, name_v) if name_u < name_v else (name_v, name_u)))


def cluster_component(
    nodes: set[int],
    adj: dict[int, dict[int, Edge]],
    body_chars: Callable[[int], int],
) -> list[list[int]]:
    """Cluster one connected set of nodes; a pure function of its nodes and edges (applied
    in `Edge.order`). `body_chars` gives the length of a node's body text."""
    ordered = [e for n in nodes for m, e in adj[n].items() if n < m and m in nodes]
    ordered.sort(key=_ORDER)
    merger = _Merger(nodes, adj)
    find, members = merger.find, merger.members
    for e in ordered:
        x, y = find(e.u), find(e.v)
        if x == y:
            continue
        if e.relation in _COPY_CONDITIONAL:
            if _bridges(e, x, y, members, find, adj, body_chars) or _bridges(e, y, x, members, find, adj, body_chars):
                continue
        elif e.relation not in _UNCONDITIONAL and not merger.weak_merge_allowed(x, y):
            continue
        merger.merge(x, y)
    return list(members.values())


class _Merger:
    """Union-find over one component that also keeps, for every pair of clusters, which
    members of each are linked to the other, so the weak-merge rule is a lookup, not a scan.

    ``links[x][y]`` is the set of members of cluster `x` (a root) with an edge to a member
    of `y`. Only weak merges ask for it, and edges are applied strongest first, so the link
    sets are built when the first weak merge is judged, over the clusters the stronger
    edges made (fewer and larger than the single nodes of the start). Merging moves the
    smaller sets into the larger ones: O(E log N) set insertions for a whole pass.
    """

    def __init__(self, nodes: set[int], adj: dict[int, dict[int, Edge]]) -> None:
        self.parent = {n: n for n in nodes}
        self.members = {n: [n] for n in nodes}
        self._adj = adj
        self.links: dict[int, dict[int, set[int]]] | None = None

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def weak_merge_allowed(self, x: int, y: int) -> bool:
        """Whether a weak link may merge clusters `x` and `y` (roots).

        A single document joins freely. Larger clusters merge only when several members on
        each side are linked: one document linked to every member of another cluster (a page
        that reprints another story's opening as a photo caption) is still one document's link.
        """
        nx, ny = len(self.members[x]), len(self.members[y])
        if nx == 1 or ny == 1:
            return True
        links = self.links if self.links is not None else self._build_links()
        return len(links[x].get(y, ())) >= _needed(nx) and len(links[y].get(x, ())) >= _needed(ny)

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

    def merge(self, x: int, y: int) -> None:
        if len(self.members[x]) < len(self.members[y]):
            x, y = y, x
        self.parent[y] = x
        self.members[x].extend(self.members.pop(y))
        if self.links is None:
            return
        x_links, y_links = self.links[x], self.links.pop(y)
        x_links.pop(y, None)
        for other, linked in y_links.items():
            if other == x:
                continue
            other_links = self.links[other]
            _move(other_links, other_links.pop(y), x)
            _move(x_links, linked, other)


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


def _bridges(e: Edge, own: int, other: int, members, find, adj, body_chars: Callable[[int], int]) -> bool:
    """Whether `e` links cluster `other` to `own` (both roots) only through an inserted part of one page.

    The member of `own` that `e` touches shares some text with its own cluster and some with
    `other`. When the share with `other` is a minor part of that page and lies elsewhere
    than the share with `own` (a digest of several stories' openings, a photo caption quoting
    another story), the page is a compilation and must not fuse the stories it compiles. When
    most of the page is shared with `other`, the page is simply a version of that story.
    """
    node = e.u if find(e.u) == own else e.v
    if len(members[own]) == 1:
        return False
    own_spans, other_spans = [], []
    for m, f in adj[node].items():
        root = find(m)
        if root == own:
            # An identical copy shares everything, teasers included: it says nothing about
            # which part of the page is its story.
            if f.relation != EXACT:
                own_spans.extend(f.spans_of(node))
        elif root == other:
            other_spans.extend(f.spans_of(node))
    own_cover, other_cover = _union(own_spans), _union(other_spans)
    other_size = _length(other_cover)
    if not own_cover or other_size == 0 or other_size >= _MOSTLY * body_chars(node):
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
