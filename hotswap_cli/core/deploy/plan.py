"""Turn strategy settings and ordered instances into an immutable Plan of phases (no I/O)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from hotswap_cli.core.config.strategies import batch_size, canary_counts
from hotswap_cli.errors import ConfigError
from hotswap_cli.model import REVERT_CONCURRENCY, STRATEGIES, HealthPolicy, Phase, Plan, StrategySpec
from hotswap_cli.specs import Target


def build_plan(
    profile_name: str,
    version: str,
    strategy: StrategySpec,
    targets: Sequence[Target],
    health: HealthPolicy,
) -> Plan:
    """Phases of instances in list order for the strategy; raises ConfigError on bad settings."""
    targets = tuple(targets)
    if not targets:
        raise ConfigError(f"profile {profile_name} has no targets to deploy to")
    names = [t.name for t in targets]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"profile {profile_name} lists target(s) twice: {', '.join(dupes)}")
    if strategy.type not in STRATEGIES:
        raise ConfigError(f"unknown strategy {strategy.type!r} (use one of {', '.join(STRATEGIES)})")
    if strategy.concurrency < 1:
        raise ConfigError(f"concurrency must be at least 1, got {strategy.concurrency}")
    if strategy.bake < 0:
        raise ConfigError(f"bake must not be negative, got {strategy.bake:g}s")
    phases = _PHASES[strategy.type](strategy, targets)
    return Plan(
        profile=profile_name,
        version=version,
        strategy=strategy.type,
        phases=phases,
        health=health,
        concurrency=strategy.concurrency,
        blue_green=strategy.type == "blue-green",
    )


def _canary(strategy: StrategySpec, targets: tuple[Target, ...]) -> tuple[Phase, ...]:
    phases: list[Phase] = []
    covered = 0
    for number, (pct, count) in enumerate(canary_counts(len(targets), strategy.steps), start=1):
        phases.append(
            Phase(number, f"canary {pct:g}%", targets[covered:count], bake=strategy.bake, percent=pct)
        )
        covered = count
    return tuple(phases)


def _rolling(strategy: StrategySpec, targets: tuple[Target, ...]) -> tuple[Phase, ...]:
    size = batch_size(len(targets), strategy.batch)
    chunks = [targets[i : i + size] for i in range(0, len(targets), size)]
    return tuple(
        Phase(n, f"batch {n}/{len(chunks)}", chunk, bake=strategy.bake)
        for n, chunk in enumerate(chunks, start=1)
    )


def _direct(strategy: StrategySpec, targets: tuple[Target, ...]) -> tuple[Phase, ...]:
    return (Phase(1, "all", targets, bake=strategy.bake, percent=100.0),)


def _blue_green(strategy: StrategySpec, targets: tuple[Target, ...]) -> tuple[Phase, ...]:
    return (
        Phase(1, "stage", targets, bake=0.0, action="stage", gate=False),
        Phase(2, "switch", targets, bake=strategy.bake, percent=100.0, action="switch"),
    )


_PHASES = {"canary": _canary, "rolling": _rolling, "direct": _direct, "blue-green": _blue_green}


@dataclass(frozen=True)
class Estimate:
    """Rough timings for the plan display; push/revert seconds per instance are assumptions."""

    full_rollout_s: float  # the first baseline, every phase pushed and baked
    worst_case_revert_s: float  # from a failing verdict to the last instance restored
    detection_s: float  # longest a failure can go unseen during a bake
    longest_rollout_s: float = 0.0  # every bake extended to the policy's limit (inconclusive evidence)

    def to_dict(self) -> dict[str, float]:
        return {
            "full_rollout_s": self.full_rollout_s,
            "longest_rollout_s": self.longest_rollout_s,
            "worst_case_revert_s": self.worst_case_revert_s,
            "detection_s": self.detection_s,
        }


def estimate(plan: Plan, *, push_s: float = 1.0, revert_s: float = 1.0) -> Estimate:
    """Time to full rollout (the first phase's baseline, pushes in waves of plan.concurrency, plus
    bakes; and with every bake extended to its limit) and the revert bound."""
    total = longest = 0.0
    gated = [p for p in plan.phases if p.gate and p.bake > 0]
    if gated and any(t.probes for t in plan.targets):
        total = longest = plan.health.baseline_window()
    for phase in plan.phases:
        push = math.ceil(len(phase.targets) / plan.concurrency) * push_s
        total += push
        longest += push
        if phase.gate:
            total += phase.bake
            longest += plan.health.bake_limit(phase.bake)
    n = len(plan.targets)
    waves = math.ceil(n / max(plan.concurrency, REVERT_CONCURRENCY)) if n else 0
    bakes = [p.bake for p in plan.phases if p.gate and p.bake > 0]
    detection = min(plan.health.interval, max(bakes)) if bakes else 0.0
    return Estimate(full_rollout_s=total, worst_case_revert_s=waves * revert_s, detection_s=detection,
                    longest_rollout_s=longest)
