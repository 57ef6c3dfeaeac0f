"""`hotswap watch PROFILE`: follow a running deploy from any machine that can fetch the config repo's
origin: its phase, every instance's state and latest health figures, a pause and who resumed it;
exits with the deploy's own exit code when it ends."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import typer

from hotswap_cli.cli.context import JSON_OPTION, env_of

if TYPE_CHECKING:
    from hotswap_cli.cli.env import Env
    from hotswap_cli.core.deploy.journal import Journal


def watch(
    ctx: typer.Context,
    profile: str = typer.Argument(..., metavar="PROFILE", help="Profile name, e.g. payment-service.production."),
    interval: float = typer.Option(1.0, "--interval", metavar="SECONDS", help="How often to read the live record."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Follow a running deploy live (a table on a terminal, lines otherwise) until it ends, and exit
    with the deploy's own exit code."""
    from hotswap_cli.ops.control import follow

    env = env_of(ctx, json=json_output)
    view = _View(env)
    try:
        record = follow(env.root, profile, view.show, interval=max(0.1, interval))
    finally:
        view.close()
    code = int(record.get("exit_code") or 0)
    if env.json:
        env.print_json_line({"event": "result", **{k: record.get(k) for k in (
            "id", "kind", "profile", "version", "status", "exit_code", "reason", "started_at", "finished_at",
            "duration_s")}})
    else:
        env.message(f"{record.get('id')}: {record.get('status')} (exit {code})"
                    + (f": {record.get('reason')}" if record.get("reason") else ""))
    if code:
        raise typer.Exit(code)


class _View:
    """A rich Live table on a terminal; else one line per change (summary and instances that changed)."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.last: dict[str, str] = {}
        self.summary = ""
        self.live: Any = None
        if not env.json and sys.stderr.isatty():
            from rich.console import Console
            from rich.live import Live

            self.live = Live(console=Console(file=sys.stderr, no_color=not env.color), refresh_per_second=4)
            self.live.start()

    def show(self, run: Journal) -> None:
        if self.env.json:
            self.env.print_json_line({"event": "live_record", **run.to_dict(), "summary": run.summary()})
            return
        if self.live is not None:
            self.live.update(self._table(run))
            return
        summary = run.summary()
        if summary != self.summary:
            self.summary = summary
            self.env.message(summary)
        for name, entry in sorted(run.instances.items()):
            line = f"  {name}: {entry.state}{_figures(entry.health)}"
            if self.last.get(name) != line:
                self.last[name] = line
                self.env.message(line)

    def _table(self, run: Journal) -> Any:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        table = Table(box=None, pad_edge=False)
        for col in ("INSTANCE", "STATE", "HEALTH"):
            table.add_column(col)
        for name, entry in sorted(run.instances.items()):
            table.add_row(name, entry.state, _figures(entry.health).strip(" ,") or "-")
        return Group(Text(run.summary(), style="bold"), table, Text("Ctrl-C stops watching (the deploy goes on)",
                                                                    style="dim"))

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()


def _figures(health: dict[str, Any] | None) -> str:
    if not health:
        return ""
    parts = []
    if health.get("error_rate") is not None:
        parts.append(f"err {health['error_rate'] * 100:.2f}%")
    if health.get("p99_ms") is not None:
        parts.append(f"p99 {health['p99_ms']:.0f}ms")
    if health.get("ok") is not None:
        parts.append(f"{health.get('probe')} {'ok' if health['ok'] else 'FAILING'}")
    elif health.get("no_data"):
        parts.append("no data")
    return (", " + ", ".join(parts)) if parts else ""
