"""Latency statistics: percentiles, histograms and per-second series."""
from __future__ import annotations

import math
from collections.abc import Sequence

PERCENTILES = (50.0, 90.0, 99.0, 99.9)


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """The `p`-th percentile by linear interpolation between closest ranks (numpy's default).

    `sorted_values` must be sorted ascending and non-empty.
    """
    if not sorted_values:
        raise ValueError("percentile of no values")
    if not 0.0 <= p <= 100.0:
        raise ValueError(f"percentile must be between 0 and 100, got {p}")
    rank = (len(sorted_values) - 1) * p / 100.0
    lo = math.floor(rank)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (rank - lo)


def summarize(latencies: Sequence[float]) -> dict[str, float]:
    """p50, p90, p99, p99.9, max and mean of latencies (seconds)."""
    if not latencies:
        return {}
    ordered = sorted(latencies)
    out = {f"p{p:g}": percentile(ordered, p) for p in PERCENTILES}
    out["max"] = ordered[-1]
    out["mean"] = sum(ordered) / len(ordered)
    return out


def histogram(latencies: Sequence[float], buckets: int = 40) -> list[tuple[float, float, int]]:
    """Counts in log-spaced buckets ``(low, high, count)`` covering all latencies."""
    if not latencies:
        return []
    low, high = max(min(latencies), 1e-6), max(latencies)
    if high <= low:
        return [(low, high, len(latencies))]
    edges = [low * (high / low) ** (i / buckets) for i in range(buckets + 1)]
    counts = [0] * buckets
    scale = buckets / math.log(high / low)
    for value in latencies:
        i = int(math.log(max(value, low) / low) * scale)
        counts[min(i, buckets - 1)] += 1
    return [(edges[i], edges[i + 1], counts[i]) for i in range(buckets)]


def per_second(events: Sequence[tuple[float, float]], start: float) -> list[dict]:
    """Throughput and p50/p99 latency for each second; `events` are (completion time, latency)."""
    seconds: dict[int, list[float]] = {}
    for done, latency in events:
        seconds.setdefault(int(done - start), []).append(latency)
    out = []
    for second in range(max(seconds, default=-1) + 1):
        values = sorted(seconds.get(second, []))
        out.append({
            "second": second, "requests": len(values),
            "p50": percentile(values, 50) if values else None,
            "p99": percentile(values, 99) if values else None,
        })
    return out
