"""Progress events: the only way progress leaves the runner (one JSON object per line with --json)."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Protocol

from hotswap_cli.clock import utc_second
from hotswap_cli.probes.base import HealthSample
from hotswap_cli.runner.gate import Verdict

INSTANCE_STATES = ("pending", "staged", "live", "healthy", "reverted", "failed", "unknown")


@dataclass(frozen=True)
class Event:
    """Base: `at` is the runner clock's reading; `kind` names the event in JSON output."""

    kind: ClassVar[str] = "event"
    at: float

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"event": self.kind, "at": self.at}
        self._fields_into(out)
        return out

    def to_json(self, *, start: float, offset: float) -> dict[str, Any]:
        """The event as one `--json` line: `at` on the wall clock (ISO 8601 UTC, milliseconds: the
        clock's reading plus `offset`, wall minus clock), `elapsed_s` since `start` (the run's first event)."""
        out: dict[str, Any] = {"event": self.kind, "at": wall_time(self.at + offset),
                               "elapsed_s": round(self.at - start, 3)}
        self._fields_into(out)
        return out

    def _fields_into(self, out: dict[str, Any]) -> None:
        for name in _names(type(self)):
            value = getattr(self, name)
            if isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Verdict):
                value = value.to_dict()
            out[name] = value


_NAMES: dict[type, tuple[str, ...]] = {}


def _names(kind: type[Event]) -> tuple[str, ...]:
    """An event class's fields after `at`, looked up once (a 10,000-instance run emits ~50,000 events)."""
    names = _NAMES.get(kind)
    if names is None:
        names = _NAMES[kind] = tuple(f.name for f in fields(kind) if f.name != "at")
    return names


def wall_time(epoch: float) -> str:
    """`2026-11-30T17:02:03.123Z`: a wall-clock moment for JSON output, to the millisecond."""
    whole = math.floor(epoch)
    return f"{utc_second(whole)}.{min(999, int((epoch - whole) * 1000)):03d}Z"


@dataclass(frozen=True)
class DeployStarted(Event):
    kind: ClassVar[str] = "deploy_started"
    profile: str
    version: str
    strategy: str
    phases: int
    instances: int


@dataclass(frozen=True)
class PhaseStarted(Event):
    kind: ClassVar[str] = "phase_started"
    number: int
    name: str
    instances: tuple[str, ...]
    action: str = "deploy"


@dataclass(frozen=True)
class InstanceState(Event):
    """`state` is one of INSTANCE_STATES; `detail` says why (error text, step, note)."""

    kind: ClassVar[str] = "instance_state"
    instance: str
    state: str
    detail: str = ""


@dataclass(frozen=True)
class PhasePrepared(Event):
    """What each of the phase's new instances runs now, read just before any of them is touched:
    (instance, has a config, its config hash or None). A sink that raises here (the deploy
    journal could not be written) stops the run before the phase touches anything."""

    kind: ClassVar[str] = "phase_prepared"
    phase: int
    instances: tuple[tuple[str, bool, str | None], ...]


@dataclass(frozen=True)
class BakeStarted(Event):
    kind: ClassVar[str] = "bake_started"
    phase: int
    seconds: float
    interval: float
    instances: int


@dataclass(frozen=True)
class BakeExtended(Event):
    """The bake ended with the evidence inconclusive: it goes on for up to `seconds` more."""

    kind: ClassVar[str] = "bake_extended"
    phase: int
    seconds: float
    reason: str


@dataclass(frozen=True)
class GatePaused(Event):
    """`on_inconclusive: pause`: the run waits for someone to promote or abort the phase."""

    kind: ClassVar[str] = "gate_paused"
    phase: int
    reason: str


@dataclass(frozen=True)
class PhasePaused(Event):
    """After `phase`: a pause step, or an inconclusive gate under `on_inconclusive: pause`. The run
    waits for `hotswap resume`/`promote`/`abort` (from any machine), or `until` seconds (None: no
    end but the pause limit)."""

    kind: ClassVar[str] = "phase_paused"
    phase: int
    reason: str
    until: float | None = None


@dataclass(frozen=True)
class ControlReceived(Event):
    """Someone sent `hotswap promote|resume|abort PROFILE` for this run."""

    kind: ClassVar[str] = "control"
    action: str  # promote | resume | abort
    by: str
    full: bool = False
    id: str = ""


@dataclass(frozen=True)
class HealthSampled(Event):
    kind: ClassVar[str] = "health_sample"
    instance: str
    probe: str
    ok: bool | None = None
    no_data: bool = False
    error_rate: float | None = None
    p99_ms: float | None = None
    latency_ms: float | None = None
    detail: str = ""
    baseline: bool = False
    requests: float | None = None
    errors: float | None = None

    @classmethod
    def of(cls, at: float, s: HealthSample, *, baseline: bool = False) -> HealthSampled:
        return cls(at, s.instance, s.probe, s.ok, s.no_data, s.error_rate, s.p99_ms, s.latency_ms, s.detail, baseline,
                   s.requests, s.errors)


@dataclass(frozen=True)
class VerdictReached(Event):
    """The phase's gate decision (`ok`) and the evidence behind it (`verdict`)."""

    kind: ClassVar[str] = "verdict"
    phase: int
    ok: bool
    verdict: Verdict


@dataclass(frozen=True)
class RevertStarted(Event):
    kind: ClassVar[str] = "revert_started"
    reason: str
    instances: tuple[str, ...]


@dataclass(frozen=True)
class RevertFinished(Event):
    kind: ClassVar[str] = "revert_finished"
    restored: tuple[str, ...]
    failed: tuple[str, ...]
    seconds: float


@dataclass(frozen=True)
class DeployFinished(Event):
    kind: ClassVar[str] = "deploy_finished"
    status: str
    exit_code: int
    reason: str


class EventSink(Protocol):
    def emit(self, event: Event) -> None: ...


class NullSink:
    def emit(self, event: Event) -> None:
        pass


class ListSink:
    """Keeps every event (tests, ledger evidence); safe to call from worker threads."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._lock = threading.Lock()

    def emit(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)

    def of(self, kind: type[Event]) -> list[Event]:
        with self._lock:
            return [e for e in self.events if isinstance(e, kind)]


class TeeSink:
    """Every event to each sink in turn (the first that raises stops the rest, and the emitter sees it)."""

    def __init__(self, *sinks: EventSink) -> None:
        self.sinks = sinks

    def emit(self, event: Event) -> None:
        for sink in self.sinks:
            sink.emit(event)


class LockedSink:
    """Serialises emits so a sink written for one thread can be fed from the worker pool."""

    def __init__(self, inner: EventSink) -> None:
        self.inner = inner
        self._lock = threading.Lock()

    def emit(self, event: Event) -> None:
        with self._lock:
            self.inner.emit(event)
