"""Collection-level boilerplate: a block recurring across unrelated documents turns common,
one recurring within a story does not, and removals are undone exactly; a story term in a
large share of the collection turns common."""
from __future__ import annotations

import pickle

import numpy as np

from dedup.commonness import CommonBlocks, CommonTerms, bucket_of


def test_a_block_in_unrelated_documents_turns_common_and_one_in_a_story_does_not():
    story = {1, 2, 3, 4, 5}  # nodes 1-5 tell one story; 10-14 are unrelated to everything
    blocks = CommonBlocks(min_documents=4, related=lambda a, b: a in story and b in story)
    flipped = set()
    for node in (1, 2, 3, 4, 5):
        flipped |= blocks.add(node, [100, 1000 + node])  # 100: the story's wire paragraph
    for node in (10, 11, 12, 13):
        flipped |= blocks.add(node, [7, 2000 + node])  # 7: a site's footer
    assert flipped == {7} and blocks.common == frozenset({7})
    assert blocks.nodes_with(7) == [10, 11, 12, 13] and blocks.nodes_with(1001) == [1]


def test_removing_documents_leaves_what_the_others_hold():
    blocks = CommonBlocks(min_documents=4, related=lambda a, b: False)
    blocks.add(1, [5, 6])
    blocks.add(2, [5])
    blocks.remove(1)
    assert blocks.nodes_with(5) == [2] and blocks.nodes_with(6) == []
    blocks.remove(2)
    assert blocks.nodes_with(5) == []
    blocks.add(3, [5])
    blocks.add(4, [5])
    assert blocks.nodes_with(5) == [3, 4]


def test_a_term_turns_common_once_in_enough_documents_and_stays_common():
    terms = CommonTerms(share=0.5, min_documents=3)
    formula, rare = np.uint64(11), np.uint64(12)
    flipped = [terms.add(np.array([formula, rare + i], np.uint64)).tolist() for i in range(3)]
    assert flipped == [[], [], [bucket_of(np.array([formula]))[0]]]  # the third: 3 of 3
    assert terms.common[bucket_of(np.array([formula]))].all() and len(terms) == 1
    for i in range(10):  # now in 3 of 13 documents, under the share: still common
        assert terms.add(np.array([rare + 100 + i], np.uint64)).tolist() == []
    assert len(terms) == 1


def test_the_share_of_documents_sets_the_bar_in_a_large_collection():
    terms = CommonTerms(share=0.5, min_documents=1)
    for _ in range(4):
        terms.add(np.array([1], np.uint64))
    later = [terms.add(np.array([7], np.uint64)).tolist() for _ in range(4)]
    assert later == [[], [], [], [7]]  # in 1, 2, 3 of 5, 6, 7 documents: under half; then 4 of 8


def test_common_terms_survive_a_pickle_and_keep_counting():
    terms = CommonTerms(share=0.1, min_documents=3)
    for i in range(2):
        terms.add(np.array([3, 40 + i], np.uint64))
    for _ in range(3):
        terms.add(np.array([9], np.uint64))
    copy = pickle.loads(pickle.dumps(terms))
    assert len(pickle.dumps(terms)) < 1000  # the buckets in use, not the whole array
    assert copy.common.tolist() == terms.common.tolist() and len(copy) == 1
    assert copy.add(np.array([3], np.uint64)).tolist() == [3]  # the third document with 3
