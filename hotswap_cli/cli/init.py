"""`hotswap init [DIR]`: scaffold a config repo."""

from __future__ import annotations

from pathlib import Path

import typer

from hotswap_cli.cli.context import env_of


def init(ctx: typer.Context, directory: Path = typer.Argument(Path("."), help="Where to create it.")) -> None:
    """Create hotswap.yaml, a schema, a template and a profile that validate as created."""
    from hotswap_cli.core.config.scaffold import init_repo

    env = env_of(ctx)
    result = init_repo(directory if directory.is_absolute() else env.cwd / directory)
    if env.json:
        env.print_json({"directory": str(result.root), "files": list(result.files),
                        "git_initialised": result.git_initialised})
        return
    for f in result.files:
        env.out.print(f"created {f}", markup=False)
    if result.git_initialised:
        env.message("initialised a git repository and committed the scaffold")
    env.message(f"next: cd {directory} && hotswap validate")
