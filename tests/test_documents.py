"""Spilled documents: read back unchanged, same answers as in RAM, reopened from snapshots."""
from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from dedup import record, verify
from dedup.config import Config
from dedup.documents import DocumentTable, SpilledTable
from dedup.engine import Engine
from dedup.index import Index
from dedup.snapshot import snapshot_bytes
from tests.conftest import syndicated_corpus


def _same_document(a, b) -> bool:
    for name, value in vars(a).items():
        if name.startswith("_"):
            continue  # caches
        other = getattr(b, name)
        if isinstance(value, np.ndarray):
            if value.dtype != other.dtype or not np.array_equal(value, other):
                return False
        elif value != other:
            return False
    return True


def test_a_spilled_document_reads_back_unchanged_and_read_only(tmp_path, seed_articles):
    docs = Engine().analyse(list(seed_articles.values()))
    table = DocumentTable()
    for doc in docs:
        table.append(doc)
    spilled = SpilledTable.spill(table, tmp_path / "docs.spill", cache_size=1)
    for node, doc in enumerate(docs):
        back = spilled[node]
        assert back is not doc and _same_document(back, doc)
        assert not back.shingle_set.flags.writeable
    assert spilled.info(3).id == docs[3].id and spilled.info(3).body_chars == docs[3].body_chars
    spilled.close()
    assert not (tmp_path / "docs.spill").exists()


def test_a_pickled_document_is_its_record_and_loads_unchanged_into_arrays_of_its_own(seed_articles):
    for doc in Engine().analyse(list(seed_articles.values())):
        data = pickle.dumps(doc)  # as a worker process returns its analysis
        assert record.encode(doc) in data
        back = pickle.loads(data)
        assert back is not doc and _same_document(back, doc)
        # Not views into the record, which would keep it (and a second copy of the text) alive:
        # into copies of the parts that hold arrays.
        for name in ("story_terms", "shingles", "passage_band_keys", "token_starts"):
            holder = getattr(back, name)
            while isinstance(holder, np.ndarray):
                holder = holder.base
            assert isinstance(holder, bytes) and doc.text.encode() not in holder
            assert len(holder) < len(record.encode(doc)) - len(doc.text)


def test_screening_reads_only_its_own_file_and_keeps_the_cache(tmp_path, seed_articles):
    docs = Engine().analyse(list(seed_articles.values()))
    table = DocumentTable()
    for doc in docs:
        table.append(doc)
    table.remove(1)
    spilled = SpilledTable.spill(table, tmp_path / "docs.spill", cache_size=2)
    cached = spilled[4]
    os.pwrite(spilled.fd, bytes(spilled._end), 0)  # the documents file says nothing now
    for node, doc in enumerate(docs):
        if node == 1:
            with pytest.raises(KeyError):
                spilled.screening(node)
            continue
        view = spilled.screening(node)
        for name in ("story_terms", "story_weights", "shingle_set"):
            assert np.array_equal(getattr(view, name), getattr(doc, name))
        assert view.story_norm == doc.story_norm
    assert spilled.screening(4) is cached  # a cached document is its own screening
    # What screening reads: the screening file's prefix, or for the cached node 4 the record
    # it was decoded from (which starts with that prefix); the same decisions either way.
    records = spilled.screening_records([0, 2, 3, 4])
    assert records[0] == record.screening_prefix(docs[0])
    assert records[3] is record.screening_record(cached) and records[3].startswith(record.screening_prefix(docs[4]))
    fields = [docs[0], docs[2], docs[3], docs[4]]
    assert verify.worth_verifying(docs[2], records, Config()).tolist() == \
        verify.worth_verifying(docs[2], fields, Config()).tolist()
    assert list(spilled._cache) == [4]  # screening decoded nothing into the cache
    assert table.screening(2) is docs[2]  # in RAM: the document itself
    # A document decoded from a record (as one from an analysis worker is) is screened from
    # the record's bytes, which its screening arrays are views into.
    decoded = pickle.loads(pickle.dumps(docs[3]))
    assert record.screening_record(decoded) == record.screening_prefix(docs[3])
    assert decoded.story_terms.base is record.screening_record(decoded)
    assert record.screening_record(docs[3]) is docs[3]
    spilled.close()
    assert list(tmp_path.iterdir()) == []  # scratch files, both removed


def test_screening_reads_the_right_prefix_after_a_reopen_and_later_appends(tmp_path, seed_articles):
    docs = Engine().analyse(list(seed_articles.values()))
    spilled = SpilledTable(tmp_path / "docs.spill", cache_size=1, durable=True)
    for doc in docs[:3]:
        spilled.append(doc)
    reference = pickle.loads(pickle.dumps(spilled))
    spilled.append(docs[3])  # past the snapshot: cut off by the reopen, replayed from the log
    spilled.close()
    reopened = reference.reopen(tmp_path, tmp_path / "again.spill", cache_size=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.screening", "again.spill"]
    for doc in docs[3:]:
        reopened.append(doc)
    reopened._cache.clear()
    for node, doc in enumerate(docs):
        assert np.array_equal(reopened.screening(node).shingle_set, doc.shingle_set)
        assert _same_document(reopened[node], doc)
    reopened.close()


def test_removed_documents_stay_removed_through_spilling_and_snapshots(tmp_path, seed_articles):
    docs = Engine().analyse(list(seed_articles.values()))
    table = DocumentTable()
    for doc in docs:
        table.append(doc)
    table.remove(1)
    spilled = SpilledTable.spill(table, tmp_path / "docs.spill", cache_size=1, durable=True)
    spilled.remove(3)
    reopened = pickle.loads(pickle.dumps(spilled)).reopen(tmp_path, tmp_path / "again.spill", cache_size=1)
    for table_ in (spilled, reopened):
        for node, doc in enumerate(docs):
            if node in (1, 3):
                with pytest.raises(KeyError):
                    table_[node]
            else:
                assert _same_document(table_[node], doc)
        assert [table_.info(n) is None for n in range(len(docs))] == [n in (1, 3) for n in range(len(docs))]
        assert table_.live_ids() == [d.id for n, d in enumerate(docs) if n not in (1, 3)]
        info = table_.info(4)
        assert (info.id, info.published_at, info.body_hash, info.body_chars) == (
            docs[4].id, docs[4].published_at, docs[4].body_hash, docs[4].body_chars)
        assert table_.body_chars(4) == docs[4].body_chars
    reopened.close()


def test_an_engine_with_spilled_documents_answers_as_one_in_ram(tmp_path, seed_articles, topic_articles):
    articles, _ = syndicated_corpus(list(seed_articles.values()) + list(topic_articles.values()))
    in_ram, spilled = Engine(), Engine()
    spilled.spill_documents(tmp_path / "docs.spill")
    spilled._docs._cache_size = 2  # every verification reads the file
    docs = in_ram.analyse(articles)
    for doc in docs:
        assert in_ram.add_document(doc) == spilled.add_document(doc)
    spilled.delete(articles[0].id), in_ram.delete(articles[0].id)
    assert [in_ram.get(a.id) for a in articles[1:]] == [spilled.get(a.id) for a in articles[1:]]


def test_a_pickled_engine_carries_its_spilled_documents(tmp_path, seed_articles):
    engine = Engine()
    engine.spill_documents(tmp_path / "docs.spill")
    for article in seed_articles.values():
        engine.add(article)
    before = engine.get("004")
    copy = pickle.loads(pickle.dumps(engine))
    engine.close()  # removes the file: the copy must not need it
    assert copy.get("004") == before
    assert copy.relation_to("004", "000").relation == "version"


def test_the_index_spills_to_its_data_directory_and_clears_crashed_processes_files(tmp_path, seed_articles):
    stale = [tmp_path / "documents.999999.spill", tmp_path / "documents.999999.screening"]
    tmp_path.mkdir(exist_ok=True)
    for path in stale:
        path.write_bytes(b"left by a crashed server")
    index = Index.open(str(tmp_path))
    assert not any(path.exists() for path in stale)
    assert len(list(tmp_path.glob("*.screening"))) == 1
    index.add(seed_articles["000"])
    index.add(seed_articles["004"])
    assert len(list(tmp_path.glob("*.spill"))) == 1
    assert index.engine.get("004").relation == "version"
    index.close()
    assert len(list(tmp_path.glob("*.spill"))) == 1  # the snapshot refers to it


def test_a_snapshot_refers_to_the_documents_file_and_a_restart_reopens_it(tmp_path, seed_articles):
    index = Index.open(str(tmp_path))
    for key in ("000", "001", "002"):
        index.add(seed_articles[key])
    index.close()
    snapshot = snapshot_bytes(tmp_path)
    documents = sum(f.stat().st_size for f in tmp_path.glob("*.spill"))
    assert snapshot < documents / 2  # the documents are not copied into the snapshot

    reopened = Index.open(str(tmp_path))
    assert reopened.position == reopened.store.end  # from the snapshot, nothing replayed
    files = list(tmp_path.glob("*.spill"))
    assert files == [reopened.engine.documents_file]  # renamed: a new name per process
    reopened.add(seed_articles["004"])  # appended after the snapshot's records
    expected = reopened.engine.get("004")
    assert expected.relation == "version" and reopened.engine.relation_to("001", "000").relation
    reopened.close()

    again = Index.open(str(tmp_path))
    assert again.engine.get("004") == expected
    assert again.engine.document("000").text == Engine().analyse([seed_articles["000"]])[0].text
    again.close()


@pytest.mark.parametrize("suffix", [".spill", ".screening"])
@pytest.mark.parametrize("damage", ["remove", "truncate"])
def test_a_snapshot_whose_documents_file_is_unusable_is_replaced_by_a_replay(tmp_path, seed_articles, damage, suffix):
    index = Index.open(str(tmp_path))
    for key in ("000", "004"):
        index.add(seed_articles[key])
    expected = index.engine.get("004")
    index.close()
    (path,) = tmp_path.glob(f"*{suffix}")
    if damage == "remove":
        path.unlink()
    else:
        with open(path, "r+b") as handle:
            handle.truncate(path.stat().st_size // 2)
    reopened = Index.open(str(tmp_path))
    assert reopened.engine.get("004") == expected
    assert len(list(tmp_path.glob("*.spill"))) == len(list(tmp_path.glob("*.screening"))) == 1
    reopened.close()


def test_a_failed_spill_leaves_the_table_unchanged(tmp_path, seed_articles):
    docs = Engine().analyse(list(seed_articles.values()))
    spilled = SpilledTable(tmp_path / "docs.spill")
    spilled.append(docs[0])
    spilled.close()  # the next write fails (closed file), as on a full disk
    with pytest.raises(OSError):
        spilled.append(docs[1])
    assert len(spilled) == 1 and spilled.live_ids() == [docs[0].id]


def test_the_index_can_keep_documents_in_ram(tmp_path, seed_articles):
    index = Index.open(str(tmp_path), spill_documents=False)
    index.add(seed_articles["000"])
    assert list(tmp_path.glob("*.spill")) == [] and index.engine.file_descriptors() == []
    index.close()


def test_document_infos_keep_ids_and_publication_instants_in_columns():
    """Ids (any Unicode) and times (any time zone) read back as given, removals read None,
    and a pickle keeps all of it."""
    from datetime import datetime, timedelta, timezone

    from dedup.documents import DocInfo, DocInfos

    berlin = timezone(timedelta(hours=1))
    given = [DocInfo("a", None, 1, 10, 12), None,
             DocInfo("Zürich/新闻/1", datetime(2025, 2, 12, 15, 7, 0, 123456, berlin), 2**64 - 1, 0, 0),
             DocInfo("b" * 300, datetime(1969, 12, 31, 23, 59, 59, 999999, timezone.utc), 3, 7, 9), DocInfo("c", None, 4, 5, 5)]
    infos = DocInfos()
    for info in given:
        infos.append(info)
    infos.remove(3)
    for loaded in (infos, pickle.loads(pickle.dumps(infos))):
        assert len(loaded) == 5
        assert [loaded[n] for n in (0, 1, 4)] == [given[0], None, given[4]]
        assert loaded[2] == given[2] and loaded[2].published_at.utcoffset() == timedelta(0)  # the same instant, in UTC
        assert loaded[3] is None and loaded.id_of(3) is None and loaded.published_at(3) is None
        assert loaded.live_ids() == ["a", "Zürich/新闻/1", "c"]
        assert np.frombuffer(loaded.body_hash_table(), np.uint64)[[2, 4]].tolist() == [2**64 - 1, 4]
        assert [loaded.body_chars(0), loaded.page_chars(0)] == [10, 12]


def test_the_earliest_node_is_the_first_published_then_the_first_seen():
    from datetime import datetime, timedelta, timezone

    from dedup.documents import DocInfo, DocInfos

    tokyo = timezone(timedelta(hours=9))
    times = [None, datetime(2024, 5, 1, 9, 0, tzinfo=tokyo), datetime(2024, 5, 1, 0, 0, 0, 1, timezone.utc), None,
             datetime(1960, 1, 1, tzinfo=timezone.utc), datetime(2024, 5, 1, 0, 0, tzinfo=timezone.utc)]
    infos = DocInfos()
    for i, published in enumerate(times):
        infos.append(DocInfo(f"n{i}", published, i, 1, 1))
    assert infos.earliest([0, 1, 2, 3, 4, 5]) == 4  # before the epoch
    assert infos.earliest([0, 2, 3, 5]) == 5  # a microsecond earlier
    assert infos.earliest([0, 1, 3, 5]) == 1  # 09:00 in Tokyo is midnight UTC: a tie, the first seen
    assert infos.earliest([3, 0]) == 0 and infos.earliest([3]) == 3  # undated: the first seen
