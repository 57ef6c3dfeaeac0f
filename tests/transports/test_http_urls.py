"""A URL as a direct request sends it (io.deadline._where): plain URLs take the standard library's
urlsplit, the rest httpx.URL, and both read a URL the same way: host, port, path and query, and the
Host header httpx would send."""

from __future__ import annotations

import httpx
import pytest

from hotswap_cli.io import deadline

URLS = ["http://127.0.0.1:80/x", "http://[::1]:8080/a?b=1", "HTTP://Example.COM/p", "https://h/p q",
        "http://u:p@h:1/", "http://h", "https://h:443/x?y=1#frag", "http://h:8080/a/b;c?d=%20e", "http://[::1]/",
        "https://bücher.de/a", "http://h/a|b", "http://h?q", "http://H:08080/p", "https://[fe80::1]:443/"]


def by_httpx(url: str) -> deadline._Where:
    parsed = httpx.URL(url)
    https = parsed.scheme == "https"
    return deadline._Where(https, parsed.host, parsed.port or (443 if https else 80), parsed.raw_path.decode(),
                           parsed.netloc.decode())


@pytest.mark.parametrize("url", URLS)
def test_a_url_reads_as_httpx_reads_it(url: str) -> None:
    deadline._where.cache_clear()
    assert deadline._where(url) == by_httpx(url)


@pytest.mark.parametrize(("url", "error"), [("http://h:x/", httpx.InvalidURL),
                                            ("ftp://h/x", httpx.UnsupportedProtocol)])
def test_a_url_that_cannot_be_sent_is_refused(url: str, error: type[Exception]) -> None:
    deadline._where.cache_clear()
    with pytest.raises(error):
        deadline._where(url)


def test_a_url_without_a_host_reads_as_httpx_reads_it() -> None:
    deadline._where.cache_clear()
    assert deadline._where("http://:80/") == by_httpx("http://:80/")  # (connecting to it then fails)


def test_requests_go_to_the_url_itself_never_through_an_environment_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/targets.md: HTTP_PROXY, HTTPS_PROXY and ALL_PROXY are not used."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from hotswap_cli.io.http import new_client
    from hotswap_cli.specs import Tls

    seen: list[tuple[str, str]] = []

    class Answer(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            seen.append((self.server.server_address[1], self.path))  # type: ignore[index]
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    servers = [ThreadingHTTPServer(("127.0.0.1", 0), Answer) for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    instance, proxy = (s.server_address[1] for s in servers)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{proxy}")
    try:
        with new_client(Tls()) as client:
            reply = deadline.fetch(client, "GET", f"http://127.0.0.1:{instance}/health", timeout=5)
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
    assert (reply.status_code, reply.content) == (200, b"ok")
    assert seen == [(instance, "/health")]  # the proxy saw nothing
