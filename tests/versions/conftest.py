"""Fixtures for versions, history, diff and secrets: a committed example repo, git helpers."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hotswap_cli.core.secrets import DEMO_SECRET_KEY

PROFILE = "payment-service.production"
# What the example repo's ciphertexts hold (encrypted under the public DEMO_SECRET_KEY).
PROD_SECRET = "sk_live_demo_9f8e7d6c5b"
TEMPLATE_SECRET = "sk_test_demo_4242424242"
OTHER_KEY = "00" * 32


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No validation cache, and no key unless a test sets one."""
    monkeypatch.setenv("HOTSWAP_NO_CACHE", "1")
    monkeypatch.delenv("HOTSWAP_SECRET_KEY", raising=False)
    monkeypatch.delenv("HOTSWAP_SECRET_KEY_FILE", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    yield


@pytest.fixture
def demo_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("HOTSWAP_SECRET_KEY", DEMO_SECRET_KEY)
    return DEMO_SECRET_KEY


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def commit(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD").strip()


@pytest.fixture
def hs(config_repo: Path, cli: Callable) -> Callable:
    """`hotswap --repo <the test repo> ARGS`."""

    def run(*args: str, **kwargs: object) -> object:
        return cli("--repo", str(config_repo), *args, **kwargs)

    return run
