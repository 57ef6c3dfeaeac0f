"""Execute a Plan: baseline, push phase by phase, bake and gate; on any failure revert all touched."""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TypeVar

from hotswap_cli import telemetry
from hotswap_cli.clock import Clock
from hotswap_cli.model import Phase, Plan, Target
from hotswap_cli.probes.base import HealthSample, Probe
from hotswap_cli.runner.events import (
    BakeStarted,
    DeployFinished,
    DeployStarted,
    EventSink,
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
from hotswap_cli.transports.base import Transport

# every touched instance goes back at once: revert is not bounded by the push concurrency
REVERT_CONCURRENCY = 100
BASELINE_WINDOW = 2.0  # seconds between a metrics probe's two baseline scrapes, at most
STEPS = {
    "deploy": ("stage", "check", "swap", "reload", "confirm"),
    "stage": ("stage", "check"),
    "switch": ("swap", "reload", "confirm"),
}

T = TypeVar("T")


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
) -> DeployResult:
    """Run every phase of `plan`; never raises for a failed deploy, returns what happened."""
    run = _Run(plan, payload_for, expected_hash, open_transport, open_probes, clock, sink, cancel)
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
    ) -> None:
        self.plan = plan
        self.payload_for = payload_for
        self.expected_hash = expected_hash
        self.open_transport = open_transport
        self.open_probes = open_probes
        self.clock = clock
        self.sink = LockedSink(sink)
        self.cancel = cancel or threading.Event()
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
        self._parallel(lambda s: self._push(s, phase.action), slots)
        failed = [s for s in slots if s.error]
        if failed:
            return f"{phase.action} failed on {_names(failed)}: {failed[0].name}: {failed[0].error}"
        if self.cancel.is_set() or not phase.gate:
            return ""
        self._warm_up(phase)
        verdict = self._bake_and_gate(phase)
        if verdict is None:
            return ""
        if not verdict.ok:
            return f"health gate failed after phase {phase.number} ({phase.name}): {verdict.summary()}"
        for s in slots:
            self._state(s, "healthy")
        return ""

    def _warm_up(self, phase: Phase) -> None:
        """Open the next phase's new instances and take a first baseline sample while this phase
        bakes: a metrics probe's rates then span the whole bake, and the next phase starts
        without waiting for a second scrape. Failures are left for `_prepare` to report."""
        index = self.plan.phases.index(phase)
        if index + 1 >= len(self.plan.phases):
            return
        upcoming = [self.slots[t.name] for t in self.plan.phases[index + 1].targets]

        def warm(slot: Slot) -> None:
            try:
                slot.open(self.open_transport, self.open_probes)
                slot.warm_up = self._sample(slot, baseline=True)
            except Exception:  # noqa: BLE001 - _prepare opens again and says why
                slot.close()
                slot.opened, slot.warm_up, slot.transport, slot.probes = False, [], None, []

        self._parallel(warm, [s for s in upcoming if not s.opened])

    def _prepare(self, slot: Slot) -> None:
        """Before touching: open, record the current config and a health baseline."""
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
            slot.baseline = [s for s in slot.warm_up if not s.no_data] + self._sample(slot, baseline=True)
            if any(s.probe == "metrics" and s.no_data for s in slot.baseline):
                # rates come from the change between two scrapes: take a second one for a real baseline
                self.clock.sleep(min(self.plan.health.interval, BASELINE_WINDOW))
                slot.baseline = [s for s in slot.baseline if not s.no_data] + self._sample(slot, baseline=True)
        except Exception as exc:
            slot.error = f"{step}: {describe(exc)}"
            self._state(slot, "failed", slot.error)

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

    def _bake_and_gate(self, phase: Phase) -> Verdict | None:
        """Bake `phase.bake` seconds sampling every interval; stop at the first failing verdict."""
        live = [s for s in self.slots.values() if s.live]
        policy = self.plan.health
        window: dict[str, list[HealthSample]] = {s.name: [] for s in live}
        baseline = {s.name: s.baseline for s in live}
        interval = policy.interval if policy.interval > 0 else phase.bake
        rounds = max(1, math.ceil(phase.bake / interval)) if phase.bake > 0 else 1
        self.sink.emit(BakeStarted(self.clock.now(), phase.number, phase.bake, interval, len(live)))
        deadline = self.clock.now() + phase.bake
        verdict = Verdict(phase=phase.number)
        for n in range(1, rounds + 2):  # one spare round when sampling overran the deadline
            if phase.bake > 0:
                self.clock.sleep(max(0.0, min(interval, deadline - self.clock.now())))
            if self.cancel.is_set():
                return None
            self._parallel(lambda s: window[s.name].extend(self._sample(s)), live)
            if self.cancel.is_set():
                return None
            verdict = replace(evaluate(baseline, window, policy), phase=phase.number)
            if not verdict.ok or phase.bake <= 0 or self.clock.now() >= deadline or n > rounds:
                break
        self.verdicts.append(verdict)
        self.sink.emit(VerdictReached(self.clock.now(), phase.number, verdict.ok, verdict))
        return verdict

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
