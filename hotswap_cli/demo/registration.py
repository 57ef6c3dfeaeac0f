"""The demo service in etcd: each instance registers itself under a lease it keeps alive (the
registry `targets_from: {etcd: …}` reads), and may watch a key for its config (what the etcd
transport writes), applying a new value exactly as a PUT /config would."""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import dataclass, field

from hotswap_cli.io.etcd import EtcdClient, EtcdError

REGISTRY_PREFIX = "/instances/{service}/"


def _log(message: str) -> None:
    print(f"demo service: {message}", file=sys.stderr, flush=True)


@dataclass
class Registration:
    """One lease for every instance of this process: granted, the keys put under it, refreshed
    every TTL/3 on a thread (re-granted and re-put if it expired meanwhile), revoked at shutdown."""

    client: EtcdClient
    service: str
    ttl: int
    entries: dict[str, bytes] = field(default_factory=dict)  # key -> the instance's JSON
    lease: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @staticmethod
    def key(service: str, name: str) -> str:
        return REGISTRY_PREFIX.format(service=service) + name

    def add(self, name: str, url: str, labels: dict[str, str] | None = None) -> None:
        entry = {"name": name, "url": url, "labels": {"service": self.service, **(labels or {})}}
        self.entries[self.key(self.service, name)] = json.dumps(entry, sort_keys=True).encode()

    def start(self) -> None:
        self._register()
        self._thread = threading.Thread(target=self._keep_alive, name="etcd-keepalive", daemon=True)
        self._thread.start()

    def _register(self) -> None:
        self.lease = self.client.grant(self.ttl)
        for key, value in self.entries.items():
            self.client.put(key, value, lease=self.lease)

    def _keep_alive(self) -> None:
        while not self._stop.wait(max(0.2, self.ttl / 3)):
            try:
                if self.client.keepalive(self.lease) <= 0:
                    _log(f"lease {self.lease:x} had expired: registering again")
                    self._register()
            except EtcdError as exc:  # etcd away for a while: keep trying; the lease decides
                _log(f"keepalive: {exc}")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            self.client.revoke(self.lease)  # the keys go at once, not after the TTL
        except EtcdError as exc:
            _log(f"revoke: {exc}")


class KeyWatch:
    """Polls one key; `changed()` gives its new value once per change (None while it is unchanged
    or absent). Polling every 0.5 s is the simplest watch-style consumer: one range per poll."""

    def __init__(self, client: EtcdClient, key: str) -> None:
        self.client, self.key = client, key
        self.revision = 0

    def changed(self) -> bytes | None:
        try:
            kv = self.client.get(self.key)
        except EtcdError as exc:
            _log(f"watch {self.key}: {exc}")
            return None
        if kv is None or kv.mod_revision == self.revision:
            return None
        self.revision = kv.mod_revision
        return kv.value
