"""`hotswap unlock PROFILE --force`: show who holds a profile's deploy lock, and break it on request."""

from __future__ import annotations

from typing import Any

import typer

from hotswap_cli.cli.context import JSON_OPTION, env_of


def unlock(
    ctx: typer.Context,
    profile: str = typer.Argument(..., help="Profile name, e.g. payment-service.production."),
    force: bool = typer.Option(False, "--force", help="Break the lock (only when its deploy is gone)."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Show a profile's deploy lock holder (exit 5 while held); --force breaks a stale lock."""
    from hotswap_cli.core.deploy.lock import read_holder
    from hotswap_cli.core.deploy.lock import unlock as break_lock
    from hotswap_cli.core.versions.git import GitRepo
    from hotswap_cli.errors import LockHeld

    env = env_of(ctx, json=json_output)
    git_repo = GitRepo(env.root)
    holder = break_lock(git_repo, profile, force=True) if force else read_holder(git_repo, profile)
    if holder is None:
        from hotswap_cli.core.versions.release import require_profile

        require_profile(git_repo, profile)  # "not locked" only for a profile that exists
    if env.json:
        held = holder is not None
        env.print_json({"profile": profile, "held": held and not force, "broken": held and force,
                        "holder": holder_dict(holder) if holder else None})
    if holder is None:
        env.message(f"{profile} is not locked")
    elif force:
        env.message(f"broke the deploy lock of {profile} held by {holder.who} on {holder.host} "
                    f"(pid {holder.pid}) since {holder.since}")
    elif env.json:  # the answer is the document above; exit 5 says the lock is held
        env.message(f"{holder.describe()} (break it with `hotswap unlock {profile} --force`)")
        raise typer.Exit(int(LockHeld.exit_code))
    else:
        raise LockHeld(holder.describe(), hint=f"break it with `hotswap unlock {profile} --force`")


def holder_dict(holder: Any) -> dict[str, Any]:
    """A lock holder for --json: who, where, since when, and whether its process is gone (no token)."""
    return {"who": holder.who, "host": holder.host, "pid": holder.pid, "since": holder.since,
            "purpose": holder.purpose or None, "mode": holder.mode, "stale": holder.stale}
