"""Verification of a candidate pair: exact scores, shared passages and the relation.

Scores are computed on the exact shingle sets of the two bodies, never on sketches: LSH only
proposes candidates. Blocks that the collection has found to be boilerplate are left out of
both bodies before anything is counted.
"""
from __future__ import annotations

import struct
from collections.abc import Sequence, Set
from dataclasses import dataclass

import numpy as np

from dedup.analysis import Document, distinct_among, own_shingles
from dedup.commonness import bucket_of
from dedup.config import Config
from dedup.documents import Screening
from dedup.record import screening_fields

try:  # the sorted-set loops compiled (setup.py builds them where a C compiler is at hand)
    from dedup import _setops
except ImportError:  # pragma: no cover - depends on the install
    _setops = None

EXACT = "exact"
NEAR_DUPLICATE = "near_duplicate"
SYNDICATED = "syndicated"
VERSION = "version"
REWRITE = "rewrite"
# Strongest first; a pair gets the first relation whose test it passes.
RELATIONS = (EXACT, NEAR_DUPLICATE, SYNDICATED, VERSION, REWRITE)
COPY_RELATIONS = frozenset((EXACT, NEAR_DUPLICATE, SYNDICATED, VERSION))


@dataclass(frozen=True, slots=True)
class SharedPassage:
    """A run of text present in both documents; character spans into each one's text."""

    a_start: int
    a_end: int
    b_start: int
    b_end: int
    tokens: int


@dataclass(frozen=True, slots=True)
class Match:
    """What verification found for document `a` against document `b`."""

    a: str
    b: str
    relation: str | None
    similarity: float  # the score the relation was decided on
    jaccard: float
    containment_a: float  # share of a's body found in b
    containment_b: float  # share of b's body found in a
    own_words: float  # the larger side's share of its words outside quotations found in the other
    story: float  # weighted cosine similarity of the story terms
    shared_tokens: int
    passages: tuple[SharedPassage, ...]


# StoredMatch layout: the relation's rank (255: none), the six scores in ten-thousandths (they
# are rounded to four places) and the shared tokens. Its passages: none, or a byte giving the
# width of every field (2 or 4), then five fields per passage (a_start, a_end, b_start, b_end,
# tokens). Two bytes hold every offset of an article under 64 K characters, nearly all news:
# 10 bytes a passage instead of 20.
SCORES = struct.Struct("<B6HI")
_NARROW = struct.Struct("<5H")
_WIDE = struct.Struct("<5I")
NO_RELATION = 255


class StoredMatch:
    """A `Match` as the index keeps it: the same values in two byte strings, about a quarter of
    the memory of the objects (an index holds several matches per article). The two ids are
    references to strings the index holds anyway."""

    __slots__ = ("a", "b", "relation", "scores", "passages")

    def __init__(self, a: str, b: str, relation: str | None, scores: bytes, passages: bytes) -> None:
        self.a, self.b, self.relation, self.scores, self.passages = a, b, relation, scores, passages

    @classmethod
    def of(cls, m: Match) -> "StoredMatch":
        scores = _packed_scores(m.relation, (m.similarity, m.jaccard, m.containment_a, m.containment_b, m.own_words,
                                             m.story), m.shared_tokens)
        return cls(m.a, m.b, m.relation, scores, pack_passages(m.passages))

    def __reduce__(self):
        return StoredMatch, (self.a, self.b, self.relation, self.scores, self.passages)

    @property
    def similarity(self) -> float:
        return SCORES.unpack(self.scores)[1] / 10_000

    def match(self, seen_from: str | None = None) -> Match:
        """The `Match`, with `seen_from` (either id) as side `a`; as recorded by default."""
        _, *scores, shared_tokens = SCORES.unpack(self.scores)
        similarity, jaccard, ca, cb, own, story = (x / 10_000 for x in scores)
        if seen_from is None or seen_from == self.a:
            return Match(a=self.a, b=self.b, relation=self.relation, similarity=similarity, jaccard=jaccard,
                         containment_a=ca, containment_b=cb, own_words=own, story=story,
                         shared_tokens=shared_tokens, passages=unpack_passages(self.passages))
        # In the reader's text order, as the recording side's are: the answer does not depend
        # on which side recorded the match.
        passages = tuple(SharedPassage(f[2], f[3], f[0], f[1], f[4])
                         for f in sorted(_passage_fields(self.passages), key=lambda f: (f[2], f[3])))
        return Match(a=self.b, b=self.a, relation=self.relation, similarity=similarity, jaccard=jaccard,
                     containment_a=cb, containment_b=ca, own_words=own, story=story,
                     shared_tokens=shared_tokens, passages=passages)


def _packed_scores(relation: str | None, scores, shared_tokens: int) -> bytes:
    """The `SCORES` record of a relation, its six scores (rounded to four places, as `Match`
    holds them) and its shared tokens."""
    rank = NO_RELATION if relation is None else RELATIONS.index(relation)
    return SCORES.pack(rank, *(round(x * 10_000) for x in scores), shared_tokens)


def pack_passages(passages: Sequence[SharedPassage]) -> bytes:
    return _pack_spans([(p.a_start, p.a_end, p.b_start, p.b_end, p.tokens) for p in passages])


def _pack_spans(spans: Sequence[tuple[int, int, int, int, int]]) -> bytes:
    """Passages given as (a_start, a_end, b_start, b_end, tokens) tuples, packed."""
    if not spans:
        return b""
    fields = [x for span in spans for x in span]
    if max(fields) < 1 << 16:
        return b"\x02" + struct.pack(f"<{len(fields)}H", *fields)
    return b"\x04" + struct.pack(f"<{len(fields)}I", *fields)


def _passage_fields(data: bytes):
    """The five fields of each packed passage, as tuples."""
    if not data:
        return iter(())
    return (_NARROW if data[0] == 2 else _WIDE).iter_unpack(memoryview(data)[1:])


def unpack_passages(data: bytes) -> tuple[SharedPassage, ...]:
    return tuple(SharedPassage(*fields) for fields in _passage_fields(data))


def passage_spans(data: bytes, side_a: bool, min_tokens: int = 0) -> list[tuple[int, int]]:
    """The character spans of one side of packed passages of at least `min_tokens` tokens
    (no objects built)."""
    if side_a:
        return [(f[0], f[1]) for f in _passage_fields(data) if f[4] >= min_tokens]
    return [(f[2], f[3]) for f in _passage_fields(data) if f[4] >= min_tokens]


def compare(a: Document, b: Document, config: Config, common_blocks: Set[int] = frozenset(),
            common_terms: np.ndarray | None = None) -> Match:
    """Verify `a` against `b` and decide their relation (None when unrelated). The
    collection's common blocks are not compared; a rewrite must also be alike in the story
    terms that are not common in the collection (`common_terms`, see `story_similarity`)."""
    return _verify(a, b, config, common_blocks, common_terms, keep_unrelated=True).match()


def related(a: Document, b: Document, config: Config, common_blocks: Set[int] = frozenset(),
            common_terms: np.ndarray | None = None) -> Match | None:
    """`compare`, or None when the pair is unrelated: most candidates are, and their scores
    alone usually show it, without finding the passages they share."""
    stored = related_stored(a, b, config, common_blocks, common_terms)
    return None if stored is None else stored.match()


def related_stored(a: Document, b: Document, config: Config, common_blocks: Set[int] = frozenset(),
                   common_terms: np.ndarray | None = None) -> StoredMatch | None:
    """`related` in the form the index keeps (the same values), made without building the
    `Match` and its passages' objects: indexing stores every match it finds this way."""
    return _verify(a, b, config, common_blocks, common_terms, keep_unrelated=False)


def _verify(a: Document, b: Document, config: Config, common_blocks: Set[int], common_terms: np.ndarray | None,
            keep_unrelated: bool) -> StoredMatch | None:
    a_body, a_set, a_own = _body(a, common_blocks)
    b_body, b_set, b_own = _body(b, common_blocks)
    thresholds = _pair_parameters(config) if _setops is not None else None
    if thresholds is not None:  # the same steps in one compiled call
        found = _setops.verify_pair(a, b, a_body, a_set, a_own, b_body, b_set, b_own, common_terms, thresholds,
                                    keep_unrelated)
        if found is None:
            return None
        rank, scores, passages = found
        return StoredMatch(a.id, b.id, None if rank == NO_RELATION else RELATIONS[rank], scores, passages)
    story = story_similarity(a, b)
    if len(a_set) == 0 or len(b_set) == 0:
        inter = a_own_shared = b_own_shared = 0
        jaccard = ca = cb = own = 0.0
    else:
        # Own words are a subset of the body's shingles: those found in the other body are shared.
        inter, a_own_shared, b_own_shared = _overlap_counts(a_set, b_set, a_own, b_own)
        jaccard = inter / (len(a_set) + len(b_set) - inter)
        ca, cb = inter / len(a_set), inter / len(b_set)
        own = max(a_own_shared / len(a_own) if len(a_own) else 0.0, b_own_shared / len(b_own) if len(b_own) else 0.0)
    rewrite = None  # whether the pair passes the rewrite test, when known
    if not keep_unrelated and not _may_copy(a, b, config, jaccard, max(ca, cb), own):
        rewrite = _is_rewrite(a, b, config, story, common_terms)
        if not rewrite:
            return None
    spans = _shared_spans(a, b, a_body, b_body, sorted_intersection(a_set, b_set), config) if inter else ()
    match = _decide(a, b, config, jaccard, ca, cb, own, story, common_terms, spans, rewrite)
    return match if keep_unrelated or match.relation is not None else None


def _pair_parameters(cfg: Config) -> tuple | None:
    """The thresholds `_setops.verify_pair` decides by; None when a count is not a whole
    number (then the Python steps compare with it as given). Kept for the last configuration
    asked about, found by identity: hashing a configuration costs more than the lookup saves."""
    global _last_parameters
    known, parameters = _last_parameters
    if known is cfg:
        return parameters
    counts = (cfg.min_shared_tokens, cfg.version_passages, cfg.version_run_tokens, cfg.shingle_size)
    parameters = None
    if all(type(count) is int for count in counts):
        parameters = (float(cfg.near_duplicate), float(cfg.syndicated), float(cfg.version), float(cfg.rewrite),
                      float(cfg.rewrite_short), float(cfg.rewrite_specific), float(cfg.copy_specific), *counts)
    _last_parameters = (cfg, parameters)
    return parameters


_last_parameters: tuple = (None, None)


def _may_copy(a: Document, b: Document, cfg: Config, jaccard, contained, own) -> bool:
    """Whether the scores pass the test of a copy relation (each needs its own score)."""
    return (jaccard >= cfg.near_duplicate or contained >= cfg.syndicated or own >= cfg.version
            or (a.body_hash == b.body_hash and a.n_body_tokens > 0))


def _is_rewrite(a: Document, b: Document, cfg: Config, story: float, common_terms: np.ndarray | None) -> bool:
    return story >= rewrite_threshold(cfg, a, b) and (
        common_terms is None or story_similarity(a, b, common_terms) >= cfg.rewrite_specific)


def _body(doc: Document, common_blocks: Set[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The body's shingles, their distinct set and own-words set, without common blocks.

    Cached on the document with the set of common blocks it was computed for (the engine
    replaces that set, never mutates it, so identity tells whether the cache is current) and
    with which of the document's own blocks were common: when other documents' blocks become
    common, this body is still the same.
    """
    cached = doc.__dict__.get("_body_cache")
    if cached is not None and cached[0] is common_blocks:
        return cached[2]
    common = ()
    if common_blocks and len(doc.shingles):
        hashes = doc.block_hashes.tolist()
        if not common_blocks.isdisjoint(hashes):
            common = tuple(i for i, h in enumerate(hashes) if h in common_blocks)
    if cached is not None and cached[1] == common:
        body = cached[2]
    elif common:
        in_common = np.zeros(len(doc.block_hashes), bool)
        in_common[list(common)] = True
        body = _without_blocks(doc, in_common)
    else:
        body = doc.shingles, doc.shingle_set, doc.own_set
    doc.__dict__["_body_cache"] = (common_blocks, common, body)
    return body


def _without_blocks(doc: Document, dropped: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The body's shingles, distinct set and own-words set without the `dropped` blocks (one
    bool per block), compiled where built."""
    if _setops is not None:
        parts = _setops.without_blocks(doc.shingles, doc.shingle_blocks, doc.shingle_quoted, dropped)
        return tuple(np.frombuffer(part, np.uint64) for part in parts)
    keep = ~dropped[doc.shingle_blocks]
    shingles = doc.shingles[keep]
    distinct = distinct_among(shingles, doc.shingle_set)
    return shingles, distinct, own_shingles(shingles, doc.shingle_quoted[keep], distinct)


def _decide(a, b, cfg: Config, jaccard, ca, cb, own, story, common_terms, spans, rewrite: bool | None = None
            ) -> StoredMatch:
    """The relation the scores and shared runs (`spans`: tuples of a `SharedPassage`'s fields)
    show, as the index stores it."""
    contained = max(ca, cb)
    shared_tokens = sum(span[4] for span in spans)
    long_runs = [span[4] for span in spans if span[4] >= cfg.min_shared_tokens]
    relation, score = None, max(contained, story)
    if a.body_hash == b.body_hash and a.n_body_tokens > 0:
        relation, score = EXACT, 1.0
    elif jaccard >= cfg.near_duplicate:
        relation, score = NEAR_DUPLICATE, jaccard
    elif contained >= cfg.syndicated and shared_tokens >= cfg.min_shared_tokens:
        relation, score = SYNDICATED, contained
    elif own >= cfg.version and len(long_runs) >= cfg.version_passages and _has_run(a, b, cfg, long_runs):
        relation, score = VERSION, own
    if relation not in (None, EXACT) and specific_share(a, b, common_terms) < cfg.copy_specific:
        relation, score = None, max(contained, story)  # a copy's text, not its specifics: a template
    if relation is None and (rewrite if rewrite is not None else _is_rewrite(a, b, cfg, story, common_terms)):
        relation, score = REWRITE, story
    scores = _packed_scores(relation, [round(float(x), 4) for x in (score, jaccard, ca, cb, own, story)],
                            int(shared_tokens))
    # Runs shorter than 4 words are counted but not kept: they are evidence of nothing alone.
    return StoredMatch(a.id, b.id, relation, scores, _pack_spans([span for span in spans if span[4] >= 4]))


def _has_run(a, b, cfg: Config, run_tokens: Sequence[int]) -> bool:
    """Whether one shared run (of `run_tokens` tokens each) is as long as a sentence (or a
    quarter of the shorter body).

    Versions of one story share whole sentences. Formulaic items (bond issues, earnings
    notices) share many short runs broken by their own names and figures, which can add up
    to the share of a version without any run being a sentence of text.
    """
    shorter = min(a.n_body_tokens, b.n_body_tokens)
    needed = max(cfg.min_shared_tokens, min(cfg.version_run_tokens, shorter // 4))
    return any(tokens >= needed for tokens in run_tokens)


def rewrite_threshold(cfg: Config, a: Document, b: Document) -> float:
    """The story similarity two documents need to be rewrites of one story.

    Short texts share a few names by chance far more often than long ones, so the bar rises
    for the shorter document: ``rewrite + rewrite_short / sqrt(terms)``, where `terms` is the
    shorter document's number of story terms (about 0.30 for a news article of 100+ terms,
    0.39 for a single sentence of 12).
    """
    terms = max(1, min(len(a.story_terms), len(b.story_terms)))
    return cfg.rewrite + cfg.rewrite_short / terms**0.5


def story_similarity(a: Document, b: Document, common_terms: np.ndarray | None = None) -> float:
    """Cosine similarity of the two documents' weighted story terms; with `common_terms`
    (`commonness.CommonTerms.common`), of their terms that are not common in the collection.

    Terms are weighted by their rarity in general English, so a wire's own formula ("shr",
    "qtr", "revs") weighs like a rare name and makes every earnings notice look like a
    rewrite of every other. Left without the collection's common terms, two notices of
    different companies share almost nothing; two reports of one event still share its
    names and figures.
    """
    if len(a.story_terms) == 0 or len(b.story_terms) == 0:
        return 0.0
    if common_terms is None:
        return _weighted_dot(a.story_terms, a.story_weights, b.story_terms, b.story_weights) / (
            a.story_norm * b.story_norm)
    if _compiled(a.story_terms, b.story_terms):
        return _setops.specific_cosine(a.story_terms, a.story_weights, b.story_terms, b.story_weights, common_terms)
    a_specific = ~common_terms[bucket_of(a.story_terms)]
    b_specific = ~common_terms[bucket_of(b.story_terms)]
    wa, wb = a.story_weights[a_specific], b.story_weights[b_specific]
    dot = _weighted_dot(a.story_terms[a_specific], wa, b.story_terms[b_specific], wb)
    if dot == 0.0:
        return 0.0
    norms = _ordered_sum(np.square(wa, dtype=np.float64)) * _ordered_sum(np.square(wb, dtype=np.float64))
    return dot / float(np.sqrt(norms))


def specific_share(a: Document, b: Document, common_terms: np.ndarray | None = None) -> float:
    """How much of what is specific to either document the other holds: the larger of the two
    sides' shares of their story terms not common in the collection (`common_terms`; all of
    them without it, or when a side has no other), by squared weight, found among the
    other's story terms. 0.0 when either side has no story terms.

    A copy or a version of a story keeps the story's names and figures; notices filled into
    one template (a bond issue, a dividend, a prime rate change) share the template's words
    and sentences but each has its own issuer, amounts and dates.
    """
    return max(_share_in(a, b, common_terms), _share_in(b, a, common_terms))


def _share_in(x, y, common_terms: np.ndarray | None) -> float:
    """The share of `x`'s specific story-term weight found among `y`'s story terms; of all its
    story terms when none is specific (a side with nothing specific is no evidence against)."""
    if _compiled(x.story_terms, y.story_terms):
        return _setops.specific_share(x.story_terms, x.story_weights, y.story_terms, common_terms)
    if len(x.story_terms) == 0 or len(y.story_terms) == 0:
        return 0.0
    squares = np.square(x.story_weights, dtype=np.float64)
    found = _members(x.story_terms, y.story_terms)
    if common_terms is not None:
        specific = ~common_terms[bucket_of(x.story_terms)]
        if _ordered_sum(squares[specific]) > 0.0:
            squares, found = squares[specific], found[specific]
    return _ordered_sum(squares[found]) / _ordered_sum(squares)


def worth_verifying(doc: Document, others: Sequence, cfg: Config, common_terms: np.ndarray | None = None) -> np.ndarray:
    """Whether each of `others`, proposed by story terms alone, is close enough to `doc` to
    verify: the same story (`story_similarity` over `rewrite_threshold`), or some shared text
    (an excerpt whose passages were too short for the passage index). All at once, in numpy.
    Each of `others` is a document or the bytes of its record's screening prefix
    (`DocumentTable.screening_records`): only story terms and shingle sets are read.

    With the collection's `common_terms`, one that shares no shingle with `doc` must also pass
    the rewrite test's specific similarity: sharing no text, it can only be a rewrite, and most
    story candidates in a wire's formula fail there (`related` would reject it the same way).
    """
    n = len(others)
    if n == 0 or len(doc.story_terms) == 0 and len(doc.shingle_set) == 0:
        return np.zeros(n, bool)
    if not _only_rewrites_share_nothing(cfg):
        common_terms = None
    if _setops is not None:  # the same sums and tests, without a numpy call per step
        extra = () if common_terms is None else (common_terms, cfg.rewrite_specific)
        return np.frombuffer(_setops.screen(doc.story_terms, doc.story_weights, doc.story_norm, doc.shingle_set, others,
                                            cfg.rewrite, cfg.rewrite_short, cfg.min_shared_tokens, *extra), np.bool_)
    others = [Screening(**screening_fields(o)[0]) if isinstance(o, bytes) else o for o in others]
    story = np.zeros(n)
    if len(doc.story_terms):
        terms, weights, owner = _stacked([o.story_terms for o in others], [o.story_weights for o in others])
        at, hit = _lookup(doc.story_terms, terms)
        products = weights[hit].astype(np.float64) * doc.story_weights[at[hit]]
        dots = np.bincount(owner[hit], weights=products, minlength=n)
        norms = np.array([o.story_norm for o in others]) * doc.story_norm
        np.divide(dots, norms, out=story, where=norms > 0)
    lengths = np.array([len(o.story_terms) for o in others])
    shortest = np.maximum(1, np.minimum(len(doc.story_terms), lengths))
    same_story = story >= cfg.rewrite + cfg.rewrite_short / np.sqrt(shortest)
    shared = np.zeros(n, np.int64)
    if len(doc.shingle_set):
        shingles, _, owner = _stacked([o.shingle_set for o in others])
        _, hit = _lookup(doc.shingle_set, shingles)
        shared = np.bincount(owner[hit], minlength=n)
    worth = same_story | (shared >= cfg.min_shared_tokens)
    if common_terms is not None:
        for i in np.flatnonzero(same_story & (shared == 0)).tolist():
            worth[i] = story_similarity(doc, others[i], common_terms) >= cfg.rewrite_specific
    return worth


def _only_rewrites_share_nothing(cfg: Config) -> bool:
    """Whether two bodies that share no shingle can only be rewrites: so unless a copy
    threshold is 0 (near_duplicate or version; syndicated is at least version)."""
    return cfg.near_duplicate > 0 and cfg.version > 0


def _stacked(arrays: list[np.ndarray], aligned: list[np.ndarray] | None = None):
    """`arrays` concatenated, the same for `aligned`, and each value's array number."""
    lengths = [len(a) for a in arrays]
    owner = np.repeat(np.arange(len(arrays)), lengths)
    return np.concatenate(arrays), (np.concatenate(aligned) if aligned else None), owner


# The sorted-set operations below take uint64 hashes (shingles, story terms); `_setops` does
# each in one compiled pass, numpy in several array operations with the same answers.
_U64 = np.dtype(np.uint64)


def _compiled(a: np.ndarray, b: np.ndarray) -> bool:
    return _setops is not None and (a.dtype is _U64 or a.dtype == _U64) and (b.dtype is _U64 or b.dtype == _U64)


def _lookup(sorted_set: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each of `values` is in `sorted_set` (sorted, distinct, not empty), and which are
    there; positions are meaningful only where they are."""
    if _compiled(sorted_set, values):
        at = np.frombuffer(_setops.positions_in(sorted_set, values), np.int64)
        return at, at >= 0
    at = np.searchsorted(sorted_set, values)
    at[at == len(sorted_set)] = 0
    return at, sorted_set[at] == values


def sorted_intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Common values of two sorted arrays of distinct values (no re-sorting)."""
    if _compiled(a, b):
        return a[np.frombuffer(_setops.common_positions(a, b)[0], np.int64)]
    if len(a) > len(b):
        a, b = b, a
    if len(a) == 0:
        return a
    at = np.searchsorted(b, a)
    at[at == len(b)] = 0
    return a[b[at] == a]


def _overlap_counts(a: np.ndarray, b: np.ndarray, a_part: np.ndarray, b_part: np.ndarray) -> tuple[int, int, int]:
    """How many values `a` and `b` share, how many of `a_part` are in `b` and of `b_part` in `a`."""
    if _compiled(a, b) and _compiled(a_part, b_part):
        return _setops.overlap_counts(a, b, a_part, b_part)
    return (len(sorted_intersection(a, b)), len(sorted_intersection(a_part, b)),
            len(sorted_intersection(b_part, a)))


def _weighted_dot(a: np.ndarray, a_weights: np.ndarray, b: np.ndarray, b_weights: np.ndarray) -> float:
    """Sum of weight products over the values common to `a` and `b` (sorted, distinct), in
    double precision and ascending order of value: the same bits whichever side is `a`."""
    if _compiled(a, b):
        return _setops.weighted_dot(a, a_weights, b, b_weights)
    ia, ib = _matching_positions(a, b)
    if len(ia) == 0:
        return 0.0
    return _ordered_sum(a_weights[ia].astype(np.float64) * b_weights[ib])


def _ordered_sum(values: np.ndarray) -> float:
    """The sum of `values` added one by one in order, as the compiled loops add them (numpy's
    own sum adds pairwise, which can differ in the last bit)."""
    return float(np.cumsum(values)[-1]) if len(values) else 0.0


def _members(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """Whether each of `values` is in `sorted_set` (sorted, distinct, not empty)."""
    return _lookup(sorted_set, values)[1]


def _matching_positions(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions in `a` and in `b` of their common values (both sorted, distinct)."""
    if len(a) == 0 or len(b) == 0:
        return np.empty(0, np.intp), np.empty(0, np.intp)
    if _compiled(a, b):
        ia, ib = _setops.common_positions(a, b)
        return np.frombuffer(ia, np.int64), np.frombuffer(ib, np.int64)
    at = np.searchsorted(b, a)
    at[at == len(b)] = 0
    hit = b[at] == a
    return np.flatnonzero(hit), at[hit]


def _shared_spans(a: Document, b: Document, a_sh, b_sh, shared, cfg: Config) -> Sequence[tuple[int, int, int, int, int]]:
    """Maximal runs of shingles of `a` that occur in `b`, as character spans of both texts:
    a `SharedPassage`'s fields, as tuples."""
    if len(a_sh) != len(a.shingles) or len(b_sh) != len(b.shingles):
        # Boilerplate blocks were left out: positions no longer line up with the body, so
        # runs are found on the full bodies and kept only where the filtered sets agree.
        a_sh, b_sh = a.shingles, b.shingles
    if _compiled(a_sh, b_sh):
        return _setops.shared_spans(a_sh, b_sh, shared, cfg.shingle_size, a.token_starts, a.token_ends, a.body_tokens,
                                    b.token_starts, b.token_ends, b.body_tokens)
    in_b = _members(a_sh, shared)
    if not in_b.any():
        return []
    idx = np.flatnonzero(in_b)
    breaks = np.flatnonzero(np.diff(idx) != 1) + 1
    lo = idx[np.concatenate(([0], breaks))]
    hi = idx[np.concatenate((breaks - 1, [len(idx) - 1]))]
    # Where each run's first shingle first occurs in `b`: a stable sort keeps, among equal
    # shingles, the earliest position first.
    order = np.argsort(b_sh, kind="stable")
    b_lo = order[np.searchsorted(b_sh[order], a_sh[lo])]
    # Each run as a span of body tokens in both documents, then of characters.
    a_tok_end = np.minimum(len(a.body_tokens), hi + cfg.shingle_size)
    tokens = a_tok_end - lo
    b_tok_end = np.minimum(len(b.body_tokens), b_lo + tokens)
    a_start = a.token_starts[a.body_tokens[lo]].tolist()
    a_end = a.token_ends[a.body_tokens[a_tok_end - 1]].tolist()
    b_start = b.token_starts[b.body_tokens[b_lo]].tolist()
    b_end = b.token_ends[b.body_tokens[b_tok_end - 1]].tolist()
    return list(zip(a_start, a_end, b_start, b_end, tokens.tolist()))
