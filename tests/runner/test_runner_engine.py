"""Runner logic with a fake fleet and a fake clock: who is touched, who is reverted, exit codes."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field

import pytest
from runner_fakes import OLD, CancellingClock, Fleet, payload_for, targets

from hotswap_cli.clock import FakeClock
from hotswap_cli.core.deploy.plan import build_plan
from hotswap_cli.errors import ExitCode
from hotswap_cli.model import HealthPolicy, StrategySpec
from hotswap_cli.runner import ListSink, run_plan
from hotswap_cli.runner.events import (
    BakeExtended,
    GatePaused,
    HealthSampled,
    InstanceState,
    RevertFinished,
    VerdictReached,
)
from hotswap_cli.runner.results import DeployResult
from hotswap_cli.runner.slot import PRIOR_READ_FRESH, PriorRead

HASH = "ab" * 32


def names(*idx: int) -> set[str]:
    return {f"i{i}" for i in idx}


def deploy(
    spec: StrategySpec,
    fleet: Fleet,
    *,
    policy: HealthPolicy | None = None,
    clock: FakeClock | None = None,
    cancel: threading.Event | None = None,
) -> tuple[DeployResult, ListSink, FakeClock]:
    plan = build_plan("svc", "1.1.0", spec, targets(len(fleet.names)), policy or HealthPolicy(interval=30))
    sink, clock = ListSink(), clock or FakeClock()
    result = run_plan(
        plan,
        payload_for,
        HASH,
        open_transport=fleet.open_transport,
        open_probes=fleet.open_probes,
        clock=clock,
        sink=sink,
        cancel=cancel or threading.Event(),
    )
    return result, sink, clock


@dataclass(frozen=True)
class Case:
    id: str
    spec: StrategySpec
    n: int
    status: str
    exit: ExitCode
    touched: set[str]
    swapped: set[str]
    reason: str = ""
    fail: dict[tuple[str, str], str] = field(default_factory=dict)
    sick: tuple[str, ...] = ()
    probes: tuple[str, ...] = ("metrics", "http")
    confirm: bool | None = True
    policy: HealthPolicy = HealthPolicy(interval=30)


CANARY = StrategySpec("canary", bake=300, concurrency=1)
ROLLING = StrategySpec("rolling", batch="1", bake=120, concurrency=1)
DIRECT1 = StrategySpec("direct", bake=0, concurrency=1)
BG = StrategySpec("blue-green", bake=600, concurrency=1)
ALL10 = names(*range(10))

CASES = [
    Case("canary all healthy", CANARY, 10, "completed", ExitCode.OK, ALL10, ALL10),
    Case(
        "canary fails its gate in phase 2",
        CANARY,
        10,
        "reverted",
        ExitCode.REVERTED,
        names(0, 1, 2),
        names(0, 1, 2),
        "health gate failed after phase 2 (canary 30%): i2: error rate 22.0% (220/1000 requests) vs baseline 1.0% "
        "(120/12000): rise >= +14.2pp > 5pp",
        sick=("i2",),
    ),
    Case(
        "canary stage fails in phase 1",
        CANARY,
        10,
        "reverted",
        ExitCode.REVERTED,
        names(0),
        set(),
        "deploy failed on i0: stage: disk full",
        fail={("i0", "stage"): "disk full"},
    ),
    Case(
        "canary revert fails",
        CANARY,
        10,
        "revert_failed",
        ExitCode.REVERT_FAILED,
        names(0, 1, 2),
        names(0, 1, 2),
        "could not restore: i1",
        sick=("i1",),
        fail={("i1", "revert"): "connection lost"},
    ),
    Case(
        "rolling stops at the failing reload",
        ROLLING,
        5,
        "reverted",
        ExitCode.REVERTED,
        names(0, 1, 2),
        names(0, 1, 2),
        "deploy failed on i2: reload: nginx: [emerg]",
        fail={("i2", "reload"): "nginx: [emerg]"},
    ),
    Case(
        "rolling batch 2 check fails on second of batch",
        StrategySpec("rolling", batch="2", bake=60, concurrency=1),
        6,
        "reverted",
        ExitCode.REVERTED,
        names(0, 1, 2, 3),
        names(0, 1, 2),
        "i3: check: syntax error",
        fail={("i3", "check"): "syntax error"},
    ),
    Case(
        "rolling gate failure on a later batch",
        ROLLING,
        5,
        "reverted",
        ExitCode.REVERTED,
        names(0, 1, 2, 3),
        names(0, 1, 2, 3),
        "after phase 4 (batch 4/5): i3: 4/4 health checks failed (100%, >= 11% > 10%): HTTP 500",
        sick=("i3",),
        probes=("http",),
    ),
    Case(
        "direct partial failure",
        DIRECT1,
        5,
        "reverted",
        ExitCode.REVERTED,
        names(0, 1, 2),
        names(0, 1, 2),
        "deploy failed on i2: swap: rename refused",
        fail={("i2", "swap"): "rename refused"},
    ),
    Case("direct bake 0 healthy", DIRECT1, 5, "completed", ExitCode.OK, names(*range(5)), names(*range(5))),
    Case(
        "direct bake 0 immediate health failure",
        DIRECT1,
        3,
        "reverted",
        ExitCode.REVERTED,
        names(0, 1, 2),
        names(0, 1, 2),
        "i1: error rate 22.0%",
        sick=("i1",),
    ),
    Case(
        "blue-green check fails: nothing switches",
        BG,
        4,
        "reverted",
        ExitCode.REVERTED,
        names(0, 1, 2),
        set(),
        "stage failed on i2: check: invalid upstream",
        fail={("i2", "check"): "invalid upstream"},
    ),
    Case(
        "blue-green unhealthy after switch",
        BG,
        4,
        "reverted",
        ExitCode.REVERTED,
        names(0, 1, 2, 3),
        names(0, 1, 2, 3),
        "after phase 2 (switch): i1:",
        sick=("i1",),
    ),
    Case("blue-green healthy", BG, 4, "completed", ExitCode.OK, names(0, 1, 2, 3), names(0, 1, 2, 3)),
    Case(
        "unreachable first instance",
        CANARY,
        10,
        "failed_before_change",
        ExitCode.ERROR,
        set(),
        set(),
        "could not prepare i0: connect: no route to host",
        fail={("i0", "open"): "no route to host"},
    ),
    Case(
        "read_current fails in phase 2",
        CANARY,
        10,
        "reverted",
        ExitCode.REVERTED,
        names(0),
        names(0),
        "could not prepare i2: read current config: permission denied",
        fail={("i2", "read_current"): "permission denied"},
    ),
    Case(
        "instance runs something else after reload",
        DIRECT1,
        2,
        "reverted",
        ExitCode.REVERTED,
        names(0),
        names(0),
        "i0: confirm: instance does not report running abababababab",
        confirm=False,
    ),
    Case(
        "confirm unknown is not a failure",
        DIRECT1,
        2,
        "completed",
        ExitCode.OK,
        names(0, 1),
        names(0, 1),
        confirm=None,
    ),
    Case(
        "no data fails",
        DIRECT1,
        2,
        "reverted",
        ExitCode.REVERTED,
        names(0, 1),
        names(0, 1),
        "i0: no health data (no traffic)",
        probes=("silent",),
    ),
    Case(
        "no data passes by policy",
        DIRECT1,
        2,
        "completed",
        ExitCode.OK,
        names(0, 1),
        names(0, 1),
        probes=("silent",),
        policy=HealthPolicy(on_no_data="pass"),
    ),
    Case("no probes configured", CANARY, 3, "completed", ExitCode.OK, names(0, 1, 2), names(0, 1, 2), probes=()),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_runner(case: Case) -> None:
    fleet = Fleet(
        [f"i{i}" for i in range(case.n)],
        fail=case.fail,
        sick=case.sick,
        probes=case.probes,
        confirm=case.confirm,
    )
    result, sink, _ = deploy(case.spec, fleet, policy=case.policy)
    assert (result.status, result.exit_code) == (case.status, case.exit), result.reason
    assert fleet.called("stage") == case.touched
    assert set(result.touched) == case.touched
    assert fleet.called("swap") == case.swapped
    assert case.reason in result.reason
    if case.status == "completed":
        assert result.reason == ""
        assert all(fleet.live[n] == f"new-{n}".encode() for n in fleet.names)
        assert {o.state for o in result.instances} == {"healthy"}
    else:
        # every touched instance went back the right way: revert if swapped, discard if only staged
        assert fleet.called("revert") == case.swapped
        assert fleet.called("discard") == case.touched - case.swapped
        untouched = set(fleet.names) - case.touched
        assert all(result.outcome(n).state in ("pending", "failed") for n in untouched)
    if case.status == "reverted":
        assert fleet.restored()
        assert set(result.reverted) == case.touched
        assert result.unrestored == ()
    # everything opened got closed, and nothing beyond the failing phase was opened
    assert sorted(fleet.closed) == sorted(fleet.called("open") - {n for n, s in case.fail if s == "open"})
    assert sorted(fleet.probes_closed) == sorted(n for n in fleet.closed for _ in case.probes)


def test_canary_failure_in_phase_2_never_opens_later_instances() -> None:
    fleet = Fleet([f"i{i}" for i in range(10)], sick=("i2",))
    result, sink, clock = deploy(CANARY, fleet)
    assert fleet.called("stage") == names(0, 1, 2)  # at most 1 + 3 ever touched (spec)
    # the next phase's instances are opened and sampled (never changed) during the phase 2 bake
    assert fleet.called("open") == names(0, 1, 2, 3, 4)
    assert fleet.called("read_current") == names(0, 1, 2)
    assert result.failed_phase == 2
    # detection on the first sample of the phase 2 bake: one interval after phase 1 baked 300 s
    assert clock.now() == 300 + 30
    [v1, v2] = result.verdicts
    assert v1.ok and not v2.ok and v2.phase == 2
    assert [i.instance for i in v2.failures] == ["i2"]
    errors = v2.failures[0].finding("error_rate")
    assert errors is not None and (errors.figures["rate"], errors.figures["baseline_rate"]) == (0.22, 0.01)


def test_four_five_minute_bakes_run_on_the_fake_clock() -> None:
    fleet = Fleet([f"i{i}" for i in range(10)])
    result, sink, clock = deploy(StrategySpec("canary", bake=300), fleet)
    assert result.ok and clock.now() == 1200
    assert clock.slept == [30.0] * 40
    # every live instance sampled every interval: phase k gates the cumulative set
    verdicts = [e for e in sink.events if isinstance(e, VerdictReached)]
    assert [len(v.verdict.instances) for v in verdicts] == [1, 3, 5, 10]
    # each instance's window runs from its push to the end: i0 was sampled in 40 rounds, i9 in 10
    requests = [i.finding("error_rate").figures["requests"] for i in verdicts[-1].verdict.instances]  # type: ignore[union-attr]
    assert requests == [40_000, 30_000, 30_000, 20_000, 20_000] + [10_000] * 5


def test_uneven_bake_sleeps_to_the_deadline() -> None:
    fleet = Fleet(["i0"])
    result, _, clock = deploy(StrategySpec("direct", bake=70), fleet, policy=HealthPolicy(interval=30))
    assert result.ok and clock.slept == [30.0, 30.0, 10.0]


def test_ctrl_c_mid_bake_reverts_what_was_touched() -> None:
    cancel = threading.Event()
    fleet = Fleet([f"i{i}" for i in range(10)])
    clock = CancellingClock(cancel, at_sleep=15)  # phase 1 bakes 10 intervals; this is in phase 2
    result, sink, _ = deploy(CANARY, fleet, clock=clock, cancel=cancel)
    assert result.status == "interrupted" and result.exit_code == ExitCode.INTERRUPTED
    assert result.interrupted and result.reason == "interrupted during phase 2 (canary 30%)"
    assert fleet.called("revert") == names(0, 1, 2) and fleet.restored()
    assert fleet.called("stage") == names(0, 1, 2)
    assert len(clock.slept) == 15  # no more waiting once cancelled


def test_ctrl_c_during_push_stops_and_reverts() -> None:
    cancel = threading.Event()

    class Interrupting(Fleet):
        def record(self, name: str, step: str) -> None:
            super().record(name, step)
            if (name, step) == ("i1", "stage"):
                cancel.set()

    fleet = Interrupting([f"i{i}" for i in range(4)])
    result, _, _ = deploy(DIRECT1, fleet, cancel=cancel)
    assert result.status == "interrupted"
    assert fleet.called("stage") == names(0, 1)
    assert fleet.called("revert") == names(0) and fleet.called("discard") == names(1)
    assert fleet.restored()


def test_cancelled_before_start_touches_nothing() -> None:
    cancel = threading.Event()
    cancel.set()
    fleet = Fleet(["i0", "i1"])
    result, _, _ = deploy(DIRECT1, fleet, cancel=cancel)
    assert result.status == "interrupted" and result.exit_code == 130
    assert fleet.calls == []


def test_revert_puts_back_absence_of_config() -> None:
    fleet = Fleet(["i0", "i1"], absent=["i1"], sick=("i1",))
    result, sink, _ = deploy(DIRECT1, fleet)
    assert result.status == "reverted" and fleet.live == {"i0": OLD, "i1": None}
    assert result.outcome("i1").previous_present is False
    assert result.outcome("i0").previous_present is True
    details = {e.instance: e.detail for e in sink.events if isinstance(e, InstanceState) and e.state == "reverted"}
    assert details == {"i0": "previous config restored", "i1": "config removed"}


def test_revert_failed_names_each_unrestored_instance() -> None:
    fail = {("i0", "revert"): "timeout", ("i2", "revert"): "refused"}
    fleet = Fleet(["i0", "i1", "i2"], sick=("i1",), fail=fail)
    result, sink, _ = deploy(StrategySpec("direct", bake=0, concurrency=10), fleet)
    assert result.exit_code == ExitCode.REVERT_FAILED
    assert result.unrestored == ("i0", "i2")
    assert result.reason.endswith("could not restore: i0, i2")
    assert result.outcome("i0").revert_error == "timeout"
    [done] = [e for e in sink.events if isinstance(e, RevertFinished)]
    assert done.restored == ("i1",) and done.failed == ("i0", "i2")


def test_direct_failure_with_concurrency_reverts_every_touched_instance() -> None:
    fleet = Fleet([f"i{i}" for i in range(40)], fail={("i7", "stage"): "boom"})
    result, _, _ = deploy(StrategySpec("direct", bake=0, concurrency=8), fleet)
    assert result.status == "reverted" and "i7" in result.touched
    assert fleet.called("revert") | fleet.called("discard") == set(result.touched)
    assert fleet.restored()


def test_revert_and_baseline_run_in_parallel() -> None:
    # with a serial runner the barrier would time out and the revert would count as failed
    barrier = threading.Barrier(60, timeout=5)

    class Parallel(Fleet):
        def record(self, name: str, step: str) -> None:
            super().record(name, step)
            if step in ("read_current", "revert"):
                barrier.wait()

    fleet = Parallel([f"i{i}" for i in range(60)], sick=("i59",))
    result, _, _ = deploy(StrategySpec("direct", bake=0, concurrency=60), fleet)
    assert result.status == "reverted" and result.unrestored == ()


def test_events_are_json_lines_in_order() -> None:
    fleet = Fleet([f"i{i}" for i in range(10)], sick=("i2",))
    _, sink, _ = deploy(CANARY, fleet)
    lines = [json.loads(json.dumps(e.to_dict())) for e in sink.events]
    kinds = [line["event"] for line in lines]
    assert kinds[0] == "deploy_started" and kinds[-1] == "deploy_finished"
    assert kinds.count("phase_started") == 2 and kinds.count("verdict") == 2
    assert kinds.index("revert_started") < kinds.index("revert_finished") < len(kinds) - 1
    assert {line["state"] for line in lines if line["event"] == "instance_state"} == {
        "staged",
        "live",
        "healthy",
        "reverted",
    }
    assert lines[-1] == lines[-1] | {"status": "reverted", "exit_code": 6}
    baseline = [(n, line) for n, line in enumerate(lines) if line["event"] == "health_sample" and line["baseline"]]
    staged = {line["instance"]: n for n, line in enumerate(lines)
              if line["event"] == "instance_state" and line["state"] == "staged"}
    assert {line["instance"] for _, line in baseline} == {"i0", "i1", "i2", "i3", "i4"}  # i3, i4: warm-up
    assert all(n < staged[line["instance"]] for n, line in baseline if line["instance"] in staged)


def test_a_thousand_instances_direct_with_health_do_each_step_once() -> None:
    """Work grows with the fleet, not faster: each instance is opened, read, pushed and closed once.
    (How fast is benchmarks/deploy_bench.py's direct1000, not a timed assertion here.)"""
    fleet = Fleet([f"i{i}" for i in range(1000)])
    result, _, _ = deploy(StrategySpec("direct", bake=0, concurrency=50), fleet)
    assert result.ok
    steps = ("open", "read_current", "stage", "check", "swap", "reload", "confirm")
    assert {step: sum(1 for _, s in fleet.calls if s == step) for step in steps} == dict.fromkeys(steps, 1000)
    assert len(fleet.closed) == 1000 and len(fleet.probes_closed) == 2000  # a transport and two probes each
    [verdict] = result.verdicts
    assert len(verdict.instances) == 1000 and verdict.decided_by == ""  # conclusive on its one look


def test_the_first_phase_waits_one_baseline_window_once_and_later_phases_not_at_all() -> None:
    fleet = Fleet([f"i{i}" for i in range(10)], probes=("scrape",))
    result, sink, clock = deploy(CANARY, fleet)
    assert result.ok, result.reason
    assert clock.slept == [60.0] + [30.0] * 40  # two intervals of baseline, then 4 bakes of 10 looks
    first = [v for v in sink.of(VerdictReached)][0].verdict.instances[0].finding("error_rate")  # type: ignore[attr-defined]
    assert first is not None and first.figures["baseline_requests"] == 1000  # one delta, over the 60 s


def trickle(policy: HealthPolicy, ask=None) -> tuple[DeployResult, ListSink, FakeClock]:  # type: ignore[no-untyped-def]
    plan = build_plan("svc", "1.1.0", StrategySpec("direct", bake=60, concurrency=1), targets(1), policy)
    fleet, sink, clock = Fleet(["i0"], probes=("trickle",)), ListSink(), FakeClock()
    result = run_plan(plan, payload_for, HASH, open_transport=fleet.open_transport, open_probes=fleet.open_probes,
                      clock=clock, sink=sink, ask=ask)
    return result, sink, clock


def test_an_inconclusive_bake_is_extended_then_failed_by_default() -> None:
    result, sink, clock = trickle(HealthPolicy(interval=30))
    assert clock.slept == [30.0, 30.0, 30.0, 30.0]  # the 60 s bake, then up to twice as long
    [extended] = sink.of(BakeExtended)
    assert extended.seconds == 60
    assert extended.reason.startswith("inconclusive: i0: error rate 5.0% (2/40 requests)")
    assert result.status == "reverted" and result.exit_code == ExitCode.REVERTED
    assert result.reason.endswith("undecided at 5pp [inconclusive after 2m: on_inconclusive: fail]")
    [verdict] = result.verdicts
    assert verdict.outcome == "inconclusive" and not verdict.ok


def test_max_bake_bounds_the_extension() -> None:
    _, _, clock = trickle(HealthPolicy(interval=30, max_bake=75))
    assert clock.slept == [30.0, 30.0, 15.0]


def test_on_inconclusive_pass_completes_and_says_so() -> None:
    result, sink, _ = trickle(HealthPolicy(interval=30, on_inconclusive="pass"))
    assert result.ok
    [verdict] = result.verdicts
    assert verdict.ok and verdict.outcome == "inconclusive"
    assert verdict.decided_by == "inconclusive after 2m: passed by on_inconclusive: pass"


@pytest.mark.parametrize(("answer", "status"), [(True, "completed"), (False, "aborted")])
def test_on_inconclusive_pause_asks_and_follows_the_answer(answer: bool, status: str) -> None:
    asked = []

    def ask(verdict) -> bool:  # type: ignore[no-untyped-def]
        asked.append(verdict)
        return answer

    result, sink, _ = trickle(HealthPolicy(interval=30, on_inconclusive="pause"), ask)
    assert result.status == status and len(asked) == 1 and asked[0].outcome == "inconclusive"
    [paused] = sink.of(GatePaused)
    assert paused.phase == 1 and paused.reason.startswith("inconclusive: i0:")
    assert result.verdicts[0].decided_by.endswith("paused, then " + ("promoted" if answer else "aborted")
                                                  + " by the terminal")


def test_on_inconclusive_pause_with_nobody_to_ask_fails() -> None:
    result, _, _ = trickle(HealthPolicy(interval=30, on_inconclusive="pause"))
    assert result.status == "reverted"
    assert result.reason.endswith("[inconclusive after 2m: on_inconclusive: pause, and nobody to ask: failed]")


def test_no_bake_fails_only_on_conclusive_evidence() -> None:
    plan = build_plan("svc", "1.1.0", StrategySpec("direct", bake=0, concurrency=1), targets(2),
                      HealthPolicy(interval=30))
    fleet = Fleet(["i0", "i1"], probes=("trickle", "http"), sick=("i1",))
    result = run_plan(plan, payload_for, HASH, open_transport=fleet.open_transport, open_probes=fleet.open_probes,
                      clock=FakeClock(), sink=ListSink())
    assert result.ok  # one failed check and 20 requests prove nothing: no bake asks for no more
    [verdict] = result.verdicts
    assert verdict.decided_by == "no bake: only conclusive evidence fails"


def test_ctrl_c_abandons_an_instance_stuck_after_its_swap_and_reverts_the_others(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """i1's reload never returns (until its connection is closed); Ctrl-C arrives meanwhile. The
    run ends within the grace period: i0 is reverted, i1 is reported as unknown, exit 130."""
    import time

    from hotswap_cli.runner import parallel

    monkeypatch.setattr(parallel, "GRACE", 0.5)
    cancel, stuck, released = threading.Event(), threading.Event(), threading.Event()

    class Stalling(Fleet):
        def record(self, name: str, step: str) -> None:
            super().record(name, step)
            if (name, step) == ("i1", "reload"):
                stuck.set()
                cancel.set()  # the operator presses Ctrl-C while i1 hangs
                released.wait(30)  # a stalled connection: answers only once closed

    fleet = Stalling(["i0", "i1"])
    def open_transport(target):  # type: ignore[no-untyped-def]
        transport = Fleet.open_transport(fleet, target)
        if target.name == "i1":
            transport.close = released.set  # type: ignore[method-assign]
        return transport

    fleet.open_transport = open_transport  # type: ignore[method-assign]
    started = time.monotonic()
    result, sink, _ = deploy(StrategySpec("direct", concurrency=2), fleet, cancel=cancel)
    assert time.monotonic() - started < 5  # not the 30 s the stall would take
    assert stuck.is_set() and released.is_set()  # its connection was closed to free the thread
    assert result.status == "interrupted" and result.exit_code == ExitCode.INTERRUPTED
    assert "abandoned (not answering, state unknown): i1" in result.reason
    states = {i.instance: i.state for i in result.instances}
    assert states == {"i0": "reverted", "i1": "unknown"}
    assert fleet.live["i0"] == OLD and "i1" not in fleet.called("revert")


def deploy_with_prior(fleet: Fleet, spec: StrategySpec, *,
                      age: float = 0.0) -> tuple[DeployResult, dict[str, PriorRead]]:
    """As `deploy`, with every instance already opened and read for the plan `age` seconds ago."""
    import time

    prior = {}
    for t in targets(len(fleet.names)):
        transport = fleet.open_transport(t)
        prior[t.name] = PriorRead(transport, transport.read_current(), time.monotonic() - age)
    plan = build_plan("svc", "1.1.0", spec, targets(len(fleet.names)), HealthPolicy(interval=30))
    result = run_plan(plan, payload_for, HASH, open_transport=fleet.open_transport, open_probes=fleet.open_probes,
                      clock=FakeClock(), sink=ListSink(), cancel=threading.Event(), prior=prior)
    return result, prior


def test_the_plans_read_is_the_runs_read_when_fresh() -> None:
    """Each instance is opened and read once: the run takes over the plan's transport and its read."""
    fleet = Fleet([f"i{i}" for i in range(20)])
    result, prior = deploy_with_prior(fleet, StrategySpec("direct", bake=0, concurrency=5))
    assert result.ok and prior == {}  # every transport taken over
    steps = ("open", "read_current", "swap")
    assert {step: sum(1 for _, s in fleet.calls if s == step) for step in steps} == dict.fromkeys(steps, 20)
    assert len(fleet.closed) == 20


def test_a_stale_plan_read_is_read_again_on_the_same_transport() -> None:
    fleet = Fleet([f"i{i}" for i in range(4)])
    result, _ = deploy_with_prior(fleet, StrategySpec("direct", bake=0), age=PRIOR_READ_FRESH + 1)
    assert result.ok
    assert sum(1 for _, s in fleet.calls if s == "open") == 4  # not opened again
    assert sum(1 for _, s in fleet.calls if s == "read_current") == 8  # the plan's, and again before the push


def test_a_revert_after_a_fresh_plan_read_restores_what_the_plan_read() -> None:
    fleet = Fleet([f"i{i}" for i in range(3)], fail={("i2", "swap"): "disk full"})
    result, _ = deploy_with_prior(fleet, StrategySpec("direct", bake=0, concurrency=1))
    assert result.status == "reverted" and fleet.restored()


@pytest.mark.parametrize(("probes", "min_checks", "looks"), [
    (("http",), 3, 0),  # two looks' 2 checks < 3: the gate ignores the baseline's share, so no look
    (("command",), 3, 0),
    (("http",), 2, 2),  # 2 checks would count: both looks are taken
    (("http", "http"), 3, 2),  # two probes: 4 checks would count
    (("metrics", "http"), 3, 2),  # counters need two scrapes for a rate
])
def test_a_push_without_a_bake_takes_baseline_looks_only_where_they_can_count(
        probes: tuple[str, ...], min_checks: int, looks: int) -> None:
    fleet = Fleet(["i0", "i1"], probes=probes)
    result, sink, _ = deploy(StrategySpec("direct", bake=0, concurrency=2), fleet,
                             policy=HealthPolicy(interval=30, min_checks=min_checks))
    assert result.ok, result.reason
    baseline = [e for e in sink.of(HealthSampled) if e.baseline]
    assert len(baseline) == 2 * len(probes) * looks


@pytest.mark.parametrize("spec", [StrategySpec("direct", bake=0, concurrency=2),
                                  StrategySpec("rolling", bake=0, batch=1, concurrency=1)])
def test_with_no_baseline_look_a_sick_instance_still_fails_a_push_without_a_bake(spec: StrategySpec) -> None:
    """The looks skipped are those no verdict could use: the window's checks still judge."""
    fleet = Fleet(["i0", "i1", "i2"], probes=("http",), sick={"i1"})
    result, sink, _ = deploy(spec, fleet, policy=HealthPolicy(interval=30, consecutive=2))
    assert [e for e in sink.of(HealthSampled) if e.baseline] == []
    assert result.status == "reverted", result.reason
    assert "i1" in result.reason and "2 health checks failed in a row" in result.reason, result.reason
    assert fleet.restored()
