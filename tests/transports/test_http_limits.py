"""HTTP limits against real loopback servers that attack: bytes dripped past the deadline, bodies
far past the cap, alias bombs, deep nesting and complex keys in what an instance answers."""

from __future__ import annotations

import socket
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hotswap_cli.errors import TransportError
from hotswap_cli.io.http import post_reload
from hotswap_cli.ops.backends import open_transport
from hotswap_cli.ops.live import read_one
from hotswap_cli.probes.http import HttpProbe
from hotswap_cli.probes.metrics import MetricsProbe
from hotswap_cli.specs import HttpProbeSpec, MetricsProbeSpec, Tls, target

Respond = Callable[[socket.socket], None]
MiB = 1024 * 1024


class RawServer:
    """A TCP server on 127.0.0.1 that answers every connection with `respond(sock)` in a thread,
    after reading the request head; `sent` counts the body bytes it managed to write."""

    def __init__(self, respond: Respond) -> None:
        self.respond = respond
        self.sent = 0
        self.stop = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                data = conn.recv(65536)
                if not data:
                    return
                head += data
            try:
                self.respond(conn)
            except OSError:
                pass  # the client hung up: that is what the limits are for

    def send(self, conn: socket.socket, data: bytes) -> None:
        conn.sendall(data)
        self.sent += len(data)

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


@pytest.fixture
def serve() -> Iterator[Callable[[Respond], RawServer]]:
    servers: list[RawServer] = []

    def start(respond: Respond) -> RawServer:
        servers.append(RawServer(respond))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def drip(server: Callable[[], RawServer], data: bytes, every: float = 0.25) -> Respond:
    def respond(conn: socket.socket) -> None:
        for i in range(len(data)):
            if server().stop.is_set():
                return
            conn.sendall(data[i:i + 1])
            time.sleep(every)
    return respond


def answer(body: bytes, ctype: str = "application/yaml") -> Respond:
    def respond(conn: socket.socket) -> None:
        conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                     + body)
    return respond


def http_transport(url: str, **spec: Any) -> Any:
    return open_transport(target("pay-1", {"type": "http", "url": url + "/config", "retries": 0, **spec}))


DRIPPED_BODY = b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n" + b"x" * 40
DRIPPED_HEAD = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"y" * 40 + b"\r\nContent-Length: 2\r\n\r\n{}"


@pytest.mark.parametrize("script", [DRIPPED_BODY, DRIPPED_HEAD], ids=["body", "headers"])
def test_a_server_dripping_bytes_cannot_outlast_the_timeout(serve: Callable[[Respond], RawServer],
                                                           script: bytes) -> None:
    server = serve(drip(lambda: server, script))
    transport = http_transport(server.url, timeout="1s")
    started = time.monotonic()
    with pytest.raises(TransportError) as info:
        transport.read_current()
    elapsed = time.monotonic() - started
    transport.close()
    assert elapsed < 2.0, f"the request ran {elapsed:.1f}s past a 1s timeout"
    assert (info.value.instance, info.value.reason) == ("pay-1", f"read current config: {server.url}/config timed "
                                                                 "out after 1s")


def test_health_and_reload_requests_keep_the_deadline(serve: Callable[[Respond], RawServer]) -> None:
    server = serve(drip(lambda: server, DRIPPED_BODY))
    probe = HttpProbe("pay-1", HttpProbeSpec(url=server.url + "/health", timeout=0.5))
    started = time.monotonic()
    sample = probe.sample()
    probe.close()
    assert time.monotonic() - started < 1.5
    assert not sample.ok and sample.detail == f"{server.url}/health timed out after 0.5s"
    started = time.monotonic()
    with pytest.raises(TransportError, match="reload: .* timed out after 0.5s"):
        post_reload("pay-1", server.url + "/reload", headers={}, tls=Tls(), timeout=0.5, traceparent=None)
    assert time.monotonic() - started < 1.5


def test_a_huge_body_stops_at_max_body_without_being_read(serve: Callable[[Respond], RawServer]) -> None:
    def stream_200_mib(conn: socket.socket) -> None:
        server.send(conn, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (MiB, b"a" * MiB)
        for _ in range(200):
            server.send(conn, chunk)
        server.send(conn, b"0\r\n\r\n")

    server = serve(stream_200_mib)
    transport = http_transport(server.url)
    tracemalloc.start()
    try:
        with pytest.raises(TransportError) as info:
            transport.read_current()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        transport.close()
    assert (info.value.instance, info.value.reason) == (
        "pay-1", f"read current config: {server.url}/config answered with more than 16 MiB (max_body)")
    assert "raise `max_body`" in (info.value.hint or "")
    assert peak < 48 * MiB, f"reading peaked at {peak / MiB:.0f} MiB"
    assert server.sent < 100 * MiB


def test_a_declared_length_past_max_body_is_refused_before_the_body(serve: Callable[[Respond], RawServer]) -> None:
    def declare_300_mb(conn: socket.socket) -> None:
        server.send(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 300000000\r\n\r\n")
        server.send(conn, b"b" * 4096)
        time.sleep(0.5)

    server = serve(declare_300_mb)
    transport = http_transport(server.url, max_body="1KiB")
    with pytest.raises(TransportError, match=r"^pay-1: read current config: .* answered with more than 1 KiB "
                                             r"\(max_body\) \(raise `max_body`"):
        transport.read_current()
    transport.close()


def test_metrics_probe_reports_a_body_past_its_max_body(serve: Callable[[Respond], RawServer]) -> None:
    server = serve(answer(b"http_requests_total 1\n" * 200, "text/plain"))
    probe = MetricsProbe("pay-1", MetricsProbeSpec(url=server.url + "/metrics", max_body=1024))
    sample = probe.sample()
    probe.close()
    assert sample.no_data
    assert sample.detail == f"cannot scrape: {server.url}/metrics answered with more than 1 KiB (max_body)"


def bomb(levels: int) -> bytes:
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels + 1)]
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (bomb(7), "line 6: YAML aliases expand the document past 1 MiB (at *l4); write the values out "
                  "instead of nesting aliases"),
        (b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested deeper than 100 levels"),
        (b"a: " + b"[" * 100_000 + b"]" * 100_000, "line 1: nested deeper than 100 levels"),
        (b"? [a, b]\n: 1\n", "line 1: a mapping key is a list or mapping (a YAML complex key); keys must be text"),
        (b"a: &a [*a]\n", "line 1: alias *a refers to a collection that contains it"),
    ],
    ids=["alias-bomb", "deep-json", "deep-yaml", "complex-key", "recursive-alias"],
)
def test_hostile_replies_are_refused_in_one_line(serve: Callable[[Respond], RawServer], body: bytes,
                                                  error: str) -> None:
    server = serve(answer(body))
    live = read_one(target("pay-1", {"type": "http", "url": server.url + "/config", "retries": 0}),
                    open_transport)
    assert (live.present, live.error) == (False, error)


def test_confirm_survives_a_deeply_nested_answer(serve: Callable[[Respond], RawServer]) -> None:
    server = serve(answer(b'{"sha256": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "application/json"))
    transport = http_transport(server.url, confirm_url=server.url + "/running", confirm_timeout="0.3s")
    assert transport.confirm("0" * 64) is False
    transport.close()


def test_replies_within_the_limits_still_parse(serve: Callable[[Respond], RawServer]) -> None:
    server = serve(answer(b"base: &b {retries: 3}\nprimary: *b\nbackup: *b\nsince: 2024-01-01\n"))
    live = read_one(target("pay-1", {"type": "http", "url": server.url + "/config"}), open_transport)
    assert live.error is None
    assert live.data == {"base": {"retries": 3}, "primary": {"retries": 3}, "backup": {"retries": 3},
                         "since": "2024-01-01"}


def reply(head: bytes) -> Respond:
    def respond(conn: socket.socket) -> None:
        conn.sendall(head)
    return respond


@pytest.mark.parametrize(
    ("head", "error"),
    [
        (b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(101)) + b"\r\n{}",
         "got more than 100 headers"),
        (b"HTTP/1.1 200 OK\r\nX-Long: " + b"y" * 70_000 + b"\r\nContent-Length: 2\r\n\r\n{}",
         "header line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nnot a header\r\n\r\n{}",
         "RemoteProtocolError: malformed header line 'not a header'"),
        (b"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\n{}", "malformed header line"),
    ],
    ids=["header-flood", "header-line-too-long", "not-a-header", "space-before-colon"],
)
def test_hostile_headers_are_refused_in_one_line(serve: Callable[[Respond], RawServer], head: bytes,
                                                 error: str) -> None:
    server = serve(reply(head))
    transport = http_transport(server.url, timeout="2s")
    with pytest.raises(TransportError) as info:
        transport.read_current()
    transport.close()
    assert info.value.instance == "pay-1"
    assert info.value.reason.startswith(f"read current config: {server.url}/config"), info.value.reason
    assert error in info.value.reason, info.value.reason
    assert "\n" not in info.value.reason


def test_headers_as_http_allows_them_are_read(serve: Callable[[Respond], RawServer]) -> None:
    """A 100 Continue before the answer, names in any case, a folded (obs-fold) value, an empty one."""
    sha = "ab" * 32
    server = serve(reply(b"HTTP/1.1 100 Continue\r\nX-Ignored: 1\r\n\r\n"
                         b"HTTP/1.1 200 OK\r\ncontent-LENGTH: 9\r\nX-Note: first\r\n \tsecond\r\nX-Empty:\r\n"
                         b"x-config-sha256: " + sha.encode() + b"\r\n\r\nname: web"))
    transport = http_transport(server.url)
    try:
        assert transport.read_current() == b"name: web"
        transport.stage(b"name: web\n")
        transport.swap()  # the same server answers the PUT with the same reply: it reports `sha`
        assert transport.confirm(sha) is True
    finally:
        transport.close()
