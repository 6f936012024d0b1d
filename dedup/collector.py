"""Keep Python's cyclic garbage collector from pausing a growing index.

An index holds millions of long-lived objects (matches, edges, clusters), and a full
collection traverses every one of them: at 14,000 generated articles each full collection
paused the process for 0.4-0.9 s, and the pauses grow with the index (they are what an
open-loop load test sees as its p99). None of those objects is garbage, so every so many
indexed articles the young generations are collected (any cyclic garbage among the new
objects goes) and the survivors are frozen (`gc.freeze`): moved where the collector no
longer looks. Frozen objects are still freed by reference counting when dropped; only a
reference cycle formed among them later would outlive its use, and the index builds none.

Freed memory is also handed back to the system now and then (glibc's `malloc_trim`): the
allocator returns only the top of its heap by itself, and the transient memory of analysis and
verification leaves free holes below long-lived index arrays, 28% of the heap's growth at
100,000 articles.

And the process keeps to one malloc arena (glibc's `M_ARENA_MAX`): by default each thread that
allocates (the band merger, the analysis pool's result reader, gRPC's) gets an arena of its own,
each holding its own free space and untrimmed top; at 540,000 articles four of them held
157-166 MB. The index's work is serialised by the GIL and its own lock, so they bought little.

Process-wide, like the collector itself, so a process opts in (`enable`: `dedup serve` and
`dedup cluster` do): a library user's program, or a test run, may have other plans for its
heap. The users of an index (`dedup.index.Index`, `dedup.batch.cluster`) report what they
indexed; without `enable` that costs nothing.
"""
from __future__ import annotations

import ctypes
import gc
import threading
import time

# Articles indexed between two freezes: the young collection before each costs a few ms.
EVERY = 256

# At most one heap trim this often: one walks the allocator's free lists (~12 ms at 100,000
# articles).
TRIM_SECONDS = 10.0

_lock = threading.Lock()
_pending = 0
_enabled = False
_last_trim = float("-inf")


def _find_malloc_trim():
    """glibc's `malloc_trim`, or None where the C library has none (musl, macOS)."""
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None


_malloc_trim = _find_malloc_trim()
_M_ARENA_MAX = -8  # glibc's malloc.h


def _one_malloc_arena() -> None:
    """Have glibc's malloc keep every thread to the main arena (a no-op elsewhere). Threads
    already given an arena keep it: call before starting any."""
    try:
        ctypes.CDLL(None).mallopt(_M_ARENA_MAX, 1)
    except (OSError, AttributeError):
        pass


def enable() -> None:
    """Let `indexed` freeze this process's survivors from now on, and keep its threads'
    allocations in one arena."""
    global _enabled
    _enabled = True
    _one_malloc_arena()


def indexed(count: int = 1) -> None:
    """Note `count` articles indexed; collect young garbage and freeze survivors when due, and
    give freed memory back to the system when a trim is due."""
    global _pending, _last_trim
    if not _enabled:
        return
    with _lock:
        _pending += count
        if _pending < EVERY:
            return
        _pending = 0
        now = time.monotonic()
        trim = _malloc_trim is not None and now - _last_trim >= TRIM_SECONDS
        if trim:
            _last_trim = now
    gc.collect(1)
    gc.freeze()
    if trim:
        _malloc_trim(0)
