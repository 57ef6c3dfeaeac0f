"""The HTTP toolkit every backend and probe shares (httpx): clients on shared TLS contexts, requests
bounded by a total deadline and a body cap (`fetch`), headers from the environment, one-line errors,
reading the hash an instance reports, confirm and reload calls."""

from __future__ import annotations

import json
import os
import re
import ssl
import threading
import time
from collections.abc import Collection, Mapping
from functools import partial
from typing import Any

import httpx

from hotswap_cli.errors import TransportError
from hotswap_cli.formats import parse_config_bytes
from hotswap_cli.io.deadline import BodyTooLarge, Client, Reply, fetch, origin_of
from hotswap_cli.io.steps import step_error
from hotswap_cli.model import config_hash
from hotswap_cli.specs import ENV_REF, Tls, refused_env

HASH_HEADER = "X-Config-Sha256"
RETRY_STATUSES = {502, 503, 504}
ALLOW_HINT = ("allow it with HOTSWAP_ALLOW_ENV={name}, or `allow_env: [{name}]` in hotswap.yaml on the default "
              "branch (HOTSWAP_* never)")


def expand_headers(instance: str, headers: Mapping[str, str] | None,
                   allowed: Collection[str] = frozenset()) -> dict[str, str]:
    """`${NAME}` in header values comes from the environment, for allowed names only (HOTSWAP_*
    never): a header must not be able to carry the secret key, or any other, to a URL."""
    out = {}
    for key, value in (headers or {}).items():
        def sub(m: re.Match[str], key: str = key) -> str:
            if refused_env([m.group(1)], allowed):
                raise TransportError(instance, f"header {key} uses ${{{m.group(1)}}}, which is not an allowed "
                                     "environment variable", hint=ALLOW_HINT.format(name=m.group(1)))
            if m.group(1) not in os.environ:
                raise TransportError(instance, f"header {key} needs environment variable {m.group(1)}",
                                     hint=f"export {m.group(1)}=...")
            return os.environ[m.group(1)]

        out[key] = ENV_REF.sub(sub, value)
    return out


def verify_of(tls: Tls) -> ssl.SSLContext | bool:
    """TLS verification on by default; `ca:` adds a CA bundle; `verify: false` turns it off."""
    if not tls.verify:
        return False
    if tls.ca:
        return ssl.create_default_context(cafile=tls.ca)
    return True


_contexts: dict[Tls, ssl.SSLContext] = {}
_contexts_lock = threading.Lock()


def _context(tls: Tls) -> ssl.SSLContext:
    """The TLS context shared by every client with the same TLS settings: building one costs ~40 ms
    of CPU and ~1 MB, which a 1000-instance deploy would otherwise pay several times per instance."""
    with _contexts_lock:
        context = _contexts.get(tls)
        if context is None:
            verify = verify_of(tls)
            context = verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(verify=verify)
            _contexts[tls] = context
    return context


def new_client(tls: Tls, **kwargs: Any) -> Client:
    """A client of its own (io.deadline.Client), on the TLS context shared by `tls`'s users."""
    return Client(partial(_context, tls), **kwargs)


class SharedClient(Client):
    """A client shared by everything that talks to one host:port with the same TLS settings (an
    instance's transport and its probes): one keep-alive connection serves its read, push, confirm
    and health samples. Each user closes it; the last close closes it. (One pool for every
    instance is no cure: httpcore scans every pooled connection on each request.)"""

    def __init__(self, key: tuple[Tls, tuple[bool, str, int]]) -> None:
        super().__init__(partial(_context, key[0]))
        self._key = key
        self._users = 1

    def close(self) -> None:
        with _shared_lock:
            self._users -= 1
            last = self._users == 0
            if last and _shared.get(self._key) is self:
                del _shared[self._key]
        if last:
            super().close()


_shared: dict[tuple[Tls, tuple[bool, str, int]], SharedClient] = {}
_shared_lock = threading.Lock()


def client_for(tls: Tls, url: str) -> Client:
    """The client shared by every user of `url`'s host:port with TLS settings `tls` (SharedClient):
    close it when done, as any client."""
    key = (tls, origin_of(url))
    with _shared_lock:
        client = _shared.get(key)
        if client is not None and not client.is_closed:
            client._users += 1
            return client
    made = SharedClient(key)  # outside the lock
    with _shared_lock:
        found = _shared.get(key)
        if found is None or found.is_closed:
            _shared[key] = made
            return made
        found._users += 1
    Client.close(made)  # another thread made the same one meanwhile
    return found


def describe_error(exc: httpx.HTTPError, url: str, timeout: float) -> tuple[str, str | None]:
    """One line (and a hint) for an httpx failure; never includes header values."""
    if isinstance(exc, BodyTooLarge):
        return str(exc), "raise `max_body` for this target or probe if the body is meant to be that large"
    if isinstance(exc, httpx.TimeoutException):
        return f"{url} timed out after {timeout:g}s", "check that the instance is up, or raise `timeout`"
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text or isinstance(exc.__context__, ssl.SSLError) or "SSL" in text:
        return f"TLS verification failed for {url}: {text}", "set `ca:` to the CA bundle that signed it"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect to {url}: {text}", "check that the instance is up and the URL is right"
    return f"{url}: {type(exc).__name__}: {text}", None


def running_hash(response: Reply) -> str | None:
    """The config hash an instance reports: X-Config-Sha256, a JSON `sha256` field, or the body's hash."""
    explicit = reported_hash(response)
    if explicit is not None:
        return explicit
    try:
        body = parse_config_bytes(response.content)
    except ValueError:
        return None
    return config_hash(body)


def reported_hash(response: Reply) -> str | None:
    """A hash the response states explicitly (X-Config-Sha256, or a JSON `sha256` field), else None."""
    if response.headers.get(HASH_HEADER):
        return response.headers[HASH_HEADER].strip().lower()
    try:
        body = json.loads(response.content)
    except (ValueError, RecursionError):
        return None
    return str(body["sha256"]).lower() if isinstance(body, dict) and isinstance(body.get("sha256"), str) else None


def confirm_running(instance: str, url: str, expected: str, *, timeout: float, tls: Tls,
                    headers: Mapping[str, str] | None = None, traceparent: str | None = None,
                    client: Client | None = None) -> bool:
    """Poll `url` until it reports `expected` (a reload may apply asynchronously) or `timeout` passes.
    `tls` is the target's TLS settings; `client` one to reuse."""
    hdrs = dict(headers or {})
    if traceparent:
        hdrs["traceparent"] = traceparent
    own = client is None
    client = client or new_client(tls)
    try:
        return _poll(instance, client, url, expected, timeout, hdrs)
    finally:
        if own:
            client.close()


def _poll(instance: str, client: Client, url: str, expected: str, timeout: float,
          hdrs: dict[str, str]) -> bool:
    deadline = time.monotonic() + timeout
    last_error = ""
    while True:
        try:
            response = fetch(client, "GET", url, headers=hdrs,
                             timeout=min(5.0, max(0.1, deadline - time.monotonic())))
            if response.status_code == 200:
                if running_hash(response) == expected:
                    return True
                last_error = ""
            else:
                last_error = f"{url} answered {response.status_code}"
        except httpx.HTTPError as exc:
            last_error = describe_error(exc, url, timeout)[0]
        if time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    if last_error:
        raise step_error(instance, "confirm", last_error)
    return False


def post_reload(instance: str, url: str, *, headers: Mapping[str, str], tls: Tls,
                timeout: float, traceparent: str | None) -> None:
    """Reload-trigger mode: one POST (not retried: POST is not idempotent); 2xx = reloaded."""
    hdrs = dict(headers)
    if traceparent:
        hdrs["traceparent"] = traceparent
    try:
        with new_client(tls) as client:
            response = fetch(client, "POST", url, headers=hdrs, timeout=timeout)
    except httpx.HTTPError as exc:
        message, hint = describe_error(exc, url, timeout)
        raise step_error(instance, "reload", message, hint=hint) from None
    if response.status_code >= 300:
        raise step_error(instance, "reload", f"{url} answered {response.status_code}: {snippet(response)}")


SNIPPET = 300  # characters of an error answer kept in a message


def snippet(response: Reply) -> str:
    """An error answer on one line: its end, where servers (Prometheus' reload, Spring) put the reason."""
    text = " | ".join(line.strip() for line in response.text.strip().splitlines() if line.strip())
    return ("…" + text[-SNIPPET:] if len(text) > SNIPPET else text) or response.reason_phrase
