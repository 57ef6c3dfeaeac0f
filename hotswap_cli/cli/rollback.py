"""`hotswap rollback PROFILE [--to VERSION]`: every instance back on an earlier version, at once."""

from __future__ import annotations

from pathlib import Path

import typer

from hotswap_cli.cli.context import JSON_OPTION, env_of
from hotswap_cli.cli.deploy import (
    APPROVERS_OPTION,
    DRY_RUN_OPTION,
    TARGETS_OPTION,
    WAIT_OPTION,
    YES_OPTION,
    duration_option,
    run_deployment,
    split_names,
)


def rollback(
    ctx: typer.Context,
    profile: str = typer.Argument(..., help="Profile name."),
    to: str = typer.Option(None, "--to", help="Version to go back to (default: the previous good one)."),
    targets: str = TARGETS_OPTION,
    dry_run: bool = DRY_RUN_OPTION,
    yes: bool = YES_OPTION,
    wait_for_lock: str = WAIT_OPTION,
    approvers: Path = APPROVERS_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Push an earlier version to all instances in parallel, no bake; recorded in the ledger."""
    from hotswap_cli.core.deploy.prepare import prepare_rollback

    env = env_of(ctx, json=json_output)
    deployment = prepare_rollback(env.root, profile, to, targets=split_names(targets), approvers_path=approvers)
    code = run_deployment(env, deployment, dry_run=dry_run, yes=yes, kind="rollback",
                          lock_wait=duration_option(wait_for_lock, "--wait-for-lock") or 0.0)
    if code:
        raise typer.Exit(code)
