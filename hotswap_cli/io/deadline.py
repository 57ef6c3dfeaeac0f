"""One HTTP request bounded in time and size: it ends within its timeout in total (connect, TLS,
send, headers and the whole body) and reads at most `max_body` bytes. httpx's own timeouts are per
socket operation, so a server dripping a byte a second would never time out; here the deadline
travels with the request to a network backend that clamps every socket operation to it."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import httpcore
import httpx

from hotswap_cli.formats import format_size
from hotswap_cli.specs import DEFAULT_MAX_BODY


@dataclass(frozen=True)
class Reply:
    """A response read whole, within its deadline and its body cap."""

    status_code: int
    headers: httpx.Headers
    content: bytes
    reason_phrase: str

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


class BodyTooLarge(httpx.HTTPError):
    """A response body past `max_body`: refused before it is read whole."""

    def __init__(self, url: str, limit: int) -> None:
        super().__init__(f"{url} answered with more than {format_size(limit)} (max_body)")
        self.limit = limit


def fetch(client: httpx.Client, method: str, url: str, *, timeout: float, max_body: int = DEFAULT_MAX_BODY,
          **kwargs: Any) -> Reply:
    """One request that ends within `timeout` in total (connect, TLS, send, headers and the whole
    body: httpx's own timeouts are per socket operation, so a server dripping a byte a second would
    never time out) and reads at most `max_body` bytes of body. Raises httpx.HTTPError: a
    TimeoutException past the deadline, BodyTooLarge past the cap."""
    deadline = time.monotonic() + timeout
    token = _DEADLINE.set(deadline)
    direct: DeadlineTransport | None = getattr(client, "direct", None)
    try:
        if direct is not None and set(kwargs) <= {"headers", "content"}:
            return direct.fetch(method, url, timeout=timeout, max_body=max_body, deadline=deadline, **kwargs)
        with client.stream(method, url, timeout=timeout, **kwargs) as response:
            body = read_body(response.iter_bytes(), response.headers.get("Content-Length", ""), url,
                             max_body=max_body, deadline=deadline, timeout=timeout)
            return Reply(response.status_code, response.headers, body, response.reason_phrase)
    finally:
        _DEADLINE.reset(token)


def read_body(chunks: Iterator[bytes], declared: str, url: str, *, max_body: int, deadline: float,
              timeout: float) -> bytes:
    """A response's whole body: BodyTooLarge past `max_body` (refused up front when its declared
    Content-Length says so), httpx.ReadTimeout past the request's deadline."""
    if declared.isdigit() and int(declared) > max_body:
        raise BodyTooLarge(url, max_body)
    parts, size = [], 0
    for chunk in chunks:
        size += len(chunk)
        if size > max_body:
            raise BodyTooLarge(url, max_body)
        parts.append(chunk)
        if time.monotonic() > deadline:
            raise httpx.ReadTimeout(f"{url}: past the {timeout:g}s deadline")
    return b"".join(parts)


# Every socket operation of a request made by `fetch` waits at most until the request's deadline:
# the deadline travels in a context variable (per thread) to a network backend that clamps the
# timeout of each connect, TLS handshake, read and write.
_DEADLINE: ContextVar[float | None] = ContextVar("hotswap_http_deadline", default=None)


def _clamped(timeout: float | None, expired: type[httpcore.TimeoutException]) -> float | None:
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise expired("the request's deadline passed")
    return remaining if timeout is None else min(timeout, remaining)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _clamped(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _clamped(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname,
                                                     _clamped(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Any = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.connect_tcp(host, port, _clamped(timeout, httpcore.ConnectTimeout),
                                                       local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Any = None) -> httpcore.NetworkStream:  # pragma: no cover
        return _DeadlineStream(self._inner.connect_unix_socket(path, _clamped(timeout, httpcore.ConnectTimeout),
                                                               socket_options))

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


# httpcore's errors as httpx raises them (subclasses first).
_ERRORS: tuple[tuple[type[Exception], type[httpx.HTTPError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout), (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout), (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException), (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError), (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError), (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError), (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextmanager
def _httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for core, mapped in _ERRORS:
            if isinstance(exc, core):
                raise mapped(str(exc)) from exc
        raise


class _Body(httpx.SyncByteStream):
    def __init__(self, response: httpcore.Response) -> None:
        self._response = response

    def __iter__(self) -> Iterator[bytes]:
        with _httpx_errors():
            yield from self._response.iter_stream()

    def close(self) -> None:
        with _httpx_errors():
            self._response.close()


USER_AGENT = b"hotswap"
_DEFAULT_HEADERS = ((b"Accept", b"*/*"), (b"Accept-Encoding", b"identity"), (b"Connection", b"keep-alive"),
                    (b"User-Agent", USER_AGENT))


@lru_cache(maxsize=65536)
def _target(url: str) -> tuple[httpcore.URL, bytes]:
    """A URL as the connection pool takes it, and its Host header (parsed once per URL: a fleet
    sends every instance the same few requests)."""
    parsed = httpx.URL(url)
    host = parsed.netloc
    return httpcore.URL(scheme=parsed.raw_scheme, host=parsed.raw_host, port=parsed.port, target=parsed.raw_path), host


class DeadlineTransport(httpx.BaseTransport):
    """httpx's default transport, on a connection pool whose sockets honour `fetch`'s deadline.
    `fetch` with plain headers and content goes to the pool straight (`DeadlineTransport.fetch`):
    what a client adds on the way (cookies, redirects, auth, hooks, content decoding) is what
    hotswap does not use, and costs about half of each request's CPU, which a fleet pays 5 times
    per instance."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self._pool = httpcore.ConnectionPool(ssl_context=context, network_backend=_DeadlineBackend(),
                                             max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=request.url.raw_scheme, host=request.url.raw_host, port=request.url.port,
                             target=request.url.raw_path),
            headers=request.headers.raw, content=request.stream, extensions=request.extensions)
        with _httpx_errors():
            response = self._pool.handle_request(core)
        return httpx.Response(status_code=response.status, headers=response.headers, stream=_Body(response),
                              extensions=response.extensions)

    def fetch(self, method: str, url: str, *, timeout: float, max_body: int, deadline: float,
              headers: dict[str, str] | None = None, content: bytes | None = None) -> Reply:
        """`io.deadline.fetch` for a client of ours: the same request, bounds and errors, with
        `Accept-Encoding: identity` (bodies arrive as sent: nothing to decode, and `max_body`
        counts what is read)."""
        target, host = _target(url)
        given = {k.lower() for k in (headers or {})}
        raw = [(b"Host", host)] if "host" not in given else []
        raw += [(k, v) for k, v in _DEFAULT_HEADERS if k.decode().lower() not in given]
        raw += [(k.encode("latin-1"), str(v).encode("latin-1")) for k, v in (headers or {}).items()]
        if content is not None and "content-length" not in given:
            raw.append((b"Content-Length", str(len(content)).encode()))
        limits = {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
        core = httpcore.Request(method.encode(), target, headers=raw, content=content if content is not None else b"",
                                extensions={"timeout": limits})
        with _httpx_errors():
            response = self._pool.handle_request(core)
            try:
                declared = next((v.decode("latin-1") for k, v in response.headers
                                 if k.lower() == b"content-length"), "")
                body = read_body(response.iter_stream(), declared, url, max_body=max_body, deadline=deadline,
                                 timeout=timeout)
            finally:
                response.close()
        reason = response.extensions.get("reason_phrase", b"")
        return Reply(response.status, httpx.Headers(response.headers), body,
                     reason.decode("ascii", "replace") if isinstance(reason, bytes) else str(reason))

    def close(self) -> None:
        self._pool.close()
