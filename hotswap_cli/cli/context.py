"""Typer glue shared by commands: the `--json` option and the invocation's Env."""

from __future__ import annotations

import typer

from hotswap_cli.cli.env import Env

__all__ = ["JSON_OPTION", "Env", "env_of"]

JSON_OPTION = typer.Option(False, "--json", help="Machine-readable output on stdout.")


def env_of(ctx: typer.Context, *, json: bool = False) -> Env:
    """The invocation's Env; `--json` may be given before or after the command name."""
    obj = ctx.find_root().obj
    if not isinstance(obj, Env):
        obj = Env()
        ctx.find_root().obj = obj
    obj.json = obj.json or json
    return obj
