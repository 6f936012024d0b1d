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
from collections.abc import Callable, Iterable, Sequence

import Stemmer
import wordfreq
import xxhash

try:  # the compiled lookup loops (see setup.py); `cached_map` and the others do the same without it
    from dedup import _analysis
except ImportError:  # pragma: no cover - depends on the install
    _analysis = None

# Zipf frequency (log10 of occurrences per billion words) at or above which a word carries
# no topical information ("the" is 7.7, "said" 6.0, "president" 5.5, "putin" 4.1).
_CEILING_ZIPF = 7.0
# Words missing from the word list are rarer than its rarest entry (about 3.0).
_UNLISTED_ZIPF = 2.5
_MIN_WEIGHT = 1.0
# Words cached with their terms; past this, new words are computed every time they occur.
_CACHE_LIMIT = 2_000_000


@functools.lru_cache(maxsize=8)
def _frequencies(language: str) -> dict[str, float]:
    freqs = wordfreq.get_frequency_dict(language, wordlist="small")
    return {word: math.log10(f) + 9.0 for word, f in freqs.items()}


@functools.lru_cache(maxsize=8)
def _stemmer(language: str):
    names = {"en": "english", "de": "german", "fr": "french", "es": "spanish", "it": "italian",
             "nl": "dutch", "pt": "portuguese", "sv": "swedish", "ru": "russian"}
    return Stemmer.Stemmer(names.get(language, "english"))


_MISSING = object()


def cached_map(cache: dict, keys: Iterable, compute: Callable, limit: int) -> list:
    """``compute(key)`` of each of `keys`, looked up in `cache` first; computed values are
    stored while `cache` holds fewer than `limit` entries (compiled where built)."""
    if _analysis is not None:
        return _analysis.cached_map(cache, keys, compute, limit)
    out = []
    for key in keys:
        value = cache.get(key, _MISSING)
        if value is _MISSING:
            value = compute(key)
            if len(cache) < limit:
                cache[key] = value
        out.append(value)
    return out


class TermWeigher:
    """Maps a folded token to its story term (the hash of its stem) and weight, caching both."""

    def __init__(self, language: str = "en") -> None:
        self._zipf = _frequencies(language)
        self._stem = _stemmer(language).stemWord
        self._cache: dict[str, tuple[int, float] | None] = {}

    def weights(self, keys: Iterable[str]) -> dict[int, float]:
        """The story terms of `keys` (the folded tokens of a block), each with the largest
        weight of its words (compiled where built)."""
        if _analysis is not None:
            return _analysis.term_weights(self._cache, keys, self._compute, _CACHE_LIMIT)
        out: dict[int, float] = {}
        for found in cached_map(self._cache, keys, self._compute, _CACHE_LIMIT):
            if found is not None and found[1] > out.get(found[0], 0.0):
                out[found[0]] = found[1]
        return out

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


def merge_weights(into: dict[int, float], terms: dict[int, float]) -> None:
    """Keep in `into` the larger weight of each term of `terms` (compiled where built)."""
    if _analysis is not None:
        _analysis.merge_weights(into, terms)
        return
    for term, weight in terms.items():
        if weight > into.get(term, 0.0):
            into[term] = weight


class BlockTerms:
    """The story terms of each block of one document, computed when first read: the
    boilerplate test reads those of the blocks it keeps, the story terms those of the body."""

    def __init__(self, weigher: TermWeigher, keys: Sequence[Sequence[str]]) -> None:
        self._weigher = weigher
        self._keys = keys
        self._terms: dict[int, dict[int, float]] = {}

    def __getitem__(self, block: int) -> dict[int, float]:
        terms = self._terms.get(block)
        if terms is None:
            terms = self._terms[block] = self._weigher.weights(self._keys[block])
        return terms
