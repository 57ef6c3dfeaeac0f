"""Execute a Plan: baseline, push phase by phase, bake and gate; on any failure revert all touched."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TypeVar

from hotswap_cli import telemetry
from hotswap_cli.clock import Clock
from hotswap_cli.durations import format_duration
from hotswap_cli.model import REVERT_CONCURRENCY, Phase, Plan
from hotswap_cli.probes.base import HealthSample, Probe
from hotswap_cli.runner.events import (
    BakeExtended,
    BakeStarted,
    DeployFinished,
    DeployStarted,
    EventSink,
    GatePaused,
    HealthSampled,
    InstanceState,
    LockedSink,
    PhaseStarted,
    RevertFinished,
    RevertStarted,
    VerdictReached,
)
from hotswap_cli.runner.gate import Verdict, evaluate
from hotswap_cli.runner.results import DeployResult
from hotswap_cli.runner.slot import Slot, describe
from hotswap_cli.specs import Target
from hotswap_cli.transports.base import Transport

QUICK_BASELINE = 2.0  # seconds between a metrics probe's two baseline scrapes when nothing bakes
EPSILON = 1e-3  # a clock reading this close to a deadline has reached it
STEPS = {
    "deploy": ("stage", "check", "swap", "reload", "confirm"),
    "stage": ("stage", "check"),
    "switch": ("swap", "reload", "confirm"),
}

T = TypeVar("T")
Ask = Callable[[Verdict], bool]  # a paused gate's question: True promotes the phase, False aborts


class NotConfirmed(Exception):
    """The instance answered, after reload, that it runs some other config."""


def run_plan(
    plan: Plan,
    payload_for: Callable[[Target], bytes],
    expected_hash: str,
    *,
    open_transport: Callable[[Target], Transport],
    open_probes: Callable[[Target], Sequence[Probe]],
    clock: Clock,
    sink: EventSink,
    cancel: threading.Event | None = None,
    ask: Ask | None = None,
) -> DeployResult:
    """Run every phase of `plan`; never raises for a failed deploy, returns what happened.
    `ask` settles an inconclusive gate under `on_inconclusive: pause` (without it: fail)."""
    run = _Run(plan, payload_for, expected_hash, open_transport, open_probes, clock, sink, cancel, ask)
    try:
        return run.execute()
    finally:
        run.close()


class _Run:
    def __init__(
        self,
        plan: Plan,
        payload_for: Callable[[Target], bytes],
        expected_hash: str,
        open_transport: Callable[[Target], Transport],
        open_probes: Callable[[Target], Sequence[Probe]],
        clock: Clock,
        sink: EventSink,
        cancel: threading.Event | None,
        ask: Ask | None = None,
    ) -> None:
        self.plan = plan
        self.payload_for = payload_for
        self.expected_hash = expected_hash
        self.open_transport = open_transport
        self.open_probes = open_probes
        self.clock = clock
        self.sink = LockedSink(sink)
        self.cancel = cancel or threading.Event()
        self.ask = ask
        self.stop = threading.Event()  # a push failed: start nothing new
        self.verdicts: list[Verdict] = []
        self.slots: dict[str, Slot] = {}
        for phase in plan.phases:
            for t in phase.targets:
                self.slots.setdefault(t.name, Slot(t, phase.number))
        self.workers = max(1, min(plan.concurrency, len(self.slots)))

    # -- plumbing ---------------------------------------------------------------------------

    def _parallel(self, fn: Callable[[T], None], items: Iterable[T], workers: int | None = None) -> None:
        todo = list(items)
        n = min(workers or self.workers, len(todo))
        if n <= 1:
            for item in todo:
                fn(item)
            return
        run = telemetry.bind(fn)  # worker threads keep the current span as their parent
        with ThreadPoolExecutor(max_workers=n, thread_name_prefix="hotswap") as pool:
            futures = [pool.submit(run, item) for item in todo]
            try:
                for f in futures:
                    f.result()
            except BaseException:
                self.cancel.set()  # queued tasks see it and return; shutdown then waits for running ones
                raise

    def _state(self, slot: Slot, state: str, detail: str = "") -> None:
        slot.state = state
        self.sink.emit(InstanceState(self.clock.now(), slot.name, state, detail))

    def _sample(self, slot: Slot, *, baseline: bool = False) -> list[HealthSample]:
        with telemetry.span("config.health.check", profile=self.plan.profile, version=self.plan.version,
                            instance=slot.name, baseline=baseline) as span:
            samples = slot.sample(self.clock.now)
            span.set(healthy=all(s.ok is not False for s in samples),
                     no_data=all(s.no_data for s in samples) if samples else None)
        for s in samples:
            self.sink.emit(HealthSampled.of(self.clock.now(), s, baseline=baseline))
        return samples

    def close(self) -> None:
        self._parallel(lambda s: s.close(), [s for s in self.slots.values() if s.opened])

    # -- the run ----------------------------------------------------------------------------

    def execute(self) -> DeployResult:
        plan, started = self.plan, self.clock.now()
        counts = (len(plan.phases), len(self.slots))
        self.sink.emit(DeployStarted(started, plan.profile, plan.version, plan.strategy, *counts))
        reason, current = "", None
        try:
            for phase in plan.phases:
                if self.cancel.is_set():
                    break
                current = phase
                self.sink.emit(
                    PhaseStarted(
                        self.clock.now(),
                        phase.number,
                        phase.name,
                        tuple(t.name for t in phase.targets),
                        phase.action,
                    )
                )
                with telemetry.span("config.deploy.phase", profile=plan.profile, version=plan.version,
                                    strategy=plan.strategy, phase=phase.number, phase_name=phase.name,
                                    action=phase.action, instances=len(phase.targets)) as span:
                    reason = self._run_phase(phase)
                    span.set(ok=not reason, reason=reason or None)
                if reason or self.cancel.is_set():
                    break
        except KeyboardInterrupt:
            self.cancel.set()
        # Ctrl-C wins over whatever it broke on the way (a check or reload killed by the same
        # SIGINT fails too): the run is reported as interrupted either way.
        interrupted = self.cancel.is_set()
        if interrupted:
            where = f"phase {current.number} ({current.name})" if current else "start"
            reason = f"interrupted during {where}" + (f": {reason}" if reason else "")
        touched = [s for s in self.slots.values() if s.stage_called]
        if reason and touched:
            self._revert(touched, reason)
        unrestored = [s.name for s in touched if s.revert_error is not None]
        if not reason:
            status = "completed"
        elif unrestored:
            status = "revert_failed"
            reason += f"; could not restore: {', '.join(unrestored)}"
        elif interrupted:
            status = "interrupted"
        else:
            status = "reverted" if touched else "failed_before_change"
        result = DeployResult(
            profile=plan.profile,
            version=plan.version,
            strategy=plan.strategy,
            status=status,
            reason=reason,
            instances=tuple(s.outcome() for s in self.slots.values()),
            verdicts=tuple(self.verdicts),
            failed_phase=current.number if reason and current else None,
            interrupted=interrupted,
            started_at=started,
            finished_at=self.clock.now(),
        )
        self.sink.emit(DeployFinished(result.finished_at, status, int(result.exit_code), reason))
        return result

    def _run_phase(self, phase: Phase) -> str:
        """Prepare new instances, push, then bake and gate; the failure reason, or ''."""
        slots = [self.slots[t.name] for t in phase.targets]
        fresh = [s for s in slots if s.previous_present is None and not s.error]
        self._parallel(self._prepare, fresh)
        failed = [s for s in fresh if s.error]
        if failed:
            return f"could not prepare {_names(failed)}: {failed[0].name}: {failed[0].error}"
        if self.cancel.is_set():
            return ""
        self._close_baselines(fresh, phase)
        if self.cancel.is_set():
            return ""
        self._parallel(lambda s: self._push(s, phase.action), slots)
        failed = [s for s in slots if s.error]
        if failed:
            return f"{phase.action} failed on {_names(failed)}: {failed[0].name}: {failed[0].error}"
        if self.cancel.is_set() or not phase.gate:
            return ""
        verdict = self._bake_and_gate(phase)
        if verdict is None:
            return ""
        if not verdict.ok:
            return f"health gate failed after phase {phase.number} ({phase.name}): {verdict.summary()}"
        for s in slots:
            self._state(s, "healthy")
        return ""

    def _upcoming(self, phase: Phase) -> list[Slot]:
        """The next phase's new instances, opened now: sampled through this bake, their baseline
        spans it, and the next phase starts without waiting. Opening failures are left for
        `_prepare` to report."""
        index = self.plan.phases.index(phase)
        if index + 1 >= len(self.plan.phases):
            return []
        upcoming = [self.slots[t.name] for t in self.plan.phases[index + 1].targets]

        def open_early(slot: Slot) -> None:
            try:
                slot.open(self.open_transport, self.open_probes)
            except Exception:  # noqa: BLE001 - _prepare opens again and says why
                slot.close()
                slot.opened, slot.transport, slot.probes = False, None, []

        self._parallel(open_early, [s for s in upcoming if not s.opened])
        upcoming = [s for s in upcoming if s.opened and s.previous_present is None]
        self._parallel(self._baseline_look, [s for s in upcoming if s.baseline_looks == 0])
        return upcoming

    def _prepare(self, slot: Slot) -> None:
        """Before touching: open, record the current config, take a first baseline sample."""
        if self.cancel.is_set():
            return
        step = "connect"
        try:
            if not slot.opened:
                slot.open(self.open_transport, self.open_probes)
            assert slot.transport is not None
            step = "read current config"
            current = slot.transport.read_current()
            slot.previous_present = current is not None
            slot.previous_sha256 = hashlib.sha256(current).hexdigest() if current is not None else None
            step = "baseline"
            if slot.baseline_looks == 0:
                self._baseline_look(slot)
        except Exception as exc:
            slot.error = f"{step}: {describe(exc)}"
            self._state(slot, "failed", slot.error)

    def _close_baselines(self, fresh: list[Slot], phase: Phase) -> None:
        """One more baseline sample of each new instance right before its push. Instances first
        sampled just now (the first phase) wait one baseline window for it, once for all: rates
        come from the change between two scrapes, and the gate needs enough counts to compare."""
        sampled = [s for s in fresh if s.probes]
        if not sampled:
            return
        # a probe that measured nothing in an instance's only baseline look (a first scrape) needs time
        if any(s.baseline_looks <= 1 and s.baseline.samples > s.baseline.measured for s in sampled):
            health = self.plan.health
            wait = health.baseline_window() if phase.gate and phase.bake > 0 else min(health.interval, QUICK_BASELINE)
            self.clock.sleep(wait)
            if self.cancel.is_set():
                return

        self._parallel(self._baseline_look, sampled)

    def _baseline_look(self, slot: Slot) -> None:
        slot.baseline = slot.baseline.plus(self._sample(slot, baseline=True))
        slot.baseline_looks += 1

    def _push(self, slot: Slot, action: str) -> None:
        with telemetry.span("config.deploy.instance", profile=self.plan.profile, version=self.plan.version,
                            strategy=self.plan.strategy, instance=slot.name, action=action) as span:
            self._push_steps(slot, action)
            span.set(state=slot.state, error=slot.error)

    def _push_steps(self, slot: Slot, action: str) -> None:
        transport = slot.transport
        assert transport is not None
        for step in STEPS[action]:
            if self.cancel.is_set() or self.stop.is_set():
                return
            if slot.started_at is None:
                slot.started_at = self.clock.now()
            try:
                if step == "stage":
                    payload = self.payload_for(slot.target)
                    slot.stage_called = True
                    transport.stage(payload)
                elif step == "check":
                    transport.check()
                    self._state(slot, "staged")
                elif step == "swap":
                    slot.swap_called = True
                    transport.swap()
                elif step == "reload":
                    transport.reload()
                elif transport.confirm(self.expected_hash) is False:
                    raise NotConfirmed(f"instance does not report running {self.expected_hash[:12]}")
            except Exception as exc:
                slot.error = f"{step}: {exc}" if isinstance(exc, NotConfirmed) else f"{step}: {describe(exc)}"
                slot.finished_at = self.clock.now()
                self._state(slot, "failed", slot.error)
                self.stop.set()
                return
        slot.finished_at = self.clock.now()
        if action != "stage":
            slot.live = True
            self._state(slot, "live")
            self._fence(slot)

    def _fence(self, slot: Slot) -> None:
        """A sample right after the push starts the window: the counts it carries span the push (old
        and new config mixed) and belong to neither side; what its checks read is the new config's."""
        if slot.probes and not self.cancel.is_set():
            slot.window = slot.window.plus(replace(s, requests=None, errors=None, buckets=())
                                           for s in self._sample(slot))

    def _bake_and_gate(self, phase: Phase) -> Verdict | None:
        """Bake `phase.bake` seconds sampling every interval, judging at each look: stop at a
        conclusive failure; at the end pass on conclusive evidence, or bake on (up to the
        policy's limit) while the evidence is inconclusive, then settle it by policy."""
        live = [s for s in self.slots.values() if s.live]
        upcoming = self._upcoming(phase)
        policy = self.plan.health
        interval = policy.interval if policy.interval > 0 else phase.bake
        start = self.clock.now()
        deadline, limit = start + phase.bake, start + policy.bake_limit(phase.bake)
        self.sink.emit(BakeStarted(start, phase.number, phase.bake, interval, len(live)))
        extended, settled = False, None
        while True:
            if phase.bake > 0:
                self.clock.sleep(max(0.0, min(interval, (limit if extended else deadline) - self.clock.now())))
            if self.cancel.is_set():
                return None
            self._look(live, upcoming)
            if self.cancel.is_set():
                return None
            now = self.clock.now()
            closing = phase.bake <= 0 or now >= deadline - EPSILON
            outcome = self._judge(live, closing, explain=False).outcome
            if outcome == "fail" or (closing and outcome == "pass"):
                break
            if not closing:
                continue
            if phase.bake <= 0:
                settled = (True, "no bake: only conclusive evidence fails")
                break
            if now < limit - EPSILON:
                if not extended:
                    extended = True
                    reason = self._judge(live, closing).summary()
                    self.sink.emit(BakeExtended(now, phase.number, limit - now, reason))
                continue
            settled = self._settle(replace(self._judge(live, closing), phase=phase.number), now - start)
            break
        verdict = replace(self._judge(live, closing), phase=phase.number)
        if settled is not None:
            verdict = verdict.settle(*settled)
        self.verdicts.append(verdict)
        self.sink.emit(VerdictReached(self.clock.now(), phase.number, verdict.ok, verdict))
        return verdict

    def _judge(self, live: list[Slot], closing: bool, *, explain: bool = True) -> Verdict:
        return evaluate({s.name: s.baseline for s in live}, {s.name: s.window for s in live}, self.plan.health,
                        population=len(self.slots), closing=closing, explain=explain)

    def _look(self, live: list[Slot], upcoming: list[Slot]) -> None:
        """One sample of every live instance (its window) and every upcoming one (its baseline)."""

        def look(slot: Slot) -> None:
            if slot.live:
                slot.window = slot.window.plus(self._sample(slot))
            else:
                self._baseline_look(slot)

        self._parallel(look, live + upcoming)

    def _settle(self, verdict: Verdict, waited: float) -> tuple[bool, str]:
        """An inconclusive gate at the end of its longest bake: `on_inconclusive` decides."""
        policy = self.plan.health.on_inconclusive
        after = f"inconclusive after {format_duration(round(waited, 1))}"
        if policy == "pass":
            return True, f"{after}: passed by on_inconclusive: pass"
        if policy == "pause":
            if self.ask is None:
                return False, f"{after}: on_inconclusive: pause, and nobody to ask: failed"
            self.sink.emit(GatePaused(self.clock.now(), verdict.phase, verdict.summary()))
            promoted = self.ask(verdict)
            return promoted, f"{after}: paused, then {'promoted' if promoted else 'aborted'}"
        return False, f"{after}: on_inconclusive: fail"

    def _revert(self, touched: list[Slot], reason: str) -> None:
        """Every touched instance back to its exact previous config, in parallel."""
        with telemetry.span("config.rollback", profile=self.plan.profile, version=self.plan.version,
                            automatic=True, reason=reason, instances=len(touched)):
            self._revert_all(touched, reason)

    def _revert_all(self, touched: list[Slot], reason: str) -> None:
        t0 = self.clock.now()
        self.sink.emit(RevertStarted(t0, reason, tuple(s.name for s in touched)))

        def undo(slot: Slot) -> None:
            try:
                detail = slot.undo()
            except Exception as exc:
                slot.revert_error = describe(exc)
                self._state(slot, "failed", f"revert failed: {slot.revert_error}")
                return
            slot.reverted_at = self.clock.now()
            self._state(slot, "reverted", detail)

        self._parallel(undo, touched, workers=max(self.plan.concurrency, REVERT_CONCURRENCY))
        ok = tuple(s.name for s in touched if s.revert_error is None)
        bad = tuple(s.name for s in touched if s.revert_error is not None)
        self.sink.emit(RevertFinished(self.clock.now(), ok, bad, self.clock.now() - t0))


def _names(slots: list[Slot]) -> str:
    names = [s.name for s in slots]
    return ", ".join(names) if len(names) <= 5 else ", ".join(names[:5]) + f" and {len(names) - 5} more"
