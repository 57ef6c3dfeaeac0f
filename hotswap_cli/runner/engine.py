"""Execute a Plan: baseline, push phase by phase, bake and gate; on any failure revert all touched."""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from hotswap_cli import telemetry
from hotswap_cli.clock import Clock
from hotswap_cli.durations import format_duration
from hotswap_cli.formats import parse_config_bytes
from hotswap_cli.model import REVERT_CONCURRENCY, Phase, Plan, config_hash
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
    PhasePaused,
    PhasePrepared,
    PhaseStarted,
    RevertFinished,
    RevertStarted,
    VerdictReached,
)
from hotswap_cli.runner.gate import Verdict, evaluate
from hotswap_cli.runner.parallel import run_all
from hotswap_cli.runner.pause import GATE_PAUSE_LIMIT, PAUSE_LIMIT, Order, Orders, Waiter
from hotswap_cli.runner.results import DeployResult
from hotswap_cli.runner.slot import PriorRead, Slot, describe
from hotswap_cli.specs import Target
from hotswap_cli.transports.base import Transport

QUICK_BASELINE = 2.0  # seconds between a metrics probe's two baseline scrapes when nothing bakes
CLOSE_LIMIT = 10.0  # seconds closing connections may take at the end; past it they are left to die
EPSILON = 1e-3  # a clock reading this close to a deadline has reached it
CHECK_KINDS = frozenset({"http", "command"})  # probes whose samples are checks only, never counts
STEPS = {
    "deploy": ("stage", "check", "swap", "reload", "confirm"),
    "stage": ("stage", "check"),
    "switch": ("swap", "reload", "confirm"),
}

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
    orders: Orders | None = None,
    prior: dict[str, PriorRead] | None = None,
) -> DeployResult:
    """Run every phase of `plan`; never raises for a failed deploy, returns what happened.
    `ask` settles an inconclusive gate under `on_inconclusive: pause` at a terminal; `orders` brings
    promote/resume/abort from anywhere (without either, a paused gate fails). `prior`: transports
    the plan read each instance with, taken over (and popped) as instances are opened."""
    run = _Run(plan, payload_for, expected_hash, open_transport, open_probes, clock, sink, cancel, ask, orders,
               prior if prior is not None else {})
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
        orders: Orders | None = None,
        prior: dict[str, PriorRead] | None = None,
    ) -> None:
        self.plan = plan
        self.prior = prior if prior is not None else {}
        self.early: dict[str, PriorRead] = {}  # plan reads of slots opened early (_upcoming), for _prepare
        self.payload_for = payload_for
        self.expected_hash = expected_hash
        self.open_transport = open_transport
        self.open_probes = open_probes
        self.clock = clock
        self.sink = LockedSink(sink)
        self.cancel = cancel or threading.Event()
        self.ask = ask
        self.waiter = Waiter(orders, clock, self.sink, self.cancel)
        self.aborted: Order | None = None  # `hotswap abort`: revert, status "aborted"
        self.full = False  # `hotswap promote --full`: no more bakes, gates or pauses
        self.stop = threading.Event()  # a push failed: start nothing new
        self.verdicts: list[Verdict] = []
        self.slots: dict[str, Slot] = {}
        for phase in plan.phases:
            for t in phase.targets:
                self.slots.setdefault(t.name, Slot(t, phase.number))
        self.workers = max(1, min(plan.concurrency, len(self.slots)))

    # -- plumbing ---------------------------------------------------------------------------

    def _parallel(self, fn: Callable[[Slot], None], slots: Iterable[Slot], workers: int | None = None,
                  on_abandon: Callable[[Slot], None] | None = None, limit: float | None = None) -> None:
        """`fn` on every slot on worker threads; after Ctrl-C a slot still stuck past the grace
        period is handed to `on_abandon` (default: its connections are closed) and left behind."""
        run = telemetry.bind(fn)  # worker threads keep the current span as their parent
        try:
            run_all(run, slots, workers or self.workers, cancel=self.cancel,
                    on_abandon=on_abandon or _close_in_background, limit=limit)
        except BaseException:
            self.cancel.set()
            raise

    def _abandon(self, slot: Slot) -> None:
        """A push step still stuck after Ctrl-C: left behind. Before its swap the live config was
        never touched; after it, what the instance holds is unknown (the journal keeps it open
        for `hotswap rollback`)."""
        slot.abandoned = True
        if slot.swap_called:
            slot.error = "abandoned after Ctrl-C while it did not answer: what it runs now is unknown"
            self._state(slot, "unknown", slot.error)
        else:
            slot.error = "abandoned after Ctrl-C while staging: its live config was not touched"
            self._state(slot, "failed", slot.error)
        _close_in_background(slot)

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
        self._parallel(lambda s: s.close(), [s for s in self.slots.values() if s.opened and not s.abandoned],
                       limit=CLOSE_LIMIT)

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
        touched = [s for s in self.slots.values() if s.stage_called and not s.abandoned]
        unknown = [s.name for s in self.slots.values() if s.abandoned and s.swap_called]
        if reason and touched:
            self._revert(touched, reason)
        unrestored = [s.name for s in touched if s.revert_error is not None]
        if unknown:
            reason += f"; abandoned (not answering, state unknown): {', '.join(unknown)}"
        if not reason:
            status = "completed"
        elif unrestored:
            status = "revert_failed"
            reason += f"; could not restore: {', '.join(unrestored)}"
        elif interrupted:
            status = "interrupted"
        elif self.aborted is not None:
            status = "aborted"
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
        self._parallel(lambda s: self._prepare(s, phase), fresh)
        failed = [s for s in fresh if s.error]
        if failed:
            return f"could not prepare {_failures(failed)}"
        if self.cancel.is_set():
            return ""
        try:
            self.sink.emit(PhasePrepared(self.clock.now(), phase.number, tuple(
                (s.name, bool(s.previous_present), s.previous_config) for s in fresh)))
        except Exception as exc:  # noqa: BLE001 - the journal: nothing of this phase is touched yet
            return f"could not record the deploy journal before phase {phase.number}: {describe(exc)}"
        self._close_baselines(fresh, phase)
        if self.cancel.is_set():
            return ""
        self._parallel(lambda s: self._push(s, phase.action), slots, on_abandon=self._abandon)
        failed = [s for s in slots if s.error]
        if failed:
            return f"{phase.action} failed on {_failures(failed)}"
        if self.cancel.is_set():
            return ""
        if phase.gate and not self.full:
            verdict = self._bake_and_gate(phase)
            if self.aborted is not None:
                return f"aborted by {self.aborted.by} during phase {phase.number} ({phase.name})"
            if verdict is None:
                return ""
            if not verdict.ok:
                return f"health gate failed after phase {phase.number} ({phase.name}): {verdict.summary()}"
            for s in slots:
                self._state(s, "healthy")
        return self._pause_after(phase)

    # -- pauses and orders ------------------------------------------------------------------

    def _pause_after(self, phase: Phase) -> str:
        """A pause step after `phase`: wait for resume/promote (or its own end); '' to go on, else
        why the run stops (aborted, or health failed while paused)."""
        if phase.pause is None or self.full or phase is self.plan.phases[-1] or self.cancel.is_set():
            return ""
        finite = math.isfinite(phase.pause)
        reason = f"pause {format_duration(phase.pause)}" if finite else "paused until resumed"
        self.sink.emit(PhasePaused(self.clock.now(), phase.number, reason, phase.pause if finite else None))
        outcome, order = self._wait(phase.pause if finite else PAUSE_LIMIT, watch=True)
        where = f"while paused after phase {phase.number} ({phase.name})"
        if outcome == "abort" and order is not None:
            return f"aborted by {order.by} {where}"
        if outcome == "failed":
            verdict = self._judge([s for s in self.slots.values() if s.live], False)
            return f"health gate failed {where}: {verdict.summary()}"
        if outcome == "timeout" and not finite:
            return f"paused after phase {phase.number} ({phase.name}) for {format_duration(PAUSE_LIMIT)} with " \
                   "nobody resuming it"
        return ""

    def _wait(self, seconds: float, *, watch: bool, ask: Callable[[], bool] | None = None) -> tuple[str, Order | None]:
        """Wait (runner.pause) up to `seconds` for an order, sampling the live instances when `watch`;
        an abort (from anywhere, or the terminal) marks the run aborted, promote --full skips the rest."""
        live = [s for s in self.slots.values() if s.live]

        def failing() -> bool:
            self._look(live, [])
            return self._judge(live, False, explain=False).outcome == "fail"

        interval = self.plan.health.interval if self.plan.health.interval > 0 else 1.0
        outcome, order = self.waiter.wait(seconds, interval=interval, failing=failing if watch and live else None,
                                          ask=ask)
        if outcome == "abort":
            self.aborted = order
        elif outcome == "promote" and order is not None:
            self.full = self.full or order.full
        return outcome, order

    def _upcoming(self, phase: Phase) -> list[Slot]:
        """The next phase's new instances, opened now: sampled through this bake (those whose
        baseline can count), their baseline spans it, and the next phase starts without waiting.
        Opening failures are left for `_prepare` to report."""
        index = self.plan.phases.index(phase)
        if index + 1 >= len(self.plan.phases):
            return []
        upcoming = [self.slots[t.name] for t in self.plan.phases[index + 1].targets]

        def open_early(slot: Slot) -> None:
            try:
                prior = self._open(slot)
                if prior is not None:
                    self.early[slot.name] = prior  # _prepare may still use its read
            except Exception:  # noqa: BLE001 - _prepare opens again and says why
                slot.close()
                slot.opened, slot.transport, slot.probes = False, None, []

        self._parallel(open_early, [s for s in upcoming if not s.opened])
        after = self.plan.phases[index + 1]
        upcoming = [s for s in upcoming if s.opened and s.previous_present is None and self._baseline_counts(s, after)]
        self._parallel(self._baseline_look, [s for s in upcoming if s.baseline_looks == 0])
        return upcoming

    def _prepare(self, slot: Slot, phase: Phase) -> None:
        """Before touching: open, record the current config, take a first baseline sample (where
        one can count)."""
        if self.cancel.is_set():
            return
        step = "connect"
        try:
            prior = self._open(slot) if not slot.opened else self.early.pop(slot.name, None)
            assert slot.transport is not None
            step = "read current config"
            current = prior.current if prior is not None and prior.fresh() else slot.transport.read_current()
            slot.previous_present = current is not None
            slot.previous_sha256 = hashlib.sha256(current).hexdigest() if current is not None else None
            slot.previous_config = _config_hash(current, slot.target.structured)
            step = "baseline"
            if slot.baseline_looks == 0 and self._baseline_counts(slot, phase):
                self._baseline_look(slot)
        except Exception as exc:
            text = describe(exc)
            slot.error = text if text.startswith(f"{step}: ") else f"{step}: {text}"
            self._state(slot, "failed", slot.error)

    def _close_baselines(self, fresh: list[Slot], phase: Phase) -> None:
        """One more baseline sample of each new instance right before its push. Instances first
        sampled just now (the first phase) wait one baseline window for it, once for all: rates
        come from the change between two scrapes, and the gate needs enough counts to compare."""
        sampled = [s for s in fresh if s.probes and self._baseline_counts(s, phase)]
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

    def _baseline_counts(self, slot: Slot, phase: Phase) -> bool:
        """Whether any baseline look at `slot` could change a verdict. Not where the phase does not
        bake, every probe is a check (http, command: no counts, which need a baseline to compare
        with) and the two looks a push without a bake could take would still hold fewer than
        `min_checks` checks, below which the gate ignores the baseline's share of failed checks
        (runner.gate._checks): then none is taken, and a direct deploy with one http or command
        probe samples each instance twice (after its push, and for the gate), not three times."""
        checks_only = bool(slot.probes) and all(p.kind in CHECK_KINDS for p in slot.probes)
        return not (phase.bake <= 0 and checks_only and 2 * len(slot.probes) < self.plan.health.min_checks)

    def _open(self, slot: Slot) -> PriorRead | None:
        """Open the slot's transport and probes, taking over the plan's transport when there is one
        (returned: its read may stand for this run's, see PriorRead)."""
        prior = self.prior.pop(slot.name, None)
        if prior is None:
            slot.open(self.open_transport, self.open_probes)
        else:
            slot.adopt(prior.transport, self.open_probes)
        return prior

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
                text = str(exc) if isinstance(exc, NotConfirmed) else describe(exc)
                slot.error = text if text.startswith(f"{step}: ") else f"{step}: {text}"
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
            order = self.waiter.next()  # conclusive failing evidence above wins over any order
            if order is not None and order.action == "abort":
                self.aborted = order
                return None
            if order is not None and order.action == "promote":
                self.full = order.full
                settled = (True, f"promoted by {order.by} after {format_duration(round(now - start, 1))}")
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
            if self.ask is None and self.waiter.orders is None:
                return False, f"{after}: on_inconclusive: pause, and nobody to ask: failed"
            self.sink.emit(GatePaused(self.clock.now(), verdict.phase, verdict.summary()))
            ask = self.ask
            outcome, order = self._wait(GATE_PAUSE_LIMIT, watch=False,
                                        ask=(lambda: ask(verdict)) if ask is not None else None)
            if outcome in ("promote", "resume") and order is not None:
                return True, f"{after}: paused, then promoted by {order.by}"
            if outcome == "abort" and order is not None:
                return False, f"{after}: paused, then aborted by {order.by}"
            return False, f"{after}: paused, and nobody decided within {format_duration(GATE_PAUSE_LIMIT)}"
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


def _config_hash(raw: bytes | None, structured: bool) -> str | None:
    """The hash versions are known by, of what an instance holds: the config hash of json or yaml,
    the sha256 of any other payload's bytes (None: absent or unparsable)."""
    if raw is None:
        return None
    if not structured:
        return hashlib.sha256(raw).hexdigest()
    try:
        return config_hash(parse_config_bytes(raw))
    except Exception:  # noqa: BLE001 - an instance may hold anything; unknown is an answer
        return None


def _close_in_background(slot: Slot) -> None:
    """Close a stuck slot's connections without waiting on them (closing can block too)."""
    threading.Thread(target=slot.close, name=f"hotswap-close-{slot.name}", daemon=True).start()


def _failures(failed: list[Slot]) -> str:
    """`web-1: <why>`, or `web-1, web-2 (web-1: <why>)`: each name once, the first reason."""
    if len(failed) == 1:
        return f"{failed[0].name}: {failed[0].error}"
    return f"{_names(failed)} ({failed[0].name}: {failed[0].error})"


def _names(slots: list[Slot]) -> str:
    names = [s.name for s in slots]
    return ", ".join(names) if len(names) <= 5 else ", ".join(names[:5]) + f" and {len(names) - 5} more"
