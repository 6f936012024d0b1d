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
from collections.abc import Callable, Iterable

import Stemmer
import wordfreq

try:  # the compiled lookup loop (see setup.py); `terms` does the same without it
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
    """Maps a folded token to its story term (a stem) and weight, caching both."""

    def __init__(self, language: str = "en") -> None:
        self._zipf = _frequencies(language)
        self._stem = _stemmer(language).stemWord
        self._cache: dict[str, tuple[str, float] | None] = {}

    def terms(self, keys: Iterable[str]) -> list[tuple[str, float] | None]:
        """``(stem, weight)`` of each folded token of `keys`, or None for one that carries no
        topic (one call for a block or a body, not one per token)."""
        return cached_map(self._cache, keys, self._compute, _CACHE_LIMIT)

    def _compute(self, key: str) -> tuple[str, float] | None:
        if key.endswith("'s"):
            key = key[:-2]
        if not key:
            return None
        if key[0].isdigit():
            # Numbers name the event ("469,000 acres"); single digits and years less so.
            if len(key) < 2:
                return None
            return key, 3.0 if len(key) >= 4 and not key.isdigit() else 2.0
        if len(key) < 2:
            return None
        zipf = self._zipf.get(key, _UNLISTED_ZIPF)
        weight = _CEILING_ZIPF - zipf
        if weight < _MIN_WEIGHT:
            return None
        return self._stem(key), weight
