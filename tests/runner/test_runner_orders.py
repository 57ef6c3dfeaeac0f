"""Pause steps and orders (promote, resume, abort) in the runner, with a fake fleet and a fake clock:
what each order does to the phases, the bakes and the instances, and the exit codes."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import replace

from runner_fakes import Fleet, payload_for, targets

from hotswap_cli.clock import FakeClock
from hotswap_cli.core.deploy.plan import build_plan
from hotswap_cli.errors import ExitCode
from hotswap_cli.model import HealthPolicy, Plan, StrategySpec
from hotswap_cli.runner import ListSink, run_plan
from hotswap_cli.runner.events import BakeStarted, ControlReceived, PhasePaused, PhaseStarted
from hotswap_cli.runner.pause import PAUSE_LIMIT, Order
from hotswap_cli.runner.results import DeployResult

HASH = "ab" * 32
CANARY = StrategySpec("canary", steps=(10, 50, 100), bake=300, concurrency=5)


def plan_with_pause(n: int = 10, pause: float = math.inf, after: int = 1, spec: StrategySpec = CANARY) -> Plan:
    plan = build_plan("svc", "1.1.0", spec, targets(n), HealthPolicy(interval=30))
    phases = tuple(replace(p, pause=pause) if p.number == after else p for p in plan.phases)
    return replace(plan, phases=phases)


class Script:
    """Orders handed out when the fake clock reaches given times (as the poller would)."""

    def __init__(self, clock: FakeClock, at: list[tuple[float, Order]]) -> None:
        self.clock = clock
        self.at = sorted(at, key=lambda pair: pair[0])

    def __call__(self) -> Order | None:
        if self.at and self.clock.now() >= self.at[0][0]:
            return self.at.pop(0)[1]
        return None


def run(plan: Plan, fleet: Fleet, orders: Callable[[], Order | None] | None,
        clock: FakeClock) -> tuple[DeployResult, ListSink]:
    sink = ListSink()
    result = run_plan(plan, payload_for, HASH, open_transport=fleet.open_transport, open_probes=fleet.open_probes,
                      clock=clock, sink=sink, cancel=threading.Event(), orders=orders)
    return result, sink


def test_a_pause_waits_for_resume_then_the_rest_deploys() -> None:
    fleet, clock = Fleet([f"i{i}" for i in range(10)]), FakeClock()
    result, sink = run(plan_with_pause(), fleet, Script(clock, [(2000.0, Order("resume", "ops@example.com"))]), clock)
    assert result.status == "completed" and result.exit_code == ExitCode.OK
    paused = sink.of(PhasePaused)
    assert [(p.phase, p.until) for p in paused] == [(1, None)]
    assert [c.action for c in sink.of(ControlReceived)] == ["resume"]
    assert clock.now() >= 2000.0  # it waited for the order
    assert all(fleet.running_new(n) for n in fleet.names)


def test_abort_while_paused_reverts_what_was_touched_and_exits_9() -> None:
    fleet, clock = Fleet([f"i{i}" for i in range(10)]), FakeClock()
    result, _ = run(plan_with_pause(), fleet, Script(clock, [(700.0, Order("abort", "ops@example.com"))]), clock)
    assert result.status == "aborted" and result.exit_code == ExitCode.ABORTED
    assert "aborted by ops@example.com while paused after phase 1 (canary 10%)" in result.reason
    assert fleet.called("swap") == {"i0"}
    assert fleet.restored()


def test_abort_during_a_bake_reverts_and_exits_9() -> None:
    fleet, clock = Fleet([f"i{i}" for i in range(10)]), FakeClock()
    plan = build_plan("svc", "1.1.0", CANARY, targets(10), HealthPolicy(interval=30))
    result, _ = run(plan, fleet, Script(clock, [(400.0, Order("abort", "ci-job"))]), clock)
    assert result.exit_code == ExitCode.ABORTED
    assert result.reason == "aborted by ci-job during phase 2 (canary 50%)"
    assert fleet.called("swap") == {f"i{i}" for i in range(5)}
    assert fleet.restored()


def test_promote_ends_the_current_bake_and_full_skips_every_remaining_bake_and_pause() -> None:
    fleet, clock = Fleet([f"i{i}" for i in range(10)]), FakeClock()
    plan = plan_with_pause(after=2)
    result, sink = run(plan, fleet, Script(clock, [(60.0, Order("promote", "ops", full=True))]), clock)
    assert result.status == "completed"
    assert clock.now() < 300  # neither phase 1's bake, nor phase 2's, nor the pause ran out
    assert [b.phase for b in sink.of(BakeStarted)] == [1]
    assert sink.of(PhasePaused) == []
    assert [p.number for p in sink.of(PhaseStarted)] == [1, 2, 3]
    assert "promoted by ops" in result.verdicts[0].summary()


def test_promote_without_full_ends_only_the_current_bake() -> None:
    fleet, clock = Fleet([f"i{i}" for i in range(10)]), FakeClock()
    plan = build_plan("svc", "1.1.0", CANARY, targets(10), HealthPolicy(interval=30))
    result, sink = run(plan, fleet, Script(clock, [(60.0, Order("promote", "ops"))]), clock)
    assert result.status == "completed"
    assert [b.phase for b in sink.of(BakeStarted)] == [1, 2, 3]  # the later phases baked as planned
    assert clock.now() >= 60 + 2 * 300


def test_a_timed_pause_resumes_by_itself() -> None:
    fleet, clock = Fleet([f"i{i}" for i in range(10)]), FakeClock()
    result, sink = run(plan_with_pause(pause=600.0), fleet, None, clock)
    assert result.status == "completed"
    assert [(p.phase, p.until) for p in sink.of(PhasePaused)] == [(1, 600.0)]


def test_an_unresumed_pause_fails_at_its_limit_and_reverts() -> None:
    fleet, clock = Fleet([f"i{i}" for i in range(10)]), FakeClock()
    result, _ = run(plan_with_pause(), fleet, None, clock)
    assert result.exit_code == ExitCode.REVERTED
    assert result.reason == "paused after phase 1 (canary 10%) for 24h with nobody resuming it"
    assert fleet.restored()


def test_health_failing_during_a_pause_reverts_without_waiting_for_anyone() -> None:
    fleet, clock = Fleet([f"i{i}" for i in range(10)], sick=("i0",)), FakeClock()
    plan = plan_with_pause()
    plan = replace(plan, phases=(replace(plan.phases[0], gate=False), *plan.phases[1:]))  # no gate before the pause
    result, _ = run(plan, fleet, None, clock)
    assert result.exit_code == ExitCode.REVERTED
    assert "while paused after phase 1 (canary 10%)" in result.reason
    assert clock.now() < PAUSE_LIMIT
    assert fleet.restored()
