"""Collection-level boilerplate: a block recurring across unrelated documents turns common,
one recurring within a story does not, and removals are undone exactly."""
from __future__ import annotations

from dedup.commonness import CommonBlocks


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
