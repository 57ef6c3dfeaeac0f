"""The run's health timeline for the ledger record (what `deployments show` charts): an EventSink
that keeps, per instance, the figures of each health sample, compactly.

Memory and record size are bounded whatever the fleet or the bake: the run's samples share a
budget of points, and an instance whose series fills its share halves it by merging neighbours
(the worse figure of each pair is kept, so a spike survives), then folds twice as many samples
into each new point."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from hotswap_cli.runner.events import (
    BakeExtended,
    BakeStarted,
    DeployFinished,
    DeployStarted,
    Event,
    HealthSampled,
    InstanceState,
    PhasePrepared,
    PhaseStarted,
    RevertFinished,
    RevertStarted,
    VerdictReached,
)

if TYPE_CHECKING:
    from hotswap_cli.model import HealthPolicy

FORMAT = 1  # the shape of to_record(), for readers of old records
MAX_POINTS = 240  # per instance: half before its push (baseline), half after
MIN_POINTS = 24
TOTAL_POINTS = 12_000  # the whole run's share: ~300 KB of JSON at most
MAX_STATES = 32  # state changes kept per instance (a few are normal; pauses add some)
MAX_MARKS = 200  # phase, bake, verdict, revert, pause... marks of the run
_TEXT = 240  # characters of an event's text kept in a mark
_FINAL = ("reverted", "failed", "unknown")  # kept past MAX_STATES: how an instance ended

Point = list[Any]  # [t seconds since the start, error rate 0..1 | None, p99 ms | None]


class _Series:
    """One instance's samples: at most `cap` points, each the worst of `stride` samples."""

    def __init__(self, cap: int) -> None:
        self.cap = max(2, cap)
        self.points: list[Point] = []
        self.stride = 1
        self.pending: Point | None = None
        self.folded = 0  # samples in `pending`

    def add(self, point: Point) -> None:
        self.pending = point if self.pending is None else _worse(self.pending, point)
        self.folded += 1
        if self.folded >= self.stride:
            self._flush()

    def _flush(self) -> None:
        if self.pending is None:
            return
        self.points.append(self.pending)
        self.pending, self.folded = None, 0
        if len(self.points) >= self.cap:
            pairs = zip(self.points[0::2], self.points[1::2], strict=False)
            merged = [_worse(a, b) for a, b in pairs]
            if len(self.points) % 2:
                merged.append(self.points[-1])
            self.points = merged
            self.stride *= 2

    def all(self) -> list[Point]:
        return self.points + ([self.pending] if self.pending is not None else [])


def _worse(a: Point, b: Point) -> Point:
    """The later time, the higher error rate and the higher p99 of two points."""
    return [b[0], _max(a[1], b[1]), _max(a[2], b[2])]


def _max(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


def _round(x: float | None, digits: int) -> float | None:
    return None if x is None else round(float(x), digits)


class Timeline:
    """An EventSink; `to_record()` is what the ledger record keeps under "timeline".

    `policy`, when the run's wiring passes it, gives the thresholds of instances the gate never
    judged (a run stopped before its verdict); judged ones take theirs from the verdict's figures."""

    def __init__(self, policy: HealthPolicy | None = None) -> None:
        self.policy = policy
        self._lock = threading.Lock()
        self._start: float | None = None
        self._cap = MAX_POINTS
        self._series: dict[str, _Series] = {}  # instance -> samples since its push
        self._before: dict[str, _Series] = {}  # instance -> baseline samples (before its push)
        self._states: dict[str, list[list[Any]]] = {}
        self._baseline: dict[str, list[float]] = {}  # instance -> [errors, requests] of its baseline samples
        self._gate: dict[str, dict[str, Any]] = {}
        self._marks: list[list[Any]] = []
        self._end: float | None = None

    def emit(self, event: Event) -> None:
        with self._lock:
            if self._start is None:
                self._start = event.at
            t = round(event.at - self._start, 2)
            self._end = t if self._end is None else max(self._end, t)
            if isinstance(event, HealthSampled):
                self._sample(t, event)
            elif isinstance(event, InstanceState):
                states = self._states.setdefault(event.instance, [])
                if len(states) < MAX_STATES or (event.state in _FINAL and len(states) < MAX_STATES + len(_FINAL)):
                    states.append([t, event.state] + ([event.detail[:_TEXT]] if event.detail else []))
            elif isinstance(event, DeployStarted):
                self._cap = max(MIN_POINTS, min(MAX_POINTS, TOTAL_POINTS // max(1, event.instances)))
            elif isinstance(event, VerdictReached):
                self._verdict(t, event)
            elif not isinstance(event, PhasePrepared):
                self._mark(t, event)

    def _sample(self, t: float, event: HealthSampled) -> None:
        if event.baseline and event.requests:
            tally = self._baseline.setdefault(event.instance, [0.0, 0.0])
            tally[0] += max(0.0, event.errors or 0.0)
            tally[1] += event.requests
        if event.error_rate is None and event.p99_ms is None:
            return  # a check (ok / not ok): the verdict counts those
        # before its push (baseline) and after: two series, so neither crowds the other out
        kept = self._before if event.baseline else self._series
        series = kept.get(event.instance)
        if series is None:
            series = kept[event.instance] = _Series(self._cap // 2)
        series.add([t, _round(event.error_rate, 5), _round(event.p99_ms, 1)])

    def _verdict(self, t: float, event: VerdictReached) -> None:
        verdict = event.verdict
        self._mark(t, event, f"phase {event.phase} verdict: {'pass' if event.ok else 'FAIL'}: {verdict.summary()}")
        for inst in verdict.instances:
            gate = self._gate.setdefault(inst.instance, {})
            error = inst.finding("error_rate")
            if error is not None and error.figures:
                base = error.figures.get("baseline_rate")
                gate["baseline_rate"] = base
                gate["error_rate"] = (base or 0.0) + error.figures["threshold_pp"] / 100.0
            latency = inst.finding("latency")
            if latency is not None and latency.figures:
                gate["baseline_p99_ms"] = latency.figures["baseline_p99_ms"]
                gate["p99_ms"] = latency.figures["limit_ms"]

    def _mark(self, t: float, event: Event, text: str = "") -> None:
        if len(self._marks) >= MAX_MARKS and not isinstance(event, DeployFinished):
            return
        if not text:
            text = _describe(event)
        text = text if len(text) <= _TEXT else text[:_TEXT - 1] + "…"
        self._marks.append([t, event.kind, text] + ([event.phase] if isinstance(event, VerdictReached)
                                                             else []))

    def to_record(self) -> dict[str, Any]:
        with self._lock:
            if self._start is None:
                return {}
            out: dict[str, Any] = {"format": FORMAT, "duration_s": self._end or 0.0,
                                   "states": {k: list(v) for k, v in sorted(self._states.items())},
                                   "samples": {k: s.all() for k, s in sorted(self._series.items())},
                                   "baseline_samples": {k: s.all() for k, s in sorted(self._before.items())},
                                   "marks": list(self._marks)}
            folded: dict[str, int] = {}
            for kept in (self._before, self._series):
                for k, s in kept.items():
                    if s.stride > 1:
                        folded[k] = max(folded.get(k, 1), s.stride)
            if folded:
                out["folded"] = folded  # instance -> samples per point (each point keeps the worst)
            baseline = {k: round(e / n, 5) for k, (e, n) in self._baseline.items() if n > 0}
            if baseline:
                out["baseline"] = {k: {"error_rate": v} for k, v in sorted(baseline.items())}
            thresholds = {k: dict(v) for k, v in self._gate.items() if v}
            if self.policy is not None:
                out["policy"] = {"interval_s": self.policy.interval, "error_rate_pp": self.policy.error_rate_pp,
                                 "p99_increase_pct": self.policy.p99_increase_pct,
                                 "failed_checks_pct": self.policy.failed_checks_pct,
                                 "confidence": self.policy.confidence}
                for name in self._series:  # not judged: the policy's margin over its measured baseline
                    if name not in thresholds and name in baseline:
                        thresholds[name] = {"baseline_rate": baseline[name],
                                            "error_rate": baseline[name] + self.policy.error_rate_pp / 100.0}
            if thresholds:
                out["thresholds"] = {k: {n: _round(v, 5) for n, v in d.items()} for k, d in sorted(thresholds.items())}
            return out


def _describe(event: Event) -> str:
    if isinstance(event, PhaseStarted):
        names = ", ".join(event.instances[:5]) + (f" and {len(event.instances) - 5} more" if len(event.instances) > 5
                                                   else "")
        return f"phase {event.number}: {event.name} ({event.action}) -> {names}"
    if isinstance(event, BakeStarted):
        return f"phase {event.phase}: bake {event.seconds:g}s, a look every {event.interval:g}s"
    if isinstance(event, BakeExtended):
        return f"phase {event.phase}: baking up to {event.seconds:g}s more: {event.reason}"
    if isinstance(event, RevertStarted):
        return f"revert {len(event.instances)} instance(s): {', '.join(event.instances[:5])}" + (
            f" and {len(event.instances) - 5} more" if len(event.instances) > 5 else "")
    if isinstance(event, RevertFinished):
        failed = f", {len(event.failed)} failed" if event.failed else ""
        return f"reverted {len(event.restored)} instance(s){failed} in {event.seconds:.1f}s"
    if isinstance(event, DeployFinished):
        return f"{event.status} (exit {event.exit_code})"  # its reason is the record's
    if isinstance(event, DeployStarted):
        return f"{event.strategy}: {event.phases} phase(s), {event.instances} instance(s)"
    # events this module does not know yet (pause, promote, abort...): their own words
    fields = event.to_dict()
    fields.pop("event", None)
    fields.pop("at", None)
    return "; ".join(f"{k}: {v}" for k, v in fields.items() if v not in (None, "", [], ()))
