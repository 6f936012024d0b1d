"""The incremental clustering ends where clustering from scratch does, for any additions."""
from __future__ import annotations

import random

import pytest

from dedup import clusters
from dedup.clusters import Partition, STORY_LEVEL, cluster_component
from dedup.edges import EdgeStore
from dedup.verify import RELATIONS, Match, SharedPassage, StoredMatch

_STORE = EdgeStore(lambda n: f"d{n:02}", min_tokens=8)  # each test's partition gets a level of its own


def _partition(chars: dict[int, int]) -> Partition:
    return Partition(_STORE.level(STORY_LEVEL), chars.__getitem__)


def _edge(u: int, v: int, relation: str, score: float, passages=()) -> int:
    """A match recorded in the store: its key."""
    match = Match(a=f"d{u:02}", b=f"d{v:02}", relation=relation, similarity=score, jaccard=0.0, containment_a=0.0,
                  containment_b=0.0, own_words=0.0, story=0.0, shared_tokens=0, passages=tuple(passages))
    return _STORE.add(u, v, StoredMatch.of(match))


def _random_edge(rng: random.Random, u: int, v: int, chars: dict[int, int]) -> int:
    # Rewrites dominate real story graphs; copy relations exercise the compilation check.
    relation = rng.choice(RELATIONS + ("rewrite",) * 4)
    score = round(rng.random(), 2)  # coarse, so equal scores fall back to the names

    def span(node: int) -> tuple[int, int]:
        start = rng.randrange(chars[node])
        return start, min(chars[node], start + rng.randint(1, chars[node] // 2 + 1))

    # Runs too short to say where texts overlap are left out of the compilation check.
    passages = [SharedPassage(*span(u), *span(v), tokens=rng.choice((4, 8, 20))) for _ in range(rng.randint(0, 2))]
    return _edge(u, v, relation, score, passages)


def _from_scratch(partition: Partition, chars: dict[int, int]) -> set[frozenset[int]]:
    adj = {n: dict(partition.neighbours(n)) for n in chars}
    out, seen = set(), set()
    for n in chars:
        if n in seen:
            continue
        component = partition._component({n})
        seen |= component
        out.update(frozenset(g) for g in cluster_component(component, adj, chars.__getitem__))
    return out


@pytest.fixture(autouse=True)
def always_replay(monkeypatch):
    """Every flush replays the last clustering (by default a bulk load starts from scratch)."""
    monkeypatch.setattr(clusters, "_REPLAY_SHARE", float("inf"))


@pytest.mark.parametrize("seed", range(40))
def test_adding_nodes_gives_the_clusters_of_a_run_from_scratch(seed):
    rng = random.Random(seed)
    chars: dict[int, int] = {}
    partition = _partition(chars)
    # Few nodes with many edges each: large clusters whose merges new edges can undo.
    n_nodes, batch = rng.randint(20, 70), rng.choice((1, 1, 3, 8))
    for node in range(n_nodes):
        chars[node] = rng.randint(50, 400)
        partition.add_node(node)
        others = rng.sample(range(node), min(node, rng.randint(0, 6)))
        partition.add_edges(_random_edge(rng, node, other, chars) for other in others)
        if node % batch == batch - 1 or node == n_nodes - 1:
            got = {frozenset(c) for c in partition.clusters()}
            assert got == _from_scratch(partition, chars), f"after node {node}"


@pytest.mark.parametrize("seed", range(10))
def test_removing_nodes_after_additions_gives_the_clusters_of_a_run_from_scratch(seed):
    rng = random.Random(1000 + seed)
    chars: dict[int, int] = {}
    partition = _partition(chars)
    for node in range(40):
        chars[node] = rng.randint(50, 400)
        partition.add_node(node)
        others = rng.sample(range(node), min(node, rng.randint(0, 5)))
        partition.add_edges(_random_edge(rng, node, other, chars) for other in others)
        if rng.random() < 0.3:
            partition.clusters()
    for node in rng.sample(range(40), 10):
        partition.remove_node(node)
        del chars[node]
        for other in rng.sample(sorted(chars), 2):  # then more additions replayed on top
            new = max(chars) + 1
            chars[new] = rng.randint(50, 400)
            partition.add_node(new)
            partition.add_edges([_random_edge(rng, new, other, chars)])
        assert {frozenset(c) for c in partition.clusters()} == _from_scratch(partition, chars)


@pytest.mark.parametrize("seed", range(30))
def test_replacing_a_nodes_edges_gives_the_clusters_of_a_run_from_scratch(seed):
    """As when blocks become common and matches are verified again: some of a node's edges
    go, others change relation or score, new ones may appear, among further additions."""
    rng = random.Random(2000 + seed)
    chars: dict[int, int] = {}
    partition = _partition(chars)
    for node in range(rng.randint(25, 60)):
        chars[node] = rng.randint(50, 400)
        partition.add_node(node)
        others = rng.sample(range(node), min(node, rng.randint(0, 6)))
        partition.add_edges(_random_edge(rng, node, other, chars) for other in others)
        if node > 5 and rng.random() < 0.3:
            partition.clusters()
            for changed in rng.sample(range(node + 1), rng.randint(1, 3)):
                neighbours = list(partition.neighbours(changed))
                kept = rng.sample(neighbours, rng.randint(0, len(neighbours)))
                extra = rng.sample(range(node + 1), rng.randint(0, 2))
                partition.replace_edges(changed, [_random_edge(rng, changed, other, chars)
                                                  for other in kept + extra if other != changed])
            assert {frozenset(c) for c in partition.clusters()} == _from_scratch(partition, chars), f"after node {node}"


def _rewrite(u: int, v: int, score: float) -> int:
    return _edge(u, v, "rewrite", score)


def test_a_merge_undone_by_a_new_node_frees_the_other_side_to_merge_elsewhere():
    """Story X (six pages) met story Y (two) through two links, enough for clusters of that
    size; Y then absorbed nothing else, since X+Y was too large for Z's two links. A new
    page joins X first: seven pages need three links, so X and Y stay apart, and Y, now
    small, merges with Z. The replay must see that Y is no longer what it was."""
    chars = dict.fromkeys(range(12), 100)
    partition = _partition(chars)
    edges = [_rewrite(a, b, 0.9) for a in range(6) for b in range(a + 1, 6)]  # X = 0..5
    edges += [_rewrite(6, 7, 0.9), _rewrite(9, 10, 0.9)]  # Y = 6, 7 and Z = 9, 10
    edges += [_rewrite(0, 6, 0.5), _rewrite(1, 7, 0.5), _rewrite(6, 9, 0.3), _rewrite(7, 10, 0.3)]
    for n in range(11):
        partition.add_node(n)
    partition.add_edges(edges)
    assert sorted(map(sorted, partition.clusters())) == [[0, 1, 2, 3, 4, 5, 6, 7], [8], [9, 10]]

    partition.add_node(11)
    partition.add_edges([_rewrite(11, 0, 0.95)])
    assert sorted(map(sorted, partition.clusters())) == [[0, 1, 2, 3, 4, 5, 11], [6, 7, 9, 10], [8]]


def test_nodes_on_their_own_are_clusters_without_stored_state_and_removal_is_final():
    chars = dict.fromkeys(range(6), 100)
    partition = _partition(chars)
    for n in range(5):
        partition.add_node(n)
    partition.add_edges([_rewrite(1, 2, 0.9)])
    assert sorted(map(sorted, partition.clusters())) == [[0], [1, 2], [3], [4]]
    assert partition.members(3) == [3] and partition.members(2) == [1, 2]
    assert [list(m) for m in partition._members.values()] == [[1, 2]] and partition._adj.nodes() == [1, 2]

    partition.remove_node(2)  # its partner is on its own again; nothing of 2 is left
    partition.remove_node(4)
    assert sorted(map(sorted, partition.clusters())) == [[0], [1], [3]]
    assert 2 not in partition and 4 not in partition and len(partition) == 3
    assert not partition._members and not partition._adj.nodes() and partition.edge_count() == 0
    with pytest.raises(KeyError):
        partition.members(4)
    with pytest.raises(ValueError, match="not reused"):
        partition.add_node(4)
    partition.add_node(5)
    assert sorted(map(sorted, partition.clusters())) == [[0], [1], [3], [5]]


@pytest.mark.parametrize("shared_with_b, joins", [((500, 950), True), ((600, 1000), True), ((800, 950), False),
                                                   ((850, 1000), False)])
def test_a_page_keeping_a_large_part_of_another_story_joins_it_and_a_digests_piece_does_not(shared_with_b, joins):
    """Page 1 is a version of page 0, sharing its first half. It also shares text elsewhere
    with page 2: a revision keeping large parts of two earlier ones (0.4 of the page or more)
    is a version of both, and the three are one cluster; a digest reprinting a story's opening
    (0.15 of the page) must not join that story to its own."""
    chars = {0: 600, 1: 1000, 2: 600}
    partition = _partition(chars)
    for n in chars:
        partition.add_node(n)
    start, end = shared_with_b
    partition.add_edges([
        _edge(0, 1, "version", 0.6, [SharedPassage(0, 500, 0, 500, 80)]),
        _edge(2, 1, "version", 0.4, [SharedPassage(0, end - start, start, end, 60)]),
    ])
    expected = [[0, 1, 2]] if joins else [[0, 1], [2]]
    assert sorted(map(sorted, partition.clusters())) == expected
    assert end - start >= clusters._MOSTLY * chars[1] if joins else end - start < clusters._MOSTLY * chars[1]
