"""The Probe protocol and the HealthSample it returns; no pass/fail decision lives here."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Protocol

from hotswap_cli.errors import ProbeError, TransportError


@dataclass(frozen=True)
class HealthSample:
    """One measurement of one instance by one probe.

    `ok` is the probe's own reading (status matched, command exited 0); None when the probe
    measures figures only (metrics). `no_data` is True when nothing could be measured
    (endpoint missing, no traffic between two scrapes). The gate decides what this means.

    Metrics probes also carry the counts behind their rates, over the span since their previous
    sample: `requests`, `errors`, and `buckets`, the latency histogram as (upper bound in seconds,
    cumulative count) pairs. The gate judges on these counts; the rates are for display.
    """

    instance: str
    probe: str  # "http", "metrics", "command"
    at: float
    ok: bool | None = None
    no_data: bool = False
    error_rate: float | None = None  # 0..1 over the sample window
    p99_ms: float | None = None
    latency_ms: float | None = None
    detail: str = ""
    requests: float | None = None
    errors: float | None = None
    buckets: tuple[tuple[float, float], ...] = ()


class Probe(Protocol):
    instance: str
    kind: str

    def sample(self) -> HealthSample: ...

    def close(self) -> None: ...


def probe_headers(instance: str, headers: Mapping[str, str], allowed_env: Collection[str]) -> dict[str, str]:
    """Headers with `${ENV}` expanded (allowed names only); a missing variable is a misconfigured probe."""
    from hotswap_cli.io.http import expand_headers  # httpx loads with the probes that use it

    try:
        return expand_headers(instance, headers, allowed_env)
    except TransportError as exc:
        raise ProbeError(exc.message, hint=exc.hint) from None
