"""Collection-level boilerplate: body blocks that recur across unrelated documents.

A site's footer, a standard disclaimer or a newsletter pitch that is long enough to look
like prose passes every per-page test in `dedup.boilerplate`, but it recurs in documents that
have nothing else in common. A wire paragraph recurs too, in the copies of one story. The
difference is what the documents around the block are about: a block found in at least
`min_documents` documents is common when most pairs of those documents do not tell the
same story (their story-term similarity is below the rewrite threshold).

Once common, a block stays common; the engine then leaves it out of verification and
re-verifies the matches it had supported.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable

# How many of a block's documents are compared when deciding (the most recent ones).
_SAMPLE = 12
# Pairs whose relatedness is remembered between decisions (a block's sample moves by one
# document at a time, so most of its pairs were judged at its previous decision).
_REMEMBERED_PAIRS = 1 << 18


class CommonBlocks:
    """Tracks which documents contain each body block and which blocks are common."""

    def __init__(self, min_documents: int, related: Callable[[int, int], bool]) -> None:
        self.min_documents = min_documents
        self._related = related  # whether two nodes tell the same story
        # Block hash -> the nodes containing it: a bare node number while there is one (most
        # blocks occur once), a list from the second on.
        self._docs: dict[int, int | list[int]] = {}
        self._pairs: dict[tuple[int, int], bool] = {}  # node pair -> related (node numbers are never reused)
        # Replaced, never mutated, when blocks become common: verification caches by identity.
        self.common: frozenset[int] = frozenset()

    def __len__(self) -> int:
        return len(self.common)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_pairs": {}}  # a cache: not worth a snapshot's space

    def add(self, node: int, block_hashes: Iterable[int]) -> set[int]:
        """Register `node`'s body blocks; return the blocks that became common."""
        flipped = set()
        if len(self._pairs) > _REMEMBERED_PAIRS:
            self._pairs = {}
        for h in set(block_hashes):
            docs = self._docs.get(h)
            if docs is None:
                self._docs[h] = node
                docs = (node,)
            elif isinstance(docs, int):
                docs = self._docs[h] = [docs, node]
            else:
                docs.append(node)
            if h not in self.common and self._worth_testing(len(docs)) and self._is_common(docs):
                flipped.add(h)
        if flipped:
            self.common = self.common | flipped
        return flipped

    def remove(self, node: int, block_hashes: Iterable[int]) -> None:
        for h in set(block_hashes):
            docs = self._docs.get(h)
            if docs == node:
                del self._docs[h]
            elif isinstance(docs, list) and node in docs:
                docs.remove(node)
                if len(docs) == 1:
                    self._docs[h] = docs[0]

    def nodes_with(self, block_hash: int) -> list[int]:
        docs = self._docs.get(block_hash, ())
        return [docs] if isinstance(docs, int) else list(docs)

    def _worth_testing(self, count: int) -> bool:
        # Decide at the threshold, then again as the evidence doubles.
        return count >= self.min_documents and (count <= 2 * _SAMPLE or count & (count - 1) == 0)

    def _is_common(self, docs: list[int]) -> bool:
        sample = docs[-_SAMPLE:]
        pairs = list(itertools.combinations(sample, 2))
        unrelated = 0
        related = self._pairs
        for pair in pairs:
            answer = related.get(pair)
            if answer is None:
                answer = related[pair] = self._related(*pair)
            unrelated += not answer
        return unrelated * 2 > len(pairs)
