"""Fixtures for ledger and lock tests: a bare `origin` with clones, real git throughout."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from ledger_support import git

from hotswap_cli.core.versions.git import GitRepo


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    """A bare remote holding one commit on main."""
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    seed = tmp_path / "seed"
    git(tmp_path, "init", "-q", "-b", "main", str(seed))
    (seed / "hotswap.yaml").write_text("environments: {}\n")
    git(seed, "add", "-A")
    git(seed, "commit", "-q", "-m", "seed")
    git(seed, "push", "-q", str(bare), "main")
    return bare


@pytest.fixture
def clone(origin: Path, tmp_path: Path) -> Callable[[str], GitRepo]:
    """clone("a") -> a GitRepo of a fresh clone of origin."""
    def make(name: str) -> GitRepo:
        git(tmp_path, "clone", "-q", str(origin), str(tmp_path / name))
        return GitRepo(tmp_path / name)

    return make


@pytest.fixture
def local_repo(tmp_path: Path) -> GitRepo:
    """A repo with no remote: the ledger stays local and the lock is a file."""
    root = tmp_path / "solo"
    git(tmp_path, "init", "-q", "-b", "main", str(root))
    git(root, "commit", "-q", "--allow-empty", "-m", "initial")
    return GitRepo(root)


@pytest.fixture
def config_repo_with_origin(config_repo: Path, tmp_path: Path) -> tuple[Path, Path]:
    """The example config repo with a bare `origin` it has pushed main to: (repo, origin)."""
    bare = tmp_path / "config-origin.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(config_repo, "remote", "add", "origin", str(bare))
    git(config_repo, "push", "-q", "origin", "main")
    return config_repo, bare
