"""Strategy arithmetic: canary steps, cumulative counts and rolling batch sizes (pure)."""

from __future__ import annotations

import math
import re

from hotswap_cli.errors import UsageError

SPEC_CANARY_STEPS: tuple[float, ...] = (10.0, 30.0, 50.0, 100.0)


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
