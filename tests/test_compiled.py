"""The compiled parts (`dedup._setops`, `dedup._bandsearch`) answer exactly as the numpy code
they replace, which still runs where they could not be built."""
from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dedup.lsh as lsh
import dedup.verify as verify
from dedup.config import Config
from dedup.engine import Engine
from dedup.synthetic import generate

if verify._setops is None or lsh._bandsearch is None:
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


@settings(max_examples=200, deadline=None)
@given(base=_values, others=st.lists(_values, max_size=6), seed=st.integers(0, 2**32 - 1))
def test_overlaps_sum_as_numpy_would(base, others, seed):
    """`overlaps` is what `worth_verifying` sums: products in double precision, in each
    array's order (numpy's bincount adds in the same order, so the sums are equal, not close)."""
    rng = np.random.default_rng(seed)
    base = _set(base)
    arrays = [_set(o) for o in others]
    base_w = rng.random(len(base), dtype=np.float32)
    weights = [rng.random(len(a), dtype=np.float32) for a in arrays]
    dots = np.frombuffer(verify._setops.overlaps(base, base_w, arrays, weights), np.float64)
    counts = np.frombuffer(verify._setops.overlaps(base, None, arrays, None), np.float64)
    for a, w, dot, count in zip(arrays, weights, dots.tolist(), counts.tolist()):
        at = {v: i for i, v in enumerate(base.tolist())}
        expected = 0.0
        for v, x in zip(a.tolist(), w.tolist()):
            if v in at:
                expected += float(np.float64(x) * np.float64(base_w[at[v]]))
        assert dot == expected and count == sum(v in at for v in a.tolist())
    assert len(dots) == len(arrays)


@settings(max_examples=200, deadline=None)
@given(a=st.lists(st.integers(0, 12), max_size=60), b=st.lists(st.integers(0, 12), max_size=60))
def test_shared_runs_are_numpys(a, b):
    """Runs of `a` (in text order, with repeats) whose values `b` holds, and where in `b` each
    run's first value first occurs."""
    a, b = np.array(a, np.uint64), np.array(b, np.uint64)
    shared = np.intersect1d(a, b)
    lo, hi, b_first = (np.frombuffer(x, np.int64).tolist() for x in verify._setops.shared_runs(a, b, shared))
    runs, i = [], 0
    while i < len(a):
        if a[i] in shared:
            j = i
            while j + 1 < len(a) and a[j + 1] in shared:
                j += 1
            runs.append((i, j, int(np.flatnonzero(b == a[i])[0])))
            i = j + 1
        else:
            i += 1
    assert list(zip(lo, hi, b_first)) == runs


@settings(max_examples=200, deadline=None)
@given(sources=st.lists(st.lists(st.tuples(st.integers(0, 30), st.integers(1, 1 << 21)), max_size=20,
                                 unique_by=lambda t: t[0]), max_size=4),
       textual=st.integers(0, 4))
def test_merged_query_answers_are_numpys(sources, textual):
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


def test_set_operations_refuse_values_that_are_not_64_bit():
    with pytest.raises(ValueError, match="64-bit"):
        verify._setops.common_positions(np.zeros(3, np.uint32), np.zeros(2, np.uint64))
    with pytest.raises(ValueError, match="64-bit"):
        verify._setops.positions_in(np.zeros(2, np.uint64), np.zeros(3, np.uint8))
    ones = np.ones(2, np.uint64)
    with pytest.raises(ValueError, match="float32"):
        verify._setops.overlaps(ones, np.ones(2, np.float64), [ones], [np.ones(2, np.float32)])
    with pytest.raises(ValueError, match="float32"):
        verify._setops.overlaps(ones, np.ones(2, np.float32), [ones], [np.ones(3, np.float32)])
    with pytest.raises(ValueError, match="both weights"):
        verify._setops.overlaps(ones, None, [ones], [np.ones(2, np.float32)])


def test_an_engine_without_the_compiled_parts_gives_the_same_answers(seed_articles, topic_articles, monkeypatch):
    generated = generate(list(seed_articles.values()) + list(topic_articles.values()), seed=3)

    def answers() -> list:
        engine = Engine(Config())
        return [engine.add(article) for article in generated.articles]

    compiled = answers()
    monkeypatch.setattr(verify, "_setops", None)
    monkeypatch.setattr(lsh, "_bandsearch", None)
    assert answers() == compiled
    assert any(r.matches for r in compiled) and len(compiled) >= 16
