"""The real pre-commit tool runs `hotswap validate` and blocks a commit that breaks validation; the
hook's settings come from the repo's .pre-commit-hooks.yaml (run as a local hook: this checkout's
code, no install), so the report prints once and covers only what the commit touches."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from support.repo import EXAMPLE_REPO

MANIFEST = Path(__file__).resolve().parents[2] / ".pre-commit-hooks.yaml"
PAYMENT = ("payment-service.development", "payment-service.production", "payment-service.staging")


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


def hook_config() -> str:
    """.pre-commit-config.yaml for a local hook with the manifest's settings (files, require_serial,
    pass_filenames) and this checkout's hotswap as the entry."""
    (manifest,) = yaml.safe_load(MANIFEST.read_text())
    hook = {k: v for k, v in manifest.items() if k not in ("entry", "language")}
    hook.update(entry=f"{sys.executable} -m hotswap_cli validate", language="system")
    return yaml.safe_dump({"repos": [{"repo": "local", "hooks": [hook]}]}, sort_keys=False)


@pytest.fixture
def hooked(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A git repo holding the example config repo at its top, the hook installed, all committed."""
    top = tmp_path / "repo"
    shutil.copytree(EXAMPLE_REPO, top)
    (top / ".pre-commit-config.yaml").write_text(hook_config())
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-cache"),
           "HOTSWAP_CACHE_DIR": str(tmp_path / "hotswap-cache")}
    for args in (["git", "init", "-q", "-b", "main"], [sys.executable, "-m", "pre_commit", "install"],
                 ["git", "add", "-A"], ["git", "commit", "-q", "-m", "config repo"]):
        done = run(top, *args, env=env)
        assert done.returncode == 0, done.stdout + done.stderr
    return top, env


def test_the_manifest_runs_the_hook_once_per_commit() -> None:
    (manifest,) = yaml.safe_load(MANIFEST.read_text())
    assert manifest["require_serial"] is True and manifest["pass_filenames"] is True
    assert manifest["entry"] == "hotswap validate"


def test_all_files_prints_each_error_once(hooked: tuple[Path, dict[str, str]]) -> None:
    top, env = hooked
    template = top / "templates/payment-service.yaml"
    template.write_text(template.read_text().replace("  name: payment-service\n",
                                                     "  name: payment-service\n  colour: blue\n"))
    done = run(top, sys.executable, "-m", "pre_commit", "run", "--all-files", env=env)
    assert done.returncode != 0
    line = ("templates/payment-service.yaml:5:3  $.service.colour  unknown key 'colour' "
            f"(affects {', '.join(PAYMENT)})")
    assert done.stdout.count(line) == 1, done.stdout
    assert done.stdout.count("1 error(s) in 3 of 6 profile(s)") == 1, done.stdout


def test_a_staged_template_change_is_reported_once_and_blocks_the_commit(hooked: tuple[Path, dict[str, str]]) -> None:
    top, env = hooked
    # a non-boolean in the shared template breaks the two environments that do not set their own
    template = top / "templates/payment-service.yaml"
    template.write_text(template.read_text().replace("  savedCards: true\n", "  savedCards: sometimes\n"))
    run(top, "git", "add", "templates/payment-service.yaml", env=env)
    blocked = run(top, "git", "commit", "-q", "-m", "smaller pool", env=env)
    assert blocked.returncode != 0
    output = blocked.stdout + blocked.stderr
    errors = [ln for ln in output.splitlines() if "$.features.savedCards" in ln]
    assert errors == ["templates/payment-service.yaml:19:3  $.features.savedCards  'sometimes' is not of type "
                      "'boolean' (affects payment-service.development, payment-service.staging)"], output
    assert "1 error(s) in 2 of 3 profile(s)" in output  # the three profiles extending the template, no others
    assert run(top, "git", "log", "--format=%s", env=env).stdout.split("\n")[0] == "config repo"


def test_a_staged_profile_change_validates_that_profile_only(hooked: tuple[Path, dict[str, str]]) -> None:
    top, env = hooked
    config = top / "profiles/payment-service.staging/config.yaml"
    config.write_text(config.read_text().replace("max: 10", "max: 12"))
    run(top, "git", "add", "profiles/payment-service.staging/config.yaml", env=env)
    # what the commit's hook runs (the staged files), verbose so that a passing hook shows its output
    checked = run(top, sys.executable, "-m", "pre_commit", "run", "--verbose", env=env)
    assert checked.returncode == 0, checked.stdout
    assert "1 profile(s) valid" in checked.stdout, checked.stdout
    done = run(top, "git", "commit", "-q", "-m", "bigger staging pool", env=env)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_commit_that_deletes_a_profile_passes(hooked: tuple[Path, dict[str, str]]) -> None:
    top, env = hooked
    run(top, "git", "rm", "-q", "-r", "profiles/shop-edge.development", env=env)
    config = top / "profiles/order-worker.staging/config.json"
    config.write_text(config.read_text().replace('"concurrency": 16', '"concurrency": 12'))
    run(top, "git", "add", "profiles/order-worker.staging/config.json", env=env)
    # as a hook runner that passes deleted files too would call it (pre-commit itself drops them)
    files = ["profiles/shop-edge.development/profile.yaml", "profiles/shop-edge.development/config.yaml",
             "profiles/order-worker.staging/config.json"]
    staged = run(top, sys.executable, "-m", "hotswap_cli", "validate", *files, env=env)
    assert (staged.returncode, staged.stdout, staged.stderr) == (0, "", "1 profile(s) valid\n")
    done = run(top, "git", "commit", "-q", "-m", "retire shop-edge", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    # and as a CI job would after the commit, from `git diff --name-only HEAD~1`
    later = run(top, sys.executable, "-m", "hotswap_cli", "validate", *files, env=env)
    assert (later.returncode, later.stderr) == (0, "1 profile(s) valid\n")
    # a path no commit ever had is a typo, not a deletion
    typo = run(top, sys.executable, "-m", "hotswap_cli", "validate", "profiles/shop-edge.developmnt/config.yaml",
               env=env)
    assert typo.returncode == 2
    assert typo.stderr == "hotswap: error: profiles/shop-edge.developmnt/config.yaml: no such file " \
                          "(`hotswap profiles` lists the profiles)\n"
