"""The compiled parts (`dedup._setops`, `dedup._bandsearch`, `dedup._analysis`) answer exactly
as the Python and numpy code they replace, which still runs where they could not be built."""
from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dedup.analysis as analysis
import dedup.commonness as commonness
import dedup.lsh as lsh
import dedup.normalise as normalise
import dedup.record as record
import dedup.segment as segment
import dedup.sketch as sketch
import dedup.terms as terms
import dedup.verify as verify
from dedup.commonness import CommonTerms, bucket_of
from dedup.config import Config
from dedup.engine import Engine
from dedup.normalise import token_key
from dedup.synthetic import generate

if verify._setops is None or lsh._bandsearch is None or analysis._analysis is None:
    if os.environ.get("DEDUP_REQUIRE_COMPILED"):
        raise RuntimeError("dedup's C extensions were not built, and DEDUP_REQUIRE_COMPILED is set (as in CI)")
    pytest.skip("dedup's C extensions were not built (no C compiler at install time)", allow_module_level=True)

# Small values so that sets overlap; the top of the range so that sign and width bugs show.
_values = st.lists(st.one_of(st.integers(0, 60), st.integers(2**64 - 8, 2**64 - 1)), max_size=80)


def _set(values) -> np.ndarray:
    return np.unique(np.array(values, np.uint64))


def _both(monkeypatch, function, *args):
    compiled = function(*args)
    with monkeypatch.context() as m:
        m.setattr(verify, "_setops", None)
        plain = function(*args)
    return compiled, plain


@settings(max_examples=300, deadline=None)
@given(a=_values, b=_values, wide=st.integers(0, 3000))
def test_set_operations_answer_as_numpy(a, b, wide):
    monkeypatch = pytest.MonkeyPatch()
    # `wide` extra values make one set much larger than the other (the searching branch).
    a, b = _set(a), _set(b + list(range(100, 100 + wide)))
    for x, y in ((a, b), (b, a)):
        compiled, plain = _both(monkeypatch, verify.sorted_intersection, x, y)
        assert compiled.dtype == np.uint64 and compiled.tolist() == plain.tolist()
        (ia, ib), (pa, pb) = _both(monkeypatch, verify._matching_positions, x, y)
        assert ia.tolist() == pa.tolist() and ib.tolist() == pb.tolist()
    if len(b):
        values = np.array(list(a) + list(a[::-1]), np.uint64)  # ascending, then descending
        (at, hit), (p_at, p_hit) = _both(monkeypatch, verify._lookup, b, values)
        assert hit.tolist() == p_hit.tolist() and at[hit].tolist() == p_at[p_hit].tolist()


# Terms in a few buckets (their low 18 bits), differing above them: many share a bucket.
_bucketed = st.lists(st.tuples(st.integers(0, 7), st.integers(0, 2**46 - 1)).map(lambda t: t[1] << 18 | t[0]),
                     max_size=12)


@settings(max_examples=300, deadline=None)
@given(documents=st.lists(_bucketed, max_size=6), flagged=_bucketed)
def test_term_buckets_are_counted_and_tested_as_numpy_would(documents, flagged):
    """Once per bucket a document holds, however many of its terms share it; a term is
    tested by its bucket."""
    def answers() -> tuple:
        terms = CommonTerms(share=0.5, min_documents=1)
        flags = np.zeros(CommonTerms.BUCKETS, bool)
        flags[bucket_of(np.array(flagged, np.uint64))] = True
        tested = []
        for values in documents:
            doc = np.unique(np.array(values, np.uint64))
            terms.add(doc)
            tested.append(commonness.any_flagged(doc, flags))
        return terms._counts.tolist(), tested

    compiled = answers()
    with pytest.MonkeyPatch().context() as m:
        m.setattr(commonness, "_setops", None)
        assert answers() == compiled


def test_bucket_loops_refuse_tables_that_are_not_powers_of_two():
    with pytest.raises(ValueError, match="power of two"):
        verify._setops.count_buckets(np.ones(2, np.uint64), np.zeros(3, np.uint32))
    with pytest.raises(ValueError, match="power of two"):
        verify._setops.any_flagged(np.ones(2, np.uint64), np.zeros(6, bool))
    with pytest.raises(ValueError, match="64-bit"):
        verify._setops.any_flagged(np.ones(3, np.uint32), np.zeros(8, bool))


@settings(max_examples=300, deadline=None)
@given(base=_values, others=st.lists(st.tuples(_values, _values), max_size=8), seed=st.integers(0, 2**32 - 1),
       no_terms=st.booleans(), min_shared=st.integers(1, 6), common_share=st.sampled_from([None, 0.0, 0.3, 1.0]))
def test_screening_decides_as_numpy_would(base, others, seed, no_terms, min_shared, common_share):
    """`screen` sums the story products in double precision in each candidate's term order, as
    numpy's bincount does, so every decision is the same, even at the threshold; with the
    collection's common terms, so is the specific similarity of candidates sharing no shingle."""
    from dedup.documents import Screening

    rng = np.random.default_rng(seed)
    common = None if common_share is None else rng.random(CommonTerms.BUCKETS) < common_share

    def screening(terms, shingles):
        terms = _set(terms)
        weights = rng.integers(1, 4, len(terms)).astype(np.float32)  # few values: ties at the bar happen
        return Screening(terms, weights, float(np.sqrt(np.dot(weights, weights))), _set(shingles))

    doc = screening([] if no_terms else base, base[::2])
    candidates = [screening(terms, shingles) for terms, shingles in others]
    cfg = Config(min_shared_tokens=min_shared, rewrite_specific=0.5)
    compiled, plain = _both(pytest.MonkeyPatch(), verify.worth_verifying, doc, candidates, cfg, common)
    assert compiled.dtype == np.bool_ and compiled.tolist() == plain.tolist()
    # Candidates given as their records' screening prefixes (every other one) decide the same.
    mixed = [record.screening_prefix(c) if i % 2 else c for i, c in enumerate(candidates)]
    assert verify.worth_verifying(doc, mixed, cfg, common).tolist() == compiled.tolist()
    # Common terms only ever drop candidates that share no shingle and fail the specific test.
    without = verify.worth_verifying(doc, candidates, cfg)
    for c, kept, before in zip(candidates, compiled.tolist(), without.tolist()):
        dropped = before and not kept
        assert not (kept and not before)
        assert dropped == (common is not None and before and len(verify.sorted_intersection(doc.shingle_set, c.shingle_set)) == 0
                           and verify.story_similarity(doc, c, common) < cfg.rewrite_specific)
    # A candidate identical to the document is always worth it (unless it has nothing at all).
    assert verify.worth_verifying(doc, [doc], cfg).tolist() == [len(doc.story_terms) > 0 or len(doc.shingle_set) >= min_shared]


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), size=st.sampled_from([1, 200, 257, 3000, 70_000]),
       shared=st.floats(0.0, 1.0))
def test_screening_of_large_documents_decides_as_numpy_would(seed, size, shared):
    """`screen` looks a candidate's values up in a bit table of the document's before searching:
    documents of every size (the table on the stack up to 256 values, allocated beyond), each
    candidate holding `shared` of the document's values among its own, decide as numpy does."""
    from dedup.documents import Screening

    rng = np.random.default_rng(seed)

    def screening(values):
        terms = np.unique(values)
        weights = rng.integers(1, 4, len(terms)).astype(np.float32)
        return Screening(terms, weights, float(np.sqrt(np.dot(weights, weights))), terms.copy())

    base = rng.integers(0, 2**64 - 1, size, np.uint64, endpoint=True)
    doc = screening(base)
    candidates = []
    for _ in range(6):
        kept = base[rng.random(size) < shared]
        candidates.append(screening(np.concatenate([kept, rng.integers(0, 2**64 - 1, 40, np.uint64, endpoint=True)])))
    cfg = Config(min_shared_tokens=8)
    compiled, plain = _both(pytest.MonkeyPatch(), verify.worth_verifying, doc, candidates, cfg, None)
    assert compiled.tolist() == plain.tolist()
    mixed = [record.screening_prefix(c) for c in candidates]
    assert verify.worth_verifying(doc, mixed, cfg, None).tolist() == compiled.tolist()


@settings(max_examples=300, deadline=None)
@given(a=_values, b=_values, wide=st.integers(0, 3000), seed=st.integers(0, 2**32 - 1),
       common=st.floats(0.0, 1.0))
def test_pair_scores_are_numpys_to_the_bit(a, b, wide, seed, common):
    """What `compare` counts and sums for one pair: shared values, each side's part found in
    the other, and the weighted story cosines, equal (not close) with and without C, and the
    same whichever side comes first."""
    monkeypatch = pytest.MonkeyPatch()
    rng = np.random.default_rng(seed)
    a, b = _set(a), _set(b + list(range(100, 100 + wide)))
    a_part, b_part = a[rng.random(len(a)) < 0.5], b[rng.random(len(b)) < 0.5]
    compiled, plain = _both(monkeypatch, verify._overlap_counts, a, b, a_part, b_part)
    expected = (len(set(a.tolist()) & set(b.tolist())), len(set(a_part.tolist()) & set(b.tolist())),
                len(set(b_part.tolist()) & set(a.tolist())))
    assert compiled == plain == expected
    # A share `common` of the values' buckets are common in the collection.
    common_terms = np.zeros(CommonTerms.BUCKETS, bool)
    values = np.union1d(a, b)
    common_terms[bucket_of(values[rng.random(len(values)) < common])] = True

    class Terms:  # what story_similarity reads of a document
        def __init__(self, terms):
            self.story_terms = terms
            self.story_weights = rng.random(len(terms), dtype=np.float32) + np.float32(0.01)
            self.story_norm = float(np.sqrt(np.dot(self.story_weights, self.story_weights)))

    x, y = Terms(a), Terms(b)
    for mask in (None, common_terms):
        forward = _both(monkeypatch, verify.story_similarity, x, y, mask)
        backward = _both(monkeypatch, verify.story_similarity, y, x, mask)
        assert forward[0] == forward[1] == backward[0] == backward[1]
        assert 0.0 <= forward[0] <= 1.0 + 1e-9
    specific = a[~common_terms[bucket_of(a)]]
    if not set(specific.tolist()) & set(b.tolist()):
        assert verify.story_similarity(x, y, common_terms) == 0.0
    # The share of one side's specific weight the other holds: the same to the bit with and
    # without C, and what a plain loop over the terms gives.
    for mask in (None, common_terms):
        for first, second in ((x, y), (y, x)):
            compiled, plain = _both(monkeypatch, verify._share_in, first, second, mask)
            assert compiled == plain
            squared = [(t, float(w) ** 2) for t, w in zip(first.story_terms.tolist(), first.story_weights.tolist())]
            kept = [(t, w) for t, w in squared if mask is None or not mask[bucket_of(np.array([t], np.uint64))[0]]]
            kept = kept or squared  # a side with nothing specific is judged by all its terms
            total = sum(w for _, w in kept)
            found = sum(w for t, w in kept if t in set(second.story_terms.tolist()))
            assert compiled == pytest.approx(found / total if total and len(second.story_terms) else 0.0)
        assert verify.specific_share(x, y, mask) == max(verify._share_in(x, y, mask), verify._share_in(y, x, mask))


def _pair_document(name: str, shingles: list[int], terms: list[int], rng, k: int, body_hash: int) -> SimpleNamespace:
    """What verification reads of a document: a body of len(shingles) + k - 1 tokens in two
    blocks (hashes 1 and 2), some of it quoted, with these story terms."""
    shingles = np.array(shingles, np.uint64)
    n_tokens = len(shingles) + k - 1 if len(shingles) else 0
    terms = _set(terms)
    weights = rng.integers(1, 4, len(terms)).astype(np.float32)  # few values: ties at the bars happen
    quoted = rng.random(len(shingles)) < 0.2
    distinct = np.unique(shingles)
    return SimpleNamespace(
        id=name, body_hash=body_hash, shingles=shingles, shingle_set=distinct,
        own_set=analysis.own_shingles(shingles, quoted, distinct),
        shingle_blocks=(np.arange(len(shingles)) >= len(shingles) // 2).astype(np.int32), shingle_quoted=quoted,
        block_hashes=np.array([1, 2], np.uint64), body_tokens=np.arange(n_tokens, dtype=np.int32),
        n_body_tokens=n_tokens, token_starts=np.arange(n_tokens, dtype=np.int32) * 3,
        token_ends=np.arange(n_tokens, dtype=np.int32) * 3 + 2, story_terms=terms, story_weights=weights,
        story_norm=float(np.sqrt(np.dot(weights.astype(np.float64), weights))))


def _verified(a, b, cfg, common_blocks, common_terms, keep, compiled: bool):
    with pytest.MonkeyPatch().context() as m:
        if not compiled:
            m.setattr(verify, "_pair_parameters", lambda cfg: None)
        for doc in (a, b):
            doc.__dict__.pop("_body_cache", None)
        found = verify._verify(a, b, cfg, common_blocks, common_terms, keep)
    return None if found is None else (found.a, found.b, found.relation, found.scores, found.passages)


_shingle_runs = st.lists(st.integers(0, 30), max_size=80)


@settings(max_examples=500, deadline=None)
@given(a=_shingle_runs, b=_shingle_runs, a_terms=_values, b_terms=_values, seed=st.integers(0, 2**32 - 1),
       k=st.integers(1, 4), same_body=st.booleans(), common_share=st.sampled_from([None, 0.0, 0.3, 1.0]),
       common_block=st.booleans(), thresholds=st.tuples(*[st.sampled_from([0.0, 0.2, 0.25, 0.5, 1.0])] * 5),
       counts=st.tuples(st.integers(1, 12), st.integers(1, 3), st.integers(1, 20)))
def test_a_pair_is_verified_as_the_python_steps_verify_it(a, b, a_terms, b_terms, seed, k, same_body, common_share,
                                                          common_block, thresholds, counts):
    """`_setops.verify_pair` gives the relation, the packed scores and the passages that
    `verify._verify`'s Python steps give, for every pair, threshold and collection state."""
    rng = np.random.default_rng(seed)
    near_duplicate, version, rewrite, specific, copy_specific = thresholds
    cfg = Config(shingle_size=k, near_duplicate=near_duplicate, syndicated=max(version, 0.5), version=version,
                 rewrite=rewrite, rewrite_specific=specific, copy_specific=copy_specific,
                 min_shared_tokens=counts[0], version_passages=counts[1],
                 version_run_tokens=counts[2])
    x = _pair_document("a", a, a_terms, rng, k, 7)
    y = _pair_document("b", b, b_terms, rng, k, 7 if same_body else 8)
    common_terms = None if common_share is None else rng.random(CommonTerms.BUCKETS) < common_share
    common_blocks = frozenset({1}) if common_block else frozenset()
    for keep in (False, True):
        for first, second in ((x, y), (y, x)):
            compiled = _verified(first, second, cfg, common_blocks, common_terms, keep, compiled=True)
            assert compiled == _verified(first, second, cfg, common_blocks, common_terms, keep, compiled=False)
            assert keep <= (compiled is not None)


def test_a_score_at_half_a_ten_thousandth_is_rounded_as_python_rounds_it():
    # 7 of 20,000 shingles shared: a containment of 0.00035, whose double is a hair below the
    # half, so Python's round(x, 4) gives 0.0003, though x * 10_000 computes as exactly 3.5.
    rng = np.random.default_rng(1)
    x = _pair_document("a", list(range(1, 20_001)), [1, 2], rng, 1, 1)
    y = _pair_document("b", list(range(1, 8)) + [50_000], [3], rng, 1, 2)
    compiled = _verified(x, y, Config(shingle_size=1), frozenset(), None, True, compiled=True)
    assert compiled == _verified(x, y, Config(shingle_size=1), frozenset(), None, True, compiled=False)
    assert verify.SCORES.unpack(compiled[3])[3] == 3  # containment_a: 0.00035 -> 0.0003


def test_pair_verification_refuses_inconsistent_documents():
    rng = np.random.default_rng(2)
    x, y = _pair_document("a", [1, 2, 3], [1], rng, 1, 1), _pair_document("b", [1, 2, 3], [1], rng, 1, 2)
    thresholds = verify._pair_parameters(Config(shingle_size=1))
    arrays = (x.shingles, x.shingle_set, x.own_set, y.shingles, y.shingle_set, y.own_set)
    y.token_starts = y.token_starts[:1]
    with pytest.raises(ValueError, match="do not fit"):
        verify._setops.verify_pair(x, y, *arrays, None, thresholds, True)
    y.story_weights = np.ones(1, np.float64)
    with pytest.raises(ValueError, match="wrong size"):
        verify._setops.verify_pair(x, y, *arrays, None, thresholds, True)
    with pytest.raises(ValueError, match="power of two"):
        verify._setops.verify_pair(x, x, *arrays[:3], *arrays[:3], np.zeros(3, bool), thresholds, True)


@settings(max_examples=300, deadline=None)
@given(a=st.lists(st.integers(0, 12), max_size=60), b=st.lists(st.integers(0, 12), max_size=60),
       k=st.integers(1, 4), gap=st.integers(0, 3))
def test_shared_spans_are_numpys(a, b, k, gap):
    """Runs of `a`'s shingles (in text order, with repeats) that `b` holds, as the text both
    share: from the run's first token to its last in `a`, and in `b` from where the run's
    first shingle first occurs. Bodies start `gap` tokens into their texts."""
    from types import SimpleNamespace

    def doc(values):
        body = np.arange(gap, gap + (len(values) + k - 1 if values else 0), dtype=np.int32)
        starts = np.arange(gap + len(body), dtype=np.int32) * 4
        return SimpleNamespace(shingles=np.array(values, np.uint64), body_tokens=body, token_starts=starts,
                               token_ends=starts + 3)

    da, db, cfg = doc(a), doc(b), SimpleNamespace(shingle_size=k)
    shared = np.intersect1d(da.shingles, db.shingles)
    if len(shared) == 0:  # verification looks for passages only where there are some
        return
    compiled = verify._shared_spans(da, db, da.shingles, db.shingles, shared, cfg)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(verify, "_setops", None)
        assert verify._shared_spans(da, db, da.shingles, db.shingles, shared, cfg) == compiled
    runs, i = [], 0
    while i < len(a):
        if a[i] in shared:
            j = i
            while j + 1 < len(a) and a[j + 1] in shared:
                j += 1
            tokens = min(j + k, len(da.body_tokens)) - i
            b_at = int(np.flatnonzero(db.shingles == a[i])[0])
            b_last = min(b_at + tokens, len(db.body_tokens)) - 1
            runs.append(((gap + i) * 4, (gap + i + tokens - 1) * 4 + 3, (gap + b_at) * 4, (gap + b_last) * 4 + 3, tokens))
            i = j + 1
        else:
            i += 1
    assert compiled == runs


def test_shared_spans_refuse_token_arrays_that_do_not_fit():
    ones, body = np.ones(2, np.uint64), np.arange(3, dtype=np.int32)
    offsets = np.arange(3, dtype=np.int32)
    with pytest.raises(ValueError, match="int32"):
        verify._setops.shared_spans(ones, ones, ones[:1], 2, offsets.astype(np.int64), offsets, body, offsets, offsets, body)
    with pytest.raises(ValueError, match="do not fit"):
        verify._setops.shared_spans(ones, ones, ones[:1], 2, offsets, offsets, body + 1, offsets, offsets, body)
    with pytest.raises(ValueError, match="more shingles"):
        verify._setops.shared_spans(np.ones(4, np.uint64), ones, ones[:1], 2, offsets, offsets, body, offsets, offsets, body)
    with pytest.raises(ValueError, match="not in b"):
        verify._setops.shared_spans(ones, ones + 1, ones[:1], 2, offsets, offsets, body, offsets, offsets, body)


@settings(max_examples=200, deadline=None)
@given(sources=st.lists(st.lists(st.tuples(st.integers(0, 30), st.integers(1, 1 << 21)), max_size=20,
                                 unique_by=lambda t: t[0]), max_size=4),
       textual=st.integers(0, 4), ascending=st.booleans())
def test_merged_query_answers_are_numpys(sources, textual, ascending):
    """Queries answer in ascending order (merged as runs); any order is sorted."""
    if ascending:
        sources = [sorted(s) for s in sources]
    found = [(np.array([d for d, _ in s], np.uint32), np.array([h for _, h in s], np.int64)) for s in sources]
    textual = min(textual, len(found))
    if not found:
        return
    compiled = lsh.merge_found(found, textual)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(lsh, "_bandsearch", None)
        plain = lsh.merge_found(found, textual)
    for c, p in zip(compiled, plain):
        assert c.dtype == p.dtype and c.tolist() == p.tolist()


@settings(max_examples=300, deadline=None)
@given(sources=st.lists(st.lists(st.tuples(st.integers(0, 40), st.integers(1, 6)), max_size=30,
                                 unique_by=lambda t: t[0]), min_size=1, max_size=4),
       textual=st.integers(0, 4), exclude=st.one_of(st.none(), st.integers(0, 40)),
       story_keep=st.integers(1, 8), keep=st.integers(1, 12),
       hashes=st.lists(st.integers(0, 2**64 - 1), min_size=41, max_size=41),
       twins=st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)), max_size=3), ascending=st.booleans())
def test_ranked_candidates_are_numpys(sources, textual, exclude, story_keep, keep, hashes, twins, ascending):
    """Few distinct hits, so that cuts fall among ties; `twins` give some documents the same
    body hash, where only ids can decide (the compiled part then leaves it to numpy)."""
    from array import array

    if ascending:  # as queries answer
        sources = [sorted(s) for s in sources]

    for a, b in twins:
        hashes[b] = hashes[a]
    table = array("Q", hashes)
    found = [(np.array([d for d, _ in s], np.uint32), np.array([h for _, h in s], np.int64)) for s in sources]
    textual = min(textual, len(found))
    args = (found, textual, exclude, story_keep, keep, table, lambda node: f"id-{node * 7 % 41:02d}")
    compiled = lsh.rank_candidates(*args)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(lsh, "_bandsearch", None)
        plain = lsh.rank_candidates(*args)
    assert compiled == plain


def test_ranking_leaves_ties_of_equal_bodies_to_ids():
    from array import array

    found = [(np.array([1, 2, 3], np.uint32), np.array([5, 5, 5], np.int64))]
    distinct, twins = array("Q", [0, 30, 20, 10]), array("Q", [0, 30, 20, 20])
    assert lsh._bandsearch.rank_found([found[0][0]], [found[0][1]], 1, -1, 4, 2, distinct) is not None
    assert lsh._bandsearch.rank_found([found[0][0]], [found[0][1]], 1, -1, 4, 2, twins) is None
    id_of = {1: "c", 2: "b", 3: "a"}.get
    assert lsh.rank_candidates(found, 1, None, 4, 2, distinct, id_of) == ([3, 2], {1, 2, 3})
    assert lsh.rank_candidates(found, 1, None, 4, 2, twins, id_of) == ([2, 3], {1, 2, 3})
    assert lsh.rank_candidates(found, 1, None, 4, 1, twins, id_of) == ([3], {1, 2, 3})
    with pytest.raises(ValueError, match="no body hash"):
        lsh._bandsearch.rank_found([np.array([9], np.uint32)], [np.array([1], np.int64)], 1, -1, 4, 2, distinct)


@settings(max_examples=100, deadline=None)
@given(hashes=st.lists(st.integers(0, 2**64 - 1), min_size=60, max_size=60, unique=True),
       hits=st.lists(st.sampled_from([3, 3, 3, 7]), min_size=59, max_size=59), keep=st.integers(1, 40))
def test_many_ties_at_the_cut_are_broken_by_body_hash(hashes, hits, keep):
    """Dozens of candidates tied at the cut (the compiled sort's larger path)."""
    from array import array

    found = [(np.arange(1, 60, dtype=np.uint32), np.array(hits, np.int64))]
    ranked = lsh.rank_candidates(found, 1, None, 64, keep, array("Q", hashes), str)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(lsh, "_bandsearch", None)
        assert lsh.rank_candidates(found, 1, None, 64, keep, array("Q", hashes), str) == ranked


@settings(max_examples=300, deadline=None)
@given(shingles=st.lists(st.tuples(st.integers(0, 12), st.integers(0, 3), st.booleans()), max_size=40),
       dropped=st.lists(st.booleans(), min_size=4, max_size=4))
def test_a_body_without_blocks_is_numpys(shingles, dropped):
    """Kept shingles in order, their distinct set, and the own-words set with its fallback to
    all of them (mostly quoted bodies included: quotation flags are drawn per shingle)."""
    values = np.array([v for v, _, _ in shingles], np.uint64)
    doc = analysis.Document.__new__(analysis.Document)
    doc.shingles, doc.shingle_set = values, np.unique(values)
    doc.shingle_blocks = np.array([b for _, b, _ in shingles], np.int32)
    doc.shingle_quoted = np.array([q for _, _, q in shingles], bool)
    flags = np.array(dropped, bool)
    compiled = verify._without_blocks(doc, flags)
    with pytest.MonkeyPatch().context() as m:
        m.setattr(verify, "_setops", None)
        plain = verify._without_blocks(doc, flags)
    assert [part.tolist() for part in compiled] == [part.tolist() for part in plain]


def test_a_body_without_blocks_refuses_blocks_it_has_no_flag_for():
    with pytest.raises(ValueError, match="beyond"):
        verify._setops.without_blocks(np.ones(1, np.uint64), np.full(1, 4, np.int32), np.zeros(1, bool), np.zeros(4, bool))
    with pytest.raises(ValueError, match="must align"):
        verify._setops.without_blocks(np.ones(2, np.uint64), np.zeros(1, np.int32), np.zeros(2, bool), np.zeros(4, bool))


def test_screening_refuses_a_record_shorter_than_its_counts():
    from dedup.documents import Screening

    terms = np.arange(1, 4, dtype=np.uint64)
    fields = Screening(terms, np.ones(3, np.float32), 3.0 ** 0.5, terms)
    prefix = record.screening_prefix(fields)
    assert verify.worth_verifying(fields, [prefix], Config()).tolist() == [True]
    with pytest.raises(ValueError, match="shorter than its counts"):
        verify.worth_verifying(fields, [prefix[:-1]], Config())
    with pytest.raises(ValueError, match="shorter than its counts"):
        verify.worth_verifying(fields, [b"\0" * 15], Config())


def test_set_operations_refuse_values_that_are_not_64_bit():
    with pytest.raises(ValueError, match="64-bit"):
        verify._setops.common_positions(np.zeros(3, np.uint32), np.zeros(2, np.uint64))
    with pytest.raises(ValueError, match="64-bit"):
        verify._setops.positions_in(np.zeros(2, np.uint64), np.zeros(3, np.uint8))
    ones = np.ones(2, np.uint64)
    from dedup.documents import Screening

    good = Screening(ones, np.ones(2, np.float32), 1.0, ones)
    with pytest.raises(ValueError, match="float32"):
        verify._setops.screen(ones, np.ones(2, np.float64), 1.0, ones, [good], 0.3, 0.4, 8)
    with pytest.raises(ValueError, match="story_weights"):
        verify._setops.screen(ones, np.ones(2, np.float32), 1.0, ones,
                              [Screening(ones, np.ones(3, np.float32), 1.0, ones)], 0.3, 0.4, 8)
    with pytest.raises(AttributeError):
        verify._setops.screen(ones, np.ones(2, np.float32), 1.0, ones, [object()], 0.3, 0.4, 8)
    with pytest.raises(ValueError, match="float32 weight"):
        verify._setops.weighted_dot(ones, np.ones(2, np.float64), ones, np.ones(2, np.float32))
    with pytest.raises(ValueError, match="power of two"):
        verify._setops.specific_cosine(ones, np.ones(2, np.float32), ones, np.ones(2, np.float32), np.zeros(3, bool))


def test_an_engine_without_the_compiled_parts_gives_the_same_answers(seed_articles, topic_articles, monkeypatch):
    generated = generate(list(seed_articles.values()) + list(topic_articles.values()), seed=3)

    def answers() -> list:
        engine = Engine(Config())
        return [engine.add(article) for article in generated.articles]

    compiled = answers()
    monkeypatch.setattr(verify, "_setops", None)
    monkeypatch.setattr(lsh, "_bandsearch", None)
    for module in (analysis, segment, sketch, terms):
        monkeypatch.setattr(module, "_analysis", None)
    monkeypatch.setattr(normalise, "_ascii_layout", None)
    assert answers() == compiled
    assert any(r.matches for r in compiled) and len(compiled) >= 16


# Text made of what the tokenizer treats differently: ASCII words and digits, separators
# between digits, apostrophes, CJK, other scripts' letters and digits, characters that
# case-fold to several ("ß", "ﬁ"), sentence ends, and any other character.
_text = st.lists(
    st.one_of(
        st.sampled_from(["1", "23", "٣", ".", ",", ":", "/", "4.5", "6:7"]),
        st.sampled_from(["a", "Don", "'", "'t", "_", "é", "ß", "ﬁ", "İ", "\u0345", "²", "Ⅷ", "中", "한", "ぁ"]),
        st.sampled_from([" ", "\n", "!", "?", '"', "-"]),
        st.characters(max_codepoint=0x2FFFF),
    ),
    max_size=40,
).map("".join)


@settings(max_examples=2000, deadline=None)
@given(text=_text)
def test_tokens_are_the_regexs(text):
    words, starts, ends = segment.tokenize(text)
    keys, c_starts, c_ends = analysis._analysis.tokenize(text)
    assert keys == [token_key(w) for w in words]
    assert np.frombuffer(c_starts, np.int32).tolist() == starts
    assert np.frombuffer(c_ends, np.int32).tolist() == ends


@settings(max_examples=1000, deadline=None)
@given(text=st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=60) | st.sampled_from(["", " ", "a  b", "\t\x01 x`\r"]))
def test_ascii_layout_is_the_general_repair(text):
    compiled = normalise.repair(text)
    with pytest.MonkeyPatch().context() as m:
        m.setattr(normalise, "_ascii_layout", None)
        assert compiled == normalise.repair(text)


def test_ascii_layout_refuses_other_text():
    with pytest.raises(TypeError, match="ASCII str"):
        analysis._analysis.ascii_layout("caf\u00e9")
    with pytest.raises(TypeError, match="ASCII str"):
        analysis._analysis.ascii_layout(b"bytes")


@settings(max_examples=500, deadline=None)
@given(text=_text, data=st.data())
def test_body_arrays_are_numpys(text, data):
    keys, starts, ends = segment.folded_tokens(text)
    n = len(keys)
    # Blocks tile the tokens (some empty); the body is some of them; some tokens are quoted.
    cuts = sorted(data.draw(st.lists(st.integers(0, n), max_size=4)))
    bounds = np.array(list(zip([0] + cuts, cuts + [n])), np.int32).reshape(-1, 2)
    body_blocks = sorted(data.draw(st.sets(st.integers(0, len(bounds) - 1))))
    quoted = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)), bool)
    # Few distinct hashes, so that shingles repeat; the top of the range, so that overflow shows.
    token_hashes = np.array([data.draw(st.sampled_from([0, 1, 7, 2**64 - 1])) for _ in keys], np.uint64)
    analyzer = analysis.Analyzer(Config(shingle_size=data.draw(st.integers(1, 4)),
                                        min_passage_tokens=data.draw(st.integers(1, 4)),
                                        passage_tokens=data.draw(st.integers(2, 8))))
    compiled = analyzer._body(text, token_hashes, ends, bounds, body_blocks, quoted)
    with pytest.MonkeyPatch().context() as m:
        m.setattr(analysis, "_analysis", None)
        plain = analyzer._body(text, token_hashes, ends, bounds, body_blocks, quoted)
    for field, c, p in zip(plain._fields, compiled, plain):
        assert c.dtype == p.dtype and c.tolist() == p.tolist(), field


@settings(max_examples=300, deadline=None)
@given(groups=st.lists(st.lists(st.integers(0, 2**64 - 1), max_size=12), min_size=1, max_size=6),
       skip=st.integers(0, 3))
def test_minhash_is_numpys(groups, skip):
    sketcher = sketch.Sketcher(num_perm=16, seed=skip + 1)
    hashes = np.array([h for g in groups for h in g], np.uint64)
    # Empty groups included; values before the first start are ignored.
    starts = np.minimum(np.cumsum([0] + [len(g) for g in groups[:-1]]) + skip, len(hashes))
    compiled = sketcher.signatures(hashes, starts)
    with pytest.MonkeyPatch().context() as m:
        m.setattr(sketch, "_analysis", None)
        assert np.array_equal(sketcher.signatures(hashes, starts), compiled)


# Words of one term with different weights ("elect", "election"), so that the largest must win.
_WORDS = ["the", "census", "census's", "Census", "censuses", "1,912.65", "2020", "7", "putin", "said", "a", "don't",
          "spotify", "rappers", "rapper", "playlists", "elect", "elected", "election", "x"]


@settings(max_examples=200, deadline=None)
@given(blocks=st.lists(st.lists(st.sampled_from(_WORDS), max_size=12), max_size=9), data=st.data())
def test_token_terms_cohesion_and_story_terms_are_pythons(blocks, data):
    """The same token hashes, terms and weights; the same cohesion to the bit (summed in the
    order terms first occur); the same story terms and float32 weights."""
    keys = [[token_key(w) for w in block] for block in blocks]
    chosen = sorted(data.draw(st.sets(st.integers(0, max(0, len(keys) - 1)))))[: len(keys)]

    def answers() -> tuple:
        block_terms = terms.BlockTerms.of_blocks(terms.TermWeigher("en"), keys)
        tokens = terms.TermWeigher("en").tokens([k for block in keys for k in block])
        story, weights = block_terms.story_terms(chosen)
        return ([t.tolist() for t in tokens], block_terms.cohesion(chosen), story.dtype, story.tolist(),
                weights.dtype, weights.tolist())

    compiled = answers()
    with pytest.MonkeyPatch().context() as m:
        m.setattr(terms, "_analysis", None)
        assert answers() == compiled


def test_story_terms_keep_each_terms_largest_weight_in_first_occurrence_order():
    weigher = terms.TermWeigher("en")
    # "census" and "census's" are one term; "putin" is rarer than "said", which is no term.
    block_terms = terms.BlockTerms.of_blocks(weigher, [["census", "said", "putin", "census's"], ["2020", "census"]])
    census, putin, year = (weigher._compute(k)[0] for k in ("census", "putin", "2020"))
    assert list(block_terms.block(0)) == [census, putin]
    assert terms.BlockTerms.of_blocks(weigher, [["election", "elect", "elected"]]).block(0) == {
        weigher._compute("elect")[0]: weigher._compute("elect")[1]}
    story, weights = block_terms.story_terms([0, 1])
    assert story.tolist() == sorted([census, putin, year])
    assert dict(zip(story.tolist(), weights.tolist()))[year] == 2.0
    # With two blocks, no term can recur two places away.
    assert block_terms.cohesion([0, 1]) == [0.0, 0.0]


def test_cohesion_and_story_terms_refuse_arrays_that_do_not_fit():
    t, w = np.ones(3, np.uint64), np.ones(3, np.float64)
    with pytest.raises(ValueError, match="outside the tokens"):
        analysis._analysis.cohesion(t, w, np.array([[0, 4]], np.int32), [0])
    with pytest.raises(ValueError, match="out of range"):
        analysis._analysis.story_terms(t, w, np.array([[0, 3]], np.int32), [1])
    with pytest.raises(ValueError, match="different lengths"):
        analysis._analysis.story_terms(t, w[:2], np.array([[0, 2]], np.int32), [0])
    with pytest.raises(ValueError, match="8-byte"):
        analysis._analysis.cohesion(t, w.astype(np.float32), np.array([[0, 2]], np.int32), [0])


def test_token_entries_compute_once_and_respect_the_limit():
    calls = []

    def compute(key):
        calls.append(key)
        return bytes([len(key)]) * 24

    cache: dict = {"a": bytes(24)}
    hashes, term_hashes, weights = analysis._analysis.token_entries(cache, ["a", "bb", "bb", "ccc"], compute, 2)
    assert calls == ["bb", "ccc"] and set(cache) == {"a", "bb"}  # full after "bb": "ccc" is not kept
    assert np.frombuffer(hashes, np.uint8).tolist() == [0] * 8 + [2] * 16 + [3] * 8
    assert bytes(term_hashes) == bytes(hashes) and bytes(weights) == bytes(hashes)
    with pytest.raises(TypeError, match="24 bytes"):
        analysis._analysis.token_entries({}, ["k"], lambda key: b"short", 10)
    with pytest.raises(ZeroDivisionError):
        analysis._analysis.token_entries({}, ["k"], lambda key: 1 / 0, 10)


def test_analysis_loops_refuse_inconsistent_arrays():
    with pytest.raises(ValueError, match="starts must ascend"):
        analysis._analysis.minhash(np.zeros(3, np.uint32), np.array([2, 1], np.int64), np.ones(4, np.uint32),
                                   np.ones(4, np.uint32), np.zeros((2, 4), np.uint32))
    with pytest.raises(ValueError, match="one row per group"):
        analysis._analysis.minhash(np.zeros(3, np.uint32), np.array([0], np.int64), np.ones(4, np.uint32),
                                   np.ones(4, np.uint32), np.zeros((2, 4), np.uint32))
    hashes, ends, quoted = np.zeros(2, np.uint64), np.array([1, 3], np.int32), np.zeros(2, bool)
    with pytest.raises(ValueError, match="tile the tokens"):  # a gap between blocks
        analysis._analysis.body_features("a b", hashes, ends, np.array([[0, 1], [2, 2]], np.int32), [0], quoted, 2, 1, 2)
    with pytest.raises(ValueError, match="tile the tokens"):  # blocks beyond the tokens
        analysis._analysis.body_features("a b", hashes, ends, np.array([[0, 3]], np.int32), [0], quoted, 2, 1, 2)
    with pytest.raises(ValueError, match="ascending block numbers"):
        analysis._analysis.body_features("a b", hashes, ends, np.array([[0, 1], [1, 2]], np.int32), [1, 0], quoted, 2, 1, 2)
    with pytest.raises(ValueError, match="different lengths"):
        analysis._analysis.body_features("a b", hashes, ends, np.array([[0, 2]], np.int32), [0], quoted[:1], 2, 1, 2)
    with pytest.raises(TypeError):
        analysis._analysis.tokenize(b"bytes")
