"""An etcd v3 client over its HTTP/JSON gateway (`/v3/kv/range`, `/v3/kv/txn`, `/v3/lease/*`,
`/v3/auth/authenticate`), on httpx like every other network backend here: each request bounded
by a total deadline and a body cap (io.deadline.fetch), TLS with a CA and a client certificate,
username/password (a token from `/v3/auth/authenticate`) or a ready token, and the endpoints tried
in turn. Why not a client library: python-etcd3 is unmaintained (its last release predates
protobuf 4 and breaks against it), etcd3-py likewise; the gateway is part of etcd itself and
speaks plain JSON, so a few hundred lines on httpx cost less than a gRPC stack.

Keys and values travel base64-encoded; 64-bit numbers as strings; fields at their zero value are
left out of answers (a key never written has no `mod_revision`)."""

from __future__ import annotations

import base64
import json
import os
import ssl
import threading
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import httpx

from hotswap_cli.io.deadline import DeadlineTransport, fetch
from hotswap_cli.specs import EtcdConnection, refused_env

MAX_BODY = 64 * 1024 * 1024  # a range over a prefix of 10,000 instance keys stays well below this


class EtcdError(Exception):
    """etcd could not be reached, or refused a request: one line, never a credential."""

    def __init__(self, message: str, *, unreachable: bool = False, hint: str | None = None) -> None:
        super().__init__(message)
        self.unreachable = unreachable
        self.hint = hint


@dataclass(frozen=True)
class KeyValue:
    key: str
    value: bytes
    mod_revision: int
    create_revision: int
    lease: int = 0


@dataclass(frozen=True)
class EtcdAuth:
    """How to authenticate: a user and password, or a token; neither: no auth."""

    user: str | None = None
    password: str | None = None
    token: str | None = None


@dataclass(frozen=True)
class EtcdTls:
    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    verify: bool = True


_contexts: dict[EtcdTls, ssl.SSLContext] = {}
_contexts_lock = threading.Lock()


def _context(tls: EtcdTls) -> ssl.SSLContext:
    with _contexts_lock:
        context = _contexts.get(tls)
        if context is None:
            context = ssl.create_default_context(cafile=tls.ca)
            if not tls.verify:
                context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
            if tls.cert:
                context.load_cert_chain(tls.cert, tls.key)
            _contexts[tls] = context
        return context


def _b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def prefix_end(prefix: str) -> str:
    """The range_end that makes a range cover every key starting with `prefix`."""
    raw = bytearray(prefix.encode())
    while raw and raw[-1] == 0xFF:
        raw.pop()
    if not raw:
        return _b64(b"\0")
    raw[-1] += 1
    return _b64(bytes(raw))


def _kv(item: dict[str, Any]) -> KeyValue:
    return KeyValue(key=base64.b64decode(item.get("key", "")).decode("utf-8", "replace"),
                    value=base64.b64decode(item.get("value", "")),
                    mod_revision=int(item.get("mod_revision", 0)),
                    create_revision=int(item.get("create_revision", 0)),
                    lease=int(item.get("lease", 0)))


# Requests that change etcd (every txn hotswap sends writes); and the errors raised before a
# request left (io.deadline raises these only while connecting).
_WRITES = frozenset({"/v3/kv/txn", "/v3/kv/put", "/v3/kv/deleterange", "/v3/lease/grant", "/v3/lease/revoke"})
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout)


class EtcdClient:
    """One client for a list of endpoints (`http(s)://host:port`), tried in order; the one that
    answered is tried first next time. Thread-safe (httpx.Client is)."""

    def __init__(self, endpoints: list[str], *, tls: EtcdTls | None = None, auth: EtcdAuth | None = None,
                 timeout: float = 5.0) -> None:
        if not endpoints:
            raise ValueError("etcd: no endpoints")
        self.endpoints = [e.rstrip("/") for e in endpoints]
        self.timeout = timeout
        self.auth = auth or EtcdAuth()
        tls = tls or EtcdTls()
        context = _context(tls)  # cached: building one costs ~40 ms of CPU and ~1 MB
        self._client = httpx.Client(verify=context, transport=DeadlineTransport(lambda: context))
        self._token: str | None = self.auth.token
        self._lock = threading.Lock()
        self._users = 1  # a shared client (see `connect`) closes when its last user does

    def close(self) -> None:
        with _shared_lock:
            self._users -= 1
            if self._users > 0:
                return
            for key, client in list(_shared.items()):
                if client is self:
                    del _shared[key]
        self._client.close()

    # --- the calls hotswap needs ---------------------------------------------------------------

    def get(self, key: str) -> KeyValue | None:
        found = self.call("/v3/kv/range", {"key": _b64(key)}).get("kvs") or []
        return _kv(found[0]) if found else None

    def get_prefix(self, prefix: str) -> list[KeyValue]:
        answer = self.call("/v3/kv/range", {"key": _b64(prefix), "range_end": prefix_end(prefix)})
        return [_kv(item) for item in answer.get("kvs") or []]

    def put_if(self, key: str, value: bytes, mod_revision: int) -> tuple[bool, KeyValue | None]:
        """Put `value` only if the key's mod_revision is still `mod_revision` (0: the key must not
        exist). (True, the key as written) or (False, the key as it is now: None when absent)."""
        return self._txn(key, mod_revision, {"request_put": {"key": _b64(key), "value": _b64(value)}})

    def delete_if(self, key: str, mod_revision: int) -> tuple[bool, KeyValue | None]:
        """Delete the key only if its mod_revision is still `mod_revision`."""
        return self._txn(key, mod_revision, {"request_delete_range": {"key": _b64(key)}})

    def put(self, key: str, value: bytes, *, lease: int = 0) -> int:
        body: dict[str, Any] = {"key": _b64(key), "value": _b64(value)}
        if lease:
            body["lease"] = str(lease)
        return int(self.call("/v3/kv/put", body).get("header", {}).get("revision", 0))

    def delete(self, key: str) -> None:
        self.call("/v3/kv/deleterange", {"key": _b64(key)})

    def grant(self, ttl: int) -> int:
        return int(self.call("/v3/lease/grant", {"TTL": str(ttl)})["ID"])

    def keepalive(self, lease: int) -> int:
        """Refresh a lease; its remaining TTL (0: it had expired)."""
        answer = self.call("/v3/lease/keepalive", {"ID": str(lease)})
        return int((answer.get("result") or {}).get("TTL", 0))

    def revoke(self, lease: int) -> None:
        self.call("/v3/lease/revoke", {"ID": str(lease)})

    # --- plumbing -------------------------------------------------------------------------------

    def _txn(self, key: str, mod_revision: int, operation: dict[str, Any]) -> tuple[bool, KeyValue | None]:
        compare = {"key": _b64(key), "result": "EQUAL"}
        compare.update({"target": "MOD", "mod_revision": str(mod_revision)} if mod_revision
                       else {"target": "CREATE", "create_revision": "0"})
        answer = self.call("/v3/kv/txn", {"compare": [compare], "success": [operation, {"request_range": {
            "key": _b64(key)}}], "failure": [{"request_range": {"key": _b64(key)}}]})
        ranges = [r["response_range"] for r in answer.get("responses") or [] if "response_range" in r]
        kvs = (ranges[-1].get("kvs") or []) if ranges else []
        return bool(answer.get("succeeded")), (_kv(kvs[0]) if kvs else None)

    def call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST to the first endpoint that answers; EtcdError when none does or etcd refuses. A write
        goes on to the next endpoint only if it never reached this one (no connection): one whose
        answer was lost may have been applied, and sent again its compare would fail on our own
        write (read as another writer's) or a plain put would land twice."""
        problems = []
        endpoints = list(self.endpoints)
        for n, endpoint in enumerate(endpoints, 1):
            try:
                answer = self._post(endpoint, path, body)
            except httpx.HTTPError as exc:
                timed_out = isinstance(exc, httpx.TimeoutException)
                why = type(exc).__name__ if timed_out or not str(exc) else f"{type(exc).__name__}: {exc}"
                problems.append(f"{endpoint} {'timed out' if timed_out else 'unreachable'} ({why})")
                if path in _WRITES and n < len(endpoints) and not isinstance(exc, _NOT_SENT):
                    problems.append("not sent to another endpoint: it may have been applied")
                    break
                continue
            if endpoint != self.endpoints[0]:
                with self._lock:
                    self.endpoints.remove(endpoint)
                    self.endpoints.insert(0, endpoint)
            return answer
        raise EtcdError(f"no etcd endpoint answered within {self.timeout:g}s: {'; '.join(problems)}",
                        unreachable=True)

    def _post(self, endpoint: str, path: str, body: dict[str, Any], *, retried: bool = False) -> dict[str, Any]:
        headers = {"Authorization": self._token} if self._token else {}
        if not self._token and self.auth.user and path != "/v3/auth/authenticate":
            self._authenticate(endpoint)
            headers = {"Authorization": self._token or ""}
        reply = fetch(self._client, "POST", f"{endpoint}{path}", timeout=self.timeout, max_body=MAX_BODY,
                      idempotent=path not in _WRITES,
                      content=json.dumps(body), headers={"Content-Type": "application/json", **headers})
        try:
            answer = json.loads(reply.content or b"{}")
        except ValueError:
            raise EtcdError(f"{endpoint}{path} answered {reply.status_code} with a body that is not JSON") from None
        if reply.status_code == 200 and isinstance(answer, dict):
            return answer
        message = str(answer.get("message") or answer.get("error") or reply.reason_phrase) \
            if isinstance(answer, dict) else reply.reason_phrase
        if "invalid auth token" in message and self.auth.user and not retried:
            self._token = None  # expired: authenticate again once
            return self._post(endpoint, path, body, retried=True)
        raise EtcdError(f"etcd refused {path} at {endpoint}: {message} ({reply.status_code})")

    def _authenticate(self, endpoint: str) -> None:
        answer = self._post(endpoint, "/v3/auth/authenticate",
                            {"name": self.auth.user, "password": self.auth.password or ""})
        self._token = str(answer.get("token") or "")
        if not self._token:
            raise EtcdError(f"etcd at {endpoint} gave no token for user {self.auth.user}")


def connect(connection: EtcdConnection, allowed_env: Collection[str]) -> EtcdClient:
    """A client for `connection`: its password or token read from the environment variable it
    names, which must be allowed (HOTSWAP_* never) and set; EtcdError naming the variable (never
    its value) otherwise. Nothing connects until the first call."""
    secrets: dict[str, str | None] = {}
    for field, env in (("password", connection.password_env), ("token", connection.token_env)):
        if not env:
            continue
        if refused_env([env], allowed_env):
            raise EtcdError(f"etcd {field}_env names ${{{env}}}, which is not an allowed environment variable",
                            hint=f"allow it with HOTSWAP_ALLOW_ENV={env}, or `allow_env: [{env}]` in hotswap.yaml "
                                 "on the default branch (HOTSWAP_* never)")
        if not os.environ.get(env):
            raise EtcdError(f"etcd {field}_env names ${{{env}}}, which is not set", hint=f"export {env}")
        secrets[field] = os.environ[env]
    if connection.password_env and not connection.user:
        raise EtcdError("etcd password_env is set but `user` is not", hint="add `user:` to the transport")
    auth = EtcdAuth(user=connection.user, password=secrets.get("password"), token=secrets.get("token"))
    tls = EtcdTls(ca=connection.ca, cert=connection.cert, key=connection.key, verify=connection.verify)
    # One client (one pool, one token) for every target of the same cluster and credentials: a
    # 10,000-key deploy built 10,000 of them (~60 ms of CPU and ~1 MB each). Each user closes it.
    key = (connection, auth)
    with _shared_lock:
        client = _shared.get(key)
        if client is not None:
            client._users += 1
            return client
        client = EtcdClient(list(connection.endpoints), tls=tls, auth=auth, timeout=connection.timeout)
        _shared[key] = client
        return client


_shared: dict[tuple[EtcdConnection, EtcdAuth], EtcdClient] = {}
_shared_lock = threading.Lock()
