"""Properties of the engine that must hold for any input order and any thresholds."""
from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dedup.analysis import distinct_among
from dedup.config import Config
from dedup.engine import Engine
from tests.conftest import syndicated_corpus


@pytest.fixture(scope="module")
def corpus(request):
    seeds = request.getfixturevalue("seed_articles")
    topics = request.getfixturevalue("topic_articles")
    articles, truth = syndicated_corpus(list(seeds.values()) + list(topics.values()))
    return articles, truth


@pytest.fixture(scope="module")
def documents(corpus):
    return Engine().analyse(corpus[0])


def _matched_pairs(config: Config, documents) -> set[frozenset]:
    engine = Engine(config)
    for doc in documents:
        engine.index_document(doc)
    return {frozenset((m.a, m.b)) for i in engine.ids() for m in engine.get(i).matches}


def _partition(engine: Engine, level: str) -> set[frozenset]:
    return {frozenset(engine.cluster(i, level).members) for i in engine.ids()}


# Each threshold's valid range with the other defaults (version may not exceed syndicated).
THRESHOLDS = {"near_duplicate": (0.3, 1.0), "syndicated": (0.2, 1.0), "version": (0.05, 0.8), "rewrite": (0.05, 1.0)}


@settings(max_examples=16, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture],
          print_blob=False)
@given(name=st.sampled_from(sorted(THRESHOLDS)), low=st.floats(0.0, 1.0), high=st.floats(0.0, 1.0))
def test_raising_a_threshold_never_adds_matches(documents, name, low, high):
    floor, ceiling = THRESHOLDS[name]
    low, high = sorted(floor + (ceiling - floor) * x for x in (low, high))
    assert _matched_pairs(Config(**{name: high}), documents) <= _matched_pairs(Config(**{name: low}), documents)


def test_raising_the_rewrite_threshold_removes_rewrites(documents):
    assert _matched_pairs(Config(rewrite=0.9), documents) < _matched_pairs(Config(rewrite=0.2), documents)


@pytest.mark.parametrize("shuffle_seed", [1, 2, 3])
def test_clusters_do_not_depend_on_input_order(documents, shuffle_seed):
    reference, shuffled = Engine(), Engine()
    for doc in documents:
        reference.index_document(doc)
    order = list(documents)
    random.Random(shuffle_seed).shuffle(order)
    for doc in order:
        shuffled.index_document(doc)
    for level in ("copy", "story"):
        assert _partition(shuffled, level) == _partition(reference, level)


def test_clusters_follow_the_truth_of_the_generated_corpus(corpus, documents):
    # Seeds 000 and 004 are two versions of one NPR story: one copy cluster.
    truth = {k: {"004": "000"}.get(v, v) for k, v in corpus[1].items()}
    engine = Engine()
    for doc in documents:
        engine.index_document(doc)
    for members in _partition(engine, "copy"):
        assert len({truth[m] for m in members}) == 1, members  # no false merges
    for article_id in engine.ids():
        assert set(engine.cluster(article_id).members) == {m for m in truth if truth[m] == truth[article_id]}


def test_adding_the_same_document_twice_changes_nothing(documents):
    engine = Engine()
    for doc in documents:
        engine.index_document(doc)
    before = {i: engine.get(i) for i in engine.ids()}
    stats = engine.stats()
    for doc in documents:
        assert engine.add_document(doc).added is False
    assert {i: engine.get(i) for i in engine.ids()} == before
    assert engine.stats() == stats


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 2**64 - 1), max_size=60), st.data())
def test_the_distinct_values_of_a_part_are_np_unique_of_it(values, data):
    """Bodies without their common blocks take their distinct shingles from the whole body's."""
    whole = np.array(values + values[:5], dtype=np.uint64)
    keep = np.array(data.draw(st.lists(st.booleans(), min_size=len(whole), max_size=len(whole))), dtype=bool)
    got = distinct_among(whole[keep], np.unique(whole))
    assert got.dtype == np.uint64 and np.array_equal(got, np.unique(whole[keep]))
