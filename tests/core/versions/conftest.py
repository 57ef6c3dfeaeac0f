"""Fixtures for the versions, history, diff and secrets tests."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from hotswap_cli.core.secrets.crypto import DEMO_SECRET_KEY  # noqa: E402


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


@pytest.fixture
def hs(config_repo: Path, cli: Callable) -> Callable:
    """`hotswap --repo <the test repo> ARGS`."""

    def run(*args: str, **kwargs: object) -> object:
        return cli("--repo", str(config_repo), *args, **kwargs)

    return run
