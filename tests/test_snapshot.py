"""Snapshots on clean shutdown: a restart loads them and replays only the rest of the log."""
from __future__ import annotations

import pickle
from pathlib import Path

from dedup.config import Config
from dedup.index import Index
from dedup.snapshot import SNAPSHOT_NAME


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
