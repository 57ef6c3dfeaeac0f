"""Deploy progress on screen: a live table on a terminal, one line per change otherwise, or
JSON lines on stdout with --json. Fed only by runner events."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hotswap_cli.durations import format_duration
from hotswap_cli.runner.events import (
    BakeExtended,
    BakeStarted,
    DeployFinished,
    Event,
    GatePaused,
    HealthSampled,
    InstanceState,
    PhaseStarted,
    RevertFinished,
    RevertStarted,
    VerdictReached,
)

_STYLE = {"pending": "dim", "staged": "cyan", "live": "blue", "healthy": "green", "reverted": "yellow",
          "failed": "bold red", "unknown": "bold magenta"}


def fmt_rate(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}ms"


@dataclass
class Row:
    name: str
    phase: int | None = None
    state: str = "pending"
    error_rate: float | None = None
    p99_ms: float | None = None
    latency_ms: float | None = None
    ok: bool | None = None
    detail: str = ""


class JsonLines:
    """One JSON object per event on stdout (CI parses it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def emit(self, event: Event) -> None:
        with self._lock:
            sys.stdout.write(json.dumps(event.to_dict(), default=str) + "\n")
            sys.stdout.flush()

    @contextmanager
    def suspended(self) -> Iterator[None]:
        yield

    def close(self) -> None:
        pass


_SHOWN_LIVE = (RevertStarted, VerdictReached, DeployFinished, RevertFinished, BakeExtended, GatePaused)


if TYPE_CHECKING:
    from hotswap_cli.model import Plan


class Progress:
    """Human progress on stderr: a rich Live table when stderr is a terminal, else log lines."""

    def __init__(self, instances: list[tuple[str, int]], *, color: bool, live: bool | None = None,
                 plan: Plan | None = None) -> None:
        self.plan = plan  # phases, bakes and the health policy (thresholds) the run follows
        self.rows = {name: Row(name, phase) for name, phase in instances}
        self.phase = ""
        self._lock = threading.Lock()
        self._t0: float | None = None
        use_live = sys.stderr.isatty() if live is None else live
        self._live: Any = None
        if use_live:
            from rich.console import Console
            from rich.live import Live

            console = Console(file=sys.stderr, no_color=not color)
            self._live = Live(self._table(), console=console, refresh_per_second=8, transient=False)
            self._live.start()

    # -- events -----------------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        with self._lock:
            if self._t0 is None:
                self._t0 = event.at
            line = self._apply(event)
            if self._live is not None:
                self._live.update(self._table())
                if line and isinstance(event, _SHOWN_LIVE):
                    self._live.console.print(line, markup=False, highlight=False)
            elif line:
                sys.stderr.write(f"[{event.at - self._t0:7.1f}s] {line}\n")
                sys.stderr.flush()

    def _apply(self, event: Event) -> str:
        if isinstance(event, PhaseStarted):
            self.phase = f"phase {event.number}: {event.name}"
            return f"{self.phase} ({event.action}) -> {', '.join(event.instances)}"
        if isinstance(event, InstanceState):
            row = self.rows.setdefault(event.instance, Row(event.instance))
            row.state, row.detail = event.state, event.detail
            return f"{event.instance}: {event.state}" + (f" ({event.detail})" if event.detail else "")
        if isinstance(event, HealthSampled):
            row = self.rows.setdefault(event.instance, Row(event.instance))
            if event.error_rate is not None:
                row.error_rate = event.error_rate
            if event.p99_ms is not None:
                row.p99_ms = event.p99_ms
            if event.latency_ms is not None:
                row.latency_ms = event.latency_ms
            if event.ok is not None:
                row.ok = event.ok
            return ""
        if isinstance(event, BakeStarted):
            return f"baking {event.seconds:g}s, sampling every {event.interval:g}s ({event.instances} instance(s))"
        if isinstance(event, BakeExtended):
            return (f"phase {event.phase}: the evidence is inconclusive, baking up to "
                    f"{format_duration(round(event.seconds, 1))} more: {event.reason}")
        if isinstance(event, GatePaused):
            return f"phase {event.phase} paused: {event.reason}"
        if isinstance(event, VerdictReached):
            return f"health gate phase {event.phase}: {'pass' if event.ok else 'FAIL'}: {event.verdict.summary()}"
        if isinstance(event, RevertStarted):
            return f"reverting {len(event.instances)} instance(s): {event.reason}"
        if isinstance(event, RevertFinished):
            failed = f"; NOT restored: {', '.join(event.failed)}" if event.failed else ""
            return f"revert finished in {event.seconds:.2f}s: {len(event.restored)} restored{failed}"
        if isinstance(event, DeployFinished):
            return f"deploy {event.status}" + (f": {event.reason}" if event.reason else "")
        return ""

    def _table(self) -> Any:
        from rich.table import Table

        table = Table(title=self.phase or "starting", title_justify="left", box=None, pad_edge=False)
        for col in ("INSTANCE", "PHASE", "STATE", "ERRORS", "P99", "LATENCY", "DETAIL"):
            table.add_column(col, no_wrap=col != "DETAIL")
        for row in self.rows.values():
            table.add_row(row.name, str(row.phase or "-"), f"[{_STYLE.get(row.state, '')}]{row.state}[/]",
                          fmt_rate(row.error_rate), fmt_ms(row.p99_ms), fmt_ms(row.latency_ms), row.detail[:60])
        return table

    @contextmanager
    def suspended(self) -> Iterator[None]:
        """The live table stops redrawing while a question is asked on the terminal."""
        if self._live is None:
            yield
            return
        with self._lock:
            self._live.stop()
        try:
            yield
        finally:
            with self._lock:
                self._live.start()

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
