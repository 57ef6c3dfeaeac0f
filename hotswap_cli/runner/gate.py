"""The health gate: a pure verdict from each instance's baseline, its bake samples and the policy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hotswap_cli.model import HealthPolicy
from hotswap_cli.probes.base import HealthSample

# probes whose `ok` is a custom check: the latest one failing fails the gate outright
CUSTOM_PROBES = ("command",)


@dataclass(frozen=True)
class InstanceVerdict:
    """One instance's figures against its own baseline, and why it failed (if it did)."""

    instance: str
    ok: bool
    reasons: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    error_rate: float | None = None  # 0..1, mean over the window
    baseline_error_rate: float | None = None
    p99_ms: float | None = None
    baseline_p99_ms: float | None = None
    checks_failed: int = 0
    checks_total: int = 0
    samples: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "instance": self.instance,
            "ok": self.ok,
            "reasons": list(self.reasons),
            "notes": list(self.notes),
            "error_rate": self.error_rate,
            "baseline_error_rate": self.baseline_error_rate,
            "p99_ms": self.p99_ms,
            "baseline_p99_ms": self.baseline_p99_ms,
            "checks_failed": self.checks_failed,
            "checks_total": self.checks_total,
            "samples": self.samples,
        }


@dataclass(frozen=True)
class Verdict:
    """The gate's answer for every instance it looked at; `phase` is set by the runner."""

    instances: tuple[InstanceVerdict, ...] = field(default_factory=tuple)
    phase: int = 0

    @property
    def ok(self) -> bool:
        return all(i.ok for i in self.instances)

    @property
    def failures(self) -> tuple[InstanceVerdict, ...]:
        return tuple(i for i in self.instances if not i.ok)

    def summary(self) -> str:
        """`web-2: error rate 22.0% vs baseline 1.0% (+21.0pp > 5pp)` per failing instance."""
        if self.ok:
            return f"{len(self.instances)} instance(s) healthy"
        return "; ".join(f"{i.instance}: {', '.join(i.reasons)}" for i in self.failures)

    def to_dict(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "ok": self.ok,
            "summary": self.summary(),
            "instances": [i.to_dict() for i in self.instances],
        }


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _has_data(s: HealthSample) -> bool:
    return s.ok is not None or s.error_rate is not None or s.p99_ms is not None


def evaluate(
    baseline: Mapping[str, Sequence[HealthSample]],
    samples: Mapping[str, Sequence[HealthSample]],
    policy: HealthPolicy,
) -> Verdict:
    """Judge every instance in `samples`; an instance with no samples at all has no probes."""
    return Verdict(
        tuple(evaluate_instance(name, baseline.get(name, ()), window, policy) for name, window in samples.items())
    )


def evaluate_instance(
    name: str,
    baseline: Sequence[HealthSample],
    window: Sequence[HealthSample],
    policy: HealthPolicy,
) -> InstanceVerdict:
    if not window and not baseline:
        return InstanceVerdict(name, ok=True, notes=("no probes",))
    data = [s for s in window if _has_data(s)]
    if not data:
        details = sorted({s.detail for s in window if s.detail})
        why = "no health data" + (f" ({'; '.join(details)})" if details else "")
        if policy.on_no_data == "pass":
            return InstanceVerdict(name, ok=True, notes=(why + ", passed by on_no_data: pass",))
        return InstanceVerdict(name, ok=False, reasons=(why,), samples=len(window))
    reasons: list[str] = []
    notes: list[str] = []

    rate = _mean([s.error_rate for s in data if s.error_rate is not None])
    base_rate = _mean([s.error_rate for s in baseline if s.error_rate is not None])
    if rate is not None:
        ref = base_rate if base_rate is not None else 0.0
        if base_rate is None:
            notes.append("no error-rate baseline, compared with 0%")
        delta_pp = round((rate - ref) * 100, 6)
        if delta_pp > policy.error_rate_pp:
            reasons.append(
                f"error rate {rate * 100:.1f}% vs baseline {ref * 100:.1f}% "
                f"(+{delta_pp:.1f}pp > {policy.error_rate_pp:g}pp)"
            )

    p99 = _mean([s.p99_ms for s in data if s.p99_ms is not None])
    base_p99 = _mean([s.p99_ms for s in baseline if s.p99_ms is not None])
    if p99 is not None:
        if base_p99 is not None and base_p99 > 0:
            increase = round((p99 - base_p99) / base_p99 * 100, 6)
            if increase > policy.p99_increase_pct:
                reasons.append(
                    f"p99 {p99:.0f}ms vs baseline {base_p99:.0f}ms (+{increase:.0f}% > {policy.p99_increase_pct:g}%)"
                )
        else:
            notes.append("no p99 baseline, latency not gated")

    checks = [s for s in data if s.ok is not None]
    failed = [s for s in checks if s.ok is False]
    if checks:
        pct = round(len(failed) / len(checks) * 100, 6)
        if pct > policy.failed_checks_pct:
            first = next((s.detail for s in failed if s.detail), "")
            reasons.append(
                f"{len(failed)}/{len(checks)} health checks failed "
                f"({pct:.0f}% > {policy.failed_checks_pct:g}%)" + (f": {first}" if first else "")
            )
        else:
            for kind in CUSTOM_PROBES:
                latest = [s for s in checks if s.probe == kind]
                if latest and latest[-1].ok is False:
                    detail = latest[-1].detail
                    reasons.append(f"custom check ({kind}) failing" + (f": {detail}" if detail else ""))

    return InstanceVerdict(
        name,
        ok=not reasons,
        reasons=tuple(reasons),
        notes=tuple(notes),
        error_rate=rate,
        baseline_error_rate=base_rate,
        p99_ms=p99,
        baseline_p99_ms=base_p99,
        checks_failed=len(failed),
        checks_total=len(checks),
        samples=len(window),
    )
