"""The `etcd` transport: an instance's config is the value of one etcd key, which the instance (or
its agent: confd, a watcher) reads. Every write is a compare-and-swap transaction on the key's
mod_revision (io.etcd.EtcdClient.put_if / delete_if):

- read_current remembers the value and mod_revision (absent: revision 0, "must not exist");
- swap puts the new bytes only if the key is still at that revision: another writer's change in
  between fails the swap, naming the key and both revisions, and nothing is written;
- confirm reads the key back and compares bytes (then `confirm_url`, as the http transport does);
- revert puts back the exact previous bytes, or deletes a key that did not exist, only if the key
  is still at the revision *our* swap wrote: a later writer's value is never clobbered either, the
  revert fails instead (what runs is then unknown to us, which the runner reports).

Blue-green without a pointer key: writing `<key>/next` everywhere and then switching a pointer
would make every consumer follow two keys, which confd, consul-template-style watchers and
Spring Cloud do not. The guarantee blue-green asks for is kept without it: the runner stages and
checks every instance before it swaps any, and `check` here reads the key again, so a key changed
by another writer, an unreachable endpoint or refused credentials stop the run before the first
switch; a switch (and a switch back) is one transaction per key, as instant as flipping a pointer.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TypeVar

from hotswap_cli.errors import TransportError
from hotswap_cli.io.etcd import EtcdClient, EtcdError, KeyValue, connect
from hotswap_cli.io.steps import step_error
from hotswap_cli.specs import EtcdSpec

T = TypeVar("T")


def _revision(kv: KeyValue | None) -> str:
    return f"mod_revision {kv.mod_revision}" if kv else "absent"


class EtcdTransport:
    """One instance's key; every write compared against the revision this transport last saw."""

    def __init__(self, name: str, spec: EtcdSpec, *, profile: str = "", traceparent: str | None = None,
                 allowed_env: Collection[str] = frozenset()) -> None:
        self.name = name
        self.spec = spec
        self.traceparent = traceparent
        self.key = spec.key_for(profile, name)
        if not profile and ("{profile}" in spec.key or "{service}" in spec.key):
            raise TransportError(name, f"etcd key {spec.key!r} needs the profile's name, which was not given")
        try:
            self._client: EtcdClient = connect(spec.connection, allowed_env)
        except EtcdError as exc:
            raise TransportError(name, f"{exc}; nothing was written", hint=exc.hint) from None
        self._read: KeyValue | None = None  # the key as read_current saw it (None: absent)
        self._has_read = False
        self._staged: bytes | None = None
        self._pushed: bytes | None = None  # what swap sent
        self._written: KeyValue | None = None  # the key as our swap left it (None: unknown or not swapped)

    def read_current(self) -> bytes | None:
        self._read = self._call("read current config", lambda: self._client.get(self.key))
        self._has_read = True
        return self._read.value if self._read else None

    def stage(self, data: bytes) -> None:
        self._staged = data  # nothing is written before swap: a staged value has no place in etcd

    def check(self) -> None:
        """The key is still as read (no other writer since), and etcd answers with these credentials."""
        if not self._has_read:
            return
        now = self._call("check", lambda: self._client.get(self.key))
        if _revision(now) != _revision(self._read):
            raise self._changed("check", now)

    def swap(self) -> None:
        if self._staged is None:
            raise step_error(self.name, "swap", "nothing staged")
        if not self._has_read:
            self.read_current()  # the compare needs the revision the key is at
        data, expected = self._staged, self._read.mod_revision if self._read else 0
        self._pushed = data  # from here the write may have happened even if its answer is lost
        try:
            ok, now = self._client.put_if(self.key, data, expected)
        except EtcdError as exc:
            if not exc.unreachable:
                self._pushed = None  # etcd answered: it refused, nothing was written
            raise self._error("swap", exc) from None
        if not ok:
            self._pushed = None
            raise self._changed("swap", now)
        self._written, self._staged = now, None

    def reload(self) -> None:
        return None  # the instance watches its key

    def confirm(self, expected_sha256: str) -> bool | None:
        now = self._call("confirm", lambda: self._client.get(self.key))
        if now is None or now.value != self._pushed:
            raise step_error(self.name, "confirm", f"{self.key} does not hold what was written "
                             f"(wrote {_revision(self._written)}, now {_revision(now)}): another writer changed it")
        if not self.spec.confirm_url:
            return True
        from hotswap_cli.io.http import confirm_running

        return confirm_running(self.name, self.spec.confirm_url, expected_sha256, timeout=self.spec.confirm_timeout,
                               tls=self.spec.tls, traceparent=self.traceparent)

    def discard(self) -> None:
        self._staged = None

    def revert(self) -> None:
        self._staged = None
        if self._pushed is None:
            return  # nothing was written
        written = self._written
        if written is None:  # the swap's answer was lost: find out whether it was applied
            now = self._call("revert", lambda: self._client.get(self.key))
            if _revision(now) == _revision(self._read):
                self._pushed = None
                return
            if now is None or now.value != self._pushed:
                raise self._overwritten(now)
            written = now
        ok, now = self._put_back(written.mod_revision)
        if not ok:
            raise self._overwritten(now)
        self._pushed, self._written = None, None

    def _put_back(self, ours: int) -> tuple[bool, KeyValue | None]:
        """The previous value (or no key) back, compared on our write's revision `ours`. When the
        answer is lost, the key is read to see whether it landed; if it did not, it is sent once more."""
        previous = self._read.value if self._read else None

        def transaction() -> tuple[bool, KeyValue | None]:
            if previous is None:
                return self._client.delete_if(self.key, ours)
            return self._client.put_if(self.key, previous, ours)

        try:
            return transaction()
        except EtcdError as exc:
            if not exc.unreachable:
                raise self._error("revert", exc) from None
        now = self._call("revert", lambda: self._client.get(self.key))
        if now is not None and now.mod_revision == ours:
            return self._call("revert", transaction)
        return (now is None if previous is None else now is not None and now.value == previous), now

    def close(self) -> None:
        self._client.close()

    # -- helpers ----------------------------------------------------------------------------

    def _call(self, step: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except EtcdError as exc:
            raise self._error(step, exc) from None

    def _error(self, step: str, exc: EtcdError) -> TransportError:
        hint = exc.hint or ("check that etcd is up and the endpoints are right" if exc.unreachable else None)
        return step_error(self.name, step, f"etcd {self.key}: {exc}", hint=hint)

    def _changed(self, step: str, now: KeyValue | None) -> TransportError:
        return step_error(self.name, step, f"etcd key {self.key} was changed by another writer since it was read "
                          f"(read: {_revision(self._read)}, found: {_revision(now)}); nothing was written",
                          hint="find the other writer; deploy again once it is done")

    def _overwritten(self, now: KeyValue | None) -> TransportError:
        return step_error(self.name, "revert", f"etcd key {self.key} was changed by another writer after the push "
                          f"(we wrote {_revision(self._written)}, found: {_revision(now)}); left as it is, so "
                          "what the instance runs is not known", hint="see what the key holds now (`hotswap status`)")
