"""Snapshots of an embedded index, so that a restart need not replay the whole log.

On a clean shutdown the engine is pickled to ``snapshot.pickle`` in the data directory with
the log position it reflects. On start, a snapshot whose format, configuration and position
fit the log is loaded and only the log after that position is replayed; any other snapshot is
ignored (the log alone is always enough to rebuild the index). After a crash the snapshot is
simply older than the log. Written to a temporary file, fsynced and renamed, so a crash while
saving leaves the previous snapshot or none.

A snapshot is trusted like the rest of the data directory: keep the directory private.
"""
from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path

from dedup.config import Config
from dedup.engine import Engine

SNAPSHOT_NAME = "snapshot.pickle"
FORMAT = 1
log = logging.getLogger("dedup.snapshot")


def save_snapshot(directory: Path, engine: Engine, position: int) -> None:
    path = Path(directory) / SNAPSHOT_NAME
    tmp = path.with_suffix(".tmp")
    state = {"format": FORMAT, "config": engine.config, "position": position, "engine": engine}
    try:
        with open(tmp, "wb") as handle:
            pickle.dump(state, handle, protocol=pickle.HIGHEST_PROTOCOL)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_snapshot(directory: Path, config: Config, log_end: int) -> tuple[Engine, int] | None:
    """The snapshot's engine and log position, or None when there is no usable snapshot."""
    path = Path(directory) / SNAPSHOT_NAME
    if not path.exists():
        return None
    try:
        with open(path, "rb") as handle:
            state = pickle.load(handle)
    except Exception as exc:  # noqa: BLE001 - an unreadable snapshot only costs a full replay
        log.warning("ignoring snapshot %s (%s); replaying the log", path, exc)
        return None
    if state.get("format") != FORMAT or state.get("config") != config:
        # Matches were decided with the snapshot's thresholds: other thresholds need a replay.
        log.info("not using snapshot %s: other format or configuration; replaying the log", path)
        return None
    if state["position"] > log_end:
        log.warning("ignoring snapshot %s: it is ahead of the log; replaying the log", path)
        return None
    engine: Engine = state["engine"]
    log.info("restored %d articles from %s", len(engine), path)
    return engine, state["position"]
