"""Turn strategy settings and ordered instances into an immutable Plan of phases (no I/O)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from hotswap_cli.core.config.strategies import batch_size, canary_phases, merge_notes
from hotswap_cli.durations import format_duration
from hotswap_cli.errors import ConfigError, UsageError
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
    dupes = sorted(n for n, seen in Counter(t.name for t in targets).items() if seen > 1)
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
    for number, step in enumerate(canary_phases(len(targets), strategy.steps, strategy.pauses), start=1):
        phases.append(Phase(number, f"canary {step.percent:g}%", targets[covered:step.count], bake=strategy.bake,
                            percent=step.percent, pause=step.pause))
        covered = step.count
    return tuple(phases)


def plan_notes(strategy: StrategySpec, targets: Sequence[Target]) -> tuple[str, ...]:
    """What the plan did to the strategy's settings on this fleet (merged canary steps, a dropped
    pause), for the plan display."""
    if strategy.type != "canary":
        return ()
    return tuple(merge_notes(len(targets), strategy.steps, strategy.pauses))


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
class Minimums:
    """The least bake and sampling interval a command-line override may set in an environment
    (hotswap.yaml `environments.<env>.min_bake` / `min_interval` on the trusted ref)."""

    environment: str
    bake: float = 0.0
    interval: float = 0.0


def check_minimums(minimums: Minimums, asked: dict[str, tuple[float, float, str]]) -> None:
    """Refuse a command line that makes a deploy hastier than both the environment's minimum and
    what the profile says. `asked` maps "bake" / "interval" to (the profile's seconds, the seconds
    asked for, the option that asked). The profile may set less on its own: it is reviewed and
    approved with the version; an override on the command line is not."""
    floors = {"bake": minimums.bake, "interval": minimums.interval}
    for what, (theirs, mine, option) in asked.items():
        floor = floors[what]
        if mine < floor and mine < theirs:
            env = minimums.environment
            label = "a bake" if what == "bake" else "a sampling interval"
            raise UsageError(f"{option}: {label} of {_seconds(mine)} is below {env}'s minimum of {_seconds(floor)}",
                             hint=f"pass --{what} {_seconds(floor)} or more; the minimum is `environments.{env}."
                                  f"min_{what}` in hotswap.yaml on the default branch")


def _seconds(value: float) -> str:
    return "0s" if value == 0 else format_duration(value)


@dataclass(frozen=True)
class Estimate:
    """Rough timings for the plan display; push/revert seconds per instance are assumptions."""

    full_rollout_s: float  # the first baseline, every phase pushed and baked
    worst_case_revert_s: float  # from a failing verdict to the last instance restored
    detection_s: float  # longest a failure can go unseen during a bake
    longest_rollout_s: float = 0.0  # every bake extended to the policy's limit (inconclusive evidence)
    open_pauses: int = 0  # pauses that wait for `hotswap resume`: not in the times above

    def to_dict(self) -> dict[str, float]:
        return {
            "full_rollout_s": self.full_rollout_s,
            "longest_rollout_s": self.longest_rollout_s,
            "worst_case_revert_s": self.worst_case_revert_s,
            "detection_s": self.detection_s,
            "open_pauses": self.open_pauses,
        }


def estimate(plan: Plan, *, push_s: float = 1.0, revert_s: float = 1.0) -> Estimate:
    """Time to full rollout (the first phase's baseline, pushes in waves of plan.concurrency, plus
    bakes and timed pauses; and with every bake extended to its limit) and the revert bound."""
    total = longest = 0.0
    open_pauses = 0
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
        if phase.pause is not None and math.isinf(phase.pause):
            open_pauses += 1
        elif phase.pause is not None:
            total += phase.pause
            longest += phase.pause
    n = len(plan.targets)
    waves = math.ceil(n / max(plan.concurrency, REVERT_CONCURRENCY)) if n else 0
    bakes = [p.bake for p in plan.phases if p.gate and p.bake > 0]
    detection = min(plan.health.interval, max(bakes)) if bakes else 0.0
    return Estimate(full_rollout_s=total, worst_case_revert_s=waves * revert_s, detection_s=detection,
                    longest_rollout_s=longest, open_pauses=open_pauses)
