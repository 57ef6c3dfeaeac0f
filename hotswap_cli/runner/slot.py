"""Per-instance bookkeeping for one run: transport, probes, previous config, steps done, revert."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from hotswap_cli.errors import HotswapError
from hotswap_cli.probes.base import HealthSample, Probe
from hotswap_cli.runner.gate import Tally
from hotswap_cli.runner.results import InstanceOutcome
from hotswap_cli.specs import Target
from hotswap_cli.transports.base import Transport


def describe(exc: BaseException) -> str:
    """A transport's message (and its hint: what to do) as is; an unexpected error with its type
    so it is not mistaken."""
    if isinstance(exc, HotswapError):
        text = getattr(exc, "reason", None) or exc.message
        return f"{text} ({exc.hint})" if exc.hint else text
    return f"{type(exc).__name__}: {exc}"


PRIOR_READ_FRESH = 30.0  # seconds a read made for the plan stands for the read before the push


@dataclass(frozen=True)
class PriorRead:
    """An instance's current config as read for the plan, by a transport left open for the run.

    The rule: the run takes the transport over, and uses the read as the revert copy and the
    journal's "before" when the instance is prepared within PRIOR_READ_FRESH seconds of it (a
    --yes run, a quick answer at the prompt; a later canary phase reads again). ops.run hands
    reads over only when nothing else deployed the profile since (the lock was free and the
    ledger holds no newer run). Changes made outside hotswap in that window are the same risk as
    in the gap between any read and the push; etcd's compare-and-put still catches them."""

    transport: Transport
    current: bytes | None  # what read_current returned
    read_at: float  # time.monotonic() of the read

    def fresh(self) -> bool:
        return time.monotonic() - self.read_at <= PRIOR_READ_FRESH


@dataclass
class Slot:
    """Mutable, and touched by one worker thread at a time (the engine's phases are sequential)."""

    target: Target
    phase: int
    transport: Transport | None = None
    probes: list[Probe] = field(default_factory=list)
    opened: bool = False
    previous_present: bool | None = None
    previous_sha256: str | None = None  # of the raw bytes read before touching (ledger, status)
    previous_config: str | None = None  # config hash of those bytes: the version they are (journal)
    baseline: Tally = field(default_factory=Tally)  # measured before the push (from a phase early on)
    window: Tally = field(default_factory=Tally)  # measured since the push, over every phase since
    baseline_looks: int = 0  # rounds of baseline samples taken
    stage_called: bool = False  # touched: cleanup needed
    swap_called: bool = False  # live (or maybe live): revert, not discard
    live: bool = False
    abandoned: bool = False  # stuck after Ctrl-C and left behind (engine._abandon)
    state: str = "pending"
    error: str | None = None
    revert_error: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    reverted_at: float | None = None

    @property
    def name(self) -> str:
        return self.target.name

    def open(
        self,
        open_transport: Callable[[Target], Transport],
        open_probes: Callable[[Target], Sequence[Probe]],
    ) -> None:
        self.opened = True
        self.transport = open_transport(self.target)
        self.probes = list(open_probes(self.target))

    def adopt(self, transport: Transport, open_probes: Callable[[Target], Sequence[Probe]]) -> None:
        """Like `open`, on a transport already open (a PriorRead's)."""
        self.opened = True
        self.transport = transport
        self.probes = list(open_probes(self.target))

    def sample(self, now: Callable[[], float]) -> list[HealthSample]:
        """One sample from each probe; a probe that raises gives a no-data sample, not a crash."""
        out = []
        for probe in self.probes:
            try:
                out.append(probe.sample())
            except Exception as exc:  # a probe bug must not stop the revert path
                out.append(
                    HealthSample(
                        instance=self.name,
                        probe=getattr(probe, "kind", "probe"),
                        at=now(),
                        no_data=True,
                        detail=f"probe error: {describe(exc)}",
                    )
                )
        return out

    def undo(self) -> str:
        """Put the instance back: revert once swap was tried, else drop the staged config."""
        assert self.transport is not None
        if self.swap_called:
            self.transport.revert()
            return "previous config restored" if self.previous_present else "config removed"
        self.transport.discard()
        return "staged config discarded"

    def close(self) -> None:
        for probe in self.probes:
            try:
                probe.close()
            except Exception:  # closing is best effort; the outcome is already recorded
                pass
        if self.transport is not None:
            try:
                self.transport.close()
            except Exception:
                pass

    def outcome(self) -> InstanceOutcome:
        return InstanceOutcome(
            instance=self.name,
            state=self.state,
            phase=self.phase,
            touched=self.stage_called,
            previous_present=self.previous_present,
            previous_sha256=self.previous_sha256,
            error=self.error,
            revert_error=self.revert_error,
            started_at=self.started_at,
            finished_at=self.finished_at,
            reverted_at=self.reverted_at,
        )
