"""One client per instance host:port and TLS settings, shared by its transport and probes, closed
by its last user; requests to our own clients skip what httpx adds that hotswap never uses."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from fault_support import http_instance

from hotswap_cli.io.http import client_for, fetch
from hotswap_cli.specs import Tls


def test_users_of_one_host_share_a_client_until_the_last_closes_it() -> None:
    with http_instance() as http:
        http.config = b'{"a": 1}'
        first, second = client_for(Tls(), http.url + "/config"), client_for(Tls(), http.url + "/health/x")
        assert first is second
        assert client_for(Tls(verify=False), http.url + "/config") is not first  # other TLS settings
        first.close()
        assert fetch(second, "GET", http.url + "/config", timeout=2).content == b'{"a": 1}'
        second.close()
        assert second.is_closed
        assert client_for(Tls(), http.url + "/config") is not first  # a new one after the last close


def test_fifty_threads_asking_at_once_get_one_client() -> None:
    with http_instance() as http:
        with ThreadPoolExecutor(50) as pool:
            clients = list(pool.map(lambda _: client_for(Tls(), http.url + "/config"), range(50)))
        assert len({id(c) for c in clients}) == 1
        for c in clients:
            c.close()
        assert clients[0].is_closed


def test_a_direct_request_sends_our_headers_and_reads_the_body_as_sent() -> None:
    with http_instance() as http:
        http.config = b'{"b": 2}'
        client = client_for(Tls(), http.url)
        try:
            reply = fetch(client, "PUT", http.url + "/config", timeout=2, content=b'{"c": 3}',
                          headers={"X-Token": "t"})
            assert reply.status_code == 200 and reply.reason_phrase == "OK"
            assert http.config == b'{"c": 3}'
            got = fetch(client, "GET", http.url + "/config", timeout=2)
            assert got.content == b'{"c": 3}' and got.headers["content-type"] == "application/json"
        finally:
            client.close()
        assert http.connections == 1  # kept alive between the two


def test_what_a_client_does_not_use_is_never_made() -> None:
    """A plain-http client makes no TLS context and no httpx.Client (a fleet command paid ~0.08 ms
    per instance and ~30 ms of CA bundle for neither); a request fetch does not send straight (query
    parameters) makes the httpx.Client then, on the same connections; closing closes both."""
    from hotswap_cli.io import http as io_http
    from hotswap_cli.io.http import new_client

    made: list[Tls] = []
    real = io_http._context

    def counting(tls: Tls):  # type: ignore[no-untyped-def]
        made.append(tls)
        return real(tls)

    io_http._context, saved = counting, real  # type: ignore[assignment]
    try:
        with http_instance() as http:
            http.config = b'{"d": 4}'
            client = new_client(Tls(ca=None))
            assert fetch(client, "GET", http.url + "/config", timeout=2).content == b'{"d": 4}'
            assert made == [] and client._httpx is None
            fetch(client, "GET", http.url + "/config", timeout=2, params={"x": "1"})
            assert http.requests[-1] == ("GET", "/config?x=1")  # sent, through httpx
            assert client._httpx is not None and set(made) == {Tls(ca=None)}  # made now (and shared)
            assert http.connections == 2  # the direct one, then httpcore's own
            client.close()
            assert client.is_closed and client._httpx is None
    finally:
        io_http._context = saved  # type: ignore[assignment]
