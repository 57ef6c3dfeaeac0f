"""`hotswap promote|resume|abort PROFILE`: steer a running deploy from any terminal or CI job that can
push to the config repo's origin. The run polls for the order (within a few seconds) and its live
record says when it took it."""

from __future__ import annotations

import typer

from hotswap_cli.cli.context import JSON_OPTION, env_of

PROFILE = typer.Argument(..., metavar="PROFILE", help="Profile name, e.g. payment-service.production.")
WAIT = typer.Option(30.0, "--wait", metavar="SECONDS", help="How long to wait for the run to take the order.")


def promote(ctx: typer.Context, profile: str = PROFILE,
            full: bool = typer.Option(False, "--full", help="Every remaining phase now: no more bakes, gates or "
                                                            "pauses."),
            wait: float = WAIT, json_output: bool = JSON_OPTION) -> None:
    """End the current bake or pause of a running deploy as passed and go on (--full: to 100% now)."""
    _send(ctx, profile, "promote", full, wait, json_output)


def resume(ctx: typer.Context, profile: str = PROFILE, wait: float = WAIT, json_output: bool = JSON_OPTION) -> None:
    """Resume a deploy paused by a pause step (`--steps 10,pause,50,100`) or an inconclusive gate."""
    _send(ctx, profile, "resume", False, wait, json_output)


def abort(ctx: typer.Context, profile: str = PROFILE, wait: float = WAIT, json_output: bool = JSON_OPTION) -> None:
    """Abort a running deploy: it reverts every instance it touched, as a failed gate does, and ends with
    exit code 9."""
    _send(ctx, profile, "abort", False, wait, json_output)


def _send(ctx: typer.Context, profile: str, action: str, full: bool, wait: float, json_output: bool) -> None:
    from hotswap_cli.ops.control import send_order

    env = env_of(ctx, json=json_output)
    sent = send_order(env.root, profile, action, full=full, wait=wait)
    what = f"{action}{' --full' if full else ''} ({sent.control.id}) to {sent.run.id}"
    if env.json:
        env.print_json({"profile": profile, "action": action, "full": full, "id": sent.control.id,
                        "run": sent.run.id, "taken": sent.taken,
                        "ended": {k: sent.ended.get(k) for k in ("id", "status", "exit_code")} if sent.ended else None})
    if sent.taken and sent.ended is not None:
        env.message(f"{what}: taken; the run has ended: {sent.ended.get('status')} "
                    f"(exit {sent.ended.get('exit_code')})")
        return
    if sent.taken:
        env.message(f"{what}: taken; {sent.run.summary()}")
        return
    if sent.ended is not None:
        env.message(f"{what}: the run ended before taking it ({sent.ended.get('status')}, exit "
                    f"{sent.ended.get('exit_code')})")
    else:
        env.message(f"{what}: sent, but the run has not taken it within {wait:g}s; it polls every few seconds "
                    f"(`hotswap watch {profile}` shows when it does)")
    raise typer.Exit(1)
