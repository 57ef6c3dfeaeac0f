"""`hotswap rollback PROFILE [--to VERSION]`: every instance back on an earlier version, at once."""

from __future__ import annotations

from pathlib import Path

import typer

from hotswap_cli.cli.context import JSON_OPTION, env_of


def rollback(
    ctx: typer.Context,
    profile: str = typer.Argument(..., help="Profile name."),
    to: str = typer.Option(None, "--to", help="Version to go back to (default: the previous good one)."),
    targets: str = typer.Option(None, "--targets", help="Only these instances, comma-separated."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan and stop."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    wait_for_lock: str = typer.Option("0", "--wait-for-lock", help="Wait this long for another deploy."),
    approvers: Path = typer.Option(None, "--approvers", envvar="HOTSWAP_APPROVERS",
                                   help="Trusted approvers file (default: from the default branch)."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Push an earlier version to all instances in parallel, no bake; recorded in the ledger."""
    from hotswap_cli.cli.deploy import _duration, run_deployment
    from hotswap_cli.core.deploy import prepare_rollback

    env = env_of(ctx, json=json_output)
    names = tuple(t.strip() for t in targets.split(",") if t.strip()) if targets else None
    deployment = prepare_rollback(env.root, profile, to, targets=names, approvers_path=approvers)
    code = run_deployment(env, deployment, dry_run=dry_run, yes=yes, kind="rollback",
                          lock_wait=_duration(wait_for_lock, "--wait-for-lock") or 0.0)
    if code:
        raise typer.Exit(code)
