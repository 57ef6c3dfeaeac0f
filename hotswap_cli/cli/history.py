"""`hotswap history PROFILE`: commits that changed its rendered config, with their versions."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from contextlib import closing
from itertools import islice
from typing import TYPE_CHECKING

import typer

from hotswap_cli.cli.context import JSON_OPTION, env_of
from hotswap_cli.core.config.profile import read_profile
from hotswap_cli.errors import UsageError

if TYPE_CHECKING:
    from hotswap_cli.cli.env import Env
    from hotswap_cli.core.versions.history import HistoryEntry

_MAX_KEYS_SHOWN = 8
PAGE = 20  # entries a person sees by default: `git log`'s first screen, not years of history


def history(
    ctx: typer.Context,
    profile: str = typer.Argument(..., help="Profile name."),
    rev: str = typer.Option("HEAD", "--rev", help="Start from this revision."),
    limit: int | None = typer.Option(None, "--limit", "-n", min=1, show_default=False,
                                     help=f"At most this many entries, newest first [default: {PAGE}; with "
                                          "--json: all]."),
    everything: bool = typer.Option(False, "--all", help="Every entry, down to the first commit."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Every commit that changed the profile's rendered config (templates and schema included)."""
    from hotswap_cli.core.versions.git import GitRepo
    from hotswap_cli.core.versions.history import iter_history

    env = env_of(ctx, json=json_output)
    if everything and limit is not None:
        raise UsageError("--limit and --all: give one of them")
    # a page for people; a script (--json) gets the whole history unless it asks for less
    most = None if everything or (env.json and limit is None) else (limit or PAGE)
    walk = iter_history(GitRepo(env.root), profile, rev)
    with closing(walk):  # a page ends the walk (and its git log) here, not at exit
        _print(env, profile, islice(walk, most), most)


def _print(env: Env, profile: str, entries: Iterable[HistoryEntry], most: int | None) -> None:
    if env.json:
        from hotswap_cli.cli.jsonout import utc

        found = [{**e.to_dict(), "date": utc(e.date)} for e in entries]
        if not found:
            read_profile(env.repo, profile)  # an unknown profile is an error, not an empty history
        env.print_json(found)
        return
    styled = env.color and sys.stdout.isatty()  # rich (a 70 ms import) only where colour shows
    shown = 0
    for e in entries:  # printed as found: the history of a long-lived repo streams
        tags = f"  ({', '.join(e.versions)})" if e.versions else ""
        head = f"{e.commit[:12]}  {e.date}  {e.author}{tags}"
        if styled:
            env.out.print(head, style="yellow", markup=False)
        lines = [] if styled else [head]
        lines.append(f"    {e.message}")
        notes = [e.note] if e.note else []
        if e.schema_changed:
            notes.append("schema changed")
        if notes:
            lines.append(f"    [{'; '.join(notes)}]")
        if e.changed:
            keys = ", ".join(e.changed[:_MAX_KEYS_SHOWN])
            more = f" and {len(e.changed) - _MAX_KEYS_SHOWN} more" if len(e.changed) > _MAX_KEYS_SHOWN else ""
            lines.append(f"    changed: {keys}{more}")
        sys.stdout.write("".join(f"{line}\n" for line in lines))
        sys.stdout.flush()
        shown += 1
    if not shown:
        read_profile(env.repo, profile)
        env.message(f"no commit changed {profile}")
    elif shown == most:
        env.message(f"(the newest {shown}; older ones: --limit N or --all)")
