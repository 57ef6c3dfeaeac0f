"""Shared fixtures: an isolated git identity, a committed copy of the example repo, the CLI."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hotswap_cli import telemetry

pytest_plugins = ["support.sshd", "support.instances", "support.etcd"]

from support.repo import EXAMPLE_REPO, git  # noqa: E402,F401 - re-exported for fixtures


@pytest.fixture(scope="session", autouse=True)
def _git_identity(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Tests never read or write the user's own git config (or ssh config)."""
    home = tmp_path_factory.mktemp("gitconfig")
    cfg = home / "gitconfig"
    cfg.write_text("[user]\n\tname = Test Author\n\temail = author@example.com\n"
                   "[init]\n\tdefaultBranch = main\n[commit]\n\tgpgsign = false\n[tag]\n\tgpgsign = false\n")
    saved = {k: os.environ.get(k) for k in ("GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM", "HOTSWAP_SSH_CONFIG")}
    os.environ["GIT_CONFIG_GLOBAL"] = str(cfg)
    os.environ["GIT_CONFIG_NOSYSTEM"] = "1"
    os.environ["HOTSWAP_SSH_CONFIG"] = "none"  # nor the user's ssh config (tests that read one set it)
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v




@pytest.fixture
def config_repo(tmp_path: Path) -> Path:
    """A copy of example-config-repo as its own git repo with one commit."""
    root = tmp_path / "config-repo"
    shutil.copytree(EXAMPLE_REPO, root)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial config")
    return root


class CliResult:
    def __init__(self, exit_code: int, stdout: str, stderr: str) -> None:
        self.exit_code = exit_code
        self.stdout = stdout
        self.stderr = stderr

    def __repr__(self) -> str:
        return f"CliResult(exit_code={self.exit_code}, stdout={self.stdout!r}, stderr={self.stderr!r})"


@pytest.fixture
def cli() -> Callable[..., CliResult]:
    """Run `hotswap ARGS` through the real app in-process; returns exit code, stdout, stderr."""
    from typer.testing import CliRunner

    from hotswap_cli.cli.app import build_app

    app = build_app()

    def run(*args: str, input: str | None = None, env: dict[str, Any] | None = None,
            cwd: Path | None = None) -> CliResult:
        old = Path.cwd()
        if cwd is not None:
            os.chdir(cwd)
        try:
            result = CliRunner().invoke(app, list(args), input=input, env=env)
        finally:
            os.chdir(old)
            if "hotswap_cli.io.ssh_connect" in sys.modules:  # a real command's ssh logins end with its process
                sys.modules["hotswap_cli.io.ssh_connect"].close_jumps()
        return CliResult(result.exit_code, result.stdout, result.stderr)

    return run


@pytest.fixture
def spans() -> Iterator[object]:
    """Every span finished during the test, in memory."""
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    telemetry.configure_for_tests(exporter)
    yield exporter
    telemetry.reset()


@pytest.fixture(autouse=True)
def _telemetry_off(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test inherits OTEL_* from the shell or a configured tracer from another test."""
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                 "OTEL_SDK_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    telemetry.reset()
    yield
    telemetry.reset()


@pytest.fixture(autouse=True)
def _no_shared_http_client_outlives_its_test() -> Iterator[None]:
    """A client shared per host:port (io.http.client_for) lives until its last user closes it, and
    keeps its connections: one a test leaves open (a probe made and never closed) must not serve a
    later test whose server got the same port. A hotswap process ends with its command; tests run
    many commands in one process."""
    yield
    http = sys.modules.get("hotswap_cli.io.http")
    if http is None:
        return
    with http._shared_lock:
        left = list(http._shared.values())
        http._shared.clear()
    for client in left:
        http.Client.close(client)
