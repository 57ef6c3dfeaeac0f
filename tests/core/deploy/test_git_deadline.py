"""An origin that accepts the connection and then says nothing: every git command hotswap runs
ends at its deadline with one line, instead of hanging the deploy."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from ledger_support import PROFILE, git

from hotswap_cli.core.deploy import ledger, lock
from hotswap_cli.core.versions.git import GitRepo
from hotswap_cli.errors import RepoError


@pytest.fixture
def silent_origin(clone: Callable[[str], GitRepo], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> GitRepo:
    """A clone whose origin is reached through an "ssh" that connects and never answers."""
    repo = clone("a")
    stall = tmp_path / "stall"
    stall.write_text("#!/bin/sh\nexec sleep 60\n")
    stall.chmod(0o755)
    git(repo.top, "config", "core.sshCommand", str(stall))
    git(repo.top, "remote", "set-url", "origin", "ssh://git.invalid/config.git")
    monkeypatch.setenv("HOTSWAP_GIT_TIMEOUT", "1")
    return repo


def test_taking_the_lock_from_a_silent_origin_ends_at_the_deadline(silent_origin: GitRepo) -> None:
    started = time.monotonic()
    with pytest.raises(RepoError) as info:
        lock.acquire(silent_origin, PROFILE, purpose="deploy 1.4.0")
    assert time.monotonic() - started < 10  # not the 60 s the remote would take
    assert "no answer within 1s (is the remote reachable?)" in str(info.value)
    assert "the deploy lock on origin: git " in str(info.value)


def test_the_ledger_from_a_silent_origin_is_a_warning_with_the_reason(silent_origin: GitRepo) -> None:
    problem = ledger.refresh(silent_origin)
    assert problem is not None and "no answer within 1s" in problem
