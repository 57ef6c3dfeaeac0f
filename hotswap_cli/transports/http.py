"""The `http` transport (httpx): PUT/POST the config to a URL; the server swaps and applies it."""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import Any

import httpx

from hotswap_cli.errors import TransportError
from hotswap_cli.formats import CONTENT_TYPES
from hotswap_cli.io.http import (
    RETRY_STATUSES,
    Reply,
    client_for,
    confirm_running,
    describe_error,
    expand_headers,
    fetch,
    reported_hash,
    snippet,
)
from hotswap_cli.io.steps import step_error
from hotswap_cli.specs import HttpSpec


class HttpTransport:
    """Sends the whole config in one request; the server swaps it atomically and applies it."""

    def __init__(self, name: str, spec: HttpSpec, *, traceparent: str | None = None,
                 allowed_env: Collection[str] = frozenset()) -> None:
        self.name = name
        self.url = spec.url
        self.method = spec.method
        self.format = spec.format
        self.current_url = spec.current_url
        self.confirm_url = spec.confirm_url
        self.timeout = spec.timeout
        self.max_body = spec.max_body
        self.retries = spec.retries
        self.confirm_timeout = spec.confirm_timeout
        self.traceparent = traceparent
        self.tls = spec.tls
        self.headers = expand_headers(name, spec.headers, allowed_env)
        self._client = client_for(spec.tls, spec.url)
        self._previous: bytes | None = None
        self._staged: bytes | None = None
        self._swapped = False
        self._reported: str | None = None  # the hash the instance stated in its answer to the push
        self._sent = False  # the last request: an attempt got past connecting (see _send)

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
            raise step_error(self.name, "swap", "nothing staged")
        # from the moment the request is sent the instance may have applied it, even if its answer
        # is lost (a timeout, a dropped connection): only an explicit refusal means it did not
        self._swapped = True
        self._push(self._staged, "push")
        self._staged = None

    def reload(self) -> None:
        return None  # the receiving endpoint applies the config itself

    def confirm(self, expected_sha256: str) -> bool | None:
        if self._reported == expected_sha256:
            return True  # the push's own answer named the config it now runs: no extra request
        if self._reported is not None:
            return False  # it answered the push naming another config: what arrived is not what was sent
        if not self.confirm_url:
            return None
        return confirm_running(self.name, self.confirm_url, expected_sha256, timeout=self.confirm_timeout,
                               tls=self.tls, headers=self.headers, traceparent=self.traceparent,
                               client=self._client)

    def discard(self) -> None:
        self._staged = None

    def revert(self) -> None:
        self._staged = None
        if not self._swapped:
            return
        if self._previous is None:
            what = "it had no config" if self.current_url else "its previous config is unknown"
            raise step_error(self.name, "revert", f"cannot restore over HTTP: {what}",
                             hint="set `current_url` so hotswap can read the config it replaces")
        if not self._holds(self._previous):  # a push whose answer was lost may not have been applied
            self._push(self._previous, "revert")
        self._swapped = False

    def _holds(self, data: bytes) -> bool:
        """Whether the instance says (at `current_url`) that it holds exactly `data`; False when it
        cannot tell."""
        if self.current_url is None:
            return False
        try:
            response = self._send("GET", self.current_url, "revert: read current config")
        except TransportError:
            return False
        return response.status_code == 200 and response.content == data

    def close(self) -> None:
        self._client.close()

    # -- helpers ----------------------------------------------------------------------------

    def _push(self, body: bytes, step: str) -> None:
        headers = {"Content-Type": CONTENT_TYPES.get(self.format, "application/json")}
        try:
            response = self._send(self.method, self.url, step, content=body, headers=headers)
        except TransportError:
            if step == "push" and not self._sent:
                self._swapped = False  # no attempt got past connecting: the instance never saw the config
            raise
        if response.status_code >= 300:
            if step == "push":
                self._swapped = False  # it answered that it did not take the config
            raise self._status_error(step, self.url, response)
        self._reported = reported_hash(response)

    def _send(self, method: str, url: str, step: str, **kwargs: Any) -> Reply:
        """One request, within `timeout` in total and `max_body` of answer (io.http.fetch); GET and
        PUT are retried on connect errors, timeouts and 502/503/504."""
        kwargs["headers"] = {**self.headers, **kwargs.get("headers", {})}
        if self.traceparent:
            kwargs["headers"]["traceparent"] = self.traceparent
        attempts = 1 + (self.retries if method in ("GET", "PUT") else 0)
        self._sent = False  # whether any attempt got past connecting (then the request may have arrived)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = fetch(self._client, method, url, timeout=self.timeout, max_body=self.max_body,
                                 **kwargs)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if last or "SSL" in str(exc) or "CERTIFICATE" in str(exc):
                    message, hint = describe_error(exc, url, self.timeout)
                    raise step_error(self.name, step, message, hint=hint) from None
            except httpx.TimeoutException as exc:
                self._sent = True
                if last:
                    message, hint = describe_error(exc, url, self.timeout)
                    raise step_error(self.name, step, message, hint=hint) from None
            except httpx.HTTPError as exc:
                self._sent = True
                message, hint = describe_error(exc, url, self.timeout)
                raise step_error(self.name, step, message, hint=hint) from None
            else:
                self._sent = True
                if last or response.status_code not in RETRY_STATUSES:
                    return response
            time.sleep(0.1 * 2**attempt)
        raise AssertionError("unreachable")

    def _status_error(self, step: str, url: str, response: Reply) -> TransportError:
        return step_error(self.name, step, f"{url} answered {response.status_code}: {snippet(response)}")
