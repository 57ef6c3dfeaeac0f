"""Synthetic request traffic for the demo service: counters advanced by elapsed time, with the noise
real traffic has (Poisson arrivals, binomial errors, multinomial latencies), no per-request work."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

# the Prometheus client's default buckets, with 150 and 200 ms added around the demo's p99
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)


def latency_cdf(seconds: float, mean: float) -> float:
    """P(latency <= seconds) when latency = mean * (0.5 + Exp(0.5)): never below half the mean, p99 ~ 2.8x."""
    if mean <= 0:
        return 1.0
    x = seconds / mean - 0.5
    return 0.0 if x < 0 else 1.0 - math.exp(-x / 0.5)


def poisson(lam: float, rng: random.Random) -> int:
    """A Poisson draw: Knuth's product method for small means, the normal approximation above."""
    if lam <= 0:
        return 0
    if lam < 30:
        limit, k, p = math.exp(-lam), 0, rng.random()
        while p > limit:
            k += 1
            p *= rng.random()
        return k
    return max(0, round(rng.gauss(lam, math.sqrt(lam))))


def binomial(n: int, p: float, rng: random.Random) -> int:
    """A binomial draw: trial by trial for small n, Poisson or normal approximations above."""
    if n <= 0 or p <= 0:
        return 0
    if p >= 1:
        return n
    if n <= 64:
        return sum(1 for _ in range(n) if rng.random() < p)
    if n * p < 20:
        return min(n, poisson(n * p, rng))
    if n * (1 - p) < 20:
        return n - min(n, poisson(n * (1 - p), rng))
    return min(n, max(0, round(rng.gauss(n * p, math.sqrt(n * p * (1 - p))))))


@dataclass
class Traffic:
    """Request counts since start, advanced lazily (on each scrape or config change)."""

    started: float
    last: float = 0.0
    ok: float = 0.0
    errors: float = 0.0
    buckets: list[float] = field(default_factory=lambda: [0.0] * len(BUCKETS))
    count: float = 0.0
    total_seconds: float = 0.0
    rng: random.Random = field(default_factory=random.Random)
    owed: float = 0.0  # expected requests not yet drawn (tiny intervals accumulate)

    def __post_init__(self) -> None:
        self.last = self.started

    def advance(self, now: float, rps: float, error_rate: float, latency_ms: float) -> None:
        self.owed += max(0.0, now - self.last) * max(0.0, rps)
        self.last = max(self.last, now)
        if self.owed < 1.0:
            return
        n, self.owed = poisson(self.owed, self.rng), 0.0
        if n == 0:
            return
        failed = binomial(n, min(1.0, max(0.0, error_rate)), self.rng)
        self.errors += failed
        self.ok += n - failed
        mean = max(0.0, latency_ms) / 1000.0
        left, below = n, 0.0  # requests not yet placed, and the probability mass already used
        for i, bound in enumerate(BUCKETS):
            cdf = latency_cdf(bound, mean)
            share = (cdf - below) / (1.0 - below) if below < 1.0 else 0.0
            placed = binomial(left, share, self.rng)
            left -= placed
            below = cdf
            self.buckets[i] += n - left
        self.count += n
        self.total_seconds += n * mean

    def render(self) -> str:
        """Prometheus text format: http_requests_total{status} and http_request_duration_seconds."""
        lines = [
            "# HELP http_requests_total Requests served (synthetic).",
            "# TYPE http_requests_total counter",
            f'http_requests_total{{method="GET",status="200"}} {self.ok:.0f}',
            f'http_requests_total{{method="GET",status="500"}} {self.errors:.0f}',
            "# HELP http_request_duration_seconds Request latency (synthetic).",
            "# TYPE http_request_duration_seconds histogram",
        ]
        for bound, value in zip(BUCKETS, self.buckets, strict=True):
            lines.append(f'http_request_duration_seconds_bucket{{le="{bound}"}} {value:.0f}')
        lines.append(f'http_request_duration_seconds_bucket{{le="+Inf"}} {self.count:.0f}')
        lines.append(f"http_request_duration_seconds_count {self.count:.0f}")
        lines.append(f"http_request_duration_seconds_sum {self.total_seconds:.6f}")
        return "\n".join(lines) + "\n"
