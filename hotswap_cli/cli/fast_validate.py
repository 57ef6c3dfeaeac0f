"""`hotswap validate`: the report logic, and a start-up path that skips typer for the plain
invocations a pre-commit hook makes (typer's option parsing costs ~0.2 s before any work)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hotswap_cli.cli.env import Env
from hotswap_cli.errors import ConfigError, ExitCode

_GLOBAL_FLAGS = {"--json": "json", "--no-color": "no_color"}
_COMMAND_FLAGS = {"--json": "json", "--no-cache": "no_cache"}


def run_if_simple(argv: list[str]) -> None:
    """Run `[--repo R] [--json] [--no-color] validate [--json] [--no-cache] [ITEM...]` and exit;
    return (doing nothing) for any other command line, which typer then handles."""
    flags = {"json": False, "no_color": False, "no_cache": False}
    repo: str | None = None
    items: list[str] = []
    args = iter(argv)
    for arg in args:  # global options, up to the command name
        if arg == "--repo":
            repo = next(args, None)
            if repo is None:
                return
        elif arg.startswith("--repo="):
            repo = arg.split("=", 1)[1]
        elif arg in _GLOBAL_FLAGS:
            flags[_GLOBAL_FLAGS[arg]] = True
        elif arg == "validate":
            break
        else:
            return
    else:
        return
    for arg in args:
        if arg == "--":
            items.extend(args)
        elif arg in _COMMAND_FLAGS:
            flags[_COMMAND_FLAGS[arg]] = True
        elif arg.startswith("-"):
            return  # --help and friends: typer
        else:
            items.append(arg)
    from hotswap_cli.cli.boundary import run_guarded

    env = Env(repo_option=Path(repo) if repo is not None else None, json=flags["json"], no_color=flags["no_color"])
    run_guarded(lambda: run(env, items, no_cache=flags["no_cache"]))


def run(env: Env, items: list[str], *, no_cache: bool = False) -> int:
    """Validate what `items` name (profiles or changed files; all profiles when empty); print
    the report; return 0 valid or 3 invalid."""
    from hotswap_cli.core.config.validate import affected_profiles
    from hotswap_cli.core.config.validate import validate as run_validate

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
    report = run_validate(repo, names, use_cache=not no_cache)
    schema_changed = any(_is_schema(env, p) for p in items)
    if names is None or schema_changed:
        report = _with_evolution(repo, report, history=schema_changed)
    if env.json:
        env.print_json(report.to_dict())
    else:
        import sys

        sys.stdout.write("".join(f"{issue}\n" for issue in report.issues))
        for warning in report.warnings:
            env.message(f"warning: {warning}")
        checked = len(report.results)
        bad = sum(1 for r in report.results if not r.ok)
        if report.ok:
            env.message(f"{checked} profile(s) valid")
        else:
            env.message(f"{len(report.issues)} error(s) in {bad} of {checked} profile(s)")
    return ExitCode.OK if report.ok else ExitCode.INVALID


def _is_schema(env: Env, item: str) -> bool:
    """A changed file under the repo's schemas/ (what makes validate check schema evolution)."""
    try:
        relative = (env.cwd / item).resolve().relative_to(env.root.resolve())
    except ValueError:
        return False
    return relative.parts[:1] == ("schemas",)


def _with_evolution(repo: Any, report: Any, *, history: bool) -> Any:
    """The report plus schema evolution and schema status (ops.schema_evolution)."""
    from dataclasses import replace

    from hotswap_cli.ops.schema_evolution import evolution_for

    found = evolution_for(repo, [r.profile for r in report.results], history=history)
    return replace(report, repo_issues=tuple(report.repo_issues) + tuple(found.errors),
                   warnings=tuple(report.warnings) + tuple(found.warnings))


def _root_from_paths(env: Env, items: list[str]) -> None:
    """pre-commit runs hooks from the git top: the config repo may be a sub-folder of it."""
    from hotswap_cli.core.config.configrepo import find_root

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
