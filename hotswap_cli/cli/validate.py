"""`hotswap validate`: every error of every selected profile, as file:line:col  $.path  message."""

from __future__ import annotations

import typer

from hotswap_cli.cli.context import JSON_OPTION, env_of
from hotswap_cli.cli.fast_validate import run


def validate(
    ctx: typer.Context,
    items: list[str] = typer.Argument(None, help="Profiles or changed file paths (default: every profile)."),
    json_output: bool = JSON_OPTION,
    no_cache: bool = typer.Option(False, "--no-cache", help="Re-validate even unchanged profiles."),
) -> None:
    """Validate profiles against their schemas (exit 0 valid, 3 invalid, 1 unusable input)."""
    code = run(env_of(ctx, json=json_output), items or [], no_cache=no_cache)
    if code:
        raise typer.Exit(code)
