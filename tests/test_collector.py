"""Freezing survivors: young cyclic garbage is still collected, survivors leave the collector's
reach, and nothing happens in a process that did not opt in. Each case runs in a fresh
interpreter: freezing is process-wide and must not reach the test run's own heap."""
from __future__ import annotations

import subprocess
import sys
import textwrap


def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_survivors_are_frozen_and_young_cycles_still_collected():
    out = _run("""
        import gc, weakref
        from dedup import collector

        class Node:
            pass

        collector.enable()
        cycle = Node(); cycle.me = cycle
        gone = weakref.ref(cycle)
        del cycle
        kept = [[i] for i in range(1000)]
        before = gc.get_freeze_count()
        collector.indexed(collector.EVERY - 1)
        assert gc.get_freeze_count() == before, "froze before EVERY articles"
        collector.indexed(1)
        assert gone() is None, "a cycle that was already garbage got frozen"
        assert gc.get_freeze_count() >= before + len(kept)
        print("ok")
    """)
    assert out == "ok"


def test_a_process_that_did_not_opt_in_is_left_alone():
    out = _run("""
        import gc
        from dedup import collector
        collector.indexed(10 * collector.EVERY)
        print(gc.get_freeze_count())
    """)
    assert out == "0"


def test_freed_memory_goes_back_to_the_system():
    """Holes freed below live allocations stay resident until a trim returns them."""
    out = _run("""
        from dedup import collector

        if collector._malloc_trim is None:
            print("ok")  # not glibc: nothing to return
            raise SystemExit
        def rss():
            return int(open("/proc/self/statm").read().split()[1]) * 4096

        collector.enable()
        collector.indexed(collector.EVERY)  # the first trim
        blocks = [bytes(2000) for _ in range(100_000)]  # 200 MB from malloc, not Python's arenas
        kept = blocks[::50]
        del blocks
        before = rss()
        collector.indexed(collector.EVERY)  # within TRIM_SECONDS of the first: no trim
        assert rss() > before - 20e6, "trimmed too soon"
        collector._last_trim -= collector.TRIM_SECONDS
        collector.indexed(collector.EVERY)
        assert rss() < before - 100e6, (before, rss())
        print("ok")
    """)
    assert out == "ok"


def _arenas_after_threads_allocate(enable: bool) -> int:
    out = _run(f"""
        import ctypes, os, sys, threading
        from dedup import collector

        if {enable}:
            collector.enable()
        libc = ctypes.CDLL(None)
        libc.malloc.restype = ctypes.c_void_p
        libc.free.argtypes = [ctypes.c_void_p]
        def allocate():
            libc.free(libc.malloc(4096))
        threads = [threading.Thread(target=allocate) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        sys.stderr.flush()
        os.dup2(1, 2)  # malloc_stats writes to stderr
        libc.malloc_stats()
    """)
    return sum(line.startswith("Arena ") for line in out.splitlines())


def test_an_enabled_process_keeps_its_threads_in_one_malloc_arena():
    assert _arenas_after_threads_allocate(enable=False) > 1  # glibc's default: one a thread
    assert _arenas_after_threads_allocate(enable=True) == 1
