"""The `prometheus` probe against a real Prometheus server scraping demo instances, and against
servers that refuse, flood or stall."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from support.instances import http_get
from support.prometheus import PrometheusServer, scraped_demo

from hotswap_cli.demo.instances import DemoInstance
from hotswap_cli.errors import ProbeError
from hotswap_cli.ops.backends import open_probes
from hotswap_cli.probes.prometheus import PrometheusProbe
from hotswap_cli.specs import target


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PrometheusServer, list[DemoInstance]]]:
    with scraped_demo(tmp_path_factory.mktemp("prometheus"), 2) as running:
        yield running


def put(inst: DemoInstance, simulate: dict[str, object]) -> None:
    import urllib.request

    body = json.dumps({"service": "demo", "simulate": simulate}).encode()
    request = urllib.request.Request(inst.url + "/config", data=body, method="PUT")
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


NOWHERE = {"type": "local", "path": "/nowhere/config.json"}  # the probe is what is tested


def probe_for(name: str, url: str, **extra: object) -> PrometheusProbe:
    [probe] = open_probes(target(name, NOWHERE, [{"type": "prometheus", "url": url, **extra}]))
    assert isinstance(probe, PrometheusProbe)
    return probe


def test_counts_come_from_the_server_and_follow_the_instance(
        scraped: tuple[PrometheusServer, list[DemoInstance]]) -> None:
    server, [inst, _] = scraped
    probe = probe_for(inst.name, server.url)
    try:
        baseline = probe.sample()  # looks back 5m: a baseline with no wait
        assert not baseline.no_data, baseline.detail
        assert baseline.requests is not None and baseline.requests > 1000  # ~2000 requests/s since start
        assert baseline.errors is not None and baseline.errors / baseline.requests < 0.03  # 0.5% initially
        assert baseline.buckets and baseline.p99_ms is not None and 50 < baseline.p99_ms < 200
        put(inst, {"errorRate": 0.3, "latencyMs": 35})
        time.sleep(4)
        window = probe.sample()
        assert window.requests is not None and window.errors is not None, window.detail
        assert 0.1 < window.errors / window.requests < 0.4  # the scrape just before the change dilutes it
        assert 4_000 < window.requests < 14_000  # only the ~4 s since the previous sample, at ~2000/s
        assert "requests in" in window.detail and "failed" in window.detail
    finally:
        put(inst, {"errorRate": 0.005, "latencyMs": 35})
        probe.close()


def test_an_instance_prometheus_does_not_know_has_no_data(
        scraped: tuple[PrometheusServer, list[DemoInstance]]) -> None:
    server, _ = scraped
    probe = probe_for("nobody", server.url)
    try:
        sample = probe.sample()
        assert sample.no_data and sample.detail == "no requests series for nobody over the last 300s"
    finally:
        probe.close()


def test_a_query_prometheus_refuses_says_why(scraped: tuple[PrometheusServer, list[DemoInstance]]) -> None:
    server, [inst, _] = scraped
    probe = probe_for(inst.name, server.url, requests="sum(rate(http_requests_total[{{window}}]")
    try:
        sample = probe.sample()
        assert sample.no_data and sample.detail.startswith("prometheus refused `requests` (400): ")
        assert "parse error" in sample.detail
    finally:
        probe.close()


def test_custom_queries_are_templated_with_the_name_and_window(
        scraped: tuple[PrometheusServer, list[DemoInstance]]) -> None:
    server, [_, inst] = scraped
    probe = probe_for(inst.name, server.url, lookback="30s",
                      requests='sum(increase(http_requests_total{instance="{{name}}"}[{{window}}]))',
                      errors=None, latency_buckets=None)
    try:
        sample = probe.sample()
        assert sample.requests is not None and 5_000 < sample.requests < 70_000  # up to 30 s at ~2000/s
        assert sample.errors == 0.0 and sample.buckets == () and sample.p99_ms is None
    finally:
        probe.close()


def test_a_query_with_an_unknown_placeholder_is_refused() -> None:
    with pytest.raises(ProbeError, match=r"prometheus probe `errors` uses \{\{job\}\}"):
        probe_for("web-1", "http://127.0.0.1:9", errors='sum(increase(x{job="{{job}}"}[{{window}}]))')


class Hostile(BaseHTTPRequestHandler):
    """flood: an endless answer; stall: headers, then nothing; lie: a 200 that is not Prometheus."""

    def do_GET(self) -> None:  # noqa: N802
        mode = self.server.mode  # type: ignore[attr-defined]
        if mode == "stall":
            time.sleep(30)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        if mode == "lie":
            self.wfile.write(b'{"status": "success", "data": {"resultType": "matrix", "result": []}}')
            return
        chunk = b'{"status": "success", "data": {"resultType": "vector", "result": [' + b" " * 65536
        try:
            for _ in range(64):  # 4 MiB
                self.wfile.write(chunk)
        except OSError:
            pass

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(params=["flood", "stall", "lie"])
def hostile(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    server.mode = request.param  # type: ignore[attr-defined]
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield request.param, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_server_that_floods_stalls_or_lies_gives_no_data_in_time(hostile: tuple[str, str]) -> None:
    mode, url = hostile
    probe = probe_for("web-1", url, timeout="1s")
    started = time.monotonic()
    try:
        sample = probe.sample()
    finally:
        probe.close()
    assert time.monotonic() - started < 5
    assert sample.no_data
    expected = {"flood": "prometheus answered more than 1048576 bytes to `requests`",
                "stall": "cannot query prometheus: ",
                "lie": "`requests` gives a matrix, not an instant vector"}[mode]
    assert expected in sample.detail, sample.detail


def test_the_demo_instances_are_really_scraped(scraped: tuple[PrometheusServer, list[DemoInstance]]) -> None:
    server, instances = scraped
    up = {r["metric"]["instance"]: r["value"][1] for r in server.query('up{job="demo"}')}  # type: ignore[index]
    assert up == {i.name: "1" for i in instances}
    assert http_get(instances[0].url + "/health")[0] in (200, 503)
