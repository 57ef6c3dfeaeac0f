"""`hotswap profiles`: a table of the repo's profiles."""

from __future__ import annotations

import typer

from hotswap_cli.cli.context import JSON_OPTION, env_of
from hotswap_cli.core.config.profile import load_profile


def profiles(ctx: typer.Context, json_output: bool = JSON_OPTION) -> None:
    """List profiles: name, environment, serviceType, schema, strategy, targets."""
    env = env_of(ctx, json=json_output)
    repo = env.repo
    rows = [load_profile(repo, name) for name in repo.profile_names()]
    if env.json:
        env.print_json([
            {"name": p.name, "environment": p.environment, "serviceType": p.service_type,
             "schema": str(p.schema), "strategy": p.strategy.type, "targets": len(p.targets),
             "description": p.description}
            for p in rows
        ])
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for col in ("PROFILE", "ENVIRONMENT", "TYPE", "SCHEMA", "STRATEGY", "TARGETS"):
        table.add_column(col, justify="right" if col == "TARGETS" else "left")
    for p in rows:
        table.add_row(p.name, p.environment, p.service_type, str(p.schema), p.strategy.type, str(len(p.targets)))
    env.out.print(table)
