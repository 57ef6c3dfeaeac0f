"""The `hotswap demo` scenario's files: a copy of the example repo pointed at local demo instances."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from hotswap_cli import DATA_DIR
from hotswap_cli.demo.instances import DemoInstance

EXAMPLE_REPO = DATA_DIR / "example-config-repo"
PROFILE = "payment-service.production"
IDENTITY = ("hotswap demo", "demo@hotswap.local")


def demo_targets(instances: list[DemoInstance]) -> list[dict[str, Any]]:
    """HTTP push and confirm, health by /health and Prometheus /metrics, for each instance."""
    return [
        {
            "name": inst.name,
            "transport": {"type": "http", "url": f"{inst.url}/config", "confirm_url": f"{inst.url}/config"},
            "health": [{"type": "http", "url": f"{inst.url}/health"},
                       {"type": "metrics", "url": f"{inst.url}/metrics"}],
        }
        for inst in instances
    ]


def make_repo(directory: Path, instances: list[DemoInstance], *, bake: str = "3s", interval: str = "1s") -> Path:
    """Copy the example repo to `directory`, point the production payment profile at `instances`,
    turn approvals off (the demo has no approvers), and commit it all."""
    shutil.copytree(EXAMPLE_REPO, directory)
    profile_file = directory / "profiles" / PROFILE / "profile.yaml"
    profile = yaml.safe_load(profile_file.read_text())
    profile["targets"] = demo_targets(instances)
    profile["strategy"] = {"type": "canary", "steps": [10, 30, 50, 100], "bake": bake}
    profile["health"] = {"interval": interval}
    profile_file.write_text("# demo: instances started by `hotswap demo` on 127.0.0.1\n"
                            + yaml.safe_dump(profile, sort_keys=False))
    settings_file = directory / "hotswap.yaml"
    settings = yaml.safe_load(settings_file.read_text())
    for env in settings.get("environments", {}).values():
        env["approvals"] = 0  # the demo has nobody to approve; see docs/approvals.md
    settings_file.write_text(yaml.safe_dump(settings, sort_keys=False))
    git(directory, "init", "-q", "-b", "main")
    # the demo's own identity, in its throwaway repo: releases and the ledger need one, and a fresh
    # machine has none
    git(directory, "config", "user.name", IDENTITY[0])
    git(directory, "config", "user.email", IDENTITY[1])
    commit(directory, "demo: example config repo pointed at local instances")
    return directory


def set_error_rate(directory: Path, rate: float, latency_ms: float | None = None) -> None:
    """Change the profile's synthetic error rate (the demo service serves 5xx at that rate)."""
    config_file = directory / "profiles" / PROFILE / "config.yaml"
    data = yaml.safe_load(config_file.read_text())
    data.setdefault("simulate", {})["errorRate"] = rate
    if latency_ms is not None:
        data["simulate"]["latencyMs"] = latency_ms
    config_file.write_text(yaml.safe_dump(data, sort_keys=False))


def commit(directory: Path, message: str) -> None:
    git(directory, "add", "-A")
    git(directory, "commit", "-q", "--allow-empty", "-m", message)


def git(directory: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=directory, check=True, capture_output=True)
