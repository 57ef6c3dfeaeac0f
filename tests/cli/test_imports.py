"""Start-up stays light: commands that need no network or git never import paramiko, httpx or
GitPython (and `--help` not even PyYAML). Each case runs the real entry point in a fresh
interpreter under `-X importtime` and reads both what importtime lists and what sys.modules holds
at exit: importtime misses modules loaded through importlib (the command registry, `from package
import module` inside a function)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("paramiko", "httpx", "git")  # "git" is GitPython's top-level package

# Runs `python -m hotswap_cli ARGS`, then writes the names in sys.modules to the file named by
# HOTSWAP_TEST_MODULES (at exit: every command ends in sys.exit).
RUNNER = """
import atexit, os, runpy, sys
def dump():
    with open(os.environ["HOTSWAP_TEST_MODULES"], "w") as fh:
        fh.write("\\n".join(sorted(k for k, v in sys.modules.items() if v is not None)))  # None: blocked
atexit.register(dump)
sys.argv = ["hotswap", *sys.argv[1:]]
runpy.run_module("hotswap_cli", run_name="__main__", alter_sys=True)
"""


def imported(args: list[str], cwd: Path, tmp_path: Path) -> tuple[int, set[str]]:
    """Exit code and every module a `hotswap ARGS` process imported."""
    listing = tmp_path / "modules.txt"
    env = {**os.environ, "HOTSWAP_TEST_MODULES": str(listing), "HOTSWAP_NO_CACHE": "1", "NO_COLOR": "1"}
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", RUNNER, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)
    names = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "hotswap_cli.cli.main" in names, proc.stderr  # -X importtime reported
    return proc.returncode, names | set(listing.read_text().split())


def packages(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


PURE = [  # (argv, exit code): commands that read only the working tree
    (["--help"], 0),
    (["status", "--help"], 0),
    (["deploy", "--help"], 0),
    (["diff", "--help"], 0),
    (["validate", "payment-service.development"], 0),
    (["validate"], 0),
    (["render", "payment-service.development"], 0),
    (["profiles"], 0),
    (["output-schema", "status"], 0),
    (["schema", "--help"], 0),
]


@pytest.mark.parametrize(("args", "code"), PURE, ids=[" ".join(a) for a, _ in PURE])
def test_no_network_or_git_library_is_imported(config_repo: Path, tmp_path: Path, args: list[str],
                                               code: int) -> None:
    exit_code, modules = imported(args, config_repo, tmp_path)
    assert exit_code == code
    assert sorted(packages(modules) & set(HEAVY)) == []


def test_help_does_not_import_yaml_or_the_repo_reader(config_repo: Path, tmp_path: Path) -> None:
    _, modules = imported(["--help"], config_repo, tmp_path)
    assert "yaml" not in packages(modules)
    assert {"hotswap_cli.core.config.configrepo", "hotswap_cli.specs"} & modules == set()


@pytest.mark.parametrize("args", [["status", "payment-service.development"], ["history", "payment-service.production"],
                                  ["versions", "payment-service.production"],
                                  ["diff", "payment-service.production", "HEAD"]],
                         ids=lambda a: a[0])
def test_commands_that_read_git_never_import_gitpython(config_repo: Path, tmp_path: Path, args: list[str]) -> None:
    """Git is read through the git binary (core.versions.git: commands, and objects from one
    `git cat-file --batch` process per repo): GitPython's ~90 ms import is paid by no command."""
    exit_code, modules = imported(args, config_repo, tmp_path)
    assert exit_code in (0, 1), args
    assert "git" not in packages(modules)
    assert "hotswap_cli.core.versions.git" in modules  # it did read git


def test_reading_http_instances_does_not_import_httpcore(config_repo: Path, tmp_path: Path) -> None:
    """Requests go over the standard library's http.client (io.deadline): httpcore (and trio,
    where it is installed) is imported only for what goes through an httpx client."""
    profile = config_repo / "profiles" / "payment-service.development" / "profile.yaml"
    text = profile.read_text()
    profile.write_text(text[:text.index("targets:")] +
                       "targets:\n  - name: pay-dev-1\n    transport: {type: http, url: 'http://127.0.0.1:9/config'}\n")
    exit_code, modules = imported(["status", "payment-service.development"], config_repo, tmp_path)
    assert exit_code in (0, 1)  # nothing listens on port 9
    assert "http.client" in modules and "httpx" in packages(modules)  # it did make the request (and the
    # check above, which looks for httpx among other packages, can see it)
    assert "httpcore" not in packages(modules)
    # httpx's own command-line client (click, pygments, rich's console: ~70 ms) is not loaded
    assert not {"click", "pygments"} & packages(modules)


def test_a_command_runs_with_fewer_collector_passes(tmp_path: Path) -> None:
    """cli.main raises the cyclic collector's thresholds (fleet-sized runs: docs/performance.md)."""
    code = ("import atexit, gc; atexit.register(lambda: print('threshold', gc.get_threshold())); "
            "from hotswap_cli.cli.main import main; main(['--help'])")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "NO_COLOR": "1"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "threshold (50000, 20, 20)"
