"""`hotswap validate`: every error of every selected profile, as file:line:col  $.path  message."""

from __future__ import annotations

from pathlib import Path

import typer

from hotswap_cli.cli.context import JSON_OPTION, Env, env_of
from hotswap_cli.errors import ConfigError, ExitCode


def validate(
    ctx: typer.Context,
    items: list[str] = typer.Argument(None, help="Profiles or changed file paths (default: every profile)."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Validate profiles against their schemas (exit 0 valid, 3 invalid, 1 unusable input)."""
    from hotswap_cli.core.validate import affected_profiles
    from hotswap_cli.core.validate import validate as run_validate

    env = env_of(ctx, json=json_output)
    if items and env.repo_option is None:
        _root_from_paths(env, items)
    repo = env.repo
    names = None
    if items:
        known = set(repo.profile_names())
        names = [i for i in items if i in known]
        paths = [i for i in items if i not in known]
        for p in paths:
            if not _looks_like_path(p):
                raise ConfigError(f"profile {p!r} not found", hint="`hotswap profiles` lists them")
        names += affected_profiles(repo, env.root, [str(env.cwd / p) for p in paths])
    report = run_validate(repo, names)
    if env.json:
        env.print_json(report.to_dict())
    else:
        for issue in report.issues:
            env.out.print(str(issue), markup=False, highlight=False)
        checked = len(report.results)
        bad = sum(1 for r in report.results if not r.ok)
        if report.ok:
            env.message(f"{checked} profile(s) valid")
        else:
            env.message(f"{len(report.issues)} error(s) in {bad} of {checked} profile(s)")
    if not report.ok:
        raise typer.Exit(ExitCode.INVALID)


def _root_from_paths(env: Env, items: list[str]) -> None:
    """pre-commit runs hooks from the git top: the config repo may be a sub-folder of it."""
    from hotswap_cli.core.configrepo import find_root

    try:
        env.root  # noqa: B018 - found from the working directory
        return
    except ConfigError:
        pass
    for item in items:
        if _looks_like_path(item):
            try:
                env.root = find_root((env.cwd / item).parent)
                return
            except ConfigError:
                continue


def _looks_like_path(item: str) -> bool:
    return "/" in item or "\\" in item or Path(item).suffix in (".yaml", ".yml", ".json") or Path(item).exists()
