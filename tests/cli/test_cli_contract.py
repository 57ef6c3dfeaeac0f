"""What every command shares, run as a CI job or a person would: `--json` before or after the
command, errors as JSON, help with examples and exit codes, bare `hotswap`, closed std streams,
and shell completion of profile names and versions."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hotswap_cli.cli.app import COMMANDS, build_app
from hotswap_cli.cli.helptext import HELP


def hotswap(*args: str, cwd: Path, env: dict[str, str] | None = None, shell: str | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`hotswap ARGS` as its own process; `shell` wraps it in bash for redirections such as `<&-`."""
    base = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "NO_COLOR": "1", **(env or {})}
    argv = [sys.executable, "-m", "hotswap_cli", *args]
    if shell is not None:
        argv = ["bash", "-c", f'exec "$@" {shell}', "bash", *argv]
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=base, timeout=timeout,
                          stdin=subprocess.DEVNULL if shell is None else None)


def test_json_after_the_command_is_the_same_as_before_it(config_repo: Path, cli: Callable[..., Any]) -> None:
    before = cli("--repo", str(config_repo), "--json", "render", "payment-service.production")
    after = cli("--repo", str(config_repo), "render", "payment-service.production", "--json")
    assert before.exit_code == after.exit_code == 0, after.stderr
    assert json.loads(after.stdout) == json.loads(before.stdout)
    assert json.loads(after.stdout)["service"]["name"]


def test_an_error_under_json_is_one_json_document_on_stdout(config_repo: Path) -> None:
    done = hotswap("render", "payment-service.prodution", "--json", cwd=config_repo)
    assert done.returncode == 2
    document = json.loads(done.stdout)
    assert document["error"]["code"] == 2 and document["error"]["kind"] == "usage"
    assert document["error"]["message"].endswith("did you mean payment-service.production?")
    assert "payment-service.prodution" in document["error"]["message"]
    assert done.stderr.startswith("hotswap: error: ")  # people reading the CI log still see it


def test_an_error_in_a_stream_is_its_last_line(config_repo: Path) -> None:
    done = hotswap("deploy", "payment-service.production", "9.9.9", "--yes", "--json", cwd=config_repo)
    assert done.returncode != 0
    last = json.loads(done.stdout.strip().splitlines()[-1])
    assert last["event"] == "error" and last["error"]["code"] == done.returncode
    assert last["error"]["kind"] in ("approval", "repo", "usage")


def test_a_usage_error_under_json_is_kind_usage_exit_2(config_repo: Path) -> None:
    done = hotswap("--json", "deploy", "payment-service.production", "--canary", "ten", cwd=config_repo)
    assert done.returncode == 2
    assert json.loads(done.stdout)["error"]["kind"] == "usage"


def test_bare_hotswap_lists_the_commands_and_exits_0(tmp_path: Path) -> None:
    done = hotswap(cwd=tmp_path)
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.startswith("Usage: hotswap [OPTIONS] COMMAND")
    assert all(f"  {name} " in done.stdout for name in ("deploy", "validate", "rollback", "status"))


def _commands() -> list[tuple[str, Any]]:
    """Every command path and its click command, group subcommands included."""
    import typer

    root = typer.main.get_command(build_app())
    found = []
    for name in COMMANDS:
        command = root.get_command(None, name)  # type: ignore[attr-defined]
        found.append((name, command))
        found += [(f"{name} {sub}", c) for sub, c in getattr(command, "commands", {}).items()
                  if not (name == "deployments" and sub == "list")]  # the group's own listing
    return found


@pytest.mark.parametrize("path", [p for p, _ in _commands()])
def test_every_command_help_has_examples_and_exit_codes(path: str, cli: Callable[..., Any]) -> None:
    assert path in HELP or path in ("schema", "secret"), path  # groups that only hold subcommands
    shown = cli(*path.split(), "--help")
    assert shown.exit_code == 0, shown.stderr
    text = " ".join(shown.stdout.split())
    if path in HELP:
        examples, codes, _ = HELP[path]
        assert "Examples:" in text and f"$ {' '.join(examples[0].split())}" in text
        assert "Exit codes:" in text and all(f" {code} " in f"{text} " for code in codes)
    assert "{" not in shown.stdout.splitlines()[0], shown.stdout.splitlines()[0]  # `PROFILE`, not `{profile}`


_SECTION = re.compile(r"^\s*(Examples?|Exit codes?)\s*:", re.MULTILINE | re.IGNORECASE)


@pytest.mark.parametrize("path", [p for p, _ in _commands()])
def test_a_help_page_says_its_examples_and_exit_codes_once(path: str, cli: Callable[..., Any]) -> None:
    """Once, from helptext.HELP: a docstring or epilog that says them too repeats (or contradicts) it."""
    shown = cli(*path.split(), "--help").stdout
    headings = [h.lower().rstrip("s") for h in _SECTION.findall(shown)]
    assert headings.count("example") <= 1 and headings.count("exit code") <= 1, shown


def _exit_codes(help_text: str) -> dict[int, str]:
    """The "Exit codes:" section of a help page: code -> what it says (its lines joined)."""
    section = help_text.split("Exit codes:", 1)[1]
    codes: dict[int, str] = {}
    last = None
    for line in section.splitlines():
        found = re.match(r"\s+(\d+)\s+(.*)", line)
        if found:
            last = int(found[1])
            codes[last] = found[2]
        elif line.strip() and last is not None:
            codes[last] += " " + line.strip()
    return codes


def test_watch_with_nothing_running_exits_as_its_help_says(config_repo: Path, cli: Callable[..., Any]) -> None:
    done = hotswap("watch", "payment-service.production", cwd=config_repo)
    assert "no deploy of payment-service.production is running" in done.stderr, done.stderr
    said = {code for code, meaning in _exit_codes(cli("watch", "--help").stdout).items() if "running" in meaning}
    assert said == {done.returncode} == {1}, said


def _example_argv(example: str) -> list[str]:
    """The arguments an example gives `hotswap` (before a pipe, redirection or comment)."""
    words = shlex.split(example, comments=True)
    words = words[words.index("hotswap") + 1:]
    ends = [i for i, w in enumerate(words) if w in ("|", ">", ">>", "2>")]
    return words[:ends[0]] if ends else words


@pytest.mark.parametrize("path", sorted(HELP))
def test_every_example_in_help_parses(path: str) -> None:
    """An example a person copies is a command click accepts (arguments and options as they are)."""
    import typer

    for example in HELP[path][0]:
        argv = [a for a in _example_argv(example) if a != "--json"]  # global; hoisted before click sees it
        group: Any = typer.main.get_command(build_app())
        ctx = group.make_context("hotswap", list(argv))
        rest = [*ctx._protected_args, *ctx.args]
        while rest and hasattr(group, "resolve_command"):
            name, command, rest = group.resolve_command(ctx, rest)
            ctx = command.make_context(name, list(rest), parent=ctx)  # a usage error fails the test
            group, rest = command, [*getattr(ctx, "_protected_args", []), *ctx.args]
        assert not rest, (example, rest)


def test_arguments_read_as_names(cli: Callable[..., Any]) -> None:
    assert cli("deploy", "--help").stdout.startswith("Usage: hotswap deploy [OPTIONS] PROFILE [VERSION]")
    assert cli("approve", "--help").stdout.startswith("Usage: hotswap approve [OPTIONS] PROFILE VERSION")


def test_with_stdin_closed_a_deploy_that_needs_an_answer_says_so(config_repo: Path) -> None:
    done = hotswap("deploy", "payment-service.development", shell="<&-", cwd=config_repo)
    assert "Traceback" not in done.stderr and "unexpected error" not in done.stderr, done.stderr
    assert done.returncode in (1, 2), done.stderr  # no released version here, or refusing to ask
    assert done.stderr.count("hotswap: error: ") == 1


def test_with_stdout_closed_hotswap_still_exits_cleanly(tmp_path: Path) -> None:
    done = hotswap("--version", shell=">&-", cwd=tmp_path)
    assert done.returncode == 0 and done.stderr == ""


def _complete(words: str, cwd: Path) -> list[str]:
    env = {"_HOTSWAP_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split(" ")) - 1)}
    done = hotswap(cwd=cwd, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_completion_knows_profiles_and_versions(config_repo: Path) -> None:
    subprocess.run(["git", "tag", "payment-service.production/1.0.0"], cwd=config_repo, check=True)
    subprocess.run(["git", "tag", "payment-service.production/1.10.0"], cwd=config_repo, check=True)
    assert _complete("hotswap deploy payment-service.pro", config_repo) == ["payment-service.production"]
    assert _complete("hotswap deploy payment-service.production ", config_repo) == ["1.10.0", "1.0.0"]
    assert _complete("hotswap approve payment-service.production 1.1", config_repo) == ["1.10.0"]
    assert _complete("hotswap dep", config_repo) == ["deploy", "deployments"]
    assert _complete("hotswap deploy pay", config_repo.parent) == []  # outside a config repo: nothing, no error


def test_completion_knows_versions_of_rollback_to_and_diff_sides(config_repo: Path) -> None:
    subprocess.run(["git", "tag", "payment-service.production/1.0.0"], cwd=config_repo, check=True)
    subprocess.run(["git", "tag", "payment-service.production/1.10.0"], cwd=config_repo, check=True)
    assert _complete("hotswap rollback payment-service.production --to ", config_repo) == ["1.10.0", "1.0.0"]
    assert _complete("hotswap rollback payment-service.production --yes --to 1.1", config_repo) == ["1.10.0"]
    assert _complete("hotswap rollback --to ", config_repo) == []  # no profile yet: nothing to list
    assert _complete("hotswap diff payment-service.production ", config_repo) == ["1.10.0", "1.0.0", "worktree"]
    assert _complete("hotswap diff payment-service.production 1.0.0 1.1", config_repo) == ["1.10.0"]
    assert _complete("hotswap diff payment-service.production 1.0.0 w", config_repo) == ["worktree"]
    assert _complete("hotswap diff payment-service.production live:", config_repo) == []  # typed out, not refused
