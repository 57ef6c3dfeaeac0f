"""Pause steps, merged canary phases, the Production minimums and the "was reverted" warning:
pure functions, table-driven."""

from __future__ import annotations

import math

import pytest

from hotswap_cli.core.config.strategies import StepError, merge_notes, parse_step_list, split_pauses
from hotswap_cli.core.deploy.plan import Minimums, build_plan, check_minimums, estimate
from hotswap_cli.core.deploy.prepare import reverted_warning
from hotswap_cli.errors import UsageError
from hotswap_cli.model import HealthPolicy, StrategySpec
from hotswap_cli.specs import LocalSpec, Target

INF = math.inf


def fleet(n: int) -> tuple[Target, ...]:
    return tuple(Target(f"i{i}", LocalSpec(path=f"/fake/i{i}")) for i in range(n))


@pytest.mark.parametrize(
    ("items", "steps", "pauses"),
    [
        ([10, "pause", 50, 100], (10, 50, 100), ((10, INF),)),
        ([10, {"pause": "10m"}, 50, "pause", 100], (10, 50, 100), ((10, 600), (50, INF))),
        ([10, {"pause": 90}, 50], (10, 50, 100), ((10, 90),)),
        ([10, {"pause": None}, 50], (10, 50, 100), ((10, INF),)),
        ([25, "pause"], (25, 100), ((25, INF),)),  # 100 is appended: the pause comes before it
        ([5, 20, 100], (5, 20, 100), ()),
    ],
)
def test_split_pauses(items: list[object], steps: tuple[float, ...], pauses: tuple[tuple[float, float], ...]) -> None:
    assert split_pauses(items) == (steps, pauses)


@pytest.mark.parametrize(
    ("items", "index", "message"),
    [
        (["pause", 50, 100], 0, "the steps start with a pause"),
        ([10, "pause", "pause", 50], 2, "steps 2 and 3 are both pauses"),
        ([10, 100, "pause"], 2, "a pause after the 100% step waits with every instance already on the new version"),
        ([10, {"pause": "soon"}, 50], 1, "step 2: not a duration: 'soon'"),
        ([10, {"pause": 0}, 50], 1, "a pause of 0ms waits for nothing"),
        ([10, {"pause": "1m", "then": 5}, 50], 1, "a pause takes only a duration"),
        ([10, "wait", 50], 1, "step 2 is 'wait'"),
        ([50, "pause", 20], -1, "canary steps must increase: 50 then 20"),
    ],
)
def test_split_pauses_rejects(items: list[object], index: int, message: str) -> None:
    with pytest.raises(StepError) as caught:
        split_pauses(items)
    assert message in str(caught.value)
    assert caught.value.index == index


@pytest.mark.parametrize(
    ("text", "steps", "pauses"),
    [
        ("10,pause,50,100", (10, 50, 100), ((10, INF),)),
        ("10, pause:10m, 50%", (10, 50, 100), ((10, 600),)),
        ("5,PAUSE,20,pause:30s", (5, 20, 100), ((5, INF), (20, 30))),
    ],
)
def test_parse_step_list(text: str, steps: tuple[float, ...], pauses: tuple[tuple[float, float], ...]) -> None:
    assert parse_step_list(text) == (steps, pauses)


def test_parse_step_list_names_the_option() -> None:
    with pytest.raises(UsageError) as caught:
        parse_step_list("pause,50")
    assert caught.value.message == "--steps pause,50: the steps start with a pause: a pause comes after a step " \
                                   "(e.g. 10, pause, 50, 100)"


@pytest.mark.parametrize(
    ("n", "steps", "pauses", "names", "phase_pauses"),
    [
        (10, (10, 30, 50, 100), ((10, INF), (50, 600)), ["10%", "30%", "50%", "100%"], [INF, None, 600, None]),
        # 3 instances: 10% and 30% are both 1 instance; the pause after 30% stays with that phase
        (3, (10, 30, 50, 100), ((30, INF),), ["10%", "50%", "100%"], [INF, None, None]),
        # two pauses on one merged phase: the longer one wins
        (3, (10, 30, 50, 100), ((10, 60), (30, 600)), ["10%", "50%", "100%"], [600, None, None]),
        (3, (10, 30, 50, 100), ((10, 60), (30, INF)), ["10%", "50%", "100%"], [INF, None, None]),
        # 2 instances: 90% is the whole fleet, so its pause would come after the last phase
        (2, (50, 90, 100), ((90, INF),), ["50%", "90%"], [None, None]),
    ],
)
def test_pauses_land_on_the_phase_before_them(n: int, steps: tuple[float, ...],
                                              pauses: tuple[tuple[float, float], ...], names: list[str],
                                              phase_pauses: list[float | None]) -> None:
    plan = build_plan("svc", "1.0.0", StrategySpec("canary", steps=steps, pauses=pauses), fleet(n), HealthPolicy())
    assert [p.name for p in plan.phases] == [f"canary {name}" for name in names]
    assert [p.pause for p in plan.phases] == phase_pauses


@pytest.mark.parametrize(
    ("n", "steps", "pauses", "notes"),
    [
        (10, (10, 30, 50, 100), (), []),
        (3, (10, 30, 50, 100), (), ["3 instances: canary 10% and 30% both mean 1 instance: merged into one phase"]),
        (1, (10, 30, 50, 100), (), ["1 instance: canary 10%, 30%, 50% and 100% all mean 1 instance: merged into "
                                    "one phase"]),
        (2, (10, 30, 50, 100), (), ["2 instances: canary 10%, 30% and 50% all mean 1 instance: merged into one "
                                    "phase"]),
        (2, (50, 90, 100), ((90, INF),), ["2 instances: canary 90% and 100% both mean 2 instances: merged into one "
                                          "phase", "2 instances: the pause after canary 90% comes after the last "
                                          "phase (every instance is on the new version by then): dropped"]),
    ],
)
def test_merge_notes(n: int, steps: tuple[float, ...], pauses: tuple[tuple[float, float], ...],
                     notes: list[str]) -> None:
    assert merge_notes(n, steps, pauses) == notes


def test_estimate_counts_timed_pauses_and_names_open_ones() -> None:
    spec = StrategySpec("canary", steps=(10, 50, 100), pauses=((10, INF), (50, 600)), bake=60)
    plan = build_plan("svc", "1.0.0", spec, fleet(10), HealthPolicy(interval=10))
    e = estimate(plan)
    assert e.open_pauses == 1
    assert e.full_rollout_s == 3 * 60 + 600 + 3  # bakes, the 10m pause, three pushes (no probes: no baseline)


PROD = Minimums("Production", bake=30, interval=1)


@pytest.mark.parametrize(
    ("asked", "refusal"),
    [
        ({"bake": (300, 0, "--bake 0s")}, "--bake 0s: a bake of 0s is below Production's minimum of 30s"),
        ({"interval": (30, 0.5, "--interval 0.5s")},
         "--interval 0.5s: a sampling interval of 500ms is below Production's minimum of 1s"),
        ({"bake": (300, 0, "--direct")}, "--direct: a bake of 0s is below Production's minimum of 30s"),
        ({"bake": (300, 30, "--bake 30s")}, None),  # at the minimum
        ({"bake": (0.3, 1, "--bake 1s")}, None),  # under it, but above what the reviewed profile says
        ({}, None),
    ],
)
def test_check_minimums(asked: dict[str, tuple[float, float, str]], refusal: str | None) -> None:
    if refusal is None:
        check_minimums(PROD, asked)
        return
    with pytest.raises(UsageError) as caught:
        check_minimums(PROD, asked)
    assert caught.value.message == refusal


def record(version: str, status: str, kind: str = "deploy", n: int = 0, **extra: object) -> dict[str, object]:
    return {"id": f"{kind}-{n}", "kind": kind, "version": version, "status": status,
            "finished_at": "2026-11-30T12:00:00Z", "reason": "health gate failed after phase 1", **extra}


NOON = 1_796_040_000.0 + 12 * 60  # 2026-11-30T12:12:00Z


@pytest.mark.parametrize(
    ("records", "warning"),
    [
        ([], None),
        ([record("1.1.0", "completed")], None),
        ([record("1.1.0", "reverted", n=2), record("1.0.0", "completed", n=1)],
         "1.1.0 was reverted at 2026-11-30T12:00:00Z (12m ago) (deploy-2: health gate failed after phase 1); "
         "deploying it again may fail the same way"),
        ([record("1.1.0", "aborted", n=2, reason="aborted by ann")],
         "1.1.0 was reverted at 2026-11-30T12:00:00Z (12m ago) (deploy-2: aborted by ann); deploying it again may "
         "fail the same way"),
        # reverted, then deployed fine: the newest word wins
        ([record("1.1.0", "completed", n=3), record("1.1.0", "reverted", n=2)], None),
        # a run that changed nothing or was interrupted says nothing about the version
        ([record("1.1.0", "failed_before_change", n=3), record("1.1.0", "reverted", n=2)],
         "1.1.0 was reverted at 2026-11-30T12:00:00Z (12m ago) (deploy-2: health gate failed after phase 1); "
         "deploying it again may fail the same way"),
        ([record("1.1.0", "interrupted", n=3), record("1.1.0", "completed", n=2)], None),
        ([record("1.0.0", "completed", "rollback", n=3), record("1.1.0", "completed", n=2)],
         "1.1.0 was rolled back to 1.0.0 at 2026-11-30T12:00:00Z (12m ago) (rollback-3); deploying it again undoes "
         "that rollback"),
        # a rollback to this very version, or a failed rollback elsewhere: nothing to say
        ([record("1.1.0", "completed", "rollback", n=3), record("1.1.0", "completed", n=2)], None),
        ([record("1.0.0", "revert_failed", "rollback", n=3), record("1.1.0", "completed", n=2)], None),
    ],
)
def test_reverted_warning(records: list[dict[str, object]], warning: str | None) -> None:
    assert reverted_warning(records, "1.1.0", now=NOON) == warning
