"""The `web.<env>` fleet used by deploy tests: a config repo whose targets are local files."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from support.repo import git  # noqa: F401 - the one git helper (re-exported)

WORKER_CONFIG = {
    "queue": {"url": "amqps://mq.internal:5671", "name": "orders", "prefetch": 50, "visibilityTimeoutS": 120},
    "concurrency": 8,
}


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
