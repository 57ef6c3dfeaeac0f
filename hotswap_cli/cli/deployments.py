"""`hotswap deployments [PROFILE]`: the deployment ledger, newest first; `hotswap deployments show
ID`: one record in full (text, markdown or HTML)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from hotswap_cli.cli.context import JSON_OPTION, env_of

COLUMNS = ("ID", "WHEN", "WHO", "VERSION", "STRATEGY", "STATUS", "REASON")
LIST = "list"


class _ListByDefault(TyperGroup):
    """`deployments [PROFILE] [options]` is `deployments list ...`: only `show` (and `list`) name a
    subcommand, so the listing keeps its old command line (a profile named `show` is `list show`)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args or args[0] not in self.commands:
            help_only = bool(args) and args[0] in ("-h", "--help")
            if not help_only:
                args = [LIST, *args]
        return super().parse_args(ctx, args)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        """The listing's help (its old usage line and options), then a word on `show`."""
        listing = self.commands[LIST]
        listing.format_help(type(ctx)(listing, info_name=ctx.info_name, parent=ctx.parent), formatter)
        with formatter.section("Commands"):
            formatter.write_dl([("show ID", "One deployment in full, as text, markdown or HTML (see "
                                            "`hotswap deployments show --help`).")])


deployments = typer.Typer(
    cls=_ListByDefault, name="deployments", no_args_is_help=False, invoke_without_command=False,
    help="The deployment ledger: `deployments [PROFILE]` lists runs (id, when, who, version, strategy, status, "
         "reason); `deployments show ID` prints one in full.")


@deployments.command(LIST)
def list_deployments(
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
    if profile and not records:
        from hotswap_cli.core.versions.release import require_profile

        require_profile(git_repo, profile)  # a typo is not "no deployments recorded"
    running = _running_row(git_repo, profile, records) if profile and not offline and not problem else None
    if running is not None:
        records = [running, *records]
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


def _running_row(git_repo: Any, profile: str, records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The profile's run in progress (its live record, the open journal) as the list's first row."""
    from hotswap_cli.core.deploy import journal, lock

    current = journal.read_open(git_repo, profile, records)
    if current is None:
        return None
    holder = lock.read_holder(git_repo, profile)
    alive = holder is not None and not holder.stale and current.state != "needs_recovery"
    status = ("paused" if current.paused else "running") if alive else "interrupted"
    return {"id": current.id, "kind": current.kind, "profile": profile, "version": current.version,
            "strategy": current.strategy, "who": current.who, "host": current.host,
            "started_at": current.started_at, "status": status, "reason": current.summary(),
            "phase": current.phase, "phases": current.phases, "live": True}


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
        unsent = RepoError(exc.message, hint=exc.hint)
        unsent.exit_code = ExitCode.UNRECORDED  # the records are still only here
        raise unsent from None
    if env.json:
        env.print_json({"pushed": waiting})
    elif waiting:
        env.message(f"sent the pending ledger records of {', '.join(waiting)} to origin", "green")
    else:
        env.message("nothing to send: origin has every record of this clone")


@deployments.command("show")
def show(
    ctx: typer.Context,
    record_id: str = typer.Argument(..., metavar="ID", help="The record's id (or its first 8+ characters)."),
    profile: str = typer.Option(None, "--profile", "-p", help="Look only in this profile's ledger."),
    fmt: str = typer.Option("text", "--format", "-f", help="text, markdown (a PR comment or CI step summary) or "
                            "html (one self-contained file with health charts)."),
    output: Path = typer.Option(None, "--output", "-o", metavar="FILE",
                                help="Write the report to FILE (with --json: stdout still gets the record)."),
    offline: bool = typer.Option(False, "--offline", help="Read the local ledger without fetching origin."),
    json_output: bool = JSON_OPTION,
) -> None:
    """One deployment in full: each instance's states with times, every verdict with its numbers, who
    approved, and the config diff from what the profile ran before (secrets masked)."""
    from hotswap_cli.cli.report import FORMATS, render
    from hotswap_cli.core.deploy.ledger import refresh
    from hotswap_cli.core.deploy.report import build_report, find_record
    from hotswap_cli.core.secrets.crypto import load_key
    from hotswap_cli.core.versions.git import GitRepo
    from hotswap_cli.errors import HotswapError, UsageError

    if fmt not in FORMATS:
        raise UsageError(f"--format must be {', '.join(FORMATS[:-1])} or {FORMATS[-1]}, not {fmt!r}")
    env = env_of(ctx, json=json_output)
    git_repo = GitRepo(env.root)
    problem = None if offline else refresh(git_repo)
    if problem:
        env.message(f"hotswap: warning: {problem}; showing the local ledger")
    record = find_record(git_repo, record_id, profile)
    if env.json:  # stdout: the record; --output still gets the report in --format
        env.print_json(record)
        if output is None:
            return
    text = render(build_report(git_repo, record, key=load_key()), fmt)
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise HotswapError(f"cannot write {output}: {exc.strerror or exc}") from None
    env.message(f"wrote {output}")
