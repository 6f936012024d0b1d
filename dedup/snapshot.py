"""Snapshots of an embedded index, so that a restart need not replay the whole log.

On a clean shutdown the engine is pickled to ``snapshot.pickle`` in the data directory with
the log position it reflects; a server also writes one every so many records from a forked
child (`PeriodicSnapshots`), so that a restart after a crash replays only the recent log.
On start, a snapshot whose format, configuration and position fit the log is loaded and only
the log after that position is replayed; any other snapshot is ignored (the log alone is
always enough to rebuild the index). After a crash the snapshot is simply older than the log.
Written to a temporary file, fsynced and renamed, so a crash while saving leaves the previous
snapshot or none.

Most of an index's bytes are band-index levels, which never change once written
(`dedup.frozen`). A snapshot stores each such array of at least `FROZEN_MIN_BYTES` in a file
of its own under ``snapshot.arrays/``, written once, and the pickle refers to it by name; the
next snapshot writes only the arrays made since. Files that the snapshot in place no longer
refers to are removed after it is. Should a file it names be missing or altered, the snapshot
is ignored and the log replayed, as for any unusable snapshot.

A snapshot is trusted like the rest of the data directory: keep the directory private.
"""
from __future__ import annotations

import contextlib
import gc
import logging
import os
import pickle
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from dedup.config import Config
from dedup.engine import Engine
from dedup.frozen import FrozenArray
from dedup.storage import fsync_directory

SNAPSHOT_NAME = "snapshot.pickle"
ARRAYS_DIR = "snapshot.arrays"
# Frozen arrays smaller than this are pickled inline (a file each would cost more than it saves).
FROZEN_MIN_BYTES = 1 << 20
# Raised whenever the engine's pickled state changes shape (2: edges carry their sort order;
# 3: clusters keep the merges that built them; 4: band indexes in levels; 5: sorted buffer;
# 6: packed matches; 7: record positions of spilled documents in an array; 8: a block seen
# once maps to its node, not a list; 9: 8-byte band entries, records led by their screening
# fields; 10: block commonness in a band index; 11: clusters of one node and nodes without
# matches not stored, no arrival sequence; 12: document facts in columns, unique bodies
# without a list; 13: band indexes note a merge in flight; 14: matches kept in the story
# edges only; 15: cluster histories sorted; 16: the collection's common story terms; 17: band
# levels in files of their own; 18-19: matches in flat arrays; 20: large band levels packed
# under their directories, document ids in one heap and times as integers; 21: packed levels'
# document numbers relative to the level's smallest; 22: shared passages in 16-bit fields when
# they fit; 23: screening prefixes in a file of their own; 24: documents held in RAM pickled as
# their file records; 25: a document's body length (`body_chars`) stored with it; 26: a
# brief's short lines in its body; 27: articles indexed under their heaviest story terms;
# 28: an article's closing paragraphs kept after its core; 29: a wire's bracketed names and a
# list's semicolons are not code).
FORMAT = 29
log = logging.getLogger("dedup.snapshot")


def save_snapshot(directory: Path, engine: Engine, position: int,
                  owner_alive: Callable[[], bool] = lambda: True) -> None:
    """Write `engine` as the snapshot at log `position`, then remove the band-level files no
    snapshot needs any more, unless `owner_alive()` says the server that asked for it is gone:
    a restarted server may be loading the previous snapshot's files."""
    directory = Path(directory)
    path = directory / SNAPSHOT_NAME
    tmp = path.with_suffix(f".{os.getpid()}.tmp")  # one per writer: a stray child may still be writing
    arrays = directory / ARRAYS_DIR
    arrays.mkdir(exist_ok=True)
    state = {"format": FORMAT, "config": engine.config, "position": position, "engine": engine}
    started = time.time()
    try:
        with open(tmp, "wb") as handle, _collector_paused():
            pickler = _SnapshotPickler(handle, arrays)
            pickler.dump(state)
            handle.flush()
            os.fsync(handle.fileno())
        fsync_directory(arrays)  # the arrays' names are durable before the snapshot naming them
        os.replace(tmp, path)
        fsync_directory(directory)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("snapshot at log position %d: %.0f MB written (%.0f MB of them new band levels), %.0f MB of "
             "band levels already on disk", position, (path.stat().st_size + pickler.written) / 2**20,
             pickler.written / 2**20, pickler.reused / 2**20)
    if not owner_alive():
        return  # the next snapshot of the restarted server removes what this one left
    # Files made since this writer started may be another writer's (a stray child of a
    # crashed server): they stay until a later snapshot finds them unreferenced.
    for stale in arrays.iterdir():
        with contextlib.suppress(FileNotFoundError):
            if stale.name not in pickler.referenced and stale.stat().st_mtime < started:
                stale.unlink()


class _SnapshotPickler(pickle.Pickler):
    """Pickles frozen arrays as references to their files, writing the files not yet there."""

    def __init__(self, handle, arrays: Path) -> None:
        super().__init__(handle, protocol=pickle.HIGHEST_PROTOCOL)
        self.arrays = arrays
        self.referenced: set[str] = set()
        self.written = self.reused = 0  # bytes of arrays

    def persistent_id(self, obj):
        if type(obj) is not FrozenArray or obj.array.nbytes < FROZEN_MIN_BYTES:
            return None
        filename = f"{obj.name}.npy"
        path = self.arrays / filename
        if not path.exists():
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            with open(tmp, "wb") as handle:
                np.save(handle, obj.array, allow_pickle=False)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
            self.written += obj.array.nbytes
        else:
            self.reused += obj.array.nbytes
        self.referenced.add(filename)
        return ("frozen", obj.name, obj.array.dtype.str, obj.array.shape)


class _SnapshotUnpickler(pickle.Unpickler):
    def __init__(self, handle, arrays: Path) -> None:
        super().__init__(handle)
        self.arrays = arrays

    def persistent_load(self, pid):
        kind, name, dtype, shape = pid
        if kind != "frozen":
            raise pickle.UnpicklingError(f"unknown reference {kind!r} in the snapshot")
        array = np.load(self.arrays / f"{name}.npy", allow_pickle=False)
        if array.dtype.str != dtype or array.shape != tuple(shape):
            raise pickle.UnpicklingError(f"array {name} is not the one the snapshot refers to")
        return FrozenArray(name, array)


def snapshot_bytes(directory: Path) -> int:
    """The size of the snapshot in `directory`: its pickle and the array files it refers to."""
    directory = Path(directory)
    arrays = directory / ARRAYS_DIR
    files = [directory / SNAPSHOT_NAME, *(arrays.glob("*.npy") if arrays.is_dir() else ())]
    return sum(f.stat().st_size for f in files if f.exists())


def load_snapshot(directory: Path, config: Config, log_end: int) -> tuple[Engine, int] | None:
    """The snapshot's engine and log position, or None when there is no usable snapshot."""
    path = Path(directory) / SNAPSHOT_NAME
    if not path.exists():
        return None
    try:
        with open(path, "rb") as handle, _collector_paused():
            state = _SnapshotUnpickler(handle, Path(directory) / ARRAYS_DIR).load()
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


@contextlib.contextmanager
def _collector_paused():
    """Unpickling an index creates millions of objects, none of them garbage; the cyclic
    collector would scan the growing heap again and again (a load takes 3-6x as long)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class PeriodicSnapshots:
    """Writes a snapshot every `every` stored records, from a forked child process.

    The child gets a copy-on-write image of the engine at the moment of the fork, so it
    pickles a consistent index while the parent goes on serving (as Redis's BGSAVE does);
    the parent only pays for the fork. One child at a time; a failed child costs nothing but
    a longer replay after a crash. In a process that uses gRPC, set
    ``GRPC_ENABLE_FORK_SUPPORT=false`` before importing it (`dedup serve` does), or gRPC
    restarts its threads in the child.
    """

    def __init__(self, directory: Path, every: int) -> None:
        self.directory = Path(directory)
        self.every = every
        self._since = 0
        self._child: int | None = None
        self._started = 0.0

    def after_write(self, records: int, engine: Engine, position: int) -> None:
        """Count `records` just stored; fork a snapshot writer when one is due (the caller
        holds the index's write lock, so `engine` and `position` agree)."""
        self._reap(block=False)
        self._since += records
        if self.every <= 0 or self._since < self.every or self._child is not None:
            return
        self._since = 0
        with engine._lock:  # no reader is inside the engine while it is copied
            engine.copies.clusters(), engine.stories.clusters()
            # The child starts with the collector off: it must not free the parent's garbage,
            # gRPC objects among it (gRPC is not fork-safe: freeing them there can deadlock).
            collecting = gc.isenabled()
            gc.disable()
            pid = os.fork()
            if pid == 0:
                _write_in_child(self.directory, engine, position)
            if collecting:
                gc.enable()
        self._child, self._started = pid, time.monotonic()
        log.info("writing a snapshot at log position %d in process %d", position, pid)

    def wait(self) -> None:
        """Wait for a snapshot being written (before the final one, which uses the same file)."""
        self._reap(block=True)

    def _reap(self, block: bool) -> None:
        if self._child is None:
            return
        pid, status = os.waitpid(self._child, 0 if block else os.WNOHANG)
        if pid == 0:
            return
        self._child = None
        seconds = time.monotonic() - self._started
        if os.waitstatus_to_exitcode(status) == 0:
            log.info("snapshot written in %.1f s", seconds)
        else:
            log.warning("the snapshot writer failed (%s); a restart replays more of the log",
                        os.waitstatus_to_exitcode(status))


def _write_in_child(directory: Path, engine: Engine, position: int) -> None:
    """In the forked child: save and leave at once, running none of the parent's exit code."""
    code = 1
    parent = os.getppid()
    try:
        # Let go of every inherited descriptor (the listening socket, the data directory's
        # lock, the log) but the engine's spilled documents, which pickling reads: a restarted
        # server must not find them held by this process.
        low = 3
        for fd in sorted(engine.file_descriptors()):
            os.closerange(low, fd)
            low = fd + 1
        os.closerange(low, os.sysconf("SC_OPEN_MAX"))
        engine._lock = threading.RLock()  # the copy is ours alone; the parent's lock state is not
        # A server killed meanwhile leaves this writer running: its snapshot is still good.
        save_snapshot(directory, engine, position, owner_alive=lambda: os.getppid() == parent)
        code = 0
    finally:
        os._exit(code)
