"""Deploy progress on screen: a live table on a terminal, log lines otherwise, or JSON lines on
stdout with --json. Fed only by runner events; answers "where are we": phase k/n, the bake's
countdown, each instance's figures beside its baseline and the gate's limit."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hotswap_cli.durations import format_duration
from hotswap_cli.runner.events import (
    BakeExtended,
    BakeStarted,
    DeployFinished,
    DeployStarted,
    Event,
    GatePaused,
    HealthSampled,
    InstanceState,
    PhaseStarted,
    RevertFinished,
    RevertStarted,
    VerdictReached,
)

if TYPE_CHECKING:
    from hotswap_cli.model import HealthPolicy, Plan
    from hotswap_cli.runner.gate import InstanceVerdict, Verdict

_STYLE = {"pending": "dim", "staged": "cyan", "live": "blue", "healthy": "green", "reverted": "yellow",
          "failed": "bold red", "unknown": "bold magenta"}
CTRL_C_HINT = "Ctrl-C reverts what this run changed"
MAX_ROWS = 12  # a bigger fleet on a terminal: the most interesting rows, then a summary row
LISTED = 5  # instances named per bake line (those doing worse than their baseline)
NAMED = 8  # instances named with their numbers at a verdict
_LIVE = ("live", "healthy")


def fmt_rate(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 100:.2f}%" if value < 0.01 else f"{value * 100:.1f}%"


def fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}ms"


def fmt_span(seconds: float) -> str:
    """8s, 0.25s, 4m05s, 1h02m: a countdown that reads at a glance."""
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{round(seconds, 2 if seconds < 1 else 1):g}s"
    if seconds < 60:
        return f"{seconds:.0f}s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


@dataclass
class Row:
    """One instance: its state and what its probes measured, before its push (the baseline) and
    since (the window: what the gate judges)."""

    name: str
    phase: int | None = None
    state: str = "pending"
    p99_ms: float | None = None  # the latest window sample's
    ok: bool | None = None  # the latest check's
    detail: str = ""
    requests: float = 0.0
    errors: float = 0.0
    checks: int = 0
    failed: int = 0
    base_requests: float = 0.0
    base_errors: float = 0.0
    base_p99s: list[float] = field(default_factory=list)
    gate_base_p99: float | None = None  # the gate's own figures, once a verdict gave them
    gate_p99_limit: float | None = None
    probes: set[str] = field(default_factory=set)  # probes that report on the window
    known: set[str] = field(default_factory=set)  # every probe seen, the baseline's too
    fenced: set[str] = field(default_factory=set)  # probes whose next sample spans the push

    def sampled(self, e: HealthSampled) -> None:
        self.known.add(e.probe)
        if e.baseline:
            self.base_requests += e.requests or 0.0
            self.base_errors += min(e.requests or 0.0, e.errors or 0.0)
            if e.p99_ms is not None:
                self.base_p99s.append(e.p99_ms)
            return
        self.probes.add(e.probe)
        if e.ok is not None:  # a check reads the config it finds: the new one from the push on
            self.ok = e.ok
            self.checks += 1
            self.failed += not e.ok
        if e.probe in self.fenced:  # as the gate does: old and new config mixed, neither side's
            self.fenced.discard(e.probe)
            return
        if e.p99_ms is not None:
            self.p99_ms = e.p99_ms
        self.requests += e.requests or 0.0
        self.errors += min(e.requests or 0.0, e.errors or 0.0)

    @property
    def rate(self) -> float | None:
        return self.errors / self.requests if self.requests > 0 else None

    @property
    def base_rate(self) -> float | None:
        return self.base_errors / self.base_requests if self.base_requests > 0 else None

    def rate_limit(self, policy: HealthPolicy | None) -> float | None:
        if policy is None or self.rate is None:
            return None
        return (self.base_rate or 0.0) + policy.error_rate_pp / 100

    @property
    def base_p99(self) -> float | None:
        return self.gate_base_p99 if self.gate_base_p99 is not None else _mean(self.base_p99s)

    def p99_limit(self, policy: HealthPolicy | None) -> float | None:
        if self.gate_p99_limit is not None:
            return self.gate_p99_limit
        if policy is None or self.base_p99 is None:
            return None
        return self.base_p99 * (1 + policy.p99_increase_pct / 100)

    def standing(self, policy: HealthPolicy | None) -> int:
        """2: past a limit (or its latest check failed), 1: more than half-way from its baseline to
        a limit, 0: otherwise."""
        rate, limit, p99, p99_limit = self.rate, self.rate_limit(policy), self.p99_ms, self.p99_limit(policy)
        if self.ok is False or (rate is not None and limit is not None and rate > limit) or (
                p99 is not None and p99_limit is not None and p99 > p99_limit):
            return 2
        base = self.base_rate or 0.0
        if rate is not None and limit is not None and rate - base > (limit - base) / 2:
            return 1
        base_p99 = self.base_p99
        if p99 is not None and p99_limit is not None and base_p99 is not None and \
                p99 - base_p99 > (p99_limit - base_p99) / 2:
            return 1
        return 0

    def figures(self, policy: HealthPolicy | None) -> str:
        return figures(self.rate, self.base_rate, self.rate_limit(policy), self.p99_ms, self.base_p99,
                       self.p99_limit(policy), self.checks, self.failed)


def figures(rate: float | None, base: float | None, limit: float | None, p99: float | None,
            base_p99: float | None, p99_limit: float | None, checks: int, failed: int) -> str:
    """`err 0.4% (base 0.3%, limit 1.3%), p99 120ms (base 110ms, limit 165ms), checks 0/9 failed`."""
    parts = []
    if rate is not None:
        parts.append(f"err {fmt_rate(rate)} (base {fmt_rate(base if base is not None else 0.0)}"
                     + (f", limit {fmt_rate(limit)})" if limit is not None else ")"))
    if p99 is not None:
        around = [f"base {fmt_ms(base_p99)}"] if base_p99 is not None else []
        around += [f"limit {fmt_ms(p99_limit)}"] if p99_limit is not None else []
        parts.append(f"p99 {fmt_ms(p99)}" + (f" ({', '.join(around)})" if around else ""))
    if checks:
        parts.append(f"checks {failed}/{checks} failed")
    return ", ".join(parts) or "no figures yet"


def verdict_figures(phase: int, verdict: Verdict) -> str:
    """`phase 2 passed: web-1 err 0.2%/limit 1.2% p99 40ms/limit 75ms; ...`: each instance's numbers
    as the gate measured them, failing and closest to a limit first."""
    rows = sorted(verdict.instances, key=_headroom)
    shown = [f"{i.instance} {_instance_figures(i)}" for i in rows[:NAMED]]
    more = f" (and {len(rows) - NAMED} more)" if len(rows) > NAMED else ""
    how = "passed" if verdict.ok else "failed"
    return f"phase {phase} {how}: " + ("; ".join(shown) or "no instances") + more


def _instance_figures(i: InstanceVerdict) -> str:
    parts = []
    for f in i.findings:
        g = f.figures
        if f.rule == "error_rate":
            limit = (g["baseline_rate"] or 0.0) + g["threshold_pp"] / 100
            parts.append(f"err {fmt_rate(g['rate'])}/limit {fmt_rate(limit)}")
        elif f.rule == "latency":
            parts.append(f"p99 {fmt_ms(g['p99_ms'])}/limit {fmt_ms(g['limit_ms'])}")
        elif f.rule == "checks":
            parts.append(f"checks {g['failed']}/{g['checks']} failed")
        elif f.rule == "no_data":
            parts.append(f.text)
    return " ".join(parts) or (", ".join(i.notes) or "no health data")


def _headroom(i: InstanceVerdict) -> tuple[int, float]:
    f = i.finding("error_rate")
    room = 1.0
    if f is not None:
        g = f.figures
        room = (g["baseline_rate"] or 0.0) + g["threshold_pp"] / 100 - g["rate"]
    return {"fail": 0, "inconclusive": 1}.get(i.outcome, 2), room


@dataclass
class Bake:
    phase: int
    start: float
    seconds: float
    live: list[str]
    until: float | None = None  # extended: bakes on up to this clock reading
    seen: dict[str, set[str]] = field(default_factory=dict)  # probes reported in the current look
    last: float = 0.0  # when the current look's latest sample came


_ENCODER = json.JSONEncoder(default=str, ensure_ascii=False)  # json.dumps with these builds one per call


class JsonLines:
    """One JSON object per event on stdout (CI parses it; docs/json.md). Events carry the runner
    clock's (monotonic) reading: `offset` turns it into wall-clock time, the first event's reading
    is the run's start (`elapsed_s`)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self.offset = time.time() - clock()
        self.start: float | None = None

    def emit(self, event: Event) -> None:
        with self._lock:
            if self.start is None:
                self.start = event.at
            line = event.to_json(start=self.start, offset=self.offset)
            sys.stdout.write(_ENCODER.encode(line) + "\n")
            sys.stdout.flush()

    @contextmanager
    def suspended(self) -> Iterator[None]:
        yield

    def close(self) -> None:
        pass


# printed above the live table as they happen (the rest only changes the table)
_SHOWN_LIVE = ("revert_started", "verdict", "deploy_finished", "revert_finished", "bake_extended", "gate_paused",
               "phase_paused", "control")


class Progress:
    """Human progress on stderr: a rich Live table when stderr is a terminal, else log lines.
    `clock` reads the runner's clock (monotonic) for the live countdown; `console` is for tests."""

    def __init__(self, instances: list[tuple[str, int]], *, color: bool, live: bool | None = None,
                 plan: Plan | None = None, clock: Callable[[], float] = time.monotonic,
                 console: Any = None, max_rows: int = MAX_ROWS) -> None:
        self.plan = plan  # phases, bakes and the health policy (thresholds) the run follows
        self.policy = plan.health if plan is not None else None
        self.rows = {name: Row(name, phase) for name, phase in instances}
        self.phases = len(plan.phases) if plan is not None else 0
        self.phase = ""
        self.clock = clock
        self.max_rows = max_rows
        self._lock = threading.RLock()  # the state; the live table's refresh thread reads it too
        self._out = threading.Lock()  # the output, in event order
        self.said: set[tuple[str, str]] = set()  # (instance, detail) printed as a line: the summary need not repeat it
        self._t0: float | None = None
        self._bake: Bake | None = None
        self._paused: tuple[str, float | None] | None = None  # why, until (clock reading)
        use_live = (console is not None or sys.stderr.isatty()) if live is None else live
        self._live: Any = None
        if use_live:
            from rich.console import Console
            from rich.live import Live

            console = console or Console(file=sys.stderr, no_color=not color)
            self._live = Live(console=console, refresh_per_second=4, transient=False, get_renderable=self._view)
            self._live.start()

    # -- events -----------------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        with self._out:
            with self._lock:
                if self._t0 is None:
                    self._t0 = event.at
                lines = self._apply(event)
                t0 = self._t0
            if self._live is not None:  # the table redraws itself a few times a second
                if event.kind in _SHOWN_LIVE:
                    from rich.text import Text

                    for line in lines:  # as Text: `markup=False` would reach the table's cells too
                        self._live.console.print(Text(line))
            elif lines:
                sys.stderr.write("".join(f"[{event.at - t0:7.1f}s] {line}\n" for line in lines))
                sys.stderr.flush()
                if isinstance(event, InstanceState) and event.detail:
                    self.said.add((event.instance, event.detail))

    def _apply(self, event: Event) -> list[str]:
        kind = event.kind
        if isinstance(event, DeployStarted):
            self.phases = self.phases or event.phases
            return [f"deploying {event.version} to {event.profile}: {event.strategy}, {event.phases} phase(s), "
                    f"{event.instances} instance(s) ({CTRL_C_HINT})"]
        if isinstance(event, PhaseStarted):
            self._bake, self._paused = None, None
            self.phase = f"phase {self._of(event.number)}: {event.name}"
            shown = list(event.instances[:MAX_ROWS])
            if len(event.instances) > MAX_ROWS:
                shown.append(f"and {len(event.instances) - MAX_ROWS} more")
            return [f"phase {event.number}: {event.name} ({event.action}) -> {', '.join(shown)} "
                    f"[{self._of(event.number)}]"]
        if isinstance(event, InstanceState):
            row = self.rows.setdefault(event.instance, Row(event.instance))
            row.state, row.detail = event.state, event.detail
            if event.state == "live":
                row.fenced = set(row.known)  # the sample right after the push spans it
            return [f"{event.instance}: {event.state}" + (f" ({event.detail})" if event.detail else "")]
        if isinstance(event, HealthSampled):
            return self._sampled(event)
        if isinstance(event, BakeStarted):
            live = [r.name for r in self.rows.values() if r.state in _LIVE]
            self._bake = Bake(event.phase, event.at, event.seconds, live)
            return [f"phase {self._of(event.phase)}: baking {format_duration(event.seconds)}, sampling every "
                    f"{format_duration(event.interval)} ({event.instances} instance(s))"]
        if isinstance(event, BakeExtended):
            if self._bake is not None:
                self._bake.until = event.at + event.seconds
            return [f"phase {event.phase}: the evidence is inconclusive, baking up to "
                    f"{format_duration(round(event.seconds, 1))} more: {event.reason}"]
        if isinstance(event, GatePaused):
            self._paused = (event.reason, None)
            return [f"phase {event.phase} paused: {event.reason}"]
        if isinstance(event, VerdictReached):
            self._bake = None
            self._take_gate_figures(event.verdict)
            # a failing verdict's summary is the run's failure reason: the last line says it, once
            head = f"health gate phase {event.phase}: " + (f"pass: {event.verdict.summary()}" if event.ok else "FAIL")
            return [head, verdict_figures(event.phase, event.verdict)]
        if isinstance(event, RevertStarted):
            self._bake, self._paused = None, None
            self.phase = f"reverting {len(event.instances)} instance(s)"
            return [f"reverting {len(event.instances)} instance(s)"]  # why: the run's last line
        if isinstance(event, RevertFinished):
            failed = f"; NOT restored: {', '.join(event.failed)}" if event.failed else ""
            return [f"revert finished in {event.seconds:.2f}s: {len(event.restored)} restored{failed}"]
        if isinstance(event, DeployFinished):
            self._bake, self._paused = None, None
            self.phase = f"deploy {event.status.replace('_', ' ')}"
            return [self.phase]  # the reason: in the summary line that follows
        if kind == "phase_paused":  # runner.events.PhasePaused
            return [self._phase_paused(event)]
        if kind == "control":  # runner.events.ControlReceived
            action, by = getattr(event, "action", "?"), getattr(event, "by", "") or "someone"
            full = " --full" if getattr(event, "full", False) else ""
            return [f"{action}{full} received from {by}"]
        return []

    def _of(self, number: int) -> str:
        return f"{number}/{self.phases}" if self.phases else str(number)

    def _phase_paused(self, event: Event) -> str:
        phase, reason, seconds = getattr(event, "phase", 0), getattr(event, "reason", ""), getattr(event, "until", None)
        self._bake = None
        self._paused = (reason, event.at + seconds if seconds is not None else None)  # `until` is how long it lasts
        how = (f"resumes by itself in {fmt_span(seconds)}, or sooner with `hotswap resume`"
               if seconds is not None else "waiting for `hotswap resume` or `hotswap promote`")
        return f"phase {self._of(phase)} paused{': ' + reason if reason else ''}; {how} (`hotswap abort` reverts)"

    def _sampled(self, event: HealthSampled) -> list[str]:
        row = self.rows.setdefault(event.instance, Row(event.instance))
        row.sampled(event)
        bake = self._bake
        if bake is None or event.baseline or event.instance not in bake.live:
            return []
        lines = []
        seen = bake.seen.setdefault(event.instance, set())
        if event.probe in seen:  # a new look began before the last was complete: say what it saw
            lines = self._bake_lines(bake, bake.last)
            seen = bake.seen.setdefault(event.instance, set())
        seen.add(event.probe)
        bake.last = event.at
        rows = (self.rows[n] for n in bake.live)
        if all(r.probes <= bake.seen.get(r.name, set()) for r in rows):
            lines += self._bake_lines(bake, event.at)
        return lines

    def _bake_lines(self, bake: Bake, at: float) -> list[str]:
        """One line per look: the live instances' figures together, then those doing worse than
        their baseline (more than half-way to a limit), worst first."""
        bake.seen = {}
        rows = [self.rows[n] for n in bake.live]
        until = f", extended up to {fmt_span(bake.until - bake.start)}" if bake.until is not None else ""
        head = f"phase {self._of(bake.phase)} bake {fmt_span(at - bake.start)}/{fmt_span(bake.seconds)}{until}"
        lines = [f"{head}: {len(rows)} live, {self._together(rows)}"]
        worse = sorted((r for r in rows if r.standing(self.policy)), key=lambda r: -r.standing(self.policy))
        lines += [f"  {r.name}: {r.figures(self.policy)}" for r in worse[:LISTED]]
        if len(worse) > LISTED:
            lines.append(f"  ... and {len(worse) - LISTED} more doing worse than their baseline")
        return lines

    def _together(self, rows: list[Row]) -> str:
        """Counts summed over the live instances; p99 figures averaged."""
        requests, base_requests = sum(r.requests for r in rows), sum(r.base_requests for r in rows)
        rate = sum(r.errors for r in rows) / requests if requests > 0 else None
        base = sum(r.base_errors for r in rows) / base_requests if base_requests > 0 else None
        limit = (base or 0.0) + self.policy.error_rate_pp / 100 if self.policy and rate is not None else None
        with_p99 = [r for r in rows if r.p99_ms is not None]
        limits = [x for x in (r.p99_limit(self.policy) for r in with_p99) if x is not None]
        return figures(rate, base, limit, _mean([r.p99_ms for r in with_p99 if r.p99_ms is not None]),
                       _mean([x for x in (r.base_p99 for r in with_p99) if x is not None]),
                       _mean(limits) if len(limits) == len(with_p99) else None,
                       sum(r.checks for r in rows), sum(r.failed for r in rows))

    def _take_gate_figures(self, verdict: Verdict) -> None:
        """The gate's p99 baseline and limit (from the histogram's buckets) replace the view's estimate."""
        for i in verdict.instances:
            f = i.finding("latency")
            row = self.rows.get(i.instance)
            if f is not None and row is not None:
                row.gate_base_p99, row.gate_p99_limit = f.figures["baseline_p99_ms"], f.figures["limit_ms"]

    # -- the live table ---------------------------------------------------------------------

    def _view(self) -> Any:
        with self._lock:
            return self._table(self.clock())

    def _title(self, now: float) -> str:
        parts = [self.phase or "starting"]
        if self._bake is not None:
            b = self._bake
            left = (b.until if b.until is not None else b.start + b.seconds) - now
            extended = " (extended: inconclusive)" if b.until is not None else ""
            parts.append(f"baking {fmt_span(now - b.start)} of {fmt_span(b.seconds)}{extended}, "
                         f"{fmt_span(left)} left")
        if self._paused is not None:
            reason, until = self._paused
            parts.append("paused" + (f": {reason}" if reason else "")
                         + (f", resumes in {fmt_span(until - now)}" if until is not None else ""))
        if self._t0 is not None:
            parts.append(f"{fmt_span(now - self._t0)} elapsed")
        return " · ".join(parts)

    def _table(self, now: float) -> Any:
        from rich.markup import escape
        from rich.table import Table

        table = Table(title=escape(self._title(now)), title_justify="left", caption=CTRL_C_HINT, caption_justify="left",
                      box=None, pad_edge=False)
        for col in ("INSTANCE", "PHASE", "STATE", "ERRORS", "BASE/LIMIT", "P99", "BASE/LIMIT", "DETAIL"):
            table.add_column(col, no_wrap=col != "DETAIL")
        rows = list(self.rows.values())
        shown = rows if len(rows) <= self.max_rows else self._interesting(rows)[:self.max_rows - 2]
        for row in shown:
            self._add(table, row)
        if len(shown) < len(rows):
            hidden = Counter(r.state for r in rows if r not in shown)
            what = "healthy" if set(hidden) == {"healthy"} else ", ".join(f"{n} {s}" for s, n in hidden.items())
            blank = [""] * 6
            table.add_row(f"… and {sum(hidden.values())} more", *blank, what, end_section=True)
            counts = Counter(r.state for r in rows)
            table.add_row(f"{len(rows)} instances", *blank,
                          " · ".join(f"{counts[s]} {s}" for s in (*_STYLE, *sorted(set(counts) - set(_STYLE)))
                                     if counts[s]))
        return table

    def _interesting(self, rows: list[Row]) -> list[Row]:
        """Failing first, then doing worse than their baseline, then those being changed, then live
        ones, then the rest."""
        def rank(row: Row) -> int:
            if row.state in ("failed", "unknown"):
                return 0
            standing = row.standing(self.policy) if row.state in _LIVE else 0
            if standing:
                return 3 - standing
            return {"staged": 3, "reverted": 3, "live": 4, "healthy": 5}.get(row.state, 6)

        return sorted(rows, key=rank)

    def _add(self, table: Any, row: Row) -> None:
        from rich.markup import escape

        rate, limit = row.rate, row.rate_limit(self.policy)
        p99, p99_limit = row.p99_ms, row.p99_limit(self.policy)
        over_rate = rate is not None and limit is not None and rate > limit
        over_p99 = p99 is not None and p99_limit is not None and p99 > p99_limit
        table.add_row(
            escape(row.name), str(row.phase or "-"), f"[{_STYLE.get(row.state, '')}]{row.state}[/]",
            f"[bold red]{fmt_rate(rate)}[/]" if over_rate else fmt_rate(rate),
            f"{fmt_rate(row.base_rate)}/{fmt_rate(limit)}" if rate is not None else "",
            f"[bold red]{fmt_ms(p99)}[/]" if over_p99 else fmt_ms(p99),
            f"{fmt_ms(row.base_p99)}/{fmt_ms(p99_limit)}" if p99 is not None and row.base_p99 is not None else "",
            ("[red]check failed[/] " if row.ok is False else "") + escape(row.detail[:60]))

    @contextmanager
    def suspended(self) -> Iterator[None]:
        """The live table stops redrawing while a question is asked on the terminal."""
        if self._live is None:
            yield
            return
        with self._out:
            self._live.stop()
        try:
            yield
        finally:
            with self._out:
                self._live.start()

    def close(self) -> None:
        if self._live is not None:
            with self._out:
                self._live.stop()
