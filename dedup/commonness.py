"""Collection-level boilerplate: body blocks that recur across unrelated documents.

A site's footer, a standard disclaimer or a newsletter pitch that is long enough to look
like prose passes every per-page test in `dedup.boilerplate`, but it recurs in documents that
have nothing else in common. A wire paragraph recurs too, in the copies of one story. The
difference is what the documents around the block are about: a block found in at least
`min_documents` documents is common when most pairs of those documents do not tell the
same story (`Engine._same_story`: their story terms are not alike, and neither holds what
is specific to the other).

Once common, a block stays common; the engine then leaves it out of verification and
re-verifies the matches it had supported.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable

import numpy as np

from dedup.lsh import BandIndex

try:  # the compiled bucket loops (see setup.py); numpy does the same without them
    from dedup import _setops
except ImportError:  # pragma: no cover - depends on the install
    _setops = None

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
        # Which nodes contain each block, as packed sorted entries (8 bytes a block; most
        # blocks occur once, and a dict entry per block cost ~100).
        self._blocks = BandIndex()
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
        distinct = sorted(set(block_hashes))  # a handful: a set beats np.unique's overhead
        all_keys = _mixed(np.array(distinct, np.uint64))
        # Blocks already common stay so: only the others' documents are looked up.
        undecided = [h for h in distinct if h not in self.common] if self.common else distinct
        keys = all_keys if len(undecided) == len(distinct) else _mixed(np.array(undecided, np.uint64))
        # Most blocks are in no other document: their documents are listed only when tested.
        sizes = self._blocks.bucket_sizes(keys).tolist()
        testing = [i for i, size in enumerate(sizes) if size >= self.min_documents - 1 and self._worth_testing(size + 1)]
        earlier = self._blocks.buckets(keys[testing]) if testing else []
        self._blocks.add(node, all_keys)
        for i, docs in zip(testing, earlier):
            if self._is_common(docs.tolist() + [node]):
                flipped.add(undecided[i])
        if flipped:
            self.common = self.common | flipped
        return flipped

    def remove(self, node: int) -> None:
        self._blocks.remove(node)

    def nodes_with(self, block_hash: int) -> list[int]:
        return self._blocks.buckets(_mixed(np.array([block_hash], np.uint64)))[0].tolist()

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


def _mixed(hashes: np.ndarray) -> np.ndarray:
    """Hashes spread over the top bits, which the band index keys on: multiplying by an odd
    constant is one-to-one, so even small or similar numbers stay apart (an array's product
    wraps around without a warning)."""
    return hashes * _MIX


_MIX = np.uint64(0x9E3779B97F4A7C15)


class CommonTerms:
    """Story terms found in a large share of the collection.

    Story terms are weighted by their rarity in general English, so a collection's own
    formula ("shr", "qtr", "revs" in earnings notices; "eurobond", "coupon" in bond issues)
    weighs like a rare name. A term counted in at least `share` of all documents seen, and in
    at least `min_documents` of them, is common; once common it stays so (see
    `verify.story_similarity` for what that changes).

    The counts are reviewed each time the collection has grown by a tenth, not at every
    document: each review that turns terms common costs a pass over the rewrite matches
    (`Engine._start_review`), and a few hundred terms turn common early in a collection.

    Counts are kept per hash bucket (a fixed 1 MB array, not a dict entry per term: names
    and figures make the vocabulary grow with the collection). A rare term that shares a
    bucket with a common one is treated as common: with a few thousand common terms, under 2%
    of the others.
    """

    BUCKETS = 1 << 18
    GROWTH = 1.1  # reviewed when the collection has grown by this factor since the last review

    def __init__(self, share: float, min_documents: int) -> None:
        self.share = share
        self.min_documents = min_documents
        self._documents = 0
        self._next_review = min_documents
        self._counts = np.zeros(self.BUCKETS, np.uint32)
        self.common = np.zeros(self.BUCKETS, bool)

    def __len__(self) -> int:
        return int(np.count_nonzero(self.common))

    def __getstate__(self) -> dict:
        """Only the buckets in use: a small index gets a small snapshot."""
        used = np.flatnonzero(self._counts).astype(np.uint32)
        return {"share": self.share, "min_documents": self.min_documents, "documents": self._documents,
                "next_review": self._next_review, "used": used, "counts": self._counts[used],
                "common": np.flatnonzero(self.common).astype(np.uint32)}

    def __setstate__(self, state: dict) -> None:
        self.share, self.min_documents = state["share"], state["min_documents"]
        self._documents, self._next_review = state["documents"], state["next_review"]
        self._counts = np.zeros(self.BUCKETS, np.uint32)
        self._counts[state["used"]] = state["counts"]
        self.common = np.zeros(self.BUCKETS, bool)
        self.common[state["common"]] = True

    def add(self, terms: np.ndarray) -> np.ndarray:
        """Count one document's story terms; return the buckets that became common (only
        at a review)."""
        self._documents += 1
        if _setops is not None:
            _setops.count_buckets(np.ascontiguousarray(terms, np.uint64), self._counts)
        else:
            self._counts[bucket_of(terms)] += 1  # once per bucket, however many of its terms: numpy's buffered `+=`
        if self._documents < self._next_review:
            return np.empty(0, np.intp)
        self._next_review = max(self._documents + 1, int(self._documents * self.GROWTH))
        needed = max(self.min_documents, self.share * self._documents)
        flipped = np.flatnonzero((self._counts >= needed) & ~self.common)
        self.common[flipped] = True
        return flipped


def bucket_of(terms: np.ndarray) -> np.ndarray:
    """The `CommonTerms` bucket of each story term (a hash: its low bits will do)."""
    return (terms & np.uint64(CommonTerms.BUCKETS - 1)).astype(np.intp)


def any_flagged(terms: np.ndarray, flags: np.ndarray) -> bool:
    """Whether any of `terms` falls in a bucket flagged in `flags` (one bool per bucket)."""
    if _setops is not None:
        return _setops.any_flagged(np.ascontiguousarray(terms, np.uint64), flags)
    return bool(flags[bucket_of(terms)].any())
