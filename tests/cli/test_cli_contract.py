"""What every command shares, run as a CI job or a person would: `--json` before or after the
command, errors as JSON, help with examples and exit codes, bare `hotswap`, closed std streams,
and shell completion of profile names and versions."""

from __future__ import annotations

import json
import os
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
