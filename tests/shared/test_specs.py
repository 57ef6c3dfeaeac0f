"""Target specs parsed once from profile.yaml's mappings: defaults, durations, paths, and refusals."""

from __future__ import annotations

import os

import pytest

from hotswap_cli.errors import ConfigError
from hotswap_cli.specs import (
    CommandProbeSpec,
    HttpProbeSpec,
    HttpSpec,
    LocalSpec,
    MetricsProbeSpec,
    PrometheusProbeSpec,
    SshSpec,
    Tls,
    parse_probe,
    parse_transport,
    target,
)

TRANSPORTS = [
    ({"type": "local", "path": "/srv/app/config.yaml"}, LocalSpec(path="/srv/app/config.yaml", format="yaml")),
    ({"type": "local", "path": "/srv/a.json", "check": ["nginx", "-t", "-c", "{path}"], "mode": "0640",
      "timeout": "2m"}, LocalSpec(path="/srv/a.json", check=("nginx", "-t", "-c", "{path}"), mode=0o640, timeout=120)),
    ({"type": "ssh", "host": "web-1", "path": "/etc/app.json", "user": "deploy", "timeout": "5s", "verify": False},
     SshSpec(host="web-1", path="/etc/app.json", user="deploy", timeout=5,
             known_hosts=os.path.expanduser("~/.ssh/known_hosts"), tls=Tls(verify=False),
             given=frozenset({"type", "host", "path", "user", "timeout", "verify"}))),
    ({"type": "http", "url": "https://a/config.yml", "headers": {"Authorization": "Bearer ${TOKEN}"}},
     HttpSpec(url="https://a/config.yml", format="yaml", current_url="https://a/config.yml",
              headers={"Authorization": "Bearer ${TOKEN}"})),
    ({"type": "http", "url": "https://a/config", "method": "post", "format": "yaml"},
     HttpSpec(url="https://a/config", format="yaml", method="POST", current_url=None)),
]


@pytest.mark.parametrize(("raw", "spec"), TRANSPORTS, ids=[f"{r['type']}-{i}" for i, (r, _) in enumerate(TRANSPORTS)])
def test_transport_specs(raw: dict[str, object], spec: object) -> None:
    assert parse_transport("web-1", raw) == spec


PROBES = [
    ({"type": "http", "url": "http://a/health", "ca": "~/ca.pem"},
     HttpProbeSpec(url="http://a/health", tls=Tls(ca=os.path.expanduser("~/ca.pem")))),
    ({"type": "metrics", "url": "http://a/metrics", "status_label": "code"},
     MetricsProbeSpec(url="http://a/metrics", status_label="code")),
    ({"type": "prometheus", "url": "http://prom:9090", "errors": None, "lookback": "10m"},
     PrometheusProbeSpec(url="http://prom:9090", errors=None, lookback=600)),
    ({"type": "command", "command": "curl -fsS localhost/health", "where": "target", "timeout": 3},
     CommandProbeSpec(command="curl -fsS localhost/health", where="target", timeout=3)),
]


@pytest.mark.parametrize(("raw", "spec"), PROBES, ids=[r["type"] for r, _ in PROBES])
def test_probe_specs(raw: dict[str, object], spec: object) -> None:
    assert parse_probe("web-1", raw) == spec


@pytest.mark.parametrize(("raw", "message"), [
    ({"type": "ftp", "path": "/x"}, "target web-1: unknown transport type 'ftp' (use one of local, ssh, http, etcd)"),
    ({"type": "ssh", "path": "/x"}, "target web-1: the ssh transport needs `host`"),
    ({"type": "local", "path": "/x", "timeout": "soon"}, "target web-1: transport: not a duration: 'soon'"),
])
def test_bad_transports_are_named(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_transport("web-1", raw)
    assert err.value.message.startswith(message)


def test_a_target_carries_its_typed_probes() -> None:
    t = target("web-1", {"type": "local", "path": "/srv/a.json"}, [{"type": "http", "url": "http://a/h"}])
    assert t.transport.kind == "local" and [p.kind for p in t.probes] == ["http"]
    with pytest.raises(ConfigError, match="the metrics probe needs `url`"):
        target("web-1", {"type": "local", "path": "/srv/a.json"}, [{"type": "metrics"}])
