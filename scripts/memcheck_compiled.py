"""Every compiled function of dedup on random inputs, for valgrind memcheck:

    PYTHONMALLOC=malloc valgrind --error-exitcode=9 python scripts/memcheck_compiled.py

Compare the report with one of `python -c "import numpy, dedup.lsh, dedup.verify"`: the
interpreter reports a few errors of its own.
"""
from __future__ import annotations

import numpy as np

from dedup import _bandsearch as B, _setops as S
from dedup import lsh

rng = np.random.default_rng(1)
for trial in range(300):
    n = int(rng.integers(0, 400))
    level = np.sort(rng.integers(0, 2**64 - 1, size=n, dtype=np.uint64, endpoint=True))
    plain = np.sort(rng.integers(0, 2**64 - 1, size=int(rng.integers(0, 50)), dtype=np.uint64))
    doc_bits = int(rng.integers(1, 33))
    doc_mask = (1 << doc_bits) - 1
    packed, directory = B.merge([(level, None)], int(rng.integers(8, 12)), doc_bits)
    levels, dirs = [packed, plain], [directory, None]
    B.merge([(packed, directory), (plain, None)], int(rng.choice([0, 8])), doc_bits)  # merge, unpacked or packed
    keys = np.sort(np.concatenate([level[rng.integers(0, max(1, n), size=5)] if n else np.empty(0, np.uint64),
                                   rng.integers(0, 2**64 - 1, size=5, dtype=np.uint64)])) & np.uint64(~doc_mask & (2**64 - 1))
    B.query(levels, dirs, keys, 1 << doc_bits, ~doc_mask & (2**64 - 1), doc_mask, int(rng.integers(-1, 5)))
    B.buckets(levels, dirs, keys[::-1].copy(), 1 << doc_bits, ~doc_mask & (2**64 - 1), doc_mask, -1)
    B.insert(levels[1], rng.integers(0, 2**64 - 1, size=int(rng.integers(0, 30)), dtype=np.uint64), int(lsh._KEY_MASK), 7)
    found = [(np.unique(rng.integers(0, 50, size=int(rng.integers(0, 20)))).astype(np.uint32),) for _ in range(3)]
    found = [(d, rng.integers(1, 9, size=len(d))) for (d,) in found]
    B.merge_found([d for d, _ in found], [h for _, h in found], int(rng.integers(0, 4)))
    a = np.unique(rng.integers(0, 80, size=int(rng.integers(0, 60))).astype(np.uint64))
    b = np.unique(rng.integers(0, 80, size=int(rng.integers(0, 2000))).astype(np.uint64))
    S.common_positions(a, b); S.common_positions(b, a)
    if len(b):
        S.positions_in(b, rng.integers(0, 90, size=40).astype(np.uint64))
    S.overlaps(a, rng.random(len(a), dtype=np.float32), [b, a], [rng.random(len(b), dtype=np.float32), rng.random(len(a), dtype=np.float32)])
    S.overlaps(a, None, [b, a, b[:0]], None)
    seq_a = rng.integers(0, 30, size=int(rng.integers(0, 80))).astype(np.uint64)
    seq_b = rng.integers(0, 30, size=int(rng.integers(0, 80))).astype(np.uint64)
    S.shared_runs(seq_a, seq_b, np.intersect1d(seq_a, seq_b))
print("ok")
