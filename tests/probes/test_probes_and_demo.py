"""Probes against the demo service, and the demo service itself: reload by PUT and by file, degradation."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest
from support.instances import INITIAL, http_get
from support.sshd import SshServer

from hotswap_cli.demo.instances import DemoInstance
from hotswap_cli.errors import ConfigError, ProbeError
from hotswap_cli.model import config_hash
from hotswap_cli.ops.backends import open_probes
from hotswap_cli.probes.histogram import bucket_edge, count_above, quantile
from hotswap_cli.probes.metrics import MetricsProbe
from hotswap_cli.specs import MetricsProbeSpec
from hotswap_cli.specs import target as make_target

NOWHERE = {"type": "local", "path": "/nowhere/config.json"}  # the probes are what is tested

def put(inst: DemoInstance, config: dict[str, object]) -> int:
    request = urllib.request.Request(inst.url + "/config", data=json.dumps(config).encode(), method="PUT")
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status


def wait_for_hash(inst: DemoInstance, digest: str) -> None:
    deadline = time.monotonic() + 5
    while http_get(inst.url + "/config")[1].get("X-Config-Sha256") != digest:
        assert time.monotonic() < deadline, "demo did not reload"
        time.sleep(0.05)


def test_demo_serves_config_and_its_hash(demo_instance: DemoInstance) -> None:
    status, headers, body = http_get(demo_instance.url + "/config")
    assert (status, body) == (200, INITIAL)
    assert headers["X-Config-Sha256"] == config_hash(json.loads(INITIAL))


def test_demo_reloads_from_its_file_without_restarting(demo_instance: DemoInstance) -> None:
    config = {"service": "demo", "release": 7}
    Path(demo_instance.config_path).write_text("service: demo\nrelease: 7\n")  # YAML works too
    wait_for_hash(demo_instance, config_hash(config))
    status, _, body = http_get(demo_instance.url + "/metrics")
    assert status == 200 and b"demo_config_reloads_total 2" in body


def test_demo_refuses_a_bad_config_and_keeps_running_the_old_one(demo_instance: DemoInstance) -> None:
    request = urllib.request.Request(demo_instance.url + "/config", data=b"[1, 2", method="PUT")
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(request, timeout=5)
    assert exc.value.code == 400
    assert http_get(demo_instance.url + "/config")[2] == INITIAL


def test_http_probe_reads_status_and_latency(demo_instance: DemoInstance) -> None:
    target = make_target("demo-1", NOWHERE, [{"type": "http", "url": demo_instance.url + "/health"}])
    [probe] = open_probes(target)
    try:
        first = probe.sample()
        assert first.ok is True and first.latency_ms is not None and first.latency_ms >= 1
        put(demo_instance, {"simulate": {"healthStatus": 503, "latencyMs": 1}})
        second = probe.sample()
        assert second.ok is False and "503" in second.detail
    finally:
        probe.close()


def test_metrics_probe_follows_the_config(demo_instance: DemoInstance) -> None:
    target = make_target("demo-1", NOWHERE, [{"type": "metrics", "url": demo_instance.url + "/metrics"}])
    [probe] = open_probes(target)
    try:
        first = probe.sample()
        assert first.no_data and "first scrape" in first.detail
        put(demo_instance, {"simulate": {"errorRate": 0.0, "latencyMs": 20, "rps": 2000}})
        probe.sample()
        time.sleep(0.3)
        good = probe.sample()
        assert not good.no_data and good.errors == 0 and good.error_rate == 0.0
        assert good.requests is not None and 300 < good.requests < 1200  # ~2000/s, Poisson noise
        assert good.requests == good.buckets[-1][1] and good.buckets[-1][0] == float("inf")
        assert good.p99_ms is not None and 40 < good.p99_ms < 100
        put(demo_instance, {"simulate": {"errorRate": 0.25, "latencyMs": 200, "rps": 2000}})
        probe.sample()
        time.sleep(0.3)
        bad = probe.sample()
        assert bad.requests is not None and bad.errors is not None and bad.error_rate is not None
        assert bad.error_rate == pytest.approx(bad.errors / bad.requests)
        assert bad.error_rate == pytest.approx(0.25, abs=0.08)
        assert bad.p99_ms is not None and bad.p99_ms > 5 * good.p99_ms
        put(demo_instance, {"simulate": {"rps": 0}})
        probe.sample()
        idle = probe.sample()
        assert idle.no_data and "no requests" in idle.detail and idle.requests is None
    finally:
        probe.close()


def test_metrics_probe_counts_from_zero_after_a_counter_reset() -> None:
    """Like Prometheus' rate(): a counter that went down restarted, its value is the count since."""
    probe = MetricsProbe("web-1", MetricsProbeSpec(url="http://127.0.0.1:9/metrics"))
    try:
        before = probe.parse('http_requests_total{status="200"} 1000\nhttp_requests_total{status="500"} 10\n')
        after = probe.parse('http_requests_total{status="200"} 90\nhttp_requests_total{status="500"} 30\n')
        sample = probe._compare(0.0, before, after)
        assert (sample.requests, sample.errors) == (120, 30) and "request counter reset" in sample.detail
        steady = probe._compare(0.0, after, probe.parse('http_requests_total{status="200"} 190\n'
                                                        'http_requests_total{status="500"} 30\n'))
        assert (steady.requests, steady.errors, steady.error_rate) == (100, 0, 0.0)
    finally:
        probe.close()


def test_quantile_interpolates_like_prometheus() -> None:
    assert quantile(0.5, {0.1: 50.0, 0.2: 100.0, float("inf"): 100.0}) == pytest.approx(0.1)
    assert quantile(0.99, {0.1: 0.0, 0.2: 100.0, float("inf"): 100.0}) == pytest.approx(0.199)
    assert quantile(0.99, {0.1: 0.0, float("inf"): 10.0}) == 0.1
    assert quantile(0.99, {0.1: 0.0, float("inf"): 0.0}) is None
    # the count above a latency, by the same interpolation: the inverse of quantile
    buckets = {0.1: 50.0, 0.2: 100.0, float("inf"): 100.0}
    assert count_above(0.15, buckets) == pytest.approx(25.0)
    assert count_above(quantile(0.9, buckets) or 0, buckets) == pytest.approx(10.0)
    assert count_above(0.05, buckets) == pytest.approx(75.0)
    assert count_above(0.3, buckets) is None  # beyond the last finite bound: unknown
    # the top of the bucket holding a quantile: what the quantile is at most, however interpolated
    assert bucket_edge(0.99, {0.1: 9850.0, 0.25: 10_000.0, float("inf"): 10_000.0}) == 0.25
    assert bucket_edge(0.99, {0.1: 9900.0, 0.25: 10_000.0, float("inf"): 10_000.0}) == 0.1
    assert bucket_edge(0.99, {0.1: 9000.0, float("inf"): 10_000.0}) is None


def test_command_probe_runs_locally_without_a_shell(tmp_path: Path) -> None:
    flag = tmp_path / "healthy"
    target = make_target("a", {"type": "local", "path": str(tmp_path / "c")},
                    ({"type": "command", "command": ["test", "-e", str(flag)]},
                     {"type": "command", "command": "echo $HOME; false"}))
    exists, shell = open_probes(target)
    assert exists.sample().ok is False
    flag.touch()
    assert exists.sample().ok is True
    sample = shell.sample()  # argv, not a shell: `false` is an argument of echo
    assert sample.ok is True


def test_command_probe_over_ssh(sshd: SshServer, ssh_workdir: Path) -> None:
    flag = ssh_workdir / "up"
    target = sshd.target("a", ssh_workdir / "c.json",
                         probes=({"type": "command", "command": f"test -e {flag}", "where": "target"},))
    [probe] = open_probes(target)
    try:
        assert probe.sample().ok is False
        flag.touch()
        assert probe.sample().ok is True
    finally:
        probe.close()


def test_misconfigured_probes_are_refused() -> None:
    with pytest.raises(ProbeError, match="needs an ssh transport"):
        open_probes(make_target("a", {"type": "local", "path": "/x"}, ({"type": "command", "command": "true",
                                                                    "where": "target"},)))
    with pytest.raises(ConfigError, match="target a: unknown probe type 'tcp'"):  # refused as it is read
        make_target("a", NOWHERE, ({"type": "tcp"},))
