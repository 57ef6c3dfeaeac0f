"""A config repo with a `web.<env>` profile whose targets are local files (or given dicts)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_fleet import WORKER_CONFIG, Fleet, git, local_target
from support.repo import EXAMPLE_REPO

__all__ = ["Fleet", "git", "local_target"]


@pytest.fixture
def make_fleet(tmp_path: Path) -> Callable[..., Fleet]:
    """make_fleet(targets, environment=..., strategy=..., health=...) -> Fleet (committed, unreleased)."""

    def make(targets: list[dict[str, Any]] | int = 3, *, environment: str = "Staging",
             strategy: dict[str, Any] | None = None, health: dict[str, Any] | None = None,
             approvals: int = 0) -> Fleet:
        root = tmp_path / "repo"
        files = tmp_path / "instances"
        name = f"web.{environment.lower()}"
        if isinstance(targets, int):
            targets = [local_target(files, f"web-{i}") for i in range(1, targets + 1)]
        (root / "schemas/worker-config").mkdir(parents=True)
        src = EXAMPLE_REPO / "schemas/worker-config/1.0.json"
        (root / "schemas/worker-config/1.0.json").write_text(src.read_text())
        (root / "hotswap.yaml").write_text(yaml.safe_dump({"environments": {
            e: {"approvals": approvals} for e in ("Development", "Staging", "Production")}}))
        profile_dir = root / "profiles" / name
        profile_dir.mkdir(parents=True)
        profile = {"environment": environment, "serviceType": "Worker", "schema": "worker-config/1.0",
                   "strategy": strategy or {"type": "canary", "bake": "0.3s"},
                   "health": health or {"interval": "0.1s"}, "targets": targets}
        (profile_dir / "profile.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
        (profile_dir / "config.json").write_text(json.dumps(WORKER_CONFIG, indent=2) + "\n")
        git(root, "init", "-q", "-b", "main")
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "fleet")
        return Fleet(root, files, name)

    return make
