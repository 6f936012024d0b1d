"""Keep Python's cyclic garbage collector from pausing a growing index.

An index holds millions of long-lived objects (matches, edges, clusters), and a full
collection traverses every one of them: at 14,000 generated articles each full collection
paused the process for 0.4-0.9 s, and the pauses grow with the index (they are what an
open-loop load test sees as its p99). None of those objects is garbage, so every so many
indexed articles the young generations are collected (any cyclic garbage among the new
objects goes) and the survivors are frozen (`gc.freeze`): moved where the collector no
longer looks. Frozen objects are still freed by reference counting when dropped; only a
reference cycle formed among them later would outlive its use, and the index builds none.

Process-wide, like the collector itself, so a process opts in (`enable`: `dedup serve` and
`dedup cluster` do): a library user's program, or a test run, may have other plans for its
heap. The users of an index (`dedup.index.Index`, `dedup.batch.cluster`) report what they
indexed; without `enable` that costs nothing.
"""
from __future__ import annotations

import gc
import threading

# Articles indexed between two freezes: the young collection before each costs a few ms.
EVERY = 256

_lock = threading.Lock()
_pending = 0
_enabled = False


def enable() -> None:
    """Let `indexed` freeze this process's survivors from now on."""
    global _enabled
    _enabled = True


def indexed(count: int = 1) -> None:
    """Note `count` articles indexed; collect young garbage and freeze survivors when due."""
    global _pending
    if not _enabled:
        return
    with _lock:
        _pending += count
        if _pending < EVERY:
            return
        _pending = 0
    gc.collect(1)
    gc.freeze()
