"""The `prometheus` probe: the counts behind an instance's error rate and latency, from PromQL
queries to a Prometheus server instead of scraping the instance.

The gate judges on counts, so the queries return counts over a window (`increase()`), not rates:
requests, errors, and the latency histogram's buckets by `le`. `{{name}}` in a query is the
target's name, `{{window}}` the time since the previous sample (e.g. `31s`). The first sample
looks back `lookback` (default 5m): Prometheus keeps history, so the baseline needs no wait.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Collection
from typing import Any

import httpx

from hotswap_cli.errors import ProbeError
from hotswap_cli.io.http import BodyTooLarge, describe_error, fetch, new_client
from hotswap_cli.probes.base import HealthSample, probe_headers
from hotswap_cli.probes.histogram import quantile
from hotswap_cli.specs import PrometheusProbeSpec

_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")


class NoAnswer(Exception):
    """The server gave nothing usable for a query (the message says why)."""


class PrometheusProbe:
    kind = "prometheus"

    def __init__(self, instance: str, spec: PrometheusProbeSpec, allowed_env: Collection[str] = frozenset()) -> None:
        self.instance = instance
        self.url = spec.url.rstrip("/") + "/api/v1/query"
        self.queries: dict[str, str] = {}
        for key in ("requests", "errors", "latency_buckets"):
            query = getattr(spec, key)
            if query is None:
                continue  # a query turned off (e.g. no latency histogram)
            unknown = sorted({m.group(1) for m in _PLACEHOLDER.finditer(query)} - {"name", "window"})
            if unknown:
                raise ProbeError(f"target {instance}: prometheus probe `{key}` uses {{{{{unknown[0]}}}}}",
                                 hint="queries may use {{name}} (the target's name) and {{window}}")
            self.queries[key] = query
        if "requests" not in self.queries:
            raise ProbeError(f"target {instance}: the prometheus probe needs a `requests` query")
        self.lookback = spec.lookback
        self.timeout = spec.timeout
        self.max_body = spec.max_body
        self._headers = probe_headers(instance, spec.headers, allowed_env)
        self._client = new_client(spec.tls)
        self._since: float | None = None  # when the counts so far end

    def sample(self) -> HealthSample:
        now = time.time()
        span = self.lookback if self._since is None else max(1.0, now - self._since)
        window = f"{math.ceil(span)}s"
        try:
            requests = self._sum(self._query("requests", window, now))
            if requests is None:
                raise NoAnswer(f"no requests series for {self.instance} over the last {window}")
            errors = self._sum(self._query("errors", window, now)) if "errors" in self.queries else None
            buckets = self._buckets(self._query("latency_buckets", window, now)) if "latency_buckets" in \
                self.queries else {}
        except NoAnswer as exc:  # the next sample covers this window too
            return HealthSample(self.instance, self.kind, now, no_data=True, detail=str(exc))
        self._since = now
        notes, error_rate, p99_ms = [f"{_count(requests)} requests in {window}"], None, None
        if requests > 0 and errors is not None:
            error_rate = min(1.0, errors / requests)
            notes.append(f"{_count(errors)} failed ({error_rate:.2%})")
        p99 = quantile(0.99, buckets) if buckets else None
        if p99 is not None:
            p99_ms = p99 * 1000.0
            notes.append(f"p99 {p99_ms:.0f}ms")
        measured = requests > 0
        return HealthSample(
            self.instance, self.kind, now, no_data=not measured and not buckets, error_rate=error_rate,
            p99_ms=p99_ms, detail="; ".join(notes), requests=requests if measured else None,
            errors=(errors or 0.0) if measured else None,
            buckets=tuple(sorted(buckets.items())) if p99 is not None else (),
        )

    def _query(self, key: str, window: str, at: float) -> list[dict[str, Any]]:
        query = _PLACEHOLDER.sub(lambda m: _quote(self.instance) if m.group(1) == "name" else window,
                                 self.queries[key])
        try:
            response = fetch(self._client, "GET", self.url, params={"query": query, "time": f"{at:.3f}"},
                             headers=self._headers, timeout=self.timeout, max_body=self.max_body)
        except BodyTooLarge:
            raise NoAnswer(f"prometheus answered more than {self.max_body} bytes to `{key}`: more than "
                           f"one instance's counts (does the query select by {{{{name}}}}?)") from None
        except httpx.HTTPError as exc:
            raise NoAnswer(f"cannot query prometheus: {describe_error(exc, self.url, self.timeout)[0]}") from None
        status = response.status_code
        try:
            body = json.loads(response.content)
        except (ValueError, RecursionError):
            raise NoAnswer(f"prometheus answered {status} with no JSON to `{key}`") from None
        if not isinstance(body, dict) or status != 200 or body.get("status") != "success":
            error = body.get("error", "no reason given") if isinstance(body, dict) else "not a JSON object"
            raise NoAnswer(f"prometheus refused `{key}` ({status}): {str(error)[:200]}")
        data = body.get("data") or {}
        if data.get("resultType") == "scalar":
            return [{"metric": {}, "value": data.get("result")}]
        if data.get("resultType") != "vector":
            raise NoAnswer(f"`{key}` gives a {data.get('resultType')}, not an instant vector")
        return list(data.get("result") or [])

    @staticmethod
    def _sum(series: list[dict[str, Any]]) -> float | None:
        values = [v for v in (_value(s) for s in series) if v is not None]
        return sum(values) if values else None

    @staticmethod
    def _buckets(series: list[dict[str, Any]]) -> dict[float, float]:
        out: dict[float, float] = {}
        for s in series:
            le, value = (s.get("metric") or {}).get("le"), _value(s)
            if le is None or value is None:
                continue
            try:
                out[float(le)] = out.get(float(le), 0.0) + value
            except ValueError:
                continue
        return out

    def close(self) -> None:
        self._client.close()


def _value(series: dict[str, Any]) -> float | None:
    try:
        value = float(series["value"][1])
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    return None if math.isnan(value) or math.isinf(value) else max(0.0, value)


def _quote(text: str) -> str:
    """`text` inside a PromQL double-quoted string."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _count(x: float) -> str:
    return f"{x:.0f}" if x >= 10 else f"{x:.1f}"
