"""The `http` probe: GET a health URL; healthy = the expected status within the timeout; records latency."""

from __future__ import annotations

import time
from collections.abc import Collection

import httpx

from hotswap_cli.io.http import client_for, describe_error, fetch
from hotswap_cli.probes.base import HealthSample, probe_headers
from hotswap_cli.specs import HttpProbeSpec


class HttpProbe:
    kind = "http"

    def __init__(self, instance: str, spec: HttpProbeSpec, allowed_env: Collection[str] = frozenset()) -> None:
        self.instance = instance
        self.url = spec.url
        self.expect_status = spec.expect_status
        self.timeout = spec.timeout
        self.max_body = spec.max_body
        self._headers = probe_headers(instance, spec.headers, allowed_env)
        self._client = client_for(spec.tls, spec.url)

    def sample(self) -> HealthSample:
        started = time.perf_counter()
        try:
            response = fetch(self._client, "GET", self.url, headers=self._headers, timeout=self.timeout,
                             max_body=self.max_body)
        except httpx.HTTPError as exc:
            return HealthSample(self.instance, self.kind, time.time(), ok=False,
                                detail=describe_error(exc, self.url, self.timeout)[0])
        latency = (time.perf_counter() - started) * 1000.0
        ok = response.status_code == self.expect_status
        detail = f"{response.status_code} in {latency:.0f}ms"
        if not ok:
            detail += f" (expected {self.expect_status})"
        return HealthSample(self.instance, self.kind, time.time(), ok=ok, latency_ms=latency, detail=detail)

    def close(self) -> None:
        self._client.close()
