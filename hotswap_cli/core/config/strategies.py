"""Strategy arithmetic: canary steps and their pauses, cumulative counts and rolling batch sizes (pure)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hotswap_cli.durations import format_duration, parse_duration
from hotswap_cli.errors import UsageError

SPEC_CANARY_STEPS: tuple[float, ...] = (10.0, 30.0, 50.0, 100.0)
UNTIL_RESUMED = math.inf  # a pause that waits for `hotswap resume` / `promote`

Pauses = tuple[tuple[float, float], ...]  # (step percent, seconds or UNTIL_RESUMED): pause after that step


class StepError(ValueError):
    """A misplaced or malformed item in a steps list; `index` is its 0-based position (-1: the list)."""

    def __init__(self, message: str, index: int) -> None:
        super().__init__(message)
        self.index = index


def canary_steps(first: float) -> tuple[float, ...]:
    """`--canary 25` -> (25, 30, 50, 100): the spec's phases with the first replaced by `first`."""
    if not 0 < first <= 100:
        raise UsageError(f"canary percentage must be in 1..100, got {first:g}")
    return (float(first), *(s for s in SPEC_CANARY_STEPS if s > first))


def parse_steps(text: str) -> tuple[float, ...]:
    """`--steps 5,20,100` -> (5, 20, 100); 100 is appended when the list stops short of it."""
    try:
        steps = tuple(float(part.strip().rstrip("%")) for part in text.split(",") if part.strip())
    except ValueError:
        raise UsageError(f"--steps takes comma-separated percentages, got {text!r}") from None
    return normalise_steps(steps)


def parse_step_list(text: str) -> tuple[tuple[float, ...], Pauses]:
    """`--steps 10,pause,50,pause:10m,100` -> steps (10, 50, 100) and their pauses."""
    items: list[Any] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, duration = part.partition(":")
        if name.strip().lower() == "pause":
            items.append({"pause": duration.strip()} if sep else "pause")
        else:
            items.append(part.rstrip("%"))
    try:
        return split_pauses(items)
    except StepError as exc:
        raise UsageError(f"--steps {text}: {exc}",
                         hint="e.g. --steps 10,pause,50,100 to wait for `hotswap resume` after 10%, "
                              "or 10,pause:10m,50,100 to go on by itself after 10m") from None


def split_pauses(items: Sequence[Any]) -> tuple[tuple[float, ...], Pauses]:
    """Steps as written (percentages, `pause`, `{pause: 10m}`) -> increasing percentages ending at
    100, and the pause after each step that has one. A pause must follow a step, one at a time, and
    not the 100 % step (every instance already runs the new version then). Raises StepError."""
    steps: list[float] = []
    pauses: dict[float, float] = {}
    previous_pause = False
    for index, item in enumerate(items):
        pause = _pause_of(item, index)
        if pause is None:
            try:
                steps.append(float(item))
            except (TypeError, ValueError):
                raise StepError(f"step {index + 1} is {item!r}: use a percentage, `pause` or "
                                "`pause: 10m`", index) from None
            previous_pause = False
            continue
        if not steps:
            raise StepError("the steps start with a pause: a pause comes after a step "
                            "(e.g. 10, pause, 50, 100)", index)
        if previous_pause:
            raise StepError(f"steps {index} and {index + 1} are both pauses: give one pause between two steps",
                            index)
        if steps[-1] >= 100:
            raise StepError("a pause after the 100% step waits with every instance already on the new "
                            "version: remove it (or pause before 100)", index)
        pauses[steps[-1]] = pause
        previous_pause = True
    try:
        return normalise_steps(steps), tuple(pauses.items())
    except UsageError as exc:
        raise StepError(exc.message, -1) from None


def _pause_of(item: Any, index: int) -> float | None:
    """Seconds (or UNTIL_RESUMED) when `item` is a pause, None when it is not one."""
    if isinstance(item, str) and item.strip().lower() == "pause":
        return UNTIL_RESUMED
    if not (isinstance(item, dict) and "pause" in item):
        return None
    if set(item) != {"pause"}:
        raise StepError(f"step {index + 1}: a pause takes only a duration, e.g. {{pause: 10m}}", index)
    raw = item["pause"]
    if raw is None or raw == "":
        return UNTIL_RESUMED
    try:
        seconds = parse_duration(raw)
    except ValueError as exc:
        raise StepError(f"step {index + 1}: {exc}", index) from None
    if seconds <= 0:
        raise StepError(f"step {index + 1}: a pause of {format_duration(seconds)} waits for nothing: remove it, or "
                        "write `pause` to wait until `hotswap resume`", index)
    return seconds


def describe_pause(seconds: float) -> str:
    """`pause until resumed` / `pause 10m`, as the plan shows it."""
    return "pause until resumed" if math.isinf(seconds) else f"pause {format_duration(seconds)}"


def normalise_steps(steps: tuple[float, ...] | list[float]) -> tuple[float, ...]:
    """Check steps are strictly increasing percentages in (0, 100]; end them at 100."""
    if not steps:
        raise UsageError("canary steps are empty (e.g. use --steps 5,20,100)")
    out = [float(s) for s in steps]
    for s in out:
        if not 0 < s <= 100:
            raise UsageError(f"canary step {s:g}% is outside 1..100")
    for a, b in zip(out, out[1:], strict=False):
        if b <= a:
            raise UsageError(f"canary steps must increase: {a:g} then {b:g}")
    if out[-1] != 100:
        out.append(100.0)
    return tuple(out)


def cumulative_count(total: int, percent: float) -> int:
    """Instances covered by a cumulative phase: ceil(N * pct / 100), at least 1, at most N."""
    if total <= 0:
        return 0
    # round first so 30% of 10 is 3, not ceil(3.0000000000000004) == 4
    exact = round(total * percent / 100, 9)
    return max(1, min(total, math.ceil(exact)))


def canary_counts(total: int, steps: tuple[float, ...]) -> list[tuple[float, int]]:
    """(percent, cumulative instances) for each step that adds at least one instance."""
    out: list[tuple[float, int]] = []
    covered = 0
    for pct in normalise_steps(steps):
        count = cumulative_count(total, pct)
        if count > covered:
            out.append((pct, count))
            covered = count
    return out


@dataclass(frozen=True)
class CanaryPhase:
    """One canary phase on a given fleet size: the steps it stands for (more than one when later
    steps add no instance and are merged into it), its cumulative instance count, and its pause."""

    percents: tuple[float, ...]
    count: int
    pause: float | None = None

    @property
    def percent(self) -> float:
        return self.percents[0]


def canary_phases(total: int, steps: Sequence[float], pauses: Pauses = ()) -> list[CanaryPhase]:
    """Phases of a canary over `total` instances. A step that adds nobody is merged into the phase
    before it, and so is its pause (the longer pause wins); a pause that ends up after the last
    phase is dropped (the fleet is complete by then)."""
    pause_after = dict(pauses)
    out: list[CanaryPhase] = []
    for pct in normalise_steps(tuple(steps)):
        count = cumulative_count(total, pct)
        pause = pause_after.get(pct)
        if out and count <= out[-1].count:
            last = out[-1]
            longest = max((p for p in (last.pause, pause) if p is not None), default=None)
            out[-1] = CanaryPhase((*last.percents, pct), last.count, longest)
        else:
            out.append(CanaryPhase((pct,), count, pause))
    if out and out[-1].pause is not None:
        out[-1] = CanaryPhase(out[-1].percents, out[-1].count, None)
    return out


def merge_notes(total: int, steps: Sequence[float], pauses: Pauses = ()) -> list[str]:
    """What a small fleet did to the canary steps, in words for the plan."""
    notes = []
    phases = canary_phases(total, steps, pauses)
    for phase in phases:
        if len(phase.percents) > 1:
            pcts = [f"{p:g}%" for p in phase.percents]
            both = "both" if len(pcts) == 2 else "all"
            notes.append(f"{_instances(total)}: canary {', '.join(pcts[:-1])} and {pcts[-1]} {both} mean "
                         f"{_instances(phase.count)}: merged into one phase")
    last = phases[-1].percents if phases else ()
    for pct in (pct for pct, _ in pauses if pct in last):
        notes.append(f"{_instances(total)}: the pause after canary {pct:g}% comes after the last phase "
                     "(every instance is on the new version by then): dropped")
    return notes


def _instances(n: int) -> str:
    return f"{n} instance" if n == 1 else f"{n} instances"


def batch_size(total: int, batch: str | int) -> int:
    """Rolling batch: "3" -> 3, "25%" -> ceil(N * 25 / 100); at least 1."""
    text = str(batch).strip()
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(%?)", text)
    if not m or float(m.group(1)) <= 0:
        raise UsageError(f"batch must be a count like 3 or a percentage like 25%, got {text!r}")
    if m.group(2):
        if float(m.group(1)) > 100:
            raise UsageError(f"batch percentage {text} is above 100%")
        return cumulative_count(total, float(m.group(1)))
    if "." in m.group(1):
        raise UsageError(f"batch count must be a whole number, got {text!r}")
    return max(1, int(m.group(1)))
