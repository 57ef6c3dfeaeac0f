"""`hotswap deployments [PROFILE]`: the deployment ledger, newest first."""

from __future__ import annotations

from typing import Any

import typer

from hotswap_cli.cli.context import JSON_OPTION, env_of

COLUMNS = ("ID", "WHEN", "WHO", "VERSION", "STRATEGY", "STATUS", "REASON")


def deployments(
    ctx: typer.Context,
    profile: str = typer.Argument(None, help="Profile name (default: every profile)."),
    limit: int = typer.Option(20, "--limit", "-n", min=0, help="Show at most N records (0: all)."),
    offline: bool = typer.Option(False, "--offline", help="Read the local ledger without fetching origin."),
    push: bool = typer.Option(False, "--push", help="Send records this clone holds that origin lacks; exit 8 "
                              "if they still cannot reach it."),
    json_output: bool = JSON_OPTION,
) -> None:
    """List deployments and rollbacks: id, when, who, version, strategy, status, reason."""
    from hotswap_cli.core.deploy.ledger import read_records, refresh
    from hotswap_cli.core.versions.git import GitRepo

    env = env_of(ctx, json=json_output)
    git_repo = GitRepo(env.root)
    if push:
        _push(env, git_repo)
        return
    problem = None if offline else refresh(git_repo)
    if problem:
        env.message(f"hotswap: warning: {problem}; showing the local ledger")
    records = read_records(git_repo, profile, limit or None)
    if env.json:
        env.print_json(records)
        return
    if not records:
        env.message(f"no deployments recorded{f' for {profile}' if profile else ''}")
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    columns = COLUMNS if profile else ("ID", "PROFILE", *COLUMNS[1:])
    for col in columns:
        table.add_column(col, overflow="fold" if col == "REASON" else "ellipsis")
    for r in records:
        cells = {"ID": r.get("id", ""), "PROFILE": r.get("profile", ""),
                 "WHEN": str(r.get("started_at", "")).replace("T", " ").rstrip("Z"),
                 "WHO": r.get("who", ""), "VERSION": r.get("version", ""), "STRATEGY": r.get("strategy", ""),
                 "STATUS": r.get("status", ""), "REASON": r.get("reason") or "-"}
        if r.get("kind") == "rollback":
            cells["STRATEGY"] = "rollback"
        table.add_row(*(str(cells[c]) for c in columns))
    env.out.print(table)


def _push(env: Any, git_repo: Any) -> None:
    """`deployments --push`: fetch, rebase this clone's pending records on origin's and send them."""
    from hotswap_cli.core.deploy.ledger import fetch_ledger, pending, push_ledger
    from hotswap_cli.errors import ExitCode, RepoError

    try:
        fetch_ledger(git_repo)
    except RepoError as exc:
        env.message(f"hotswap: warning: {exc.message}")
    waiting = pending(git_repo)
    try:
        push_ledger(git_repo, waiting)
    except RepoError as exc:
        if env.json:
            env.print_json({"pushed": [], "pending": waiting, "error": exc.message})
        env.message(f"hotswap: {exc.message}" + (f" ({exc.hint})" if exc.hint else ""))
        raise typer.Exit(ExitCode.UNRECORDED) from None
    if env.json:
        env.print_json({"pushed": waiting, "pending": []})
    elif waiting:
        env.message(f"sent the pending ledger records of {', '.join(waiting)} to origin", "green")
    else:
        env.message("nothing to send: origin has every record of this clone")
