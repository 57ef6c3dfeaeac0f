"""Instances that registered themselves (`targets_from: {etcd: …}`) may leave during a deploy: an
instance that stops keeping its lease alive drops out of etcd within its TTL. When a step on such
an instance fails, this asks etcd whether its registration is still there; if it is gone, the
failure says the instance left (and is not retried: the transport's own bounded retries are all it
gets) instead of reading as an unreachable instance that someone should go and fix."""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from hotswap_cli.errors import TransportError

if TYPE_CHECKING:
    from hotswap_cli.core.config.inventory import Inventory
    from hotswap_cli.io.etcd import EtcdClient
    from hotswap_cli.transports.base import Transport

STEPS = frozenset({"read_current", "stage", "check", "swap", "reload", "confirm"})


class RegisteredTransport:
    """A Transport whose failing steps look up the instance's registration key first."""

    def __init__(self, name: str, inner: Transport, key: str, gone: Callable[[str], bool]) -> None:
        self._name, self._inner, self._key, self._gone = name, inner, key, gone

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self._inner, attr)
        if attr not in STEPS:
            return value

        def step(*args: Any, **kwargs: Any) -> Any:
            try:
                return value(*args, **kwargs)
            except TransportError as exc:
                if self._gone(self._key):
                    raise TransportError(self._name, f"{exc.reason}; its registration {self._key} is gone (its "
                                         "lease expired: the instance left the registry)",
                                         hint="not retried: the next plan no longer lists it") from exc
                raise

        return step


def registered(inventory: Inventory, allowed_env: Collection[str]) -> Callable[[str, Transport], Transport] | None:
    """What wraps an instance's transport (RegisteredTransport) when the inventory's instances
    registered themselves in etcd; None when they did not."""
    if inventory.connection is None or not inventory.keys:
        return None
    connection = inventory.connection
    clients: list[EtcdClient] = []
    lock = threading.Lock()

    def gone(key: str) -> bool:
        from hotswap_cli.io.etcd import EtcdError, connect

        try:
            with lock:
                if not clients:
                    clients.append(connect(connection, allowed_env))
            return clients[0].get(key) is None
        except EtcdError:
            return False  # the registry cannot tell: the failure stands as it is

    def wrap(name: str, transport: Transport) -> Transport:
        key = inventory.keys.get(name)
        return RegisteredTransport(name, transport, key, gone) if key else transport  # type: ignore[return-value]

    return wrap
