"""build_plan and strategy arithmetic: table-driven, including the spec's worked cases."""

from __future__ import annotations

import pytest

from hotswap_cli.core.config.strategies import (
    batch_size,
    canary_counts,
    canary_steps,
    cumulative_count,
    parse_steps,
)
from hotswap_cli.core.deploy.plan import build_plan, estimate
from hotswap_cli.errors import ConfigError, UsageError
from hotswap_cli.model import HealthPolicy, StrategySpec
from hotswap_cli.specs import LocalSpec, Target


def fleet(n: int) -> tuple[Target, ...]:
    return tuple(Target(f"i{i}", LocalSpec(path=f"/fake/i{i}")) for i in range(n))


def sizes(spec: StrategySpec, n: int) -> list[int]:
    return [len(p.targets) for p in build_plan("svc", "1.0.0", spec, fleet(n), HealthPolicy()).phases]


def cumulative(spec: StrategySpec, n: int) -> list[int]:
    out, total = [], 0
    for size in sizes(spec, n):
        total += size
        out.append(total)
    return out


@pytest.mark.parametrize(
    ("spec", "n", "expected_cumulative"),
    [
        # spec 1.4: canary over 10 instances covers 1, 3, 5, 10
        (StrategySpec("canary"), 10, [1, 3, 5, 10]),
        # --canary 25 -> 25, 30, 50, 100 on 10: ceil(2.5)=3, 3 (skipped: adds none), 5, 10
        (StrategySpec("canary", steps=canary_steps(25)), 10, [3, 5, 10]),
        (StrategySpec("canary", steps=canary_steps(25)), 100, [25, 30, 50, 100]),
        (StrategySpec("canary", steps=canary_steps(25)), 7, [2, 3, 4, 7]),
        # --steps 5,20,100
        (StrategySpec("canary", steps=parse_steps("5,20,100")), 100, [5, 20, 100]),
        (StrategySpec("canary", steps=parse_steps("5,20,100")), 10, [1, 2, 10]),
        (StrategySpec("canary", steps=parse_steps("5,20")), 10, [1, 2, 10]),
        # at least 1 in phase 1; small fleets drop phases that add nobody
        (StrategySpec("canary"), 1, [1]),
        (StrategySpec("canary"), 2, [1, 2]),
        (StrategySpec("canary"), 3, [1, 2, 3]),
        (StrategySpec("canary"), 4, [1, 2, 4]),
        # rolling --batch 1, 3, 25%
        (StrategySpec("rolling"), 4, [1, 2, 3, 4]),
        (StrategySpec("rolling", batch="3"), 10, [3, 6, 9, 10]),
        (StrategySpec("rolling", batch="25%"), 10, [3, 6, 9, 10]),
        (StrategySpec("rolling", batch="25%"), 8, [2, 4, 6, 8]),
        (StrategySpec("rolling", batch="50%"), 1, [1]),
        (StrategySpec("rolling", batch="20"), 5, [5]),
        # direct: one phase, everything
        (StrategySpec("direct", concurrency=50), 120, [120]),
    ],
)
def test_phase_sizes(spec: StrategySpec, n: int, expected_cumulative: list[int]) -> None:
    assert cumulative(spec, n) == expected_cumulative


def test_canary_phases_take_the_first_k_in_list_order_and_list_only_new_instances() -> None:
    plan = build_plan("svc", "1.2.0", StrategySpec("canary", bake=300), fleet(10), HealthPolicy())
    assert [[t.name for t in p.targets] for p in plan.phases] == [
        ["i0"],
        ["i1", "i2"],
        ["i3", "i4"],
        ["i5", "i6", "i7", "i8", "i9"],
    ]
    assert [p.name for p in plan.phases] == ["canary 10%", "canary 30%", "canary 50%", "canary 100%"]
    assert [p.percent for p in plan.phases] == [10, 30, 50, 100]
    assert [p.number for p in plan.phases] == [1, 2, 3, 4]
    assert all(p.bake == 300 and p.gate and p.action == "deploy" for p in plan.phases)
    assert [t.name for t in plan.targets] == [f"i{i}" for i in range(10)]


def test_rolling_batches_are_named_and_baked() -> None:
    plan = build_plan("svc", "1.0.0", StrategySpec("rolling", batch="3", bake=120), fleet(7), HealthPolicy())
    assert [p.name for p in plan.phases] == ["batch 1/3", "batch 2/3", "batch 3/3"]
    assert [t.name for t in plan.phases[-1].targets] == ["i6"]
    assert all(p.bake == 120 for p in plan.phases)


def test_direct_is_one_phase_with_the_strategy_concurrency() -> None:
    plan = build_plan("svc", "1.0.0", StrategySpec("direct", concurrency=50, bake=0), fleet(3), HealthPolicy())
    assert len(plan.phases) == 1 and plan.phases[0].name == "all"
    assert plan.concurrency == 50 and plan.phases[0].bake == 0 and plan.phases[0].gate


def test_blue_green_stages_everywhere_then_switches_everywhere() -> None:
    plan = build_plan("svc", "1.0.0", StrategySpec("blue-green", bake=600), fleet(4), HealthPolicy())
    stage, switch = plan.phases
    assert plan.blue_green
    assert (stage.action, stage.gate, stage.bake) == ("stage", False, 0.0)
    assert (switch.action, switch.gate, switch.bake) == ("switch", True, 600)
    assert stage.targets == switch.targets == fleet(4)
    assert len(plan.targets) == 4  # each instance once, though listed in both phases


def test_plan_is_immutable() -> None:
    plan = build_plan("svc", "1.0.0", StrategySpec("direct"), fleet(2), HealthPolicy())
    with pytest.raises(AttributeError):
        plan.phases = ()  # type: ignore[misc]


@pytest.mark.parametrize(
    ("spec", "targets", "message"),
    [
        (StrategySpec("canary"), (), "has no targets"),
        (StrategySpec("yolo"), fleet(2), "unknown strategy 'yolo'"),
        (StrategySpec("direct", concurrency=0), fleet(2), "concurrency must be at least 1"),
        (StrategySpec("direct", bake=-1), fleet(2), "bake must not be negative"),
        (StrategySpec("direct"), fleet(2) + fleet(1), "lists target(s) twice: i0"),
    ],
)
def test_bad_settings_are_config_errors(spec: StrategySpec, targets: tuple[Target, ...], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_plan("svc", "1.0.0", spec, targets, HealthPolicy())


@pytest.mark.parametrize(
    ("first", "expected"),
    [(10, (10, 30, 50, 100)), (25, (25, 30, 50, 100)), (30, (30, 50, 100)), (60, (60, 100)), (100, (100,))],
)
def test_canary_steps_replace_the_first_spec_step(first: float, expected: tuple[float, ...]) -> None:
    assert canary_steps(first) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("5,20,100", (5, 20, 100)), ("5, 20", (5, 20, 100)), ("50%,100%", (50, 100)), ("100", (100,))],
)
def test_parse_steps(text: str, expected: tuple[float, ...]) -> None:
    assert parse_steps(text) == expected


@pytest.mark.parametrize("text", ["", "a,b", "20,5,100", "0,50", "50,150", "10,10,100"])
def test_parse_steps_rejects(text: str) -> None:
    with pytest.raises(UsageError):
        parse_steps(text)


@pytest.mark.parametrize(
    ("total", "batch", "expected"),
    [(10, "1", 1), (10, "3", 3), (10, 3, 3), (10, "25%", 3), (8, "25%", 2), (3, "10%", 1), (10, "100%", 10)],
)
def test_batch_size(total: int, batch: str, expected: int) -> None:
    assert batch_size(total, batch) == expected


@pytest.mark.parametrize("batch", ["0", "-1", "x", "150%", "2.5", "0%"])
def test_batch_size_rejects(batch: str) -> None:
    with pytest.raises(UsageError):
        batch_size(10, batch)


@pytest.mark.parametrize(
    ("total", "pct", "expected"), [(10, 30, 3), (10, 10, 1), (10, 1, 1), (100, 7, 7), (3, 50, 2), (0, 50, 0)]
)
def test_cumulative_count_ceil_without_float_noise(total: int, pct: float, expected: int) -> None:
    assert cumulative_count(total, pct) == expected


def test_canary_counts_skip_steps_that_add_nobody() -> None:
    assert canary_counts(2, (10, 30, 50, 100)) == [(10, 1), (100, 2)]


def test_estimate_canary_four_by_five_minutes() -> None:
    plan = build_plan("svc", "1.0.0", StrategySpec("canary", bake=300), fleet(10), HealthPolicy(interval=30))
    est = estimate(plan, push_s=1.0, revert_s=2.0)
    assert est.full_rollout_s == 4 * 300 + 4 * 1.0
    assert est.worst_case_revert_s == 2.0  # 10 instances revert in one wave
    assert est.detection_s == 30


def test_estimate_waves_follow_concurrency() -> None:
    plan = build_plan("svc", "1.0.0", StrategySpec("direct", concurrency=50, bake=0), fleet(1000), HealthPolicy())
    est = estimate(plan)
    assert est.full_rollout_s == 20  # 1000 / 50 waves of 1 s
    assert est.worst_case_revert_s == 10  # 1000 / 100 revert waves
    assert est.detection_s == 0
    assert est.to_dict()["full_rollout_s"] == 20
