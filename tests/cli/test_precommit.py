"""The real pre-commit tool runs `hotswap validate` and blocks a commit that breaks validation."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from support.repo import EXAMPLE_REPO


def run(cwd: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, env=env)


def test_precommit_blocks_a_breaking_schema_change_and_passes_a_good_one(tmp_path: Path) -> None:
    top = tmp_path / "ops"
    shutil.copytree(EXAMPLE_REPO, top / "config")  # the config repo is a sub-folder of the git repo
    (top / ".pre-commit-config.yaml").write_text(
        "repos:\n"
        "  - repo: local\n"
        "    hooks:\n"
        "      - id: hotswap-validate\n"
        "        name: hotswap validate\n"
        f"        entry: {sys.executable} -m hotswap_cli validate\n"
        "        language: system\n"
        "        files: (^|/)(hotswap\\.yaml|profiles/.+|templates/.+|schemas/.+)$\n"
    )
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-cache")}
    precommit = [sys.executable, "-m", "pre_commit"]
    assert run(top, "git", "init", "-q", "-b", "main", env=env).returncode == 0
    installed = run(top, *precommit, "install", env=env)
    assert installed.returncode == 0, installed.stderr
    run(top, "git", "add", "-A", env=env)
    first = run(top, "git", "commit", "-q", "-m", "config repo", env=env)
    assert first.returncode == 0, first.stdout + first.stderr

    # A schema change that the worker profile does not satisfy: the commit is refused.
    schema = top / "config/schemas/worker-config/1.0.json"
    schema.write_text(schema.read_text().replace('"required": ["queue", "concurrency"]',
                                                 '"required": ["queue", "concurrency", "owner"]'))
    run(top, "git", "add", "-A", env=env)
    blocked = run(top, "git", "commit", "-q", "-m", "require owner", env=env)
    assert blocked.returncode != 0
    assert "$  'owner' is a required property" in blocked.stdout + blocked.stderr
    head = run(top, "git", "log", "--format=%s", env=env).stdout.split()
    assert head == ["config", "repo"]

    # Supplying the value makes the same commit pass.
    cfg = top / "config/profiles/order-worker.staging/config.json"
    cfg.write_text(cfg.read_text().replace('"concurrency": 16', '"concurrency": 16,\n  "owner": "fulfilment"'))
    schema.write_text(schema.read_text().replace('"concurrency": {"type"', '"owner": {"type": "string"},\n'
                                                 '    "concurrency": {"type"'))
    # the next version accepts the key too (optional there: the configs on main, and any released,
    # have no owner yet), so 2.0 stays backward-compatible with 1.0
    newer = top / "config/schemas/worker-config/2.0.json"
    data = json.loads(newer.read_text())
    data["properties"]["owner"] = {"type": "string"}
    newer.write_text(json.dumps(data, indent=2) + "\n")
    run(top, "git", "add", "-A", env=env)
    ok = run(top, "git", "commit", "-q", "-m", "require owner", env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "hotswap validate" in ok.stdout + ok.stderr

    # 2.0 dropping the key again breaks its declared mode (backward): refused, at the line that changed
    del data["properties"]["owner"]
    newer.write_text(json.dumps(data, indent=2) + "\n")
    run(top, "git", "add", "-A", env=env)
    broken = run(top, "git", "commit", "-q", "-m", "drop owner in 2.0", env=env)
    assert broken.returncode != 0
    assert "$.owner  schema worker-config 1.0 -> 2.0 is not backward-compatible (x-hotswap-compatibility): " \
           "property_removed" in broken.stdout + broken.stderr
