"""`hotswap validate`: the report logic, and a start-up path that skips typer for the plain
invocations a pre-commit hook makes (typer's option parsing costs ~0.2 s before any work)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hotswap_cli.cli.env import Env
from hotswap_cli.errors import ConfigError, ExitCode, UsageError

if TYPE_CHECKING:
    from hotswap_cli.core.config.validate import ValidationReport

FORMATS = ("text", "json", "github", "gitlab")
_GLOBAL_FLAGS = {"--json": "json", "--no-color": "no_color"}
_COMMAND_FLAGS = {"--json": "json", "--no-cache": "no_cache"}


def run_if_simple(argv: list[str]) -> None:
    """Run `[--repo R] [--json] [--no-color] validate [--json] [--no-cache] [--format F] [ITEM...]`
    and exit; return (doing nothing) for any other command line, which typer then handles."""
    flags = {"json": False, "no_color": False, "no_cache": False}
    repo: str | None = None
    output: str | None = None
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
        elif arg == "--format" or arg.startswith("--format="):
            output = arg.split("=", 1)[1] if "=" in arg else next(args, None)
            if output not in FORMATS:
                return  # typer names the choices
        elif arg.startswith("-"):
            return  # --help and friends: typer
        else:
            items.append(arg)
    from hotswap_cli.cli.boundary import run_guarded

    env = Env(repo_option=Path(repo) if repo is not None else None, json=flags["json"], no_color=flags["no_color"])
    run_guarded(lambda: run(env, items, no_cache=flags["no_cache"], output=output),
                json=flags["json"] or output == "json")


def run(env: Env, items: list[str], *, no_cache: bool = False, output: str | None = None) -> int:
    """Validate what `items` name (profiles or changed files; all profiles when empty); print
    the report in `output` format; return 0 valid or 3 invalid. Under pre-commit (it sets
    PRE_COMMIT=1) the items are the files its pattern matched: those not part of the config are
    skipped, not refused."""
    from hotswap_cli.core.config.selection import select_profiles
    from hotswap_cli.core.config.validate import validate as run_validate

    output = _output_format(env, output)
    hook = os.environ.get("PRE_COMMIT") == "1"
    if items and env.repo_option is None and not _root_from_paths(env, items) and hook:
        env.message("no config repo among the files: nothing to validate")
        return ExitCode.OK
    repo = env.repo
    selection = select_profiles(repo, env.root, env.cwd, items, hook=hook)
    report = run_validate(repo, selection.names, use_cache=not no_cache)
    if selection.names is None or selection.schema_changed:
        report = _with_evolution(repo, report, history=selection.schema_changed)
    if output == "json":
        env.print_json(report.to_dict())
        return ExitCode.OK if report.ok else ExitCode.INVALID
    if output == "text":
        sys.stdout.write("".join(f"{finding}\n" for finding in report.findings))
        for warning in report.warning_findings:
            env.message(f"warning: {warning}")
    elif output == "github":
        sys.stdout.write(github_commands(report, _git_prefix(env.root)))
    else:
        sys.stdout.write(gitlab_report(report, _git_prefix(env.root)))
    _summary(env, report)
    return ExitCode.OK if report.ok else ExitCode.INVALID


def _output_format(env: Env, output: str | None) -> str:
    if env.json and output not in (None, "json"):
        raise UsageError(f"--json and --format {output} ask for two outputs", hint="choose one")
    return "json" if env.json else output or "text"


def _summary(env: Env, report: ValidationReport) -> None:
    checked = len(report.results)
    bad = sum(1 for r in report.results if not r.ok)
    if report.ok:
        env.message(f"{checked} profile(s) valid")
    else:
        env.message(f"{len(report.findings)} error(s) in {bad} of {checked} profile(s)")


def _with_evolution(repo: Any, report: Any, *, history: bool) -> Any:
    """The report plus schema evolution and schema status (ops.schema_evolution)."""
    from dataclasses import replace

    from hotswap_cli.ops.schema_evolution import evolution_for

    found = evolution_for(repo, [r.profile for r in report.results], history=history)
    return replace(report, repo_issues=tuple(report.repo_issues) + tuple(found.errors),
                   warnings=tuple(report.warnings) + tuple(found.warnings))


def _root_from_paths(env: Env, items: list[str]) -> bool:
    """Whether there is a config repo: pre-commit runs hooks from the git top, and the config repo
    may be a sub-folder of it, found from the paths it passes."""
    from hotswap_cli.core.config.configrepo import find_root
    from hotswap_cli.core.config.selection import looks_like_path

    try:
        env.root  # noqa: B018 - found from the working directory
        return True
    except ConfigError:
        pass
    for item in items:
        if looks_like_path(item, env.cwd):
            try:
                env.root = find_root((env.cwd / item).parent)
                return True
            except ConfigError:
                continue
    return False


def _git_prefix(root: Path) -> str:
    """The config repo's folder within its git checkout ('' at the top, or outside git): CI
    annotations name files from the checkout's top."""
    for directory in (root, *root.parents):
        if (directory / ".git").exists():
            rel = root.relative_to(directory).as_posix()
            return "" if rel == "." else rel + "/"
    return ""


def github_commands(report: ValidationReport, prefix: str = "") -> str:
    """GitHub Actions workflow commands: an `::error` (`::warning`) annotation per finding, at its
    file and line in the checkout (`prefix`: the config repo's folder there)."""
    lines = []
    for level, findings in (("error", report.findings), ("warning", report.warning_findings)):
        for finding in findings:
            loc = finding.issue.location
            props = [f"file={_github_property(prefix + loc.file)}"]
            if loc.line:
                props.append(f"line={loc.line}")
                if loc.column:
                    props.append(f"col={loc.column}")
            props.append("title=hotswap validate")
            lines.append(f"::{level} {','.join(props)}::{_github_data(finding.what)}\n")
    return "".join(lines)


def _github_data(text: str) -> str:
    """A command's message, escaped as GitHub's toolkit does (escapeData)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _github_property(text: str) -> str:
    """A command's property value (escapeProperty): the message's escapes, and ':' and ','."""
    return _github_data(text).replace(":", "%3A").replace(",", "%2C")


def gitlab_report(report: ValidationReport, prefix: str = "") -> str:
    """A GitLab Code Quality report (artifacts: reports: codequality): a JSON array of findings."""
    import hashlib
    import json

    entries = []
    for severity, findings in (("major", report.findings), ("minor", report.warning_findings)):
        for finding in findings:
            issue = finding.issue
            path = prefix + issue.location.file
            key = "\0".join((severity, path, issue.path, issue.message))
            entries.append({
                "description": finding.what,
                "check_name": "hotswap-validate",
                # stable while lines move: the same problem in a later pipeline is the same finding
                "fingerprint": hashlib.sha256(key.encode()).hexdigest(),
                "severity": severity,
                "location": {"path": path, "lines": {"begin": max(issue.location.line, 1)}},
            })
    return json.dumps(entries, indent=2, ensure_ascii=False) + "\n"
