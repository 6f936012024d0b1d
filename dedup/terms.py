"""Story terms: the content words of an article, weighted by how rare they are in the language.

Copies share wording; rewrites of one story share what the story is about: names, places,
numbers and uncommon words. A term's weight comes from its frequency in general English
(wordfreq's word lists), not from the indexed collection, so the weight of a term never
changes as documents arrive and a rewrite is recognised the same way in a collection of five
articles as in one of a million.
"""
from __future__ import annotations

import functools
import math
import struct
from collections.abc import Sequence

import numpy as np
import Stemmer
import xxhash

from dedup.sketch import token_hash

try:  # the compiled lookup loops (see setup.py); the methods below do the same without it
    from dedup import _analysis
except ImportError:  # pragma: no cover - depends on the install
    _analysis = None

# Zipf frequency (log10 of occurrences per billion words) at or above which a word carries
# no topical information ("the" is 7.7, "said" 6.0, "president" 5.5, "putin" 4.1).
_CEILING_ZIPF = 7.0
# Words missing from the word list are rarer than its rarest entry (about 3.0).
_UNLISTED_ZIPF = 2.5
_MIN_WEIGHT = 1.0
# Tokens cached with their hashes and terms; past this, new tokens are computed every time
# they occur.
_CACHE_LIMIT = 4_000_000


@functools.lru_cache(maxsize=8)
def _frequencies(language: str) -> dict[str, float]:
    # Imported here: wordfreq takes ~0.1 s to import, and a process that only indexes (the
    # batch run's main process) never weighs a term.
    import wordfreq

    freqs = wordfreq.get_frequency_dict(language, wordlist="small")
    return {word: math.log10(f) + 9.0 for word, f in freqs.items()}


@functools.lru_cache(maxsize=8)
def _stemmer(language: str):
    names = {"en": "english", "de": "german", "fr": "french", "es": "spanish", "it": "italian",
             "nl": "dutch", "pt": "portuguese", "sv": "swedish", "ru": "russian"}
    return Stemmer.Stemmer(names.get(language, "english"))


# A token's cache entry: its hash, its story term and the term's weight (0.0: no term).
_ENTRY = struct.Struct("=QQd")
_ENTRY_DTYPE = np.dtype([("hash", "=u8"), ("term", "=u8"), ("weight", "=f8")])


class TermWeigher:
    """Maps a folded token to its hash and its story term (the hash of its stem) with the
    term's weight, caching all three."""

    def __init__(self, language: str = "en") -> None:
        self._zipf = _frequencies(language)
        self._stem = _stemmer(language).stemWord
        self._cache: dict[str, bytes] = {}

    def tokens(self, keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each of `keys`' hash (uint64), story term (uint64) and the term's weight (float64,
        0.0 where the token is no story term); one cache lookup a token (compiled where built)."""
        if _analysis is not None:
            hashes, terms, weights = _analysis.token_entries(self._cache, keys, self._entry, _CACHE_LIMIT)
            return np.frombuffer(hashes, np.uint64), np.frombuffer(terms, np.uint64), np.frombuffer(weights, np.float64)
        entries = []
        for key in keys:
            entry = self._cache.get(key)
            if entry is None:
                entry = self._entry(key)
                if len(self._cache) < _CACHE_LIMIT:
                    self._cache[key] = entry
            entries.append(entry)
        table = np.frombuffer(b"".join(entries), _ENTRY_DTYPE)
        return (np.ascontiguousarray(table["hash"], np.uint64), np.ascontiguousarray(table["term"], np.uint64),
                np.ascontiguousarray(table["weight"], np.float64))

    def _entry(self, key: str) -> bytes:
        found = self._compute(key)
        term, weight = found if found is not None else (0, 0.0)
        return _ENTRY.pack(token_hash(key), term, weight)

    def _compute(self, key: str) -> tuple[int, float] | None:
        if key.endswith("'s"):
            key = key[:-2]
        if not key:
            return None
        if key[0].isdigit():
            # Numbers name the event ("469,000 acres"); single digits and years less so.
            if len(key) < 2:
                return None
            return term_hash(key), 3.0 if len(key) >= 4 and not key.isdigit() else 2.0
        if len(key) < 2:
            return None
        zipf = self._zipf.get(key, _UNLISTED_ZIPF)
        weight = _CEILING_ZIPF - zipf
        if weight < _MIN_WEIGHT:
            return None
        return term_hash(self._stem(key)), weight


def term_hash(stem: str) -> int:
    """A story term as it is stored and compared: the 64-bit hash of its stem."""
    return xxhash.xxh3_64_intdigest(b"t:" + stem.encode("utf-8", "surrogatepass"))


class BlockTerms:
    """The story terms of each block of one document, from its tokens' terms: the
    boilerplate test reads the cohesion of the blocks it keeps, the story terms are those of
    the body. A block's terms are its tokens' terms, each with its largest weight."""

    def __init__(self, terms: np.ndarray, weights: np.ndarray, bounds: np.ndarray) -> None:
        self._terms = terms
        self._weights = weights
        self._bounds = bounds  # int32 (n_blocks, 2): token range of each block

    @classmethod
    def of_blocks(cls, weigher: TermWeigher, keys: Sequence[Sequence[str]]) -> "BlockTerms":
        """The terms of blocks given as lists of folded tokens."""
        sizes = np.array([len(k) for k in keys], np.int32)
        ends = np.cumsum(sizes, dtype=np.int32)
        _, terms, weights = weigher.tokens([key for block in keys for key in block])
        return cls(terms, weights, np.stack([ends - sizes, ends], axis=1).astype(np.int32).reshape(-1, 2))

    def block(self, i: int) -> dict[int, float]:
        """Block `i`'s terms and weights, in the order the terms first occur."""
        out: dict[int, float] = {}
        lo, hi = self._bounds[i].tolist()
        for term, weight in zip(self._terms[lo:hi].tolist(), self._weights[lo:hi].tolist()):
            if weight > out.get(term, 0.0):
                out[term] = weight
        return out

    def cohesion(self, blocks: list[int]) -> list[float]:
        """For each of `blocks` (in page order), the weighted share of its terms that recur in
        one of `blocks` at least two places away. Terms shared only with the next or previous
        block do not count: a teaser's headline and its summary share their topic with each
        other and nothing else. Compiled where built; summed in the same order either way."""
        if _analysis is not None:
            return _analysis.cohesion(self._terms, self._weights, self._bounds, blocks)
        terms = [self.block(i) for i in blocks]
        first: dict[int, int] = {}
        last: dict[int, int] = {}
        for rank, block in enumerate(terms):
            for term in block:
                first.setdefault(term, rank)
                last[term] = rank
        out = []
        for rank, block in enumerate(terms):
            total = shared = 0.0
            for term, weight in block.items():
                total += weight
                if first[term] <= rank - 2 or last[term] >= rank + 2:
                    shared += weight
            out.append(shared / total if total else 0.0)
        return out

    def story_terms(self, blocks: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """The distinct terms of `blocks` (sorted uint64) and the largest weight of each
        (float32), compiled where built."""
        if _analysis is not None:
            terms, weights = _analysis.story_terms(self._terms, self._weights, self._bounds, blocks)
            return np.frombuffer(terms, np.uint64), np.frombuffer(weights, np.float32)
        merged: dict[int, float] = {}
        for i in blocks:
            for term, weight in self.block(i).items():
                if weight > merged.get(term, 0.0):
                    merged[term] = weight
        if not merged:
            return np.empty(0, np.uint64), np.empty(0, np.float32)
        terms = np.fromiter(merged, dtype=np.uint64, count=len(merged))
        order = np.argsort(terms)
        return terms[order], np.fromiter(merged.values(), dtype=np.float32, count=len(merged))[order]
