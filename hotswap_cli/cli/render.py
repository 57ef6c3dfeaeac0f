"""`hotswap render PROFILE`: the merged config, as YAML or JSON."""

from __future__ import annotations

import json
import sys

import typer

from hotswap_cli.cli.context import env_of
from hotswap_cli.core.config.profile import load_profile


def render(
    ctx: typer.Context,
    profile: str = typer.Argument(..., help="Profile name, e.g. payment-service.production."),
    fmt: str = typer.Option("yaml", "--format", "-f", help="yaml or json."),
) -> None:
    """Print a profile's rendered config (templates merged under its own config); secrets masked."""
    from hotswap_cli.core.config.render import render_profile
    from hotswap_cli.core.config.yamlsrc import dump_yaml
    from hotswap_cli.core.secrets.crypto import mask_config
    from hotswap_cli.errors import UsageError

    if fmt not in ("yaml", "json"):
        raise UsageError(f"--format must be yaml or json, not {fmt!r}")
    env = env_of(ctx)
    repo = env.repo
    loaded = load_profile(repo, profile)
    data = mask_config(render_profile(repo, loaded).data, repo.load_schema(loaded.schema)[0])
    if fmt == "json" or env.json:
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(dump_yaml(data))
