"""The `metrics` probe: error rate and p99 latency from the change between two Prometheus scrapes."""

from __future__ import annotations

import re
import time
from collections.abc import Collection
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families

from hotswap_cli.io.http import client_for, describe_error, fetch
from hotswap_cli.probes.base import HealthSample, probe_headers
from hotswap_cli.probes.histogram import difference, quantile
from hotswap_cli.specs import MetricsProbeSpec


@dataclass(frozen=True)
class Scrape:
    """Counter totals from one scrape: requests, errors, and cumulative histogram buckets by bound."""

    requests: float | None
    errors: float | None
    buckets: dict[float, float]


class MetricsProbe:
    kind = "metrics"

    def __init__(self, instance: str, spec: MetricsProbeSpec, allowed_env: Collection[str] = frozenset()) -> None:
        self.instance = instance
        self.url = spec.url
        self.requests_metric = spec.requests_metric
        self.status_label = spec.status_label
        self.error_pattern = re.compile(spec.error_status_pattern)
        self.latency_metric = spec.latency_metric
        self.timeout = spec.timeout
        self.max_body = spec.max_body
        self._headers = probe_headers(instance, spec.headers, allowed_env)
        self._client = client_for(spec.tls, spec.url)
        self._previous: Scrape | None = None

    def sample(self) -> HealthSample:
        now = time.time()
        try:
            response = fetch(self._client, "GET", self.url, headers=self._headers, timeout=self.timeout,
                             max_body=self.max_body)
        except httpx.HTTPError as exc:
            return self._no_data(now, f"cannot scrape: {describe_error(exc, self.url, self.timeout)[0]}")
        if response.status_code != 200:
            return self._no_data(now, f"metrics endpoint {self.url} answered {response.status_code}")
        try:
            scrape = self.parse(response.text)
        except ValueError as exc:
            return self._no_data(now, f"unparsable metrics from {self.url}: {str(exc)[:120]}")
        if scrape.requests is None and not scrape.buckets:
            return self._no_data(now, f"neither {self.requests_metric} nor {self.latency_metric} "
                                 f"is in {self.url}")
        previous, self._previous = self._previous, scrape
        if previous is None:
            return self._no_data(now, "first scrape: rates need a second one")
        return self._compare(now, previous, scrape)

    def parse(self, text: str) -> Scrape:
        requests = errors = None
        buckets: dict[float, float] = {}
        names = {self.requests_metric, self.requests_metric + "_total"}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name in names:
                    requests = (requests or 0.0) + s.value
                    status = s.labels.get(self.status_label, s.labels.get("code", ""))
                    if self.error_pattern.fullmatch(status):
                        errors = (errors or 0.0) + s.value
                    elif errors is None:
                        errors = 0.0
                elif s.name == self.latency_metric + "_bucket" and "le" in s.labels:
                    bound = float(s.labels["le"])
                    buckets[bound] = buckets.get(bound, 0.0) + s.value
        return Scrape(requests, errors, buckets)

    def _compare(self, now: float, before: Scrape, after: Scrape) -> HealthSample:
        """Counts since the previous scrape. A counter that went down was reset (the process
        restarted): like Prometheus' rate(), the new value is then the count since the reset."""
        error_rate = p99_ms = requests = errors = None
        buckets: dict[float, float] | None = None
        notes = []
        if after.requests is not None and before.requests is not None:
            requests = after.requests - before.requests
            errors = (after.errors or 0.0) - (before.errors or 0.0)
            if requests < 0 or errors < 0:
                notes.append("request counter reset")
                requests, errors = after.requests, after.errors or 0.0
            if requests == 0:
                notes.append("no requests between scrapes")
                requests = errors = None
            else:
                error_rate = errors / requests
                notes.append(f"{errors:.0f}/{requests:.0f} requests failed ({error_rate:.2%})")
        if after.buckets:
            buckets = difference(after.buckets, before.buckets)
            if buckets is None:
                notes.append("histogram reset")
                buckets = dict(after.buckets)
            p99 = quantile(0.99, buckets)
            if p99 is None:
                notes.append("no observations in the latency histogram")
                buckets = None
            else:
                p99_ms = p99 * 1000.0
                notes.append(f"p99 {p99_ms:.0f}ms")
        return HealthSample(self.instance, self.kind, now, no_data=requests is None and buckets is None,
                            error_rate=error_rate, p99_ms=p99_ms, detail="; ".join(notes), requests=requests,
                            errors=errors, buckets=tuple(sorted(buckets.items())) if buckets else ())

    def _no_data(self, now: float, detail: str) -> HealthSample:
        return HealthSample(self.instance, self.kind, now, no_data=True, detail=detail)

    def close(self) -> None:
        self._client.close()
