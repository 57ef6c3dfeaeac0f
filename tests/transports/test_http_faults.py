"""HTTP transport and metrics faults against real loopback servers: 5xx, timeout, TLS, bad metrics."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import json
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from hotswap_cli.errors import TransportError
from hotswap_cli.model import config_hash
from hotswap_cli.ops.backends import open_transport
from hotswap_cli.probes.base import HealthSample
from hotswap_cli.probes.metrics import MetricsProbe
from hotswap_cli.specs import MetricsProbeSpec, target


class Handler(BaseHTTPRequestHandler):
    """GET /config: the stored body; PUT /config stores it; /broken answers 503; /slow sleeps."""

    store: dict[str, bytes] = {}
    hits: dict[str, int] = {}

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self, status: int, body: bytes = b"", ctype: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        Handler.hits[self.path] = Handler.hits.get(self.path, 0) + 1
        if self.path == "/metrics-garbage":
            self._answer(200, b"<html>this is not prometheus{{{</html>\n")
        elif self.path.startswith("/broken"):
            self._answer(503, b"backend down")
        else:
            self._answer(200, Handler.store.get(self.path, b"old"))

    def do_PUT(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Handler.hits["PUT " + self.path] = Handler.hits.get("PUT " + self.path, 0) + 1
        if self.path.startswith("/broken"):
            self._answer(503, b"backend down")
        elif self.path.startswith("/slow"):
            time.sleep(1.0)
            self._answer(200)
        elif self.path.startswith("/truncating"):  # keeps half, and says which config it now runs
            Handler.store[self.path] = body[: len(body) // 2]
            self._answer(200, json.dumps({"sha256": hashlib.sha256(body[: len(body) // 2]).hexdigest()}).encode(),
                         "application/json")
        else:
            Handler.store[self.path] = body
            self._answer(200)


def serve(server: ThreadingHTTPServer) -> str:
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def http_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Handler.store.clear()
    Handler.hits.clear()
    yield "http://" + serve(server)
    server.shutdown()


def self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hotswap test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    cert, key = self_signed(tmp_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    yield "https://" + serve(server), cert
    server.shutdown()


def push(spec: dict[str, object], data: bytes = b'{"new": true}', allowed_env: frozenset[str] = frozenset()) -> None:
    transport = open_transport(target("web-1", {"type": "http", **spec}), allowed_env=allowed_env)
    try:
        transport.read_current()
        transport.stage(data)
        transport.swap()
    finally:
        transport.close()


def test_5xx_is_retried_for_put_then_reported(http_server: str) -> None:
    with pytest.raises(TransportError, match=r"web-1: push: .*/broken answered 503: backend down"):
        push({"url": http_server + "/broken", "current_url": http_server + "/current", "retries": 2})
    assert Handler.hits["PUT /broken"] == 3


def test_post_is_not_retried(http_server: str) -> None:
    with pytest.raises(TransportError, match="answered 501"):  # stdlib: no do_POST -> 501
        push({"url": http_server + "/broken", "method": "POST", "retries": 2})


def test_timeout(http_server: str) -> None:
    started = time.monotonic()
    with pytest.raises(TransportError, match=r"/slow timed out after 0.3s"):
        push({"url": http_server + "/slow", "timeout": "300ms", "retries": 0})
    assert time.monotonic() - started < 1.0


def test_tls_verification_is_on_and_a_custom_ca_is_accepted(https_server: tuple[str, Path]) -> None:
    url, cert = https_server
    with pytest.raises(TransportError, match="TLS verification failed") as exc:
        push({"url": url + "/config"})
    assert "ca:" in str(exc.value)
    push({"url": url + "/config", "ca": str(cert)})
    assert Handler.store["/config"] == b'{"new": true}'


def test_secret_headers_come_from_allowed_environment_variables_and_never_show(
        http_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    allowed = frozenset({"DEPLOY_TEST_TOKEN", "HOTSWAP_SECRET_KEY"})
    headers = {"Authorization": "Bearer ${DEPLOY_TEST_TOKEN}"}
    monkeypatch.delenv("DEPLOY_TEST_TOKEN", raising=False)
    with pytest.raises(TransportError, match="needs environment variable DEPLOY_TEST_TOKEN"):
        push({"url": http_server + "/config", "headers": headers}, allowed_env=allowed)
    monkeypatch.setenv("DEPLOY_TEST_TOKEN", "s3cret-value")
    with pytest.raises(TransportError, match=r"uses \$\{DEPLOY_TEST_TOKEN\}, which is not an allowed"):
        push({"url": http_server + "/config", "headers": headers})  # not on the list: refused
    with pytest.raises(TransportError) as exc:
        push({"url": http_server + "/broken", "headers": headers, "retries": 0}, allowed_env=allowed)
    assert "s3cret-value" not in str(exc.value)
    monkeypatch.setenv("HOTSWAP_SECRET_KEY", "00" * 32)
    with pytest.raises(TransportError, match="HOTSWAP_SECRET_KEY.*HOTSWAP_\\* never"):  # even when listed
        push({"url": http_server + "/config", "headers": {"X-Innocent": "${HOTSWAP_SECRET_KEY}"}}, allowed_env=allowed)


def test_metrics_endpoint_missing_or_unparsable_is_no_data(http_server: str) -> None:
    def sample(url: str, **spec: float) -> HealthSample:
        probe = MetricsProbe("web-1", MetricsProbeSpec(url=url, **spec))
        try:
            return probe.sample()
        finally:
            probe.close()

    refused = sample("http://127.0.0.1:9/metrics", timeout=1.0)
    assert refused.no_data and "cannot scrape" in refused.detail
    missing = sample(http_server + "/broken/metrics")
    assert missing.no_data and "answered 503" in missing.detail
    garbage = sample(http_server + "/metrics-garbage")
    assert garbage.no_data and "unparsable metrics" in garbage.detail
    absent = sample(http_server + "/plain")  # body "old": no metric
    assert absent.no_data and absent.error_rate is None


def test_an_instance_that_answers_the_push_naming_another_config_is_not_confirmed(http_server: str) -> None:
    """What the instance says it holds after the push is checked against what was sent: a
    truncated write is caught (the runner then reverts), not reported as live."""
    data = b'{"new": true, "pool": 20}'
    transport = open_transport(target("web-1", {"type": "http", "url": http_server + "/truncating",
                                                "current_url": http_server + "/truncating"}))
    try:
        transport.read_current()
        transport.stage(data)
        transport.swap()
        assert transport.confirm(config_hash(json.loads(data))) is False
    finally:
        transport.close()
