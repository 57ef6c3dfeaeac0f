"""Fixtures for the core tests: no key and no validation cache unless a test asks, and the CLI
pointed at the test's copy of the example repo."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hotswap_cli.core.secrets.crypto import DEMO_SECRET_KEY, KEY_COMMAND_ENV, KEY_ENV, KEY_FILE_ENV


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("HOTSWAP_NO_CACHE", "1")
    for name in (KEY_ENV, KEY_FILE_ENV, KEY_COMMAND_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    yield


@pytest.fixture
def demo_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(KEY_ENV, DEMO_SECRET_KEY)
    return DEMO_SECRET_KEY


@pytest.fixture
def hs(config_repo: Path, cli: Callable) -> Callable:
    """`hotswap --repo <the test repo> ARGS`."""

    def run(*args: str, **kwargs: object) -> object:
        return cli("--repo", str(config_repo), *args, **kwargs)

    return run
