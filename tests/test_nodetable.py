"""The hash-to-nodes table behaves as a multimap through growth, removals and collisions."""
from __future__ import annotations

import pickle
import random

import pytest

from dedup.nodetable import NodeTable


@pytest.mark.parametrize("seed", range(20))
def test_the_table_answers_like_a_dict_of_sets(seed):
    rng = random.Random(seed)
    # Few distinct hashes make long probe runs, repeated hashes and wrap-arounds; wide ones grow the table.
    hashes = [rng.getrandbits(64) for _ in range(rng.choice((3, 50, 5000)))]
    table, expected = NodeTable(), {}
    for node in range(rng.randint(100, 4000)):
        h = rng.choice(hashes)
        table.add(h, node)
        expected.setdefault(h, set()).add(node)
        if rng.random() < 0.3:  # remove a random pair, or one that is not there
            h = rng.choice(hashes)
            gone = rng.choice(sorted(expected.get(h) or {node + 1}))
            table.remove(h, gone)
            expected.get(h, set()).discard(gone)
        if rng.random() < 0.05:
            table = pickle.loads(pickle.dumps(table))
    for h in hashes + [rng.getrandbits(64) for _ in range(20)]:
        assert table.nodes(h) == sorted(expected.get(h, ()))
    assert len(table) == sum(len(nodes) for nodes in expected.values())


def test_pairs_past_the_last_slot_wrap_around_to_the_first():
    table = NodeTable()
    size = len(table._nodes)
    # Hashes whose home is the last slot: h * MIX has all top bits set.
    last = [h for h in range(1 << 20) if ((h * 0x9E3779B97F4A7C15) % (1 << 64)) >> (64 - table._bits) == size - 1][:5]
    for node, h in enumerate(last):
        table.add(h, node)
    assert [table.nodes(h) for h in last] == [[n] for n in range(5)]
    table._grow()  # a rebuild places them the same way
    assert [table.nodes(h) for h in last] == [[n] for n in range(5)]
