"""Latency histograms as Prometheus keeps them: cumulative counts by upper bound (`le`), in seconds.
Pure functions, interpolating linearly inside a bucket exactly as `histogram_quantile` does."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

Buckets = Mapping[float, float]  # upper bound (seconds, +Inf last) -> cumulative count


def quantile(q: float, buckets: Buckets) -> float | None:
    """histogram_quantile over cumulative (le -> count) buckets, interpolating inside a bucket."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank, lower, below = q * buckets[bounds[-1]], 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                finite = [b for b in bounds if not math.isinf(b)]
                return finite[-1] if finite else None
            return lower + (bound - lower) * ((rank - below) / (count - below) if count > below else 1.0)
        lower, below = bound, count
    return None


def bucket_edge(q: float, buckets: Buckets) -> float | None:
    """The upper bound of the bucket that holds the q-quantile: a value the quantile is at most,
    whatever the interpolation says; None when it falls in the +Inf bucket (or there is no data)."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank = q * buckets[bounds[-1]]
    for bound in bounds:
        if buckets[bound] >= rank:
            return None if math.isinf(bound) else bound
    return None


def count_above(x: float, buckets: Buckets) -> float | None:
    """Observations slower than `x` seconds, by the same interpolation; None when `x` lies beyond the
    last finite bound (the +Inf bucket cannot say how many of its observations exceed it)."""
    bounds = sorted(buckets)
    if not bounds:
        return None
    total = buckets[bounds[-1]]
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if math.isinf(bound):
            return None
        if x <= bound:
            share = (x - lower) / (bound - lower) if bound > lower else 1.0
            return max(0.0, total - (below + (count - below) * share))
        lower, below = bound, count
    return None


def difference(after: Buckets, before: Buckets) -> dict[float, float] | None:
    """Per-bound increase between two scrapes; None when a count went down (the histogram reset)."""
    diff = {b: after[b] - before.get(b, 0.0) for b in after}
    return None if any(v < 0 for v in diff.values()) else diff


def merge(parts: Iterable[Iterable[tuple[float, float]]]) -> dict[float, float]:
    """The sum of several histograms (bound by bound)."""
    out: dict[float, float] = {}
    for part in parts:
        for bound, count in part:
            out[bound] = out.get(bound, 0.0) + count
    return out
