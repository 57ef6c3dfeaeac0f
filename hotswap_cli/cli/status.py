"""`hotswap status PROFILE`: each instance's running version (by hash), health, drift."""

from __future__ import annotations

from typing import Any

import typer

from hotswap_cli.cli.context import JSON_OPTION, env_of


def status(
    ctx: typer.Context,
    profile: str = typer.Argument(..., help="Profile name."),
    json_output: bool = JSON_OPTION,
) -> None:
    """What each instance runs now (a version, or drift), its health, and the last deployment."""
    from hotswap_cli.ops.status import profile_status

    env = env_of(ctx, json=json_output)
    report = profile_status(env.root, profile)
    if env.json:
        env.print_json(status_dict(report))
    else:
        from rich.table import Table

        table = Table(box=None, pad_edge=False)
        for col in ("INSTANCE", "RUNNING", "SHA256", "DRIFT", "HEALTH"):
            table.add_column(col)
        for row in report.instances:
            health = row.error or row.health
            table.add_row(row.instance, row.running, (row.sha256 or "-")[:12], "yes" if row.drifted else "no",
                          health, style="red" if row.drifted or row.healthy is False else None)
        env.out.print(table)
        last = report.last_deployment
        if last:
            env.message(f"last deployment: {last.get('id')} {last.get('kind')} {last.get('version')} "
                        f"{last.get('status')} by {last.get('who')} at {last.get('started_at')}")
        else:
            env.message("no deployment recorded yet")
        run = report.run
        if run is not None and run.state == "running":
            env.message(f"{run.summary}; follow it with `hotswap watch {report.profile}`")
        elif run is not None:
            env.message(f"INTERRUPTED: {run.description}; instances: "
                        + ", ".join(f"{n} {s}" for n, s in run.instances.items())
                        + f"; put them back with `hotswap rollback {report.profile}`"
                        + (f" ({run.lock})" if run.lock else ""))
        elif report.lock:
            env.message(f"lock: {report.lock}")
    if report.problem:
        raise typer.Exit(1)


def status_dict(report: Any) -> dict[str, Any]:
    """`status --json`: each instance's health as fields (a state, the figures, each probe's reading)."""
    data = report.to_dict()
    data["instances"] = [_instance(row) for row in report.instances]
    data["problem"] = report.problem
    return data


def _instance(row: Any) -> dict[str, Any]:
    readings = list(row.readings)

    def first(key: str) -> Any:
        return next((r[key] for r in readings if r.get(key) is not None), None)

    if not readings:
        state = "no_probes"
    elif row.healthy is True:
        state = "healthy"
    elif row.healthy is False:
        state = "failing"  # a check failed, or a probe could not be set up
    elif all(r.get("no_data") for r in readings):
        state = "no_data"
    else:
        state = "measured"  # figures (error rate, p99) but no pass/fail check: status has no baseline
    return {"instance": row.instance, "running": row.running, "version": row.version, "sha256": row.sha256,
            "drifted": row.drifted, "reachable": row.error is None, "error": row.error, "healthy": row.healthy,
            "health": {"state": state, "checks_ok": row.healthy, "error_rate": first("error_rate"),
                       "p99_ms": first("p99_ms"), "latency_ms": first("latency_ms"), "probes": readings,
                       "summary": row.health}}
