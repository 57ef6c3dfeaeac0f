"""Synthetic request traffic for the demo service: counters advanced by elapsed time, no per-request work."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def latency_cdf(seconds: float, mean: float) -> float:
    """P(latency <= seconds) when latency = mean * (0.5 + Exp(0.5)): never below half the mean, p99 ~ 2.8x."""
    if mean <= 0:
        return 1.0
    x = seconds / mean - 0.5
    return 0.0 if x < 0 else 1.0 - math.exp(-x / 0.5)


@dataclass
class Traffic:
    """Expected request counts since start, advanced lazily (on each scrape or config change)."""

    started: float
    last: float = 0.0
    ok: float = 0.0
    errors: float = 0.0
    buckets: list[float] = field(default_factory=lambda: [0.0] * len(BUCKETS))
    count: float = 0.0
    total_seconds: float = 0.0

    def __post_init__(self) -> None:
        self.last = self.started

    def advance(self, now: float, rps: float, error_rate: float, latency_ms: float) -> None:
        n = max(0.0, now - self.last) * max(0.0, rps)
        self.last = max(self.last, now)
        if n == 0:
            return
        rate = min(1.0, max(0.0, error_rate))
        mean = max(0.0, latency_ms) / 1000.0
        self.errors += n * rate
        self.ok += n * (1.0 - rate)
        for i, bound in enumerate(BUCKETS):
            self.buckets[i] += n * latency_cdf(bound, mean)
        self.count += n
        self.total_seconds += n * mean

    def render(self) -> str:
        """Prometheus text format: http_requests_total{status} and http_request_duration_seconds."""
        lines = [
            "# HELP http_requests_total Requests served (synthetic).",
            "# TYPE http_requests_total counter",
            f'http_requests_total{{method="GET",status="200"}} {self.ok:.6f}',
            f'http_requests_total{{method="GET",status="500"}} {self.errors:.6f}',
            "# HELP http_request_duration_seconds Request latency (synthetic).",
            "# TYPE http_request_duration_seconds histogram",
        ]
        for bound, value in zip(BUCKETS, self.buckets, strict=True):
            lines.append(f'http_request_duration_seconds_bucket{{le="{bound}"}} {value:.6f}')
        lines.append(f'http_request_duration_seconds_bucket{{le="+Inf"}} {self.count:.6f}')
        lines.append(f"http_request_duration_seconds_count {self.count:.6f}")
        lines.append(f"http_request_duration_seconds_sum {self.total_seconds:.6f}")
        return "\n".join(lines) + "\n"
