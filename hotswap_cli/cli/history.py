"""`hotswap history PROFILE`: commits that changed its rendered config, with their versions."""

from __future__ import annotations

import typer

from hotswap_cli.cli.context import JSON_OPTION, env_of
from hotswap_cli.core.config.profile import read_profile

_MAX_KEYS_SHOWN = 8


def history(
    ctx: typer.Context,
    profile: str = typer.Argument(..., help="Profile name."),
    rev: str = typer.Option("HEAD", "--rev", help="Start from this revision."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Every commit that changed the profile's rendered config (templates and schema included)."""
    from hotswap_cli.core.versions.git import GitRepo
    from hotswap_cli.core.versions.history import profile_history

    env = env_of(ctx, json=json_output)
    entries = profile_history(GitRepo(env.root), profile, rev)
    if not entries:
        read_profile(env.repo, profile)  # an unknown profile is an error, not an empty history
    if env.json:
        from hotswap_cli.cli.jsonout import utc

        env.print_json([{**e.to_dict(), "date": utc(e.date)} for e in entries])
        return
    if not entries:
        env.message(f"no commit changed {profile}")
        return
    for e in entries:
        tags = f"  ({', '.join(e.versions)})" if e.versions else ""
        env.out.print(f"{e.commit[:12]}  {e.date}  {e.author}{tags}", style="yellow", markup=False)
        env.out.print(f"    {e.message}", markup=False)
        notes = [e.note] if e.note else []
        if e.schema_changed:
            notes.append("schema changed")
        if notes:
            env.out.print(f"    [{'; '.join(notes)}]", markup=False)
        if e.changed:
            shown = ", ".join(e.changed[:_MAX_KEYS_SHOWN])
            more = f" and {len(e.changed) - _MAX_KEYS_SHOWN} more" if len(e.changed) > _MAX_KEYS_SHOWN else ""
            env.out.print(f"    changed: {shown}{more}", markup=False)
