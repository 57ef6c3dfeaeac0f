"""One HTTP request bounded in time and size: it ends within its timeout in total (connect, TLS,
send, headers and the whole body) and reads at most `max_body` bytes. httpx's own timeouts are per
socket operation, so a server dripping a byte a second would never time out. Here the deadline
bounds every socket operation: on http.client connections of the transport's own for what `fetch`
sends straight, and through a network backend that clamps each operation (io.corepool) for what
goes through an httpx client."""

from __future__ import annotations

import http.client
import io
import re
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from hotswap_cli.formats import format_size
from hotswap_cli.specs import DEFAULT_MAX_BODY

if TYPE_CHECKING:
    from hotswap_cli.io.corepool import CorePool


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


def fetch(client: httpx.Client | Client, method: str, url: str, *, timeout: float,
          max_body: int = DEFAULT_MAX_BODY, idempotent: bool | None = None, **kwargs: Any) -> Reply:
    """One request that ends within `timeout` in total (connect, TLS, send, headers and the whole
    body: httpx's own timeouts are per socket operation, so a server dripping a byte a second would
    never time out) and reads at most `max_body` bytes of body. Raises httpx.HTTPError: a
    TimeoutException past the deadline, BodyTooLarge past the cap. `idempotent`: whether the
    request may be sent again when a kept connection drops it (default: by its method; etcd's
    reads are POSTs)."""
    deadline = time.monotonic() + timeout
    direct: DeadlineTransport | None = getattr(client, "direct", None)
    if direct is not None and set(kwargs) <= {"headers", "content"}:
        return direct.fetch(method, url, timeout=timeout, max_body=max_body, deadline=deadline,
                            idempotent=idempotent, **kwargs)
    from hotswap_cli.io.corepool import deadline_of

    with deadline_of(deadline), client.stream(method, url, timeout=timeout, **kwargs) as response:
        body = read_body(response.iter_bytes(), response.headers.get("Content-Length", ""), url,
                         max_body=max_body, deadline=deadline, timeout=timeout)
        return Reply(response.status_code, response.headers, body, response.reason_phrase)


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


USER_AGENT = "hotswap"
_DEFAULT_HEADERS = (("Accept", "*/*"), ("Accept-Encoding", "identity"), ("User-Agent", USER_AGENT))
KEEPALIVE_EXPIRY = 5.0  # an idle connection older than this is not reused (servers close theirs)
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})  # sent again when a kept connection drops them


class _Dropped(Exception):
    """A kept connection the server had closed or reset: nothing of the response came back."""

    def __init__(self, error: httpx.HTTPError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(frozen=True)
class _Where:
    """A URL as a direct request needs it (parsed once per URL: a fleet sends every instance the
    same few requests)."""

    https: bool
    host: str  # to connect to (an IPv6 literal without brackets)
    port: int
    target: str  # path and query
    host_header: str

    @property
    def origin(self) -> tuple[bool, str, int]:
        return self.https, self.host, self.port


# A URL of these characters only needs no percent-encoding or IDNA: the standard library's
# urlsplit reads it as httpx.URL would, at a tenth of the cost (a fleet has a URL or two per instance).
_PLAIN_URL = re.compile(r"https?://[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+", re.IGNORECASE)


@lru_cache(maxsize=65536)
def _where(url: str) -> _Where:
    if _PLAIN_URL.fullmatch(url):
        try:
            parts = urlsplit(url)
            host, port = parts.hostname, parts.port
        except ValueError:  # a port that is not a number: httpx words the error
            host = None
        if host:
            https = parts.scheme.lower() == "https"
            default = 443 if https else 80
            shown = f"[{host}]" if ":" in host else host
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            return _Where(https, host, port or default, target, shown if port in (None, default) else f"{shown}:{port}")
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https"):
        raise httpx.UnsupportedProtocol(f"{url}: the URL's scheme must be http or https")
    https = parsed.scheme == "https"
    return _Where(https, parsed.host, parsed.port or (443 if https else 80),
                  parsed.raw_path.decode("ascii"), parsed.netloc.decode("ascii"))


def origin_of(url: str) -> tuple[bool, str, int]:
    """Where `url` connects to: (https, host, port)."""
    return _where(url).origin


class _DeadlineReader(io.RawIOBase):
    """A response's socket as http.client reads it: each read waits at most until the request's
    deadline, so a server that drips its headers or body a byte at a time is cut off in time."""

    def __init__(self, sock: socket.socket, deadline: float, holds: io.IOBase) -> None:
        self._sock, self._deadline = sock, deadline
        self._holds = holds  # the socket file http.client made: while it is open the socket stays open

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if not self.closed:
            self._holds.close()
        super().close()

    def readinto(self, buffer: Any) -> int:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the request's deadline passed")
        self._sock.settimeout(remaining)
        return self._sock.recv_into(buffer)


_MAX_LINE = 65536  # http.client's limits on a header line and on the number of headers
_MAX_HEADERS = 100


def _read_headers(fp: io.BufferedReader) -> http.client.HTTPMessage:
    """The header block, as http.client.parse_headers gives it and within its limits, without the
    email package's parser (~30 us a response, most of a 10,000-instance deploy's header parsing).
    A folded line continues the header before it; a line that is not a header is an error (the
    email parser took it for the start of the body)."""
    message = http.client.HTTPMessage()
    name = value = ""
    for _ in range(_MAX_HEADERS + 1):
        line = fp.readline(_MAX_LINE + 1)
        if len(line) > _MAX_LINE:
            raise http.client.LineTooLong("header line")
        folded = line[:1] in (b" ", b"\t")
        if name and not folded:
            message[name] = value
        if line in (b"\r\n", b"\n", b""):
            return message
        text = line.decode("iso-8859-1")
        if folded and name:
            value = f"{value} {text.strip()}"
            continue
        name, colon, rest = text.partition(":")
        if not colon or not name or name != name.strip():
            raise http.client.HTTPException(f"malformed header line {text.strip()[:80]!r}")
        value = rest.strip()
    raise http.client.HTTPException(f"got more than {_MAX_HEADERS} headers")


class _Response(http.client.HTTPResponse):
    def __init__(self, sock: socket.socket, debuglevel: int = 0, method: str | None = None,
                 url: str | None = None, *, deadline: float) -> None:
        super().__init__(sock, debuglevel, method, url)
        self.fp = io.BufferedReader(_DeadlineReader(sock, deadline, self.fp))  # reads within the deadline

    def begin(self) -> None:
        """http.client's begin() (3.11-3.13), its headers read by _read_headers."""
        if self.headers is not None:
            return
        while True:
            version, status, reason = self._read_status()
            if status != http.client.CONTINUE:
                break
            _read_headers(self.fp)  # a 100 Continue's headers
        self.code = self.status = status
        self.reason = reason.strip()
        if version in ("HTTP/1.0", "HTTP/0.9"):
            self.version = 10
        elif version.startswith("HTTP/1."):
            self.version = 11
        else:
            raise http.client.UnknownProtocol(version)
        self.headers = self.msg = _read_headers(self.fp)
        encoding = self.headers.get("transfer-encoding")
        self.chunked = bool(encoding and encoding.lower() == "chunked")
        self.chunk_left = None
        self.will_close = self._check_close()
        self.length = None
        length = self.headers.get("content-length")
        if length and not self.chunked:
            try:
                self.length = int(length)
            except ValueError:
                self.length = None
            else:
                if self.length < 0:
                    self.length = None
        if status in (http.client.NO_CONTENT, http.client.NOT_MODIFIED) or 100 <= status < 200 \
                or self._method == "HEAD":
            self.length = 0
        if not self.will_close and not self.chunked and self.length is None:
            self.will_close = True


class _Http(http.client.HTTPConnection):
    deadline = 0.0  # the current request's (monotonic)


class _Https(http.client.HTTPSConnection):
    deadline = 0.0

    def connect(self) -> None:
        """TCP, then the TLS handshake, both within the request's deadline."""
        http.client.HTTPConnection.connect(self)
        self.sock.settimeout(max(0.001, self.deadline - time.monotonic()))
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self.host)  # type: ignore[attr-defined]


class _Conn:
    """One keep-alive connection of a DeadlineTransport and when it was last used."""

    def __init__(self, where: _Where, context: Callable[[], ssl.SSLContext], deadline: float) -> None:
        timeout = max(0.001, deadline - time.monotonic())
        if where.https:
            self.http: _Http | _Https = _Https(where.host, where.port, timeout=timeout, context=context())
        else:
            self.http = _Http(where.host, where.port, timeout=timeout)
        self.http.deadline = deadline
        self.idle_since = 0.0

    def stale(self) -> bool:
        """Not worth a request: idle too long, or the server closed it (or sent something unasked)."""
        sock = self.http.sock
        if sock is None or time.monotonic() - self.idle_since > KEEPALIVE_EXPIRY:
            return True
        try:  # poll, not select: a fleet's sockets pass select's limit of descriptor 1023
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        except (OSError, ValueError):
            return True

    def close(self) -> None:
        try:
            self.http.close()
        except OSError:
            pass


class DeadlineTransport(httpx.BaseTransport):
    """httpx's default transport, on a connection pool whose sockets honour `fetch`'s deadline.
    `fetch` with plain headers and content does not go through httpx at all
    (`DeadlineTransport.fetch`): it sends the request with the standard library's http.client on a
    keep-alive connection of its own. What an httpx client adds on the way (cookies, redirects,
    auth, hooks, content decoding) is what hotswap does not use, and httpcore's pure-Python
    protocol machinery costs three times the CPU per request, which a fleet pays 5 times per
    instance."""

    def __init__(self, context: Callable[[], ssl.SSLContext]) -> None:
        self._context = context  # called when a connection needs TLS (a CA bundle takes ~30 ms to load)
        self._core: CorePool | None = None
        self._idle: dict[tuple[bool, str, int], list[_Conn]] = {}  # by origin
        self._lock = threading.Lock()
        self._closed = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """What an httpx client sends (`client.stream`, anything `fetch` does not send straight):
        on an httpcore pool made on first use (importing httpcore costs ~0.1-0.25 s, which a
        command that only fetches never pays)."""
        with self._lock:
            if self._core is None:
                from hotswap_cli.io.corepool import CorePool

                self._core = CorePool(self._context(), keepalive_expiry=KEEPALIVE_EXPIRY)
            core = self._core
        return core.handle_request(request)

    def fetch(self, method: str, url: str, *, timeout: float, max_body: int, deadline: float,
              headers: dict[str, str] | None = None, content: bytes | None = None,
              idempotent: bool | None = None) -> Reply:
        """`io.deadline.fetch` for a client of ours: the same request, bounds and errors (httpx's
        exception types: a ConnectError or ConnectTimeout only while connecting, when nothing was
        sent), with `Accept-Encoding: identity` (bodies arrive as sent: nothing to decode, and
        `max_body` counts what is read).

        A kept connection the server closed just as the request went out (its idle timeout ran
        out in between: a server closing with a request unread resets the connection) gets an
        idempotent request (GET, HEAD, PUT, DELETE, OPTIONS) sent once more on a new connection,
        within the same deadline, as urllib3 and browsers do: otherwise a health sample would
        count that race as a failure. Any other request raises what the connection did, unless
        `idempotent` says it may be sent again."""
        again = method.upper() in IDEMPOTENT if idempotent is None else idempotent
        where = _where(url)
        conn = self._take(where)
        while True:
            fresh = conn is None
            if conn is None:
                conn = self._connect(where, url, timeout=timeout, deadline=deadline)
            conn.http.deadline = deadline
            try:
                reply, reusable = self._exchange(conn, where, method, url, timeout=timeout, max_body=max_body,
                                                 deadline=deadline, headers=headers, content=content, fresh=fresh)
            except _Dropped as dropped:
                conn.close()
                if not again or time.monotonic() >= deadline:
                    raise dropped.error from None
                conn = None  # once more, on a new connection (a kept one can no longer be the cause)
                continue
            except BaseException:
                conn.close()
                raise
            if reusable:
                self._give_back(where, conn)
            else:
                conn.close()
            return reply

    def _connect(self, where: _Where, url: str, *, timeout: float, deadline: float) -> _Conn:
        conn = _Conn(where, self._context, deadline)
        try:
            conn.http.connect()
        except TimeoutError:
            conn.close()
            raise httpx.ConnectTimeout(f"{url}: no connection within {timeout:g}s") from None
        except (OSError, ValueError) as exc:
            conn.close()
            raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc
        return conn

    def _exchange(self, conn: _Conn, where: _Where, method: str, url: str, *, timeout: float, max_body: int,
                  deadline: float, headers: dict[str, str] | None, content: bytes | None,
                  fresh: bool) -> tuple[Reply, bool]:
        h = conn.http
        given = {k.lower() for k in (headers or {})}
        try:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            h.sock.settimeout(remaining)
            h.putrequest(method, where.target, skip_host=True, skip_accept_encoding=True)
            if "host" not in given:
                h.putheader("Host", where.host_header)
            for key, value in _DEFAULT_HEADERS:
                if key.lower() not in given:
                    h.putheader(key, value)
            for key, value in (headers or {}).items():
                h.putheader(key, str(value))
            if content is not None and "content-length" not in given:
                h.putheader("Content-Length", str(len(content)))
            h.endheaders(content if content else None)
        except TimeoutError:
            raise httpx.WriteTimeout(f"{url}: past the {timeout:g}s deadline") from None
        except (http.client.HTTPException, ValueError) as exc:  # a header http.client refuses to send
            raise httpx.LocalProtocolError(str(exc)) from None
        except OSError as exc:
            error: httpx.HTTPError = httpx.WriteError(str(exc) or type(exc).__name__)
            if not fresh and isinstance(exc, BrokenPipeError | ConnectionResetError):
                raise _Dropped(error) from None
            raise error from None
        h.response_class = partial(_Response, deadline=deadline)  # type: ignore[assignment]
        try:
            response = h.getresponse()
            declared = response.getheader("Content-Length") or ""
            body = read_body(iter(lambda: response.read(65536), b""), declared, url, max_body=max_body,
                             deadline=deadline, timeout=timeout)
        except TimeoutError:
            raise httpx.ReadTimeout(f"{url}: past the {timeout:g}s deadline") from None
        except http.client.HTTPException as exc:
            if isinstance(exc, http.client.RemoteDisconnected):
                dropped: httpx.HTTPError = httpx.RemoteProtocolError("Server disconnected without sending a response.")
                if not fresh:
                    raise _Dropped(dropped) from None
                raise dropped from None
            raise httpx.RemoteProtocolError(str(exc) or type(exc).__name__) from None
        except OSError as exc:
            failed: httpx.HTTPError = httpx.ReadError(str(exc) or type(exc).__name__)
            if not fresh and isinstance(exc, ConnectionResetError):
                raise _Dropped(failed) from None
            raise failed from None
        headers_out = httpx.Headers(response.getheaders())
        return Reply(response.status, headers_out, body, response.reason), not response.will_close

    def _take(self, where: _Where) -> _Conn | None:
        while True:
            with self._lock:
                idle = self._idle.get(where.origin)
                conn = idle.pop() if idle else None
            if conn is None or not conn.stale():
                return conn
            conn.close()

    def _give_back(self, where: _Where, conn: _Conn) -> None:
        conn.idle_since = time.monotonic()
        with self._lock:
            if not self._closed:
                self._idle.setdefault(where.origin, []).append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle = [c for conns in self._idle.values() for c in conns]
            self._idle.clear()
            core, self._core = self._core, None
        for conn in idle:
            conn.close()
        if core is not None:
            core.close()


class Client:
    """A client of ours: `fetch` sends its requests straight over `direct` (DeadlineTransport.fetch);
    anything else (`stream`, a request with query parameters) goes through an httpx.Client on the
    same transport, made on first use. A fleet command built an httpx.Client per instance that it
    never used (~0.08 ms of CPU each), and the TLS context is made only when a request needs it."""

    def __init__(self, context: Callable[[], ssl.SSLContext], **kwargs: Any) -> None:
        self.direct = DeadlineTransport(context)
        self._context = context
        self._kwargs = kwargs
        self._httpx: httpx.Client | None = None
        self._lock = threading.Lock()
        self.is_closed = False

    def stream(self, method: str, url: str, **kwargs: Any) -> Any:
        """httpx.Client.stream, on this client's transport."""
        with self._lock:
            if self._httpx is None:
                if self.is_closed:
                    raise RuntimeError("the client is closed")
                self._httpx = httpx.Client(verify=self._context(), transport=self.direct, **self._kwargs)
            client = self._httpx
        return client.stream(method, url, **kwargs)

    def close(self) -> None:
        with self._lock:
            self.is_closed = True
            made, self._httpx = self._httpx, None
        if made is not None:
            made.close()  # and its transport
        else:
            self.direct.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
