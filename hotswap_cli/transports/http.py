"""The `http` transport (httpx): PUT/POST the config to a URL; also the HTTP helpers other backends use."""

from __future__ import annotations

import json
import os
import re
import ssl
import threading
import time
from typing import Any

import httpx

from hotswap_cli.errors import TransportError
from hotswap_cli.model import config_hash, parse_duration

HASH_HEADER = "X-Config-Sha256"
CONTENT_TYPES = {"json": "application/json", "yaml": "application/yaml"}
RETRY_STATUSES = {502, 503, 504}
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_headers(instance: str, headers: dict[str, str] | None) -> dict[str, str]:
    """`${NAME}` in header values comes from the environment; a missing variable is an error."""
    out = {}
    for key, value in (headers or {}).items():
        def sub(m: re.Match[str], key: str = key) -> str:
            if m.group(1) not in os.environ:
                raise TransportError(instance, f"header {key} needs environment variable {m.group(1)}",
                                     hint=f"export {m.group(1)}=...")
            return os.environ[m.group(1)]

        out[key] = _ENV_REF.sub(sub, value)
    return out


def verify_of(spec: dict[str, Any]) -> ssl.SSLContext | bool:
    """TLS verification on by default; `ca:` adds a CA bundle; `verify: false` turns it off."""
    if spec.get("verify") is False:
        return False
    if spec.get("ca"):
        return ssl.create_default_context(cafile=os.path.expanduser(spec["ca"]))
    return True


_contexts: dict[tuple[bool, str | None], ssl.SSLContext] = {}
_contexts_lock = threading.Lock()


def new_client(spec: dict[str, Any], **kwargs: Any) -> httpx.Client:
    """An httpx client for one target, on the TLS context shared by every client with the same
    TLS settings: building a context costs ~40 ms of CPU and ~1 MB, which a 1000-instance deploy
    would otherwise pay several times per instance. (One pool for all instances is no cure:
    httpcore scans every pooled connection on each request.)"""
    key = (spec.get("verify") is False, os.path.expanduser(spec["ca"]) if spec.get("ca") else None)
    with _contexts_lock:
        context = _contexts.get(key)
        if context is None:
            verify = verify_of(spec)
            context = verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(verify=verify)
            _contexts[key] = context
    return httpx.Client(verify=context, **kwargs)


def describe_error(exc: httpx.HTTPError, url: str, timeout: float) -> tuple[str, str | None]:
    """One line (and a hint) for an httpx failure; never includes header values."""
    if isinstance(exc, httpx.TimeoutException):
        return f"{url} timed out after {timeout:g}s", "check that the instance is up, or raise `timeout`"
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text or isinstance(exc.__context__, ssl.SSLError) or "SSL" in text:
        return f"TLS verification failed for {url}: {text}", "set `ca:` to the CA bundle that signed it"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect to {url}: {text}", "check that the instance is up and the URL is right"
    return f"{url}: {type(exc).__name__}: {text}", None


def running_hash(response: httpx.Response) -> str | None:
    """The config hash an instance reports: X-Config-Sha256, a JSON `sha256` field, or the body's hash."""
    explicit = reported_hash(response)
    if explicit is not None:
        return explicit
    try:
        body: Any = json.loads(response.content)
    except ValueError:
        import yaml

        try:
            body = yaml.safe_load(response.content)
        except yaml.YAMLError:
            return None
    return config_hash(body)


def reported_hash(response: httpx.Response) -> str | None:
    """A hash the response states explicitly (X-Config-Sha256, or a JSON `sha256` field), else None."""
    if response.headers.get(HASH_HEADER):
        return response.headers[HASH_HEADER].strip().lower()
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    return str(body["sha256"]).lower() if isinstance(body, dict) and isinstance(body.get("sha256"), str) else None


def confirm_running(instance: str, url: str, expected: str, *, timeout: float, spec: dict[str, Any],
                    headers: dict[str, str] | None = None, traceparent: str | None = None,
                    client: httpx.Client | None = None) -> bool:
    """Poll `url` until it reports `expected` (a reload may apply asynchronously) or `timeout` passes.
    `spec` is the target's transport settings (its TLS options); `client` one to reuse."""
    hdrs = dict(headers or {})
    if traceparent:
        hdrs["traceparent"] = traceparent
    own = client is None
    client = client or new_client(spec)
    try:
        return _poll(instance, client, url, expected, timeout, hdrs)
    finally:
        if own:
            client.close()


def _poll(instance: str, client: httpx.Client, url: str, expected: str, timeout: float,
          hdrs: dict[str, str]) -> bool:
    deadline = time.monotonic() + timeout
    last_error = ""
    while True:
        try:
            response = client.get(url, headers=hdrs, timeout=min(timeout, 5.0))
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
        raise TransportError(instance, f"confirm: {last_error}")
    return False


def post_reload(instance: str, url: str, *, headers: dict[str, str], spec: dict[str, Any],
                timeout: float, traceparent: str | None) -> None:
    """Reload-trigger mode: one POST (not retried: POST is not idempotent); 2xx = reloaded."""
    hdrs = dict(headers)
    if traceparent:
        hdrs["traceparent"] = traceparent
    try:
        with new_client(spec) as client:
            response = client.post(url, headers=hdrs, timeout=timeout)
    except httpx.HTTPError as exc:
        message, hint = describe_error(exc, url, timeout)
        raise TransportError(instance, f"reload: {message}", hint=hint) from None
    if response.status_code >= 300:
        raise TransportError(instance, f"reload: {url} answered {response.status_code}: {_snippet(response)}")


def _snippet(response: httpx.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return text[:200] or response.reason_phrase


class HttpTransport:
    """Sends the whole config in one request; the server swaps it atomically and applies it."""

    def __init__(self, name: str, spec: dict[str, Any], *, traceparent: str | None = None) -> None:
        self.name = name
        self.url: str = spec["url"]
        self.method: str = spec.get("method", "PUT").upper()
        self.format: str = spec.get("format", "yaml" if self.url.endswith((".yaml", ".yml")) else "json")
        self.current_url: str | None = spec.get("current_url") or (self.url if self.method == "PUT" else None)
        self.confirm_url: str | None = spec.get("confirm_url")
        self.timeout = parse_duration(spec.get("timeout", 10))
        self.retries = int(spec.get("retries", 2))
        self.confirm_timeout = parse_duration(spec.get("confirm_timeout", 10))
        self.traceparent = traceparent
        self.spec = spec
        self.headers = expand_headers(name, spec.get("headers"))
        self._client = new_client(spec)
        self._previous: bytes | None = None
        self._staged: bytes | None = None
        self._swapped = False
        self._reported: str | None = None  # the hash the instance stated in its answer to the push

    def read_current(self) -> bytes | None:
        if self.current_url is None:
            self._previous = None
            return None
        response = self._send("GET", self.current_url, "read current config")
        if response.status_code == 404:
            self._previous = None
        elif response.status_code == 200:
            self._previous = response.content
        else:
            raise self._status_error("read current config", self.current_url, response)
        return self._previous

    def stage(self, data: bytes) -> None:
        self._staged = data

    def check(self) -> None:
        return None

    def swap(self) -> None:
        if self._staged is None:
            raise TransportError(self.name, "swap: nothing staged")
        self._push(self._staged, "push")
        self._staged = None
        self._swapped = True

    def reload(self) -> None:
        return None  # the receiving endpoint applies the config itself

    def confirm(self, expected_sha256: str) -> bool | None:
        if self._reported == expected_sha256:
            return True  # the push's own answer named the config it now runs: no extra request
        if not self.confirm_url:
            return None
        return confirm_running(self.name, self.confirm_url, expected_sha256, timeout=self.confirm_timeout,
                               spec=self.spec, headers=self.headers, traceparent=self.traceparent,
                               client=self._client)

    def discard(self) -> None:
        self._staged = None

    def revert(self) -> None:
        self._staged = None
        if not self._swapped:
            return
        if self._previous is None:
            what = "it had no config" if self.current_url else "its previous config is unknown"
            raise TransportError(self.name, f"revert: cannot restore over HTTP: {what}",
                                 hint="set `current_url` so hotswap can read the config it replaces")
        self._push(self._previous, "revert")
        self._swapped = False

    def close(self) -> None:
        self._client.close()

    # -- helpers ----------------------------------------------------------------------------

    def _push(self, body: bytes, step: str) -> None:
        headers = {"Content-Type": CONTENT_TYPES.get(self.format, "application/json")}
        response = self._send(self.method, self.url, step, content=body, headers=headers)
        if response.status_code >= 300:
            raise self._status_error(step, self.url, response)
        self._reported = reported_hash(response)

    def _send(self, method: str, url: str, step: str, **kwargs: Any) -> httpx.Response:
        """One request; GET and PUT are retried on connect errors, timeouts and 502/503/504."""
        kwargs["headers"] = {**self.headers, **kwargs.get("headers", {})}
        if self.traceparent:
            kwargs["headers"]["traceparent"] = self.traceparent
        kwargs["timeout"] = self.timeout
        attempts = 1 + (self.retries if method in ("GET", "PUT") else 0)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = self._client.request(method, url, **kwargs)
            except (httpx.ConnectError, httpx.TimeoutException) as exc:
                if last or "SSL" in str(exc) or "CERTIFICATE" in str(exc):
                    message, hint = describe_error(exc, url, self.timeout)
                    raise TransportError(self.name, f"{step}: {message}", hint=hint) from None
            except httpx.HTTPError as exc:
                message, hint = describe_error(exc, url, self.timeout)
                raise TransportError(self.name, f"{step}: {message}", hint=hint) from None
            else:
                if last or response.status_code not in RETRY_STATUSES:
                    return response
            time.sleep(0.1 * 2**attempt)
        raise AssertionError("unreachable")

    def _status_error(self, step: str, url: str, response: httpx.Response) -> TransportError:
        return TransportError(self.name, f"{step}: {url} answered {response.status_code}: {_snippet(response)}")
