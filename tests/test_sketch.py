"""Sketches and LSH parameters are datasketch's: same signatures, same banding."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from datasketch import LeanMinHash, MinHash, MinHashLSH
from datasketch.lsh import _optimal_param

from dedup.analysis import Analyzer
from dedup.config import Config
from dedup.lsh import _DEFAULT_PARAMS, BandIndex, band_keys, lsh_params
from dedup.segment import tokenize
from dedup.normalise import token_key
from dedup.sketch import SCHEME, Sketcher, permutations, shingle_hash32


@pytest.mark.parametrize("num_perm,seed", [(128, 1), (64, 42)])
def test_signature_equals_datasketch_minhash(seed_articles, num_perm, seed):
    config = Config(num_perm=num_perm, seed=seed)
    doc = Analyzer(config).analyse(seed_articles["002"])
    words = [token_key(w) for w in tokenize(doc.text)[0]]
    body = [words[i] for i in doc.body_tokens.tolist()]
    k = config.shingle_size
    shingles = [body[i:i + k] for i in range(len(body) - k + 1)]

    reference = MinHash(num_perm=num_perm, seed=seed, scheme=SCHEME, hashfunc=shingle_hash32)
    reference.update_batch(shingles)
    expected = LeanMinHash(reference)

    ours = Sketcher(num_perm, seed).lean_minhash(doc.signature)
    assert np.array_equal(ours.hashvalues, expected.hashvalues)
    assert ours == expected
    assert ours.jaccard(expected) == 1.0


def test_many_signatures_in_one_call_equal_one_at_a_time():
    sketcher = Sketcher(128, 1)
    rng = np.random.default_rng(3)
    groups = [rng.integers(0, 2**63, size=n, dtype=np.uint64) for n in (5, 0, 9000, 1, 300)]
    starts = np.cumsum([0] + [len(g) for g in groups[:-1]])
    batch = sketcher.signatures(np.concatenate(groups), starts)
    for group, row in zip(groups, batch):
        assert np.array_equal(row, sketcher.signature(group))
    assert (batch[1] == 0xFFFFFFFF).all()  # the empty set, as datasketch represents it


@pytest.mark.parametrize("threshold", [0.15, 0.3, 0.5, 0.8])
def test_banding_parameters_are_datasketchs(threshold):
    lsh = MinHashLSH(threshold=threshold, num_perm=128)
    assert lsh_params(threshold, 128) == (lsh.b, lsh.r)


def test_banding_parameters_kept_for_the_defaults_are_datasketchs():
    # Kept so that analysing does not import datasketch and scipy (most of a second).
    config = Config()
    thresholds = {config.doc_lsh_threshold, config.passage_lsh_threshold, config.story_lsh_threshold}
    assert set(_DEFAULT_PARAMS) == {(t, config.num_perm) for t in thresholds}
    for (threshold, num_perm), params in _DEFAULT_PARAMS.items():
        assert params == _optimal_param(threshold, num_perm, 0.5, 0.5)


@pytest.mark.parametrize("num_perm,seed", [(128, 1), (64, 42), (16, 0), (1024, 2**32 - 1)])
def test_permutations_are_datasketchs(num_perm, seed):
    a, b = MinHash(num_perm=num_perm, seed=seed, scheme=SCHEME).permutations
    ours = permutations(num_perm, seed)
    assert ours[0].dtype == a.dtype == np.uint32 and ours[1].dtype == b.dtype
    assert np.array_equal(ours[0], a) and np.array_equal(ours[1], b)


def test_analysing_with_the_defaults_does_not_import_datasketch():
    code = ("import sys; from dedup.analysis import Analyzer; from dedup.article import Article; "
            "from dedup.engine import Engine; import dedup.batch, dedup.cli; "
            "Engine().add(Article(id='a', text='Some words of one article, long enough to be a body.')); "
            "print(sorted(m for m in ('datasketch', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.usefixtures("band_search")
def test_band_index_finds_what_datasketch_lsh_finds():
    sketcher = Sketcher(128, 1)
    rng = np.random.default_rng(5)
    base = rng.integers(0, 2**63, size=400, dtype=np.uint64)
    sets = [base, np.concatenate([base[:300], rng.integers(0, 2**63, 100, dtype=np.uint64)]),
            rng.integers(0, 2**63, size=400, dtype=np.uint64)]
    bands, rows = lsh_params(0.5, 128)
    lsh = MinHashLSH(threshold=0.5, num_perm=128)
    index = BandIndex()
    for i, s in enumerate(sets):
        sig = sketcher.signature(s)
        lsh.insert(str(i), sketcher.lean_minhash(sig))
        index.add(i, band_keys(sig, bands, rows)[0])
    query = sketcher.signature(base)
    expected = {int(k) for k in lsh.query(sketcher.lean_minhash(query))}
    found, _ = index.query(band_keys(query, bands, rows)[0])
    assert set(found.tolist()) == expected == {0, 1}


def _spread(keys) -> np.ndarray:
    """Small numbers as the well-mixed 64-bit keys `band_keys` gives (a bijection: multiplying
    by an odd constant), so their top bits, which the index keeps, differ."""
    with np.errstate(over="ignore"):
        return np.asarray(keys, np.uint64) * np.uint64(0x9E3779B97F4A7C15)


@pytest.fixture(params=["compiled", "numpy"])
def band_search(request, monkeypatch):
    """Run a band-index test with the compiled query and insert, then with numpy's."""
    import dedup.lsh as lsh

    if request.param == "numpy":
        monkeypatch.setattr(lsh, "_bandsearch", None)
    elif lsh._bandsearch is None:
        if os.environ.get("DEDUP_REQUIRE_COMPILED"):
            pytest.fail("dedup._bandsearch was not built, and DEDUP_REQUIRE_COMPILED is set (as in CI)")
        pytest.skip("dedup._bandsearch was not built (no C compiler at install time)")
    else:  # levels of these small indexes get directories too
        monkeypatch.setattr(lsh, "_DIRECTORY_MIN", 8)
        monkeypatch.setattr(lsh, "_DIRECTORY_SPAN", 2)
    return request.param


def _add_at_random(index, plain, removed, rng, doc, keys_below, removals) -> None:
    """Index `doc` under a few random (often shared) keys, in `index` and in the `plain` dict;
    then, with probability `removals`, remove a random document so far."""
    keys = rng.integers(0, keys_below, size=rng.integers(1, 12)).astype(np.uint64)
    index.add(doc, _spread(keys))
    for k in set(keys.tolist()):  # a key given twice is indexed once
        plain.setdefault(k, []).append(doc)
    if rng.random() < removals:
        gone = int(rng.integers(0, doc + 1))
        index.remove(gone)
        removed.add(gone)


def _assert_answers_as_plain(index, plain, removed, query) -> None:
    expected: dict[int, int] = {}
    for k in set(query.tolist()):  # and counts once in a query
        for d in plain.get(k, ()):
            if d not in removed:
                expected[d] = expected.get(d, 0) + 1
    found, counts = index.query(_spread(query))
    assert dict(zip(found.tolist(), counts.tolist())) == expected
    for k, docs in zip(query.tolist(), index.buckets(_spread(query))):
        assert docs.tolist() == sorted(d for d in plain.get(k, ()) if d not in removed)
    assert index.bucket_sizes(_spread(query)).tolist() == [
        sum(d not in removed for d in plain.get(k, ())) for k in query.tolist()]


@pytest.mark.usefixtures("band_search")
def test_the_band_index_answers_as_a_plain_dict_through_flushes_merges_and_removals(monkeypatch):
    """Small buffer and levels, so a few hundred documents go through every part of the layout."""
    import dedup.lsh as lsh

    monkeypatch.setattr(lsh, "_RECENT_ENTRIES", 64)
    monkeypatch.setattr(lsh, "_REMOVED_BEFORE_COMPACTION", 7)
    rng = np.random.default_rng(11)
    index, plain, removed = BandIndex(), {}, set()
    for doc in range(600):
        _add_at_random(index, plain, removed, rng, doc, keys_below=400, removals=0.1)
        # Queries of 8 and of 37 keys: the compiled search takes a large level's keys in groups of 16.
        size = 8 if doc % 2 else 37
        _assert_answers_as_plain(index, plain, removed, rng.integers(0, 400, size=size).astype(np.uint64))
    assert len(index._levels) >= 2
    packed = [d is not None for d in index._directories]
    assert all(packed) if lsh._bandsearch is not None else not any(packed)


@pytest.mark.usefixtures("band_search")
def test_large_and_concurrent_searches_answer_as_a_plain_dict(monkeypatch):
    """A search whose working arrays are larger than the compiled search keeps for reuse
    (1 MB), and searches from several threads at once (each reuses its own), answer as the
    plain dict does."""
    import threading

    import dedup.lsh as lsh

    monkeypatch.setattr(lsh, "_RECENT_ENTRIES", 64)
    rng = np.random.default_rng(3)
    index, plain, removed = BandIndex(), {}, set()
    for doc in range(400):
        _add_at_random(index, plain, removed, rng, doc, keys_below=300, removals=0.0)
    # 150,000 keys, each looked up on its own in every level: megabytes of bounds.
    many = rng.integers(0, 300, size=150_000).astype(np.uint64)
    assert index.bucket_sizes(_spread(many)).tolist() == [len(plain.get(k, ())) for k in many.tolist()]
    failures = []

    def search(seed: int) -> None:
        local = np.random.default_rng(seed)
        try:
            for _ in range(40):
                _assert_answers_as_plain(index, plain, removed, local.integers(0, 300, size=30).astype(np.uint64))
        except AssertionError as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=search, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures


@pytest.mark.usefixtures("band_search")
def test_queries_during_background_merges_and_pickles_of_them_answer_as_a_plain_dict(monkeypatch):
    """Every merge of more than 300 entries runs on a thread that takes 20 ms, so most queries
    meet one in flight: its inputs must still answer, and a pickle taken then must hold them."""
    import pickle
    import time

    import dedup.lsh as lsh

    monkeypatch.setattr(lsh, "_RECENT_ENTRIES", 64)
    monkeypatch.setattr(lsh, "_BACKGROUND_ENTRIES", 300)
    monkeypatch.setattr(lsh, "_REMOVED_BEFORE_COMPACTION", 9)
    merged = lsh._merged
    monkeypatch.setattr(lsh, "_merged", lambda levels: (time.sleep(0.02), merged(levels))[1]
                        if sum(lsh._length(*level) for level in levels) > 300 else merged(levels))
    rng = np.random.default_rng(5)
    index, plain, removed = BandIndex(), {}, set()
    during = pickled = 0
    for doc in range(900):
        _add_at_random(index, plain, removed, rng, doc, keys_below=500, removals=0.05)
        during += index._merge is not None
        searched = index
        if index._merge is not None and rng.random() < 0.1:
            searched = pickle.loads(pickle.dumps(index))
            assert searched._merge is None and len(searched) == len(index)
            pickled += 1
        _assert_answers_as_plain(searched, plain, removed, rng.integers(0, 500, size=8).astype(np.uint64))
    assert during > 100 and pickled > 5
    index.wait()
    assert index._merge is None and not len(index._sealed)


@pytest.mark.usefixtures("band_search")
def test_the_band_index_ignores_buckets_over_the_limit_and_handles_the_largest_key(monkeypatch):
    import dedup.lsh as lsh

    monkeypatch.setattr(lsh, "_RECENT_ENTRIES", 16)
    top = np.iinfo(np.uint64).max
    index = BandIndex()
    for doc in range(40):  # key 1 is in every document, key 2 in every fourth, `top` in every tenth
        keys = _spread([1, 1000 + doc] + ([2] if doc % 4 == 0 else [])).tolist() + ([top] if doc % 10 == 0 else [])
        index.add(doc, np.array(keys, np.uint64))
    query = np.array([top, *_spread([1, 2, 1005]).tolist()], np.uint64)
    found, counts = index.query(query, max_bucket=10)
    assert dict(zip(found.tolist(), counts.tolist())) == {0: 2, 4: 1, 5: 1, 8: 1, 10: 1, 12: 1, 16: 1, 20: 2,
                                                          24: 1, 28: 1, 30: 1, 32: 1, 36: 1}
    found, counts = index.query(query)
    assert len(found) == 40 and counts[0] == 3 and counts[5] == 2 and counts[1] == 1


@pytest.mark.usefixtures("band_search")
def test_the_band_index_refuses_document_numbers_it_cannot_pack():
    import dedup.lsh as lsh

    index = BandIndex()
    index.add(lsh.MAX_DOCUMENTS - 1, _spread([5]))
    with pytest.raises(ValueError, match="document numbers below"):
        index.add(lsh.MAX_DOCUMENTS, _spread([6]))
    found, _ = index.query(_spread([5, 6]))
    assert found.tolist() == [lsh.MAX_DOCUMENTS - 1]  # the refused document left nothing behind


def test_large_levels_pack_into_fewer_bytes_and_unpack_to_the_same_entries():
    """A level of a million entries keeps 48 bits an entry under its directory; compiled and
    numpy unpacking give back every entry, and a merge of packed and plain levels is sorted."""
    from dedup import lsh

    if lsh._bandsearch is None:
        pytest.skip("dedup._bandsearch was not built")
    rng = np.random.default_rng(3)
    entries = np.sort(rng.integers(0, 2**64, size=1_000_000, dtype=np.uint64))
    entries[10:20] = entries[10]  # a bucket of equal entries
    entries[-5:] = np.iinfo(np.uint64).max  # the largest entry, in the last slot
    level, directory = lsh._merged([(entries, None)])
    assert directory is not None and (level.nbytes + directory.nbytes) / len(entries) < 6.3  # 48 bits + directory
    assert lsh._length(level, directory) == len(entries)
    unpacked, none = lsh._bandsearch.merge([(level, directory)], 0, lsh._DOC_BITS)
    assert none is None and np.array_equal(np.frombuffer(unpacked, np.uint64), entries)
    assert np.array_equal(lsh._unpacked(level, directory), entries)
    more = np.sort(rng.integers(0, 2**64, size=5_000, dtype=np.uint64))
    both, directory = lsh._merged([(more, None), (level, directory)])
    assert np.array_equal(lsh._unpacked(both, directory), np.sort(np.concatenate([entries, more])))


def test_a_level_of_one_span_of_documents_stores_only_the_bits_that_span_needs():
    """Entries of documents 500,000 to 501,023 (10 bits of difference, not 28) under keys
    spread over all 36 bits: 18 fewer bits an entry; both unpackings and queries agree."""
    from dedup import lsh

    if lsh._bandsearch is None:
        pytest.skip("dedup._bandsearch was not built")
    rng = np.random.default_rng(4)
    keys = rng.integers(0, 2**64, size=200_000, dtype=np.uint64) & lsh._KEY_MASK
    docs = rng.integers(500_000, 501_024, size=len(keys), dtype=np.uint64)
    docs[:2] = 500_000, 501_023
    entries = np.sort(keys | docs)
    level, directory = lsh._merged([(entries, None)])
    wide, _ = lsh._merged([(np.sort(keys | rng.integers(0, 2**28, size=len(keys), dtype=np.uint64)), None)])
    assert len(wide) - len(level) == pytest.approx(len(entries) * 18 / 8, abs=2)
    assert np.array_equal(lsh._unpacked(level, directory), entries)
    unpacked, _ = lsh._bandsearch.merge([(level, directory)], 0, lsh._DOC_BITS)
    assert np.array_equal(np.frombuffer(unpacked, np.uint64), entries)
    probe = np.unique(keys[:300])
    found, counts = lsh._bandsearch.query([level], [directory], probe, int(lsh._KEY_STEP), int(lsh._KEY_MASK),
                                          int(lsh._DOC_MASK), -1)
    expected = np.unique(entries[np.isin(entries & lsh._KEY_MASK, probe)] & lsh._DOC_MASK, return_counts=True)
    assert np.frombuffer(found, np.uint32).tolist() == expected[0].tolist()
    assert np.frombuffer(counts, np.int64).tolist() == expected[1].tolist()
    older = np.sort(rng.integers(0, 2**64, size=1000, dtype=np.uint64) & lsh._KEY_MASK | np.uint64(7))
    both, directory = lsh._merged([(older, None), (level, directory)])  # widened to documents 7 and up
    assert np.array_equal(lsh._unpacked(both, directory), np.sort(np.concatenate([entries, older])))


def test_a_common_key_in_a_packed_level_is_found_whole_and_dropped_over_the_limit():
    """A story band shared by thousands of articles lies in one directory slot of a packed
    level: its bucket is found whole (end searched by doubling steps, not entry by entry)."""
    from dedup import lsh

    if lsh._bandsearch is None:
        pytest.skip("dedup._bandsearch was not built")
    rng = np.random.default_rng(5)
    keys = rng.integers(0, 2**64, size=100_000, dtype=np.uint64) & lsh._KEY_MASK
    hot = keys[0]
    keys[:5_000] = hot
    entries = np.sort(keys | rng.permutation(len(keys)).astype(np.uint64))
    level, directory = lsh._merged([(entries, None)])
    assert directory is not None
    masks = int(lsh._KEY_STEP), int(lsh._KEY_MASK), int(lsh._DOC_MASK)
    probe = np.sort(np.array([hot, keys[7_000], keys[9_000]], np.uint64))
    holders = np.sort(entries[(entries & lsh._KEY_MASK) == hot] & lsh._DOC_MASK)
    others = sorted((entries[np.isin(entries & lsh._KEY_MASK, probe[probe != hot])] & lsh._DOC_MASK).tolist())
    found, _ = lsh._bandsearch.query([level], [directory], probe, *masks, -1)
    assert np.frombuffer(found, np.uint32).tolist() == sorted(holders.tolist() + others)
    found, _ = lsh._bandsearch.query([level], [directory], probe, *masks, 64)
    assert np.frombuffer(found, np.uint32).tolist() == others
    docs, sizes = lsh._bandsearch.buckets([level], [directory], probe, *masks, -1)
    per_key = np.split(np.frombuffer(docs, np.uint32), np.cumsum(np.frombuffer(sizes, np.int64))[:-1])
    for key, got in zip(probe.tolist(), per_key):
        assert got.tolist() == sorted((entries[(entries & lsh._KEY_MASK) == key] & lsh._DOC_MASK).tolist())
    assert sorted(map(len, per_key)) == [1, 1, 5_000]


def test_an_index_with_packed_levels_loads_and_answers_without_the_compiled_part(monkeypatch):
    """A snapshot written where the C part was built opens where it was not (unpacked)."""
    import pickle

    from dedup import lsh

    if lsh._bandsearch is None:
        pytest.skip("dedup._bandsearch was not built")
    monkeypatch.setattr(lsh, "_RECENT_ENTRIES", 64)
    monkeypatch.setattr(lsh, "_DIRECTORY_MIN", 8)
    rng = np.random.default_rng(2)
    index, plain, removed = BandIndex(), {}, set()
    for doc in range(300):
        _add_at_random(index, plain, removed, rng, doc, keys_below=300, removals=0.02)
    assert any(d is not None for d in index._directories)
    saved = pickle.dumps(index)
    monkeypatch.setattr(lsh, "_bandsearch", None)
    loaded = pickle.loads(saved)
    assert all(d is None for d in loaded._directories) and len(loaded) == len(index)
    _assert_answers_as_plain(loaded, plain, removed, np.arange(300, dtype=np.uint64))


def test_a_damaged_packed_level_is_refused():
    from dedup import lsh

    level, directory = lsh._merged([(np.sort(_spread(np.arange(100_000))), None)])
    if directory is None:
        pytest.skip("dedup._bandsearch was not built")
    lsh._check_packed(level, directory)
    far = level.copy()
    far[:4] = 255  # the header's smallest document number: beyond what an index numbers
    for bad_level, bad_directory in ((level[:-20], directory), (level, directory[1:]), (far, directory),
                                     (level, np.concatenate([directory[:5], directory[5:][::-1]]))):
        with pytest.raises(ValueError, match="does not match"):
            lsh._check_packed(bad_level, bad_directory)


def test_the_compiled_band_search_refuses_arrays_that_are_not_64_bit():
    from dedup import lsh

    if lsh._bandsearch is None:
        pytest.skip("dedup._bandsearch was not built")
    with pytest.raises(ValueError, match="64-bit"):
        lsh._bandsearch.query([np.zeros(3, np.uint32)], [None], np.zeros(2, np.uint64), 1, 2, 3, -1)
    with pytest.raises(ValueError, match="one directory"):
        lsh._bandsearch.query([np.zeros(3, np.uint64)], [], np.zeros(2, np.uint64), 1, 2, 3, -1)
    with pytest.raises(ValueError, match="2\\*\\*bits"):
        lsh._bandsearch.query([np.zeros(3, np.uint64)], [bytearray(16)], np.zeros(2, np.uint64), 1, 2, 3, -1)
    masks = int(lsh._KEY_STEP), int(lsh._KEY_MASK), int(lsh._DOC_MASK)
    level, directory = lsh._bandsearch.merge([(np.arange(100, dtype=np.uint64), None)], 8, 28)
    with pytest.raises(ValueError, match="does not match"):
        lsh._bandsearch.query([level[:-20]], [directory], np.zeros(2, np.uint64), *masks, -1)
    with pytest.raises(ValueError, match="does not match"):  # its documents need more than 4 bits
        lsh._bandsearch.query([level], [directory], np.zeros(2, np.uint64), 16, 2**64 - 16, 15, -1)
    with pytest.raises(ValueError, match="doc_mask must be"):
        lsh._bandsearch.query([level], [directory], np.zeros(2, np.uint64), 1, 2, 5, -1)
    with pytest.raises(ValueError, match="bits must be"):
        lsh._bandsearch.merge([(np.arange(100, dtype=np.uint64), None)], 4, 28)
    with pytest.raises(ValueError, match="doc_bits must be"):
        lsh._bandsearch.merge([(np.arange(100, dtype=np.uint64), None)], 8, 0)
    with pytest.raises(ValueError, match="64-bit"):
        lsh._bandsearch.insert(np.zeros(2, np.uint64), 0, np.zeros(3, np.uint8), 1, 2)
    with pytest.raises(ValueError, match="cannot take 3 more after 1"):
        lsh._bandsearch.insert(np.zeros(3, np.uint64), 1, np.zeros(3, np.uint64), 1, 2)
    with pytest.raises(TypeError):  # a read-only buffer
        lsh._bandsearch.insert(bytes(32), 0, np.zeros(3, np.uint64), 1, 2)


def test_an_insert_merges_in_place_and_keeps_one_entry_per_distinct_key():
    from dedup import lsh

    if lsh._bandsearch is None:
        pytest.skip("dedup._bandsearch was not built")
    buffer = np.full(8, 99, np.uint64)
    buffer[:3] = [16, 32, 48]
    count = lsh._bandsearch.insert(buffer, 3, np.array([40, 16, 40, 0], np.uint64), 2**64 - 16, 5)
    assert count == 6 and buffer[:count].tolist() == [5, 16, 21, 32, 37, 48] and buffer[6:].tolist() == [99, 99]


@pytest.mark.parametrize("pattern", ["random", "ascending", "descending", "equal", "organ pipe", "sawtooth", "few"])
def test_inserts_and_queries_sort_many_keys_of_any_pattern(pattern):
    """The compiled sort behind inserts and queries, on the orders that trouble quicksorts."""
    from dedup import lsh

    if lsh._bandsearch is None:
        pytest.skip("dedup._bandsearch was not built")
    n = 3000
    base = {"random": np.random.default_rng(5).integers(0, 2**40, n), "ascending": np.arange(n),
            "descending": np.arange(n)[::-1], "equal": np.full(n, 7), "organ pipe": np.r_[np.arange(n // 2), np.arange(n // 2)[::-1]],
            "sawtooth": np.arange(n) % 37, "few": np.arange(n) % 3}[pattern]
    keys = _spread(base)
    buffer = np.zeros(n, np.uint64)
    count = lsh._bandsearch.insert(buffer, 0, keys, int(lsh._KEY_MASK), 3)
    expected = np.unique((keys & lsh._KEY_MASK) | np.uint64(3))
    assert buffer[:count].tolist() == expected.tolist()
    found, hits = lsh._bandsearch.query([buffer[:count]], [None], keys, int(lsh._KEY_STEP), int(lsh._KEY_MASK),
                                        int(lsh._DOC_MASK), -1)
    assert np.frombuffer(found, np.uint32).tolist() == [3] and np.frombuffer(hits, np.int64).tolist() == [count]


@pytest.mark.parametrize("bits", [8, 12])
def test_a_level_directory_points_at_the_first_entry_of_each_top_bits_value(bits):
    from dedup import lsh

    if lsh._bandsearch is None:
        pytest.skip("dedup._bandsearch was not built")
    rng = np.random.default_rng(bits)
    level = np.sort(rng.integers(0, 2**64 - 1, size=3000, dtype=np.uint64, endpoint=True))
    level[:5] = 0  # the first bucket holds entries; some buckets are empty for 12 bits
    _, directory = lsh._bandsearch.merge([(level, None)], bits, lsh._DOC_BITS)
    firsts = np.searchsorted(level >> np.uint64(64 - bits), np.arange(2**bits + 1, dtype=np.uint64))
    assert np.frombuffer(directory, np.uint32).tolist() == firsts.tolist()
