"""A config repo with a `web.<env>` profile whose targets are local files (or given dicts)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

WORKER_CONFIG = {
    "queue": {"url": "amqps://mq.internal:5671", "name": "orders", "prefetch": 50, "visibilityTimeoutS": 120},
    "concurrency": 8,
}


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout


class Fleet:
    """The repo, the profile, and helpers to change, commit and release its config."""

    def __init__(self, root: Path, files: Path, name: str) -> None:
        self.root = root
        self.files = files
        self.profile = name

    def path(self, instance: str) -> Path:
        return self.files / instance / "worker.json"

    def running(self, instance: str) -> Any:
        p = self.path(instance)
        return json.loads(p.read_text()) if p.exists() else None

    def set_config(self, **changes: Any) -> None:
        cfg_file = self.root / "profiles" / self.profile / "config.json"
        data = json.loads(cfg_file.read_text())
        data.update(changes)
        cfg_file.write_text(json.dumps(data, indent=2) + "\n")

    def release(self, cli: Callable[..., Any], version: str, message: str = "change") -> None:
        git(self.root, "add", "-A")
        git(self.root, "commit", "-q", "--allow-empty", "-m", message)
        result = cli("--repo", str(self.root), "release", self.profile, version, "-m", message)
        assert result.exit_code == 0, result


def local_target(files: Path, name: str, *, check: list[str] | None = None,
                 probes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    (files / name).mkdir(parents=True, exist_ok=True)
    transport: dict[str, Any] = {"type": "local", "path": str(files / name / "worker.json")}
    if check:
        transport["check"] = check
    return {"name": name, "transport": transport, "health": probes if probes is not None else
            [{"type": "command", "command": ["true"]}]}


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
        src = Path(__file__).resolve().parents[2] / "example-config-repo/schemas/worker-config/1.0.json"
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
