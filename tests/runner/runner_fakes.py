"""Fakes at the Protocol seams: a fleet of in-memory instances, their transports and probes."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from hotswap_cli.clock import FakeClock
from hotswap_cli.errors import TransportError
from hotswap_cli.probes.base import HealthSample
from hotswap_cli.specs import LocalSpec, Target

OLD = b"old-config"


def targets(n: int, prefix: str = "i") -> tuple[Target, ...]:
    return tuple(Target(f"{prefix}{i}", LocalSpec(path=f"/fake/{prefix}{i}")) for i in range(n))


def payload_for(target: Target) -> bytes:
    return f"new-{target.name}".encode()


class Fleet:
    """In-memory instances: live bytes, a call log and injected failures.

    `fail` maps (instance, step) to an error message; steps are the Transport method names plus
    "open" (the transport cannot be opened). `sick` instances report bad health once they run
    the new config. `confirm` is what every instance answers to confirm().
    """

    def __init__(
        self,
        names: Iterable[str],
        *,
        initial: bytes | None = OLD,
        fail: dict[tuple[str, str], str] | None = None,
        sick: Iterable[str] = (),
        probes: Iterable[str] = ("metrics", "http"),
        confirm: bool | None = True,
        absent: Iterable[str] = (),
    ) -> None:
        self.names = list(names)
        self.live: dict[str, bytes | None] = {n: initial for n in self.names}
        for n in absent:
            self.live[n] = None
        self.original = dict(self.live)
        self.fail = dict(fail or {})
        self.sick = set(sick)
        self.probe_kinds = tuple(probes)
        self.confirm_answer = confirm
        self.calls: list[tuple[str, str]] = []
        self.closed: list[str] = []
        self.probes_closed: list[str] = []
        self.lock = threading.Lock()

    # -- factories handed to the runner -------------------------------------------------------

    def open_transport(self, target: Target) -> FakeTransport:
        self.record(target.name, "open")
        return FakeTransport(self, target.name)

    def open_probes(self, target: Target) -> list[FakeProbe]:
        return [FakeProbe(self, target.name, kind) for kind in self.probe_kinds]

    # -- bookkeeping ----------------------------------------------------------------------------

    def record(self, name: str, step: str) -> None:
        with self.lock:
            self.calls.append((name, step))
        if (name, step) in self.fail:
            raise TransportError(name, self.fail[(name, step)])

    def called(self, step: str) -> set[str]:
        with self.lock:
            return {n for n, s in self.calls if s == step}

    def running_new(self, name: str) -> bool:
        return self.live[name] != self.original[name]

    def restored(self) -> bool:
        return self.live == self.original


class FakeTransport:
    def __init__(self, fleet: Fleet, name: str) -> None:
        self.fleet = fleet
        self.name = name
        self.previous: bytes | None = None
        self.staged: bytes | None = None

    def read_current(self) -> bytes | None:
        self.fleet.record(self.name, "read_current")
        self.previous = self.fleet.live[self.name]
        return self.previous

    def stage(self, data: bytes) -> None:
        self.fleet.record(self.name, "stage")
        self.staged = data

    def check(self) -> None:
        self.fleet.record(self.name, "check")

    def swap(self) -> None:
        self.fleet.record(self.name, "swap")
        assert self.staged is not None
        self.fleet.live[self.name] = self.staged

    def reload(self) -> None:
        self.fleet.record(self.name, "reload")

    def confirm(self, expected_sha256: str) -> bool | None:
        self.fleet.record(self.name, "confirm")
        return self.fleet.confirm_answer

    def discard(self) -> None:
        self.fleet.record(self.name, "discard")
        self.staged = None

    def revert(self) -> None:
        self.fleet.record(self.name, "revert")
        self.fleet.live[self.name] = self.previous

    def close(self) -> None:
        with self.fleet.lock:
            self.fleet.closed.append(self.name)


INF = float("inf")
HEALTHY_LATENCY = ((0.05, 900.0), (0.1, 990.0), (0.15, 1000.0), (0.2, 1000.0), (0.4, 1000.0), (INF, 1000.0))
SICK_LATENCY = ((0.05, 200.0), (0.1, 600.0), (0.15, 700.0), (0.2, 900.0), (0.4, 990.0), (INF, 1000.0))


class FakeProbe:
    """metrics: 1000 requests a sample, 1% errors and p99 100ms (22% and 400ms when sick);
    scrape: the same after a first scrape that measures nothing (as the metrics probe does);
    trickle: 20 requests a sample, 1 failed: too few to tell; silent: never any data;
    http/command: ok (not when sick)."""

    def __init__(self, fleet: Fleet, instance: str, kind: str) -> None:
        self.fleet = fleet
        self.instance = instance
        self.kind = kind
        self.scrapes = 0

    def sample(self) -> HealthSample:
        bad = self.instance in self.fleet.sick and self.fleet.running_new(self.instance)
        self.scrapes += 1
        if self.kind == "scrape" and self.scrapes == 1:
            return HealthSample(self.instance, "metrics", 0.0, no_data=True, detail="first scrape")
        if self.kind == "trickle":
            return HealthSample(self.instance, "metrics", 0.0, error_rate=0.05, requests=20.0, errors=1.0)
        if self.kind in ("metrics", "scrape"):
            return HealthSample(
                self.instance,
                "metrics",
                0.0,
                error_rate=0.22 if bad else 0.01,
                p99_ms=400.0 if bad else 100.0,
                requests=1000.0,
                errors=220.0 if bad else 10.0,
                buckets=SICK_LATENCY if bad else HEALTHY_LATENCY,
            )
        if self.kind == "silent":
            return HealthSample(self.instance, "metrics", 0.0, no_data=True, detail="no traffic")
        return HealthSample(self.instance, self.kind, 0.0, ok=not bad, detail="HTTP 500" if bad else "")

    def close(self) -> None:
        with self.fleet.lock:
            self.fleet.probes_closed.append(self.instance)


class CancellingClock(FakeClock):
    """A fake clock that sets `cancel` (as Ctrl-C would) during its n-th sleep."""

    def __init__(self, cancel: threading.Event, at_sleep: int) -> None:
        super().__init__()
        self.cancel = cancel
        self.at_sleep = at_sleep

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        if len(self.slept) == self.at_sleep:
            self.cancel.set()
