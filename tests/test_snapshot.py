"""Snapshots on clean shutdown: a restart loads them and replays only the rest of the log."""
from __future__ import annotations

import pickle
from pathlib import Path

import dedup.lsh as lsh
import dedup.snapshot as snapshot
from dedup.config import Config
from dedup.index import Index
from dedup.snapshot import ARRAYS_DIR, SNAPSHOT_NAME


def _answers(index: Index) -> dict:
    return {i: index.engine.get(i) for i in index.engine.ids()}


def _full_replay(data_dir: Path, config: Config | None = None) -> dict:
    snapshot = data_dir / SNAPSHOT_NAME
    saved = snapshot.read_bytes() if snapshot.exists() else None
    snapshot.unlink(missing_ok=True)
    index = Index.open(str(data_dir), config)
    answers = _answers(index)
    index.close(snapshot=False)
    if saved is not None:
        snapshot.write_bytes(saved)
    return answers


def test_clean_restart_loads_the_snapshot(tmp_path, seed_articles, topic_articles):
    index = Index.open(str(tmp_path))
    for article in list(seed_articles.values()) + list(topic_articles.values()):
        index.add(article)
    before = _answers(index)
    index.close()
    assert (tmp_path / SNAPSHOT_NAME).exists()

    reopened = Index.open(str(tmp_path))
    assert reopened.position == reopened.store.end  # restored, nothing left to replay
    assert _answers(reopened) == before
    reopened.close(snapshot=False)
    assert _full_replay(tmp_path) == before


def test_after_a_crash_the_snapshot_and_the_rest_of_the_log_give_the_full_index(tmp_path, seed_articles, topic_articles):
    index = Index.open(str(tmp_path))
    for article in seed_articles.values():
        index.add(article)
    index.close()  # snapshot of the seeds
    index = Index.open(str(tmp_path))
    for article in topic_articles.values():
        index.add(article)
    index.delete("003")
    index.store.close()  # a crash: no new snapshot
    restarted = Index.open(str(tmp_path))
    assert len(restarted.engine) == len(seed_articles) + len(topic_articles) - 1
    answers = _answers(restarted)
    restarted.close(snapshot=False)
    assert answers == _full_replay(tmp_path)


def test_other_thresholds_ignore_the_snapshot(tmp_path, seed_articles):
    index = Index.open(str(tmp_path))
    for article in seed_articles.values():
        index.add(article)
    index.close()
    strict = Config(version=0.5)
    reopened = Index.open(str(tmp_path), strict)
    assert reopened.engine.cluster("004").members == ("004",)  # decided with the new threshold
    reopened.close(snapshot=False)


def test_periodic_snapshots_cut_the_replay_after_a_crash(tmp_path, seed_articles, topic_articles):
    articles = list(seed_articles.values()) + list(topic_articles.values())
    index = Index.open(str(tmp_path), snapshot_every=3)
    for article in articles:
        index.add(article)
    index._snapshots.wait()
    snapshot_position = pickle.loads((tmp_path / SNAPSHOT_NAME).read_bytes())["position"]
    assert 0 < snapshot_position <= index.position
    index.store.close()  # a crash: no snapshot at the end
    assert not list(tmp_path.glob("*.tmp"))  # the writer left nothing half-written behind

    restarted = Index.open(str(tmp_path))
    replayed = [r for _, r in restarted.store.read(after=snapshot_position)]
    assert len(replayed) < len(articles)  # only the log after the snapshot was replayed
    assert len(restarted.engine) == len(articles)
    answers = _answers(restarted)
    restarted.close(snapshot=False)
    assert answers == _full_replay(tmp_path)


def _level_files(index: Index) -> set[str]:
    """The files the index's band levels belong in (every level, with no size threshold)."""
    engine = index.engine
    bands = (*engine.band_indexes(), engine._common._blocks)
    return {f"{name}{part}.npy" for band in bands for name, directory in zip(band._level_names, band._directories)
            for part in ("", "-directory")[:1 + (directory is not None)]}


def _files(directory: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in directory.iterdir()}


def test_a_snapshot_writes_only_the_band_levels_made_since_the_last(tmp_path, seed_articles, topic_articles,
                                                                   monkeypatch):
    """Band levels never change once written: each is stored once, in a file of its own, and
    a later snapshot refers to it; files no longer referred to are removed."""
    monkeypatch.setattr(snapshot, "FROZEN_MIN_BYTES", 0)
    monkeypatch.setattr(lsh, "_RECENT_ENTRIES", 16)  # levels after a few articles
    articles = list(seed_articles.values()) + list(topic_articles.values())
    arrays = tmp_path / ARRAYS_DIR
    index = Index.open(str(tmp_path))
    for article in articles[:-2]:
        index.add(article)
    first_levels = _level_files(index)
    index.close()
    first = _files(arrays)
    assert set(first) == first_levels and len(first) >= 5

    index = Index.open(str(tmp_path))
    assert _level_files(index) == first_levels  # the loaded levels keep their names
    for article in articles[-2:]:
        index.add(article)
    second_levels = _level_files(index)
    before = _answers(index)
    index.close()
    second = _files(arrays)
    assert set(second) == second_levels  # the first snapshot's other levels are gone
    kept = set(first) & set(second)
    assert kept and set(second) - set(first)  # some levels were rewritten, others not
    assert all(second[name] == first[name] for name in kept)  # and those were not written again

    reopened = Index.open(str(tmp_path))
    assert reopened.position == reopened.store.end  # restored from the snapshot
    assert _answers(reopened) == before
    reopened.close(snapshot=False)
    assert _full_replay(tmp_path) == before


def test_a_writer_whose_server_is_gone_leaves_the_older_level_files(tmp_path, seed_articles, topic_articles,
                                                                    monkeypatch):
    """A forked snapshot writer outlives a killed server; a restarted server may be loading the
    previous snapshot's levels meanwhile, so that writer removes none of them. The next
    snapshot of a living server does."""
    monkeypatch.setattr(snapshot, "FROZEN_MIN_BYTES", 0)
    monkeypatch.setattr(lsh, "_RECENT_ENTRIES", 16)
    articles = list(seed_articles.values()) + list(topic_articles.values())
    arrays = tmp_path / ARRAYS_DIR
    index = Index.open(str(tmp_path))
    for article in articles[:-2]:
        index.add(article)
    index.close()
    first = set(_files(arrays))
    index = Index.open(str(tmp_path))
    for article in articles[-2:]:
        index.add(article)
    snapshot.save_snapshot(tmp_path, index.engine, index.position, owner_alive=lambda: False)
    orphaned = set(_files(arrays))
    assert first <= orphaned and _level_files(index) <= orphaned and first - _level_files(index)
    before = _answers(index)
    index.close()
    assert set(_files(arrays)) == _level_files(index)  # a living server's snapshot removes them
    reopened = Index.open(str(tmp_path))
    assert _answers(reopened) == before
    reopened.close(snapshot=False)


def test_a_snapshot_missing_a_level_file_is_ignored_and_the_log_replayed(tmp_path, seed_articles, monkeypatch):
    monkeypatch.setattr(snapshot, "FROZEN_MIN_BYTES", 0)
    monkeypatch.setattr(lsh, "_RECENT_ENTRIES", 16)
    index = Index.open(str(tmp_path))
    for article in seed_articles.values():
        index.add(article)
    before, saved_levels = _answers(index), _level_files(index)
    index.close()
    next((tmp_path / ARRAYS_DIR).iterdir()).unlink()
    reopened = Index.open(str(tmp_path))
    assert not _level_files(reopened) & saved_levels  # rebuilt from the log, not loaded
    assert _answers(reopened) == before
    reopened.close(snapshot=False)
