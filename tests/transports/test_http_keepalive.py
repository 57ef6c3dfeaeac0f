"""Kept HTTP connections the server drops: a real socket server on loopback answers the first
request of each connection and drops the second, as a server whose idle timeout runs out just
as the next request arrives does (closing after reading it: the client reads EOF; closing with it
unread: the kernel resets the connection). An idempotent request is sent once more on a new
connection; a POST is not (the server may have acted on it)."""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from hotswap_cli.io.deadline import fetch
from hotswap_cli.io.http import new_client
from hotswap_cli.specs import Tls


@dataclass
class DroppingServer:
    """Answers the first request on each connection (keep-alive), drops the second."""

    how: str  # "eof": read the second request, then close; "reset": close with it unread
    sock: socket.socket = field(default_factory=lambda: socket.create_server(("127.0.0.1", 0)))
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/health"

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            self.requests.append(self._read_request(conn))
            body = f"connection {self.connections}".encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            if self.how == "eof":
                self.requests.append(self._read_request(conn))
            else:
                select.select([conn], [], [], 10)  # the next request has arrived: close with it unread
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")

    @staticmethod
    def _read_request(conn: socket.socket) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        while len(body) < length:
            body += conn.recv(65536)
        return head.split(b"\r\n")[0]


@pytest.fixture(params=["eof", "reset"])
def server(request: pytest.FixtureRequest) -> Iterator[DroppingServer]:
    made = DroppingServer(request.param)
    threading.Thread(target=made.serve, daemon=True).start()
    yield made
    made.sock.close()


def test_an_idempotent_request_a_kept_connection_drops_is_sent_again_on_a_new_one(server: DroppingServer) -> None:
    with new_client(Tls()) as client:
        first = fetch(client, "GET", server.url, timeout=5)
        second = fetch(client, "GET", server.url, timeout=5)
        put = fetch(client, "PUT", server.url, timeout=5, content=b"{}")

    assert (first.status_code, first.content) == (200, b"connection 1")
    assert (second.status_code, second.content) == (200, b"connection 2")  # answered on a new connection
    assert (put.status_code, put.content) == (200, b"connection 3")
    assert server.connections == 3


def test_a_post_a_kept_connection_drops_is_not_sent_again(server: DroppingServer) -> None:
    with new_client(Tls()) as client:
        assert fetch(client, "POST", server.url, timeout=5, content=b"reload").content == b"connection 1"
        with pytest.raises(httpx.TransportError):  # a reset, an EOF, or a reset while the body went out
            fetch(client, "POST", server.url, timeout=5, content=b"reload")

    assert server.connections == 1  # the server may have acted on it: never twice


def test_a_post_the_caller_says_is_idempotent_is_sent_again(server: DroppingServer) -> None:
    """etcd's reads are POSTs (/v3/kv/range): io.etcd marks them idempotent, its writes not."""
    with new_client(Tls()) as client:
        fetch(client, "POST", server.url, timeout=5, content=b"{}", idempotent=True)
        again = fetch(client, "POST", server.url, timeout=5, content=b"{}", idempotent=True)
        with pytest.raises(httpx.TransportError):
            fetch(client, "GET", server.url, timeout=5, idempotent=False)

    assert again.content == b"connection 2" and server.connections == 2  # the GET was not sent again
